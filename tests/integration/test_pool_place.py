"""Placement and migration in a pool of daemons on 127.0.0.1-3 (pool_fixture): VM.start
without a host goes to the live, enabled host with most free memory that passes every
check, VM.get_boot_check_results gives each host's reason; the mixed-version pool (a
member with platform-version-aware = false keeps [0]: a vendor-device VM is never
placed there, start_on and pool_migrate to it fail with
VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION and its exact params, a
version-0 VM goes there); VM.pool_migrate there and back with the record, the guest's
own state and its metrics kept; a migration whose destination is killed midway leaves
the VM running on the source; xe vm-start on=, vm-migrate host=, vm-boot-check."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import ROOT
from pool_fixture import PoolTest
from support import pv_vm, wait_until, xs_read

MIB = 1 << 20


AGENT = os.path.join(ROOT, "scripts", "xenapid-guest-agent")


def report_tools(d, x, vm, tmp):
    """Run the guest agent once as the guest of the VM's domain on d: its tools
    versions, OS and addresses reach VM_guest_metrics."""
    domid = x.VM.get_domid(vm)
    etc = tempfile.mkdtemp(dir=tmp)
    with open(os.path.join(etc, "os-release"), "w") as f:
        f.write('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12.5"\n')
    env = dict(os.environ, XENSTORED_PATH=os.path.join(d.options["sim-state-dir"], "domain", str(domid)),
               XENAPID_AGENT_ETC=etc, XENAPID_AGENT_STATE=tempfile.mkdtemp(dir=tmp),
               XENAPID_AGENT_UNAME="6.1.0-18-test-amd64")
    env.pop("XENAPID_AGENT_VERSION", None)
    r = subprocess.run([AGENT], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def guest_state(d, x, vm):
    """The simulated guest's own state, asked through sim/query: (boot id, counter).
    Each question bumps the counter; the same boot id and a counter that goes on is
    the same guest, not a new boot."""
    domid = x.VM.get_domid(vm)
    path = "/local/domain/%s/data/sim-state" % domid
    before = xs_read(d, path)
    d.xenstore("write", "/local/domain/%s/sim/query" % domid, "1")
    found = {}

    def reported():
        now = xs_read(d, path)
        m = re.fullmatch(r"boot-id=([0-9a-f]+) counter=(\d+) run-ms=(\d+)", now or "")
        if m and now != before:
            found["s"] = (m.group(1), int(m.group(2)))
            return True
        return False
    wait_until(reported, 10, what="the guest of domain %s to answer" % domid)
    return found["s"]


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
        self.assertFailure(self.incompatible(vm), x.VM.assert_can_migrate, vm, {"host": self.old}, True, {}, {}, {},
                           {})
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
        x.VM.start_on(vm, self.by["127.0.0.1"], False, False)
        x.VM.pool_migrate(vm, self.old, {})
        self.assertEqual(x.VM.get_resident_on(vm), self.old)
        self.assertEqual(x.VM.get_power_state(vm), "Running")


class Migration(PoolTest):

    def setUp(self):
        super().setUp()
        self.hosts = self.make_pool(3, options={2: {"sim_build_delay": 3}})
        self.x = self.login(self.hosts[0])
        self.by = self.hosts_by_address(self.x)

    def test_there_and_back_with_record_guest_and_metrics(self):
        x, by = self.x, self.by
        m, a = self.hosts[0], self.hosts[1]
        vm = pv_vm(x, "traveller", other_config={"keep": "me"})
        x.VM.start_on(vm, by["127.0.0.1"], False, False)
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        report_tools(m, x, vm, tmp)
        wait_until(lambda: x.VM.get_guest_metrics(vm) != "OpaqueRef:NULL" and
                   x.VM_guest_metrics.get_PV_drivers_detected(x.VM.get_guest_metrics(vm)), timeout=10,
                   what="the guest's report")
        before = x.VM.get_record(vm)
        gm = x.VM_guest_metrics.get_record(before["guest_metrics"])
        self.assertEqual(gm["os_version"].get("distro"), "debian")
        boot, counter = guest_state(m, x, vm)
        token = getattr(x.event, "from")(["VM"], "", 0.0)["token"]

        x.VM.assert_can_migrate(vm, {"host": by["127.0.0.2"]}, True, {}, {}, {}, {})
        x.VM.pool_migrate(vm, by["127.0.0.2"], {"live": "true"})
        after = x.VM.get_record(vm)
        self.assertEqual(after["resident_on"], by["127.0.0.2"])
        self.assertEqual(after["power_state"], "Running")
        self.assertEqual(after["current_operations"], {})
        self.assertEqual(after["scheduled_to_be_resident_on"], "OpaqueRef:NULL")
        for k in ("uuid", "name_label", "other_config", "memory_static_max", "hardware_platform_version",
                  "guest_metrics", "metrics", "VCPUs_max", "platform"):
            self.assertEqual(after[k], before[k], k)
        # what the guest's tools reported stays: the guest did not reboot or reinstall
        time.sleep(1)
        self.assertEqual(x.VM_guest_metrics.get_record(after["guest_metrics"]), gm)
        # the same guest, going on, on the member; gone from the master
        boot2, counter2 = guest_state(a, x, vm)
        self.assertEqual(boot2, boot)
        self.assertGreater(counter2, counter)
        self.assertFalse(xs_read(m, "/local/domain/%s/name" % before["domid"]))
        # the move is an event on the master
        seen = getattr(x.event, "from")(["VM"], token, 5.0)
        moved = [e for e in seen["events"] if e["ref"] == vm and e["snapshot"]["resident_on"] == by["127.0.0.2"]]
        self.assertTrue(moved, "no event shows the VM on its new host")

        # and back, moved by the member it runs on
        x.VM.pool_migrate(vm, by["127.0.0.1"], {})
        back = x.VM.get_record(vm)
        self.assertEqual(back["resident_on"], by["127.0.0.1"])
        self.assertEqual(back["power_state"], "Running")
        boot3, counter3 = guest_state(m, x, vm)
        self.assertEqual(boot3, boot)
        self.assertGreater(counter3, counter2)
        for k in ("uuid", "name_label", "other_config", "guest_metrics", "metrics"):
            self.assertEqual(back[k], before[k], k)
        self.assertEqual(x.VM_guest_metrics.get_record(back["guest_metrics"]), gm)

    def test_a_destination_killed_midway_leaves_the_vm_on_the_source(self):
        x, by = self.x, self.by
        src = self.hosts[1]
        vm = pv_vm(x, "stays")
        x.VM.start_on(vm, by["127.0.0.2"], False, False)
        domid = x.VM.get_domid(vm)
        boot, counter = guest_state(src, x, vm)
        # 127.0.0.3 takes 3 s to build the restored domain: killed meanwhile
        task = x.Async.VM.pool_migrate(vm, by["127.0.0.3"], {})
        wait_until(lambda: x.VM.get_current_operations(vm), what="the migration to be under way")
        time.sleep(1.5)
        self.hosts[2].kill9()
        wait_until(lambda: x.task.get_status(task) != "pending", timeout=30, what="the migration to end")
        self.assertEqual(x.task.get_status(task), "failure")
        err = x.task.get_error_info(task)
        self.assertEqual(err[:4], ["VM_MIGRATE_FAILED", vm, by["127.0.0.2"], by["127.0.0.3"]], err)
        rec = x.VM.get_record(vm)
        self.assertEqual(rec["resident_on"], by["127.0.0.2"])
        self.assertEqual(rec["power_state"], "Running")
        self.assertEqual(rec["domid"], domid)
        self.assertEqual(rec["current_operations"], {})
        boot2, counter2 = guest_state(src, x, vm)
        self.assertEqual(boot2, boot)
        self.assertGreater(counter2, counter)
        # it still works: it can go elsewhere now
        x.VM.pool_migrate(vm, by["127.0.0.1"], {})
        self.assertEqual(x.VM.get_resident_on(vm), by["127.0.0.1"])

    def test_a_dead_source_is_host_offline(self):
        x, by = self.x, self.by
        vm = pv_vm(x, "orphan")
        x.VM.start_on(vm, by["127.0.0.2"], False, False)
        self.hosts[1].kill9()
        wait_until(lambda: not x.host_metrics.get_live(x.host.get_metrics(by["127.0.0.2"])), timeout=10,
                   what="the killed member to be not live")
        # the destination's checks come first (xapi: reserve_memory_for_vm, then
        # check_live of the host the VM runs on)
        x.host.disable(by["127.0.0.1"])
        self.assertFailure(["HOST_DISABLED", by["127.0.0.1"]], x.VM.pool_migrate, vm, by["127.0.0.1"], {})
        x.host.enable(by["127.0.0.1"])
        self.assertFailure(["HOST_OFFLINE", by["127.0.0.2"]], x.VM.pool_migrate, vm, by["127.0.0.1"], {})
        self.assertEqual(x.VM.get_resident_on(vm), by["127.0.0.2"])
        self.assertEqual(x.VM.get_current_operations(vm), {})

    def test_xe_starts_on_migrates_and_checks_every_host(self):
        x, m = self.x, self.hosts[0]
        vm = pv_vm(x, "by-xe")
        uuid = x.VM.get_uuid(vm)
        h2 = x.host.get_uuid(self.by["127.0.0.2"])
        r = m.xe("vm-start", "uuid=" + uuid, "on=" + h2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(x.VM.get_resident_on(vm), self.by["127.0.0.2"])
        r = m.xe("vm-migrate", "uuid=" + uuid, "host=" + x.host.get_uuid(self.by["127.0.0.1"]))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(x.VM.get_resident_on(vm), self.by["127.0.0.1"])
        x.VM.hard_shutdown(vm)
        x.host.disable(self.by["127.0.0.2"])
        r = m.xe("vm-boot-check", "uuid=" + uuid)
        self.assertEqual(r.returncode, 0, r.stderr)
        for ref in self.by.values():
            self.assertIn(x.host.get_uuid(ref), r.stdout)
        self.assertIn("HOST_DISABLED", r.stdout)


if __name__ == "__main__":
    unittest.main()
