/* Tasks: Async.* calls run on their own thread and report through a task record;
 * task.* messages for clients that make their own tasks. */
#include "api_int.h"
#include "log.h"
#include "wire.h"

#include <assert.h>
#include <math.h>
#include <string.h>

struct running {
    bool cancellable;
    bool cancelling;
    double last_progress;
};

struct tasks {
    pthread_mutex_t lock;
    struct strmap *running;      /* task ref -> struct running */
    int jobs;                    /* job threads not yet finished */
    bool stopping;               /* api_stop: no new jobs */
    pthread_cond_t done;         /* signalled as each job thread finishes */
};

struct job {
    struct api *api;
    char *task, *session, *method_name, *peer;
    const struct method *m;
    xv *args[API_MAX_PARAMS];
    size_t n;
};

static xv *status_value(enum task_status_type s)
{
    return xv_string(task_status_type_name(s));
}

/* fields: a partial task record (built with dm_set), written in one transaction. */
static xerr *set_fields(struct api *api, const char *task, xv *fields)
{
    struct db_txn *t;
    xerr *e = db_begin(api->db, &t);
    for (size_t i = 0; !e && i < fields->u.st.n; i++) {
        const struct dm_field *f = dm_field_find(DMC_task, fields->u.st.m[i].key);
        assert(f);
        e = db_txn_set(t, DMC_task, task, f, fields->u.st.m[i].val);
    }
    xv_free(fields);
    if (!t)
        return e;
    return db_end(t, e);
}

static void log_failure(const char *what, xerr *e)
{
    if (!e)
        return;
    _cleanup_free_ char *s = xerr_str(e);
    log_error("%s: %s", what, s);
    xerr_free(e);
}

static void *job_main(void *p)
{
    struct job *j = p;
    struct api_ctx ctx = {.api = j->api, .db = j->api->db, .method = j->method_name,
                          .session = j->session, .task = j->task, .peer = j->peer};
    xv *result = NULL;
    xerr *e = method_run(&ctx, j->m, j->args, j->n, &result);

    pthread_mutex_lock(&j->api->tasks->lock);
    struct running *r = strmap_remove(j->api->tasks->running, j->task);
    bool cancelled = r && r->cancelling && xerr_is(e, XERR_TASK_CANCELLED);
    pthread_mutex_unlock(&j->api->tasks->lock);
    free(r);

    xv *f = xv_struct();
    dm_set(f, DMF_task_finished, xv_datetime(time(NULL)));
    dm_set(f, DMF_task_allowed_operations, xv_array());
    /* 1.0 however it ended, as xapi's TaskHelper.complete/failed/cancel_this */
    dm_set(f, DMF_task_progress, xv_float(1.0));
    if (e) {
        dm_set(f, DMF_task_error_info, wire_error_list(e));
        dm_set(f, DMF_task_status, status_value(cancelled ? TASK_STATUS_TYPE_CANCELLED : TASK_STATUS_TYPE_FAILURE));
    } else {
        buf b;
        buf_init(&b);
        wire_xmlrpc_write_value(&b, result ? result : &(xv){.type = XV_NIL});
        dm_set(f, DMF_task_result, xv_string_take(buf_steal(&b)));
        dm_set(f, DMF_task_status, status_value(TASK_STATUS_TYPE_SUCCESS));
    }
    log_failure("recording the end of a task", set_fields(j->api, j->task, f));
    xerr_free(e);
    xv_free(result);
    for (size_t i = 0; i < j->n; i++)
        xv_free(j->args[i]);
    struct tasks *ts = j->api->tasks;
    free(j->task);
    free(j->session);
    free(j->method_name);
    free(j->peer);
    free(j);
    /* the last thing this thread does with the api: api_stop may free it after */
    pthread_mutex_lock(&ts->lock);
    ts->jobs--;
    pthread_cond_broadcast(&ts->done);
    pthread_mutex_unlock(&ts->lock);
    return NULL;
}

static xerr *create_task_record(struct api *api, const char *label, const char *description,
                                const char *session, char **ref)
{
    xv *f = xv_struct();
    dm_set(f, DMF_task_name_label, xv_string(label));
    dm_set(f, DMF_task_name_description, xv_string(description));
    dm_set(f, DMF_task_created, xv_datetime(time(NULL)));
    dm_set(f, DMF_task_status, status_value(TASK_STATUS_TYPE_PENDING));
    dm_set(f, DMF_task_resident_on, xv_string(api->host_ref ? api->host_ref : REF_NULL));
    dm_set(f, DMF_task_session, xv_string(session ? session : REF_NULL));
    struct db_txn *t;
    xerr *e = db_begin(api->db, &t);
    if (!e) {
        e = api_create_object(t, DMC_task, f, ref);
        e = db_end(t, e);
    }
    xv_free(f);
    return e;
}

xerr *api_session_check(struct api *api, const char *session)
{
    return session_check(api, session);
}

xerr *api_task_new(struct api *api, const char *session, const char *label, char **ref)
{
    return create_task_record(api, label, "", session, ref);
}

