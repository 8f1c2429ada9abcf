/* Where the daemon is and who we are: the endpoint (HTTPS, plain HTTP with --nossl, or
 * the local unix socket), the credentials (command line, environment, ~/.xe), the
 * login, and calls with the session put first.  docs/xe.md states the order in which
 * each is looked for. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_HTTPS_PORT "443"            /* an installed daemon's https-port, as xapi's */
#define DEFAULT_HTTP_PORT "8090"            /* the daemon's default listen-port (--nossl) */
#define SYSTEM_SOCKET "/run/xenapid/xenapid.sock"
#define LOCAL_SOCKET "var/xenapid.sock"     /* `make run` from the top of a checkout */

struct creds {
    char *server, *port, *user, *password;
};

static void creds_free(struct creds *k)
{
    free(k->server);
    free(k->port);
    free(k->user);
    free(k->password);
}

/* A password must not sit in a file others can read: refuse it rather than use it. */
static xerr *open_private(const char *path, FILE **out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cli_fail("Cannot read %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
        fclose(f);
        return cli_fail("Refusing to read %s: it holds a password and other users can read it "
                        "(chmod 600 %s).", path, path);
    }
    *out = f;
    return NULL;
}

static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    return line;
}

/* -pwf: one line holding the password, or two: the user name, then the password. */
static xerr *read_password_file(const char *path, struct creds *k)
{
    FILE *f;
    xerr *e = open_private(path, &f);
    if (e)
        return e;
    char *first = read_line(f), *second = read_line(f);
    fclose(f);
    if (second) {
        free(k->user);
        k->user = first;
        k->password = second;
    } else {
        k->password = first ? first : xstrdup("");
    }
    return NULL;
}

/* ~/.xe as xe reads it: server=, port=, username=, password= lines. */
static xerr *read_dotxe(struct creds *k)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    _cleanup_free_ char *path = xasprintf("%s/.xe", home);
    if (access(path, F_OK) != 0)
        return NULL;
    FILE *f;
    xerr *e = open_private(path, &f);
    if (e)
        return e;
    char *line;
    while ((line = read_line(f)) != NULL) {
        char *eq = strchr(line, '=');
        if (eq && line[0] != '#') {
            *eq = 0;
            char **slot = strcmp(line, "server") == 0     ? &k->server
                          : strcmp(line, "port") == 0     ? &k->port
                          : strcmp(line, "username") == 0 ? &k->user
                          : strcmp(line, "password") == 0 ? &k->password
                                                          : NULL;
            if (slot && !*slot)
                *slot = xstrdup(eq + 1);
        }
        free(line);
    }
    fclose(f);
    return NULL;
}

static char *first_of(const char *a, const char *b)
{
    return a ? xstrdup(a) : b ? xstrdup(b) : NULL;
}

static xerr *gather(struct cli_opts *o, struct creds *k)
{
    k->server = first_of(o->server, getenv("XE_SERVER"));
    k->port = first_of(o->port, getenv("XE_PORT"));
    k->user = first_of(o->user, getenv("XE_USERNAME"));
    xerr *e = NULL;
    if (o->password)
        k->password = xstrdup(o->password);
    else if (o->password_file)
        e = read_password_file(o->password_file, k);
    else
        k->password = first_of(getenv("XE_PASSWORD"), NULL);
    /* ~/.xe only fills what neither the command line nor the environment gave */
    if (!e && (!k->server || !k->user || !k->password))
        e = read_dotxe(k);
    if (e)
        return e;
    if (!k->user)
        k->user = xstrdup("root");
    if (!k->password)
        k->password = xstrdup("");
    return NULL;
}

static char *server_url(const struct cli_opts *o, const char *server, const char *port)
{
    if (!port)
        port = o->nossl ? DEFAULT_HTTP_PORT : DEFAULT_HTTPS_PORT;
    bool v6 = strchr(server, ':') && server[0] != '[';
    return xasprintf(v6 ? "%s://[%s]:%s/" : "%s://%s:%s/", o->nossl ? "http" : "https", server, port);
}

