/* The HTTP side, on libmicrohttpd: one daemon per listener (HTTPS, plain HTTP, the
 * unix socket), each polling with epoll on a small pool of threads, so connections
 * cost memory, not threads.  Those threads read requests and write answers; a call
 * that only touches the database runs there, any other on the workers (work.c) while
 * its connection is suspended, and a wait for events is parked (park.c) holding no
 * thread.  Deadlines the library does not keep are kept in conns.c. */
#include "rpc.h"
#include "rpc_int.h"
#include "log.h"
#include "transfer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 4096
/* the query parameters of the export and import handlers (xapi's names) */
static const char *const xfer_keys[] = {"session_id", "task_id", "uuid", "ref", "dry_run", "force"};
#define XFER_NARGS (sizeof(xfer_keys) / sizeof(xfer_keys[0]))
#define LOGIN_WORKERS 8          /* threads checking passwords (PAM may wait on a network) */

struct listener {
    struct rpc_server *srv;
    struct MHD_Daemon *d;
    const char *what;            /* "HTTPS", "HTTP", "unix socket": for logs */
    bool is_unix, tls, starting;
    int port;
};

struct rpc_server {
    struct api *api;
    struct conns *conns;
    struct workers *workers;     /* VM operations and the rest */
    struct workers *logins;      /* session.*: never queued behind VM operations */
    struct parking *parking;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int in_flight;               /* requests between their whole arrival and their answer */
    int streams;                 /* upgraded connections whose handler still runs */
    bool stopping;               /* late requests get 503 and never reach the API */
    size_t max_request;
    char *unix_path;
    struct listener https, http, unx;
};

/* One request, from its request line to its answer (MHD's con_cls). */
struct req {
    struct rpc_server *srv;
    struct listener *l;
    struct conn *conn;
    struct MHD_Connection *mc;
    bool started, json, counted;
    bool http10;                 /* an HTTP/1.0 request: answered as 1.0 */
    unsigned status;             /* an answer other than a call's, given once the
                                  * request is whole (0: none) */
    buf out;                     /* its body, or the call's answer */
    const char *type;            /* its content type, or NULL */
    bool keep, same_version;     /* see answer() */
    const char *acrh;            /* a preflight's Access-Control-Request-Headers */
    bool quick;                  /* the call runs on the server's threads */
    struct workers *pool;        /* else, where it runs */
    bool ready;                  /* out holds the answer: send it when resumed */
    buf body;
    struct rpc_call *call;
    struct api_wait wait;
    enum { XFER_NONE, XFER_EXPORT, XFER_IMPORT } transfer; /* xapi's http handlers */
    char *xargs[XFER_NARGS];     /* their query parameters, copied on the library's thread */
    struct transfer_reply xreply;
    struct upgrade *upgrade;     /* a byte stream asked for (api_register_stream) */
};

/* An upgraded connection: shared by its request (until on_completed) and the
 * thread running its handler, hence the count of references. */
struct upgrade {
    struct rpc_server *srv;
    api_stream_handler fn;
    char *path, *session;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    int refs;                    /* under srv->lock */
};

static void upgrade_unref(struct upgrade *u)
{
    struct rpc_server *srv = u->srv;
    pthread_mutex_lock(&srv->lock);
    bool last = --u->refs == 0;
    pthread_mutex_unlock(&srv->lock);
    if (!last)
        return;
    free(u->path);
    free(u->session);
    free(u);
}

/* ---- answers, with the status lines and headers of xapi's http_svr.ml ---- */

/* keep: the connection may stay open, as the request asked (xapi's response_fct:
 * "connection: keep-alive" or "close"); else it closes (its error answers).
 * same_version: an HTTP/1.0 request is answered as 1.0 (get_return_version; some
 * of xapi's error answers say 1.1 whatever came). */
