"""The xenstore tree of a started domain, read and written with the stock xenstore-*
tools against the simulator: as dom0 through the main socket, and as the guest
through its own socket (XENSTORED_PATH=<sim-state-dir>/domain/<domid>), where
permissions are enforced.  The guest may write where it reports (data/, attr/, ...)
but not what the toolstack told it (name, control/has-vendor-device,
memory/target, ...); everything goes when the domain goes."""

import os
import unittest

from support import (MIB, SharedDaemonTest, as_guest, guest_socket, hvm_vm, pv_vm, wait_until, xs_exists,
                      xs_read)


class Layout(SharedDaemonTest):
    def start(self, vm):
        self.x.VM.start(vm, False, False)
        domid = self.x.VM.get_domid(vm)
        return domid, "/local/domain/%s" % domid

    def test_hvm_domain_tree(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "layout-hvm", has_vendor_device=True, VCPUs_max="2", VCPUs_at_startup="1",
                    memory_static_max=str(512 * MIB), memory_dynamic_max=str(384 * MIB),
                    memory_dynamic_min=str(256 * MIB), platform={"acpi": "1", "viridian": "true"})
        uuid = x.VM.get_uuid(vm)
        domid, home = self.start(vm)
        expect = {
            "name": "layout-hvm",
            "domid": domid,
            "vm": "/vm/" + uuid,
            "control/has-vendor-device": "1",
            "control/shutdown": "",
            "memory/static-max": str(512 * 1024),
            "memory/target": str(384 * 1024),
            "cpu/0/availability": "online",
            "cpu/1/availability": "offline",
            "platform/acpi": "1",
            # a key the VM's version declares is written normalised, as hvmloader reads it
            "platform/viridian": "1",
            "platform/videoram": "8",
            "memory/videoram": str(8 * 1024),
            "data": "",
            "attr": "",
        }
        got = {k: xs_read(d, "%s/%s" % (home, k)) for k in expect}
        self.assertEqual(got, expect)
        self.assertEqual(xs_read(d, "/vm/%s/uuid" % uuid), uuid)
        self.assertEqual(xs_read(d, "/vm/%s/name" % uuid), "layout-hvm")
        self.assertEqual(xs_read(d, "/vm/%s/image/ostype" % uuid), "hvm")
        children = set(d.xenstore("list", home).stdout.split())
        self.assertLessEqual({"name", "domid", "vm", "control", "data", "attr", "platform", "memory", "cpu",
                              "console", "store", "device"}, children)

    def test_pv_domain_tree(self):
        x, d = self.x, self.d
        vm = pv_vm(x, "layout-pv")
        uuid = x.VM.get_uuid(vm)
        domid, home = self.start(vm)
        self.assertEqual(xs_read(d, home + "/control/has-vendor-device"), "0")
        self.assertEqual(xs_read(d, home + "/memory/target"), str(128 * 1024))
        self.assertFalse(xs_exists(d, home + "/memory/videoram"))
        self.assertEqual(xs_read(d, "/vm/%s/image/ostype" % uuid), "linux")
        self.assertEqual(xs_read(d, "/vm/%s/image/kernel" % uuid), "/boot/vmlinuz-guest")
        self.assertEqual(xs_read(d, "/vm/%s/image/cmdline" % uuid), "console=hvc0")

    def test_the_guest_reads_its_own_tree(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "reader", has_vendor_device=True)
        domid, home = self.start(vm)
        for path in ("name", home + "/name"):
            r = as_guest(d, domid, "read", path)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "reader"), r.stderr)
        r = as_guest(d, domid, "read", "control/has-vendor-device")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "1"), r.stderr)
        r = as_guest(d, domid, "read", "/vm/%s/uuid" % x.VM.get_uuid(vm))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_what_the_guest_may_write(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "writer")
        domid, home = self.start(vm)
        for path, value in (("data/updated", "1"), ("attr/PVAddons/MajorVersion", "9"),
                            ("data/os_name", "Debian"), ("control/feature-poweroff", "1"),
                            ("drivers/0", "Linux"), ("feature/hotplug", "1")):
            r = as_guest(d, domid, "write", path, value)
            self.assertEqual(r.returncode, 0, "the guest could not write %s: %s" % (path, r.stderr))
            self.assertEqual(xs_read(d, "%s/%s" % (home, path)), value)
        r = as_guest(d, domid, "rm", "data/os_name")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(xs_exists(d, home + "/data/os_name"))

    def test_what_the_guest_may_not_write(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "guarded", has_vendor_device=True)
        uuid = x.VM.get_uuid(vm)
        domid, home = self.start(vm)
        before = {p: xs_read(d, home + "/" + p) for p in ("name", "domid", "vm", "control/has-vendor-device",
                                                          "memory/target", "memory/static-max")}
        for rel in before:
            r = as_guest(d, domid, "write", rel, "0")
            self.assertNotEqual(r.returncode, 0, "the guest could write %s" % rel)
        for rel in ("control/has-vendor-device", "memory/target", "name"):
            r = as_guest(d, domid, "rm", rel)
            self.assertNotEqual(r.returncode, 0, "the guest could remove %s" % rel)
        for path in ("/vm/%s/name" % uuid, home + "/newkey", home + "/platform/viridian", "/local/domain/0/name",
                     "/tool/evil"):
            r = as_guest(d, domid, "write", path, "x")
            self.assertNotEqual(r.returncode, 0, "the guest could write %s" % path)
        after = {p: xs_read(d, home + "/" + p) for p in before}
        self.assertEqual(after, before)
        self.assertEqual(xs_read(d, "/vm/%s/name" % uuid), "guarded")
        self.assertFalse(xs_exists(d, home + "/newkey"))

    def test_guests_do_not_see_each_other(self):
        x, d = self.x, self.d
        a, b = hvm_vm(x, "a"), hvm_vm(x, "b")
        da, _ = self.start(a)
        db, hb = self.start(b)
        r = as_guest(d, da, "read", hb + "/name")
        self.assertNotEqual(r.returncode, 0, "a guest read another's name")
        r = as_guest(d, da, "write", hb + "/data/updated", "1")
        self.assertNotEqual(r.returncode, 0, "a guest wrote into another's data")
        self.assertFalse(xs_exists(d, hb + "/data/updated"))

    def assertGone(self, domid, uuid):
        d = self.d
        self.assertFalse(xs_exists(d, "/local/domain/%s" % domid), "the domain's tree is left")
        self.assertFalse(xs_exists(d, "/vm/%s" % uuid), "/vm/<uuid> is left")
        self.assertFalse(os.path.exists(guest_socket(d, domid)), "the guest's socket is left")

    def test_everything_goes_with_the_domain(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "ephemeral")
        uuid = x.VM.get_uuid(vm)
        for stop in ("clean_shutdown", "hard_shutdown", "shutdown", "suspend"):
            domid, home = self.start(vm) if x.VM.get_power_state(vm) == "Halted" else (None, None)
            if domid is None:
                x.VM.resume(vm, False, False)
                domid = x.VM.get_domid(vm)
            self.assertTrue(os.path.exists(guest_socket(d, domid)))
            self.assertEqual(as_guest(d, domid, "write", "data/updated", "1").returncode, 0)
            getattr(x.VM, stop)(vm)
            self.assertGone(domid, uuid)
        x.VM.hard_shutdown(vm)  # from Suspended

    def test_reboots_move_the_tree(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "mover")
        uuid = x.VM.get_uuid(vm)
        for reboot in ("clean_reboot", "hard_reboot"):
            old = x.VM.get_domid(vm) if x.VM.get_power_state(vm) == "Running" else self.start(vm)[0]
            getattr(x.VM, reboot)(vm)
            new = x.VM.get_domid(vm)
            self.assertNotEqual(new, old)
            self.assertFalse(xs_exists(d, "/local/domain/%s" % old))
            self.assertFalse(os.path.exists(guest_socket(d, old)))
            self.assertEqual(xs_read(d, "/local/domain/%s/vm" % new), "/vm/" + uuid)
            self.assertEqual(xs_read(d, "/vm/%s/uuid" % uuid), uuid)

    def test_guest_initiated_stops_clean_up_too(self):
        x, d = self.x, self.d
        vm = hvm_vm(x, "selfstop")
        uuid = x.VM.get_uuid(vm)
        domid, home = self.start(vm)
        d.xenstore("write", home + "/sim/shutdown", "poweroff")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", 10, what="the VM to halt")
        wait_until(lambda: not xs_exists(d, home), 5, what="the tree to go")
        self.assertGone(domid, uuid)

    def test_domains_started_at_once_each_get_their_tree(self):
        x, d = self.x, self.d
        small = {k: str(64 * MIB) for k in ("memory_static_max", "memory_dynamic_max", "memory_dynamic_min",
                                            "memory_static_min")}
        for rnd in range(3):
            vms = [hvm_vm(x, "at-once-%d-%d" % (rnd, i), **small) for i in range(20)]
            tasks = [x.Async.VM.start(vm, False, False) for vm in vms]
            for t in tasks:
                wait_until(lambda: x.task.get_status(t) != "pending", 30, what="the starts")
                self.assertEqual((x.task.get_status(t), x.task.get_error_info(t)), ("success", []))
            for vm in vms:
                domid = x.VM.get_domid(vm)
                self.assertEqual(xs_read(d, "/local/domain/%s/name" % domid), x.VM.get_name_label(vm))
                self.assertEqual(xs_read(d, "/vm/%s/uuid" % x.VM.get_uuid(vm)), x.VM.get_uuid(vm))
                self.assertEqual(as_guest(d, domid, "write", "data/updated", "1").returncode, 0)
            for vm in vms:
                x.VM.hard_shutdown(vm)

    def test_a_new_domain_starts_with_a_fresh_tree(self):
        """What a guest wrote does not outlive its domain: the next boot starts clean."""
        x, d = self.x, self.d
        vm = hvm_vm(x, "fresh")
        domid, home = self.start(vm)
        self.assertEqual(as_guest(d, domid, "write", "data/updated", "7").returncode, 0)
        x.VM.hard_reboot(vm)
        new = x.VM.get_domid(vm)
        self.assertIsNone(xs_read(d, "/local/domain/%s/data/updated" % new))


if __name__ == "__main__":
    unittest.main()
