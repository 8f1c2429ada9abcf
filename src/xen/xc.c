/* The real hypervisor: libxenctrl for domains, libxenguest to build them.
 *
 * The builds follow the order libxl 4.17 uses (create, limits, event channels,
 * the arch settings, CPUID policy, then the xc_dom_* image build): a PV guest gets
 * its kernel, an HVM guest gets hvmloader with SeaBIOS as its firmware, as libxl
 * gives a qemu-xen guest.  libxl itself is not used: xapi's model keeps device and
 * xenstore policy in the toolstack, so everything xenstore-related is done by hv.c.
 *
 * An HVM guest also needs a device model (qemu built for Xen); its argument list,
 * computed by hv.c, is kept in device-model-dir/<domid>.argv, and the device model
 * is started only where its binary is installed. */
#include "backend.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Xen's public headers use GNU C (anonymous unions, aligned attributes) and
 * refuse strict ISO mode; the project builds with -std=c11.  Everything from
 * glibc is already in by now, so only the Xen headers see the difference. */
#undef __STRICT_ANSI__
/* xc_map_foreign_range, to patch the HVM info table as libxl does, without a
 * libxenforeignmemory handle of our own for one page. */
#define XC_WANT_COMPAT_MAP_FOREIGN_API
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xentoollog.h>
#include <xen/hvm/e820.h>
#include <xen/hvm/hvm_info_table.h>
#include <xen/hvm/params.h>

/* Page-table and p2m overhead Xen may charge to a PV domain beyond its RAM
 * (libxl's LIBXL_MAXMEM_CONSTANT). */
#define MAXMEM_SLACK_KIB 1024
/* Domain limits, libxl's defaults for a guest that does not ask for more. */
#define MAX_EVTCHN_PORT 1023
#define MAX_GRANT_FRAMES 64
#define MAX_MAPTRACK_FRAMES 1024
/* Xen's tsc_mode "default" (asm/time.h, not in the public headers): native TSC
 * unless the domain migrates to a host of another frequency. */
#define TSC_MODE_DEFAULT 0
#define TSC_MODE_NATIVE 2   /* always the host's TSC, never emulated */

/* HVM.  Video RAM the device model adds to the guest (hv.c gives the emulated VGA
 * 8 MiB and writes memory/videoram = 8192): Xen must let the domain grow by it. */
#define HVM_VIDEORAM_KIB 8192
/* The legacy VGA window 0xA0000-0xBFFFF, left unpopulated for the device model
 * (libxl's LIBXL_VGA_HOLE_SIZE). */
#define HVM_VGA_HOLE_PAGES 0x20
/* RAM starts at 1 MiB in the memory map given to Xen; hvmloader describes what is
 * below it itself. */
#define HVM_LOWMEM_START 0x100000ull
/* Where hvmloader and SeaBIOS are looked for: Debian's layout (the
 * tools this is built against are 4.17), then upstream's default prefixes. */
static const char *const hvmloader_paths[] = {
    "/usr/lib/xen-4.17/boot/hvmloader",
    "/usr/lib/xen/boot/hvmloader",
    "/usr/libexec/xen/boot/hvmloader",
    NULL,
};
static const char *const seabios_paths[] = {
    "/usr/share/seabios/bios-256k.bin",  /* what Debian's libxl loads */
    "/usr/lib/xen/boot/seabios.bin",
    "/usr/libexec/xen/boot/seabios.bin",
    NULL,
};

struct xc_logger {
    xentoollog_logger vtable;    /* first: libxentoollog calls through it */
};

/* Idle libxenctrl handles kept for reuse; more are opened while more threads call
 * at once, and closed again beyond this many. */
#define XCH_IDLE_MAX 8

/* Threads and locks.  A libxenctrl handle keeps per-call state (the last error, read
 * right after the call that failed; the domain builder's work, for seconds), so no two
 * threads use one handle at once.  Instead of one handle behind one lock (where a host
 * query waited for a whole build or a destroy's retries), every operation borrows a
 * handle of its own (xch_get/xch_put) for its duration, and libxenctrl calls take no
 * lock of ours at all.  The two locks below are leaves, held for a few loads and
 * stores: no libxenctrl call, sleep, waitpid, file or xenstore access happens under
 * either, and neither is taken while the other is held. */
struct xc_state {
    struct xc_logger logger;     /* shared by every handle: it keeps no state */
    pthread_mutex_t pool_lock;   /* guards idle, nidle, nout */
    xc_interface *idle[XCH_IDLE_MAX];
    size_t nidle;
    size_t nout;                 /* handles lent out: none at close */
    pthread_mutex_t mem_lock;    /* guards reserved_kib, mem_gen */
    /* Memory promised to builds that have passed their free-memory check but not
     * yet allocated it: the check of a build running alongside counts it as used,
     * so two starts cannot both take the last of the host's memory. */
    uint64_t reserved_kib;
    uint64_t mem_gen;            /* bumped at each release of a promise */
    char *xenstore_path;
    int grant_version;           /* highest grant table version Xen offers */
    bool hvm_capable;
    bool hap;                    /* hardware-assisted paging for HVM guests */
    bool shadow;                 /* shadow paging, the fallback without HAP */
    char *dm_dir;                /* device-model-dir */
    double dm_timeout;           /* device-model-timeout */
    /* Workarounds for Xen nested in an emulator (tests/xen), both host settings:
     * HVM guests on the host's TSC (hvm-tsc-mode = native) and without XSAVE in
     * their CPUID (hvm-hide-xsave). */
    bool hvm_tsc_native;
    bool hvm_hide_xsave;
};

/* ---- libxenctrl's messages into our log ---- */

static void xcl_vmessage(xentoollog_logger *lg, xentoollog_level level, int errnoval,
                         const char *context, const char *format, va_list al)
{
    (void)lg;
    /* The domain builder is chatty below WARN; our info level is for operators. */
    enum log_level lv = level >= XTL_ERROR ? LL_ERROR : level >= XTL_WARN ? LL_WARN : LL_DEBUG;
    if (!log_enabled(lv))
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), format, al);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    if (errnoval >= 0)
        log_msg(lv, "%s: %s: %s", context ? context : "xc", msg, strerror(errnoval));
    else
        log_msg(lv, "%s: %s", context ? context : "xc", msg);
}

static void xcl_progress(xentoollog_logger *lg, const char *context, const char *doing_what,
                         int percent, unsigned long done, unsigned long total)
{
    (void)lg, (void)context, (void)doing_what, (void)percent, (void)done, (void)total;
}

static void xcl_destroy(xentoollog_logger *lg)
{
    (void)lg;  /* embedded in struct xc_state */
}

/* ---- helpers ---- */

/* libxenguest reports through the handle's last error and leaves errno stale;
 * plain hypercalls set errno only.  Callers clear the last error before the
 * calls whose failure they report, so a message there belongs to this failure. */
static xerr *xc_fail(xc_interface *xch, const char *what, uint32_t domid)
{
    int err = errno;
    const xc_error *le = xc_get_last_error(xch);
    if (le && le->code != XC_ERROR_NONE && le->message[0]) {
        char msg[XC_MAX_ERROR_MSG_LEN];
        snprintf(msg, sizeof(msg), "%s", le->message);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
            msg[--n] = '\0';
        return xerr_internal("%s (domain %" PRIu32 "): %s", what, domid, msg);
    }
    return xerr_internal("%s (domain %" PRIu32 "): %s", what, domid, strerror(err));
}

static void uuid_to_handle(const char *uuid, xen_domain_handle_t h)
{
    memset(h, 0, sizeof(xen_domain_handle_t));
    if (!uuid)
        return;
    size_t n = 0;
    for (const char *p = uuid; *p && n < 32; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            continue;  /* the dashes */
        h[n / 2] |= (uint8_t)(n % 2 ? v : v << 4);
        n++;
    }
}

static void handle_to_uuid(const xen_domain_handle_t h, char out[37])
{
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12],
             h[13], h[14], h[15]);
}

