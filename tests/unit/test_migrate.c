/* VM.pool_migrate between two hosts in one process: two apis, each with its own
 * simulator, inventory and HTTPS server (its own certificate), over one shared
 * store, as a pool's members share the master's database.  The memory image really
 * crosses HTTPS from one to the other (the stream handler at
 * /services/xenops/memory/), there and back, with the record, the guest's state and
 * the guest metrics kept; a destination that breaks the stream midway, one that is
 * gone, and one lacking the VM's platform version leave the VM running on the source
 * as it was. */
#include <check.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "../../src/vm/vm_int.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "rpc.h"
#include "tls.h"
#include "unit.h"
#include "unit_api.h"

#define MIB (1LL << 20)

struct node {
    struct config *cfg;
    struct platform *pf;
    struct hv *hv;
    struct api *api;
    struct tls_identity *id;
    struct rpc_server *srv;
    char *host;
};

static char dir[64];
static struct db *db;
static struct node A, B;
static char *session, *session_b; /* a login on A, one on B */

static void node_open(struct node *n, const char *name)
{
    n->cfg = config_new();
    _cleanup_free_ char *dbp = xasprintf("%s/x.db", dir), *sim = xasprintf("%s/%s-sim", dir, name),
                        *pw = xasprintf("%s/passwd", dir), *inv = xasprintf("%s/%s-inventory", dir, name),
                        *dm = xasprintf("%s/%s-dm", dir, name), *img = xasprintf("%s/%s-suspend", dir, name),
                        *cert = xasprintf("%s/%s-cert.pem", dir, name), *key = xasprintf("%s/%s-key.pem", dir, name);
    config_set(n->cfg, "db-path", dbp);
    config_set(n->cfg, "sim-state-dir", sim);
    config_set(n->cfg, "device-model-dir", dm);
    config_set(n->cfg, "suspend-image-dir", img);
    config_set(n->cfg, "auth-file", pw);
    config_set(n->cfg, "inventory", inv);
    config_set(n->cfg, "host-address", "127.0.0.1");
    config_set(n->cfg, "host-name-label", name);
    config_set(n->cfg, "shutdown-ack-timeout", "5");
    config_set(n->cfg, "clean-shutdown-timeout", "10");
    ck_assert(platform_load("etc/platform.xml", "0,1", &n->pf) == NULL);
    ck_assert_msg(hv_open(n->cfg, &n->hv) == NULL, "the simulator of %s does not open", name);
    ck_assert(tls_identity_load(cert, key, NULL, &n->id) == NULL);
    struct api_options ao = {.cfg = n->cfg, .db = db, .hv = n->hv, .platform = n->pf,
                             .certificate_fingerprint = n->id->fingerprint};
    ck_assert(api_create(&ao, &n->api) == NULL);
    ck_assert(vm_register(n->api) == NULL);
    ck_assert(api_startup(n->api) == NULL);
    n->host = xstrdup(api_host_ref(n->api));
    struct rpc_options ro = {.address = "", .https_address = "127.0.0.1", .https_port = 0, .tls = n->id,
                             .unix_path = "", .max_connections = 64, .keepalive_timeout = 30,
                             .request_timeout = 30, .io_threads = 1, .max_workers = 4};
    ck_assert(rpc_start(n->api, db, &ro, &n->srv) == NULL);
}

/* Pool members share the HTTPS port; here each has its own, so each is told the
 * other's. */
static void point_at(struct node *n, int port)
{
    _cleanup_free_ char *p = xasprintf("%d", port);
    config_set(n->cfg, "https-port", p);
}

static void node_close(struct node *n)
{
    if (n->srv)
        ck_assert(rpc_stop(n->srv, 3.0));
    ck_assert(api_stop(n->api, 3.0));
    api_destroy(n->api);
    hv_close(n->hv);
    platform_free(n->pf);
    tls_identity_free(n->id);
    config_free(n->cfg);
    free(n->host);
    memset(n, 0, sizeof(*n));
}

