/* The backend-independent half of src/xen: choosing the backend, the domain's
 * xenstore tree, introduction, shutdown requests and the @releaseDomain watch. */
#include "backend.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <xenstore.h>

#define XS_SPARE 16             /* idle xenstore connections kept for builds */
#define XS_WARN_EVERY 10.0      /* seconds: at most one warning of shared calls in that */

struct hv {
    const struct hv_backend_ops *ops;
    void *state;
    struct xs_handle *xs;        /* thread-safe: libxenstore serialises requests */
    /* builds write their trees on connections of their own: on the one above, a
     * build's ~50 requests waited behind every other build's */
    pthread_mutex_t spare_lock;
    struct xs_handle *spare[XS_SPARE];
    size_t nspare;
    /* calls that could open no connection and went on xs, since the last warning of
     * them, and when that was (under spare_lock) */
    unsigned long shared_calls;
    double shared_warned;
    struct hv_watcher *domains;  /* @releaseDomain */
    hv_domain_cb cb;
    void *cb_ctx;
};

xerr *hv_open(const struct config *cfg, struct hv **out)
{
    const char *name = config_get(cfg, "backend");
    const struct hv_backend_ops *ops;
    *out = NULL;
    if (strcmp(name, "simulator") == 0)
        ops = &hv_simulator_ops;
    else if (strcmp(name, "xc") == 0)
        ops = &hv_xc_ops;
    else
        return err_invalid_value("backend", name);

    struct hv *hv = xcalloc(1, sizeof(*hv));
    hv->ops = ops;
    pthread_mutex_init(&hv->spare_lock, NULL);
    hv->shared_warned = -XS_WARN_EVERY;
    xerr *e = ops->open(cfg, &hv->state);
    if (e) {
        free(hv);
        return e;
    }
    /* libxenstore finds its socket through XENSTORED_PATH: hv_xs_open sets it, here
     * at start-up, and the stock tools the daemon or a test runs inherit it. */
    const char *path = ops->xenstore_path(hv->state);
    hv->xs = hv_xs_open(path);
    if (!hv->xs) {
        e = xerr_internal("cannot connect to xenstore (%s): %s", path ? path : "default",
                          strerror(errno));
        ops->close(hv->state);
        pthread_mutex_destroy(&hv->spare_lock);
        free(hv);
        return e;
    }
    log_info("hypervisor backend %s, xenstore at %s", ops->name, path && *path ? path : "default");
    *out = hv;
    return NULL;
}

void hv_close(struct hv *hv)
{
    if (!hv)
        return;
    hv_watcher_close(hv->domains);
    for (size_t i = 0; i < hv->nspare; i++)
        xs_close(hv->spare[i]);
    pthread_mutex_destroy(&hv->spare_lock);
    xs_close(hv->xs);
    hv->ops->close(hv->state);
    free(hv);
}

const char *hv_backend_name(const struct hv *hv)
{
    return hv->ops->name;
}

bool hv_can_suspend(const struct hv *hv, bool hvm)
{
    return hvm ? hv->ops->can_suspend_hvm : hv->ops->can_suspend;
}

const char *hv_xenstore_path(const struct hv *hv)
{
    const char *p = hv->ops->xenstore_path(hv->state);
    return p && *p ? p : NULL;
}

xerr *hv_host_info(struct hv *hv, struct hv_host_info *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->backend, sizeof(out->backend), "%s", hv->ops->name);
    return hv->ops->host_info(hv->state, out);
}

xerr *hv_fault(struct hv *hv, const char *step)
{
    return hv->ops->fault ? hv->ops->fault(hv->state, step) : NULL;
}

/* A connection for one build's requests: an idle one, or a new one. */
static struct xs_handle *xs_take(struct hv *hv)
{
    pthread_mutex_lock(&hv->spare_lock);
    struct xs_handle *h = hv->nspare ? hv->spare[--hv->nspare] : NULL;
    pthread_mutex_unlock(&hv->spare_lock);
    return h ? h : hv_xs_open(hv_xenstore_path(hv));
}

/* Whether a failed call's errno says the connection itself is gone (libxenstore says
 * EBADF when the socket reached its end). */
