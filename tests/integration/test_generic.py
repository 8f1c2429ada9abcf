"""Every generic message on every class, generated from system.listMethods and
datamodel/datamodel.xml, called through XenAPI.py as shipped by Debian: get_<field>
for every field, set_/add_to_/remove_from_/add_/remove_ for every writable field of
an object of each class that has one, get_record, get_all, get_all_records,
get_all_records_where, get_by_uuid, get_by_name_label, create and destroy."""

import re
import xmlrpc.client

from support import DaemonCase, XenAPI, failure, load_datamodel, plain

ENUMS, CLASSES, ERRORS = load_datamodel()
TABLES = {n: c for n, c in CLASSES.items() if c.table}
# the classes with get_all/get_all_records(_where): not session, whose refs are
# credentials (xapi's expose_get_all_messages_for, ocaml/idl/datamodel.ml)
LISTED = {n: c for n, c in TABLES.items() if c.get_all}
REF = re.compile(r"^OpaqueRef:[0-9a-f-]{36}$")


def split_type(t):
    """'map(string, set(int))' -> ('map', ['string', 'set(int)'])"""
    m = re.match(r"^(set|map)\((.*)\)$", t)
    if not m:
        return t, []
    inner, depth, parts, cur = m.group(2), 0, [], ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    parts.append(cur.strip())
    return m.group(1), parts