/* ---- libxenctrl handles: one per operation in flight ---- */

static xc_interface *xch_open(struct xc_state *st)
{
    /* the same logger for the domain builder, so its messages do not go to a file
     * under /var/log/xen that nobody reads */
    return xc_interface_open(&st->logger.vtable, &st->logger.vtable, 0);
}

/* A handle for the caller alone until xch_put; NULL (with *e set) if none can be
 * opened.  The open, when no handle is idle, is done outside the lock. */
static xc_interface *xch_get(struct xc_state *st, xerr **e)
{
    pthread_mutex_lock(&st->pool_lock);
    xc_interface *xch = st->nidle ? st->idle[--st->nidle] : NULL;
    st->nout++;
    pthread_mutex_unlock(&st->pool_lock);
    if (!xch)
        xch = xch_open(st);
    if (!xch) {
        int err = errno;
        pthread_mutex_lock(&st->pool_lock);
        st->nout--;
        pthread_mutex_unlock(&st->pool_lock);
        *e = xerr_internal("cannot open the hypervisor interface: %s", strerror(err));
        return NULL;
    }
    xc_clear_last_error(xch);  /* what the previous borrower left is not ours */
    return xch;
}

static void xch_put(struct xc_state *st, xc_interface *xch)
{
    pthread_mutex_lock(&st->pool_lock);
    assert(st->nout > 0);
    st->nout--;
    bool kept = st->nidle < XCH_IDLE_MAX;
    if (kept)
        st->idle[st->nidle++] = xch;
    pthread_mutex_unlock(&st->pool_lock);
    if (!kept)
        xc_interface_close(xch);
}

/* ---- the device model's files: device-model-dir/<domid>.{argv,pid,log} ---- */

static char *dm_path(const struct xc_state *st, uint32_t domid, const char *ext)
{
    return hv_dm_file(st->dm_dir, domid, ext);
}

/* The pid in <domid>.pid, if that process is still this domain's device model
 * (its command line has -xen-domid <domid>): after a restart of the daemon the
 * pid may have been reused by something else, which must not be killed. */
static pid_t dm_running_pid(const struct xc_state *st, uint32_t domid)
{
    _cleanup_free_ char *path = dm_path(st, domid, "pid");
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid <= 1)
        return 0;
    char proc[64], want[32];
    snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", pid);
    int n = snprintf(want, sizeof(want), "-xen-domid%c%" PRIu32, '\0', domid);
    f = fopen(proc, "re");
    if (!f)
        return 0;
    /* the head of the command line is enough: hv.c puts -xen-domid <domid> first */
    char cmd[8192];
    size_t len = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[len] = '\0';
    /* whole arguments: "-xen-domid\0<domid>\0", the last one ending the buffer */
    for (size_t i = 0; i + (size_t)n <= len; i++)
        if ((i == 0 || cmd[i - 1] == '\0') && memcmp(cmd + i, want, (size_t)n + 1) == 0)
            return (pid_t)pid;
    return 0;
}

static void dm_stop(const struct xc_state *st, uint32_t domid)
{
    pid_t pid = dm_running_pid(st, domid);
    if (pid <= 0)
        return;
    /* The domain is going: nothing the device model would still do matters. */
    if (kill(pid, SIGKILL) == 0)
        log_info("stopped the device model of domain %" PRIu32 " (pid %ld)", domid, (long)pid);
    /* reaped if it is our child (ECHILD at once if a previous daemon started it) */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* The domain's files go with it; the device model's log stays for the operator
 * until a new domain takes the domid. */
static void dm_remove(const struct xc_state *st, uint32_t domid)
{
    dm_stop(st, domid);
    hv_dm_files_remove(st->dm_dir, domid);
    /* what the device model wrote of itself (state, ...) goes with it */
    struct xs_handle *xs = hv_xs_open(st->xenstore_path);
    if (xs) {
        char path[96];
        snprintf(path, sizeof(path), "/local/domain/0/device-model/%" PRIu32, domid);
        xs_rm(xs, XBT_NULL, path);
        xs_close(xs);
    }
}

static bool domain_exists(xc_interface *xch, uint32_t domid)
{
    xc_domaininfo_t info;
    int n = xc_domain_getinfolist(xch, domid, 1, &info);
    return n < 0 || (n == 1 && info.domain == domid);  /* when unsure, keep its files */
}

/* At start-up: the files of domains that went while the daemon was down. */
static void dm_sweep(struct xc_state *st, xc_interface *xch)
{
    DIR *d = opendir(st->dm_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end = NULL;
        unsigned long domid = strtoul(de->d_name, &end, 10);
        if (end == de->d_name || strcmp(end, ".argv") != 0 || domid == 0 || domid >= DOMID_FIRST_RESERVED)
            continue;
        if (!domain_exists(xch, (uint32_t)domid)) {
            dm_remove(st, (uint32_t)domid);
            log_info("removed the device model files of vanished domain %lu", domid);
        }
    }
    closedir(d);
}

extern char **environ;

/* Starts argv[0] in a process group of its own (a signal to the daemon's group,
 * a ^C in a terminal, must not take the guests' device models with it), output
 * to <domid>.log. */
static xerr *dm_spawn(const struct xc_state *st, uint32_t domid, char *const *argv, pid_t *pid)
{
    _cleanup_free_ char *log = dm_path(st, domid, "log");
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return xerr_internal("starting the device model of domain %" PRIu32 " (%s): %s", domid, argv[0],
                             strerror(rc));
    _cleanup_free_ char *pidpath = dm_path(st, domid, "pid");
    FILE *f = fopen(pidpath, "we");
    bool ok = f && fprintf(f, "%ld\n", (long)*pid) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok) {
        /* a device model nobody could find again to stop it would outlive its domain */
        int err = errno;
        kill(*pid, SIGKILL);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return xerr_internal("writing %s: %s", pidpath, strerror(err));
    }
    return NULL;
}

/* ---- open, close, host ---- */

static xerr *xc_open(const struct config *cfg, void **state)
{
    const char *tsc = config_get(cfg, "hvm-tsc-mode");
    bool tsc_native = strcmp(tsc, "native") == 0, hide_xsave = false;
    if (!tsc_native && strcmp(tsc, "default") != 0)
        return err_invalid_value("hvm-tsc-mode", tsc);
    if (!parse_bool(config_get(cfg, "hvm-hide-xsave"), &hide_xsave))
        return err_invalid_value("hvm-hide-xsave", config_get(cfg, "hvm-hide-xsave"));
    struct xc_state *st = xcalloc(1, sizeof(*st));
    st->logger.vtable.vmessage = xcl_vmessage;
    st->logger.vtable.progress = xcl_progress;
    st->logger.vtable.destroy = xcl_destroy;
    xc_interface *xch = xch_open(st);
    if (!xch) {
        xerr *e = xerr_internal("cannot open the hypervisor interface (not a Xen dom0, or not "
                                "root?): %s", strerror(errno));
        free(st);
        return e;
    }
    pthread_mutex_init(&st->pool_lock, NULL);
    pthread_mutex_init(&st->mem_lock, NULL);
    const char *p = config_get(cfg, "xenstore-path");
    st->xenstore_path = xstrdup(p ? p : "");

    xc_physinfo_t pi = {0};
    if (xc_physinfo(xch, &pi) == 0) {
        st->hvm_capable = pi.capabilities & XEN_SYSCTL_PHYSCAP_hvm;
        st->hap = pi.capabilities & XEN_SYSCTL_PHYSCAP_hap;
        st->shadow = pi.capabilities & XEN_SYSCTL_PHYSCAP_shadow;
        st->grant_version = (pi.capabilities & XEN_SYSCTL_PHYSCAP_gnttab_v2) ? 2 : 1;
    } else {
        st->grant_version = 1;
    }
    st->dm_dir = xstrdup(config_get(cfg, "device-model-dir"));
    st->dm_timeout = config_get_double(cfg, "device-model-timeout");
    st->hvm_tsc_native = tsc_native;
    st->hvm_hide_xsave = hide_xsave;
    dm_sweep(st, xch);
    st->idle[st->nidle++] = xch;  /* the first handle of the pool */
    *state = st;
    return NULL;
}

