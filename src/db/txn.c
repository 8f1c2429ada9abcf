/* Writes, and the event log they append to. */
#include "db_int.h"
#include "dm_gen.h"
#include "log.h"
#include "wire.h"

#include <assert.h>
#include <string.h>

/* ---- touched objects, coalesced to one event per object per transaction ---- */

static struct touch *find_touch(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    /* newest first: a transaction mostly touches the object it just touched */
    for (size_t i = t->ntouches; i-- > 0;)
        if (t->touches[i].c == c && strcmp(t->touches[i].ref, ref) == 0)
            return &t->touches[i];
    return NULL;
}

static void touch(struct db_txn *t, const struct dm_class *c, const char *ref, int op)
{
    struct touch *old = find_touch(t, c, ref);
    if (old) {
        static const int merge[4][4] = {
            /* old \ new:  NONE       ADD        MOD        DEL */
            /* NONE */ {TOUCH_NONE, TOUCH_ADD, TOUCH_MOD, TOUCH_DEL},
            /* ADD  */ {TOUCH_ADD, TOUCH_ADD, TOUCH_ADD, TOUCH_NONE},
            /* MOD  */ {TOUCH_MOD, TOUCH_MOD, TOUCH_MOD, TOUCH_DEL},
            /* DEL  */ {TOUCH_DEL, TOUCH_MOD, TOUCH_DEL, TOUCH_DEL},
        };
        old->op = merge[old->op][op];
        return;
    }
    if (t->ntouches == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->touches = xrealloc(t->touches, t->cap * sizeof(*t->touches));
    }
    t->touches[t->ntouches++] = (struct touch){c, xstrdup(ref), op};
}

/* A ref field that an inverse field is computed from: changing it changes the
 * inverse field of the objects it points to, so they get mod events too. */
static const struct dm_class *inverse_owner(const struct dm_class *c, const struct dm_field *f)
{
    if (f->type->kind != DM_REF)
        return NULL;
    const struct dm_class *target = dm_class_find(f->type->ref_class);
    for (size_t i = 0; target && i < target->nfields; i++) {
        const struct dm_field *tf = &target->fields[i];
        if (tf->inverse_class && strcmp(tf->inverse_class, c->name) == 0 &&
            strcmp(tf->inverse_field, f->name) == 0)
            return target;
    }
    return NULL;
}

static void touch_target(struct db_txn *t, const struct dm_class *target, const xv *ref)
{
    const char *r = xv_str(ref);
    if (target && r && strcmp(r, REF_NULL) != 0 && *r)
        touch(t, target, r, TOUCH_MOD);
}

/* ---- transactions ---- */

/* A COMMIT the disk refused may still have left the whole transaction in the WAL:
 * when only its fsync failed, every frame is there, with a valid commit frame past
 * the end SQLite now knows of, and WAL recovery after a crash would bring back a
 * change the client was told failed.  The next commit is written over those frames
 * and ends the WAL there, so one is made at once: a no-op (user_version set to
 * itself, which rewrites page 1).  It may fail too, and is then as harmless. */
static void overwrite_refused_commit(sqlite3 *h)
{
    sqlite3_stmt *st;
    int version = 0;
    if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    _cleanup_free_ char *sql = xasprintf("PRAGMA user_version = %d", version);
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    log_warn("database: a commit failed on the disk: no-op commit written over it (%s)", sqlite3_errstr(rc));
}

/* ---- the WAL's restarts ----
 *
 * SQLite's automatic checkpoint copies the WAL into the database after a commit, but
 * the WAL starts again from its beginning only when a write begins with no reader on
 * it; under steady load some reader always is, and the WAL grew without bound (load
 * soak: 4.3 GB after 15 min, 6 MB/s, while the checkpoints kept up with it).  Once it
 * holds WAL_RESTART_FRAMES, the writer, right after a commit is published (no
 * transaction open), checkpoints it with TRUNCATE: readers of older snapshots are
 * waited for, at most WAL_RESTART_WAIT_MS (new ones read the database file), and the
 * WAL is emptied.  Writers wait meanwhile, as SQLite makes them for any restart.
 * Held up by a reader, it is tried again later, each failure doubling the distance
 * (WAL_RESTART_FRAMES, up to 16 times that).  (50 ms never sufficed under
 * the soak at load 17: a TRUNCATE from outside waited 1 s for its readers.) */
