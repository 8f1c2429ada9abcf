/* lifeclient: the lifecycle and event parts of `make bench`, as a client would drive the
 * daemon: JSON-RPC over HTTP/1.1 keep-alive connections on loopback, doing no JSON work
 * beyond finding the result, so that it measures the server.
 *
 *   lifeclient PORT PASSWORD cycles CLIENTS SECONDS
 *       CLIENTS threads, each on its own connection and session, repeat VM.create,
 *       VM.start, VM.hard_shutdown, VM.destroy for SECONDS; prints
 *       "clients C cycles N seconds S per_s R p50_ms M p99_ms M"
 *   lifeclient PORT PASSWORD events WAITERS ROUNDS [SAVE]
 *       WAITERS connections (a session per 10), park an event.from on the VM
 *       class; one more connection then changes a VM's name_label.  Latency is from the
 *       write's answer (it is committed, durable and acknowledged) to each waiter's
 *       answer (one epoll thread reads them all; an answer that came first counts 0);
 *       "sent_" figures count from the moment the write was sent instead.  ROUNDS rounds;
 *       prints "waiters W rounds R median_ms M p99_ms M max_ms M last_median_ms M
 *       last_max_ms M sent_median_ms M sent_last_max_ms M write_ms M" (last: each round's
 *       last answer, its median and worst over the rounds; write_ms: the write's own
 *       median latency).  With SAVE, the body of one waiter's answer is written to
 *       the file SAVE and the line ends "vm REF", the VM written (bare_events answers
 *       with them).  With BENCH_SERVER_PID set in the environment, the line also has
 *       wake_cpu_ms: that process's CPU time (all its threads, from
 *       /proc/PID/task/N/schedstat) from the write's sending to the last answer, the
 *       median over the rounds.
 *
 * Any answer that is not a JSON-RPC result makes it fail (exit 1, the answer on stderr). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cycles.h"

static int port;
static const char *password;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lifeclient: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

struct conn {
    int fd;
    char *p;                     /* what was read: headers + body */
    size_t len, cap;
    size_t body, body_len;       /* once a whole response is in */
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

static void send_call(struct conn *c, const char *method, const char *params)
{
    char head[256];
    size_t blen = strlen(method) + strlen(params) + 64;
    char *body = malloc(blen);
    int n = snprintf(body, blen, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":%s,\"id\":1}", method, params);
    int hl = snprintf(head, sizeof(head),
                      "POST /jsonrpc HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: xenapid-bench\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", n);
    send_all(c->fd, head, (size_t)hl);
    send_all(c->fd, body, (size_t)n);
    free(body);
    c->len = 0;
}

