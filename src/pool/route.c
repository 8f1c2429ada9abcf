/* Where a call runs.  A member forwards what it receives to the master; the master
 * has the host a VM is resident on (or is to start on) run the VM's operation. */
#include "pool_int.h"
#include "dm_gen.h"
#include "log.h"

#include <string.h>

/* ---- member: the calls it receives ---- */

static bool is_token(struct pool *p, const char *s)
{
    pthread_mutex_lock(&p->lock);
    bool yes = s && strmap_get(p->tokens, s) != NULL;
    pthread_mutex_unlock(&p->lock);
    return yes;
}

/* session.slave_login on a member: the master logging in to have it run operations.
 * The token lives in memory only: after a restart the master logs in again. */
static xerr *member_slave_login(struct pool *p, const xv *params, xv **result)
{
    const char *secret = params && params->u.arr.n == 2 ? xv_str(params->u.arr.v[1]) : NULL;
    const char *host = params && params->u.arr.n >= 1 && xv_str(params->u.arr.v[0]) ? xv_str(params->u.arr.v[0]) : "";
    if (!secret || strcmp(secret, p->st.secret) != 0)
        return err_session_authentication_failed(host, "Pool credentials invalid");
    char *tok = ref_new();
    pthread_mutex_lock(&p->lock);
    strmap_put(p->tokens, tok, (void *)1);
    pthread_mutex_unlock(&p->lock);
    *result = xv_string_take(tok);
    return NULL;
}

static xv *args_after_session(const xv *params)
{
    xv *a = xv_array();
    for (size_t i = 1; params && i < params->u.arr.n; i++)
        xv_array_push(a, xv_dup(params->u.arr.v[i]));
    return a;
}

/* The master sends VM.start (resume) to the host it chose, as xapi does: here that
 * is start_on (resume_on) this host. */
static xerr *run_here(struct pool *p, const char *method, const xv *params, xv **result)
{
    xv *args = args_after_session(params);
    const char *as = NULL;
    if (strcmp(method, "VM.start") == 0)
        as = "VM.start_on";
    else if (strcmp(method, "VM.resume") == 0)
        as = "VM.resume_on";
    if (as && args->u.arr.n >= 1) {
        xv *a = xv_array();
        xv_array_push(a, xv_dup(args->u.arr.v[0]));
        xv_array_push(a, xv_string(api_host_ref(p->api)));
        for (size_t i = 1; i < args->u.arr.n; i++)
            xv_array_push(a, xv_dup(args->u.arr.v[i]));
        xv_free(args);
        args = a;
        method = as;
    }
    xerr *e = api_call_trusted(p->api, method, args, result);
    xv_free(args);
    return e;
}

/* wire: the call's (api_peer.wire), to relay the master's answer unread */
static xerr *forward_to_master(struct pool *p, const char *method, const xv *params, enum api_wire wire,
                               xv **result)
{
    xerr *e = peer_call_wire(p->master, method, params, wire, result);
    if (link_failed(e)) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("forwarding %s to the master %s: %s", method, p->st.master, s);
        xerr_free(e);
        return err_cannot_contact_host(p->st.master);
    }
    return e;
}

static enum api_route member_route(void *ctx, const char *method, const xv *params, const struct api_peer *who,
                                   xv **result, xerr **err)
{
    struct pool *p = ctx;
    if (strcmp(method, "system.listMethods") == 0)
        return API_ROUTE_LOCAL;
    if (strcmp(method, "session.slave_login") == 0) {
        *err = member_slave_login(p, params, result);
        return API_ROUTE_DONE;
    }
    const char *first = params && params->u.arr.n ? xv_str(params->u.arr.v[0]) : NULL;
    if (is_token(p, first)) {
        if (strcmp(method, "session.logout") == 0 || strcmp(method, "session.local_logout") == 0) {
            pthread_mutex_lock(&p->lock);
            strmap_remove(p->tokens, first);
            pthread_mutex_unlock(&p->lock);
            *result = xv_nil();
            return API_ROUTE_DONE;
        }
        *err = run_here(p, method, params, result);
        return API_ROUTE_DONE;
    }
    if (strcmp(method, "session.login_with_password") == 0) {
        const char *user = first ? first : "";
        if (who && who->local_root && strcmp(user, "root") == 0) {
            /* root on this host is root of the pool, as with xapi: a pool session
             * at the master, opened with the secret */
            xv *a = xv_array();
            xv_array_push(a, xv_string(p->st.host));
            xv_array_push(a, xv_string(p->st.secret));
            *err = forward_to_master(p, "session.slave_login", a, API_WIRE_NONE, result);
            xv_free(a);
            return API_ROUTE_DONE;
        }
        *err = err_host_is_slave(p->st.master);
        return API_ROUTE_DONE;
    }
    *err = forward_to_master(p, method, params, who ? who->wire : API_WIRE_NONE, result);
    return API_ROUTE_DONE;
}

