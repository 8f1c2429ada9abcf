/* The listening sockets. */
#include "rpc_int.h"
#include "dm_gen.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void nonblocking(int fd)
{
    /* the HTTP library's threads all accept on it: none may block there */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

xerr *listen_tcp(const char *address, int port, int backlog, int *out, int *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(address, portstr, &hints, &ai) != 0)
        return err_invalid_value("address", address);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    xerr *e = NULL;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0)
        e = xerr_internal("cannot listen on %s port %d: %s", address, port, strerror(errno));
    freeaddrinfo(ai);
    if (e) {
        if (fd >= 0)
            close(fd);
        return e;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    nonblocking(fd);
    *out = fd;
    return NULL;
}

xerr *listen_unix(const char *path, int backlog, int *out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_invalid_value("unix-socket", path);
    strcpy(sa.sun_path, path);
    /* a socket file left by a daemon that died: refuse only if something answers */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        return xerr_internal("another daemon is serving %s", path);
    }
    if (probe >= 0)
        close(probe);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return xerr_internal("cannot make a unix socket: %s", strerror(errno));
    /* Local tools only.  Linux gives the file the socket's own mode (less the umask)
     * when bind makes it, so the file is never open to others, not even for a moment,
     * and the process-wide umask, which other threads rely on, is left alone.  The
     * mode is checked after, for kernels that do otherwise. */
    xerr *e = NULL;
    struct stat st;
    if (fchmod(fd, 0600) != 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        e = xerr_internal("cannot bind %s: %s", path, strerror(errno));
    else if (stat(path, &st) != 0 || ((st.st_mode & 077) && (chmod(path, 0600) != 0 || stat(path, &st) != 0)))
        e = xerr_internal("cannot set the mode of %s: %s", path, strerror(errno));
    else if (st.st_mode & 077)
        e = xerr_internal("%s has mode %04o, not 0600", path, (unsigned)(st.st_mode & 07777));
    else if (listen(fd, backlog) != 0)
        e = xerr_internal("cannot listen on %s: %s", path, strerror(errno));
    if (e) {
        close(fd);
        return e;
    }
    nonblocking(fd);
    *out = fd;
    return NULL;
}

bool peer_is_root(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof(cred) && cred.uid == 0;
}

bool address_is_loopback(const char *address)
{
    unsigned char raw[16];
    if (inet_pton(AF_INET, address, raw) == 1)
        return raw[0] == 127;
    struct in6_addr a6;
    return inet_pton(AF_INET6, address, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}
