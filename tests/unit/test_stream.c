/* The saved-domain stream (src/xen/stream.c, docs/domain-stream.md) on the
 * simulator, without a daemon: a suspended domain saved through a socket and
 * restored continues from its guest's state (boot id and counter), not a cold boot;
 * the stream cut at any length, damaged anywhere, of another VM or of another
 * format version is DOMAIN_STREAM_INVALID with no domain left behind; a domain
 * whose save failed resumes in place. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "config.h"
#include "dm_gen.h"
#include "unit.h"
#include "xenbe.h"

static char dir[64];
static struct config *cfg;
static struct hv *hv;

static void setup(void)
{
    /* a save into a closed socket must fail with EPIPE, as in the daemon (which
     * ignores SIGPIPE, src/daemon/main.c), not kill the test */
    signal(SIGPIPE, SIG_IGN);
    unit_tmpdir(dir, sizeof(dir), "streamtest");
    cfg = config_new();
    _cleanup_free_ char *sim = xasprintf("%s/sim", dir), *dm = xasprintf("%s/dm", dir);
    config_set(cfg, "sim-state-dir", sim);
    config_set(cfg, "device-model-dir", dm);
    ck_assert_msg(hv_open(cfg, &hv) == NULL, "the simulator does not open");
}

static void teardown(void)
{
    hv_close(hv);
    config_free(cfg);
    unit_tmpdir_remove(dir);
}

static void nap(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static const char *const UUID_A = "6a1f0c4e-7d3b-4f5e-9a10-2b3c4d5e6f70";
static const char *const UUID_B = "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f";

static struct hv_domain_spec spec_of(const char *uuid)
{
    return (struct hv_domain_spec){.uuid = uuid, .name = "saved", .hvm = false, .memory_static_max = 256u << 20,
                                   .memory_target = 256u << 20, .vcpus_max = 1, .vcpus = 1,
                                   .kernel = "/boot/vmlinuz", .cmdline = ""};
}

static char *xs_path(uint32_t domid, const char *rel)
{
    return xasprintf("/local/domain/%" PRIu32 "/%s", domid, rel);
}

static void xs_put(uint32_t domid, const char *rel, const char *value)
{
    struct xs_handle *h = hv_xs_open(hv_xenstore_path(hv));
    ck_assert_ptr_nonnull(h);
    _cleanup_free_ char *p = xs_path(domid, rel);
    ck_assert(xs_write(h, XBT_NULL, p, value, strlen(value)));
    xs_close(h);
}

/* The guest's report after one more query: "boot-id=... counter=N run-ms=...". */
static char *query(uint32_t domid, unsigned expect_counter)
{
    _cleanup_free_ char *p = xs_path(domid, "data/sim-state");
    xs_put(domid, "sim/query", "1");
    char want[32];
    snprintf(want, sizeof(want), " counter=%u ", expect_counter);
    for (int i = 0; i < 250; i++) {
        char *v = hv_xs_read(hv, p, NULL);
        if (v && strstr(v, want))
            return v;
        free(v);
        nap();
    }
    ck_abort_msg("domain %" PRIu32 ": the guest did not report counter %u", domid, expect_counter);
    return NULL;
}

static char *boot_id(const char *report)
{
    const char *b = strstr(report, "boot-id=");
    ck_assert_ptr_nonnull(b);
    return xstrndup(b + 8, strcspn(b + 8, " "));
}

static size_t ndomains(void)
{
    struct hv_domain_info *v = NULL;
    size_t n = 0;
    ck_assert(hv_domain_list(hv, &v, &n) == NULL);
    free(v);
    return n;
}

/* A running domain of VM uuid, queried twice, then suspended by its guest. */
static uint32_t suspended_domain(const char *uuid, char **boot)
{
    struct hv_domain_spec spec = spec_of(uuid);
    uint32_t domid = 0;
    ck_assert(hv_domain_create(hv, &spec, &domid) == NULL);
    ck_assert(hv_domain_unpause(hv, domid) == NULL);
    free(query(domid, 1));
    _cleanup_free_ char *r = query(domid, 2);
    *boot = boot_id(r);
    ck_assert(hv_domain_request_shutdown(hv, domid, "suspend") == NULL);
    struct hv_domain_info di = {0};
    for (int i = 0; i < 250 && !(hv_domain_info(hv, domid, &di) && di.state == HV_DOM_SHUTDOWN); i++)
        nap();
    ck_assert_int_eq(di.state, HV_DOM_SHUTDOWN);
    ck_assert_int_eq(di.shutdown_reason, HV_SHUTDOWN_SUSPEND);
    return domid;
}

/* The whole stream of a save, read back through a socket pair (the writer in a
 * thread, as a migration sends it). */
struct saver {
    uint32_t domid;
    int fd;
    xerr *e;
};

static void *save_thread(void *arg)
{
    struct saver *sv = arg;
    sv->e = hv_domain_save(hv, sv->domid, sv->fd);
    close(sv->fd);
    return NULL;
}

static char *save_to_memory(uint32_t domid, size_t *len)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    struct saver sv = {.domid = domid, .fd = sp[0]};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, save_thread, &sv), 0);
    buf b;
    buf_init(&b);
    char chunk[4096];
    ssize_t n;
    while ((n = read(sp[1], chunk, sizeof(chunk))) > 0)
        buf_add(&b, chunk, (size_t)n);
    close(sp[1]);
    pthread_join(t, NULL);
    ck_assert_msg(sv.e == NULL, "the save failed");
    *len = b.len;
    return buf_steal(&b);
}

