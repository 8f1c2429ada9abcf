/* Smoke test of the xc backend on a real hypervisor, driven through include/xenbe.h
 * only; libxenstore, xl and xenconsoled's log are used to cross-check what it did.
 * Runs in a Xen dom0 (tests/xen/test-smoke.sh under tests/xen/run.sh).
 *
 *   xc_smoke [KERNEL [RAMDISK]]     defaults: /guest/vmlinuz /guest/initrd.gz
 *
 * The PV guest is make-guest.sh's, with the xenstore clients and guest-xs-probe.sh
 * (run.sh's defaults).  The HVM domains get hvmloader and SeaBIOS (run.sh puts
 * them in dom0).  Their device model is a stand-in script here (the real one,
 * Debian's qemu-system-xen, is set aside while this runs and put back at the end;
 * the daemon's test boots real HVM guests with it): one that says it is ready
 * and emulates nothing, so that the build and the firmware can be checked alone;
 * and, for the "no fake Running" checks, none at all and one that dies at once,
 * both of which must fail the build with DEVICE_MODEL_FAILED and leave nothing
 * behind.  Prints "ok - ..."
 * or "SMOKE-FAIL: ..." per check, "TIMING <step> <s>" per step, and SMOKE-PASS at
 * the end; exits 0 iff every check passed. */
#include "config.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"
#include "xenbe.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xenstore.h>
/* libxenctrl, to cross-check what the backend asked of Xen (the HVM flags and
 * parameters); its headers want GNU C, as in src/xen/xc.c */
#undef __STRICT_ANSI__
#include <xenctrl.h>
#include <xen/hvm/params.h>

static const char *kernel = "/guest/vmlinuz";
static const char *ramdisk = "/guest/initrd.gz";
static const char *base_cmdline = "console=hvc0 rdinit=/init quiet";
static int failures;
static struct xs_handle *xs;
static xc_interface *xch;
/* the backend's default device-model-dir */
static const char *dm_dir = "/run/xenapid/dm";
/* hv.c's device model binary: a stand-in while this runs (see the top) */
static const char *dm_binary = "/usr/libexec/xen-qemu-system-i386";
static const char *dm_real = "/usr/libexec/xen-qemu-system-i386.real";
static const char *dm_args_out = "/tmp/fake-dm.args";

static bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf(ok ? "ok - " : "SMOKE-FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (!ok)
        failures++;
    return ok;
}

static bool check_ok(xerr *e, const char *what)
{
    if (!e)
        return check(true, "%s", what);
    _cleanup_free_ char *s = xerr_str(e);
    xerr_free(e);
    return check(false, "%s: %s", what, s);
}

static void timing(const char *step, double since)
{
    printf("TIMING %-34s %7.3fs\n", step, now_monotonic() - since);
    fflush(stdout);
}

static void run(const char *cmd)
{
    printf("$ %s\n", cmd);
    fflush(stdout);
    if (system(cmd) != 0)
        printf("(exit status non-zero)\n");
    fflush(stdout);
}

/* ---- the @releaseDomain callback ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static unsigned events;

static void on_domains(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    events++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static unsigned events_now(void)
{
    pthread_mutex_lock(&mu);
    unsigned n = events;
    pthread_mutex_unlock(&mu);
    return n;
}

/* Sleep until the next callback or `secs`, whichever comes first. */
static void wait_event(unsigned seen, double secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)((secs - (long)secs) * 1e9);
    ts.tv_sec += (time_t)secs + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&mu);
    while (events == seen)
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&mu);
}

/* ---- xenstore checks ---- */

static char *xs_get(const char *path)
{
    unsigned len;
    return xs_read(xs, XBT_NULL, path, &len);
}

static void expect_value(uint32_t domid, const char *rel, const char *want)
{
    char path[256];
    if (rel[0] == '/')
        snprintf(path, sizeof(path), "%s", rel);
    else
        snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/%s", domid, rel);
    _cleanup_free_ char *v = xs_get(path);
    if (want)
        check(v && strcmp(v, want) == 0, "xenstore %s = \"%s\" (want \"%s\")", path,
              v ? v : "(absent)", want);
    else
        check(v && v[0], "xenstore %s = \"%s\" (present)", path, v ? v : "(absent)");
}

/* What domid may do to a node: xenstored's rule is owner (entry 0) may do
 * anything, entry 0's bits apply to everyone else, later entries to their id. */
static unsigned guest_access(const char *path, uint32_t domid, bool *found)
{
    unsigned n = 0;
    struct xs_permissions *p = xs_get_permissions(xs, XBT_NULL, path, &n);
    *found = p && n > 0;
    if (!*found) {
        free(p);
        return 0;
    }
    unsigned acc = p[0].perms;
    if (p[0].id == domid) {
        acc = XS_PERM_READ | XS_PERM_WRITE;
    } else {
        for (unsigned i = 1; i < n; i++)
            if (p[i].id == domid) {
                acc = p[i].perms;
                break;
            }
    }
    free(p);
    return acc;
}

static void expect_access(uint32_t domid, const char *rel, bool writable)
{
    char path[256];
    if (rel[0] == '/')
        snprintf(path, sizeof(path), "%s", rel);
    else if (rel[0])
        snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/%s", domid, rel);
    else
        snprintf(path, sizeof(path), "/local/domain/%" PRIu32, domid);
    bool found;
    unsigned acc = guest_access(path, domid, &found);
    if (!found) {
        check(false, "permissions of %s: %s", path, strerror(errno));
        return;
    }
    bool r = acc & XS_PERM_READ, w = acc & XS_PERM_WRITE;
    check(r && w == writable, "guest %" PRIu32 " may %s %s", domid,
          writable ? "read and write" : "read but not write", path);
}

static bool xs_gone(const char *path)
{
    _cleanup_free_ char *v = xs_get(path);
    return v == NULL && errno == ENOENT;
}

/* ---- the domain as the backend and xl see it ---- */

static bool info_of(struct hv *hv, uint32_t domid, struct hv_domain_info *out)
{
    return hv_domain_info(hv, domid, out);
}

static const char *state_name(enum hv_dom_state s)
{
    switch (s) {
    case HV_DOM_RUNNING: return "running";
    case HV_DOM_PAUSED: return "paused";
    case HV_DOM_SHUTDOWN: return "shutdown";
    case HV_DOM_DYING: return "dying";
    }
    return "?";
}

/* Whether `xl list` shows `name` with id `domid`. */
static bool xl_lists(const char *name, uint32_t domid)
{
    FILE *f = popen("xl list 2>/dev/null", "r");
    if (!f)
        return false;
    char line[512], n[256];
    unsigned id;
    bool found = false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%255s %u", n, &id) == 2 && strcmp(n, name) == 0 && id == domid)
            found = true;
    pclose(f);
    return found;
}

