/* Values as xe prints them and reads them: sets as `a; b`, maps as `k: v; k2: v2`,
 * enums in lower case, refs as the uuid of the object they point to. */
#include "cli.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOT_IN_DB "<not in database>"

struct refinfo {
    char *uuid, *name;           /* uuid NULL: no such object */
};

static void refinfo_free(void *p)
{
    struct refinfo *r = p;
    free(r->uuid);
    free(r->name);
    free(r);
}

void cli_forget_refs(struct cli *c)
{
    if (c->refs)
        strmap_free(c->refs, refinfo_free);
    c->refs = NULL;
}

static bool is_null_ref(const char *ref)
{
    return !ref || !*ref || strcmp(ref, REF_NULL) == 0;
}

/* Look ref up as an object of class cls; NULL when it is not one. */
static const struct refinfo *lookup(struct cli *c, const char *cls, const char *ref)
{
    if (!c->refs)
        c->refs = strmap_new();
    _cleanup_free_ char *key = xasprintf("%s/%s", cls, ref);
    struct refinfo *r = strmap_get(c->refs, key);
    if (r)
        return r->uuid ? r : NULL;
    r = xcalloc(1, sizeof(*r));
    const struct dm_class *dc = dm_class_find(cls);
    if (dc && dc->table && c->rpc) {
        _cleanup_free_ char *m = xasprintf("%s.get_uuid", cls);
        xv *v = NULL;
        xerr *e = cli_call(c, &v, m, xv_string(ref), NULL);
        if (!e && xv_str(v))
            r->uuid = xstrdup(xv_str(v));
        xerr_free(e);
        xv_free(v);
        if (r->uuid && dm_field_find(dc, "name_label")) {
            free(m);
            m = xasprintf("%s.get_name_label", cls);
            e = cli_call(c, &v, m, xv_string(ref), NULL);
            if (!e && xv_str(v))
                r->name = xstrdup(xv_str(v));
            xerr_free(e);
            xv_free(v);
        }
    }
    strmap_put(c->refs, key, r);
    return r->uuid ? r : NULL;
}

const char *cli_ref_uuid(struct cli *c, const char *cls, const char *ref)
{
    if (is_null_ref(ref))
        return NOT_IN_DB;
    const struct refinfo *r = lookup(c, cls, ref);
    return r ? r->uuid : NOT_IN_DB;
}

char *cli_ref_describe(struct cli *c, const char *cls, const char *ref)
{
    const struct refinfo *r = NULL;
    if (cls)
        r = lookup(c, cls, ref);
    /* an error parameter does not say its class: try each (the hinted one first) */
    for (size_t i = 0; !r && i < dm_nclasses; i++)
        if (dm_classes[i].table && !(cls && strcmp(cls, dm_classes[i].name) == 0))
            r = lookup(c, dm_classes[i].name, ref);
    if (!r)
        return xstrdup(ref);
    if (r->name)
        return xasprintf("%s (%s)", r->uuid, r->name);
    return xstrdup(r->uuid);
}

static void fmt_float(buf *b, double f)
{
    buf_printf(b, "%.3f", f);
}

/* A value whose type the datamodel does not tell us. */
static void fmt_plain(buf *b, const xv *v, bool minimal)
{
    switch (v->type) {
    case XV_NIL: break;
    case XV_STRING:
    case XV_DATETIME: buf_adds(b, xv_str(v)); break;
    case XV_INT: buf_printf(b, "%lld", (long long)v->u.i); break;
    case XV_BOOL: buf_adds(b, v->u.b ? "true" : "false"); break;
    case XV_FLOAT: fmt_float(b, v->u.f); break;
    case XV_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                buf_adds(b, minimal ? "," : "; ");
            fmt_plain(b, v->u.arr.v[i], minimal);
        }
        break;
    case XV_STRUCT:
        for (size_t i = 0; i < v->u.st.n; i++) {
            if (i)
                buf_adds(b, "; ");
            buf_printf(b, "%s: ", v->u.st.m[i].key);
            fmt_plain(b, v->u.st.m[i].val, minimal);
        }
        break;
    case XV_RAW_XMLRPC:
    case XV_RAW_JSON: /* a server's own: never read from the wire */
        break;
    }
}

static void fmt(struct cli *c, buf *b, const struct dm_type *t, const xv *v, bool minimal);

static void fmt_scalar_str(struct cli *c, buf *b, const struct dm_type *t, const char *s)
{
    switch (t->kind) {
    case DM_ENUM:
        for (const char *p = s; *p; p++)
            buf_addc(b, (char)tolower((unsigned char)*p));
        break;
    case DM_REF: buf_adds(b, cli_ref_uuid(c, t->ref_class, s)); break;
    case DM_FLOAT: {
        char *end;
        double f = strtod(s, &end);
        if (*s && !*end)
            fmt_float(b, f);
        else
            buf_adds(b, s);
        break;
    }
    default: buf_adds(b, s); break;
    }
}

static void fmt(struct cli *c, buf *b, const struct dm_type *t, const xv *v, bool minimal)
{
    if (!v)
        return;
    if (!t) {
        fmt_plain(b, v, minimal);
        return;
    }
    switch (t->kind) {
    case DM_SET:
        if (v->type != XV_ARRAY)
            break;
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                buf_adds(b, minimal ? "," : "; ");
            fmt(c, b, t->elem, v->u.arr.v[i], minimal);
        }
        return;
    case DM_MAP:
        if (v->type != XV_STRUCT)
            break;
        for (size_t i = 0; i < v->u.st.n; i++) {
            if (i)
                buf_adds(b, "; ");
            fmt_scalar_str(c, b, t->key, v->u.st.m[i].key);
            buf_adds(b, ": ");
            fmt(c, b, t->val, v->u.st.m[i].val, false);
        }
        return;
    default:
        if (xv_str(v)) {
            fmt_scalar_str(c, b, t, xv_str(v));
            return;
        }
        break;
    }
    fmt_plain(b, v, minimal);
}

