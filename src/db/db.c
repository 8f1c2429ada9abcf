/* Opening the store, the connection pool, the schema, and reads. */
#include "db_int.h"
#include "dm_gen.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

xerr *sql_error(sqlite3 *h, const char *what)
{
    return xerr_internal("database: %s: %s", what, sqlite3_errmsg(h));
}

xerr *sql_exec(sqlite3 *h, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        xerr *e = xerr_internal("database: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return e;
    }
    return NULL;
}

/* The store's own failures: the disk is full, failing or read-only.  Nothing a
 * client did wrong, nor a bug: they clear when the disk does. */
static bool storage_failure(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        return true;
    default:
        return false;
    }
}

xerr *sql_write_error(sqlite3 *h, const char *what)
{
    int rc = sqlite3_extended_errcode(h);
    if (!storage_failure(rc))
        return sql_error(h, what);
    log_error("database: %s: %s (SQLite code %d)", what, sqlite3_errmsg(h), rc);
    return err_database_write_failed(sqlite3_errstr(rc & 0xff));
}

xerr *sql_write_exec(sqlite3 *h, const char *sql)
{
    if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_write_error(h, sql);
    return NULL;
}

struct conn *conn_open(struct db *db, const char *path, bool writer, xerr **err)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &c->h, flags, NULL) != SQLITE_OK) {
        *err = xerr_internal("cannot open database %s: %s", path, c->h ? sqlite3_errmsg(c->h) : "?");
        sqlite3_close(c->h);
        free(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->h, DB_BUSY_TIMEOUT_MS);
    c->stmts = xcalloc(dm_nclasses, sizeof(*c->stmts));
    for (size_t i = 0; i < dm_nclasses; i++)
        c->stmts[i] = xcalloc(ST_FIXED + 3 * dm_classes[i].nfields, sizeof(sqlite3_stmt *));
    (void)db;
    *err = NULL;
    return c;
}

void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < dm_nclasses; i++) {
        for (size_t j = 0; j < ST_FIXED + 3 * dm_classes[i].nfields; j++)
            sqlite3_finalize(c->stmts[i][j]);
        free(c->stmts[i]);
    }
    free(c->stmts);
    sqlite3_close(c->h);
    free(c);
}

sqlite3_stmt *conn_stmt(struct conn *c, const struct dm_class *cls, int slot, const char *fmt, ...)
{
    sqlite3_stmt **st = &c->stmts[cls->index][slot];
    if (!*st) {
        /* formatted only the first time: after that the statement is cached */
        va_list ap;
        char *sql;
        va_start(ap, fmt);
        if (vasprintf(&sql, fmt, ap) < 0)
            abort();
        va_end(ap);
        if (sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
            log_error("database: cannot prepare '%s': %s", sql, sqlite3_errmsg(c->h));
            *st = NULL;
        }
        free(sql);
    }
    if (*st) {
        sqlite3_reset(*st);
        sqlite3_clear_bindings(*st);
    }
    return *st;
}

/* "col1", "col2", ... of the stored fields, in field order */
static char *column_list(const struct dm_class *cls)
{
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < cls->nfields; i++) {
        if (!field_stored(&cls->fields[i]))
            continue;
        if (b.len)
            buf_adds(&b, ", ");
        buf_printf(&b, "\"%s\"", cls->fields[i].name);
    }
    return buf_steal(&b);
}

/* ---- reads ---- */

/* Step st to its end, collecting the first column's refs; resets st. */
static xerr *collect_refs(struct conn *c, sqlite3_stmt *st, const char *what, xv **out)
{
    xv *a = xv_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        xv_array_push(a, xv_stringn((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0)));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        xv_free(a);
        return sql_error(c->h, what);
    }
    *out = a;
    return NULL;
}

/* An inverse field: the refs of the objects whose ref field points here. */
static xerr *conn_read_inverse(struct conn *c, const struct dm_class *cls, const char *ref,
                               const struct dm_field *f, xv **out)
{
    /* inverse_class is the class's name, as the table's: nothing to look up */
    sqlite3_stmt *st = conn_stmt(c, cls, ST_FIXED + f->index, "SELECT _ref FROM \"%s\" WHERE \"%s\" = ?1 ORDER BY rowid",
                                 f->inverse_class, f->inverse_field);
    if (!st)
        return sql_error(c->h, "prepare inverse");
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    return collect_refs(c, st, "inverse", out);
}