static enum MHD_Result queue(struct req *r, struct MHD_Response *resp, size_t len, unsigned status,
                             const char *type, bool keep, bool same_version, const char *const *hdrs)
{
    enum MHD_ResponseFlags flags = MHD_RF_NONE;
    if (same_version && r->http10)
        flags |= MHD_RF_HTTP_1_0_SERVER; /* 1.0, and keep-alive only when asked */
    else if (keep)
        flags |= MHD_RF_SEND_KEEP_ALIVE_HEADER; /* xapi says keep-alive to 1.1 too */
    if (flags != MHD_RF_NONE)
        MHD_set_response_options(resp, flags, MHD_RO_END);
    if (!keep)
        MHD_add_response_header(resp, "connection", "close");
    MHD_add_response_header(resp, "cache-control", "no-cache, no-store");
    if (type)
        MHD_add_response_header(resp, "content-type", type);
    for (size_t i = 0; hdrs && hdrs[i]; i += 2)
        MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
    if (r->conn)
        conns_sending(r->srv->conns, r->conn, len);
    enum MHD_Result rc = MHD_queue_response(r->mc, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result answer(struct req *r, unsigned status, const char *type, buf *b, bool keep,
                              bool same_version, const char *const *hdrs)
{
    size_t len = b->len;
    char *p = b->p ? buf_steal(b) : xstrdup("");
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(p);
        return MHD_NO;
    }
    return queue(r, resp, len, status, type, keep, same_version, hdrs);
}

/* ---- streamed answers (a big get_all_records): written as the client takes them,
 * chunked (HTTP/1.0: up to the end of the connection), a piece at a time made on the
 * thread that sends it; a failure midway cuts the connection, so that what the
 * client has is no valid answer ---- */
#define STREAM_PIECE (64u << 10)

struct stream_out {              /* the response's: freed with it */
    struct rpc_server *srv;
    struct conn *conn;           /* valid while the library asks for bytes */
    struct rpc_call *call;
    buf pending;                 /* made, not yet handed to the library */
    size_t off;
    bool end;                    /* pending holds the last piece */
};

static ssize_t stream_read(void *cls, uint64_t pos, char *p, size_t max)
{
    (void)pos;
    struct stream_out *s = cls;
    if (s->off == s->pending.len) {
        if (s->end)
            return MHD_CONTENT_READER_END_OF_STREAM;
        buf_reset(&s->pending);
        s->off = 0;
        int rc = rpc_call_more(s->call, &s->pending, STREAM_PIECE);
        if (rc < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        s->end = rc == 0;
        if (s->conn) /* each piece has its own time to be taken */
            conns_sending(s->srv->conns, s->conn, s->pending.len);
        if (s->off == s->pending.len)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = s->pending.len - s->off < max ? s->pending.len - s->off : max;
    memcpy(p, s->pending.p + s->off, n);
    s->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    struct stream_out *s = cls;
    rpc_call_free(s->call);
    buf_free(&s->pending);
    free(s);
}

/* The call's answer so far is in r->out: the response takes it and the call over. */
static enum MHD_Result answer_stream(struct req *r, const char *type, const char *const *hdrs)
{
    struct stream_out *s = xcalloc(1, sizeof(*s));
    s->srv = r->srv;
    s->conn = r->conn;
    s->call = r->call;
    r->call = NULL;
    s->pending = r->out;
    buf_init(&r->out);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_PIECE, stream_read, s, stream_free);
    if (!resp) {
        stream_free(s);
        return MHD_NO;
    }
    return queue(r, resp, s->pending.len, MHD_HTTP_OK, type, true, true, hdrs);
}

/* Our own refusals (too large, no length, stopping): xapi's error form, closing. */
static enum MHD_Result answer_text(struct req *r, unsigned status, const char *text)
{
    buf b;
    buf_init(&b);
    buf_adds(&b, text);
    return answer(r, status, "text/plain", &b, false, true, NULL);
}

/* A call's answer (api_server.ml's callback and jsoncallback): CORS for browsers. */
static enum MHD_Result answer_call(struct req *r)
{
    static const char *const cors[] = {"Access-Control-Allow-Origin", "*", "Access-Control-Allow-Headers",
                                       "X-Requested-With", NULL};
    const char *type = r->json ? "application/json" : "text/xml";
    if (r->call && rpc_call_streaming(r->call))
        return answer_stream(r, type, cors);
    return answer(r, MHD_HTTP_OK, type, &r->out, true, true, cors);
}

/* An answer decided from the request line, given once the request is whole. */
static enum MHD_Result answer_early(struct req *r)
{
    if (r->status != MHD_HTTP_OK)
        return answer(r, r->status, r->type, &r->out, false, r->same_version, NULL);
    /* a CORS preflight: respond_to_options */
    buf allow;
    buf_init(&allow);
    if (r->acrh)
        buf_printf(&allow, "%s, ", r->acrh);
    buf_adds(&allow, "X-Requested-With");
    const char *const hdrs[] = {"Access-Control-Allow-Origin", "*", "Access-Control-Allow-Headers", allow.p,
                                "Access-Control-Allow-Methods", "PUT", NULL};
    enum MHD_Result rc = answer(r, MHD_HTTP_OK, NULL, &r->out, true, true, hdrs);
    buf_free(&allow);
    return rc;
}

/* ---- running calls ---- */

static bool stopping(struct rpc_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    bool s = srv->stopping;
    pthread_mutex_unlock(&srv->lock);
    return s;
}

/* True when it answered; false when it parked. */
static bool run(struct req *r)
{
    struct api_peer peer = {.addr = r->conn ? r->conn->addr : "?",
                            .local_root = r->conn && r->conn->local_root,
                            .wait = &r->wait};
    r->wait.expire = stopping(r->srv);
    return rpc_call_run(r->srv->api, r->call, &peer, &r->out);
}

/* A parked call's news came: its connection resumes and on_request runs it again. */
static void wake(void *p)
{
    struct req *r = p;
    MHD_resume_connection(r->mc);
}

/* The answer is ready but must wait until answer_at: no thread waits with it. */
static void hold(struct req *r)
{
    r->ready = true;
    parking_add(r->srv->parking, INT64_MAX, 0, r->wait.answer_at, wake, r);
}

/* On a worker: run the call; answer (resume the connection), hold or park it. */
static void run_job(void *p)
{
    struct req *r = p;
    if (!run(r)) {
        parking_add(r->srv->parking, r->wait.after, r->wait.classes, r->wait.wake, wake, r);
    } else if (r->wait.answer_at > now_monotonic()) {
        hold(r);
    } else {
        r->ready = true;
        MHD_resume_connection(r->mc);
    }
}

/* Run the call where it belongs: a quick one here, at once, parking it if it waits;
 * any other on a worker. */
static enum MHD_Result go(struct req *r)
{
    if (!r->quick) {
        MHD_suspend_connection(r->mc);
        workers_submit(r->pool, run_job, r);
    } else if (!run(r)) {
        MHD_suspend_connection(r->mc);
        parking_add(r->srv->parking, r->wait.after, r->wait.classes, r->wait.wake, wake, r);
    } else if (r->wait.answer_at > now_monotonic()) {
        MHD_suspend_connection(r->mc);
        hold(r);
    } else {
        return answer_call(r);
    }
    return MHD_YES;
}

static const char *xfer_arg(void *ctx, const char *key)
{
    struct req *r = ctx;
    for (size_t i = 0; i < XFER_NARGS; i++)
        if (strcmp(xfer_keys[i], key) == 0)
            return r->xargs[i];
    return NULL;
}

/* On a worker: an export or an import, then the answer. */
static void transfer_job(void *p)
{
    struct req *r = p;
    struct transfer_query q = {xfer_arg, r};
    if (r->transfer == XFER_EXPORT)
        transfer_export_metadata(r->srv->api, &q, &r->xreply);
    else
        transfer_import_metadata(r->srv->api, &q, r->body.p, r->body.len, &r->xreply);
    buf_free(&r->body);
    r->ready = true;
    MHD_resume_connection(r->mc);
}

/* As xapi's handlers answer: the connection closes after; task-id names the task. */
static enum MHD_Result answer_transfer(struct req *r)
{
    struct transfer_reply *x = &r->xreply;
    _cleanup_free_ char *disp = x->filename ? xasprintf("attachment; filename=\"%s\"", x->filename) : NULL;
    const char *hdrs[5] = {NULL};
    size_t n = 0;
    if (x->task) {
        hdrs[n++] = "task-id";
        hdrs[n++] = x->task;
    }
    if (disp) {
        hdrs[n++] = "content-disposition";
        hdrs[n++] = disp;
    }
    return answer(r, x->status ? x->status : MHD_HTTP_INTERNAL_SERVER_ERROR, x->type, &x->body, false, true, hdrs);
}

static enum MHD_Result dispatch(struct req *r)
{
    struct rpc_server *srv = r->srv;
    if (r->conn)
        conns_set_state(srv->conns, r->conn, CONN_BUSY);
    pthread_mutex_lock(&srv->lock);
    bool refuse = srv->stopping;
    if (!refuse)
        srv->in_flight++;
    pthread_mutex_unlock(&srv->lock);
    if (refuse)
        return answer_text(r, MHD_HTTP_SERVICE_UNAVAILABLE, "The daemon is stopping\n");
    r->counted = true;
    if (r->transfer) {
        for (size_t i = 0; i < XFER_NARGS; i++) {
            const char *v = MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, xfer_keys[i]);
            r->xargs[i] = v ? xstrdup(v) : NULL;
        }
        MHD_suspend_connection(r->mc);
        workers_submit(srv->workers, transfer_job, r);
        return MHD_YES;
    }
    r->call = rpc_call_parse(r->body.p ? r->body.p : "", r->body.len, r->json);
    rpc_call_offer_stream(r->call);
    buf_free(&r->body);
    const char *method = rpc_call_method(r->call);
    r->quick = !method || api_call_is_quick(srv->api, method);
    /* a clean shutdown may wait twenty minutes for its guest: however many do, a
     * login still finds a thread */
    r->pool = method && str_startswith(method, "session.") ? srv->logins : srv->workers;
    return go(r);
}

/* ---- upgraded connections ---- */

static void *stream_thread(void *p)
{
    struct upgrade *u = p;
    struct rpc_server *srv = u->srv;
    int fl = fcntl(u->fd, F_GETFL);
    if (fl >= 0)
        fcntl(u->fd, F_SETFL, fl & ~O_NONBLOCK); /* the handler reads and writes blocking */
    u->fn(srv->api, u->path, u->session, u->fd);
    MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
    pthread_mutex_lock(&srv->lock);
    if (--srv->streams == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
    upgrade_unref(u);
    return NULL;
}

static void on_upgraded(void *cls, struct MHD_Connection *mc, void *con_cls, const char *extra_in,
                        size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)mc;
    (void)con_cls;
    (void)extra_in;
    struct upgrade *u = cls;
    struct rpc_server *srv = u->srv;
    /* the client waits for the 101 before it sends a byte: anything earlier is no
     * client of ours */
    if (extra_in_size) {
        log_warn("stream %s: bytes before the upgrade: closed", u->path);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        upgrade_unref(u);
        return;
    }
    u->fd = sock;
    u->urh = urh;
    pthread_mutex_lock(&srv->lock);
    srv->streams++;
    pthread_mutex_unlock(&srv->lock);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, stream_thread, u) != 0) {
        log_error("stream %s: no thread for it: closed", u->path);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        pthread_mutex_lock(&srv->lock);
        if (--srv->streams == 0)
            pthread_cond_broadcast(&srv->idle);
        pthread_mutex_unlock(&srv->lock);
        upgrade_unref(u);
    }
    pthread_attr_destroy(&attr);
}

