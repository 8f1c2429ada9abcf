/* A small HTTP/1.1 XML-RPC client over TCP or a unix socket, keeping its connection
 * alive between calls.  xmlrpc-c's own client (libcurl) cannot reach a unix socket,
 * which is how local tools talk to the daemon. */
#include "rpc.h"
#include "dm_gen.h"
#include "wire.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct rpc_client {
    char *unix_path;             /* or: */
    char *host, *port, *path;
    int fd;
    buf in;                      /* bytes read past the last response */
};

xerr *rpc_client_open(const char *url, struct rpc_client **out)
{
    struct rpc_client *c = xcalloc(1, sizeof(*c));
    c->fd = -1;
    buf_init(&c->in);
    if (str_startswith(url, "unix:")) {
        c->unix_path = xstrdup(url + 5);
        c->path = xstrdup("/");
    } else if (str_startswith(url, "http://")) {
        const char *h = url + 7, *slash = strchr(h, '/');
        _cleanup_free_ char *hostport = slash ? xstrndup(h, (size_t)(slash - h)) : xstrdup(h);
        c->path = xstrdup(slash ? slash : "/");
        char *colon = hostport[0] == '[' ? strstr(hostport, "]:") : strrchr(hostport, ':');
        if (colon && hostport[0] == '[')
            colon++;
        if (colon) {
            *colon = 0;
            c->port = xstrdup(colon + 1);
        } else {
            c->port = xstrdup("80");
        }
        if (hostport[0] == '[') {
            size_t n = strlen(hostport);
            c->host = xstrndup(hostport + 1, n >= 2 ? n - 2 : 0);
        } else {
            c->host = xstrdup(hostport);
        }
    } else {
        free(c);
        return err_invalid_value("url", url);
    }
    *out = c;
    return NULL;
}

void rpc_client_close(struct rpc_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    buf_free(&c->in);
    free(c->unix_path);
    free(c->host);
    free(c->port);
    free(c->path);
    free(c);
}

static xerr *connect_to(struct rpc_client *c)
{
    if (c->unix_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(c->unix_path) >= sizeof(sa.sun_path))
            return xerr_internal("socket path too long: %s", c->unix_path);
        strcpy(sa.sun_path, c->unix_path);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            xerr *e = xerr_internal("cannot connect to %s: %s", c->unix_path, strerror(errno));
            if (c->fd >= 0)
                close(c->fd);
            c->fd = -1;
            return e;
        }
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai, *p;
    int rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc)
        return xerr_internal("cannot resolve %s: %s", c->host, gai_strerror(rc));
    int err = 0;
    for (p = ai; p; p = p->ai_next) {
        c->fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd >= 0 && connect(c->fd, p->ai_addr, p->ai_addrlen) == 0)
            break;
        err = errno;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(ai);
    if (c->fd < 0)
        return xerr_internal("cannot connect to %s port %s: %s", c->host, c->port, strerror(err));
    return NULL;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read more bytes into c->in; false on EOF or error. */
static bool fill(struct rpc_client *c)
{
    buf_reserve(&c->in, 65536);
    ssize_t r;
    do
        r = read(c->fd, c->in.p + c->in.len, 65536);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return false;
    c->in.len += (size_t)r;
    c->in.p[c->in.len] = 0;
    return true;
}

static void consume(buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = 0;
}

/* One response: status line, headers, Content-Length body. */
static xerr *read_response(struct rpc_client *c, buf *body, bool *closed)
{
    char *end;
    while (!c->in.p || !(end = strstr(c->in.p, "\r\n\r\n")))
        if (!fill(c)) {
            *closed = c->in.len == 0;
            return xerr_internal("the server closed the connection");
        }
    size_t hlen = (size_t)(end - c->in.p) + 4;
    int status = 0;
    sscanf(c->in.p, "HTTP/%*d.%*d %d", &status);
    long long clen = -1;
    bool keep = true;
    for (char *line = strstr(c->in.p, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        char *h = line + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = atoll(h + 15);
        else if (strncasecmp(h, "Connection:", 11) == 0 && strstr(h, "close") && strstr(h, "close") < strstr(h, "\r\n"))
            keep = false;
    }
    if (clen < 0)
        return xerr_internal("HTTP response without Content-Length (status %d)", status);
    consume(&c->in, hlen);
    while (c->in.len < (size_t)clen)
        if (!fill(c))
            return xerr_internal("the server closed the connection mid-response");
    buf_add(body, c->in.p, (size_t)clen);
    consume(&c->in, (size_t)clen);
    if (!keep) {
        close(c->fd);
        c->fd = -1;
    }
    if (status != 200)
        return xerr_internal("HTTP status %d: %.*s", status, (int)(body->len > 200 ? 200 : body->len),
                             body->p ? body->p : "");
    return NULL;
}

xerr *rpc_client_call(struct rpc_client *c, const char *method, const xv *params, xv **result)
{
    *result = NULL;
    buf req, body;
    buf_init(&req);
    buf_init(&body);
    wire_xmlrpc_write_call(&body, method, params);
    buf_printf(&req,
               "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xenapid\r\nContent-Type: text/xml\r\n"
               "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n",
               c->path, c->host ? c->host : "localhost", body.len);
    buf_add(&req, body.p, body.len);
    buf_reset(&body);
    xerr *e = NULL;
    /* a kept-alive connection the server has since closed gets one fresh retry */
    for (int attempt = 0; attempt < 2; attempt++) {
        bool fresh = c->fd < 0, closed = false;
        if (fresh && (e = connect_to(c)) != NULL)
            break;
        buf_reset(&c->in);
        if (!send_all(c->fd, req.p, req.len)) {
            e = xerr_internal("cannot send the request: %s", strerror(errno));
            closed = true;
        } else {
            e = read_response(c, &body, &closed);
        }
        if (!e || fresh || !closed)
            break;
        close(c->fd);
        c->fd = -1;
        xerr_free(e);
        e = NULL;
    }
    buf_free(&req);
    if (e) {
        if (c->fd >= 0) {
            close(c->fd);
            c->fd = -1;
        }
        buf_free(&body);
        return e;
    }
    xv *env = NULL;
    e = wire_xmlrpc_parse_response(body.p ? body.p : "", body.len, &env);
    buf_free(&body);
    if (!e)
        e = wire_unwrap(env, result);
    xv_free(env);
    return e;
}
