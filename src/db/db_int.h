/* Internal to src/db. */
#ifndef XENAPID_DB_INT_H
#define XENAPID_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "db.h"
#include "util.h"

/* Prepared statements cached per connection, per class: a few fixed kinds, then one
 * per field (get_<field>) and one per field used for lookups/inverses. */
/* Cached statements per class: these, then one per field to read it, one to look objects up
 * by it and one to set it (ST_FIXED + 3 * nfields). */
enum { ST_RECORD, ST_ALL_REFS, ST_ALL_RECORDS, ST_BY_UUID, ST_EXISTS, ST_COUNT, ST_CREATE, ST_DESTROY, ST_EVENT,
       ST_EVENTS_AFTER, ST_FIXED };

struct conn {
    sqlite3 *h;
    sqlite3_stmt ***stmts;       /* [class][ST_FIXED + 3 * nfields] */
    struct conn *next_free;
};

/* An object touched by a transaction, for its event. */
struct touch {
    const struct dm_class *c;
    char *ref;
    int op;                      /* TOUCH_ADD, TOUCH_MOD, TOUCH_DEL, or TOUCH_NONE */
};
enum { TOUCH_NONE, TOUCH_ADD, TOUCH_MOD, TOUCH_DEL };

/* How long a connection waits for a lock another holds. */
#define DB_BUSY_TIMEOUT_MS 10000

struct db {
    char *path;
    int64_t event_log_size;
    struct conn *writer;
    pthread_mutex_t write_lock;
    /* group commit (txn.c): the open SQLite transaction that ended transactions wait
     * in for their COMMIT, under write_lock; batch_done (with write_lock) tells them */
    struct batch *batch;
    pthread_cond_t batch_done;
    atomic_int lock_waiters;     /* threads in db_begin waiting for write_lock */
    /* reader pool */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct conn *free_readers;
    struct conn *all_readers;
    int nreaders;
    /* events */
    pthread_mutex_t ev_lock;
    pthread_cond_t ev_cond;
    int64_t last_event, first_event;
    /* db_set_commit_hook (tests); under write_lock */
    db_commit_hook commit_hook;
    void *commit_hook_ctx;
    db_committed_hook committed_hook;
    void *committed_hook_ctx;
    /* serialised records (recache.c); NULL when it keeps none */
    struct recache *recache;
    /* idle connections of cursors (cursor.c), under pool_lock */
    struct conn *idle_cursors;
    int nidle_cursors;
    /* the WAL's length after the writer's last commit, and the length at which the
     * next restart is tried (txn.c, wal_restart); under write_lock */
    int wal_frames, wal_restart_at, wal_restart_fails;
    /* a member's store (remote.c): every operation goes to the master */
    db_remote_fn remote;
    void *remote_ctx;
};

struct db_txn {
    struct db *db;
    struct touch *touches;
    size_t ntouches, cap;
    bool open;
    xv *ops;                     /* remote: the writes, sent at commit */
};

/* recache.c: the cache behind db_read_record_bytes */
struct recache;
struct recache *recache_new(size_t limit); /* NULL for limit 0 */
void recache_free(struct recache *rc);
/* A commit t made is in the database: its objects' bytes go (rc may be NULL). */
void recache_committed(struct recache *rc, const struct db_txn *t);

/* remote.c */
xerr *remote_read_record(struct db *db, const struct dm_class *c, const char *ref, xv **out);
xerr *remote_read_field(struct db *db, const struct dm_class *c, const char *ref, const struct dm_field *f,
                        xv **out);
xerr *remote_read_refs(struct db *db, const struct dm_class *c, xv **out);
xerr *remote_read_all_records(struct db *db, const struct dm_class *c, xv **out);
xerr *remote_lookup_uuid(struct db *db, const struct dm_class *c, const char *uuid, char **ref);
xerr *remote_lookup_field(struct db *db, const struct dm_class *c, const struct dm_field *f, const xv *value,
                          xv **refs);
