"""A pool of three daemons on 127.0.0.1-3 sharing one port: pool.join and its
refusals, HOST_IS_SLAVE, members forwarding to the master, the master having
members run their VMs' operations, reports from members' guests, liveness, eject."""

import os
import re
import subprocess
import threading
import time
import unittest

from harness import PASSWORD
from pool_fixture import PoolTest, join, wait_member
from support import UnixTransport, XenAPI, as_guest, failure, pv_vm, wait_until, xs_exists, xs_read


def event_from(x, classes, token, timeout):
    return getattr(x.event, "from")(classes, token, timeout)


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


class PoolOperations(PoolTest):
    """One pool for the class would be faster, but each test here changes it."""

    def setUp(self):
        super().setUp()
        self.m, self.a, self.b = self.make_pool(3)
        self.x = self.login(self.m)
        self.host = self.hosts_by_address(self.x)

    def test_every_kind_of_call_through_a_member(self):
        x, a = self.x, self.a
        for via in (self.on_member_unix(a), self.on_member_https(a, self.m)):
            # generic getters and setters, create, a hand-written message, Async and tasks
            vm = pv_vm(via, "through")
            self.assertEqual(x.VM.get_name_label(vm), "through")
            via.VM.set_name_description(vm, "set via a member")
            self.assertEqual(x.VM.get_name_description(vm), "set via a member")
            via.VM.add_to_other_config(vm, "k", "v")
            self.assertEqual(x.VM.get_other_config(vm), {"k": "v"})
            self.assertIn(vm, via.VM.get_all_records_where('field "name_label" = "through"'))
            self.assertEqual(via.VM.get_by_uuid(x.VM.get_uuid(vm)), vm)
            task = via.Async.VM.clone(vm, "clone")
            wait_until(lambda: via.task.get_status(task) != "pending", what="the clone task")
            self.assertEqual(via.task.get_status(task), "success")
            clone = re.sub(r"</?value>", "", via.task.get_result(task))
            self.assertEqual(x.VM.get_name_label(clone), "clone")
            # event.from through the member reads the master's events
            token = event_from(via, ["vm"], "", 0.0)["token"]
            x.VM.set_name_label(clone, "renamed")
            r = event_from(via, ["vm"], token, 5.0)
            self.assertIn(("mod", clone), [(e["operation"], e["ref"]) for e in r["events"]])
            # errors come back exactly
            with self.assertRaises(XenAPI.Failure) as cm:
                via.VM.get_record("OpaqueRef:nonexistent")
            self.assertEqual(failure(cm.exception), ["HANDLE_INVALID", "VM", "OpaqueRef:nonexistent"])

    def test_start_on_a_member_runs_there(self):
        x, a = self.x, self.a
        ha = self.host["127.0.0.2"]
        vm = pv_vm(x, "on-a")
        x.VM.start_on(vm, ha, False, False)
        rec = x.VM.get_record(vm)
        self.assertEqual(rec["power_state"], "Running")
        self.assertEqual(rec["resident_on"], ha)
        domid = rec["domid"]
        # the domain is on the member's simulator, not the master's
        self.assertTrue(xs_exists(a, "/local/domain/%s" % domid))
        self.assertEqual(xs_read(a, "/local/domain/%s/vm" % domid), "/vm/" + rec["uuid"])
        self.assertFalse(xs_exists(self.m, "/local/domain/%s/vm" % domid))
        self.assertIn(vm, x.host.get_resident_VMs(ha))
        # the lifecycle runs on the resident host's hypervisor
        x.VM.pause(vm)
        self.assertEqual(x.VM.get_power_state(vm), "Paused")
        x.VM.unpause(vm)
        x.VM.hard_reboot(vm)
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        self.assertEqual(x.VM.get_resident_on(vm), ha)
        new_domid = x.VM.get_domid(vm)
        self.assertNotEqual(new_domid, domid)
        self.assertTrue(xs_exists(a, "/local/domain/%s" % new_domid))
        x.VM.hard_shutdown(vm)
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        self.assertFalse(xs_exists(a, "/local/domain/%s" % new_domid))

    def test_start_placed_on_a_member_runs_there(self):
        x = self.x
        ha = self.host["127.0.0.2"]
        vm = pv_vm(x, "placed", affinity=ha)
        x.VM.start(vm, False, False)
        rec = x.VM.get_record(vm)
        self.assertEqual((rec["power_state"], rec["resident_on"]), ("Running", ha))
        self.assertTrue(xs_exists(self.a, "/local/domain/%s" % rec["domid"]))
        self.assertEqual(rec["current_operations"], {})
        x.VM.hard_shutdown(vm)

    def test_start_on_a_dead_member_is_refused_by_the_master(self):
        x = self.x
        hb = self.host["127.0.0.3"]
        self.b.kill9()
        wait_until(lambda: not x.host_metrics.get_live(x.host.get_metrics(hb)), timeout=5,
                   what="the killed member to be not live")
        vm = pv_vm(x, "nowhere")
        self.assertFailure(["HOST_NOT_LIVE"], x.VM.start_on, vm, hb, False, False)
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        self.assertEqual(x.VM.get_current_operations(vm), {})

    def test_guest_changes_on_a_member_are_events_on_the_master(self):
        x, a = self.x, self.a
        hb = self.host["127.0.0.3"]
        vm = pv_vm(x, "watched")
        x.VM.start_on(vm, hb, False, False)
        domid = x.VM.get_domid(vm)
        token = event_from(x, ["vm", "vm_guest_metrics"], "", 0.0)["token"]
        # the guest reports its tools, on the member's xenstore
        for k, v in (("attr/PVAddons/MajorVersion", "1"), ("attr/PVAddons/MinorVersion", "0"),
                     ("attr/PVAddons/MicroVersion", "0"), ("attr/PVAddons/BuildVersion", "0"),
                     ("attr/PVAddons/Installed", "1")):
            self.assertEqual(as_guest(self.b, domid, "write", k, v).returncode, 0)
        self.assertEqual(as_guest(self.b, domid, "write", "data/updated", "1").returncode, 0)
        gm = wait_until(lambda: x.VM.get_guest_metrics(vm) != "OpaqueRef:NULL" and x.VM.get_guest_metrics(vm),
                        what="guest metrics from the member")
        wait_until(lambda: x.VM_guest_metrics.get_PV_drivers_version(gm).get("major") == "1",
                   what="the tools version")
        # then it powers off by itself: the member's monitor halts the VM in the pool's records
        self.b.xenstore("write", "/local/domain/%s/sim/shutdown" % domid, "poweroff")
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", what="the VM halted by its guest")
        classes = set()
        deadline = time.time() + 5
        while time.time() < deadline and not {"vm", "vm_guest_metrics"} <= classes:
            r = event_from(x, ["vm", "vm_guest_metrics"], token, 1.0)
            token = r["token"]
            classes |= {e["class"] for e in r["events"]}
        self.assertLessEqual({"vm", "vm_guest_metrics"}, classes)


