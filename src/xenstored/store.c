/* Nodes, permissions and paths, and the committed tree they live in. */
#include "xsd_int.h"

#include <stdio.h>
#include <string.h>

#define NDOMIDS 65536u

/* ---- nodes ---- */

struct node *node_new(const char *path)
{
    struct node *n = xcalloc(1, sizeof(*n));
    n->path = xstrdup(path);
    return n;
}

struct node *node_dup(const struct node *n)
{
    struct node *m = node_new(n->path);
    m->gen = n->gen;
    perms_copy(&m->perms, &n->perms);
    node_set_value(m, n->value, n->vlen);
    if (n->clen) {
        m->children = xmalloc(n->clen);
        memcpy(m->children, n->children, n->clen);
        m->clen = n->clen;
    }
    return m;
}

void node_free(struct node *n)
{
    if (!n)
        return;
    free(n->path);
    perms_free(&n->perms);
    free(n->value);
    free(n->children);
    free(n);
}

void node_set_value(struct node *n, const void *v, uint32_t len)
{
    free(n->value);
    n->value = NULL;
    n->vlen = len;
    if (len) {
        n->value = xmalloc(len);
        memcpy(n->value, v, len);
    }
}

void node_add_child(struct node *n, const char *name)
{
    size_t l = strlen(name) + 1;
    n->children = xrealloc(n->children, n->clen + l);
    memcpy(n->children + n->clen, name, l);
    n->clen += (uint32_t)l;
}

bool node_del_child(struct node *n, const char *name)
{
    for (uint32_t off = 0; off < n->clen;) {
        size_t l = strlen(n->children + off) + 1;
        if (strcmp(n->children + off, name) == 0) {
            memmove(n->children + off, n->children + off + l, n->clen - off - l);
            n->clen -= (uint32_t)l;
            return true;
        }
        off += (uint32_t)l;
    }
    return false;
}

size_t node_rec_size(const struct node *n)
{
    /* xenstored's record: a 24-byte header, 8 bytes per permission, value, children. */
    return 24 + 8 * (size_t)n->perms.n + n->vlen + n->clen;
}

/* ---- permissions ---- */

void perms_copy(struct perms *dst, const struct perms *src)
{
    dst->n = src->n;
    dst->p = xmalloc(sizeof(*dst->p) * (src->n ? src->n : 1));
    memcpy(dst->p, src->p, sizeof(*dst->p) * src->n);
}

void perms_free(struct perms *p)
{
    free(p->p);
    p->p = NULL;
    p->n = 0;
}

bool perms_parse(const char *s, size_t len, uint32_t count, struct perms *out)
{
    out->n = 0;
    out->p = xmalloc(sizeof(*out->p) * (count ? count : 1));
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        const char *e = off < len ? memchr(s + off, 0, len - off) : NULL;
        if (!e)
            goto bad;
        const char *str = s + off;
        uint32_t bits;
        switch (str[0]) {
        case 'n': bits = XS_PERM_NONE; break;
        case 'r': bits = XS_PERM_READ; break;
        case 'w': bits = XS_PERM_WRITE; break;
        case 'b': bits = XS_PERM_READ | XS_PERM_WRITE; break;
        default: goto bad;
        }
        unsigned id;
        if (!parse_domid(str + 1, &id))
            goto bad;
        out->p[i].id = id;
        out->p[i].bits = bits;
        out->n++;
        off = (size_t)(e - s) + 1;
    }
    if (out->n == 0)
        goto bad;
    return true;
bad:
    perms_free(out);
    return false;
}

void perms_format(const struct perms *p, buf *out)
{
    static const char letter[] = {'n', 'r', 'w', 'b'};
    for (uint32_t i = 0; i < p->n; i++) {
        buf_printf(out, "%c%u", letter[p->p[i].bits & 3], p->p[i].id);
        buf_addc(out, 0);
    }
}

unsigned perm_for(const struct who *w, const struct perms *p)
{
    const unsigned all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    if (w->priv || p->n == 0)
        return w->priv ? all : 0;
    if (p->p[0].id == w->domid || (w->has_target && p->p[0].id == w->target))
        return all;
    for (uint32_t i = 1; i < p->n; i++)
        if (p->p[i].id == w->domid || (w->has_target && p->p[i].id == w->target))
            return p->p[i].bits & (XS_PERM_READ | XS_PERM_WRITE);
    return p->p[0].bits & (XS_PERM_READ | XS_PERM_WRITE);
}

/* ---- paths ---- */

bool parse_domid(const char *s, unsigned *out)
{
    /* Decimal, no sign, no leading zeros except "0", at most 65535 (perms name any id). */
    if (!s[0] || strlen(s) > 5 || (s[0] == '0' && s[1]))
        return false;
    unsigned v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v >= NDOMIDS)
        return false;
    *out = v;
    return true;
}

static bool valid_chars(const char *p)
{
    for (; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '/' || c == '_' || c == '@'))
            return false;
    }
    return true;
}

