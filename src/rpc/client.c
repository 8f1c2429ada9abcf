/* A small HTTP/1.1 XML-RPC client over TCP, TLS (GnuTLS) or a unix socket, keeping its
 * connection alive between calls.  xmlrpc-c's own client (libcurl) cannot reach a unix
 * socket, which is how local tools talk to the daemon, nor show us the server's
 * certificate before it sends the request, which pinning needs. */
#include "rpc.h"
#include "dm_gen.h"
#include "tls.h"
#include "wire.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct rpc_client {
    char *unix_path;             /* or: */
    char *host, *port, *path;
    bool tls;
    rpc_cert_check check;
    void *check_ctx;
    gnutls_certificate_credentials_t cred;   /* made at the first TLS connection */
    gnutls_session_t session;                /* the live connection's, when tls */
    int fd;
    buf in;                      /* bytes read past the last response */
    double keepalive;            /* the server's keep-alive timeout, as we take it */
    double last_used;            /* when the last response had come (now_monotonic) */
};

/* host[:port][/path] after the scheme */
static void parse_hostport(struct rpc_client *c, const char *h, const char *default_port)
{
    const char *slash = strchr(h, '/');
    _cleanup_free_ char *hostport = slash ? xstrndup(h, (size_t)(slash - h)) : xstrdup(h);
    c->path = xstrdup(slash ? slash : "/");
    char *colon = hostport[0] == '[' ? strstr(hostport, "]:") : strrchr(hostport, ':');
    if (colon && hostport[0] == '[')
        colon++;
    if (colon) {
        *colon = 0;
        c->port = xstrdup(colon + 1);
    } else {
        c->port = xstrdup(default_port);
    }
    if (hostport[0] == '[') {
        size_t n = strlen(hostport);
        c->host = xstrndup(hostport + 1, n >= 2 ? n - 2 : 0);
    } else {
        c->host = xstrdup(hostport);
    }
}

xerr *rpc_client_open(const char *url, struct rpc_client **out)
{
    struct rpc_client *c = xcalloc(1, sizeof(*c));
    c->fd = -1;
    c->keepalive = RPC_KEEPALIVE_TIMEOUT;
    buf_init(&c->in);
    if (str_startswith(url, "unix:")) {
        c->unix_path = xstrdup(url + 5);
        c->path = xstrdup("/");
    } else if (str_startswith(url, "http://")) {
        parse_hostport(c, url + 7, "80");
    } else if (str_startswith(url, "https://")) {
        c->tls = true;
        parse_hostport(c, url + 8, "443");
    } else {
        free(c);
        return err_invalid_value("url", url);
    }
    *out = c;
    return NULL;
}

void rpc_client_set_cert_check(struct rpc_client *c, rpc_cert_check check, void *ctx)
{
    c->check = check;
    c->check_ctx = ctx;
}

void rpc_client_set_keepalive(struct rpc_client *c, double seconds)
{
    c->keepalive = seconds > 0 ? seconds : RPC_KEEPALIVE_TIMEOUT;
}

static void disconnect(struct rpc_client *c)
{
    if (c->session) {
        /* close_notify only: waiting for the server's would stall on a dead peer */
        gnutls_bye(c->session, GNUTLS_SHUT_WR);
        gnutls_deinit(c->session);
        c->session = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

void rpc_client_close(struct rpc_client *c)
{
    if (!c)
        return;
    disconnect(c);
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    buf_free(&c->in);
    free(c->unix_path);
    free(c->host);
    free(c->port);
    free(c->path);
    free(c);
}

static xerr *connect_unix(struct rpc_client *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(c->unix_path) >= sizeof(sa.sun_path))
        return xerr_internal("socket path too long: %s", c->unix_path);
    strcpy(sa.sun_path, c->unix_path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        xerr *e = xerr_internal("cannot connect to %s: %s", c->unix_path, strerror(errno));
        disconnect(c);
        return e;
    }
    return NULL;
}

static xerr *connect_tcp(struct rpc_client *c)
{
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
        disconnect(c);
    }
    freeaddrinfo(ai);
    if (c->fd < 0)
        return xerr_internal("cannot connect to %s port %s: %s", c->host, c->port, strerror(err));
    return NULL;
}