/* Restore from the bytes, fed through a socket pair (a writer thread). */
struct feeder {
    const char *data;
    size_t len;
    int fd;
};

static void *feed_thread(void *arg)
{
    struct feeder *f = arg;
    size_t off = 0;
    while (off < f->len) {
        ssize_t n = write(f->fd, f->data + off, f->len - off);
        if (n <= 0)
            break;  /* the reader gave up: a refused stream */
        off += (size_t)n;
    }
    close(f->fd);
    return NULL;
}

static xerr *restore_from(const char *uuid, const char *data, size_t len, uint32_t *domid)
{
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    struct feeder f = {.data = data, .len = len, .fd = sp[0]};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, feed_thread, &f), 0);
    struct hv_domain_spec spec = spec_of(uuid);
    xerr *e = hv_domain_restore(hv, &spec, sp[1], domid);
    close(sp[1]);
    pthread_join(t, NULL);
    return e;
}

START_TEST(a_restored_domain_continues_where_it_was)
{
    _cleanup_free_ char *boot = NULL;
    uint32_t old = suspended_domain(UUID_A, &boot);
    size_t len = 0;
    _cleanup_free_ char *img = save_to_memory(old, &len);
    ck_assert_mem_eq(img, "XENAPID-DOMAIN\n", 15);
    ck_assert(hv_domain_destroy(hv, old) == NULL);
    uint32_t domid = 0;
    ck_assert(restore_from(UUID_A, img, len, &domid) == NULL);
    ck_assert_uint_ne(domid, old);
    struct hv_domain_info di;
    ck_assert(hv_domain_info(hv, domid, &di));
    ck_assert_int_eq(di.state, HV_DOM_PAUSED);
    ck_assert_str_eq(di.uuid, UUID_A);
    /* its xenstore tree is written, as for a built one */
    _cleanup_free_ char *vmp = xs_path(domid, "vm");
    _cleanup_free_ char *vm = hv_xs_read(hv, vmp, NULL);
    ck_assert_ptr_nonnull(vm);
    ck_assert_str_eq(vm + 4, UUID_A);
    ck_assert(hv_domain_unpause(hv, domid) == NULL);
    _cleanup_free_ char *r = query(domid, 3);  /* not 1: the counter went on */
    _cleanup_free_ char *b2 = boot_id(r);
    ck_assert_str_eq(b2, boot);
    ck_assert(hv_domain_destroy(hv, domid) == NULL);
}
END_TEST