bool path_valid(const char *p, bool priv)
{
    size_t len = strlen(p);
    if (p[0] != '/' || len > XENSTORE_ABS_PATH_MAX)
        return false;
    if (len > 1 && p[len - 1] == '/')
        return false;
    if (strstr(p, "//") || !valid_chars(p))
        return false;
    if (!priv) {
        /* A guest's paths are measured from a domain's home, as xenstored does. */
        size_t off = 0;
        if (strncmp(p, "/local/domain/", 14) == 0) {
            size_t d = 14;
            while (p[d] >= '0' && p[d] <= '9')
                d++;
            if (d > 14 && p[d] == '/')
                off = d + 1;
        }
        if (len - off > XENSTORE_REL_PATH_MAX)
            return false;
    }
    return true;
}

char *path_parent(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash || slash == p)
        return xstrdup("/");
    return xstrndup(p, (size_t)(slash - p));
}

const char *path_base(const char *p)
{
    return strrchr(p, '/') + 1;
}

bool path_is_below(const char *p, const char *top)
{
    if (strcmp(top, "/") == 0)
        return p[0] == '/';
    size_t l = strlen(top);
    return strncmp(p, top, l) == 0 && (p[l] == 0 || p[l] == '/');
}

char *path_child(const char *dir, const char *name)
{
    if (strcmp(dir, "/") == 0)
        return xasprintf("/%s", name);
    return xasprintf("%s/%s", dir, name);
}

/* ---- the committed tree ---- */

static void owned_adjust(struct store *s, const struct node *n, int d)
{
    if (n->perms.n)
        s->owned[n->perms.p[0].id % NDOMIDS] += (uint32_t)d;
}

static struct node *manual_node(const char *path, const char *child)
{
    struct node *n = node_new(path);
    n->perms.n = 1;
    n->perms.p = xcalloc(1, sizeof(struct perm));   /* "n0" */
    if (child)
        node_add_child(n, child);
    return n;
}

void store_init(struct store *s)
{
    memset(s, 0, sizeof(*s));
    s->nodes = strmap_new();
    s->owned = xcalloc(NDOMIDS, sizeof(*s->owned));
    store_put(s, manual_node("/", "tool"));
    store_put(s, manual_node("/tool", "xenstored"));
    store_put(s, manual_node("/tool/xenstored", NULL));
    s->sp_intro.n = s->sp_release.n = 1;
    s->sp_intro.p = xcalloc(1, sizeof(struct perm));
    s->sp_release.p = xcalloc(1, sizeof(struct perm));
    s->dirty = false;
}

static void free_node_v(void *n)
{
    node_free(n);
}

void store_destroy(struct store *s)
{
    strmap_free(s->nodes, free_node_v);
    free(s->owned);
    perms_free(&s->sp_intro);
    perms_free(&s->sp_release);
    memset(s, 0, sizeof(*s));
}

const struct node *store_get(const struct store *s, const char *path)
{
    return strmap_get(s->nodes, path);
}

void store_put(struct store *s, struct node *n)
{
    n->gen = ++s->gen;
    owned_adjust(s, n, 1);
    struct node *old = strmap_put(s->nodes, n->path, n);
    if (old) {
        owned_adjust(s, old, -1);
        node_free(old);
    }
    s->dirty = true;
}

void store_del(struct store *s, const char *path)
{
    struct node *old = strmap_remove(s->nodes, path);
    if (old) {
        owned_adjust(s, old, -1);
        node_free(old);
        s->gen++;
        s->dirty = true;
    }
}

uint32_t store_owned(const struct store *s, unsigned domid)
{
    return s->owned[domid % NDOMIDS];
}

/* Rewrite one permission set for a vanished domain; true if it changed. */
static bool forget_in(struct perms *p, unsigned domid)
{
    bool changed = false;
    if (p->n && p->p[0].id == domid) {
        p->p[0].id = 0;
        changed = true;
    }
    uint32_t j = 1;
    for (uint32_t i = 1; i < p->n; i++) {
        if (p->p[i].id == domid) {
            changed = true;
            continue;
        }
        p->p[j++] = p->p[i];
    }
    if (p->n)
        p->n = j;
    return changed;
}

void store_forget_domain(struct store *s, unsigned domid)
{
    if (domid == 0)
        return;
    /* Collect first: store_put replaces entries of the map being walked. */
    size_t cap = 16, k = 0;
    struct node **todo = xmalloc(cap * sizeof(*todo));
    size_t pos;
    const char *key;
    void *v;
    pos = 0;
    while (strmap_next(s->nodes, &pos, &key, &v)) {
        const struct node *n = v;
        bool hit = false;
        for (uint32_t i = 0; i < n->perms.n; i++)
            hit |= n->perms.p[i].id == domid;
        if (!hit)
            continue;
        if (k == cap)
            todo = xrealloc(todo, (cap *= 2) * sizeof(*todo));
        todo[k++] = node_dup(n);
    }
    for (size_t i = 0; i < k; i++) {
        forget_in(&todo[i]->perms, domid);
        store_put(s, todo[i]);
    }
    free(todo);
    if (forget_in(&s->sp_intro, domid) | forget_in(&s->sp_release, domid))
        s->dirty = true;
}

struct perms *store_special(struct store *s, const char *name)
{
    if (strcmp(name, "@introduceDomain") == 0)
        return &s->sp_intro;
    if (strcmp(name, "@releaseDomain") == 0)
        return &s->sp_release;
    return NULL;
}