static bool is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* The server's certificate, as the check sees it. */
static xerr *peer_fingerprint(struct rpc_client *c, char out[RPC_FINGERPRINT_LEN + 1])
{
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(c->session, &n);
    if (!certs || n == 0)
        return xerr_internal("%s port %s sent no certificate", c->host, c->port);
    unsigned char md[32];
    size_t len = sizeof(md);
    int rc = gnutls_fingerprint(GNUTLS_DIG_SHA256, &certs[0], md, &len);
    if (rc < 0 || len != sizeof(md))
        return xerr_internal("cannot hash the certificate of %s: %s", c->host, gnutls_strerror(rc));
    for (size_t i = 0; i < len; i++)
        snprintf(out + 3 * i, 4, i + 1 < len ? "%02X:" : "%02X", md[i]);
    return NULL;
}

bool rpc_fingerprint_parse(const char *in, char out[RPC_FINGERPRINT_LEN + 1])
{
    const char *eq = strrchr(in, '=');
    if (eq)
        in = eq + 1;
    if (strncasecmp(in, "sha256:", 7) == 0)
        in += 7;
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == ':' || *p == ' ')
            continue;
        if (!isxdigit((unsigned char)*p) || n == 64)
            return false;
        out[n / 2 * 3 + n % 2] = (char)toupper((unsigned char)*p);
        if (n % 2 && n < 63)
            out[n / 2 * 3 + 2] = ':';
        n++;
    }
    out[RPC_FINGERPRINT_LEN] = 0;
    return n == 64;
}

static xerr *tls_fail(struct rpc_client *c, const char *what, int rc)
{
    xerr *e = xerr_internal("%s with %s port %s: %s", what, c->host, c->port, gnutls_strerror(rc));
    disconnect(c);
    return e;
}

static xerr *start_tls(struct rpc_client *c)
{
    int rc;
    if (!c->cred) {
        if ((rc = gnutls_certificate_allocate_credentials(&c->cred)) < 0)
            return tls_fail(c, "TLS set-up", rc);
        /* without a check, the system's CAs decide */
        if (!c->check && (rc = gnutls_certificate_set_x509_system_trust(c->cred)) < 0)
            return tls_fail(c, "loading the system's trusted CAs", rc);
    }
    if ((rc = gnutls_init(&c->session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL)) < 0)
        return tls_fail(c, "TLS set-up", rc);
    const char *errpos = NULL;
    /* TLS 1.2 and 1.3 only, as the server */
    if ((rc = gnutls_priority_set_direct(c->session, TLS_PRIORITIES, &errpos)) < 0 ||
        (rc = gnutls_credentials_set(c->session, GNUTLS_CRD_CERTIFICATE, c->cred)) < 0)
        return tls_fail(c, "TLS set-up", rc);
    if (!is_ip_literal(c->host) &&
        (rc = gnutls_server_name_set(c->session, GNUTLS_NAME_DNS, c->host, strlen(c->host))) < 0)
        return tls_fail(c, "TLS set-up", rc);
    if (!c->check)
        gnutls_session_set_verify_cert(c->session, c->host, 0);
    gnutls_transport_set_int(c->session, c->fd);
    gnutls_handshake_set_timeout(c->session, GNUTLS_DEFAULT_HANDSHAKE_TIMEOUT);
    do
        rc = gnutls_handshake(c->session);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
        gnutls_datum_t why = {0};
        gnutls_certificate_verification_status_print(gnutls_session_get_verify_cert_status(c->session),
                                                     GNUTLS_CRT_X509, &why, 0);
        xerr *e = xerr_internal("the certificate of %s port %s is not trusted: %s", c->host, c->port,
                                why.data ? (const char *)why.data : "");
        gnutls_free(why.data);
        disconnect(c);
        return e;
    }
    if (rc < 0)
        return tls_fail(c, "TLS handshake", rc);
    if (c->check) {
        char fp[RPC_FINGERPRINT_LEN + 1];
        xerr *e = peer_fingerprint(c, fp);
        if (!e)
            e = c->check(c->check_ctx, c->host, c->port, fp);
        if (e) {
            disconnect(c);
            return e;
        }
    }
    return NULL;
}