static char *endpoint(const struct cli_opts *o, const struct creds *k)
{
    if (k->server)
        return server_url(o, k->server, k->port);
    const char *sock = getenv("XE_SOCKET");
    if (sock && *sock)
        return xasprintf("unix:%s", sock);
    if (access(SYSTEM_SOCKET, F_OK) == 0)
        return xstrdup("unix:" SYSTEM_SOCKET);
    return xstrdup("unix:" LOCAL_SOCKET);
}

static xerr *login(struct cli *c, const struct creds *k, xv **session)
{
    xv *params = xv_array();
    xv_array_push(params, xv_string(k->user));
    xv_array_push(params, xv_string(k->password));
    xv_array_push(params, xv_string("2.21"));
    xv_array_push(params, xv_string("xe"));
    xerr *e = rpc_client_call(c->rpc, "session.login_with_password", params, session);
    xv_free(params);
    return e;
}

xerr *cli_connect(struct cli *c)
{
    struct creds k = {0};
    xerr *e = gather(c->o, &k);
    if (e) {
        creds_free(&k);
        return e;
    }
    c->url = endpoint(c->o, &k);
    xv *session = NULL;
    for (int hops = 0;; hops++) {
        e = rpc_client_open(c->url, &c->rpc);
        if (!e) {
            rpc_client_set_cert_check(c->rpc, cli_trust_check, c->o);
            e = login(c, &k, &session);
        }
        /* a pool member names its master: go there, as xe does */
        if (e && xerr_is(e, XERR_HOST_IS_SLAVE) && e->nparams == 1 && hops < 3) {
            rpc_client_close(c->rpc);
            c->rpc = NULL;
            free(c->url);
            c->url = server_url(c->o, e->params[0], k.port);
            xerr_free(e);
            continue;
        }
        break;
    }
    creds_free(&k);
    if (e && xerr_is(e, XERR_INTERNAL_ERROR) && e->nparams == 1) {
        /* login answers INTERNAL_ERROR only when the transport failed */
        bool tls = str_startswith(c->url, "https:") && str_startswith(e->params[0], "TLS handshake");
        xerr *t = cli_fail("Error: cannot talk to the server at %s: %s%s", c->url, e->params[0],
                           tls ? " (if that port serves plain HTTP, add --nossl)" : "");
        xerr_free(e);
        return t;
    }
    if (e)
        return e;
    const char *s = xv_str(session);
    c->session = xstrdup(s ? s : "");
    xv_free(session);
    return NULL;
}

void cli_disconnect(struct cli *c)
{
    if (c->session) {
        xerr *e = cli_call(c, NULL, "session.logout", NULL);
        xerr_free(e);
        free(c->session);
        c->session = NULL;
    }
    rpc_client_close(c->rpc);
    c->rpc = NULL;
    free(c->url);
    c->url = NULL;
}

xerr *cli_call_arr(struct cli *c, const char *method, xv *params, xv **result)
{
    xv *all = xv_array();
    xv_array_push(all, xv_string(c->session ? c->session : ""));
    if (params) {
        for (size_t i = 0; i < params->u.arr.n; i++)
            xv_array_push(all, params->u.arr.v[i]);
        params->u.arr.n = 0;         /* the items moved to all */
        xv_free(params);
    }
    xv *r = NULL;
    xerr *e = rpc_client_call(c->rpc, method, all, &r);
    xv_free(all);
    if (result)
        *result = r;
    else
        xv_free(r);
    return e;
}

xerr *cli_call(struct cli *c, xv **result, const char *method, ...)
{
    xv *params = xv_array();
    va_list ap;
    va_start(ap, method);
    for (xv *v = va_arg(ap, xv *); v; v = va_arg(ap, xv *))
        xv_array_push(params, v);
    va_end(ap);
    return cli_call_arr(c, method, params, result);
}

bool cli_has_method(const char *cls, const char *msg)
{
    const struct dm_class *c = dm_class_find(cls);
    return c && dm_message_find(c, msg);
}
