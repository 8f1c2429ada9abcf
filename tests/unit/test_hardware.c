/* The virtual hardware a VM is given, against golden files (tests/golden/platform/,
 * format in its README): for every version of the shipped registry and of the
 * upgrade test's registry (the shipped one plus a version 2), for a representative
 * set of VMs, the device model's argv, the xenstore tree, VM.get_virtual_hardware's
 * document and the guest's PCI inventory, compared byte for byte; and the
 * capabilities document of each registry.  The upgrade: every file of versions 0
 * and 1 is the same under both registries.  Pinning: a VM pinned under one entry
 * keeps it whatever the registry says.  The platform keys' checks.
 *
 * XENAPID_GOLDEN=update rewrites the golden files instead (make golden). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/vm/vm_int.h"
#include "unit.h"

#define GOLDEN "tests/golden/platform"
#define UUID "6b1c4f2e-3a5d-4e8f-9b7a-0c1d2e3f4a5b"
#define HOST_UUID "0f1e2d3c-4b5a-4968-8776-655443322110"
#define DOMID 7

static bool updating(void)
{
    const char *g = getenv("XENAPID_GOLDEN");
    return g && strcmp(g, "update") == 0;
}

/* Compare text with the golden file, or write it when updating. */
static void golden(const char *name, const char *text)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", GOLDEN, name);
    if (updating()) {
        _cleanup_free_ char *dir = xstrdup(path);
        *strrchr(dir, '/') = 0;
        mkdir(dir, 0755);
        FILE *f = fopen(path, "w");
        ck_assert_msg(f != NULL, "cannot write %s", path);
        fputs(text, f);
        ck_assert_int_eq(fclose(f), 0);
        return;
    }
    char *want = read_file(path, NULL);
    ck_assert_msg(want != NULL, "no golden file %s: make golden writes it", path);
    if (strcmp(want, text) != 0)
        fprintf(stderr, "--- %s now:\n%s", path, text);  /* Check's messages are short */
    ck_assert_msg(strcmp(want, text) == 0, "%s differs from what the daemon makes now (make golden rewrites it)",
                  path);
    free(want);
}

static struct platform *load(const char *registry)
{
    struct platform *p = NULL;
    xerr *e = platform_load(registry, "0,1", &p);
    ck_assert_msg(e == NULL, "cannot load %s: %s", registry, e && e->nparams ? e->params[0] : "");
    return p;
}

struct vm_case {
    const char *name;
    bool hvm, vendor;
    const char *const *platform;   /* key, value, ..., NULL */
};

static const char *const keys_none[] = {NULL};
static const char *const keys_some[] = {"viridian", "true", "vga", "cirrus", "videoram", "16", "nic_type", "e1000",
                                        "hpet", "false", "timeoffset", "3600", NULL};

static const struct vm_case cases[] = {
    {"pv", false, false, keys_none},
    {"hvm", true, false, keys_none},
    {"hvm-vendor", true, true, keys_none},
    {"hvm-keys", true, false, keys_some},
    {"hvm-vendor-keys", true, true, keys_some},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static xv *record(const struct vm_case *c, int64_t version, const char *pin)
{
    xv *r = xv_struct();
    xv_struct_append(r, "uuid", xv_string(UUID));
    xv_struct_append(r, "name_label", xv_string(c->name));
    xv_struct_append(r, "memory_static_max", xv_int(1LL << 30));
    xv_struct_append(r, "memory_dynamic_max", xv_int(512LL << 20));
    xv_struct_append(r, "VCPUs_max", xv_int(4));
    xv_struct_append(r, "VCPUs_at_startup", xv_int(2));
    xv_struct_append(r, "domain_type", xv_string(c->hvm ? "hvm" : "pv"));
    xv_struct_append(r, "PV_kernel", xv_string(c->hvm ? "" : "/boot/vmlinuz-guest"));
    xv_struct_append(r, "PV_ramdisk", xv_string(""));
    xv_struct_append(r, "PV_args", xv_string(c->hvm ? "" : "console=hvc0"));
    xv_struct_append(r, "has_vendor_device", xv_bool(c->vendor));
    xv_struct_append(r, "hardware_platform_version", xv_int(version));
    xv_struct_append(r, "virtual_hardware", xv_string(pin ? pin : ""));
    xv *pl = xv_struct();
    for (size_t i = 0; c->platform[i]; i += 2)
        xv_struct_append(pl, c->platform[i], xv_string(c->platform[i + 1]));
    xv_struct_append(r, "platform", pl);
    return r;
}

static char *argv_text(char **argv)
{
    buf b;
    buf_init(&b);
    for (size_t i = 0; argv && argv[i]; i++)
        buf_printf(&b, "%s\n", argv[i]);
    return buf_steal(&b);
}

static char *tree_text(const struct hv_domain_spec *spec)
{
    struct hv_rings r = {1, 0xfeffc, 2, 0xfeffd};
    size_t n = 0;
    struct hv_xs_node *nodes = hv_domain_tree(DOMID, spec, &r, &n);
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s = \"%s\"%s\n", nodes[i].path, nodes[i].value, nodes[i].guest_owned ? " (guest)" : "");
    hv_xs_nodes_free(nodes, n);
    return buf_steal(&b);
}