static bool xs_lost(int err)
{
    return err == EPIPE || err == ECONNRESET || err == EBADF;
}

/* err: the errno of a call on h that failed, 0 when none did.  A connection that is
 * gone is closed: kept, it would fail every call it was lent to. */
static void xs_give(struct hv *hv, struct xs_handle *h, int err)
{
    if (xs_lost(err)) {
        xs_close(h);
        return;
    }
    pthread_mutex_lock(&hv->spare_lock);
    if (hv->nspare < XS_SPARE) {
        hv->spare[hv->nspare++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&hv->spare_lock);
    if (h)
        xs_close(h);
}

/* A connection for one call's requests (xs_back returns it).  libxenstore holds a
 * handle's lock over each round trip, and xenstored serves one request per
 * connection per turn, so one handle shared by every VM operation made each wait
 * for all the others' requests: under the load soak's 64 clients a shutdown
 * request took 1 s to write and a destroy 2.6 s, and the waits' polls for the
 * acknowledgement were behind them too.  The shared handle is the fallback when no
 * connection can be opened (out of file descriptors, say): said in the log, once in
 * XS_WARN_EVERY, since every call then waits for the others again. */
static struct xs_handle *xs_lend(struct hv *hv)
{
    struct xs_handle *h = xs_take(hv);
    if (h)
        return h;
    int err = errno;
    double now = now_monotonic();
    pthread_mutex_lock(&hv->spare_lock);
    unsigned long n = ++hv->shared_calls;
    bool warn = now - hv->shared_warned >= XS_WARN_EVERY;
    if (warn) {
        hv->shared_calls = 0;
        hv->shared_warned = now;
    }
    pthread_mutex_unlock(&hv->spare_lock);
    if (warn)
        log_warn("cannot open a xenstore connection (%s): %lu call%s since the last warning went on the "
                 "shared one", strerror(err), n, n == 1 ? "" : "s");
    return hv->xs;
}

/* err as for xs_give */
static void xs_back(struct hv *hv, struct xs_handle *h, int err)
{
    if (h != hv->xs)
        xs_give(hv, h, err);
}

/* ---- the domain's xenstore tree ---- */

struct tree {
    struct xs_handle *xs;
    xs_transaction_t t;
    char *dom;                   /* /local/domain/<domid> */
    struct xs_permissions ro[2]; /* dom0 owns, guest may read */
    struct xs_permissions rw[1]; /* guest owns */
    char *failed;                /* the first write that failed, and why */
    int err;                     /* the errno of the call that failed */
    /* the nodes written so far (dom and /vm/<uuid> first) and their permissions: a
     * node dom0 makes gets its parent's, as xenstored does, and a node written again
     * keeps its own, so a node whose parent (or itself) has the permissions it needs
     * is only written (half the requests of a build) */
    struct made { char *path; const struct xs_permissions *perms; } *made;
    size_t nmade;
};

/* The permissions the node at path has once written: its own if it was made
 * before, else those it gets from the nearest node made before it (the nodes between
 * are made with those too); NULL when none is known. */
static const struct xs_permissions *inherited(const struct tree *tr, const char *path)
{
    size_t len = strlen(path);
    while (len > 1) {
        for (size_t i = tr->nmade; i-- > 0;)
            if (strlen(tr->made[i].path) == len && strncmp(tr->made[i].path, path, len) == 0)
                return tr->made[i].perms;
        while (len > 0 && path[len - 1] != '/')
            len--;
        len--; /* the parent's length */
    }
    return NULL;
}

static void made_clear(struct tree *tr, size_t keep)
{
    while (tr->nmade > keep)
        free(tr->made[--tr->nmade].path);
}

/* Paths are not cut to a buffer: a key from the VM record (platform/<key>) as
 * long as xenstore refuses makes the write fail, and the build with it. */
static void put(struct tree *tr, const char *rel, const char *value, const struct xs_permissions *perms,
                unsigned nperms)
{
    if (tr->failed)
        return;
    char *path = rel[0] == '/' ? xstrdup(rel) : rel[0] ? xasprintf("%s/%s", tr->dom, rel) : xstrdup(tr->dom);
    bool same = inherited(tr, path) == perms;
    if (!xs_write(tr->xs, tr->t, path, value, strlen(value)) ||
        (!same && !xs_set_permissions(tr->xs, tr->t, path, (struct xs_permissions *)perms, nperms))) {
        tr->err = errno;
        tr->failed = xasprintf("%s: %s", path, strerror(tr->err));
        free(path);
        return;
    }
    tr->made = xrealloc(tr->made, (tr->nmade + 1) * sizeof(*tr->made));
    tr->made[tr->nmade++] = (struct made){path, perms};
}

/* The tree from layout.c, written with its owners: the guest owns the nodes its
 * drivers and agents report through; dom0 owns the rest, which the guest may read. */
static void write_tree(struct tree *tr, uint32_t domid, const struct hv_domain_spec *spec,
                       const struct hv_build *b)
{
    struct hv_rings r = {b->store_evtchn, b->store_mfn, b->console_evtchn, b->console_mfn};
    size_t n = 0;
    struct hv_xs_node *nodes = hv_domain_tree(domid, spec, &r, &n);
    for (size_t i = 0; i < n; i++)
        put(tr, nodes[i].path, nodes[i].value, nodes[i].guest_owned ? tr->rw : tr->ro,
            nodes[i].guest_owned ? 1 : 2);
    hv_xs_nodes_free(nodes, n);
}

static xerr *write_domain_tree(struct hv *hv, uint32_t domid, const struct hv_domain_spec *spec,
                               const struct hv_build *b)
{
    struct tree tr = {.xs = xs_take(hv)};
    if (!tr.xs)
        return xerr_internal("cannot connect to xenstore: %s", strerror(errno));
    tr.dom = xasprintf("/local/domain/%" PRIu32, domid);
    tr.ro[0] = (struct xs_permissions){.id = 0, .perms = XS_PERM_NONE};
    tr.ro[1] = (struct xs_permissions){.id = domid, .perms = XS_PERM_READ};
    tr.rw[0] = (struct xs_permissions){.id = domid, .perms = XS_PERM_NONE};
    xerr *e = NULL;
    bool committed = false;
    /* The domain's two roots are made first, outside the transaction: made inside it they
     * add a child to /local/domain and /vm, nodes that every build touches, and builds
     * running at once conflicted on them until some gave up.  Below the roots, each
     * domain's transaction touches only its own nodes. */
    char vmpath[64];
    snprintf(vmpath, sizeof(vmpath), "/vm/%s", spec->uuid);
    tr.t = XBT_NULL;
    /* what a domain of this id, or an earlier domain of this VM, left (a crash between
     * its destroy and the removal of its tree) goes first: every node below the two
     * roots is then new, and has the permissions it inherits */
    xs_rm(tr.xs, XBT_NULL, tr.dom);
    xs_rm(tr.xs, XBT_NULL, vmpath);
    put(&tr, "", "", tr.ro, 2);
    put(&tr, vmpath, "", tr.ro, 2);
    if (tr.failed)
        e = xerr_internal("writing the xenstore tree of domain %" PRIu32 " failed at %s", domid, tr.failed);
    if (!e)
        e = hv_fault(hv, "xenstore-tree");
    for (int attempt = 0; attempt < 10 && !e && !committed; attempt++) {
        free(tr.failed);
        tr.failed = NULL;
        made_clear(&tr, 2); /* the two roots' permissions stay known */
        tr.t = xs_transaction_start(tr.xs);
        if (tr.t == XBT_NULL) {
            tr.err = errno;
            e = xerr_internal("xenstore transaction: %s", strerror(tr.err));
            break;
        }
        write_tree(&tr, domid, spec, b);
        if (tr.failed) {
            xs_transaction_end(tr.xs, tr.t, true);
            e = xerr_internal("writing the xenstore tree of domain %" PRIu32 " failed at %s", domid,
                              tr.failed);
            break;
        }
        committed = xs_transaction_end(tr.xs, tr.t, false);
        if (!committed && errno != EAGAIN) {
            tr.err = errno;
            e = xerr_internal("committing the xenstore tree of domain %" PRIu32 ": %s", domid,
                              strerror(tr.err));
        }
    }
    /* ten conflicts in a row must not pass for success: the guest would boot without its tree */
    if (!e && !committed)
        e = xerr_internal("committing the xenstore tree of domain %" PRIu32 ": still conflicting after 10 tries",
                          domid);
    made_clear(&tr, 0);
    free(tr.made);
    xs_give(hv, tr.xs, tr.err);
    free(tr.dom);
    free(tr.failed);
    return e;
}

static void remove_domain_tree(struct xs_handle *xs, uint32_t domid, const char *uuid)
{
    char path[128];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32, domid);
    xs_rm(xs, XBT_NULL, path);
    if (uuid && *uuid) {
        snprintf(path, sizeof(path), "/vm/%s", uuid);
        xs_rm(xs, XBT_NULL, path);
    }
}

