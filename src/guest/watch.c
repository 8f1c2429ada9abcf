/* Following data/updated of every running domain.
 *
 * Which domains to follow comes from the VM records: a follower thread reads the
 * store's event log (as event.from does) and follows the domain of every VM that is
 * Running or Paused on this host, so that no other module has to tell this one
 * about domains.  The watch callback only marks a domain pending (constant work,
 * whatever a guest does); one worker reads each pending domain at most once per
 * interval, oldest due first, so a guest bumping data/updated thousands of times a
 * second costs one read per interval and never delays another guest's update. */
#include "guest.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"
#include "xenbe.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gdom {
    uint32_t domid;
    char *vm;
    bool pending;
    double last_read;            /* monotonic; 0: never */
};

struct guest_watch {
    struct api *api;
    struct hv_watcher *watcher;
    pthread_mutex_t lock;        /* doms, stop */
    pthread_cond_t wake;
    struct strmap *doms;         /* "<domid>" -> struct gdom */
    struct strmap *followed;     /* VM ref -> "<domid>": the follower thread's own */
    int64_t last_event;          /* the follower's place in the event log */
    pthread_t worker, follower;
    bool worker_started, follower_started, stop;
    double interval;
    int64_t tools[4];
    char live[2][64];            /* "power_state":"Running", and Paused, as JSON has them */
};

static void gdom_free(void *p)
{
    struct gdom *d = p;
    free(d->vm);
    free(d);
}

static void on_update(void *ctx, const char *path, const char *token)
{
    (void)path;
    struct guest_watch *g = ctx;
    pthread_mutex_lock(&g->lock);
    struct gdom *d = strmap_get(g->doms, token);
    if (d && !d->pending) {
        d->pending = true;
        pthread_cond_signal(&g->wake);
    }
    pthread_mutex_unlock(&g->lock);
}

static void start_following(struct guest_watch *g, const char *vm, uint32_t domid)
{
    char token[16], path[96];
    snprintf(token, sizeof(token), "%" PRIu32, domid);
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/data/updated", domid);
    struct gdom *d = xcalloc(1, sizeof(*d));
    d->domid = domid;
    d->vm = xstrdup(vm);
    pthread_mutex_lock(&g->lock);
    struct gdom *old = strmap_put(g->doms, token, d);
    pthread_mutex_unlock(&g->lock);
    if (old)
        gdom_free(old);
    xerr *e = hv_watcher_add(g->watcher, path, token);
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("guest metrics of domain %" PRIu32 " will not be followed: %s", domid, s);
        xerr_free(e);
    }
}

static void stop_following(struct guest_watch *g, const char *vm, uint32_t domid)
{
    char token[16], path[96];
    snprintf(token, sizeof(token), "%" PRIu32, domid);
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/data/updated", domid);
    pthread_mutex_lock(&g->lock);
    struct gdom *d = strmap_get(g->doms, token);
    /* the domid may already be another VM's */
    bool ours = d && strcmp(d->vm, vm) == 0;
    if (ours)
        strmap_remove(g->doms, token);
    pthread_mutex_unlock(&g->lock);
    if (ours) {
        hv_watcher_remove(g->watcher, path, token);
        gdom_free(d);
    }
}

/* The domain of this host a VM record says the VM runs in; 0 if none. */
static uint32_t domain_of(struct guest_watch *g, const xv *rec)
{
    int ps = dm_get_enum(rec, DMF_VM_power_state);
    int64_t domid = dm_get_int(rec, DMF_VM_domid);
    bool live = ps == VM_POWER_STATE_RUNNING || ps == VM_POWER_STATE_PAUSED;
    bool here = strcmp(dm_get_str(rec, DMF_VM_resident_on), api_host_ref(g->api)) == 0;
    return live && here && domid > 0 && domid <= UINT32_MAX ? (uint32_t)domid : 0;
}

/* Follow domid (0: none) for the VM, and no other domain. */
static void follow(struct guest_watch *g, const char *vm, uint32_t domid)
{
    char *cur = strmap_get(g->followed, vm);
    uint32_t was = cur ? (uint32_t)strtoul(cur, NULL, 10) : 0;
    if (was == domid)
        return;
    if (was)
        stop_following(g, vm, was);
    free(strmap_remove(g->followed, vm));
    if (domid) {
        start_following(g, vm, domid);
        strmap_put(g->followed, vm, xasprintf("%" PRIu32, domid));
    }
}

/* What the events say to follow, applied once they are read: following starts and
 * stops xenstore watches (round trips, slow on a busy host), and db_events_after's
 * callback runs with a read snapshot held, which keeps the WAL from being restarted
 * (load soak: held up to 4.5 s, the WAL grew past 800 MiB in 4 minutes). */
