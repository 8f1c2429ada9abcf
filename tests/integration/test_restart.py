"""Restart consistency: the daemon dies (kill -9) or stops while domains live on in the
simulator (which, like a hypervisor, keeps its domains and xenstore in
sim-state-dir); when it comes back, the VM records agree with the domains again:
running domains keep their VMs Running with the same domid, vanished ones make
their VMs Halted, an operation cut short leaves no VM stuck, and a domain its guest
stopped meanwhile is dealt with as the VM's actions_after_* say."""

import os
import time
import unittest

from support import (DaemonTest, FAST, OPS_BY_STATE, as_guest, dm_argv_path, domain_gone, domains_of, guest_domids,
                     guest_socket, guest_vm_uuid, hvm_vm, pv_vm, remove_sim_domain, set_sim_domain_shutdown,
                     sim_control, sim_dm_argv, unresponsive, wait_until, xs_exists, xs_read)

# The simulated xenstore saves its tree at most 100 ms after a change.
XENSTORE_SAVE_DELAY = 0.3


class Restart(DaemonTest):
    def relogin(self, d):
        return self.login(d)

    def test_kill9_keeps_running_vms_running(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        a = hvm_vm(x, "a", has_vendor_device=True)
        b = pv_vm(x, "b")
        c = hvm_vm(x, "c")
        h = hvm_vm(x, "halted")
        s = hvm_vm(x, "suspended")
        x.VM.start(a, False, False)
        x.VM.start(b, False, False)
        x.VM.start(c, True, False)
        x.VM.start(s, False, False)
        x.VM.suspend(s)
        before = {vm: x.VM.get_record(vm) for vm in (a, b, c, h, s)}
        time.sleep(XENSTORE_SAVE_DELAY)
        d.kill9()
        d.start()
        x = self.login(d)
        self.assertEqual(x.host.get_all(), [host])
        for vm, old in before.items():
            rec = self.assertPowerState(x, vm, old["power_state"])
            self.assertEqual(rec["domid"], old["domid"])
            self.assertEqual(rec["hardware_platform_version"], old["hardware_platform_version"])
        # the domains are the same ones, their trees intact, their guests reachable
        self.assertEqual(guest_domids(d), sorted(int(before[v]["domid"]) for v in (a, b, c)))
        adom = before[a]["domid"]
        self.assertEqual(xs_read(d, "/local/domain/%s/control/has-vendor-device" % adom), "1")
        r = as_guest(d, adom, "write", "data/updated", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(as_guest(d, adom, "write", "name", "x").returncode, 0)
        # and they still work: the guest answers a clean shutdown, the paused one resumes
        x.VM.clean_shutdown(a)
        self.assertPowerState(x, a, "Halted")
        self.assertFalse(xs_exists(d, "/local/domain/%s" % adom))
        x.VM.unpause(c)
        self.assertPowerState(x, c, "Running")
        x.VM.clean_reboot(b)
        self.assertNotEqual(x.VM.get_domid(b), before[b]["domid"])
        x.VM.resume(s, False, False)
        self.assertPowerState(x, s, "Running")

    def test_a_domain_gone_while_the_daemon_was_down_halts_its_vm(self):
        d = self.start_daemon()
        x = self.login(d)
        gone, kept = hvm_vm(x, "gone"), hvm_vm(x, "kept")
        x.VM.start(gone, False, False)
        x.VM.start(kept, False, False)
        gdom, kdom = x.VM.get_domid(gone), x.VM.get_domid(kept)
        metrics = x.VM.get_metrics(gone)
        uuid = x.VM.get_uuid(gone)
        # the simulator's control is refused while the daemon has the simulator open
        r = sim_control(d, gdom, "--remove")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("in use by a running xenapid (pid %d)" % d.proc.pid, r.stderr)
        self.assertEqual(guest_domids(d), sorted([int(gdom), int(kdom)]))
        self.assertTrue(os.path.exists(dm_argv_path(d, gdom)))
        d.stop()
        remove_sim_domain(d, gdom)
        d.start()
        x = self.login(d)
        self.assertPowerState(x, gone, "Halted")
        self.assertEqual(x.VM_metrics.get_memory_actual(metrics), "0")
        rec = self.assertPowerState(x, kept, "Running")
        self.assertEqual(rec["domid"], kdom)
        # what belonged to the vanished domain goes with it
        self.assertFalse(xs_exists(d, "/local/domain/%s" % gdom), "the vanished domain's tree is left")
        self.assertFalse(xs_exists(d, "/vm/%s" % uuid))
        self.assertFalse(os.path.exists(guest_socket(d, gdom)))
        self.assertFalse(os.path.exists(dm_argv_path(d, gdom)), "the vanished domain's device model argv is left")
        self.assertTrue(os.path.exists(dm_argv_path(d, kdom)))
        # and the VM starts again
        x.VM.start(gone, False, False)
        self.assertPowerState(x, gone, "Running")
        self.assertNotEqual(x.VM.get_domid(gone), gdom)

    def test_a_second_daemon_on_the_same_simulator_refuses_to_start(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = pv_vm(x)
        x.VM.start(vm, False, False)
        other = self.make_daemon(sim_state_dir=d.options["sim-state-dir"])
        with self.assertRaises(RuntimeError) as cm:
            other.start()
        self.assertIn("in use by a running xenapid (pid %d)" % d.proc.pid, str(cm.exception))
        # and the first one's domains and xenstore are untouched
        self.assertEqual(guest_domids(d), [int(x.VM.get_domid(vm))])
        self.assertEqual(guest_vm_uuid(d, x.VM.get_domid(vm)), x.VM.get_uuid(vm))

    def test_an_interrupted_operation_does_not_leave_the_vm_stuck(self):
        d = self.start_daemon(shutdown_ack_timeout=60)
        x = self.login(d)
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        task = x.Async.VM.clean_shutdown(vm)
        wait_until(lambda: x.VM.get_current_operations(vm), 5, what="the operation to be recorded")
        self.assertEqual(x.VM.get_current_operations(vm), {task: "clean_shutdown"})
        d.kill9()
        d.options.update({k.replace("_", "-"): str(v) for k, v in FAST.items()})
        d.start()
        x = self.login(d)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["domid"], domid)
        self.assertEqual(set(rec["allowed_operations"]), OPS_BY_STATE["Running"])
        x.VM.shutdown(vm)
        self.assertPowerState(x, vm, "Halted")

    def test_kill9_just_after_an_operation_began(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        x.Async.VM.hard_reboot(vm)
        d.kill9()
        d.start()
        x = self.login(d)
        rec = x.VM.get_record(vm)
        self.assertEqual(rec["current_operations"], {})
        # however far the reboot got, the record says what the simulator has
        uuid = rec["uuid"]
        doms = domains_of(d, uuid)
        self.assertLessEqual(len(doms), 1)
        if doms:
            self.assertPowerState(x, vm, "Running")
            self.assertEqual(int(rec["domid"]), doms[0])
        else:
            self.assertPowerState(x, vm, "Halted")

    def test_a_guest_stop_seen_at_restart_follows_the_actions(self):
        d = self.start_daemon()
        x = self.login(d)
        off = hvm_vm(x, "off")
        rb = hvm_vm(x, "rb")
        crash = hvm_vm(x, "crash", actions_after_crash="preserve")
        for vm in (off, rb, crash):
            x.VM.start(vm, False, False)
        doms = {vm: x.VM.get_domid(vm) for vm in (off, rb, crash)}
        time.sleep(XENSTORE_SAVE_DELAY)
        d.stop()
        set_sim_domain_shutdown(d, doms[off], "poweroff")
        set_sim_domain_shutdown(d, doms[rb], "reboot")
        set_sim_domain_shutdown(d, doms[crash], "crash")
        d.start()
        x = self.login(d)
        self.assertPowerState(x, off, "Halted")
        self.assertFalse(xs_exists(d, "/local/domain/%s" % doms[off]))
        rec = self.assertPowerState(x, rb, "Running")
        self.assertNotEqual(rec["domid"], doms[rb])
        self.assertEqual(x.VM.get_power_state(crash), "Paused")
        self.assertEqual(x.VM.get_domid(crash), doms[crash])
        self.assertTrue(domain_gone(d, doms[off]))
        self.assertTrue(domain_gone(d, doms[rb]))

    def test_the_device_model_argv_survives_a_restart(self):
        """Whatever the VM's name holds (the argv file's separators, or nothing)."""
        d = self.start_daemon()
        x = self.login(d)
        names = ["tab\there", "new\nline", "back\\slash\\n", "per%09cent%", ""]
        vms = {hvm_vm(x, name, has_vendor_device=True): name for name in names}
        argvs = {}
        for vm in vms:
            x.VM.start(vm, False, False)
            argvs[vm] = sim_dm_argv(d, x.VM.get_domid(vm))
        d.stop()
        d.start()
        x = self.login(d)
        for vm, name in vms.items():
            domid = x.VM.get_domid(vm)
            self.assertEqual(x.VM.get_power_state(vm), "Running")
            argv = sim_dm_argv(d, domid)
            self.assertEqual(argv, argvs[vm], "the argv of %r after a restart" % name)
            self.assertEqual(argv[argv.index("-name") + 1], name)
            i = argv.index("xen-pvdevice,device-id=0xc000,addr=0x4")  # at version 1's fixed slot
            self.assertEqual(argv[i - 1], "-device")

    def test_records_survive_kill9(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "durable")
        x.VM.set_has_vendor_device(vm, True)
        x.VM.set_hardware_platform_version(vm, "1")
        clone = x.VM.clone(vm, "durable-copy")
        d.kill9()
        d.start()
        x = self.login(d)
        for v in (vm, clone):
            rec = self.assertPowerState(x, v, "Halted")
            self.assertEqual(rec["hardware_platform_version"], "1")
            self.assertTrue(rec["has_vendor_device"])

    def test_restart_with_another_configuration_changes_the_host_list_only(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, "win", has_vendor_device=True)
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        d.restart(virtual_hardware_platform_versions="0")
        x = self.login(d)
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0"])
        # a running domain is not touched by the new offer: it keeps what it was given
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["domid"], domid)
        self.assertEqual(rec["hardware_platform_version"], "1")
        # but it will not boot here again
        x.VM.clean_shutdown(vm)
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, vm, False, False)


if __name__ == "__main__":
    unittest.main()
