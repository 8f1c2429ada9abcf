"""VM.suspend and VM.resume on the simulator keep the guest's state: the suspend
image (suspend/<vm uuid>.image beside the database, the stream of
docs/domain-stream.md) carries the simulated guest's boot id and counter, and the
resumed domain goes on from them instead of booting again.  A damaged or foreign
image is refused (DOMAIN_STREAM_INVALID) and the VM stays Suspended with nothing
running; a hard shutdown or destroy drops the image."""

import os
import re
import shutil

from support import DaemonTest, SharedDaemonTest, domains_of, hvm_vm, pv_vm, wait_until, xs_read
from os_xenapi.client import XenAPI


def image_of(d, x, vm):
    return os.path.join(os.path.dirname(d.options["db-path"]), "suspend", x.VM.get_uuid(vm) + ".image")


def query(d, x, vm, counter):
    """Ask the VM's simulated guest for its state (sim/query); it bumps its counter
    and reports; returns (boot id, counter, run-ms) once it reports `counter`."""
    domid = x.VM.get_domid(vm)
    d.xenstore("write", "/local/domain/%s/sim/query" % domid, "1")
    path = "/local/domain/%s/data/sim-state" % domid
    found = {}

    def reported():
        m = re.fullmatch(r"boot-id=([0-9a-f]{32}) counter=(\d+) run-ms=(\d+)", xs_read(d, path) or "")
        if m and int(m.group(2)) == counter:
            found["state"] = (m.group(1), int(m.group(2)), int(m.group(3)))
            return True
        return False
    wait_until(reported, 10, what="the guest of %s to report counter %d" % (vm, counter))
    return found["state"]


class SuspendResume(SharedDaemonTest):

    def test_a_resumed_guest_goes_on_from_where_it_was(self):
        x, d = self.x, self.d
        for make in (pv_vm, hvm_vm):
            vm = make(x)
            x.VM.start(vm, False, False)
            query(d, x, vm, 1)
            boot, _, ms = query(d, x, vm, 2)
            old = x.VM.get_domid(vm)
            x.VM.suspend(vm)
            self.assertPowerState(x, vm, "Suspended")
            self.assertEqual(domains_of(d, x.VM.get_uuid(vm)), [])
            with open(image_of(d, x, vm), "rb") as f:
                self.assertEqual(f.read(16), b"XENAPID-DOMAIN\n\0")
            x.VM.resume(vm, False, False)
            rec = self.assertPowerState(x, vm, "Running")
            self.assertNotEqual(rec["domid"], old)
            boot2, counter, ms2 = query(d, x, vm, 3)  # a cold boot would say 1
            self.assertEqual(boot2, boot)
            self.assertGreaterEqual(ms2, ms)
            self.assertFalse(os.path.exists(image_of(d, x, vm)), "the image outlived the resume")
            # again, through resume_on and paused
            x.VM.suspend(vm)
            x.VM.resume_on(vm, x.host.get_all()[0], True, False)
            self.assertPowerState(x, vm, "Paused")
            x.VM.unpause(vm)
            self.assertEqual(query(d, x, vm, 4)[0], boot)
            x.VM.hard_shutdown(vm)

    def test_a_guest_that_suspends_itself_is_saved(self):
        x, d = self.x, self.d
        vm = pv_vm(x)
        x.VM.start(vm, False, False)
        boot = query(d, x, vm, 1)[0]
        d.xenstore("write", "/local/domain/%s/sim/shutdown" % x.VM.get_domid(vm), "suspend")
        wait_until(lambda: x.VM.get_power_state(vm) == "Suspended", 10, what="the VM to be Suspended")
        self.assertTrue(os.path.exists(image_of(d, x, vm)))
        x.VM.resume(vm, False, False)
        self.assertEqual(query(d, x, vm, 2)[0], boot)

    def test_a_damaged_image_is_refused_and_nothing_runs(self):
        x, d = self.x, self.d
        vm = pv_vm(x)
        x.VM.start(vm, False, False)
        boot = query(d, x, vm, 1)[0]
        x.VM.suspend(vm)
        path = image_of(d, x, vm)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size - 10)
        with self.assertRaises(XenAPI.Failure) as cm:
            x.VM.resume(vm, False, False)
        self.assertEqual(cm.exception.details[0], "DOMAIN_STREAM_INVALID")
        self.assertIn("truncated", cm.exception.details[1])
        self.assertPowerState(x, vm, "Suspended")
        self.assertEqual(domains_of(d, x.VM.get_uuid(vm)), [])
        # a hard shutdown drops the image; the next start is a cold boot
        x.VM.hard_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertFalse(os.path.exists(path))
        x.VM.start(vm, False, False)
        boot2, counter, _ = query(d, x, vm, 1)
        self.assertNotEqual(boot2, boot)

    def test_another_vms_image_is_refused(self):
        x, d = self.x, self.d
        a, b = pv_vm(x, "a"), pv_vm(x, "b")
        for vm in (a, b):
            x.VM.start(vm, False, False)
            x.VM.suspend(vm)
        shutil.copy(image_of(d, x, a), image_of(d, x, b))
        with self.assertRaises(XenAPI.Failure) as cm:
            x.VM.resume(b, False, False)
        self.assertEqual(cm.exception.details[0], "DOMAIN_STREAM_INVALID")
        self.assertIn(x.VM.get_uuid(a), cm.exception.details[1])
        self.assertPowerState(x, b, "Suspended")
        x.VM.resume(a, False, False)
        self.assertPowerState(x, a, "Running")

    def test_destroying_a_suspended_vm_drops_its_image(self):
        x, d = self.x, self.d
        vm = pv_vm(x)
        x.VM.start(vm, False, False)
        x.VM.suspend(vm)
        path = image_of(d, x, vm)
        self.assertTrue(os.path.exists(path))
        x.VM.destroy(vm)
        self.assertFalse(os.path.exists(path))


class SuspendAcrossRestart(DaemonTest):

    def test_an_image_outlives_the_daemon(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = pv_vm(x)
        x.VM.start(vm, False, False)
        boot = query(d, x, vm, 1)[0]
        x.VM.suspend(vm)
        self.close_sessions()
        d.restart()
        x = self.login(d)
        self.assertPowerState(x, vm, "Suspended")
        x.VM.resume(vm, False, False)
        self.assertEqual(query(d, x, vm, 2)[0], boot)
