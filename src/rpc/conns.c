/* Connection deadlines.  A connection that overstays is shut down (shutdown(2), not
 * close: the HTTP library still owns the descriptor, sees the end of the stream and
 * closes it cleanly).  A descriptor is only touched while its connection is in the
 * list, and it leaves the list before the library closes it, so a number reused by a
 * new connection is never shut down by mistake.
 *
 * The same thread gives memory back after a storm of connections (see give_back). */
#include "rpc_int.h"
#include "log.h"
#include "util.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <assert.h>
#include <sys/socket.h>

/* A storm: at least this many connections at once, then half of them gone. */
#define STORM 64
#define TRIM_GAP 2.0             /* seconds at least between two trims */

struct conns {
    pthread_mutex_t lock;
    pthread_cond_t stop_cond;
    struct conn head;            /* circular list */
    double idle_timeout, request_timeout;
    size_t open, peak;           /* connections now; the most since the last trim */
    double trimmed;              /* when the last trim was (monotonic) */
    pthread_t reaper;
    bool stop, running;
};

static double tick(const struct conns *cs)
{
    double t = (cs->idle_timeout < cs->request_timeout ? cs->idle_timeout : cs->request_timeout) / 4;
    return t < 0.05 ? 0.05 : t > 1.0 ? 1.0 : t;
}

static void reap(struct conns *cs)
{
    double now = now_monotonic();
    int idle = 0, slow = 0, unread = 0;
    pthread_mutex_lock(&cs->lock);
    for (struct conn *c = cs->head.next; c != &cs->head; c = c->next) {
        bool late = (c->state == CONN_IDLE && cs->idle_timeout > 0 && now - c->since > cs->idle_timeout) ||
                    (c->state == CONN_REQUEST && cs->request_timeout > 0 && now - c->since > cs->request_timeout) ||
                    (c->state == CONN_SENDING && now - c->since > c->send_limit);
        if (!late)
            continue;
        idle += c->state == CONN_IDLE;
        slow += c->state == CONN_REQUEST;
        unread += c->state == CONN_SENDING;
        c->state = CONN_DROPPED;
        shutdown(c->fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&cs->lock);
    if (idle || slow || unread)
        log_debug("dropped %d idle connections, %d whose request did not arrive in time and %d whose "
                  "answer was not read in time",
                  idle, slow, unread);
}

/* 1,000 clients leave their memory behind when they go: the library's buffer of each
 * connection, TLS sessions, their requests' values, all freed but kept by glibc in
 * the arenas of the threads that used them (about 90 MB after the bench's 1,000-client
 * runs, against 15 MB before).  Once a storm has passed, malloc_trim hands the free
 * pages back; it walks every arena, so it runs here, rarely, holding no lock of ours. */
static void give_back(struct conns *cs)
{
    double now = now_monotonic();
    pthread_mutex_lock(&cs->lock);
    bool due = cs->peak >= STORM && cs->open <= cs->peak / 2 && now - cs->trimmed >= TRIM_GAP;
    if (due) {
        cs->peak = cs->open;
        cs->trimmed = now;
    }
    pthread_mutex_unlock(&cs->lock);
#ifdef __GLIBC__
    if (due)
        malloc_trim(0);
#endif
}

static void *reaper_main(void *p)
{
    struct conns *cs = p;
    pthread_mutex_lock(&cs->lock);
    while (!cs->stop) {
        cond_wait_for(&cs->stop_cond, &cs->lock, tick(cs));
        if (cs->stop)
            break;
        pthread_mutex_unlock(&cs->lock);
        reap(cs);
        give_back(cs);
        pthread_mutex_lock(&cs->lock);
    }
    pthread_mutex_unlock(&cs->lock);
    return NULL;
}

xerr *conns_new(double idle_timeout, double request_timeout, struct conns **out)
{
    struct conns *cs = xcalloc(1, sizeof(*cs));
    pthread_mutex_init(&cs->lock, NULL);
    pthread_cond_init(&cs->stop_cond, NULL);
    cs->head.next = cs->head.prev = &cs->head;
    cs->idle_timeout = idle_timeout;
    cs->request_timeout = request_timeout;
    if (pthread_create(&cs->reaper, NULL, reaper_main, cs) != 0) {
        conns_free(cs);
        return xerr_internal("cannot start the connection reaper");
    }
    cs->running = true;
    *out = cs;
    return NULL;
}

void conns_add(struct conns *cs, struct conn *c)
{
    pthread_mutex_lock(&cs->lock);
    c->state = CONN_IDLE;
    c->since = now_monotonic();
    c->next = cs->head.next;
    c->prev = &cs->head;
    cs->head.next->prev = c;
    cs->head.next = c;
    if (++cs->open > cs->peak)
        cs->peak = cs->open;
    pthread_mutex_unlock(&cs->lock);
}

void conns_remove(struct conns *cs, struct conn *c)
{
    pthread_mutex_lock(&cs->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->next = c->prev = c;
    assert(cs->open > 0);
    cs->open--;
    pthread_mutex_unlock(&cs->lock);
}

void conns_set_state(struct conns *cs, struct conn *c, enum conn_state s)
{
    pthread_mutex_lock(&cs->lock);
    if (c->state != CONN_DROPPED) {
        c->state = s;
        c->since = now_monotonic();
    }
    pthread_mutex_unlock(&cs->lock);
}

void conns_sending(struct conns *cs, struct conn *c, size_t len)
{
    pthread_mutex_lock(&cs->lock);
    if (c->state != CONN_DROPPED) {
        c->state = CONN_SENDING;
        c->since = now_monotonic();
        c->send_limit = (cs->request_timeout > 0 ? cs->request_timeout : 30) + (double)len / SEND_MIN_RATE;
    }
    pthread_mutex_unlock(&cs->lock);
}

void conns_free(struct conns *cs)
{
    if (!cs)
        return;
    if (cs->running) {
        pthread_mutex_lock(&cs->lock);
        cs->stop = true;
        pthread_cond_signal(&cs->stop_cond);
        pthread_mutex_unlock(&cs->lock);
        pthread_join(cs->reaper, NULL);
    }
    pthread_cond_destroy(&cs->stop_cond);
    pthread_mutex_destroy(&cs->lock);
    free(cs);
}