xv *row_to_record(struct conn *c, sqlite3_stmt *st, int first_col, const struct dm_class *cls, const char *ref,
                  struct strmap *const *inverse)
{
    xv *rec = xv_struct();
    int col = first_col;
    for (size_t i = 0; i < cls->nfields; i++) {
        const struct dm_field *f = &cls->fields[i];
        if (field_stored(f)) {
            xv_struct_append_static(rec, f->name, column_value(st, col++, f->type));
        } else if (inverse) {
            xv *refs = strmap_remove(inverse[i], ref); /* each record is read once */
            xv_struct_append_static(rec, f->name, refs ? refs : xv_array());
        } else {
            xv *refs = NULL;
            xerr *e = conn_read_inverse(c, cls, ref, f, &refs);
            if (e) {
                xerr_free(e);
                refs = xv_array();
            }
            xv_struct_append_static(rec, f->name, refs);
        }
    }
    return rec;
}

xerr *conn_read_record(struct conn *c, const struct dm_class *cls, const char *ref, xv **out)
{
    *out = NULL;
    sqlite3_stmt *st = c->stmts[cls->index][ST_RECORD];
    if (!st) {
        _cleanup_free_ char *cols = column_list(cls);
        st = conn_stmt(c, cls, ST_RECORD, "SELECT %s FROM \"%s\" WHERE _ref = ?1", cols, cls->name);
    } else {
        sqlite3_reset(st);
    }
    if (!st)
        return sql_error(c->h, "prepare get_record");
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        xv *rec = row_to_record(c, st, 0, cls, ref, NULL);
        sqlite3_reset(st);
        *out = rec;
        return NULL;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return err_handle_invalid(cls->name, ref);
    return sql_error(c->h, "get_record");
}

xerr *conn_read_field(struct conn *c, const struct dm_class *cls, const char *ref,
                      const struct dm_field *f, xv **out)
{
    *out = NULL;
    sqlite3_stmt *st;
    if (!field_stored(f)) {
        /* the object itself must exist, or the empty set would hide a bad ref */
        if (!conn_exists(c, cls, ref))
            return err_handle_invalid(cls->name, ref);
        return conn_read_inverse(c, cls, ref, f, out);
    }
    st = conn_stmt(c, cls, ST_FIXED + f->index, "SELECT \"%s\" FROM \"%s\" WHERE _ref = ?1", f->name, cls->name);
    if (!st)
        return sql_error(c->h, "prepare get_field");
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = column_value(st, 0, f->type);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return NULL;
    if (rc == SQLITE_DONE)
        return err_handle_invalid(cls->name, ref);
    return sql_error(c->h, "get_field");
}

xerr *conn_lookup_field(struct conn *c, const struct dm_class *cls, const struct dm_field *f,
                        const xv *value, xv **refs)
{
    *refs = NULL;
    if (!field_stored(f) || dm_is_map_or_set(f->type))
        return xerr_internal("lookup on %s.%s, which is not a stored scalar", cls->name, f->name);
    sqlite3_stmt *st = conn_stmt(c, cls, ST_FIXED + (int)cls->nfields + f->index,
                                 "SELECT _ref FROM \"%s\" WHERE \"%s\" = ?1 ORDER BY rowid", cls->name, f->name);
    if (!st)
        return sql_error(c->h, "prepare lookup");
    xerr *e = bind_value(st, 1, f->type, value);
    return e ? e : collect_refs(c, st, "lookup", refs);
}

xerr *conn_read_refs(struct conn *c, const struct dm_class *cls, xv **out)
{
    sqlite3_stmt *st = conn_stmt(c, cls, ST_ALL_REFS, "SELECT _ref FROM \"%s\" ORDER BY rowid", cls->name);
    if (!st)
        return sql_error(c->h, "prepare get_all");
    return collect_refs(c, st, "get_all", out);
}

