/* The datamodel at run time (defaults, dm_coerce, lookups), the tables dmgen
 * generated from datamodel/datamodel.xml, and dmgen refusing broken datamodels.
 * Run from the top of the checkout (make test-unit does): it reads
 * datamodel/datamodel.xml, build/gen/dm_gen.h and runs build/dmgen. */
#include <ctype.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dm.h"
#include "dm_gen.h"
#include "util.h"
#include "wire.h"
#include "unit.h"

static const char *datamodel_path(void)
{
    const char *p = getenv("DATAMODEL");
    return p ? p : "datamodel/datamodel.xml";
}

static const char *dmgen_path(void)
{
    const char *p = getenv("DMGEN");
    return p ? p : "build/dmgen";
}

/* Does v have the shape of type t, in canonical form? */
static bool has_shape(const struct dm_type *t, const xv *v)
{
    switch (t->kind) {
    case DM_STRING: return v->type == XV_STRING;
    case DM_INT: return v->type == XV_INT;
    case DM_FLOAT: return v->type == XV_FLOAT;
    case DM_BOOL: return v->type == XV_BOOL;
    case DM_DATETIME: {
        time_t tt;
        return v->type == XV_DATETIME && time_from_xapi(v->u.str.s, &tt);
    }
    case DM_ENUM:
        if (v->type != XV_STRING)
            return false;
        for (size_t i = 0; i < t->enm->n; i++)
            if (strcmp(t->enm->values[i], v->u.str.s) == 0)
                return true;
        return false;
    case DM_REF: return v->type == XV_STRING && (str_eq(v->u.str.s, REF_NULL) || ref_is_wellformed(v->u.str.s));
    case DM_SET:
        if (v->type != XV_ARRAY)
            return false;
        for (size_t i = 0; i < v->u.arr.n; i++)
            if (!has_shape(t->elem, v->u.arr.v[i]))
                return false;
        return true;
    case DM_MAP:
        if (v->type != XV_STRUCT)
            return false;
        for (size_t i = 0; i < v->u.st.n; i++)
            if (!has_shape(t->val, v->u.st.m[i].val))
                return false;
        return true;
    }
    return false;
}

/* ---- defaults ---- */

START_TEST(test_every_default_coerces)
{
    size_t checked = 0;
    for (size_t i = 0; i < dm_nclasses; i++) {
        const struct dm_class *c = &dm_classes[i];
        for (size_t j = 0; j < c->nfields; j++) {
            const struct dm_field *f = &c->fields[j];
            xv *raw = NULL, *canon = NULL;
            xerr *e = wire_json_parse(f->default_json, strlen(f->default_json), &raw);
            ck_assert_msg(e == NULL, "%s.%s: default %s is not JSON", c->name, f->name, f->default_json);
            e = dm_coerce(f->type, raw, f->name, &canon);
            ck_assert_msg(e == NULL, "%s.%s: default %s is not a %s: %s", c->name, f->name, f->default_json,
                          f->type->spelling, e ? e->code : "");
            ck_assert_msg(has_shape(f->type, canon), "%s.%s: default has the wrong shape", c->name, f->name);
            xv *d = dm_default(f);
            ck_assert_msg(xv_equal(d, canon), "%s.%s: dm_default differs from the declared default", c->name,
                          f->name);
            /* a fresh copy each time */
            xv *d2 = dm_default(f);
            ck_assert_ptr_ne(d, d2);
            xv_free(d2);
            xv_free(d);
            xv_free(canon);
            xv_free(raw);
            /* the zero value has the shape of the type too */
            xv *z = dm_zero(f->type);
            ck_assert_msg(has_shape(f->type, z), "%s.%s: zero value has the wrong shape", c->name, f->name);
            xv_free(z);
            checked++;
        }
    }
    ck_assert_uint_gt(checked, 100);
}
END_TEST

START_TEST(test_declared_defaults)
{
    /* the defaults SPEC and xapi give, read through the generated tables */
    xv *v = dm_default(DMF_VM_power_state);
    ck_assert_str_eq(xv_str(v), "Halted");
    xv_free(v);
    v = dm_default(DMF_VM_hardware_platform_version);
    ck_assert(v->type == XV_INT && v->u.i == 0);
    xv_free(v);
    v = dm_default(DMF_VM_has_vendor_device);
    ck_assert(v->type == XV_BOOL && !v->u.b);
    xv_free(v);
    v = dm_default(DMF_host_virtual_hardware_platform_versions);
    ck_assert(v->type == XV_ARRAY && v->u.arr.n == 1 && v->u.arr.v[0]->type == XV_INT && v->u.arr.v[0]->u.i == 0);
    xv_free(v);
    v = dm_default(DMF_VM_domid);
    ck_assert_int_eq(v->u.i, -1);
    xv_free(v);
    v = dm_default(DMF_VM_HVM_shadow_multiplier);
    ck_assert(v->type == XV_FLOAT && v->u.f == 1.0);
    xv_free(v);
    v = dm_default(DMF_VM_resident_on);
    ck_assert_str_eq(xv_str(v), REF_NULL);
    xv_free(v);
    v = dm_default(DMF_VM_snapshot_time);
    ck_assert_int_eq(v->type, XV_DATETIME);
    ck_assert_str_eq(v->u.str.s, "19700101T00:00:00Z");
    xv_free(v);
}
END_TEST

