/* benchclient: the small XML-RPC-over-HTTP/1.1 client `make bench` drives the daemon
 * with where wrk does not fit: one call (login, VM.create, capturing a response), a call
 * repeated and timed (VM.get_all_records), and many VM.create calls from several
 * keep-alive connections at once (filling the database).  Self-contained on purpose: it
 * sends the bytes it is given and does no XML work, so it measures the server.
 *
 *   benchclient PORT call FILE              one call; the response body to stdout
 *   benchclient PORT repeat FILE N          N calls on one connection; prints
 *                                            "calls N min_ms M median_ms M max_ms M bytes B"
 *   benchclient PORT fill FILE N CLIENTS    N calls, FILE's "@I@" replaced by the call's
 *                                            number, from CLIENTS connections; prints
 *                                            "calls N seconds S per_s R"
 *
 * FILE is a request body ("-" for standard input).  Responses come with a Content-Length
 * or chunked (the daemon streams big ones).  Any response that is not HTTP 200
 * with a XenAPI "Success" status makes it fail (exit 1, the response on stderr). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port;
static char address[64] = "127.0.0.1"; /* PORT or ADDRESS:PORT, loopback only */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("benchclient: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap + 1);
    size_t got;
    while ((got = fread(p + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            p = realloc(p, (cap *= 2) + 1);
    }
    if (f != stdin)
        fclose(f);
    p[n] = 0;
    *len = n;
    return p;
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, address, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127)
        die("not a loopback address: %s", address);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect to %s:%d: %s", address, port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

struct resp {
    char *p;              /* headers + body */
    size_t len, cap;
    size_t body;          /* offset of the body */
    size_t body_len;
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

static void fill_more(int fd, struct resp *r)
{
    if (r->cap - r->len < 65536) {
        r->cap = r->cap * 2 + 65536;
        r->p = realloc(r->p, r->cap + 1);
    }
    ssize_t got = recv(fd, r->p + r->len, r->cap - r->len, 0);
    if (got < 0 && errno == EINTR)
        return;
    if (got <= 0)
        die("the server closed the connection or failed: %s", got ? strerror(errno) : "EOF");
    r->len += (size_t)got;
    r->p[r->len] = 0;
}

/* A chunked body (a big answer the daemon streams), decoded in place: the chunks'
 * data moved down to follow each other from r->body; r->body_len is their total. */
static void read_chunked(int fd, struct resp *r)
{
    size_t at = r->body; /* the next chunk's size line */
    r->body_len = 0;
    for (;;) {
        char *eol;
        while (r->len < at + 3 || !(eol = strstr(r->p + at, "\r\n")))
            fill_more(fd, r);
        char *end;
        size_t size = strtoul(r->p + at, &end, 16);
        if (end == r->p + at)
            die("a malformed chunk");
        size_t data = (size_t)(eol + 2 - r->p);
        while (r->len < data + size + 2)
            fill_more(fd, r);
        if (size == 0)
            break;
        memmove(r->p + r->body + r->body_len, r->p + data, size);
        r->body_len += size;
        /* what follows the chunk moves down too, so that the buffer stays compact */
        size_t rest = r->len - (data + size + 2);
        memmove(r->p + r->body + r->body_len, r->p + data + size + 2, rest);
        r->len = r->body + r->body_len + rest;
        r->p[r->len] = 0;
        at = r->body + r->body_len;
    }
    r->p[r->body + r->body_len] = 0;
}

/* One request and its whole response, on a keep-alive connection.  Requests are
 * strictly sequential, so nothing is read past the response. */
static void call(int fd, const char *body, size_t len, struct resp *r)
{
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: xenapid-bench\r\n"
                      "Content-Type: text/xml\r\nContent-Length: %zu\r\n\r\n", len);
    send_all(fd, head, (size_t)hl);
    send_all(fd, body, len);
    r->len = 0;
    char *end;
    for (;;) {
        if (r->len && (end = strstr(r->p, "\r\n\r\n")) != NULL)
            break;
        fill_more(fd, r);
    }
    r->body = (size_t)(end + 4 - r->p);
    int status = 0;
    if (sscanf(r->p, "HTTP/1.%*d %d", &status) != 1)
        die("not an HTTP response");
    const char *cl = NULL;
    int chunked = 0;
    for (char *line = strstr(r->p, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
            cl = line + 17;
        if (strncasecmp(line + 2, "Transfer-Encoding: chunked\r\n", 28) == 0)
            chunked = 1;
    }
    if (chunked) {
        read_chunked(fd, r);
    } else {
        if (!cl)
            die("no Content-Length in the response");
        r->body_len = strtoul(cl, NULL, 10);
        while (r->len < r->body + r->body_len)
            fill_more(fd, r);
    }
    if (status != 200)
        die("HTTP %d: %.*s", status, (int)r->body_len, r->p + r->body);
    /* the XenAPI envelope: Status comes first, so looking at the head is enough */
    size_t look = r->body_len < 512 ? r->body_len : 512;
    char save = r->p[r->body + look];
    r->p[r->body + look] = 0;
    int ok = strstr(r->p + r->body, ">Success<") != NULL;
    r->p[r->body + look] = save;
    if (!ok)
        die("the call failed: %.*s", (int)(r->body_len < 2000 ? r->body_len : 2000), r->p + r->body);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- fill: N numbered calls from several connections ---- */

static const char *tmpl;
static size_t tmpl_len;
static long next_i, total;
static pthread_mutex_t next_lock = PTHREAD_MUTEX_INITIALIZER;

static void *filler(void *arg)
{
    (void)arg;
    int fd = connect_server();
    struct resp r = {0};
    size_t cap = tmpl_len + 64;
    char *body = malloc(cap);
    const char *mark = strstr(tmpl, "@I@");
    for (;;) {
        pthread_mutex_lock(&next_lock);
        long i = next_i < total ? ++next_i : 0;
        pthread_mutex_unlock(&next_lock);
        if (!i)
            break;
        size_t n;
        if (mark) {
            size_t pre = (size_t)(mark - tmpl);
            n = (size_t)snprintf(body, cap, "%.*s%06ld%s", (int)pre, tmpl, i, mark + 3);
        } else {
            memcpy(body, tmpl, tmpl_len);
            n = tmpl_len;
        }
        call(fd, body, n, &r);
    }
    free(body);
    free(r.p);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        die("usage: benchclient [ADDRESS:]PORT call|repeat|fill FILE [N [CLIENTS]]");
    const char *colon = strrchr(argv[1], ':');
    if (colon && (size_t)(colon - argv[1]) < sizeof(address))
        snprintf(address, sizeof(address), "%.*s", (int)(colon - argv[1]), argv[1]);
    port = atoi(colon ? colon + 1 : argv[1]);
    const char *cmd = argv[2];
    size_t len;
    char *body = read_file(argv[3], &len);
    struct resp r = {0};
    if (strcmp(cmd, "call") == 0) {
        int fd = connect_server();
        call(fd, body, len, &r);
        fwrite(r.p + r.body, 1, r.body_len, stdout);
        close(fd);
    } else if (strcmp(cmd, "repeat") == 0 && argc == 5) {
        int n = atoi(argv[4]);
        if (n < 1)
            die("repeat: N must be at least 1");
        double *t = calloc((size_t)n, sizeof(double));
        int fd = connect_server();
        for (int i = 0; i < n; i++) {
            double t0 = now();
            call(fd, body, len, &r);
            t[i] = (now() - t0) * 1e3;
        }
        close(fd);
        qsort(t, (size_t)n, sizeof(double), cmp_double);
        printf("calls %d min_ms %.3f median_ms %.3f max_ms %.3f bytes %zu\n", n, t[0],
               n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, t[n - 1], r.body_len);
        free(t);
    } else if (strcmp(cmd, "fill") == 0 && argc == 6) {
        tmpl = body;
        tmpl_len = len;
        total = atol(argv[4]);
        int clients = atoi(argv[5]);
        if (clients < 1 || clients > 256)
            die("fill: CLIENTS must be 1..256");
        pthread_t th[256];
        double t0 = now();
        for (int i = 0; i < clients; i++)
            pthread_create(&th[i], NULL, filler, NULL);
        for (int i = 0; i < clients; i++)
            pthread_join(th[i], NULL);
        double s = now() - t0;
        printf("calls %ld seconds %.2f per_s %.0f\n", total, s, s > 0 ? (double)total / s : 0.0);
    } else {
        die("unknown command or wrong arguments: %s", cmd);
    }
    free(body);
    free(r.p);
    return 0;
}
