/* The configuration file (src/config): the bytes are the file, parsed from memory by
 * config_load_text (what config_load_file calls on the file's bytes); every key is then
 * read as each type the daemon reads keys as.  No state across inputs. */
#include "harness.h"

#include <stdlib.h>

#include "config.h"
#include "../../src/config/config_keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *c = config_new();
    xerr *e = config_load_text(c, "xenapid.conf", (const char *)data, size);
    if (e) {
        free(xerr_str(e));
        xerr_free(e);
    }
    for (size_t i = 0; config_keys[i].name; i++) {
        const char *k = config_keys[i].name;
        (void)config_get(c, k);
        (void)config_get_int(c, k);
        (void)config_get_double(c, k);
        (void)config_get_bool(c, k);
    }
    config_free(c);
    return 0;
}
