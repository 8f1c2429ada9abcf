#include "harness.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "vm.h"
#include "wire.h"

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

static char tmpdir[4096];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_tmpdir(void)
{
    if (tmpdir[0])
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/xenapid-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
    return xstrndup((const char *)data, size);
}

void fuzz_quiet_logs(void)
{
    log_setup("stderr", "error");
}

char *fuzz_src_path(const char *rel)
{
    return xasprintf("%s/%s", FUZZ_SRCDIR, rel);
}

const struct api_peer fuzz_peer = {.addr = "127.0.0.1:4711", .local_root = false, .wait = NULL};

static struct {
    struct config *cfg;
    struct platform *platform;
    struct db *db;
    struct api *api;
    char *session;
} A;

static void fail_on(xerr *e, const char *what)
{
    if (!e)
        return;
    char *s = xerr_str(e);
    fprintf(stderr, "fuzz: %s: %s\n", what, s);
    abort();
}

static void api_teardown(void)
{
    if (A.api && !api_stop(A.api, 3.0))
        return;   /* a task still runs: leave everything to the exit */
    free(A.session);
    api_destroy(A.api);
    db_close(A.db);
    platform_free(A.platform);
    config_free(A.cfg);
}

struct api *fuzz_api(void)
{
    if (A.api)
        return A.api;
    const char *dir = fuzz_tmpdir();
    A.cfg = config_new();
    _cleanup_free_ char *passwd = xasprintf("%s/passwd", dir);
    _cleanup_free_ char *dbpath = xasprintf("%s/xenapid.db", dir);
    _cleanup_free_ char *inventory = xasprintf("%s/inventory", dir);
    _cleanup_free_ char *registry = fuzz_src_path("etc/platform.xml");
    fail_on(config_set(A.cfg, "auth", "file"), "config");
    fail_on(config_set(A.cfg, "auth-file", passwd), "config");
    fail_on(config_set(A.cfg, "db-path", dbpath), "config");
    fail_on(config_set(A.cfg, "inventory", inventory), "config");
    fail_on(config_set(A.cfg, "login-failure-delay", "0"), "config");   /* no sleep per exec */
    fail_on(platform_load(registry, config_get(A.cfg, "virtual-hardware-platform-versions"), &A.platform),
            "platform");
    struct db_options dbo = {
        .path = dbpath,
        .sync = "normal",
        .event_log_size = config_get_int(A.cfg, "event-log-size"),
        .read_connections = 2,
    };
    fail_on(db_open(&dbo, &A.db), "db");
    struct api_options ao = {.cfg = A.cfg, .db = A.db, .hv = NULL, .platform = A.platform};
    fail_on(api_create(&ao, &A.api), "api");
    fail_on(vm_register(A.api), "vm");
    fail_on(api_startup(A.api), "api startup");
    atexit(api_teardown);
    /* root proved by the transport needs no password: the session of fuzz_get_as_root */
    static const struct api_peer root = {.addr = "unix", .local_root = true, .wait = NULL};
    xv *args = xv_array(), *ref = NULL;
    xv_array_push(args, xv_string("root"));
    xv_array_push(args, xv_string(""));
    fail_on(api_call(A.api, "session.login_with_password", args, &root, &ref), "login");
    FUZZ_CHECK(ref && ref->type == XV_STRING);
    A.session = xstrdup(ref->u.str.s);
    xv_free(ref);
    xv_free(args);
    return A.api;
}

struct db *fuzz_db(void)
{
    fuzz_api();
    return A.db;
}

void fuzz_get_as_root(const char *method, const xv *params, void (*write)(buf *, const xv *),
                      xerr *(*parse)(const char *, size_t, xv **))
{
    const char *dot = strchr(method, '.');
    if (!dot || strchr(dot + 1, '.') || strncmp(dot + 1, "get_", 4) != 0 || !params ||
        params->type != XV_ARRAY || params->u.arr.n == 0)
        return;
    struct api *api = fuzz_api();
    xv *p = xv_dup(params);
    xv_free(p->u.arr.v[0]);
    p->u.arr.v[0] = xv_string(A.session);
    xv *result = NULL;
    xerr *e = api_call(api, method, p, FUZZ_PEER, &result);
    xv *env = e ? wire_failure(e) : wire_success(result);
    buf b;
    buf_init(&b);
    write(&b, env);
    xv *back = NULL;
    xerr *pe = parse(b.p, b.len, &back);
    FUZZ_CHECK(!pe && back);
    xv_free(back);
    buf_free(&b);
    xv_free(env);
    xerr_free(e);
    xv_free(p);
}
