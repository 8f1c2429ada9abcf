/* pool-file: this host's membership, outside the database (a member's database is
 * the master's).  key=value lines, written atomically, readable by root only: it
 * holds the pool secret. */
#include "pool_int.h"
#include "dm_gen.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

char *pool_default_path(const struct config *cfg)
{
    const char *p = config_get(cfg, "pool-file");
    if (*p)
        return xstrdup(p);
    const char *db = config_get(cfg, "db-path");
    const char *slash = strrchr(db, '/');
    return slash ? xasprintf("%.*s/pool.state", (int)(slash - db), db) : xstrdup("pool.state");
}

char *pool_secret_new(void)
{
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw);
    if (fd >= 0)
        close(fd);
    if (!ok) {
        log_error("cannot read /dev/urandom for the pool secret");
        abort(); /* a guessable secret would be worse than no daemon */
    }
    char *hex = xmalloc(sizeof(raw) * 2 + 1);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    return hex;
}

void pool_state_clear(struct pool_state *st)
{
    free(st->secret);
    free(st->master);
    free(st->master_fingerprint);
    free(st->host);
    memset(st, 0, sizeof(*st));
}

xerr *pool_state_load(const char *path, struct pool_state *st, bool *found)
{
    memset(st, 0, sizeof(*st));
    *found = false;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? NULL : xerr_internal("cannot read %s: %s", path, strerror(errno));
    *found = true;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *k = line, *v = eq + 1;
        if (strcmp(k, "role") == 0)
            st->member = strcmp(v, "member") == 0;
        else if (strcmp(k, "secret") == 0)
            st->secret = xstrdup(v);
        else if (strcmp(k, "master") == 0)
            st->master = xstrdup(v);
        else if (strcmp(k, "master-fingerprint") == 0)
            st->master_fingerprint = xstrdup(v);
        else if (strcmp(k, "host") == 0)
            st->host = xstrdup(v);
    }
    fclose(f);
    if (!st->secret || (st->member && (!st->master || !st->master_fingerprint || !st->host))) {
        pool_state_clear(st);
        return xerr_internal("%s is incomplete", path);
    }
    return NULL;
}

xerr *pool_state_save(const char *path, const struct pool_state *st)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return xerr_internal("cannot write %s: %s", tmp, strerror(errno));
    buf b;
    buf_init(&b);
    buf_printf(&b, "role=%s\nsecret=%s\n", st->member ? "member" : "master", st->secret);
    if (st->member)
        buf_printf(&b, "master=%s\nmaster-fingerprint=%s\nhost=%s\n", st->master, st->master_fingerprint,
                   st->host);
    bool ok = write(fd, b.p, b.len) == (ssize_t)b.len && fsync(fd) == 0;
    close(fd);
    buf_free(&b);
    if (!ok || rename(tmp, path) != 0)
        return xerr_internal("cannot write %s: %s", path, strerror(errno));
    return NULL;
}
