/* event.from, event.register/next/unregister, event.inject, event.get_current_id.
 * Waiting happens on the store's event condition, never under a database lock. */
#include "api_int.h"
#include "log.h"
#include "wire.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#define EVENT_BATCH 10000
#define ANSWERS 8                /* event.from answers kept (struct answer) */
#define ANSWER_MAX (256u << 10)  /* bytes: a bigger answer is not kept (at most 2 MB held) */

struct sub {
    const struct dm_class *c;    /* NULL: every class */
    char *ref;                   /* NULL: every object of the class */
};

struct subs {
    size_t n;
    struct sub *v;
};

struct reg {                     /* a session's event.register state */
    struct subs subs;
    int64_t position;
};

/* An event.from answer in its wire form, for the calls that ask the same question: one
 * write wakes every client waiting with that token for those classes (1,000 of them in
 * the bench), and all but the first to run copy its bytes instead of reading the log,
 * counting every table and serialising again.  What it holds is the events (from, upto]
 * that match, upto as the token, and the counts then: events up to upto are committed
 * and never change, so it is the answer for as long as no event came after upto. */
struct answer {
    atomic_int refs;             /* the slot's, and each copier's while it copies */
    enum api_wire wire;
    int64_t from, upto;
    char *key;                   /* the subscriptions (subs_key) */
    size_t len;
    char *bytes;
};

struct events {
    double batch;                /* event-from-batching, seconds */
    pthread_mutex_t lock;
    struct strmap *regs;         /* session ref -> struct reg */
    pthread_mutex_t answers_lock; /* held to look or swap only, never to copy */
    struct answer *answers[ANSWERS];
    size_t next_slot;            /* the one replaced next */
    atomic_ulong hits, kept;     /* answers copied from one kept, answers kept */
};

static void subs_clear(struct subs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].ref);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static void subs_add(struct subs *s, const char *spec)
{
    const struct dm_class *c = NULL;
    const char *slash = strchr(spec, '/');
    _cleanup_free_ char *cname = slash ? xstrndup(spec, (size_t)(slash - spec)) : xstrdup(spec);
    if (strcmp(cname, "*") != 0) {
        c = dm_class_find_lower(cname);
        if (!c || !c->table || !c->events)
            return; /* as xapi: a class that does not exist just never matches */
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].c == c && str_eq(s->v[i].ref, slash ? slash + 1 : NULL))
            return;
    s->v = xrealloc(s->v, (s->n + 1) * sizeof(struct sub));
    s->v[s->n++] = (struct sub){c, slash ? xstrdup(slash + 1) : NULL};
}

static void subs_parse(struct subs *s, const xv *classes)
{
    for (size_t i = 0; i < classes->u.arr.n; i++)
        subs_add(s, xv_str(classes->u.arr.v[i]));
}

static bool subs_match(const struct subs *s, const struct dm_class *c, const char *ref)
{
    if (!c->events)
        return false; /* session: its refs are credentials */
    for (size_t i = 0; i < s->n; i++)
        if ((!s->v[i].c || s->v[i].c == c) && (!s->v[i].ref || strcmp(s->v[i].ref, ref) == 0))
            return true;
    return false;
}

static bool subs_has_class(const struct subs *s, const struct dm_class *c)
{
    if (!c->table || !c->events)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (!s->v[i].c || s->v[i].c == c)
            return true;
    return false;
}

/* The subscriptions as one string: the same classes (and order) give the same key.
 * A ref goes with its length: the client chooses it, and one holding the separator
 * must not make two subscriptions look like another one. */
static char *subs_key(const struct subs *s)
{
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < s->n; i++) {
        buf_adds(&b, s->v[i].c ? s->v[i].c->lname : "*");
        if (s->v[i].ref)
            buf_printf(&b, "/%zu:%s", strlen(s->v[i].ref), s->v[i].ref);
        buf_addc(&b, '\n');
    }
    return b.p ? buf_steal(&b) : xstrdup("");
}

