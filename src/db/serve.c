/* The master's side of a member's store (src/db/remote.c): one operation against
 * the local database.  A commit's batch is applied in one transaction. */
#include "db_int.h"
#include "dm_gen.h"

#include <string.h>

static const struct dm_class *cls(const xv *args, size_t i)
{
    const char *n = i < args->u.arr.n ? xv_str(args->u.arr.v[i]) : NULL;
    const struct dm_class *c = n ? dm_class_find(n) : NULL;
    return c && c->table ? c : NULL;
}

static const char *str(const xv *args, size_t i)
{
    const char *s = i < args->u.arr.n ? xv_str(args->u.arr.v[i]) : NULL;
    return s ? s : "";
}

static int64_t num(const xv *args, size_t i)
{
    const xv *v = i < args->u.arr.n ? args->u.arr.v[i] : NULL;
    return v && v->type == XV_INT ? v->u.i : 0;
}

static xerr *bad(const char *op)
{
    return err_invalid_value("db_call", op);
}

static xerr *apply(struct db_txn *t, const xv *o)
{
    if (o->type != XV_ARRAY || o->u.arr.n < 3)
        return bad("commit");
    const char *what = str(o, 0);
    const struct dm_class *c = cls(o, 1);
    const char *ref = str(o, 2);
    if (!c)
        return bad(what);
    if (strcmp(what, "create") == 0 && o->u.arr.n == 4) {
        xv *rec = NULL;
        xerr *e = db_remote_type_record(c, xv_dup(o->u.arr.v[3]), &rec);
        if (!e)
            e = db_txn_create(t, c, ref, rec);
        xv_free(rec);
        return e;
    }
    if (strcmp(what, "set") == 0 && o->u.arr.n == 5) {
        const struct dm_field *f = dm_field_find(c, str(o, 3));
        if (!f)
            return bad("set");
        xv *v = NULL;
        xerr *e = db_remote_type_value(f->type, xv_dup(o->u.arr.v[4]), &v);
        if (!e)
            e = db_txn_set(t, c, ref, f, v);
        xv_free(v);
        return e;
    }
    if (strcmp(what, "destroy") == 0)
        return db_txn_destroy(t, c, ref);
    if (strcmp(what, "touch") == 0)
        return db_txn_touch(t, c, ref);
    return bad(what);
}

struct collect {
    xv *list;
};

static bool collect_event(void *ctx, const struct db_event *ev)
{
    struct collect *k = ctx;
    xv *e = xv_array();
    xv_array_push(e, xv_int(ev->id));
    xv_array_push(e, xv_float(ev->timestamp));
    xv_array_push(e, xv_string(ev->class_lname));
    xv_array_push(e, xv_string(ev->op));
    xv_array_push(e, xv_string(ev->ref));
    xv_array_push(e, ev->snapshot_json ? xv_string(ev->snapshot_json) : xv_nil());
    xv_array_push(k->list, e);
    return true;
}

xerr *db_serve_remote(struct db *db, const char *op, const xv *args, xv **result)
{
    *result = NULL;
    if (!args || args->type != XV_ARRAY)
        return bad(op);
    const struct dm_class *c = cls(args, 0);
    if (strcmp(op, "read_record") == 0 && c)
        return db_read_record(db, c, str(args, 1), result);
    if (strcmp(op, "read_field") == 0 && c) {
        const struct dm_field *f = dm_field_find(c, str(args, 2));
        return f ? db_read_field(db, c, str(args, 1), f, result) : bad(op);
    }
    if (strcmp(op, "read_refs") == 0 && c)
        return db_read_refs(db, c, result);
    if (strcmp(op, "read_all") == 0 && c)
        return db_read_all_records(db, c, result);
    if (strcmp(op, "lookup_uuid") == 0 && c) {
        char *ref = NULL;
        xerr *e = db_lookup_uuid(db, c, str(args, 1), &ref);
        if (!e)
            *result = xv_string_take(ref);
        return e;
    }
    if (strcmp(op, "lookup_field") == 0 && c && args->u.arr.n == 3) {
        const struct dm_field *f = dm_field_find(c, str(args, 1));
        if (!f)
            return bad(op);
        xv *v = NULL;
        xerr *e = db_remote_type_value(f->type, xv_dup(args->u.arr.v[2]), &v);
        if (!e)
            e = db_lookup_field(db, c, f, v, result);
        xv_free(v);
        return e;
    }
    if (strcmp(op, "exists") == 0 && c) {
        *result = xv_bool(db_exists(db, c, str(args, 1)));
        return NULL;
    }
    if (strcmp(op, "count") == 0 && c) {
        *result = xv_int(db_count(db, c));
        return NULL;
    }
    if (strcmp(op, "commit") == 0 && args->u.arr.n == 1 && args->u.arr.v[0]->type == XV_ARRAY) {
        const xv *ops = args->u.arr.v[0];
        struct db_txn *t;
        xerr *e = db_begin(db, &t);
        if (e)
            return e;
        for (size_t i = 0; !e && i < ops->u.arr.n; i++)
            e = apply(t, ops->u.arr.v[i]);
        int64_t last = 0;
        e = db_end_id(t, e, &last);
        if (!e)
            *result = xv_int(last);
        return e;
    }
    if (strcmp(op, "last_event_id") == 0) {
        *result = xv_int(db_last_event_id(db));
        return NULL;
    }
    if (strcmp(op, "first_event_id") == 0) {
        *result = xv_int(db_first_event_id(db));
        return NULL;
    }
    if (strcmp(op, "wait_events") == 0) {
        const xv *tv = args->u.arr.n > 1 ? args->u.arr.v[1] : NULL;
        double timeout = tv && tv->type == XV_FLOAT ? tv->u.f : tv && tv->type == XV_INT ? (double)tv->u.i : 0;
        *result = xv_bool(db_wait_events(db, num(args, 0), timeout > 60 ? 60 : timeout));
        return NULL;
    }
    if (strcmp(op, "events_after") == 0) {
        struct collect k = {xv_array()};
        int64_t last = 0;
        int limit = (int)num(args, 1);
        xerr *e = db_events_after(db, num(args, 0), limit > 0 && limit < 10000 ? limit : 1000, collect_event,
                                  &k, &last);
        if (e) {
            xv_free(k.list);
            return e;
        }
        *result = k.list;
        return NULL;
    }
    return bad(op);
}