class Generic(DaemonCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        x = cls.x
        with xmlrpc.client.ServerProxy(cls.d.url) as p:
            cls.methods = set(p.system.listMethods())
        cls.vm = x.VM.create({"name_label": "generic", "other_config": {"made-by": "test_generic"}})
        cls.task = x.task.create("generic-task", "made by test_generic")
        host = x.host.get_all()[0]
        cls.objects = {"session": cls.session.handle, "pool": x.pool.get_all()[0], "host": host,
                       "host_metrics": x.host.get_metrics(host), "VM": cls.vm, "task": cls.task}
        metrics = x.VM.get_metrics(cls.vm)
        if metrics != "OpaqueRef:NULL":
            cls.objects["VM_metrics"] = metrics
        for name in LISTED:
            if name not in cls.objects:
                refs = getattr(x, name).get_all()
                if refs:
                    cls.objects[name] = refs[0]

    # ---- helpers ----
    def api(self, cls_name):
        return getattr(self.x, cls_name)

    def declared(self, cls_name, message):
        return message in CLASSES[cls_name].messages

    def generic_setter(self, k, f):
        """The field has a generated set_ (RW, not custom, not replaced by a declared message)."""
        return f.qualifier == "RW" and not f.custom_setter and not self.declared(k.name, "set_" + f.name)

    def check_type(self, t, v, where):
        kind, args = split_type(t)
        if kind == "set":
            self.assertIsInstance(v, list, where)
            for e in v:
                self.check_type(args[0], e, where)
        elif kind == "map":
            self.assertIsInstance(v, dict, where)
            for kk, vv in v.items():
                self.check_scalar_text(args[0], kk, where)
                self.check_type(args[1], vv, where)
        elif t == "int":
            self.assertIsInstance(v, str, where)
            self.assertRegex(v, r"^-?\d+$", where)
        elif t == "float":
            self.assertIsInstance(v, float, where)
        elif t == "bool":
            self.assertIsInstance(v, bool, where)
        elif t == "datetime":
            self.assertIsInstance(v, xmlrpc.client.DateTime, where)
            self.assertRegex(v.value, r"^\d{8}T\d\d:\d\d:\d\dZ$", where)
        elif t.startswith("enum "):
            self.assertIn(v, ENUMS[t[5:]], where)
        elif t.startswith("ref "):
            self.assertTrue(v == "OpaqueRef:NULL" or REF.match(v), (where, v))
        else:
            self.assertIsInstance(v, str, where)

    def check_scalar_text(self, t, s, where):
        self.assertIsInstance(s, str, where)
        if t == "int":
            self.assertRegex(s, r"^-?\d+$", where)
        elif t.startswith("enum "):
            self.assertIn(s, ENUMS[t[5:]], where)

    def new_value(self, t, current, k=None):
        """A value of type t different from current, and what reading it back gives."""
        kind, args = split_type(t)
        if kind == "set":
            a, wa = self.new_value(args[0], None)
            b, wb = self.new_value(args[0], a)
            return [a, b], [wa, wb]
        if kind == "map":
            key, wkey = self.new_key(args[0])
            val, wval = self.new_value(args[1], None)
            return {key: val}, {wkey: wval}
        if t == "int":
            n = int(current or 0) + 7
            return str(n), str(n)
        if t == "float":
            v = (current or 0.0) + 1.25
            return v, v
        if t == "bool":
            return (not current), (not current)
        if t == "datetime":
            return "20200102T03:04:05Z", "20200102T03:04:05Z"
        if t.startswith("enum "):
            values = ENUMS[t[5:]]
            v = next(x for x in values if x != current)
            return v.upper(), v  # any case in, the declared spelling out
        if t.startswith("ref "):
            target = self.objects.get(t[4:])
            v = target if target and target != current else "OpaqueRef:NULL"
            return v, v
        v = "set \u00e9 <&> %s" % (current or "")
        return v[:200], v[:200]

    def new_key(self, t):
        if t == "int":
            return "007", "7"
        if t.startswith("enum "):
            v = ENUMS[t[5:]][1]
            return v.upper(), v
        return "key-\u00e9", "key-\u00e9"

    def record(self, cls_name, ref):
        return plain(self.api(cls_name).get_record(ref))

    # ---- the message list ----
    def test_list_methods_names_every_generic_message(self):
        for name, k in TABLES.items():
            with self.subTest(cls=name):
                expect = {"get_record", "get_by_uuid"}
                listing = {"get_all", "get_all_records", "get_all_records_where"}
                if k.get_all:
                    expect |= listing
                else:
                    for m in listing:
                        self.assertNotIn("%s.%s" % (name, m), self.methods)
                if k.field("name_label"):
                    expect.add("get_by_name_label")
                if k.create or "create" in k.messages:
                    expect.add("create")
                if k.destroy or "destroy" in k.messages:
                    expect.add("destroy")
                for f in k.fields:
                    expect.add("get_" + f.name)
                    if self.generic_setter(k, f):
                        expect.add("set_" + f.name)
                        kind, _ = split_type(f.type)
                        if kind == "map":
                            expect |= {"add_to_" + f.name, "remove_from_" + f.name}
                        elif kind == "set":
                            expect |= {"add_" + f.name, "remove_" + f.name}
                for m in expect:
                    self.assertIn("%s.%s" % (name, m), self.methods)
                # nothing writes a read-only field unless the datamodel declares the message
                for f in k.fields:
                    if f.qualifier != "RW" or f.custom_setter:
                        for prefix in ("set_", "add_to_", "remove_from_", "add_", "remove_"):
                            m = prefix + f.name
                            if not self.declared(name, m):
                                self.assertNotIn("%s.%s" % (name, m), self.methods)
        # and nothing is listed that neither the generator nor a declaration explains
        for m in self.methods:
            cls_name, _, msg = m.partition(".")
            self.assertIn(cls_name, CLASSES, m)
            k = CLASSES[cls_name]
            generated = msg in ("get_record", "get_all", "get_all_records", "get_all_records_where",
                                "get_by_uuid", "get_by_name_label", "create", "destroy") or any(
                msg in ("get_" + f.name, "set_" + f.name, "add_to_" + f.name, "remove_from_" + f.name,
                        "add_" + f.name, "remove_" + f.name) for f in k.fields)
            self.assertTrue(generated or msg in k.messages, m)
        # an RO field's setter is an unknown method
        self.assertFailure(["MESSAGE_METHOD_UNKNOWN", "VM.set_power_state"], self.x.VM.set_power_state, self.vm,
                           "Running")

    # ---- reading ----
    def test_get_every_field_of_every_object(self):
        for name, k in TABLES.items():
            ref = self.objects.get(name)
            if not ref:
                continue
            with self.subTest(cls=name):
                rec = self.api(name).get_record(ref)
                # exactly the datamodel's fields, in its order
                self.assertEqual(list(rec), [f.name for f in k.fields])
                for f in k.fields:
                    self.check_type(f.type, rec[f.name], "%s.%s" % (name, f.name))
                    if "get_" + f.name in k.messages:
                        continue  # a getter the datamodel declares (VM.get_virtual_hardware): its own tests
                    got = plain(getattr(self.api(name), "get_" + f.name)(ref))
                    if got != plain(rec[f.name]):  # a field the daemon itself updates: read again
                        rec = self.api(name).get_record(ref)
                    self.assertEqual(got, plain(rec[f.name]), "%s.get_%s" % (name, f.name))
                self.assertEqual(self.api(name).get_uuid(ref), rec["uuid"])

    def test_getters_of_a_missing_object(self):
        bad = "OpaqueRef:deadbeef-0000-0000-0000-000000000000"
        for name, k in TABLES.items():
            with self.subTest(cls=name):
                self.assertFailure(["HANDLE_INVALID", name, bad], self.api(name).get_record, bad)
                for f in k.fields:
                    self.assertFailure(["HANDLE_INVALID", name, bad], getattr(self.api(name), "get_" + f.name), bad)

    def test_get_all_and_get_all_records(self):
        for name in LISTED:
            with self.subTest(cls=name):
                refs = self.api(name).get_all()
                self.assertIsInstance(refs, list)
                self.assertEqual(len(refs), len(set(refs)))
                for r in refs:
                    self.assertRegex(r, REF)
                if name in self.objects:
                    self.assertIn(self.objects[name], refs)
                recs = self.api(name).get_all_records()
                self.assertEqual(set(recs), set(refs))
                for r, rec in recs.items():
                    self.assertEqual(list(rec), [f.name for f in TABLES[name].fields])
                    self.assertEqual(rec["uuid"], self.api(name).get_uuid(r))
                if name in self.objects and name != "host_metrics":
                    self.assertEqual(plain(recs[self.objects[name]]), self.record(name, self.objects[name]))

    def test_get_by_uuid(self):
        for name in TABLES:
            with self.subTest(cls=name):
                refs = self.api(name).get_all() if name in LISTED else [self.objects[name]] if name in self.objects else []
                for ref in refs:
                    self.assertEqual(self.api(name).get_by_uuid(self.api(name).get_uuid(ref)), ref)
                self.assertFailure(["UUID_INVALID", name, "00000000-0000-0000-0000-00000000abcd"],
                                   self.api(name).get_by_uuid, "00000000-0000-0000-0000-00000000abcd")

    def test_get_by_name_label(self):
        for name, k in TABLES.items():
            if not k.field("name_label"):
                self.assertNotIn(name + ".get_by_name_label", self.methods)
                continue
            with self.subTest(cls=name):
                for ref in self.api(name).get_all() if name in LISTED else []:
                    label = self.api(name).get_name_label(ref)
                    self.assertIn(ref, self.api(name).get_by_name_label(label))
                self.assertEqual(self.api(name).get_by_name_label("no object is called this"), [])
        # several objects may share a label
        a = self.x.VM.create({"name_label": "twin"})
        b = self.x.VM.create({"name_label": "twin"})
        self.assertEqual(set(self.x.VM.get_by_name_label("twin")), {a, b})
        self.x.VM.destroy(a)
        self.x.VM.destroy(b)

    def test_get_all_records_where(self):
        for name, k in LISTED.items():
            ref = self.objects.get(name)
            if not ref:
                self.assertEqual(self.api(name).get_all_records_where("true"), {})
                continue
            with self.subTest(cls=name):
                api = self.api(name)
                uuid = api.get_uuid(ref)
                allrefs = set(api.get_all())
                one = api.get_all_records_where('field "uuid" = "%s"' % uuid)
                self.assertEqual(list(one), [ref])
                self.assertEqual(one[ref]["uuid"], uuid)
                self.assertEqual(set(api.get_all_records_where('not (field "uuid" = "%s")' % uuid)),
                                 allrefs - {ref})
                self.assertEqual(set(api.get_all_records_where("true")), allrefs)
                self.assertEqual(api.get_all_records_where("false"), {})
                self.assertEqual(api.get_all_records_where('field "uuid" = "%s" and false' % uuid), {})
                self.assertEqual(set(api.get_all_records_where('false or field "uuid" = "%s"' % uuid)), {ref})
                self.assertEqual(set(api.get_all_records_where('"a" = "a"')), allrefs)
                if k.field("name_label"):
                    label = api.get_name_label(ref)
                    got = api.get_all_records_where('field "name__label" = "%s"' % label.replace('"', '\\"'))
                    self.assertIn(ref, got)
                    for r in got.values():
                        self.assertEqual(r["name_label"], label)
        # other types compare by their wire text; and/or/not nest with brackets
        vm = self.x.VM.create({"name_label": "where-me", "VCPUs_max": "3", "VCPUs_at_startup": "3"})
        self.x.VM.set_is_a_template(vm, True)
        # xapi's grammar (db_filter_parse.mly): and/or left to right, not takes the rest
        got = self.x.VM.get_all_records_where('field "is_a_template" = "true" and field "VCPUs_max" = "3" and '
                                              '(field "name__label" = "nope" or field "power_state" = "Halted")')
        self.assertEqual(list(got), [vm])
        self.x.VM.set_is_a_template(vm, False)
        self.x.VM.destroy(vm)
        # INVALID_VALUE [expr, OCaml's Printexc text] (ocaml/xapi/exnHelper.ml)
        parse, lex = "Stdlib.Parsing.Parse_error", 'Failure("lexing: empty token")'
        for bad, why in [('field "uuid" =', parse), ('field uuid = "x"', lex), ('(true', parse), ('true true', parse),
                         ('field "uuid" ~ "x"', lex), ('"x', lex), ('field "uuid" <> "x"', lex)]:
            self.assertFailure(["INVALID_VALUE", bad, why], self.x.VM.get_all_records_where, bad)
        self.assertFailure(["INTERNAL_ERROR", "missing field", "nope", ""], self.x.VM.get_all_records_where,
                           'field "nope" = "x"')

    # ---- writing ----
    def test_set_every_writable_field(self):
        for name, k in TABLES.items():
            ref = self.objects.get(name)
            if not ref:
                continue
            api = self.api(name)
            for f in k.fields:
                if not self.generic_setter(k, f):
                    continue
                with self.subTest(field="%s.%s" % (name, f.name)):
                    before = getattr(api, "get_" + f.name)(ref)
                    value, want = self.new_value(f.type, plain(before), k)
                    self.assertEqual(getattr(api, "set_" + f.name)(ref, value), "")
                    self.assertEqual(plain(getattr(api, "get_" + f.name)(ref)), want)
                    self.assertEqual(plain(api.get_record(ref)[f.name]), want)
                    # a value of the wrong type changes nothing: a list for a scalar, text
                    # for anything else that is not text
                    wrong = ["a list"] if split_type(f.type)[0] not in ("set", "map") else "not a value"
                    with self.assertRaises(XenAPI.Failure) as cm:
                        getattr(api, "set_" + f.name)(ref, wrong)
                    self.assertEqual(failure(cm.exception), ["FIELD_TYPE_ERROR", "value"])
                    self.assertEqual(plain(getattr(api, "get_" + f.name)(ref)), want)
                    getattr(api, "set_" + f.name)(ref, before)
                    self.assertEqual(getattr(api, "get_" + f.name)(ref), before)

    def test_add_to_and_remove_from_every_writable_map(self):
        for name, k in TABLES.items():
            ref = self.objects.get(name)
            if not ref:
                continue
            api = self.api(name)
            uuid = api.get_uuid(ref)
            for f in k.fields:
                kind, args = split_type(f.type)
                if kind != "map" or not self.generic_setter(k, f):
                    continue
                with self.subTest(field="%s.%s" % (name, f.name)):
                    before = getattr(api, "get_" + f.name)(ref)
                    key, wkey = self.new_key(args[0])
                    val, wval = self.new_value(args[1], None)
                    self.assertNotIn(wkey, before)
                    self.assertEqual(getattr(api, "add_to_" + f.name)(ref, key, val), "")
                    got = plain(getattr(api, "get_" + f.name)(ref))
                    self.assertEqual(got[wkey], wval)
                    self.assertEqual(len(got), len(before) + 1)
                    self.assertFailure(["MAP_DUPLICATE_KEY", name, f.name, uuid, wkey],
                                       getattr(api, "add_to_" + f.name), ref, key, val)
                    # the key as add_to_ was given it: the same key ("START" is "start", "007" is "7")
                    self.assertEqual(getattr(api, "remove_from_" + f.name)(ref, key), "")
                    self.assertEqual(getattr(api, "get_" + f.name)(ref), before)
                    # removing a key that is not there is no error, as in xapi
                    self.assertEqual(getattr(api, "remove_from_" + f.name)(ref, wkey), "")
                    self.assertEqual(getattr(api, "get_" + f.name)(ref), before)

    def test_add_and_remove_on_every_writable_set(self):
        for name, k in TABLES.items():
            ref = self.objects.get(name)
            if not ref:
                continue
            api = self.api(name)
            for f in k.fields:
                kind, args = split_type(f.type)
                if kind != "set" or not self.generic_setter(k, f):
                    continue
                with self.subTest(field="%s.%s" % (name, f.name)):
                    before = plain(getattr(api, "get_" + f.name)(ref))
                    val, want = self.new_value(args[0], None)
                    self.assertNotIn(want, before)
                    self.assertEqual(getattr(api, "add_" + f.name)(ref, val), "")
                    self.assertEqual(plain(getattr(api, "get_" + f.name)(ref)), before + [want])
                    # a set holds a value once
                    getattr(api, "add_" + f.name)(ref, val)
                    self.assertEqual(plain(getattr(api, "get_" + f.name)(ref)), before + [want])
                    self.assertEqual(getattr(api, "remove_" + f.name)(ref, want), "")
                    self.assertEqual(plain(getattr(api, "get_" + f.name)(ref)), before)
                    getattr(api, "remove_" + f.name)(ref, want)
                    self.assertEqual(plain(getattr(api, "get_" + f.name)(ref)), before)

    # ---- create and destroy ----
    def test_create_takes_defaults_and_destroy_forgets(self):
        for name, k in TABLES.items():
            if "create" not in k.messages and not k.create:
                continue
            if name != "VM":
                continue  # the only class with a record constructor so far
            with self.subTest(cls=name):
                api = self.api(name)
                ref = api.create({"name_label": "made", "name_description": "by the generic test"})
                rec = api.get_record(ref)
                self.assertEqual(rec["name_label"], "made")
                self.assertEqual(rec["name_description"], "by the generic test")
                for f in k.fields:
                    if f.qualifier == "DynamicRO" or f.name in ("name_label", "name_description") or \
                            f.default is None:
                        continue
                    kind, _ = split_type(f.type)
                    want = f.default
                    got = plain(rec[f.name])
                    if kind in ("set", "map"):
                        import json
                        want = json.loads(want)
                        if kind == "set":
                            want = [str(w) if isinstance(w, int) else w for w in want]
                    elif f.type == "float":
                        want = float(want)
                    elif f.type == "bool":
                        want = want == "true"
                    self.assertEqual(got, want, "default of %s.%s" % (name, f.name))
                self.assertIn(ref, api.get_all())
                uuid = rec["uuid"]
                self.assertEqual(api.destroy(ref), "")
                self.assertNotIn(ref, api.get_all())
                self.assertFailure(["HANDLE_INVALID", name, ref], api.get_record, ref)
                self.assertFailure(["UUID_INVALID", name, uuid], api.get_by_uuid, uuid)
                self.assertFailure(["HANDLE_INVALID", name, ref], api.destroy, ref)

    def test_create_refuses_unknown_and_ill_typed_fields(self):
        self.assertFailure(["FIELD_TYPE_ERROR", "memory_static_max"], self.x.VM.create,
                           {"name_label": "bad", "memory_static_max": "lots"})
        self.assertFailure(["INVALID_VALUE", "actions_after_crash", "explode"], self.x.VM.create,
                           {"name_label": "bad", "actions_after_crash": "explode"})
        self.assertEqual(self.x.VM.get_by_name_label("bad"), [])

    def test_create_and_destroy_a_task(self):
        t = self.x.task.create("mine", "a client's own task")
        rec = self.x.task.get_record(t)
        self.assertEqual((rec["name_label"], rec["name_description"], rec["status"]),
                         ("mine", "a client's own task", "pending"))
        self.assertNotIn("session", rec)  # internal in xapi: a session ref is a credential
        self.assertIn(t, self.x.session.get_tasks(self.session.handle))
        self.x.task.destroy(t)
        self.assertNotIn(t, self.x.task.get_all())
