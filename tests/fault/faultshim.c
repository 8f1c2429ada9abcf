/* faultshim: an LD_PRELOAD library that makes the store's file I/O fail on demand.
 *
 * For tests only: the daemon is not changed.  SQLite's unix VFS calls open64, write,
 * pwrite64, pread64, fdatasync/fsync and ftruncate64 through libc; this library interposes
 * them and, for the files whose path starts with FAULT_MATCH (the database, its
 * -wal and -journal; never -shm, which SQLite maps into memory), fails the ones the
 * control file names.
 *
 * FAULT_CTL is the control file, read again whenever it changes (the test replaces
 * it by rename).  Absent or empty: no faults.  Otherwise one line
 *
 *     OPS ERRNO SKIP COUNT
 *
 * OPS: a comma-separated set of open, write, fsync, truncate (or all), and read (not in
 * all: reads of the database's pages, for a store that fails midway through a read).
 * ERRNO: ENOSPC, EIO, EROFS, EACCES, EDQUOT.
 * SKIP: let this many matching calls through first; COUNT: then fail this many
 * (-1: until the control file changes).  Counting starts afresh with each new
 * control file.  A failed call does nothing (no byte written, nothing synced).
 * Every injected failure is logged to stderr ("faultshim: ..."), so a test can
 * tell that its fault really happened.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum { OP_OPEN = 1, OP_WRITE = 2, OP_FSYNC = 4, OP_TRUNCATE = 8, OP_READ = 16 };
#define MAX_FD 65536

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *ctl_path, *match;
static size_t match_len;
static unsigned char watched[MAX_FD]; /* fd -> opened on a matching path */

/* the current control file, and how far its fault has got */
static struct stat ctl_st;
static bool ctl_present;
static int f_ops, f_errno;
static long f_skip, f_count, f_seen, f_failed;

static int (*real_open64)(const char *, int, ...);
static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_pread64)(int, void *, size_t, off_t);
static ssize_t (*real_pread)(int, void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate64)(int, off_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_close)(int);

#define RESOLVE(name) real_##name = dlsym(RTLD_NEXT, #name)

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void resolve(void)
{
    RESOLVE(open64);
    RESOLVE(open);
    RESOLVE(openat);
    RESOLVE(write);
    RESOLVE(pwrite64);
    RESOLVE(pwrite);
    RESOLVE(read);
    RESOLVE(pread64);
    RESOLVE(pread);
    RESOLVE(fsync);
    RESOLVE(fdatasync);
    RESOLVE(ftruncate64);
    RESOLVE(ftruncate);
    RESOLVE(close);
    ctl_path = getenv("FAULT_CTL");
    match = getenv("FAULT_MATCH");
    match_len = match ? strlen(match) : 0;
}

/* Resolved on first use too: a library's constructor may do I/O before ours runs. */
#define READY() pthread_once(&once, resolve)

__attribute__((constructor)) static void init(void) { READY(); }

static bool path_matches(const char *path)
{
    if (!match_len || !path || strncmp(path, match, match_len) != 0)
        return false;
    const char *rest = path + match_len;
    return *rest == 0 || strcmp(rest, "-wal") == 0 || strcmp(rest, "-journal") == 0;
}