/* Everything a VM is given, as the four texts the golden files hold. */
struct made {
    char *argv, *tree, *hw, *pci, *pin;
};

static void made_free(struct made *m)
{
    free(m->argv);
    free(m->tree);
    free(m->hw);
    free(m->pci);
    free(m->pin);
}

static xerr *make(const struct platform *p, const struct vm_case *c, int64_t version, const char *pin, struct made *m)
{
    memset(m, 0, sizeof(*m));
    xv *rec = record(c, version, pin);
    struct hv_domain_spec spec;
    struct vhw *hw = NULL;
    xerr *e = vm_domain_spec(p, rec, &spec, &hw);
    if (!e) {
        char **argv = spec.hvm ? hv_dm_argv(DOMID, &spec) : NULL;
        m->argv = argv_text(argv);
        hv_strv_free(argv);
        m->tree = tree_text(&spec);
        m->hw = vhw_xml(hw);
        m->pci = vhw_pci_inventory(hw);
        m->pin = vhw_pin_xml(hw);
    }
    spec_free(&spec);
    vhw_free(hw);
    xv_free(rec);
    return e;
}

static bool version_has_vendor_device(const struct platform *p, int64_t v)
{
    _cleanup_free_ char *pin = platform_version_pin_xml(p, v);
    return pin && strstr(pin, "when=\"has_vendor_device\"");
}

static void golden_registry(const char *registry, const char *tag, int64_t maxversion)
{
    struct platform *p = load(registry);
    _cleanup_free_ char *caps = platform_capabilities_xml(p, HOST_UUID);
    _cleanup_free_ char *cname = xasprintf("%s/capabilities.xml", tag);
    golden(cname, caps);
    for (int64_t v = 0; v <= maxversion; v++) {
        for (size_t i = 0; i < NCASES; i++) {
            const struct vm_case *c = &cases[i];
            if (c->vendor && !version_has_vendor_device(p, v))
                continue;
            struct made m;
            xerr *e = make(p, c, v, NULL, &m);
            ck_assert_msg(e == NULL, "%s version %lld %s: %s %s", tag, (long long)v, c->name, e ? e->code : "",
                          e && e->nparams ? e->params[e->nparams - 1] : "");
            const char *what[] = {"argv", "xenstore", "hw.xml", "pci"};
            const char *text[] = {m.argv, m.tree, m.hw, m.pci};
            for (size_t k = 0; k < 4; k++) {
                if (!c->hvm && (k == 0 || k == 3))
                    continue; /* no device model, no emulated PCI bus */
                _cleanup_free_ char *name = xasprintf("%s/v%lld-%s.%s", tag, (long long)v, c->name, what[k]);
                golden(name, text[k]);
            }
            made_free(&m);
        }
    }
    platform_free(p);
}

START_TEST(test_golden_shipped)
{
    golden_registry("etc/platform.xml", "shipped", 1);
}
END_TEST