bool conn_exists(struct conn *c, const struct dm_class *cls, const char *ref)
{
    sqlite3_stmt *st = conn_stmt(c, cls, ST_EXISTS, "SELECT 1 FROM \"%s\" WHERE _ref = ?1", cls->name);
    if (!st)
        return false;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return found;
}

sqlite3_stmt *conn_all_records_stmt(struct conn *c, const struct dm_class *cls)
{
    sqlite3_stmt *st = c->stmts[cls->index][ST_ALL_RECORDS];
    if (st) { /* cached: no column list to make */
        sqlite3_reset(st);
        return st;
    }
    _cleanup_free_ char *cols = column_list(cls);
    return conn_stmt(c, cls, ST_ALL_RECORDS, "SELECT _ref, %s FROM \"%s\" ORDER BY rowid", cols, cls->name);
}

/* ---- the reader pool ---- */

struct conn *db_reader_get(struct db *db)
{
    pthread_mutex_lock(&db->pool_lock);
    while (!db->free_readers)
        pthread_cond_wait(&db->pool_cond, &db->pool_lock);
    struct conn *c = db->free_readers;
    db->free_readers = c->next_free;
    pthread_mutex_unlock(&db->pool_lock);
    return c;
}

void db_reader_put(struct db *db, struct conn *c)
{
    pthread_mutex_lock(&db->pool_lock);
    c->next_free = db->free_readers;
    db->free_readers = c;
    pthread_cond_signal(&db->pool_cond);
    pthread_mutex_unlock(&db->pool_lock);
}

xerr *db_read_record(struct db *db, const struct dm_class *c, const char *ref, xv **out)
{
    if (db->remote)
        return remote_read_record(db, c, ref, out);
    struct conn *r = db_reader_get(db);
    xerr *e = conn_read_record(r, c, ref, out);
    db_reader_put(db, r);
    return e;
}

xerr *db_read_field(struct db *db, const struct dm_class *c, const char *ref, const struct dm_field *f,
                    xv **out)
{
    if (db->remote)
        return remote_read_field(db, c, ref, f, out);
    struct conn *r = db_reader_get(db);
    xerr *e = conn_read_field(r, c, ref, f, out);
    db_reader_put(db, r);
    return e;
}

xerr *db_read_refs(struct db *db, const struct dm_class *c, xv **out)
{
    if (db->remote)
        return remote_read_refs(db, c, out);
    struct conn *r = db_reader_get(db);
    xerr *e = conn_read_refs(r, c, out);
    db_reader_put(db, r);
    return e;
}

xerr *db_read_all_records(struct db *db, const struct dm_class *c, xv **out)
{
    *out = NULL;
    struct db_cursor *cur;
    xerr *e = db_cursor_open(db, c, &cur);
    if (e)
        return e;
    xv *all = xv_struct();
    char *ref;
    xv *rec;
    while (!(e = db_cursor_next(cur, &ref, &rec)) && rec) {
        xv_struct_append(all, ref, rec);
        free(ref);
    }
    db_cursor_close(cur);
    if (e) {
        xv_free(all);
        return e;
    }
    *out = all;
    return NULL;
}

xerr *db_lookup_uuid(struct db *db, const struct dm_class *c, const char *uuid, char **ref)
{
    *ref = NULL;
    if (db->remote)
        return remote_lookup_uuid(db, c, uuid, ref);
    struct conn *r = db_reader_get(db);
    sqlite3_stmt *st = conn_stmt(r, c, ST_BY_UUID, "SELECT _ref FROM \"%s\" WHERE uuid = ?1", c->name);
    xerr *e = NULL;
    if (!st) {
        e = sql_error(r->h, "prepare get_by_uuid");
    } else {
        sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *ref = xstrdup((const char *)sqlite3_column_text(st, 0));
        else if (rc == SQLITE_DONE)
            e = err_uuid_invalid(c->name, uuid);
        else
            e = sql_error(r->h, "get_by_uuid");
        sqlite3_reset(st);
    }
    db_reader_put(db, r);
    return e;
}