static char *login(struct node *n)
{
    xv *params = xv_array(), *r = NULL;
    xv_array_push(params, xv_string("root"));
    xv_array_push(params, xv_string("secret"));
    ck_assert(api_call(n->api, "session.login_with_password", params, &(struct api_peer){.addr = "test"}, &r) == NULL);
    char *s = xstrdup(xv_str(r));
    xv_free(r);
    xv_free(params);
    return s;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon */
    unit_tmpdir(dir, sizeof(dir), "migtest");
    _cleanup_free_ char *dbp = xasprintf("%s/x.db", dir), *pw = xasprintf("%s/passwd", dir);
    ck_assert(auth_set_password(pw, "root", "secret") == NULL);
    struct db_options o = {.path = dbp, .sync = "normal", .event_log_size = 10000, .read_connections = 2};
    ck_assert(db_open(&o, &db) == NULL);
    node_open(&A, "alpha");
    node_open(&B, "beta");
    point_at(&A, rpc_https_port(B.srv));
    point_at(&B, rpc_https_port(A.srv));
    session = login(&A);
    session_b = login(&B);
}

static void teardown(void)
{
    node_close(&B);
    node_close(&A);
    db_close(db);
    free(session);
    free(session_b);
    unit_tmpdir_remove(dir);
}

/* ---- calls ---- */

static xerr *try_on(struct node *n, const char *method, ...)
{
    va_list ap;
    va_start(ap, method);
    xerr *e = unit_api_callv(n->api, n == &B ? session_b : session, method, NULL, ap);
    va_end(ap);
    return e;
}

static char *error_text(xerr *e)
{
    if (!e)
        return xstrdup("");
    buf b;
    buf_init(&b);
    buf_adds(&b, e->code);
    for (size_t i = 0; i < e->nparams; i++)
        buf_printf(&b, " %s", e->params[i]);
    xerr_free(e);
    return buf_steal(&b);
}

#define ck_ok(e)                                                                                                    \
    do {                                                                                                            \
        _cleanup_free_ char *t_ = error_text(e);                                                                    \
        ck_assert_msg(!*t_, "%s", t_);                                                                              \
    } while (0)

static xv *vm_record(const char *vm)
{
    xv *rec = NULL;
    ck_assert(db_read_record(db, DMC_VM, vm, &rec) == NULL);
    return rec;
}

static void store_set(const struct dm_class *c, const char *ref, const struct dm_field *f, xv *v)
{
    struct db_txn *t;
    ck_assert(db_begin(db, &t) == NULL);
    xerr *e = db_txn_set(t, c, ref, f, v);
    xv_free(v);
    ck_assert(db_end(t, e) == NULL);
}

/* A PV VM of 256 MiB started on A; has_vendor_device as given. */
static char *running_vm(bool vendor)
{
    xv *rec = xv_struct();
    xv_struct_append(rec, "name_label", xv_string("traveller"));
    xv_struct_append(rec, "PV_kernel", xv_string("/boot/vmlinuz"));
    static const char *const mem[] = {"memory_static_max", "memory_dynamic_max", "memory_dynamic_min"};
    for (int i = 0; i < 3; i++)
        xv_struct_append(rec, mem[i], xv_string_take(xasprintf("%lld", 256 * MIB)));
    xv_struct_append(rec, "memory_static_min", xv_string_take(xasprintf("%lld", 128 * MIB)));
    xv_struct_append(rec, "has_vendor_device", xv_bool(vendor));
    xv *params = xv_array(), *r = NULL;
    xv_array_push(params, xv_string(session));
    xv_array_push(params, rec);
    ck_ok(api_call(A.api, "VM.create", params, &(struct api_peer){.addr = "test"}, &r));
    xv_free(params);
    char *vm = xstrdup(xv_str(r));
    xv_free(r);
    ck_ok(try_on(&A, "VM.start_on", xv_string(vm), xv_string(A.host), xv_bool(false), xv_bool(false), NULL));
    return vm;
}

/* The domain of the VM on node n, or -1. */
static int64_t domain_on(struct node *n, const char *vm)
{
    xv *rec = vm_record(vm);
    struct hv_domain_info di;
    int64_t d = vm_find_domain(n->api, dm_get_str(rec, DMF_VM_uuid), &di) ? (int64_t)di.domid : -1;
    if (d >= 0)
        ck_assert_int_eq(di.state, HV_DOM_RUNNING);
    xv_free(rec);
    return d;
}

static void ck_resident(const char *vm, struct node *n)
{
    xv *rec = vm_record(vm);
    ck_assert_str_eq(dm_get_str(rec, DMF_VM_resident_on), n->host);
    ck_assert_int_eq(dm_get_enum(rec, DMF_VM_power_state), VM_POWER_STATE_RUNNING);
    ck_assert_int_eq(dm_get_int(rec, DMF_VM_domid), domain_on(n, vm));
    ck_assert_str_eq(dm_get_str(rec, DMF_VM_scheduled_to_be_resident_on), REF_NULL);
    ck_assert_uint_eq(dm_get(rec, DMF_VM_current_operations)->u.st.n, 0);
    xv_free(rec);
}

