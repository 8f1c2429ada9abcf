"""get_record is served from a cache of each record's serialised bytes (per wire:
XML-RPC and JSON-RPC); these tests read a record as a client would, change it by
every kind of write, and read it again at once, through both wires: a stale cache
shows as the old value.  The writes: generic setters, inverse fields (a VM started
and stopped changes its host's record, a task made and destroyed its session's),
the lifecycle, the simulated guest (the
monitor's event-driven writes), Async calls' tasks, and in a pool a member's writes to
the master's database (pool.db_call), read through the master and through the
member (which relays the master's answer on the wire the call came in on)."""

from pool_fixture import PoolTest
from support import DaemonCase, XenAPI, as_guest, failure, pv_vm, wait_until


def as_xmlrpc(v):
    """A JSON value as XenAPI.py reads the same value over XML-RPC: ints are strings
    there (xapi's int64), floats and the rest the same."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return {k: as_xmlrpc(x) for k, x in v.items()}
    if isinstance(v, list):
        return [as_xmlrpc(x) for x in v]
    return v


class Reads:
    """The same record read over XML-RPC (XenAPI.py) and JSON-RPC (v1 and v2): the
    three must agree."""

    def json_record(self, d, session, ref, version="2.0", cls="VM"):
        r = d.jsonrpc(cls + ".get_record", [session, ref], version=version)
        self.assertIsNone(r.get("error"), r)
        return r["result"]

    def both(self, d, x, session, ref, cls="VM"):
        """The record, read three ways: they must agree (call when nothing else
        changes it)."""
        xml = getattr(x, cls).get_record(ref)
        for version in ("2.0", None):
            self.assertEqual(as_xmlrpc(self.json_record(d, session, ref, version, cls)), xml)
        return xml

    def field(self, d, x, session, vm, name):
        """A field of the VM's record as the three reads give it, when they agree
        (None when they do not: the record changed between them)."""
        got = [x.VM.get_record(vm)[name]] + [as_xmlrpc(self.json_record(d, session, vm, v)[name])
                                             for v in ("2.0", None)]
        return got[0] if got.count(got[0]) == 3 else None


class RecordCache(Reads, DaemonCase):

    def test_setters_seen_at_once_on_both_wires(self):
        x, d, s = self.x, self.d, self.session.handle
        vm = pv_vm(x, "cache-a")
        self.assertEqual(self.both(d, x, s, vm)["name_label"], "cache-a")
        self.assertEqual(self.both(d, x, s, vm)["name_label"], "cache-a")  # now from the cache
        for i in range(20):
            x.VM.set_name_label(vm, "xml-%d" % i)
            self.assertEqual(self.both(d, x, s, vm)["name_label"], "xml-%d" % i)
            r = d.jsonrpc("VM.set_name_description", [s, vm, "json-%d" % i])
            self.assertIsNone(r.get("error"), r)
            self.assertEqual(self.both(d, x, s, vm)["name_description"], "json-%d" % i)
        x.VM.add_to_other_config(vm, "k", "v")
        self.assertEqual(self.both(d, x, s, vm)["other_config"], {"k": "v"})
        x.VM.remove_from_other_config(vm, "k")
        self.assertEqual(self.both(d, x, s, vm)["other_config"], {})
        # a refused write changes nothing, and the record reads as before
        with self.assertRaises(Exception):
            x.VM.add_tags(vm, {"not": "a string"})
        self.assertEqual(self.both(d, x, s, vm)["tags"], [])
        x.VM.add_tags(vm, "t")
        self.assertEqual(self.both(d, x, s, vm)["tags"], ["t"])
        x.VM.destroy(vm)
        r = d.jsonrpc("VM.get_record", [s, vm])
        self.assertEqual(r["error"]["data"], ["VM", vm])
        self.assertEqual(r["error"]["message"], "HANDLE_INVALID")

    def test_inverse_fields(self):
        x, d, s = self.x, self.d, self.session.handle
        host = x.host.get_all()[0]
        vm = pv_vm(x, "cache-resident")
        self.assertNotIn(vm, self.both(d, x, s, host, "host")["resident_VMs"])
        x.VM.start(vm, False, False)  # VM.resident_on: the host's resident_VMs
        self.assertIn(vm, self.both(d, x, s, host, "host")["resident_VMs"])
        x.VM.hard_shutdown(vm)
        self.assertNotIn(vm, self.both(d, x, s, host, "host")["resident_VMs"])
        before = self.both(d, x, s, s, "session")["tasks"]
        task = x.task.create("cache-task", "")  # task.session: the session's tasks
        self.assertEqual(self.both(d, x, s, s, "session")["tasks"], before + [task])
        x.task.destroy(task)
        self.assertEqual(self.both(d, x, s, s, "session")["tasks"], before)

    def test_lifecycle_and_the_guest(self):
        x, d, s = self.x, self.d, self.session.handle
        vm = pv_vm(x, "cache-life")
        self.assertEqual(self.both(d, x, s, vm)["power_state"], "Halted")
        x.VM.start(vm, False, False)
        rec = self.both(d, x, s, vm)
        self.assertEqual(rec["power_state"], "Running")
        domid = rec["domid"]
        # the guest reports its tools: the monitor writes guest metrics and the VM's ref
        for k, v in (("attr/PVAddons/MajorVersion", "1"), ("attr/PVAddons/MinorVersion", "0"),
                     ("attr/PVAddons/MicroVersion", "0"), ("attr/PVAddons/BuildVersion", "0"),
                     ("attr/PVAddons/Installed", "1")):
            self.assertEqual(as_guest(d, domid, "write", k, v).returncode, 0)
        self.assertEqual(as_guest(d, domid, "write", "data/updated", "1").returncode, 0)
        gm = wait_until(lambda: self.field(d, x, s, vm, "guest_metrics") not in (None, "OpaqueRef:NULL")
                        and x.VM.get_guest_metrics(vm), what="guest metrics in the record")
        self.assertEqual(self.field(d, x, s, vm, "guest_metrics"), gm)
        wait_until(lambda: x.VM_guest_metrics.get_record(gm)["PV_drivers_version"].get("major") == "1",
                   what="the tools version in the guest metrics record")
        # the guest powers off by itself: the monitor halts the VM, and the record says so
        d.xenstore("write", "/local/domain/%s/sim/shutdown" % domid, "poweroff")
        wait_until(lambda: self.field(d, x, s, vm, "power_state") == "Halted", what="the VM halted by its guest")
        self.assertEqual(x.VM.get_power_state(vm), "Halted")
        # writes made by tasks (Async calls), read at once when the task ends
        for call, state in ((lambda: x.Async.VM.start(vm, False, False), "Running"),
                            (lambda: x.Async.VM.hard_shutdown(vm), "Halted")):
            task = call()
            wait_until(lambda: x.task.get_status(task) != "pending", what="the task")
            self.assertEqual(x.task.get_status(task), "success")
            self.assertEqual(self.both(d, x, s, vm)["power_state"], state)


class RecordCachePool(Reads, PoolTest):

    def test_member_writes_seen_through_either_host(self):
        m, a = self.make_pool(2)
        session = m.session()
        self.sessions.append(session)
        x, s = session.xenapi, session.handle
        via = self.on_member_https(a, m)
        member = {r["address"]: ref for ref, r in x.host.get_all_records().items()}["127.0.0.2"]
        vm = pv_vm(x, "pool-cache")
        self.assertEqual(self.both(m, x, s, vm)["power_state"], "Halted")
        self.assertEqual(via.VM.get_record(vm)["power_state"], "Halted")
        # started on the member: the member writes the record through pool.db_call
        x.VM.start_on(vm, member, False, False)
        for reader in (x, via):
            rec = reader.VM.get_record(vm)
            self.assertEqual((rec["power_state"], rec["resident_on"]), ("Running", member))
        self.assertEqual(self.both(m, x, s, vm)["power_state"], "Running")
        # a write made through the member, read back through the master and the member
        for i in range(5):
            via.VM.set_name_label(vm, "via-member-%d" % i)
            self.assertEqual(self.both(m, x, s, vm)["name_label"], "via-member-%d" % i)
            self.assertEqual(via.VM.get_record(vm)["name_label"], "via-member-%d" % i)
            x.VM.set_name_label(vm, "via-master-%d" % i)
            # the member relays the master's answer on the wire it came in on
            self.assertEqual(self.both(a, via, s, vm)["name_label"], "via-master-%d" % i)
            self.assertEqual(self.both(a, via, s, vm), self.both(m, x, s, vm))
        # errors come back as the master gave them, on both wires
        with self.assertRaises(XenAPI.Failure) as cm:
            via.VM.get_record("OpaqueRef:nonexistent")
        self.assertEqual(failure(cm.exception), ["HANDLE_INVALID", "VM", "OpaqueRef:nonexistent"])
        for version in ("2.0", None):
            r = a.jsonrpc("VM.get_record", [s, "OpaqueRef:nonexistent"], version=version)
            self.assertIsNone(r.get("result"), r)
            self.assertIn("HANDLE_INVALID", str(r["error"]))
            self.assertIn("OpaqueRef:nonexistent", str(r["error"]))
        # the member's guest powers off: its monitor halts the VM in the master's records
        domid = x.VM.get_domid(vm)
        a.xenstore("write", "/local/domain/%s/sim/shutdown" % domid, "poweroff")
        wait_until(lambda: self.field(m, x, s, vm, "power_state") == "Halted",
                   what="the VM halted by its guest on the member")
        self.assertEqual(via.VM.get_record(vm)["power_state"], "Halted")
