/* db: the SQLite store.
 *
 * One table per datamodel class, one column per stored field (sets and maps as
 * JSON), an event log (_event) and a meta table holding the schema version.
 * WAL mode: readers never block the writer.  Reads use a pool of connections and
 * see the last committed state.  Every write happens in a db_txn that holds the
 * single writer connection; db_commit appends one event per touched object (with
 * the object's snapshot) in the same SQLite transaction, so the event log can never
 * disagree with the data, and an acknowledged write survives a crash of the daemon.
 * Inverse fields (host.resident_VMs, ...) are computed on read, and a change to the
 * ref field behind one also raises a mod event on the objects it pointed to.
 */
#ifndef XENAPID_DB_H
#define XENAPID_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "dm.h"
#include "util.h"
#include "xerr.h"
#include "xv.h"

#define DB_SCHEMA_VERSION 1

struct db;
struct db_txn;

struct db_options {
    const char *path;
    const char *sync;            /* "full" or "normal" */
    int64_t event_log_size;      /* events kept */
    int read_connections;        /* size of the reader pool */
    size_t record_cache_size;    /* bytes of serialised records kept (0: none) */
};

xerr *db_open(const struct db_options *opt, struct db **out);
void db_close(struct db *db);

/* ---- reads: the latest committed state ---- */
/* HANDLE_INVALID [class, ref] when there is no such object. */
xerr *db_read_record(struct db *db, const struct dm_class *c, const char *ref, xv **out);
xerr *db_read_field(struct db *db, const struct dm_class *c, const char *ref,
                    const struct dm_field *f, xv **out);
xerr *db_read_refs(struct db *db, const struct dm_class *c, xv **out);        /* array */
xerr *db_read_all_records(struct db *db, const struct dm_class *c, xv **out); /* ref -> record */
/* Every record of a class, one at a time, from one read snapshot: what get_all_records
 * streams, so that the whole table is never in memory at once.  A cursor has a store
 * connection of its own, not one of the reader pool: a cursor that a slow client
 * drains holds nothing that other calls wait for.  (The snapshot it reads keeps the
 * WAL from being checkpointed past it while it is open: close it soon.) */
struct db_cursor;
xerr *db_cursor_open(struct db *db, const struct dm_class *c, struct db_cursor **out);
/* The next record and its ref (caller frees both); *rec NULL after the last. */
xerr *db_cursor_next(struct db_cursor *cur, char **ref, xv **rec);
void db_cursor_close(struct db_cursor *cur);
/* UUID_INVALID [class, uuid] when no object has it. */
xerr *db_lookup_uuid(struct db *db, const struct dm_class *c, const char *uuid, char **ref);
/* The refs of the objects whose (scalar) field equals value. */
xerr *db_lookup_field(struct db *db, const struct dm_class *c, const struct dm_field *f,
                      const xv *value, xv **refs);
bool db_exists(struct db *db, const struct dm_class *c, const char *ref);
int64_t db_count(struct db *db, const struct dm_class *c);

/* ---- serialised records, cached ----
 * The bytes fn makes of an object's record (its wire form; slot, < DB_BYTES_SLOTS,
 * tells one form from another), appended to out.  They are kept per object and slot,
 * within record_cache_size bytes (least recently used go first), and dropped by
 * every commit that touches the object (every object it raises an event on: inverse
 * fields included) before that commit returns; bytes made from a read that a commit
 * overtook are not kept.  So out always holds the bytes of the last committed record.
 * fn may change the record (it is freed after).  A member's store keeps none. */
#define DB_BYTES_SLOTS 2
typedef void (*db_bytes_fn)(void *ctx, const struct dm_class *c, xv *record, buf *out);
xerr *db_read_record_bytes(struct db *db, const struct dm_class *c, const char *ref, int slot, db_bytes_fn fn,
                           void *ctx, buf *out);
struct db_cache_stats {
    uint64_t hits, misses;       /* db_read_record_bytes served from it, or not */
    size_t entries, bytes;       /* held now */
};
void db_record_cache_stats(struct db *db, struct db_cache_stats *out);

/* ---- writes ---- */
xerr *db_begin(struct db *db, struct db_txn **out);
/* record: a complete canonical record (every stored field, uuid included). */
xerr *db_txn_create(struct db_txn *t, const struct dm_class *c, const char *ref, const xv *record);
xerr *db_txn_set(struct db_txn *t, const struct dm_class *c, const char *ref,
                 const struct dm_field *f, const xv *value);