void hv_strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static xerr *finish_domain(struct hv *hv, const struct hv_domain_spec *spec, const struct hv_build *b,
                           const char *how, uint32_t *domid);

xerr *hv_domain_create(struct hv *hv, const struct hv_domain_spec *spec, uint32_t *domid)
{
    /* a VM's uuid, made by the daemon (read-only to clients): /vm/<uuid> and the
     * domain handle are sized for it */
    assert(spec->uuid && strlen(spec->uuid) == 36);
    assert(spec->name);
    if (spec->hvm && (!spec->machine || !*spec->machine))
        return xerr_internal("VM %s: an HVM domain needs its hardware's machine type", spec->uuid);
    struct hv_build b = {0};
    xerr *e = hv_fault(hv, "build");
    if (!e)
        e = hv->ops->build(hv->state, spec, &b);
    if (e)
        return e;
    return finish_domain(hv, spec, &b, "built", domid);
}

/* A domain the backend built or restored: its xenstore tree, introduction and
 * device model; on failure the domain is taken down whole. */
static xerr *finish_domain(struct hv *hv, const struct hv_domain_spec *spec, const struct hv_build *bp,
                           const char *how, uint32_t *domid)
{
    struct hv_build b = *bp;
    xerr *e = write_domain_tree(hv, b.domid, spec, &b);
    bool introduced = false;
    int err = 0;
    struct xs_handle *xs = xs_lend(hv);
    if (!e)
        e = hv_fault(hv, "introduce");
    if (!e && !(introduced = xs_introduce_domain(xs, b.domid, b.store_mfn, b.store_evtchn))) {
        err = errno;
        e = xerr_internal("xenstore refused to introduce domain %" PRIu32 ": %s", b.domid, strerror(err));
    }
    if (!e && spec->hvm && hv->ops->device_model && !(e = hv_fault(hv, "device-model"))) {
        char **argv = hv_dm_argv(b.domid, spec);
        e = hv->ops->device_model(hv->state, b.domid, argv);
        hv_strv_free(argv);
    }
    if (e) {
        xerr *e2 = hv->ops->destroy(hv->state, b.domid);
        if (e2) {
            _cleanup_free_ char *s = xerr_str(e2);
            log_error("cleaning up domain %" PRIu32 " after a failed build: %s", b.domid, s);
            xerr_free(e2);
        }
        remove_domain_tree(xs, b.domid, spec->uuid);
        /* xenstored lets go of the store ring, so that Xen can finish the domain */
        if (introduced)
            xs_release_domain(xs, b.domid);
        xs_back(hv, xs, err);
        return e;
    }
    xs_back(hv, xs, 0);
    if (hv->ops->built)
        hv->ops->built(hv->state, b.domid);
    *domid = b.domid;
    log_info("%s domain %" PRIu32 " for VM %s (%s)", how, b.domid, spec->uuid, spec->hvm ? "HVM" : "PV");
    return NULL;
}

