/* bare_mhd: the other baseline of `make bench`, the limit of the HTTP layer xenapid is
 * built on.  A libmicrohttpd server that answers VM.get_record without doing any work.
 *
 *   bare_mhd --response FILE [--tls CERT KEY] [--threads N]
 *
 * The mode src/rpc/server.c runs libmicrohttpd in (epoll, a pool of N threads,
 * default 2; keep-alive; TLS 1.2+ through GnuTLS with --tls, from PEM files), a
 * handler that gathers the request body as ours does and answers with FILE's bytes: a
 * real VM.get_record response captured from the daemon.  One response object is
 * queued again and again, so nothing but HTTP (and TLS) is paid per call.
 *
 * Listens on 127.0.0.1, a free port; prints "bare ready: port N" when it serves, and
 * serves until SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define MAX_REQUEST (16u << 20)      /* max-request-size's default */
#define CONNECTION_LIMIT 20000       /* the bench's clients, never the limit */
#define BACKLOG 1024
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

const char *bench_prog = "bare_mhd";
static struct MHD_Response *canned, *not_found, *bad;

struct body {
    char *p;
    size_t len, cap;
    int too_big;
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)cls;
    (void)version;
    struct body *b = *state;
    if (!b) {
        if (strcmp(url, "/") != 0 && strcmp(url, "/RPC2") != 0)
            return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, not_found);
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, bad);
        *state = b = calloc(1, sizeof(*b));
        return b ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (!body_append(&b->p, &b->len, &b->cap, upload, n, MAX_REQUEST))
            b->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (b->too_big)
        return MHD_queue_response(conn, MHD_HTTP_CONTENT_TOO_LARGE, bad);
    if (b->p && memmem(b->p, b->len, "<methodName>VM.get_record</methodName>", 38))
        return MHD_queue_response(conn, MHD_HTTP_OK, canned);
    return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, not_found);
}

static void completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    struct body *b = *state;
    if (b) {
        free(b->p);
        free(b);
        *state = NULL;
    }
}

static struct MHD_Response *text_response(const char *text, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    if (!r || MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES)
        die("MHD_create_response_from_buffer", "failed");
    return r;
}

static void on_signal(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    const char *response = NULL, *cert = NULL, *key = NULL;
    unsigned threads = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--response") == 0 && i + 1 < argc)
            response = argv[++i];
        else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            cert = argv[++i];
            key = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else
            die("usage", "bare_mhd --response FILE [--tls CERT KEY] [--threads N]");
    }
    if (!response || threads < 1)
        die("usage", "bare_mhd --response FILE [--tls CERT KEY] [--threads N]");
    signal(SIGPIPE, SIG_IGN);
    size_t len;
    char *body = read_file(response, &len);
    canned = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!canned || MHD_add_response_header(canned, MHD_HTTP_HEADER_CONTENT_TYPE, "text/xml") != MHD_YES)
        die("MHD_create_response_from_buffer", "failed");
    not_found = text_response("bare_mhd answers VM.get_record only\n", "text/plain");
    bad = text_response("Bad request\n", "text/plain");

    int port;
    int fd = bind_free_port(&port, BACKLOG);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    char *cert_pem = NULL, *key_pem = NULL;
    if (cert) {
        size_t n;
        cert_pem = read_file(cert, &n);
        key_pem = read_file(key, &n);
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_ARRAY, cert ? tls_opts : tls_opts + 3,
        MHD_OPTION_END);
    if (!d)
        die("MHD_start_daemon", "failed");
    printf("bare ready: port %d\n", port);
    fflush(stdout);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pause();
    MHD_stop_daemon(d);
    MHD_destroy_response(canned);
    MHD_destroy_response(not_found);
    MHD_destroy_response(bad);
    free(body);
    free(cert_pem);
    free(key_pem);
    return 0;
}