static xv *migrate_options(void)
{
    xv *o = xv_struct();
    xv_struct_append(o, "live", xv_string("true"));
    return o;
}

/* The simulated guest's own state, as it reports it when asked (sim/query):
 * "boot-id=<hex> counter=<n> run-ms=<n>"; each question bumps the counter.  The
 * same boot id and a counter that goes on: the same guest, not a new boot. */
struct guest { char boot[64]; long long counter; };

static struct guest guest_state(struct node *n, const char *vm)
{
    int64_t d = domain_on(n, vm);
    ck_assert_int_ge(d, 1);
    struct xs_handle *xs = hv_xs_open(hv_xenstore_path(n->hv));
    ck_assert_ptr_nonnull(xs);
    _cleanup_free_ char *q = xasprintf("/local/domain/%lld/sim/query", (long long)d),
                        *st = xasprintf("/local/domain/%lld/data/sim-state", (long long)d);
    unsigned len = 0;
    char *old = xs_read(xs, XBT_NULL, st, &len);
    ck_assert(xs_write(xs, XBT_NULL, q, "1", 1));
    char *v = NULL;
    for (int i = 0; i < 200; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        free(v);
        v = xs_read(xs, XBT_NULL, st, &len);
        if (v && (!old || strcmp(v, old) != 0))
            break;
    }
    ck_assert_msg(v && (!old || strcmp(v, old) != 0), "the guest of domain %lld did not answer", (long long)d);
    struct guest g = {{0}, -1};
    ck_assert_int_eq(sscanf(v, "boot-id=%63s counter=%lld", g.boot, &g.counter), 2);
    free(v);
    free(old);
    xs_close(xs);
    return g;
}

START_TEST(a_vm_migrates_there_and_back_with_its_record_and_guest)
{
    char *vm = running_vm(false);
    ck_resident(vm, &A);
    /* what the guest's tools reported, as the guest watch records it */
    {
        struct db_txn *t;
        ck_assert(db_begin(db, &t) == NULL);
        xv *f = xv_struct();
        xv_struct_append(f, "live", xv_bool(true));
        char *ref = NULL;
        ck_assert(api_create_object(t, DMC_VM_guest_metrics, f, &ref) == NULL);
        xv *v = xv_string(ref);
        ck_assert(db_txn_set(t, DMC_VM, vm, DMF_VM_guest_metrics, v) == NULL);
        ck_assert(db_commit(t, NULL) == NULL);
        xv_free(v);
        xv_free(f);
        free(ref);
    }
    xv *before = vm_record(vm);
    struct guest g0 = guest_state(&A, vm);
    /* guest metrics as the guest's tools reported them */
    const char *gm = dm_get_str(before, DMF_VM_guest_metrics);
    int64_t old_domid = dm_get_int(before, DMF_VM_domid);
    xv *mrec = NULL;
    ck_assert(db_read_record(db, DMC_VM_metrics, dm_get_str(before, DMF_VM_metrics), &mrec) == NULL);
    xv *start_time = xv_dup(dm_get(mrec, DMF_VM_metrics_start_time));
    xv_free(mrec);

    ck_ok(try_on(&A, "VM.assert_can_migrate", xv_string(vm), ({
                     xv *d = xv_struct();
                     xv_struct_append(d, "host", xv_string(B.host));
                     d;
                 }),
                 xv_bool(true), xv_struct(), xv_struct(), migrate_options(), xv_struct(), NULL));
    ck_ok(try_on(&A, "VM.pool_migrate", xv_string(vm), xv_string(B.host), migrate_options(), NULL));
    ck_resident(vm, &B);
    ck_assert_int_eq(domain_on(&A, vm), -1); /* the source's copy is gone */
    struct guest g1 = guest_state(&B, vm);
    ck_assert_str_eq(g1.boot, g0.boot);
    ck_assert_int_gt(g1.counter, g0.counter);
    xv *after = vm_record(vm);
    /* everything but where it runs is as it was */
    const struct dm_field *const kept[] = {DMF_VM_uuid, DMF_VM_name_label, DMF_VM_memory_static_max,
                                                  DMF_VM_hardware_platform_version, DMF_VM_guest_metrics,
                                                  DMF_VM_metrics, DMF_VM_platform};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        ck_assert_msg(xv_equal(dm_get(before, kept[i]), dm_get(after, kept[i])), "%s changed", kept[i]->name);
    ck_assert_str_eq(dm_get_str(after, DMF_VM_guest_metrics), gm);
    xv_free(after);

    /* and back, moved by the host it now runs on */
    ck_ok(try_on(&B, "VM.pool_migrate", xv_string(vm), xv_string(A.host), migrate_options(), NULL));
    ck_resident(vm, &A);
    ck_assert_int_eq(domain_on(&B, vm), -1);
    struct guest g2 = guest_state(&A, vm);
    ck_assert_str_eq(g2.boot, g0.boot);
    ck_assert_int_gt(g2.counter, g1.counter);
    ck_assert_int_ne(domain_on(&A, vm), old_domid); /* a new domain each time */
    /* not a reboot: what the guest reported and when it started stay */
    xv *back = vm_record(vm);
    ck_assert_str_eq(dm_get_str(back, DMF_VM_guest_metrics), gm);
    xv *gmrec = NULL;
    ck_assert_msg(db_read_record(db, DMC_VM_guest_metrics, gm, &gmrec) == NULL, "the guest metrics were dropped");
    ck_assert(dm_get_bool(gmrec, DMF_VM_guest_metrics_live));
    xv_free(gmrec);
    ck_assert(xv_equal(dm_get(back, DMF_VM_metrics), dm_get(before, DMF_VM_metrics)));
    xv *m0 = NULL, *m1 = NULL;
    ck_assert(db_read_record(db, DMC_VM_metrics, dm_get_str(before, DMF_VM_metrics), &m1) == NULL);
    ck_assert(m1 != NULL);
    m0 = xv_dup(dm_get(m1, DMF_VM_metrics_start_time));
    ck_assert(xv_equal(m0, start_time));
    xv_free(m0);
    xv_free(m1);
    xv_free(back);
    xv_free(start_time);
    xv_free(before);
    free(vm);
}
END_TEST

