"""The XenAPI on the wire (SPEC section 4): the XML-RPC envelope and types byte for
byte as xapi writes them, every input spelling, JSON-RPC v1 and v2 with curl, /RPC2,
the unix socket, system.listMethods, and malformed requests of every kind answered
cleanly while the daemon keeps serving."""

import json
import re
import threading
import time
import xmlrpc.client

from support import (PASSWORD, DaemonCase, curl_json, http_post, parse_response, raw_exchange,
                     status_of, unix_proxy, xml_body_raw, xml_call_raw)

REF = r"OpaqueRef:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def success_body(value_xml):
    return ("<methodResponse><params><param><value><struct>"
            "<member><name>Status</name><value>Success</value></member>"
            "<member><name>Value</name>%s</member>"
            "</struct></value></param></params></methodResponse>" % value_xml)


def call_xml(method, *params_xml):
    return ("<?xml version=\"1.0\"?><methodCall><methodName>%s</methodName><params>%s</params></methodCall>"
            % (method, "".join("<param>%s</param>" % p for p in params_xml)))


class XmlRpcEnvelope(DaemonCase):

    def setUp(self):
        self.s = self.session.handle
        self.vm = self.x.VM.create({"name_label": "wire"})

    def tearDown(self):
        self.x.VM.destroy(self.vm)
        super().tearDown()

    def value_xml(self, method, *params):
        """The <value> of a successful call, as the daemon wrote it."""
        text = xml_call_raw(self.d.port, method, self.s, *params)
        m = re.search(r"<member><name>Value</name>(.*)</member></struct></value></param>", text, re.S)
        self.assertIsNotNone(m, text)
        self.assertIn(success_body(m.group(1)), text)
        return m.group(1)

    def test_login_answer_is_the_success_struct(self):
        status, headers, body = http_post(self.d.port, "/", xmlrpc.client.dumps(("root", PASSWORD),
                                                                                  "session.login_with_password"))
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/xml"))
        text = body.decode()
        self.assertTrue(text.startswith("<?xml version=\"1.0\"?>"), text[:100])
        self.assertRegex(text, re.escape(success_body("XX")).replace("XX", "<value>" + REF + "</value>"))
        self.assertNotIn("<fault>", text)
        # and it logs out cleanly, void coming back as the empty string (gen_server.ml:
        # Rpc.String "", which ocaml-rpc writes <value></value>)
        ref = parse_response(text)["Value"]
        text = xml_call_raw(self.d.port, "session.logout", ref)
        self.assertIn(success_body("<value></value>"), text)

    def test_ints_are_bare_strings(self):
        self.assertEqual(self.value_xml("VM.get_VCPUs_max", self.vm), "<value>1</value>")
        self.assertEqual(self.value_xml("VM.get_domid", self.vm), "<value>-1</value>")
        self.assertEqual(self.value_xml("VM.get_memory_static_max", self.vm), "<value>268435456</value>")
        # which a XenAPI client reads as a string
        self.assertEqual(self.x.VM.get_VCPUs_max(self.vm), "1")

    def test_strings_enums_refs_are_bare(self):
        self.assertEqual(self.value_xml("VM.get_name_label", self.vm), "<value>wire</value>")
        self.assertEqual(self.value_xml("VM.get_power_state", self.vm), "<value>Halted</value>")
        self.assertEqual(self.value_xml("VM.get_affinity", self.vm), "<value>OpaqueRef:NULL</value>")
        self.x.VM.set_name_label(self.vm, "a <b> & c")
        self.assertEqual(self.value_xml("VM.get_name_label", self.vm), "<value>a &lt;b&gt; &amp; c</value>")

    def test_bool_double_datetime(self):
        self.assertEqual(self.value_xml("VM.get_is_a_template", self.vm), "<value><boolean>0</boolean></value>")
        self.x.VM.set_is_a_template(self.vm, True)
        self.assertEqual(self.value_xml("VM.get_is_a_template", self.vm), "<value><boolean>1</boolean></value>")
        self.x.VM.set_is_a_template(self.vm, False)
        self.assertEqual(self.value_xml("VM.get_HVM_shadow_multiplier", self.vm), "<value><double>1</double></value>")
        self.x.VM.set_HVM_shadow_multiplier(self.vm, 2.5)
        self.assertEqual(self.value_xml("VM.get_HVM_shadow_multiplier", self.vm),
                         "<value><double>2.5</double></value>")
        self.assertEqual(self.value_xml("VM.get_snapshot_time", self.vm),
                         "<value><dateTime.iso8601>19700101T00:00:00Z</dateTime.iso8601></value>")
        v = self.value_xml("session.get_last_active", self.s)
        self.assertRegex(v, r"^<value><dateTime.iso8601>\d{8}T\d\d:\d\d:\d\dZ</dateTime.iso8601></value>$")
        # the XenAPI form reads as a datetime in Python, and it is now-ish (UTC)
        when = self.x.session.get_last_active(self.s)
        self.assertIsInstance(when, xmlrpc.client.DateTime)
        t = time.mktime(time.strptime(when.value, "%Y%m%dT%H:%M:%SZ")) - time.timezone
        self.assertLess(abs(t - time.time()), 3600)

    def test_sets_maps_records(self):
        self.assertEqual(self.value_xml("VM.get_tags", self.vm), "<value><array><data></data></array></value>")
        self.x.VM.add_tags(self.vm, "t1")
        self.assertEqual(self.value_xml("VM.get_tags", self.vm),
                         "<value><array><data><value>t1</value></data></array></value>")
        self.assertEqual(self.value_xml("VM.get_other_config", self.vm), "<value><struct></struct></value>")
        self.x.VM.add_to_other_config(self.vm, "k", "v")
        self.assertEqual(self.value_xml("VM.get_other_config", self.vm),
                         "<value><struct><member><name>k</name><value>v</value></member></struct></value>")
        rec = self.value_xml("VM.get_record", self.vm)
        self.assertIn("<member><name>power_state</name><value>Halted</value></member>", rec)
        self.assertIn("<member><name>hardware_platform_version</name><value>0</value></member>", rec)
        self.assertIn("<member><name>VCPUs_max</name><value>1</value></member>", rec)
        self.assertIn("<member><name>has_vendor_device</name><value><boolean>0</boolean></value></member>", rec)

    def test_void_is_an_empty_value(self):
        self.assertEqual(self.value_xml("VM.set_name_label", self.vm, "x"), "<value></value>")
        self.assertEqual(self.x.VM.set_name_label(self.vm, "y"), "")

    def test_failure_is_a_struct_not_a_fault(self):
        text = xml_call_raw(self.d.port, "VM.get_record", self.s, "OpaqueRef:bad")
        self.assertIn("<methodResponse><params><param><value><struct>"
                      "<member><name>Status</name><value>Failure</value></member>"
                      "<member><name>ErrorDescription</name><value><array><data>"
                      "<value>HANDLE_INVALID</value><value>VM</value><value>OpaqueRef:bad</value>"
                      "</data></array></value></member></struct></value></param></params></methodResponse>", text)
        self.assertNotIn("fault", text)
        # a parameter-less error is just the code
        text = xml_call_raw(self.d.port, "event.from", self.s, ["*"], "garbage", 0.0)
        self.assertIn("<value>EVENT_FROM_TOKEN_PARSE_FAILURE</value><value>garbage</value></data>", text)

    def test_every_input_spelling_of_an_int(self):
        for spelling, want in [("<value>5</value>", "5"), ("<value><string>6</string></value>", "6"),
                               ("<value><int>7</int></value>", "7"), ("<value><i4>8</i4></value>", "8"),
                               ("<value><i8>9000000000</i8></value>", "9000000000"),
                               ("<value><i4> 10 </i4></value>", "10")]:
            text = xml_body_raw(self.d.port, call_xml("VM.set_user_version", "<value>%s</value>" % self.s,
                                                      "<value>%s</value>" % self.vm, spelling))
            self.assertEqual(parse_response(text)["Status"], "Success", text)
            self.assertEqual(self.x.VM.get_user_version(self.vm), want, spelling)

    def test_other_input_spellings(self):
        calls = [("VM.set_is_a_template", "<value><boolean>1</boolean></value>", True),
                 ("VM.set_is_a_template", "<value><boolean>0</boolean></value>", False),
                 ("VM.set_HVM_shadow_multiplier", "<value><double>3.25</double></value>", 3.25),
                 ("VM.set_HVM_shadow_multiplier", "<value><int>4</int></value>", 4.0),
                 ("VM.set_HVM_shadow_multiplier", "<value>1.5</value>", 1.5),
                 ("VM.set_name_label", "<value><string>typed</string></value>", "typed"),
                 ("VM.set_name_label", "<value></value>", ""),
                 ("VM.set_name_label", "<value>\n  spaced \n</value>", "\n  spaced \n"),
                 ("VM.set_actions_after_crash", "<value>RESTART</value>", "restart"),
                 ("VM.set_tags", "<value><array><data><value>a</value><value><string>b</string></value>"
                                 "</data></array></value>", ["a", "b"]),
                 ("VM.set_other_config", "<value><struct><member><name>k</name><value>v</value></member>"
                                         "</struct></value>", {"k": "v"})]
        # a bool is a boolean (ocaml-rpc bool_of_rpc): the string is refused
        text = xml_body_raw(self.d.port, call_xml("VM.set_is_a_template", "<value>%s</value>" % self.s,
                                                  "<value>%s</value>" % self.vm, "<value>false</value>"))
        self.assertEqual(parse_response(text)["ErrorDescription"], ["FIELD_TYPE_ERROR", "value"])
        for method, spelling, want in calls:
            text = xml_body_raw(self.d.port, call_xml(method, "<value>%s</value>" % self.s,
                                                      "<value>%s</value>" % self.vm, spelling))
            self.assertEqual(parse_response(text)["Status"], "Success", (method, spelling, text))
            got = getattr(self.x.VM, "get_" + method[len("VM.set_"):])(self.vm)
            self.assertEqual(got, want, (method, spelling))

    def test_rpc2_path(self):
        text = xml_call_raw(self.d.port, "VM.get_name_label", self.s, self.vm, path="/RPC2")
        self.assertIn(success_body("<value>wire</value>"), text)

    def test_non_ascii_round_trip(self):
        name = "caf\u00e9 \u65e5\u672c \U0001F600"
        self.x.VM.set_name_label(self.vm, name)
        self.assertEqual(self.x.VM.get_name_label(self.vm), name)
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.get_name_label", "params": [self.s, self.vm],
                                    "id": 1})
        self.assertEqual(r["result"], name)

    def test_large_value_round_trip(self):
        big = "x" * (1 << 20)
        self.x.VM.set_name_description(self.vm, big)
        self.assertEqual(self.x.VM.get_name_description(self.vm), big)

    def test_keep_alive_connection_serves_many_calls(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        for i in range(50):
            c.request("POST", "/", body=xmlrpc.client.dumps((self.s, self.vm), "VM.get_name_label"),
                      headers={"Content-Type": "text/xml"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(parse_response(r.read().decode())["Value"], "wire")
        c.close()


class JsonRpc(DaemonCase):

    def test_v2_envelope_with_curl(self):
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "session.login_with_password",
                                    "params": ["root", PASSWORD, "2.21", "curl"], "id": 7})
        self.assertEqual(set(r), {"jsonrpc", "result", "id"})
        self.assertEqual(r["jsonrpc"], "2.0")
        self.assertEqual(r["id"], 7)
        self.assertRegex(r["result"], "^" + REF + "$")
        s = r["result"]
        vm = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.create", "params": [s, {"name_label": "j"}],
                                     "id": "a"})
        self.assertEqual(vm["id"], "a")
        rec = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.get_record", "params": [s, vm["result"]],
                                      "id": None})["result"]
        self.assertEqual(rec["name_label"], "j")
        # JSON has types: ints are numbers, bools booleans, floats floats
        self.assertEqual(rec["VCPUs_max"], 1)
        self.assertIs(rec["is_a_template"], False)
        self.assertEqual(rec["HVM_shadow_multiplier"], 1.0)
        self.assertEqual(rec["other_config"], {})
        self.assertEqual(rec["tags"], [])
        self.assertRegex(rec["snapshot_time"], r"^\d{8}T\d\d:\d\d:\d\dZ$")
        # void is "" in JSON too (gen_server.ml: Rpc.String "")
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.destroy", "params": [s, vm["result"]], "id": 3})
        self.assertEqual(r, {"jsonrpc": "2.0", "result": "", "id": 3})

    def test_v2_errors(self):
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.get_record",
                                    "params": [self.session.handle, "OpaqueRef:nope"], "id": 9})
        self.assertEqual(r, {"jsonrpc": "2.0", "id": 9,
                             "error": {"code": 1, "message": "HANDLE_INVALID", "data": ["VM", "OpaqueRef:nope"]}})
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "session.login_with_password",
                                    "params": ["root", "wrong"], "id": 10})
        self.assertEqual(r["error"]["message"], "SESSION_AUTHENTICATION_FAILED")
        self.assertEqual(r["error"]["data"][0], "root")
        self.assertEqual(len(r["error"]["data"]), 2)

    def test_v1_envelope(self):
        r = curl_json(self.d.port, {"method": "session.login_with_password", "params": ["root", PASSWORD], "id": 1})
        self.assertEqual(set(r), {"result", "error", "id"})
        self.assertIsNone(r["error"])
        self.assertEqual(r["id"], 1)
        s = r["result"]
        r = curl_json(self.d.port, {"method": "VM.get_record", "params": [s, "OpaqueRef:nope"], "id": 2})
        self.assertIsNone(r["result"])
        self.assertEqual(r["id"], 2)
        self.assertEqual(r["error"], ["HANDLE_INVALID", "VM", "OpaqueRef:nope"])
        r = curl_json(self.d.port, {"method": "session.logout", "params": [s], "id": 3})
        self.assertEqual(r, {"result": "", "error": None, "id": 3})

    def test_sessions_are_shared_between_protocols(self):
        s = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "session.login_with_password",
                                    "params": ["root", PASSWORD], "id": 1})["result"]
        text = xml_call_raw(self.d.port, "VM.get_all", s)
        self.assertEqual(parse_response(text)["Status"], "Success")
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "pool.get_all", "params": [self.session.handle],
                                    "id": 2})
        self.assertEqual(r["result"], self.x.pool.get_all())
        # a logout through one is a logout through the other
        xml_call_raw(self.d.port, "session.logout", s)
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.get_all", "params": [s], "id": 3})
        self.assertEqual(r["error"]["message"], "SESSION_INVALID")
        self.assertEqual(r["error"]["data"], [s])

    def test_strings_must_be_utf8_and_keep_their_nul(self):
        s = self.session.handle
        vm = self.x.VM.create({"name_label": "utf8"})
        raw = ('{"jsonrpc": "2.0", "method": "VM.set_name_label", "params": ["%s", "%s", "bad\xff"], "id": 1}'
               % (s, vm)).encode("latin-1")
        status, _, data = http_post(self.d.port, "/jsonrpc", raw, {"Content-Type": "application/json"})
        self.assertEqual(json.loads(data)["error"]["code"], -32700)
        self.assertEqual(self.x.VM.get_name_label(vm), "utf8")
        # JSON can carry a NUL: it is kept, not cut off
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.set_name_label", "params": [s, vm, "a\u0000b"],
                                    "id": 2})
        self.assertIsNone(r.get("error"))
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.get_name_label", "params": [s, vm], "id": 3})
        self.assertEqual(r["result"], "a\u0000b")
        self.x.VM.destroy(vm)

    def test_bad_requests(self):
        r = curl_json(self.d.port, "{not json")
        self.assertEqual(r["error"]["code"], -32700)
        self.assertIsNone(r["id"])
        for payload in ['[1, 2]', '"a string"', '{"jsonrpc": "2.0", "id": 4}',
                        '{"jsonrpc": "2.0", "method": 5, "id": 4}',
                        '{"jsonrpc": "2.0", "method": "VM.get_all", "params": {"s": 1}, "id": 4}']:
            r = curl_json(self.d.port, payload)
            self.assertEqual(r["error"]["code"], -32600, payload)
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "VM.fly", "params": [], "id": 5})
        self.assertEqual(r["error"], {"code": 1, "message": "MESSAGE_METHOD_UNKNOWN", "data": ["VM.fly"]})
        # params left out: an empty list
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "system.listMethods", "id": 6})
        self.assertIn("VM.get_record", r["result"])
        # the daemon still serves
        self.assertTrue(self.x.pool.get_all())


