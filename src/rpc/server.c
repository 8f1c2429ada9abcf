/* The HTTP side: xmlrpc-c's Abyss server, one for TCP and one for the unix socket,
 * each on its own thread, with our own request handler so that XML-RPC and JSON-RPC
 * share one server and the XenAPI envelope is written once, by us.
 *
 * Abyss by default takes ~15 connections and 30 requests per keep-alive connection;
 * both are raised from the configuration (DESIGN.md: the default collapses at 64
 * clients). */
#include "rpc.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xmlrpc-c/abyss.h>

struct listener {
    struct rpc_server *srv;
    TServer server;
    TChanSwitch *chanswitch;
    pthread_t thread;
    bool created, running;
    bool is_unix;
};

struct rpc_server {
    struct api *api;
    pthread_mutex_t busy_lock;
    pthread_cond_t idle;
    int in_flight;                /* requests being handled, for a clean stop */
    bool stopping;                /* late requests get 503 and never reach the API */
    size_t max_request;
    int port;
    char *unix_path;
    struct listener tcp, unx;
};

static void respond(TSession *s, int status, const char *type, const char *body, size_t len)
{
    ResponseStatus(s, (uint16_t)status);
    ResponseContentType(s, (char *)type);
    ResponseContentLength(s, (uint64_t)len);
    ResponseWriteStart(s);
    ResponseWriteBody(s, body, (uint32_t)len);
    ResponseWriteEnd(s);
}

static void respond_text(TSession *s, int status, const char *text)
{
    respond(s, status, "text/plain", text, strlen(text));
}

