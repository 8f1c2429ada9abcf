/* The HTTP request path of the server (src/rpc, libmicrohttpd): the bytes are what a
 * client sends on a connection to the plain HTTP listener on loopback, then it closes
 * its sending side and reads the answer.  What comes back, if anything,
 * must be HTTP responses.  The server runs on its own threads, as in the daemon, over
 * fuzz_api's api (no fuzzed request can log in). */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc.h"

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
    struct rpc_options ro = {
        .address = "127.0.0.1",
        .port = 0,
        .https_address = "",
        .unix_path = "",
        .max_connections = 64,
        .keepalive_timeout = 5,
        .request_timeout = 5,
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    size_t off = 0;
    while (off < size && ready(fd, POLLOUT, 5000)) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;   /* the server closed: it may, on a bad request */
        if (w > 0)
            off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    /* The answer.  The server keeps a connection it has answered open (keep-alive) even
     * after the client's end of file, so the answer is taken as complete once nothing
     * more comes for a moment; a request left incomplete gets no answer: the wait for
     * the first byte is bounded too. */
    char head[8];
    size_t got = 0;
    char sink[65536];
    while (ready(fd, POLLIN, got ? 30 : 1000)) {
        ssize_t n = recv(fd, sink, sizeof(sink), 0);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && got < sizeof(head); i++)
            head[got++] = sink[i];
    }
    close(fd);
    FUZZ_CHECK(got == 0 || (got >= 7 && memcmp(head, "HTTP/1.", 7) == 0));
    return 0;
}
