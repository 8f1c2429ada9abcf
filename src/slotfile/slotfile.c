/* Slot files: see include/slotfile.h.
 *
 * Slot layout (native-endian, local to this host): "XNSLOT01", u64 generation,
 * u64 payload length, u64 checksum of generation, length and payload, then the
 * payload.  A slot may be longer than header + length (a shorter save after a longer
 * one): the bytes past it are ignored.
 */
#include "slotfile.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util.h"

#define NSLOTS 3
#define MAGIC "XNSLOT01"

struct header {
    char magic[8];
    uint64_t gen, len, sum;
};

struct slotfile {
    char *path;
    int fd[NSLOTS];
    uint64_t gen[NSLOTS];     /* of the valid state each holds, 0: none */
    off_t size[NSLOTS];       /* file sizes, to trim a slot grown much larger */
    int latest, durable;      /* slot indexes, -1: none */
    bool legacy;              /* the state came from the old single file, still there */
};

/* Eight bytes a step: a byte-wise hash of the tree before every xenstore reply cost
 * more than the write itself. */
static uint64_t checksum(uint64_t gen, uint64_t len, const unsigned char *p, size_t n)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull;
    uint64_t h = (gen * k) ^ (len + 0x6a09e667f3bcc908ull);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    memcpy(&tail, p + i, n - i);
    h = (h ^ tail ^ (uint64_t)(n - i) << 56) * k;
    return h ^ (h >> 32);
}

static char *slot_path(const char *path, int i)
{
    return xasprintf("%s.%d", path, i);
}

/* The valid state in fd: its generation (0: none) and, with data, its payload. */
static uint64_t read_slot(int fd, off_t *size, char **data, size_t *len)
{
    struct stat st;
    struct header h;
    *size = fstat(fd, &st) == 0 ? st.st_size : 0;
    if (*size < (off_t)sizeof(h) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
        memcmp(h.magic, MAGIC, 8) != 0 || h.gen == 0 || h.len > (uint64_t)*size - sizeof(h))
        return 0;
    char *p = xmalloc(h.len + 1);
    if (pread(fd, p, h.len, sizeof(h)) != (ssize_t)h.len ||
        checksum(h.gen, h.len, (unsigned char *)p, h.len) != h.sum) {
        free(p);
        return 0;
    }
    p[h.len] = 0;
    if (data) {
        free(*data);
        *data = p;
        *len = h.len;
    } else {
        free(p);
    }
    return h.gen;
}

/* Loads the newest of the slots in fd[] (-1: absent) into *data, else the old file. */
static xerr *load(const char *path, const int fd[NSLOTS], uint64_t gen[NSLOTS], off_t size[NSLOTS],
                  int *latest, bool *legacy, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    *latest = -1;
    *legacy = false;
    bool bytes = false;
    for (int i = 0; i < NSLOTS; i++) {
        gen[i] = 0;
        size[i] = 0;
        if (fd[i] < 0)
            continue;
        /* read every slot's payload only to check it; keep the newest */
        char *p = NULL;
        size_t n = 0;
        gen[i] = read_slot(fd[i], &size[i], &p, &n);
        bytes = bytes || size[i] > 0;
        if (gen[i] && (*latest < 0 || gen[i] > gen[*latest])) {
            free(*data);
            *data = p;
            *len = n;
            *latest = i;
        } else {
            free(p);
        }
    }
    if (*latest >= 0)
        return NULL;
    *data = read_file(path, len);
    if (*data) {
        *legacy = true;
        return NULL;
    }
    if (errno != ENOENT)
        return xerr_internal("%s: %s", path, strerror(errno));
    if (bytes)
        return xerr_internal("%s: no slot holds a valid state", path);
    return NULL;   /* first start */
}

static void sync_dir(const char *path)
{
    char *d = xstrdup(path);
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(d);
}

void slotfile_close(struct slotfile *f)
{
    if (!f)
        return;
    for (int i = 0; i < NSLOTS; i++)
        if (f->fd[i] >= 0)
            close(f->fd[i]);
    free(f->path);
    free(f);
}