START_TEST(a_version_1_vm_never_moves_to_a_version_0_host)
{
    char *vm = running_vm(true);
    xv *v0 = xv_array();
    xv_array_push(v0, xv_int(0));
    store_set(DMC_host, B.host, DMF_host_virtual_hardware_platform_versions, v0);
    int64_t d = domain_on(&A, vm);
    _cleanup_free_ char *want =
        xasprintf("VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION %s [0] %s 1", B.host, vm);
    _cleanup_free_ char *got = error_text(try_on(&A, "VM.pool_migrate", xv_string(vm), xv_string(B.host),
                                                 migrate_options(), NULL));
    ck_assert_str_eq(got, want);
    xv *dest = xv_struct();
    xv_struct_append(dest, "host", xv_string(B.host));
    _cleanup_free_ char *asserted = error_text(try_on(&A, "VM.assert_can_migrate", xv_string(vm), dest, xv_bool(true),
                                                      xv_struct(), xv_struct(), migrate_options(), xv_struct(), NULL));
    ck_assert_str_eq(asserted, want);
    ck_resident(vm, &A);
    ck_assert_int_eq(domain_on(&A, vm), d);
    /* the checks' order: live before enabled before the version */
    ck_ok(try_on(&A, "host.disable", xv_string(B.host), NULL));
    _cleanup_free_ char *disabled = error_text(try_on(&A, "VM.pool_migrate", xv_string(vm), xv_string(B.host),
                                                      migrate_options(), NULL));
    _cleanup_free_ char *want_disabled = xasprintf("HOST_DISABLED %s", B.host);
    ck_assert_str_eq(disabled, want_disabled);
    xv *rec = NULL;
    ck_assert(db_read_record(db, DMC_host, B.host, &rec) == NULL);
    store_set(DMC_host_metrics, dm_get_str(rec, DMF_host_metrics), DMF_host_metrics_live, xv_bool(false));
    xv_free(rec);
    _cleanup_free_ char *dead = error_text(try_on(&A, "VM.pool_migrate", xv_string(vm), xv_string(B.host),
                                                  migrate_options(), NULL));
    ck_assert_str_eq(dead, "HOST_NOT_LIVE");
    ck_resident(vm, &A);
    free(vm);
}
END_TEST

