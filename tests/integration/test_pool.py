"""A pool of three daemons on 127.0.0.1-3 sharing one port: pool.join and its
refusals, HOST_IS_SLAVE, members forwarding to the master, the master having
members run their VMs' operations, reports from members' guests, liveness, eject."""

import os
import subprocess
import threading
import time
import unittest

from harness import PASSWORD
from pool_fixture import PoolTest, free_port, join, wait_member
from support import XenAPI, failure, pv_vm, wait_until


class PoolJoin(PoolTest):
    def test_join_makes_a_pool_of_three(self):
        m, a, b = self.make_pool(3)
        x = self.login(m)
        hosts = x.host.get_all_records()
        self.assertEqual(sorted(r["address"] for r in hosts.values()), ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
        pool = x.pool.get_all()
        self.assertEqual(len(pool), 1)
        self.assertEqual(hosts[x.pool.get_master(pool[0])]["address"], "127.0.0.1")
        for ref, r in hosts.items():
            # each member wrote its own versions at its start as a member
            self.assertEqual(r["virtual_hardware_platform_versions"], ["0", "1"], r["address"])
            self.assertTrue(x.host_metrics.get_live(r["metrics"]))
            # every host's dom0 is a VM record resident on it
            dom0 = r["control_domain"]
            self.assertTrue(x.VM.get_is_control_domain(dom0))
            self.assertEqual(x.VM.get_resident_on(dom0), ref)

    def test_host_is_slave_at_login(self):
        m, a = self.make_pool(2)
        s = a.xenapi_session()
        with self.assertRaises(XenAPI.Failure) as cm:
            s.login_with_password("root", PASSWORD)
        self.assertEqual(failure(cm.exception), ["HOST_IS_SLAVE", "127.0.0.1"])
        # also a wrong password: the member does not check passwords at all
        with self.assertRaises(XenAPI.Failure) as cm:
            s.login_with_password("root", "wrong")
        self.assertEqual(failure(cm.exception), ["HOST_IS_SLAVE", "127.0.0.1"])
        # JSON-RPC says the same
        r = a.jsonrpc("session.login_with_password", ["root", PASSWORD])
        self.assertEqual(r["error"]["message"], "HOST_IS_SLAVE")
        self.assertEqual(r["error"]["data"], ["127.0.0.1"])

    def test_halted_vms_move_to_the_master(self):
        m, a = self.make_pool(2, joined=False)
        xa = self.login(a)
        vm = pv_vm(xa, "moving", has_vendor_device=True)
        uuid = xa.VM.get_uuid(vm)
        self.assertEqual(xa.VM.get_hardware_platform_version(vm), "1")
        self.close_sessions()
        join(a, m)
        x = self.login(m)
        moved = x.VM.get_by_uuid(uuid)
        rec = x.VM.get_record(moved)
        self.assertEqual(rec["name_label"], "moving")
        self.assertEqual(rec["power_state"], "Halted")
        self.assertEqual(rec["hardware_platform_version"], "1")
        self.assertTrue(rec["has_vendor_device"])

    def test_joined_pool_survives_restarts(self):
        m, a = self.make_pool(2)
        a.restart()
        wait_member(a)
        m.restart()
        x = self.login(m)
        wait_until(lambda: len(x.host.get_all()) == 2, what="both hosts")
        # the member's link comes back: its heartbeat and forwarding work
        ref = self.hosts_by_address(x)["127.0.0.2"]
        wait_until(lambda: x.host_metrics.get_live(x.host.get_metrics(ref)), timeout=10, what="member live")
        # and a call through the member reaches the master's database
        xa = self.on_member_unix(a)
        self.assertEqual(sorted(xa.host.get_all()), sorted(x.host.get_all()))


class PoolJoinRefusals(PoolTest):
    def joiner_call(self, d, master_address, user="root", password=PASSWORD):
        x = self.login(d)
        return lambda: x.pool.join(master_address, user, password)

    def test_joining_itself(self):
        (m,) = self.make_pool(1)
        self.assertFailure(["OPERATION_NOT_ALLOWED", "Host cannot become slave of itself"],
                           self.joiner_call(m, m.address))

    def test_wrong_password(self):
        m, a = self.make_pool(2, joined=False)
        self.assertFailure(["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"],
                           self.joiner_call(a, m.address, password="nope"))

    def test_connection_failed(self):
        (a,) = self.make_pool(1)
        # nothing listens on 127.0.0.9 at this port
        self.assertFailure(["JOINING_HOST_CONNECTION_FAILED"], self.joiner_call(a, "127.0.0.9"))

    def test_master_of_other_hosts(self):
        m, a, b = self.make_pool(3, joined=False)
        join(b, a)   # a is now the master of b
        self.assertFailure(["JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS"], self.joiner_call(a, m.address))

    def test_already_a_member_joining_its_master(self):
        m, a = self.make_pool(2)
        # on a member, pool.join goes to the master, which is joining itself
        x = self.login(m)
        self.assertFailure(["OPERATION_NOT_ALLOWED", "Host is already part of a pool"],
                           lambda: x.pool.join(m.address, "root", PASSWORD))

    def test_running_vms(self):
        m, a = self.make_pool(2, joined=False)
        xa = self.login(a)
        vm = pv_vm(xa)
        xa.VM.start(vm, False, False)
        self.assertFailure(["JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"], self.joiner_call(a, m.address))
        xa.VM.hard_shutdown(vm)

    def test_vms_with_current_operations(self):
        m, a = self.make_pool(2, joined=False, sim_build_delay=3)
        xa = self.login(a)
        vm = pv_vm(xa)
        task = xa.Async.VM.start(vm, False, False)
        wait_until(lambda: xa.VM.get_current_operations(vm), what="the start to be under way")
        self.assertFailure(["JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS"], self.joiner_call(a, m.address))
        wait_until(lambda: xa.task.get_status(task) != "pending", timeout=20, what="the start")

    def test_api_version(self):
        m, a = self.make_pool(2, joined=False, options={1: {"api_version": "2.20"}})
        x = self.login(m)
        master = x.host.get_all()[0]
        mv = "%s.%s" % (x.host.get_API_version_major(master), x.host.get_API_version_minor(master))
        self.assertNotEqual(mv, "2.20")
        self.assertFailure(["POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION", "2.20", mv],
                           self.joiner_call(a, m.address))


if __name__ == "__main__":
    unittest.main()
