/* The simulated guests' clock: see simclock.h. */
#include "simclock.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

struct entry {
    double due;                  /* CLOCK_MONOTONIC seconds */
    uint32_t domid;
    int arg;
    struct entry *next;          /* in due order */
};

struct simclock {
    simclock_fn fn;
    void *ctx;
    pthread_mutex_t lock;        /* guards list and stop */
    pthread_cond_t cond;         /* an entry came, or stop */
    struct entry *list;
    bool stop;
    pthread_t thread;
};

static void *run(void *p)
{
    struct simclock *c = p;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct entry *e = c->list;
        double now = now_monotonic();
        if (e && e->due <= now) {
            c->list = e->next;
            pthread_mutex_unlock(&c->lock);
            c->fn(c->ctx, e->domid, e->arg);
            free(e);
            pthread_mutex_lock(&c->lock);
        } else if (e) {
            struct timespec ts;
            double wake = e->due - now;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)wake;
            ts.tv_nsec += (long)((wake - (double)(time_t)wake) * 1e9);
            if (ts.tv_nsec >= 1000000000L)
                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        } else {
            pthread_cond_wait(&c->cond, &c->lock);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

xerr *simclock_start(simclock_fn fn, void *ctx, struct simclock **out)
{
    struct simclock *c = xcalloc(1, sizeof(*c));
    c->fn = fn;
    c->ctx = ctx;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&c->thread, NULL, run, c);
    if (rc != 0) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return xerr_internal("simulator: no thread for the guests' clock: %s", strerror(rc));
    }
    *out = c;
    return NULL;
}

void simclock_add(struct simclock *c, double delay, uint32_t domid, int arg)
{
    struct entry *e = xcalloc(1, sizeof(*e));
    e->due = now_monotonic() + delay;
    e->domid = domid;
    e->arg = arg;
    pthread_mutex_lock(&c->lock);
    struct entry **pp = &c->list;
    while (*pp && (*pp)->due <= e->due)
        pp = &(*pp)->next;
    e->next = *pp;
    *pp = e;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

void simclock_stop(struct simclock *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    for (struct entry *e = c->list, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
