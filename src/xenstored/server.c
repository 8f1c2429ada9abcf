/* The server thread: one poll loop over the sockets, one request per connection per
 * turn so that no client can starve another; and the public surface (xsd.h). */
#include "xsd_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Seconds between a save and the fsync that makes it durable against the host's crash
 * (against the process's, the rename is enough), and before a failed save is tried
 * again. */
#define SAVE_INTERVAL 0.1

xerr *sock_listen(const char *path, int *fd_out)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        return xerr_internal("xenstore socket path too long: %s", path);
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return xerr_internal("xenstore socket: %s", strerror(errno));
    unlink(path);   /* a stale socket of an earlier run */
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || chmod(path, 0600) != 0 ||
        listen(fd, 64) != 0) {
        int err = errno;
        close(fd);
        unlink(path);
        return xerr_internal("xenstore socket %s: %s", path, strerror(err));
    }
    *fd_out = fd;
    return NULL;
}

static void accept_on(struct xsd *x, int lfd, struct dom *d)
{
    /* A few per turn: a burst of connects must not hold up the requests. */
    for (int i = 0; i < 16; i++) {
        if (d && d->nconns >= Q_CONNS)
            return;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        conn_new(x, fd, d);
        log_debug("xenstored: new connection for domain %u", d ? d->domid : 0);
    }
}

/* In released[], a domain that only shut down (its watch fires, it stays). */
#define SHUTDOWN_ONLY 0x80000000u

/* Take what other threads asked for; true if the server must stop. */
static bool take_wakeups(struct xsd *x)
{
    uint64_t v;
    while (read(x->wake_fd, &v, sizeof(v)) > 0)
        ;
    pthread_mutex_lock(&x->lock);
    unsigned *rel = x->released;
    size_t n = x->nreleased;
    bool stop = x->stop;
    x->released = NULL;
    x->nreleased = x->capreleased = 0;
    pthread_mutex_unlock(&x->lock);
    for (size_t i = 0; i < n; i++)
        if (rel[i] & SHUTDOWN_ONLY)
            fire_special(x, "@releaseDomain");
        else
            dom_release(x, rel[i]);
    if (n)
        save_now(x);
    free(rel);
    return stop;
}

/* Before a reply: on disk for the next process, not yet fsynced (maybe_save does it):
 * an fsync per request turn made the one xenstored thread, and every build behind
 * it, wait ~15 ms a write. */
void save_now(struct xsd *x)
{
    if (!x->slots || !x->st.dirty)
        return;
    persist_save(x, false);
}

static int save_timeout(struct xsd *x)
{
    if (!x->slots || !(x->st.dirty || x->unsynced))
        return -1;
    double wait = x->last_save + SAVE_INTERVAL - now_monotonic();
    return wait <= 0 ? 0 : (int)(wait * 1000) + 1;
}

static void maybe_save(struct xsd *x)
{
    if (!x->slots || !(x->st.dirty || x->unsynced))
        return;
    double now = now_monotonic();
    if (now - x->last_save < SAVE_INTERVAL)
        return;
    if (x->st.dirty)
        persist_save(x, true);   /* on failure it stays dirty and is retried next interval */
    else
        persist_sync(x);
    x->last_save = now;
}