static bool console_has(const char *name, const char *marker, double secs)
{
    char path[256];
    snprintf(path, sizeof(path), "/var/log/xen/console/guest-%s.log", name);
    double until = now_monotonic() + secs;
    do {
        FILE *f = fopen(path, "r");
        if (f) {
            char line[1024];
            bool found = false;
            while (fgets(line, sizeof(line), f))
                if (strstr(line, marker)) {
                    printf("console %s: %s", name, line);
                    found = true;
                }
            fclose(f);
            if (found)
                return true;
        }
        usleep(100000);
    } while (now_monotonic() < until);
    return false;
}

/* an HVM spec with version 1's hardware (every HVM build needs its machine type) */
static struct hv_domain_spec make_hvm_spec(const char *uuid, const char *name, bool vendor);

static struct hv_domain_spec make_spec(const char *uuid, const char *name, const char *cmdline,
                                       bool vendor)
{
    static const char *const pk[] = {"device_id", "nx"};
    static const char *const pv[] = {"0002", "true"};
    return (struct hv_domain_spec){
        .uuid = uuid,
        .name = name,
        .hvm = false,
        .memory_static_max = 256ull << 20,
        .memory_target = 128ull << 20,
        .vcpus_max = 2,
        .vcpus = 1,
        .kernel = kernel,
        .ramdisk = ramdisk,
        .cmdline = cmdline,
        .has_vendor_device = vendor,
        .nplatform = 2,
        .platform_keys = pk,
        .platform_values = pv,
    };
}

/* Gone from the hypervisor (a dying domain may linger while Xen frees it). */
static bool wait_gone(struct hv *hv, uint32_t domid, double secs)
{
    double until = now_monotonic() + secs;
    struct hv_domain_info di;
    while (info_of(hv, domid, &di)) {
        if (now_monotonic() > until)
            return false;
        usleep(50000);
    }
    return true;
}

static void expect_cleaned(struct hv *hv, uint32_t domid, const char *uuid, const char *name)
{
    char path[128];
    check(wait_gone(hv, domid, 10), "domain %" PRIu32 " is gone from the hypervisor", domid);
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32, domid);
    check(xs_gone(path), "%s is removed from xenstore", path);
    snprintf(path, sizeof(path), "/vm/%s", uuid);
    check(xs_gone(path), "%s is removed from xenstore", path);
    check(!xl_lists(name, domid), "xl list no longer shows %s", name);
}

/* ---- the steps ---- */

static void test_host(struct hv *hv)
{
    double t = now_monotonic();
    struct hv_host_info hi;
    if (!check_ok(hv_host_info(hv, &hi), "hv_host_info"))
        return;
    timing("host_info", t);
    printf("host: backend=%s xen=%s caps=\"%s\" memory total=%" PRIu64 " MiB free=%" PRIu64
           " MiB cpus=%u mhz=%u hvm=%d\n",
           hi.backend, hi.xen_version, hi.xen_caps, hi.total_memory_bytes >> 20,
           hi.free_memory_bytes >> 20, hi.nr_cpus, hi.cpu_mhz, hi.hvm_capable);
    check(strcmp(hi.backend, "xc") == 0, "backend is xc");
    check(str_startswith(hi.xen_version, "4.17"), "Xen version %s starts with 4.17", hi.xen_version);
    check(strstr(hi.xen_caps, "xen-3.0-x86_64") != NULL, "capabilities name x86_64 PV");
    check(hi.total_memory_bytes > 0 && hi.free_memory_bytes > 0 &&
              hi.free_memory_bytes <= hi.total_memory_bytes,
          "memory: total and free are real");
    check(hi.nr_cpus > 0, "%u cpus", hi.nr_cpus);
    check(hv_xenstore_path(hv) == NULL, "xenstore at the system default");
}

static void test_failed_builds(struct hv *hv)
{
    struct hv_domain_info *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    check_ok(hv_domain_list(hv, &before, &nb), "hv_domain_list");

    /* A file that exists but is no Xen kernel: the domain is created, then the
     * image build fails, and the backend must take it down again. */
    char uuid[37];
    uuid_generate_str(uuid);
    struct hv_domain_spec s = make_spec(uuid, "smoke-bad", base_cmdline, false);
    s.kernel = "/bin/busybox";
    uint32_t domid = 0;
    double t = now_monotonic();
    xerr *e = hv_domain_create(hv, &s, &domid);
    timing("failed create (bad kernel)", t);
    if (check(e != NULL, "creating from a non-kernel fails")) {
        _cleanup_free_ char *str = xerr_str(e);
        printf("  error: %s\n", str);
    }
    xerr_free(e);

    /* HVM, failing after the whole build: the device model's directory cannot be
     * made, so hv.c must take down a domain that was built and introduced. */
    struct config *cfg2 = config_new();
    struct hv *hv2 = NULL;
    check_ok(config_set(cfg2, "backend", "xc"), "config backend=xc");
    check_ok(config_set(cfg2, "device-model-dir", "/proc/version/dm"), "config device-model-dir=/proc/version/dm");
    if (check_ok(hv_open(cfg2, &hv2), "hv_open (unusable device-model-dir)")) {
        uuid_generate_str(uuid);
        s = make_hvm_spec(uuid, "smoke-hvm-bad", true);
        t = now_monotonic();
        e = hv_domain_create(hv2, &s, &domid);
        timing("failed create (HVM, no dm dir)", t);
        if (check(e != NULL, "an HVM build whose device model files cannot be written fails")) {
            _cleanup_free_ char *str = xerr_str(e);
            printf("  error: %s\n", str);
            check(strstr(str, "/proc/version/dm") != NULL, "it fails there, after the build");
        }
        xerr_free(e);
        hv_close(hv2);
    }
    config_free(cfg2);

    check_ok(hv_domain_list(hv, &after, &na), "hv_domain_list");
    check(na == nb, "no domain left behind by failed builds (%zu before, %zu after)", nb, na);
    char path[64];
    snprintf(path, sizeof(path), "/vm/%s", uuid);
    check(xs_gone(path), "no %s left behind", path);
    free(before);
    free(after);
}

