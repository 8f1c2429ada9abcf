/* The metadata import's archive parser (src/transfer): the bytes a client PUTs to
 * /import_metadata.  transfer_parse_archive (the tar, then ova.xml as one XML-RPC
 * value, then the header's shape); when it accepts, the header written back into an
 * archive of ours must parse again, and a second round must give the same value. */
#include "harness.h"

#include <string.h>

#include "transfer.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    return 0;
}

/* header -> ova.xml -> tar -> header */
static xv *again(const xv *header)
{
    buf xml, tar;
    buf_init(&xml);
    buf_init(&tar);
    wire_xmlrpc_write_value(&xml, header);
    transfer_tar_write(&tar, TRANSFER_OVA_NAME, xml.p ? xml.p : "", xml.len, 0);
    xv *back = NULL;
    xerr *e = transfer_parse_archive(tar.p, tar.len, &back);
    if (e)
        fprintf(stderr, "fuzz: our own archive of an accepted header does not parse: %s\n", xerr_str(e));
    FUZZ_CHECK(e == NULL);
    buf_free(&xml);
    buf_free(&tar);
    return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xv *header = NULL;
    xerr *e = transfer_parse_archive((const char *)data, size, &header);
    if (e) {
        char *s = xerr_str(e);
        FUZZ_CHECK(strncmp(s, "IMPORT_ERROR", 12) == 0);
        free(s);
        xerr_free(e);
        return 0;
    }
    FUZZ_CHECK(header && header->type == XV_STRUCT);
    /* the first round may normalise (void reads back as ""), the second must not */
    xv *one = again(header), *two = again(one);
    FUZZ_CHECK(xv_equal(one, two));
    xv_free(one);
    xv_free(two);
    xv_free(header);
    return 0;
}
