/* What a pool peer answers (issue 15, the pool's traffic): the bytes a member reads
 * back from the master (and the master from a member) over the pool link, fed to
 * rpc_client_call_path as the server's side of a unix socket.  The calls a peer
 * receives are the json and http harnesses'; this one is the other direction: the
 * HTTP response head, Content-Length or chunked body, and the JSON-RPC or XML-RPC
 * answer in it, relayed unread (raw) or read.
 *
 * Input: a mode byte, then the response.  Mode bit 0: JSON-RPC (/jsonrpc) or XML-RPC
 * (/); bit 1: raw, as a member relays a forwarded call's answer; bit 2: a read
 * (VM.get_record, which the client may resend on a fresh connection) or a write;
 * bit 3: a second call on the same client (its kept connection found closed, a new
 * one opened).  Every connection the client opens gets the same response, then the
 * server's end of file.
 *
 * The client runs on one thread kept for the whole run (a thread per input left ASan
 * a dead thread's context per input, and the run's RSS grew with its count); this
 * thread is the server, serving each connection in turn until the client has said
 * it is done and none is waiting. */
#include "harness.h"
#include "rpc.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_fd = -1;
static char *url;

/* The client thread's work: one job per input, handed over under the mutex; the
 * client answers on done_pipe (a byte per job), which the server polls beside the
 * listening socket. */
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cond = PTHREAD_COND_INITIALIZER;
static unsigned long job_seq;
static unsigned job_mode;
static int done_pipe[2] = {-1, -1};

static void *client_main(void *arg);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet_logs();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char *path = xasprintf("%s/peer.sock", fuzz_tmpdir());
    FUZZ_CHECK(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(listen_fd >= 0);
    FUZZ_CHECK(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    FUZZ_CHECK(listen(listen_fd, 8) == 0);
    url = xasprintf("unix:%s", path);
    free(path);
    FUZZ_CHECK(pipe2(done_pipe, O_CLOEXEC) == 0);
    pthread_t t;
    FUZZ_CHECK(pthread_create(&t, NULL, client_main, NULL) == 0);
    FUZZ_CHECK(pthread_detach(t) == 0);
    return 0;
}

static void one_call(struct rpc_client *c, unsigned mode)
{
    bool json = mode & 1, raw = mode & 2, read = mode & 4;
    xv *params = xv_array(), *result = NULL;
    xv_array_push(params, xv_string("OpaqueRef:session"));
    xv_array_push(params, xv_string("OpaqueRef:vm"));
    xerr *e = rpc_client_call_path(c, json ? "/jsonrpc" : "/", raw, read ? "VM.get_record" : "VM.set_name_label",
                                   params, &result);
    xv_free(params);
    if (e) {
        /* a failure names its code, and leaves no result behind */
        FUZZ_CHECK(e->code && *e->code && !result);
        for (size_t i = 0; i < e->nparams; i++)
            FUZZ_CHECK(e->params[i]);
        xerr_free(e);
        return;
    }
    FUZZ_CHECK(result);
    /* what a member does with an answer: written on to its own client, on either wire
     * when it was read, on its own when relayed unread (raw) */
    FUZZ_CHECK(raw || (result->type != XV_RAW_JSON && result->type != XV_RAW_XMLRPC));
    buf b;
    buf_init(&b);
    if (result->type != XV_RAW_XMLRPC)
        wire_json_write(&b, result);
    buf_reset(&b);
    if (result->type != XV_RAW_JSON)
        wire_xmlrpc_write_response(&b, result);
    buf_free(&b);
    xv_free(result);
}

static void *client_main(void *arg)
{
    (void)arg;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&job_lock);
        while (job_seq == seen)
            pthread_cond_wait(&job_cond, &job_lock);
        seen = job_seq;
        unsigned mode = job_mode;
        pthread_mutex_unlock(&job_lock);

        struct rpc_client *c = NULL;
        xerr *e = rpc_client_open(url, &c);
        FUZZ_CHECK(!e);
        one_call(c, mode);
        if (mode & 8)
            one_call(c, mode);
        rpc_client_close(c); /* its connections closed before the server hears done */
        char one = 1;
        while (write(done_pipe[1], &one, 1) != 1)
            FUZZ_CHECK(errno == EINTR);
    }
    return NULL;
}

/* One connection: the response, end of file, then whatever the client sends until it
 * closes (its request, unread). */
static void serve(int fd, const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the client gave up on it (EPIPE) */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    char sink[4096];
    for (;;) {
        ssize_t r = read(fd, sink, sizeof(sink));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pthread_mutex_lock(&job_lock);
    job_mode = data[0];
    job_seq++;
    pthread_cond_signal(&job_cond);
    pthread_mutex_unlock(&job_lock);
    bool client_done = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = listen_fd, .events = POLLIN}, {.fd = done_pipe[0], .events = POLLIN}};
        /* once the client is done (its fds closed), only the connections it left
         * queued remain: taken without waiting */
        int n = poll(p, client_done ? 1 : 2, client_done ? 0 : -1);
        if (n < 0 && errno == EINTR)
            continue;
        FUZZ_CHECK(n >= 0);
        if (p[0].revents & POLLIN) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            FUZZ_CHECK(fd >= 0);
            serve(fd, data + 1, size - 1);
            continue;
        }
        if (client_done)
            break;
        if (p[1].revents & POLLIN) {
            char one;
            FUZZ_CHECK(read(done_pipe[0], &one, 1) == 1);
            client_done = true;
        }
    }
    return 0;
}