static void test_lifecycle(struct hv *hv)
{
    char uuid[37];
    uuid_generate_str(uuid);
    const char *name = "smoke1";
    struct hv_domain_spec spec = make_spec(uuid, name, base_cmdline, true);
    uint32_t domid = 0;

    double t = now_monotonic();
    if (!check_ok(hv_domain_create(hv, &spec, &domid), "hv_domain_create (PV, vendor device)"))
        return;
    timing("create PV domain (paused)", t);
    printf("domain %" PRIu32 " for VM %s\n", domid, uuid);
    check(domid > 0, "domid %" PRIu32 " is a guest domain", domid);

    struct hv_domain_info di;
    if (check(info_of(hv, domid, &di), "hv_domain_info finds it")) {
        check(di.state == HV_DOM_PAUSED, "it is paused (%s)", state_name(di.state));
        check(strcmp(di.uuid, uuid) == 0, "its handle is the VM uuid (%s)", di.uuid);
        check(!di.hvm, "it is PV");
        check(di.memory_bytes >= (100ull << 20) && di.memory_bytes <= spec.memory_target,
              "it holds %" PRIu64 " MiB of its %" PRIu64 " MiB target", di.memory_bytes >> 20,
              spec.memory_target >> 20);
        check(di.vcpus >= 1, "%u vcpu(s) online", di.vcpus);
    }
    run("xl list");
    check(xl_lists(name, domid), "xl list shows %s with id %" PRIu32, name, domid);

    /* the tree the toolstack writes */
    char v[64], vm[64];
    snprintf(vm, sizeof(vm), "/vm/%s", uuid);
    expect_value(domid, "control/has-vendor-device", "1");
    expect_value(domid, "name", name);
    snprintf(v, sizeof(v), "%" PRIu32, domid);
    expect_value(domid, "domid", v);
    expect_value(domid, "vm", vm);
    snprintf(v, sizeof(v), "%" PRIu64, spec.memory_target / 1024);
    expect_value(domid, "memory/target", v);
    snprintf(v, sizeof(v), "%" PRIu64, spec.memory_static_max / 1024);
    expect_value(domid, "memory/static-max", v);
    expect_value(domid, "cpu/0/availability", "online");
    expect_value(domid, "cpu/1/availability", "offline");
    expect_value(domid, "store/port", NULL);
    expect_value(domid, "store/ring-ref", NULL);
    expect_value(domid, "console/port", NULL);
    expect_value(domid, "console/ring-ref", NULL);
    expect_value(domid, "platform/device_id", "0002");
    char k[128];
    snprintf(k, sizeof(k), "%s/uuid", vm);
    expect_value(domid, k, uuid);
    snprintf(k, sizeof(k), "%s/name", vm);
    expect_value(domid, k, name);

    /* who may write what */
    static const char *const ro[] = {"", "name", "domid", "vm", "memory/target", "cpu/0/availability",
                                     "control", "control/has-vendor-device", "store/port",
                                     "store/ring-ref", "console/port", "console/ring-ref",
                                     "platform", "platform/device_id", "device"};
    static const char *const rw[] = {"control/shutdown", "control/feature-poweroff", "data", "attr",
                                     "drivers", "feature", "error", "device/suspend/event-channel"};
    for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
        expect_access(domid, ro[i], false);
    for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++)
        expect_access(domid, rw[i], true);
    expect_access(domid, vm, false);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "xenstore-ls -p /local/domain/%" PRIu32 " | head -40", domid);
    run(cmd);

    /* run it: the guest prints its marker and powers off */
    unsigned seen = events_now();
    t = now_monotonic();
    if (!check_ok(hv_domain_unpause(hv, domid), "hv_domain_unpause"))
        return;
    if (info_of(hv, domid, &di))
        check(di.state == HV_DOM_RUNNING, "running after unpause (%s)", state_name(di.state));
    bool down = false, by_event = false;
    while (now_monotonic() - t < 150) {
        unsigned before = events_now();
        wait_event(before, 0.5);
        if (!info_of(hv, domid, &di))
            break;
        if (di.state == HV_DOM_SHUTDOWN) {
            down = true;
            by_event = events_now() != seen;
            break;
        }
    }
    timing("unpause -> guest powered off", t);
    if (check(down, "the guest shut itself down")) {
        /* xenstored may fire the watch a moment after Xen reports the state */
        for (int i = 0; i < 50 && !by_event; i++) {
            wait_event(seen, 0.1);
            by_event = events_now() != seen;
        }
        check(by_event, "the @releaseDomain callback fired (%u events)", events_now() - seen);
        check(di.shutdown_reason == HV_SHUTDOWN_POWEROFF, "shutdown reason is poweroff (%d)",
              di.shutdown_reason);
    }
    if (!check(console_has(name, "GUEST-MARKER", 5), "the guest's console (xenconsoled log) has its marker")) {
        char tail_cmd[160];
        snprintf(tail_cmd, sizeof(tail_cmd), "tail -c 3000 /var/log/xen/console/guest-%s.log; xl dmesg | tail -20", name);
        run(tail_cmd);
    }
    /* the guest's own view of its permissions (tests/xen/guest-xs-probe.sh) */
    check(console_has(name, "GUEST-XS: data write ok", 1), "the guest could write its data/");
    check(console_has(name, "GUEST-XS: name write refused", 1), "the guest could not write its name");
    check(console_has(name, "GUEST-XS: has-vendor-device=1", 1),
          "the guest reads control/has-vendor-device = 1");
    expect_value(domid, "data/smoke-probe", "ok");
    expect_value(domid, "name", name);

    seen = events_now();
    t = now_monotonic();
    check_ok(hv_domain_destroy(hv, domid), "hv_domain_destroy");
    timing("destroy (shut down domain)", t);
    expect_cleaned(hv, domid, uuid, name);
    for (int i = 0; i < 50 && events_now() == seen; i++)
        wait_event(seen, 0.1);
    check(events_now() != seen, "the @releaseDomain callback fired for the destroy");
}

static void test_hard_destroy(struct hv *hv)
{
    char uuid[37], cmdline[128];
    uuid_generate_str(uuid);
    const char *name = "smoke2";
    snprintf(cmdline, sizeof(cmdline), "%s guest.hold", base_cmdline);
    struct hv_domain_spec spec = make_spec(uuid, name, cmdline, false);
    uint32_t domid = 0;

    double t = now_monotonic();
    if (!check_ok(hv_domain_create(hv, &spec, &domid), "hv_domain_create (second domain)"))
        return;
    timing("create second PV domain", t);
    expect_value(domid, "control/has-vendor-device", "0");
    check_ok(hv_domain_unpause(hv, domid), "hv_domain_unpause");

    /* until its kernel has clearly been running for a while */
    t = now_monotonic();
    struct hv_domain_info di = {0};
    bool running = false;
    while (now_monotonic() - t < 60) {
        if (!info_of(hv, domid, &di))
            break;
        if (di.state == HV_DOM_RUNNING && di.cpu_time_ns >= 1000000000ull) {
            running = true;
            break;
        }
        usleep(100000);
    }
    check(running, "second domain is running (%s, %.2fs of CPU)", state_name(di.state),
          di.cpu_time_ns / 1e9);
    run("xl list");

    t = now_monotonic();
    check_ok(hv_domain_destroy(hv, domid), "hv_domain_destroy of a running domain");
    timing("hard destroy (running domain)", t);
    expect_cleaned(hv, domid, uuid, name);
}

/* ---- HVM ---- */