#define WAL_RESTART_FRAMES 4096
#define WAL_RESTART_WAIT_MS 500

/* The checkpoints run after the batch is published (batch_settle), not in this hook,
 * which SQLite calls inside COMMIT: until then the batch's events are in the log but
 * not yet announced, and its callers not yet answered. */
static int wal_hook(void *ctx, sqlite3 *h, const char *name, int frames)
{
    (void)h;
    (void)name;
    struct db *db = ctx;
    db->wal_frames = frames;
    return SQLITE_OK;
}

void db_watch_wal(struct db *db)
{
    db->wal_restart_at = WAL_RESTART_FRAMES;
    sqlite3_wal_hook(db->writer->h, wal_hook, db);
}

/* A checkpoint that failed other than by a reader or writer in its way is a disk
 * error: said, not dropped. */
static void checkpoint_result(const char *kind, int rc)
{
    if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
        log_warn("database: %s checkpoint failed: %s", kind, sqlite3_errstr(rc));
}

/* With write_lock held, after a commit has been published. */
static void wal_checkpoint(struct db *db, sqlite3 *h)
{
    /* what sqlite3_wal_autocheckpoint did (its default, 1000), which the hook replaces */
    if (db->wal_frames >= 1000)
        checkpoint_result("passive", sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL));
    if (db->wal_frames < db->wal_restart_at)
        return;
    sqlite3_busy_timeout(h, WAL_RESTART_WAIT_MS);
    int rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(h, DB_BUSY_TIMEOUT_MS);
    checkpoint_result("truncating", rc);
    if (rc == SQLITE_OK) {
        db->wal_frames = 0;
        db->wal_restart_fails = 0;
        db->wal_restart_at = WAL_RESTART_FRAMES;
    } else {
        /* a reader holds an old snapshot (a long cursor): each try makes writers wait
         * up to WAL_RESTART_WAIT_MS, so the tries grow apart, to 16x at most */
        if (db->wal_restart_fails < 4)
            db->wal_restart_fails++;
        db->wal_restart_at = db->wal_frames + (WAL_RESTART_FRAMES << db->wal_restart_fails);
    }
}

/* ---- group commit ----
 *
 * Each transaction is a savepoint inside one SQLite transaction, the batch, that stays
 * open while other transactions are waiting to begin: a transaction that ends with
 * others waiting releases write_lock and waits for the batch's COMMIT; the one that
 * ends with nobody waiting (or the batch full) commits it, one fsync for all.  Nothing
 * is visible to readers, or acknowledged, before its COMMIT is durable; a COMMIT that
 * fails fails every transaction of the batch (each was rolled back with it). */
#define BATCH_MAX 64

struct batch {
    int members;                 /* transactions that joined */
    int readers;                 /* ended well, yet to read the outcome */
    bool done;
    xerr *e;                     /* the batch's failure */
    int64_t last, first;         /* the event log after it, when it has events */
    const struct db_txn **txns;  /* the readers', until the COMMIT */
};

static void batch_free(struct batch *b)
{
    xerr_free(b->e);
    free(b->txns);
    free(b);
}

/* The batch is over (committed, or failed with e): its transactions are told. */
static void batch_finish(struct db *db, xerr *e)
{
    struct batch *b = db->batch;
    db->batch = NULL;
    /* before anyone hears of the commit: no read after it may find the old bytes */
    for (int i = 0; !e && i < b->readers; i++)
        recache_committed(db->recache, b->txns[i]);
    if (!e && b->last) {
        pthread_mutex_lock(&db->ev_lock);
        db->last_event = b->last;
        db->first_event = b->first;
        pthread_cond_broadcast(&db->ev_cond);
        pthread_mutex_unlock(&db->ev_lock);
    }
    b->e = e;
    b->done = true;
    if (!b->readers)
        batch_free(b);
    pthread_cond_broadcast(&db->batch_done);
}

/* With write_lock held, after a transaction of the batch ended or failed to begin:
 * the batch is committed now, unless another transaction is about to join it (that
 * one, or a later one, commits it). */