static void xc_close(void *state)
{
    struct xc_state *st = state;
    if (!st)
        return;
    /* the caller has stopped every thread that calls the backend */
    assert(st->nout == 0);
    assert(st->reserved_kib == 0);
    for (size_t i = 0; i < st->nidle; i++)
        xc_interface_close(st->idle[i]);
    pthread_mutex_destroy(&st->pool_lock);
    pthread_mutex_destroy(&st->mem_lock);
    free(st->xenstore_path);
    free(st->dm_dir);
    free(st);
}

static const char *xc_xenstore_path(void *state)
{
    return ((struct xc_state *)state)->xenstore_path;
}

static xerr *host_info(xc_interface *xch, struct hv_host_info *out)
{
    int ver = xc_version(xch, XENVER_version, NULL);
    if (ver < 0)
        return xc_fail(xch, "xc_version", 0);
    xen_extraversion_t extra = {0};
    if (xc_version(xch, XENVER_extraversion, &extra) < 0)
        return xc_fail(xch, "xc_version(extraversion)", 0);
    extra[sizeof(extra) - 1] = '\0';
    snprintf(out->xen_version, sizeof(out->xen_version), "%d.%d%s", ver >> 16, ver & 0xffff,
             extra);

    xen_capabilities_info_t caps = {0};
    if (xc_version(xch, XENVER_capabilities, &caps) < 0)
        return xc_fail(xch, "xc_version(capabilities)", 0);
    caps[sizeof(caps) - 1] = '\0';
    /* Xen pads the list with a trailing space */
    size_t n = strlen(caps);
    while (n && caps[n - 1] == ' ')
        caps[--n] = '\0';
    /* ours holds the longest list Xen can give: nothing is cut */
    _Static_assert(sizeof(out->xen_caps) >= sizeof(caps), "hv_host_info.xen_caps holds Xen's list");
    memcpy(out->xen_caps, caps, n + 1);

    xc_physinfo_t pi = {0};
    if (xc_physinfo(xch, &pi) != 0)
        return xc_fail(xch, "xc_physinfo", 0);
    out->total_memory_bytes = (uint64_t)pi.total_pages * XC_PAGE_SIZE;
    out->free_memory_bytes = (uint64_t)pi.free_pages * XC_PAGE_SIZE;
    out->nr_cpus = pi.nr_cpus;
    out->cpu_mhz = pi.cpu_khz / 1000;
    out->hvm_capable = pi.capabilities & XEN_SYSCTL_PHYSCAP_hvm;
    return NULL;
}

static xerr *xc_host_info(void *state, struct hv_host_info *out)
{
    struct xc_state *st = state;
    xerr *e = NULL;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    e = host_info(xch, out);
    xch_put(st, xch);
    return e;
}

/* ---- building a domain ---- */

/* Which domains serve xenstore and the consoles: dom0 unless a stub domain
 * says otherwise, as libxl reads it. */
static void service_domids(const struct xc_state *st, uint32_t *store, uint32_t *console)
{
    *store = 0;
    *console = 0;
    struct xs_handle *xs = hv_xs_open(st->xenstore_path);
    if (!xs)
        return;
    char *v = xs_read(xs, XBT_NULL, "/tool/xenstored/domid", NULL);
    if (v)
        *store = (uint32_t)strtoul(v, NULL, 10);
    free(v);
    v = xs_read(xs, XBT_NULL, "/tool/xenconsoled/domid", NULL);
    if (v)
        *console = (uint32_t)strtoul(v, NULL, 10);
    free(v);
    xs_close(xs);
}

/* Xen may refuse while a preempted teardown is still running (EAGAIN; libxc used
 * to loop on it itself) or while something still holds the domain (EBUSY): retry
 * for a few seconds.  ESRCH means someone else finished the job. */
static int destroy_domain(xc_interface *xch, uint32_t domid)
{
    for (int attempt = 0;; attempt++) {
        if (xc_domain_destroy(xch, domid) == 0)
            return 0;
        if (errno == ESRCH)
            return 0;
        if ((errno != EAGAIN && errno != EBUSY && errno != EINTR) || attempt >= 100)
            return -1;
        usleep(attempt < 10 ? 10000 : 100000);
    }
}

