/* Which server certificates xe trusts over HTTPS: the fingerprint given with
 * --fingerprint, else the one pinned for HOST:PORT in ~/.xe_known_hosts, else the one
 * the server shows at the first connection, which is then pinned (trust on first use,
 * as ssh does).  A changed certificate is refused before the request -- and the
 * password in it -- is sent.  docs/xe.md describes the file. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KNOWN_HOSTS ".xe_known_hosts"
#define KNOWN_HOSTS_HEADER                                                                          \
    "# The TLS certificates xe trusts: HOST:PORT, then the SHA-256 fingerprint of the server's\n" \
    "# certificate.  xe adds a line at the first connection to a server; delete a line to let\n"  \
    "# xe trust a server's new certificate.\n"

/* "host:port", "[v6]:port": how the file names a server */
static char *host_key(const char *host, const char *port)
{
    return xasprintf(strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
}

struct pin {
    char fp[RPC_FINGERPRINT_LEN + 1];
    int line;                         /* 0: none */
};

/* The fingerprint pinned for key in the file at path, if any; the file's whole text. */
static xerr *find_pin(const char *path, const char *key, struct pin *pin, buf *text)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return NULL;
        return cli_fail("Cannot read %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH))) {
        fclose(f);
        return cli_fail("Refusing to use %s: other users can change it, so it cannot say which "
                        "servers to trust (chmod 600 %s).", path, path);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    for (int no = 1; (len = getline(&line, &cap, f)) >= 0; no++) {
        buf_add(text, line, (size_t)len);
        char name[512], fp[256];
        if (line[0] == '#' || sscanf(line, "%511s %255s", name, fp) != 2 || strcmp(name, key) != 0)
            continue;
        if (!rpc_fingerprint_parse(fp, pin->fp)) {
            free(line);
            fclose(f);
            return cli_fail("%s, line %d: '%s' is not a SHA-256 fingerprint. Fix or delete the line.",
                            path, no, fp);
        }
        pin->line = no;
        break;
    }
    free(line);
    fclose(f);
    return NULL;
}

/* The file with one more line, replaced in one rename so that no reader sees half of
 * it; mode 0600 as mkstemp makes it. */
static xerr *add_pin(const char *path, buf *text, const char *key, const char *fp)
{
    _cleanup_free_ char *tmp = xasprintf("%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return cli_fail("Cannot pin the server's certificate: cannot create %s: %s. Give its fingerprint "
                        "with --fingerprint instead.", tmp, strerror(errno));
    if (text->len == 0)
        buf_adds(text, KNOWN_HOSTS_HEADER);
    else if (text->p[text->len - 1] != '\n')
        buf_addc(text, '\n');
    buf_printf(text, "%s %s\n", key, fp);
    FILE *f = fdopen(fd, "w");
    bool ok = f && fwrite(text->p, 1, text->len, f) == text->len && fflush(f) == 0 && fsync(fd) == 0;
    int err = errno;
    if (f)
        fclose(f);
    else
        close(fd);
    if (!ok || rename(tmp, path) != 0) {
        err = ok ? errno : err;
        unlink(tmp);
        return cli_fail("Cannot pin the server's certificate in %s: %s. Give its fingerprint with "
                        "--fingerprint instead.", path, strerror(err));
    }
    return NULL;
}

xerr *cli_trust_check(void *ctx, const char *host, const char *port, const char *fp)
{
    const struct cli_opts *o = ctx;
    _cleanup_free_ char *key = host_key(host, port);
    if (o->fingerprint[0]) {
        if (strcmp(o->fingerprint, fp) == 0)
            return NULL;
        return cli_fail("The certificate of %s is not the one given with --fingerprint: xe stopped "
                        "before sending anything (the password included).\n"
                        "  given with --fingerprint: SHA256 %s\n"
                        "  presented by the server:  SHA256 %s",
                        key, o->fingerprint, fp);
    }
    const char *home = getenv("HOME");
    if (!home || !*home)
        return cli_fail("Cannot check the certificate of %s: HOME is not set, so there is no %s to "
                        "pin it in. Give its fingerprint with --fingerprint, or use --nossl.",
                        key, KNOWN_HOSTS);
    _cleanup_free_ char *path = xasprintf("%s/" KNOWN_HOSTS, home);
    struct pin pin = {.line = 0};
    buf text;
    buf_init(&text);
    xerr *e = find_pin(path, key, &pin, &text);
    if (!e && pin.line && strcmp(pin.fp, fp) != 0)
        e = cli_fail("The certificate of %s has changed since xe pinned it: someone may be intercepting "
                     "the connection, or the server was given a new certificate. xe stopped before sending "
                     "anything (the password included).\n"
                     "  pinned in %s, line %d: SHA256 %s\n"
                     "  presented by the server now: SHA256 %s\n"
                     "If the server's certificate was changed on purpose, check the new fingerprint on the "
                     "server (xenapid logs it when it starts), then delete line %d of %s to pin the new "
                     "one at the next connection, or give it with --fingerprint.",
                     key, path, pin.line, pin.fp, fp, pin.line, path);
    if (!e && !pin.line) {
        e = add_pin(path, &text, key, fp);
        if (!e)
            fprintf(stderr, "xe: first connection to %s: its certificate (SHA256 %s) is now trusted and "
                            "pinned in %s.\n", key, fp, path);
    }
    buf_free(&text);
    return e;
}