static int parse_errno(const char *s)
{
    static const struct { const char *n; int v; } names[] = {
        {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EROFS", EROFS}, {"EACCES", EACCES}, {"EDQUOT", EDQUOT}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i].n) == 0)
            return names[i].v;
    return 0;
}

/* Re-read the control file if it changed; lock held.  Raw syscalls: our own open
 * and read must not be interposed. */
static void reload(void)
{
    struct stat st;
    if (!ctl_path)
        return;
    if (syscall(SYS_stat, ctl_path, &st) != 0) {
        ctl_present = false;
        f_ops = 0;
        return;
    }
    if (ctl_present && st.st_ino == ctl_st.st_ino && st.st_mtim.tv_sec == ctl_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == ctl_st.st_mtim.tv_nsec && st.st_size == ctl_st.st_size)
        return;
    ctl_present = true;
    ctl_st = st;
    f_ops = 0;
    f_seen = f_failed = 0;
    char text[256] = "";
    int fd = (int)syscall(SYS_openat, AT_FDCWD, ctl_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = syscall(SYS_read, fd, text, sizeof(text) - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return;
    text[n] = 0;
    char ops[64], err[32];
    long skip, count;
    if (sscanf(text, "%63s %31s %ld %ld", ops, err, &skip, &count) != 4) {
        fprintf(stderr, "faultshim: cannot read control file %s: '%s'\n", ctl_path, text);
        return;
    }
    for (char *save = NULL, *tok = strtok_r(ops, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        f_ops |= strcmp(tok, "open") == 0       ? OP_OPEN
                 : strcmp(tok, "write") == 0    ? OP_WRITE
                 : strcmp(tok, "fsync") == 0    ? OP_FSYNC
                 : strcmp(tok, "truncate") == 0 ? OP_TRUNCATE
                 : strcmp(tok, "read") == 0     ? OP_READ
                 : strcmp(tok, "all") == 0      ? OP_OPEN | OP_WRITE | OP_FSYNC | OP_TRUNCATE
                                                : 0;
    f_errno = parse_errno(err);
    if (!f_errno)
        f_ops = 0;
    f_skip = skip;
    f_count = count;
}

/* Should this call on a watched file (or path) fail?  Sets errno when it should. */
static bool inject(int op, const char *what, int fd)
{
    pthread_mutex_lock(&lock);
    reload();
    bool fail = false;
    if (f_ops & op) {
        long n = f_seen++;
        if (n >= f_skip && (f_count < 0 || n < f_skip + f_count)) {
            fail = true;
            f_failed++;
        }
    }
    int e = f_errno;
    long failed = f_failed;
    pthread_mutex_unlock(&lock);
    if (fail) {
        fprintf(stderr, "faultshim: %s on fd %d fails with %s (%ld so far)\n", what, fd, strerror(e), failed);
        errno = e;
    }
    return fail;
}

static bool is_watched(int fd)
{
    return fd >= 0 && fd < MAX_FD && __atomic_load_n(&watched[fd], __ATOMIC_RELAXED);
}

static int opened(const char *path, int fd)
{
    if (fd >= 0 && fd < MAX_FD)
        __atomic_store_n(&watched[fd], path_matches(path), __ATOMIC_RELAXED);
    return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_BODY(call)                                                   \
    READY();                                                              \
    va_list ap;                                                           \
    va_start(ap, flags);                                                  \
    mode_t mode = mode_arg(flags, ap);                                    \
    va_end(ap);                                                           \
    if (path_matches(path) && inject(OP_OPEN, "open", -1))                \
        return -1;                                                        \
    return opened(path, call)

int open64(const char *path, int flags, ...) { OPEN_BODY(real_open64(path, flags, mode)); }
int open(const char *path, int flags, ...) { OPEN_BODY(real_open(path, flags, mode)); }
int openat(int dirfd, const char *path, int flags, ...) { OPEN_BODY(real_openat(dirfd, path, flags, mode)); }

int close(int fd)
{
    READY();
    if (fd >= 0 && fd < MAX_FD)
        __atomic_store_n(&watched[fd], 0, __ATOMIC_RELAXED);
    return real_close(fd);
}

ssize_t write(int fd, const void *b, size_t n)
{
    READY();
    if (is_watched(fd) && inject(OP_WRITE, "write", fd))
        return -1;
    return real_write(fd, b, n);
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off)
{
    READY();
    if (is_watched(fd) && inject(OP_WRITE, "write", fd))
        return -1;
    return real_pwrite64(fd, b, n, off);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
    READY();
    if (is_watched(fd) && inject(OP_WRITE, "write", fd))
        return -1;
    return real_pwrite(fd, b, n, off);
}

ssize_t read(int fd, void *b, size_t n)
{
    READY();
    if (is_watched(fd) && inject(OP_READ, "read", fd))
        return -1;
    return real_read(fd, b, n);
}

ssize_t pread64(int fd, void *b, size_t n, off_t off)
{
    READY();
    if (is_watched(fd) && inject(OP_READ, "read", fd))
        return -1;
    return real_pread64(fd, b, n, off);
}

ssize_t pread(int fd, void *b, size_t n, off_t off)
{
    READY();
    if (is_watched(fd) && inject(OP_READ, "read", fd))
        return -1;
    return real_pread(fd, b, n, off);
}

int fsync(int fd)
{
    READY();
    if (is_watched(fd) && inject(OP_FSYNC, "fsync", fd))
        return -1;
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    READY();
    if (is_watched(fd) && inject(OP_FSYNC, "fsync", fd))
        return -1;
    return real_fdatasync(fd);
}

int ftruncate64(int fd, off_t len)
{
    READY();
    if (is_watched(fd) && inject(OP_TRUNCATE, "truncate", fd))
        return -1;
    return real_ftruncate64(fd, len);
}

int ftruncate(int fd, off_t len)
{
    READY();
    if (is_watched(fd) && inject(OP_TRUNCATE, "truncate", fd))
        return -1;
    return real_ftruncate(fd, len);
}
