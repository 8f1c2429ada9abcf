/* transfer: a VM's metadata exported and imported in xapi's format.
 *
 * GET /export_metadata?session_id=&uuid= (or ref=) answers a tar holding one member,
 * ova.xml: an XML-RPC struct {version: {...}, objects: [{class, id, snapshot}, ...]}
 * as xapi's export.ml writes it (objects' refs replaced by "Ref:N" ids, the VM's
 * metrics, guest metrics and the hosts it points at included).  PUT
 * /import_metadata?session_id= reads such a tar (xapi's or ours) and creates the VMs
 * in it, Halted, with fresh uuids, carrying hardware_platform_version,
 * has_vendor_device and the pinned hardware.  dry_run=true checks everything and
 * creates nothing; force=true imports a VM no live host can run yet (never above the
 * pool's maximum).  A task (task_id=, or one made here) carries the outcome, as xapi's
 * handlers do; the HTTP answer says it too.
 *
 * An import is all or nothing: the archive is read and checked whole, then every VM
 * is created in one transaction.  A malformed, truncated or hostile archive is
 * refused with IMPORT_ERROR* and changes nothing. */
#ifndef XENAPID_TRANSFER_H
#define XENAPID_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api.h"
#include "util.h"
#include "xerr.h"
#include "xv.h"

#define TRANSFER_OVA_NAME "ova.xml"

/* The largest ova.xml read: a metadata export of one VM is a few KB. */
#define TRANSFER_MAX_OVA_XML (8u << 20)

/* The query of the HTTP request: get(ctx, "session_id") or NULL. */
struct transfer_query {
    const char *(*get)(void *ctx, const char *key);
    void *ctx;
};

/* What to answer. */
struct transfer_reply {
    unsigned status;             /* 200, 400, 403, 404, 500 */
    const char *type;            /* content type */
    buf body;
    char *task;                  /* the task ref (the task-id header), or NULL */
    char *filename;              /* export: content-disposition's, or NULL */
};
void transfer_reply_init(struct transfer_reply *r);
void transfer_reply_free(struct transfer_reply *r);

void transfer_export_metadata(struct api *api, const struct transfer_query *q, struct transfer_reply *out);
void transfer_import_metadata(struct api *api, const struct transfer_query *q, const char *body, size_t len,
                              struct transfer_reply *out);

/* ---- the archive, without a daemon (the fuzz harness, the unit tests) ---- */
/* ustar: one regular file, then the end-of-archive blocks. */
void transfer_tar_write(buf *out, const char *name, const char *data, size_t len, time_t mtime);
/* The first member of a tar, which must be ova.xml: *xml points into data. */
xerr *transfer_tar_ova(const char *data, size_t len, const char **xml, size_t *xml_len);
/* A whole archive to its header {version, objects}, checked for shape: every object
 * a struct with a string class and id and a struct snapshot. */
xerr *transfer_parse_archive(const char *data, size_t len, xv **header);

#endif