static const char *first_readable(const char *const *paths)
{
    for (size_t i = 0; paths[i]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

/* A platform key of the VM as a boolean (xapi writes "true"/"false", libxl's users
 * "1"/"0"); def when absent or unreadable. */
static bool platform_bool(const struct hv_domain_spec *spec, const char *key, bool def)
{
    for (size_t i = 0; i < spec->nplatform; i++) {
        bool v;
        if (strcmp(spec->platform_keys[i], key) == 0 && parse_bool(spec->platform_values[i], &v))
            return v;
    }
    return def;
}

static xerr *check_spec(struct xc_state *st, const struct hv_domain_spec *spec)
{
    const char *uuid = spec->uuid ? spec->uuid : "";
    if (spec->hvm) {
        if (!st->hvm_capable)
            return err_vm_hvm_required(uuid);
        if (!st->hap && !st->shadow)
            return xerr_internal("VM %s: Xen offers neither hardware-assisted nor shadow paging for an "
                                 "HVM guest", uuid);
        if (!first_readable(hvmloader_paths))
            return xerr_internal("VM %s: no HVM firmware: %s not found (package xen-utils)", uuid,
                                 hvmloader_paths[0]);
        if (!first_readable(seabios_paths))
            return xerr_internal("VM %s: no BIOS for hvmloader: %s not found (package seabios)", uuid,
                                 seabios_paths[0]);
        if (spec->vcpus_max > HVM_MAX_VCPUS)
            return xerr_internal("VM %s: %u vcpus, an HVM guest has at most %u", uuid, spec->vcpus_max,
                                 HVM_MAX_VCPUS);
    } else {
        if (!spec->kernel || !*spec->kernel)
            return xerr_internal("VM %s: a PV domain needs a kernel", uuid);
        if (access(spec->kernel, R_OK) != 0)
            return xerr_internal("VM %s: kernel %s: %s", uuid, spec->kernel, strerror(errno));
        if (spec->ramdisk && *spec->ramdisk && access(spec->ramdisk, R_OK) != 0)
            return xerr_internal("VM %s: ramdisk %s: %s", uuid, spec->ramdisk, strerror(errno));
    }
    if (spec->vcpus < 1 || spec->vcpus > spec->vcpus_max)
        return xerr_internal("VM %s: %u vcpus of at most %u", uuid, spec->vcpus, spec->vcpus_max);
    if (spec->memory_target < 1024 * 1024 ||
        (spec->memory_static_max && spec->memory_target > spec->memory_static_max))
        return xerr_internal("VM %s: memory target %" PRIu64 " outside 1 MiB..static max %" PRIu64, uuid,
                             spec->memory_target, spec->memory_static_max);
    return NULL;
}

/* The memory a build has been promised (st->reserved_kib), until it has allocated it. */
struct mem_claim {
    struct xc_state *st;
    uint64_t kib;
};

/* A refusal the caller can act on, before anything is created: the host's free
 * memory, less what builds running alongside are about to allocate, must hold
 * need_kib, which is then promised to this build. */
static xerr *mem_claim(struct xc_state *st, xc_interface *xch, uint64_t need_kib, struct mem_claim *c)
{
    *c = (struct mem_claim){.st = st};
    for (;;) {
        pthread_mutex_lock(&st->mem_lock);
        uint64_t gen = st->mem_gen;
        pthread_mutex_unlock(&st->mem_lock);
        xc_physinfo_t pi = {0};
        if (xc_physinfo(xch, &pi) != 0)
            return NULL;  /* the build itself will say what is wrong */
        uint64_t free_kib = (uint64_t)pi.free_pages * (XC_PAGE_SIZE / 1024);
        pthread_mutex_lock(&st->mem_lock);
        /* A claim released since gen was read was allocated before it was released,
         * perhaps after free_kib was read: that memory would be counted free.  Look
         * again. */
        bool stale = st->mem_gen != gen;
        uint64_t avail = free_kib > st->reserved_kib ? free_kib - st->reserved_kib : 0;
        bool ok = !stale && avail >= need_kib;
        if (ok) {
            st->reserved_kib += need_kib;
            c->kib = need_kib;
        }
        pthread_mutex_unlock(&st->mem_lock);
        if (ok)
            return NULL;
        if (stale)
            continue;
        char need[32], have[32];
        snprintf(need, sizeof(need), "%" PRIu64, need_kib * 1024);
        snprintf(have, sizeof(have), "%" PRIu64, avail * 1024);
        return err_host_not_enough_free_memory(need, have);
    }
}

/* The domain has its memory (or the build failed): Xen's free count says the rest. */
static void mem_release(struct mem_claim *c)
{
    if (!c->kib)
        return;
    struct xc_state *st = c->st;
    pthread_mutex_lock(&st->mem_lock);
    assert(st->reserved_kib >= c->kib);
    st->reserved_kib -= c->kib;
    st->mem_gen++;
    pthread_mutex_unlock(&st->mem_lock);
    c->kib = 0;
}

/* Memory sizes of a build, in KiB. */
struct mem_plan {
    uint64_t ram;                /* what the guest sees: its static max */
    uint64_t target;             /* populated at boot (less than ram: populate-on-demand) */
    uint64_t maxmem;             /* Xen's limit on the domain's pages */
    uint64_t paging;             /* HVM: the HAP/shadow page-table pool */
};

static struct mem_plan plan_memory(const struct hv_domain_spec *spec)
{
    struct mem_plan m = {0};
    m.target = spec->memory_target / 1024;
    m.ram = spec->memory_static_max ? spec->memory_static_max / 1024 : m.target;
    /* The guest may not populate more than its target (plus the device model's
     * video RAM); raising it later is the toolstack's decision (a memory target
     * change), as with libxl. */
    m.maxmem = m.target + MAXMEM_SLACK_KIB + (spec->hvm ? HVM_VIDEORAM_KIB : 0);
    if (spec->hvm) {
        /* libxl_get_required_shadow_memory: 1 MiB a vcpu and 8 KiB a MiB of RAM */
        uint64_t max_mib = (m.ram + HVM_VIDEORAM_KIB) / 1024;
        m.paging = 4 * (256 * (uint64_t)spec->vcpus_max + 2 * max_mib);
    }
    return m;
}

/* The CPUID policy a new domain gets (restore: the stream's, where it has none):
 * libxl's default, less XSAVE for HVM guests where the host says so (leaf 1,
 * ECX bit 26; the policy strings list bits from 31 down, 'x' keeping the default). */
static xerr *apply_cpuid(struct xc_state *st, xc_interface *xch, uint32_t domid, const struct hv_domain_spec *spec,
                         bool restore)
{
    struct xc_xend_cpuid hide[2];
    memset(hide, 0, sizeof(hide));  /* a register without a policy string keeps the default */
    char ecx[33];
    memset(ecx, 'x', 32);
    ecx[32] = '\0';
    ecx[31 - 26] = '0';  /* XSAVE */
    bool masked = spec->hvm && st->hvm_hide_xsave;
    if (masked) {
        hide[0].leaf = 1;
        hide[0].subleaf = XEN_CPUID_INPUT_UNUSED;
        hide[0].policy[2] = ecx;
        hide[1].leaf = XEN_CPUID_INPUT_UNUSED;
        hide[1].subleaf = XEN_CPUID_INPUT_UNUSED;
    }
    if (xc_cpuid_apply_policy(xch, domid, restore, NULL, 0, platform_bool(spec, "pae", true), false, false,
                              masked ? hide : NULL, NULL) != 0)
        return xc_fail(xch, "xc_cpuid_apply_policy", domid);
    return NULL;
}

#define STEP(call, what)                                                                        \
    do {                                                                                        \
        if ((call) != 0) {                                                                      \
            e = xc_fail(xch, what, domid);                                                       \
            goto out;                                                                           \
        }                                                                                       \
    } while (0)

/* Load the kernel and ramdisk into the (created, sized) domain and set up its
 * start info, page tables, vcpu 0 and the seeded grant table. */
static xerr *build_pv_image(xc_interface *xch, uint32_t domid, const struct hv_domain_spec *spec,
                            const struct mem_plan *m, struct mem_claim *claim, struct hv_build *out,
                            uint32_t store_domid, uint32_t console_domid)
{
    const char *cmdline = spec->cmdline ? spec->cmdline : "";
    struct xc_dom_image *dom = xc_dom_allocate(xch, cmdline, NULL);
    if (!dom)
        return xc_fail(xch, "xc_dom_allocate", domid);
    xerr *e = NULL;
    dom->container_type = XC_DOM_PV_CONTAINER;
    STEP(xc_dom_kernel_file(dom, spec->kernel), "loading the kernel");
    if (spec->ramdisk && *spec->ramdisk)
        STEP(xc_dom_module_file(dom, spec->ramdisk, NULL), "loading the ramdisk");
    dom->flags = 0;
    dom->console_evtchn = out->console_evtchn;
    dom->console_domid = console_domid;
    dom->xenstore_evtchn = out->store_evtchn;
    dom->xenstore_domid = store_domid;
    dom->claim_enabled = 0;
    dom->max_vcpus = spec->vcpus_max;

    STEP(xc_dom_boot_xen_init(dom, xch, domid), "xc_dom_boot_xen_init");
    STEP(xc_dom_parse_image(dom), "parsing the kernel image");
    STEP(xc_dom_mem_init(dom, (unsigned)(m->target >> 10)), "xc_dom_mem_init");
    STEP(xc_dom_boot_mem_init(dom), "allocating the domain's memory");
    mem_release(claim);
    STEP(xc_dom_build_image(dom), "xc_dom_build_image");
    STEP(xc_dom_boot_image(dom), "xc_dom_boot_image");
    /* Grants the store and console pages to xenstored and xenconsoled, so they
     * map the rings by grant rather than by foreign mapping. */
    STEP(xc_dom_gnttab_init(dom), "seeding the grant table");
    out->store_mfn = xc_dom_p2m(dom, dom->xenstore_pfn);
    out->console_mfn = xc_dom_p2m(dom, dom->console_pfn);
out:
    xc_dom_release(dom);
    return e;
}

/* The BIOS image hvmloader is handed: a module length is 32 bits. */
static xerr *read_firmware(const char *path, uint8_t **data, uint32_t *len)
{
    size_t n = 0;
    char *p = read_file(path, &n);
    if (!p)
        return xerr_internal("reading %s: %s", path, strerror(errno));
    if (n == 0 || n > UINT32_MAX) {
        free(p);
        return xerr_internal("reading %s: empty or too large", path);
    }
    *len = (uint32_t)n;
    *data = (uint8_t *)p;
    return NULL;
}

/* The guest's memory map as Xen keeps it for the domain (libxl's
 * domain_construct_memmap): RAM from 1 MiB to the MMIO hole, and what the hole
 * displaced above 4 GiB. */
static xerr *set_hvm_memmap(xc_interface *xch, uint32_t domid, struct xc_dom_image *dom,
                            struct e820entry e820[2])
{
    unsigned n = 0;
    e820[n++] = (struct e820entry){.addr = HVM_LOWMEM_START, .size = dom->lowmem_end - HVM_LOWMEM_START,
                                   .type = E820_RAM};
    if (dom->highmem_end)
        e820[n++] = (struct e820entry){.addr = 1ull << 32, .size = dom->highmem_end - (1ull << 32),
                                       .type = E820_RAM};
    if (xc_domain_set_memory_map(xch, domid, e820, n) != 0)
        return xc_fail(xch, "xc_domain_set_memory_map", domid);
    dom->e820 = e820;
    dom->e820_entries = n;
    return NULL;
}

/* hvmloader reads the vcpus it is to bring up from the HVM info table that
 * libxenguest wrote with defaults (one vcpu): what libxl's hvm_build_set_params
 * does. */
static xerr *set_hvm_info(xc_interface *xch, uint32_t domid, const struct hv_domain_spec *spec)
{
    uint8_t *page = xc_map_foreign_range(xch, domid, XC_PAGE_SIZE, PROT_READ | PROT_WRITE, HVM_INFO_PFN);
    if (!page)
        return xc_fail(xch, "mapping the HVM info table", domid);
    struct hvm_info_table *t = (struct hvm_info_table *)(page + HVM_INFO_OFFSET);
    t->apic_mode = platform_bool(spec, "apic", true);
    t->nr_vcpus = spec->vcpus_max;
    memset(t->vcpu_online, 0, sizeof(t->vcpu_online));
    for (unsigned i = 0; i < spec->vcpus; i++)
        t->vcpu_online[i / 8] |= (uint8_t)(1u << (i % 8));
    uint8_t sum = 0;
    for (uint32_t i = 0; i < t->length; i++)
        sum += page[HVM_INFO_OFFSET + i];
    t->checksum -= sum;
    munmap(page, XC_PAGE_SIZE);
    return NULL;
}

/* hvmloader as the domain's "kernel", SeaBIOS handed to it as its BIOS module,
 * memory below and above the MMIO hole, then the special pages (xenstore,
 * console, ioreq) that libxenguest places at the top of the 4 GiB hole. */
static xerr *build_hvm_image(xc_interface *xch, uint32_t domid, const struct hv_domain_spec *spec,
                             const struct mem_plan *m, struct mem_claim *claim, struct hv_build *out,
                             uint32_t store_domid, uint32_t console_domid)
{
    const char *hvmloader = first_readable(hvmloader_paths);
    const char *bios_path = first_readable(seabios_paths);
    if (!hvmloader || !bios_path)
        return xerr_internal("domain %" PRIu32 ": the HVM firmware went away", domid);
    uint8_t *bios = NULL;
    uint32_t bios_len = 0;
    xerr *e = read_firmware(bios_path, &bios, &bios_len);
    if (e)
        return e;
    struct xc_dom_image *dom = xc_dom_allocate(xch, NULL, NULL);
    if (!dom) {
        free(bios);
        return xc_fail(xch, "xc_dom_allocate", domid);
    }
    struct e820entry e820[2];
    dom->container_type = XC_DOM_HVM_CONTAINER;
    uint64_t mem_size = m->ram << 10;
    dom->target_pages = (m->target << 10) >> XC_PAGE_SHIFT;
    dom->claim_enabled = 0;
    STEP(xc_dom_kernel_file(dom, hvmloader), "loading hvmloader");
    dom->system_firmware_module.data = bios;
    dom->system_firmware_module.length = bios_len;

    dom->mmio_size = HVM_BELOW_4G_MMIO_LENGTH;
    uint64_t mmio_start = (1ull << 32) - dom->mmio_size;
    dom->lowmem_end = mem_size;
    dom->highmem_end = 0;
    if (dom->lowmem_end > mmio_start) {
        dom->highmem_end = (1ull << 32) + (dom->lowmem_end - mmio_start);
        dom->lowmem_end = mmio_start;
    }
    dom->mmio_start = mmio_start;
    dom->vga_hole_size = HVM_VGA_HOLE_PAGES;
    dom->device_model = true;  /* the ioreq pages and hvmloader's module list */
    dom->max_vcpus = spec->vcpus_max;
    dom->console_evtchn = out->console_evtchn;
    dom->console_domid = console_domid;
    dom->xenstore_evtchn = out->store_evtchn;
    dom->xenstore_domid = store_domid;

    STEP(xc_dom_boot_xen_init(dom, xch, domid), "xc_dom_boot_xen_init");
    STEP(xc_dom_parse_image(dom), "parsing hvmloader");
    STEP(xc_dom_mem_init(dom, (unsigned)(mem_size >> 20)), "xc_dom_mem_init");
    STEP(xc_dom_boot_mem_init(dom), "allocating the domain's memory");
    mem_release(claim);
    if ((e = set_hvm_memmap(xch, domid, dom, e820)) != NULL)
        goto out;
    STEP(xc_dom_build_image(dom), "xc_dom_build_image");
    STEP(xc_dom_boot_image(dom), "xc_dom_boot_image");
    STEP(xc_dom_gnttab_init(dom), "seeding the grant table");
    if ((e = set_hvm_info(xch, domid, spec)) != NULL)
        goto out;
    /* An HVM guest finds its xenstore and console rings through these parameters
     * (the pages are guest frames: xenstored maps them by grant or gfn). */
    STEP(xc_hvm_param_set(xch, domid, HVM_PARAM_STORE_EVTCHN, out->store_evtchn),
         "setting HVM_PARAM_STORE_EVTCHN");
    STEP(xc_hvm_param_set(xch, domid, HVM_PARAM_CONSOLE_EVTCHN, out->console_evtchn),
         "setting HVM_PARAM_CONSOLE_EVTCHN");
    out->store_mfn = dom->xenstore_pfn;
    out->console_mfn = dom->console_pfn;
out:
    xc_dom_release(dom);
    free(bios);
    return e;
}

/* What libxl's hvm_set_conf_params and hvm_set_viridian_features set for a new
 * HVM guest, with xapi's platform keys where they have a say. */
static xerr *set_hvm_params(struct xc_state *st, xc_interface *xch, uint32_t domid,
                            const struct hv_domain_spec *spec, const struct mem_plan *m)
{
    xerr *e = NULL;
    STEP(xc_hvm_param_set(xch, domid, HVM_PARAM_HPET_ENABLED, platform_bool(spec, "hpet", true)),
         "setting HVM_PARAM_HPET_ENABLED");
    STEP(xc_hvm_param_set(xch, domid, HVM_PARAM_VPT_ALIGN, 1), "setting HVM_PARAM_VPT_ALIGN");
    STEP(xc_hvm_param_set(xch, domid, HVM_PARAM_TIMER_MODE, HVMPTM_no_delay_for_missed_ticks),
         "setting HVM_PARAM_TIMER_MODE");
    if (platform_bool(spec, "viridian", false)) {
        /* libxl's default enlightenment groups (base, freq, time_ref_count,
         * apic_assist, crash_ctl, no_vp_limit, cpu_hotplug); the groups xapi names
         * with platform keys follow the VM's hardware (its version's settings) */
        uint64_t mask = HVMPV_base_freq | HVMPV_no_vp_limit | HVMPV_cpu_hotplug;
        mask |= platform_bool(spec, "viridian_time_ref_count", true) ? HVMPV_time_ref_count : 0;
        mask |= platform_bool(spec, "viridian_apic_assist", true) ? HVMPV_apic_assist : 0;
        mask |= platform_bool(spec, "viridian_crash_ctl", true) ? HVMPV_crash_ctl : 0;
        mask |= platform_bool(spec, "viridian_reference_tsc", false) ? HVMPV_reference_tsc : 0;
        mask |= platform_bool(spec, "viridian_stimer", false) ? HVMPV_stimer | HVMPV_synic : 0;
        STEP(xc_hvm_param_set(xch, domid, HVM_PARAM_VIRIDIAN, mask), "setting HVM_PARAM_VIRIDIAN");
    }
    STEP(xc_domain_set_tsc_info(xch, domid, st->hvm_tsc_native ? TSC_MODE_NATIVE : TSC_MODE_DEFAULT, 0, 0, 0),
         "xc_domain_set_tsc_info");
    /* the page-table pool HAP (or shadow) paging draws from */
    STEP(xc_set_paging_mempool_size(xch, domid, m->paging << 10), "xc_set_paging_mempool_size");
out:
    return e;
}

/* The domain created, sized, with its event channels and arch settings, before
 * anything is loaded into it; a restore then applies the CPUID policy and TSC
 * settings the stream carries instead of new ones.  On failure the domain is
 * destroyed. */
static xerr *create_domain(struct xc_state *st, xc_interface *xch, const struct hv_domain_spec *spec,
                           const struct mem_plan *m, bool restore, struct hv_build *out,
                           uint32_t *store_domid, uint32_t *console_domid)
{
    xerr *e = NULL;
    struct xen_domctl_createdomain cfg = {
        .ssidref = 0,
        .flags = 0,  /* PV */
        .max_vcpus = spec->vcpus_max,
        .max_evtchn_port = MAX_EVTCHN_PORT,
        .max_grant_frames = MAX_GRANT_FRAMES,
        .max_maptrack_frames = MAX_MAPTRACK_FRAMES,
        .grant_opts = XEN_DOMCTL_GRANT_version(st->grant_version),
        .arch = {.emulation_flags = 0, .misc_flags = 0},  /* PV: nothing emulated */
    };
    if (spec->hvm) {
        /* libxl's defaults for an HVM guest: HAP where the CPU has it, shadow
         * paging's out-of-sync optimisation left on, no nested virtualisation, no
         * passthrough; everything emulated except vPCI (the device model does
         * PCI).  Xen 4.17 takes exactly that set for an HVM domU (or the LAPIC
         * alone, for PVH): leaving out USE_PIRQ as well, as later libxl does for
         * pirq=false, is refused with EOPNOTSUPP. */
        cfg.flags = XEN_DOMCTL_CDF_hvm | (st->hap ? XEN_DOMCTL_CDF_hap : 0);
        cfg.arch.emulation_flags = XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI;
    }
    uuid_to_handle(spec->uuid, cfg.handle);
    uint32_t domid = 0;  /* 0: Xen picks the next free id */
    if (xc_domain_create(xch, &domid, &cfg) != 0)
        return xc_fail(xch, "xc_domain_create", 0);
    out->domid = domid;
    /* A previous domain with this id may have left its device model files. */
    dm_remove(st, domid);

    STEP(xc_domain_max_vcpus(xch, domid, spec->vcpus_max), "xc_domain_max_vcpus");
    STEP(xc_domain_setmaxmem(xch, domid, m->maxmem), "xc_domain_setmaxmem");

    service_domids(st, store_domid, console_domid);
    int port = xc_evtchn_alloc_unbound(xch, domid, *store_domid);
    if (port < 0) {
        e = xc_fail(xch, "allocating the xenstore event channel", domid);
        goto out;
    }
    out->store_evtchn = (uint32_t)port;
    port = xc_evtchn_alloc_unbound(xch, domid, *console_domid);
    if (port < 0) {
        e = xc_fail(xch, "allocating the console event channel", domid);
        goto out;
    }
    out->console_evtchn = (uint32_t)port;

    if (spec->hvm) {
        if ((e = set_hvm_params(st, xch, domid, spec, m)) != NULL)
            goto out;
    } else {
        /* The guest's e820 covers static-max so a balloon driver can grow into it. */
        STEP(xc_domain_set_memmap_limit(xch, domid, m->ram), "xc_domain_set_memmap_limit");
        if (!restore)
            STEP(xc_domain_set_tsc_info(xch, domid, TSC_MODE_DEFAULT, 0, 0, 0), "xc_domain_set_tsc_info");
    }
    /* The default CPUID policy for a new guest (PAE on, no invariant TSC, no
     * nested virtualisation), what libxl applies when the VM asks for nothing
     * special; a restored guest gets the one it was saved with, from its stream. */
    if (!restore && (e = apply_cpuid(st, xch, domid, spec, false)) != NULL)
        goto out;
    return NULL;

out:
    if (destroy_domain(xch, domid) != 0)
        log_error("domain %" PRIu32 " is left behind after a failed build: %s", domid, strerror(errno));
    return e;
}

static xerr *build_domain(struct xc_state *st, xc_interface *xch, const struct hv_domain_spec *spec,
                          const struct mem_plan *m, struct mem_claim *claim, struct hv_build *out)
{
    double t0 = now_monotonic();
    uint32_t store_domid, console_domid;
    xerr *e = create_domain(st, xch, spec, m, false, out, &store_domid, &console_domid);
    if (e)
        return e;
    uint32_t domid = out->domid;
    double t1 = now_monotonic();

    if (spec->hvm)
        e = build_hvm_image(xch, domid, spec, m, claim, out, store_domid, console_domid);
    else
        e = build_pv_image(xch, domid, spec, m, claim, out, store_domid, console_domid);
    if (e)
        goto out;
    if (out->store_mfn == INVALID_MFN || out->console_mfn == INVALID_MFN) {
        e = xerr_internal("domain %" PRIu32 ": the store or console page has no frame", domid);
        goto out;
    }
    log_debug("built %s domain %" PRIu32 " (%s): create %.3fs, image %.3fs, store %s %" PRIu64
              " port %" PRIu32 ", console %s %" PRIu64 " port %" PRIu32,
              spec->hvm ? "HVM" : "PV", domid, spec->uuid, t1 - t0, now_monotonic() - t1,
              spec->hvm ? "gfn" : "mfn", out->store_mfn, out->store_evtchn, spec->hvm ? "gfn" : "mfn",
              out->console_mfn, out->console_evtchn);
    /* Domains are created paused; hv.c unpauses once xenstore knows it. */
    return NULL;

out:
    if (destroy_domain(xch, domid) != 0)
        log_error("domain %" PRIu32 " is left behind after a failed build: %s", domid, strerror(errno));
    return e;
}

/* The build runs on a handle of its own, taking no lock: queries, and other builds,
 * go on beside it. */
static xerr *xc_build(void *state, const struct hv_domain_spec *spec, struct hv_build *out)
{
    struct xc_state *st = state;
    xerr *e = check_spec(st, spec);
    if (e)
        return e;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    struct mem_plan m = plan_memory(spec);
    struct mem_claim claim;
    e = mem_claim(st, xch, m.maxmem + m.paging, &claim);
    if (!e)
        e = build_domain(st, xch, spec, &m, &claim, out);
    mem_release(&claim);  /* if the build failed before its memory was allocated */
    xch_put(st, xch);
    return e;
}

/* ---- lifecycle ---- */

static xerr *domid_call(struct xc_state *st, int (*call)(xc_interface *, uint32_t), const char *what,
                        uint32_t domid)
{
    xerr *e = NULL;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    if (call(xch, domid) != 0)
        e = xc_fail(xch, what, domid);
    xch_put(st, xch);
    return e;
}

static xerr *xc_pause(void *state, uint32_t domid)
{
    return domid_call(state, xc_domain_pause, "xc_domain_pause", domid);
}

static xerr *xc_unpause(void *state, uint32_t domid)
{
    return domid_call(state, xc_domain_unpause, "xc_domain_unpause", domid);
}

/* Seconds for a big domain (Xen frees its memory in preempted steps, and
 * destroy_domain sleeps between tries): on a handle of its own, under no lock. */
static xerr *xc_destroy(void *state, uint32_t domid)
{
    struct xc_state *st = state;
    if (domid == 0)
        return xerr_internal("refusing to destroy domain 0");
    xerr *e = NULL;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    /* Stop the vcpus first, as libxl does, so the guest does nothing more while
     * its resources go; a domain that is already dying refuses the pause. */
    xc_domain_pause(xch, domid);
    /* The device model before the domain, as libxl does: it maps guest memory.  Its
     * files go now too, while the domid is still this domain's: once Xen has let go
     * of it, a build running alongside may be given the same domid. */
    dm_remove(st, domid);
    xc_clear_last_error(xch);
    if (destroy_domain(xch, domid) != 0)
        e = xc_fail(xch, "xc_domain_destroy", domid);
    xch_put(st, xch);
    return e;
}

/* ---- the device model ---- */

/* The last line of the device model's log, for an error message. */
static char *dm_log_tail(const struct xc_state *st, uint32_t domid)
{
    _cleanup_free_ char *path = dm_path(st, domid, "log");
    _cleanup_free_ char *text = read_file(path, NULL);
    if (!text || !*text)
        return xasprintf("nothing in %s", path);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = 0;
    const char *last = strrchr(text, '\n');
    return xasprintf("%s (%s)", last ? last + 1 : text, path);
}

/* qemu built for Xen says it is ready by writing "running" to
 * /local/domain/0/device-model/<domid>/state, as libxl waits for.  Until then
 * the domain must not be reported running: a device model that exits, or that
 * does not get there within device-model-timeout, fails the start
 * (DEVICE_MODEL_FAILED; it is killed, and hv.c takes the domain down). */
static xerr *dm_wait_ready(struct xc_state *st, uint32_t domid, pid_t pid)
{
    char id[16], path[96];
    snprintf(id, sizeof(id), "%" PRIu32, domid);
    snprintf(path, sizeof(path), "/local/domain/0/device-model/%" PRIu32 "/state", domid);
    struct xs_handle *xs = hv_xs_open(st->xenstore_path);
    if (!xs)
        return err_device_model_failed(id, "cannot connect to xenstore to wait for it");
    double t0 = now_monotonic(), deadline = t0 + st->dm_timeout;
    xerr *e = NULL;
    for (;;) {
        unsigned len = 0;
        char *v = xs_read(xs, XBT_NULL, path, &len);
        bool ready = v && strcmp(v, "running") == 0;
        free(v);
        if (ready)
            break;
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            _cleanup_free_ char *tail = dm_log_tail(st, domid);
            _cleanup_free_ char *why =
                r == pid && WIFEXITED(status)     ? xasprintf("it exited with status %d: %s", WEXITSTATUS(status), tail)
                : r == pid && WIFSIGNALED(status) ? xasprintf("it was killed by signal %d: %s", WTERMSIG(status), tail)
                                                  : xasprintf("it is gone: %s", tail);
            e = err_device_model_failed(id, why);
            break;
        }
        if (now_monotonic() > deadline) {
            _cleanup_free_ char *tail = dm_log_tail(st, domid);
            _cleanup_free_ char *why = xasprintf("not ready (%s) after %g s: %s", path, st->dm_timeout, tail);
            e = err_device_model_failed(id, why);
            break;
        }
        usleep(50000);
    }
    xs_close(xs);
    if (!e)
        log_info("the device model of domain %" PRIu32 " is ready (%.2f s)", domid, now_monotonic() - t0);
    return e;
}

static xerr *xc_device_model(void *state, uint32_t domid, char *const *argv)
{
    struct xc_state *st = state;
    if (!argv || !argv[0])
        return xerr_internal("domain %" PRIu32 ": an empty device model command line", domid);
    xerr *e = hv_dm_write_argv(st->dm_dir, domid, argv);
    if (e)
        return e;
    char id[16];
    snprintf(id, sizeof(id), "%" PRIu32, domid);
    if (access(argv[0], X_OK) != 0) {
        /* an HVM guest cannot run without one: the start fails (hv.c takes the domain
         * down), rather than a VM reported Running that never can */
        _cleanup_free_ char *why = xasprintf("%s: %s (Debian: install qemu-system-xen)", argv[0], strerror(errno));
        return err_device_model_failed(id, why);
    }
    pid_t pid = 0;
    e = dm_spawn(st, domid, argv, &pid);
    if (e) {
        _cleanup_free_ char *why = xerr_str(e);
        xerr_free(e);
        return err_device_model_failed(id, why);
    }
    log_info("started the device model of domain %" PRIu32 ": %s, pid %ld", domid, argv[0], (long)pid);
    return dm_wait_ready(st, domid, pid);
}

static char **xc_dm_argv(void *state, uint32_t domid)
{
    return hv_dm_read_argv(((struct xc_state *)state)->dm_dir, domid);
}

/* A domain that went without us: its device model and files go too. */
static void xc_forget(void *state, uint32_t domid)
{
    dm_remove(state, domid);
}

static xerr *list_domains(xc_interface *xch, struct hv_domain_info **out, size_t *n)
{
    enum { CHUNK = 256 };
    xc_domaininfo_t *chunk = xcalloc(CHUNK, sizeof(*chunk));
    struct hv_domain_info *all = NULL;
    size_t count = 0, cap = 0;
    uint32_t next = 0;
    for (;;) {
        int got = xc_domain_getinfolist(xch, next, CHUNK, chunk);
        if (got < 0) {
            xerr *e = xc_fail(xch, "xc_domain_getinfolist", next);
            free(chunk);
            free(all);
            return e;
        }
        for (int i = 0; i < got; i++) {
            const xc_domaininfo_t *d = &chunk[i];
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                all = xrealloc(all, cap * sizeof(*all));
            }
            struct hv_domain_info *o = &all[count++];
            memset(o, 0, sizeof(*o));
            o->domid = d->domain;
            handle_to_uuid(d->handle, o->uuid);
            if (d->flags & XEN_DOMINF_dying) {
                o->state = HV_DOM_DYING;
            } else if (d->flags & XEN_DOMINF_shutdown) {
                o->state = HV_DOM_SHUTDOWN;
                o->shutdown_reason = (int)((d->flags >> XEN_DOMINF_shutdownshift) &
                                           XEN_DOMINF_shutdownmask);
            } else if (d->flags & XEN_DOMINF_paused) {
                o->state = HV_DOM_PAUSED;
            } else {
                o->state = HV_DOM_RUNNING;  /* running or blocked */
            }
            o->memory_bytes = (uint64_t)d->tot_pages * XC_PAGE_SIZE;
            /* dom0 may have no limit (all ones): do not wrap */
            o->max_memory_bytes = d->max_pages > UINT64_MAX / XC_PAGE_SIZE
                                      ? UINT64_MAX
                                      : (uint64_t)d->max_pages * XC_PAGE_SIZE;
            o->vcpus = d->nr_online_vcpus;
            o->cpu_time_ns = d->cpu_time;
            o->hvm = d->flags & XEN_DOMINF_hvm_guest;
        }
        if (got < CHUNK)
            break;
        next = chunk[got - 1].domain + 1u;
    }
    free(chunk);
    *out = all;
    *n = count;
    return NULL;
}