static void *run(void *arg)
{
    struct xsd *x = arg;
    struct pollfd *pfds = NULL;
    size_t cap = 0;
    for (;;) {
        size_t need = 2;
        for (struct dom *d = x->doms; d; d = d->next)
            need++;
        for (struct conn *c = x->conns; c; c = c->next)
            need++;
        if (need > cap) {
            cap = need * 2;
            pfds = xrealloc(pfds, cap * sizeof(*pfds));
        }
        size_t n = 0;
        pfds[n++] = (struct pollfd){.fd = x->wake_fd, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = x->listen_fd, .events = POLLIN};
        for (struct dom *d = x->doms; d; d = d->next) {
            d->pfd = -1;
            if (d->listen_fd >= 0 && d->nconns < Q_CONNS) {
                d->pfd = (int)n;
                pfds[n++] = (struct pollfd){.fd = d->listen_fd, .events = POLLIN};
            }
        }
        bool busy = false;
        for (struct conn *c = x->conns; c; c = c->next) {
            short ev = 0;
            if (c->out_bytes <= OUT_SOFT && c->inlen < IN_BUF)
                ev |= POLLIN;
            if (c->out)
                ev |= POLLOUT;
            busy |= conn_ready(c);
            c->pfd = (int)n;
            pfds[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }

        int rc = poll(pfds, n, busy ? 0 : save_timeout(x));
        if (rc < 0 && errno != EINTR) {
            log_error("xenstored: poll: %s", strerror(errno));
            break;
        }
        if (rc > 0) {
            if ((pfds[0].revents & POLLIN) && take_wakeups(x))
                break;
            if (pfds[1].revents & POLLIN)
                accept_on(x, x->listen_fd, NULL);
            for (struct dom *d = x->doms; d; d = d->next)
                if (d->pfd >= 0 && (pfds[d->pfd].revents & POLLIN))
                    accept_on(x, d->listen_fd, d);
            for (struct conn *c = x->conns; c; c = c->next) {
                if (c->dead || c->pfd < 0)
                    continue;
                short re = pfds[c->pfd].revents;
                if (re & (POLLOUT | POLLHUP | POLLERR))
                    conn_flush(x, c);
                if (re & (POLLIN | POLLHUP | POLLERR))
                    conn_read(x, c);
            }
        }
        bool served = false, dom0_changed = false;
        for (struct conn *c = x->conns; c; c = c->next) {
            if (conn_ready(c)) {
                uint64_t gen = x->st.gen;
                bool dirty = x->st.dirty;
                conn_serve_one(x, c);
                served = true;
                dom0_changed |= !c->dom && (x->st.gen != gen || (!dirty && x->st.dirty));
            }
        }
        /* Saved before acknowledged, for dom0 (the toolstack): what this turn's
         * requests changed is on disk before their replies (and the watch events they
         * fired) leave, so that a toolstack told "done" never finds it undone after the
         * daemon's death (the kill -9 soak lost shutdown requests written in the 0.1 s
         * a save used to wait).  One save covers every request of the turn.  A guest's
         * writes wait for the interval save: a guest flooding its keys must not make
         * every turn a save of the whole tree. */
        if (dom0_changed)
            save_now(x);
        if (served) {
            for (struct conn *c = x->conns; c; c = c->next)
                conn_flush(x, c);
        }
        conn_sweep(x);
        maybe_save(x);  /* retries a save that failed */
    }
    free(pfds);
    return NULL;
}

static void teardown(struct xsd *x)
{
    for (struct conn *c = x->conns; c; c = c->next)
        conn_kill(x, c);
    conn_sweep(x);
    while (x->doms) {
        struct dom *d = x->doms;
        x->doms = d->next;
        if (d->listen_fd >= 0) {
            close(d->listen_fd);
            unlink(d->sock_path);
        }
        free(d->sock_path);
        free(d);
    }
    if (x->listen_fd >= 0) {
        close(x->listen_fd);
        unlink(x->sock_path);
    }
    if (x->wake_fd >= 0)
        close(x->wake_fd);
    store_destroy(&x->st);
    pthread_mutex_destroy(&x->lock);
    free(x->released);
    free(x->sock_path);
    free(x->dom_dir);
    slotfile_close(x->slots);
    free(x->state_path);
    free(x);
}

/* The domains loaded from the state that the hypervisor no longer has (a kill of the
 * daemon between a domain's end and its XS_RELEASE). */
static void release_dead(struct xsd *x, bool (*exists)(void *, unsigned), void *arg)
{
    bool any = false;
    struct dom *next;
    for (struct dom *d = x->doms; d; d = next) {
        next = d->next;   /* dom_release frees d, and nothing else yet (no connection) */
        if (d->domid == 0 || exists(arg, d->domid))
            continue;
        log_info("xenstored: domain %u is gone from the hypervisor: released", d->domid);
        dom_release(x, d->domid);
        any = true;
    }
    if (any)
        save_now(x);   /* as an XS_RELEASE is saved before its reply */
}

/* Sockets in the domain directory of no domain introduced now: a kill between a
 * domain's XS_INTRODUCE (its socket made) and the state's save, or between its
 * release's unlink and the save, leaves one; the guest side would find a socket with
 * nobody behind it. */
static void remove_stale_sockets(struct xsd *x)
{
    DIR *dir = opendir(x->dom_dir);
    if (!dir)
        return;
    struct dirent *de;
    while ((de = readdir(dir))) {
        unsigned domid;
        if (!parse_domid(de->d_name, &domid) || dom_find(x, domid))
            continue;
        if (unlinkat(dirfd(dir), de->d_name, 0) == 0)
            log_info("xenstored: removed the socket of domain %u, not introduced", domid);
    }
    closedir(dir);
}

xerr *xsd_start(const struct xsd_options *opt, struct xsd **out)
{
    *out = NULL;
    if (!opt || !opt->socket_path)
        return xerr_internal("xenstored: no socket path");
    struct xsd *x = xcalloc(1, sizeof(*x));
    x->listen_fd = x->wake_fd = -1;
    x->sock_path = xstrdup(opt->socket_path);
    x->dom_dir = opt->domain_socket_dir ? xstrdup(opt->domain_socket_dir) : NULL;
    x->state_path = opt->state_path ? xstrdup(opt->state_path) : NULL;
    pthread_mutex_init(&x->lock, NULL);
    store_init(&x->st);

    xerr *e = NULL;
    struct sockaddr_un a;
    if (x->dom_dir && strlen(x->dom_dir) + 7 >= sizeof(a.sun_path))
        e = xerr_internal("xenstore domain socket directory path too long: %s", x->dom_dir);
    else if (x->dom_dir && mkdir(x->dom_dir, 0700) != 0 && errno != EEXIST)
        e = xerr_internal("xenstore domain socket directory %s: %s", x->dom_dir, strerror(errno));
    if (!e && x->state_path)
        e = persist_load(x);
    if (!e && opt->domain_exists)
        release_dead(x, opt->domain_exists, opt->domain_exists_arg);
    if (!e && x->dom_dir)
        remove_stale_sockets(x);
    if (!e)
        e = sock_listen(x->sock_path, &x->listen_fd);
    if (!e && (x->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        e = xerr_internal("xenstored: eventfd: %s", strerror(errno));
    if (!e) {
        x->st.dirty = false;
        x->last_save = now_monotonic() - SAVE_INTERVAL;
        /* Signals are for the daemon's main thread, never this one. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int rc = pthread_create(&x->thread, NULL, run, x);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0)
            e = xerr_internal("xenstored: thread: %s", strerror(rc));
    }
    if (e) {
        teardown(x);
        return e;
    }
    log_info("xenstored: serving %s", x->sock_path);
    *out = x;
    return NULL;
}

static void wake(struct xsd *x)
{
    uint64_t one = 1;
    if (write(x->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_error("xenstored: wake: %s", strerror(errno));
}

void xsd_stop(struct xsd *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    x->stop = true;
    pthread_mutex_unlock(&x->lock);
    wake(x);
    pthread_join(x->thread, NULL);
    for (struct conn *c = x->conns; c; c = c->next)
        conn_kill(x, c);
    conn_sweep(x);
    if (x->slots)
        persist_save(x, true);
    log_info("xenstored: %llu requests served", x->served);
    teardown(x);
}

static void notice(struct xsd *x, unsigned what)
{
    pthread_mutex_lock(&x->lock);
    if (x->nreleased == x->capreleased) {
        x->capreleased = x->capreleased ? x->capreleased * 2 : 8;
        x->released = xrealloc(x->released, x->capreleased * sizeof(*x->released));
    }
    x->released[x->nreleased++] = what;
    pthread_mutex_unlock(&x->lock);
    wake(x);
}

void xsd_domain_released(struct xsd *x, unsigned domid)
{
    notice(x, domid);
}

void xsd_domain_shutdown(struct xsd *x, unsigned domid)
{
    notice(x, domid | SHUTDOWN_ONLY);
}
