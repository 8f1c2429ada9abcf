/* The deferred platform upgrade (vSphere's "upgrade VM compatibility at the next
 * normal guest OS shutdown"): a version recorded now, applied when the VM next
 * shuts down cleanly, because only then does the guest expect new hardware. */
#include "vm_int.h"
#include "log.h"
#include "policy.h"

#include <inttypes.h>
#include <stdio.h>

static xerr *schedule(struct api_ctx *ctx, const struct VM_schedule_hardware_platform_upgrade_args *a)
{
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *rec = NULL;
    e = db_txn_read_record(t, DMC_VM, a->vm, &rec);
    int64_t cur = rec ? dm_get_int(rec, DMF_VM_hardware_platform_version) : 0;
    if (!e && rec && dm_get_bool(rec, DMF_VM_is_control_domain))
        e = err_operation_not_allowed("the control domain has no virtual hardware to upgrade");
    /* a version the registry describes (else no host could build it), not a
     * lowering (never), not above what the pool allows */
    if (!e && (a->version < cur || !platform_describes(api_platform(ctx->api), a->version))) {
        char text[24];
        snprintf(text, sizeof(text), "%" PRId64, a->version);
        e = err_invalid_value("version", text);
    }
    if (!e)
        e = policy_check_max(ctx->api, t, a->vm, a->version);
    if (!e) {
        xv *v = xv_int(a->version);
        e = db_txn_set(t, DMC_VM, a->vm, DMF_VM_pending_hardware_platform_version, v);
        xv_free(v);
    }
    xv_free(rec);
    e = db_end(t, e);
    if (!e)
        log_info("VM %s: platform upgrade to version %" PRId64 " at its next clean shutdown", a->vm, a->version);
    return e;
}

static xerr *cancel(struct api_ctx *ctx, const struct VM_cancel_hardware_platform_upgrade_args *a)
{
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *cur = NULL;
    e = db_txn_read_field(t, DMC_VM, a->vm, DMF_VM_pending_hardware_platform_version, &cur);
    if (!e && cur->u.i != -1) {
        xv *none = xv_int(-1);
        e = db_txn_set(t, DMC_VM, a->vm, DMF_VM_pending_hardware_platform_version, none);
        xv_free(none);
    }
    xv_free(cur);
    return db_end(t, e);
}

void vm_apply_pending_upgrade(const char *vm, const xv *rec, xv *updates)
{
    int64_t pending = dm_get_int(rec, DMF_VM_pending_hardware_platform_version);
    if (pending < 0)
        return;
    int64_t cur = dm_get_int(rec, DMF_VM_hardware_platform_version);
    if (pending > cur) {
        dm_set(updates, DMF_VM_hardware_platform_version, xv_int(pending));
        /* the hardware pinned at first boot belongs to the old version: the next
         * start pins what the new one gives (the field is the stable ABI's) */
        dm_set(updates, DMF_VM_virtual_hardware, xv_string(""));
        log_info("VM %s: shut down cleanly: platform version raised from %" PRId64 " to %" PRId64
                 " as scheduled", vm, cur, pending);
    }
    dm_set(updates, DMF_VM_pending_hardware_platform_version, xv_int(-1));
}

xerr *vm_register_upgrade(struct api *api)
{
    api_register_VM_schedule_hardware_platform_upgrade(api, schedule);
    api_register_VM_cancel_hardware_platform_upgrade(api, cancel);
    return NULL;
}