static xerr *xc_list(void *state, struct hv_domain_info **out, size_t *n)
{
    struct xc_state *st = state;
    xerr *e = NULL;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    e = list_domains(xch, out, n);
    xch_put(st, xch);
    return e;
}

/* ---- save and restore (PV) ----
 * The XCSR section of the stream (docs/domain-stream.md) is libxenguest's own
 * stream.  Its length comes first in ours, so the save goes to memory (a memfd)
 * before it is sent; the restore reads the section into memory before libxenguest
 * reads it, so that a stream cut short or damaged is refused before a domain is
 * made.  HVM domains are not saved: their device model's state would have to go
 * with them (qemu's xen-save-devices-state), which this backend does not do yet. */

struct save_ctx {
    xc_interface *xch;
    uint32_t domid;
};

/* libxenguest asks for the guest to be suspended: hv_domain_save's caller has done
 * that already (control/shutdown, acknowledged, shut down for suspend). */
static int save_suspend(void *data)
{
    struct save_ctx *c = data;
    xc_domaininfo_t info;
    if (xc_domain_getinfolist(c->xch, c->domid, 1, &info) != 1 || info.domain != c->domid)
        return 0;
    unsigned reason = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
    return (info.flags & XEN_DOMINF_shutdown) && reason == SHUTDOWN_suspend ? 1 : 0;
}