char *cli_format(struct cli *c, const struct dm_type *t, const xv *v, bool minimal)
{
    buf b;
    buf_init(&b);
    fmt(c, &b, t, v, minimal);
    return b.p ? buf_steal(&b) : xstrdup("");
}

xerr *cli_resolve(struct cli *c, const char *cls, const char *param, const char *s, char **ref)
{
    *ref = NULL;
    xv *v = NULL;
    xerr *e;
    if (uuid_is_valid(s)) {
        _cleanup_free_ char *m = xasprintf("%s.get_by_uuid", cls);
        e = cli_call(c, &v, m, xv_string(s), NULL);
        if (!e) {
            *ref = xstrdup(xv_str(v) ? xv_str(v) : "");
            xv_free(v);
            return NULL;
        }
        if (!xerr_is(e, XERR_UUID_INVALID))
            return e;
        xerr_free(e);
    }
    const struct dm_class *dc = dm_class_find(cls);
    if (dc && dm_field_find(dc, "name_label")) {
        _cleanup_free_ char *m = xasprintf("%s.get_by_name_label", cls);
        e = cli_call(c, &v, m, xv_string(s), NULL);
        if (e)
            return e;
        size_t n = v->type == XV_ARRAY ? v->u.arr.n : 0;
        if (n == 1)
            *ref = xstrdup(xv_str(v->u.arr.v[0]));
        xv_free(v);
        if (n > 1)
            return cli_fail("%s=%s: %zu %s objects have that name; give the uuid.", param, s, n, cls);
        if (n == 1)
            return NULL;
    }
    return cli_fail("%s=%s: no %s has that uuid or name.", param, s, cls);
}

static xerr *bad(const char *param, const char *s, const char *what)
{
    return cli_usage("Invalid value for %s: '%s' is not %s.", param, s, what);
}

static char *trim(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return xstrndup(s, n);
}

xerr *cli_parse_value(struct cli *c, const struct dm_type *t, const char *param, const char *s, xv **out)
{
    *out = NULL;
    switch (t->kind) {
    case DM_STRING: *out = xv_string(s); return NULL;
    case DM_INT: {
        int64_t i;
        if (!parse_int64(s, &i))
            return bad(param, s, "an integer");
        *out = xv_int(i);
        return NULL;
    }
    case DM_FLOAT: {
        char *end;
        double f = strtod(s, &end);
        if (!*s || *end || !isfinite(f))
            return bad(param, s, "a number");
        *out = xv_float(f);
        return NULL;
    }
    case DM_BOOL: {
        bool b;
        if (!parse_bool(s, &b))
            return bad(param, s, "true or false");
        *out = xv_bool(b);
        return NULL;
    }
    case DM_DATETIME: {
        time_t tt;
        if (!time_from_xapi(s, &tt))
            return bad(param, s, "a time such as 20250319T04:16:24Z");
        *out = xv_datetime_str(s);
        return NULL;
    }
    case DM_ENUM: {
        for (size_t i = 0; i < t->enm->n; i++)
            if (strcasecmp(t->enm->values[i], s) == 0) {
                *out = xv_string(t->enm->values[i]);
                return NULL;
            }
        buf b;
        buf_init(&b);
        for (size_t i = 0; i < t->enm->n; i++)
            buf_printf(&b, "%s%s", i ? ", " : "", t->enm->values[i]);
        xerr *e = cli_usage("Invalid value for %s: '%s' is not one of: %s.", param, s, b.p ? b.p : "");
        buf_free(&b);
        return e;
    }
    case DM_REF: {
        if (!*s || strcmp(s, NOT_IN_DB) == 0 || strcmp(s, REF_NULL) == 0) {
            *out = xv_string(REF_NULL);
            return NULL;
        }
        if (str_startswith(s, "OpaqueRef:")) {
            *out = xv_string(s);
            return NULL;
        }
        char *ref;
        xerr *e = cli_resolve(c, t->ref_class, param, s, &ref);
        if (!e)
            *out = xv_string_take(ref);
        return e;
    }
    case DM_SET:
    case DM_MAP: {
        /* `a,b` or `a; b`; maps `k: v; k2: v2` or `k=v,k2=v2` */
        xv *r = t->kind == DM_SET ? xv_array() : xv_struct();
        const char *sep = strchr(s, ';') ? ";" : ",";
        for (const char *p = s; *p;) {
            size_t len = strcspn(p, sep);
            _cleanup_free_ char *item = trim(p, len);
            p += len + (p[len] ? 1 : 0);
            if (!*item)
                continue;
            xv *v = NULL;
            xerr *e;
            if (t->kind == DM_SET) {
                e = cli_parse_value(c, t->elem, param, item, &v);
                if (!e)
                    xv_array_push(r, v);
            } else {
                size_t kl = strcspn(item, ":=");
                if (!item[kl]) {
                    xv_free(r);
                    return bad(param, s, "a map written k: v; k2: v2");
                }
                _cleanup_free_ char *k = trim(item, kl);
                _cleanup_free_ char *val = trim(item + kl + 1, strlen(item + kl + 1));
                e = cli_parse_value(c, t->val, param, val, &v);
                if (!e)
                    xv_struct_set(r, k, v);
            }
            if (e) {
                xv_free(r);
                return e;
            }
        }
        *out = r;
        return NULL;
    }
    }
    return bad(param, s, "valid");
}
