/* Internal to src/transfer. */
#ifndef XENAPID_TRANSFER_INT_H
#define XENAPID_TRANSFER_INT_H

#include "transfer.h"
#include "dm_gen.h"

/* The ova.xml of the VM's metadata (caller frees). */
xerr *transfer_export_xml(struct api *api, const char *vm, char **xml, size_t *len);

/* What an import did or would do. */
struct import_outcome {
    xv *created;                 /* array of the new VMs' refs (empty on a dry run) */
    buf report;                  /* one line per VM, for people */
};
xerr *transfer_import_header(struct api *api, const xv *header, bool dry_run, bool force,
                             struct import_outcome *out);

#endif
