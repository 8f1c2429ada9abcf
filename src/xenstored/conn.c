/* Connections: framing, bounded input and output queues, watch event delivery. */
#include "xsd_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

struct conn *conn_new(struct xsd *x, int fd, struct dom *d)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->pfd = -1;
    c->priv = d == NULL;
    c->domid = d ? d->domid : 0;
    c->dom = d;
    c->home = xasprintf("/local/domain/%u", c->domid);
    c->pending = strmap_new();
    c->next_txid = 1;
    if (d)
        d->nconns++;
    /* Append, so the loop serves connections in the order they came. */
    struct conn **pp = &x->conns;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    return c;
}

void conn_who(const struct conn *c, struct who *w)
{
    w->priv = c->priv;
    w->domid = c->domid;
    w->has_target = c->dom && c->dom->has_target;
    w->target = c->dom ? c->dom->target : 0;
}

static void out_free_all(struct conn *c)
{
    while (c->out) {
        struct outmsg *m = c->out;
        c->out = m->next;
        if (m->evkey)
            strmap_remove(c->pending, m->evkey);
        free(m->evkey);
        free(m);
    }
    c->out_tail = NULL;
    c->out_bytes = 0;
}

void conn_kill(struct xsd *x, struct conn *c)
{
    (void)x;
    if (c->dead)
        return;
    c->dead = true;
    conn_drop_watches(c);
    conn_drop_txns(c);
    out_free_all(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->dom)
        c->dom->nconns--;
    c->dom = NULL;
    log_debug("xenstored: connection of domain %u closed", c->domid);
}

void conn_sweep(struct xsd *x)
{
    struct conn **pp = &x->conns;
    while (*pp) {
        struct conn *c = *pp;
        if (!c->dead) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        strmap_free(c->pending, NULL);
        free(c->home);
        free(c);
    }
}

static size_t msg_len(const struct conn *c)
{
    struct xsd_sockmsg h;
    memcpy(&h, c->in, HDR_LEN);
    return HDR_LEN + h.len;
}

void conn_read(struct xsd *x, struct conn *c)
{
    if (c->dead || c->inlen == IN_BUF)
        return;
    ssize_t n = recv(c->fd, c->in + c->inlen, IN_BUF - c->inlen, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_kill(x, c);
        return;
    }
    c->inlen += (size_t)n;
    if (c->inlen >= HDR_LEN) {
        struct xsd_sockmsg h;
        memcpy(&h, c->in, HDR_LEN);
        if (h.len > XENSTORE_PAYLOAD_MAX) {
            /* Framing is lost: nothing after this can be trusted. */
            log_warn("xenstored: domain %u sent a %u-byte payload, closing", c->domid, h.len);
            conn_kill(x, c);
        }
    }
}

bool conn_ready(const struct conn *c)
{
    return !c->dead && c->out_bytes <= OUT_SOFT && c->inlen >= HDR_LEN &&
           c->inlen >= msg_len(c);
}

void conn_serve_one(struct xsd *x, struct conn *c)
{
    struct req r = {.x = x, .c = c};
    memcpy(&r.hdr, c->in, HDR_LEN);
    size_t total = HDR_LEN + r.hdr.len;
    r.data = xmalloc((size_t)r.hdr.len + 1);
    memcpy(r.data, c->in + HDR_LEN, r.hdr.len);
    r.data[r.hdr.len] = 0;
    memmove(c->in, c->in + total, c->inlen - total);
    c->inlen -= total;
    conn_who(c, &r.who);
    req_dispatch(&r);
    free(r.data);
    /* The next header may already be here and be bad. */
    if (!c->dead && c->inlen >= HDR_LEN) {
        struct xsd_sockmsg h;
        memcpy(&h, c->in, HDR_LEN);
        if (h.len > XENSTORE_PAYLOAD_MAX) {
            log_warn("xenstored: domain %u sent a %u-byte payload, closing", c->domid, h.len);
            conn_kill(x, c);
        }
    }
}

static void enqueue(struct conn *c, struct outmsg *m)
{
    m->next = NULL;
    if (c->out_tail)
        c->out_tail->next = m;
    else
        c->out = m;
    c->out_tail = m;
    c->out_bytes += m->len;
}

static struct outmsg *msg_make(uint32_t type, uint32_t req_id, uint32_t tx_id,
                               const void *data, size_t len)
{
    struct outmsg *m = xmalloc(sizeof(*m) + HDR_LEN + len);
    struct xsd_sockmsg h = {.type = type, .req_id = req_id, .tx_id = tx_id, .len = (uint32_t)len};
    memcpy(m->data, &h, HDR_LEN);
    if (len)
        memcpy(m->data + HDR_LEN, data, len);
    m->len = HDR_LEN + len;
    m->off = 0;
    m->evkey = NULL;
    return m;
}

void conn_send(struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
               const void *data, size_t len)
{
    if (c->dead)
        return;
    enqueue(c, msg_make(type, req_id, tx_id, data, len));
}

void conn_send_event(struct xsd *x, struct conn *c, const char *path, const char *token)
{
    if (c->dead)
        return;
    size_t pl = strlen(path), tl = strlen(token);
    if (pl + tl + 2 > XENSTORE_PAYLOAD_MAX)
        return;   /* as xenstored: an event that cannot be framed is not sent */
    /* Paths hold no newline, so "path\ntoken" names an event unambiguously.  An event
     * still queued need not be queued twice: the client will read the node later. */
    char *key = NULL;
    if (path[0] != '@') {
        key = xasprintf("%s\n%s", path, token);
        if (strmap_get(c->pending, key)) {
            free(key);
            return;
        }
    }
    if (c->out_bytes > (c->priv ? OUT_PRIV_MAX : OUT_SOFT)) {
        free(key);
        if (c->priv) {
            log_warn("xenstored: a dom0 connection does not read its watch events, closing");
            conn_kill(x, c);
            return;
        }
        if (c->dropped++ % 1000 == 0)
            log_warn("xenstored: domain %u does not read its watch events, dropping some",
                     c->domid);
        return;
    }
    char *payload = xmalloc(pl + tl + 2);
    memcpy(payload, path, pl + 1);
    memcpy(payload + pl + 1, token, tl + 1);
    struct outmsg *m = msg_make(XS_WATCH_EVENT, 0, 0, payload, pl + tl + 2);
    free(payload);
    m->evkey = key;
    if (key)
        strmap_put(c->pending, key, m);
    enqueue(c, m);
}

void conn_flush(struct xsd *x, struct conn *c)
{
    while (!c->dead && c->out) {
        struct outmsg *m = c->out;
        ssize_t n = send(c->fd, m->data + m->off, m->len - m->off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn_kill(x, c);
            return;
        }
        m->off += (size_t)n;
        c->out_bytes -= (size_t)n;
        if (m->off < m->len)
            return;
        c->out = m->next;
        if (!c->out)
            c->out_tail = NULL;
        if (m->evkey)
            strmap_remove(c->pending, m->evkey);
        free(m->evkey);
        free(m);
    }
}