/* ---- save and restore ---- */

/* The identity section: who the stream is of, key=value lines. */
static char *identity_text(const char *backend, const char *uuid, const char *name, bool hvm)
{
    return xasprintf("backend=%s\nuuid=%s\nhvm=%d\nname=%s\n", backend, uuid, hvm, name);
}

/* The value of key in identity text (a fresh string), NULL when absent. */
static char *identity_get(const char *text, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=')
            return xstrndup(p + kl + 1, strcspn(p + kl + 1, "\n"));
    }
    return NULL;
}

xerr *hv_domain_save(struct hv *hv, uint32_t domid, int fd)
{
    if (!hv->ops->save)
        return xerr_internal("the %s backend cannot save a domain", hv->ops->name);
    struct hv_domain_info di;
    if (!hv_domain_info(hv, domid, &di))
        return xerr_internal("saving domain %" PRIu32 ": no such domain", domid);
    if (di.state != HV_DOM_SHUTDOWN || di.shutdown_reason != HV_SHUTDOWN_SUSPEND)
        return xerr_internal("saving domain %" PRIu32 ": it has not suspended (state %d, reason %d)", domid,
                             (int)di.state, di.state == HV_DOM_SHUTDOWN ? di.shutdown_reason : -1);
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/name", domid);
    unsigned len = 0;
    struct xs_handle *xs = xs_lend(hv);
    _cleanup_free_ char *name = xs_read(xs, XBT_NULL, path, &len);
    xs_back(hv, xs, name ? 0 : errno);
    _cleanup_free_ char *id = identity_text(hv->ops->name, di.uuid, name ? name : "", di.hvm);
    xerr *e = hv_fault(hv, "save");
    if (!e)
        e = hv_stream_put_header(fd);
    if (!e)
        e = hv_stream_put(fd, "IDEN", id, strlen(id));
    if (!e)
        e = hv->ops->save(hv->state, domid, fd);
    if (!e)
        e = hv_stream_put(fd, "END ", "", 0);
    if (!e)
        log_info("saved domain %" PRIu32 " (VM %s)", domid, di.uuid);
    return e;
}

