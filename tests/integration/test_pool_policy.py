"""The pool's platform version policy and the deferred upgrade (issue 13), over
XenAPI.py and xe: pool.default_hardware_platform_version applied to VM.create,
pool.max_hardware_platform_version refusing every way a VM could go above it (create,
set_has_vendor_device, set_hardware_platform_version, a scheduled upgrade) with the
declared error naming the VM, its would-be version and the maximum, the maximum
refused below a VM's version naming that VM, both validated against the registry;
pool.get_common_platform_versions and the pool's capabilities document over the live,
enabled hosts; VM.schedule_hardware_platform_upgrade applied at VM.clean_shutdown and
at a guest's own poweroff, not at a hard shutdown, a crash, a reboot or a clean
shutdown that fell back to a hard one."""

import xml.etree.ElementTree as ET

from support import DaemonTest, SharedDaemonTest, hvm_vm, unresponsive, wait_until


class PolicyCase(SharedDaemonTest):
    def setUp(self):
        super().setUp()
        self.pool = self.x.pool.get_all()[0]

    def tearDown(self):
        try:
            self.reset()
        finally:
            super().tearDown()

    def reset(self):
        x = self.x
        x.pool.set_max_hardware_platform_version(self.pool, "-1")
        x.pool.set_default_hardware_platform_version(self.pool, "0")
        for vm, rec in x.VM.get_all_records().items():
            if not rec["is_control_domain"]:
                if rec["power_state"] != "Halted":
                    x.VM.hard_shutdown(vm)
                x.VM.destroy(vm)


