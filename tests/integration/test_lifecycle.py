"""The VM lifecycle over XML-RPC with XenAPI.py, against the simulator: create,
destroy, clone, start/start_on, clean and hard shutdown and reboot, pause, suspend
and resume, what power_state, domid, resident_on, VM_metrics, allowed_operations and
current_operations say after each transition and during an operation, the errors
of each wrong state, two operations at once, and guests that stop by themselves."""

import calendar
import threading
import time
import unittest

from support import (DaemonTest, MIB, SharedDaemonTest, as_guest, domain_alive, domain_gone, domains_of,
                     list_methods, hvm_vm, pv_vm, unresponsive, wait_until, xs_exists)
from os_xenapi.client import XenAPI


def wait_task(x, task, timeout=20):
    wait_until(lambda: x.task.get_status(task) != "pending", timeout, what="task %s" % task)
    return x.task.get_record(task)


class Records(SharedDaemonTest):
    """VM.create, destroy, clone: the record side."""

    def test_create_from_a_record_takes_defaults_for_the_rest(self):
        x = self.x
        vm = x.VM.create({"name_label": "plain", "VCPUs_max": "2", "VCPUs_at_startup": "2"})
        rec = self.assertPowerState(x, vm, "Halted")
        self.assertEqual(rec["name_label"], "plain")
        self.assertEqual(rec["VCPUs_max"], "2")
        self.assertEqual(rec["hardware_platform_version"], "0")
        self.assertFalse(rec["has_vendor_device"])
        self.assertEqual(rec["memory_static_max"], str(256 * MIB))
        self.assertEqual(rec["actions_after_reboot"], "restart")
        # every VM has its metrics object from the start
        m = x.VM_metrics.get_record(rec["metrics"])
        self.assertEqual(m["memory_actual"], "0")
        self.assertIn(vm, x.VM.get_all())

    def test_create_with_the_vendor_device_gets_version_1(self):
        vm = hvm_vm(self.x, "win", has_vendor_device=True)
        self.assertTrue(self.x.VM.get_has_vendor_device(vm))
        self.assertEqual(self.x.VM.get_hardware_platform_version(vm), "1")

    def test_create_keeps_a_higher_version_it_is_given(self):
        vm = hvm_vm(self.x, "v3", has_vendor_device=True, hardware_platform_version="3")
        self.assertEqual(self.x.VM.get_hardware_platform_version(vm), "3")
        vm0 = hvm_vm(self.x, "v2", hardware_platform_version="2")
        self.assertEqual(self.x.VM.get_hardware_platform_version(vm0), "2")

    def test_create_refuses_a_negative_version(self):
        with self.assertRaises(XenAPI.Failure) as cm:
            hvm_vm(self.x, "neg", hardware_platform_version="-1")
        self.assertEqual(cm.exception.details[0], "INVALID_VALUE")
        self.assertEqual(cm.exception.details[1], "hardware_platform_version")
        self.assertEqual(self.x.VM.get_by_name_label("neg"), [])

    def test_destroy_removes_the_record_and_its_metrics(self):
        x = self.x
        vm = hvm_vm(x, "gone")
        metrics = x.VM.get_metrics(vm)
        x.VM.destroy(vm)
        self.assertNotIn(vm, x.VM.get_all())
        self.assertFailure(["HANDLE_INVALID", "VM", vm], x.VM.get_record, vm)
        self.assertFailure(["HANDLE_INVALID", "VM_metrics", metrics], x.VM_metrics.get_record, metrics)

    def test_destroy_refuses_a_running_vm(self):
        x = self.x
        vm = hvm_vm(x, "busy")
        x.VM.start(vm, False, False)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "halted", "running"], x.VM.destroy, vm)
        self.assertPowerState(x, vm, "Running")

    def test_clone_keeps_the_version_and_the_hardware(self):
        x = self.x
        vm = hvm_vm(x, "orig", has_vendor_device=True, platform={"viridian": "true"})
        c = x.VM.clone(vm, "copy")
        self.assertNotEqual(c, vm)
        rec, crec = x.VM.get_record(vm), x.VM.get_record(c)
        self.assertEqual(crec["name_label"], "copy")
        self.assertNotEqual(crec["uuid"], rec["uuid"])
        self.assertNotEqual(crec["metrics"], rec["metrics"])
        self.assertEqual(crec["hardware_platform_version"], "1")
        self.assertTrue(crec["has_vendor_device"])
        self.assertEqual(crec["platform"], {"viridian": "true"})
        self.assertEqual(crec["HVM_boot_policy"], "BIOS order")
        self.assertPowerState(x, c, "Halted")
        # the copy runs as a VM of its own
        x.VM.start(c, False, False)
        self.assertPowerState(x, c, "Running")
        self.assertPowerState(x, vm, "Halted")
        # a version no host offers stays with the copy: it is refused as the original is
        x.VM.set_hardware_platform_version(vm, "2")
        c2 = x.VM.clone(vm, "copy2")
        self.assertEqual(x.VM.get_hardware_platform_version(c2), "2")
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, c2, False, False)

    def test_clone_refuses_a_running_vm(self):
        x = self.x
        vm = hvm_vm(x, "running")
        x.VM.start(vm, False, False)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "halted", "running"], x.VM.clone, vm, "c")
        self.assertEqual(x.VM.get_by_name_label("c"), [])

    def test_allowed_operations_name_existing_messages(self):
        """Every operation a VM says is allowed is a message a client can call."""
        x = self.x
        methods = set(list_methods(self.d))
        vm = hvm_vm(x, "ops")
        seen = set(x.VM.get_allowed_operations(vm))
        x.VM.start(vm, False, False)
        seen |= set(x.VM.get_allowed_operations(vm))
        x.VM.pause(vm)
        seen |= set(x.VM.get_allowed_operations(vm))
        x.VM.unpause(vm)
        x.VM.suspend(vm)
        seen |= set(x.VM.get_allowed_operations(vm))
        self.assertEqual([op for op in sorted(seen) if "VM." + op not in methods], [])