START_TEST(a_failed_save_resumes_in_place)
{
    _cleanup_free_ char *boot = NULL;
    uint32_t domid = suspended_domain(UUID_A, &boot);
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    close(sp[1]);  /* nobody reads: the save fails */
    xerr *e = hv_domain_save(hv, domid, sp[0]);
    close(sp[0]);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
    ck_assert(hv_domain_resume_in_place(hv, domid) == NULL);
    struct hv_domain_info di;
    ck_assert(hv_domain_info(hv, domid, &di));
    ck_assert_int_eq(di.state, HV_DOM_RUNNING);
    _cleanup_free_ char *r = query(domid, 3);
    _cleanup_free_ char *b2 = boot_id(r);
    ck_assert_str_eq(b2, boot);
    /* only a suspended domain resumes */
    e = hv_domain_resume_in_place(hv, domid);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
    ck_assert(hv_domain_destroy(hv, domid) == NULL);
}
END_TEST

START_TEST(a_running_domain_is_not_saved)
{
    struct hv_domain_spec spec = spec_of(UUID_A);
    uint32_t domid = 0;
    ck_assert(hv_domain_create(hv, &spec, &domid) == NULL);
    ck_assert(hv_domain_unpause(hv, domid) == NULL);
    int sp[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    xerr *e = hv_domain_save(hv, domid, sp[0]);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
    close(sp[0]);
    close(sp[1]);
    ck_assert(hv_domain_destroy(hv, domid) == NULL);
}
END_TEST

static void assert_refused(const char *uuid, const char *data, size_t len, const char *what)
{
    size_t before = ndomains();
    uint32_t domid = 0;
    xerr *e = restore_from(uuid, data, len, &domid);
    ck_assert_msg(e != NULL, "%s: restored", what);
    _cleanup_free_ char *s = xerr_str(e);
    ck_assert_msg(xerr_is(e, XERR_DOMAIN_STREAM_INVALID), "%s: %s", what, s);
    xerr_free(e);
    ck_assert_msg(ndomains() == before, "%s: a domain was left behind", what);
}

START_TEST(a_bad_stream_is_refused_and_leaves_nothing)
{
    _cleanup_free_ char *boot = NULL;
    uint32_t old = suspended_domain(UUID_A, &boot);
    size_t len = 0;
    _cleanup_free_ char *img = save_to_memory(old, &len);
    ck_assert(hv_domain_destroy(hv, old) == NULL);
    char what[64];
    /* cut anywhere: every length short of the whole */
    for (size_t cut = 0; cut < len; cut += (cut < 64 || len - cut < 64) ? 1 : 97) {
        snprintf(what, sizeof(what), "cut at %zu of %zu", cut, len);
        assert_refused(UUID_A, img, cut, what);
    }
    /* a byte changed anywhere */
    for (size_t at = 0; at < len; at += (at < 64 || len - at < 64) ? 1 : 131) {
        img[at] ^= 0x5a;
        snprintf(what, sizeof(what), "byte %zu changed", at);
        assert_refused(UUID_A, img, len, what);
        img[at] ^= 0x5a;
    }
    /* another VM's, another version's */
    assert_refused(UUID_B, img, len, "another VM's stream");
    img[19] = 2;  /* the version, big-endian after the 16-byte magic */
    assert_refused(UUID_A, img, len, "version 2");
    img[19] = 1;
    /* and whole, it still restores */
    uint32_t domid = 0;
    ck_assert(restore_from(UUID_A, img, len, &domid) == NULL);
    ck_assert(hv_domain_destroy(hv, domid) == NULL);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("simulator");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_restored_domain_continues_where_it_was);
    tcase_add_test(tc, a_failed_save_resumes_in_place);
    tcase_add_test(tc, a_running_domain_is_not_saved);
    tcase_add_test(tc, a_bad_stream_is_refused_and_leaves_nothing);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(stream_suite)
