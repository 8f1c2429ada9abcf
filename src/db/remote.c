/* A pool member's store: the pool's database is the master's, reached through the
 * transport src/pool gives (db_open_remote).  Reads are one call each.  A
 * transaction's writes are kept here and sent at commit as one batch, which the
 * master applies in one of its own transactions (so its events are its own and can
 * never disagree with the data); reads inside a transaction see its own writes.
 * What this does not give is isolation across the network: a read-then-write of a
 * member can interleave with another writer's (see docs/pool.md). */
#include "db_int.h"
#include "dm_gen.h"
#include "log.h"

#include <string.h>
#include <unistd.h>

static xv *sv(const char *s) { return xv_string(s ? s : ""); }

static xerr *call(struct db *db, const char *op, xv *args, xv **result)
{
    xv *r = NULL;
    xerr *e = db->remote(db->remote_ctx, op, args, &r);
    xv_free(args);
    if (e)
        return e;
    if (result)
        *result = r;
    else
        xv_free(r);
    return NULL;
}

static xv *args1(const char *a)
{
    xv *v = xv_array();
    xv_array_push(v, sv(a));
    return v;
}

static xv *args2(const char *a, const char *b)
{
    xv *v = args1(a);
    xv_array_push(v, sv(b));
    return v;
}

/* ---- typing what came through JSON ---- */

xerr *db_remote_type_value(const struct dm_type *t, xv *in, xv **out)
{
    xerr *e = dm_coerce(t, in, "value", out);
    xv_free(in);
    return e;
}

xerr *db_remote_type_record(const struct dm_class *c, xv *in, xv **out)
{
    *out = NULL;
    if (!in || in->type != XV_STRUCT) {
        xv_free(in);
        return xerr_internal("remote store: a %s record is not a struct", c->name);
    }
    xv *rec = xv_struct();
    for (size_t i = 0; i < in->u.st.n; i++) {
        const struct dm_field *f = dm_field_find(c, in->u.st.m[i].key);
        if (!f)
            continue;
        xv *v = NULL;
        xerr *e = dm_coerce(f->type, in->u.st.m[i].val, f->name, &v);
        if (e) {
            xv_free(rec);
            xv_free(in);
            return e;
        }
        xv_struct_append(rec, f->name, v);
    }
    xv_free(in);
    *out = rec;
    return NULL;
}

static xerr *type_records(const struct dm_class *c, xv *in, xv **out)
{
    *out = NULL;
    if (!in || in->type != XV_STRUCT) {
        xv_free(in);
        return xerr_internal("remote store: records are not a struct");
    }
    xv *all = xv_struct();
    xerr *e = NULL;
    for (size_t i = 0; !e && i < in->u.st.n; i++) {
        xv *rec = NULL;
        e = db_remote_type_record(c, xv_dup(in->u.st.m[i].val), &rec);
        if (!e)
            xv_struct_append(all, in->u.st.m[i].key, rec);
    }
    xv_free(in);
    if (e) {
        xv_free(all);
        return e;
    }
    *out = all;
    return NULL;
}

static xerr *want_array(xv *in, xv **out)
{
    if (!in || in->type != XV_ARRAY) {
        xv_free(in);
        return xerr_internal("remote store: expected an array");
    }
    *out = in;
    return NULL;
}

/* ---- reads ---- */

xerr *remote_read_record(struct db *db, const struct dm_class *c, const char *ref, xv **out)
{
    xv *r = NULL;
    xerr *e = call(db, "read_record", args2(c->name, ref), &r);
    return e ? e : db_remote_type_record(c, r, out);
}

xerr *remote_read_field(struct db *db, const struct dm_class *c, const char *ref, const struct dm_field *f,
                        xv **out)
{
    xv *a = args2(c->name, ref), *r = NULL;
    xv_array_push(a, sv(f->name));
    xerr *e = call(db, "read_field", a, &r);
    return e ? e : db_remote_type_value(f->type, r, out);
}

xerr *remote_read_refs(struct db *db, const struct dm_class *c, xv **out)
{
    xv *r = NULL;
    xerr *e = call(db, "read_refs", args1(c->name), &r);
    return e ? e : want_array(r, out);
}

xerr *remote_read_all_records(struct db *db, const struct dm_class *c, xv **out)
{
    xv *r = NULL;
    xerr *e = call(db, "read_all", args1(c->name), &r);
    return e ? e : type_records(c, r, out);
}

xerr *remote_lookup_uuid(struct db *db, const struct dm_class *c, const char *uuid, char **ref)
{
    xv *r = NULL;
    xerr *e = call(db, "lookup_uuid", args2(c->name, uuid), &r);
    if (e)
        return e;
    *ref = xstrdup(xv_str(r) ? xv_str(r) : "");
    xv_free(r);
    return NULL;
}