START_TEST(test_golden_upgrade)
{
    golden_registry(GOLDEN "/registry-upgrade.xml", "upgrade", 2);
}
END_TEST

/* The upgrade: a registry that gains version 2 gives every VM of versions 0 and 1
 * byte for byte what it gave before, and a VM of version 2 other hardware. */
START_TEST(test_upgrade_keeps_versions_0_and_1)
{
    struct platform *before = load("etc/platform.xml"), *after = load(GOLDEN "/registry-upgrade.xml");
    for (int64_t v = 0; v <= 1; v++) {
        for (size_t i = 0; i < NCASES; i++) {
            if (cases[i].vendor && !version_has_vendor_device(before, v))
                continue;
            struct made a, b;
            ck_assert_ptr_null(make(before, &cases[i], v, NULL, &a));
            ck_assert_ptr_null(make(after, &cases[i], v, NULL, &b));
            ck_assert_str_eq(a.argv, b.argv);
            ck_assert_str_eq(a.tree, b.tree);
            ck_assert_str_eq(a.hw, b.hw);
            ck_assert_str_eq(a.pci, b.pci);
            made_free(&a);
            made_free(&b);
        }
    }
    struct made v1, v2;
    ck_assert_ptr_null(make(after, &cases[2], 1, NULL, &v1));
    ck_assert_ptr_null(make(after, &cases[2], 2, NULL, &v2));
    ck_assert_ptr_nonnull(strstr(v1.argv, "-machine\nxenfv-3.1\n"));
    ck_assert_ptr_nonnull(strstr(v2.argv, "-machine\nxenfv-4.2\n"));
    ck_assert_ptr_nonnull(strstr(v1.argv, "xen-pvdevice,device-id=0xc000,addr=0x4\n"));
    ck_assert_ptr_nonnull(strstr(v2.argv, "xen-pvdevice,device-id=0xc000,addr=0xd\n"));
    ck_assert_ptr_nonnull(strstr(v2.argv, "-usb\n-device\nusb-tablet\n"));
    ck_assert_ptr_null(strstr(v1.argv, "usb"));
    ck_assert_ptr_nonnull(strstr(v2.pci, "00:0d.0 5853:c000\n"));
    ck_assert_ptr_nonnull(strstr(v1.pci, "00:04.0 5853:c000\n"));
    made_free(&v1);
    made_free(&v2);
    platform_free(before);
    platform_free(after);
}
END_TEST

/* Pinned at first start: a VM pinned under the shipped version 1 gets the same
 * hardware from a registry whose version 1 says otherwise; an unpinned one follows
 * the registry; a raised version is repinned. */
START_TEST(test_pinned_hardware_ignores_registry_edits)
{
    char tmp[64];
    unit_tmpdir(tmp, sizeof(tmp), "hwtest");
    struct platform *shipped = load("etc/platform.xml");
    _cleanup_free_ char *text = unit_slurp("etc/platform.xml");
    /* the edit: version 1's VGA memory default and the vendor device's slot */
    char *edited = xstrdup(text);
    char *p1 = strstr(edited, "<version number=\"1\"");
    ck_assert_ptr_nonnull(p1);
    char *mem = strstr(p1, "key=\"videoram\" type=\"int\" min=\"1\" max=\"16\" default=\"8\"");
    ck_assert_ptr_nonnull(mem);
    memcpy(strstr(mem, "default=\"8\"") + 9, "9", 1);
    char *slot = strstr(p1, "slot=\"00:04.0\"");
    ck_assert_ptr_nonnull(slot);
    memcpy(slot + 10, "6", 1);
    _cleanup_free_ char *path = xasprintf("%s/edited.xml", tmp);
    FILE *f = fopen(path, "w");
    fputs(edited, f);
    fclose(f);
    free(edited);
    struct platform *changed = load(path);

    struct made first, again, unpinned;
    ck_assert_ptr_null(make(shipped, &cases[2], 1, NULL, &first));
    ck_assert_ptr_null(make(changed, &cases[2], 1, first.pin, &again));
    ck_assert_str_eq(first.argv, again.argv);
    ck_assert_str_eq(first.tree, again.tree);
    ck_assert_str_eq(first.pci, again.pci);
    ck_assert_str_eq(first.pin, again.pin);
    ck_assert_ptr_nonnull(strstr(again.hw, "pinned=\"yes\""));
    ck_assert_ptr_null(make(changed, &cases[2], 1, NULL, &unpinned));
    ck_assert_ptr_nonnull(strstr(unpinned.argv, "VGA,vgamem_mb=9,addr=0x3\n"));
    ck_assert_ptr_nonnull(strstr(unpinned.argv, "xen-pvdevice,device-id=0xc000,addr=0x6\n"));
    ck_assert_ptr_nonnull(strstr(unpinned.hw, "pinned=\"no\""));
    made_free(&again);
    made_free(&unpinned);
    /* version raised from the pinned 0 to 1: the new version's entry */
    struct made v0, raised;
    ck_assert_ptr_null(make(shipped, &cases[1], 0, NULL, &v0));
    ck_assert_ptr_null(make(shipped, &cases[2], 1, v0.pin, &raised));
    ck_assert_ptr_nonnull(strstr(raised.pin, "<version number=\"1\">"));
    ck_assert_ptr_nonnull(strstr(raised.argv, "xen-pvdevice"));
    made_free(&v0);
    made_free(&raised);
    made_free(&first);
    platform_free(shipped);
    platform_free(changed);
    unit_tmpdir_remove(tmp);
}
END_TEST