static void answer_unref(struct answer *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1) {
        free(a->key);
        free(a->bytes);
        free(a);
    }
}

/* A kept answer to (wire, from, key) that no newer event has overtaken, copied as
 * the result; NULL if none. */
static xv *answer_find(struct events *ev, enum api_wire wire, int64_t from, const char *key, int64_t last)
{
    struct answer *a = NULL;
    pthread_mutex_lock(&ev->answers_lock);
    for (size_t i = 0; i < ANSWERS && !a; i++) {
        struct answer *c = ev->answers[i];
        if (c && c->wire == wire && c->from == from && c->upto >= last && strcmp(c->key, key) == 0) {
            atomic_fetch_add(&c->refs, 1);
            a = c;
        }
    }
    pthread_mutex_unlock(&ev->answers_lock);
    if (!a)
        return NULL;
    atomic_fetch_add(&ev->hits, 1);
    char *p = xmalloc(a->len + 1);
    memcpy(p, a->bytes, a->len);
    p[a->len] = 0;
    xv *r = xv_raw_take(wire == API_WIRE_JSON ? XV_RAW_JSON : XV_RAW_XMLRPC, p, a->len);
    answer_unref(a);
    return r;
}

/* The answer r (taken) in its wire form, kept for the next caller; the result. */
static xv *answer_keep(struct events *ev, enum api_wire wire, int64_t from, int64_t upto, const char *key, xv *r)
{
    buf b;
    buf_init(&b);
    if (wire == API_WIRE_JSON)
        wire_json_write(&b, r);
    else
        wire_xmlrpc_write_value(&b, r);
    xv_free(r);
    size_t len = b.len;
    char *bytes = buf_steal(&b);
    if (len <= ANSWER_MAX) {
        struct answer *a = xcalloc(1, sizeof(*a));
        atomic_init(&a->refs, 1);
        a->wire = wire;
        a->from = from;
        a->upto = upto;
        a->key = xstrdup(key);
        a->len = len;
        a->bytes = xmalloc(len + 1);
        memcpy(a->bytes, bytes, len);
        a->bytes[len] = 0;
        pthread_mutex_lock(&ev->answers_lock);
        /* waiters woken together all miss, and all answer the same: one copy is kept */
        bool have = false;
        for (size_t i = 0; i < ANSWERS && !have; i++) {
            const struct answer *c = ev->answers[i];
            have = c && c->wire == wire && c->from == from && c->upto >= upto && strcmp(c->key, key) == 0;
        }
        struct answer *old = have ? a : ev->answers[ev->next_slot];
        if (!have) {
            ev->answers[ev->next_slot] = a;
            ev->next_slot = (ev->next_slot + 1) % ANSWERS;
            atomic_fetch_add(&ev->kept, 1);
        }
        pthread_mutex_unlock(&ev->answers_lock);
        answer_unref(old);
    }
    return xv_raw_take(wire == API_WIRE_JSON ? XV_RAW_JSON : XV_RAW_XMLRPC, bytes, len);
}

/* An event as xapi writes it (ocaml/xapi-types/event_types.ml): the id and the
 * timestamp are strings.  event.from's timestamp is "0.0" (xapi_event.ml, event_of);
 * event.next's is OCaml's string_of_float of the second it happened ("1764620000."). */
static xv *event_record(int64_t id, const char *ts, const struct dm_class *c, const char *op, const char *ref,
                        xv *snapshot)
{
    xv *ev = xv_struct();
    xv_struct_append(ev, "id", xv_string_take(xasprintf("%" PRId64, id)));
    xv_struct_append(ev, "timestamp", xv_string(ts));
    xv_struct_append(ev, "class", xv_string(c->lname));
    xv_struct_append(ev, "operation", xv_string(op));
    xv_struct_append(ev, "ref", xv_string(ref));
    if (snapshot)
        xv_struct_append(ev, "snapshot", snapshot);
    return ev;
}

#define FROM_TIMESTAMP "0.0"