class Defaults(PolicyCase):
    def test_fields_and_their_defaults(self):
        rec = self.x.pool.get_record(self.pool)
        self.assertEqual(rec["default_hardware_platform_version"], "0")
        self.assertEqual(rec["max_hardware_platform_version"], "-1")

    def test_new_vm_starts_at_the_default(self):
        x = self.x
        x.pool.set_default_hardware_platform_version(self.pool, "1")
        self.assertEqual(x.pool.get_default_hardware_platform_version(self.pool), "1")
        vm = hvm_vm(x)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        # the default is a floor for new VMs, not for existing ones or a higher request
        x.pool.set_default_hardware_platform_version(self.pool, "0")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        self.assertEqual(x.VM.get_hardware_platform_version(hvm_vm(x, "plain")), "0")

    def test_features_win_over_a_lower_default(self):
        x = self.x
        vm = hvm_vm(x, has_vendor_device=True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")

    def test_default_validated_against_the_registry(self):
        x = self.x
        for bad in ("2", "-1", "99"):
            self.assertFailure(["INVALID_VALUE", "default_hardware_platform_version", bad],
                               x.pool.set_default_hardware_platform_version, self.pool, bad)
        self.assertEqual(x.pool.get_default_hardware_platform_version(self.pool), "0")

    def test_generic_setter_is_the_custom_one(self):
        # set_<field> exists once, the checked one
        self.assertFailure(["INVALID_VALUE", "max_hardware_platform_version", "5"],
                           self.x.pool.set_max_hardware_platform_version, self.pool, "5")


class Maximum(PolicyCase):
    def test_refuses_set_has_vendor_device(self):
        x = self.x
        x.pool.set_max_hardware_platform_version(self.pool, "0")
        vm = hvm_vm(x)
        self.assertFailure(["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", vm, "1", "0"],
                           x.VM.set_has_vendor_device, vm, True)
        rec = x.VM.get_record(vm)
        self.assertEqual((rec["has_vendor_device"], rec["hardware_platform_version"]), (False, "0"))
        x.VM.set_has_vendor_device(vm, False)  # no raise: allowed

    def test_refuses_set_hardware_platform_version(self):
        x = self.x
        x.pool.set_max_hardware_platform_version(self.pool, "0")
        vm = hvm_vm(x)
        self.assertFailure(["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", vm, "1", "0"],
                           x.VM.set_hardware_platform_version, vm, "1")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "0")

    def test_refuses_create_needing_more(self):
        x = self.x
        x.pool.set_max_hardware_platform_version(self.pool, "0")
        before = len(x.VM.get_all())
        self.assertFailure(["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", "vd", "1", "0"],
                           lambda: hvm_vm(x, "vd", has_vendor_device=True))
        self.assertFailure(["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", "v1", "1", "0"],
                           lambda: hvm_vm(x, "v1", hardware_platform_version="1"))
        self.assertEqual(len(x.VM.get_all()), before)

    def test_refuses_a_scheduled_upgrade(self):
        x = self.x
        x.pool.set_max_hardware_platform_version(self.pool, "0")
        vm = hvm_vm(x)
        self.assertFailure(["VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM", vm, "1", "0"],
                           x.VM.schedule_hardware_platform_upgrade, vm, "1")
        self.assertEqual(x.VM.get_pending_hardware_platform_version(vm), "-1")

    def test_lowering_below_a_vm_is_refused_naming_it(self):
        x = self.x
        zero = hvm_vm(x, "zero")
        one = hvm_vm(x, "one", has_vendor_device=True)
        self.assertEqual(x.VM.get_hardware_platform_version(zero), "0", x.VM.get_record(zero))
        self.assertFailure(["POOL_MAXIMUM_HARDWARE_PLATFORM_VERSION_BELOW_VM", one, "1", "0"],
                           x.pool.set_max_hardware_platform_version, self.pool, "0")
        self.assertEqual(x.pool.get_max_hardware_platform_version(self.pool), "-1")
        x.pool.set_max_hardware_platform_version(self.pool, "1")
        x.VM.destroy(one)
        x.pool.set_max_hardware_platform_version(self.pool, "0")
        self.assertEqual(x.pool.get_record(self.pool)["max_hardware_platform_version"], "0")

    def test_a_pending_upgrade_counts(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.schedule_hardware_platform_upgrade(vm, "1")
        self.assertFailure(["POOL_MAXIMUM_HARDWARE_PLATFORM_VERSION_BELOW_VM", vm, "1", "0"],
                           x.pool.set_max_hardware_platform_version, self.pool, "0")
        x.VM.cancel_hardware_platform_upgrade(vm)
        x.pool.set_max_hardware_platform_version(self.pool, "0")

    def test_maximum_validated_against_the_registry(self):
        x = self.x
        for bad in ("2", "-2", "42"):
            self.assertFailure(["INVALID_VALUE", "max_hardware_platform_version", bad],
                               x.pool.set_max_hardware_platform_version, self.pool, bad)

    def test_default_and_maximum_agree(self):
        x = self.x
        x.pool.set_max_hardware_platform_version(self.pool, "0")
        self.assertFailure(["POOL_DEFAULT_HARDWARE_PLATFORM_VERSION_ABOVE_MAXIMUM", "1", "0"],
                           x.pool.set_default_hardware_platform_version, self.pool, "1")
        x.pool.set_max_hardware_platform_version(self.pool, "-1")
        x.pool.set_default_hardware_platform_version(self.pool, "1")
        self.assertFailure(["POOL_DEFAULT_HARDWARE_PLATFORM_VERSION_ABOVE_MAXIMUM", "1", "0"],
                           x.pool.set_max_hardware_platform_version, self.pool, "0")

    def test_a_bad_pool_ref(self):
        self.assertFailure(["HANDLE_INVALID", "pool", "OpaqueRef:nope"],
                           self.x.pool.set_max_hardware_platform_version, "OpaqueRef:nope", "1")


class CommonVersions(PolicyCase):
    def test_one_host_is_its_own_list(self):
        x = self.x
        self.assertEqual(x.pool.get_common_platform_versions(), ["0", "1"])

    def test_a_disabled_host_offers_nothing(self):
        x = self.x
        host = x.host.get_all()[0]
        x.host.disable(host)
        try:
            self.assertEqual(x.pool.get_common_platform_versions(), [])
        finally:
            x.host.enable(host)
        self.assertEqual(x.pool.get_common_platform_versions(), ["0", "1"])

    def test_capabilities_of_the_pool(self):
        x = self.x
        doc = ET.fromstring(x.pool.get_platform_capabilities())
        self.assertEqual(doc.get("pool"), x.pool.get_uuid(self.pool))
        self.assertIsNone(doc.get("host"))
        offered = {v.get("number"): v.get("offered") for v in doc.findall("version")}
        self.assertEqual(offered, {"0": "yes", "1": "yes"})
        host = x.host.get_all()[0]
        x.host.disable(host)
        try:
            doc = ET.fromstring(x.pool.get_platform_capabilities())
            self.assertEqual({v.get("offered") for v in doc.findall("version")}, {"no"})
        finally:
            x.host.enable(host)


class OneVersionHost(DaemonTest):
    def test_common_versions_follow_the_host(self):
        x = self.login(self.start_daemon(virtual_hardware_platform_versions="0"))
        self.assertEqual(x.pool.get_common_platform_versions(), ["0"])
        doc = ET.fromstring(x.pool.get_platform_capabilities())
        offered = {v.get("number"): v.get("offered") for v in doc.findall("version")}
        self.assertEqual(offered, {"0": "yes", "1": "no"})


class DeferredUpgrade(PolicyCase):
    def running(self, maker=hvm_vm, **fields):
        vm = maker(self.x, **fields)
        self.x.VM.start(vm, False, False)
        self.x.VM.schedule_hardware_platform_upgrade(vm, "1")
        return vm

    def guest_does(self, vm, what):
        domid = self.x.VM.get_domid(vm)
        self.d.xenstore("write", "/local/domain/%s/sim/shutdown" % domid, what)
        return domid

    def assertUpgraded(self, vm, done):
        rec = self.x.VM.get_record(vm)
        self.assertEqual(rec["hardware_platform_version"], "1" if done else "0")
        self.assertEqual(rec["pending_hardware_platform_version"], "-1" if done else "1")
        if done and "virtual_hardware" in rec:
            self.assertEqual(rec["virtual_hardware"], "")

    def test_pending_is_a_field_with_events(self):
        x = self.x
        vm = hvm_vm(x)
        got = x.event.__getattr__("from")(["vm/" + vm], "", 0.0)
        token = got["token"]
        x.VM.schedule_hardware_platform_upgrade(vm, "1")
        got = x.event.__getattr__("from")(["vm/" + vm], token, 5.0)
        snaps = [e["snapshot"] for e in got["events"] if e["operation"] == "mod"]
        self.assertTrue(snaps)
        self.assertEqual(snaps[-1]["pending_hardware_platform_version"], "1")
        self.assertEqual(snaps[-1]["hardware_platform_version"], "0")

    def test_applied_at_clean_shutdown(self):
        x = self.x
        vm = self.running()
        self.assertUpgraded(vm, False)
        x.VM.clean_shutdown(vm)
        self.assertUpgraded(vm, True)
        # and the next boot is of the new version
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")

    def test_applied_at_shutdown_that_stayed_clean(self):
        vm = self.running()
        self.x.VM.shutdown(vm)
        self.assertUpgraded(vm, True)

    def test_applied_when_the_guest_powers_off(self):
        x = self.x
        vm = self.running()
        self.guest_does(vm, "poweroff")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", 10, what="the VM to be Halted")
        self.assertUpgraded(vm, True)

    def test_not_at_hard_shutdown(self):
        vm = self.running()
        self.x.VM.hard_shutdown(vm)
        self.assertUpgraded(vm, False)

    def test_not_at_a_shutdown_that_fell_back_to_hard(self):
        vm = self.running(maker=unresponsive)
        self.x.VM.shutdown(vm)
        self.assertEqual(self.x.VM.get_power_state(vm), "Halted")
        self.assertUpgraded(vm, False)

    def test_not_at_a_crash(self):
        x = self.x
        vm = self.running(actions_after_crash="destroy")
        self.guest_does(vm, "crash")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", 10, what="the VM to be Halted")
        self.assertUpgraded(vm, False)

    def test_not_at_a_reboot(self):
        x = self.x
        vm = self.running()
        x.VM.clean_reboot(vm)
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertUpgraded(vm, False)

    def test_applied_to_a_halted_vm_at_its_next_clean_shutdown(self):
        x = self.x
        vm = hvm_vm(x)
        x.VM.schedule_hardware_platform_upgrade(vm, "1")
        self.assertUpgraded(vm, False)  # halted already: no shutdown happened
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "0")
        x.VM.clean_shutdown(vm)
        self.assertUpgraded(vm, True)

    def test_cancel(self):
        x = self.x
        vm = self.running()
        x.VM.cancel_hardware_platform_upgrade(vm)
        x.VM.cancel_hardware_platform_upgrade(vm)  # none pending: nothing happens
        self.assertEqual(x.VM.get_pending_hardware_platform_version(vm), "-1")
        x.VM.clean_shutdown(vm)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "0")

    def test_refusals(self):
        x = self.x
        vm = hvm_vm(x, has_vendor_device=True)
        self.assertFailure(["INVALID_VALUE", "version", "7"], x.VM.schedule_hardware_platform_upgrade, vm, "7")
        self.assertFailure(["INVALID_VALUE", "version", "0"], x.VM.schedule_hardware_platform_upgrade, vm, "0")
        self.assertFailure(["INVALID_VALUE", "version", "-1"], x.VM.schedule_hardware_platform_upgrade, vm, "-1")
        self.assertFailure(["HANDLE_INVALID", "VM", "OpaqueRef:nope"],
                           x.VM.schedule_hardware_platform_upgrade, "OpaqueRef:nope", "1")
        self.assertEqual(x.VM.get_pending_hardware_platform_version(vm), "-1")

    def test_read_only_field(self):
        self.assertFailure(["MESSAGE_METHOD_UNKNOWN", "VM.set_pending_hardware_platform_version"],
                           self.x.VM.set_pending_hardware_platform_version, hvm_vm(self.x), "1")


