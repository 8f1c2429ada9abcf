/* The worker pool: calls that may take long run here, never on the HTTP threads. */
#include "rpc_int.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <time.h>

#define IDLE_EXIT 30.0           /* seconds an idle worker lingers before it ends */

int cond_wait_for(pthread_cond_t *cond, pthread_mutex_t *lock, double secs)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double at = (double)until.tv_sec + until.tv_nsec / 1e9 + (secs > 0 ? secs : 0);
    until.tv_sec = (time_t)at;
    until.tv_nsec = (long)((at - (double)until.tv_sec) * 1e9);
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(cond, lock, &until);
}

struct job {
    struct job *next;
    void (*fn)(void *);
    void *arg;
};

struct workers {
    pthread_mutex_t lock;
    pthread_cond_t work;         /* a job was queued, or stop */
    pthread_cond_t gone;         /* a thread ended */
    struct job *head, *tail;
    int max, threads, idle;
    size_t queued;
    bool stop;
};

static void *worker_main(void *p)
{
    struct workers *w = p;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stop) {
            w->idle++;
            int rc = cond_wait_for(&w->work, &w->lock, IDLE_EXIT);
            w->idle--;
            if (rc != 0 && !w->head)
                goto out;
        }
        if (!w->head)
            break; /* stopping and nothing left */
        struct job *j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->lock);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&w->lock);
    }
out:
    w->threads--;
    pthread_cond_broadcast(&w->gone);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct workers *workers_new(int max)
{
    struct workers *w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->gone, NULL);
    w->max = max > 0 ? max : 1;
    return w;
}

void workers_submit(struct workers *w, void (*fn)(void *), void *arg)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&w->lock);
    assert(!w->stop);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->queued++;
    /* a new thread only when every idle one already has a job coming */
    if ((size_t)w->idle < w->queued && w->threads < w->max) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, worker_main, w) == 0)
            w->threads++;
        else if (w->threads == 0)
            log_error("cannot start a worker thread: calls wait for one");
        pthread_attr_destroy(&attr);
    }
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
}

void workers_free(struct workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->work);
    while (w->threads > 0)
        pthread_cond_wait(&w->gone, &w->lock);
    pthread_mutex_unlock(&w->lock);
    assert(!w->head);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->gone);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
