"""Placement in a pool of daemons on 127.0.0.1-3 (pool_fixture): VM.start
without a host goes to the live, enabled host with most free memory that passes every
check, VM.get_boot_check_results gives each host's reason; the mixed-version pool (a
member with platform-version-aware = false keeps [0]: a vendor-device VM is never
placed there, start_on and pool_migrate to it fail with
VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION and its exact params, a
version-0 VM goes there).  VM.pool_migrate between hosts comes with the backend's
save/restore."""

import unittest

from pool_fixture import PoolTest
from support import pv_vm, wait_until, xs_read

MIB = 1 << 20


class Placement(PoolTest):

    def setUp(self):
        super().setUp()
        # three hosts of different sizes: the master the smallest
        self.hosts = self.make_pool(3, options={0: {"sim_memory_mib": 2048}, 1: {"sim_memory_mib": 4096},
                                                2: {"sim_memory_mib": 8192}})
        self.x = self.login(self.hosts[0])
        self.by = self.hosts_by_address(self.x)

    def test_start_goes_where_most_memory_is_free(self):
        x, by = self.x, self.by
        vm = pv_vm(x, "placed")
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_resident_on(vm), by["127.0.0.3"])
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        # the host that runs it built it: its domain is in that host's simulator
        self.assertTrue(xs_read(self.hosts[2], "/local/domain/%s/name" % x.VM.get_domid(vm)))
        x.VM.hard_shutdown(vm)
        x.host.disable(by["127.0.0.3"])
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_resident_on(vm), by["127.0.0.2"])
        x.VM.hard_shutdown(vm)
        results = x.VM.get_boot_check_results(vm)
        self.assertEqual(results[by["127.0.0.3"]], ["HOST_DISABLED", by["127.0.0.3"]])
        self.assertEqual(results[by["127.0.0.2"]], [])
        self.assertEqual(results[by["127.0.0.1"]], [])
        self.assertEqual(sorted(x.VM.get_possible_hosts(vm)), sorted([by["127.0.0.1"], by["127.0.0.2"]]))

    def test_no_host_can_take_it_and_each_says_why(self):
        x, by = self.x, self.by
        vm = pv_vm(x, "huge", memory_static_max=str(6144 * MIB), memory_dynamic_max=str(6144 * MIB),
                   memory_dynamic_min=str(6144 * MIB))
        x.host.disable(by["127.0.0.3"])
        self.assertFailure(["NO_HOSTS_AVAILABLE"], x.VM.start, vm, False, False)
        results = x.VM.get_boot_check_results(vm)
        self.assertEqual(results[by["127.0.0.3"]], ["HOST_DISABLED", by["127.0.0.3"]])
        for a in ("127.0.0.1", "127.0.0.2"):
            code, needed, available = results[by[a]]
            self.assertEqual((code, needed), ("HOST_NOT_ENOUGH_FREE_MEMORY", str(6144 * MIB)), a)
            self.assertLess(int(available), 6144 * MIB)
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        # a dead member is not live, and says so, first
        x.host.enable(by["127.0.0.3"])
        self.hosts[2].kill9()
        wait_until(lambda: not x.host_metrics.get_live(x.host.get_metrics(by["127.0.0.3"])), timeout=10,
                   what="the killed member to be not live")
        self.assertEqual(x.VM.get_boot_check_results(vm)[by["127.0.0.3"]], ["HOST_NOT_LIVE"])
        self.assertFailure(["HOST_NOT_LIVE"], x.VM.assert_can_boot_here, vm, by["127.0.0.3"])
        small = pv_vm(x, "small")
        self.assertFailure(["HOST_NOT_LIVE"], x.VM.start_on, small, by["127.0.0.3"], False, False)
        x.VM.start(small, False, False)
        self.assertEqual(x.VM.get_resident_on(small), by["127.0.0.2"])


class MixedVersions(PoolTest):
    """The rolling upgrade: 127.0.0.3 runs software that predates the platform version."""

    def setUp(self):
        super().setUp()
        # the old member is the biggest: placement would prefer it, if it could
        self.hosts = self.make_pool(3, options={0: {"sim_memory_mib": 4096}, 1: {"sim_memory_mib": 4096},
                                                2: {"sim_memory_mib": 16384, "platform_version_aware": "false"}})
        self.x = self.login(self.hosts[0])
        self.by = self.hosts_by_address(self.x)
        self.old = self.by["127.0.0.3"]

    def incompatible(self, vm):
        return ["VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION", self.old, "[0]", vm, "1"]

    def test_the_old_member_keeps_version_0(self):
        x = self.x
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(self.old), ["0"])
        for a in ("127.0.0.1", "127.0.0.2"):
            self.assertEqual(x.host.get_virtual_hardware_platform_versions(self.by[a]), ["0", "1"])
        # a restart of the old member does not change it either
        self.hosts[2].restart()
        wait_until(lambda: x.host_metrics.get_live(x.host.get_metrics(self.old)), timeout=15, what="old member back")
        self.assertEqual(x.host.get_virtual_hardware_platform_versions(self.old), ["0"])

    def test_a_vendor_device_vm_never_goes_to_the_old_member(self):
        x = self.x
        vm = pv_vm(x, "windows-update", has_vendor_device=True)
        self.assertEqual(x.VM.get_hardware_platform_version(vm), "1")
        self.assertEqual(x.VM.get_boot_check_results(vm)[self.old], self.incompatible(vm))
        self.assertNotIn(self.old, x.VM.get_possible_hosts(vm))
        self.assertFailure(self.incompatible(vm), x.VM.assert_can_boot_here, vm, self.old)
        self.assertFailure(self.incompatible(vm), x.VM.start_on, vm, self.old, False, False)
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        for _ in range(3):
            x.VM.start(vm, False, False)
            self.assertNotEqual(x.VM.get_resident_on(vm), self.old)
            x.VM.hard_shutdown(vm)
        # running, it cannot be moved there either, and stays where it is
        x.VM.start_on(vm, self.by["127.0.0.2"], False, False)
        domid = x.VM.get_domid(vm)
        self.assertFailure(self.incompatible(vm), x.VM.pool_migrate, vm, self.old, {})
        self.assertEqual(x.VM.get_resident_on(vm), self.by["127.0.0.2"])
        self.assertEqual(x.VM.get_domid(vm), domid)
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertEqual(x.VM.get_current_operations(vm), {})

    def test_a_version_0_vm_goes_there_fine(self):
        x = self.x
        vm = pv_vm(x, "plain")
        x.VM.start(vm, False, False)
        self.assertEqual(x.VM.get_resident_on(vm), self.old)  # the most free memory
        x.VM.hard_shutdown(vm)
        x.VM.start_on(vm, self.old, False, False)
        self.assertEqual(x.VM.get_resident_on(vm), self.old)
        self.assertEqual(x.VM.get_power_state(vm), "Running")


if __name__ == "__main__":
    unittest.main()
