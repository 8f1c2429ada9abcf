"""Every error code a client meets in the foundation, with its exact parameters, as
XenAPI.py sees it over XML-RPC and as JSON-RPC v2 carries it."""

import xmlrpc.client

from support import PASSWORD, DaemonCase, XenAPI, curl_json, failure


class Errors(DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vm = cls.x.VM.create({"name_label": "errors"})
        cls.vm_uuid = cls.x.VM.get_uuid(cls.vm)
        cls.host = cls.x.host.get_all()[0]

    def raw(self, method, *params):
        """A call with nothing in between: the envelope XML-RPC brings back."""
        with xmlrpc.client.ServerProxy(self.d.url) as p:
            return getattr(p, method)(*params)

    def both(self, expected, method, *params):
        """The same failure over XML-RPC and over JSON-RPC v2."""
        r = self.raw(method, *params)
        self.assertEqual(r, {"Status": "Failure", "ErrorDescription": list(expected)}, method)
        j = curl_json(self.d.port, {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
        self.assertEqual(j["error"], {"code": 1, "message": expected[0], "data": list(expected[1:])}, method)

    def test_message_method_unknown(self):
        s = self.session.handle
        self.both(["MESSAGE_METHOD_UNKNOWN", "VM.fly"], "VM.fly", s)
        self.both(["MESSAGE_METHOD_UNKNOWN", "nonsense"], "nonsense", s)
        self.both(["MESSAGE_METHOD_UNKNOWN", "Nope.get_record"], "Nope.get_record", s, self.vm)
        # a message without an Async form, asked for one: xapi's Fault (server_helpers.ml
        # do_dispatch), and no session is opened
        self.both(["Fault", "No async mode for this operation (rpc: session.login_with_password)"],
                  "Async.session.login_with_password", "root", PASSWORD)
        self.both(["MESSAGE_METHOD_UNKNOWN", "VM.fly"], "Async.VM.fly", s)
        # the case matters, as in xapi
        self.both(["MESSAGE_METHOD_UNKNOWN", "vm.get_record"], "vm.get_record", s, self.vm)
        # no session needed to be told
        self.both(["MESSAGE_METHOD_UNKNOWN", "VM.fly"], "VM.fly")

    def test_message_parameter_count_mismatch(self):
        s = self.session.handle
        # counts exclude the session
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"], "VM.get_record", s)
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "2"], "VM.get_record", s, self.vm, "x")
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.set_name_label", "2", "1"], "VM.set_name_label", s,
                  self.vm)
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_all", "0", "1"], "VM.get_all", s, "extra")
        # xapi names the message without its Async. prefix (server_helpers.ml)
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"], "Async.VM.get_record", s)
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "event.from", "3", "2"], "event.from", s, ["*"], "")
        # login takes 2 or more: its defaulted parameters take trailing extras, as xapi's
        # dispatcher (gen_server.ml: required :: default_args); see test_xapi_wire
        self.both(["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "2", "1"],
                  "session.login_with_password", "root")

    def test_handle_invalid(self):
        s = self.session.handle
        bad = "OpaqueRef:00000000-0000-0000-0000-000000000000"
        self.both(["HANDLE_INVALID", "VM", bad], "VM.get_record", s, bad)
        self.both(["HANDLE_INVALID", "VM", "garbage"], "VM.get_name_label", s, "garbage")
        self.both(["HANDLE_INVALID", "VM", bad], "VM.set_name_label", s, bad, "x")
        self.both(["HANDLE_INVALID", "VM", bad], "VM.add_to_other_config", s, bad, "k", "v")
        self.both(["HANDLE_INVALID", "VM", bad], "VM.remove_tags", s, bad, "t")
        self.both(["HANDLE_INVALID", "VM", bad], "VM.destroy", s, bad)
        self.both(["HANDLE_INVALID", "host", bad], "host.get_resident_VMs", s, bad)
        # a ref of another class is not a host
        self.both(["HANDLE_INVALID", "host", self.vm], "host.get_record", s, self.vm)
        self.both(["HANDLE_INVALID", "task", bad], "task.cancel", s, bad)
        self.both(["HANDLE_INVALID", "VM", bad], "event.inject", s, "VM", bad)
        self.assertFailure(["HANDLE_INVALID", "VM", bad], self.x.VM.get_record, bad)

    def test_uuid_invalid(self):
        s = self.session.handle
        self.both(["UUID_INVALID", "VM", "not-a-uuid"], "VM.get_by_uuid", s, "not-a-uuid")
        # the uuid of a host is no VM's
        host_uuid = self.x.host.get_uuid(self.host)
        self.both(["UUID_INVALID", "VM", host_uuid], "VM.get_by_uuid", s, host_uuid)
        self.assertEqual(self.x.VM.get_by_uuid(self.vm_uuid), self.vm)

    def test_field_type_error(self):
        s = self.session.handle
        self.both(["FIELD_TYPE_ERROR", "value"], "VM.set_user_version", s, self.vm, "ten")
        self.both(["FIELD_TYPE_ERROR", "value"], "VM.set_is_a_template", s, self.vm, "perhaps")
        self.both(["FIELD_TYPE_ERROR", "value"], "VM.set_tags", s, self.vm, "not-a-list")
        self.both(["FIELD_TYPE_ERROR", "value"], "VM.set_other_config", s, self.vm, ["a"])
        self.both(["FIELD_TYPE_ERROR", "self"], "VM.get_record", s, 12)
        self.both(["FIELD_TYPE_ERROR", "timeout"], "event.from", s, ["*"], "", "soon")
        self.both(["FIELD_TYPE_ERROR", "VCPUs_max"], "VM.create", s, {"name_label": "x", "VCPUs_max": "many"})
        self.both(["FIELD_TYPE_ERROR", "args"], "VM.create", s, "not a record")
        self.assertEqual(self.x.VM.get_user_version(self.vm), "1")

    def test_invalid_value(self):
        s = self.session.handle
        self.both(["INVALID_VALUE", "value", "explode"], "VM.set_actions_after_crash", s, self.vm, "explode")
        # xapi: INVALID_VALUE [expr, Printexc's text of the parse failure] (exnHelper.ml)
        self.both(["INVALID_VALUE", "field \"name__label\" ==", "Stdlib.Parsing.Parse_error"],
                  "VM.get_all_records_where", s, "field \"name__label\" ==")
        self.both(["INVALID_VALUE", "value", "soon"], "task.set_status", s, self.x.task.create("t", ""), "soon")
        self.assertEqual(self.x.VM.get_actions_after_crash(self.vm), "destroy")

    def test_invalid_map_key(self):
        s = self.session.handle
        self.both(["INVALID_VALUE", "blocked_operations", "fly"], "VM.add_to_blocked_operations", s, self.vm,
                  "fly", "no")
        self.assertEqual(self.x.VM.get_blocked_operations(self.vm), {})
        self.both(["INVALID_VALUE", "blocked_operations", "fly"], "VM.remove_from_blocked_operations", s, self.vm,
                  "fly")

    def test_map_duplicate_key(self):
        s = self.session.handle
        self.x.VM.add_to_other_config(self.vm, "dup", "1")
        self.both(["MAP_DUPLICATE_KEY", "VM", "other_config", self.vm_uuid, "dup"], "VM.add_to_other_config", s,
                  self.vm, "dup", "2")
        self.assertEqual(self.x.VM.get_other_config(self.vm)["dup"], "1")
        self.x.VM.remove_from_other_config(self.vm, "dup")
        self.x.VM.add_to_other_config(self.vm, "dup", "3")
        self.assertEqual(self.x.VM.get_other_config(self.vm)["dup"], "3")
        self.x.VM.remove_from_other_config(self.vm, "dup")
        # the key is compared in its canonical spelling (enum keys are case-blind)
        self.x.VM.add_to_blocked_operations(self.vm, "start", "no")
        self.both(["MAP_DUPLICATE_KEY", "VM", "blocked_operations", self.vm_uuid, "start"],
                  "VM.add_to_blocked_operations", s, self.vm, "START", "again")
        self.x.VM.remove_from_blocked_operations(self.vm, "start")

    def test_session_invalid(self):
        bad = "OpaqueRef:11111111-1111-1111-1111-111111111111"
        self.both(["SESSION_INVALID", bad], "VM.get_all", bad)
        self.both(["SESSION_INVALID", "nonsense"], "VM.get_record", "nonsense", self.vm)
        # a logged-out session
        r = self.raw("session.login_with_password", "root", PASSWORD)
        s = r["Value"]
        self.assertEqual(self.raw("session.logout", s)["Status"], "Success")
        self.both(["SESSION_INVALID", s], "VM.get_all", s)
        self.both(["SESSION_INVALID", s], "session.logout", s)
        # a session given where a session must be, even of the wrong type
        r = self.raw("VM.get_all", 42)
        self.assertEqual(r["Status"], "Failure")
        self.assertEqual(r["ErrorDescription"][0], "SESSION_INVALID")
        # no session at all where one is needed
        self.assertEqual(self.raw("VM.get_all")["ErrorDescription"][0], "SESSION_INVALID")

    def test_session_authentication_failed(self):
        for user, pw in [("root", "wrong"), ("nobody", PASSWORD), ("", "")]:
            r = self.raw("session.login_with_password", user, pw)
            self.assertEqual(r["Status"], "Failure")
            d = r["ErrorDescription"]
            self.assertEqual(len(d), 3)
            self.assertEqual(d[:2], ["SESSION_AUTHENTICATION_FAILED", user])
            self.assertTrue(d[2])
            if pw:
                self.assertNotIn(pw, d[2])
        with self.assertRaises(XenAPI.Failure) as cm:
            self.d.session(password="wrong")
        self.assertEqual(failure(cm.exception)[:2], ["SESSION_AUTHENTICATION_FAILED", "root"])
        j = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "session.login_with_password",
                                    "params": ["root", "wrong"], "id": 1})
        self.assertEqual(j["error"]["message"], "SESSION_AUTHENTICATION_FAILED")
        self.assertEqual(j["error"]["data"][0], "root")

    def test_event_from_token_parse_failure(self):
        s = self.session.handle
        for token in ["garbage", "-1", "1.5", "12abc", " 1"]:
            self.both(["EVENT_FROM_TOKEN_PARSE_FAILURE", token], "event.from", s, ["*"], token, 0.0)

    def test_session_not_registered(self):
        s = self.raw("session.login_with_password", "root", PASSWORD)["Value"]
        self.both(["SESSION_NOT_REGISTERED", s], "event.next", s)
        self.raw("session.logout", s)


