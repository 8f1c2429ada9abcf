/* Pool sessions, the members' store calls, and liveness: members heartbeat every
 * heartbeat-interval seconds; the master marks a member not live after
 * host-dead-after seconds without one, and live again at the next. */
#include "pool_int.h"
#include "dm_gen.h"
#include "log.h"
#include "vm.h"
#include "wire.h"

#include <math.h>
#include <string.h>

/* ---- on the master ---- */

static xerr *slave_login(struct api_ctx *ctx, const struct session_slave_login_args *a, xv **result)
{
    struct pool *p = api_pool(ctx->api);
    if (strcmp(a->psecret, p->st.secret) != 0) {
        log_warn("slave_login for %s from %s: wrong pool secret", a->host, ctx->peer ? ctx->peer : "?");
        return err_session_authentication_failed(a->host, "Pool credentials invalid");
    }
    char *ref = NULL;
    xerr *e = api_session_open(ctx->api, a->host, "xenapid-pool", true, &ref);
    if (!e)
        *result = xv_string_take(ref);
    return e;
}

/* Only a pool session (slave_login's) may reach the store or heartbeat. */
static xerr *require_pool(struct api_ctx *ctx)
{
    if (!ctx->session || !*ctx->session)
        return NULL; /* a call the daemon makes itself */
    xv *v = NULL;
    xerr *e = db_read_field(ctx->db, DMC_session, ctx->session, DMF_session_pool, &v);
    bool pool = !e && v->type == XV_BOOL && v->u.b;
    xv_free(v);
    xerr_free(e);
    return pool ? NULL : err_operation_not_allowed("only pool members may do this");
}

static xerr *db_call(struct api_ctx *ctx, const struct pool_db_call_args *a, xv **result)
{
    xerr *e = require_pool(ctx);
    if (e)
        return e;
    xv *args = NULL, *r = NULL;
    if ((e = wire_json_parse(a->args, strlen(a->args), &args)) != NULL)
        return e;
    e = db_serve_remote(ctx->db, a->op, args, &r);
    xv_free(args);
    if (e)
        return e;
    buf b;
    buf_init(&b);
    wire_json_write(&b, r ? r : &(xv){.type = XV_NIL});
    xv_free(r);
    *result = xv_string_take(buf_steal(&b));
    return NULL;
}

static xerr *set_live(struct db *db, const char *host, bool live)
{
    xv *m = NULL;
    xerr *e = db_read_field(db, DMC_host, host, DMF_host_metrics, &m);
    if (e)
        return e;
    xv *cur = NULL;
    e = db_read_field(db, DMC_host_metrics, xv_str(m), DMF_host_metrics_live, &cur);
    if (!e && cur->u.b != live) {
        struct db_txn *t;
        if ((e = db_begin(db, &t)) == NULL) {
            xv *v = xv_bool(live), *now = xv_datetime(time(NULL));
            e = db_txn_set(t, DMC_host_metrics, xv_str(m), DMF_host_metrics_live, v);
            if (!e)
                e = db_txn_set(t, DMC_host_metrics, xv_str(m), DMF_host_metrics_last_updated, now);
            xv_free(v);
            xv_free(now);
            e = db_end(t, e);
        }
        if (!e)
            log_info("host %s is %s", host, live ? "live again" : "not live: no heartbeat");
    }
    xv_free(cur);
    xv_free(m);
    return e;
}

static xerr *tickle_heartbeat(struct api_ctx *ctx, const struct host_tickle_heartbeat_args *a)
{
    struct pool *p = api_pool(ctx->api);
    xerr *e = require_pool(ctx);
    if (e)
        return e;
    if (!db_exists(ctx->db, DMC_host, a->host))
        return err_handle_invalid("host", a->host);
    double *now = xmalloc(sizeof(*now));
    *now = now_monotonic();
    pthread_mutex_lock(&p->lock);
    free(strmap_put(p->seen, a->host, now));
    pthread_mutex_unlock(&p->lock);
    return set_live(ctx->db, a->host, true);
}

static void watch_members(struct pool *p, double dead_after, double started)
{
    struct db *db = api_db(p->api);
    xv *hosts = NULL;
    xerr *e = db_read_refs(db, DMC_host, &hosts);
    double now = now_monotonic();
    for (size_t i = 0; !e && i < hosts->u.arr.n; i++) {
        const char *h = xv_str(hosts->u.arr.v[i]);
        if (strcmp(h, api_host_ref(p->api)) == 0)
            continue;
        pthread_mutex_lock(&p->lock);
        double *seen = strmap_get(p->seen, h);
        double last = seen ? *seen : started; /* after a restart: a grace of host-dead-after */
        pthread_mutex_unlock(&p->lock);
        if (now - last > dead_after)
            e = set_live(db, h, false);
    }
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("liveness: %s", s);
        xerr_free(e);
    }
    xv_free(hosts);
}

/* ---- on a member ---- */

static void heartbeat(struct pool *p)
{
    xv *args = xv_array(), *r = NULL;
    xv_array_push(args, xv_string(p->st.host));
    xerr *e = peer_call(p, p->master, "host.tickle_heartbeat", args, &r);
    xv_free(args);
    xv_free(r);
    if (e) {
        if (!p->master_lost) {
            _cleanup_free_ char *s = xerr_str(e);
            log_warn("heartbeat to the master %s failed: %s; the VMs here keep running", p->st.master, s);
        }
        p->master_lost = true;
        xerr_free(e);
        return;
    }
    if (p->master_lost) {
        /* the master is back: bring its records of this host's VMs up to date */
        log_info("the master %s answers again: reconciling this host's VMs", p->st.master);
        p->master_lost = false;
        vm_reconcile(p->api);
    }
}

void *pool_thread(void *arg)
{
    struct pool *p = arg;
    double hb = config_get_double(p->cfg, "heartbeat-interval");
    double dead = config_get_double(p->cfg, "host-dead-after");
    if (!(hb > 0))
        hb = 10;
    if (!(dead > 0))
        dead = 30;
    /* the master looks often enough to notice a death within about a second */
    double period = p->st.member ? hb : fmin(1.0, dead / 4);
    double started = now_monotonic();
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        pthread_mutex_unlock(&p->lock);
        if (p->st.member)
            heartbeat(p);
        else
            watch_members(p, dead, started);
        pthread_mutex_lock(&p->lock);
        if (p->stop)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double when = (double)ts.tv_sec + ts.tv_nsec / 1e9 + period;
        ts.tv_sec = (time_t)when;
        ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void pool_register_live(struct pool *p)
{
    api_register_session_slave_login(p->api, slave_login);
    api_register_pool_db_call(p->api, db_call);
    api_register_host_tickle_heartbeat(p->api, tickle_heartbeat);
}