static void batch_settle(struct db *db, const xerr *why)
{
    struct batch *b = db->batch;
    sqlite3 *h = db->writer->h;
    if (!b)
        return;
    if (sqlite3_get_autocommit(h)) {
        /* SQLite rolled the whole transaction back (some I/O errors do): every
         * transaction of the batch is gone with it */
        batch_finish(db, why ? xerr_dup(why) : err_database_write_failed("the shared transaction was rolled back"));
        return;
    }
    if (atomic_load(&db->lock_waiters) > 0 && b->members < BATCH_MAX)
        return;
    if (!b->readers) { /* nobody's writes in it: nothing to make durable */
        xerr *e = sql_exec(h, "ROLLBACK");
        batch_finish(db, NULL);
        xerr_free(e);
        return;
    }
    xerr *e = sql_write_exec(h, "COMMIT");
    if (!e && db->committed_hook)
        db->committed_hook(db->committed_hook_ctx);
    if (e) {
        bool refused = xerr_is(e, XERR_DATABASE_WRITE_FAILED);
        if (!sqlite3_get_autocommit(h)) {
            xerr *re = sql_exec(h, "ROLLBACK");
            xerr_free(re);
        }
        if (refused)
            overwrite_refused_commit(h);
    }
    bool committed = !e;
    batch_finish(db, e);
    if (committed)
        wal_checkpoint(db, h);
}

xerr *db_begin(struct db *db, struct db_txn **out)
{
    if (db->remote) {
        struct db_txn *t = xcalloc(1, sizeof(*t));
        t->db = db;
        t->open = true;
        t->ops = xv_array();
        *out = t;
        return NULL;
    }
    *out = NULL;
    atomic_fetch_add(&db->lock_waiters, 1);
    pthread_mutex_lock(&db->write_lock);
    atomic_fetch_sub(&db->lock_waiters, 1);
    sqlite3 *h = db->writer->h;
    if (!db->batch) {
        xerr *e = sql_write_exec(h, "BEGIN IMMEDIATE");
        if (e) {
            pthread_mutex_unlock(&db->write_lock);
            return e;
        }
        db->batch = xcalloc(1, sizeof(*db->batch));
    }
    xerr *e = sql_write_exec(h, "SAVEPOINT txn");
    if (e) {
        batch_settle(db, e);
        pthread_mutex_unlock(&db->write_lock);
        return e;
    }
    db->batch->members++;
    struct db_txn *t = xcalloc(1, sizeof(*t));
    t->db = db;
    t->open = true;
    *out = t;
    return NULL;
}

static void txn_free(struct db_txn *t)
{
    for (size_t i = 0; i < t->ntouches; i++)
        free(t->touches[i].ref);
    free(t->touches);
    free(t);
}

/* The transaction's savepoint undone: the batch's other transactions stay.  SQLite has
 * already rolled back everything after some failures (disk full, I/O errors): then
 * there is nothing left to undo, and batch_settle fails the batch. */
static void rollback(struct db_txn *t)
{
    sqlite3 *h = t->db->writer->h;
    xerr *e = sqlite3_get_autocommit(h) ? NULL : sql_exec(h, "ROLLBACK TO txn");
    if (!e && !sqlite3_get_autocommit(h))
        e = sql_exec(h, "RELEASE txn");
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("%s", s);
        xerr_free(e);
    }
}

void db_abort(struct db_txn *t)
{
    if (!t)
        return;
    if (t->db->remote) {
        remote_abort(t);
        return;
    }
    struct db *db = t->db;
    rollback(t);
    batch_settle(db, NULL);
    pthread_mutex_unlock(&db->write_lock);
    txn_free(t);
}