/* The device model binary as a test wants it: "none", a stand-in that "dies" at
 * once, or one that is "ready" (records its argv, says running in xenstore as qemu
 * does, then idles). */
static void set_device_model(const char *mode)
{
    static bool moved;
    if (!moved && access(dm_binary, F_OK) == 0) {
        moved = check(rename(dm_binary, dm_real) == 0, "the real device model set aside (%s)", dm_real);
    }
    unlink(dm_binary);
    if (strcmp(mode, "none") == 0)
        return;
    mkdir("/usr/libexec", 0755);
    FILE *f = fopen(dm_binary, "w");
    if (!check(f != NULL, "writing the stand-in %s (%s)", dm_binary, mode))
        return;
    if (strcmp(mode, "dies") == 0)
        fputs("#!/bin/sh\necho 'stand-in device model: cannot initialise' >&2\nexit 3\n", f);
    else
        fprintf(f,
                "#!/bin/sh\n# stand-in device model (xc_smoke)\nfor a in \"$@\"; do echo \"$a\"; done > %s\n"
                "while [ $# -gt 0 ]; do [ \"$1\" = -xen-domid ] && d=$2; shift; done\n"
                "xenstore-write /local/domain/0/device-model/$d/state running\n"
                "while :; do sleep 1; done\n",
                dm_args_out);
    fclose(f);
    chmod(dm_binary, 0755);
}

static void restore_device_model(void)
{
    unlink(dm_binary);
    if (access(dm_real, F_OK) == 0)
        check(rename(dm_real, dm_binary) == 0, "the real device model put back (%s)", dm_binary);
}

/* No fake Running: an HVM build whose device model is missing, or dies before it
 * is ready, fails with DEVICE_MODEL_FAILED and leaves no domain, xenstore tree or
 * device model file behind. */
static void test_dm_failures(struct hv *hv)
{
    static const char *const modes[] = {"none", "dies"};
    for (size_t i = 0; i < 2; i++) {
        set_device_model(modes[i]);
        struct hv_domain_info *before = NULL, *after = NULL;
        size_t nb = 0, na = 0;
        check_ok(hv_domain_list(hv, &before, &nb), "hv_domain_list");
        char uuid[37];
        uuid_generate_str(uuid);
        struct hv_domain_spec s = make_hvm_spec(uuid, "smoke-hvm-nodm", false);
        uint32_t domid = 0;
        double t = now_monotonic();
        xerr *e = hv_domain_create(hv, &s, &domid);
        char label[96];
        snprintf(label, sizeof(label), "failed create (HVM, device model %s)", modes[i]);
        timing(label, t);
        _cleanup_free_ char *str = e ? xerr_str(e) : NULL;
        if (check(e != NULL, "an HVM start with %s device model fails",
                  i == 0 ? "no" : "a dying")) {
            printf("  error: %s\n", str);
            check(xerr_is(e, XERR_DEVICE_MODEL_FAILED), "with DEVICE_MODEL_FAILED");
            check(strstr(str, i == 0 ? "qemu-system-xen" : "cannot initialise") != NULL,
                  "saying why (%s)", i == 0 ? "the package to install" : "the device model's last words");
        } else {
            check_ok(hv_domain_destroy(hv, domid), "hv_domain_destroy (the domain that should not be)");
        }
        xerr_free(e);
        /* a dying domain may linger a moment while Xen frees it */
        for (int k = 0; k < 100; k++) {
            free(after);
            after = NULL;
            check_ok(hv_domain_list(hv, &after, &na), "hv_domain_list");
            if (na == nb)
                break;
            usleep(100000);
        }
        check(na == nb, "no domain left behind (%zu before, %zu after)", nb, na);
        char path[64];
        snprintf(path, sizeof(path), "/vm/%s", uuid);
        check(xs_gone(path), "no %s left behind", path);
        free(before);
        free(after);
    }
    set_device_model("ready");
}


static uint64_t xs_u64(uint32_t domid, const char *rel)
{
    char path[128];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/%s", domid, rel);
    _cleanup_free_ char *v = xs_get(path);
    return v ? strtoull(v, NULL, 10) : UINT64_MAX;
}

static void expect_param(uint32_t domid, int param, const char *name, uint64_t want)
{
    uint64_t v = 0;
    int rc = xc_hvm_param_get(xch, domid, param, &v);
    check(rc == 0 && v == want, "HVM param %s = %" PRIu64 " (want %" PRIu64 ")", name, v, want);
}

/* Whether `xl list -v` shows name with domid and uuid on one line. */
static bool xl_list_v_shows(const char *name, uint32_t domid, const char *uuid)
{
    FILE *f = popen("xl list -v 2>/dev/null", "r");
    if (!f)
        return false;
    char line[512], n[256];
    unsigned id;
    bool found = false;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "%255s %u", n, &id) == 2 && strcmp(n, name) == 0 && id == domid &&
            strstr(line, uuid))
            found = true;
    pclose(f);
    return found;
}

/* Unpaused without a device model, the guest's firmware still runs (nested SVM
 * under QEMU's TCG): hvmloader finds its xenstore ring where the build put it,
 * reads hvmloader/bios, hands over to SeaBIOS, which finds no PCI device (only the
 * device model emulates the PCI bus, its disks and the vendor device).  What
 * follows varies from run to run and is only reported: SeaBIOS finds nothing to
 * boot, or an access only a device model would serve ends the domain (Xen:
 * "MMIO emulation failed", triple fault).  Both write to Xen's debug console,
 * which `xl dmesg` reads. */
