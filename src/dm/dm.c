#include "dm_gen.h"
#include "log.h"
#include "util.h"
#include "wire.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const struct dm_class *dm_class_find(const char *name)
{
    for (size_t i = 0; i < dm_nclasses; i++)
        if (strcmp(dm_classes[i].name, name) == 0)
            return &dm_classes[i];
    return NULL;
}

const struct dm_class *dm_class_find_lower(const char *lname)
{
    for (size_t i = 0; i < dm_nclasses; i++)
        if (strcasecmp(dm_classes[i].name, lname) == 0)
            return &dm_classes[i];
    return NULL;
}

const struct dm_field *dm_field_find(const struct dm_class *c, const char *name)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i].name, name) == 0)
            return &c->fields[i];
    return NULL;
}

const struct dm_message *dm_message_find(const struct dm_class *c, const char *name)
{
    for (size_t i = 0; i < c->nmessages; i++)
        if (strcmp(c->messages[i].name, name) == 0)
            return &c->messages[i];
    return NULL;
}

const struct dm_error *dm_error_find(const char *code)
{
    for (size_t i = 0; i < dm_nerrors; i++)
        if (strcmp(dm_errors[i].name, code) == 0)
            return &dm_errors[i];
    return NULL;
}

bool dm_is_map_or_set(const struct dm_type *t)
{
    return t->kind == DM_SET || t->kind == DM_MAP;
}

const char *dm_field_tag(const struct dm_field *f)
{
    bool rw = f->qual == DM_RW;
    if (dm_is_map_or_set(f->type))
        return rw ? "MRW" : "MRO";
    return rw ? "RW" : "RO";
}

xv *dm_zero(const struct dm_type *t)
{
    switch (t->kind) {
    case DM_STRING: return xv_string("");
    case DM_INT: return xv_int(0);
    case DM_FLOAT: return xv_float(0.0);
    case DM_BOOL: return xv_bool(false);
    case DM_DATETIME: return xv_datetime(0);
    case DM_ENUM: return xv_string(t->enm->n ? t->enm->values[0] : "");
    case DM_REF: return xv_string(REF_NULL);
    case DM_SET: return xv_array();
    case DM_MAP: return xv_struct();
    }
    return xv_nil();
}

xv *dm_default(const struct dm_field *f)
{
    xv *raw = NULL, *out = NULL;
    xerr *e = wire_json_parse(f->default_json, strlen(f->default_json), &raw);
    if (!e)
        e = dm_coerce(f->type, raw, f->name, &out);
    xv_free(raw);
    if (e) {
        /* tests/unit/test_dm.c proves every default coerces; this is unreachable */
        xerr_free(e);
        return dm_zero(f->type);
    }
    return out;
}

static xerr *type_error(const char *name)
{
    return err_field_type_error(name ? name : "");
}

/* Map keys are struct member names on the wire: check them against the key type
 * and return the canonical spelling. */
static xerr *coerce_key(const struct dm_type *t, const char *k, const char *name, char **out)
{
    switch (t->kind) {
    case DM_INT: {
        int64_t i;
        if (!parse_int64(k, &i))
            return type_error(name);
        *out = xasprintf("%lld", (long long)i);
        return NULL;
    }
    case DM_ENUM: {
        int i = dm_enum_parse(t->enm, k);
        if (i >= 0) {
            *out = xstrdup(t->enm->values[i]);
            return NULL;
        }
        return err_invalid_value(name ? name : "", k);
    }
    case DM_BOOL: {
        bool b;
        if (!parse_bool(k, &b))
            return type_error(name);
        *out = xstrdup(b ? "true" : "false");
        return NULL;
    }
    default:
        *out = xstrdup(k);
        return NULL;
    }
}