/* ---- a destination that breaks the stream midway ---- */

static gnutls_certificate_credentials_t fake_cred;

struct fake {
    int lfd, port;
    size_t cut_after;            /* bytes of the image taken before it hangs up */
    size_t got;
    pthread_t thread;
};

static void *fake_dest(void *p)
{
    struct fake *f = p;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    gnutls_session_t tls;
    gnutls_init(&tls, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
    gnutls_priority_set_direct(tls, TLS_PRIORITIES, NULL);
    gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, fake_cred);
    gnutls_transport_set_int(tls, fd);
    int rc;
    do
        rc = gnutls_handshake(tls);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    char data[65536];
    buf req;
    buf_init(&req);
    ssize_t n;
    while (rc >= 0 && (!req.p || !strstr(req.p, "\r\n\r\n")) && (n = gnutls_record_recv(tls, data, sizeof(data))) > 0)
        buf_add(&req, data, (size_t)n);
    const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: xenapid-stream\r\n\r\n";
    if (rc >= 0)
        gnutls_record_send(tls, ok, sizeof(ok) - 1);
    while (rc >= 0 && f->got < f->cut_after && (n = gnutls_record_recv(tls, data, sizeof(data))) > 0)
        f->got += (size_t)n;
    buf_free(&req);
    gnutls_deinit(tls); /* no close_notify: as a destination killed */
    close(fd);
    return NULL;
}

START_TEST(a_migration_cut_midway_leaves_the_vm_running_on_the_source)
{
    char *vm = running_vm(false);
    int64_t d = domain_on(&A, vm);
    struct guest g0 = guest_state(&A, vm);
    /* B's address and port now lead to a destination that hangs up after 100 bytes */
    _cleanup_free_ char *cert = xasprintf("%s/beta-cert.pem", dir), *key = xasprintf("%s/beta-key.pem", dir);
    ck_assert(gnutls_certificate_allocate_credentials(&fake_cred) >= 0);
    ck_assert(gnutls_certificate_set_x509_key_file(fake_cred, cert, key, GNUTLS_X509_FMT_PEM) >= 0);
    ck_assert(rpc_stop(B.srv, 3.0));
    B.srv = NULL;
    struct fake f = {.cut_after = 100};
    f.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert(bind(f.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(f.lfd, 4) == 0);
    socklen_t len = sizeof(sa);
    getsockname(f.lfd, (struct sockaddr *)&sa, &len);
    point_at(&A, ntohs(sa.sin_port));
    ck_assert(pthread_create(&f.thread, NULL, fake_dest, &f) == 0);

    _cleanup_free_ char *got = error_text(try_on(&A, "VM.pool_migrate", xv_string(vm), xv_string(B.host),
                                                 migrate_options(), NULL));
    pthread_join(f.thread, NULL);
    ck_assert_msg(f.got >= 100, "the destination got %zu bytes: the stream never started", f.got);
    _cleanup_free_ char *prefix = xasprintf("VM_MIGRATE_FAILED %s %s %s ", vm, A.host, B.host);
    ck_assert_msg(str_startswith(got, prefix), "%s", got);
    /* the same domain, the same guest, running */
    ck_resident(vm, &A);
    ck_assert_int_eq(domain_on(&A, vm), d);
    struct guest g1 = guest_state(&A, vm);
    ck_assert_str_eq(g1.boot, g0.boot);
    ck_assert_int_gt(g1.counter, g0.counter);

    /* and a destination that is not there at all: refused before the domain is touched */
    close(f.lfd);
    _cleanup_free_ char *gone = error_text(try_on(&A, "VM.pool_migrate", xv_string(vm), xv_string(B.host),
                                                  migrate_options(), NULL));
    ck_assert_msg(str_startswith(gone, prefix), "%s", gone);
    ck_resident(vm, &A);
    ck_assert_int_eq(domain_on(&A, vm), d);
    gnutls_certificate_free_credentials(fake_cred);
    free(vm);
}
END_TEST

static Suite *migrate_suite(void)
{
    Suite *s = suite_create("migrate");
    TCase *tc = tcase_create("two hosts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_vm_migrates_there_and_back_with_its_record_and_guest);
    tcase_add_test(tc, a_version_1_vm_never_moves_to_a_version_0_host);
    tcase_add_test(tc, a_migration_cut_midway_leaves_the_vm_running_on_the_source);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(migrate_suite)
