/* Following data/updated of every running domain.
 *
 * The watch callback only marks a domain pending (constant work, whatever a guest
 * does); one worker reads each pending domain at most once per interval, oldest
 * due first, so a guest bumping data/updated thousands of times a second costs one
 * read per interval and never delays another guest's update. */
#include "guest.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"
#include "vm.h"
#include "xenbe.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct gdom {
    uint32_t domid;
    char *vm;
    bool pending;
    double last_read;            /* monotonic; 0: never */
};

static struct {
    struct api *api;
    struct hv_watcher *watcher;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct strmap *doms;         /* "<domid>" -> struct gdom */
    pthread_t worker;
    bool running, stop;
    double interval;
    int64_t tools[4];
} G = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void gdom_free(void *p)
{
    struct gdom *d = p;
    free(d->vm);
    free(d);
}

static void on_update(void *ctx, const char *path, const char *token)
{
    (void)ctx;
    (void)path;
    pthread_mutex_lock(&G.lock);
    struct gdom *d = strmap_get(G.doms, token);
    if (d && !d->pending) {
        d->pending = true;
        pthread_cond_signal(&G.wake);
    }
    pthread_mutex_unlock(&G.lock);
}

static void started(void *ctx, const char *vm, uint32_t domid)
{
    (void)ctx;
    char token[16], path[96];
    snprintf(token, sizeof(token), "%" PRIu32, domid);
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/data/updated", domid);
    struct gdom *d = xcalloc(1, sizeof(*d));
    d->domid = domid;
    d->vm = xstrdup(vm);
    pthread_mutex_lock(&G.lock);
    struct gdom *old = strmap_put(G.doms, token, d);
    pthread_mutex_unlock(&G.lock);
    if (old)
        gdom_free(old);
    xerr *e = G.watcher ? hv_watcher_add(G.watcher, path, token) : NULL;
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("guest metrics of domain %" PRIu32 " will not be followed: %s", domid, s);
        xerr_free(e);
    }
}

static void stopped(void *ctx, const char *vm, uint32_t domid)
{
    (void)ctx;
    (void)vm;
    char token[16], path[96];
    snprintf(token, sizeof(token), "%" PRIu32, domid);
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/data/updated", domid);
    if (G.watcher)
        hv_watcher_remove(G.watcher, path, token);
    pthread_mutex_lock(&G.lock);
    struct gdom *d = strmap_remove(G.doms, token);
    pthread_mutex_unlock(&G.lock);
    if (d)
        gdom_free(d);
}

/* Create or update the VM's guest metrics with what the guest reported. */
static xerr *record(const char *vm, uint32_t domid, xv *fields)
{
    struct db *db = api_db(G.api);
    struct db_txn *t;
    xerr *e = db_begin(db, &t);
    if (e)
        return e;
    xv *rec = NULL;
    char *gm = NULL;
    e = db_txn_read_record(t, DMC_VM, vm, &rec);
    /* a report from a domain the VM no longer runs in is stale */
    if (!e && xv_struct_get(rec, "domid")->u.i != (int64_t)domid)
        goto out;
    xv_struct_append(fields, "last_updated", xv_datetime(time(NULL)));
    xv_struct_append(fields, "live", xv_bool(true));
    const char *cur = e ? NULL : xv_struct_get_str(rec, "guest_metrics");
    xv *old = NULL;
    if (cur && strcmp(cur, REF_NULL) != 0) {
        xerr *re = db_txn_read_record(t, DMC_VM_guest_metrics, cur, &old);
        if (re)
            xerr_free(re);
        else
            gm = xstrdup(cur);
    }
    if (!e && gm) {
        for (size_t i = 0; !e && i < fields->u.st.n; i++) {
            const char *k = fields->u.st.m[i].key;
            if (strcmp(k, "last_updated") != 0 && xv_equal(xv_struct_get(old, k), fields->u.st.m[i].val))
                continue;
            e = db_txn_set(t, DMC_VM_guest_metrics, gm, dm_field_find(DMC_VM_guest_metrics, k),
                           fields->u.st.m[i].val);
        }
    } else if (!e) {
        e = api_create_object(t, DMC_VM_guest_metrics, fields, &gm);
        if (!e) {
            xv *ref = xv_string(gm);
            e = db_txn_set(t, DMC_VM, vm, DMF_VM_guest_metrics, ref);
            xv_free(ref);
        }
    }
    xv_free(old);
out:
    free(gm);
    xv_free(rec);
    return e ? (db_abort(t), e) : db_commit(t, NULL);
}