xerr *db_txn_destroy(struct db_txn *t, const struct dm_class *c, const char *ref);
/* Reads inside the transaction see its own writes. */
xerr *db_txn_read_record(struct db_txn *t, const struct dm_class *c, const char *ref, xv **out);
xerr *db_txn_read_field(struct db_txn *t, const struct dm_class *c, const char *ref,
                        const struct dm_field *f, xv **out);
xerr *db_txn_lookup_field(struct db_txn *t, const struct dm_class *c, const struct dm_field *f,
                          const xv *value, xv **refs);
xerr *db_txn_read_refs(struct db_txn *t, const struct dm_class *c, xv **out);
/* Raise a mod event on an object without changing it (event.inject). */
xerr *db_txn_touch(struct db_txn *t, const struct dm_class *c, const char *ref);
/* Commit; *last_event (may be NULL) gets the id of the newest event. */
xerr *db_commit(struct db_txn *t, int64_t *last_event);
void db_abort(struct db_txn *t);
/* Fault injection, for tests: fn runs first in every db_commit, inside the
 * transaction (it may read it); an error it returns fails that commit as a failing
 * store would (the transaction is rolled back).  fn NULL removes the hook. */
typedef xerr *(*db_commit_hook)(void *ctx, struct db_txn *t);
void db_set_commit_hook(struct db *db, db_commit_hook fn, void *ctx);
/* For tests: fn runs on the committing thread right after a COMMIT is durable and
 * before anyone is told of it (the record cache updated, the event position
 * published), so a test can look at what readers see in between.  It may read, not
 * write.  fn NULL removes it. */
typedef void (*db_committed_hook)(void *ctx);
void db_set_committed_hook(struct db *db, db_committed_hook fn, void *ctx);
/* End a transaction by the outcome of its work: abort and return e when e is an
 * error, else commit and return the commit's error.  `return db_end(t, e);` */
xerr *db_end(struct db_txn *t, xerr *e);
/* The same, with the commit's newest event id in *last_event (when it commits). */
xerr *db_end_id(struct db_txn *t, xerr *e, int64_t *last_event);

/* ---- events ---- */
struct db_event {
    int64_t id;
    double timestamp;
    const char *class_lname;     /* "vm" */
    const char *op;              /* "add", "mod", "del" */
    const char *ref;
    const char *snapshot_json;   /* NULL for del */
};
/* Calls cb for each event with id > after, oldest first, at most limit of them;
 * cb returns false to stop.  Returns the id of the last event visited.  Only events
 * up to db_last_event_id are visited: one committed but not yet published could name
 * a change that reads do not show yet (its record's cached bytes still the old). */
/* cb runs with a read snapshot held: slow work in it (xenstore, the network) holds
 * the WAL from being restarted; collect, and act after. */
typedef bool (*db_event_cb)(void *ctx, const struct db_event *ev);
xerr *db_events_after(struct db *db, int64_t after, int limit, db_event_cb cb, void *ctx,
                      int64_t *last_visited);
int64_t db_last_event_id(struct db *db);
int64_t db_first_event_id(struct db *db);   /* oldest kept; older tokens lost events */
/* Block until an event newer than after exists or timeout seconds pass; holds no
 * database lock while waiting.  True if there is one. */
bool db_wait_events(struct db *db, int64_t after, double timeout);
/* ---- a pool member's store: the master's database (docs/pool.md) ----
 * Every operation becomes fn(ctx, op, args, &result) with JSON-able values (src/pool
 * sends it to the master as pool.db_call); the master runs it with db_serve_remote.
 * A transaction's writes travel at commit, as one batch the master applies in one
 * transaction; reads inside it see its own writes. */
typedef xerr *(*db_remote_fn)(void *ctx, const char *op, const xv *args, xv **result);
xerr *db_open_remote(db_remote_fn fn, void *ctx, struct db **out);
bool db_is_remote(const struct db *db);
xerr *db_serve_remote(struct db *db, const char *op, const xv *args, xv **result);

/* Decode an event snapshot back into a typed record. */
xerr *db_decode_snapshot(const struct dm_class *c, const char *json, xv **out);

#endif
