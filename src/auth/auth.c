#include "auth.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Constant-time comparison, so the time a wrong hash takes says nothing. */
static bool same(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < na && i < nb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool check_file(const char *path, const char *user, const char *password)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_warn("authentication: cannot read %s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    bool ok = false, found = false;
    while (!found && getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "\r\n")] = 0;
        char *colon = strchr(line, ':');
        if (!colon || line[0] == '#')
            continue;
        *colon = 0;
        if (strcmp(line, user) != 0)
            continue;
        found = true;
        struct crypt_data *cd = xcalloc(1, sizeof(*cd));
        const char *h = crypt_r(password, colon + 1, cd);
        ok = h && h[0] != '*' && same(h, colon + 1);
        free(cd);
    }
    free(line);
    fclose(f);
    return ok;
}

struct pam_pw {
    const char *password;
};

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    struct pam_pw *pw = data;
    struct pam_response *r = calloc((size_t)n, sizeof(*r));
    if (!r)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
            r[i].resp = strdup(pw->password);
            if (!r[i].resp) {
                for (int j = 0; j < i; j++)
                    free(r[j].resp);
                free(r);
                return PAM_BUF_ERR;
            }
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

static bool check_pam(const char *user, const char *password)
{
    struct pam_pw pw = {password};
    struct pam_conv c = {conv, &pw};
    pam_handle_t *h = NULL;
    int rc = pam_start("xenapid", user, &c, &h);
    if (rc == PAM_SUCCESS)
        rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(h, PAM_SILENT);
    if (rc != PAM_SUCCESS)
        log_info("authentication of %s by PAM failed: %s", user, pam_strerror(h, rc));
    pam_end(h, rc);
    return rc == PAM_SUCCESS;
}

bool auth_check(const struct config *cfg, const char *user, const char *password)
{
    if (!user || !*user || !password)
        return false;
    if (strcmp(config_get(cfg, "auth"), "pam") == 0)
        return check_pam(user, password);
    return check_file(config_get(cfg, "auth-file"), user, password);
}

xerr *auth_set_password(const char *path, const char *user, const char *password)
{
    if (!*user || strpbrk(user, ":\n\r"))
        return err_invalid_value("user", user);
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    /* NULL prefix: the system's preferred method (yescrypt on Debian) */
    if (!crypt_gensalt_rn(NULL, 0, NULL, 0, salt, sizeof(salt)))
        return xerr_internal("cannot make a salt: %s", strerror(errno));
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *h = crypt_r(password, salt, cd);
    if (!h || h[0] == '*') {
        free(cd);
        return xerr_internal("crypt failed");
    }
    _cleanup_free_ char *hash = xstrdup(h);
    free(cd);

    buf out;
    buf_init(&out);
    FILE *f = fopen(path, "r");
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) >= 0) {
            size_t ul = strlen(user);
            if (strncmp(line, user, ul) == 0 && line[ul] == ':')
                continue;
            buf_adds(&out, line);
            if (out.len && out.p[out.len - 1] != '\n')
                buf_addc(&out, '\n');
        }
        free(line);
        fclose(f);
    }
    buf_printf(&out, "%s:%s\n", user, hash);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    xerr *e = NULL;
    if (fd < 0)
        e = xerr_internal("cannot write %s: %s", tmp, strerror(errno));
    else {
        if (write(fd, out.p, out.len) != (ssize_t)out.len || fsync(fd) != 0)
            e = xerr_internal("cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        if (!e && rename(tmp, path) != 0)
            e = xerr_internal("cannot rename %s: %s", tmp, strerror(errno));
    }
    buf_free(&out);
    return e;
}
