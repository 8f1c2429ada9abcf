/* The real hypervisor: libxenctrl for domains, libxenguest to load a PV kernel.
 *
 * The build follows the order libxl uses for a PV guest (create, limits, event
 * channels, CPUID policy, then the xc_dom_* image build), without libxl itself:
 * xapi's model keeps device and xenstore policy in the toolstack, so everything
 * xenstore-related is done by hv.c. */
#include "backend.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Xen's public headers use GNU C (anonymous unions, aligned attributes) and
 * refuse strict ISO mode; the project builds with -std=c11.  Everything from
 * glibc is already in by now, so only the Xen headers see the difference. */
#undef __STRICT_ANSI__
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xentoollog.h>

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

struct xc_logger {
    xentoollog_logger vtable;    /* first: libxentoollog calls through it */
};

struct xc_state {
    xc_interface *xch;
    struct xc_logger logger;
    char *xenstore_path;
    int grant_version;           /* highest grant table version Xen offers */
    bool hvm_capable;
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
static xerr *xc_fail(struct xc_state *st, const char *what, uint32_t domid)
{
    int err = errno;
    const xc_error *le = xc_get_last_error(st->xch);
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

/* ---- open, close, host ---- */

static xerr *xc_open(const struct config *cfg, void **state)
{
    struct xc_state *st = xcalloc(1, sizeof(*st));
    st->logger.vtable.vmessage = xcl_vmessage;
    st->logger.vtable.progress = xcl_progress;
    st->logger.vtable.destroy = xcl_destroy;
    /* Same logger for the domain builder, so its messages do not go to a file
     * under /var/log/xen that nobody reads. */
    st->xch = xc_interface_open(&st->logger.vtable, &st->logger.vtable, 0);
    if (!st->xch) {
        xerr *e = xerr_internal("cannot open the hypervisor interface (not a Xen dom0, or not "
                                "root?): %s", strerror(errno));
        free(st);
        return e;
    }
    const char *p = config_get(cfg, "xenstore-path");
    st->xenstore_path = xstrdup(p ? p : "");

    xc_physinfo_t pi = {0};
    if (xc_physinfo(st->xch, &pi) == 0) {
        st->hvm_capable = pi.capabilities & XEN_SYSCTL_PHYSCAP_hvm;
        st->grant_version = (pi.capabilities & XEN_SYSCTL_PHYSCAP_gnttab_v2) ? 2 : 1;
    } else {
        st->grant_version = 1;
    }
    *state = st;
    return NULL;
}

static void xc_close(void *state)
{
    struct xc_state *st = state;
    if (!st)
        return;
    xc_interface_close(st->xch);
    free(st->xenstore_path);
    free(st);
}

static const char *xc_xenstore_path(void *state)
{
    return ((struct xc_state *)state)->xenstore_path;
}

static xerr *xc_host_info(void *state, struct hv_host_info *out)
{
    struct xc_state *st = state;
    xc_clear_last_error(st->xch);
    int ver = xc_version(st->xch, XENVER_version, NULL);
    if (ver < 0)
        return xc_fail(st, "xc_version", 0);
    xen_extraversion_t extra = {0};
    if (xc_version(st->xch, XENVER_extraversion, &extra) < 0)
        return xc_fail(st, "xc_version(extraversion)", 0);
    extra[sizeof(extra) - 1] = '\0';
    snprintf(out->xen_version, sizeof(out->xen_version), "%d.%d%s", ver >> 16, ver & 0xffff,
             extra);

    xen_capabilities_info_t caps = {0};
    if (xc_version(st->xch, XENVER_capabilities, &caps) < 0)
        return xc_fail(st, "xc_version(capabilities)", 0);
    caps[sizeof(caps) - 1] = '\0';
    /* Xen pads the list with a trailing space */
    size_t n = strlen(caps);
    while (n && caps[n - 1] == ' ')
        caps[--n] = '\0';
    /* the caps string fits (Xen's is 1 KiB at most, ours 256): keep what fits */
    size_t cn = strlen(caps) < sizeof(out->xen_caps) - 1 ? strlen(caps) : sizeof(out->xen_caps) - 1;
    memcpy(out->xen_caps, caps, cn);
    out->xen_caps[cn] = '\0';

    xc_physinfo_t pi = {0};
    if (xc_physinfo(st->xch, &pi) != 0)
        return xc_fail(st, "xc_physinfo", 0);
    out->total_memory_bytes = (uint64_t)pi.total_pages * XC_PAGE_SIZE;
    out->free_memory_bytes = (uint64_t)pi.free_pages * XC_PAGE_SIZE;
    out->nr_cpus = pi.nr_cpus;
    out->cpu_mhz = pi.cpu_khz / 1000;
    out->hvm_capable = pi.capabilities & XEN_SYSCTL_PHYSCAP_hvm;
    return NULL;
}

/* ---- building a PV domain ---- */

/* Which domains serve xenstore and the consoles: dom0 unless a stub domain
 * says otherwise, as libxl reads it. */
static void service_domids(uint32_t *store, uint32_t *console)
{
    *store = 0;
    *console = 0;
    struct xs_handle *xs = xs_open(0);
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

static xerr *check_spec(struct xc_state *st, const struct hv_domain_spec *spec)
{
    if (spec->hvm) {
        if (!st->hvm_capable)
            return xerr_new("VM_HVM_REQUIRED", spec->uuid ? spec->uuid : "", NULL);
        return xerr_internal("the xc backend builds PV domains only; VM %s is HVM",
                             spec->uuid ? spec->uuid : "");
    }
    if (!spec->kernel || !*spec->kernel)
        return xerr_internal("VM %s: a PV domain needs a kernel", spec->uuid ? spec->uuid : "");
    if (access(spec->kernel, R_OK) != 0)
        return xerr_internal("VM %s: kernel %s: %s", spec->uuid ? spec->uuid : "", spec->kernel,
                             strerror(errno));
    if (spec->ramdisk && *spec->ramdisk && access(spec->ramdisk, R_OK) != 0)
        return xerr_internal("VM %s: ramdisk %s: %s", spec->uuid ? spec->uuid : "", spec->ramdisk,
                             strerror(errno));
    if (spec->vcpus < 1 || spec->vcpus > spec->vcpus_max)
        return xerr_internal("VM %s: %u vcpus of at most %u", spec->uuid ? spec->uuid : "",
                             spec->vcpus, spec->vcpus_max);
    if (spec->memory_target < 1024 * 1024 ||
        (spec->memory_static_max && spec->memory_target > spec->memory_static_max))
        return xerr_internal("VM %s: memory target %" PRIu64 " outside 1 MiB..static max %" PRIu64,
                             spec->uuid ? spec->uuid : "", spec->memory_target,
                             spec->memory_static_max);
    return NULL;
}

/* A refusal the caller can act on, before anything is created. */
static xerr *check_free_memory(struct xc_state *st, uint64_t need_kib)
{
    xc_physinfo_t pi = {0};
    if (xc_physinfo(st->xch, &pi) != 0)
        return NULL;  /* the build itself will say what is wrong */
    uint64_t free_kib = (uint64_t)pi.free_pages * (XC_PAGE_SIZE / 1024);
    if (free_kib >= need_kib)
        return NULL;
    char need[32], avail[32];
    snprintf(need, sizeof(need), "%" PRIu64, need_kib * 1024);
    snprintf(avail, sizeof(avail), "%" PRIu64, free_kib * 1024);
    return xerr_new("HOST_NOT_ENOUGH_FREE_MEMORY", need, avail, NULL);
}

/* Load the kernel and ramdisk into the (created, sized) domain and set up its
 * start info, page tables, vcpu 0 and the seeded grant table. */
static xerr *build_image(struct xc_state *st, uint32_t domid, const struct hv_domain_spec *spec,
                         struct hv_build *out, uint32_t store_domid, uint32_t console_domid)
{
    const char *cmdline = spec->cmdline ? spec->cmdline : "";
    struct xc_dom_image *dom = xc_dom_allocate(st->xch, cmdline, NULL);
    if (!dom)
        return xc_fail(st, "xc_dom_allocate", domid);
    xerr *e = NULL;
    dom->container_type = XC_DOM_PV_CONTAINER;
#define STEP(call, what)                                                                        \
    do {                                                                                        \
        if ((call) != 0) {                                                                      \
            e = xc_fail(st, what, domid);                                                       \
            goto out;                                                                           \
        }                                                                                       \
    } while (0)
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

    STEP(xc_dom_boot_xen_init(dom, st->xch, domid), "xc_dom_boot_xen_init");
    STEP(xc_dom_parse_image(dom), "parsing the kernel image");
    STEP(xc_dom_mem_init(dom, (unsigned)(spec->memory_target >> 20)), "xc_dom_mem_init");
    STEP(xc_dom_boot_mem_init(dom), "allocating the domain's memory");
    STEP(xc_dom_build_image(dom), "xc_dom_build_image");
    STEP(xc_dom_boot_image(dom), "xc_dom_boot_image");
    /* Grants the store and console pages to xenstored and xenconsoled, so they
     * map the rings by grant rather than by foreign mapping. */
    STEP(xc_dom_gnttab_init(dom), "seeding the grant table");
#undef STEP
    out->store_mfn = xc_dom_p2m(dom, dom->xenstore_pfn);
    out->console_mfn = xc_dom_p2m(dom, dom->console_pfn);
out:
    xc_dom_release(dom);
    return e;
}

static xerr *xc_build(void *state, const struct hv_domain_spec *spec, struct hv_build *out)
{
    struct xc_state *st = state;
    xc_clear_last_error(st->xch);
    xerr *e = check_spec(st, spec);
    if (e)
        return e;
    uint64_t target_kib = spec->memory_target / 1024;
    uint64_t static_max_kib = spec->memory_static_max ? spec->memory_static_max / 1024 : target_kib;
    e = check_free_memory(st, target_kib + MAXMEM_SLACK_KIB);
    if (e)
        return e;

    double t0 = now_monotonic();
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
    uuid_to_handle(spec->uuid, cfg.handle);
    uint32_t domid = 0;  /* 0: Xen picks the next free id */
    if (xc_domain_create(st->xch, &domid, &cfg) != 0)
        return xc_fail(st, "xc_domain_create", 0);
    out->domid = domid;

#define STEP(call, what)                                                                        \
    do {                                                                                        \
        if ((call) != 0) {                                                                      \
            e = xc_fail(st, what, domid);                                                       \
            goto fail;                                                                          \
        }                                                                                       \
    } while (0)
    STEP(xc_domain_max_vcpus(st->xch, domid, spec->vcpus_max), "xc_domain_max_vcpus");
    /* The guest may not populate more than its target; raising it later is the
     * toolstack's decision (a memory target change), as with libxl. */
    STEP(xc_domain_setmaxmem(st->xch, domid, target_kib + MAXMEM_SLACK_KIB), "xc_domain_setmaxmem");
    /* The guest's e820 covers static-max so a balloon driver can grow into it. */
    STEP(xc_domain_set_memmap_limit(st->xch, domid, static_max_kib), "xc_domain_set_memmap_limit");

    uint32_t store_domid, console_domid;
    service_domids(&store_domid, &console_domid);
    int port = xc_evtchn_alloc_unbound(st->xch, domid, store_domid);
    if (port < 0) {
        e = xc_fail(st, "allocating the xenstore event channel", domid);
        goto fail;
    }
    out->store_evtchn = (uint32_t)port;
    port = xc_evtchn_alloc_unbound(st->xch, domid, console_domid);
    if (port < 0) {
        e = xc_fail(st, "allocating the console event channel", domid);
        goto fail;
    }
    out->console_evtchn = (uint32_t)port;

    STEP(xc_domain_set_tsc_info(st->xch, domid, TSC_MODE_DEFAULT, 0, 0, 0),
         "xc_domain_set_tsc_info");
    /* The default CPUID policy for a new PV guest (PAE on, no invariant TSC),
     * what libxl applies when the VM asks for nothing special. */
    STEP(xc_cpuid_apply_policy(st->xch, domid, false, NULL, 0, true, false, false, NULL, NULL),
         "xc_cpuid_apply_policy");
#undef STEP
    double t1 = now_monotonic();

    e = build_image(st, domid, spec, out, store_domid, console_domid);
    if (e)
        goto fail;
    if (out->store_mfn == INVALID_MFN || out->console_mfn == INVALID_MFN) {
        e = xerr_internal("domain %" PRIu32 ": the store or console page has no frame", domid);
        goto fail;
    }
    log_debug("built PV domain %" PRIu32 " (%s): create %.3fs, image %.3fs, store mfn %" PRIu64
              " port %" PRIu32 ", console mfn %" PRIu64 " port %" PRIu32,
              domid, spec->uuid, t1 - t0, now_monotonic() - t1, out->store_mfn, out->store_evtchn,
              out->console_mfn, out->console_evtchn);
    /* Domains are created paused; hv.c unpauses once xenstore knows it. */
    return NULL;

fail:
    if (destroy_domain(st->xch, domid) != 0)
        log_error("domain %" PRIu32 " is left behind after a failed build: %s", domid,
                  strerror(errno));
    return e;
}

/* ---- lifecycle ---- */

static xerr *xc_pause(void *state, uint32_t domid)
{
    struct xc_state *st = state;
    xc_clear_last_error(st->xch);
    if (xc_domain_pause(st->xch, domid) != 0)
        return xc_fail(st, "xc_domain_pause", domid);
    return NULL;
}

static xerr *xc_unpause(void *state, uint32_t domid)
{
    struct xc_state *st = state;
    xc_clear_last_error(st->xch);
    if (xc_domain_unpause(st->xch, domid) != 0)
        return xc_fail(st, "xc_domain_unpause", domid);
    return NULL;
}

static xerr *xc_destroy(void *state, uint32_t domid)
{
    struct xc_state *st = state;
    if (domid == 0)
        return xerr_internal("refusing to destroy domain 0");
    /* Stop the vcpus first, as libxl does, so the guest does nothing more while
     * its resources go; a domain that is already dying refuses the pause. */
    xc_domain_pause(st->xch, domid);
    xc_clear_last_error(st->xch);
    if (destroy_domain(st->xch, domid) != 0)
        return xc_fail(st, "xc_domain_destroy", domid);
    return NULL;
}

static xerr *xc_list(void *state, struct hv_domain_info **out, size_t *n)
{
    struct xc_state *st = state;
    xc_clear_last_error(st->xch);
    enum { CHUNK = 256 };
    xc_domaininfo_t *chunk = xcalloc(CHUNK, sizeof(*chunk));
    struct hv_domain_info *all = NULL;
    size_t count = 0, cap = 0;
    uint32_t next = 0;
    for (;;) {
        int got = xc_domain_getinfolist(st->xch, next, CHUNK, chunk);
        if (got < 0) {
            xerr *e = xc_fail(st, "xc_domain_getinfolist", next);
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

/* One call into libxenctrl at a time.  The handle is shared by the API, task and
 * monitor threads, and it keeps per-handle state (the last error we read right
 * after a call, the domain builder's work for seconds): serialising the backend
 * costs nothing next to a domain build. */
static pthread_mutex_t xc_lock = PTHREAD_MUTEX_INITIALIZER;

static xerr *locked_host_info(void *state, struct hv_host_info *out)
{
    pthread_mutex_lock(&xc_lock);
    xerr *e = xc_host_info(state, out);
    pthread_mutex_unlock(&xc_lock);
    return e;
}

static xerr *locked_build(void *state, const struct hv_domain_spec *spec, struct hv_build *out)
{
    pthread_mutex_lock(&xc_lock);
    xerr *e = xc_build(state, spec, out);
    pthread_mutex_unlock(&xc_lock);
    return e;
}

static xerr *locked_domid_op(xerr *(*op)(void *, uint32_t), void *state, uint32_t domid)
{
    pthread_mutex_lock(&xc_lock);
    xerr *e = op(state, domid);
    pthread_mutex_unlock(&xc_lock);
    return e;
}

static xerr *locked_pause(void *state, uint32_t domid)
{
    return locked_domid_op(xc_pause, state, domid);
}

static xerr *locked_unpause(void *state, uint32_t domid)
{
    return locked_domid_op(xc_unpause, state, domid);
}

static xerr *locked_destroy(void *state, uint32_t domid)
{
    return locked_domid_op(xc_destroy, state, domid);
}

static xerr *locked_list(void *state, struct hv_domain_info **out, size_t *n)
{
    pthread_mutex_lock(&xc_lock);
    xerr *e = xc_list(state, out, n);
    pthread_mutex_unlock(&xc_lock);
    return e;
}

const struct hv_backend_ops hv_xc_ops = {
    .name = "xc",
    .open = xc_open,
    .close = xc_close,
    .xenstore_path = xc_xenstore_path,
    .host_info = locked_host_info,
    .build = locked_build,
    .pause = locked_pause,
    .unpause = locked_unpause,
    .destroy = locked_destroy,
    .list = locked_list,
};