/* Reads what is there (blocking or not); true once a whole response is in. */
static bool read_some(struct conn *c)
{
    if (c->cap - c->len < 16384) {
        c->cap = c->cap * 2 + 16384;
        c->p = realloc(c->p, c->cap + 1);
    }
    ssize_t got = recv(c->fd, c->p + c->len, c->cap - c->len, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (got <= 0)
        die("the server closed the connection or failed: %s", got ? strerror(errno) : "EOF");
    c->len += (size_t)got;
    c->p[c->len] = 0;
    char *end = strstr(c->p, "\r\n\r\n");
    if (!end)
        return false;
    const char *cl = NULL;
    for (char *line = strstr(c->p, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            cl = line + 17;
    if (!cl)
        die("no Content-Length in the response");
    c->body = (size_t)(end + 4 - c->p);
    c->body_len = strtoul(cl, NULL, 10);
    return c->len >= c->body + c->body_len;
}

/* The result of the answer in c: a string result copied to out (when out), else die. */
static void check_result(struct conn *c, const char *what, char *out, size_t outlen)
{
    int status = 0;
    if (sscanf(c->p, "HTTP/1.%*d %d", &status) != 1 || status != 200)
        die("%s: HTTP %d: %.*s", what, status, (int)c->body_len, c->p + c->body);
    char *b = c->p + c->body;
    b[c->body_len] = 0;
    char *r = strstr(b, "\"result\":");
    if (!r || strstr(b, "\"error\":{"))
        die("%s failed: %.2000s", what, b);
    if (!out)
        return;
    r += 9;
    while (*r == ' ')
        r++;
    if (*r != '"')
        die("%s: not a string result: %.200s", what, b);
    char *q = strchr(r + 1, '"');
    if (!q || (size_t)(q - r - 1) >= outlen)
        die("%s: bad result: %.200s", what, b);
    memcpy(out, r + 1, (size_t)(q - r - 1));
    out[q - r - 1] = 0;
}

static void rpc(struct conn *c, const char *method, const char *params, char *out, size_t outlen)
{
    send_call(c, method, params);
    while (!read_some(c))
        ;
    check_result(c, method, out, outlen);
}

static void login(struct conn *c, char *session, size_t len)
{
    char params[512];
    snprintf(params, sizeof(params), "[\"root\",\"%s\",\"2.21\",\"xenapid-bench\"]", password);
    rpc(c, "session.login_with_password", params, session, len);
}

/* ---- cycles ---- */

static void *cycler(void *arg)
{
    struct worker *w = arg;
    struct conn c = {.fd = connect_server()};
    char session[128], vm[128], params[1024];
    login(&c, session, sizeof(session));
    for (long i = 0; now() < w->until; i++) {
        double t0 = now();
        /* 32 MiB PV guests: 32 clients fit in the simulator's host */
        snprintf(params, sizeof(params),
                 "[\"%s\",{\"name_label\":\"life-%d-%ld\",\"PV_kernel\":\"/boot/vmlinuz-guest\","
                 "\"memory_static_max\":\"33554432\",\"memory_dynamic_max\":\"33554432\","
                 "\"memory_dynamic_min\":\"33554432\",\"memory_static_min\":\"16777216\"}]",
                 session, w->id, i);
        rpc(&c, "VM.create", params, vm, sizeof(vm));
        snprintf(params, sizeof(params), "[\"%s\",\"%s\",false,false]", session, vm);
        rpc(&c, "VM.start", params, NULL, 0);
        snprintf(params, sizeof(params), "[\"%s\",\"%s\"]", session, vm);
        rpc(&c, "VM.hard_shutdown", params, NULL, 0);
        rpc(&c, "VM.destroy", params, NULL, 0);
        worker_note(w, t0);
    }
    snprintf(params, sizeof(params), "[\"%s\"]", session);
    rpc(&c, "session.logout", params, NULL, 0);
    close(c.fd);
    free(c.p);
    return NULL;
}

/* ---- events ---- */

#define SESSION_SHARE 10

/* The CPU time of every thread of process pid so far, in ms (schedstat: nanoseconds,
 * where /proc/PID/stat counts ticks of 10 ms); 0 when pid is 0. */
static double process_cpu_ms(int pid)
{
    if (!pid)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        die("%s: %s", path, strerror(errno));
    double ms = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char p[300];
        snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p, "r");
        unsigned long long ns = 0;
        if (f && fscanf(f, "%llu", &ns) == 1)
            ms += (double)ns / 1e6;
        if (f)
            fclose(f);
    }
    closedir(d);
    return ms;
}

static void events(int waiters, int rounds, const char *save)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)waiters + 64)
        die("ulimit -n is %ld: %d waiters need more", (long)rl.rlim_cur, waiters);
    struct conn writer = {.fd = connect_server()};
    char wsession[128], vm[128], params[1024], token[256];
    login(&writer, wsession, sizeof(wsession));
    snprintf(params, sizeof(params), "[\"%s\",{\"name_label\":\"events\",\"PV_kernel\":\"/boot/vmlinuz-guest\"}]",
             wsession);
    rpc(&writer, "VM.create", params, vm, sizeof(vm));
    struct conn *c = calloc((size_t)waiters, sizeof(*c));
    char (*sess)[128] = calloc((size_t)waiters, sizeof(*sess));
    /* a session per SESSION_SHARE waiters: a login's password hash costs milliseconds,
     * and 1,000 of them in a row took longer than the daemon keeps an idle connection */
    for (int i = 0; i < waiters; i++) {
        c[i].fd = connect_server();
        if (i % SESSION_SHARE == 0)
            login(&c[i], sess[i], sizeof(sess[i]));
        else
            memcpy(sess[i], sess[i - i % SESSION_SHARE], sizeof(sess[i]));
    }
    /* the writer's connection anew, for the same reason */
    close(writer.fd);
    writer.fd = connect_server();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < waiters; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
    }
    double *all = malloc((size_t)waiters * (size_t)rounds * sizeof(double));
    double *sent = malloc((size_t)waiters * (size_t)rounds * sizeof(double));
    double *sent_last = malloc((size_t)rounds * sizeof(double)), *last = malloc((size_t)rounds * sizeof(double));
    double *wlat = malloc((size_t)rounds * sizeof(double)), *wcpu = malloc((size_t)rounds * sizeof(double));
    const char *spid = getenv("BENCH_SERVER_PID");
    int server_pid = spid ? atoi(spid) : 0;
    size_t nall = 0;
    struct epoll_event evs[256];
    for (int r = 0; r < rounds; r++) {
        /* the token now: event.from with a zero timeout answers at once */
        snprintf(params, sizeof(params), "[\"%s\",[\"vm\"],\"\",0.0]", wsession);
        send_call(&writer, "event.from", params);
        while (!read_some(&writer))
            ;
        check_result(&writer, "event.from", NULL, 0);
        char *tk = strstr(writer.p + writer.body, "\"token\":\"");
        if (!tk)
            die("event.from: no token: %.300s", writer.p + writer.body);
        tk += 9;
        char *q = strchr(tk, '"');
        if (!q || (size_t)(q - tk) >= sizeof(token))
            die("event.from: bad token");
        memcpy(token, tk, (size_t)(q - tk));
        token[q - tk] = 0;
        for (int i = 0; i < waiters; i++) {
            snprintf(params, sizeof(params), "[\"%s\",[\"vm\"],\"%s\",30.0]", sess[i], token);
            send_call(&c[i], "event.from", params);
        }
        /* every wait parked: none has answered, and the daemon has read them all */
        usleep(waiters >= 100 ? 500000 : 100000);
        int n = epoll_wait(ep, evs, 256, 0);
        if (n != 0)
            die("round %d: %d waiters answered before the write", r, n);
        snprintf(params, sizeof(params), "[\"%s\",\"%s\",\"events-%d\"]", wsession, vm, r);
        double cpu0 = process_cpu_ms(server_pid);
        double t0 = now();
        send_call(&writer, "VM.set_name_label", params);
        int done = 0;
        while (!read_some(&writer))
            ;
        double wdone = now();
        check_result(&writer, "VM.set_name_label", NULL, 0);
        wlat[r] = (wdone - t0) * 1e3;
        double lst = 0;
        while (done < waiters) {
            n = epoll_wait(ep, evs, 256, 30000);
            if (n <= 0)
                die("round %d: %d of %d waiters answered within 30 s", r, done, waiters);
            for (int k = 0; k < n; k++) {
                struct conn *w = &c[evs[k].data.u32];
                if (!read_some(w))
                    continue;
                double t = now();
                check_result(w, "event.from", NULL, 0);
                if (!strstr(w->p + w->body, vm))
                    die("event.from answered without the VM written: %.300s", w->p + w->body);
                if (save && r == rounds - 1 && done == 0) {
                    FILE *f = fopen(save, "wb");
                    if (!f || fwrite(w->p + w->body, 1, w->body_len, f) != w->body_len || fclose(f) != 0)
                        die("%s: cannot write it", save);
                }
                all[nall] = t > wdone ? (t - wdone) * 1e3 : 0;
                sent[nall++] = (t - t0) * 1e3;
                lst = t;
                done++;
            }
        }
        wcpu[r] = process_cpu_ms(server_pid) - cpu0;
        last[r] = lst > wdone ? (lst - wdone) * 1e3 : 0;
        sent_last[r] = (lst - t0) * 1e3;
    }
    qsort(all, nall, sizeof(double), cmp_double);
    qsort(sent, nall, sizeof(double), cmp_double);
    qsort(sent_last, (size_t)rounds, sizeof(double), cmp_double);
    qsort(last, (size_t)rounds, sizeof(double), cmp_double);
    qsort(wlat, (size_t)rounds, sizeof(double), cmp_double);
    qsort(wcpu, (size_t)rounds, sizeof(double), cmp_double);
    printf("waiters %d rounds %d median_ms %.3f p99_ms %.3f max_ms %.3f last_median_ms %.3f last_max_ms %.3f "
           "sent_median_ms %.3f sent_last_max_ms %.3f write_ms %.3f",
           waiters, rounds, pct(all, nall, 0.5), pct(all, nall, 0.99), all[nall - 1], pct(last, (size_t)rounds, 0.5),
           last[rounds - 1], pct(sent, nall, 0.5), sent_last[rounds - 1], pct(wlat, (size_t)rounds, 0.5));
    if (server_pid)
        printf(" wake_cpu_ms %.3f", pct(wcpu, (size_t)rounds, 0.5));
    printf("%s%s\n", save ? " vm " : "", save ? vm : "");
    for (int i = 0; i < waiters; i++) {
        close(c[i].fd);
        free(c[i].p);
    }
    snprintf(params, sizeof(params), "[\"%s\",\"%s\"]", wsession, vm);
    rpc(&writer, "VM.destroy", params, NULL, 0);
    close(writer.fd);
    free(writer.p);
    free(c);
    free(sess);
    free(all);
    free(sent);
    free(sent_last);
    free(last);
    free(wlat);
    free(wcpu);
    close(ep);
}

int main(int argc, char **argv)
{
    if (argc != 6 && !(argc == 7 && strcmp(argv[3], "events") == 0))
        die("usage: lifeclient PORT PASSWORD cycles CLIENTS SECONDS | events WAITERS ROUNDS [SAVE]");
    port = atoi(argv[1]);
    password = argv[2];
    if (strcmp(argv[3], "cycles") == 0) {
        int n = atoi(argv[4]);
        if (n < 1 || n > 1024)
            die("cycles: CLIENTS must be 1..1024");
        run_cycles(n, atof(argv[5]), cycler);
    } else if (strcmp(argv[3], "events") == 0) {
        int n = atoi(argv[4]), r = atoi(argv[5]);
        if (n < 1 || r < 1)
            die("events: WAITERS and ROUNDS must be at least 1");
        events(n, r, argc == 7 ? argv[6] : NULL);
    } else {
        die("unknown command %s", argv[3]);
    }
    return 0;
}
