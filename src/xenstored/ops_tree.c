/* The tree requests: read, write, mkdir, rm, directory, permissions. */
#include "xsd_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The node at path if who has all of perm on it.  A missing node reads as EACCES
 * unless the nearest existing ancestor grants perm: a guest must not learn what
 * exists where it may not look (xenstored's errno_from_parents). */
static int get_checked(struct req *r, const char *path, unsigned perm, const struct node **out)
{
    int e = view_get(r, path, out);
    if (e == 0) {
        if ((perm_for(&r->who, &(*out)->perms) & perm) == perm)
            return 0;
        *out = NULL;
        return EACCES;
    }
    if (e != ENOENT)
        return e;
    char *p = xstrdup(path);
    const struct node *anc = NULL;
    while (strcmp(p, "/") != 0) {
        char *parent = path_parent(p);
        free(p);
        p = parent;
        e = view_get(r, p, &anc);
        if (e == 0)
            break;
        if (e != ENOENT) {
            free(p);
            return e;
        }
    }
    free(p);
    if (anc && (perm_for(&r->who, &anc->perms) & perm))
        return ENOENT;
    return EACCES;
}

/* The node at path (canonical; freed here) if the path is valid and who has all of
 * perm on it. */
static int checked_at(struct req *r, char *path, unsigned perm, const struct node **out)
{
    int e = path_valid(path, r->who.priv) ? get_checked(r, path, perm, out) : EINVAL;
    free(path);
    return e;
}

/* The canonical, valid path of a one-string request, else NULL (EINVAL). */
static char *onepath(struct req *r)
{
    const char *arg = req_onearg(r);
    if (!arg)
        return NULL;
    char *path = req_canon(r, arg);
    if (!path_valid(path, r->who.priv)) {
        free(path);
        return NULL;
    }
    return path;
}

static bool too_big(const struct req *r, const struct node *n)
{
    return !r->who.priv && node_rec_size(n) >= Q_ENTRY_SIZE;
}

/* read and directory: the node's value or its list of children, to whoever may read it. */
static int reply_readable(struct req *r, enum xsd_sockmsg_type type)
{
    const char *arg = req_onearg(r);
    if (!arg)
        return EINVAL;
    const struct node *n;
    int e = checked_at(r, req_canon(r, arg), XS_PERM_READ, &n);
    if (e)
        return e;
    if (type == XS_READ)
        reply(r, type, n->value, n->vlen);
    else
        reply(r, type, n->children, n->clen);
    return 0;
}

int op_read(struct req *r)
{
    return reply_readable(r, XS_READ);
}

/* Create path and its missing ancestors (empty, permissions inherited, owned by the
 * creating guest), all or nothing. */
static int create(struct req *r, const char *path, const void *value, uint32_t vlen)
{
    size_t k = 0, cap = 8;
    char **missing = xmalloc(cap * sizeof(*missing));   /* deepest first */
    const struct node *anc = NULL;
    int e = 0;
    missing[k++] = xstrdup(path);
    for (;;) {
        char *parent = path_parent(missing[k - 1]);
        e = view_get(r, parent, &anc);
        if (e == 0) {
            free(parent);
            break;
        }
        if (e != ENOENT || strcmp(parent, "/") == 0) {
            free(parent);
            e = e == ENOENT ? EIO : e;
            goto out;
        }
        if (k == cap)
            missing = xrealloc(missing, (cap *= 2) * sizeof(*missing));
        missing[k++] = parent;
    }
    if (!r->who.priv) {
        long have = (long)store_owned(&r->x->st, r->c->domid) + (r->t ? r->t->own_delta : 0);
        if (have + (long)k > Q_NODES) {
            e = ENOSPC;
            goto out;
        }
    }
    struct node **made = xcalloc(k + 1, sizeof(*made));   /* made[0]: the ancestor */
    made[0] = node_dup(anc);
    for (size_t i = 1; i <= k; i++) {
        const char *p = missing[k - i];
        struct node *n = node_new(p);
        perms_copy(&n->perms, &made[i - 1]->perms);
        if (!r->who.priv)
            n->perms.p[0].id = r->c->domid;
        node_add_child(made[i - 1], path_base(p));
        made[i] = n;
    }
    node_set_value(made[k], value, vlen);
    for (size_t i = 0; i <= k; i++)
        if (too_big(r, made[i]))
            e = ENOSPC;
    if (e) {
        for (size_t i = 0; i <= k; i++)
            node_free(made[i]);
    } else {
        struct perms perms;
        perms_copy(&perms, &made[k]->perms);
        for (size_t i = 0; i <= k; i++)
            view_put(r, made[i]);
        fire(r, path, false, &perms, NULL);
        perms_free(&perms);
    }
    free(made);
out:
    for (size_t i = 0; i < k; i++)
        free(missing[i]);
    free(missing);
    return e;
}

int op_write(struct req *r)
{
    const char *vec[1];
    if (req_strings(r, vec, 1) < 1)
        return EINVAL;
    size_t off = strlen(vec[0]) + 1;
    const char *value = r->data + off;
    uint32_t vlen = r->hdr.len - (uint32_t)off;
    char *path = req_canon(r, vec[0]);
    if (!path_valid(path, r->who.priv)) {
        free(path);
        return EINVAL;
    }
    const struct node *n;
    int e = get_checked(r, path, XS_PERM_WRITE, &n);
    if (e == ENOENT) {
        e = create(r, path, value, vlen);
    } else if (e == 0) {
        struct node *m = node_dup(n);
        node_set_value(m, value, vlen);
        if (too_big(r, m)) {
            node_free(m);
            e = ENOSPC;
        } else {
            struct perms perms;
            perms_copy(&perms, &m->perms);
            view_put(r, m);
            fire(r, path, false, &perms, NULL);
            perms_free(&perms);
        }
    }
    free(path);
    if (e)
        return e;
    reply_ack(r);
    return 0;
}

int op_mkdir(struct req *r)
{
    char *path = onepath(r);
    if (!path)
        return EINVAL;
    const struct node *n;
    int e = get_checked(r, path, XS_PERM_WRITE, &n);
    if (e == ENOENT)
        e = create(r, path, NULL, 0);
    free(path);
    if (e)
        return e;
    reply_ack(r);
    return 0;
}

struct doomed {
    char *path;
    struct perms perms;
};

/* The subtree under path, children before their parent. */
static int collect(struct req *r, const char *path, struct doomed **v, size_t *k, size_t *cap)
{
    const struct node *n;
    int e = view_get(r, path, &n);
    if (e)
        return e == ENOENT ? 0 : e;   /* a dangling child name: nothing to remove */
    struct node *copy = node_dup(n);   /* n may move as the view grows */
    for (uint32_t off = 0; off < copy->clen && !e; off += (uint32_t)strlen(copy->children + off) + 1) {
        char *child = path_child(path, copy->children + off);
        e = collect(r, child, v, k, cap);
        free(child);
    }
    if (!e) {
        if (*k == *cap)
            *v = xrealloc(*v, (*cap *= 2) * sizeof(**v));
        (*v)[*k].path = xstrdup(path);
        perms_copy(&(*v)[*k].perms, &copy->perms);
        (*k)++;
    }
    node_free(copy);
    return e;
}

int op_rm(struct req *r)
{
    char *path = onepath(r);
    if (!path)
        return EINVAL;
    const struct node *n;
    int e = get_checked(r, path, XS_PERM_WRITE, &n);
    if (e == ENOENT) {
        /* Removing what is not there is fine if its parent is. */
        char *parent = path_parent(path);
        e = view_get(r, parent, &n) == 0 ? 0 : ENOENT;
        free(parent);
        free(path);
        if (!e)
            reply_ack(r);
        return e;
    }
    if (!e && strcmp(path, "/") == 0)
        e = EINVAL;
    if (e) {
        free(path);
        return e;
    }
    char *parent_path = path_parent(path);
    const struct node *parent;
    if (view_get(r, parent_path, &parent) != 0) {
        free(parent_path);
        free(path);
        return EINVAL;
    }
    struct node *np = node_dup(parent);
    size_t k = 0, cap = 16;
    struct doomed *v = xmalloc(cap * sizeof(*v));
    e = collect(r, path, &v, &k, &cap);
    for (size_t i = 0; i < k; i++) {
        if (!e) {
            /* The removed node fires every watch at or above it; each node below fires
             * only watches set exactly on it. */
            fire(r, v[i].path, strcmp(v[i].path, path) != 0, &v[i].perms, NULL);
            view_del(r, v[i].path);
        }
        free(v[i].path);
        perms_free(&v[i].perms);
    }
    free(v);
    if (!e) {
        node_del_child(np, path_base(path));
        view_put(r, np);
        reply_ack(r);
    } else {
        node_free(np);
    }
    free(parent_path);
    free(path);
    return e;
}

int op_directory(struct req *r)
{
    return reply_readable(r, XS_DIRECTORY);
}

/* "path\0offset\0" -> "generation\0child\0child\0...[\0]": a final empty string says
 * the list is complete.  For directories too large for one reply. */
int op_directory_part(struct req *r)
{
    const char *vec[2];
    if (req_strings(r, vec, 2) != 2)
        return EINVAL;
    char *end;
    unsigned long off = strtoul(vec[1], &end, 10);
    if (!vec[1][0] || *end)
        return EINVAL;
    const struct node *n;
    int e = checked_at(r, req_canon(r, vec[0]), XS_PERM_READ, &n);
    if (e)
        return e;
    char gen[24];
    size_t genlen = (size_t)snprintf(gen, sizeof(gen), "%llu", (unsigned long long)n->gen) + 1;
    buf b;
    buf_init(&b);
    buf_add(&b, gen, genlen);
    if (off >= n->clen) {
        buf_addc(&b, 0);
    } else {
        /* Whole names only, from a name boundary the client got from us. */
        size_t max = XENSTORE_PAYLOAD_MAX - genlen - 1, len = 0;
        while (off + len < n->clen) {
            size_t l = strlen(n->children + off + len) + 1;
            if (len + l > max)
                break;
            len += l;
        }
        buf_add(&b, n->children + off, len);
        if (off + len == n->clen)
            buf_addc(&b, 0);
    }
    reply(r, XS_DIRECTORY_PART, b.p, b.len);
    buf_free(&b);
    return 0;
}

int op_get_perms(struct req *r)
{
    const char *arg = req_onearg(r);
    if (!arg)
        return EINVAL;
    const struct perms *p;
    char *path = req_canon(r, arg);
    if (path[0] == '@') {
        p = store_special(&r->x->st, path);
        free(path);
        if (!p)
            return ENOENT;
        if (!(perm_for(&r->who, p) & XS_PERM_READ))
            return EACCES;
    } else {
        const struct node *n;
        int e = checked_at(r, path, XS_PERM_READ, &n);
        if (e)
            return e;
        p = &n->perms;
    }
    buf b;
    buf_init(&b);
    perms_format(p, &b);
    reply(r, XS_GET_PERMS, b.p, b.len);
    buf_free(&b);
    return 0;
}

int op_set_perms(struct req *r)
{
    const char *vec[1];
    unsigned count = req_strings(r, vec, 1);
    if (count < 2)
        return EINVAL;
    if (!r->who.priv && count - 1 > Q_PERMS)
        return ENOSPC;
    size_t off = strlen(vec[0]) + 1;
    struct perms np;
    if (!perms_parse(r->data + off, r->hdr.len - off, count - 1, &np))
        return EINVAL;
    char *path = req_canon(r, vec[0]);
    int e = 0;
    if (path[0] == '@') {
        struct perms *sp = store_special(&r->x->st, path);
        const unsigned need = XS_PERM_WRITE | XS_PERM_OWNER;
        if (!sp)
            e = ENOENT;
        else if ((perm_for(&r->who, sp) & need) != need)
            e = EACCES;
        if (!e) {
            perms_free(sp);
            *sp = np;
            np.p = NULL;
            r->x->st.dirty = true;
            reply_ack(r);
        }
        goto out;
    }
    if (!path_valid(path, r->who.priv)) {
        e = EINVAL;
        goto out;
    }
    const struct node *n;
    e = get_checked(r, path, XS_PERM_WRITE | XS_PERM_OWNER, &n);
    if (e)
        goto out;
    /* A guest may share what it owns but not give it away. */
    if (!r->who.priv && np.p[0].id != n->perms.p[0].id) {
        e = EPERM;
        goto out;
    }
    struct node *m = node_dup(n);
    struct perms old = m->perms;
    m->perms = np;
    np = old;   /* freed at out if the new set is refused */
    if (too_big(r, m)) {
        e = ENOSPC;
        node_free(m);
        goto out;
    }
    np.p = NULL;
    struct perms now;
    perms_copy(&now, &m->perms);
    view_put(r, m);
    fire(r, path, false, &now, &old);
    perms_free(&now);
    perms_free(&old);
    reply_ack(r);
out:
    perms_free(&np);
    free(path);
    return e;
}