/* 101 Switching Protocols; the handler's thread takes the connection over. */
static enum MHD_Result answer_upgrade(struct req *r)
{
    struct upgrade *u = r->upgrade;
    pthread_mutex_lock(&r->srv->lock);
    bool refuse_it = r->srv->stopping;
    if (!refuse_it)
        u->refs++; /* the upgrade handler's */
    pthread_mutex_unlock(&r->srv->lock);
    if (refuse_it)
        return answer_text(r, MHD_HTTP_SERVICE_UNAVAILABLE, "The daemon is stopping\n");
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, u);
    if (!resp) {
        upgrade_unref(u);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "xenapid-stream");
    enum MHD_Result rc = MHD_queue_response(r->mc, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    if (rc != MHD_YES)
        upgrade_unref(u);
    return rc;
}

/* ---- the library's callbacks ---- */

static void add_html_escaped(buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_adds(b, "&lt;"); break;
        case '>': buf_adds(b, "&gt;"); break;
        case '\'': buf_adds(b, "&apos;"); break;
        case '"': buf_adds(b, "&quot;"); break;
        case '&': buf_adds(b, "&amp;"); break;
        default: buf_add(b, s, 1);
        }
    }
}

/* Answer, once the request is whole (an answer before it makes the library close
 * the connection: a preflight keeps it), as xapi answers what is no call. */
