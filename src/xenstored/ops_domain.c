/* Domains: introduce, release, and the small domain and control requests. */
#include "xsd_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

struct dom *dom_find(struct xsd *x, unsigned domid)
{
    for (struct dom *d = x->doms; d; d = d->next)
        if (d->domid == domid)
            return d;
    return NULL;
}

xerr *dom_add(struct xsd *x, unsigned domid, struct dom **out)
{
    struct dom *d = xcalloc(1, sizeof(*d));
    d->domid = domid;
    d->listen_fd = -1;
    d->pfd = -1;
    if (x->dom_dir) {
        d->sock_path = xasprintf("%s/%u", x->dom_dir, domid);
        xerr *e = sock_listen(d->sock_path, &d->listen_fd);
        if (e) {
            free(d->sock_path);
            free(d);
            return e;
        }
    }
    d->next = x->doms;
    x->doms = d;
    x->st.dirty = true;
    if (out)
        *out = d;
    return NULL;
}

void dom_release(struct xsd *x, unsigned domid)
{
    for (struct dom **pp = &x->doms; *pp; pp = &(*pp)->next) {
        struct dom *d = *pp;
        if (d->domid != domid)
            continue;
        for (struct conn *c = x->conns; c; c = c->next)
            if (c->dom == d)
                conn_kill(x, c);
        for (struct dom *o = x->doms; o; o = o->next)
            if (o->has_target && o->target == domid)
                o->has_target = false;
        if (d->listen_fd >= 0) {
            close(d->listen_fd);
            unlink(d->sock_path);
        }
        *pp = d->next;
        free(d->sock_path);
        free(d);
        x->st.dirty = true;
        break;
    }
    store_forget_domain(&x->st, domid);
    fire_special(x, "@releaseDomain");
}

/* A domid argument naming a domain other than dom0. */
static int domid_arg(const char *s, unsigned *out)
{
    if (!s || !parse_domid(s, out) || *out > DOMID_MAX)
        return EINVAL;
    return 0;
}

int op_introduce(struct req *r)
{
    const char *vec[3];
    if (req_strings(r, vec, 3) < 3)
        return EINVAL;
    unsigned domid;
    if (domid_arg(vec[0], &domid))
        return EINVAL;
    /* The ring frame (vec[1]) means nothing here; the event channel must be sane. */
    char *end;
    unsigned long port = strtoul(vec[2], &end, 10);
    if (!vec[2][0] || *end || port == 0 || port > UINT32_MAX)
        return EINVAL;
    if (domid != 0 && !dom_find(r->x, domid)) {
        xerr *e = dom_add(r->x, domid, NULL);
        if (e) {
            char *s = xerr_str(e);
            log_error("xenstored: cannot introduce domain %u: %s", domid, s);
            free(s);
            xerr_free(e);
            return EIO;
        }
        fire_special(r->x, "@introduceDomain");
        /* The toolstack treats an introduced domain as built: make the tree it just
         * wrote durable before it hears so (the simulator dies with the daemon). */
        save_now(r->x);
    }
    reply_ack(r);
    return 0;
}

static int existing_domain(struct req *r, const char *arg, struct dom **out)
{
    unsigned domid;
    if (domid_arg(arg, &domid) || domid == 0)
        return EINVAL;
    *out = dom_find(r->x, domid);
    return *out ? 0 : ENOENT;
}

int op_release(struct req *r)
{
    struct dom *d;
    int e = existing_domain(r, req_onearg(r), &d);
    if (e)
        return e;
    dom_release(r->x, d->domid);
    save_now(r->x);
    reply_ack(r);
    return 0;
}

int op_resume(struct req *r)
{
    struct dom *d;
    int e = existing_domain(r, req_onearg(r), &d);
    if (e)
        return e;
    reply_ack(r);
    return 0;
}

int op_is_domain_introduced(struct req *r)
{
    unsigned domid;
    if (domid_arg(req_onearg(r), &domid))
        return EINVAL;
    bool yes = domid == 0 || dom_find(r->x, domid);
    reply(r, XS_IS_DOMAIN_INTRODUCED, yes ? "T" : "F", 2);
    return 0;
}

int op_get_domain_path(struct req *r)
{
    unsigned domid;
    if (domid_arg(req_onearg(r), &domid))
        return EINVAL;
    char path[32];
    int n = snprintf(path, sizeof(path), "/local/domain/%u", domid);
    reply(r, XS_GET_DOMAIN_PATH, path, (size_t)n + 1);
    return 0;
}

int op_set_target(struct req *r)
{
    const char *vec[2];
    if (req_strings(r, vec, 2) < 2)
        return EINVAL;
    struct dom *d, *t;
    int e = existing_domain(r, vec[0], &d);
    if (!e)
        e = existing_domain(r, vec[1], &t);
    if (e)
        return e;
    d->has_target = true;
    d->target = t->domid;
    reply_ack(r);
    return 0;
}

int op_control(struct req *r)
{
    const char *vec[2];
    unsigned n = req_strings(r, vec, 2);
    if (n < 1)
        return EINVAL;
    const char *cmd = vec[0];
    char out[256];
    if (strcmp(cmd, "help") == 0) {
        snprintf(out, sizeof(out), "check\nquota\nprint <string>\nhelp\n");
    } else if (strcmp(cmd, "check") == 0) {
        snprintf(out, sizeof(out), "OK");
    } else if (strcmp(cmd, "quota") == 0) {
        snprintf(out, sizeof(out),
                 "Nodes per domain: %d\nWatches per domain: %d\nTransactions per domain: %d\n"
                 "Node size: %d\nPermissions per node: %d\nNodes per transaction: %d\n",
                 Q_NODES, Q_WATCHES, Q_TXNS, Q_ENTRY_SIZE, Q_PERMS, Q_TXN_NODES);
    } else if (strcmp(cmd, "print") == 0 && n >= 2) {
        log_info("xenstored: %s", vec[1]);
        snprintf(out, sizeof(out), "OK");
    } else {
        return EINVAL;
    }
    reply(r, XS_CONTROL, out, strlen(out) + 1);
    return 0;
}