xerr *db_txn_create(struct db_txn *t, const struct dm_class *c, const char *ref, const xv *record)
{
    if (t->db->remote)
        return remote_txn_create(t, c, ref, record);
    struct conn *w = t->db->writer;
    sqlite3_stmt *st;
    if (w->stmts[c->index][ST_CREATE]) {
        st = conn_stmt(w, c, ST_CREATE, "%s", "");  /* cached: the text is not needed */
    } else {
        buf cols, qs;
        buf_init(&cols);
        buf_init(&qs);
        buf_printf(&cols, "INSERT INTO \"%s\" (_ref", c->name);
        buf_adds(&qs, ") VALUES (?1");
        int k = 1;
        for (size_t i = 0; i < c->nfields; i++) {
            if (!field_stored(&c->fields[i]))
                continue;
            buf_printf(&cols, ", \"%s\"", c->fields[i].name);
            buf_printf(&qs, ", ?%d", ++k);
        }
        buf_adds(&cols, qs.p);
        buf_adds(&cols, ")");
        buf_free(&qs);
        st = conn_stmt(w, c, ST_CREATE, "%s", cols.p);
        buf_free(&cols);
    }
    if (!st)
        return sql_error(w->h, "prepare create");
    int n;
    xerr *e = NULL;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    n = 1;
    for (size_t i = 0; !e && i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        if (!field_stored(f))
            continue;
        xv *v = xv_struct_get(record, f->name);
        _cleanup_xv_ xv *def = v ? NULL : dm_default(f);
        e = bind_value(st, ++n, f->type, v ? v : def);
        if (!e && f->type->kind == DM_REF)
            touch_target(t, inverse_owner(c, f), v ? v : def);
    }
    if (!e) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT)
            e = xerr_internal("%s %s already exists (ref or uuid)", c->name, ref);
        else if (rc != SQLITE_DONE)
            e = sql_write_error(w->h, "create");
    }
    sqlite3_reset(st);
    if (!e)
        touch(t, c, ref, TOUCH_ADD);
    return e;
}

/* Run a prepared (cached) UPDATE or DELETE of one object: HANDLE_INVALID
 * when no such object exists, else the object's event is noted. */
static xerr *run_on_object(struct db_txn *t, const struct dm_class *c, const char *ref, sqlite3_stmt *st,
                           const char *what, int op)
{
    sqlite3 *h = t->db->writer->h;
    xerr *e = NULL;
    if (sqlite3_step(st) != SQLITE_DONE)
        e = sql_write_error(h, what);
    else if (sqlite3_changes(h) == 0)
        e = err_handle_invalid(c->name, ref);
    sqlite3_reset(st);
    if (!e)
        touch(t, c, ref, op);
    return e;
}

xerr *db_txn_set(struct db_txn *t, const struct dm_class *c, const char *ref, const struct dm_field *f,
                 const xv *value)
{
    if (t->db->remote)
        return remote_txn_set(t, c, ref, f, value);
    struct conn *w = t->db->writer;
    if (!field_stored(f))
        return xerr_internal("%s.%s is computed and cannot be set", c->name, f->name);
    const struct dm_class *owner = inverse_owner(c, f);
    if (owner) {
        xv *old = NULL;
        xerr *e = conn_read_field(w, c, ref, f, &old);
        if (e)
            return e;
        touch_target(t, owner, old);
        xv_free(old);
        touch_target(t, owner, value);
    }
    sqlite3_stmt *st = conn_stmt(w, c, ST_FIXED + 2 * (int)c->nfields + f->index,
                                 "UPDATE \"%s\" SET \"%s\" = ?1 WHERE _ref = ?2", c->name, f->name);
    if (!st)
        return sql_error(w->h, "prepare set");
    xerr *e = bind_value(st, 1, f->type, value);
    sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
    return e ? e : run_on_object(t, c, ref, st, "set", TOUCH_MOD);
}

xerr *db_txn_destroy(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    if (t->db->remote)
        return remote_txn_destroy(t, c, ref);
    struct conn *w = t->db->writer;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        const struct dm_class *owner = inverse_owner(c, f);
        if (!owner)
            continue;
        xv *old = NULL;
        xerr *e = conn_read_field(w, c, ref, f, &old);
        if (e)
            return e;
        touch_target(t, owner, old);
        xv_free(old);
    }
    sqlite3_stmt *st = conn_stmt(w, c, ST_DESTROY, "DELETE FROM \"%s\" WHERE _ref = ?1", c->name);
    if (!st)
        return sql_error(w->h, "prepare destroy");
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    return run_on_object(t, c, ref, st, "destroy", TOUCH_DEL);
}

xerr *db_txn_touch(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    if (t->db->remote)
        return remote_txn_touch(t, c, ref);
    if (!conn_exists(t->db->writer, c, ref))
        return err_handle_invalid(c->name, ref);
    touch(t, c, ref, TOUCH_MOD);
    return NULL;
}

xerr *db_txn_read_record(struct db_txn *t, const struct dm_class *c, const char *ref, xv **out)
{
    if (t->db->remote)
        return remote_txn_read_record(t, c, ref, out);
    return conn_read_record(t->db->writer, c, ref, out);
}

