#include "xv.h"
#include "util.h"

#include <string.h>

static xv *xv_new(xv_type t)
{
    xv *v = xcalloc(1, sizeof(*v));
    v->type = t;
    return v;
}

xv *xv_nil(void) { return xv_new(XV_NIL); }

xv *xv_stringn(const char *s, size_t n)
{
    /* one allocation for the node and its text: strings are most of a record */
    xv *v = xmalloc(sizeof(*v) + n + 1);
    memset(v, 0, sizeof(*v));
    v->type = XV_STRING;
    v->inline_str = true;
    v->u.str.s = (char *)(v + 1);
    memcpy(v->u.str.s, s, n);
    v->u.str.s[n] = 0;
    v->u.str.len = n;
    return v;
}

xv *xv_string(const char *s)
{
    if (!s)
        s = "";
    return xv_stringn(s, strlen(s));
}

xv *xv_string_take(char *s)
{
    xv *v = xv_new(XV_STRING);
    v->u.str.s = s;
    v->u.str.len = strlen(s);
    return v;
}

xv *xv_raw_take(xv_type t, char *s, size_t len)
{
    xv *v = xv_new(t);
    v->u.str.s = s;
    v->u.str.len = len;
    return v;
}

xv *xv_int(int64_t i)
{
    xv *v = xv_new(XV_INT);
    v->u.i = i;
    return v;
}

xv *xv_i4(int32_t i)
{
    xv *v = xv_int(i);
    v->i4 = true;
    return v;
}

xv *xv_bool(bool b)
{
    xv *v = xv_new(XV_BOOL);
    v->u.b = b;
    return v;
}

xv *xv_float(double f)
{
    xv *v = xv_new(XV_FLOAT);
    v->u.f = f;
    return v;
}

xv *xv_datetime(time_t t)
{
    char s[20];
    time_to_xapi(t, s);
    return xv_datetime_str(s);
}

xv *xv_datetime_str(const char *s)
{
    xv *v = xv_string(s);
    v->type = XV_DATETIME;
    return v;
}

xv *xv_array(void) { return xv_new(XV_ARRAY); }
xv *xv_struct(void) { return xv_new(XV_STRUCT); }

void xv_array_push(xv *a, xv *item)
{
    if (a->u.arr.n == a->u.arr.cap) {
        a->u.arr.cap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
        a->u.arr.v = xrealloc(a->u.arr.v, a->u.arr.cap * sizeof(xv *));
    }
    a->u.arr.v[a->u.arr.n++] = item;
}

static struct xv_member *member_new(xv *s)
{
    if (s->u.st.n == s->u.st.cap) {
        s->u.st.cap = s->u.st.cap ? s->u.st.cap * 2 : 8;
        s->u.st.m = xrealloc(s->u.st.m, s->u.st.cap * sizeof(struct xv_member));
    }
    return &s->u.st.m[s->u.st.n++];
}

void xv_struct_append(xv *s, const char *key, xv *val)
{
    *member_new(s) = (struct xv_member){xstrdup(key), val, false};
}

void xv_struct_append_static(xv *s, const char *key, xv *val)
{
    *member_new(s) = (struct xv_member){(char *)key, val, true};
}

void xv_struct_set(xv *s, const char *key, xv *val)
{
    for (size_t i = 0; i < s->u.st.n; i++) {
        if (strcmp(s->u.st.m[i].key, key) == 0) {
            xv_free(s->u.st.m[i].val);
            s->u.st.m[i].val = val;
            return;
        }
    }
    xv_struct_append(s, key, val);
}

xv *xv_struct_get(const xv *s, const char *key)
{
    if (!s || s->type != XV_STRUCT)
        return NULL;
    for (size_t i = 0; i < s->u.st.n; i++)
        if (strcmp(s->u.st.m[i].key, key) == 0)
            return s->u.st.m[i].val;
    return NULL;
}

