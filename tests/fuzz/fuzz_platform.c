/* The platform registry (src/platform, etc/platform.xml).  The input's first line is the
 * offered versions (virtual-hardware-platform-versions), the rest the registry.  Each
 * version's hardware is resolved for an HVM and a PV VM with platform keys, and the
 * pinned form read back as a VM's virtual_hardware.  The registry is parsed from memory
 * (platform_load_text, what platform_load calls on the file's bytes).  State across
 * inputs: only the VM record made once, read, never changed. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "platform.h"

static xv *vm_record;

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void hardware(const struct platform *p, int64_t version, bool hvm, const char *pin)
{
    xv *r = xv_dup(vm_record);
    xv_struct_set(r, "hardware_platform_version", xv_int(version));
    xv_struct_set(r, "virtual_hardware", xv_string(pin ? pin : ""));
    struct vhw *h = NULL;
    xerr *e = platform_hardware(p, r, hvm, &h);
    if (e) {
        free(xerr_str(e));
        xerr_free(e);
    } else {
        free(vhw_xml(h));
        free(vhw_pci_inventory(h));
        strv_free(vhw_dm_args(h));
        const char *const *k, *const *v;
        (void)vhw_platform(h, &k, &v);
        char *again = vhw_pin_xml(h);
        if (!pin)
            hardware(p, version, hvm, again);
        free(again);
        vhw_free(h);
    }
    xv_free(r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    /* a VM using what the registry's features are about */
    vm_record = xv_struct();
    xv_struct_append(vm_record, "has_vendor_device", xv_bool(true));
    xv_struct_append(vm_record, "hardware_platform_version", xv_int(0));
    xv *pl = xv_struct();
    xv_struct_append(pl, "vga", xv_string("cirrus"));
    xv_struct_append(pl, "videoram", xv_string("16"));
    xv_struct_append(pl, "viridian", xv_string("true"));
    xv_struct_append(vm_record, "platform", pl);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char *offered = fuzz_cstr(data, first);
    size_t rest = nl ? size - first - 1 : 0;
    struct platform *p = NULL;
    xerr *e = platform_load_text("platform.xml", (const char *)(nl ? nl + 1 : data), rest, offered, &p);
    if (e) {
        free(xerr_str(e));
        xerr_free(e);
    } else {
        xv *versions = platform_offered(p);
        free(platform_format_versions(versions));
        (void)platform_feature_requires(p, "vendor-device");
        int64_t needed = platform_version_needed(p, vm_record);
        (void)platform_raise(p, vm_record, needed);
        (void)platform_host_offers(versions, needed);
        free(platform_capabilities_xml(p, "3f1b8c2e-5d7a-4e0b-9c61-2a4f8e9d0b13"));
        for (int64_t v = 0; v < 4; v++) {
            hardware(p, v, true, NULL);
            hardware(p, v, false, NULL);
        }
        xv_free(versions);
        platform_free(p);
    }
    free(offered);
    return 0;
}
