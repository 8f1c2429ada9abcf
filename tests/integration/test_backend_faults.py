"""The simulated hypervisor fails under the daemon.  `xenapid --sim-fault STEP[:COUNT]`
(src/xen/simfault.c) makes the next COUNT passes through a step of a domain's build,
pause, shutdown, suspend or resume fail (a migration's steps: test_migrate_faults.py).  For each step: the client gets the declared
HYPERVISOR_OPERATION_FAILED naming the VM and the step; no half-built domain, xenstore
tree or device model file is left; the VM's record agrees with the simulator's
domains (power state, domid, nothing in current_operations); and once the fault is
used up the same call succeeds."""

import os
import subprocess

from support import (MIB, SharedDaemonTest, XenAPI, failure, guest_domids, hvm_vm, pv_vm, sim_fault, sim_list,
                     wait_until, xs_exists, xs_read)

STATES = {"running": "Running", "paused": "Paused"}  # the power state a domain's state makes


class BackendFaults(SharedDaemonTest):
    # ---- the fault ----
    def arm(self, spec):
        sim_fault(self.d, spec)

    def setUp(self):
        super().setUp()
        self.arm("none")

    def tearDown(self):
        self.arm("none")
        super().tearDown()

    def injected(self):
        return self.d.read_log().count(" more armed)")

    def assertFails(self, step, what, fn, vm, *args):
        """fn(vm, *args) fails with HYPERVISOR_OPERATION_FAILED [vm, what, ...step...]."""
        before = self.injected()
        with self.assertRaises(XenAPI.Failure) as cm:
            fn(vm, *args)
        f = failure(cm.exception)
        self.assertEqual(f[:3], ["HYPERVISOR_OPERATION_FAILED", vm, what], f)
        self.assertIn("injected fault at step %s" % step, f[3])
        self.assertEqual(self.injected(), before + 1, "the fault did not happen once")

    # ---- what a user checks ----
    def disagreements(self, vm):
        rec = self.x.VM.get_record(vm)
        uuid, state = rec["uuid"], rec["power_state"]
        doms = {domid: STATES.get(st, st) for domid, (u, st) in sim_list(self.d).items() if u == uuid}
        out = []
        if rec["current_operations"]:
            out.append("current_operations %s" % rec["current_operations"])
        if state in ("Running", "Paused"):
            domid = int(rec["domid"])
            if doms.get(domid) != state:
                out.append("%s with domid %d, the simulator has %s" % (state, domid, doms))
            if domid not in guest_domids(self.d):
                out.append("domain %d has no xenstore side" % domid)
            if xs_read(self.d, "/local/domain/%d/vm" % domid) != "/vm/" + uuid:
                out.append("domain %d has no xenstore tree" % domid)
            if doms.keys() - {domid}:
                out.append("other domains %s" % doms)
        else:
            if rec["domid"] != "-1" or doms:
                out.append("%s with domid %s, the simulator has %s" % (state, rec["domid"], doms))
            if xs_exists(self.d, "/vm/" + uuid):
                out.append("/vm/%s is left in xenstore" % uuid)
        return out

    def assertConsistent(self, vm, state):
        """The record says state and agrees with the domains; nothing is left of the
        domains the simulator does not have (trees, guest sockets, device model files)."""
        left = []

        def agree():
            left[:] = self.disagreements(vm)
            return not left
        try:
            wait_until(agree, timeout=10, what="the record to agree with the domains")
        except AssertionError:
            self.fail("after 10 s the record still disagrees with the domains: %s" % left)
        self.assertPowerState(self.x, vm, state)
        live = set(sim_list(self.d))
        listed = self.d.xenstore("list", "/local/domain").stdout.split()
        self.assertEqual(sorted(int(n) for n in listed if n != "0"), sorted(live), "xenstore trees of no domain")
        self.assertEqual(guest_domids(self.d), sorted(live), "guest sockets of no domain")
        dm = os.listdir(self.d.options["device-model-dir"]) if os.path.isdir(self.d.options["device-model-dir"]) \
            else []
        self.assertEqual([f for f in dm if int(f.split(".")[0]) not in live], [], "device model files of no domain")

    def running(self, hvm=False, name="f"):
        vm = hvm_vm(self.x, name) if hvm else pv_vm(self.x, name)
        self.x.VM.start(vm, False, False)
        self.assertConsistent(vm, "Running")
        return vm

    # ---- the control ----
    def test_control_refuses_unknown_steps_and_counts(self):
        for spec in ("nosuchstep", "build:x", "build:-1", ""):
            r = subprocess.run(self.d.args() + ["--sim-fault", spec], capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, spec)
            self.assertIn("INVALID_VALUE", r.stderr)
        # disarming (count 0, or none) leaves nothing armed
        self.arm("build:0")
        vm = pv_vm(self.x, "zero")
        self.x.VM.start(vm, False, False)
        self.assertConsistent(vm, "Running")

    def test_count_fails_that_many_passes(self):
        vm = pv_vm(self.x, "count")
        self.arm("build:2")
        for _ in range(2):
            self.assertFails("build", "domain build", self.x.VM.start, vm, False, False)
            self.assertConsistent(vm, "Halted")
        self.x.VM.start(vm, False, False)
        self.assertConsistent(vm, "Running")

    # ---- building ----
    def start_fails_at(self, step, what, hvm=False, paused=False):
        vm = hvm_vm(self.x, "b-" + step) if hvm else pv_vm(self.x, "b-" + step)
        self.arm(step)
        self.assertFails(step, what, self.x.VM.start, vm, paused, False)
        self.assertConsistent(vm, "Halted")
        self.x.VM.start(vm, paused, False)  # the fault is used up
        self.assertConsistent(vm, "Paused" if paused else "Running")
        return vm

    def test_build_create(self):
        self.start_fails_at("build", "domain build")

    def test_build_xenstore_tree(self):
        self.start_fails_at("xenstore-tree", "domain build")

    def test_build_introduce(self):
        self.start_fails_at("introduce", "domain build")

    def test_build_device_model(self):
        vm = self.start_fails_at("device-model", "domain build", hvm=True)
        self.assertTrue(os.path.exists(os.path.join(self.d.options["device-model-dir"],
                                                    "%s.argv" % self.x.VM.get_domid(vm))))

    def test_build_unpause(self):
        self.start_fails_at("unpause", "domain unpause")

    def test_reboot_build_fails_leaves_it_halted(self):
        vm = self.running(name="reboot-build")
        self.arm("build")
        self.assertFails("build", "domain build", self.x.VM.clean_reboot, vm)
        self.assertConsistent(vm, "Halted")
        self.x.VM.start(vm, False, False)
        self.assertConsistent(vm, "Running")
        self.arm("introduce")
        self.assertFails("introduce", "domain build", self.x.VM.hard_reboot, vm)
        self.assertConsistent(vm, "Halted")

    # ---- pausing ----
    def test_pause_and_unpause(self):
        vm = self.running(name="pause")
        self.arm("pause")
        self.assertFails("pause", "domain pause", self.x.VM.pause, vm)
        self.assertConsistent(vm, "Running")
        self.x.VM.pause(vm)
        self.assertConsistent(vm, "Paused")
        self.arm("unpause")
        self.assertFails("unpause", "domain unpause", self.x.VM.unpause, vm)
        self.assertConsistent(vm, "Paused")
        self.x.VM.unpause(vm)
        self.assertConsistent(vm, "Running")

    # ---- shutting down ----
    def test_shutdown_request(self):
        vm = self.running(name="sd-request")
        domid = self.x.VM.get_domid(vm)
        self.arm("request-shutdown")
        self.assertFails("request-shutdown", "shutdown request", self.x.VM.clean_shutdown, vm)
        self.assertConsistent(vm, "Running")
        self.assertEqual(xs_read(self.d, "/local/domain/%s/control/shutdown" % domid), "", "a request is left")
        self.x.VM.clean_shutdown(vm)
        self.assertConsistent(vm, "Halted")

    def test_hard_shutdown_destroy(self):
        vm = self.running(name="hard-destroy")
        self.arm("destroy")
        self.assertFails("destroy", "domain destroy", self.x.VM.hard_shutdown, vm)
        self.assertConsistent(vm, "Running")  # the domain is still there, running
        self.x.VM.hard_shutdown(vm)
        self.assertConsistent(vm, "Halted")

    def test_clean_shutdown_destroy(self):
        """The guest stops, the destroy of its domain fails: the daemon finishes the
        stop as the monitor would (the fault is used up), and says what happened."""
        vm = self.running(name="clean-destroy")
        self.arm("destroy")
        self.assertFails("destroy", "domain destroy", self.x.VM.clean_shutdown, vm)
        self.assertConsistent(vm, "Halted")
        self.x.VM.start(vm, False, False)
        self.assertConsistent(vm, "Running")

    def test_destroy_fails_twice_then_the_monitor_finishes(self):
        """Two failures: the operation's destroy and the one it makes to finish the stop
        its guest made; the domain then waits, shut down, for the monitor's next look
        (at most 10 s), which destroys it: the VM is never Halted with a domain left."""
        vm = self.running(name="destroy-twice")
        before = self.injected()
        self.arm("destroy:2")
        with self.assertRaises(XenAPI.Failure) as cm:
            self.x.VM.clean_shutdown(vm)
        self.assertEqual(failure(cm.exception)[:3], ["HYPERVISOR_OPERATION_FAILED", vm, "domain destroy"])
        self.assertEqual(self.injected(), before + 2)
        # (the monitor, woken by the guest's stop, may be acting on it already: the
        # record is judged once settled)
        wait_until(lambda: self.x.VM.get_power_state(vm) == "Halted", timeout=15, what="the monitor's next look")
        self.assertConsistent(vm, "Halted")

    def test_hard_shutdown_of_paused(self):
        vm = self.running(name="paused-destroy")
        self.x.VM.pause(vm)
        self.arm("destroy")
        self.assertFails("destroy", "domain destroy", self.x.VM.hard_shutdown, vm)
        self.assertConsistent(vm, "Paused")
        self.x.VM.hard_shutdown(vm)
        self.assertConsistent(vm, "Halted")

    # ---- suspending ----
    def test_suspend_request(self):
        vm = self.running(name="sus-request")
        domid = self.x.VM.get_domid(vm)
        self.arm("request-suspend")
        self.assertFails("request-suspend", "suspend request", self.x.VM.suspend, vm)
        self.assertConsistent(vm, "Running")
        self.assertEqual(xs_read(self.d, "/local/domain/%s/control/shutdown" % domid), "", "a request is left")
        self.x.VM.suspend(vm)
        self.assertConsistent(vm, "Suspended")
        self.x.VM.resume(vm, False, False)
        self.assertConsistent(vm, "Running")

    def test_suspend_destroy(self):
        vm = self.running(name="sus-destroy")
        self.arm("destroy")
        self.assertFails("destroy", "domain destroy", self.x.VM.suspend, vm)
        # the guest had suspended: the daemon finishes, as the monitor would
        self.assertConsistent(vm, "Suspended")
        self.x.VM.resume(vm, False, False)
        self.assertConsistent(vm, "Running")

    def test_resume_build(self):
        vm = self.running(name="resume-build")
        self.x.VM.suspend(vm)
        self.assertConsistent(vm, "Suspended")
        self.arm("introduce")
        self.assertFails("introduce", "domain restore", self.x.VM.resume, vm, False, False)
        self.assertConsistent(vm, "Suspended")
        self.x.VM.resume(vm, False, False)
        self.assertConsistent(vm, "Running")

    def test_suspend_save(self):
        """The guest suspended, its image cannot be written: the guest runs on in the
        same domain (its state going on), and no image is left."""
        vm = self.running(name="sus-save")
        domid = self.x.VM.get_domid(vm)
        self.arm("save")
        self.assertFails("save", "domain save", self.x.VM.suspend, vm)
        self.assertConsistent(vm, "Running")
        self.assertEqual(self.x.VM.get_domid(vm), domid)
        self.assertEqual(sim_list(self.d)[int(domid)][1], "running")
        self.assertEqual(self.images(), [], "an image of a failed save is left")
        self.x.VM.suspend(vm)
        self.assertConsistent(vm, "Suspended")
        self.assertEqual(len(self.images()), 1)
        self.x.VM.resume(vm, False, False)
        self.assertConsistent(vm, "Running")

    def images(self):
        d = os.path.join(os.path.dirname(self.d.options["db-path"]), "suspend")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_resume_restore(self):
        """The backend restored the domain, then the restore fails: the domain goes,
        the VM stays Suspended with its image, and the next resume continues it."""
        vm = self.running(name="resume-restore")
        self.x.VM.suspend(vm)
        self.assertConsistent(vm, "Suspended")
        self.arm("restore")
        self.assertFails("restore", "domain restore", self.x.VM.resume, vm, False, False)
        self.assertConsistent(vm, "Suspended")
        self.assertEqual(len(self.images()), 1, "the image went with the failed resume")
        self.x.VM.resume(vm, False, False)
        self.assertConsistent(vm, "Running")
        self.assertEqual(self.images(), [])

    def test_resume_unpause(self):
        vm = self.running(name="resume-unpause")
        self.x.VM.suspend(vm)
        self.arm("unpause")
        self.assertFails("unpause", "domain unpause", self.x.VM.resume, vm, False, False)
        self.assertConsistent(vm, "Suspended")
        self.x.VM.resume(vm, False, False)
        self.assertConsistent(vm, "Running")


class UnacknowledgedRequest(SharedDaemonTest):
    """A guest that does not acknowledge control/shutdown in time: the request is
    taken back, so that the guest does not act on it later (soak finding: it stayed,
    and a guest that woke up then shut down a VM recorded Running)."""

    def test_request_taken_back(self):
        vm = hvm_vm(self.x, "deaf", platform={"sim-guest": "unresponsive"},
                    memory_static_max=str(128 * MIB), memory_dynamic_max=str(128 * MIB),
                    memory_dynamic_min=str(128 * MIB))
        self.x.VM.start(vm, False, False)
        domid = self.x.VM.get_domid(vm)
        for call in (self.x.VM.clean_shutdown, self.x.VM.clean_reboot):
            with self.assertRaises(XenAPI.Failure) as cm:
                call(vm)
            self.assertEqual(failure(cm.exception), ["VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", vm])
            self.assertEqual(xs_read(self.d, "/local/domain/%s/control/shutdown" % domid), "")
            self.assertPowerState(self.x, vm, "Running")