class UnixSocket(DaemonCase):

    def test_xmlrpc_over_the_unix_socket(self):
        p = unix_proxy(self.d.unix_socket)
        r = p.session.login_with_password("root", PASSWORD)
        self.assertEqual(r["Status"], "Success")
        s = r["Value"]
        # keep-alive over the socket, and sessions shared with TCP
        for _ in range(5):
            self.assertEqual(p.pool.get_all(s)["Value"], self.x.pool.get_all())
        self.assertEqual(self.x.session.get_auth_user_name(s), "root")
        self.assertEqual(p.session.logout(s)["Status"], "Success")
        p("close")()

    def test_the_socket_is_private(self):
        import os
        import stat
        st = os.stat(self.d.unix_socket)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(st.st_mode & 0o077, 0, oct(st.st_mode))

    def test_jsonrpc_over_the_unix_socket_with_curl(self):
        r = curl_json(self.d.unix_socket, {"jsonrpc": "2.0", "method": "session.login_with_password",
                                           "params": ["root", PASSWORD], "id": 1}, unix=True)
        self.assertRegex(r["result"], "^" + REF + "$")
        r = curl_json(self.d.unix_socket, {"jsonrpc": "2.0", "method": "host.get_all", "params": [r["result"]],
                                           "id": 2}, unix=True)
        self.assertEqual(r["result"], self.x.host.get_all())