static enum MHD_Result refuse(struct req *r, unsigned status, bool same_version, const char *type)
{
    r->status = status;
    r->same_version = same_version;
    r->type = type;
    return MHD_YES;
}

/* Routing as xapi's http_svr.ml: a handler per method, found by the longest prefix
 * of the path among those xapi.ml registers.  POST / takes every path but
 * /jsonrpc... (XML-RPC: Xen Orchestra posts to /xmlrpc); OPTIONS / answers every
 * path's CORS preflight; GET / is xapi's file server, here with no files; PUT and
 * CONNECT have no handler at /, so default_callback's 403; another method has no
 * handlers at all: 501. */
static enum MHD_Result route(struct req *r, const char *url, const char *method)
{
    static const char forbidden[] = "<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource "
                                    "is forbidden.</body></html>";
    bool known = !strcmp(method, MHD_HTTP_METHOD_POST) || !strcmp(method, MHD_HTTP_METHOD_GET) ||
                 !strcmp(method, MHD_HTTP_METHOD_PUT) || !strcmp(method, MHD_HTTP_METHOD_CONNECT) ||
                 !strcmp(method, MHD_HTTP_METHOD_OPTIONS);
    if (!known) { /* response_method_not_implemented *: string_of_method_t's "Unknown M" */
        buf_adds(&r->out, "<html><body><h1>HTTP 501 Method Not Implemented</h1><p>Unknown ");
        add_html_escaped(&r->out, method);
        buf_adds(&r->out, " not supported.<br /></p></body></html>");
        return refuse(r, MHD_HTTP_NOT_IMPLEMENTED, true, "text/html");
    }
    bool post = !strcmp(method, MHD_HTTP_METHOD_POST), get = !strcmp(method, MHD_HTTP_METHOD_GET);
    bool put = !strcmp(method, MHD_HTTP_METHOD_PUT);
    /* xapi.ml's handlers for VM metadata (export.ml, import.ml), on every transport */
    if (get && strcmp(url, "/export_metadata") == 0) {
        transfer_reply_init(&r->xreply);
        r->transfer = XFER_EXPORT;
        return MHD_YES;
    }
    if (put && strcmp(url, "/import_metadata") == 0) {
        transfer_reply_init(&r->xreply);
        r->transfer = XFER_IMPORT;
        post = true; /* a body, bounded as a call's is */
    }
    if (url[0] != '/' || !(post || get || !strcmp(method, MHD_HTTP_METHOD_OPTIONS))) {
        buf_adds(&r->out, forbidden); /* default_callback: response_forbidden without req */
        return refuse(r, MHD_HTTP_FORBIDDEN, false, "text/html");
    }
    if (get && !r->l->is_unix && !r->l->tls) {
        buf_adds(&r->out, forbidden); /* fileserver.ml: website_https_only */
        return refuse(r, MHD_HTTP_FORBIDDEN, true, "text/html");
    }
    if (get) { /* fileserver.ml's missing, sent by response_missing: no type, 1.1 */
        buf_adds(&r->out, "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\"> <html><head> <title>404 Not "
                          "Found</title> </head><body> <h1>Not Found</h1> <p>The requested URL ");
        add_html_escaped(&r->out, url);
        buf_adds(&r->out, " was not found on this server.</p> <hr><address>Xapi Server</address></body></html>");
        return refuse(r, MHD_HTTP_NOT_FOUND, false, NULL);
    }
    if (!post) {
        r->acrh = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        return refuse(r, MHD_HTTP_OK, true, NULL);
    }
    const char *conn_hdr = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
    api_stream_handler fn = api_stream_lookup(r->srv->api, url);
    if (fn && conn_hdr && strcasestr(conn_hdr, "upgrade")) {
        /* a byte stream between pool members: over TLS only */
        if (!r->l->tls) {
            buf_adds(&r->out, forbidden);
            return refuse(r, MHD_HTTP_FORBIDDEN, false, "text/html");
        }
        const char *session = MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, "session_id");
        struct upgrade *u = xcalloc(1, sizeof(*u));
        u->srv = r->srv;
        u->fn = fn;
        u->path = xstrdup(url);
        u->session = xstrdup(session ? session : "");
        u->fd = -1;
        u->refs = 1;
        r->upgrade = u;
        return MHD_YES;
    }
    r->json = !r->transfer && str_startswith(url, "/jsonrpc");
    const char *cl = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int64_t len;
    /* chunked bodies: no XenAPI client sends them */
    if ((te && strcasecmp(te, "identity") != 0) || !cl || !parse_int64(cl, &len) || len < 0)
        return answer_text(r, MHD_HTTP_LENGTH_REQUIRED, "A Content-Length is required\n");
    if ((uint64_t)len > r->srv->max_request)
        return answer_text(r, MHD_HTTP_CONTENT_TOO_LARGE, "Request too large\n");
    /* memory follows what arrives, not what a client announces */
    buf_reserve(&r->body, len < 65536 ? (size_t)len : 65536);
    return MHD_YES;
}