struct collect {
    const struct subs *subs;
    bool next;                   /* event.next: its timestamp form */
    xv *out;
};

static bool collect_cb(void *p, const struct db_event *ev)
{
    struct collect *col = p;
    const struct dm_class *c = dm_class_find_lower(ev->class_lname);
    if (!c || !subs_match(col->subs, c, ev->ref))
        return true;
    xv *snap = NULL;
    if (ev->snapshot_json) {
        xerr *e = db_decode_snapshot(c, ev->snapshot_json, &snap);
        if (e) {
            xerr_free(e);
            snap = NULL;
        }
        api_strip_internal(c, snap);
    }
    char ts[32] = FROM_TIMESTAMP;
    if (col->next)
        snprintf(ts, sizeof(ts), "%.0f.", ev->timestamp < 0 ? 0 : floor(ev->timestamp));
    xv_array_push(col->out, event_record(ev->id, ts, c, ev->op, ev->ref, snap));
    return true;
}

/* How long a parked wait goes before it is called again to see that its session
 * still exists, as a blocking wait checks it between slices. */
#define WAIT_SLICE 5.0

static void wait_park(struct api_wait *w, const struct subs *subs, int64_t after, double deadline)
{
    double now = now_monotonic();
    w->classes = 0;
    for (size_t i = 0; i < subs->n; i++)
        w->classes |= subs->v[i].c ? api_class_bit(subs->v[i].c->index) : ~0ull;
    w->parked = true;
    w->after = after;
    w->deadline = deadline;
    /* spread over a second: calls parked together do not all come back together */
    double slice = WAIT_SLICE + (double)((int64_t)(now * 1e6) % 1000) / 1000.0;
    w->wake = deadline < now + slice ? deadline : now + slice;
}

/* The batching window, parked: called again only at its end (no class wakes it),
 * to collect again from `from`, everything that came meanwhile included. */
static void batch_park(struct api_wait *w, int64_t from, double window)
{
    w->parked = true;
    w->batching = true;
    w->classes = 0;
    w->after = from;
    double now = now_monotonic();
    if (!w->deadline)
        w->deadline = now + window;
    w->wake = now + window;
}

/* Matching events after *pos, waiting until one arrives or the deadline passes;
 * or, with w, parking instead of waiting. */
static xerr *wait_collect(struct api *api, const struct subs *subs, bool next, int64_t *pos, double deadline,
                          const char *session, struct api_wait *w, xv **out)
{
    struct collect col = {subs, next, xv_array()};
    bool batched = w && w->batching;
    int64_t from = *pos;
    if (w)
        w->batching = false;
    for (;;) {
        int64_t visited;
        xerr *e = db_events_after(api->db, *pos, EVENT_BATCH, collect_cb, &col, &visited);
        if (e) {
            xv_free(col.out);
            return e;
        }
        *pos = visited;
        if (visited < db_last_event_id(api->db))
            break;
        if (col.out->u.arr.n > 0) {
            /* the optional batching window (xapi waits 50 ms, Xapi_globs.event_from_delay;
             * off by default here): what follows within it comes in the same answer */
            double window = next ? 0 : api->events->batch;
            if (batched || window <= 0)
                break;
            batched = true;
            if (w && !w->expire) {
                xv_free(col.out);
                *out = NULL;
                *pos = from;
                batch_park(w, from, window);
                return NULL;
            }
            struct timespec ts = {(time_t)window, (long)((window - (double)(time_t)window) * 1e9)};
            nanosleep(&ts, NULL);
            continue;
        }
        double left = deadline - now_monotonic();
        if (left <= 0 || (w && w->expire))
            break;
        if (w) { /* no thread waits: the server calls again (api_wait) */
            xv_free(col.out);
            *out = NULL;
            wait_park(w, subs, *pos, deadline);
            return NULL;
        }
        /* in slices, so that a session that ends stops its waiters */
        db_wait_events(api->db, *pos, left < WAIT_SLICE ? left : WAIT_SLICE);
        if (session && (e = session_check(api, session)) != NULL) {
            xv_free(col.out);
            return e;
        }
    }
    *out = col.out;
    return NULL;
}

