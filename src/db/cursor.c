/* Cursors: a table read a record at a time, in one read transaction, on a connection
 * of the cursor's own (a few idle ones are kept for the next cursors). */
#include "db_int.h"
#include "dm_gen.h"

#include <assert.h>
#include <string.h>

#define IDLE_CURSOR_CONNS 2
/* A cursor's page cache (negative: KiB): it reads each page once, in order, so a big cache
 * would only hold what it has already passed (the kernel's page cache keeps the file) */
#define CURSOR_CACHE_SIZE "-256"

struct db_cursor {
    struct db *db;
    const struct dm_class *cls;
    struct conn *c;              /* NULL for a member's store */
    sqlite3_stmt *st;
    xv *all;                     /* a member's store: the records, fetched at once */
    struct strmap **inverse;     /* [field index]: for an inverse field, ref -> its refs (an xv array) */
    size_t next;
    bool done;
};

static struct conn *cursor_conn_get(struct db *db, xerr **e)
{
    pthread_mutex_lock(&db->pool_lock);
    struct conn *c = db->idle_cursors;
    if (c) {
        db->idle_cursors = c->next_free;
        db->nidle_cursors--;
    }
    pthread_mutex_unlock(&db->pool_lock);
    if (c)
        return c;
    c = conn_open(db, db->path, false, e);
    if (c && (*e = sql_exec(c->h, "PRAGMA cache_size = " CURSOR_CACHE_SIZE)) != NULL) {
        conn_close(c);
        c = NULL;
    }
    return c;
}

static void cursor_conn_put(struct db *db, struct conn *c)
{
    pthread_mutex_lock(&db->pool_lock);
    bool keep = db->nidle_cursors < IDLE_CURSOR_CONNS;
    if (keep) {
        c->next_free = db->idle_cursors;
        db->idle_cursors = c;
        db->nidle_cursors++;
    }
    pthread_mutex_unlock(&db->pool_lock);
    if (!keep)
        conn_close(c);
}

void cursor_conns_close(struct db *db)
{
    for (struct conn *c = db->idle_cursors, *next; c; c = next) {
        next = c->next_free;
        conn_close(c);
    }
    db->idle_cursors = NULL;
    db->nidle_cursors = 0;
}

static void free_refs(void *v)
{
    xv_free(v);
}

/* The inverse fields of the whole table, each read with one scan of the class that
 * points here, in the cursor's transaction: a query per record and field was a fifth
 * of a get_all_records (10,000 VMs, 9 inverse fields: 90,000 queries, nearly all
 * finding nothing).  Refs keep the order a record's own query gives (rowid, within
 * an owner). */
static xerr *load_inverse(struct db_cursor *cur)
{
    const struct dm_class *cls = cur->cls;
    cur->inverse = xcalloc(cls->nfields, sizeof(*cur->inverse));
    for (size_t i = 0; i < cls->nfields; i++) {
        const struct dm_field *f = &cls->fields[i];
        if (field_stored(f))
            continue;
        const struct dm_class *ic = dm_class_find(f->inverse_class);
        assert(ic);
        /* by the index on the ref field (every ref field has one): a scan of the table
         * itself read every VM's pages twice more (children, snapshots), 6% of the call */
        _cleanup_free_ char *sql = xasprintf("SELECT \"%s\", _ref FROM \"%s\" WHERE \"%s\" <> ?1 ORDER BY \"%s\", rowid",
                                             f->inverse_field, ic->name, f->inverse_field, f->inverse_field);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(cur->c->h, sql, -1, &st, NULL) != SQLITE_OK)
            return sql_error(cur->c->h, "prepare an inverse scan");
        sqlite3_bind_text(st, 1, REF_NULL, -1, SQLITE_STATIC);
        struct strmap *m = cur->inverse[i] = strmap_new();
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *owner = (const char *)sqlite3_column_text(st, 0);
            const char *ref = (const char *)sqlite3_column_text(st, 1);
            /* `<> ?1` already excludes a NULL owner: NULL here is SQLite out of memory */
            if (!owner || !ref) {
                rc = SQLITE_NOMEM;
                break;
            }
            xv *refs = strmap_get(m, owner);
            if (!refs)
                strmap_put(m, owner, refs = xv_array());
            xv_array_push(refs, xv_stringn(ref, (size_t)sqlite3_column_bytes(st, 1)));
        }
        xerr *e = rc == SQLITE_DONE ? NULL : sql_error(cur->c->h, "an inverse scan");
        sqlite3_finalize(st);
        if (e)
            return e;
    }
    return NULL;
}

xerr *db_cursor_open(struct db *db, const struct dm_class *c, struct db_cursor **out)
{
    *out = NULL;
    struct db_cursor *cur = xcalloc(1, sizeof(*cur));
    cur->db = db;
    cur->cls = c;
    xerr *e = NULL;
    if (db->remote) {
        e = remote_read_all_records(db, c, &cur->all);
    } else if ((cur->c = cursor_conn_get(db, &e)) != NULL) {
        /* one read transaction, so the records agree with each other */
        e = sql_exec(cur->c->h, "BEGIN");
        if (!e && !(cur->st = conn_all_records_stmt(cur->c, c)))
            e = sql_error(cur->c->h, "prepare get_all_records");
        if (!e)
            e = load_inverse(cur);
    }
    if (e) {
        db_cursor_close(cur);
        return e;
    }
    *out = cur;
    return NULL;
}

xerr *db_cursor_next(struct db_cursor *cur, char **ref, xv **rec)
{
    *ref = NULL;
    *rec = NULL;
    if (cur->done)
        return NULL;
    if (cur->all) {
        if (cur->next < cur->all->u.st.n) {
            struct xv_member *m = &cur->all->u.st.m[cur->next++];
            *ref = xstrdup(m->key);
            *rec = m->val;
            m->val = xv_nil();
        } else {
            cur->done = true;
        }
        return NULL;
    }
    int rc = sqlite3_step(cur->st);
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(cur->st, 0);
        *ref = xstrdup(r ? r : "");
        *rec = row_to_record(cur->c, cur->st, 1, cur->cls, *ref, cur->inverse);
        return NULL;
    }
    cur->done = true;
    sqlite3_reset(cur->st);
    return rc == SQLITE_DONE ? NULL : sql_error(cur->c->h, "get_all_records");
}

void db_cursor_close(struct db_cursor *cur)
{
    if (!cur)
        return;
    if (cur->c) {
        if (cur->st)
            sqlite3_reset(cur->st);
        xerr *e = sql_exec(cur->c->h, "COMMIT");
        if (e) { /* a connection left in a transaction would pin its snapshot: not kept */
            xerr_free(e);
            conn_close(cur->c);
        } else {
            cursor_conn_put(cur->db, cur->c);
        }
    }
    if (cur->inverse) /* the refs of owners no record had (a dangling ref) */
        for (size_t i = 0; i < cur->cls->nfields; i++)
            if (cur->inverse[i])
                strmap_free(cur->inverse[i], free_refs);
    free(cur->inverse);
    xv_free(cur->all);
    free(cur);
}
