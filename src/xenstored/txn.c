/* Transactions, and the view of the tree a request works on.
 *
 * Outside a transaction a request works on the committed store.  Inside one, every
 * node it touches is copied into the transaction with the generation it had then, so
 * the transaction keeps seeing what it saw first, and what it writes stays there.  The
 * commit fails with EAGAIN if any touched node has changed since: xenstored's
 * optimistic scheme (since Xen 4.9).
 */
#include "xsd_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void tnode_free(void *v)
{
    struct tnode *tn = v;
    free(tn->path);
    node_free(tn->n);
    free(tn);
}

static void change_free(struct change *ch)
{
    free(ch->path);
    perms_free(&ch->perms);
    perms_free(&ch->old);
    free(ch);
}

void txn_free(struct txn *t)
{
    if (!t)
        return;
    strmap_free(t->nodes, tnode_free);
    strmap_free(t->changed, NULL);
    while (t->changes) {
        struct change *next = t->changes->next;
        change_free(t->changes);
        t->changes = next;
    }
    free(t);
}

struct txn *txn_find(struct conn *c, uint32_t id)
{
    for (struct txn *t = c->txns; t; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static struct tnode *touch(struct req *r, const char *path)
{
    struct tnode *tn = strmap_get(r->t->nodes, path);
    if (tn)
        return tn;
    tn = xcalloc(1, sizeof(*tn));
    tn->path = xstrdup(path);
    const struct node *cur = store_get(&r->x->st, path);
    tn->base_gen = cur ? cur->gen : 0;
    tn->n = cur ? node_dup(cur) : NULL;
    strmap_put(r->t->nodes, tn->path, tn);
    return tn;
}

int view_get(struct req *r, const char *path, const struct node **out)
{
    *out = NULL;
    if (!r->t) {
        *out = store_get(&r->x->st, path);
        return *out ? 0 : ENOENT;
    }
    struct tnode *tn = strmap_get(r->t->nodes, path);
    if (!tn) {
        /* Bounds what one guest transaction may hold in memory. */
        if (!r->who.priv && strmap_size(r->t->nodes) >= Q_TXN_NODES)
            return ENOSPC;
        tn = touch(r, path);
    }
    *out = tn->n;
    return *out ? 0 : ENOENT;
}

/* Owner of what the view holds at path now, or -1. */
static long owner_now(struct req *r, const char *path)
{
    struct tnode *tn = strmap_get(r->t->nodes, path);
    const struct node *n = tn ? tn->n : store_get(&r->x->st, path);
    return n && n->perms.n ? (long)n->perms.p[0].id : -1;
}

void view_put(struct req *r, struct node *n)
{
    if (!r->t) {
        store_put(&r->x->st, n);
        return;
    }
    if (owner_now(r, n->path) == (long)r->c->domid)
        r->t->own_delta--;
    if (n->perms.n && n->perms.p[0].id == r->c->domid)
        r->t->own_delta++;
    struct tnode *tn = touch(r, n->path);
    node_free(tn->n);
    n->gen = 0;
    tn->n = n;
    tn->written = true;
}

void view_del(struct req *r, const char *path)
{
    if (!r->t) {
        store_del(&r->x->st, path);
        return;
    }
    if (owner_now(r, path) == (long)r->c->domid)
        r->t->own_delta--;
    struct tnode *tn = touch(r, path);
    node_free(tn->n);
    tn->n = NULL;
    tn->written = true;
}

int op_transaction_start(struct req *r)
{
    struct conn *c = r->c;
    if (r->hdr.tx_id)
        return EBUSY;
    if (c->dom && c->dom->ntxns >= Q_TXNS)
        return ENOSPC;
    struct txn *t = xcalloc(1, sizeof(*t));
    do {
        t->id = c->next_txid++;
    } while (t->id == 0 || txn_find(c, t->id));
    t->nodes = strmap_new();
    t->changed = strmap_new();
    t->changes_tail = &t->changes;
    t->next = c->txns;
    c->txns = t;
    if (c->dom)
        c->dom->ntxns++;
    char id[16];
    int n = snprintf(id, sizeof(id), "%u", t->id);
    reply(r, XS_TRANSACTION_START, id, (size_t)n + 1);
    return 0;
}

static void unlink_txn(struct conn *c, struct txn *t)
{
    for (struct txn **pp = &c->txns; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    if (c->dom)
        c->dom->ntxns--;
}

static int commit(struct req *r, struct txn *t)
{
    struct store *s = &r->x->st;
    size_t pos;
    const char *key;
    void *v;
    long delta = 0;

    pos = 0;
    while (strmap_next(t->nodes, &pos, &key, &v)) {
        struct tnode *tn = v;
        const struct node *cur = store_get(s, tn->path);
        if ((cur ? cur->gen : 0) != tn->base_gen)
            return EAGAIN;
        if (!tn->written)
            continue;
        if (cur && cur->perms.p[0].id == r->c->domid)
            delta--;
        if (tn->n && tn->n->perms.p[0].id == r->c->domid)
            delta++;
    }
    if (!r->who.priv && delta > 0 && store_owned(s, r->c->domid) + (unsigned long)delta > Q_NODES)
        return ENOSPC;

    pos = 0;
    while (strmap_next(t->nodes, &pos, &key, &v)) {
        struct tnode *tn = v;
        if (!tn->written)
            continue;
        if (tn->n) {
            store_put(s, tn->n);
            tn->n = NULL;
        } else {
            store_del(s, tn->path);
        }
    }
    for (struct change *ch = t->changes; ch; ch = ch->next)
        fire_now(r->x, ch->path, ch->exact, &ch->perms, ch->has_old ? &ch->old : NULL);
    return 0;
}

int op_transaction_end(struct req *r)
{
    const char *arg = req_onearg(r);
    if (!arg || (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0))
        return EINVAL;
    struct txn *t = r->t;
    if (!t)
        return ENOENT;
    unlink_txn(r->c, t);
    r->t = NULL;   /* the commit works on the store */
    int e = arg[0] == 'T' ? commit(r, t) : 0;
    txn_free(t);
    if (e)
        return e;
    reply_ack(r);
    return 0;
}

void conn_drop_txns(struct conn *c)
{
    while (c->txns) {
        struct txn *t = c->txns;
        unlink_txn(c, t);
        txn_free(t);
    }
}