/* xapi's token is "%020d,%020d": the last database event and the message generation
 * (xapi_event.ml, Token); we have no messages, so the second is 0.  The older
 * single-number form this daemon gave is still read. */
static xerr *parse_token(const char *s, int64_t *out)
{
    int64_t v, msg = 0;
    const char *comma = strchr(s, ',');
    _cleanup_free_ char *first = comma ? xstrndup(s, (size_t)(comma - s)) : xstrdup(s);
    if (!parse_int64(first, &v) || v < 0 || (comma && (!parse_int64(comma + 1, &msg) || msg < 0)))
        return err_event_from_token_parse_failure(s);
    *out = v;
    return NULL;
}

static xv *token_string(int64_t id)
{
    return xv_string_take(xasprintf("%020" PRId64 ",%020d", id, 0));
}

/* event.from's members after its events: every table, subscribed or not, as 32-bit
 * integers (xapi_event.ml folds over the whole tableset; event_types.ml writes
 * Rpc.Int32), and the token */
static void from_rest(struct api *api, int64_t pos, xv *r)
{
    xv *counts = xv_struct();
    for (size_t i = 0; i < dm_nclasses; i++)
        if (dm_classes[i].table)
            xv_struct_append(counts, dm_classes[i].lname, xv_i4((int32_t)db_count(api->db, &dm_classes[i])));
    xv_struct_append(r, "valid_ref_counts", counts);
    xv_struct_append(r, "token", token_string(pos));
}

/* From the beginning: every current object as an add, class by class, a record at a
 * time (a db_cursor per class), as a stream or collected. */
struct from_start {
    struct api_records r;        /* first: the stream is the from_start */
    struct api *api;
    struct subs subs;
    int64_t pos;
    size_t ci;                   /* the class being read */
    struct db_cursor *cur;
};

static void from_start_free(struct api_records *r)
{
    struct from_start *s = (struct from_start *)r;
    db_cursor_close(s->cur);
    subs_clear(&s->subs);
    free(s);
}

static xerr *from_start_next(struct api_records *r, char **key, xv **val)
{
    struct from_start *s = (struct from_start *)r;
    *key = NULL;
    *val = NULL;
    for (;;) {
        while (!s->cur && s->ci < dm_nclasses && !subs_has_class(&s->subs, &dm_classes[s->ci]))
            s->ci++;
        if (s->ci >= dm_nclasses)
            return NULL;
        const struct dm_class *c = &dm_classes[s->ci];
        xerr *e = s->cur ? NULL : db_cursor_open(s->api->db, c, &s->cur);
        char *ref = NULL;
        xv *rec = NULL;
        if (!e)
            e = db_cursor_next(s->cur, &ref, &rec);
        if (e)
            return e;
        if (!rec) {
            db_cursor_close(s->cur);
            s->cur = NULL;
            s->ci++;
            continue;
        }
        if (subs_match(&s->subs, c, ref)) {
            api_strip_internal(c, rec);
            *val = event_record(s->pos, FROM_TIMESTAMP, c, event_operation_name(EVENT_OPERATION_ADD), ref, rec);
            free(ref);
            return NULL;
        }
        free(ref);
        xv_free(rec);
    }
}

static xv *from_start_rest(struct api_records *r)
{
    struct from_start *s = (struct from_start *)r;
    xv *rest = xv_struct();
    from_rest(s->api, s->pos, rest);
    return rest;
}

