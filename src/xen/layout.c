/* The domain's layout: its xenstore tree and its device model's command line, pure
 * functions of the spec (which the VM module makes from the VM's record and its
 * virtual hardware), so that tests compare them with golden files. */
#include "backend.h"
#include "util.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct list {
    uint32_t domid;
    struct hv_xs_node *v;
    size_t n;
};

static void add(struct list *l, const char *rel, const char *value, bool guest)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    struct hv_xs_node *x = &l->v[l->n++];
    x->path = rel[0] == '/' ? xstrdup(rel)
              : rel[0]      ? xasprintf("/local/domain/%" PRIu32 "/%s", l->domid, rel)
                            : xasprintf("/local/domain/%" PRIu32, l->domid);
    x->value = xstrdup(value);
    x->guest_owned = guest;
}

static void node(struct list *l, const char *rel, const char *value)
{
    add(l, rel, value, false);
}

static void node_rw(struct list *l, const char *rel, const char *value)
{
    add(l, rel, value, true);
}

void hv_xs_nodes_free(struct hv_xs_node *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].path);
        free(v[i].value);
    }
    free(v);
}

/* The layout a toolstack writes for a new domain.  The guest may read its whole
 * tree but write only where its drivers and agents report to us: control/shutdown
 * (to acknowledge), control/feature-*, data, attr, drivers, feature, error. */
struct hv_xs_node *hv_domain_tree(uint32_t domid, const struct hv_domain_spec *spec, const struct hv_rings *r,
                                  size_t *count)
{
    /* k holds the fixed keys below ("cpu/<n>/availability", "/vm/<uuid>/image/..."),
     * v a number: none can be cut */
    char v[64], k[160], vmpath[64];
    struct list l = {domid, NULL, 0};
    snprintf(vmpath, sizeof(vmpath), "/vm/%s", spec->uuid);

    node(&l, "", "");
    node(&l, "name", spec->name);
    snprintf(v, sizeof(v), "%" PRIu32, domid);
    node(&l, "domid", v);
    node(&l, "vm", vmpath);
    for (unsigned i = 0; i < spec->vcpus_max; i++) {
        snprintf(k, sizeof(k), "cpu/%u/availability", i);
        node(&l, k, i < spec->vcpus ? "online" : "offline");
    }
    snprintf(v, sizeof(v), "%" PRIu64, spec->memory_static_max / 1024);
    node(&l, "memory/static-max", v);
    snprintf(v, sizeof(v), "%" PRIu64, spec->memory_target / 1024);
    node(&l, "memory/target", v);
    if (spec->hvm) {
        /* KiB, as libxl writes it; the size is the VM's hardware's (VGA memory) */
        snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)spec->videoram_mib * 1024);
        node(&l, "memory/videoram", v);
    }

    node(&l, "control", "");
    node_rw(&l, "control/shutdown", "");
    node_rw(&l, "control/feature-poweroff", "");
    node_rw(&l, "control/feature-reboot", "");
    node_rw(&l, "control/feature-suspend", "");
    node_rw(&l, "control/sysrq", "");
    node(&l, "control/platform-feature-multiprocessor-suspend", "1");
    node(&l, "control/platform-feature-xs_reset_watches", "1");
    /* The flag the guest's drivers read to know the vendor device is there; it is
     * written on every build so that it always says what this domain was given. */
    node(&l, "control/has-vendor-device", spec->has_vendor_device ? "1" : "0");

    node_rw(&l, "data", "");
    node_rw(&l, "attr", "");
    node_rw(&l, "drivers", "");
    node_rw(&l, "feature", "");
    node_rw(&l, "error", "");
    node(&l, "device", "");
    node_rw(&l, "device/suspend/event-channel", "");

    snprintf(v, sizeof(v), "%" PRIu32, r->store_port);
    node(&l, "store/port", v);
    snprintf(v, sizeof(v), "%" PRIu64, r->store_ref);
    node(&l, "store/ring-ref", v);
    snprintf(v, sizeof(v), "%" PRIu32, r->console_port);
    node(&l, "console/port", v);
    snprintf(v, sizeof(v), "%" PRIu64, r->console_ref);
    node(&l, "console/ring-ref", v);
    node(&l, "console/limit", "1048576");
    node(&l, "console/type", "xenconsoled");
    node(&l, "console/output", "pty");
    node_rw(&l, "console/tty", "");

    if (spec->hvm) {
        /* What hvmloader reads before it hands over to the BIOS: which BIOS the
         * toolstack loaded (SeaBIOS, for qemu-xen), and that it may not move RAM
         * from under the MMIO hole (qemu-xen cannot follow; libxl writes 0). */
        node(&l, "hvmloader", "");
        node(&l, "hvmloader/bios", "seabios");
        node(&l, "hvmloader/allow-memory-relocate", "0");
    }

    node(&l, "platform", "");
    for (size_t i = 0; i < spec->nplatform; i++) {
        /* keys come from the VM record: keep them to one path component */
        if (!spec->platform_keys[i][0] || strpbrk(spec->platform_keys[i], "/@"))
            continue;
        _cleanup_free_ char *pk = xasprintf("platform/%s", spec->platform_keys[i]);
        node(&l, pk, spec->platform_values[i]);
    }

    node(&l, vmpath, "");
    snprintf(k, sizeof(k), "%s/uuid", vmpath);
    node(&l, k, spec->uuid);
    snprintf(k, sizeof(k), "%s/name", vmpath);
    node(&l, k, spec->name);
    snprintf(k, sizeof(k), "%s/image/ostype", vmpath);
    node(&l, k, spec->hvm ? "hvm" : "linux");  /* Xen's words (libxl's), not domain_type's */
    if (!spec->hvm) {
        snprintf(k, sizeof(k), "%s/image/kernel", vmpath);
        node(&l, k, spec->kernel ? spec->kernel : "");
        snprintf(k, sizeof(k), "%s/image/ramdisk", vmpath);
        node(&l, k, spec->ramdisk ? spec->ramdisk : "");
        snprintf(k, sizeof(k), "%s/image/cmdline", vmpath);
        node(&l, k, spec->cmdline ? spec->cmdline : "");
    }
    *count = l.n;
    return l.v;
}