static enum MHD_Result start_request(struct req *r, const char *url, const char *method, const char *version)
{
    r->started = true;
    r->http10 = version && strcmp(version, MHD_HTTP_VERSION_1_0) == 0;
    return route(r, url, method);
}

static struct req *req_new(struct listener *l, struct MHD_Connection *mc)
{
    struct req *r = xcalloc(1, sizeof(*r));
    r->srv = l->srv;
    r->l = l;
    r->mc = mc;
    buf_init(&r->body);
    buf_init(&r->out);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    r->conn = ci ? ci->socket_context : NULL;
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct listener *l = cls;
    struct req *r = *con_cls;
    if (!r)
        *con_cls = r = req_new(l, mc);
    if (r->ready)
        return r->transfer ? answer_transfer(r) : answer_call(r);
    if (r->call) /* resumed from parking */
        return go(r);
    if (!r->started)
        return start_request(r, url, method, version);
    if (*upload_size) {
        /* the library holds the body to its Content-Length, which start_request
         * bounded; the body of a request refused already is dropped */
        if (!r->status)
            buf_add(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->status)
        return answer_early(r);
    if (r->upgrade)
        return answer_upgrade(r);
    return dispatch(r);
}

/* The request line arrived: from now on the rest of it has request-timeout. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    (void)uri;
    struct listener *l = cls;
    struct req *r = req_new(l, mc);
    if (r->conn)
        conns_set_state(l->srv->conns, r->conn, CONN_REQUEST);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)mc;
    (void)toe;
    struct listener *l = cls;
    struct req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->conn)
        conns_set_state(l->srv->conns, r->conn, CONN_IDLE);
    rpc_call_free(r->call);
    if (r->transfer)
        transfer_reply_free(&r->xreply);
    for (size_t i = 0; i < XFER_NARGS; i++)
        free(r->xargs[i]);
    buf_free(&r->body);
    buf_free(&r->out);
    if (r->upgrade)
        upgrade_unref(r->upgrade);
    bool counted = r->counted;
    free(r);
    if (counted) {
        struct rpc_server *srv = l->srv;
        pthread_mutex_lock(&srv->lock);
        if (--srv->in_flight == 0)
            pthread_cond_broadcast(&srv->idle);
        pthread_mutex_unlock(&srv->lock);
    }
}

static void peer_name(const struct sockaddr *sa, char *out, size_t n)
{
    char host[64], port[16];
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, n, "?");
    else
        snprintf(out, n, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct listener *l = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn *c = *socket_context;
        if (c) {
            conns_remove(l->srv->conns, c);
            free(c);
        }
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fd = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!fd)
        return;
    struct conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd->connect_fd;
    if (l->is_unix) {
        snprintf(c->addr, sizeof(c->addr), "unix");
        c->local_root = peer_is_root(c->fd);
    } else {
        const union MHD_ConnectionInfo *ca = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ca && ca->client_addr)
            peer_name(ca->client_addr, c->addr, sizeof(c->addr));
        else
            snprintf(c->addr, sizeof(c->addr), "?");
    }
    conns_add(l->srv->conns, c);
    *socket_context = c;
}

/* The library's messages: at start they explain a failure; later they are about
 * single clients (a bad TLS handshake...), which must not flood the log. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
    struct listener *l = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    if (l->starting)
        log_warn("%s server: %s", l->what, msg);
    else
        log_debug("%s server: %s", l->what, msg);
}

/* ---- start and stop ---- */

static xerr *serve(struct rpc_server *srv, struct listener *l, int fd, const struct rpc_options *opt,
                   const struct tls_identity *tls)
{
    l->srv = srv;
    unsigned threads = opt->io_threads > 0 ? (unsigned)opt->io_threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1 || l->is_unix)
        threads = 1; /* local tools: one thread is plenty */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE;
    /* no Date header, as xapi sends none */
    flags |= MHD_USE_SUPPRESS_DATE_NO_CLOCK;
    if (tls)
        flags |= MHD_USE_TLS;
    l->tls = tls != NULL;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
#define OPT(o, v, p) (opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)})
    OPT(MHD_OPTION_EXTERNAL_LOGGER, on_log, l); /* first: it only catches what follows */
    OPT(MHD_OPTION_LISTEN_SOCKET, fd, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, opt->max_connections > 0 ? opt->max_connections : 4096, NULL);
    if (!l->is_unix && opt->max_per_address > 0)
        OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->max_per_address, NULL);
    OPT(MHD_OPTION_CONNECTION_TIMEOUT, opt->keepalive_timeout > 0 ? opt->keepalive_timeout : RPC_KEEPALIVE_TIMEOUT,
        NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, on_completed, l);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, l);
    OPT(MHD_OPTION_URI_LOG_CALLBACK, on_uri, l);
    if (threads > 1)
        OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
    if (tls) {
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key_pem);
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert_pem);
        OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    l->starting = true;
    l->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, l, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    l->starting = false;
    if (!l->d) {
        close(fd);
        return xerr_internal("cannot start the %s server (the log says why)", l->what);
    }
    return NULL;
}