static void run_firmware(struct hv *hv, uint32_t domid)
{
    enum { NWANT = 5, NALL = 6 };
    char want[NALL][128];
    snprintf(want[0], sizeof(want[0]), "(d%" PRIu32 ") HVM Loader", domid);
    snprintf(want[1], sizeof(want[1]), "(d%" PRIu32 ") Xenbus rings @0x%" PRIx64 ", event channel %" PRIu64, domid,
             xs_u64(domid, "store/ring-ref") << 12, xs_u64(domid, "store/port"));
    snprintf(want[2], sizeof(want[2]), "(d%" PRIu32 ") System requested SeaBIOS", domid);
    snprintf(want[3], sizeof(want[3]), "(d%" PRIu32 ") Invoking SeaBIOS", domid);
    snprintf(want[4], sizeof(want[4]), "(d%" PRIu32 ") Found 0 PCI devices", domid);
    snprintf(want[5], sizeof(want[5]), "(d%" PRIu32 ") No bootable device", domid);
    bool seen[NALL] = {false};
    double t = now_monotonic();
    if (!check_ok(hv_domain_unpause(hv, domid), "hv_domain_unpause (HVM, a device model emulating nothing)"))
        return;
    struct hv_domain_info di = {0};
    /* Xen's console ring is small and busy: read it over and over, keep what was
     * seen; until SeaBIOS gives up or the domain stops, or long enough after the
     * last marker that matters */
    for (;;) {
        FILE *f = popen("xl dmesg 2>/dev/null", "r");
        char line[512];
        while (f && fgets(line, sizeof(line), f))
            for (int i = 0; i < NALL; i++)
                if (!seen[i] && strstr(line, want[i])) {
                    seen[i] = true;
                    printf("xl dmesg: %s", line);
                }
        if (f)
            pclose(f);
        bool all = true;
        for (int i = 0; i < NWANT; i++)
            all = all && seen[i];
        bool running = info_of(hv, domid, &di) && di.state == HV_DOM_RUNNING;
        double elapsed = now_monotonic() - t;
        if (seen[5] || !running || elapsed > 90 || (all && elapsed > 30))
            break;
        usleep(500000);
    }
    timing("unpause HVM -> firmware done", t);
    static const char *const what[] = {"hvmloader runs", "hvmloader finds the xenstore ring and port the build set",
                                       "hvmloader reads hvmloader/bios", "hvmloader hands over to SeaBIOS",
                                       "SeaBIOS finds no PCI device (no device model)"};
    for (int i = 0; i < NWANT; i++)
        check(seen[i], "%s: \"%s\"", what[i], want[i]);
    if (seen[5])
        printf("note: SeaBIOS found nothing to boot, the domain keeps retrying\n");
    else if (info_of(hv, domid, &di))
        printf("note: without a device model the domain ended up %s (reason %d) after %.2fs of CPU\n",
               state_name(di.state), di.shutdown_reason, di.cpu_time_ns / 1e9);
}

static struct hv_domain_spec make_hvm_spec(const char *uuid, const char *name, bool vendor)
{
    static const char *const pk[] = {"device_id", "viridian", "acpi", "apic", "pae", "nx"};
    static const char *const pv[] = {"0002", "true", "1", "true", "true", "true"};
    struct hv_domain_spec s = make_spec(uuid, name, NULL, vendor);
    s.hvm = true;
    s.kernel = s.ramdisk = s.cmdline = NULL;
    /* with the vendor device: 128 MiB of 256 populated (populate-on-demand, as
     * for a guest with a balloon driver); without: all 192 MiB */
    s.memory_static_max = (vendor ? 256ull : 192ull) << 20;
    s.memory_target = (vendor ? 128ull : 192ull) << 20;
    s.nplatform = sizeof(pk) / sizeof(pk[0]);
    s.platform_keys = pk;
    s.platform_values = pv;
    /* the hardware of the shipped registry's version 1 (tests/golden/platform/), as
     * the VM module gives it to the backend */
    static const char *const dev_vendor[] = {"-device", "VGA,vgamem_mb=8,addr=0x3", "-device",
                                             "xen-pvdevice,device-id=0xc000,addr=0x4", NULL};
    static const char *const dev_plain[] = {"-device", "VGA,vgamem_mb=8,addr=0x3", NULL};
    s.machine = "xenfv-3.1";
    s.dm_devices = vendor ? dev_vendor : dev_plain;
    s.videoram_mib = 8;
    return s;
}

