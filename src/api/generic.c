/* The messages every class gets from the datamodel. */
#include "api_int.h"
#include "wire.h"

#include <string.h>

xerr *api_create_object(struct db_txn *t, const struct dm_class *c, const xv *fields, char **ref)
{
    char uuid[37];
    uuid_generate_str(uuid);
    xv *rec = xv_struct();
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        xv *v = fields ? xv_struct_get(fields, f->name) : NULL;
        if (f == c->uuid && !v)
            xv_struct_append(rec, f->name, xv_string(uuid));
        else
            xv_struct_append(rec, f->name, v ? xv_dup(v) : dm_default(f));
    }
    char *r = ref_new();
    xerr *e = db_txn_create(t, c, r, rec);
    xv_free(rec);
    if (e) {
        free(r);
        return e;
    }
    *ref = r;
    return NULL;
}

void api_strip_internal(const struct dm_class *c, xv *rec)
{
    for (size_t i = 0; rec && rec->type == XV_STRUCT && i < c->nfields; i++)
        if (c->fields[i].internal)
            xv_struct_remove(rec, c->fields[i].name);
}

xerr *api_txn_set(struct db_txn *t, const struct dm_field *f, const struct dm_class *c, const char *ref,
                  xv *value)
{
    xerr *e = db_txn_set(t, c, ref, f, value);
    xv_free(value);
    return e;
}

/* A generic change is made: let the class's hook keep derived fields true. */
static xerr *changed(struct api_ctx *ctx, struct db_txn *t, const struct method *m, const char *ref)
{
    api_change_hook hook = ctx->api->change_hooks[m->cls->index];
    return hook ? hook(t, m->cls, ref, m->field) : NULL;
}

/* Read-modify-write of a map or set field, in one transaction. */
static xerr *update_collection(struct api_ctx *ctx, const struct method *m, xv *const *args)
{
    const struct dm_class *c = m->cls;
    const struct dm_field *f = m->field;
    const char *ref = xv_str(args[0]);
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *cur = NULL;
    e = db_txn_read_field(t, c, ref, f, &cur);
    if (e)
        goto out;
    switch (m->kind) {
    case GEN_ADD_TO: {
        /* validate the key against the map's key type */
        xv *one = xv_struct(), *canon = NULL;
        xv_struct_append(one, xv_str(args[1]), xv_dup(args[2]));
        e = dm_coerce(f->type, one, f->name, &canon);
        xv_free(one);
        if (e)
            break;
        const char *key = canon->u.st.m[0].key;
        if (xv_struct_get(cur, key)) {
            xv *uuid = NULL;
            xerr *ue = db_txn_read_field(t, c, ref, c->uuid, &uuid);
            e = err_map_duplicate_key(c->name, f->name, ue ? ref : xv_str(uuid), key);
            xerr_free(ue);
            xv_free(uuid);
        } else {
            xv_struct_append(cur, key, xv_dup(canon->u.st.m[0].val));
            e = db_txn_set(t, c, ref, f, cur);
        }
        xv_free(canon);
        break;
    }
    case GEN_REMOVE_FROM: {
        /* the key in its canonical spelling, as add_to_ stored it ("START" is "start") */
        xv *one = xv_struct(), *canon = NULL;
        xv_struct_append(one, xv_str(args[1]), dm_zero(f->type->val));
        e = dm_coerce(f->type, one, f->name, &canon);
        xv_free(one);
        if (!e && xv_struct_remove(cur, canon->u.st.m[0].key))
            e = db_txn_set(t, c, ref, f, cur);
        xv_free(canon);
        break;
    }
    case GEN_ADD: {
        bool present = false;
        for (size_t i = 0; i < cur->u.arr.n && !present; i++)
            present = xv_equal(cur->u.arr.v[i], args[1]);
        if (!present) {
            xv_array_push(cur, xv_dup(args[1]));
            e = db_txn_set(t, c, ref, f, cur);
        }
        break;
    }
    case GEN_REMOVE: {
        size_t w = 0, n = cur->u.arr.n;
        for (size_t i = 0; i < n; i++) {
            if (xv_equal(cur->u.arr.v[i], args[1]))
                xv_free(cur->u.arr.v[i]);
            else
                cur->u.arr.v[w++] = cur->u.arr.v[i];
        }
        cur->u.arr.n = w;
        if (w != n)
            e = db_txn_set(t, c, ref, f, cur);
        break;
    }
    default:
        e = xerr_internal("not a collection update");
    }
    if (!e)
        e = changed(ctx, t, m, ref);
out:
    xv_free(cur);
    if (e) {
        db_abort(t);
        return e;
    }
    return db_commit(t, NULL);
}

