"""event.from: the empty token, add/mod/del in order with snapshots, tokens, timeouts,
a blocked call woken by another client, subscriptions, valid_ref_counts, bad tokens;
event.register/next/unregister; event.inject and event.get_current_id."""

import threading
import time
import xmlrpc.client

from support import PASSWORD, DaemonCase, XenAPI, curl_json, failure, hvm_vm, load_datamodel, plain

# xapi counts every table in valid_ref_counts, whatever the subscription (xapi_event.ml)
TABLES = {n.lower() for n, c in load_datamodel()[1].items() if c.table}


def ev_from(x, classes, token, timeout):
    return getattr(x.event, "from")(classes, token, timeout)


class EventFrom(DaemonCase):

    def setUp(self):
        self.token = ev_from(self.x, ["*"], "", 0.0)["token"]

    def changes(self, classes, token=None, timeout=5.0):
        return ev_from(self.x, classes, token or self.token, timeout)

    def test_empty_token_returns_every_object_as_add(self):
        vm = self.x.VM.create({"name_label": "present"})
        r = ev_from(self.x, ["*"], "", 0.0)
        self.assertEqual(set(r), {"events", "valid_ref_counts", "token"})
        by_class = {}
        for e in r["events"]:
            self.assertEqual(set(e), {"id", "timestamp", "class", "operation", "ref", "snapshot"})
            self.assertEqual(e["operation"], "add")
            self.assertEqual(e["class"], e["class"].lower())
            # xapi: the id a string, event.from's timestamp "0.0" (xapi_event.ml, event_of)
            self.assertIsInstance(e["id"], str)
            self.assertEqual(e["timestamp"], "0.0")
            by_class.setdefault(e["class"], []).append(e["ref"])
        # no session: xapi declares it gen_events:false (its refs are credentials)
        self.assertNotIn("session", by_class)
        self.assertEqual(set(r["valid_ref_counts"]), TABLES)
        for n in r["valid_ref_counts"].values():
            self.assertIsInstance(n, int)  # <i4>, xapi's Rpc.Int32
        self.assertRegex(r["token"], r"^\d{20},\d{20}$")
        for cls, api in [("vm", self.x.VM), ("host", self.x.host), ("pool", self.x.pool), ("task", self.x.task),
                         ("host_metrics", self.x.host_metrics)]:
            self.assertEqual(sorted(by_class.get(cls, [])), sorted(api.get_all()), cls)
            self.assertEqual(r["valid_ref_counts"][cls], len(api.get_all()), cls)
        # the snapshot is the whole record
        snap = [e["snapshot"] for e in r["events"] if e["ref"] == vm][0]
        self.assertEqual(plain(snap), plain(self.x.VM.get_record(vm)))
        self.x.VM.destroy(vm)

    def test_add_mod_del_in_order_with_snapshots(self):
        vm = self.x.VM.create({"name_label": "one"})
        self.x.VM.set_name_label(vm, "two")
        self.x.VM.add_to_other_config(vm, "k", "v")
        self.x.VM.destroy(vm)
        r = self.changes(["vm"])
        evs = [e for e in r["events"] if e["ref"] == vm]
        self.assertEqual([e["operation"] for e in evs], ["add", "mod", "mod", "del"])
        self.assertEqual(evs[0]["snapshot"]["name_label"], "one")
        self.assertEqual(evs[1]["snapshot"]["name_label"], "two")
        self.assertEqual(evs[2]["snapshot"]["other_config"], {"k": "v"})
        self.assertNotIn("snapshot", evs[3])
        ids = [int(e["id"]) for e in evs]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 4)
        for e in evs:
            self.assertEqual(e["class"], "vm")
        # the new token is past them all: nothing more
        self.assertGreater(r["token"], self.token)
        t0 = time.time()
        r2 = self.changes(["vm"], r["token"], 0.5)
        self.assertEqual([e for e in r2["events"] if e["ref"] == vm], [])
        self.assertGreaterEqual(time.time() - t0, 0.4)

    def test_tokens_resume_where_they_left_off(self):
        vm = self.x.VM.create({"name_label": "a"})
        r1 = self.changes(["vm"])
        self.x.VM.set_name_label(vm, "b")
        r2 = self.changes(["vm"], r1["token"])
        self.assertEqual([(e["operation"], e["snapshot"]["name_label"]) for e in r2["events"]], [("mod", "b")])
        self.x.VM.set_name_label(vm, "c")
        self.x.VM.set_name_label(vm, "d")
        r3 = self.changes(["vm"], r2["token"])
        self.assertEqual([e["snapshot"]["name_label"] for e in r3["events"]], ["c", "d"])
        # an old token replays
        again = self.changes(["vm"], r1["token"])
        self.assertEqual([e["snapshot"]["name_label"] for e in again["events"]], ["b", "c", "d"])
        self.assertEqual(again["token"], r3["token"])
        self.x.VM.destroy(vm)

    def test_timeout_is_honoured(self):
        for timeout in (1.0, 0.3):
            t0 = time.time()
            r = self.changes(["vm"], self.token, timeout)
            took = time.time() - t0
            self.assertEqual(r["events"], [])
            self.assertGreaterEqual(took, timeout * 0.9)
            self.assertLess(took, timeout + 2.0)
        # events for other classes do not end the wait early, nor are they returned
        t = self.x.task.create("noise", "")
        t0 = time.time()
        r = self.changes(["vm"], self.token, 1.0)
        self.assertEqual(r["events"], [])
        self.assertGreaterEqual(time.time() - t0, 0.9)
        # a zero or negative timeout answers at once
        for timeout in (0.0, -5.0):
            t0 = time.time()
            self.assertEqual(self.changes(["vm"], self.token, timeout)["events"], [])
            self.assertLess(time.time() - t0, 0.5)
        self.x.task.destroy(t)

    def test_a_blocked_call_is_woken_by_another_client(self):
        vm = self.x.VM.create({"name_label": "sleeper"})
        token = self.changes(["vm"])["token"]
        result = {}

        def wait():
            s = self.d.session()
            t0 = time.time()
            result["r"] = ev_from(s.xenapi, ["vm"], token, 30.0)
            result["took"] = time.time() - t0
            s.xenapi.session.logout()
            s("close")()
        th = threading.Thread(target=wait)
        th.start()
        time.sleep(0.5)
        other = self.d.session()
        other.xenapi.VM.set_name_label(vm, "woken")
        th.join(30)
        self.assertFalse(th.is_alive())
        self.assertLess(result["took"], 5.0)
        self.assertGreaterEqual(result["took"], 0.4)
        evs = result["r"]["events"]
        self.assertEqual([(e["operation"], e["snapshot"]["name_label"]) for e in evs], [("mod", "woken")])
        other.xenapi.session.logout()
        other("close")()
        self.x.VM.destroy(vm)

    def test_waiters_with_one_token_each_get_each_write_once(self):
        # clients waiting with the same token for the same classes share one answer
        # (src/api/event.c keeps its bytes): over both wires, each sees every write
        # once, the one it waited for and then the next
        vm = self.x.VM.create({"name_label": "shared"})
        token = self.changes(["vm"])["token"]
        s = self.d.session()
        handle = s.handle
        results = {}

        def follow(i):
            t, seen = token, []
            while len(seen) < 2:
                if i % 2:
                    r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "event.from",
                                                "params": [handle, ["vm"], t, 30.0], "id": i})["result"]
                else:
                    with xmlrpc.client.ServerProxy(self.d.url) as p:
                        r = getattr(p, "event.from")(handle, ["vm"], t, 30.0)["Value"]
                seen += [(e["operation"], e["snapshot"]["name_label"]) for e in r["events"]]
                t = r["token"]
            results[i] = seen
        threads = [threading.Thread(target=follow, args=(i,)) for i in range(12)]
        for th in threads:
            th.start()
        time.sleep(0.5)
        self.x.VM.set_name_label(vm, "first")
        time.sleep(0.2)
        self.x.VM.set_name_label(vm, "second")
        for th in threads:
            th.join(30)
        self.assertEqual(results, {i: [("mod", "first"), ("mod", "second")] for i in range(12)})
        s.xenapi.session.logout()
        s("close")()
        self.x.VM.destroy(vm)

    def test_subscriptions(self):
        a = self.x.VM.create({"name_label": "a"})
        b = self.x.VM.create({"name_label": "b"})
        t = self.x.task.create("t", "")
        tok = self.changes(["*"])["token"]
        self.x.VM.set_name_label(a, "a2")
        self.x.VM.set_name_label(b, "b2")
        self.x.task.set_status(t, "success")
        everything = self.changes(["*"], tok)["events"]
        self.assertEqual({(e["class"], e["ref"]) for e in everything}, {("vm", a), ("vm", b), ("task", t)})
        vms = self.changes(["vm"], tok)
        self.assertEqual([e["ref"] for e in vms["events"]], [a, b])
        self.assertEqual(set(vms["valid_ref_counts"]), TABLES)
        self.assertEqual(vms["valid_ref_counts"]["vm"], len(self.x.VM.get_all()))
        # a class name in any case
        self.assertEqual([e["ref"] for e in self.changes(["VM"], tok)["events"]], [a, b])
        one = self.changes(["vm/" + b], tok)
        self.assertEqual([e["ref"] for e in one["events"]], [b])
        both = self.changes(["vm/" + a, "task"], tok)
        self.assertEqual([e["ref"] for e in both["events"]], [a, t])
        self.assertEqual(set(both["valid_ref_counts"]), TABLES)
        # a class that does not exist never matches; it is not an error
        t0 = time.time()
        none = self.changes(["no_such_class"], tok, 0.3)
        self.assertEqual(none["events"], [])
        self.assertEqual(set(none["valid_ref_counts"]), TABLES)
        self.assertLess(time.time() - t0, 3)
        # the empty-token form honours subscriptions too
        fresh = ev_from(self.x, ["vm/" + a], "", 0.0)
        self.assertEqual([(e["operation"], e["ref"]) for e in fresh["events"]], [("add", a)])
        for v in (a, b):
            self.x.VM.destroy(v)
        self.x.task.destroy(t)

    def test_bad_tokens(self):
        for tok in ["garbage", "-5", "1e3", "0x10"]:
            self.assertFailure(["EVENT_FROM_TOKEN_PARSE_FAILURE", tok], ev_from, self.x, ["*"], tok, 0.0)

    def test_a_token_from_the_future_waits(self):
        future = "%020d,%020d" % (int(self.token.split(",")[0]) + 1000, 0)
        t0 = time.time()
        r = self.changes(["*"], future, 0.5)
        self.assertEqual(r["events"], [])
        self.assertGreaterEqual(time.time() - t0, 0.4)

    def test_inject_and_current_id(self):
        # xapi_event.ml inject: the token (generation - 1, 0), just before the injected
        # event, so an event.from given it returns that event and a greater token
        vm = self.x.VM.create({"name_label": "inj"})
        cur = int(self.x.event.get_current_id())
        tok = self.x.event.inject("VM", vm)
        self.assertRegex(tok, r"^\d{20},0{20}$")
        self.assertEqual(int(tok.split(",")[0]), cur)
        self.assertEqual(int(self.x.event.get_current_id()), cur + 1)
        after = self.changes(["vm"], tok, 0.0)
        mods = [e for e in after["events"] if e["operation"] == "mod" and e["ref"] == vm]
        self.assertEqual(len(mods), 1)
        self.assertEqual(mods[0]["snapshot"]["name_label"], "inj")
        self.assertGreater(after["token"], tok)
        self.assertEqual(self.changes(["vm"], after["token"], 0.0)["events"], [])
        # the older single-number token is still read
        self.assertEqual(self.changes(["vm"], "%020d" % (cur + 1), 0.0)["events"], [])
        # lower-case class names are accepted, as event.from writes them
        self.assertGreater(self.x.event.inject("vm", vm), tok)
        self.assertFailure(["HANDLE_INVALID", "VM", "OpaqueRef:nope"], self.x.event.inject, "VM", "OpaqueRef:nope")
        self.assertFailure(["HANDLE_INVALID", "nothing", vm], self.x.event.inject, "nothing", vm)
        self.x.VM.destroy(vm)

    def test_inverse_field_changes_raise_events_on_the_target(self):
        # a VM started on the host appears in host.resident_VMs: the host gets a mod
        host = self.x.host.get_all()[0]
        vm = hvm_vm(self.x, "inverse")
        tok = self.changes(["host/" + host])["token"]
        self.x.VM.start(vm, False, False)
        r = self.changes(["host/" + host], tok)
        self.assertIn("mod", [e["operation"] for e in r["events"]])
        self.assertIn(vm, r["events"][-1]["snapshot"]["resident_VMs"])
        self.x.VM.hard_shutdown(vm)
        r2 = self.changes(["host/" + host], r["token"])
        self.assertNotIn(vm, r2["events"][-1]["snapshot"]["resident_VMs"])
        self.x.VM.destroy(vm)