class PoolLiveness(PoolTest):
    def test_kill9_of_a_member_and_its_return(self):
        m, a = self.make_pool(2)
        x = self.login(m)
        ha = self.hosts_by_address(x)["127.0.0.2"]
        metrics = x.host.get_metrics(ha)
        vm = pv_vm(x, "survivor")
        x.VM.start_on(vm, ha, False, False)
        domid = x.VM.get_domid(vm)
        self.assertTrue(x.host_metrics.get_live(metrics))
        a.kill9()
        killed = time.time()
        # host-dead-after (2) + one heartbeat interval (0.5), with the master's own
        # period (under a second) to notice
        wait_until(lambda: not x.host_metrics.get_live(metrics), timeout=2 + 0.5 + 1.5,
                   interval=0.1, what="the killed member to be not live")
        self.assertGreaterEqual(time.time() - killed, 1.5)
        # a hypervisor outlives its toolstack: the VM still runs there
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        a.start()
        wait_member(a)
        wait_until(lambda: x.host_metrics.get_live(metrics), timeout=5, what="the member live again")
        rec = x.VM.get_record(vm)
        self.assertEqual((rec["power_state"], rec["resident_on"], rec["domid"]), ("Running", ha, domid))
        # its domain went while it was away: when it is back, its monitor says so
        x.VM.hard_shutdown(vm)
        x.VM.start_on(vm, ha, False, False)
        domid = x.VM.get_domid(vm)
        a.kill9()
        subprocess.run([a.args()[0]] + ["--%s=%s" % kv for kv in a.options.items()] +
                       ["--sim-domain", domid, "--remove"], check=True, capture_output=True)
        a.start()
        wait_member(a)
        wait_until(lambda: x.VM.get_power_state(vm) == "Halted", timeout=10,
                   what="the VM whose domain went to be Halted")

    def test_master_unreachable_members_keep_running(self):
        m, a = self.make_pool(2)
        x = self.login(m)
        ha = self.hosts_by_address(x)["127.0.0.2"]
        vm = pv_vm(x, "keeps-running")
        x.VM.start_on(vm, ha, False, False)
        domid = x.VM.get_domid(vm)
        m.kill9()
        # local tools on the member get a clear error
        s = XenAPI.Session("http://localhost/", transport=UnixTransport(a.unix_socket))
        with self.assertRaises(XenAPI.Failure) as cm:
            s.login_with_password("root", "")
        self.assertEqual(failure(cm.exception), ["CANNOT_CONTACT_HOST", "127.0.0.1"])
        self.assertTrue(xs_exists(a, "/local/domain/%s" % domid))
        m.start()
        x = self.login(m)
        wait_until(lambda: x.host_metrics.get_live(x.host.get_metrics(ha)), timeout=10, what="the member live")
        self.assertEqual(x.VM.get_power_state(vm), "Running")
        xa = self.on_member_unix(a)
        self.assertEqual(xa.VM.get_domid(vm), domid)

    def test_kill9_of_the_master_loses_no_acknowledged_write(self):
        m, a, b = self.make_pool(3)
        x = self.login(m)
        vm = pv_vm(x, "counter")
        acked = {}
        errors = []
        stop = threading.Event()

        def writer(d, key):
            via = None
            for n in range(2000):
                if stop.is_set():
                    break
                try:
                    via = via or self.on_member_unix(d)
                    via.VM.add_to_other_config(vm, "%s-%d" % (key, n), "x")
                    acked.setdefault(key, []).append(n)
                except Exception as e:  # the master is down: this write was not acknowledged
                    errors.append(e)
                    via = None
                    time.sleep(0.05)
        threads = [threading.Thread(target=writer, args=(d, d.address)) for d in (a, b)]
        for t in threads:
            t.start()
        wait_until(lambda: sum(len(v) for v in acked.values()) > 20, timeout=20, what="writes under way")
        m.kill9()
        time.sleep(0.5)
        m.start()
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(30)
        x = self.login(m)
        oc = x.VM.get_other_config(vm)
        for key, ns in acked.items():
            for n in ns:
                self.assertIn("%s-%d" % (key, n), oc, "an acknowledged write was lost")
        self.assertTrue(errors, "the writes did not see the master go")