class Xe(PolicyCase):
    def xe(self, *args):
        r = self.d.xe(*args)
        return r

    def ok(self, *args):
        r = self.d.xe(*args)
        self.assertEqual(r.returncode, 0, "xe %s:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout.strip()

    def test_pool_params_and_versions(self):
        self.assertEqual(self.ok("pool-platform-versions"), "0; 1")
        self.assertEqual(self.ok("pool-platform-versions", "--minimal"), "0,1")
        self.ok("pool-param-set", "default-hardware-platform-version=1")
        self.assertEqual(self.ok("pool-param-get", "param-name=default-hardware-platform-version"), "1")
        r = self.xe("pool-param-set", "max-hardware-platform-version=0")
        self.assertEqual(r.returncode, 1)
        self.assertIn("default platform version would be above its maximum", r.stderr)
        self.assertIn("default_version: 1\nmaximum: 0", r.stderr)

    def test_upgrade_schedule_and_cancel(self):
        x = self.x
        vm = hvm_vm(x)
        uuid = x.VM.get_uuid(vm)
        self.ok("vm-upgrade-schedule", "uuid=" + uuid, "version=1")
        self.assertEqual(self.ok("vm-param-get", "uuid=" + uuid, "param-name=pending-hardware-platform-version"), "1")
        self.ok("vm-upgrade-cancel", "uuid=" + uuid)
        self.assertEqual(self.ok("vm-param-get", "uuid=" + uuid, "param-name=pending-hardware-platform-version"), "-1")
        r = self.xe("vm-upgrade-schedule", "uuid=" + uuid, "version=9")
        self.assertEqual(r.returncode, 1)
        self.assertIn("field: version\nvalue: 9", r.stderr)
        r = self.xe("vm-upgrade-schedule", "uuid=" + uuid, "version=x")
        self.assertEqual(r.returncode, 2)
        self.ok("vm-upgrade-schedule", "uuid=" + uuid, "version=1")
        self.ok("vm-start", "uuid=" + uuid)
        self.ok("vm-shutdown", "uuid=" + uuid)
        self.assertEqual(self.ok("vm-param-get", "uuid=" + uuid, "param-name=hardware-platform-version"), "1")