static xerr *event_from(struct api_ctx *ctx, const struct event_from_args *a, xv **result)
{
    struct api *api = ctx->api;
    struct subs subs = {0};
    subs_parse(&subs, a->classes);
    const char *token = a->token;
    double timeout = a->timeout;
    xv *events = NULL;
    int64_t pos = 0, from = 0;
    char *key = NULL;            /* set: the answer may be kept for others (answer_keep) */
    xerr *e = NULL;

    if (!*token) {
        struct from_start *s = xcalloc(1, sizeof(*s));
        s->r = (struct api_records){.next = from_start_next, .rest = from_start_rest, .free = from_start_free,
                                    .array = "events"};
        s->api = api;
        s->subs = subs;
        /* the position is taken first, so a change made while reading is delivered
         * next time */
        s->pos = pos = db_last_event_id(api->db);
        if (ctx->records) {
            *ctx->records = &s->r;
            return NULL;
        }
        events = xv_array();
        xv *ev;
        char *none;
        while (!(e = from_start_next(&s->r, &none, &ev)) && ev)
            xv_array_push(events, ev);
        s->subs = (struct subs){0}; /* back to this call, cleared below */
        from_start_free(&s->r);
    } else if ((e = parse_token(token, &pos)) == NULL) {
        if (pos < db_first_event_id(api->db) - 1)
            e = err_events_lost();
        else {
            double deadline = now_monotonic() + timeout;
            if (ctx->wait && ctx->wait->deadline) { /* called again after parking */
                pos = pos > ctx->wait->after ? pos : ctx->wait->after;
                deadline = ctx->wait->deadline;
            }
            if (ctx->wire != API_WIRE_NONE) {
                key = subs_key(&subs);
                from = pos;
                if ((*result = answer_find(api->events, ctx->wire, from, key, db_last_event_id(api->db)))) {
                    subs_clear(&subs);
                    free(key);
                    return NULL;
                }
            }
            e = wait_collect(api, &subs, false, &pos, deadline, ctx->session, ctx->wait, &events);
        }
    }
    subs_clear(&subs);
    if (e || !events) { /* failed, or parked */
        xv_free(events);
        free(key);
        return e;
    }
    bool keep = key && events->u.arr.n > 0; /* a timeout's empty answer is no one else's */
    xv *r = xv_struct();
    xv_struct_append(r, "events", events);
    from_rest(api, pos, r);
    *result = keep ? answer_keep(api->events, ctx->wire, from, pos, key, r) : r;
    free(key);
    return NULL;
}

static void reg_free(void *p)
{
    struct reg *r = p;
    subs_clear(&r->subs);
    free(r);
}

static xerr *event_register(struct api_ctx *ctx, const struct event_register_args *a)
{
    struct events *ev = ctx->api->events;
    pthread_mutex_lock(&ev->lock);
    struct reg *r = strmap_get(ev->regs, ctx->session);
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->position = db_last_event_id(ctx->db);
        strmap_put(ev->regs, ctx->session, r);
    }
    subs_parse(&r->subs, a->classes);
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