xerr *api_task_finish(struct api *api, const char *task, const xv *result, const xerr *failed)
{
    xv *f = xv_struct();
    dm_set(f, DMF_task_finished, xv_datetime(time(NULL)));
    dm_set(f, DMF_task_allowed_operations, xv_array());
    if (failed) {
        dm_set(f, DMF_task_error_info, wire_error_list(failed));
        dm_set(f, DMF_task_status, status_value(TASK_STATUS_TYPE_FAILURE));
    } else {
        buf b;
        buf_init(&b);
        wire_xmlrpc_write_value(&b, result ? result : &(xv){.type = XV_NIL});
        dm_set(f, DMF_task_result, xv_string_take(buf_steal(&b)));
        dm_set(f, DMF_task_progress, xv_float(1.0));
        dm_set(f, DMF_task_status, status_value(TASK_STATUS_TYPE_SUCCESS));
    }
    return set_fields(api, task, f);
}

xerr *api_task_set_progress(struct api *api, const char *task, double progress)
{
    xv *f = xv_struct();
    dm_set(f, DMF_task_progress, xv_float(progress));
    return set_fields(api, task, f);
}

xerr *task_start(struct api_ctx *ctx, const struct method *m, xv **args, size_t n, char **task_ref)
{
    struct api *api = ctx->api;
    /* counted before anything is made, so that api_stop waits for it or refuses it */
    pthread_mutex_lock(&api->tasks->lock);
    bool stopping = api->tasks->stopping;
    if (!stopping)
        api->tasks->jobs++;
    pthread_mutex_unlock(&api->tasks->lock);
    if (stopping)
        return err_operation_not_allowed("the daemon is stopping");
    _cleanup_free_ char *label = xasprintf("Async.%s", m->name);
    char *ref = NULL;
    xerr *e = create_task_record(api, label, "", ctx->session, &ref);
    if (e) {
        pthread_mutex_lock(&api->tasks->lock);
        api->tasks->jobs--;
        pthread_cond_broadcast(&api->tasks->done);
        pthread_mutex_unlock(&api->tasks->lock);
        return e;
    }
    struct job *j = xcalloc(1, sizeof(*j));
    j->api = api;
    j->task = xstrdup(ref);
    j->session = xstrdup(ctx->session);
    j->method_name = xstrdup(m->name);
    j->peer = xstrdup(ctx->peer ? ctx->peer : "");
    j->m = m;
    j->n = n;
    memcpy(j->args, args, n * sizeof(xv *));
    struct running *r = xcalloc(1, sizeof(*r));
    pthread_mutex_lock(&api->tasks->lock);
    strmap_put(api->tasks->running, ref, r);
    pthread_mutex_unlock(&api->tasks->lock);

    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, job_main, j);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&api->tasks->lock);
        free(strmap_remove(api->tasks->running, ref));
        api->tasks->jobs--;
        pthread_cond_broadcast(&api->tasks->done);
        pthread_mutex_unlock(&api->tasks->lock);
        memset(args, 0, n * sizeof(xv *)); /* freed by the caller as usual */
        memcpy(args, j->args, n * sizeof(xv *));
        free(j->task);
        free(j->session);
        free(j->method_name);
        free(j->peer);
        free(j);
        free(ref);
        return xerr_internal("cannot start a thread for the task");
    }
    *task_ref = ref;
    return NULL;
}

void api_task_progress(struct api_ctx *ctx, double progress)
{
    if (!ctx->task)
        return;
    struct tasks *ts = ctx->api->tasks;
    pthread_mutex_lock(&ts->lock);
    struct running *r = strmap_get(ts->running, ctx->task);
    bool write = r && fabs(progress - r->last_progress) >= 0.01;
    if (write)
        r->last_progress = progress;
    pthread_mutex_unlock(&ts->lock);
    if (!write)
        return;
    xv *f = xv_struct();
    dm_set(f, DMF_task_progress, xv_float(progress < 0 ? 0 : progress > 1 ? 1 : progress));
    log_failure("recording task progress", set_fields(ctx->api, ctx->task, f));
}

bool api_task_cancelling(struct api_ctx *ctx)
{
    if (!ctx->task)
        return false;
    pthread_mutex_lock(&ctx->api->tasks->lock);
    struct running *r = strmap_get(ctx->api->tasks->running, ctx->task);
    bool c = r && r->cancelling;
    pthread_mutex_unlock(&ctx->api->tasks->lock);
    return c;
}

void api_task_allow_cancel(struct api_ctx *ctx, bool allow)
{
    if (!ctx->task)
        return;
    pthread_mutex_lock(&ctx->api->tasks->lock);
    struct running *r = strmap_get(ctx->api->tasks->running, ctx->task);
    bool changed = r && r->cancellable != allow;
    if (r)
        r->cancellable = allow;
    pthread_mutex_unlock(&ctx->api->tasks->lock);
    if (!changed)
        return;
    xv *ops = xv_array();
    if (allow)
        xv_array_push(ops, xv_string(task_allowed_operations_name(TASK_ALLOWED_OPERATIONS_CANCEL)));
    xv *f = xv_struct();
    dm_set(f, DMF_task_allowed_operations, ops);
    log_failure("recording task operations", set_fields(ctx->api, ctx->task, f));
}