/* ---- dm_coerce ---- */

static void coerce_ok(const struct dm_type *t, xv *in, xv *want)
{
    xv *out = NULL;
    xerr *e = dm_coerce(t, in, "f", &out);
    ck_assert_msg(e == NULL, "%s refused: %s", t->spelling, e ? e->code : "");
    ck_assert_msg(xv_equal(out, want), "%s: wrong canonical value", t->spelling);
    xv_free(out);
    xv_free(in);
    xv_free(want);
}

static void coerce_fails(const struct dm_type *t, xv *in, const char *code, const char *param2)
{
    xv *out = (xv *)1;
    xerr *e = dm_coerce(t, in, "the_field", &out);
    ck_assert_msg(e != NULL, "%s accepted a bad value", t->spelling);
    ck_assert_str_eq(e->code, code);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(e->params[0], "the_field");
    if (param2) {
        ck_assert_uint_eq(e->nparams, 2);
        ck_assert_str_eq(e->params[1], param2);
    } else {
        ck_assert_uint_eq(e->nparams, 1);
    }
    xerr_free(e);
    xv_free(in);
}

static xv *strs(const char *a, const char *b)
{
    xv *arr = xv_array();
    if (a)
        xv_array_push(arr, xv_string(a));
    if (b)
        xv_array_push(arr, xv_string(b));
    return arr;
}

static xv *map1(const char *k, xv *v)
{
    xv *m = xv_struct();
    xv_struct_append(m, k, v);
    return m;
}

