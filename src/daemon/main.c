/* xenapid: the daemon.  Reads its configuration, opens the store and the hypervisor,
 * makes sure this host's records are right, serves the API until told to stop. */
#include "api.h"
#include "dm_gen.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "modules.h"
#include "platform.h"
#include "pool.h"
#include "rpc.h"
#include "tls.h"
#include "util.h"
#include "xenbe.h"

#include <errno.h>
#include <libxml/parser.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#ifndef XENAPID_VERSION
#define XENAPID_VERSION "0.1.0"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: xenapid [--config FILE] [--KEY=VALUE ...]\n"
            "       xenapid [--config FILE] --set-password USER   (password read from standard input)\n"
            "       xenapid [--config FILE] --sim-domain DOMID --set-state shutdown --reason poweroff|reboot|crash\n"
            "       xenapid [--config FILE] --sim-domain DOMID --remove\n"
            "       xenapid [--config FILE] --sim-fault STEP[:COUNT] | none\n"
            "       xenapid [--config FILE] --sim-list\n"
            "       xenapid --help | --version\n\n"
            "The XenAPI toolstack daemon: serves XML-RPC at / and /RPC2 and JSON-RPC at /jsonrpc.\n\n"
            "--sim-domain changes a domain of the simulator (sim-state-dir) while no daemon runs,\n"
            "as a hypervisor changes under a toolstack that is down: the guest shut down with the\n"
            "reason given, or the domain gone.  The next daemon to start finds it so.  It is\n"
            "refused while a daemon has that simulator open.\n\n"
            "--sim-fault makes the simulator fail the next COUNT (default 1) passes through a step\n"
            "(build, xenstore-tree, introduce, device-model, unpause, pause, request-shutdown,\n"
            "request-suspend, destroy) as a failing hypervisor would; none disarms them all.  It\n"
            "works while a daemon runs (for tests of what a failed step leaves behind).\n"
            "--sim-list prints the simulator's domains, one a line: domid, uuid, state, shutdown\n"
            "reason (as xl list would on a real host; also while a daemon runs).\n\n"
            "Every configuration key can be given in the file (key = value) or as --key=value,\n"
            "which wins.  Keys:\n\n");
    config_print_help(out);
}

static int fail(xerr *e)
{
    _cleanup_free_ char *s = xerr_str(e);
    fprintf(stderr, "xenapid: %s\n", s);
    log_error("%s", s);
    xerr_free(e);
    return 1;
}

/* Create the directory a file lives in (var/ on a fresh checkout). */
static void make_parent(const char *path)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return;
    *slash = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    mkdir(dir, 0755);
}

static char *read_password(void)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "Password: ");
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = 0;
    return line;
}

/* A TLS file's path: as configured, or name beside the database. */
static char *tls_path(const struct config *cfg, const char *key, const char *name)
{
    const char *p = config_get(cfg, key);
    if (*p)
        return xstrdup(p);
    const char *db = config_get(cfg, "db-path");
    const char *slash = strrchr(db, '/');
    return slash ? xasprintf("%.*s/%s", (int)(slash - db), db, name) : xstrdup(name);
}

/* The HTTPS certificate, made at first start; NULL without HTTPS. */
static xerr *load_tls(const struct config *cfg, struct tls_identity **out)
{
    *out = NULL;
    if (!*config_get(cfg, "https-address"))
        return NULL;
    _cleanup_free_ char *cert = tls_path(cfg, "tls-certificate", "xenapid-cert.pem");
    _cleanup_free_ char *key = tls_path(cfg, "tls-key", "xenapid-key.pem");
    const char *addrs[] = {config_get(cfg, "https-address"), config_get(cfg, "listen-address"),
                           config_get(cfg, "host-address"), NULL};
    xerr *e = tls_identity_load(cert, key, addrs, out);
    if (!e)
        log_info("TLS certificate %s, SHA-256 fingerprint %s", cert, (*out)->fingerprint);
    return e;
}