xerr *db_txn_read_field(struct db_txn *t, const struct dm_class *c, const char *ref,
                        const struct dm_field *f, xv **out)
{
    if (t->db->remote)
        return remote_txn_read_field(t, c, ref, f, out);
    return conn_read_field(t->db->writer, c, ref, f, out);
}

xerr *db_txn_lookup_field(struct db_txn *t, const struct dm_class *c, const struct dm_field *f,
                          const xv *value, xv **refs)
{
    if (t->db->remote)
        return remote_txn_lookup_field(t, c, f, value, refs);
    return conn_lookup_field(t->db->writer, c, f, value, refs);
}

xerr *db_txn_read_refs(struct db_txn *t, const struct dm_class *c, xv **out)
{
    if (t->db->remote)
        return remote_txn_read_refs(t, c, out);
    return conn_read_refs(t->db->writer, c, out);
}

/* ---- commit: the events, then the data and the events together ---- */

static xerr *append_events(struct db_txn *t, int64_t *last)
{
    struct conn *w = t->db->writer;
    const char *opname[] = {[TOUCH_ADD] = event_operation_name(EVENT_OPERATION_ADD),
                            [TOUCH_MOD] = event_operation_name(EVENT_OPERATION_MOD),
                            [TOUCH_DEL] = event_operation_name(EVENT_OPERATION_DEL)};
    /* one statement, cached on the first class's slot */
    sqlite3_stmt *st = conn_stmt(w, &dm_classes[0], ST_EVENT,
                                 "INSERT INTO _event (ts, class, op, ref, snapshot) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return sql_error(w->h, "prepare event");
    double now = now_realtime();
    xerr *e = NULL;
    for (size_t i = 0; !e && i < t->ntouches; i++) {
        struct touch *tc = &t->touches[i];
        if (tc->op == TOUCH_NONE)
            continue;
        char *json = NULL;
        if (tc->op != TOUCH_DEL) {
            xv *rec = NULL;
            xerr *re = conn_read_record(w, tc->c, tc->ref, &rec);
            if (re) { /* a referenced object that does not exist: no event for it */
                xerr_free(re);
                continue;
            }
            buf b;
            buf_init(&b);
            wire_json_write(&b, rec);
            xv_free(rec);
            json = buf_steal(&b);
        }
        sqlite3_reset(st);
        sqlite3_bind_double(st, 1, now);
        sqlite3_bind_text(st, 2, tc->c->lname, -1, SQLITE_STATIC);
        assert(tc->op != TOUCH_NONE);
        sqlite3_bind_text(st, 3, opname[tc->op], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, tc->ref, -1, SQLITE_STATIC);
        if (json)
            sqlite3_bind_text(st, 5, json, -1, free);
        else
            sqlite3_bind_null(st, 5);
        if (sqlite3_step(st) != SQLITE_DONE)
            e = sql_write_error(w->h, "append event");
        else
            *last = sqlite3_last_insert_rowid(w->h);
    }
    sqlite3_reset(st);
    return e;
}

void db_set_committed_hook(struct db *db, db_committed_hook fn, void *ctx)
{
    if (db->remote)
        return;
    pthread_mutex_lock(&db->write_lock);
    db->committed_hook = fn;
    db->committed_hook_ctx = ctx;
    pthread_mutex_unlock(&db->write_lock);
}

void db_set_commit_hook(struct db *db, db_commit_hook fn, void *ctx)
{
    if (db->remote)
        return;
    pthread_mutex_lock(&db->write_lock);
    db->commit_hook = fn;
    db->commit_hook_ctx = ctx;
    pthread_mutex_unlock(&db->write_lock);
}

xerr *db_commit(struct db_txn *t, int64_t *last_event)
{
    struct db *db = t->db;
    if (db->remote)
        return remote_commit(t, last_event);
    struct batch *b = db->batch;
    int64_t last = 0;
    xerr *e = db->commit_hook ? db->commit_hook(db->commit_hook_ctx, t) : NULL;
    if (!e)
        e = append_events(t, &last);
    int64_t first = b->first ? b->first : db->first_event;
    if (!e && last && last - first >= db->event_log_size + db->event_log_size / 8) {
        /* trim in batches, not on every commit */
        first = last - db->event_log_size + 1;
        _cleanup_free_ char *sql = xasprintf("DELETE FROM _event WHERE id < %lld", (long long)first);
        e = sql_write_exec(db->writer->h, sql);
    }
    if (!e)
        e = sql_write_exec(db->writer->h, "RELEASE txn");
    if (e) {
        rollback(t);
        batch_settle(db, e);
        pthread_mutex_unlock(&db->write_lock);
        txn_free(t);
        return e;
    }
    if (last) {
        b->last = last;
        b->first = first;
    }
    b->readers++;
    b->txns = xrealloc(b->txns, (size_t)b->readers * sizeof(*b->txns));
    b->txns[b->readers - 1] = t;
    batch_settle(db, NULL);
    while (!b->done)
        pthread_cond_wait(&db->batch_done, &db->write_lock);
    e = b->e ? xerr_dup(b->e) : NULL;
    if (--b->readers == 0)
        batch_free(b);
    if (!e && last_event) {
        pthread_mutex_lock(&db->ev_lock);
        *last_event = last ? last : db->last_event;
        pthread_mutex_unlock(&db->ev_lock);
    }
    pthread_mutex_unlock(&db->write_lock);
    txn_free(t);
    return e;
}

/* ---- reading events ---- */

int64_t db_last_event_id(struct db *db)
{
    if (db->remote)
        return remote_event_id(db, "last_event_id");
    pthread_mutex_lock(&db->ev_lock);
    int64_t v = db->last_event;
    pthread_mutex_unlock(&db->ev_lock);
    return v;
}

int64_t db_first_event_id(struct db *db)
{
    if (db->remote)
        return remote_event_id(db, "first_event_id");
    pthread_mutex_lock(&db->ev_lock);
    int64_t v = db->first_event;
    pthread_mutex_unlock(&db->ev_lock);
    return v;
}

bool db_wait_events(struct db *db, int64_t after, double timeout)
{
    if (db->remote)
        return remote_wait_events(db, after, timeout);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout < 0)
        timeout = 0;
    if (timeout > 86400.0 * 365)
        timeout = 86400.0 * 365;
    deadline.tv_sec += (time_t)timeout;
    deadline.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&db->ev_lock);
    while (db->last_event <= after) {
        if (pthread_cond_timedwait(&db->ev_cond, &db->ev_lock, &deadline) != 0)
            break;
    }
    bool more = db->last_event > after;
    pthread_mutex_unlock(&db->ev_lock);
    return more;
}

