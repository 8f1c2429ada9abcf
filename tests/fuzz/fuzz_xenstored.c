/* The simulator's xenstore server (src/xenstored), fed the bytes a client connection
 * sends, through the server's own framing (conn_read on a socketpair) and dispatch, on
 * this thread instead of the server's.  Input: one mode byte, then the byte stream.
 *   mode & 3 == 0: the stream is dom0's (privileged socket);
 *           == 1: it is domain 1's, introduced first with its home as a toolstack makes it;
 *           == 2 or 3: its messages go alternately to dom0 and to domain 1;
 *   mode & 4: domain 1 dies at the end (xsd_domain_released's path).
 * Each connection then hangs up, with whatever transactions and watches it left. */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/xenstored/xsd_int.h"

#define GUEST 1u

struct end {
    struct conn *c;
    int peer;              /* the client's end of the socketpair */
};

static struct end open_end(struct xsd *x, struct dom *d)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("fuzz: socketpair");
        abort();
    }
    return (struct end){conn_new(x, sv[0], d), sv[1]};
}

static void drain(int fd)
{
    char sink[65536];
    while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
}

/* Serve what is buffered, sending replies and events out and throwing them away. */
static void serve(struct xsd *x, struct end *ends, size_t n)
{
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < n; i++) {
            if (ends[i].c && conn_ready(ends[i].c)) {
                conn_serve_one(x, ends[i].c);
                more = true;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (!ends[i].c)
                continue;
            /* flush and drain until the queue is out: the socket buffer is smaller */
            while (!ends[i].c->dead && ends[i].c->out) {
                size_t before = ends[i].c->out_bytes;
                conn_flush(x, ends[i].c);
                drain(ends[i].peer);
                if (ends[i].c->out_bytes == before)
                    break;
            }
        }
    }
}

/* Let the server read what the client sent and serve it, until it can take nothing
 * more; true if it took anything. */
static bool pump(struct xsd *x, struct end *ends, size_t n, struct end *e)
{
    bool any = false;
    for (;;) {
        if (!e->c || e->c->dead)
            return any;
        size_t before = e->c->inlen;
        conn_read(x, e->c);
        bool read = e->c->dead || e->c->inlen != before;
        size_t after_read = e->c->inlen;
        serve(x, ends, n);
        bool served = !e->c->dead && e->c->inlen < after_read;
        if (!read && !served)
            return any;
        any = true;
    }
}

/* Push len bytes through one connection as a client would send them. */
static void feed(struct xsd *x, struct end *ends, size_t n, size_t which, const uint8_t *p, size_t len)
{
    struct end *e = &ends[which];
    while (len && e->c && !e->c->dead) {
        ssize_t w = send(e->peer, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            break;
        }
        if (!pump(x, ends, n, e) && w <= 0)
            break;   /* neither side can move: the connection does not read */
    }
    pump(x, ends, n, e);
}

static void send_msg(struct xsd *x, struct end *ends, size_t n, uint32_t type, const char *payload,
                     size_t len)
{
    struct xsd_sockmsg h = {.type = type, .len = (uint32_t)len};
    uint8_t m[HDR_LEN + 64];
    memcpy(m, &h, HDR_LEN);
    memcpy(m + HDR_LEN, payload, len);
    feed(x, ends, n, 0, m, HDR_LEN + len);
}

/* As a toolstack builds a domain: its home, owned by it, then XS_INTRODUCE. */
static struct dom *introduce_guest(struct xsd *x, struct end *ends, size_t n)
{
    static const char home[] = "/local/domain/1";
    static const char perms[] = "/local/domain/1\0n1";
    static const char intro[] = "1\0" "4097\0" "7";
    send_msg(x, ends, n, XS_MKDIR, home, sizeof(home));
    send_msg(x, ends, n, XS_SET_PERMS, perms, sizeof(perms));
    send_msg(x, ends, n, XS_INTRODUCE, intro, sizeof(intro));
    struct dom *d = dom_find(x, GUEST);
    FUZZ_CHECK(d);
    return d;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++, size--;

    struct xsd x = {.listen_fd = -1, .wake_fd = -1};
    pthread_mutex_init(&x.lock, NULL);
    store_init(&x.st);
    struct end ends[2] = {open_end(&x, NULL), {NULL, -1}};
    size_t n = 1;
    if ((mode & 3) != 0) {
        ends[1] = open_end(&x, introduce_guest(&x, ends, 1));
        n = 2;
    }

    if ((mode & 3) <= 1) {
        feed(&x, ends, n, (mode & 3), data, size);
    } else {
        /* one message each in turn; a header that breaks the framing takes the rest */
        size_t which = 0;
        while (size) {
            size_t len = size;
            if (size >= HDR_LEN) {
                struct xsd_sockmsg h;
                memcpy(&h, data, HDR_LEN);
                if (h.len <= XENSTORE_PAYLOAD_MAX && HDR_LEN + h.len < size)
                    len = HDR_LEN + h.len;
            }
            feed(&x, ends, n, which, data, len);
            data += len, size -= len;
            which ^= 1;
        }
    }
    if (mode & 4) {
        dom_release(&x, GUEST);
        serve(&x, ends, n);
    }
    /* every client hangs up: the server sees end of file */
    for (size_t i = 0; i < n; i++) {
        shutdown(ends[i].peer, SHUT_WR);
        pump(&x, ends, n, &ends[i]);
        FUZZ_CHECK(ends[i].c->dead);
        close(ends[i].peer);
    }
    conn_sweep(&x);
    FUZZ_CHECK(x.conns == NULL);
    while (x.doms) {
        struct dom *d = x.doms;
        x.doms = d->next;
        free(d->sock_path);
        free(d);
    }
    store_destroy(&x.st);
    free(x.released);
    pthread_mutex_destroy(&x.lock);
    return 0;
}