/* Every return from main frees the configuration: LeakSanitizer checks the exit. */
static void config_freep(struct config **c)
{
    config_free(*c);
}

static xerr *check_port(const struct config *cfg, const char *key)
{
    int64_t port = config_get_int(cfg, key);
    if (port < 0 || port > 65535 || (!port && strcmp(config_get(cfg, key), "0") != 0))
        return err_invalid_value(key, config_get(cfg, key));
    return NULL;
}

static xerr *check_config(const struct config *cfg)
{
    xerr *e = check_port(cfg, "listen-port");
    if (!e)
        e = check_port(cfg, "https-port");
    if (e)
        return e;
    const char *auth = config_get(cfg, "auth");
    if (strcmp(auth, "file") != 0 && strcmp(auth, "pam") != 0)
        return err_invalid_value("auth", auth);
    const char *sync = config_get(cfg, "db-sync");
    if (strcmp(sync, "full") != 0 && strcmp(sync, "normal") != 0)
        return err_invalid_value("db-sync", sync);
    return NULL;
}

/* --sim-domain: one change to the simulator's domains, with no daemon running. */
static int sim_control(const struct config *cfg, const char *domain, const char *state, const char *reason,
                       bool remove)
{
    int64_t domid = 0;
    bool shutdown = state && strcmp(state, "shutdown") == 0;
    if (!domain || !parse_int64(domain, &domid) || domid <= 0 || domid > UINT32_MAX ||
        remove == (state != NULL) || (state && !shutdown) || (shutdown != (reason != NULL))) {
        fprintf(stderr, "xenapid: --sim-domain DOMID takes either --set-state shutdown --reason REASON "
                        "or --remove (see --help)\n");
        return 2;
    }
    if (strcmp(config_get(cfg, "backend"), "simulator") != 0) {
        fprintf(stderr, "xenapid: --sim-domain changes the simulator's state: backend is %s\n",
                config_get(cfg, "backend"));
        return 2;
    }
    xerr *e = remove ? hv_sim_remove(cfg, (uint32_t)domid) : hv_sim_shutdown(cfg, (uint32_t)domid, reason);
    if (e)
        return fail(e);
    if (remove)
        printf("simulator: domain %lld removed\n", (long long)domid);
    else
        printf("simulator: domain %lld shut down (%s)\n", (long long)domid, reason);
    return 0;
}

/* --sim-fault: arm (or disarm) a failure of the simulator at a step. */
static int sim_fault(const struct config *cfg, const char *spec)
{
    if (strcmp(config_get(cfg, "backend"), "simulator") != 0) {
        fprintf(stderr, "xenapid: --sim-fault arms the simulator's faults: backend is %s\n",
                config_get(cfg, "backend"));
        return 2;
    }
    xerr *e = hv_sim_fault(cfg, spec);
    if (e)
        return fail(e);
    printf("simulator: fault %s\n", strcmp(spec, "none") == 0 ? "none armed" : spec);
    return 0;
}