xerr *db_events_after(struct db *db, int64_t after, int limit, db_event_cb cb, void *ctx,
                      int64_t *last_visited)
{
    if (db->remote)
        return remote_events_after(db, after, limit, cb, ctx, last_visited);
    *last_visited = after;
    int64_t published = db_last_event_id(db);
    if (published <= after)
        return NULL;
    struct conn *r = db_reader_get(db);
    xerr *e = NULL;
    /* cached (its preparing cost more than reading a few events), and reset after use */
    sqlite3_stmt *st = conn_stmt(r, &dm_classes[0], ST_EVENTS_AFTER,
                                 "SELECT id, ts, class, op, ref, snapshot FROM _event WHERE id > ?1 AND id <= ?3 "
                                 "ORDER BY id LIMIT ?2");
    if (!st) {
        e = sql_error(r->h, "prepare events");
    } else {
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_int(st, 2, limit);
        sqlite3_bind_int64(st, 3, published);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            struct db_event ev = {
                .id = sqlite3_column_int64(st, 0),
                .timestamp = sqlite3_column_double(st, 1),
                .class_lname = (const char *)sqlite3_column_text(st, 2),
                .op = (const char *)sqlite3_column_text(st, 3),
                .ref = (const char *)sqlite3_column_text(st, 4),
                .snapshot_json = (const char *)sqlite3_column_text(st, 5),
            };
            *last_visited = ev.id;
            if (!cb(ctx, &ev))
                break;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            e = sql_error(r->h, "events");
        sqlite3_reset(st);
    }
    db_reader_put(db, r);
    return e;
}

xerr *db_end_id(struct db_txn *t, xerr *e, int64_t *last_event)
{
    if (e) {
        db_abort(t);
        return e;
    }
    return db_commit(t, last_event);
}

xerr *db_end(struct db_txn *t, xerr *e)
{
    return db_end_id(t, e, NULL);
}
