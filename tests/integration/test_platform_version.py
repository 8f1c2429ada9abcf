"""The virtual hardware platform version over XML-RPC with XenAPI.py: the host's list
written from the configuration on every start and read-only over the API, the raise
on feature use (create, start/start_on before the host check, reboots,
set_has_vendor_device), the version never going down, the membership check with its
exact error in VM.start_on/assert_can_boot_here/get_boot_check_results, the checks in
xapi's order, what a domain is built with (the xenstore flag read back with the stock
xenstore-read, the device model's argv), and the capabilities document."""

import os
import tempfile
import unittest
import xml.etree.ElementTree as ET

from support import ROOT, DaemonTest, MIB, guest_domids, hvm_vm, list_methods, pv_vm, sim_dm_argv, wait_until, xs_read

VENDOR_ARG = "xen-pvdevice,device-id=0xc000"



def xapi_registry():
    """The registry as shipped xapi numbers the vendor device: version 2, hosts 0,1,2.
    Made from the shipped one: versions 0 and 1 are its version 0, version 2 its
    version 1."""
    with open(os.path.join(ROOT, "etc", "platform.xml")) as f:
        s = f.read()
    v0 = s[s.index('  <version number="0"'):s.index('  <version number="1"')]
    v1 = s[s.index('  <version number="1"'):s.index("  </version>", s.index('  <version number="1"')) + 13]
    return ('<?xml version="1.0"?>\n<platform-registry>\n' + v0 + v0.replace('number="0"', 'number="1"', 1) +
            v1.replace('number="1"', 'number="2"', 1) + '\n  <feature name="vendor-device" requires="2"/>\n'
            "</platform-registry>\n")


XAPI_REGISTRY = xapi_registry()


