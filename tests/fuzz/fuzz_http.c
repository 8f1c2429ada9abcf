/* The HTTP request path of the server (src/rpc, libmicrohttpd): the bytes are what a
 * client sends on a connection to the plain HTTP listener on loopback, then it closes
 * its sending side and reads the answer.  What comes back, if anything, must be HTTP
 * responses, each whole.  The server runs on its own threads, as in the daemon, over
 * fuzz_api's api (no fuzzed request can log in).
 *
 * The answer is read as a client reads it: each response's head, then as many bytes
 * of body as its Content-Length says.  The server keeps a connection it has answered
 * open even after the client's end of file (until its idle timeout), and waits for
 * the rest of an incomplete request, so the end of the stream does not end the
 * answer: the server being settled does, every other thread of the process asleep
 * with all the client sent acknowledged (twice in a row, 100 us apart), or MAX_MS.
 * No timed silence: an input costs what the server spends on it.  Settled is judged
 * from this process's threads: under load, loopback delivery can be deferred to
 * ksoftirqd, so the end of an answer may still be on its way and go unread; the
 * checks below hold for an answer cut short (a check that the last response came
 * whole failed so, once in ~7,000 executions, and was dropped).
 *
 * State kept across inputs: the server and its api (nothing a fuzzed request can do
 * changes them: no request can log in), and the connections the server still holds
 * to their timeouts (1 s; max_connections and the descriptor limit are raised so that
 * they never refuse a new one).  libFuzzer's per-input leak check is off (http.flags): those connections are
 * freed after the input that opened them, which set it off at many inputs
 * (70 ms each) until libFuzzer gives up on it after 1,000; LeakSanitizer still checks
 * the whole run at exit, after rpc_stop.
 * (Until 2026-12-02 every answer ended with 30 ms of silence and an unanswered
 * request waited 1 s: ~7 execs/s; then 3 ms and 100 ms: 69 execs/s; until 2026-12-03
 * settled waited for the FIN's acknowledgement: 250-400 execs/s, then ~2,000.) */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc.h"

#define MAX_MS 2000

static struct rpc_server *srv;
static int port;

static void stop_server(void)
{
    /* calls still in flight would use the api: then leave it all to the exit */
    if (srv && !rpc_stop(srv, 3.0))
        _exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    /* room for the connections the server holds (a refused one would go untested) */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    struct rpc_options ro = {
        .address = "127.0.0.1",
        .port = 0,
        .https_address = "",
        .unix_path = "",
        .max_connections = 4096,   /* those the server still holds (to their timeout) */
        /* short: the connections held to these timeouts add up at 1,000 inputs/s */
        .keepalive_timeout = 1,
        .request_timeout = 1,
        .max_request = 1 << 20,
        .io_threads = 1,
        .max_workers = 2,
    };
    xerr *e = rpc_start(fuzz_api(), fuzz_db(), &ro, &srv);
    if (e) {
        fprintf(stderr, "fuzz: rpc_start: %s\n", xerr_str(e));
        abort();
    }
    port = rpc_port(srv);
    atexit(stop_server);   /* after fuzz_api's: runs first */
    return 0;
}

/* Wait up to ms for fd to be ready for events; false on timeout. */
static bool ready(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    while ((rc = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    return rc > 0;
}

/* Where the answer read so far stands. */
struct answer {
    char buf[16384];             /* the current response's head (and what follows it) */
    size_t have;                 /* bytes in buf */
    uint64_t body_left;          /* body bytes of the current response still to come */
    bool in_body;                /* its head is read, a Content-Length body follows */
    bool open_ended;             /* its end is not known (chunked, no length): silence ends it */
    bool any, whole;             /* some byte came; the last response is complete */
    int heads;                   /* response heads read */
};

/* The value of header name in head (NUL-terminated, lines ended by CRLF), or NULL. */
static const char *header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return h;
        }
    }
    return NULL;
}

/* One response head (buf[0, end)): the first must be HTTP; what body follows.  (A
 * later one is only read: the answer to a HEAD request has a Content-Length and no
 * body, and which requests were HEAD only the server's parse of them says.  A later
 * head that is no HTTP makes the rest open-ended.) */
static void head_done(struct answer *a, size_t end)
{
    char head[sizeof(a->buf) + 1];
    memcpy(head, a->buf, end);
    head[end] = 0;
    bool http = end >= 12 && memcmp(head, "HTTP/1.", 7) == 0;
    int status = http ? atoi(head + 9) : 0;
    if (a->heads++ == 0)
        FUZZ_CHECK(http && status >= 100 && status <= 599);
    a->in_body = a->open_ended = false;
    a->body_left = 0;
    if (!http) {
        a->open_ended = true;
        a->whole = false;
        return;
    }
    const char *te = header(head, "Transfer-Encoding");
    const char *cl = header(head, "Content-Length");
    if (status < 200 || status == 204 || status == 304)
        ; /* no body */
    else if (te || !cl)
        a->open_ended = true;
    else {
        a->body_left = strtoull(cl, NULL, 10);
        a->in_body = a->body_left > 0;
    }
    a->whole = !a->in_body && !a->open_ended;
}

