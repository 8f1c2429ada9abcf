/* bare_server: the baseline `make bench` compares xenapid with.  An xmlrpc-c Abyss
 * server that answers VM.get_record without doing any work.
 *
 *   bare_server --response FILE [--registry]
 *
 * Default (canned): the same raw Abyss API, tuned exactly as src/rpc/server.c tunes
 * ours (max_conn 512, max_conn_backlog 1024, keep-alive timeout 60 s, "keepalive max
 * conn" -- requests per connection -- 10^9, 4 MiB handler stack, no advertising), and
 * a request handler that reads the body the same way and answers with FILE's bytes: a
 * real VM.get_record response captured from the daemon.  Same HTTP stack, same
 * keep-alive behaviour, same response bytes; only our work is missing.
 *
 * --registry: xmlrpc-c's own server (xmlrpc_server_abyss(), the same tuning through
 * its parameters, sized with XMLRPC_APSIZE(max_conn_backlog) so that they are not
 * ignored) with VM.get_record registered as a method returning the struct parsed from
 * FILE: what a plain xmlrpc-c server pays to parse the call and serialise the record.
 *
 * Listens on 127.0.0.1, a free port; prints "bare ready: port N" when it serves. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xmlrpc-c/abyss.h>
#include <xmlrpc-c/base.h>
#include <xmlrpc-c/client.h>
#include <xmlrpc-c/server.h>
#include <xmlrpc-c/server_abyss.h>

#include "common.h"

#define MAX_CONN 512               /* max-connections' default (etc/xenapid.conf) */
#define MAX_CONN_BACKLOG 1024      /* src/rpc/server.c */
#define KEEPALIVE_TIMEOUT 60       /* keepalive-timeout's default */
#define KEEPALIVE_MAX_REQ 1000000000u
#define TIMEOUT 60
#define MAX_REQUEST (16u << 20)    /* max-request-size's default */

const char *bench_prog = "bare_server";
static char *canned;
static size_t canned_len;

/* ---- canned: the raw Abyss API, as src/rpc/server.c uses it ---- */

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

/* The request body, read the way src/rpc/server.c reads it. */
static int read_body(TSession *s, char **out, size_t *out_len)
{
    const char *cl = RequestHeaderValue(s, (char *)"content-length");
    if (!cl)
        return 411;
    char *end;
    unsigned long long len = strtoull(cl, &end, 10);
    if (*end || end == cl)
        return 411;
    if (len > MAX_REQUEST)
        return 413;
    char *body = malloc(len + 1);
    size_t have = 0;
    while (have < len) {
        const char *chunk;
        size_t got = 0;
        SessionGetReadData(s, len - have, &chunk, &got);
        if (got) {
            memcpy(body + have, chunk, got);
            have += got;
            continue;
        }
        if (!SessionRefillBuffer(s)) {
            free(body);
            return 408;
        }
    }
    body[len] = 0;
    *out = body;
    *out_len = len;
    return 0;
}

static void handle(void *userdata, TSession *s, abyss_bool *handled)
{
    (void)userdata;
    const TRequestInfo *ri;
    SessionGetRequestInfo(s, &ri);
    *handled = 1;
    if (strcmp(ri->uri, "/") != 0 && strcmp(ri->uri, "/RPC2") != 0) {
        respond_text(s, 404, "Not found\n");
        return;
    }
    if (ri->method != m_post) {
        respond_text(s, 405, "Use POST\n");
        return;
    }
    char *body = NULL;
    size_t len = 0;
    int status = read_body(s, &body, &len);
    if (status) {
        respond_text(s, status, "Bad request\n");
        return;
    }
    if (memmem(body, len, "<methodName>VM.get_record</methodName>", 38))
        respond(s, 200, "text/xml", canned, canned_len);
    else
        respond_text(s, 404, "bare_server answers VM.get_record only\n");
    free(body);
}