/* Thousands of connections need as many descriptors: the soft limit goes up to the
 * hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static xerr *start_tcp(struct rpc_server *srv, struct listener *l, const char *what, const char *address,
                       int port, const struct rpc_options *opt, const struct tls_identity *tls)
{
    int fd = -1;
    l->what = what;
    xerr *e = listen_tcp(address, port, BACKLOG, &fd, &l->port);
    return e ? e : serve(srv, l, fd, opt, tls);
}

xerr *rpc_start(struct api *api, struct db *db, const struct rpc_options *opt, struct rpc_server **out)
{
    struct rpc_server *srv = xcalloc(1, sizeof(*srv));
    srv->api = api;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->idle, NULL);
    srv->max_request = opt->max_request ? opt->max_request : 16u << 20;
    raise_fd_limit();
    srv->workers = workers_new(opt->max_workers > 0 ? opt->max_workers : 64);
    srv->logins = workers_new(LOGIN_WORKERS);
    xerr *e = conns_new(opt->keepalive_timeout > 0 ? opt->keepalive_timeout : RPC_KEEPALIVE_TIMEOUT,
                        opt->request_timeout > 0 ? opt->request_timeout : 30, &srv->conns);
    if (!e)
        e = parking_new(db, &srv->parking);
    bool https = opt->https_address && *opt->https_address;
    if (!e && https && !opt->tls)
        e = xerr_internal("HTTPS needs a certificate");
    if (!e && https)
        e = start_tcp(srv, &srv->https, "HTTPS", opt->https_address, opt->https_port, opt, opt->tls);
    if (!e && opt->address && *opt->address)
        e = start_tcp(srv, &srv->http, "HTTP", opt->address, opt->port, opt, NULL);
    if (!e && opt->unix_path && *opt->unix_path) {
        int fd = -1;
        srv->unx.what = "unix socket";
        srv->unx.is_unix = true;
        e = listen_unix(opt->unix_path, BACKLOG, &fd);
        if (!e) {
            srv->unix_path = xstrdup(opt->unix_path);
            e = serve(srv, &srv->unx, fd, opt, NULL);
        }
    }
    if (e) {
        rpc_stop(srv, 0);
        return e;
    }
    if (srv->https.d)
        log_info("serving the XenAPI on https://%s:%d/ (XML-RPC) and /jsonrpc", opt->https_address,
                 srv->https.port);
    if (srv->http.d) {
        log_info("serving the XenAPI on http://%s:%d/ (XML-RPC) and /jsonrpc", opt->address, srv->http.port);
        if (!address_is_loopback(opt->address))
            log_warn("plain HTTP on %s: passwords and data cross the network in clear; use HTTPS "
                     "(https-port), or listen-address = 127.0.0.1",
                     opt->address);
    }
    if (srv->unx.d)
        log_info("serving the XenAPI on unix:%s", srv->unix_path);
    *out = srv;
    return NULL;
}

int rpc_port(const struct rpc_server *s)
{
    return s->http.d ? s->http.port : 0;
}

int rpc_https_port(const struct rpc_server *s)
{
    return s->https.d ? s->https.port : 0;
}

/* A server stopped with calls in flight stays allocated: they still use it. */
/* volatile: otherwise the compiler drops this never-read store, and LeakSanitizer
 * reports the whole server as leaked at exit */
