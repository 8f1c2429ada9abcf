/* api: the XenAPI itself, independent of the wire.
 *
 * api_call() is the single entry point for XML-RPC, JSON-RPC, the unix socket and
 * (later) calls forwarded between pool members: a method name and an array of
 * parameters in, a value or an xerr out.  It looks the method up (generated from the
 * datamodel, or registered by hand), checks the parameter count, the session and the
 * parameter types, runs Async.* calls as tasks, and calls the implementation.
 *
 * Hand-written messages are typed functions registered with the generated
 * api_register_<Class>_<message>() (dm_gen.h): their arguments arrive in a generated
 * struct, already checked against the datamodel's declaration and converted (session
 * removed), e.g.
 *     static xerr *start(struct api_ctx *ctx, const struct VM_start_args *a);
 *     api_register_VM_start(api, start);
 */
#ifndef XENAPID_API_H
#define XENAPID_API_H

#include <stdbool.h>
#include <time.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "dm_gen.h"
#include "xenbe.h"
#include "xerr.h"
#include "xv.h"

struct api;

/* The wire an answer goes out on, when the caller says: a record read for it may
 * come back as that wire's bytes (XV_RAW_*, from the store's cache of them). */
enum api_wire { API_WIRE_NONE, API_WIRE_XMLRPC, API_WIRE_JSON };

/* One call in progress. */
struct api_ctx {
    struct api *api;
    struct db *db;
    const char *method;          /* "VM.start" (without Async.) */
    const char *session;         /* the caller's session ref; NULL for login */
    const char *task;            /* the task the call runs under (Async), else NULL */
    const char *peer;            /* client address, for logs */
    bool local_root;             /* the transport proved the caller is root on this host */
    struct api_wait *wait;       /* NULL: a call that waits blocks its thread */
    enum api_wire wire;          /* API_WIRE_NONE but for a call answered at once */
    struct api_records **records; /* see api_peer.records */
};

struct platform;

struct api_options {
    const struct config *cfg;
    struct db *db;
    struct hv *hv;               /* may be NULL in unit tests */
    struct platform *platform;   /* the version registry and this host's offer */
    const char *certificate_fingerprint; /* of the HTTPS certificate; NULL without HTTPS */
    const char *certificate_fingerprint_sha1;     /* the same, SHA-1 */
    time_t certificate_not_before, certificate_not_after;
};

xerr *api_create(const struct api_options *opt, struct api **out);
/* Before api_destroy: refuse new Async calls, ask the running tasks that can stop
 * safely to cancel, and wait up to grace seconds for every task to end.  False
 * when some still run: then nothing they use may be freed. */
bool api_stop(struct api *api, double grace);
void api_destroy(struct api *api);
/* Make sure pool, host, host_metrics and dom0's VM record exist and refresh this
 * host's fields.  Called once at start-up, after every module registered. */
xerr *api_startup(struct api *api);

/* A call that would wait for events (event.from, event.next) can, instead of
 * blocking its thread, return parked: no result and no error.  The caller calls it
 * again, with the same api_wait, once an event newer than `after` exists or at
 * `wake`, whichever comes first; the call then answers or parks again. */
struct api_wait {
    bool parked;                 /* out: no answer yet */
    int64_t after;               /* in/out: events up to this id were looked at */
    double deadline;             /* in/out: monotonic; 0 until the call first parks */
    double wake;                 /* out: call again by then (the deadline, or sooner
                                  * to check that the session still exists) */
    uint64_t classes;            /* out: the classes whose events it waits for, bit
                                  * api_class_bit(c); events of others need no call */
    bool expire;                 /* in: answer now with what there is (the server stops) */
    double answer_at;            /* out: monotonic; send the answer no sooner (a failed
                                  * login's delay, kept by the server, not a thread) */
    bool batching;               /* in/out: event.from's batching window is running
                                  * (collect again from `after`, then answer) */
};

static inline uint64_t api_class_bit(int class_index)
{
    return 1ull << (class_index < 63 ? class_index : 63);
}

/* Who is calling, as the transport knows it. */
struct api_peer {
    const char *addr;            /* for logs: "192.0.2.1:4711", "unix" */
    bool local_root;             /* proved by the transport (SO_PEERCRED uid 0 on the
                                  * unix socket): root logs in without a password */
    struct api_wait *wait;       /* NULL: waits block the calling thread */
    bool trusted;                /* the pool vouches for the call (a pool session checked
                                  * by src/pool, or a call made inside the daemon): the
                                  * session parameter is not checked */
    enum api_wire wire;          /* the answer's wire, if the result may be its bytes */
    struct api_records **records; /* non-NULL: the caller takes a map of records (every
                                  * get_all_records) as a stream here, *result NULL */
};

/* ---- big results, a member at a time ----
 * api_records gives the members of a map result (ref -> record) one by one, read from one
 * snapshot of the store, so that the whole map is never in memory: the caller writes
 * each as it comes.  An error ends it (what came before stays valid). */
struct api_records;
/* The next member (caller frees *key and *val); *val NULL after the last. */
xerr *api_records_next(struct api_records *s, char **key, xv **val);
void api_records_free(struct api_records *s);
/* The shape: NULL for a map (ref -> record, get_all_records); else the result is a
 * struct whose first member, of this name, is an array of the stream's values (keys
 * NULL), and whose other members api_records_rest gives after the last value
 * (event.from from the start: its events). */
const char *api_records_array(const struct api_records *s);
xv *api_records_rest(struct api_records *s);   /* a struct; caller frees */

/* The entry point.  params: an XV_ARRAY (owned by the caller).  On success returns
 * the result (caller frees; the empty string for void, as xapi sends it); a parked
 * call (peer->wait->parked) returns NULL with *result NULL, and so does a call that
 * answered with a stream (*peer->records set). */