class SystemListMethods(DaemonCase):

    def test_list_methods_needs_no_session(self):
        # xapi (ocaml/xapi/api_server.ml) writes listMethods's result bare, no {Status, Value},
        # and lists the synchronous wire names only (ocaml/idl/ocaml_backend/gen_server.ml)
        with self.d.proxy() as p:
            methods = p.system.listMethods()
        self.assertIsInstance(methods, list)
        self.assertEqual(len(methods), len(set(methods)))
        for m in ["session.login_with_password", "session.logout", "VM.get_record", "VM.get_all_records_where",
                  "event.from", "event.next", "event.register", "event.unregister", "event.inject", "task.cancel",
                  "host.get_by_uuid", "pool.get_all", "VM.start"]:
            self.assertIn(m, methods)
        for m in methods:
            self.assertFalse(m.startswith("Async.") or m.startswith("system."), m)
        # the same list by JSON-RPC, as its result
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "system.listMethods", "params": [], "id": 1})
        self.assertEqual(sorted(r["result"]), sorted(methods))
        r = curl_json(self.d.port, {"method": "system.listMethods", "params": [], "id": 1})
        self.assertEqual(r["error"], None)
        self.assertEqual(sorted(r["result"]), sorted(methods))

    def test_list_methods_bytes(self):
        # the exact envelope of xapi's callback: methodResponse/params/param/<array>
        body = xml_body_raw(self.d.port, "<?xml version='1.0'?><methodCall><methodName>system.listMethods"
                                         "</methodName><params/></methodCall>")
        self.assertRegex(body, r"<methodResponse>\s*<params>\s*<param>\s*<value>\s*<array>")
        self.assertNotIn("Status", body)

    def test_is_alive(self):
        # gen_server.ml: system.isAlive:<anything> answers its first parameter
        with self.d.proxy() as p:
            self.assertEqual(getattr(p, "system.isAlive:x")("ping"), {"Status": "Success", "Value": "ping"})