START_TEST(test_coerce_scalars)
{
    const struct dm_type *str = DMF_VM_name_label->type, *i = DMF_VM_VCPUs_max->type,
                         *fl = DMF_VM_HVM_shadow_multiplier->type, *b = DMF_VM_is_a_template->type,
                         *dt = DMF_VM_snapshot_time->type, *ref = DMF_VM_affinity->type;
    ck_assert_int_eq(str->kind, DM_STRING);
    ck_assert_int_eq(i->kind, DM_INT);
    ck_assert_int_eq(fl->kind, DM_FLOAT);
    ck_assert_int_eq(b->kind, DM_BOOL);
    ck_assert_int_eq(dt->kind, DM_DATETIME);
    ck_assert_int_eq(ref->kind, DM_REF);

    coerce_ok(str, xv_string("x"), xv_string("x"));
    coerce_ok(str, xv_stringn("a\0b", 3), xv_stringn("a\0b", 3));
    coerce_fails(str, xv_int(1), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(str, xv_nil(), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(str, xv_array(), "FIELD_TYPE_ERROR", NULL);
    coerce_ok(ref, xv_string("OpaqueRef:NULL"), xv_string("OpaqueRef:NULL"));
    coerce_fails(ref, xv_bool(true), "FIELD_TYPE_ERROR", NULL);

    /* ints: typed, or decimal text (xapi's clients send them as strings) */
    coerce_ok(i, xv_int(5), xv_int(5));
    coerce_ok(i, xv_string("42"), xv_int(42));
    coerce_ok(i, xv_string("-9223372036854775808"), xv_int(INT64_MIN));
    coerce_fails(i, xv_string("1.5"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(i, xv_string(""), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(i, xv_string(" 1"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(i, xv_string("9223372036854775808"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(i, xv_string("ten"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(i, xv_float(1.0), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(i, xv_bool(true), "FIELD_TYPE_ERROR", NULL);

    coerce_ok(fl, xv_float(0.5), xv_float(0.5));
    coerce_ok(fl, xv_int(2), xv_float(2.0));
    coerce_ok(fl, xv_string("2.25"), xv_float(2.25));
    coerce_ok(fl, xv_string("1e2"), xv_float(100.0));
    coerce_fails(fl, xv_string(""), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(fl, xv_string("abc"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(fl, xv_string("inf"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(fl, xv_string("nan"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(fl, xv_string("1.5x"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(fl, xv_bool(false), "FIELD_TYPE_ERROR", NULL);

    coerce_ok(b, xv_bool(true), xv_bool(true));
    coerce_ok(b, xv_string("true"), xv_bool(true));
    coerce_ok(b, xv_string("False"), xv_bool(false));
    coerce_ok(b, xv_string("1"), xv_bool(true));
    coerce_ok(b, xv_string("0"), xv_bool(false));
    coerce_fails(b, xv_string("maybe"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(b, xv_string(""), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(b, xv_int(1), "FIELD_TYPE_ERROR", NULL);

    coerce_ok(dt, xv_datetime_str("20250319T04:16:24Z"), xv_datetime_str("20250319T04:16:24Z"));
    coerce_ok(dt, xv_string("20250319T04:16:24Z"), xv_datetime_str("20250319T04:16:24Z"));
    coerce_ok(dt, xv_string("2025-03-19T04:16:24Z"), xv_datetime_str("20250319T04:16:24Z"));
    coerce_ok(dt, xv_string("20250319T04:16:24"), xv_datetime_str("20250319T04:16:24Z"));
    coerce_fails(dt, xv_string("20250319"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(dt, xv_string("soon"), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(dt, xv_int(0), "FIELD_TYPE_ERROR", NULL);
}
END_TEST

START_TEST(test_coerce_enums)
{
    const struct dm_type *ps = DMF_VM_power_state->type;
    ck_assert_int_eq(ps->kind, DM_ENUM);
    ck_assert_str_eq(ps->enm->name, "vm_power_state");
    /* any case in, the declared spelling out */
    coerce_ok(ps, xv_string("Running"), xv_string("Running"));
    coerce_ok(ps, xv_string("running"), xv_string("Running"));
    coerce_ok(ps, xv_string("HALTED"), xv_string("Halted"));
    coerce_fails(ps, xv_string("Exploded"), "INVALID_VALUE", "Exploded");
    coerce_fails(ps, xv_string(""), "INVALID_VALUE", "");
    coerce_fails(ps, xv_int(1), "FIELD_TYPE_ERROR", NULL);

    /* a set of enums: each element checked and fixed; a set holds each value once */
    const struct dm_type *ops = DMF_VM_allowed_operations->type;
    coerce_ok(ops, strs("START", "clone"), strs("start", "clone"));
    coerce_ok(ops, strs("start", "Start"), strs("start", NULL));
    coerce_fails(ops, strs("start", "fly"), "INVALID_VALUE", "fly");
    coerce_fails(ops, xv_string("start"), "FIELD_TYPE_ERROR", NULL);

    /* a map with enum keys: the keys are fixed too */
    const struct dm_type *blocked = DMF_VM_blocked_operations->type;
    ck_assert_int_eq(blocked->key->kind, DM_ENUM);
    coerce_ok(blocked, map1("CLEAN_SHUTDOWN", xv_string("no")), map1("clean_shutdown", xv_string("no")));
    coerce_fails(blocked, map1("fly", xv_string("no")), "INVALID_VALUE", "fly");
    coerce_fails(blocked, map1("start", xv_int(1)), "FIELD_TYPE_ERROR", NULL);
}
END_TEST

START_TEST(test_coerce_collections)
{
    const struct dm_type *tags = DMF_VM_tags->type, *oc = DMF_VM_other_config->type,
                         *vers = DMF_host_virtual_hardware_platform_versions->type,
                         *util = DMF_VM_metrics_VCPUs_utilisation->type, *flags = DMF_VM_metrics_VCPUs_flags->type;
    ck_assert_int_eq(tags->kind, DM_SET);
    ck_assert_int_eq(oc->kind, DM_MAP);
    ck_assert(dm_is_map_or_set(tags) && dm_is_map_or_set(oc) && !dm_is_map_or_set(DMF_VM_uuid->type));

    coerce_ok(tags, xv_array(), xv_array());
    coerce_ok(tags, strs("a", "a"), strs("a", NULL));
    xv *mixed = strs("a", NULL);
    xv_array_push(mixed, xv_int(1));
    coerce_fails(tags, mixed, "FIELD_TYPE_ERROR", NULL);
    coerce_fails(tags, xv_struct(), "FIELD_TYPE_ERROR", NULL);

    /* set(int) from the strings a XenAPI client sends */
    xv *want = xv_array();
    xv_array_push(want, xv_int(0));
    xv_array_push(want, xv_int(1));
    coerce_ok(vers, strs("0", "1"), want);
    coerce_fails(vers, strs("0", "one"), "FIELD_TYPE_ERROR", NULL);

    coerce_ok(oc, map1("k", xv_string("v")), map1("k", xv_string("v")));
    coerce_fails(oc, map1("k", xv_int(1)), "FIELD_TYPE_ERROR", NULL);
    coerce_fails(oc, xv_array(), "FIELD_TYPE_ERROR", NULL);

    /* map(int, float): keys are canonical decimal text, values floats */
    coerce_ok(util, map1("007", xv_string("0.5")), map1("7", xv_float(0.5)));
    coerce_fails(util, map1("x", xv_float(0.5)), "FIELD_TYPE_ERROR", NULL);
    /* map(int, set(string)) */
    coerce_ok(flags, map1("0", strs("blocked", NULL)), map1("0", strs("blocked", NULL)));
    coerce_fails(flags, map1("0", xv_string("blocked")), "FIELD_TYPE_ERROR", NULL);

    /* the name in errors is the one the caller gives, NULL becomes "" */
    xv *out = NULL, *in = xv_int(3);
    xerr *e = dm_coerce(DMF_VM_name_label->type, in, NULL, &out);
    ck_assert_str_eq(e->code, "FIELD_TYPE_ERROR");
    ck_assert_str_eq(e->params[0], "");
    xerr_free(e);
    xv_free(in);
}
END_TEST

/* ---- lookups and the generated tables ---- */

START_TEST(test_lookups)
{
    ck_assert_ptr_eq(dm_class_find("VM"), DMC_VM);
    ck_assert_ptr_null(dm_class_find("vm"));
    ck_assert_ptr_null(dm_class_find("Nothing"));
    ck_assert_ptr_eq(dm_class_find_lower("vm"), DMC_VM);
    ck_assert_ptr_eq(dm_class_find_lower("VM_GUEST_METRICS"), DMC_VM_guest_metrics);
    ck_assert_ptr_eq(dm_class_find_lower("host_metrics"), DMC_host_metrics);
    ck_assert_ptr_null(dm_class_find_lower("vm_"));
    ck_assert_ptr_eq(dm_field_find(DMC_VM, "power_state"), DMF_VM_power_state);
    ck_assert_ptr_null(dm_field_find(DMC_VM, "Power_state"));
    ck_assert_ptr_null(dm_field_find(DMC_VM, "resident_VMs"));
    ck_assert_ptr_nonnull(dm_message_find(DMC_task, "create"));
    ck_assert_ptr_nonnull(dm_message_find(dm_class_find("event"), "from"));
    ck_assert_ptr_null(dm_message_find(DMC_task, "explode"));
    const struct dm_error *he = dm_error_find("HANDLE_INVALID");
    ck_assert_ptr_nonnull(he);
    ck_assert_uint_eq(he->nparams, 2);
    ck_assert_str_eq(he->params[0], "class");
    ck_assert_ptr_null(dm_error_find("handle_invalid"));
    ck_assert_ptr_null(dm_error_find("NO_SUCH_ERROR"));

    ck_assert_str_eq(dm_field_tag(DMF_VM_name_label), "RW");
    ck_assert_str_eq(dm_field_tag(DMF_VM_power_state), "RO");
    ck_assert_str_eq(dm_field_tag(DMF_VM_other_config), "MRW");
    ck_assert_str_eq(dm_field_tag(DMF_host_resident_VMs), "MRO");

    ck_assert_str_eq(DMF_host_resident_VMs->inverse_class, "VM");
    ck_assert_str_eq(DMF_host_resident_VMs->inverse_field, "resident_on");
    ck_assert(DMF_VM_has_vendor_device->custom_setter);
    ck_assert(!DMF_VM_name_label->custom_setter);

    for (size_t i = 0; i < dm_nclasses; i++) {
        const struct dm_class *c = &dm_classes[i];
        ck_assert_int_eq(c->index, (int)i);
        ck_assert_ptr_eq(dm_class_find(c->name), c);
        ck_assert_ptr_eq(dm_class_find_lower(c->lname), c);
        for (const char *p = c->lname, *q = c->name; *p || *q; p++, q++)
            ck_assert_int_eq(*p, tolower((unsigned char)*q));
        for (size_t j = 0; j < c->nfields; j++) {
            ck_assert_int_eq(c->fields[j].index, (int)j);
            ck_assert_ptr_eq(dm_field_find(c, c->fields[j].name), &c->fields[j]);
        }
        if (c->table)
            ck_assert_msg(dm_field_find(c, "uuid") != NULL, "%s has no uuid", c->name);
    }
    ck_assert_int_eq(dm_api_version_major, 2);
    ck_assert_int_ge(dm_api_version_minor, 0);
}
END_TEST

static char *prop(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? xstrdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static bool is_el(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The generated tables say what datamodel.xml says: every class, field, qualifier,
 * type spelling and error, in order. */
START_TEST(test_tables_match_datamodel)
{
    xmlDoc *doc = xmlReadFile(datamodel_path(), NULL, XML_PARSE_NONET);
    ck_assert_msg(doc != NULL, "cannot read %s", datamodel_path());
    xmlNode *root = xmlDocGetRootElement(doc);
    size_t nclasses = 0, nerrors = 0;
    for (xmlNode *n = root->children; n; n = n->next) {
        if (is_el(n, "class")) {
            _cleanup_free_ char *name = prop(n, "name");
            const struct dm_class *c = dm_class_find(name);
            ck_assert_msg(c != NULL, "class %s is not in the tables", name);
            ck_assert_ptr_eq(c, &dm_classes[nclasses]);
            nclasses++;
            size_t nf = 0, nm = 0;
            for (xmlNode *f = n->children; f; f = f->next) {
                if (is_el(f, "message")) {
                    _cleanup_free_ char *mname = prop(f, "name");
                    ck_assert_msg(dm_message_find(c, mname) != NULL, "%s.%s missing", name, mname);
                    nm++;
                    continue;
                }
                if (!is_el(f, "field"))
                    continue;
                _cleanup_free_ char *fname = prop(f, "name");
                _cleanup_free_ char *type = prop(f, "type");
                _cleanup_free_ char *qual = prop(f, "qualifier");
                const struct dm_field *df = dm_field_find(c, fname);
                ck_assert_msg(df != NULL, "%s.%s is not in the tables", name, fname);
                ck_assert_ptr_eq(df, &c->fields[nf]);
                ck_assert_str_eq(df->type->spelling, type);
                enum dm_qual want = !qual || strcmp(qual, "RW") == 0 ? DM_RW
                                    : strcmp(qual, "StaticRO") == 0  ? DM_STATIC_RO
                                                                     : DM_DYNAMIC_RO;
                ck_assert_msg(df->qual == want, "%s.%s qualifier", name, fname);
                nf++;
            }
            ck_assert_uint_eq(c->nfields, nf);
            ck_assert_uint_eq(c->nmessages, nm);
        } else if (is_el(n, "error")) {
            _cleanup_free_ char *name = prop(n, "name");
            const struct dm_error *e = dm_error_find(name);
            ck_assert_msg(e != NULL, "error %s is not in the tables", name);
            size_t np = 0;
            for (xmlNode *p = n->children; p; p = p->next) {
                if (!is_el(p, "param"))
                    continue;
                _cleanup_free_ char *pname = prop(p, "name");
                ck_assert_uint_lt(np, e->nparams);
                ck_assert_str_eq(e->params[np], pname);
                np++;
            }
            ck_assert_uint_eq(e->nparams, np);
            nerrors++;
        }
    }
    ck_assert_uint_eq(dm_nclasses, nclasses);
    ck_assert_uint_eq(dm_nerrors, nerrors);
    xmlFreeDoc(doc);
}
END_TEST

/* Every declared error has a typed constructor in dm_gen.h with one const char *
 * per parameter, named as declared, and a definition in dm_gen.c. */
START_TEST(test_every_error_has_a_constructor)
{
    _cleanup_free_ char *h = unit_slurp("build/gen/dm_gen.h");
    _cleanup_free_ char *c = unit_slurp("build/gen/dm_gen.c");
    for (size_t i = 0; i < dm_nerrors; i++) {
        const struct dm_error *e = &dm_errors[i];
        buf want;
        buf_init(&want);
        buf_adds(&want, "xerr *err_");
        for (const char *p = e->name; *p; p++)
            buf_addc(&want, (char)tolower((unsigned char)*p));
        buf_addc(&want, '(');
        if (!e->nparams)
            buf_adds(&want, "void");
        for (size_t j = 0; j < e->nparams; j++)
            buf_printf(&want, "%sconst char *%s", j ? ", " : "", e->params[j]);
        buf_addc(&want, ')');
        _cleanup_free_ char *decl = xasprintf("%s;", want.p);
        ck_assert_msg(strstr(h, decl) != NULL, "dm_gen.h lacks %s", decl);
        ck_assert_msg(strstr(c, want.p) != NULL, "dm_gen.c lacks the definition of %s", want.p);
        buf_free(&want);
    }
}
END_TEST

static void expect_err(xerr *e, const char *code, size_t n, ...)
{
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->code, code);
    ck_assert_uint_eq(e->nparams, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_str_eq(e->params[i], va_arg(ap, const char *));
    va_end(ap);
    ck_assert_ptr_nonnull(dm_error_find(code));
    ck_assert_uint_eq(dm_error_find(code)->nparams, n);
    xerr_free(e);
}

START_TEST(test_constructors_build_the_error)
{
    expect_err(err_handle_invalid("VM", "OpaqueRef:x"), "HANDLE_INVALID", 2, "VM", "OpaqueRef:x");
    expect_err(err_uuid_invalid("VM", "u"), "UUID_INVALID", 2, "VM", "u");
    expect_err(err_message_method_unknown("VM.fly"), "MESSAGE_METHOD_UNKNOWN", 1, "VM.fly");
    expect_err(err_message_parameter_count_mismatch("VM.get_record", "1", "2"),
               "MESSAGE_PARAMETER_COUNT_MISMATCH", 3, "VM.get_record", "1", "2");
    expect_err(err_field_type_error("f"), "FIELD_TYPE_ERROR", 1, "f");
    expect_err(err_invalid_value("f", "v"), "INVALID_VALUE", 2, "f", "v");
    expect_err(err_map_duplicate_key("VM", "other_config", "u", "k"), "MAP_DUPLICATE_KEY", 4, "VM",
               "other_config", "u", "k");
    expect_err(err_session_authentication_failed("root", "no"), "SESSION_AUTHENTICATION_FAILED", 2, "root",
               "no");
    expect_err(err_session_invalid("OpaqueRef:s"), "SESSION_INVALID", 1, "OpaqueRef:s");
    expect_err(err_session_not_registered("OpaqueRef:s"), "SESSION_NOT_REGISTERED", 1, "OpaqueRef:s");
    expect_err(err_events_lost(), "EVENTS_LOST", 0);
    expect_err(err_event_from_token_parse_failure("t"), "EVENT_FROM_TOKEN_PARSE_FAILURE", 1, "t");
    expect_err(err_vm_bad_power_state("OpaqueRef:v", "halted", "running"), "VM_BAD_POWER_STATE", 3,
               "OpaqueRef:v", "halted", "running");
    expect_err(err_no_hosts_available(), "NO_HOSTS_AVAILABLE", 0);
    expect_err(err_internal_error("m"), "INTERNAL_ERROR", 1, "m");
    expect_err(err_not_implemented("fn"), "NOT_IMPLEMENTED", 1, "fn");
    expect_err(err_operation_not_allowed("why"), "OPERATION_NOT_ALLOWED", 1, "why");
    expect_err(err_task_cancelled("OpaqueRef:t"), "TASK_CANCELLED", 1, "OpaqueRef:t");
}
END_TEST

/* The codes this datamodel once got wrong, spelt and shaped as xapi's
 * ocaml/idl/datamodel_errors.ml declares them (a client matches on them). */
START_TEST(test_xapi_spellings)
{
    /* xapi: error Api_errors.vm_hvm_required ["vm"] = "VM_HVM_REQUIRED"; there is no
     * VM_REQUIRES_HVM in xapi */
    expect_err(err_vm_hvm_required("OpaqueRef:v"), "VM_HVM_REQUIRED", 1, "OpaqueRef:v");
    ck_assert_ptr_null(dm_error_find("VM_REQUIRES_HVM"));
    /* xapi: error Api_errors.operation_blocked ["ref"; "code"] */
    expect_err(err_operation_blocked("OpaqueRef:v", "start"), "OPERATION_BLOCKED", 2, "OpaqueRef:v", "start");
    ck_assert_str_eq(dm_error_find("OPERATION_BLOCKED")->params[0], "ref");
    ck_assert_str_eq(dm_error_find("OPERATION_BLOCKED")->params[1], "code");
    ck_assert_str_eq(XERR_TASK_CANCELLED, "TASK_CANCELLED");
    /* client-side codes are declared but never documented as server errors */
    ck_assert(dm_error_find("CLI_USAGE")->client);
    ck_assert(!dm_error_find("OPERATION_BLOCKED")->client);
}
END_TEST

/* ---- generated enums and field-handle accessors ---- */

START_TEST(test_generated_enums)
{
    ck_assert_int_eq(VM_POWER_STATE_COUNT, 4);
    ck_assert_uint_eq(DME_vm_power_state->n, VM_POWER_STATE_COUNT);
    ck_assert_str_eq(vm_power_state_name(VM_POWER_STATE_HALTED), "Halted");
    ck_assert_str_eq(vm_power_state_name(VM_POWER_STATE_SUSPENDED), "Suspended");
    ck_assert_str_eq(vm_operations_name(VM_OPERATIONS_CHANGING_VCPUS), "changing_VCPUs");
    ck_assert_str_eq(task_status_type_name(TASK_STATUS_TYPE_CANCELLED), "cancelled");
    enum vm_power_state st = VM_POWER_STATE_HALTED;
    ck_assert(vm_power_state_parse("Running", &st));
    ck_assert_int_eq(st, VM_POWER_STATE_RUNNING);
    ck_assert(vm_power_state_parse("paused", &st)); /* as the wire reads enums */
    ck_assert_int_eq(st, VM_POWER_STATE_PAUSED);
    ck_assert(!vm_power_state_parse("Flying", &st));
    ck_assert(!vm_power_state_parse(NULL, &st));
    ck_assert_int_eq(st, VM_POWER_STATE_PAUSED); /* untouched on failure */
    /* every enum: name and parse are inverse, in declaration order */
    for (size_t i = 0; i < dm_nenums; i++)
        for (size_t j = 0; j < dm_enums[i].n; j++)
            ck_assert_int_eq(dm_enum_parse(&dm_enums[i], dm_enum_name(&dm_enums[i], (int)j)), (int)j);
    /* the field's type points at the same table */
    ck_assert_ptr_eq(DMF_VM_power_state->type->enm, DME_vm_power_state);
}
END_TEST

START_TEST(test_field_accessors)
{
    xv *rec = xv_struct();
    /* absent members read as zero values */
    ck_assert_str_eq(dm_get_str(rec, DMF_VM_name_label), "");
    ck_assert_int_eq(dm_get_int(rec, DMF_VM_domid), 0);
    ck_assert(!dm_get_bool(rec, DMF_VM_is_a_template));
    ck_assert_int_eq(dm_get_enum(rec, DMF_VM_power_state), -1);
    ck_assert_ptr_null(dm_get(rec, DMF_VM_other_config));
    dm_set(rec, DMF_VM_name_label, xv_string("web"));
    dm_set(rec, DMF_VM_domid, xv_int(7));
    dm_set(rec, DMF_VM_is_a_template, xv_bool(true));
    dm_set(rec, DMF_VM_power_state, xv_string("Running"));
    dm_set(rec, DMF_VM_HVM_shadow_multiplier, xv_float(2.5));
    dm_set(rec, DMF_VM_other_config, xv_struct());
    ck_assert_str_eq(dm_get_str(rec, DMF_VM_name_label), "web");
    ck_assert_int_eq(dm_get_int(rec, DMF_VM_domid), 7);
    ck_assert(dm_get_bool(rec, DMF_VM_is_a_template));
    ck_assert_int_eq(dm_get_enum(rec, DMF_VM_power_state), VM_POWER_STATE_RUNNING);
    ck_assert_str_eq(dm_get_str(rec, DMF_VM_power_state), "Running");
    ck_assert(dm_get_float(rec, DMF_VM_HVM_shadow_multiplier) == 2.5);
    ck_assert_int_eq(dm_get(rec, DMF_VM_other_config)->type, XV_STRUCT);
    /* dm_set replaces */
    dm_set(rec, DMF_VM_domid, xv_int(-1));
    ck_assert_int_eq(dm_get_int(rec, DMF_VM_domid), -1);
    ck_assert_uint_eq(rec->u.st.n, 6);
    /* an unknown enum spelling reads as -1 */
    dm_set(rec, DMF_VM_power_state, xv_string("Flying"));
    ck_assert_int_eq(dm_get_enum(rec, DMF_VM_power_state), -1);
    xv_free(rec);
}
END_TEST

/* ---- dmgen refuses broken datamodels ---- */

static char tmpdir[64];

static void mk_tmpdir(void)
{
    unit_tmpdir(tmpdir, sizeof(tmpdir), "dmtest");
}

static void rm_tmpdir(void)
{
    unit_tmpdir_remove(tmpdir);
}

/* Run dmgen on a datamodel; returns its exit status (-1 if it died of a signal)
 * and its standard error in *err. */
static int run_dmgen(const char *xml, char **err)
{
    _cleanup_free_ char *in = xasprintf("%s/dm.xml", tmpdir);
    _cleanup_free_ char *out_c = xasprintf("%s/gen.c", tmpdir);
    _cleanup_free_ char *out_h = xasprintf("%s/gen.h", tmpdir);
    _cleanup_free_ char *errp = xasprintf("%s/stderr", tmpdir);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs(xml, f);
    fclose(f);
    ck_assert_msg(access(dmgen_path(), X_OK) == 0, "%s not built", dmgen_path());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execl(dmgen_path(), dmgen_path(), "--c", out_c, "--h", out_h, in, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    *err = unit_slurp(errp);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define DM_HEAD "<?xml version=\"1.0\"?><datamodel api-version-major=\"2\" api-version-minor=\"21\">" \
                "<enum name=\"colour\"><value name=\"red\"/><value name=\"blue\"/></enum>" \
                "<error name=\"HANDLE_INVALID\"><param name=\"class\"/><param name=\"handle\"/></error>"
#define DM_HOST "<class name=\"host\"><field name=\"uuid\" type=\"string\" qualifier=\"DynamicRO\"/></class>"
#define DM_TAIL "</datamodel>"

START_TEST(test_dmgen_accepts_a_good_datamodel)
{
    mk_tmpdir();
    char *err = NULL;
    int rc = run_dmgen(DM_HEAD DM_HOST
                       "<class name=\"VM\" create=\"yes\">"
                       "<field name=\"uuid\" type=\"string\" qualifier=\"DynamicRO\"/>"
                       "<field name=\"colour\" type=\"enum colour\" default=\"blue\"/>"
                       "<field name=\"n\" type=\"int\" default=\"3\"/>"
                       "<field name=\"tags\" type=\"set(string)\" default='[\"a\"]'/>"
                       "<field name=\"resident_on\" type=\"ref host\" qualifier=\"DynamicRO\"/>"
                       "<message name=\"start\"><param name=\"vm\" type=\"ref VM\"/>"
                       "<error name=\"HANDLE_INVALID\"/></message>"
                       "</class>" DM_TAIL,
                       &err);
    ck_assert_msg(rc == 0, "dmgen refused a good datamodel (%d): %s", rc, err);
    free(err);
    /* and the pieces it wrote name the class */
    _cleanup_free_ char *h = xasprintf("%s/gen.h", tmpdir);
    _cleanup_free_ char *text = unit_slurp(h);
    ck_assert_ptr_nonnull(strstr(text, "DMF_VM_colour"));
    ck_assert_ptr_nonnull(strstr(text, "xerr *err_handle_invalid(const char *class, const char *handle);"));
    rm_tmpdir();
}
END_TEST

static const struct {
    const char *what, *xml, *message;
} broken[] = {
    {"unknown enum",
     DM_HEAD DM_HOST "<class name=\"VM\"><field name=\"uuid\"/><field name=\"c\" type=\"enum flavour\"/></class>" DM_TAIL,
     "unknown enum"},
    {"unknown class in a ref",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"h\" type=\"ref nowhere\"/></class>" DM_TAIL,
     "unknown class"},
    {"duplicate field",
     DM_HEAD DM_HOST "<class name=\"VM\"><field name=\"uuid\"/><field name=\"a\"/><field name=\"a\" type=\"int\"/>"
     "</class>" DM_TAIL,
     "duplicate field"},
    {"duplicate class", DM_HEAD DM_HOST DM_HOST DM_TAIL, "duplicate class"},
    {"duplicate enum",
     DM_HEAD "<enum name=\"colour\"><value name=\"green\"/></enum>" DM_HOST DM_TAIL, "duplicate enum"},
    {"duplicate error",
     DM_HEAD "<error name=\"HANDLE_INVALID\"/>" DM_HOST DM_TAIL, "duplicate error"},
    {"enum values whose C names collide",
     DM_HEAD "<enum name=\"size\"><value name=\"x-large\"/><value name=\"x_large\"/></enum>" DM_HOST DM_TAIL,
     "C name"},
    {"enum value named as the count",
     DM_HEAD "<enum name=\"size\"><value name=\"count\"/></enum>" DM_HOST DM_TAIL, "collides"},
    {"a message with more parameters than the dispatcher holds",
     DM_HEAD "<class name=\"host\"><field name=\"uuid\"/><message name=\"m\"><param name=\"p0\"/><param name=\"p1\"/><param name=\"p2\"/><param name=\"p3\"/><param name=\"p4\"/><param name=\"p5\"/><param name=\"p6\"/><param name=\"p7\"/><param name=\"p8\"/><param name=\"p9\"/><param name=\"p10\"/><param name=\"p11\"/><param name=\"p12\"/><param name=\"p13\"/><param name=\"p14\"/><param name=\"p15\"/><param name=\"p16\"/></message></class>" DM_TAIL,
     "more than 16 parameters"},
    {"a parameter named as a C keyword",
     DM_HEAD "<class name=\"host\"><field name=\"uuid\"/><message name=\"m\"><param name=\"default\"/>"
     "</message></class>" DM_TAIL,
     "cannot be a C member name"},
    {"a duplicate parameter",
     DM_HEAD "<class name=\"host\"><field name=\"uuid\"/><message name=\"m\"><param name=\"a\"/>"
     "<param name=\"a\"/></message></class>" DM_TAIL,
     "duplicate parameter"},
    {"error code that is not an identifier",
     DM_HEAD "<error name=\"bad code\"/>" DM_HOST DM_TAIL, "upper-case identifier"},
    {"inverse of a field that is not a ref back",
     DM_HEAD "<class name=\"host\"><field name=\"uuid\"/>"
     "<field name=\"vms\" type=\"set(ref VM)\" inverse=\"VM.name\"/></class>"
     "<class name=\"VM\"><field name=\"uuid\"/><field name=\"name\"/></class>" DM_TAIL,
     "inverse"},
    {"inverse naming no field",
     DM_HEAD "<class name=\"host\"><field name=\"uuid\"/>"
     "<field name=\"vms\" type=\"set(ref VM)\" inverse=\"VM.resident_on\"/></class>"
     "<class name=\"VM\"><field name=\"uuid\"/></class>" DM_TAIL,
     "inverse"},
    {"inverse that is not a set of refs",
     DM_HEAD "<class name=\"host\"><field name=\"uuid\"/>"
     "<field name=\"vms\" type=\"set(string)\" inverse=\"VM.resident_on\"/></class>"
     "<class name=\"VM\"><field name=\"uuid\"/><field name=\"resident_on\" type=\"ref host\"/></class>" DM_TAIL,
     "set(ref"},
    {"bad qualifier",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\" qualifier=\"ReadMostly\"/></class>" DM_TAIL,
     "qualifier"},
    {"unknown type", DM_HEAD "<class name=\"VM\"><field name=\"uuid\" type=\"strung\"/></class>" DM_TAIL,
     "unknown type"},
    {"junk after a type", DM_HEAD "<class name=\"VM\"><field name=\"uuid\" type=\"string int\"/></class>" DM_TAIL,
     "junk"},
    {"map without a value type",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"m\" type=\"map(string)\"/></class>" DM_TAIL,
     "map"},
    {"map with a set for keys",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"m\" type=\"map(set(string), int)\"/></class>"
     DM_TAIL,
     "scalar"},
    {"records without a uuid", DM_HEAD "<class name=\"VM\"><field name=\"name\"/></class>" DM_TAIL, "uuid"},
    {"a message naming an unknown error",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><message name=\"start\"><error name=\"VM_ON_FIRE\"/>"
     "</message></class>" DM_TAIL,
     "VM_ON_FIRE"},
    {"an optional parameter before a required one",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><message name=\"m\"><param name=\"a\" optional=\"yes\"/>"
     "<param name=\"b\"/></message></class>" DM_TAIL,
     "optional"},
    {"a setter that is not custom",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"a\" setter=\"magic\"/></class>" DM_TAIL,
     "setter"},
    {"a field without a name",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field type=\"int\"/></class>" DM_TAIL, "name"},
    {"an int default that is not an int",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"n\" type=\"int\" default=\"many\"/></class>"
     DM_TAIL,
     "default"},
    {"an enum default that is not a value",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"c\" type=\"enum colour\" default=\"green\"/>"
     "</class>" DM_TAIL,
     "default"},
    {"a set default that is not a set",
     DM_HEAD "<class name=\"VM\"><field name=\"uuid\"/><field name=\"s\" type=\"set(int)\" default='[\"x\"]'/>"
     "</class>" DM_TAIL,
     "default"},
    {"not well-formed XML", DM_HEAD "<class name=\"VM\">" DM_TAIL, "XML"},
};

START_TEST(test_dmgen_refuses_broken_datamodels)
{
    mk_tmpdir();
    const char *what = broken[_i].what;
    char *err = NULL;
    int rc = run_dmgen(broken[_i].xml, &err);
    ck_assert_msg(rc != -1, "dmgen crashed on %s", what);
    ck_assert_msg(rc == 1, "dmgen exited %d on %s (stderr: %s)", rc, what, err);
    ck_assert_msg(strstr(err, broken[_i].message) != NULL, "dmgen on %s said: %s", what, err);
    free(err);
    rm_tmpdir();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("dm");
    TCase *tc = tcase_create("runtime");
    tcase_add_test(tc, test_every_default_coerces);
    tcase_add_test(tc, test_declared_defaults);
    tcase_add_test(tc, test_coerce_scalars);
    tcase_add_test(tc, test_coerce_enums);
    tcase_add_test(tc, test_coerce_collections);
    tcase_add_test(tc, test_lookups);
    suite_add_tcase(s, tc);
    tc = tcase_create("generated");
    tcase_add_test(tc, test_tables_match_datamodel);
    tcase_add_test(tc, test_every_error_has_a_constructor);
    tcase_add_test(tc, test_constructors_build_the_error);
    tcase_add_test(tc, test_xapi_spellings);
    tcase_add_test(tc, test_generated_enums);
    tcase_add_test(tc, test_field_accessors);
    suite_add_tcase(s, tc);
    tc = tcase_create("dmgen");
    tcase_add_test(tc, test_dmgen_accepts_a_good_datamodel);
    tcase_add_loop_test(tc, test_dmgen_refuses_broken_datamodels, 0, (int)(sizeof(broken) / sizeof(broken[0])));
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    xmlInitParser();
    int rc = unit_run(suite());
    xmlCleanupParser();
    return rc;
}