xerr *remote_lookup_field(struct db *db, const struct dm_class *c, const struct dm_field *f, const xv *value,
                          xv **refs)
{
    xv *a = args2(c->name, f->name), *r = NULL;
    xv_array_push(a, xv_dup(value));
    xerr *e = call(db, "lookup_field", a, &r);
    return e ? e : want_array(r, refs);
}

bool remote_exists(struct db *db, const struct dm_class *c, const char *ref)
{
    xv *r = NULL;
    xerr *e = call(db, "exists", args2(c->name, ref), &r);
    bool yes = !e && r && r->type == XV_BOOL && r->u.b;
    xerr_free(e);
    xv_free(r);
    return yes;
}

int64_t remote_count(struct db *db, const struct dm_class *c)
{
    xv *r = NULL;
    xerr *e = call(db, "count", args1(c->name), &r);
    int64_t n = !e && r && r->type == XV_INT ? r->u.i : 0;
    xerr_free(e);
    xv_free(r);
    return n;
}

/* ---- transactions: the writes, kept until commit ---- */

static xv *op(const char *name, const struct dm_class *c, const char *ref)
{
    xv *o = xv_array();
    xv_array_push(o, sv(name));
    xv_array_push(o, sv(c->name));
    xv_array_push(o, sv(ref));
    return o;
}

xerr *remote_txn_create(struct db_txn *t, const struct dm_class *c, const char *ref, const xv *record)
{
    xv *o = op("create", c, ref);
    xv_array_push(o, xv_dup(record));
    xv_array_push(t->ops, o);
    return NULL;
}

xerr *remote_txn_set(struct db_txn *t, const struct dm_class *c, const char *ref, const struct dm_field *f,
                     const xv *value)
{
    xv *o = op("set", c, ref);
    xv_array_push(o, sv(f->name));
    xv_array_push(o, xv_dup(value));
    xv_array_push(t->ops, o);
    return NULL;
}

xerr *remote_txn_destroy(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    xv_array_push(t->ops, op("destroy", c, ref));
    return NULL;
}

xerr *remote_txn_touch(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    xv_array_push(t->ops, op("touch", c, ref));
    return NULL;
}

static bool op_is(const xv *o, const char *name, const struct dm_class *c, const char *ref)
{
    return strcmp(xv_str(o->u.arr.v[0]), name) == 0 && strcmp(xv_str(o->u.arr.v[1]), c->name) == 0 &&
           (!ref || strcmp(xv_str(o->u.arr.v[2]), ref) == 0);
}

/* The record as this transaction left it: *gone when it destroyed it, *rec NULL
 * when it neither made nor changed it (base: what the master has, may be NULL). */
static void overlay(struct db_txn *t, const struct dm_class *c, const char *ref, xv **rec, bool *gone)
{
    *gone = false;
    for (size_t i = 0; i < t->ops->u.arr.n; i++) {
        const xv *o = t->ops->u.arr.v[i];
        if (op_is(o, "create", c, ref)) {
            xv_free(*rec);
            *rec = xv_dup(o->u.arr.v[3]);
            *gone = false;
        } else if (op_is(o, "destroy", c, ref)) {
            xv_free(*rec);
            *rec = NULL;
            *gone = true;
        } else if (op_is(o, "set", c, ref) && *rec) {
            const struct dm_field *f = dm_field_find(c, xv_str(o->u.arr.v[3]));
            if (f)
                dm_set(*rec, f, xv_dup(o->u.arr.v[4]));
        }
    }
}

static bool touched(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    for (size_t i = 0; i < t->ops->u.arr.n; i++)
        if (op_is(t->ops->u.arr.v[i], "create", c, ref) || op_is(t->ops->u.arr.v[i], "destroy", c, ref) ||
            op_is(t->ops->u.arr.v[i], "set", c, ref))
            return true;
    return false;
}

static bool created_here(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    for (size_t i = 0; i < t->ops->u.arr.n; i++)
        if (op_is(t->ops->u.arr.v[i], "create", c, ref))
            return true;
    return false;
}

xerr *remote_txn_read_record(struct db_txn *t, const struct dm_class *c, const char *ref, xv **out)
{
    xv *rec = NULL;
    xerr *e = NULL;
    if (!created_here(t, c, ref)) {
        e = remote_read_record(t->db, c, ref, &rec);
        if (e && !(xerr_is(e, XERR_HANDLE_INVALID) && touched(t, c, ref)))
            return e;
        xerr_free(e);
    }
    bool gone = false;
    overlay(t, c, ref, &rec, &gone);
    if (!rec)
        return err_handle_invalid(c->name, ref);
    *out = rec;
    return NULL;
}

xerr *remote_txn_read_field(struct db_txn *t, const struct dm_class *c, const char *ref,
                            const struct dm_field *f, xv **out)
{
    if (!touched(t, c, ref))
        return remote_read_field(t->db, c, ref, f, out);
    xv *rec = NULL;
    xerr *e = remote_txn_read_record(t, c, ref, &rec);
    if (e)
        return e;
    const xv *v = dm_get(rec, f);
    *out = v ? xv_dup(v) : dm_zero(f->type);
    xv_free(rec);
    return NULL;
}