static void peer_name(TSession *s, bool is_unix, char *out, size_t n)
{
    snprintf(out, n, is_unix ? "unix" : "?");
    if (is_unix)
        return;
    struct abyss_unix_chaninfo *ci = NULL;
    SessionGetChannelInfo(s, (void **)&ci);
    if (!ci)
        return;
    char host[64], port[16];
    if (getnameinfo(&ci->peerAddr, (socklen_t)ci->peerAddrLen, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(out, n, "%s:%s", host, port);
}

/* The whole request body, as Content-Length announces it. */
static int read_body(TSession *s, size_t max, buf *body)
{
    const char *cl = RequestHeaderValue(s, (char *)"content-length");
    const char *te = RequestHeaderValue(s, (char *)"transfer-encoding");
    int64_t len;
    if (te && strcasecmp(te, "identity") != 0)
        return 411; /* chunked bodies: no XenAPI client sends them */
    if (!cl || !parse_int64(cl, &len) || len < 0)
        return 411;
    if ((uint64_t)len > max)
        return 413;
    buf_reserve(body, (size_t)len);
    while (body->len < (size_t)len) {
        const char *chunk;
        size_t got = 0;
        SessionGetReadData(s, (size_t)len - body->len, &chunk, &got);
        if (got) {
            buf_add(body, chunk, got);
            continue;
        }
        if (!SessionRefillBuffer(s))
            return 408; /* the client stopped sending */
    }
    return 0;
}

static void handle(void *userdata, TSession *s, abyss_bool *handled)
{
    struct listener *l = userdata;
    struct rpc_server *srv = l->srv;
    const TRequestInfo *ri;
    SessionGetRequestInfo(s, &ri);
    *handled = 1;

    bool json = strcmp(ri->uri, "/jsonrpc") == 0;
    bool xml = strcmp(ri->uri, "/") == 0 || strcmp(ri->uri, "/RPC2") == 0;
    if (!json && !xml) {
        respond_text(s, 404, "Not found: XML-RPC is served at / and /RPC2, JSON-RPC at /jsonrpc\n");
        return;
    }
    if (ri->method != m_post) {
        ResponseAddField(s, (char *)"Allow", (char *)"POST");
        respond_text(s, 405, "Use POST\n");
        return;
    }
    buf body, out;
    buf_init(&body);
    buf_init(&out);
    int status = read_body(s, srv->max_request, &body);
    if (status) {
        static const struct {
            int code;
            const char *text;
        } why[] = {{411, "A Content-Length is required\n"},
                   {413, "Request too large\n"},
                   {408, "Timed out reading the request\n"}};
        for (size_t i = 0; i < sizeof(why) / sizeof(why[0]); i++)
            if (why[i].code == status)
                respond_text(s, status, why[i].text);
        buf_free(&body);
        return;
    }
    char peer[96];
    peer_name(s, l->is_unix, peer, sizeof(peer));
    pthread_mutex_lock(&srv->busy_lock);
    bool stopping = srv->stopping;
    if (!stopping)
        srv->in_flight++;
    pthread_mutex_unlock(&srv->busy_lock);
    if (stopping) {
        respond_text(s, 503, "The daemon is stopping\n");
        buf_free(&body);
        return;
    }
    if (json) {
        rpc_handle_jsonrpc(srv->api, body.p ? body.p : "", body.len, peer, &out);
        respond(s, 200, "application/json", out.p, out.len);
    } else {
        rpc_handle_xmlrpc(srv->api, body.p ? body.p : "", body.len, peer, &out);
        respond(s, 200, "text/xml", out.p, out.len);
    }
    buf_free(&body);
    buf_free(&out);
    pthread_mutex_lock(&srv->busy_lock);
    if (--srv->in_flight == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->busy_lock);
}

static void *run(void *p)
{
    struct listener *l = p;
    ServerRun(&l->server);
    return NULL;
}

static xerr *setup(struct rpc_server *srv, struct listener *l, const struct rpc_options *opt)
{
    const char *err = NULL;
    l->srv = srv;
    ServerCreateSwitch(&l->server, l->chanswitch, &err);
    if (err) {
        xerr *e = xerr_internal("cannot create the HTTP server: %s", err);
        free((void *)err); /* allocated with malloc by Abyss */
        return e;
    }
    l->created = true;
    ServerSetName(&l->server, "xenapid");
    ServerSetKeepaliveTimeout(&l->server, (uint32_t)(opt->keepalive_timeout > 0 ? opt->keepalive_timeout : 60));
    /* requests per keep-alive connection, despite the name */
    ServerSetKeepaliveMaxConn(&l->server, 1000000000);
    ServerSetTimeout(&l->server, 60);
    ServerSetMaxConn(&l->server, (unsigned)(opt->max_connections > 0 ? opt->max_connections : 512));
    ServerSetMaxConnBacklog(&l->server, 1024);
    ServerSetAdvertise(&l->server, 0);
    struct ServerReqHandler3 h = {
        .term = NULL,
        .handleReq = handle,
        .userdata = l,
        /* our handler's stack: parsing and dispatch, deeper under ASan */
        .handleReqStackSize = 4u << 20,
    };
    abyss_bool ok = 0;
    ServerAddHandler3(&l->server, &h, &ok);
    if (!ok)
        return xerr_internal("cannot add the request handler");
    ServerInit2(&l->server, &err);
    if (err) {
        xerr *e = xerr_internal("cannot start the HTTP server: %s", err);
        free((void *)err); /* allocated with malloc by Abyss */
        return e;
    }
    if (pthread_create(&l->thread, NULL, run, l) != 0)
        return xerr_internal("cannot start the HTTP server thread");
    l->running = true;
    return NULL;
}

static xerr *listen_tcp(struct rpc_server *srv, const struct rpc_options *opt)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", opt->port);
    int rc = getaddrinfo(opt->address, port, &hints, &ai);
    if (rc)
        return xerr_new("INVALID_VALUE", "listen-address", opt->address, NULL);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    xerr *e = NULL;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        e = xerr_internal("cannot listen on %s port %d: %s", opt->address, opt->port, strerror(errno));
    freeaddrinfo(ai);
    if (e) {
        if (fd >= 0)
            close(fd);
        return e;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    srv->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    const char *err = NULL;
    ChanSwitchUnixCreateFd(fd, &srv->tcp.chanswitch, &err);
    if (err) {
        e = xerr_internal("cannot serve on the socket: %s", err);
        free((void *)err); /* allocated with malloc by Abyss */
        close(fd);
        return e;
    }
    return setup(srv, &srv->tcp, opt);
}

static xerr *listen_unix(struct rpc_server *srv, const struct rpc_options *opt)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(opt->unix_path) >= sizeof(sa.sun_path))
        return xerr_new("INVALID_VALUE", "unix-socket", opt->unix_path, NULL);
    strcpy(sa.sun_path, opt->unix_path);
    /* a socket file left by a daemon that died: refuse only if something answers */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        return xerr_internal("another daemon is serving %s", opt->unix_path);
    }
    if (probe >= 0)
        close(probe);
    unlink(opt->unix_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* local tools only: the socket's own permissions keep other users out */
    mode_t old = umask(0077);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc != 0) {
        xerr *e = xerr_internal("cannot bind %s: %s", opt->unix_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return e;
    }
    srv->unix_path = xstrdup(opt->unix_path);
    const char *err = NULL;
    ChanSwitchUnixCreateFd(fd, &srv->unx.chanswitch, &err);
    if (err) {
        xerr *e = xerr_internal("cannot serve on %s: %s", opt->unix_path, err);
        free((void *)err); /* allocated with malloc by Abyss */
        close(fd);
        return e;
    }
    srv->unx.is_unix = true;
    return setup(srv, &srv->unx, opt);
}