bool xv_struct_remove(xv *s, const char *key)
{
    for (size_t i = 0; i < s->u.st.n; i++) {
        if (strcmp(s->u.st.m[i].key, key) == 0) {
            if (!s->u.st.m[i].borrowed)
                free(s->u.st.m[i].key);
            xv_free(s->u.st.m[i].val);
            memmove(&s->u.st.m[i], &s->u.st.m[i + 1], (s->u.st.n - i - 1) * sizeof(struct xv_member));
            s->u.st.n--;
            return true;
        }
    }
    return false;
}

const char *xv_str(const xv *v)
{
    return v && (v->type == XV_STRING || v->type == XV_DATETIME) ? v->u.str.s : NULL;
}

const char *xv_struct_get_str(const xv *s, const char *key)
{
    return xv_str(xv_struct_get(s, key));
}

xv *xv_dup(const xv *v)
{
    if (!v)
        return NULL;
    switch (v->type) {
    case XV_NIL: return xv_nil();
    case XV_STRING: return xv_stringn(v->u.str.s, v->u.str.len);
    case XV_DATETIME: return xv_datetime_str(v->u.str.s);
    case XV_INT: return v->i4 ? xv_i4((int32_t)v->u.i) : xv_int(v->u.i);
    case XV_BOOL: return xv_bool(v->u.b);
    case XV_FLOAT: return xv_float(v->u.f);
    case XV_RAW_XMLRPC:
    case XV_RAW_JSON: {
        char *s = xmalloc(v->u.str.len + 1);
        memcpy(s, v->u.str.s, v->u.str.len);
        s[v->u.str.len] = 0;
        return xv_raw_take(v->type, s, v->u.str.len);
    }
    case XV_ARRAY: {
        xv *a = xv_array();
        for (size_t i = 0; i < v->u.arr.n; i++)
            xv_array_push(a, xv_dup(v->u.arr.v[i]));
        return a;
    }
    case XV_STRUCT: {
        xv *s = xv_struct();
        for (size_t i = 0; i < v->u.st.n; i++)
            xv_struct_append(s, v->u.st.m[i].key, xv_dup(v->u.st.m[i].val));
        return s;
    }
    }
    return NULL;
}

void xv_free(xv *v)
{
    if (!v)
        return;
    switch (v->type) {
    case XV_STRING:
    case XV_DATETIME:
    case XV_RAW_XMLRPC:
    case XV_RAW_JSON:
        if (!v->inline_str)
            free(v->u.str.s);
        break;
    case XV_ARRAY:
        for (size_t i = 0; i < v->u.arr.n; i++)
            xv_free(v->u.arr.v[i]);
        free(v->u.arr.v);
        break;
    case XV_STRUCT:
        for (size_t i = 0; i < v->u.st.n; i++) {
            if (!v->u.st.m[i].borrowed)
                free(v->u.st.m[i].key);
            xv_free(v->u.st.m[i].val);
        }
        free(v->u.st.m);
        break;
    default:
        break;
    }
    free(v);
}

bool xv_equal(const xv *a, const xv *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case XV_NIL: return true;
    case XV_STRING:
    case XV_DATETIME:
    case XV_RAW_XMLRPC:
    case XV_RAW_JSON:
        return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case XV_INT: return a->u.i == b->u.i;
    case XV_BOOL: return a->u.b == b->u.b;
    case XV_FLOAT: return a->u.f == b->u.f;
    case XV_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return false;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!xv_equal(a->u.arr.v[i], b->u.arr.v[i]))
                return false;
        return true;
    case XV_STRUCT:
        if (a->u.st.n != b->u.st.n)
            return false;
        for (size_t i = 0; i < a->u.st.n; i++)
            if (!xv_equal(a->u.st.m[i].val, xv_struct_get(b, a->u.st.m[i].key)))
                return false;
        return true;
    }
    return false;
}

const char *xv_type_name(xv_type t)
{
    static const char *const names[] = {"nil", "string", "int", "bool", "float",
                                        "datetime", "array", "struct", "XML-RPC bytes", "JSON bytes"};
    return t <= XV_RAW_JSON ? names[t] : "?";
}