static void test_hvm(struct hv *hv, bool vendor)
{
    char uuid[37], label[96];
    uuid_generate_str(uuid);
    const char *name = vendor ? "smoke-hvm-vendor" : "smoke-hvm-plain";
    struct hv_domain_spec spec = make_hvm_spec(uuid, name, vendor);
    uint32_t domid = 0;

    double t = now_monotonic();
    snprintf(label, sizeof(label), "hv_domain_create (HVM, has_vendor_device %s)", vendor ? "true" : "false");
    if (!check_ok(hv_domain_create(hv, &spec, &domid), label))
        return;
    snprintf(label, sizeof(label), "create HVM domain (vendor %d)", vendor);
    timing(label, t);
    printf("HVM domain %" PRIu32 " for VM %s\n", domid, uuid);

    /* the backend's view */
    struct hv_domain_info di;
    if (check(info_of(hv, domid, &di), "hv_domain_info finds it")) {
        check(di.hvm, "hv_domain_info says HVM");
        check(di.state == HV_DOM_PAUSED, "it is paused (%s)", state_name(di.state));
        check(strcmp(di.uuid, uuid) == 0, "its handle is the VM uuid (%s)", di.uuid);
        uint64_t lo = spec.memory_target / 2, hi = spec.memory_static_max + (16ull << 20);
        check(di.memory_bytes >= lo && di.memory_bytes <= hi,
              "it holds %" PRIu64 " MiB (target %" PRIu64 ", static max %" PRIu64 " MiB)",
              di.memory_bytes >> 20, spec.memory_target >> 20, spec.memory_static_max >> 20);
        check(di.max_memory_bytes >= spec.memory_target, "its limit is %" PRIu64 " MiB",
              di.max_memory_bytes >> 20);
    }

    /* Xen's view, through libxenctrl */
    xc_physinfo_t pi = {0};
    xc_physinfo(xch, &pi);
    xc_dominfo_t xi;
    if (check(xc_domain_getinfo(xch, domid, 1, &xi) == 1 && xi.domid == domid, "xc_domain_getinfo finds it")) {
        check(xi.hvm, "xc_domain_getinfo: hvm flag set");
        bool host_hap = pi.capabilities & XEN_SYSCTL_PHYSCAP_hap;
        check(xi.hap == host_hap, "xc_domain_getinfo: hap %d (the host offers HAP: %d)", xi.hap, host_hap);
        uint32_t want = XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI;
        check(xi.arch_config.emulation_flags == want, "emulation flags 0x%x (want 0x%x: all but vPCI)",
              xi.arch_config.emulation_flags, want);
        check(xi.max_vcpu_id + 1 == spec.vcpus_max, "%u vcpus at most", xi.max_vcpu_id + 1);
        check(xi.paused, "xc_domain_getinfo: paused");
    }
    /* the rings the guest finds through its HVM parameters are the ones in xenstore */
    expect_param(domid, HVM_PARAM_STORE_PFN, "STORE_PFN", xs_u64(domid, "store/ring-ref"));
    expect_param(domid, HVM_PARAM_STORE_EVTCHN, "STORE_EVTCHN", xs_u64(domid, "store/port"));
    expect_param(domid, HVM_PARAM_CONSOLE_PFN, "CONSOLE_PFN", xs_u64(domid, "console/ring-ref"));
    expect_param(domid, HVM_PARAM_CONSOLE_EVTCHN, "CONSOLE_EVTCHN", xs_u64(domid, "console/port"));
    expect_param(domid, HVM_PARAM_TIMER_MODE, "TIMER_MODE", HVMPTM_no_delay_for_missed_ticks);
    expect_param(domid, HVM_PARAM_HPET_ENABLED, "HPET_ENABLED", 1);
    /* (each value read before the check that prints it) */
    uint64_t v = 0;
    int rc = xc_hvm_param_get(xch, domid, HVM_PARAM_VIRIDIAN, &v);
    check(rc == 0 && (v & HVMPV_base_freq), "HVM param VIRIDIAN = 0x%" PRIx64 " (platform:viridian=true)", v);
    v = 0;
    rc = xc_hvm_param_get(xch, domid, HVM_PARAM_IOREQ_SERVER_PFN, &v);
    check(rc == 0 && v != 0, "HVM param IOREQ_SERVER_PFN = 0x%" PRIx64 " (pages for a device model)", v);
    uint64_t pool = 0;
    rc = xc_get_paging_mempool_size(xch, domid, &pool);
    check(rc == 0 && pool > 0, "paging pool %" PRIu64 " KiB", pool >> 10);

    /* xl's view */
    run("xl list -v");
    check(xl_list_v_shows(name, domid, uuid), "xl list -v shows %s with id %" PRIu32 " and its uuid", name, domid);

    /* the tree the toolstack writes */
    char vm[64], k[128];
    snprintf(vm, sizeof(vm), "/vm/%s", uuid);
    expect_value(domid, "control/has-vendor-device", vendor ? "1" : "0");
    expect_value(domid, "name", name);
    expect_value(domid, "vm", vm);
    expect_value(domid, "memory/videoram", "8192");
    expect_value(domid, "hvmloader/bios", "seabios");
    expect_value(domid, "platform/device_id", "0002");
    expect_value(domid, "platform/viridian", "true");
    expect_value(domid, "platform/acpi", "1");
    expect_value(domid, "cpu/0/availability", "online");
    expect_value(domid, "cpu/1/availability", "offline");
    snprintf(k, sizeof(k), "%s/image/ostype", vm);
    expect_value(domid, k, "hvm");
    expect_access(domid, "control/has-vendor-device", false);
    expect_access(domid, "platform/viridian", false);
    expect_access(domid, "hvmloader/bios", false);
    expect_access(domid, "data", true);

    /* the device model: its command line kept, the stand-in started with it */
    char path[256];
    snprintf(path, sizeof(path), "%s/%" PRIu32 ".argv", dm_dir, domid);
    char **argv = hv_domain_dm_argv(hv, domid);
    if (check(argv != NULL, "hv_domain_dm_argv returns the device model's argv")) {
        bool pvdevice = false, domid_ok = false;
        size_t n = 0;
        char want[16];
        snprintf(want, sizeof(want), "%" PRIu32, domid);
        for (; argv[n]; n++) {
            if (strcmp(argv[n], "xen-pvdevice,device-id=0xc000,addr=0x4") == 0 && n > 0 &&
                strcmp(argv[n - 1], "-device") == 0)
                pvdevice = true;
            if (strcmp(argv[n], "-xen-domid") == 0 && argv[n + 1] && strcmp(argv[n + 1], want) == 0)
                domid_ok = true;
        }
        check(strcmp(argv[0], dm_binary) == 0, "argv[0] is %s", argv[0]);
        check(domid_ok, "argv has -xen-domid %" PRIu32, domid);
        check(pvdevice == vendor, "argv %s -device xen-pvdevice,device-id=0xc000,addr=0x4",
              vendor ? "has" : "does not have");
        /* the file an operator reads: one argument a line, the same list */
        _cleanup_free_ char *text = read_file(path, NULL);
        buf b;
        buf_init(&b);
        for (size_t i = 0; i < n; i++) {
            buf_adds(&b, argv[i]);
            buf_addc(&b, '\n');
        }
        check(text && strcmp(text, b.p) == 0, "%s holds the %zu arguments, one a line", path, n);
        if (text)
            printf("--- %s\n%s---\n", path, text);
        buf_free(&b);
    }
    hv_strv_free(argv);
    snprintf(path, sizeof(path), "%s/%" PRIu32 ".pid", dm_dir, domid);
    check(access(path, F_OK) == 0, "the (stand-in) device model was started (%s)", path);
    snprintf(k, sizeof(k), "xenstore-ls -p /local/domain/%" PRIu32 " | head -60", domid);
    run(k);

    if (!vendor)
        run_firmware(hv, domid);

    /* destroy: the domain, its xenstore trees and its device model file go */
    t = now_monotonic();
    check_ok(hv_domain_destroy(hv, domid), "hv_domain_destroy (HVM)");
    snprintf(label, sizeof(label), "destroy HVM domain (vendor %d)", vendor);
    timing(label, t);
    expect_cleaned(hv, domid, uuid, name);
    snprintf(path, sizeof(path), "%s/%" PRIu32 ".argv", dm_dir, domid);
    check(access(path, F_OK) != 0 && errno == ENOENT, "%s is removed", path);
    argv = hv_domain_dm_argv(hv, domid);
    check(argv == NULL, "hv_domain_dm_argv returns NULL once the domain is destroyed");
    hv_strv_free(argv);
}

/* With a device model binary in place (a stand-in script: qemu-system-xen is not
 * among the packages), the backend starts it with the argv and stops it with the
 * domain. */
static void test_hvm_dm_started(struct hv *hv)
{
    const char *out = dm_args_out;
    set_device_model("ready");
    unlink(out);

    char uuid[37];
    uuid_generate_str(uuid);
    struct hv_domain_spec spec = make_hvm_spec(uuid, "smoke-hvm-dm", true);
    uint32_t domid = 0;
    double t = now_monotonic();
    if (check_ok(hv_domain_create(hv, &spec, &domid), "hv_domain_create (HVM, stand-in device model)")) {
        timing("create HVM domain + start dm", t);
        char path[256];
        snprintf(path, sizeof(path), "%s/%" PRIu32 ".pid", dm_dir, domid);
        _cleanup_free_ char *pidtext = read_file(path, NULL);
        long pid = pidtext ? strtol(pidtext, NULL, 10) : 0;
        check(pid > 1 && kill((pid_t)pid, 0) == 0, "the device model runs (pid %ld, from %s)", pid, path);
        _cleanup_free_ char *args = NULL;
        for (int i = 0; i < 50 && !args; i++) {
            args = read_file(out, NULL);
            if (!args || !strstr(args, "0xc000,addr=0x4\n")) {
                free(args);
                args = NULL;
                usleep(100000);
            }
        }
        check(args && strstr(args, "-xen-domid\n") && strstr(args, "xen-pvdevice,device-id=0xc000,addr=0x4\n"),
              "it was given the argv (-xen-domid ..., xen-pvdevice)");
        t = now_monotonic();
        check_ok(hv_domain_destroy(hv, domid), "hv_domain_destroy (HVM with device model)");
        timing("destroy HVM domain + stop dm", t);
        bool gone = false;
        for (int i = 0; i < 50 && !gone; i++) {
            gone = pid > 1 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
            if (!gone)
                usleep(100000);
        }
        check(gone, "the device model (pid %ld) is stopped with the domain", pid);
        check(access(path, F_OK) != 0, "%s is removed", path);
        expect_cleaned(hv, domid, uuid, "smoke-hvm-dm");
    }
    unlink(out);
}

