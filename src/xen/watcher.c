/* A thread that delivers xenstore watch events, and can be stopped.
 *
 * libxenstore's blocking xs_read_watch cannot be interrupted safely (cancelling the
 * thread leaves the handle's lock taken), so the thread polls the handle's watch fd
 * together with a pipe that tells it to stop. */
#include "backend.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

struct hv_watcher {
    struct xs_handle *xs;
    int stop[2];
    pthread_t thread;
    hv_watch_fn fn;
    void *ctx;
};

static void *loop(void *p)
{
    struct hv_watcher *w = p;
    struct pollfd fds[2] = {{.fd = xs_fileno(w->xs), .events = POLLIN}, {.fd = w->stop[0], .events = POLLIN}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("xenstore watcher: poll: %s", strerror(errno));
            return NULL;
        }
        if (fds[1].revents)
            return NULL;
        if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
            log_error("xenstore watcher: the connection to xenstore is gone");
            return NULL;
        }
        char **ev;
        while ((ev = xs_check_watch(w->xs)) != NULL) {
            w->fn(w->ctx, ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
            free(ev);
        }
    }
}

/* libxenstore reads XENSTORED_PATH in xs_open only, and the environment is the
 * process's, so this lock is too: an open holds it shared while getenv and the connect
 * run, a change of the variable holds it alone.  Opens of the path already set never
 * wait for one another (a xenstored slow to accept holds up only a change of path),
 * and a process with one backend (the daemon) changes it at most once, at its first
 * open.  Writer-preferring: the two hosts of a unit test change it back and forth
 * while the other's opens go on. */
static pthread_rwlock_t env_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static char *env_first;   /* XENSTORED_PATH at the first open; NULL: it was unset */

static void remember_env(void)
{
    const char *v = getenv("XENSTORED_PATH");
    env_first = v ? xstrdup(v) : NULL;
}

static bool env_is(const char *want)
{
    const char *cur = getenv("XENSTORED_PATH");
    return want ? cur && strcmp(cur, want) == 0 : !cur;
}

struct xs_handle *hv_xs_open(const char *path)
{
    pthread_once(&env_once, remember_env);
    const char *want = path && *path ? path : env_first;
    struct xs_handle *h = NULL;
    pthread_rwlock_rdlock(&env_lock);
    bool same = env_is(want);
    if (same)
        h = xs_open(0);
    int err = errno;
    pthread_rwlock_unlock(&env_lock);
    if (same) {
        errno = err;
        return h;
    }
    pthread_rwlock_wrlock(&env_lock);
    /* another opener may have set it meanwhile; unsetenv only in a process that mixes
     * the default with a path (none but a test's) */
    int rc = env_is(want) ? 0 : want ? setenv("XENSTORED_PATH", want, 1) : unsetenv("XENSTORED_PATH");
    h = rc == 0 ? xs_open(0) : NULL;
    err = errno;
    pthread_rwlock_unlock(&env_lock);
    errno = err;
    return h;
}

xerr *hv_watcher_open_at(const char *path, hv_watch_fn fn, void *ctx, struct hv_watcher **out)
{
    struct hv_watcher *w = xcalloc(1, sizeof(*w));
    w->fn = fn;
    w->ctx = ctx;
    w->xs = hv_xs_open(path);
    if (!w->xs) {
        free(w);
        return xerr_internal("cannot open a xenstore connection for watches: %s", strerror(errno));
    }
    w->stop[0] = w->stop[1] = -1;
    int err;
    if (pipe2(w->stop, O_CLOEXEC) != 0 || xs_fileno(w->xs) < 0)
        err = errno ? errno : EIO;
    else
        err = pthread_create(&w->thread, NULL, loop, w);
    if (err) {
        for (int i = 0; i < 2; i++)
            if (w->stop[i] >= 0)
                close(w->stop[i]);
        xs_close(w->xs);
        free(w);
        return xerr_internal("cannot start a xenstore watcher: %s", strerror(err));
    }
    *out = w;
    return NULL;
}

xerr *hv_watcher_open(struct hv *hv, hv_watch_fn fn, void *ctx, struct hv_watcher **out)
{
    return hv_watcher_open_at(hv_xenstore_path(hv), fn, ctx, out);
}

xerr *hv_watcher_add(struct hv_watcher *w, const char *path, const char *token)
{
    if (!xs_watch(w->xs, path, token))
        return xerr_internal("cannot watch %s: %s", path, strerror(errno));
    return NULL;
}

void hv_watcher_remove(struct hv_watcher *w, const char *path, const char *token)
{
    xs_unwatch(w->xs, path, token);
}

void hv_watcher_close(struct hv_watcher *w)
{
    if (!w)
        return;
    ssize_t r = write(w->stop[1], "x", 1);
    (void)r;
    pthread_join(w->thread, NULL);
    close(w->stop[0]);
    close(w->stop[1]);
    xs_close(w->xs);
    free(w);
}