def write_registry(text):
    fd, path = tempfile.mkstemp(prefix="xa-reg-", suffix=".xml", dir="/tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def has_vendor_arg(argv):
    """-device xen-pvdevice,device-id=0xc000 at its fixed slot (addr=...)"""
    return any(a.startswith(VENDOR_ARG + ",addr=") and argv[i - 1] == "-device" for i, a in enumerate(argv) if i > 0)


class PlatformTest(DaemonTest):
    def setUp(self):
        super().setUp()
        self.xapi_registry = write_registry(xapi_registry())
        self.addCleanup(os.unlink, self.xapi_registry)

    def restart(self, d, **options):
        d.restart(**options)
        return self.login(d)

    def assertNoDomains(self, d):
        """Only dom0, in the simulator and in xenstore."""
        self.assertEqual(guest_domids(d), [])
        self.assertEqual(d.xenstore("list", "/local/domain").stdout.split(), ["0"])


class HostVersions(PlatformTest):
    def test_default_is_0_1(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0", "1"])
        self.assertEqual(x.host.get_record(host)["virtual_hardware_platform_versions"], ["0", "1"])

    def test_read_only_over_the_api(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        methods = list_methods(d)
        for m in ("set", "add", "remove", "add_to", "remove_from"):
            name = "host.%s_virtual_hardware_platform_versions" % m
            self.assertNotIn(name, methods)
            self.assertFailure(["MESSAGE_METHOD_UNKNOWN", name],
                               getattr(x.host, "%s_virtual_hardware_platform_versions" % m), host, ["0"])
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0", "1"])

    def test_rewritten_from_the_configuration_on_every_start(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        x = self.restart(d, virtual_hardware_platform_versions="0")
        self.assertEqual(x.host.get_all(), [host])
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0"])
        x = self.restart(d, virtual_hardware_platform_versions="1")
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["1"])
        x = self.restart(d, virtual_hardware_platform_versions="0,1,2", platform_registry=self.xapi_registry)
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0", "1", "2"])

    def test_a_version_the_registry_does_not_describe_stops_the_start(self):
        d = self.make_daemon(virtual_hardware_platform_versions="0,1,2")
        with self.assertRaises(RuntimeError):
            d.start(timeout=10)
        self.assertIn("virtual-hardware-platform-versions offers 2", d.read_log())


class VendorDevice(PlatformTest):
    def test_start_on_a_0_1_host_then_refused_by_a_0_host(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, "win")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "0")
        x.VM.set_has_vendor_device(vm, True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        # what the domain was given: the flag, read with the stock tool, and the device
        self.assertEqual(xs_read(d, "/local/domain/%s/control/has-vendor-device" % domid), "1")
        self.assertTrue(has_vendor_arg(sim_dm_argv(d, domid)))
        x.VM.clean_shutdown(vm)

        x = self.restart(d, virtual_hardware_platform_versions="0")
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(host), ["0"])
        expected = ["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0]", vm, "1"]
        self.assertFailure(expected, x.VM.start_on, vm, host, False, False)
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, vm, False, False)
        self.assertFailure(expected, x.VM.assert_can_boot_here, vm, host)
        self.assertEqual(x.VM.get_boot_check_results(vm), {host: expected})
        self.assertEqual(x.VM.get_possible_hosts(vm), [])
        self.assertPowerState(x, vm, "Halted")
        self.assertNoDomains(d)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        # taking the device away does not give the version back
        x.VM.set_has_vendor_device(vm, False)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        self.assertFailure(expected, x.VM.start_on, vm, host, False, False)
        self.assertNoDomains(d)
        # while a VM that never had it runs there, without the device
        plain = hvm_vm(x, "plain")
        self.assertEqual(x.VM.get_boot_check_results(plain), {host: []})
        self.assertEqual(x.VM.get_possible_hosts(plain), [host])
        x.VM.assert_can_boot_here(plain, host)
        x.VM.start(plain, False, False)
        pdomid = x.VM.get_domid(plain)
        self.assertEqual(xs_read(d, "/local/domain/%s/control/has-vendor-device" % pdomid), "0")
        argv = sim_dm_argv(d, pdomid)
        self.assertIn("-xen-domid", argv)
        self.assertFalse(has_vendor_arg(argv))
        self.assertNotIn("xen-pvdevice", " ".join(argv))

    def test_a_vm_created_with_the_device_is_refused_by_a_0_host(self):
        d = self.start_daemon(virtual_hardware_platform_versions="0")
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, "win", has_vendor_device=True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0]", vm, "1"],
                           x.VM.start_on, vm, host, False, False)
        self.assertNoDomains(d)

    def test_set_has_vendor_device_only_while_halted(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x)
        x.VM.start(vm, False, False)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "halted", "running"], x.VM.set_has_vendor_device, vm, True)
        x.VM.pause(vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "halted", "paused"], x.VM.set_has_vendor_device, vm, True)
        x.VM.unpause(vm)
        x.VM.suspend(vm)
        self.assertFailure(["VM_BAD_POWER_STATE", vm, "halted", "suspended"], x.VM.set_has_vendor_device, vm,
                           True)
        rec = x.VM.get_record(vm)
        self.assertFalse(rec["has_vendor_device"])
        self.assertEqual(rec["hardware_platform_version"], "0")
        x.VM.hard_shutdown(vm)
        x.VM.set_has_vendor_device(vm, True)
        self.assertTrue(x.VM.get_has_vendor_device(vm))
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")

    def test_no_generic_setter_bypasses_the_guard(self):
        d = self.start_daemon()
        methods = list_methods(d)
        self.assertEqual([m for m in methods if "has_vendor_device" in m and m.startswith("VM.")],
                         ["VM.get_has_vendor_device", "VM.set_has_vendor_device"])

    def test_the_version_never_goes_down(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, has_vendor_device=True)
        self.assertFailure(["INVALID_VALUE", "hardware_platform_version", "0"],
                           x.VM.set_hardware_platform_version, vm, "0")
        self.assertFailure(["INVALID_VALUE", "hardware_platform_version", "-1"],
                           x.VM.set_hardware_platform_version, vm, "-1")
        x.VM.set_hardware_platform_version(vm, "1")  # the same value is fine
        x.VM.set_hardware_platform_version(vm, "3")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "3")
        self.assertFailure(["INVALID_VALUE", "hardware_platform_version", "2"],
                           x.VM.set_hardware_platform_version, vm, "2")
        x.VM.set_has_vendor_device(vm, False)
        x.VM.set_has_vendor_device(vm, True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "3")
        # a VM of version 3 is refused by a host offering [0; 1], with the version it has
        host = x.host.get_all()[0]
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0; 1]", vm, "3"],
                           x.VM.start_on, vm, host, False, False)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "3")

    def test_membership_not_greater_or_equal(self):
        """A host offering only [1] does not run a VM of version 0."""
        d = self.start_daemon(virtual_hardware_platform_versions="1")
        x = self.login(d)
        host = x.host.get_all()[0]
        old = hvm_vm(x, "old")
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[1]", old, "0"],
                           x.VM.start_on, old, host, False, False)
        new = hvm_vm(x, "new", has_vendor_device=True)
        x.VM.start_on(new, host, False, False)
        self.assertEqual(x.VM.get_power_state(new), "Running")

    def test_resume_and_migrate_check_the_version_too(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        sus, run = hvm_vm(x, "sus", has_vendor_device=True), hvm_vm(x, "run", has_vendor_device=True)
        for vm in (sus, run):
            x.VM.start(vm, False, False)
        x.VM.suspend(sus)
        x = self.restart(d, virtual_hardware_platform_versions="0")
        expected = ["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0]", sus, "1"]
        self.assertFailure(expected, x.VM.resume_on, sus, host, False, False)
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.resume, sus, False, False)
        self.assertPowerState(x, sus, "Suspended")
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0]", run, "1"],
                           x.VM.pool_migrate, run, host, {})
        self.assertPowerState(x, run, "Running")

    def test_start_on_an_invalid_host(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x)
        bad = "OpaqueRef:00000000-0000-0000-0000-000000000001"
        self.assertFailure(["HANDLE_INVALID", "host", bad], x.VM.start_on, vm, bad, False, False)
        self.assertFailure(["HANDLE_INVALID", "host", bad], x.VM.assert_can_boot_here, vm, bad)
        self.assertPowerState(x, vm, "Halted")
        self.assertNoDomains(d)

    def test_pv_domain_gets_the_flag_but_no_device_model(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = pv_vm(x, has_vendor_device=True)
        x.VM.start(vm, False, False)
        domid = x.VM.get_domid(vm)
        self.assertEqual(xs_read(d, "/local/domain/%s/control/has-vendor-device" % domid), "1")
        self.assertEqual(sim_dm_argv(d, domid), [])


class RaiseOnUse(PlatformTest):
    """The shipped xapi numbering: a VM of version 1 using the device needs 2."""

    def test_start_raises_before_the_host_check(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, "win", has_vendor_device=True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        x = self.restart(d, platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        # the checks already answer for the version a start would raise it to
        expected = ["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0; 1]", vm, "2"]
        self.assertFailure(expected, x.VM.assert_can_boot_here, vm, host)
        self.assertEqual(x.VM.get_boot_check_results(vm), {host: expected})
        self.assertFailure(expected, x.VM.start_on, vm, host, False, False)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, vm, False, False)
        self.assertPowerState(x, vm, "Halted")
        self.assertNoDomains(d)
        # back on the shipped registry the raised version stays: no host offers 2 now
        x = self.restart(d, platform_registry=os.path.join(ROOT, "etc", "platform.xml"),
                         virtual_hardware_platform_versions="0,1")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0; 1]", vm, "2"],
                           x.VM.start_on, vm, host, False, False)
        x = self.restart(d, platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1,2")
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")

    def test_start_raises_on_a_host_that_offers_it(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "win", has_vendor_device=True)
        x = self.restart(d, platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1,2")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        domid = x.VM.get_domid(vm)
        self.assertEqual(xs_read(d, "/local/domain/%s/control/has-vendor-device" % domid), "1")

    def test_set_has_vendor_device_raises_to_what_the_registry_requires(self):
        d = self.start_daemon(platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1,2")
        x = self.login(d)
        vm = hvm_vm(x)
        x.VM.set_has_vendor_device(vm, True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        self.assertEqual(x.VM.get_hardware_platform_version(hvm_vm(x, has_vendor_device=True)), "2")

    def reboot_raises(self, op):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "win", has_vendor_device=True)
        x.VM.start(vm, False, False)
        old = x.VM.get_domid(vm)
        x = self.restart(d, platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1,2")
        # the running domain is left alone: the version is still the one it booted with
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertEqual(x.VM.get_domid(vm), old)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        getattr(x.VM, op)(vm)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        self.assertPowerState(x, vm, "Running")
        self.assertNotEqual(x.VM.get_domid(vm), old)

    def test_clean_reboot_raises(self):
        self.reboot_raises("clean_reboot")

    def test_hard_reboot_raises(self):
        self.reboot_raises("hard_reboot")

    def test_reboot_on_a_host_lacking_the_raised_version_halts_it(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, "win", has_vendor_device=True)
        x.VM.start(vm, False, False)
        x = self.restart(d, platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1")
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0; 1]", vm, "2"],
                           x.VM.hard_reboot, vm)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        self.assertPowerState(x, vm, "Halted")
        self.assertNoDomains(d)

    def test_guest_reboot_raises_too(self):
        d = self.start_daemon()
        x = self.login(d)
        vm = hvm_vm(x, "win", has_vendor_device=True)
        x.VM.start(vm, False, False)
        x = self.restart(d, platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1,2")
        old = x.VM.get_domid(vm)
        d.xenstore("write", "/local/domain/%s/sim/shutdown" % old, "reboot")
        wait_until(lambda: x.VM.get_domid(vm) not in (old, "-1"), 10, what="the rebooted domain")
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "2")
        self.assertPowerState(x, vm, "Running")


class Checks(PlatformTest):
    """assert_can_boot_here and friends, in xapi's order: host live and enabled,
    version membership, memory."""

    def test_host_disabled_comes_before_the_version(self):
        d = self.start_daemon(virtual_hardware_platform_versions="0", sim_memory_mib=2048)
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, has_vendor_device=True, memory_static_max=str(4096 * MIB),
                    memory_dynamic_max=str(4096 * MIB))
        x.host.disable(host)
        self.assertFalse(x.host.get_enabled(host))
        self.assertFailure(["HOST_DISABLED", host], x.VM.assert_can_boot_here, vm, host)
        self.assertFailure(["HOST_DISABLED", host], x.VM.start_on, vm, host, False, False)
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, vm, False, False)
        self.assertEqual(x.VM.get_boot_check_results(vm), {host: ["HOST_DISABLED", host]})
        x.host.enable(host)
        self.assertTrue(x.host.get_enabled(host))
        # then the version, before the memory
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0]", vm, "1"],
                           x.VM.assert_can_boot_here, vm, host)

    def test_disabled_host_starts_nothing_but_keeps_what_runs(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        a, b = hvm_vm(x, "a"), hvm_vm(x, "b")
        x.VM.start(a, False, False)
        x.host.disable(host)
        self.assertFailure(["HOST_DISABLED", host], x.VM.start_on, b, host, False, False)
        self.assertEqual(x.VM.get_possible_hosts(b), [])
        self.assertEqual(x.VM.get_power_state(a), "Running")
        x.host.enable(host)
        x.VM.start(b, False, False)
        self.assertEqual(x.VM.get_power_state(b), "Running")

    def test_running_vms_reboot_on_a_disabled_host(self):
        """Disabling a host stops VMs from starting there, not those running from
        rebooting: a reboot checks only the platform version."""
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vms = [hvm_vm(x, name) for name in ("hard", "clean", "guest")]
        for vm in vms:
            x.VM.start(vm, False, False)
        old = {vm: x.VM.get_domid(vm) for vm in vms}
        x.host.disable(host)
        x.VM.hard_reboot(vms[0])
        x.VM.clean_reboot(vms[1])
        d.xenstore("write", "/local/domain/%s/sim/shutdown" % old[vms[2]], "reboot")
        wait_until(lambda: x.VM.get_domid(vms[2]) not in (old[vms[2]], "-1"), 10, what="the guest's reboot")
        for vm in vms:
            self.assertPowerState(x, vm, "Running")
            self.assertNotEqual(x.VM.get_domid(vm), old[vm])
        self.assertFailure(["HOST_DISABLED", host], x.VM.start_on, hvm_vm(x, "new"), host, False, False)

    def test_not_enough_free_memory(self):
        d = self.start_daemon(sim_memory_mib=2048)
        x = self.login(d)
        host = x.host.get_all()[0]
        free = 1024 * MIB  # 2048 MiB less dom0's 1024
        big = hvm_vm(x, "big", memory_static_max=str(4096 * MIB), memory_dynamic_max=str(4096 * MIB))
        expected = ["HOST_NOT_ENOUGH_FREE_MEMORY", str(4096 * MIB), str(free)]
        self.assertFailure(expected, x.VM.assert_can_boot_here, big, host)
        self.assertFailure(expected, x.VM.start_on, big, host, False, False)
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, big, False, False)
        self.assertEqual(x.VM.get_boot_check_results(big), {host: expected})
        self.assertEqual(x.VM.get_possible_hosts(big), [])
        self.assertPowerState(x, big, "Halted")
        self.assertNoDomains(d)
        # the running VMs' memory counts
        small = hvm_vm(x, "small", memory_static_max=str(768 * MIB), memory_dynamic_max=str(768 * MIB))
        x.VM.start(small, False, False)
        other = hvm_vm(x, "other", memory_static_max=str(512 * MIB), memory_dynamic_max=str(512 * MIB))
        self.assertFailure(["HOST_NOT_ENOUGH_FREE_MEMORY", str(512 * MIB), str(256 * MIB)],
                           x.VM.start_on, other, host, False, False)
        x.VM.hard_shutdown(small)
        x.VM.start_on(other, host, False, False)

    def test_version_comes_before_memory(self):
        d = self.start_daemon(sim_memory_mib=2048, virtual_hardware_platform_versions="0")
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, has_vendor_device=True, memory_static_max=str(4096 * MIB),
                    memory_dynamic_max=str(4096 * MIB))
        self.assertFailure(["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", host, "[0]", vm, "1"],
                           x.VM.assert_can_boot_here, vm, host)

    def test_bad_memory_settings(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        vm = hvm_vm(x, memory_dynamic_min=str(512 * MIB))  # above dynamic_max
        with self.assertRaises(Exception) as cm:
            x.VM.assert_can_boot_here(vm, host)
        self.assertEqual(cm.exception.details[0], "MEMORY_CONSTRAINT_VIOLATION")
        with self.assertRaises(Exception) as cm:
            x.VM.start(vm, False, False)
        self.assertEqual(cm.exception.details[0], "MEMORY_CONSTRAINT_VIOLATION")
        self.assertNoDomains(d)


class Capabilities(PlatformTest):
    def parse(self, x, host):
        doc = x.host.get_platform_capabilities(host)
        return ET.fromstring(doc.encode())

    def versions(self, root):
        return {v.get("number"): v for v in root.findall("version")}

    def test_shipped_registry(self):
        d = self.start_daemon()
        x = self.login(d)
        host = x.host.get_all()[0]
        root = self.parse(x, host)
        self.assertEqual(root.tag, "platformCapabilities")
        self.assertEqual(root.get("host"), x.host.get_uuid(host))
        v = self.versions(root)
        self.assertEqual(sorted(v), ["0", "1"])
        self.assertEqual(v["0"].get("offered"), "yes")
        self.assertEqual(v["1"].get("offered"), "yes")
        devs1 = {e.get("name"): e for e in v["1"].findall("devices/device")}
        self.assertEqual(devs1["xen-pvdevice"].get("id"), "0xc000")
        self.assertEqual(devs1["xen-pvdevice"].get("supported"), "yes")
        self.assertNotIn("xen-pvdevice", {e.get("name") for e in v["0"].findall("devices/device")})
        feat = {n: {e.get("name"): e.get("supported") for e in v[n].findall("features/feature")} for n in v}
        self.assertEqual(feat["0"]["vendor-device"], "no")
        self.assertEqual(feat["1"]["vendor-device"], "yes")
        reqs = {e.get("name"): e.get("requires") for e in root.findall("requirements/feature")}
        self.assertEqual(reqs, {"vendor-device": "1"})

    def test_follows_the_registry_and_the_offer(self):
        d = self.start_daemon(platform_registry=self.xapi_registry, virtual_hardware_platform_versions="0,1")
        x = self.login(d)
        host = x.host.get_all()[0]
        root = self.parse(x, host)
        v = self.versions(root)
        self.assertEqual({n: e.get("offered") for n, e in v.items()}, {"0": "yes", "1": "yes", "2": "no"})
        reqs = {e.get("name"): e.get("requires") for e in root.findall("requirements/feature")}
        self.assertEqual(reqs, {"vendor-device": "2"})

    def test_other_host_handle(self):
        d = self.start_daemon()
        x = self.login(d)
        self.assertFailure(["HANDLE_INVALID", "host", "OpaqueRef:NULL"], x.host.get_platform_capabilities,
                           "OpaqueRef:NULL")


if __name__ == "__main__":
    unittest.main()