bool remote_exists(struct db *db, const struct dm_class *c, const char *ref);
int64_t remote_count(struct db *db, const struct dm_class *c);
xerr *remote_txn_create(struct db_txn *t, const struct dm_class *c, const char *ref, const xv *record);
xerr *remote_txn_set(struct db_txn *t, const struct dm_class *c, const char *ref, const struct dm_field *f,
                     const xv *value);
xerr *remote_txn_destroy(struct db_txn *t, const struct dm_class *c, const char *ref);
xerr *remote_txn_touch(struct db_txn *t, const struct dm_class *c, const char *ref);
xerr *remote_txn_read_record(struct db_txn *t, const struct dm_class *c, const char *ref, xv **out);
xerr *remote_txn_read_field(struct db_txn *t, const struct dm_class *c, const char *ref,
                            const struct dm_field *f, xv **out);
xerr *remote_txn_lookup_field(struct db_txn *t, const struct dm_class *c, const struct dm_field *f,
                              const xv *value, xv **refs);
xerr *remote_txn_read_refs(struct db_txn *t, const struct dm_class *c, xv **out);
xerr *remote_commit(struct db_txn *t, int64_t *last_event);
void remote_abort(struct db_txn *t);
int64_t remote_event_id(struct db *db, const char *which);
bool remote_wait_events(struct db *db, int64_t after, double timeout);
xerr *remote_events_after(struct db *db, int64_t after, int limit, db_event_cb cb, void *ctx,
                          int64_t *last_visited);
/* typing values that came through JSON, by their datamodel type (takes in) */
xerr *db_remote_type_value(const struct dm_type *t, xv *in, xv **out);
xerr *db_remote_type_record(const struct dm_class *c, xv *in, xv **out);

struct conn *conn_open(struct db *db, const char *path, bool writer, xerr **err);
void conn_close(struct conn *c);
/* The writer restarts the WAL as it grows (txn.c). */
void db_watch_wal(struct db *db);
/* The cached statement in slot, prepared from the printf-formatted SQL the first time. */
sqlite3_stmt *conn_stmt(struct conn *c, const struct dm_class *cls, int slot, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
xerr *sql_error(sqlite3 *h, const char *what);
xerr *sql_exec(sqlite3 *h, const char *sql);
/* On the writer: a failure of the disk itself (full, I/O error, read-only) is
 * DATABASE_WRITE_FAILED, anything else INTERNAL_ERROR as above. */
xerr *sql_write_error(sqlite3 *h, const char *what);
xerr *sql_write_exec(sqlite3 *h, const char *sql);

/* value codec */
xerr *bind_value(sqlite3_stmt *st, int col, const struct dm_type *t, const xv *v);
xv *column_value(sqlite3_stmt *st, int col, const struct dm_type *t);
bool field_stored(const struct dm_field *f);

/* reads shared by readers and the writer */
xerr *conn_read_record(struct conn *c, const struct dm_class *cls, const char *ref, xv **out);
xerr *conn_read_field(struct conn *c, const struct dm_class *cls, const char *ref,
                      const struct dm_field *f, xv **out);
xerr *conn_lookup_field(struct conn *c, const struct dm_class *cls, const struct dm_field *f,
                        const xv *value, xv **refs);
xerr *conn_read_refs(struct conn *c, const struct dm_class *cls, xv **out);
bool conn_exists(struct conn *c, const struct dm_class *cls, const char *ref);
/* The record in st's current row, its stored fields from column first_col on (in field
 * order), its inverse fields read on c, or (inverse not NULL) taken from inverse[field
 * index]: ref -> its refs, as a whole-table scan reads them (cursor.c). */
struct strmap;
xv *row_to_record(struct conn *c, sqlite3_stmt *st, int first_col, const struct dm_class *cls, const char *ref,
                  struct strmap *const *inverse);
/* The ST_ALL_RECORDS statement: _ref, then the stored fields, in rowid order. */
sqlite3_stmt *conn_all_records_stmt(struct conn *c, const struct dm_class *cls);
/* cursor.c: the idle connections of cursors closed (db_close) */
void cursor_conns_close(struct db *db);

xerr *schema_apply(struct db *db, sqlite3 *h);
struct conn *db_reader_get(struct db *db);
void db_reader_put(struct db *db, struct conn *c);

#endif