/* ---- task.* ---- */

static xerr *task_create(struct api_ctx *ctx, const struct task_create_args *a, xv **result)
{
    char *ref = NULL;
    xerr *e = create_task_record(ctx->api, a->label, a->description, ctx->session, &ref);
    if (!e)
        *result = xv_string_take(ref);
    return e;
}

static xerr *task_status(struct api *api, const char *ref, enum task_status_type *status)
{
    xv *v = NULL;
    xerr *e = db_read_field(api->db, DMC_task, ref, DMF_task_status, &v);
    if (!e && !task_status_type_parse(xv_str(v), status))
        e = xerr_internal("task %s has status '%s'", ref, xv_str(v)); /* the store holds canonical values */
    xv_free(v);
    return e;
}

static xerr *task_cancel(struct api_ctx *ctx, const struct task_cancel_args *a)
{
    struct api *api = ctx->api;
    const char *ref = a->task;
    enum task_status_type status;
    xerr *e = task_status(api, ref, &status);
    if (e)
        return e;
    pthread_mutex_lock(&api->tasks->lock);
    struct running *r = strmap_get(api->tasks->running, ref);
    bool ok = r ? r->cancellable : status == TASK_STATUS_TYPE_PENDING;
    if (r && ok)
        r->cancelling = true;
    pthread_mutex_unlock(&api->tasks->lock);
    if (!ok)
        return err_operation_not_allowed(r ? "the operation cannot be cancelled at this point" : "the task is not pending");
    xv *f = xv_struct();
    dm_set(f, DMF_task_status, status_value(TASK_STATUS_TYPE_CANCELLING));
    return set_fields(api, ref, f);
}

static xerr *task_destroy(struct api_ctx *ctx, const struct task_destroy_args *a)
{
    struct api *api = ctx->api;
    const char *ref = a->self;
    pthread_mutex_lock(&api->tasks->lock);
    bool running = strmap_get(api->tasks->running, ref) != NULL;
    pthread_mutex_unlock(&api->tasks->lock);
    if (running)
        return err_operation_not_allowed("the task is still running");
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    e = db_txn_destroy(t, DMC_task, ref);
    return db_end(t, e);
}

/* set_status / set_progress: for tasks a client runs itself, not ours */
static xerr *task_set(struct api_ctx *ctx, const char *ref, xv *f)
{
    pthread_mutex_lock(&ctx->api->tasks->lock);
    bool ours = strmap_get(ctx->api->tasks->running, ref) != NULL;
    pthread_mutex_unlock(&ctx->api->tasks->lock);
    if (ours) {
        xv_free(f);
        return err_operation_not_allowed("the server is running this task");
    }
    return set_fields(ctx->api, ref, f);
}

static xerr *task_set_status(struct api_ctx *ctx, const struct task_set_status_args *a)
{
    xv *f = xv_struct();
    dm_set(f, DMF_task_status, status_value(a->value));
    if (a->value != TASK_STATUS_TYPE_PENDING)
        dm_set(f, DMF_task_finished, xv_datetime(time(NULL)));
    return task_set(ctx, a->self, f);
}

static xerr *task_set_progress(struct api_ctx *ctx, const struct task_set_progress_args *a)
{
    if (a->value < 0 || a->value > 1)
        return err_invalid_value("value", "progress must be between 0.0 and 1.0");
    xv *f = xv_struct();
    dm_set(f, DMF_task_progress, xv_float(a->value));
    return task_set(ctx, a->self, f);
}

xerr *tasks_init(struct api *api)
{
    struct tasks *ts = xcalloc(1, sizeof(*ts));
    pthread_mutex_init(&ts->lock, NULL);
    pthread_cond_init(&ts->done, NULL);
    ts->running = strmap_new();
    api->tasks = ts;
    return NULL;
}

bool tasks_stop(struct api *api, double grace)
{
    struct tasks *ts = api->tasks;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)grace;
    until.tv_nsec += (long)((grace - (double)(time_t)grace) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ts->lock);
    ts->stopping = true;
    /* what can stop safely is asked to, as task.cancel would */
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(ts->running, &pos, &k, &v)) {
        struct running *r = v;
        if (r->cancellable)
            r->cancelling = true;
    }
    while (ts->jobs > 0 && pthread_cond_timedwait(&ts->done, &ts->lock, &until) == 0)
        ;
    int left = ts->jobs;
    pthread_mutex_unlock(&ts->lock);
    if (left)
        log_warn("%d tasks still running at stop", left);
    return left == 0;
}

void tasks_free(struct api *api)
{
    if (!api->tasks)
        return;
    strmap_free(api->tasks->running, free);
    pthread_mutex_destroy(&api->tasks->lock);
    pthread_cond_destroy(&api->tasks->done);
    free(api->tasks);
}

void register_task_messages(struct api *api)
{
    api_register_task_create(api, task_create);
    api_register_task_cancel(api, task_cancel);
    api_register_task_destroy(api, task_destroy);
    api_register_task_set_status(api, task_set_status);
    api_register_task_set_progress(api, task_set_progress);
}