class EventsLost(DaemonCase):
    options = {"event_log_size": 8}

    def test_events_lost(self):
        s = self.session.handle
        token = getattr(self.x.event, "from")(["*"], "", 0.0)["token"]
        vm = self.x.VM.create({"name_label": "churn"})
        for i in range(40):
            self.x.VM.set_name_label(vm, "churn-%d" % i)
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "event.from", "params": [s, ["*"], token, 0.0],
                                    "id": 1})
        self.assertEqual(r["error"], {"code": 1, "message": "EVENTS_LOST", "data": []})
        with xmlrpc.client.ServerProxy(self.d.url) as p:
            self.assertEqual(getattr(p, "event.from")(s, ["*"], token, 0.0),
                             {"Status": "Failure", "ErrorDescription": ["EVENTS_LOST"]})
            # event.next of a session registered before the loss: EVENTS_LOST once, then it carries on
            s2 = p.session.login_with_password("root", PASSWORD)["Value"]
            self.assertEqual(getattr(p, "event.register")(s2, ["vm"])["Status"], "Success")
            for i in range(40):
                self.x.VM.set_name_label(vm, "again-%d" % i)
            self.assertEqual(getattr(p, "event.next")(s2), {"Status": "Failure", "ErrorDescription": ["EVENTS_LOST"]})
            self.x.VM.set_name_label(vm, "after")
            r = getattr(p, "event.next")(s2)
            self.assertEqual(r["Status"], "Success")
            self.assertEqual(r["Value"][-1]["snapshot"]["name_label"], "after")
            p.session.logout(s2)
        # a fresh start is always possible
        fresh = getattr(self.x.event, "from")(["vm"], "", 0.0)
        self.assertIn(vm, [e["ref"] for e in fresh["events"]])