/* Copies len bytes from `from` to `to`, the sum of them in *sum. */
static xerr *copy_fd(int from, int to, uint64_t len, uint32_t *sum)
{
    enum { CHUNK = 1 << 16 };
    char *b = xmalloc(CHUNK);
    xerr *e = NULL;
    while (len > 0 && !e) {
        size_t n = len < CHUNK ? (size_t)len : CHUNK;
        e = hv_stream_read(from, b, n);
        if (!e) {
            *sum = hv_stream_sum(*sum, b, n);
            e = hv_stream_write(to, b, n);
        }
        len -= n;
    }
    free(b);
    return e;
}

static xerr *xc_save(void *state, uint32_t domid, int fd)
{
    struct xc_state *st = state;
    xerr *e = NULL;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    int mfd = -1;
    xc_domaininfo_t info;
    if (xc_domain_getinfolist(xch, domid, 1, &info) != 1 || info.domain != domid) {
        e = xerr_internal("saving domain %" PRIu32 ": no such domain", domid);
        goto out;
    }
    if (info.flags & XEN_DOMINF_hvm_guest) {
        e = xerr_internal("saving domain %" PRIu32 ": the xc backend does not save HVM domains", domid);
        goto out;
    }
    if ((mfd = memfd_create("xenapid-save", MFD_CLOEXEC)) < 0) {
        e = xerr_internal("saving domain %" PRIu32 ": memfd_create: %s", domid, strerror(errno));
        goto out;
    }
    struct save_ctx ctx = {.xch = xch, .domid = domid};
    struct save_callbacks cb = {.suspend = save_suspend, .data = &ctx};
    double t0 = now_monotonic();
    xc_clear_last_error(xch);
    if (xc_domain_save(xch, mfd, domid, 0, &cb, XC_STREAM_PLAIN, -1) != 0) {
        e = xc_fail(xch, "xc_domain_save", domid);
        goto out;
    }
    off_t len = lseek(mfd, 0, SEEK_END);
    if (len < 0 || lseek(mfd, 0, SEEK_SET) != 0) {
        e = xerr_internal("saving domain %" PRIu32 ": %s", domid, strerror(errno));
        goto out;
    }
    log_info("domain %" PRIu32 ": libxenguest saved %lld bytes in %.2f s", domid, (long long)len,
             now_monotonic() - t0);
    uint32_t sum = HV_STREAM_SUM_INIT;
    e = hv_stream_put_begin(fd, "XCSR", (uint64_t)len);
    if (!e)
        e = copy_fd(mfd, fd, (uint64_t)len, &sum);
    if (!e)
        e = hv_stream_put_end(fd, sum);
out:
    if (mfd >= 0)
        close(mfd);
    xch_put(st, xch);
    return e;
}

