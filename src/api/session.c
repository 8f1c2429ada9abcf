/* Sessions: created by login, checked on every call, expired when idle.
 * The records live in the database (clients read them, and they survive a restart
 * of the daemon); the check on every call uses an in-memory index. */
#include "api_int.h"
#include "auth.h"
#include "log.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

struct sess {
    double last_active;          /* monotonic seconds */
    double last_written;         /* when last_active last reached the database */
};

struct sessions {
    pthread_mutex_t lock;
    struct strmap *map;          /* ref -> struct sess */
    double timeout;
    pthread_t sweeper;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stop, sweeping;
};

static xerr *destroy_record(struct api *api, const char *ref)
{
    struct db_txn *t;
    xerr *e = db_begin(api->db, &t);
    if (e)
        return e;
    e = db_txn_destroy(t, DMC_session, ref);
    if (e) {
        db_abort(t);
        return xerr_is(e, XERR_HANDLE_INVALID) ? (xerr_free(e), NULL) : e;
    }
    return db_commit(t, NULL);
}

static void forget(struct api *api, const char *ref)
{
    xerr *e = destroy_record(api, ref);
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("removing session record: %s", s);
        xerr_free(e);
    }
    events_forget_session(api, ref);
}

static void sweep(struct api *api)
{
    struct sessions *ss = api->sessions;
    double now = now_monotonic();
    xv *expired = xv_array();
    pthread_mutex_lock(&ss->lock);
    size_t pos = 0;
    const char *k;
    void *v;
    while (strmap_next(ss->map, &pos, &k, &v))
        if (now - ((struct sess *)v)->last_active > ss->timeout)
            xv_array_push(expired, xv_string(k));
    for (size_t i = 0; i < expired->u.arr.n; i++)
        free(strmap_remove(ss->map, xv_str(expired->u.arr.v[i])));
    pthread_mutex_unlock(&ss->lock);
    for (size_t i = 0; i < expired->u.arr.n; i++) {
        log_info("session %s expired", xv_str(expired->u.arr.v[i]));
        forget(api, xv_str(expired->u.arr.v[i]));
    }
    xv_free(expired);
}

static void *sweeper_main(void *arg)
{
    struct api *api = arg;
    struct sessions *ss = api->sessions;
    double interval = fmin(60.0, fmax(1.0, ss->timeout / 2));
    pthread_mutex_lock(&ss->stop_lock);
    while (!ss->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)interval;
        pthread_cond_timedwait(&ss->stop_cond, &ss->stop_lock, &ts);
        if (ss->stop)
            break;
        pthread_mutex_unlock(&ss->stop_lock);
        sweep(api);
        pthread_mutex_lock(&ss->stop_lock);
    }
    pthread_mutex_unlock(&ss->stop_lock);
    return NULL;
}

xerr *sessions_init(struct api *api)
{
    struct sessions *ss = xcalloc(1, sizeof(*ss));
    pthread_mutex_init(&ss->lock, NULL);
    pthread_mutex_init(&ss->stop_lock, NULL);
    pthread_cond_init(&ss->stop_cond, NULL);
    ss->map = strmap_new();
    ss->timeout = (double)config_get_int(api->cfg, "session-timeout");
    if (ss->timeout <= 0)
        ss->timeout = 86400;
    api->sessions = ss;

    /* Sessions survive a restart: index the ones still within their idle time. */
    xv *all = NULL;
    xerr *e = db_read_all_records(api->db, DMC_session, &all);
    if (e)
        return e;
    double wall = now_realtime(), mono = now_monotonic();
    for (size_t i = 0; i < all->u.st.n; i++) {
        time_t last = 0;
        time_from_xapi(dm_get_str(all->u.st.m[i].val, DMF_session_last_active), &last);
        double idle = wall - (double)last;
        if (idle > ss->timeout || idle < -60) {
            destroy_record(api, all->u.st.m[i].key);
            continue;
        }
        struct sess *s = xcalloc(1, sizeof(*s));
        s->last_active = s->last_written = mono - idle;
        strmap_put(ss->map, all->u.st.m[i].key, s);
    }
    xv_free(all);
    if (pthread_create(&ss->sweeper, NULL, sweeper_main, api) != 0)
        return xerr_internal("cannot start the session sweeper");
    ss->sweeping = true;
    return NULL;
}

void sessions_free(struct api *api)
{
    struct sessions *ss = api->sessions;
    if (!ss)
        return;
    if (ss->sweeping) {
        pthread_mutex_lock(&ss->stop_lock);
        ss->stop = true;
        pthread_cond_signal(&ss->stop_cond);
        pthread_mutex_unlock(&ss->stop_lock);
        pthread_join(ss->sweeper, NULL);
    }
    strmap_free(ss->map, free);
    pthread_mutex_destroy(&ss->lock);
    free(ss);
}