static xerr *connect_to(struct rpc_client *c)
{
    if (c->unix_path)
        return connect_unix(c);
    xerr *e = connect_tcp(c);
    if (!e && c->tls)
        e = start_tls(c);
    return e;
}

static bool send_all(struct rpc_client *c, const char *p, size_t n)
{
    if (!c->session)
        return write_all(c->fd, p, n);
    while (n) {
        ssize_t w = gnutls_record_send(c->session, p, n);
        if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* A kept connection the server has closed since (its idle timeout, a restart) is
 * readable: its FIN, or a TLS close_notify, waits there, as nothing else may between
 * two answers.  It is opened anew before the request goes, not found closed after. */
static bool closed_while_idle(struct rpc_client *c)
{
    if (c->session && gnutls_record_check_pending(c->session) > 0)
        return true;
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

/* The check above cannot see a close that is yet to come: a server whose keep-alive
 * timer fires as the request travels closes a connection that never ran the call.
 * Well before that timer, a kept connection is still safe to send anything on. */
static bool idle_too_long(const struct rpc_client *c)
{
    return now_monotonic() - c->last_used > c->keepalive / 2;
}

/* Whether a call whose connection closed after it was sent, with no answer, may go
 * again: the server may have run it before it went (a crash, a restart), and only a
 * read runs twice harmlessly (XenAPI's reads are its get_ messages, and event.from).
 * Anything else fails: its caller is told the link failed, not that it did not run. */
static bool resend_safe(const char *method)
{
    if (!method || str_startswith(method, "Async."))
        return false;
    const char *dot = strrchr(method, '.');
    return str_startswith(dot ? dot + 1 : method, "get_") || strcmp(method, "event.from") == 0;
}

/* Read more bytes into c->in; false on EOF or error (a TLS peer that closed without
 * close_notify included: what counts is whether a whole response came). */
static bool fill(struct rpc_client *c)
{
    buf_reserve(&c->in, 65536);
    ssize_t r;
    for (;;) {
        if (c->session) {
            r = gnutls_record_recv(c->session, c->in.p + c->in.len, 65536);
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                continue;
        } else {
            r = read(c->fd, c->in.p + c->in.len, 65536);
            if (r < 0 && errno == EINTR)
                continue;
        }
        break;
    }
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

/* A chunked body (a big answer the server streams) into body; c->in starts at it. */
static xerr *read_chunked(struct rpc_client *c, buf *body)
{
    for (;;) {
        char *eol;
        while (!(eol = strstr(c->in.p, "\r\n")))
            if (c->in.len > 1024 || !fill(c))
                return xerr_internal("the server closed the connection mid-response");
        char *end;
        unsigned long long size = strtoull(c->in.p, &end, 16);
        if (end == c->in.p || (*end != '\r' && *end != ';'))
            return xerr_internal("the server sent a malformed chunk");
        /* a size near 2^64 wrapped the sums below and copied past what was read
         * (fuzz_peer): no chunk bigger than memory can hold is read */
        if (size > SIZE_MAX / 2)
            return xerr_internal("the server sent a chunk of %llu bytes", size);
        size_t head = (size_t)(eol - c->in.p) + 2;
        if (size == 0) { /* the last chunk; no trailers come from the servers we talk to */
            while (c->in.len < head + 2)
                if (!fill(c))
                    return xerr_internal("the server closed the connection mid-response");
            consume(&c->in, head + 2);
            return NULL;
        }
        while (c->in.len < head + size + 2)
            if (!fill(c))
                return xerr_internal("the server closed the connection mid-response");
        buf_add(body, c->in.p + head, (size_t)size);
        consume(&c->in, head + (size_t)size + 2);
    }
}

/* No server of ours sends a response head near this (a few hundred bytes). */
#define RPC_MAX_HEAD (64 << 10)

/* Reads until c->in holds a whole response head: *hlen its length through the blank
 * line, or 0 when the connection ended first; *status the status line's code (0 if
 * it has none).  A head that never ends (or holds a
 * NUL, where strstr stops) would grow the buffer for as long as the peer sends: past
 * RPC_MAX_HEAD it is an error. */
static xerr *read_head(struct rpc_client *c, size_t *hlen, int *status)
{
    char *end;
    *hlen = 0;
    *status = 0;
    while (!c->in.p || !(end = strstr(c->in.p, "\r\n\r\n"))) {
        if (c->in.len > RPC_MAX_HEAD)
            return xerr_internal("the server sent a response head over %d bytes", RPC_MAX_HEAD);
        if (!fill(c))
            return NULL;
    }
    *hlen = (size_t)(end - c->in.p) + 4;
    sscanf(c->in.p, "HTTP/%*d.%*d %d", status);
    return NULL;
}

/* One response: status line, headers, a Content-Length or chunked body. */
static xerr *read_response(struct rpc_client *c, buf *body, bool *closed)
{
    size_t hlen;
    int status;
    xerr *e = read_head(c, &hlen, &status);
    if (e)
        return e;
    if (!hlen) {
        *closed = c->in.len == 0;
        return xerr_internal("the server closed the connection without answering (the call may have run)");
    }
    char *end = c->in.p + hlen - 4;
    long long clen = -1;
    bool keep = true, chunked = false;
    for (char *line = strstr(c->in.p, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        char *h = line + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = atoll(h + 15);
        else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strcasestr(h, "chunked") &&
                 strcasestr(h, "chunked") < strstr(h, "\r\n"))
            chunked = true;
        else if (strncasecmp(h, "Connection:", 11) == 0 && strstr(h, "close") && strstr(h, "close") < strstr(h, "\r\n"))
            keep = false;
    }
    if (clen < 0 && !chunked)
        return xerr_internal("HTTP response without Content-Length (status %d)", status);
    consume(&c->in, hlen);
    if (chunked) {
        if ((e = read_chunked(c, body)) != NULL)
            return e;
    } else {
        while (c->in.len < (size_t)clen)
            if (!fill(c))
                return xerr_internal("the server closed the connection mid-response");
        buf_add(body, c->in.p, (size_t)clen);
        consume(&c->in, (size_t)clen);
    }
    if (!keep)
        disconnect(c);
    c->last_used = now_monotonic();
    if (status != 200)
        return xerr_internal("HTTP status %d: %.*s", status, (int)(body->len > 200 ? 200 : body->len),
                             body->p ? body->p : "");
    return NULL;
}

/* A JSON-RPC 2.0 answer: its result, or the XenAPI error it carries as
 * {code, message: CODE, data: [params]}. */
static xerr *json_unwrap(const char *text, size_t len, xv **result)
{
    xv *resp = NULL;
    xerr *e = wire_json_parse(text, len, &resp);
    if (e)
        return e;
    const xv *err = resp->type == XV_STRUCT ? xv_struct_get(resp, "error") : NULL;
    const xv *res = resp->type == XV_STRUCT ? xv_struct_get(resp, "result") : NULL;
    if (err && err->type == XV_STRUCT) {
        const char *code = xv_struct_get_str(err, "message");
        const xv *data = xv_struct_get(err, "data");
        xv *list = xv_array();
        xv_array_push(list, xv_string(code ? code : XERR_INTERNAL_ERROR));
        for (size_t i = 0; data && data->type == XV_ARRAY && i < data->u.arr.n; i++)
            if (xv_str(data->u.arr.v[i]))
                xv_array_push(list, xv_dup(data->u.arr.v[i]));
        e = wire_error_from_list(list);
        xv_free(list);
    } else if (res) {
        *result = xv_dup(res);
    } else {
        e = err_jsonrpc_parse_error("the answer has neither result nor error");
    }
    xv_free(resp);
    return e;
}

/* A success as this daemon writes it (src/rpc/protocol.c): the bytes of its value,
 * for relaying unread; NULL for anything else (a failure, another server's form). */
static const char xml_ok_head[] = "<?xml version=\"1.0\"?>\n<methodResponse><params><param><value><struct>"
                                  "<member><name>Status</name><value>Success</value></member>"
                                  "<member><name>Value</name>";
static const char xml_ok_tail[] = "</member></struct></value></param></params></methodResponse>\n";
static const char json_ok_head[] = "{\"jsonrpc\":\"2.0\",\"result\":";
static const char json_ok_tail[] = ",\"id\":1}";

static xv *raw_value(const buf *body, bool json)
{
    const char *head = json ? json_ok_head : xml_ok_head, *tail = json ? json_ok_tail : xml_ok_tail;
    size_t hn = strlen(head), tn = strlen(tail);
    if (!body->p || body->len < hn + tn || memcmp(body->p, head, hn) != 0 ||
        memcmp(body->p + body->len - tn, tail, tn) != 0)
        return NULL;
    size_t n = body->len - hn - tn;
    char *v = xmalloc(n + 1);
    memcpy(v, body->p + hn, n);
    v[n] = 0;
    return xv_raw_take(json ? XV_RAW_JSON : XV_RAW_XMLRPC, v, n);
}

xerr *rpc_client_call(struct rpc_client *c, const char *method, const xv *params, xv **result)
{
    return rpc_client_call_path(c, c->path, false, method, params, result);
}

xerr *rpc_client_call_path(struct rpc_client *c, const char *path, bool raw, const char *method,
                           const xv *params, xv **result)
{
    *result = NULL;
    buf req, body;
    buf_init(&req);
    buf_init(&body);
    /* a path of /jsonrpc speaks JSON-RPC 2.0 (as pool members do), anything else XML-RPC */
    bool json = str_startswith(path, "/jsonrpc");
    if (json) {
        xv *call = xv_struct();
        xv_struct_append(call, "jsonrpc", xv_string("2.0"));
        xv_struct_append(call, "method", xv_string(method));
        xv_struct_append(call, "params", params ? xv_dup(params) : xv_array());
        xv_struct_append(call, "id", xv_int(1));
        wire_json_write(&body, call);
        xv_free(call);
    } else {
        wire_xmlrpc_write_call(&body, method, params);
    }
    buf_printf(&req,
               "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xenapid\r\nContent-Type: %s\r\n"
               "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n",
               path, c->host ? c->host : "localhost", json ? "application/json" : "text/xml", body.len);
    buf_add(&req, body.p, body.len);
    buf_reset(&body);
    xerr *e = NULL;
    /* a kept-alive connection the server has since closed gets one fresh retry: when
     * the request did not go whole, or when it is a read (resend_safe); a call that
     * may not go twice does not go on one the server may be closing */
    bool once = !resend_safe(method);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd >= 0 && (closed_while_idle(c) || (once && idle_too_long(c))))
            disconnect(c);
        bool fresh = c->fd < 0, closed = false, sent = false;
        if (fresh && (e = connect_to(c)) != NULL)
            break;
        buf_reset(&c->in);
        if (!send_all(c, req.p, req.len)) {
            e = xerr_internal("cannot send the request: %s", c->session ? "TLS write failed" : strerror(errno));
            closed = true;
        } else {
            sent = true;
            e = read_response(c, &body, &closed);
        }
        if (!e || fresh || !closed || (sent && !resend_safe(method)))
            break;
        disconnect(c);
        xerr_free(e);
        e = NULL;
    }
    buf_free(&req);
    if (e) {
        disconnect(c);
        buf_free(&body);
        return e;
    }
    xv *env = NULL;
    if (raw && (*result = raw_value(&body, json)) != NULL) {
        buf_free(&body);
        return NULL;
    }
    if (json) {
        e = json_unwrap(body.p ? body.p : "", body.len, result);
        buf_free(&body);
        return e;
    }
    e = wire_xmlrpc_parse_response(body.p ? body.p : "", body.len, &env);
    buf_free(&body);
    if (!e)
        e = wire_unwrap(env, result);
    xv_free(env);
    return e;
}

/* ---- byte streams ---- */

xerr *rpc_client_upgrade(struct rpc_client *c, const char *path, double timeout)
{
    if (!c->tls)
        return err_invalid_value("url", "a byte stream needs https://");
    disconnect(c);
    xerr *e = connect_to(c);
    if (e)
        return e;
    /* a read that waits longer fails (GNUTLS_E_TIMEDOUT is fatal, so fill stops) */
    if (timeout > 0)
        gnutls_record_set_timeout(c->session, (unsigned)(timeout * 1000));
    buf req;
    buf_init(&req);
    buf_printf(&req,
               "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xenapid\r\nConnection: Upgrade\r\n"
               "Upgrade: xenapid-stream\r\nContent-Length: 0\r\n\r\n",
               path, c->host);
    bool sent = send_all(c, req.p, req.len);
    buf_free(&req);
    if (!sent) {
        disconnect(c);
        return xerr_internal("cannot send the request to %s port %s", c->host, c->port);
    }
    buf_reset(&c->in);
    size_t hlen;
    int status;
    e = read_head(c, &hlen, &status);
    if (!e && !hlen)
        e = xerr_internal("%s port %s closed the connection before answering", c->host, c->port);
    if (e) {
        disconnect(c);
        return e;
    }
    if (status != 101) {
        xerr *se = xerr_internal("%s port %s refused the stream: HTTP status %d", c->host, c->port, status);
        disconnect(c);
        return se;
    }
    consume(&c->in, hlen);
    return NULL;
}

xerr *rpc_client_send(struct rpc_client *c, const void *p, size_t n)
{
    if (c->fd < 0 || !send_all(c, p, n))
        return xerr_internal("the stream to %s port %s broke: %s", c->host, c->port,
                             c->session ? "TLS write failed" : strerror(errno));
    return NULL;
}

xerr *rpc_client_read_line(struct rpc_client *c, char **line)
{
    char *nl;
    while (!c->in.p || !(nl = memchr(c->in.p, '\n', c->in.len))) {
        if (c->in.len > 4096)
            return xerr_internal("%s port %s sent a line too long", c->host, c->port);
        if (c->fd < 0 || !fill(c))
            return xerr_internal("the stream from %s port %s ended", c->host, c->port);
    }
    *line = xstrndup(c->in.p, (size_t)(nl - c->in.p));
    consume(&c->in, (size_t)(nl - c->in.p) + 1);
    return NULL;
}

/* Bytes in pieces, so that progress can be told. */
#define PIECE (256u << 10)

xerr *rpc_client_http(struct rpc_client *c, const char *method, const char *target, const char *body, size_t len,
                      rpc_progress_fn progress, void *ctx, int *status, buf *out, char **task_id)
{
    *status = 0;
    *task_id = NULL;
    /* the server closes after a transfer, as xapi's handlers do: a connection of its own */
    disconnect(c);
    xerr *e = connect_to(c);
    if (e)
        return e;
    buf req;
    buf_init(&req);
    buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xenapid\r\nConnection: close\r\n", method, target,
               c->host ? c->host : "localhost");
    if (body)
        buf_printf(&req, "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n", len);
    buf_adds(&req, "\r\n");
    bool sent = send_all(c, req.p, req.len);
    buf_free(&req);
    for (size_t done = 0; sent && body && done < len;) {
        size_t n = len - done < PIECE ? len - done : PIECE;
        sent = send_all(c, body + done, n);
        done += n;
        if (sent && progress)
            progress(ctx, done, len);
    }
    if (!sent) {
        disconnect(c);
        return xerr_internal("cannot send the request: %s", c->session ? "TLS write failed" : strerror(errno));
    }
    buf_reset(&c->in);
    size_t hlen;
    e = read_head(c, &hlen, status);
    if (!e && !hlen)
        e = xerr_internal("the server closed the connection before answering");
    if (e) {
        disconnect(c);
        return e;
    }
    char *end = c->in.p + hlen - 4;
    long long clen = -1;
    for (char *line = strstr(c->in.p, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        char *h = line + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0) {
            clen = atoll(h + 15);
        } else if (strncasecmp(h, "task-id:", 8) == 0) {
            const char *v = h + 8;
            while (*v == ' ')
                v++;
            free(*task_id);
            *task_id = xstrndup(v, strcspn(v, "\r\n"));
        }
    }
    consume(&c->in, hlen);
    /* without a length the body ends where the connection does */
    for (;;) {
        if (progress && clen > 0)
            progress(ctx, c->in.len, (size_t)clen);
        if (clen >= 0 && c->in.len >= (size_t)clen)
            break;
        if (!fill(c)) {
            if (clen < 0)
                break;
            disconnect(c);
            return xerr_internal("the server closed the connection mid-answer (%zu of %lld bytes)", c->in.len, clen);
        }
    }
    buf_add(out, c->in.p ? c->in.p : "", clen >= 0 ? (size_t)clen : c->in.len);
    buf_reset(&c->in);
    disconnect(c);
    return NULL;
}