class EventRegisterNext(DaemonCase):

    def test_register_next_unregister(self):
        s = self.d.session()
        x = s.xenapi
        x.event.register(["vm"])
        vm = self.x.VM.create({"name_label": "reg"})
        self.x.task.destroy(self.x.task.create("not subscribed", ""))
        evs = x.event.next()
        self.assertEqual([(e["class"], e["operation"], e["ref"]) for e in evs], [("vm", "add", vm)])
        self.assertEqual(evs[0]["snapshot"]["name_label"], "reg")
        # event.next blocks until something arrives, and is woken by another client
        result = {}

        def nxt():
            t0 = time.time()
            result["evs"] = x.event.next()
            result["took"] = time.time() - t0
        th = threading.Thread(target=nxt)
        th.start()
        time.sleep(0.5)
        self.x.VM.set_name_label(vm, "reg2")
        th.join(20)
        self.assertFalse(th.is_alive())
        self.assertGreaterEqual(result["took"], 0.4)
        self.assertEqual([(e["operation"], e["snapshot"]["name_label"]) for e in result["evs"]], [("mod", "reg2")])
        # registering more classes adds to the subscription
        x.event.register(["task"])
        t = self.x.task.create("now subscribed", "")
        self.assertEqual([e["ref"] for e in x.event.next()], [t])
        # unregistering a class stops its events
        x.event.unregister(["vm"])
        self.x.VM.set_name_label(vm, "unseen")
        self.x.task.set_status(t, "success")
        self.assertEqual([(e["class"], e["ref"]) for e in x.event.next()], [("task", t)])
        x.session.logout()
        s("close")()
        self.x.VM.destroy(vm)

    def test_next_without_register(self):
        with xmlrpc.client.ServerProxy(self.d.url) as p:
            s = p.session.login_with_password("root", PASSWORD)["Value"]
            self.assertEqual(getattr(p, "event.next")(s),
                             {"Status": "Failure", "ErrorDescription": ["SESSION_NOT_REGISTERED", s]})
            # registration belongs to the session: another session's does not count
            s2 = p.session.login_with_password("root", PASSWORD)["Value"]
            getattr(p, "event.register")(s2, ["*"])
            self.assertEqual(getattr(p, "event.next")(s)["ErrorDescription"], ["SESSION_NOT_REGISTERED", s])
            # and it ends with the session
            p.session.logout(s2)
            s3 = p.session.login_with_password("root", PASSWORD)["Value"]
            self.assertEqual(getattr(p, "event.next")(s3)["ErrorDescription"], ["SESSION_NOT_REGISTERED", s3])
            p.session.logout(s)
            p.session.logout(s3)

    def test_logout_ends_a_blocked_next(self):
        with xmlrpc.client.ServerProxy(self.d.url) as p:
            s = p.session.login_with_password("root", PASSWORD)["Value"]
            getattr(p, "event.register")(s, ["no_such_class"])
        result = {}

        def nxt():
            with xmlrpc.client.ServerProxy(self.d.url) as q:
                t0 = time.time()
                result["r"] = getattr(q, "event.next")(s)
                result["took"] = time.time() - t0
        th = threading.Thread(target=nxt)
        th.start()
        time.sleep(0.3)
        with xmlrpc.client.ServerProxy(self.d.url) as p:
            p.session.logout(s)
        th.join(30)
        self.assertFalse(th.is_alive(), "event.next still blocked after its session ended")
        self.assertEqual(result["r"]["ErrorDescription"], ["SESSION_INVALID", s])
        self.assertLess(result["took"], 10)


