/* The device model's files, device-model-dir/<domid>.{argv,pid,log}, shared by both
 * backends: the xc backend starts the device model from <domid>.argv, the simulator
 * only records it there, so an operator (or a test) reads the same file either way. */
#include "backend.h"
#include "dm_gen.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *hv_dm_file(const char *dir, uint32_t domid, const char *ext)
{
    return xasprintf("%s/%" PRIu32 ".%s", dir, domid, ext);
}

static xerr *mkdir_p(const char *dir)
{
    if (!dir || !*dir)
        return err_invalid_value("device-model-dir", "");
    char *p = xstrdup(dir);
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c)
            continue;
        char save = *c;
        *c = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            xerr *e = xerr_internal("creating %s: %s", p, strerror(errno));
            free(p);
            return e;
        }
        *c = save;
        if (!save)
            break;
    }
    free(p);
    return NULL;
}

/* One argument a line, for an operator to read (and a shell to replay); a
 * backslash or a newline inside an argument (a VM name may hold one) is written
 * as \\ or \n so that every line stays one argument. */
xerr *hv_dm_write_argv(const char *dir, uint32_t domid, char *const *argv)
{
    xerr *e = mkdir_p(dir);
    if (e)
        return e;
    buf b;
    buf_init(&b);
    for (size_t i = 0; argv[i]; i++) {
        for (const char *c = argv[i]; *c; c++) {
            if (*c == '\\')
                buf_addlit(&b, "\\\\");
            else if (*c == '\n')
                buf_addlit(&b, "\\n");
            else
                buf_addc(&b, *c);
        }
        buf_addc(&b, '\n');
    }
    _cleanup_free_ char *path = hv_dm_file(dir, domid, "argv");
    _cleanup_free_ char *tmp = hv_dm_file(dir, domid, "argv.tmp");
    /* written aside and renamed, so a reader never sees half a list */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        e = xerr_internal("writing %s: %s", tmp, strerror(errno));
        buf_free(&b);
        return e;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.p + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int err = off == b.len ? 0 : errno;
    if (close(fd) != 0 && !err)
        err = errno;
    buf_free(&b);
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err) {
        unlink(tmp);
        return xerr_internal("writing %s: %s", path, strerror(err ? err : EIO));
    }
    return NULL;
}

char **hv_dm_read_argv(const char *dir, uint32_t domid)
{
    _cleanup_free_ char *path = hv_dm_file(dir, domid, "argv");
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t n = 0, cap = 16;
    char **argv = xcalloc(cap, sizeof(char *));
    char *line = NULL;
    size_t linecap = 0;
    ssize_t len;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        char *arg = xmalloc((size_t)len + 1), *o = arg;
        for (const char *c = line; *c; c++) {
            if (*c == '\\' && c[1] == 'n') {
                *o++ = '\n';
                c++;
            } else if (*c == '\\' && c[1] == '\\') {
                *o++ = '\\';
                c++;
            } else {
                *o++ = *c;
            }
        }
        *o = '\0';
        if (n + 1 >= cap) {
            cap *= 2;
            argv = xrealloc(argv, cap * sizeof(char *));
        }
        argv[n++] = arg;
    }
    argv[n] = NULL;
    free(line);
    fclose(f);
    if (n == 0) {
        free(argv);
        return NULL;
    }
    return argv;
}

void hv_dm_files_remove(const char *dir, uint32_t domid)
{
    static const char *const exts[] = {"argv", "argv.tmp", "pid"};
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        _cleanup_free_ char *path = hv_dm_file(dir, domid, exts[i]);
        unlink(path);
    }
}