xerr *api_record_from_args(const struct dm_class *c, const xv *args, xv **out)
{
    *out = NULL;
    if (args->type != XV_STRUCT)
        return err_field_type_error("args");
    xv *fields = xv_struct();
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        xv *v = xv_struct_get(args, f->name), *canon = NULL;
        if (!v || f->qual == DM_DYNAMIC_RO)
            continue;
        xerr *e = api_strict(f->type, v, f->name);
        if (!e)
            e = dm_coerce(f->type, v, f->name, &canon);
        if (e) {
            xv_free(fields);
            return e;
        }
        xv_struct_append(fields, f->name, canon);
    }
    *out = fields;
    return NULL;
}

static xerr *generic_create(struct api_ctx *ctx, const struct dm_class *c, const xv *args, xv **result)
{
    xv *fields = NULL;
    xerr *fe = api_record_from_args(c, args, &fields);
    if (fe)
        return fe;
    struct db_txn *t;
    char *ref = NULL;
    xerr *e = db_begin(ctx->db, &t);
    if (!e) {
        e = api_create_object(t, c, fields, &ref);
        e = db_end(t, e);
    }
    xv_free(fields);
    if (!e)
        *result = xv_string_take(ref);
    else
        free(ref);
    return e;
}

/* A record in its wire form, as get_record answers it (db_read_record_bytes). */
static void write_record(void *ctx, const struct dm_class *c, xv *rec, buf *out)
{
    api_strip_internal(c, rec);
    if (*(const enum api_wire *)ctx == API_WIRE_JSON)
        wire_json_write(out, rec);
    else
        wire_xmlrpc_write_value(out, rec);
}

static xerr *record_bytes(struct db *db, const struct dm_class *c, const char *ref, enum api_wire wire,
                          xv **result)
{
    buf b;
    buf_init(&b);
    xerr *e = db_read_record_bytes(db, c, ref, wire == API_WIRE_JSON ? 1 : 0, write_record, &wire, &b);
    if (e) {
        buf_free(&b);
        return e;
    }
    size_t len = b.len;
    *result = xv_raw_take(wire == API_WIRE_JSON ? XV_RAW_JSON : XV_RAW_XMLRPC, buf_steal(&b), len);
    return NULL;
}

xerr *generic_call(struct api_ctx *ctx, const struct method *m, xv *const *args, size_t n, xv **result)
{
    (void)n;
    const struct dm_class *c = m->cls;
    struct db *db = ctx->db;
    switch (m->kind) {
    case GEN_GET_FIELD:
        return db_read_field(db, c, xv_str(args[0]), m->field, result);
    case GEN_SET_FIELD: {
        struct db_txn *t;
        xerr *e = db_begin(db, &t);
        if (e)
            return e;
        e = db_txn_set(t, c, xv_str(args[0]), m->field, args[1]);
        if (!e)
            e = changed(ctx, t, m, xv_str(args[0]));
        return db_end(t, e);
    }
    case GEN_ADD_TO:
    case GEN_REMOVE_FROM:
    case GEN_ADD:
    case GEN_REMOVE:
        return update_collection(ctx, m, args);
    case GEN_GET_RECORD: {
        if (ctx->wire != API_WIRE_NONE)
            return record_bytes(db, c, xv_str(args[0]), ctx->wire, result);
        xerr *e = db_read_record(db, c, xv_str(args[0]), result);
        if (!e)
            api_strip_internal(c, *result);
        return e;
    }
    case GEN_GET_ALL:
        return db_read_refs(db, c, result);
    case GEN_GET_ALL_RECORDS:
        return api_all_records(ctx, c, NULL, result);
    case GEN_GET_ALL_RECORDS_WHERE:
        return api_all_records(ctx, c, xv_str(args[0]), result);
    case GEN_GET_BY_UUID: {
        char *ref = NULL;
        xerr *e = db_lookup_uuid(db, c, xv_str(args[0]), &ref);
        if (!e)
            *result = xv_string_take(ref);
        return e;
    }
    case GEN_GET_BY_NAME_LABEL:
        return db_lookup_field(db, c, c->name_label, args[0], result);
    case GEN_CREATE:
        return generic_create(ctx, c, args[0], result);
    case GEN_DESTROY: {
        struct db_txn *t;
        xerr *e = db_begin(db, &t);
        if (e)
            return e;
        e = db_txn_destroy(t, c, xv_str(args[0]));
        return db_end(t, e);
    }
    case GEN_NONE:
        break;
    }
    return xerr_internal("generic_call on a hand-written message");
}