/* The stream says which static data it lacked (an older one): the CPUID policy a
 * new domain gets then, as libxl does. */
struct restore_ctx {
    struct xc_state *st;
    xc_interface *xch;
    uint32_t domid;
    const struct hv_domain_spec *spec;
};

static int restore_static_data_done(unsigned missing, void *data)
{
    struct restore_ctx *c = data;
    if (!(missing & XGR_SDD_MISSING_CPUID))
        return 0;
    xerr *e = apply_cpuid(c->st, c->xch, c->domid, c->spec, true);
    if (!e)
        return 0;
    _cleanup_free_ char *why = xerr_str(e);
    log_error("restoring domain %" PRIu32 ": %s", c->domid, why);
    xerr_free(e);
    return -1;
}

static void restore_results(xen_pfn_t store_gfn, xen_pfn_t console_gfn, void *data)
{
    (void)store_gfn, (void)console_gfn, (void)data;  /* xc_domain_restore returns them too */
}

static xerr *xc_restore(void *state, const struct hv_domain_spec *spec, int fd, struct hv_build *out)
{
    struct xc_state *st = state;
    if (spec->hvm)
        return xerr_internal("VM %s: the xc backend does not restore HVM domains", spec->uuid);
    /* the stream holds the guest's memory: at most its static max, and the page
     * tables and records around it */
    uint64_t max = spec->memory_static_max + spec->memory_static_max / 4 + (64ull << 20);
    uint64_t len = 0;
    xerr *e = hv_stream_next(fd, "XCSR", max, &len);
    if (e)
        return e;
    int mfd = memfd_create("xenapid-restore", MFD_CLOEXEC);
    if (mfd < 0)
        return xerr_internal("restoring VM %s: memfd_create: %s", spec->uuid, strerror(errno));
    uint32_t sum = HV_STREAM_SUM_INIT;
    e = copy_fd(fd, mfd, len, &sum);
    if (!e)
        e = hv_stream_check_sum(fd, "XCSR", sum);
    if (!e && lseek(mfd, 0, SEEK_SET) != 0)
        e = xerr_internal("restoring VM %s: %s", spec->uuid, strerror(errno));
    if (e) {
        close(mfd);
        return e;
    }
    xc_interface *xch = xch_get(st, &e);
    if (!xch) {
        close(mfd);
        return e;
    }
    struct mem_plan m = plan_memory(spec);
    struct mem_claim claim;
    uint32_t store_domid = 0, console_domid = 0;
    e = mem_claim(st, xch, m.maxmem + m.paging, &claim);
    if (!e)
        e = create_domain(st, xch, spec, &m, true, out, &store_domid, &console_domid);
    if (!e) {
        struct restore_ctx ctx = {.st = st, .xch = xch, .domid = out->domid, .spec = spec};
        struct restore_callbacks cb = {.static_data_done = restore_static_data_done,
                                       .restore_results = restore_results, .data = &ctx};
        unsigned long store_mfn = 0, console_mfn = 0;
        double t0 = now_monotonic();
        xc_clear_last_error(xch);
        if (xc_domain_restore(xch, mfd, out->domid, out->store_evtchn, &store_mfn, store_domid, out->console_evtchn,
                              &console_mfn, console_domid, XC_STREAM_PLAIN, &cb, -1) != 0) {
            e = xc_fail(xch, "xc_domain_restore", out->domid);
            if (destroy_domain(xch, out->domid) != 0)
                log_error("domain %" PRIu32 " is left behind after a failed restore: %s", out->domid,
                          strerror(errno));
        } else {
            out->store_mfn = store_mfn;
            out->console_mfn = console_mfn;
            log_info("domain %" PRIu32 ": libxenguest restored %" PRIu64 " bytes in %.2f s", out->domid, len,
                     now_monotonic() - t0);
        }
    }
    mem_release(&claim);
    xch_put(st, xch);
    close(mfd);
    return e;
}

