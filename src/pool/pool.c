/* The pool module: membership, the member's store, the hooks and the thread. */
#include "pool_int.h"
#include "dm_gen.h"
#include "log.h"
#include "wire.h"

#include <string.h>

xerr *pool_open(const struct config *cfg, struct pool **out)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    p->cfg = cfg;
    p->path = pool_default_path(cfg);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->members = strmap_new();
    p->tokens = strmap_new();
    p->seen = strmap_new();
    bool found = false;
    xerr *e = pool_state_load(p->path, &p->st, &found);
    if (!e && !found) {
        /* a fresh host is the master of its own pool: it needs a secret */
        p->st.secret = pool_secret_new();
        e = pool_state_save(p->path, &p->st);
    }
    if (e) {
        pool_free(p);
        return e;
    }
    if (p->st.member) {
        p->master = peer_new(p, p->st.master, p->st.master_fingerprint);
        log_info("a member of the pool of %s (this host is %s)", p->st.master, p->st.host);
    }
    *out = p;
    return NULL;
}

static void free_peer(void *v)
{
    peer_free(v);
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pool_stop(p);
    peer_free(p->master);
    strmap_free(p->members, free_peer);
    strmap_free(p->tokens, NULL);
    strmap_free(p->seen, free);
    pool_state_clear(&p->st);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->path);
    free(p);
}

bool pool_is_member(const struct pool *p)
{
    return p->st.member;
}

/* The member's store: each operation is a pool.db_call on the master. */
static xerr *store_call(void *ctx, const char *op, const xv *args, xv **result)
{
    struct pool *p = ctx;
    buf b;
    buf_init(&b);
    wire_json_write(&b, args);
    xv *a = xv_array(), *r = NULL;
    xv_array_push(a, xv_string(op));
    xv_array_push(a, xv_string_take(buf_steal(&b)));
    xerr *e = peer_call(p, p->master, "pool.db_call", a, &r);
    xv_free(a);
    if (link_failed(e)) {
        xerr_free(e);
        e = err_cannot_contact_host(p->st.master);
    }
    if (!e && !xv_str(r))
        e = xerr_internal("pool.db_call answered no string");
    if (!e)
        e = wire_json_parse(xv_str(r), strlen(xv_str(r)), result);
    xv_free(r);
    return e;
}

xerr *pool_open_store(struct pool *p, struct db **out)
{
    return db_open_remote(store_call, p, out);
}

xerr *pool_register(struct pool *p, struct api *api)
{
    p->api = api;
    pool_hooks(p);
    pool_register_join(p);
    pool_register_live(p);
    return NULL;
}

xerr *pool_start(struct pool *p)
{
    p->stop = false;
    if (pthread_create(&p->thread, NULL, pool_thread, p) != 0)
        return xerr_internal("cannot start the pool thread");
    p->running = true;
    return NULL;
}

void pool_stop(struct pool *p)
{
    if (!p || !p->running)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    p->running = false;
}