static void run_canned(void)
{
    const char *err = NULL;
    AbyssInit(&err);
    if (err)
        die("AbyssInit", err);
    int port;
    int fd = bind_free_port(&port, 0);
    TChanSwitch *cs;
    ChanSwitchUnixCreateFd(fd, &cs, &err);
    if (err)
        die("ChanSwitchUnixCreateFd", err);
    TServer server;
    ServerCreateSwitch(&server, cs, &err);
    if (err)
        die("ServerCreateSwitch", err);
    ServerSetName(&server, "bare");
    ServerSetKeepaliveTimeout(&server, KEEPALIVE_TIMEOUT);
    ServerSetKeepaliveMaxConn(&server, KEEPALIVE_MAX_REQ);
    ServerSetTimeout(&server, TIMEOUT);
    ServerSetMaxConn(&server, MAX_CONN);
    ServerSetMaxConnBacklog(&server, MAX_CONN_BACKLOG);
    ServerSetAdvertise(&server, 0);
    struct ServerReqHandler3 h = {
        .term = NULL,
        .handleReq = handle,
        .userdata = NULL,
        .handleReqStackSize = 4u << 20,
    };
    abyss_bool ok = 0;
    ServerAddHandler3(&server, &h, &ok);
    if (!ok)
        die("ServerAddHandler3", "failed");
    ServerInit2(&server, &err);
    if (err)
        die("ServerInit2", err);
    printf("bare ready: port %d\n", port);
    fflush(stdout);
    ServerRun(&server);
}

/* ---- registry: xmlrpc-c's own server ---- */

static xmlrpc_value *record;

static xmlrpc_value *get_record(xmlrpc_env *env, xmlrpc_value *params, void *server_info, void *call_info)
{
    (void)env;
    (void)params;
    (void)server_info;
    (void)call_info;
    xmlrpc_INCREF(record);
    return record;
}

static void run_registry(void)
{
    xmlrpc_env env;
    xmlrpc_env_init(&env);
    int fault_code = 0;
    const char *fault_string = NULL;
    xmlrpc_parse_response2(&env, canned, canned_len, &record, &fault_code, &fault_string);
    if (env.fault_occurred)
        die("parsing the captured response", env.fault_string);
    if (fault_string)
        die("the captured response is a fault", fault_string);
    xmlrpc_registry *reg = xmlrpc_registry_new(&env);
    struct xmlrpc_method_info3 mi = {.methodName = "VM.get_record", .methodFunction = get_record,
                                     .stackSize = 0};
    xmlrpc_registry_add_method3(&env, reg, &mi);
    if (env.fault_occurred)
        die("registering VM.get_record", env.fault_string);
    int port;
    int fd = bind_free_port(&port, MAX_CONN_BACKLOG);
    xmlrpc_server_abyss_parms p;
    memset(&p, 0, sizeof(p));
    p.config_file_name = NULL;
    p.registryP = reg;
    p.keepalive_timeout = KEEPALIVE_TIMEOUT;
    p.keepalive_max_conn = KEEPALIVE_MAX_REQ;
    p.timeout = TIMEOUT;
    p.dont_advertise = 1;
    p.socket_bound = 1;
    p.socket_handle = fd;
    p.uri_path = "/";
    p.max_conn = MAX_CONN;
    p.max_conn_backlog = MAX_CONN_BACKLOG;
    printf("bare ready: port %d\n", port);
    fflush(stdout);
    /* the size covers max_conn_backlog, or max_conn and max_conn_backlog are ignored */
    xmlrpc_server_abyss(&env, &p, XMLRPC_APSIZE(max_conn_backlog));
    if (env.fault_occurred)
        die("xmlrpc_server_abyss", env.fault_string);
}

int main(int argc, char **argv)
{
    const char *response = NULL;
    int registry = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--response") == 0 && i + 1 < argc)
            response = argv[++i];
        else if (strcmp(argv[i], "--registry") == 0)
            registry = 1;
        else
            die("usage", "bare_server --response FILE [--registry]");
    }
    if (!response)
        die("usage", "bare_server --response FILE [--registry]");
    signal(SIGPIPE, SIG_IGN);
    canned = read_file(response, &canned_len);
    if (registry)
        run_registry();
    else
        run_canned();
    return 0;
}