class PowerCycle(SharedDaemonTest):
    """Transitions and what the VM record, its metrics and the simulator say after each."""

    def setUp(self):
        super().setUp()
        self.host = self.x.host.get_all()[0]

    def domain_of(self, vm):
        """The domid of the VM's domain, as its guest says (None if it has none)."""
        doms = domains_of(self.d, self.x.VM.get_uuid(vm))
        self.assertLessEqual(len(doms), 1, "a VM has at most one domain")
        return doms[0] if doms else None

    def test_start_and_clean_shutdown(self):
        x = self.x
        vm = hvm_vm(x, "cycle", VCPUs_max="2", VCPUs_at_startup="2")
        before = time.time()
        x.VM.start(vm, False, False)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["resident_on"], self.host)
        self.assertIn(vm, x.host.get_resident_VMs(self.host))
        self.assertEqual(str(self.domain_of(vm)), rec["domid"])
        m = x.VM_metrics.get_record(rec["metrics"])
        self.assertEqual(m["memory_actual"], str(256 * MIB))
        self.assertEqual(m["VCPUs_number"], "2")
        self.assertTrue(m["hvm"])
        self.assertEqual(m["current_domain_type"], "hvm")
        started = calendar.timegm(time.strptime(m["start_time"].value, "%Y%m%dT%H:%M:%SZ"))
        self.assertGreaterEqual(started, int(before) - 1)
        self.assertEqual(x.VM.get_domain_type(vm), "hvm")

        x.VM.clean_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertIsNone(self.domain_of(vm))
        self.assertNotIn(vm, x.host.get_resident_VMs(self.host))
        m = x.VM_metrics.get_record(rec["metrics"])
        self.assertEqual(m["memory_actual"], "0")
        self.assertEqual(m["VCPUs_number"], "0")
        # and it starts again, as a new domain
        x.VM.start(vm, False, False)
        rec2 = self.assertPowerState(x, vm, "Running")
        self.assertNotEqual(rec2["domid"], rec["domid"])

    def test_clean_shutdown_asks_the_guest_through_control_shutdown(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        t0 = time.time()
        self.assertFailure(["VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", vm], x.VM.clean_shutdown, vm)
        self.assertLess(time.time() - t0, 5)
        # the request the guest never answered is taken back: it must not act on it
        # later, behind a VM recorded Running (a kill -9 soak finding)
        self.assertEqual(self.d.xenstore("read", "/local/domain/%s/control/shutdown" % domid).stdout.strip(), "")
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["domid"], domid)

    def test_shutdown_falls_back_to_hard(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        x.VM.shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertIsNone(self.domain_of(vm))

    def test_shutdown_of_a_cooperative_guest_is_clean(self):
        x = self.x
        vm = hvm_vm(x, "nice")
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        x.VM.shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertIn("domain %s shut down (reason 0)" % domid, self.d.read_log())

    def test_hard_shutdown(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        x.VM.hard_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertIsNone(self.domain_of(vm))

    def test_start_paused_pause_unpause(self):
        x = self.x
        vm = pv_vm(x)
        x.VM.start(vm, True, False)
        rec = self.assertPowerState(x, vm, "Paused")
        self.assertEqual(str(self.domain_of(vm)), rec["domid"])
        self.assertEqual(x.VM_metrics.get_current_domain_type(rec["metrics"]), "pv")
        x.VM.unpause(vm)
        self.assertPowerState(x, vm, "Running")
        self.assertEqual(str(self.domain_of(vm)), rec["domid"])
        x.VM.pause(vm)
        self.assertPowerState(x, vm, "Paused")
        self.assertEqual(str(self.domain_of(vm)), rec["domid"])
        x.VM.hard_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertIsNone(self.domain_of(vm))

    def test_start_on_this_host(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start_on(vm, self.host, False, False)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["resident_on"], self.host)
        x.VM.hard_shutdown(vm)
        x.VM.start_on(vm, self.host, True, True)
        self.assertPowerState(x, vm, "Paused")

    def test_clean_reboot_builds_a_new_domain(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        old = x.VM.get_domid(vm)
        x.VM.clean_reboot(vm)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertNotEqual(rec["domid"], old)
        self.assertEqual(str(self.domain_of(vm)), rec["domid"])
        self.assertTrue(domain_gone(self.d, old))
        self.assertIn("domain %s shut down (reason 1)" % old, self.d.read_log())

    def test_clean_reboot_of_an_unresponsive_guest_fails_and_leaves_it_running(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        old = x.VM.get_domid(vm)
        self.assertFailure(["VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", vm], x.VM.clean_reboot, vm)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertEqual(rec["domid"], old)

    def test_hard_reboot_builds_a_new_domain(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        old = x.VM.get_domid(vm)
        x.VM.hard_reboot(vm)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertNotEqual(rec["domid"], old)
        self.assertTrue(domain_gone(self.d, old))
        # from Paused too, and the new domain runs
        x.VM.pause(vm)
        x.VM.hard_reboot(vm)
        rec2 = self.assertPowerState(x, vm, "Running")
        self.assertNotEqual(rec2["domid"], rec["domid"])

    def test_suspend_and_resume(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        old = x.VM.get_domid(vm)
        metrics = x.VM.get_metrics(vm)
        x.VM.suspend(vm)
        self.assertPowerState(x, vm, "Suspended")
        self.assertIsNone(self.domain_of(vm), "a suspended VM holds no domain")
        self.assertEqual(x.VM_metrics.get_memory_actual(metrics), "0")
        x.VM.resume(vm, False, False)
        rec = self.assertPowerState(x, vm, "Running")
        self.assertNotEqual(rec["domid"], old)
        x.VM.suspend(vm)
        x.VM.resume_on(vm, self.host, True, False)
        self.assertPowerState(x, vm, "Paused")
        x.VM.unpause(vm)
        x.VM.suspend(vm)
        # a suspended VM can be shut down (its image dropped) or destroyed
        x.VM.hard_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")

    def test_suspended_vm_can_be_destroyed(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        x.VM.suspend(vm)
        x.VM.destroy(vm)
        self.assertNotIn(vm, x.VM.get_all())

    def test_wrong_power_states(self):
        x = self.x
        vm = hvm_vm(x)
        halted = [("start", (False, False), "halted"), ("start_on", (self.host, False, False), "halted"),
                  ("resume", (False, False), "suspended")]
        for op in ("clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot", "hard_reboot", "pause",
                   "suspend"):
            self.assertFailure(["VM_BAD_POWER_STATE", vm, "running", "halted"], getattr(x.VM, op), vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "paused", "halted"], x.VM.unpause, vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "suspended", "halted"], x.VM.resume, vm, False, False)
        self.assertPowerState(x, vm, "Halted")
        x.VM.start(vm, False, False)
        for op, args, expected in halted:
            self.assertFailure(["VM_BAD_POWER_STATE", vm, expected, "running"], getattr(x.VM, op), vm, *args)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "paused", "running"], x.VM.unpause, vm)
        x.VM.pause(vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "running", "paused"], x.VM.pause, vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "running", "paused"], x.VM.clean_shutdown, vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "running", "paused"], x.VM.suspend, vm)
        self.assertPowerState(x, vm, "Paused")

    def test_templates_do_not_start(self):
        x = self.x
        vm = hvm_vm(x, "tmpl", is_a_template=True)
        self.assertEqual(set(x.VM.get_allowed_operations(vm)), {"clone", "destroy"})
        self.assertFailure(["VM_IS_TEMPLATE", vm, "start"], x.VM.start, vm, False, False)
        self.assertFailure(["VM_IS_TEMPLATE", vm, "start_on"], x.VM.start_on, vm, self.host, False, False)
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        c = x.VM.clone(vm, "from template")
        self.assertTrue(x.VM.get_is_a_template(c))

    def test_allowed_operations_follow_template_and_blocked_operations(self):
        # the generic setters change what the VM allows: allowed_operations says so
        x = self.x
        vm = hvm_vm(x, "becomes-a-template")
        self.assertIn("start", x.VM.get_allowed_operations(vm))
        x.VM.set_is_a_template(vm, True)
        self.assertEqual(set(x.VM.get_allowed_operations(vm)), {"clone", "destroy"})
        x.VM.set_is_a_template(vm, False)
        self.assertIn("start", x.VM.get_allowed_operations(vm))
        x.VM.add_to_blocked_operations(vm, "start", "maintenance")
        self.assertNotIn("start", x.VM.get_allowed_operations(vm))
        self.assertIn("start_on", x.VM.get_allowed_operations(vm))
        # what allowed_operations leaves out is refused, with xapi's code and the reason given
        self.assertFailure(["OPERATION_BLOCKED", vm, "maintenance"], x.VM.start, vm, False, False)
        x.VM.add_to_blocked_operations(vm, "destroy", "keep")
        self.assertFailure(["OPERATION_BLOCKED", vm, "keep"], x.VM.destroy, vm)
        x.VM.remove_from_blocked_operations(vm, "destroy")
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        x.VM.remove_from_blocked_operations(vm, "start")
        self.assertIn("start", x.VM.get_allowed_operations(vm))

    def test_clean_shutdown_of_a_guest_that_acknowledges_but_never_stops_times_out(self):
        # clean-shutdown-timeout is 5 s in these tests (support.FAST)
        x = self.x
        vm = hvm_vm(x, "hangs", platform={"sim-guest": "hangs"})
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        t0 = time.time()
        self.assertFailure(["VM_SHUTDOWN_TIMEOUT", vm, "5"], x.VM.clean_shutdown, vm)
        self.assertGreaterEqual(time.time() - t0, 4.5)
        # acknowledged (the key is back to empty) but still running
        self.assertEqual(self.d.xenstore("read", "/local/domain/%s/control/shutdown" % domid).stdout.strip(), "")
        self.assertPowerState(x, vm, "Running")
        x.VM.shutdown(vm)  # the fallback ends it
        self.assertPowerState(x, vm, "Halted")

    def test_pv_vm_without_a_kernel_does_not_start(self):
        x = self.x
        vm = x.VM.create({"name_label": "nokernel"})
        with self.assertRaises(XenAPI.Failure) as cm:
            x.VM.start(vm, False, False)
        self.assertEqual(cm.exception.details[:2], ["INVALID_VALUE", "PV_kernel"])
        self.assertPowerState(x, vm, "Halted")
        self.assertIsNone(self.domain_of(vm))

    def test_power_state_reset(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        with self.assertRaises(XenAPI.Failure) as cm:
            x.VM.power_state_reset(vm)
        self.assertEqual(cm.exception.details[0], "OPERATION_NOT_ALLOWED")
        self.assertPowerState(x, vm, "Running")
        halted = hvm_vm(x, "h")
        x.VM.power_state_reset(halted)
        self.assertPowerState(x, halted, "Halted")

    def test_metrics_follow_a_reboot(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        metrics = x.VM.get_metrics(vm)
        first = x.VM_metrics.get_start_time(metrics).value
        time.sleep(1.1)  # start_time has a resolution of one second
        x.VM.hard_reboot(vm)
        self.assertGreater(x.VM_metrics.get_start_time(metrics).value, first)
        self.assertEqual(x.VM_metrics.get_memory_actual(metrics), str(256 * MIB))


class DuringAnOperation(DaemonTest):
    """current_operations is the VM's lock, and what clients see while it is held."""

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon(shutdown_ack_timeout=3)
        self.x = self.login(self.d)

    def test_second_operation_gets_other_operation_in_progress(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        task = x.Async.VM.clean_shutdown(vm)
        wait_until(lambda: x.VM.get_current_operations(vm), 5, what="the operation to be recorded")
        rec = x.VM.get_record(vm)
        self.assertEqual(rec["current_operations"], {task: "clean_shutdown"})
        self.assertEqual(rec["allowed_operations"], [])
        self.assertEqual(x.task.get_status(task), "pending")
        expected = ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "clean_shutdown", task]
        self.assertFailure(expected, x.VM.hard_shutdown, vm)
        self.assertFailure(expected, x.VM.clean_reboot, vm)
        self.assertFailure(expected, x.VM.pause, vm)
        self.assertFailure(expected, x.VM.set_has_vendor_device, vm, True)
        # an Async call fails the same way, through its task
        t2 = x.Async.VM.hard_shutdown(vm)
        r2 = wait_task(x, t2)
        self.assertEqual(r2["status"], "failure")
        self.assertEqual(r2["error_info"], expected)
        # the first one ends as the guest never answered; the VM is free again
        r = wait_task(x, task)
        self.assertEqual(r["status"], "failure")
        self.assertEqual(r["error_info"], ["VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", vm])
        self.assertPowerState(x, vm, "Running")
        x.VM.hard_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")

    def test_sync_operation_holds_the_lock_too(self):
        x = self.x
        vm = unresponsive(x)
        x.VM.start(vm, False, False)
        errors = []
        other = self.login(self.d)  # another client

        def shutdown():
            try:
                other.VM.clean_shutdown(vm)
            except XenAPI.Failure as e:
                errors.append(list(e.details))

        th = threading.Thread(target=shutdown)
        th.start()
        ops = wait_until(lambda: x.VM.get_current_operations(vm), 5, what="the operation to be recorded")
        (opid, op), = ops.items()
        self.assertEqual(op, "clean_shutdown")
        self.assertFailure(["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "clean_shutdown", opid], x.VM.shutdown, vm)
        th.join(20)
        self.assertEqual(errors, [["VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT", vm]])
        self.assertPowerState(x, vm, "Running")

    def test_two_starts_at_once_make_one_domain(self):
        x = self.x
        for i in range(5):
            vm = hvm_vm(x, "race%d" % i)
            tasks = [x.Async.VM.start(vm, False, False) for _ in range(2)]
            results = [wait_task(x, t) for t in tasks]
            ok = [r for r in results if r["status"] == "success"]
            bad = [r for r in results if r["status"] == "failure"]
            self.assertEqual(len(ok), 1, results)
            self.assertEqual(len(bad), 1, results)
            self.assertIn(bad[0]["error_info"][0], ("OTHER_OPERATION_IN_PROGRESS", "VM_BAD_POWER_STATE"))
            self.assertPowerState(x, vm, "Running")
            uuid = x.VM.get_uuid(vm)
            self.assertEqual(len(domains_of(self.d, uuid)), 1)


class GuestInitiated(SharedDaemonTest):
    """A guest that stops by itself: the VM's actions_after_* decide."""

    def guest_does(self, vm, what):
        domid = self.x.VM.get_domid(vm)
        self.d.xenstore("write", "/local/domain/%s/sim/shutdown" % domid, what)
        return domid

    def test_poweroff_halts_the_vm(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        domid = self.guest_does(vm, "poweroff")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", 10, what="the VM to be Halted")
        self.assertPowerState(x, vm, "Halted")
        self.assertTrue(domain_gone(self.d, domid))
        self.assertFalse(xs_exists(self.d, "/local/domain/%s" % domid))
        self.assertEqual(x.VM_metrics.get_memory_actual(x.VM.get_metrics(vm)), "0")

    def test_poweroff_with_restart_restarts(self):
        x = self.x
        vm = hvm_vm(x, actions_after_shutdown="restart")
        x.VM.start(vm, False, False)
        domid = self.guest_does(vm, "poweroff")
        wait_until(lambda: x.VM.get_domid(vm) not in (domid, "-1"), 10, what="a new domain")
        rec = self.assertPowerState(x, vm, "Running")
        self.assertTrue(domain_alive(self.d, rec["domid"]))

    def test_reboot_restarts_with_a_new_domid(self):
        x = self.x
        vm = pv_vm(x)
        x.VM.start(vm, False, False)
        domid = self.guest_does(vm, "reboot")
        wait_until(lambda: x.VM.get_domid(vm) not in (domid, "-1"), 10, what="a new domain")
        rec = self.assertPowerState(x, vm, "Running")
        self.assertTrue(domain_gone(self.d, domid))
        self.assertFalse(xs_exists(self.d, "/local/domain/%s" % domid))
        self.assertTrue(xs_exists(self.d, "/local/domain/%s/control/has-vendor-device" % rec["domid"]))
        # and the new domain is a working guest: it can be shut down cleanly
        x.VM.clean_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")

    def test_reboot_with_destroy_halts(self):
        x = self.x
        vm = hvm_vm(x, actions_after_reboot="destroy")
        x.VM.start(vm, False, False)
        self.guest_does(vm, "reboot")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", 10, what="the VM to be Halted")
        self.assertPowerState(x, vm, "Halted")

    def test_crash_with_destroy_halts(self):
        x = self.x
        vm = hvm_vm(x, actions_after_crash="destroy")
        x.VM.start(vm, False, False)
        domid = self.guest_does(vm, "crash")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", 10, what="the VM to be Halted")
        self.assertPowerState(x, vm, "Halted")
        self.assertTrue(domain_gone(self.d, domid))

    def test_crash_with_preserve_keeps_the_domain_paused(self):
        x = self.x
        vm = hvm_vm(x, actions_after_crash="preserve")
        x.VM.start(vm, False, False)
        domid = self.guest_does(vm, "crash")
        wait_until(lambda: x.VM.get_power_state(vm) == "Paused", 10, what="the VM to be Paused")
        time.sleep(0.3)  # it stays so
        rec = x.VM.get_record(vm)
        self.assertEqual(rec["power_state"], "Paused")
        self.assertEqual(rec["domid"], domid)
        self.assertEqual(rec["current_operations"], {})
        # kept: its tree stays, though its crashed guest no longer reaches xenstore
        self.assertTrue(xs_exists(self.d, "/local/domain/%s" % domid))
        # it cannot run on: a crashed domain does not unpause
        with self.assertRaises(XenAPI.Failure) as cm:
            x.VM.unpause(vm)
        self.assertEqual(cm.exception.details[0], "OPERATION_NOT_ALLOWED")
        self.assertEqual(x.VM.get_power_state(vm), "Paused")
        x.VM.hard_shutdown(vm)
        self.assertPowerState(x, vm, "Halted")
        self.assertTrue(domain_gone(self.d, domid))
        self.assertFalse(xs_exists(self.d, "/local/domain/%s" % domid))

    def test_crash_with_restart_restarts(self):
        x = self.x
        vm = hvm_vm(x, actions_after_crash="restart")
        x.VM.start(vm, False, False)
        domid = self.guest_does(vm, "crash")
        wait_until(lambda: x.VM.get_domid(vm) not in (domid, "-1"), 10, what="a new domain")
        self.assertPowerState(x, vm, "Running")

    def test_guest_suspend(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        self.guest_does(vm, "suspend")
        wait_until(lambda: x.VM.get_power_state(vm) == "Suspended", 10, what="the VM to be Suspended")
        self.assertPowerState(x, vm, "Suspended")
        x.VM.resume(vm, False, False)
        self.assertPowerState(x, vm, "Running")

    def test_hard_shutdown_racing_a_guest_reboot_wins(self):
        """A client's hard_shutdown issued while the guest reboots: either it is
        refused (the daemon is restarting the VM) or, once it succeeded, the VM stays
        Halted with no domain left."""
        x = self.x
        for i in range(6):
            vm = hvm_vm(x, "race%d" % i)
            x.VM.start(vm, False, False)
            self.guest_does(vm, "reboot")
            time.sleep(0.09 + 0.01 * i)  # around the simulated guest's 100 ms to go down
            try:
                x.VM.hard_shutdown(vm)
            except XenAPI.Failure as e:
                self.assertEqual(e.details[:4], ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "hard_reboot"])
                wait_until(lambda: x.VM.get_current_operations(vm) == {}, 5, what="the restart to end")
                x.VM.hard_shutdown(vm)
            time.sleep(0.25)  # time for the daemon to (wrongly) bring it back
            self.assertPowerState(x, vm, "Halted")
            uuid = x.VM.get_uuid(vm)
            self.assertEqual(domains_of(self.d, uuid), [])

    def test_a_guest_cannot_drive_the_simulator(self):
        """sim/shutdown is the test's lever, written as dom0: the guest itself cannot
        create it, its home directory being read-only to it."""
        x = self.x
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        r = as_guest(self.d, domid, "write", "sim/shutdown", "poweroff")
        self.assertNotEqual(r.returncode, 0)
        time.sleep(0.3)
        self.assertPowerState(x, vm, "Running")


if __name__ == "__main__":
    unittest.main()