class MalformedRequests(DaemonCase):
    """Each bad request gets a clean answer, and the daemon goes on serving."""

    def assertServing(self):
        self.assertEqual(self.x.pool.get_all(), self.x.pool.get_all())
        r = curl_json(self.d.port, {"jsonrpc": "2.0", "method": "pool.get_all", "params": [self.session.handle],
                                    "id": 1})
        self.assertIn("result", r)

    def test_garbage_xml_bodies(self):
        for body in [b"garbage", b"<methodCall>", b"<methodCall><methodName>x</methodName><params><param>"
                     b"<value><int>nan</int></value></param></params></methodCall>",
                     b"\xff\xfe\x00<", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
                     b"<methodCall><methodName>&e;</methodName></methodCall>", b""]:
            status, headers, data = http_post(self.d.port, "/", body)
            self.assertEqual(status, 200, body)
            env = parse_response(data.decode())
            self.assertEqual(env["Status"], "Failure", body)
            self.assertEqual(env["ErrorDescription"][0], "XMLRPC_UNMARSHAL_FAILURE", body)
            self.assertEqual(len(env["ErrorDescription"]), 3)
            self.assertNotIn("root:", data.decode())
        deep = "<value><array><data>" * 5000 + "</data></array></value>" * 5000
        status, _, data = http_post(self.d.port, "/", call_xml("VM.get_all", deep))
        self.assertEqual(parse_response(data.decode())["ErrorDescription"][0], "XMLRPC_UNMARSHAL_FAILURE")
        self.assertServing()

    def test_http_errors(self):
        port = self.d.port
        # a body larger than max-request-size announced: refused before it is read
        resp = raw_exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                                  b"Content-Length: 99999999999\r\n\r\n<methodCall>")
        self.assertEqual(status_of(resp), 413, resp[:200])
        # no Content-Length
        resp = raw_exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n\r\n<methodCall/>",
                            shut_write=True)
        self.assertEqual(status_of(resp), 411, resp[:200])
        # a garbage Content-Length: refused (400, as RFC 9110 says for a malformed one)
        resp = raw_exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        self.assertIn(status_of(resp), (400, 411), resp[:200])
        # chunked: no XenAPI client sends it
        resp = raw_exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(status_of(resp), 411, resp[:200])
        # a method with no API: xapi's answers (test_http_routing has them all)
        resp = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status_of(resp), 403, resp[:200])
        # any other path is XML-RPC, as xapi's: here a body that is not XML-RPC
        resp = raw_exchange(port, b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        self.assertEqual(status_of(resp), 200, resp[:200])
        self.assertIn(b"<methodResponse>", resp)
        # not HTTP at all
        resp = raw_exchange(port, b"\x00\x01\x02 hello\r\n\r\n", read_timeout=5)
        self.assertNotEqual(status_of(resp), 200)
        self.assertServing()

    def test_truncated_body(self):
        # Content-Length promises more than comes, then the client goes away
        resp = raw_exchange(self.d.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<methodCall>",
                            read_timeout=3, shut_write=True)
        self.assertNotEqual(status_of(resp), 200)
        self.assertServing()

    def test_a_stalled_client_does_not_block_others(self):
        # a client that sends half a request and waits holds only its own connection
        import socket
        stalled = []
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", self.d.port))
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<methodCall>")
            stalled.append(s)
        try:
            t0 = time.time()
            for _ in range(10):
                self.assertServing()
            self.assertLess(time.time() - t0, 10)
        finally:
            for s in stalled:
                s.close()
        self.assertServing()

    def test_many_bad_requests_in_parallel(self):
        errors = []

        def hammer():
            try:
                for i in range(20):
                    status, _, data = http_post(self.d.port, "/jsonrpc" if i % 2 else "/", b"\x00garbage%d" % i)
                    if status != 200:
                        errors.append(status)
            except Exception as e:  # noqa: BLE001  (collected and asserted below)
                errors.append(repr(e))
        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertServing()

    def test_json_garbage_on_the_xml_path_and_back(self):
        status, _, data = http_post(self.d.port, "/", json.dumps({"method": "pool.get_all", "params": []}))
        self.assertEqual(parse_response(data.decode())["ErrorDescription"][0], "XMLRPC_UNMARSHAL_FAILURE")
        status, _, data = http_post(self.d.port, "/jsonrpc", xmlrpc.client.dumps((), "pool.get_all"))
        self.assertEqual(json.loads(data)["error"]["code"], -32700)
        self.assertServing()
