#include "util.h"

#include <string.h>

struct slot {
    char *key;       /* NULL: empty; TOMBSTONE: removed */
    void *value;
    uint64_t hash;
};

struct strmap {
    struct slot *slots;
    size_t cap, used, live;
};

static char tombstone;
#define TOMBSTONE (&tombstone)

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct strmap *strmap_new(void)
{
    struct strmap *m = xcalloc(1, sizeof(*m));
    m->cap = 16;
    m->slots = xcalloc(m->cap, sizeof(struct slot));
    return m;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key && m->slots[i].key != TOMBSTONE) {
            free(m->slots[i].key);
            if (free_value)
                free_value(m->slots[i].value);
        }
    }
    free(m->slots);
    free(m);
}

static struct slot *find(const struct strmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static void grow(struct strmap *m)
{
    struct slot *old = m->slots;
    size_t oldcap = m->cap;
    m->cap = m->live * 4 > m->cap ? m->cap * 2 : m->cap; /* rehash in place if mostly tombstones */
    m->slots = xcalloc(m->cap, sizeof(struct slot));
    m->used = m->live;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key || old[i].key == TOMBSTONE)
            continue;
        size_t mask = m->cap - 1, j = old[i].hash & mask;
        while (m->slots[j].key)
            j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct slot *s = find(m, key, hash_str(key));
    return s ? s->value : NULL;
}

void *strmap_put(struct strmap *m, const char *key, void *value)
{
    uint64_t h = hash_str(key);
    struct slot *s = find(m, key, h);
    if (s) {
        void *old = s->value;
        s->value = value;
        return old;
    }
    if ((m->used + 1) * 4 > m->cap * 3)
        grow(m);
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMBSTONE)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (struct slot){xstrdup(key), value, h};
    m->live++;
    return NULL;
}

void *strmap_remove(struct strmap *m, const char *key)
{
    struct slot *s = find(m, key, hash_str(key));
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    m->live--;
    return v;
}

size_t strmap_size(const struct strmap *m)
{
    return m->live;
}

bool strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value)
{
    for (; *pos < m->cap; (*pos)++) {
        struct slot *s = &m->slots[*pos];
        if (s->key && s->key != TOMBSTONE) {
            *key = s->key;
            *value = s->value;
            (*pos)++;
            return true;
        }
    }
    return false;
}