/* The qemu command line for an HVM guest, as a toolstack builds it for Xen's
 * device model: how it is reached and sized here, its machine type and devices from
 * the VM's hardware (the registry's entry for its version), each device at the
 * fixed slot that entry gives it. */
char **hv_dm_argv(uint32_t domid, const struct hv_domain_spec *spec)
{
    size_t ndev = 0;
    while (spec->dm_devices && spec->dm_devices[ndev])
        ndev++;
    /* the fixed arguments below (34 with a kernel) and the hardware's */
    const size_t DM_ARGV_SLOTS = 40 + ndev;
    char **argv = xcalloc(DM_ARGV_SLOTS, sizeof(char *));
    size_t n = 0;
    /* the last slot stays NULL */
#define ARG(...) (assert(n < DM_ARGV_SLOTS - 1), argv[n++] = xasprintf(__VA_ARGS__))
    /* where Debian's qemu-system-xen installs the device model libxl starts */
    ARG("/usr/libexec/xen-qemu-system-i386");
    ARG("-xen-domid");
    ARG("%" PRIu32, domid);
    ARG("-chardev");
    ARG("socket,id=qmp,path=/run/xen/qmp-xenapid-%" PRIu32 ",server=on,wait=off", domid);
    ARG("-mon");
    ARG("chardev=qmp,mode=control");
    ARG("-nodefaults");
    ARG("-no-user-config");
    ARG("-name");
    ARG("%s", spec->name);
    ARG("-machine");
    ARG("%s", spec->machine ? spec->machine : "");
    ARG("-m");
    ARG("%" PRIu64, spec->memory_static_max / (1024 * 1024));
    ARG("-smp");
    ARG("%u,maxcpus=%u", spec->vcpus, spec->vcpus_max);
    ARG("-display");
    ARG("none");
    ARG("-vnc");
    ARG("127.0.0.1:%" PRIu32 ",to=99", domid);
    ARG("-serial");
    ARG("pty");
    for (size_t i = 0; i < ndev; i++)
        ARG("%s", spec->dm_devices[i]);
    ARG("-boot");
    ARG("order=cd");
    ARG("-net");
    ARG("none");
    if (spec->kernel && *spec->kernel) {
        /* direct kernel boot (PV_kernel of an HVM VM): qemu loads it through its
         * option ROM, as libxl's kernel= does for an HVM guest */
        ARG("-kernel");
        ARG("%s", spec->kernel);
        if (spec->ramdisk && *spec->ramdisk) {
            ARG("-initrd");
            ARG("%s", spec->ramdisk);
        }
        ARG("-append");
        ARG("%s", spec->cmdline ? spec->cmdline : "");
    }
#undef ARG
    argv[n] = NULL;
    return argv;
}