/* ---- queries beside builds ---- */

/* One of two threads that build and destroy domains (0: PV, whose build loads the
 * test guest's kernel, tens of MiB, for a second or so under TCG; 1: HVM), while
 * the main thread queries the host and the domain list. */
struct builder {
    struct hv *hv;
    int index;
    int built, destroyed;
    double build_min, build_max, destroy_max;
    char error[512];             /* the first failure */
};

static pthread_mutex_t conc_mu = PTHREAD_MUTEX_INITIALIZER;
static int builders_running;

static void builder_failed(struct builder *b, const char *what, xerr *e)
{
    _cleanup_free_ char *s = xerr_str(e);
    xerr_free(e);
    if (!b->error[0])
        snprintf(b->error, sizeof(b->error), "%s: %s", what, s);
}

static void *builder(void *arg)
{
    struct builder *b = arg;
    for (int i = 0; i < 2; i++) {
        char uuid[37], name[32];
        uuid_generate_str(uuid);
        snprintf(name, sizeof(name), "smoke-conc-%d-%d", b->index, i);
        struct hv_domain_spec spec =
            b->index == 0 ? make_spec(uuid, name, base_cmdline, false) : make_hvm_spec(uuid, name, false);
        uint32_t domid = 0;
        double t = now_monotonic();
        xerr *e = hv_domain_create(b->hv, &spec, &domid);
        double dt = now_monotonic() - t;
        if (e) {
            builder_failed(b, b->index == 0 ? "hv_domain_create (PV)" : "hv_domain_create (HVM)", e);
            continue;
        }
        b->built++;
        if (b->built == 1 || dt < b->build_min)
            b->build_min = dt;
        if (dt > b->build_max)
            b->build_max = dt;
        t = now_monotonic();
        e = hv_domain_destroy(b->hv, domid);
        dt = now_monotonic() - t;
        if (e) {
            builder_failed(b, "hv_domain_destroy", e);
            continue;
        }
        b->destroyed++;
        if (dt > b->destroy_max)
            b->destroy_max = dt;
    }
    pthread_mutex_lock(&conc_mu);
    builders_running--;
    pthread_mutex_unlock(&conc_mu);
    return NULL;
}

static int builders_now(void)
{
    pthread_mutex_lock(&conc_mu);
    int n = builders_running;
    pthread_mutex_unlock(&conc_mu);
    return n;
}

/* Builds and destroys on two threads at once, queries on a third: every one
 * succeeds and nothing is left behind.  The query latencies are reported (the
 * proof that a query does not wait for a build is test_query_beside_held_build:
 * timings under TCG on a loaded machine vary too much to prove it). */
static void test_queries_during_builds(struct hv *hv)
{
    struct hv_domain_info *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;
    check_ok(hv_domain_list(hv, &before, &nb), "hv_domain_list");
    struct builder b[2] = {{.hv = hv, .index = 0}, {.hv = hv, .index = 1}};
    pthread_t th[2];
    builders_running = 2;
    double t0 = now_monotonic();
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, builder, &b[i]);
    unsigned nq = 0, qfailed = 0;
    double qmax = 0, qsum = 0;
    while (builders_now() > 0) {
        double t = now_monotonic();
        struct hv_host_info hi;
        struct hv_domain_info *all = NULL;
        size_t n = 0;
        xerr *e1 = hv_host_info(hv, &hi);
        xerr *e2 = hv_domain_list(hv, &all, &n);
        double dt = now_monotonic() - t;
        qfailed += (e1 != NULL) + (e2 != NULL);
        xerr_free(e1);
        xerr_free(e2);
        free(all);
        nq++;
        qsum += dt;
        if (dt > qmax)
            qmax = dt;
        usleep(5000);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    timing("2 PV + 2 HVM builds, 2 threads", t0);
    double build_min = 0, build_max = 0, destroy_max = 0;
    for (int i = 0; i < 2; i++) {
        check(b[i].built == 2 && b[i].destroyed == 2, "builder %d built and destroyed 2 %s domains%s%s", i,
              i == 0 ? "PV" : "HVM", b[i].error[0] ? ": " : "", b[i].error);
        if (b[i].built && (build_min == 0 || b[i].build_min < build_min))
            build_min = b[i].build_min;
        if (b[i].build_max > build_max)
            build_max = b[i].build_max;
        if (b[i].destroy_max > destroy_max)
            destroy_max = b[i].destroy_max;
    }
    printf("TIMING %-34s %7.3fs\n", "concurrent create, shortest", build_min);
    printf("TIMING %-34s %7.3fs\n", "concurrent create, longest", build_max);
    printf("TIMING %-34s %7.3fs\n", "concurrent destroy, longest", destroy_max);
    printf("TIMING %-34s %7.3fs\n", "query beside builds, longest", qmax);
    printf("TIMING %-34s %7.3fs\n", "query beside builds, mean", nq ? qsum / nq : 0);
    check(qfailed == 0, "every query beside the builds answered (%u failed)", qfailed);
    check(nq >= 10, "%u queries (host info + domain list) ran during the builds", nq);
    /* a destroyed domain may linger, dying, while Xen frees it */
    for (double until = now_monotonic() + 10;;) {
        free(after);
        after = NULL;
        if (!check_ok(hv_domain_list(hv, &after, &na), "hv_domain_list") || na == nb || now_monotonic() > until)
            break;
        usleep(100000);
    }
    check(na == nb, "no domain left behind by the concurrent builds (%zu before, %zu after)", nb, na);
    free(before);
    free(after);
}

/* ---- a query beside a build held inside the backend ---- */

/* Whether Xen has a domain whose handle is uuid, asked of libxenctrl directly (the
 * backend's own list is what is under test). */
