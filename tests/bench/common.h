/* What the bench's own servers share: dying with a message, reading a file whole,
 * and a listening socket on a free loopback port. */
#ifndef XENAPID_BENCH_COMMON_H
#define XENAPID_BENCH_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

extern const char *bench_prog;

static inline void die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", bench_prog, what, why);
    exit(1);
}

static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n)
        die(path, "short read");
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

/* Bound to 127.0.0.1 on a free port (*port); listening when backlog > 0. */
static inline int bind_free_port(int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || (backlog > 0 && listen(fd, backlog) != 0))
        die("bind", strerror(errno));
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A request body's bytes appended as they come (NUL-terminated); false, with nothing
 * appended, once it would pass max bytes. */
static inline int body_append(char **p, size_t *len, size_t *cap, const char *data, size_t n, size_t max)
{
    if (*len + n > max)
        return 0;
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *p = realloc(*p, *cap);
        if (!*p)
            die("realloc", "out of memory");
    }
    memcpy(*p + *len, data, n);
    *len += n;
    (*p)[*len] = 0;
    return 1;
}

#endif