xerr *db_lookup_field(struct db *db, const struct dm_class *c, const struct dm_field *f, const xv *value,
                      xv **refs)
{
    if (db->remote)
        return remote_lookup_field(db, c, f, value, refs);
    struct conn *r = db_reader_get(db);
    xerr *e = conn_lookup_field(r, c, f, value, refs);
    db_reader_put(db, r);
    return e;
}

bool db_exists(struct db *db, const struct dm_class *c, const char *ref)
{
    if (db->remote)
        return remote_exists(db, c, ref);
    struct conn *r = db_reader_get(db);
    bool found = conn_exists(r, c, ref);
    db_reader_put(db, r);
    return found;
}

int64_t db_count(struct db *db, const struct dm_class *c)
{
    if (db->remote)
        return remote_count(db, c);
    struct conn *r = db_reader_get(db);
    sqlite3_stmt *st = conn_stmt(r, c, ST_COUNT, "SELECT count(*) FROM \"%s\"", c->name);
    int64_t n = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    db_reader_put(db, r);
    return n;
}

/* ---- open and close ---- */

static xerr *load_event_bounds(struct db *db)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->writer->h, "SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM _event",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_error(db->writer->h, "event bounds");
    if (sqlite3_step(st) == SQLITE_ROW) {
        db->first_event = sqlite3_column_int64(st, 0);
        db->last_event = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    /* after a restart with an empty log, continue numbering where the sequence left off */
    if (sqlite3_prepare_v2(db->writer->h, "SELECT seq FROM sqlite_sequence WHERE name = '_event'", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > db->last_event)
            db->last_event = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (!db->first_event)
        db->first_event = db->last_event + 1;
    return NULL;
}

xerr *db_open(const struct db_options *opt, struct db **out)
{
    *out = NULL;
    if (strcmp(opt->sync, "full") != 0 && strcmp(opt->sync, "normal") != 0)
        return err_invalid_value("db-sync", opt->sync);
    if (sqlite3_threadsafe() == 0)
        return xerr_internal("SQLite was built without thread support");

    struct db *db = xcalloc(1, sizeof(*db));
    db->path = xstrdup(opt->path);
    db->event_log_size = opt->event_log_size > 0 ? opt->event_log_size : 100000;
    pthread_mutex_init(&db->write_lock, NULL);
    pthread_cond_init(&db->batch_done, NULL);
    pthread_mutex_init(&db->pool_lock, NULL);
    pthread_cond_init(&db->pool_cond, NULL);
    pthread_mutex_init(&db->ev_lock, NULL);
    pthread_cond_init(&db->ev_cond, NULL);

    xerr *e = NULL;
    db->writer = conn_open(db, opt->path, true, &e);
    if (!e)
        e = sql_exec(db->writer->h, "PRAGMA journal_mode=WAL");
    if (!e)
        db_watch_wal(db);
    if (!e) {
        _cleanup_free_ char *sync = xasprintf("PRAGMA synchronous=%s", opt->sync);
        e = sql_exec(db->writer->h, sync);
    }
    if (!e)
        e = schema_apply(db, db->writer->h);
    if (!e)
        e = load_event_bounds(db);
    db->recache = recache_new(opt->record_cache_size);
    int n = opt->read_connections > 0 ? opt->read_connections : 8;
    for (int i = 0; !e && i < n; i++) {
        struct conn *c = conn_open(db, opt->path, false, &e);
        if (c) {
            c->next_free = db->free_readers;
            db->free_readers = c;
            db->nreaders++;
        }
    }
    if (e) {
        db_close(db);
        return e;
    }
    *out = db;
    return NULL;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    if (db->remote) {
        free(db);
        return;
    }
    for (struct conn *c = db->free_readers, *next; c; c = next) {
        next = c->next_free;
        conn_close(c);
    }
    cursor_conns_close(db);
    conn_close(db->writer);
    recache_free(db->recache);
    pthread_mutex_destroy(&db->write_lock);
    pthread_cond_destroy(&db->batch_done);
    pthread_mutex_destroy(&db->pool_lock);
    pthread_cond_destroy(&db->pool_cond);
    pthread_mutex_destroy(&db->ev_lock);
    pthread_cond_destroy(&db->ev_cond);
    free(db->path);
    free(db);
}
