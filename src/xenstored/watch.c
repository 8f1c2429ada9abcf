/* Watches: registration, and the events a change sends. */
#include "xsd_int.h"

#include <errno.h>
#include <string.h>

static void watch_free(struct watch *w)
{
    free(w->path);
    free(w->token);
    free(w);
}

void conn_drop_watches(struct conn *c)
{
    while (c->watches) {
        struct watch *w = c->watches;
        c->watches = w->next;
        if (c->dom)
            c->dom->nwatches--;
        watch_free(w);
    }
}

/* The path an event reports: relative to the home for a watch registered relative. */
static const char *event_path(const struct conn *c, const struct watch *w, const char *path)
{
    if (!w->relative)
        return path;
    size_t l = strlen(c->home);
    if (strncmp(path, c->home, l) != 0)
        return path;
    path += l;
    return *path == '/' ? path + 1 : path;
}

int op_watch(struct req *r)
{
    const char *vec[2];
    if (req_strings(r, vec, 2) != 2)
        return EINVAL;
    char *path;
    bool relative = false;
    if (vec[0][0] == '@') {
        if (strlen(vec[0]) > XENSTORE_REL_PATH_MAX)
            return EINVAL;
        path = xstrdup(vec[0]);
    } else {
        relative = vec[0][0] != '/';
        path = req_canon(r, vec[0]);
        if (!path_valid(path, r->who.priv)) {
            free(path);
            return EINVAL;
        }
    }
    struct conn *c = r->c;
    for (struct watch *w = c->watches; w; w = w->next) {
        if (strcmp(w->path, path) == 0 && strcmp(w->token, vec[1]) == 0) {
            free(path);
            return EEXIST;
        }
    }
    if (c->dom && c->dom->nwatches >= Q_WATCHES) {
        free(path);
        return E2BIG;
    }
    struct watch *w = xcalloc(1, sizeof(*w));
    w->path = path;
    w->token = xstrdup(vec[1]);
    w->relative = relative;
    w->next = c->watches;
    c->watches = w;
    if (c->dom)
        c->dom->nwatches++;
    reply_ack(r);
    /* One event up front, so a client needs no special first read. */
    conn_send_event(r->x, c, event_path(c, w, w->path), w->token);
    return 0;
}

int op_unwatch(struct req *r)
{
    const char *vec[2];
    if (req_strings(r, vec, 2) != 2)
        return EINVAL;
    char *path = req_canon(r, vec[0]);
    struct conn *c = r->c;
    for (struct watch **pp = &c->watches; *pp; pp = &(*pp)->next) {
        struct watch *w = *pp;
        if (strcmp(w->path, path) == 0 && strcmp(w->token, vec[1]) == 0) {
            *pp = w->next;
            if (c->dom)
                c->dom->nwatches--;
            watch_free(w);
            free(path);
            reply_ack(r);
            return 0;
        }
    }
    free(path);
    return ENOENT;
}

int op_reset_watches(struct req *r)
{
    conn_drop_watches(r->c);
    conn_drop_txns(r->c);
    reply_ack(r);
    return 0;
}

/* xenstored's rule: the watcher may read the node (before or after the change) or
 * its parent; otherwise it learns nothing, not even that the node changed. */
static bool permitted(struct xsd *x, const struct conn *c, const char *path,
                      const struct perms *perms, const struct perms *old)
{
    struct who w;
    conn_who(c, &w);
    if (w.priv)
        return true;
    if (old && (perm_for(&w, old) & XS_PERM_READ))
        return true;
    if (perms && (perm_for(&w, perms) & XS_PERM_READ))
        return true;
    if (strcmp(path, "/") == 0)
        return false;
    char *parent = path_parent(path);
    const struct node *p = store_get(&x->st, parent);
    free(parent);
    return p && (perm_for(&w, &p->perms) & XS_PERM_READ);
}

void fire_now(struct xsd *x, const char *path, bool exact, const struct perms *perms,
              const struct perms *old)
{
    for (struct conn *c = x->conns; c; c = c->next) {
        if (c->dead || !c->watches)
            continue;
        bool checked = false, ok = false;
        /* An event may cut a dom0 connection that stopped reading, freeing its watches. */
        for (struct watch *w = c->watches; w; w = w->next) {
            bool match = exact ? strcmp(w->path, path) == 0 : path_is_below(path, w->path);
            if (!match)
                continue;
            if (!checked) {
                ok = permitted(x, c, path, perms, old);
                checked = true;
            }
            if (ok)
                conn_send_event(x, c, event_path(c, w, path), w->token);
            if (c->dead)
                break;
        }
    }
}

void fire(struct req *r, const char *path, bool exact, const struct perms *perms,
          const struct perms *old)
{
    if (!r->t) {
        fire_now(r->x, path, exact, perms, old);
        return;
    }
    /* One record per path, so a transaction's memory stays bounded by what it touched. */
    struct change *ch = strmap_get(r->t->changed, path);
    if (ch) {
        ch->exact = ch->exact && exact;
        perms_free(&ch->perms);
    } else {
        ch = xcalloc(1, sizeof(*ch));
        ch->path = xstrdup(path);
        ch->exact = exact;
        strmap_put(r->t->changed, ch->path, ch);
        *r->t->changes_tail = ch;
        r->t->changes_tail = &ch->next;
    }
    perms_copy(&ch->perms, perms);
    if (old && !ch->has_old) {
        perms_copy(&ch->old, old);
        ch->has_old = true;
    }
}

void fire_special(struct xsd *x, const char *name)
{
    const struct perms *p = store_special(&x->st, name);
    for (struct conn *c = x->conns; c; c = c->next) {
        if (c->dead)
            continue;
        struct who w;
        conn_who(c, &w);
        if (!w.priv && !(p && (perm_for(&w, p) & XS_PERM_READ)))
            continue;
        for (struct watch *wt = c->watches; wt; wt = wt->next) {
            if (strcmp(wt->path, name) == 0)
                conn_send_event(x, c, name, wt->token);
            if (c->dead)
                break;
        }
    }
}
