/* Serialised records, kept so that a read of an unchanged record costs a copy, not a
 * query and a serialisation.  Correctness rests on two rules:
 *   - every commit drops the bytes of the objects it touched (its events' objects)
 *     after SQLite committed and before db_commit returns, so no one told of a write
 *     can read what was there before;
 *   - bytes made from a read are kept only when no commit ended since that read
 *     began (gen unchanged): a read that a commit overtook may hold the old record
 *     (or half of each, the inverse fields being separate queries).
 * One lock over a hash table and an LRU list; it is held for lookups and copies only,
 * never over a query or a serialisation. */
#include "db_int.h"

#include <string.h>

#define NBUCKETS 4096            /* power of two */

struct entry {
    struct entry *hnext;         /* hash chain */
    struct entry *prev, *next;   /* LRU list, most recently used first */
    const struct dm_class *c;
    uint32_t hash;
    char *bytes[DB_BYTES_SLOTS];
    size_t len[DB_BYTES_SLOTS];
    size_t size;                 /* what it counts against the limit */
    char *ref;                   /* in the same allocation, after the entry */
};

struct recache {
    pthread_mutex_t lock;
    struct entry *buckets[NBUCKETS];
    struct entry lru;            /* sentinel of the LRU list */
    size_t used, limit, entries;
    uint64_t gen;                /* commits ended */
    uint64_t hits, misses;
};

struct recache *recache_new(size_t limit)
{
    if (!limit)
        return NULL;
    struct recache *rc = xcalloc(1, sizeof(*rc));
    pthread_mutex_init(&rc->lock, NULL);
    rc->lru.prev = rc->lru.next = &rc->lru;
    rc->limit = limit;
    return rc;
}

static void entry_free(struct entry *e)
{
    for (int i = 0; i < DB_BYTES_SLOTS; i++)
        free(e->bytes[i]);
    free(e);
}

void recache_free(struct recache *rc)
{
    if (!rc)
        return;
    for (struct entry *e = rc->lru.next, *next; e != &rc->lru; e = next) {
        next = e->next;
        entry_free(e);
    }
    pthread_mutex_destroy(&rc->lock);
    free(rc);
}

static uint32_t hash_of(const struct dm_class *c, const char *ref)
{
    uint32_t h = 2166136261u ^ (uint32_t)c->index; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static struct entry **find(struct recache *rc, const struct dm_class *c, const char *ref, uint32_t h)
{
    struct entry **pp = &rc->buckets[h & (NBUCKETS - 1)];
    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->hash == h && (*pp)->c == c && strcmp((*pp)->ref, ref) == 0)
            break;
    return pp;
}

static void lru_unlink(struct entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_front(struct recache *rc, struct entry *e)
{
    e->next = rc->lru.next;
    e->prev = &rc->lru;
    rc->lru.next->prev = e;
    rc->lru.next = e;
}

/* Unlink *pp from its chain and the list, and free it. */
static void drop(struct recache *rc, struct entry **pp)
{
    struct entry *e = *pp;
    *pp = e->hnext;
    lru_unlink(e);
    rc->used -= e->size;
    rc->entries--;
    entry_free(e);
}

void recache_committed(struct recache *rc, const struct db_txn *t)
{
    if (!rc)
        return;
    pthread_mutex_lock(&rc->lock);
    rc->gen++;
    for (size_t i = 0; i < t->ntouches; i++) {
        const struct touch *tc = &t->touches[i];
        struct entry **pp = find(rc, tc->c, tc->ref, hash_of(tc->c, tc->ref));
        if (*pp)
            drop(rc, pp);
    }
    pthread_mutex_unlock(&rc->lock);
}

/* Keep bytes made from a read that began at generation gen (under the lock). */
static void keep(struct recache *rc, const struct dm_class *c, const char *ref, uint32_t h, int slot,
                 const char *bytes, size_t len, uint64_t gen)
{
    size_t reflen = strlen(ref);
    size_t cost = len + sizeof(struct entry) + reflen + 1;
    if (gen != rc->gen || cost > rc->limit / 4)
        return; /* overtaken by a commit; or a record too big to be worth it */
    struct entry **pp = find(rc, c, ref, h), *e = *pp;
    if (e && e->bytes[slot])
        return; /* another reader kept the same bytes first */
    if (!e) {
        e = xcalloc(1, sizeof(*e) + reflen + 1);
        e->ref = (char *)(e + 1); /* not a flexible array: the LRU sentinel is an entry inside struct recache */
        memcpy(e->ref, ref, reflen + 1);
        e->c = c;
        e->hash = h;
        e->size = sizeof(*e) + reflen + 1;
        *pp = e;
        rc->used += e->size;
        rc->entries++;
        lru_front(rc, e);
    }
    e->bytes[slot] = xmalloc(len + 1);
    memcpy(e->bytes[slot], bytes, len);
    e->bytes[slot][len] = 0;
    e->len[slot] = len;
    e->size += len;
    rc->used += len;
    /* make room: the least recently used go, never the one just kept */
    while (rc->used > rc->limit && rc->lru.prev != e) {
        struct entry *old = rc->lru.prev;
        drop(rc, find(rc, old->c, old->ref, old->hash));
    }
}

static xerr *read_and_make(struct db *db, const struct dm_class *c, const char *ref, db_bytes_fn fn, void *ctx,
                           buf *out)
{
    xv *rec = NULL;
    xerr *e = db_read_record(db, c, ref, &rec);
    if (e)
        return e;
    fn(ctx, c, rec, out);
    xv_free(rec);
    return NULL;
}

xerr *db_read_record_bytes(struct db *db, const struct dm_class *c, const char *ref, int slot, db_bytes_fn fn,
                           void *ctx, buf *out)
{
    struct recache *rc = db->recache;
    if (!rc || slot < 0 || slot >= DB_BYTES_SLOTS)
        return read_and_make(db, c, ref, fn, ctx, out);
    uint32_t h = hash_of(c, ref);
    pthread_mutex_lock(&rc->lock);
    struct entry *hit = *find(rc, c, ref, h);
    if (hit && hit->bytes[slot]) {
        buf_add(out, hit->bytes[slot], hit->len[slot]);
        lru_unlink(hit);
        lru_front(rc, hit);
        rc->hits++;
        pthread_mutex_unlock(&rc->lock);
        return NULL;
    }
    rc->misses++;
    uint64_t gen = rc->gen;
    pthread_mutex_unlock(&rc->lock);
    size_t mark = out->len;
    xerr *e = read_and_make(db, c, ref, fn, ctx, out);
    if (e)
        return e;
    pthread_mutex_lock(&rc->lock);
    keep(rc, c, ref, h, slot, out->p + mark, out->len - mark, gen);
    pthread_mutex_unlock(&rc->lock);
    return NULL;
}

void db_record_cache_stats(struct db *db, struct db_cache_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct recache *rc = db->recache;
    if (!rc)
        return;
    pthread_mutex_lock(&rc->lock);
    out->hits = rc->hits;
    out->misses = rc->misses;
    out->entries = rc->entries;
    out->bytes = rc->used;
    pthread_mutex_unlock(&rc->lock);
}
