/* Values to and from SQLite columns: scalars natively, sets and maps as JSON. */
#include "db_int.h"
#include "wire.h"

#include <string.h>

bool field_stored(const struct dm_field *f)
{
    return f->inverse_class == NULL;
}

xerr *bind_value(sqlite3_stmt *st, int col, const struct dm_type *t, const xv *v)
{
    int rc;
    switch (t->kind) {
    case DM_STRING:
    case DM_REF:
    case DM_ENUM:
    case DM_DATETIME:
        /* with its length: a string may hold a NUL (JSON's \u0000), and -1 would cut it there */
        if (xv_str(v))
            rc = sqlite3_bind_text(st, col, v->u.str.s, (int)v->u.str.len, SQLITE_TRANSIENT);
        else
            rc = sqlite3_bind_text(st, col, "", 0, SQLITE_STATIC);
        break;
    case DM_INT:
        rc = sqlite3_bind_int64(st, col, v->type == XV_INT ? v->u.i : 0);
        break;
    case DM_BOOL:
        rc = sqlite3_bind_int(st, col, v->type == XV_BOOL && v->u.b);
        break;
    case DM_FLOAT:
        rc = sqlite3_bind_double(st, col, v->type == XV_FLOAT ? v->u.f : 0.0);
        break;
    case DM_SET:
    case DM_MAP: {
        buf b;
        buf_init(&b);
        wire_json_write(&b, v);
        rc = sqlite3_bind_text(st, col, b.p, (int)b.len, free);
        b.p = NULL;
        break;
    }
    default:
        rc = SQLITE_MISUSE;
    }
    return rc == SQLITE_OK ? NULL : xerr_internal("binding a value: %s", sqlite3_errstr(rc));
}

static bool is_plain_strings(const struct dm_type *t)
{
    if (t->kind == DM_SET)
        return t->elem->kind == DM_STRING;
    return t->key->kind == DM_STRING && t->val->kind == DM_STRING;
}

xv *column_value(sqlite3_stmt *st, int col, const struct dm_type *t)
{
    switch (t->kind) {
    case DM_STRING:
    case DM_REF:
    case DM_ENUM: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        return xv_stringn(s ? s : "", (size_t)sqlite3_column_bytes(st, col));
    }
    case DM_DATETIME: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        return xv_datetime_str(s ? s : "19700101T00:00:00Z");
    }
    case DM_INT:
        return xv_int(sqlite3_column_int64(st, col));
    case DM_BOOL:
        return xv_bool(sqlite3_column_int(st, col) != 0);
    case DM_FLOAT:
        return xv_float(sqlite3_column_double(st, col));
    case DM_SET:
    case DM_MAP: {
        const char *s = (const char *)sqlite3_column_text(st, col);
        int len = sqlite3_column_bytes(st, col);
        /* most maps and sets are empty */
        if (s && len == 2 && (s[0] == '{' || s[0] == '['))
            return s[0] == '{' ? xv_struct() : xv_array();
        xv *raw = NULL, *v = NULL;
        if (!s || wire_json_parse(s, (size_t)sqlite3_column_bytes(st, col), &raw) != NULL)
            return dm_zero(t); /* unreachable for data we wrote; never crash on it */
        if (is_plain_strings(t))
            return raw;
        xerr *e = dm_coerce(t, raw, "", &v);
        xv_free(raw);
        if (e) {
            xerr_free(e);
            return dm_zero(t);
        }
        return v;
    }
    }
    return xv_nil();
}

xerr *db_decode_snapshot(const struct dm_class *c, const char *json, xv **out)
{
    xv *raw = NULL;
    xerr *e = wire_json_parse(json, strlen(json), &raw);
    if (e)
        return e;
    xv *rec = xv_struct();
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        xv *v = xv_struct_get(raw, f->name), *cv = NULL;
        xerr *ce = v ? dm_coerce(f->type, v, f->name, &cv) : NULL;
        if (!v || ce) {
            xerr_free(ce);
            cv = dm_default(f);
        }
        xv_struct_append_static(rec, f->name, cv);
    }
    xv_free(raw);
    *out = rec;
    return NULL;
}