struct follows {
    struct guest_watch *g;
    struct {
        char *vm;
        uint32_t domid;
    } *v;
    size_t n, cap;
};

static void follows_add(struct follows *f, const char *vm, uint32_t domid)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
    }
    f->v[f->n].vm = xstrdup(vm);
    f->v[f->n++].domid = domid;
}

/* In the order read: the last event of a VM decides. */
static void follows_apply(struct follows *f)
{
    for (size_t i = 0; i < f->n; i++) {
        follow(f->g, f->v[i].vm, f->v[i].domid);
        free(f->v[i].vm);
    }
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}

/* Every VM record as it is now: at the start, and when events were lost.  Read a
 * record at a time: with thousands of VMs the whole table would be a big heap. */
static xerr *follow_all(struct guest_watch *g)
{
    struct db_cursor *cur;
    xerr *e = db_cursor_open(api_db(g->api), DMC_VM, &cur);
    if (e)
        return e;
    struct strmap *seen = strmap_new();
    char *ref;
    xv *rec;
    struct follows f = {.g = g};
    while (!(e = db_cursor_next(cur, &ref, &rec)) && rec) {
        follows_add(&f, ref, domain_of(g, rec));
        strmap_put(seen, ref, seen);
        free(ref);
        xv_free(rec);
    }
    db_cursor_close(cur);
    follows_apply(&f);
    /* and none of the VMs that are gone (unless the read failed midway) */
    xv *gone = xv_array();
    size_t pos = 0;
    const char *k;
    void *v;
    while (!e && strmap_next(g->followed, &pos, &k, &v))
        if (!strmap_get(seen, k))
            xv_array_push(gone, xv_string(k));
    for (size_t i = 0; i < gone->u.arr.n; i++)
        follow(g, xv_str(gone->u.arr.v[i]), 0);
    xv_free(gone);
    strmap_free(seen, NULL);
    return e;
}

/* Whether a VM snapshot may say Running or Paused: decoding the whole record was most
 * of this thread's cost, and most VM events are of VMs without a domain.  A quote in a
 * string is escaped, so the pair appears unescaped only as a key and its value (the
 * record's, or a map's: then the decode tells). */
static bool maybe_live(const struct guest_watch *g, const char *json)
{
    return strstr(json, g->live[0]) || strstr(json, g->live[1]);
}

static bool on_event(void *ctx, const struct db_event *ev)
{
    struct follows *f = ctx;
    struct guest_watch *g = f->g;
    if (strcmp(ev->class_lname, DMC_VM->lname) != 0)
        return true;
    xv *rec = NULL;
    uint32_t domid = 0;
    if (ev->snapshot_json && maybe_live(g, ev->snapshot_json)) {
        xerr *e = db_decode_snapshot(DMC_VM, ev->snapshot_json, &rec);
        if (e) {
            _cleanup_free_ char *s = xerr_str(e);
            log_error("guest metrics: event %" PRId64 " of VM %s unreadable: %s", ev->id, ev->ref, s);
            xerr_free(e);
            return true;
        }
        domid = domain_of(g, rec);
    }
    follows_add(f, ev->ref, domid);
    xv_free(rec);
    return true;
}

