/* Internal to src/api. */
#ifndef XENAPID_API_INT_H
#define XENAPID_API_INT_H

#include <pthread.h>

#include "api.h"
#include "dm_gen.h"
#include "util.h"

enum generic {
    GEN_NONE,            /* hand-written */
    GEN_GET_FIELD, GEN_SET_FIELD, GEN_ADD_TO, GEN_REMOVE_FROM, GEN_ADD, GEN_REMOVE,
    GEN_GET_RECORD, GEN_GET_ALL, GEN_GET_ALL_RECORDS, GEN_GET_ALL_RECORDS_WHERE,
    GEN_GET_BY_UUID, GEN_GET_BY_NAME_LABEL, GEN_CREATE, GEN_DESTROY,
};

#define API_MAX_PARAMS DM_MAX_PARAMS

struct method {
    char *name;                          /* "VM.get_record" */
    const struct dm_class *cls;
    const struct dm_field *field;        /* generic field messages */
    enum generic kind;
    const struct dm_message *msg;        /* hand-written: its declaration */
    api_thunk thunk;                     /* its generated thunk, calling typed */
    void (*typed)(void);                 /* the typed handler (C_m_fn) */
    bool session;                        /* takes a session first */
    bool async;                          /* has an Async. form */
    size_t nparams, nrequired;
    const char *pnames[API_MAX_PARAMS];
    const struct dm_type *ptypes[API_MAX_PARAMS]; /* NULL: unchecked */
};

struct sessions;
struct events;
struct tasks;

struct api {
    const struct config *cfg;
    struct db *db;
    struct hv *hv;
    struct platform *platform;
    struct strmap *methods;
    struct dm_type *ref_types;           /* "ref C" for each class, by class index */
    api_change_hook *change_hooks;       /* by class index, may be NULL */
    char *host_ref, *pool_ref;
    char *certificate_fingerprint;       /* "" without HTTPS */
    char *certificate_fingerprint_sha1;
    time_t certificate_not_before, certificate_not_after;
    struct sessions *sessions;
    struct events *events;
    struct tasks *tasks;
    /* the pool's hooks (api_set_pool); NULL without */
    api_router router;
    api_forwarder forwarder;
    api_host_caller host_caller;
    void *pool_ctx;
    const char *stream_prefix;           /* api_register_stream: one handler so far */
    api_stream_handler stream_handler;
};

extern const struct dm_type api_string_type;
extern const struct dm_type api_float_type;

/* generic.c */
/* Remove the fields that never go on the wire (dm_field.internal) from a record. */
void api_strip_internal(const struct dm_class *c, xv *rec);
xerr *generic_call(struct api_ctx *ctx, const struct method *m, xv *const *args, size_t n, xv **result);
/* bulk.c: a call's result as a stream (api_records); who makes one fills the ops */
struct api_records {
    xerr *(*next)(struct api_records *s, char **key, xv **val);
    xv *(*rest)(struct api_records *s); /* NULL: a map */
    void (*free)(struct api_records *s);
    const char *array;           /* see api_records_array */
};
/* bulk.c: every record of c (those matching expr, when not NULL), internal fields
 * stripped: as *ctx->records when the caller offers one, else as the map in *result */
xerr *api_all_records(struct api_ctx *ctx, const struct dm_class *c, const char *expr, xv **result);
/* filter.c: get_all_records_where's expression, parsed once, then matched per record */
struct filter;
xerr *filter_parse(const char *expr, struct filter **out);
xerr *filter_match(const struct filter *f, const struct dm_class *c, const xv *record, bool *match);
void filter_free(struct filter *f);
/* parse, match one record, free (the unit tests and the fuzz harness) */
xerr *filter_eval(const char *expr, const struct dm_class *c, const xv *record, bool *match);

/* session.c */
xerr *sessions_init(struct api *api);
void sessions_free(struct api *api);
xerr *session_check(struct api *api, const char *ref);
void register_session_messages(struct api *api);

/* event.c */
xerr *events_init(struct api *api);
void events_free(struct api *api);
void register_event_messages(struct api *api);
void events_forget_session(struct api *api, const char *session);

/* task.c */
xerr *tasks_init(struct api *api);
void tasks_free(struct api *api);
void register_task_messages(struct api *api);
bool tasks_stop(struct api *api, double grace);
xerr *task_start(struct api_ctx *ctx, const struct method *m, xv **args, size_t n, char **task_ref);

/* dispatch.c */
/* FIELD_TYPE_ERROR [name] for a wire value xapi would not unmarshal as t. */
xerr *api_strict(const struct dm_type *t, const xv *in, const char *name);
xerr *method_run(struct api_ctx *ctx, const struct method *m, xv *const *args, size_t n, xv **result);

/* host.c */
xerr *host_startup(struct api *api);

/* helpers for implementations */
xerr *api_txn_set(struct db_txn *t, const struct dm_field *f, const struct dm_class *c, const char *ref,
                  xv *value); /* takes ownership of value */

#endif