static void read_domain(const char *vm, uint32_t domid)
{
    struct hv *hv = api_hv(G.api);
    char updated[96];
    snprintf(updated, sizeof(updated), "/local/domain/%" PRIu32 "/data/updated", domid);
    char *bump = hv_xs_read(hv, updated, NULL);
    if (!bump)
        return; /* the watch's first event, before the guest ever reported */
    free(bump);
    char *paths[GK_COUNT], *raw[GK_COUNT] = {0};
    for (int i = 0; i < GK_COUNT; i++)
        paths[i] = xasprintf("/local/domain/%" PRIu32 "/%s", domid, guest_key_paths[i]);
    xerr *e = hv_xs_read_many(hv, (const char *const *)paths, GK_COUNT, raw);
    if (!e) {
        xv *fields = guest_evaluate(raw, G.tools);
        e = record(vm, domid, fields);
        xv_free(fields);
    }
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("guest metrics of VM %s (domain %" PRIu32 "): %s", vm, domid, s);
        xerr_free(e);
    } else {
        log_debug("guest metrics of VM %s (domain %" PRIu32 ") updated", vm, domid);
    }
    for (int i = 0; i < GK_COUNT; i++) {
        free(paths[i]);
        free(raw[i]);
    }
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&G.lock);
    while (!G.stop) {
        /* the pending domain due first */
        struct gdom *next = NULL;
        size_t pos = 0;
        const char *k;
        void *v;
        while (strmap_next(G.doms, &pos, &k, &v)) {
            struct gdom *d = v;
            if (d->pending && (!next || d->last_read < next->last_read))
                next = d;
        }
        double now = now_monotonic();
        if (next && next->last_read + G.interval <= now) {
            next->pending = false;
            next->last_read = now;
            char *vm = xstrdup(next->vm);
            uint32_t domid = next->domid;
            pthread_mutex_unlock(&G.lock);
            read_domain(vm, domid);
            free(vm);
            pthread_mutex_lock(&G.lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double wait = next ? next->last_read + G.interval - now : 3600;
        long ns = until.tv_nsec + (long)((wait - (double)(long)wait) * 1e9);
        until.tv_sec += (time_t)wait + ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&G.wake, &G.lock, &until);
    }
    pthread_mutex_unlock(&G.lock);
    return NULL;
}

xerr *guest_start(struct api *api)
{
    const struct config *cfg = api_config(api);
    G.api = api;
    G.interval = config_get_double(cfg, "guest-metrics-interval");
    if (!guest_parse_version(config_get(cfg, "guest-tools-version"), G.tools))
        return xerr_new("INVALID_VALUE", "guest-tools-version", config_get(cfg, "guest-tools-version"), NULL);
    G.doms = strmap_new();
    xerr *e = hv_watcher_open(api_hv(api), on_update, NULL, &G.watcher);
    if (e)
        return e;
    if (pthread_create(&G.worker, NULL, worker, NULL) != 0)
        return xerr_internal("cannot start the guest metrics worker");
    G.running = true;
    struct vm_domain_hooks hooks = {started, stopped, NULL};
    vm_set_domain_hooks(&hooks);

    /* the domains already running (the daemon restarted): follow them again */
    xv *vms = NULL;
    if ((e = db_read_refs(api_db(api), DMC_VM, &vms)) != NULL)
        return e;
    for (size_t i = 0; i < vms->u.arr.n; i++) {
        xv *rec = NULL;
        const char *vm = xv_str(vms->u.arr.v[i]);
        if (db_read_record(api_db(api), DMC_VM, vm, &rec) == NULL) {
            const char *ps = xv_struct_get_str(rec, "power_state");
            int64_t domid = xv_struct_get(rec, "domid")->u.i;
            bool here = str_eq(xv_struct_get_str(rec, "resident_on"), api_host_ref(api));
            if (here && domid > 0 && (strcmp(ps, "Running") == 0 || strcmp(ps, "Paused") == 0))
                started(NULL, vm, (uint32_t)domid);
        }
        xv_free(rec);
    }
    xv_free(vms);
    return NULL;
}

void guest_stop(void)
{
    if (!G.running)
        return;
    hv_watcher_close(G.watcher);
    G.watcher = NULL;
    pthread_mutex_lock(&G.lock);
    G.stop = true;
    pthread_cond_broadcast(&G.wake);
    pthread_mutex_unlock(&G.lock);
    pthread_join(G.worker, NULL);
    strmap_free(G.doms, gdom_free);
    G.doms = NULL;
    G.running = false;
}