static struct rpc_server *volatile stopped;

bool rpc_stop(struct rpc_server *s, double grace)
{
    if (!s)
        return true;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    struct listener *ls[] = {&s->https, &s->http, &s->unx};
    for (size_t i = 0; i < 3; i++) {
        if (!ls[i]->d)
            continue;
        MHD_socket fd = MHD_quiesce_daemon(ls[i]->d); /* no new connections */
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    if (s->unix_path)
        unlink(s->unix_path);
    /* parked waits answer now with what they have; running calls get a moment */
    if (s->parking)
        parking_flush(s->parking);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)grace;
    pthread_mutex_lock(&s->lock);
    while ((s->in_flight > 0 || s->streams > 0) && pthread_cond_timedwait(&s->idle, &s->lock, &until) == 0)
        ;
    int left = s->in_flight + s->streams;
    pthread_mutex_unlock(&s->lock);
    if (left) {
        log_warn("%d requests still running at stop", left);
        stopped = s;
        return false;
    }
    for (size_t i = 0; i < 3; i++)
        if (ls[i]->d)
            MHD_stop_daemon(ls[i]->d);
    parking_free(s->parking);
    workers_free(s->workers);
    workers_free(s->logins);
    conns_free(s->conns);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s->unix_path);
    free(s);
    return true;
}
