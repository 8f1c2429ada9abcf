/* The platform registry (src/platform, etc/platform.xml).  The input's first line is the
 * offered versions (virtual-hardware-platform-versions), the rest the registry. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "platform.h"

static xv *vm_record;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    /* a VM using what the registry's features are about */
    vm_record = xv_struct();
    xv_struct_append(vm_record, "has_vendor_device", xv_bool(true));
    xv_struct_append(vm_record, "hardware_platform_version", xv_int(0));
    xv_struct_append(vm_record, "platform", xv_struct());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - data) : size;
    char *offered = fuzz_cstr(data, first);
    size_t rest = nl ? size - first - 1 : 0;
    char *path = fuzz_write_file("platform.xml", nl ? nl + 1 : data, rest);
    struct platform *p = NULL;
    xerr *e = platform_load(path, offered, &p);
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
        xv_free(versions);
        platform_free(p);
    }
    free(path);
    free(offered);
    return 0;
}