class XenAPIPyEvents(DaemonCase):
    """What a XenAPI.py client does: the usual event loop."""

    def test_event_loop(self):
        x = self.x
        token = ""
        seen = {}
        created = [x.VM.create({"name_label": "loop-%d" % i}) for i in range(3)]
        for _ in range(3):
            r = ev_from(x, ["vm"], token, 1.0)
            for e in r["events"]:
                if e["operation"] == "del":
                    seen.pop(e["ref"], None)
                else:
                    seen[e["ref"]] = e["snapshot"]["name_label"]
            token = r["token"]
            if created[0] in seen:
                x.VM.destroy(created[0])
        self.assertNotIn(created[0], seen)
        self.assertEqual(seen[created[1]], "loop-1")
        self.assertEqual(seen[created[2]], "loop-2")
        self.assertEqual(set(seen), set(x.VM.get_all()))
        with self.assertRaises(XenAPI.Failure) as cm:
            ev_from(x, ["vm"], "bogus", 0.0)
        self.assertEqual(failure(cm.exception), ["EVENT_FROM_TOKEN_PARSE_FAILURE", "bogus"])


class Batching(DaemonCase):
    """event-from-batching: after a first event, event.from waits the window for more
    (xapi always waits 50 ms, Xapi_globs.event_from_delay; off by default here)."""
    options = {"event_from_batching": 0.6}

    def test_changes_within_the_window_come_together(self):
        x = self.x
        vm = x.VM.create({"name_label": "batch"})
        tok = ev_from(x, ["vm"], "", 0.0)["token"]
        result = {}

        def waiter():
            result["r"] = ev_from(self.d.session().xenapi, ["vm/" + vm], tok, 10.0)

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.3)
        x.VM.set_name_label(vm, "one")
        time.sleep(0.2)
        x.VM.set_name_label(vm, "two")
        th.join(10)
        names = [e["snapshot"]["name_label"] for e in result["r"]["events"]]
        self.assertEqual(names, ["one", "two"])
        x.VM.destroy(vm)


class NoBatching(DaemonCase):

    def test_the_first_change_answers_at_once(self):
        x = self.x
        vm = x.VM.create({"name_label": "batch"})
        tok = ev_from(x, ["vm"], "", 0.0)["token"]
        x.VM.set_name_label(vm, "one")
        t0 = time.time()
        r = ev_from(x, ["vm/" + vm], tok, 10.0)
        self.assertLess(time.time() - t0, 0.3)
        self.assertEqual([e["snapshot"]["name_label"] for e in r["events"]], ["one"])
        x.VM.destroy(vm)