xerr *api_call(struct api *api, const char *method, const xv *params, const struct api_peer *peer,
               xv **result);
/* True for calls that only read or write the database (the generic accessors, Async
 * calls that just start a task, event's messages, whose waits park given an
 * api_wait): a server may run them on its I/O threads.  Anything else may take long
 * (a VM operation, a login checking a password). */
bool api_call_is_quick(struct api *api, const char *method);
/* event.from's answers kept in wire form (src/api/event.c): how many calls were
 * answered from a kept one, and how many were kept; for tests and figures. */
void api_event_answer_stats(struct api *api, uint64_t *hits, uint64_t *kept);
/* Every method name, for system.listMethods (XV_ARRAY). */
xv *api_list_methods(struct api *api);

/* ---- the pool (src/pool) ----
 * A router sees every call api_call receives before anything else: on a pool member
 * it forwards them to the master.  It answers API_ROUTE_DONE with *result or *err
 * set, or lets the call run here (API_ROUTE_TRUSTED: without a session check). */
enum api_route { API_ROUTE_LOCAL, API_ROUTE_TRUSTED, API_ROUTE_DONE };
typedef enum api_route (*api_router)(void *ctx, const char *method, const xv *params,
                                     const struct api_peer *peer, xv **result, xerr **err);
/* A forwarder sees every hand-written message about to run here (also as a task),
 * with its checked arguments (session removed): on the master it sends the VM
 * operations of a VM on another host to that host.  True when it handled the call. */
typedef bool (*api_forwarder)(void *ctx, struct api_ctx *call, const char *method, xv *const *args,
                              size_t n, xv **result, xerr **err);
/* Run method(args, session removed) on the given host: here when it is this host,
 * else on that pool member (the master's way of having a member run a VM
 * operation on its own hypervisor). */
typedef xerr *(*api_host_caller)(void *ctx, const char *host, const char *method, const xv *args,
                                 xv **result);
void api_set_pool(struct api *api, api_router router, api_forwarder forwarder, api_host_caller caller,
                  void *ctx);
xerr *api_call_on_host(struct api *api, const char *host, const char *method, const xv *args, xv **result);
/* Run a call here as the daemon itself (no session check): args without session. */
xerr *api_call_trusted(struct api *api, const char *method, const xv *args, xv **result);
/* The ctx given to api_set_pool (the pool module's own state), NULL without. */
void *api_pool(struct api *api);

/* ---- byte streams (a migration's memory image) ----
 * A handler of an HTTP connection upgraded to a raw byte stream (POST with
 * "Connection: Upgrade" to a path under its prefix, over HTTPS): path as the request
 * had it, session the request's session_id argument (unchecked: the handler checks
 * it), fd a blocking stream both ways that the handler only reads and writes (the
 * server closes it after).  Runs on a thread of its own and may take long. */
typedef void (*api_stream_handler)(struct api *api, const char *path, const char *session, int fd);
void api_register_stream(struct api *api, const char *prefix, api_stream_handler fn);
/* The handler whose prefix starts path, or NULL. */
api_stream_handler api_stream_lookup(struct api *api, const char *path);

/* ---- for implementations ---- */
/* Open a session for user (pool: an intra-pool session, session.slave_login's). */
xerr *api_session_open(struct api *api, const char *user, const char *originator, bool pool, char **ref);
const struct config *api_config(struct api *api);
struct hv *api_hv(struct api *api);
struct platform *api_platform(struct api *api);
struct db *api_db(struct api *api);
const char *api_host_ref(struct api *api);   /* this host's record */
const char *api_pool_ref(struct api *api);
/* ---- for HTTP handlers beyond the RPC (export/import): the session and the task
 * that tracks the transfer, as xapi's http handlers have them ---- */
/* SESSION_INVALID [ref] unless ref is a live session. */
xerr *api_session_check(struct api *api, const char *session);
/* A pending task named label for the session; *ref gets it (caller frees). */
xerr *api_task_new(struct api *api, const char *session, const char *label, char **ref);
/* Finish a pending task: result (an XML-RPC value, may be NULL) on success, else the
 * error's code and params in error_info. */
xerr *api_task_finish(struct api *api, const char *task, const xv *result, const xerr *failed);
xerr *api_task_set_progress(struct api *api, const char *task, double progress);

/* Report progress (0..1) of the task the call runs under; no-op outside a task. */
void api_task_progress(struct api_ctx *ctx, double progress);
/* True once task.cancel asked the call's task to stop. */
bool api_task_cancelling(struct api_ctx *ctx);
/* Let task.cancel reach the call's task (set as soon as the operation can stop). */
void api_task_allow_cancel(struct api_ctx *ctx, bool allow);

/* Called inside the transaction of every generic change (set_/add_to_/remove_from_/
 * add_/remove_) to an object of class c, after the change: for fields derived from
 * others (VM.allowed_operations from is_a_template and blocked_operations). */
typedef xerr *(*api_change_hook)(struct db_txn *t, const struct dm_class *c, const char *ref,
                                 const struct dm_field *changed);
void api_on_change(struct api *api, const struct dm_class *c, api_change_hook fn);

/* The fields of a create call's record argument, checked against their types; fields
 * the server maintains (DynamicRO) are ignored, as are names the class lacks. */
xerr *api_record_from_args(const struct dm_class *c, const xv *args, xv **fields);
/* Create an object of class c with the given fields (the rest from their defaults),
 * a fresh ref and uuid, in transaction t.  *ref gets the new ref (caller frees). */
xerr *api_create_object(struct db_txn *t, const struct dm_class *c, const xv *fields, char **ref);

#endif
