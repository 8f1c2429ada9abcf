/* Parked calls: event.from and event.next waiting for events hold no thread.  One
 * thread watches the store's event log, another keeps the parked calls and wakes
 * each (its callback, which only resumes its connection) once there is news for it or
 * its time comes; 1,000 waiting clients cost 1,000 small records, not 1,000 threads.
 *
 * News is an event of a class the call waits for: the watcher notes the class of
 * every new event, so that a login (a session event) does not wake 1,000 clients
 * waiting for VMs only to park them again. */
#include "rpc_int.h"
#include "log.h"
#include "util.h"

#include <math.h>

#define WATCH_SLICE 0.5          /* how often the watcher checks that it should stop */
#define RING 4096                /* classes of the newest events remembered */

struct parked {
    struct parked *next;
    int64_t after;
    uint64_t classes;
    double wake;
    void (*fn)(void *);
    void *arg;
};

struct parking {
    struct db *db;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* news: a call parked, an event came, stop */
    struct parked *list;
    int64_t seen;                /* the newest event id the watcher saw */
    int64_t known;               /* ring[id % RING] is the class bit of event id for
                                  * known < id <= seen */
    uint64_t ring[RING];
    bool flush, stop;
    double asleep_until;         /* the keeper waits until then (monotonic); -INFINITY
                                  * while it runs: it looks at every call before it
                                  * waits again */
    pthread_t keeper, watcher;
    bool keeping, watching;
};

struct batch {
    size_t n;
    int64_t id[RING];
    uint64_t bit[RING];
};

static bool note_event(void *p, const struct db_event *ev)
{
    struct batch *b = p;
    const struct dm_class *c = dm_class_find_lower(ev->class_lname);
    b->id[b->n] = ev->id;
    b->bit[b->n] = c ? api_class_bit(c->index) : ~0ull;
    b->n++;
    return true;
}

static void *watcher_main(void *p)
{
    struct parking *pk = p;
    struct batch *b = xmalloc(sizeof(*b));
    /* from where parking_new left seen, not from the store's newest now: an event
     * committed before this thread ran would otherwise never be noted */
    pthread_mutex_lock(&pk->lock);
    int64_t last = pk->seen;
    pthread_mutex_unlock(&pk->lock);
    for (;;) {
        bool news = db_wait_events(pk->db, last, WATCH_SLICE);
        int64_t visited = last;
        b->n = 0;
        xerr *e = news ? db_events_after(pk->db, last, RING, note_event, b, &visited) : NULL;
        if (e) { /* classes unknown: every parked call with older news wakes */
            xerr_free(e);
            visited = db_last_event_id(pk->db);
        }
        pthread_mutex_lock(&pk->lock);
        bool stop = pk->stop;
        if (visited > last) {
            for (size_t i = 0; i < b->n; i++)
                pk->ring[b->id[i] % RING] = b->bit[i];
            pk->seen = visited;
            /* every event in (known, seen] has its class in the ring; after a
             * failed read, none up to seen has */
            if (e)
                pk->known = visited;
            else if (visited - RING > pk->known)
                pk->known = visited - RING;
            pthread_cond_signal(&pk->cond);
            last = visited;
        }
        pthread_mutex_unlock(&pk->lock);
        if (stop)
            break;
    }
    free(b);
    return NULL;
}

/* Whether an event the call waits for came after it parked; if none, it now waits
 * from the newest event. */
static bool has_news(struct parking *pk, struct parked *c)
{
    if (c->after >= pk->seen)
        return false;
    if (c->after < pk->known)
        return true;
    uint64_t mask = 0;
    for (int64_t id = c->after + 1; id <= pk->seen; id++)
        mask |= pk->ring[id % RING];
    if (mask & c->classes)
        return true;
    c->after = pk->seen;
    return false;
}

static void *keeper_main(void *p)
{
    struct parking *pk = p;
    pthread_mutex_lock(&pk->lock);
    while (!pk->stop) {
        double now = now_monotonic(), next = INFINITY;
        struct parked *due = NULL, **pp = &pk->list;
        while (*pp) {
            struct parked *c = *pp;
            if (pk->flush || c->wake <= now || has_news(pk, c)) {
                *pp = c->next;
                c->next = due;
                due = c;
            } else {
                next = fmin(next, c->wake);
                pp = &c->next;
            }
        }
        if (due) {
            /* woken outside the lock: a call may park again at once */
            pthread_mutex_unlock(&pk->lock);
            while (due) {
                struct parked *c = due;
                due = c->next;
                c->fn(c->arg);
                free(c);
            }
            pthread_mutex_lock(&pk->lock);
            continue;
        }
        pk->asleep_until = next;
        if (isinf(next)) {
            pthread_cond_wait(&pk->cond, &pk->lock);
        } else {
            cond_wait_for(&pk->cond, &pk->lock, next - now);
        }
        pk->asleep_until = -INFINITY;
    }
    pthread_mutex_unlock(&pk->lock);
    return NULL;
}

xerr *parking_new(struct db *db, struct parking **out)
{
    struct parking *pk = xcalloc(1, sizeof(*pk));
    pk->db = db;
    pthread_mutex_init(&pk->lock, NULL);
    pthread_cond_init(&pk->cond, NULL);
    pk->seen = pk->known = db_last_event_id(db);
    pk->asleep_until = -INFINITY;
    pk->keeping = pthread_create(&pk->keeper, NULL, keeper_main, pk) == 0;
    pk->watching = pk->keeping && pthread_create(&pk->watcher, NULL, watcher_main, pk) == 0;
    if (!pk->watching) {
        parking_free(pk);
        return xerr_internal("cannot start the threads that keep waiting calls");
    }
    *out = pk;
    return NULL;
}

void parking_add(struct parking *p, int64_t after, uint64_t classes, double wake, void (*fn)(void *),
                 void *arg)
{
    struct parked *c = xcalloc(1, sizeof(*c));
    c->after = after;
    c->classes = classes;
    c->wake = wake;
    c->fn = fn;
    c->arg = arg;
    /* an event that came between the call's last look and now is news the watcher
     * has seen or is about to see */
    pthread_mutex_lock(&p->lock);
    c->next = p->list;
    p->list = c;
    /* the keeper is woken only if it would otherwise sleep past this call's time or
     * its news: 1,000 calls parking at once are not 1,000 wake-ups and list scans */
    if (wake < p->asleep_until || after < p->seen)
        pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void parking_flush(struct parking *p)
{
    pthread_mutex_lock(&p->lock);
    p->flush = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void parking_free(struct parking *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->watching)
        pthread_join(p->watcher, NULL);
    if (p->keeping)
        pthread_join(p->keeper, NULL);
    /* nothing may be parked by now: the server flushed and waited for its calls */
    while (p->list) {
        struct parked *c = p->list;
        p->list = c->next;
        free(c);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