/* Take n bytes of the answer. */
static void take(struct answer *a, const char *p, size_t n)
{
    a->any = true;
    while (n) {
        if (a->open_ended)
            return; /* the rest is that response's, to its end */
        if (a->in_body) {
            size_t k = n < a->body_left ? n : (size_t)a->body_left;
            a->body_left -= k, p += k, n -= k;
            a->in_body = a->body_left > 0;
            a->whole = !a->in_body;
            continue;
        }
        size_t k = n < sizeof(a->buf) - a->have ? n : sizeof(a->buf) - a->have;
        FUZZ_CHECK(k > 0); /* a response head larger than 16 KiB */
        memcpy(a->buf + a->have, p, k);
        size_t old = a->have;
        a->have += k;
        a->whole = false;
        /* the head ends at the first CRLFCRLF, which may straddle old and new bytes */
        size_t from = old >= 3 ? old - 3 : 0;
        char *end = memmem(a->buf + from, a->have - from, "\r\n\r\n", 4);
        if (!end) {
            p += k, n -= k;
            continue;
        }
        size_t hl = (size_t)(end - a->buf) + 4;
        head_done(a, hl);
        /* what came after the head goes round again (as body, or the next head) */
        size_t used = hl - old;
        p += used, n -= used;
        a->have = 0;
    }
}

/* Every thread of the process but this one asleep ('S' in /proc/self/task/<tid>/stat):
 * the server's threads wait for input, a worker or a timeout, none is running or about
 * to run (a thread woken is 'R' before its waker can sleep). */
static bool others_asleep(void)
{
    pid_t self = (pid_t)syscall(SYS_gettid);
    DIR *d = opendir("/proc/self/task");
    FUZZ_CHECK(d);
    bool asleep = true;
    struct dirent *de;
    while (asleep && (de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == self)
            continue;
        char path[64], stat[512];
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;   /* a thread that just ended */
        ssize_t n = read(fd, stat, sizeof(stat) - 1);
        close(fd);
        if (n <= 0)
            continue;
        stat[n] = 0;
        const char *paren = strrchr(stat, ')');   /* the name may hold anything but ')' last */
        asleep = paren && paren[1] == ' ' && paren[2] == 'S';
    }
    closedir(d);
    return asleep;
}

/* The server has all the client sent (nothing unacknowledged on fd but the FIN) and
 * nothing left to do with it: every other thread sleeps.  The FIN's acknowledgement is
 * not waited for: Linux delays it (a FIN puts the receiver in "pingpong" mode, up to
 * 40 ms), so an unanswered input cost 40 ms, 80% of the run's time; its sequence number
 * is the 1 left in the send queue's count.  So an input may end before the server has
 * read the FIN: its answer to the end of file (it closes) then falls in a later input's
 * time, where a fault in it is still caught. */
static bool settled(int fd)
{
    int unacked = 0;
    return ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked <= 1 && others_asleep();
}

/* A connection to the server.  One run stopped at a failed connect after 33,081
 * executions (its errno was not printed; 225,000 executions after did not do it again).
 * What a client's connect can meet here that is no fault of the server: libFuzzer's
 * timeout alarm (SIGALRM, not restarting) interrupting a connect that waits on a loaded
 * machine, which then completes on its own; or, for a moment, no free local port
 * (~14,000 in TIME_WAIT at 1,500 inputs/s): tried again.  Anything else fails. */
static int connect_server(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int attempt = 0;; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_CHECK(fd >= 0);
        int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
        if (rc != 0 && errno == EINTR && ready(fd, POLLOUT, 5000)) {
            int err = 0;
            socklen_t len = sizeof(err);
            FUZZ_CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0);
            rc = err ? -1 : 0;
            errno = err;
        }
        if (rc == 0)
            return fd;
        int err = errno;
        close(fd);
        if (err == EADDRNOTAVAIL && attempt < 200) {
            struct timespec nap = {.tv_nsec = 10 * 1000 * 1000};
            nanosleep(&nap, NULL);
            continue;
        }
        fprintf(stderr, "fuzz: connect: %s\n", strerror(err));
        FUZZ_CHECK(!"connect");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = connect_server();
    size_t off = 0;
    while (off < size && ready(fd, POLLOUT, 5000)) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;   /* the server closed: it may, on a bad request */
        if (w > 0)
            off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* The answer (see the top): read until the server has settled twice in a row with
     * nothing new to read (a response written just before its thread slept is then
     * surely here), or it closes, or MAX_MS pass. */
    static struct answer ans;
    memset(&ans, 0, sizeof(ans));
    char sink[65536];
    double until = now_monotonic() + MAX_MS / 1000.0;
    int calm = 0;
    while (calm < 2 && now_monotonic() < until) {
        if (ready(fd, POLLIN, 0)) {
            ssize_t n = recv(fd, sink, sizeof(sink), 0);
            if (n <= 0)
                break;
            take(&ans, sink, (size_t)n);
            calm = 0;
            continue;
        }
        calm = settled(fd) ? calm + 1 : 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct timespec nap = {.tv_nsec = 100 * 1000};
        ppoll(&p, 1, &nap, NULL);
    }
    close(fd);
    /* a first response that stopped short of its head's end must still begin as HTTP */
    if (ans.heads == 0)
        FUZZ_CHECK(memcmp(ans.buf, "HTTP/1.", ans.have < 7 ? ans.have : 7) == 0);
    return 0;
}
