/* A chained hash map with string keys, for the node store and transaction views. */
#include "xsd_int.h"

#include <string.h>

struct hent {
    struct hent *next;
    const char *key;
    uint32_t hash;
    void *val;
};

struct hmap {
    struct hent **b;
    size_t nb, n;
};

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

struct hmap *hmap_new(void)
{
    struct hmap *h = xcalloc(1, sizeof(*h));
    h->nb = 16;
    h->b = xcalloc(h->nb, sizeof(*h->b));
    return h;
}

void hmap_free(struct hmap *h, void (*free_val)(void *))
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nb; i++) {
        struct hent *e = h->b[i];
        while (e) {
            struct hent *next = e->next;
            if (free_val)
                free_val(e->val);
            free(e);
            e = next;
        }
    }
    free(h->b);
    free(h);
}

static struct hent **find(const struct hmap *h, const char *key, uint32_t hash)
{
    struct hent **pp = &h->b[hash & (h->nb - 1)];
    while (*pp && ((*pp)->hash != hash || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void grow(struct hmap *h)
{
    size_t nb = h->nb * 2;
    struct hent **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < h->nb; i++) {
        struct hent *e = h->b[i];
        while (e) {
            struct hent *next = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    free(h->b);
    h->b = b;
    h->nb = nb;
}

void *hmap_get(const struct hmap *h, const char *key)
{
    struct hent *e = *find(h, key, hash_str(key));
    return e ? e->val : NULL;
}

void *hmap_put(struct hmap *h, const char *key, void *val)
{
    uint32_t hash = hash_str(key);
    struct hent **pp = find(h, key, hash);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->key = key;
        (*pp)->val = val;
        return old;
    }
    struct hent *e = xmalloc(sizeof(*e));
    e->next = NULL;
    e->key = key;
    e->hash = hash;
    e->val = val;
    *pp = e;
    if (++h->n > h->nb)
        grow(h);
    return NULL;
}

void *hmap_del(struct hmap *h, const char *key)
{
    struct hent **pp = find(h, key, hash_str(key));
    struct hent *e = *pp;
    if (!e)
        return NULL;
    void *val = e->val;
    *pp = e->next;
    free(e);
    h->n--;
    return val;
}

size_t hmap_size(const struct hmap *h)
{
    return h->n;
}

void hmap_iter_init(const struct hmap *h, struct hmap_iter *it)
{
    it->h = h;
    it->bucket = 0;
    it->ent = NULL;
}

bool hmap_iter_next(struct hmap_iter *it, const char **key, void **val)
{
    struct hent *e = it->ent ? ((struct hent *)it->ent)->next : NULL;
    while (!e && it->bucket < it->h->nb)
        e = it->h->b[it->bucket++];
    it->ent = e;
    if (!e)
        return false;
    if (key)
        *key = e->key;
    if (val)
        *val = e->val;
    return true;
}