xerr *slotfile_open(const char *path, struct slotfile **out, char **data, size_t *len)
{
    *out = NULL;
    struct slotfile *f = xcalloc(1, sizeof(*f));
    f->path = xstrdup(path);
    bool created = false;
    xerr *e = NULL;
    for (int i = 0; i < NSLOTS; i++) {
        _cleanup_free_ char *sp = slot_path(path, i);
        f->fd[i] = open(sp, O_RDWR | O_CLOEXEC);
        if (f->fd[i] < 0 && errno == ENOENT) {
            f->fd[i] = open(sp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            created = true;
        }
        if (f->fd[i] < 0 && !e)
            e = xerr_internal("%s: %s", sp, strerror(errno));
    }
    if (!e)
        e = load(path, f->fd, f->gen, f->size, &f->latest, &f->legacy, data, len);
    if (e) {
        slotfile_close(f);
        return e;
    }
    if (created)
        sync_dir(path);
    /* What a kill -9 left may not be on disk yet: make it so, then never overwrite it
     * before a newer one is. */
    if (f->latest >= 0 && fdatasync(f->fd[f->latest]) == 0)
        f->durable = f->latest;
    else
        f->durable = -1;
    *out = f;
    return NULL;
}

xerr *slotfile_peek(const char *path, char **data, size_t *len)
{
    int fd[NSLOTS];
    uint64_t gen[NSLOTS];
    off_t size[NSLOTS];
    int latest;
    bool legacy;
    for (int i = 0; i < NSLOTS; i++) {
        _cleanup_free_ char *sp = slot_path(path, i);
        fd[i] = open(sp, O_RDONLY | O_CLOEXEC);
    }
    /* Saves while it reads can tear every slot it reads (it reads a header, then the
     * payload): read again, a few times, before calling that damage. */
    xerr *e = NULL;
    for (int attempt = 0; attempt < 5; attempt++) {
        xerr_free(e);
        e = load(path, fd, gen, size, &latest, &legacy, data, len);
        if (!e)
            break;
    }
    for (int i = 0; i < NSLOTS; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    return e;
}

xerr *slotfile_write(struct slotfile *f, const void *p, size_t n)
{
    int t = -1;   /* the oldest slot that is neither the newest nor the durable one */
    uint64_t top = 0;
    for (int i = 0; i < NSLOTS; i++) {
        if (f->gen[i] > top)
            top = f->gen[i];
        if (i != f->latest && i != f->durable && (t < 0 || f->gen[i] < f->gen[t]))
            t = i;
    }
    assert(t >= 0);
    struct header h = {.gen = top + 1, .len = n};
    memcpy(h.magic, MAGIC, 8);
    h.sum = checksum(h.gen, h.len, p, n);
    struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof(h)}, {.iov_base = (void *)p, .iov_len = n}};
    off_t want = (off_t)(sizeof(h) + n);
    f->gen[t] = 0;   /* until the write is whole */
    ssize_t w = pwritev(f->fd[t], iov, 2, 0);
    if (w != want) {
        _cleanup_free_ char *sp = slot_path(f->path, t);
        return xerr_internal("%s: %s", sp, w < 0 ? strerror(errno) : "short write");
    }
    if (want > f->size[t])
        f->size[t] = want;
    /* Trailing bytes are harmless; trimmed only when they would be most of the file. */
    if (f->size[t] > 2 * want + 65536 && ftruncate(f->fd[t], want) == 0)
        f->size[t] = want;
    f->gen[t] = h.gen;
    f->latest = t;
    if (f->legacy) {
        /* The old file goes once a slot durably holds a newer state. */
        xerr *e = slotfile_sync(f);
        if (e)
            return e;
        if (unlink(f->path) == 0)
            sync_dir(f->path);
        f->legacy = false;
    }
    return NULL;
}

xerr *slotfile_sync(struct slotfile *f)
{
    if (f->latest < 0 || f->latest == f->durable)
        return NULL;
    if (fdatasync(f->fd[f->latest]) != 0) {
        _cleanup_free_ char *sp = slot_path(f->path, f->latest);
        return xerr_internal("%s: fdatasync: %s", sp, strerror(errno));
    }
    f->durable = f->latest;
    return NULL;
}