/* The refs from the master, with this transaction's creations (that match) and
 * without its destructions. */
static void adjust_refs(struct db_txn *t, const struct dm_class *c, const struct dm_field *f, const xv *value,
                        xv *refs)
{
    for (size_t i = 0; i < t->ops->u.arr.n; i++) {
        const xv *o = t->ops->u.arr.v[i];
        const char *ref = xv_str(o->u.arr.v[2]);
        if (op_is(o, "create", c, NULL)) {
            const xv *v = f ? dm_get(o->u.arr.v[3], f) : NULL;
            if (!f || (v && xv_equal(v, value)))
                xv_array_push(refs, sv(ref));
        } else if (op_is(o, "destroy", c, NULL)) {
            for (size_t j = 0; j < refs->u.arr.n; j++)
                if (strcmp(xv_str(refs->u.arr.v[j]), ref) == 0) {
                    xv_free(refs->u.arr.v[j]);
                    memmove(&refs->u.arr.v[j], &refs->u.arr.v[j + 1],
                            (refs->u.arr.n - j - 1) * sizeof(refs->u.arr.v[0]));
                    refs->u.arr.n--;
                    break;
                }
        }
    }
}

xerr *remote_txn_lookup_field(struct db_txn *t, const struct dm_class *c, const struct dm_field *f,
                              const xv *value, xv **refs)
{
    xerr *e = remote_lookup_field(t->db, c, f, value, refs);
    if (!e)
        adjust_refs(t, c, f, value, *refs);
    return e;
}

xerr *remote_txn_read_refs(struct db_txn *t, const struct dm_class *c, xv **out)
{
    xerr *e = remote_read_refs(t->db, c, out);
    if (!e)
        adjust_refs(t, c, NULL, NULL, *out);
    return e;
}

xerr *remote_commit(struct db_txn *t, int64_t *last_event)
{
    xv *a = xv_array(), *r = NULL;
    xv_array_push(a, t->ops);
    t->ops = NULL;
    xerr *e = call(t->db, "commit", a, &r);
    if (!e && last_event)
        *last_event = r && r->type == XV_INT ? r->u.i : 0;
    xv_free(r);
    free(t);
    return e;
}

void remote_abort(struct db_txn *t)
{
    xv_free(t->ops);
    free(t);
}

/* ---- events ---- */

int64_t remote_event_id(struct db *db, const char *which)
{
    xv *r = NULL;
    xerr *e = call(db, which, xv_array(), &r);
    int64_t id = !e && r && r->type == XV_INT ? r->u.i : 0;
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("remote store: %s: %s", which, s);
    }
    xerr_free(e);
    xv_free(r);
    return id;
}

bool remote_wait_events(struct db *db, int64_t after, double timeout)
{
    xv *a = xv_array(), *r = NULL;
    xv_array_push(a, xv_int(after));
    xv_array_push(a, xv_float(timeout > 60 ? 60 : timeout));
    xerr *e = call(db, "wait_events", a, &r);
    bool more = !e && r && r->type == XV_BOOL && r->u.b;
    if (e && timeout > 0) /* the master is away: wait here, or a follower spins */
        usleep((useconds_t)((timeout > 5 ? 5 : timeout) * 1e6));
    xerr_free(e);
    xv_free(r);
    return more;
}

xerr *remote_events_after(struct db *db, int64_t after, int limit, db_event_cb cb, void *ctx,
                          int64_t *last_visited)
{
    xv *a = xv_array(), *r = NULL;
    xv_array_push(a, xv_int(after));
    xv_array_push(a, xv_int(limit));
    *last_visited = after;
    xerr *e = call(db, "events_after", a, &r);
    if (e)
        return e;
    for (size_t i = 0; r && r->type == XV_ARRAY && i < r->u.arr.n; i++) {
        const xv *ev = r->u.arr.v[i];
        if (ev->type != XV_ARRAY || ev->u.arr.n != 6)
            continue;
        const xv *const *v = (const xv *const *)ev->u.arr.v;
        struct db_event de = {
            .id = v[0]->type == XV_INT ? v[0]->u.i : 0,
            .timestamp = v[1]->type == XV_FLOAT ? v[1]->u.f : v[1]->type == XV_INT ? (double)v[1]->u.i : 0,
            .class_lname = xv_str(v[2]),
            .op = xv_str(v[3]),
            .ref = xv_str(v[4]),
            .snapshot_json = xv_str(v[5]),
        };
        *last_visited = de.id;
        if (!cb(ctx, &de))
            break;
    }
    xv_free(r);
    return NULL;
}

xerr *db_open_remote(db_remote_fn fn, void *ctx, struct db **out)
{
    struct db *db = xcalloc(1, sizeof(*db));
    db->remote = fn;
    db->remote_ctx = ctx;
    *out = db;
    return NULL;
}

bool db_is_remote(const struct db *db)
{
    return db->remote != NULL;
}