static void pause_briefly(void)
{
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static bool stopping(struct guest_watch *g)
{
    pthread_mutex_lock(&g->lock);
    bool stop = g->stop;
    pthread_mutex_unlock(&g->lock);
    return stop;
}

/* How long the follower waits for events before it looks whether to stop. */
#define FOLLOW_WAIT 0.2

static void *follower(void *arg)
{
    struct guest_watch *g = arg;
    struct db *db = api_db(g->api);
    while (!stopping(g)) {
        if (!db_wait_events(db, g->last_event, FOLLOW_WAIT))
            continue;
        xerr *e = NULL;
        if (g->last_event + 1 < db_first_event_id(db)) {
            /* the log was trimmed past us: start again from the records */
            g->last_event = db_last_event_id(db);
            e = follow_all(g);
        } else {
            struct follows f = {.g = g};
            e = db_events_after(db, g->last_event, 1000, on_event, &f, &g->last_event);
            follows_apply(&f);
        }
        if (e) {
            _cleanup_free_ char *s = xerr_str(e);
            log_error("guest metrics: following the VM records: %s", s);
            xerr_free(e);
            pause_briefly();
        }
    }
    return NULL;
}

/* Create or update the VM's guest metrics with what the guest reported. */
static xerr *record(struct guest_watch *g, const char *vm, uint32_t domid, xv *fields)
{
    struct db *db = api_db(g->api);
    struct db_txn *t;
    xerr *e = db_begin(db, &t);
    if (e)
        return e;
    xv *rec = NULL;
    char *gm = NULL;
    e = db_txn_read_record(t, DMC_VM, vm, &rec);
    /* a report from a domain the VM no longer runs in is stale */
    if (!e && dm_get_int(rec, DMF_VM_domid) != (int64_t)domid)
        goto out;
    dm_set(fields, DMF_VM_guest_metrics_last_updated, xv_datetime(time(NULL)));
    dm_set(fields, DMF_VM_guest_metrics_live, xv_bool(true));
    const char *cur = e ? NULL : dm_get_str(rec, DMF_VM_guest_metrics);
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
            const struct dm_field *f = dm_field_find(DMC_VM_guest_metrics, fields->u.st.m[i].key);
            assert(f); /* guest_evaluate makes only fields of the class */
            if (f != DMF_VM_guest_metrics_last_updated && xv_equal(dm_get(old, f), fields->u.st.m[i].val))
                continue;
            e = db_txn_set(t, DMC_VM_guest_metrics, gm, f, fields->u.st.m[i].val);
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
    return db_end(t, e);
}

static void read_domain(struct guest_watch *g, const char *vm, uint32_t domid)
{
    struct hv *hv = api_hv(g->api);
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
        xv *fields = guest_evaluate(raw, g->tools);
        e = record(g, vm, domid, fields);
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
    struct guest_watch *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        /* the pending domain due first */
        struct gdom *next = NULL;
        size_t pos = 0;
        const char *k;
        void *v;
        while (strmap_next(g->doms, &pos, &k, &v)) {
            struct gdom *d = v;
            if (d->pending && (!next || d->last_read < next->last_read))
                next = d;
        }
        double now = now_monotonic();
        if (next && next->last_read + g->interval <= now) {
            next->pending = false;
            next->last_read = now;
            char *vm = xstrdup(next->vm);
            uint32_t domid = next->domid;
            pthread_mutex_unlock(&g->lock);
            read_domain(g, vm, domid);
            free(vm);
            pthread_mutex_lock(&g->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double wait = next ? next->last_read + g->interval - now : 3600;
        long ns = until.tv_nsec + (long)((wait - (double)(long)wait) * 1e9);
        until.tv_sec += (time_t)wait + ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

xerr *guest_watch_start(struct api *api, struct guest_watch **out)
{
    *out = NULL;
    const struct config *cfg = api_config(api);
    struct guest_watch *g = xcalloc(1, sizeof(*g));
    g->api = api;
    g->interval = config_get_double(cfg, "guest-metrics-interval");
    snprintf(g->live[0], sizeof(g->live[0]), "\"%s\":\"%s\"", DMF_VM_power_state->name,
             vm_power_state_name(VM_POWER_STATE_RUNNING));
    snprintf(g->live[1], sizeof(g->live[1]), "\"%s\":\"%s\"", DMF_VM_power_state->name,
             vm_power_state_name(VM_POWER_STATE_PAUSED));
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->doms = strmap_new();
    g->followed = strmap_new();
    xerr *e = NULL;
    if (!guest_parse_version(config_get(cfg, "guest-tools-version"), g->tools))
        e = err_invalid_value("guest-tools-version", config_get(cfg, "guest-tools-version"));
    if (!e)
        e = hv_watcher_open(api_hv(api), on_update, g, &g->watcher);
    if (!e) {
        g->worker_started = pthread_create(&g->worker, NULL, worker, g) == 0;
        if (!g->worker_started)
            e = xerr_internal("cannot start the guest metrics worker");
    }
    if (!e) {
        /* from here on no change is missed: events after this one are followed, and
         * what came before is in the records */
        g->last_event = db_last_event_id(api_db(api));
        e = follow_all(g);
    }
    if (!e) {
        g->follower_started = pthread_create(&g->follower, NULL, follower, g) == 0;
        if (!g->follower_started)
            e = xerr_internal("cannot start the guest metrics follower");
    }
    if (e) {
        guest_watch_stop(g);
        return e;
    }
    *out = g;
    return NULL;
}

void guest_watch_stop(struct guest_watch *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_broadcast(&g->wake);
    pthread_mutex_unlock(&g->lock);
    /* the follower adds watches: it ends before the watcher is closed */
    if (g->follower_started)
        pthread_join(g->follower, NULL);
    hv_watcher_close(g->watcher);
    if (g->worker_started)
        pthread_join(g->worker, NULL);
    strmap_free(g->doms, gdom_free);
    strmap_free(g->followed, free);
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
