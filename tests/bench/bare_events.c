/* bare_events: the baseline of `make bench`'s event.from figure with many waiters: a
 * libmicrohttpd server that answers what `lifeclient events` sends and does no other
 * work, so that its figure is what the HTTP layer and the client cost here.
 *
 *   bare_events --answer FILE --vm REF [--threads N]
 *
 * The mode src/rpc/server.c runs libmicrohttpd in (epoll, a pool of N threads, default
 * 2, suspend and resume, keep-alive), JSON-RPC on any path, the method found by name:
 *   session.login_with_password  a canned session;
 *   VM.create                    REF;
 *   event.from                   with a zero timeout, FILE's bytes at once (FILE: a real
 *                                event.from answer captured from the daemon, naming REF,
 *                                with a token); with any other, the connection suspended;
 *   VM.set_name_label            answered, then every suspended connection resumed and
 *                                answered with FILE's bytes;
 *   anything else                an empty string result.
 * One response object per answer is queued again and again.
 *
 * Listens on 127.0.0.1, a free port; prints "bare ready: port N" when it serves, and
 * serves until SIGTERM or SIGINT. */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <unistd.h>

#include "common.h"

#define MAX_REQUEST (16u << 20)
#define CONNECTION_LIMIT 20000
#define BACKLOG 4096

const char *bench_prog = "bare_events";

struct server {
    struct MHD_Response *events, *session, *vm, *empty;
    pthread_mutex_t lock;
    struct call *parked;         /* suspended event.from calls */
};

struct call {
    struct call *next;
    struct MHD_Connection *conn;
    char *p;
    size_t len, cap;
    bool parked, woken;
};

static bool is_method(const struct call *c, const char *m)
{
    char key[128];
    int n = snprintf(key, sizeof(key), "\"method\":\"%s\"", m);
    return c->p && memmem(c->p, c->len, key, (size_t)n);
}

/* The write: answered, then every parked call resumed (MHD_resume_connection only
 * marks it; the connection's own thread answers it). */
static enum MHD_Result write_and_wake(struct server *s, struct MHD_Connection *conn)
{
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, s->empty);
    pthread_mutex_lock(&s->lock);
    struct call *c = s->parked;
    s->parked = NULL;
    for (; c; c = c->next) {
        c->woken = true;
        MHD_resume_connection(c->conn);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)url;
    (void)version;
    struct server *s = cls;
    struct call *c = *state;
    if (!c) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return MHD_NO;
        *state = c = calloc(1, sizeof(*c));
        if (!c)
            die("calloc", "out of memory");
        c->conn = conn;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (!body_append(&c->p, &c->len, &c->cap, upload, n, MAX_REQUEST))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (c->parked) /* resumed by the write */
        return MHD_queue_response(conn, MHD_HTTP_OK, s->events);
    if (is_method(c, "event.from")) {
        if (memmem(c->p, c->len, ",0.0]", 5))
            return MHD_queue_response(conn, MHD_HTTP_OK, s->events);
        /* suspended before it is listed: the write resumes only suspended calls */
        pthread_mutex_lock(&s->lock);
        MHD_suspend_connection(conn);
        c->parked = true;
        c->next = s->parked;
        s->parked = c;
        pthread_mutex_unlock(&s->lock);
        return MHD_YES;
    }
    if (is_method(c, "VM.set_name_label"))
        return write_and_wake(s, conn);
    if (is_method(c, "session.login_with_password"))
        return MHD_queue_response(conn, MHD_HTTP_OK, s->session);
    if (is_method(c, "VM.create"))
        return MHD_queue_response(conn, MHD_HTTP_OK, s->vm);
    return MHD_queue_response(conn, MHD_HTTP_OK, s->empty);
}

static void completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode why)
{
    (void)conn;
    (void)why;
    struct server *s = cls;
    struct call *c = *state;
    if (!c)
        return;
    if (c->parked) { /* closed while waiting: off the list */
        pthread_mutex_lock(&s->lock);
        for (struct call **pp = &s->parked; !c->woken && *pp; pp = &(*pp)->next)
            if (*pp == c) {
                *pp = c->next;
                break;
            }
        pthread_mutex_unlock(&s->lock);
    }
    free(c->p);
    free(c);
    *state = NULL;
}

/* The headers xenapid sends with a call's answer, so that the bytes on the wire match. */
static struct MHD_Response *json_response(char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        die("MHD_create_response_from_buffer", "failed");
    MHD_set_response_options(r, MHD_RF_SEND_KEEP_ALIVE_HEADER, MHD_RO_END);
    if (MHD_add_response_header(r, "cache-control", "no-cache, no-store") != MHD_YES ||
        MHD_add_response_header(r, "content-type", "application/json") != MHD_YES ||
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*") != MHD_YES ||
        MHD_add_response_header(r, "Access-Control-Allow-Headers", "X-Requested-With") != MHD_YES)
        die("MHD_add_response_header", "failed");
    return r;
}

static struct MHD_Response *string_result(const char *value, char **keep)
{
    size_t n = strlen(value) + 64;
    *keep = malloc(n);
    if (!*keep)
        die("malloc", "out of memory");
    int len = snprintf(*keep, n, "{\"jsonrpc\":\"2.0\",\"result\":\"%s\",\"id\":1}", value);
    return json_response(*keep, (size_t)len);
}

static void on_signal(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    const char *answer = NULL, *vm = NULL;
    unsigned threads = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--answer") == 0 && i + 1 < argc)
            answer = argv[++i];
        else if (strcmp(argv[i], "--vm") == 0 && i + 1 < argc)
            vm = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else
            die("usage", "bare_events --answer FILE --vm REF [--threads N]");
    }
    if (!answer || !vm || threads < 1)
        die("usage", "bare_events --answer FILE --vm REF [--threads N]");
    signal(SIGPIPE, SIG_IGN);
    struct server s = {.parked = NULL};
    pthread_mutex_init(&s.lock, NULL);
    size_t len;
    char *body = read_file(answer, &len);
    if (!memmem(body, len, vm, strlen(vm)) || !memmem(body, len, "\"token\":\"", 9))
        die(answer, "not an event.from answer naming the VM, with a token");
    char *sbody, *vbody, *ebody;
    s.events = json_response(body, len);
    s.session = string_result("OpaqueRef:bare-events-session", &sbody);
    s.vm = string_result(vm, &vbody);
    s.empty = string_result("", &ebody);

    int port;
    int fd = bind_free_port(&port, BACKLOG);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     MHD_USE_SUPPRESS_DATE_NO_CLOCK;
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handle, &s, MHD_OPTION_LISTEN_SOCKET, fd,
                                            MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
                                            (unsigned)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, &s, MHD_OPTION_END);
    if (!d)
        die("MHD_start_daemon", "failed");
    printf("bare ready: port %d\n", port);
    fflush(stdout);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pause();
    /* parked calls answered, so that the daemon stops */
    pthread_mutex_lock(&s.lock);
    for (struct call *c = s.parked; c; c = c->next) {
        c->woken = true;
        MHD_resume_connection(c->conn);
    }
    s.parked = NULL;
    pthread_mutex_unlock(&s.lock);
    MHD_stop_daemon(d);
    MHD_destroy_response(s.events);
    MHD_destroy_response(s.session);
    MHD_destroy_response(s.vm);
    MHD_destroy_response(s.empty);
    free(body);
    free(sbody);
    free(vbody);
    free(ebody);
    pthread_mutex_destroy(&s.lock);
    return 0;
}