xerr *dm_coerce(const struct dm_type *t, const xv *in, const char *name, xv **out)
{
    *out = NULL;
    const char *s = xv_str(in);
    switch (t->kind) {
    case DM_STRING:
    case DM_REF:
        if (in->type != XV_STRING)
            return type_error(name);
        *out = xv_stringn(in->u.str.s, in->u.str.len);
        return NULL;
    case DM_INT:
        if (in->type == XV_INT) {
            *out = xv_int(in->u.i);
            return NULL;
        }
        if (in->type == XV_STRING) {
            int64_t i;
            if (parse_int64(s, &i)) {
                *out = xv_int(i);
                return NULL;
            }
        }
        return type_error(name);
    case DM_FLOAT:
        if (in->type == XV_FLOAT) {
            *out = xv_float(in->u.f);
            return NULL;
        }
        if (in->type == XV_INT) {
            *out = xv_float((double)in->u.i);
            return NULL;
        }
        if (in->type == XV_STRING && *s) {
            char *end;
            double d = strtod(s, &end);
            if (!*end && isfinite(d)) {
                *out = xv_float(d);
                return NULL;
            }
        }
        return type_error(name);
    case DM_BOOL:
        if (in->type == XV_BOOL) {
            *out = xv_bool(in->u.b);
            return NULL;
        }
        if (in->type == XV_STRING) {
            bool b;
            if (parse_bool(s, &b)) {
                *out = xv_bool(b);
                return NULL;
            }
        }
        return type_error(name);
    case DM_DATETIME: {
        time_t tt;
        if ((in->type == XV_DATETIME || in->type == XV_STRING) && time_from_xapi(s, &tt)) {
            *out = xv_datetime(tt);
            return NULL;
        }
        return type_error(name);
    }
    case DM_ENUM: {
        if (in->type != XV_STRING)
            return type_error(name);
        int i = dm_enum_parse(t->enm, s);
        if (i >= 0) {
            *out = xv_string(t->enm->values[i]);
            return NULL;
        }
        return err_invalid_value(name ? name : "", s);
    }
    case DM_SET: {
        if (in->type != XV_ARRAY)
            return type_error(name);
        xv *a = xv_array();
        for (size_t i = 0; i < in->u.arr.n; i++) {
            xv *item;
            xerr *e = dm_coerce(t->elem, in->u.arr.v[i], name, &item);
            if (e) {
                xv_free(a);
                return e;
            }
            /* a set holds each value once */
            bool dup = false;
            for (size_t j = 0; j < a->u.arr.n && !dup; j++)
                dup = xv_equal(a->u.arr.v[j], item);
            if (dup)
                xv_free(item);
            else
                xv_array_push(a, item);
        }
        *out = a;
        return NULL;
    }
    case DM_MAP: {
        if (in->type != XV_STRUCT)
            return type_error(name);
        xv *m = xv_struct();
        for (size_t i = 0; i < in->u.st.n; i++) {
            char *k = NULL;
            xv *v = NULL;
            xerr *e = coerce_key(t->key, in->u.st.m[i].key, name, &k);
            if (!e)
                e = dm_coerce(t->val, in->u.st.m[i].val, name, &v);
            if (e) {
                free(k);
                xv_free(m);
                return e;
            }
            xv_struct_set(m, k, v);
            free(k);
        }
        *out = m;
        return NULL;
    }
    }
    return type_error(name);
}

const char *dm_enum_name(const struct dm_enum *e, int i)
{
    assert(i >= 0 && (size_t)i < e->n);
    return e->values[i];
}

int dm_enum_parse(const struct dm_enum *e, const char *s)
{
    for (size_t i = 0; s && i < e->n; i++)
        if (strcasecmp(e->values[i], s) == 0)
            return (int)i;
    return -1;
}

/* ---- records by field handle ---- */

const xv *dm_get(const xv *rec, const struct dm_field *f)
{
    return xv_struct_get(rec, f->name);
}

const char *dm_get_str(const xv *rec, const struct dm_field *f)
{
    enum dm_kind k = f->type->kind;
    assert(k == DM_STRING || k == DM_REF || k == DM_ENUM || k == DM_DATETIME);
    (void)k;
    const char *s = xv_str(dm_get(rec, f));
    return s ? s : "";
}

int64_t dm_get_int(const xv *rec, const struct dm_field *f)
{
    assert(f->type->kind == DM_INT);
    const xv *v = dm_get(rec, f);
    return v && v->type == XV_INT ? v->u.i : 0;
}

double dm_get_float(const xv *rec, const struct dm_field *f)
{
    assert(f->type->kind == DM_FLOAT);
    const xv *v = dm_get(rec, f);
    if (v && v->type == XV_FLOAT)
        return v->u.f;
    return v && v->type == XV_INT ? (double)v->u.i : 0.0;
}

bool dm_get_bool(const xv *rec, const struct dm_field *f)
{
    assert(f->type->kind == DM_BOOL);
    const xv *v = dm_get(rec, f);
    return v && v->type == XV_BOOL && v->u.b;
}

int dm_get_enum(const xv *rec, const struct dm_field *f)
{
    assert(f->type->kind == DM_ENUM);
    return dm_enum_parse(f->type->enm, xv_str(dm_get(rec, f)));
}

void dm_set(xv *rec, const struct dm_field *f, xv *v)
{
    xv_struct_set(rec, f->name, v);
}

/* ---- checked arguments ---- */

const char *dm_arg_str(const xv *v)
{
    const char *s = xv_str(v);
    assert(s);
    return s;
}

int64_t dm_arg_int(const xv *v)
{
    assert(v->type == XV_INT);
    return v->u.i;
}

double dm_arg_float(const xv *v)
{
    assert(v->type == XV_FLOAT);
    return v->u.f;
}

bool dm_arg_bool(const xv *v)
{
    assert(v->type == XV_BOOL);
    return v->u.b;
}

int dm_arg_enum(const struct dm_enum *e, const xv *v)
{
    int i = dm_enum_parse(e, xv_str(v));
    assert(i >= 0);
    return i;
}

const xv *dm_arg_xv(const xv *v)
{
    assert(v->type == XV_ARRAY || v->type == XV_STRUCT);
    return v;
}

/* ---- errors that need the declarations ---- */

xerr *xerr_internal(const char *fmt, ...)
{
    va_list ap;
    char *msg;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    xerr *e = err_internal_error(msg);
    free(msg);
    return e;
}