/* The stream is this VM's and this backend's. */
static xerr *check_identity(struct hv *hv, const struct hv_domain_spec *spec, int fd)
{
    xerr *e = hv_stream_check_header(fd);
    _cleanup_free_ char *id = NULL;
    if (!e)
        e = hv_stream_get(fd, "IDEN", 65536, &id, NULL);
    if (e)
        return e;
    _cleanup_free_ char *backend = identity_get(id, "backend");
    _cleanup_free_ char *uuid = identity_get(id, "uuid");
    _cleanup_free_ char *hvm = identity_get(id, "hvm");
    _cleanup_free_ char *why = NULL;
    if (!backend || !uuid || !hvm)
        why = xstrdup("its identity section lacks the backend, uuid or hvm");
    else if (strcmp(backend, hv->ops->name) != 0)
        why = xasprintf("saved by the %s backend, restored on %s", backend, hv->ops->name);
    else if (strcmp(uuid, spec->uuid) != 0)
        why = xasprintf("it is of VM %s, not %s", uuid, spec->uuid);
    else if ((strcmp(hvm, "1") == 0) != spec->hvm)
        why = xasprintf("it is of a%s domain, the VM is %s", strcmp(hvm, "1") == 0 ? "n HVM" : " PV",
                        spec->hvm ? "HVM" : "PV");
    return why ? err_domain_stream_invalid(why) : NULL;
}

xerr *hv_domain_restore(struct hv *hv, const struct hv_domain_spec *spec, int fd, uint32_t *domid)
{
    assert(spec->uuid && strlen(spec->uuid) == 36);
    assert(spec->name);
    if (!hv->ops->restore)
        return xerr_internal("the %s backend cannot restore a domain", hv->ops->name);
    xerr *e = check_identity(hv, spec, fd);
    if (e)
        return e;
    struct hv_build b = {0};
    if ((e = hv->ops->restore(hv->state, spec, fd, &b)) != NULL)
        return e;
    uint64_t n = 0;
    /* (the fault after the backend's restore: its domain exists and must go) */
    e = hv_fault(hv, "restore");
    if (!e)
        e = hv_stream_next(fd, "END ", 0, &n);
    if (!e)
        e = hv_stream_check_sum(fd, "END ", HV_STREAM_SUM_INIT);
    if (e) {
        xerr *de = hv->ops->destroy(hv->state, b.domid);
        if (de) {
            _cleanup_free_ char *why = xerr_str(de);
            log_error("cleaning up domain %" PRIu32 " after a failed restore: %s", b.domid, why);
            xerr_free(de);
        }
        return e;
    }
    return finish_domain(hv, spec, &b, "restored", domid);
}