xerr *rpc_start(struct api *api, const struct rpc_options *opt, struct rpc_server **out)
{
    const char *err = NULL;
    AbyssInit(&err);
    if (err) {
        xerr *e = xerr_internal("cannot initialise Abyss: %s", err);
        free((void *)err); /* allocated with malloc by Abyss */
        return e;
    }
    struct rpc_server *srv = xcalloc(1, sizeof(*srv));
    srv->api = api;
    pthread_mutex_init(&srv->busy_lock, NULL);
    pthread_cond_init(&srv->idle, NULL);
    srv->max_request = opt->max_request ? opt->max_request : 16u << 20;
    xerr *e = NULL;
    if (opt->address && *opt->address)
        e = listen_tcp(srv, opt);
    if (!e && opt->unix_path && *opt->unix_path)
        e = listen_unix(srv, opt);
    if (e) {
        rpc_stop(srv, 0);
        return e;
    }
    if (srv->tcp.running)
        log_info("serving the XenAPI on http://%s:%d/ (XML-RPC) and /jsonrpc", opt->address, srv->port);
    if (srv->unx.running)
        log_info("serving the XenAPI on unix:%s", srv->unix_path);
    *out = srv;
    return NULL;
}

int rpc_port(const struct rpc_server *s)
{
    return s->port;
}

/* A stopped server stays allocated: Abyss's connection threads, serving idle
 * keep-alive connections until their clients go, still point at it (and answer 503). */
/* volatile: otherwise the compiler drops this never-read store, and LeakSanitizer
 * reports the whole server as leaked at exit */
static struct rpc_server *volatile stopped;

bool rpc_stop(struct rpc_server *s, double grace)
{
    if (!s)
        return true;
    pthread_mutex_lock(&s->busy_lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->busy_lock);
    /* no more connections; ServerRun returns once its connections have closed, which
     * a keep-alive client may take long to do: it is not waited for */
    if (s->tcp.running)
        ServerTerminate(&s->tcp.server);
    if (s->unx.running)
        ServerTerminate(&s->unx.server);
    if (s->unix_path)
        unlink(s->unix_path);
    /* requests already running (event.from waits, a VM start) get a moment to end */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)grace;
    pthread_mutex_lock(&s->busy_lock);
    while (s->in_flight > 0 && pthread_cond_timedwait(&s->idle, &s->busy_lock, &until) == 0)
        ;
    int left = s->in_flight;
    pthread_mutex_unlock(&s->busy_lock);
    stopped = s;
    if (left)
        log_warn("%d requests still running at stop", left);
    return left == 0;
}