int main(int argc, char **argv)
{
    __attribute__((cleanup(config_freep))) struct config *cfg = config_new();
    const char *config_path = NULL, *set_password = NULL;
    const char *sim_domain = NULL, *sim_state = NULL, *sim_reason = NULL, *sim_fault_spec = NULL;
    bool sim_remove = false, sim_list = false;
    xerr *e = NULL;

    /* the file first, so that --key=value wins whatever the order */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (str_startswith(argv[i], "--config="))
            config_path = argv[i] + 9;
    }
    if (config_path && (e = config_load_file(cfg, config_path)) != NULL)
        return fail(e);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("xenapid %s\n", XENAPID_VERSION);
            return 0;
        } else if (strcmp(a, "--config") == 0) {
            i++;
        } else if (str_startswith(a, "--config=")) {
        } else if (strcmp(a, "--set-password") == 0 && i + 1 < argc) {
            set_password = argv[++i];
        } else if (strcmp(a, "--sim-domain") == 0 && i + 1 < argc) {
            sim_domain = argv[++i];
        } else if (strcmp(a, "--set-state") == 0 && i + 1 < argc) {
            sim_state = argv[++i];
        } else if (strcmp(a, "--reason") == 0 && i + 1 < argc) {
            sim_reason = argv[++i];
        } else if (strcmp(a, "--sim-fault") == 0 && i + 1 < argc) {
            sim_fault_spec = argv[++i];
        } else if (strcmp(a, "--sim-list") == 0) {
            sim_list = true;
        } else if (strcmp(a, "--remove") == 0) {
            sim_remove = true;
        } else if (str_startswith(a, "--") && strchr(a, '=')) {
            _cleanup_free_ char *key = xstrndup(a + 2, (size_t)(strchr(a, '=') - a - 2));
            if (!config_known(key)) {
                fprintf(stderr, "xenapid: unknown option --%s (see --help)\n", key);
                return 2;
            }
            config_set(cfg, key, strchr(a, '=') + 1);
        } else {
            fprintf(stderr, "xenapid: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!log_setup(config_get(cfg, "log-target"), config_get(cfg, "log-level"))) {
        fprintf(stderr, "xenapid: bad log-target or log-level\n");
        return 2;
    }
    if ((e = check_config(cfg)) != NULL)
        return fail(e);

    if (sim_fault_spec)
        return sim_fault(cfg, sim_fault_spec);
    if (sim_list) {
        if (strcmp(config_get(cfg, "backend"), "simulator") != 0) {
            fprintf(stderr, "xenapid: --sim-list lists the simulator's domains: backend is %s\n",
                    config_get(cfg, "backend"));
            return 2;
        }
        return (e = hv_sim_list(cfg, stdout)) != NULL ? fail(e) : 0;
    }
    if (sim_domain || sim_state || sim_reason || sim_remove)
        return sim_control(cfg, sim_domain, sim_state, sim_reason, sim_remove);

    if (set_password) {
        _cleanup_free_ char *pw = read_password();
        if (!pw || !*pw) {
            fprintf(stderr, "xenapid: no password given\n");
            return 1;
        }
        make_parent(config_get(cfg, "auth-file"));
        if ((e = auth_set_password(config_get(cfg, "auth-file"), set_password, pw)) != NULL)
            return fail(e);
        printf("password of %s set in %s\n", set_password, config_get(cfg, "auth-file"));
        return 0;
    }

    /* Signals are taken by sigwait in this thread; every other thread inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1); /* the pool: restart (after pool.join, pool.eject) */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    xmlInitParser();

    log_info("xenapid %s starting (pid %d)", XENAPID_VERSION, (int)getpid());
    make_parent(config_get(cfg, "db-path"));
    make_parent(config_get(cfg, "inventory"));
    if (*config_get(cfg, "unix-socket"))
        make_parent(config_get(cfg, "unix-socket"));

    /* What is open so far is closed again on a failed start, so that the exit is
     * clean (LeakSanitizer checks it). */
    struct platform *platform = NULL;
    struct db *db = NULL;
    struct hv *hv = NULL;
    struct api *api = NULL;
    struct rpc_server *srv = NULL;
    struct modules *modules = NULL;
    struct tls_identity *tls = NULL;
    struct pool *pool = NULL;
    if ((e = load_tls(cfg, &tls)) != NULL)
        goto failed;
    if ((e = pool_open(cfg, &pool)) != NULL)
        goto failed;
    if ((e = platform_load(config_get(cfg, "platform-registry"),
                           config_get(cfg, "virtual-hardware-platform-versions"), &platform)) != NULL)
        goto failed;

    int64_t record_cache = config_get_int(cfg, "record-cache-size");
    struct db_options dbo = {
        .path = config_get(cfg, "db-path"),
        .sync = config_get(cfg, "db-sync"),
        .event_log_size = config_get_int(cfg, "event-log-size"),
        .read_connections = 8,
        .record_cache_size = record_cache > 0 ? (size_t)record_cache : 0,
    };
    /* a member's store is the master's database */
    if ((e = pool_is_member(pool) ? pool_open_store(pool, &db) : db_open(&dbo, &db)) != NULL)
        goto failed;
    if ((e = hv_open(cfg, &hv)) != NULL)
        goto failed;
    struct api_options ao = {.cfg = cfg, .db = db, .hv = hv, .platform = platform,
                             .certificate_fingerprint = tls ? tls->fingerprint : NULL,
                             .certificate_fingerprint_sha1 = tls ? tls->fingerprint_sha1 : NULL,
                             .certificate_not_before = tls ? tls->not_before : 0,
                             .certificate_not_after = tls ? tls->not_after : 0};
    if ((e = api_create(&ao, &api)) != NULL)
        goto failed;
    if ((e = pool_register(pool, api)) != NULL)
        goto failed;
    if ((e = modules_register(api)) != NULL)
        goto failed;
    /* a member starts once its master answers (its records are there) */
    while ((e = api_startup(api)) != NULL && pool_is_member(pool) && xerr_is(e, XERR_CANNOT_CONTACT_HOST)) {
        _cleanup_free_ char *s = xerr_str(e);
        log_warn("start-up: %s; trying again", s);
        xerr_free(e);
        double wait = config_get_double(cfg, "heartbeat-interval");
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        int got = sigtimedwait(&sigs, NULL, &ts);
        if (got == SIGTERM || got == SIGINT) {
            e = xerr_internal("stopped before the master answered");
            break;
        }
    }
    if (e)
        goto failed;
    if ((e = modules_start(api, &modules)) != NULL)
        goto failed;
    if ((e = pool_start(pool)) != NULL)
        goto failed;

    struct rpc_options ro = {
        .address = config_get(cfg, "listen-address"),
        .port = (int)config_get_int(cfg, "listen-port"),
        .https_address = config_get(cfg, "https-address"),
        .https_port = (int)config_get_int(cfg, "https-port"),
        .tls = tls,
        .unix_path = config_get(cfg, "unix-socket"),
        .max_connections = (int)config_get_int(cfg, "max-connections"),
        .max_per_address = (int)config_get_int(cfg, "max-connections-per-address"),
        .keepalive_timeout = (int)config_get_int(cfg, "keepalive-timeout"),
        .request_timeout = (int)config_get_int(cfg, "request-timeout"),
        .max_request = (size_t)config_get_int(cfg, "max-request-size"),
        .io_threads = (int)config_get_int(cfg, "server-threads"),
        .max_workers = (int)config_get_int(cfg, "worker-threads"),
    };
    if ((e = rpc_start(api, db, &ro, &srv)) != NULL)
        goto failed;
    /* for tests and scripts that asked for port 0 */
    printf("xenapid ready: port %d https-port %d\n", rpc_port(srv), rpc_https_port(srv));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
        log_info("SIGHUP: nothing to reload; restart to apply configuration changes");
    bool restart = sig == SIGUSR1;
    log_info("signal %d: %s", sig, restart ? "restarting (pool membership changed)" : "stopping");
    if (restart)
        usleep(200000); /* the answer to the call that asked for it goes out first */
    if (!rpc_stop(srv, 3.0) || !api_stop(api, 3.0)) {
        /* calls still in flight use everything below: leave it to the exit */
        log_info("stopped with requests in flight");
        if (restart)
            execv("/proc/self/exe", argv);
        _exit(0);
    }
    pool_stop(pool);
    modules_stop(modules);
    api_destroy(api);
    hv_close(hv);
    db_close(db);
    platform_free(platform);
    tls_identity_free(tls);
    pool_free(pool);
    if (restart) {
        fflush(stdout);
        execv("/proc/self/exe", argv);
        log_error("cannot restart: %s", strerror(errno));
        return 1;
    }
    log_info("stopped");
    return 0;

failed:
    pool_stop(pool);
    modules_stop(modules);
    api_destroy(api);
    hv_close(hv);
    db_close(db);
    platform_free(platform);
    tls_identity_free(tls);
    pool_free(pool);
    return fail(e);
}