class PoolEject(PoolTest):
    def test_eject(self):
        m, a, b = self.make_pool(3)
        x = self.login(m)
        ha = self.hosts_by_address(x)["127.0.0.2"]
        vm = pv_vm(x, "pinned")
        x.VM.start_on(vm, ha, False, False)
        self.assertFailure(["OPERATION_NOT_ALLOWED", "VM resident on host"], x.pool.eject, ha)
        self.assertFailure(["OPERATION_NOT_ALLOWED", "Cannot eject the pool master"], x.pool.eject,
                           x.pool.get_master(x.pool.get_all()[0]))
        x.VM.hard_shutdown(vm)
        uuid = x.host.get_uuid(ha)
        x.pool.eject(ha)
        self.assertEqual(sorted(self.hosts_by_address(x)), ["127.0.0.1", "127.0.0.3"])
        self.assertFailure(["UUID_INVALID", "host", uuid], x.host.get_by_uuid, uuid)
        # the VM is the pool's: it stays
        self.assertEqual(x.VM.get_name_label(vm), "pinned")

        # the ejected host comes back standalone, with a database of its own
        def standalone():
            try:
                s = a.session()
            except Exception:
                return None
            return s
        s = wait_until(standalone, timeout=20, interval=0.2, what="the ejected host to be standalone")
        self.sessions.append(s)
        xa = s.xenapi
        self.assertEqual(len(xa.host.get_all()), 1)
        self.assertEqual([r["name_label"] for r in xa.VM.get_all_records().values()
                          if not r["is_control_domain"]], [])
        # and it can join again
        self.close_sessions()
        join(a, m)
        x = self.login(m)
        self.assertEqual(sorted(self.hosts_by_address(x)), ["127.0.0.1", "127.0.0.2", "127.0.0.3"])


class PoolXe(PoolTest):
    def test_pool_join_host_list_and_eject_with_xe(self):
        m, a = self.make_pool(2, joined=False)
        r = a.xe("pool-join", "master-address=127.0.0.1", "master-username=root", "master-password=" + PASSWORD)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_member(a)
        # xe pointed at the member follows HOST_IS_SLAVE to the master (same port)
        r = a.xe("host-list", "params=address,enabled,host-metrics-live,virtual-hardware-platform-versions",
                 "--minimal", https=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = a.xe("host-list", https=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        blocks = [b for b in r.stdout.strip().split("\n\n") if b.strip()]
        self.assertEqual(len(blocks), 2)
        for b in blocks:
            self.assertRegex(b, r"enabled \( RO\): true")
            self.assertRegex(b, r"host-metrics-live \( RO\): true")
            self.assertRegex(b, r"virtual-hardware-platform-versions \(MRO\): 0; 1")
        self.assertEqual(sorted(re.findall(r"address \( RO\): (\S+)", r.stdout)), ["127.0.0.1", "127.0.0.2"])
        x = self.login(m)
        ha = self.hosts_by_address(x)["127.0.0.2"]
        r = m.xe("pool-eject", "host-uuid=" + x.host.get_uuid(ha))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(self.hosts_by_address(x)), ["127.0.0.1"])


if __name__ == "__main__":
    unittest.main()
