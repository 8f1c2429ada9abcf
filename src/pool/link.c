/* The intra-pool link: JSON-RPC at /jsonrpc over HTTPS to a peer whose certificate
 * is pinned, a few kept-alive connections per peer (calls run on many threads at
 * once), and our pool session there. */
#include "pool_int.h"
#include "dm_gen.h"
#include "log.h"

#include <string.h>

int pool_port(const struct pool *p)
{
    return (int)config_get_int(p->cfg, "https-port");
}

struct peer *peer_new(const struct pool *pool, const char *address, const char *fingerprint)
{
    struct peer *p = xcalloc(1, sizeof(*p));
    bool v6 = strchr(address, ':') != NULL;
    p->url = xasprintf("https://%s%s%s:%d/jsonrpc", v6 ? "[" : "", address, v6 ? "]" : "", pool_port(pool));
    p->keepalive = config_get_double(pool->cfg, "keepalive-timeout");
    p->fingerprint = xstrdup(fingerprint ? fingerprint : "");
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void peer_free(struct peer *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nidle; i++)
        rpc_client_close(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    free(p->url);
    free(p->fingerprint);
    free(p->session);
    free(p);
}

/* The peer's certificate must be the pinned one. */
static xerr *check_pin(void *ctx, const char *host, const char *port, const char *fingerprint)
{
    struct peer *p = ctx;
    (void)port;
    pthread_mutex_lock(&p->lock);
    if (p->tofu && !*p->fingerprint) {
        free(p->fingerprint);
        p->fingerprint = xstrdup(fingerprint);
    }
    bool ok = *p->fingerprint && strcmp(p->fingerprint, fingerprint) == 0;
    pthread_mutex_unlock(&p->lock);
    if (ok)
        return NULL;
    log_warn("pool link to %s: certificate %s is not the pinned %s", host, fingerprint, p->fingerprint);
    return xerr_internal("the certificate of %s is not the pool's pinned one", host);
}

bool link_failed(const xerr *e)
{
    /* the client's own failures are INTERNAL_ERRORs; a peer's answers carry codes */
    return e && xerr_is(e, XERR_INTERNAL_ERROR) && e->nparams == 1 &&
           (strstr(e->params[0], "connect") || strstr(e->params[0], "closed") || strstr(e->params[0], "TLS") ||
            strstr(e->params[0], "certificate") || strstr(e->params[0], "resolve") ||
            strstr(e->params[0], "send") || strstr(e->params[0], "HTTP"));
}

xerr *peer_call_raw(struct peer *p, const char *method, const xv *params, xv **result)
{
    return peer_call_wire(p, method, params, API_WIRE_NONE, result);
}

/* XML-RPC has no nil a server reads back as nil (<value/> is the empty string): a
 * call with one goes as JSON, as before. */
static bool has_nil(const xv *v)
{
    if (v->type == XV_NIL)
        return true;
    for (size_t i = 0; v->type == XV_ARRAY && i < v->u.arr.n; i++)
        if (has_nil(v->u.arr.v[i]))
            return true;
    for (size_t i = 0; v->type == XV_STRUCT && i < v->u.st.n; i++)
        if (has_nil(v->u.st.m[i].val))
            return true;
    return false;
}

xerr *peer_call_wire(struct peer *p, const char *method, const xv *params, enum api_wire wire, xv **result)
{
    if (wire == API_WIRE_XMLRPC && params && has_nil(params))
        wire = API_WIRE_NONE;
    struct rpc_client *c = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->nidle)
        c = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->lock);
    xerr *e = NULL;
    if (!c) {
        e = rpc_client_open(p->url, &c);
        if (e)
            return e;
        rpc_client_set_cert_check(c, check_pin, p);
        rpc_client_set_keepalive(c, p->keepalive);
    }
    /* the peer's url is its /jsonrpc; XML-RPC is its / on the same connection */
    if (wire == API_WIRE_NONE)
        e = rpc_client_call(c, method, params, result);
    else
        e = rpc_client_call_path(c, wire == API_WIRE_JSON ? "/jsonrpc" : "/", true, method, params, result);
    bool keep = !link_failed(e);
    pthread_mutex_lock(&p->lock);
    if (keep && p->nidle < (int)(sizeof(p->idle) / sizeof(p->idle[0]))) {
        p->idle[p->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    rpc_client_close(c);
    return e;
}

static xerr *login(struct pool *pool, struct peer *p, char **session)
{
    xv *params = xv_array(), *r = NULL;
    /* the host logging in: a member names itself; the master, talking to a member,
     * names itself too */
    xv_array_push(params, xv_string(pool->st.member ? pool->st.host : api_host_ref(pool->api)));
    xv_array_push(params, xv_string(pool->st.secret));
    xerr *e = peer_call_raw(p, "session.slave_login", params, &r);
    xv_free(params);
    if (!e)
        *session = xstrdup(xv_str(r) ? xv_str(r) : "");
    xv_free(r);
    return e;
}

xerr *peer_call(struct pool *pool, struct peer *p, const char *method, const xv *args, xv **result)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&p->lock);
        char *s = p->session ? xstrdup(p->session) : NULL;
        pthread_mutex_unlock(&p->lock);
        if (!s) {
            xerr *e = login(pool, p, &s);
            if (e)
                return e;
            pthread_mutex_lock(&p->lock);
            free(p->session);
            p->session = xstrdup(s);
            pthread_mutex_unlock(&p->lock);
        }
        xv *params = xv_array();
        xv_array_push(params, xv_string(s));
        for (size_t i = 0; args && i < args->u.arr.n; i++)
            xv_array_push(params, xv_dup(args->u.arr.v[i]));
        xerr *e = peer_call_raw(p, method, params, result);
        xv_free(params);
        bool stale = e && xerr_is(e, XERR_SESSION_INVALID) && e->nparams == 1 && strcmp(e->params[0], s) == 0;
        if (stale) {
            /* the peer restarted and forgot us (a member keeps no sessions): again */
            pthread_mutex_lock(&p->lock);
            if (p->session && strcmp(p->session, s) == 0) {
                free(p->session);
                p->session = NULL;
            }
            pthread_mutex_unlock(&p->lock);
        }
        free(s);
        if (!stale)
            return e;
        xerr_free(e);
    }
    return err_session_invalid("");
}