xerr *hv_domain_resume_in_place(struct hv *hv, uint32_t domid)
{
    if (!hv->ops->resume_in_place)
        return xerr_internal("the %s backend cannot resume a domain", hv->ops->name);
    xerr *e = hv->ops->resume_in_place(hv->state, domid);
    if (!e)
        log_info("domain %" PRIu32 " resumed in place", domid);
    return e;
}

xerr *hv_domain_pause(struct hv *hv, uint32_t domid)
{
    xerr *e = hv_fault(hv, "pause");
    return e ? e : hv->ops->pause(hv->state, domid);
}

xerr *hv_domain_unpause(struct hv *hv, uint32_t domid)
{
    xerr *e = hv_fault(hv, "unpause");
    return e ? e : hv->ops->unpause(hv->state, domid);
}

xerr *hv_domain_request_shutdown(struct hv *hv, uint32_t domid, const char *reason)
{
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/control/shutdown", domid);
    xerr *e = hv_fault(hv, strcmp(reason, "suspend") == 0 ? "request-suspend" : "request-shutdown");
    if (e)
        return e;
    struct xs_handle *xs = xs_lend(hv);
    bool ok = xs_write(xs, XBT_NULL, path, reason, strlen(reason));
    int err = ok ? 0 : errno;
    xs_back(hv, xs, err);
    if (!ok)
        return xerr_internal("writing %s: %s", path, strerror(err));
    return NULL;
}

/* *err: as for xs_give */
static bool cancel_shutdown_on(struct xs_handle *xs, uint32_t domid, int *err)
{
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/control/shutdown", domid);
    /* only where the node is (in one transaction): a domain that went meanwhile gets
     * no new tree */
    for (int attempt = 0; attempt < 5; attempt++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            break;
        unsigned len = 0;
        char *v = xs_read(xs, t, path, &len);
        bool acked = !v || len == 0;
        free(v);
        if (acked) {
            xs_transaction_end(xs, t, true);
            return false;
        }
        if (!xs_write(xs, t, path, "", 0)) {
            xs_transaction_end(xs, t, true);
            break;
        }
        if (xs_transaction_end(xs, t, false))
            return true;
        if (errno != EAGAIN)
            break;
    }
    *err = errno;
    log_warn("domain %" PRIu32 ": cannot take back its shutdown request: %s", domid, strerror(*err));
    return true; /* not acknowledged, as far as can be told */
}

bool hv_domain_cancel_shutdown(struct hv *hv, uint32_t domid)
{
    struct xs_handle *xs = xs_lend(hv);
    int err = 0;
    bool taken_back = cancel_shutdown_on(xs, domid, &err);
    xs_back(hv, xs, err);
    return taken_back;
}

bool hv_domain_shutdown_acked(struct hv *hv, uint32_t domid)
{
    char path[96];
    unsigned len = 0;
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/control/shutdown", domid);
    struct xs_handle *xs = xs_lend(hv);
    char *v = xs_read(xs, XBT_NULL, path, &len);
    xs_back(hv, xs, v ? 0 : errno);
    /* Linux acknowledges by writing "" back; other guests remove the key. */
    bool acked = !v || len == 0;
    free(v);
    return acked;
}

xerr *hv_domain_destroy(struct hv *hv, uint32_t domid)
{
    char path[96];
    unsigned len = 0;
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/vm", domid);
    struct xs_handle *xs = xs_lend(hv);
    char *vm = xs_read(xs, XBT_NULL, path, &len);
    int err = vm ? 0 : errno;
    const char *uuid = vm && str_startswith(vm, "/vm/") ? vm + 4 : NULL;
    xerr *e = hv_fault(hv, "destroy");
    if (!e)
        e = hv->ops->destroy(hv->state, domid);
    if (!e) {
        remove_domain_tree(xs, domid, uuid);
        xs_release_domain(xs, domid);
    }
    xs_back(hv, xs, err);
    free(vm);
    return e;
}

