"""Issue 16: what xapi answers, row by row, over XML-RPC and JSON-RPC (v1 and v2).
Each row is a request and the exact structure xapi would answer, from its source:
ocaml/idl/ocaml_backend/gen_server.ml (the dispatcher: listMethods, isAlive, defaulted
parameters, void as ""), ocaml/xapi/server_helpers.ml (Async. stripped, Fault),
ocaml-rpc's X_of_rpc (strict types), ocaml/database/db_filter_lex.mll and
db_filter_parse.mly with db_filter.ml (get_all_records_where), ocaml/xapi/xapi_event.ml
(event.from's token), ocaml/idl/datamodel.ml (session: no get_all, no events)."""

import xmlrpc.client

from support import PASSWORD, DaemonCase, curl_json


class XapiWire(DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vm = cls.x.VM.create({"name_label": "xapi-wire"})

    def xml(self, method, *params):
        with xmlrpc.client.ServerProxy(self.d.url) as p:
            return getattr(p, method)(*params)

    def json2(self, method, *params):
        return curl_json(self.d.port, {"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})

    def json1(self, method, *params):
        return curl_json(self.d.port, {"method": method, "params": list(params), "id": 1})

    def check(self, method, params, value=None, error=None):
        """The row's answer on all three wires: value, or error [code, params...]."""
        if error is None:
            self.assertEqual(self.xml(method, *params), {"Status": "Success", "Value": value}, method)
            self.assertEqual(self.json2(method, *params)["result"], value, method)
            j1 = self.json1(method, *params)
            self.assertEqual((j1["result"], j1["error"]), (value, None), method)
        else:
            self.assertEqual(self.xml(method, *params), {"Status": "Failure", "ErrorDescription": error}, method)
            self.assertEqual(self.json2(method, *params)["error"],
                             {"code": 1, "message": error[0], "data": error[1:]}, method)
            j1 = self.json1(method, *params)
            self.assertEqual((j1["result"], j1["error"]), (None, error), method)

    def test_rows(self):
        s, vm = self.session.handle, self.vm
        fault = "No async mode for this operation (rpc: %s)"
        rows = [
            # void is "" on every wire (gen_server.ml: Rpc.String "")
            ("VM.set_name_label", [s, vm, "renamed"], "", None),
            ("VM.set_other_config", [s, vm, {"k": "v"}], "", None),
            # a bool is a boolean (ocaml-rpc bool_of_rpc); ints travel as their text
            ("VM.set_is_a_template", [s, vm, "true"], None, ["FIELD_TYPE_ERROR", "value"]),
            ("VM.set_is_a_template", [s, vm, 1], None, ["FIELD_TYPE_ERROR", "value"]),
            ("VM.set_is_a_template", [s, vm, False], "", None),
            ("VM.set_user_version", [s, vm, "3"], "", None),
            ("VM.set_user_version", [s, vm, True], None, ["FIELD_TYPE_ERROR", "value"]),
            ("VM.set_HVM_shadow_multiplier", [s, vm, "1.5"], "", None),
            ("VM.create", [s, {"name_label": "x", "is_a_template": "false"}], None,
             ["FIELD_TYPE_ERROR", "is_a_template"]),
            # Async. stripped before the message is named (server_helpers.ml)
            ("Async.VM.fly", [s], None, ["MESSAGE_METHOD_UNKNOWN", "VM.fly"]),
            ("Async.VM.get_record", [s], None, ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"]),
            ("Async.VM.get_record", [s, vm], None, ["Fault", fault % "VM.get_record"]),
            ("Async.pool.get_all", [s], None, ["Fault", fault % "pool.get_all"]),
            ("Async.task.create", [s, "a", "b"], None, ["Fault", fault % "task.create"]),
            # a message with defaulted parameters takes trailing extras (gen_server.ml)
            ("session.login_with_password", ["root", "wrong", "1.0", "me", "extra"], None,
             ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"]),
            ("VM.get_name_label", [s, vm, "extra"], None,
             ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_name_label", "1", "2"]),
            # system.isAlive:<x> answers its first parameter
            ("system.isAlive:probe", ["ping"], "ping", None),
        ]
        for method, params, value, error in rows:
            with self.subTest(method=method, params=params):
                self.check(method, params, value, error)

    def test_filter_rows(self):
        # get_all_records_where: and/or of one precedence, left to right; not takes all
        # to its right; no <>; a parse failure is INVALID_VALUE [expr, Printexc's text];
        # an unknown field INTERNAL_ERROR ["missing field", f, ""] (db_filter.ml)
        s = self.session.handle
        self.x.VM.set_name_label(self.vm, "xapi-wire")
        lex, parse = 'Failure("lexing: empty token")', "Stdlib.Parsing.Parse_error"
        rows = [
            ('field "name__label" = "no such VM"', {}, None),
            # (A or true) and false, not A or (true and false)
            ('field "name__label" = "xapi-wire" or true and false', {}, None),
            # not (true or true)
            ("not true or true", {}, None),
            ('field "name__label" <> "x"', None, lex),
            ("(true", None, parse),
            ("true true", None, parse),
            ('field "name__label" = ', None, parse),
            ('field "no_such_field" = "x"', None, "missing"),
        ]
        for expr, value, error in rows:
            with self.subTest(expr=expr):
                if error == "missing":
                    self.check("VM.get_all_records_where", [s, expr], None,
                               ["INTERNAL_ERROR", "missing field", "no_such_field", ""])
                elif error:
                    self.check("VM.get_all_records_where", [s, expr], None, ["INVALID_VALUE", expr, error])
                else:
                    self.check("VM.get_all_records_where", [s, expr], value)

    def test_session_and_event_rows(self):
        # sessions are credentials: no way to list them (datamodel.ml: session has
        # no get_all nor events); a token xapi cannot read (xapi_event.ml)
        s = self.session.handle
        rows = [
            ("session.get_all", [s], None, ["MESSAGE_METHOD_UNKNOWN", "session.get_all"]),
            ("session.get_all_records", [s], None, ["MESSAGE_METHOD_UNKNOWN", "session.get_all_records"]),
            ("session.get_all_records_where", [s, "true"], None,
             ["MESSAGE_METHOD_UNKNOWN", "session.get_all_records_where"]),
            ("event.from", [s, ["vm"], "not a token", 0.0], None,
             ["EVENT_FROM_TOKEN_PARSE_FAILURE", "not a token"]),
            ("session.get_this_user", [s, s], "OpaqueRef:NULL", None),
        ]
        for method, params, value, error in rows:
            with self.subTest(method=method, params=params):
                self.check(method, params, value, error)

    def test_login_with_a_fifth_parameter(self):
        r = self.xml("session.login_with_password", "root", PASSWORD, "1.0", "me", "extra")
        self.assertEqual(r["Status"], "Success")
        self.assertEqual(self.xml("session.logout", r["Value"]), {"Status": "Success", "Value": ""})

    def test_async_create_and_destroy_exist(self):
        # the generic constructor and destructor run as tasks (datamodel_utils.ml)
        t = self.x.Async.VM.create({"name_label": "async-made"})
        self.assertRegex(t, r"^OpaqueRef:")
        from support import wait_until
        wait_until(lambda: self.x.task.get_status(t) != "pending", what="the task")
        self.assertEqual(self.x.task.get_status(t), "success")
        for v in self.x.VM.get_by_name_label("async-made"):
            t2 = self.x.Async.VM.destroy(v)
            wait_until(lambda: self.x.task.get_status(t2) != "pending", what="the task")
            self.assertEqual(self.x.task.get_status(t2), "success")
