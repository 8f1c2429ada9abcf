/* get_all_records_where expressions (src/api/filter.c), as a client sends them, against
 * a VM record and an empty one. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_int.h"

static xv *vm_record;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    vm_record = xv_struct();
    xv_struct_append(vm_record, "uuid", xv_string("3f1b8c2e-5d7a-4e0b-9c61-2a4f8e9d0b13"));
    xv_struct_append(vm_record, "name_label", xv_string("where \"me\""));
    xv_struct_append(vm_record, "power_state", xv_string("Halted"));
    xv_struct_append(vm_record, "is_a_template", xv_bool(false));
    xv_struct_append(vm_record, "VCPUs_max", xv_int(3));
    xv_struct_append(vm_record, "other_config", xv_struct());
    xv_struct_append(vm_record, "tags", xv_array());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    xv *empty = xv_struct();
    const xv *records[] = {vm_record, empty};
    for (size_t i = 0; i < 2; i++) {
        bool match = true;
        xerr *e = filter_eval(text, DMC_VM, records[i], &match);
        /* a parse error names the expression as given, an unknown field the field
         * (xapi: INVALID_VALUE [expr, msg], INTERNAL_ERROR ["missing field", f, ""]) */
        FUZZ_CHECK(!e || (e->nparams == 2 && strcmp(e->params[0], text) == 0) ||
                   (e->nparams == 3 && strcmp(e->params[0], "missing field") == 0));
        xerr_free(e);
    }
    xv_free(empty);
    free(text);
    return 0;
}