static bool xen_has_uuid(const char *uuid, uint32_t *domid)
{
    xc_domaininfo_t info[256];
    int n = xc_domain_getinfolist(xch, 0, 256, info);
    for (int i = 0; i < n; i++) {
        const uint8_t *h = info[i].handle;
        char u[37];
        snprintf(u, sizeof(u), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
                 h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
        if (strcmp(u, uuid) == 0) {
            *domid = info[i].domain;
            return true;
        }
    }
    return false;
}

struct held_build {
    struct hv *hv;
    struct hv_domain_spec spec;
    char uuid[37];
    xerr *e;
    bool done;
};

static void *held_build(void *arg)
{
    struct held_build *b = arg;
    uint32_t domid = 0;
    xerr *e = hv_domain_create(b->hv, &b->spec, &domid);
    pthread_mutex_lock(&conc_mu);
    b->e = e;
    b->done = true;
    pthread_mutex_unlock(&conc_mu);
    return NULL;
}

struct query {
    struct hv *hv;
    const char *uuid;            /* the domain the list should show */
    bool done, answered, listed, paused;
    double took;
};

static void *query(void *arg)
{
    struct query *q = arg;
    double t = now_monotonic();
    struct hv_host_info hi;
    struct hv_domain_info *all = NULL;
    size_t n = 0;
    xerr *e1 = hv_host_info(q->hv, &hi);
    xerr *e2 = hv_domain_list(q->hv, &all, &n);
    bool listed = false, paused = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].uuid, q->uuid) == 0) {
            listed = true;
            paused = all[i].state == HV_DOM_PAUSED;
        }
    }
    pthread_mutex_lock(&conc_mu);
    q->took = now_monotonic() - t;
    q->answered = !e1 && !e2;
    q->listed = listed;
    q->paused = paused;
    q->done = true;
    pthread_mutex_unlock(&conc_mu);
    xerr_free(e1);
    xerr_free(e2);
    free(all);
    return NULL;
}

static bool flag_now(const bool *flag)
{
    pthread_mutex_lock(&conc_mu);
    bool v = *flag;
    pthread_mutex_unlock(&conc_mu);
    return v;
}

/* A PV build whose kernel is a FIFO: libxenguest's open of it, after the domain
 * is created, blocks until a writer comes, so the build stays inside the backend
 * for as long as the test wants.  A host query and the domain list must answer
 * meanwhile (with one lock over the backend they waited for the writer); the list
 * shows the domain being built, paused.  Released, the build fails (a FIFO is no
 * kernel) and takes its domain down. */
static void test_query_beside_held_build(struct hv *hv)
{
    const char *fifo = "/tmp/smoke-held-kernel";
    unlink(fifo);
    if (!check(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo))
        return;
    struct held_build b = {.hv = hv};
    uuid_generate_str(b.uuid);
    b.spec = make_spec(b.uuid, "smoke-held", base_cmdline, false);
    b.spec.kernel = fifo;
    b.spec.ramdisk = NULL;
    pthread_t bt, qt;
    pthread_create(&bt, NULL, held_build, &b);
    uint32_t domid = 0;
    bool seen = false;
    for (double until = now_monotonic() + 20; !seen && !flag_now(&b.done) && now_monotonic() < until;)
        if (!(seen = xen_has_uuid(b.uuid, &domid)))
            usleep(20000);
    check(seen, "the held build created domain %" PRIu32 " and waits for its kernel", domid);

    struct query q = {.hv = hv, .uuid = b.uuid};
    pthread_create(&qt, NULL, query, &q);
    for (double until = now_monotonic() + 10; !flag_now(&q.done) && now_monotonic() < until;)
        usleep(10000);
    bool answered = flag_now(&q.done);
    if (check(answered, "hv_host_info and hv_domain_list answer while a build is held in the backend%s",
              answered ? "" : ": no answer within 10 s")) {
        printf("TIMING %-34s %7.3fs\n", "query beside a held build", q.took);
        check(q.answered, "both without an error");
        check(q.listed && q.paused, "the list shows the domain being built, paused");
        check(!flag_now(&b.done), "the build was still held when the query answered");
    }

    /* release: a writer lets the builder's open return */
    int fd = -1;
    for (double until = now_monotonic() + 20; fd < 0 && !flag_now(&b.done) && now_monotonic() < until;)
        if ((fd = open(fifo, O_WRONLY | O_NONBLOCK)) < 0)
            usleep(20000);  /* ENXIO: the builder has not opened it yet */
    if (fd >= 0)
        close(fd);
    pthread_join(bt, NULL);
    pthread_join(qt, NULL);  /* with one lock over the backend, it answers only now */
    if (!answered)
        printf("  the query answered only after the build was released, %.3fs after it was made\n", q.took);
    if (check(b.e != NULL, "the released build fails (a FIFO is no kernel)")) {
        _cleanup_free_ char *str = xerr_str(b.e);
        printf("  error: %s\n", str);
    }
    xerr_free(b.e);
    bool gone = false;
    for (double until = now_monotonic() + 10; !(gone = !xen_has_uuid(b.uuid, &domid)) && now_monotonic() < until;)
        usleep(50000);
    check(gone, "the held build's domain is taken down");
    unlink(fifo);
}

/* hv_close with a deadline, so that a hang is reported instead of eating the
 * harness's whole timeout. */
static void *closer(void *arg)
{
    hv_close(arg);
    pthread_mutex_lock(&mu);
    events = ~0u;  /* "closed": wakes wait_event below */
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void close_backend(struct hv *hv)
{
    double t = now_monotonic();
    pthread_t th;
    pthread_create(&th, NULL, closer, hv);
    while (events_now() != ~0u && now_monotonic() - t < 5)
        wait_event(events_now(), 0.2);
    if (events_now() == ~0u) {
        pthread_join(th, NULL);
        check(true, "hv_close");
        timing("hv_close", t);
        return;
    }
    check(false, "hv_close returns within 5 s");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        kernel = argv[1];
    if (argc > 2)
        ramdisk = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_setup("stderr", getenv("SMOKE_LOG") ? getenv("SMOKE_LOG") : "info");

    double t0 = now_monotonic();
    struct config *cfg = config_new();
    xerr *e = config_set(cfg, "backend", "xc");
    if (!check_ok(e, "config backend=xc"))
        return 1;
    struct hv *hv = NULL;
    double t = now_monotonic();
    if (!check_ok(hv_open(cfg, &hv), "hv_open"))
        return 1;
    timing("hv_open", t);
    check(strcmp(hv_backend_name(hv), "xc") == 0, "backend name is xc");
    xs = xs_open(0);
    if (!check(xs != NULL, "xs_open"))
        return 1;
    check_ok(hv_watch_domains(hv, on_domains, NULL), "hv_watch_domains");
    xch = xc_interface_open(NULL, NULL, 0);
    if (!check(xch != NULL, "xc_interface_open"))
        return 1;

    test_host(hv);
    test_failed_builds(hv);
    test_lifecycle(hv);
    test_hard_destroy(hv);
    test_dm_failures(hv);  /* leaves the "ready" stand-in in place */
    test_hvm(hv, true);
    test_hvm(hv, false);
    test_hvm_dm_started(hv);
    test_queries_during_builds(hv);
    test_query_beside_held_build(hv);
    restore_device_model();

    close_backend(hv);
    xc_interface_close(xch);
    xs_close(xs);
    config_free(cfg);
    timing("whole smoke test", t0);
    if (failures) {
        printf("SMOKE-FAIL: %d check(s) failed\n", failures);
        return 1;
    }
    printf("SMOKE-PASS\n");
    return 0;
}