/* ---- master: the VM operations of VMs on other hosts ---- */

struct peer *member_peer(struct pool *p, const char *host, xerr **err)
{
    *err = NULL;
    pthread_mutex_lock(&p->lock);
    struct peer *peer = strmap_get(p->members, host);
    pthread_mutex_unlock(&p->lock);
    if (peer)
        return peer;
    xv *rec = NULL;
    if ((*err = db_read_record(api_db(p->api), DMC_host, host, &rec)) != NULL)
        return NULL;
    peer = peer_new(p, dm_get_str(rec, DMF_host_address), dm_get_str(rec, DMF_host_certificate_fingerprint));
    xv_free(rec);
    pthread_mutex_lock(&p->lock);
    struct peer *old = strmap_get(p->members, host);
    if (old) {
        peer_free(peer);
        peer = old;
    } else {
        strmap_put(p->members, host, peer);
    }
    pthread_mutex_unlock(&p->lock);
    return peer;
}

xerr *pool_call_host(struct pool *p, const char *host, const char *method, const xv *args, xv **result)
{
    if (!host || strcmp(host, api_host_ref(p->api)) == 0)
        return api_call_trusted(p->api, method, args, result);
    xerr *e = NULL;
    struct peer *peer = member_peer(p, host, &e);
    if (!peer)
        return e;
    e = peer_call(p, peer, method, args, result);
    if (link_failed(e)) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("%s on host %s: %s", method, host, s);
        xerr_free(e);
        return err_cannot_contact_host(host);
    }
    return e;
}

static xerr *host_call(void *ctx, const char *host, const char *method, const xv *args, xv **result)
{
    return pool_call_host(ctx, host, method, args, result);
}

/* The VM operations a VM's resident host runs, and the messages naming a host. */
static const char *const resident_ops[] = {
    "VM.clean_shutdown", "VM.hard_shutdown", "VM.shutdown", "VM.clean_reboot", "VM.hard_reboot",
    "VM.pause", "VM.unpause", "VM.suspend", NULL,
};

static bool master_forward(void *ctx, struct api_ctx *call, const char *method, xv *const *args, size_t n,
                           xv **result, xerr **err)
{
    struct pool *p = ctx;
    (void)call;
    const char *self = api_host_ref(p->api);
    const char *target = NULL, *as = method;
    size_t skip = SIZE_MAX; /* the argument naming the host, left out when forwarded */
    _cleanup_free_ char *resident = NULL;
    /* VM.start_on / resume_on (and start / resume placed on another host) are the
     * lifecycle's: it runs the checks here first, then sends VM.start (resume) to
     * the host through api_call_on_host */
    if (strcmp(method, "host.get_platform_capabilities") == 0 && n >= 1) {
        target = xv_str(args[0]);
    } else if (strcmp(method, "VM.get_platform_capabilities") == 0 && n >= 2) {
        /* what the VM would get there is that host's to say: its registry decides
         * the hardware, and its record may lag what it offers */
        target = xv_str(args[1]);
    } else {
        for (const char *const *o = resident_ops; *o && !target; o++) {
            if (strcmp(method, *o) != 0 || n < 1)
                continue;
            xv *r = NULL;
            xerr *e = db_read_field(api_db(p->api), DMC_VM, xv_str(args[0]), DMF_VM_resident_on, &r);
            if (e) {
                xerr_free(e); /* the implementation reports it */
                return false;
            }
            resident = xstrdup(xv_str(r));
            xv_free(r);
            target = resident;
        }
    }
    if (!target || strcmp(target, REF_NULL) == 0 || strcmp(target, self) == 0 ||
        !db_exists(api_db(p->api), DMC_host, target))
        return false;
    xv *a = xv_array();
    for (size_t i = 0; i < n; i++)
        if (i != skip)
            xv_array_push(a, xv_dup(args[i]));
    log_info("%s: run on host %s as %s", method, target, as);
    *err = pool_call_host(p, target, as, a, result);
    xv_free(a);
    return true;
}

void pool_hooks(struct pool *p)
{
    if (p->st.member)
        api_set_pool(p->api, member_route, NULL, host_call, p);
    else
        api_set_pool(p->api, NULL, master_forward, host_call, p);
}