/* A domain shut down for suspend runs on: the guest sees its suspend cancelled
 * (Linux supports that: the "fast" resume libxl uses). */
static xerr *xc_resume_in_place(void *state, uint32_t domid)
{
    struct xc_state *st = state;
    xerr *e = NULL;
    xc_interface *xch = xch_get(st, &e);
    if (!xch)
        return e;
    xc_clear_last_error(xch);
    if (xc_domain_resume(xch, domid, 1) != 0)
        e = xc_fail(xch, "xc_domain_resume", domid);
    xch_put(st, xch);
    /* xenstored takes the domain's connection as live again, as libxl has it do */
    struct xs_handle *xs = e ? NULL : hv_xs_open(st->xenstore_path);
    if (!e && (!xs || !xs_resume_domain(xs, domid)))
        e = xerr_internal("xenstore refused to resume domain %" PRIu32 ": %s", domid, strerror(errno));
    if (xs)
        xs_close(xs);
    return e;
}

const struct hv_backend_ops hv_xc_ops = {
    .name = "xc",
    .can_suspend = true,
    .can_suspend_hvm = false,
    .open = xc_open,
    .close = xc_close,
    .xenstore_path = xc_xenstore_path,
    .host_info = xc_host_info,
    .build = xc_build,
    .pause = xc_pause,
    .unpause = xc_unpause,
    .destroy = xc_destroy,
    .list = xc_list,
    .device_model = xc_device_model,
    .dm_argv = xc_dm_argv,
    .forget = xc_forget,
    .save = xc_save,
    .restore = xc_restore,
    .resume_in_place = xc_resume_in_place,
};