xerr *session_check(struct api *api, const char *ref)
{
    struct sessions *ss = api->sessions;
    double now = now_monotonic();
    bool expired = false, write = false;
    pthread_mutex_lock(&ss->lock);
    struct sess *s = strmap_get(ss->map, ref);
    if (s && now - s->last_active > ss->timeout) {
        free(strmap_remove(ss->map, ref));
        s = NULL;
        expired = true;
    } else if (s) {
        s->last_active = now;
        if (now - s->last_written >= 60.0) {
            s->last_written = now;
            write = true;
        }
    }
    pthread_mutex_unlock(&ss->lock);
    if (expired)
        forget(api, ref);
    if (!s)
        return err_session_invalid(ref);
    if (write) { /* last_active in the record, at most once a minute */
        struct db_txn *t;
        xerr *e = db_begin(api->db, &t);
        if (!e) {
            xv *stamp = xv_datetime(time(NULL));
            e = db_txn_set(t, DMC_session, ref, DMF_session_last_active, stamp);
            xv_free(stamp);
            e = db_end(t, e);
        }
        xerr_free(e); /* a logout racing with this call: nothing to keep */
    }
    return NULL;
}

/* ---- messages ---- */

static xerr *login_with_password(struct api_ctx *ctx, const struct session_login_with_password_args *a,
                                 xv **result)
{
    struct api *api = ctx->api;
    const char *user = a->uname, *pwd = a->pwd;
    const char *originator = a->has_originator ? a->originator : "";
    /* As xapi: a caller the transport proved to be root on this host (the unix
     * socket's peer credentials) logs in as root without a password. */
    bool local_root = ctx->local_root && strcmp(user, "root") == 0;
    if (!local_root && !auth_check(api->cfg, user, pwd)) {
        log_info("failed login for '%s' from %s", user, ctx->peer ? ctx->peer : "?");
        /* The delay is per attempt and holds no lock: it slows a guesser, not others. */
        double delay = config_get_double(api->cfg, "login-failure-delay");
        if (delay > 0 && ctx->wait)
            ctx->wait->answer_at = now_monotonic() + delay; /* the server holds the answer */
        else if (delay > 0)
            usleep((useconds_t)(delay * 1e6));
        return err_session_authentication_failed(user, "Authentication failure");
    }
    char *ref = NULL;
    xerr *e = api_session_open(api, user, originator, false, &ref);
    if (e)
        return e;
    log_info("session %s opened for '%s' from %s", ref, user, ctx->peer ? ctx->peer : "?");
    *result = xv_string_take(ref);
    return NULL;
}

xerr *api_session_open(struct api *api, const char *user, const char *originator, bool pool, char **out)
{
    xv *f = xv_struct();
    dm_set(f, DMF_session_this_host, xv_string(api->host_ref ? api->host_ref : REF_NULL));
    /* this_user is xapi's deprecated Ref _user, always NULL (xapi_session.ml) */
    dm_set(f, DMF_session_auth_user_name, xv_string(user));
    dm_set(f, DMF_session_last_active, xv_datetime(time(NULL)));
    dm_set(f, DMF_session_validation_time, xv_datetime(time(NULL)));
    dm_set(f, DMF_session_is_local_superuser, xv_bool(pool || strcmp(user, "root") == 0));
    dm_set(f, DMF_session_originator, xv_string(originator));
    dm_set(f, DMF_session_pool, xv_bool(pool));
    struct db_txn *t;
    char *ref = NULL;
    xerr *e = db_begin(api->db, &t);
    if (!e) {
        e = api_create_object(t, DMC_session, f, &ref);
        e = db_end(t, e);
    }
    xv_free(f);
    if (e)
        return e;
    struct sess *s = xcalloc(1, sizeof(*s));
    s->last_active = s->last_written = now_monotonic();
    pthread_mutex_lock(&api->sessions->lock);
    strmap_put(api->sessions->map, ref, s);
    pthread_mutex_unlock(&api->sessions->lock);
    *out = ref;
    return NULL;
}

static xerr *logout(struct api_ctx *ctx)
{
    struct api *api = ctx->api;
    pthread_mutex_lock(&api->sessions->lock);
    free(strmap_remove(api->sessions->map, ctx->session));
    pthread_mutex_unlock(&api->sessions->lock);
    forget(api, ctx->session);
    return NULL;
}

void register_session_messages(struct api *api)
{
    api_register_session_login_with_password(api, login_with_password);
    api_register_session_logout(api, logout);
    api_register_session_local_logout(api, logout);
}