void hv_domain_forget(struct hv *hv, uint32_t domid, const char *uuid)
{
    struct hv_domain_info di;
    if (domid == 0 || !uuid || !*uuid || hv_domain_info(hv, domid, &di))
        return; /* dom0, or the domain (or a new one with its domid) is there */
    char path[96], want[64];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/vm", domid);
    snprintf(want, sizeof(want), "/vm/%s", uuid);
    unsigned len = 0;
    struct xs_handle *xs = xs_lend(hv);
    char *vm = xs_read(xs, XBT_NULL, path, &len);
    int err = vm ? 0 : errno;
    /* the tree at domid, if any, must be this VM's; /vm/<uuid> is its own either way */
    bool ours = !vm || strcmp(vm, want) == 0;
    free(vm);
    if (ours) {
        remove_domain_tree(xs, domid, uuid);
        xs_release_domain(xs, domid);
    }
    xs_back(hv, xs, err);
    if (!ours)
        return;
    if (hv->ops->forget)
        hv->ops->forget(hv->state, domid);
    log_info("removed the xenstore entries of vanished domain %" PRIu32 " (VM %s)", domid, uuid);
}

xerr *hv_domain_list(struct hv *hv, struct hv_domain_info **out, size_t *n)
{
    return hv->ops->list(hv->state, out, n);
}

bool hv_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *out)
{
    struct hv_domain_info *all = NULL;
    size_t n = 0;
    bool found = false;
    xerr *e = hv->ops->list(hv->state, &all, &n);
    if (e) {
        xerr_free(e);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (all[i].domid == domid) {
            *out = all[i];
            found = true;
        }
    }
    free(all);
    return found;
}

char **hv_domain_dm_argv(struct hv *hv, uint32_t domid)
{
    return hv->ops->dm_argv ? hv->ops->dm_argv(hv->state, domid) : NULL;
}

/* ---- domain state changes ---- */

static void domains_changed(void *ctx, const char *path, const char *token)
{
    (void)path;
    (void)token;
    struct hv *hv = ctx;
    hv->cb(hv->cb_ctx);
}

xerr *hv_watch_domains(struct hv *hv, hv_domain_cb cb, void *ctx)
{
    if (hv->domains)
        return xerr_internal("domain watch already set");
    hv->cb = cb;
    hv->cb_ctx = ctx;
    xerr *e = hv_watcher_open(hv, domains_changed, hv, &hv->domains);
    if (!e && (e = hv_watcher_add(hv->domains, "@releaseDomain", "release")) != NULL) {
        hv_watcher_close(hv->domains);
        hv->domains = NULL;
    }
    return e;
}

char *hv_xs_read(struct hv *hv, const char *path, size_t *len)
{
    unsigned n = 0;
    struct xs_handle *xs = xs_lend(hv);
    char *v = xs_read(xs, XBT_NULL, path, &n);
    xs_back(hv, xs, v ? 0 : errno);
    if (len)
        *len = n;
    return v;
}

/* *err: as for xs_give */
static xerr *read_many_on(struct xs_handle *xs, const char *const *paths, size_t n, char **values, int *err)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL) {
            *err = errno;
            return xerr_internal("xenstore transaction: %s", strerror(*err));
        }
        for (size_t i = 0; i < n; i++) {
            unsigned len = 0;
            values[i] = xs_read(xs, t, paths[i], &len);
        }
        if (xs_transaction_end(xs, t, false))
            return NULL;
        *err = errno;
        for (size_t i = 0; i < n; i++) {
            free(values[i]);
            values[i] = NULL;
        }
        if (*err != EAGAIN)
            return xerr_internal("xenstore transaction: %s", strerror(*err));
    }
    return xerr_internal("xenstore transaction kept conflicting");
}

xerr *hv_xs_read_many(struct hv *hv, const char *const *paths, size_t n, char **values)
{
    int err = 0;
    struct xs_handle *xs = xs_lend(hv);
    xerr *e = read_many_on(xs, paths, n, values, &err);
    xs_back(hv, xs, err);
    return e;
}
