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

#include "config.h"
#include "db.h"
#include "dm_gen.h"
#include "xenbe.h"
#include "xerr.h"
#include "xv.h"

struct api;

/* One call in progress. */
struct api_ctx {
    struct api *api;
    struct db *db;
    const char *method;          /* "VM.start" (without Async.) */
    const char *session;         /* the caller's session ref; NULL for login */
    const char *task;            /* the task the call runs under (Async), else NULL */
    const char *peer;            /* client address, for logs */
};

/* DEPRECATED: the untyped handler, kept only until src/vm and src/guest register
 * typed ones; then it and api_register go. */
typedef xerr *(*api_fn)(struct api_ctx *ctx, xv *const *args, size_t nargs, xv **result);

struct platform;

struct api_options {
    const struct config *cfg;
    struct db *db;
    struct hv *hv;               /* may be NULL in unit tests */
    struct platform *platform;   /* the version registry and this host's offer */
};

xerr *api_create(const struct api_options *opt, struct api **out);
/* Before api_destroy: refuse new Async calls, ask the running tasks that can stop
 * safely to cancel, and wait up to grace seconds for every task to end.  False
 * when some still run: then nothing they use may be freed. */
bool api_stop(struct api *api, double grace);
void api_destroy(struct api *api);
/* DEPRECATED (see api_fn): register an untyped handler for a declared message. */
void api_register(struct api *api, const char *method, api_fn fn);
/* Make sure pool, host, host_metrics and dom0's VM record exist and refresh this
 * host's fields.  Called once at start-up, after every module registered. */
xerr *api_startup(struct api *api);

/* The entry point.  params: an XV_ARRAY (owned by the caller).  On success returns
 * the result (caller frees; XV_NIL for void). */
xerr *api_call(struct api *api, const char *method, const xv *params, const char *peer, xv **result);
/* Every method name, for system.listMethods (XV_ARRAY). */
xv *api_list_methods(struct api *api);

/* ---- for implementations ---- */
const struct config *api_config(struct api *api);
struct hv *api_hv(struct api *api);
struct platform *api_platform(struct api *api);
struct db *api_db(struct api *api);
const char *api_host_ref(struct api *api);   /* this host's record */
const char *api_pool_ref(struct api *api);
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