static xerr *event_unregister(struct api_ctx *ctx, const struct event_unregister_args *a)
{
    struct events *ev = ctx->api->events;
    pthread_mutex_lock(&ev->lock);
    struct reg *r = strmap_get(ev->regs, ctx->session);
    for (size_t i = 0; r && i < a->classes->u.arr.n; i++) {
        struct subs drop = {0};
        subs_add(&drop, xv_str(a->classes->u.arr.v[i]));
        for (size_t j = 0; j < drop.n; j++) {
            for (size_t k = 0; k < r->subs.n; k++) {
                if (r->subs.v[k].c == drop.v[j].c && str_eq(r->subs.v[k].ref, drop.v[j].ref)) {
                    free(r->subs.v[k].ref);
                    r->subs.v[k] = r->subs.v[--r->subs.n];
                    break;
                }
            }
        }
        subs_clear(&drop);
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

static xerr *event_next(struct api_ctx *ctx, xv **result)
{
    struct events *ev = ctx->api->events;
    struct subs subs = {0};
    int64_t pos = 0;
    pthread_mutex_lock(&ev->lock);
    struct reg *r = strmap_get(ev->regs, ctx->session);
    if (r) {
        for (size_t i = 0; i < r->subs.n; i++) {
            subs.v = xrealloc(subs.v, (subs.n + 1) * sizeof(struct sub));
            subs.v[subs.n++] = (struct sub){r->subs.v[i].c, r->subs.v[i].ref ? xstrdup(r->subs.v[i].ref) : NULL};
        }
        pos = r->position;
    }
    pthread_mutex_unlock(&ev->lock);
    if (!r)
        return err_session_not_registered(ctx->session);
    xerr *e = NULL;
    xv *events = NULL;
    int64_t newpos = pos;
    if (pos < db_first_event_id(ctx->db) - 1) {
        e = err_events_lost();
        newpos = db_last_event_id(ctx->db); /* the client re-reads everything, then carries on */
    } else {
        /* event.next blocks until something happens, however long that takes */
        struct api_wait *w = ctx->wait;
        do {
            xv_free(events);
            events = NULL;
            double deadline = w && w->deadline ? w->deadline : now_monotonic() + 3600;
            if (w)
                w->deadline = 0;
            e = wait_collect(ctx->api, &subs, true, &newpos, deadline, ctx->session, w, &events);
        } while (!e && events && events->u.arr.n == 0 && !(w && w->expire));
    }
    subs_clear(&subs);
    pthread_mutex_lock(&ev->lock);
    r = strmap_get(ev->regs, ctx->session);
    if (r && r->position < newpos)
        r->position = newpos;
    pthread_mutex_unlock(&ev->lock);
    if (e) {
        xv_free(events);
        return e;
    }
    *result = events;
    return NULL;
}

static xerr *event_get_current_id(struct api_ctx *ctx, xv **result)
{
    *result = xv_int(db_last_event_id(ctx->db));
    return NULL;
}

static xerr *event_inject(struct api_ctx *ctx, const struct event_inject_args *a, xv **result)
{
    const char *cname = a->class, *ref = a->ref;
    const struct dm_class *c = dm_class_find_lower(cname);
    if (!c || !c->table)
        return err_handle_invalid(cname, ref);
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    int64_t id = 0;
    e = db_txn_touch(t, c, ref);
    e = db_end_id(t, e, &id);
    if (!e) /* just before the injected event, as xapi (generation - 1): an event.from
             * given it returns that event and a greater token */
        *result = token_string(id - 1);
    return e;
}

xerr *events_init(struct api *api)
{
    struct events *ev = xcalloc(1, sizeof(*ev));
    pthread_mutex_init(&ev->lock, NULL);
    pthread_mutex_init(&ev->answers_lock, NULL);
    ev->regs = strmap_new();
    ev->batch = config_get_double(api->cfg, "event-from-batching");
    if (!(ev->batch > 0))
        ev->batch = 0;
    if (ev->batch > 1)
        ev->batch = 1; /* a window, not a delay */
    api->events = ev;
    return NULL;
}

void events_free(struct api *api)
{
    if (!api->events)
        return;
    strmap_free(api->events->regs, reg_free);
    for (size_t i = 0; i < ANSWERS; i++)
        answer_unref(api->events->answers[i]);
    pthread_mutex_destroy(&api->events->answers_lock);
    pthread_mutex_destroy(&api->events->lock);
    free(api->events);
}

void api_event_answer_stats(struct api *api, uint64_t *hits, uint64_t *kept)
{
    *hits = atomic_load(&api->events->hits);
    *kept = atomic_load(&api->events->kept);
}

void events_forget_session(struct api *api, const char *session)
{
    pthread_mutex_lock(&api->events->lock);
    struct reg *r = strmap_remove(api->events->regs, session);
    pthread_mutex_unlock(&api->events->lock);
    if (r)
        reg_free(r);
}

void register_event_messages(struct api *api)
{
    api_register_event_from(api, event_from);
    api_register_event_register(api, event_register);
    api_register_event_unregister(api, event_unregister);
    api_register_event_next(api, event_next);
    api_register_event_get_current_id(api, event_get_current_id);
    api_register_event_inject(api, event_inject);
}