/* xapi's platform keys, checked against what the version allows. */
START_TEST(test_platform_keys_checked)
{
    struct platform *p = load(GOLDEN "/registry-upgrade.xml");
    struct {
        const char *key, *value;
        int64_t version;
        bool ok;
    } t[] = {
        {"device_id", "0001", 0, true},  {"device_id", "0002", 1, false}, {"vga", "std", 0, true},
        {"vga", "qxl", 0, false},        {"videoram", "16", 1, true},     {"videoram", "17", 1, false},
        {"videoram", "0", 1, false},     {"videoram", "8MB", 1, false},   {"nic_type", "e1000", 0, true},
        {"nic_type", "virtio", 1, false}, {"nic_type", "virtio", 2, true}, {"viridian", "true", 0, true},
        {"viridian", "maybe", 0, false}, {"hpet", "0", 1, true},          {"acpi", "yes", 1, true},
        {"anything-else", "is passed on", 0, true},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        const char *const kv[] = {t[i].key, t[i].value, NULL};
        struct vm_case c = {"keys", true, false, kv};
        struct made m;
        xerr *e = make(p, &c, t[i].version, NULL, &m);
        if (t[i].ok) {
            ck_assert_msg(e == NULL, "platform:%s=%s refused at version %lld", t[i].key, t[i].value,
                          (long long)t[i].version);
            made_free(&m);
        } else {
            ck_assert_msg(e != NULL, "platform:%s=%s accepted at version %lld", t[i].key, t[i].value,
                          (long long)t[i].version);
            ck_assert_str_eq(e->code, "INVALID_VALUE");
            ck_assert_uint_eq(e->nparams, 2);
            _cleanup_free_ char *name = xasprintf("platform:%s", t[i].key);
            ck_assert_str_eq(e->params[0], name);
            ck_assert_str_eq(e->params[1], t[i].value);
            xerr_free(e);
        }
    }
    /* a PV VM has no emulated hardware: its keys are not HVM settings */
    const char *const kv[] = {"videoram", "99", NULL};
    struct vm_case pv = {"pv", false, false, kv};
    struct made m;
    ck_assert_ptr_null(make(p, &pv, 0, NULL, &m));
    ck_assert_ptr_nonnull(strstr(m.tree, "/platform/videoram = \"99\"\n"));
    made_free(&m);
    platform_free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hardware");
    TCase *tc = tcase_create("hardware");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_golden_shipped);
    tcase_add_test(tc, test_golden_upgrade);
    tcase_add_test(tc, test_upgrade_keeps_versions_0_and_1);
    tcase_add_test(tc, test_pinned_hardware_ignores_registry_edits);
    tcase_add_test(tc, test_platform_keys_checked);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
