/* current_operations as the VM's lock, and allowed_operations kept true. */
#include "vm_int.h"
#include "log.h"

#include <ctype.h>
#include <string.h>

static char *lowered(enum vm_power_state ps)
{
    char *s = xstrdup(vm_power_state_name(ps));
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

xerr *bad_power_state(const char *vm, enum vm_power_state expected, int actual)
{
    assert(actual >= 0 && actual < VM_POWER_STATE_COUNT);
    _cleanup_free_ char *want = lowered(expected), *got = lowered((enum vm_power_state)actual);
    return err_vm_bad_power_state(vm, want, got);
}

bool vm_is_hvm(const xv *rec)
{
    switch (dm_get_enum(rec, DMF_VM_domain_type)) {
    case DOMAIN_TYPE_HVM: return true;
    case DOMAIN_TYPE_UNSPECIFIED: return *dm_get_str(rec, DMF_VM_HVM_boot_policy) != 0;
    default: return false;
    }
}

xerr *vm_op_begin(struct api_ctx *ctx, const char *vm, enum vm_operations op, enum vm_by by, vm_precheck check,
                  void *arg, char **opid, xv **rec)
{
    *opid = NULL;
    *rec = NULL;
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *r = NULL;
    char *id = NULL;
    e = db_txn_read_record(t, DMC_VM, vm, &r);
    if (!e)
        e = vm_op_check(vm, r, op, by);
    if (!e && check)
        e = check(vm, r, arg);
    if (!e) {
        id = ctx->task ? xstrdup(ctx->task) : ref_new();
        xv *ops = xv_struct();
        xv_struct_append(ops, id, xv_string(vm_operations_name(op)));
        e = db_txn_set(t, DMC_VM, vm, DMF_VM_current_operations, ops);
        xv_free(ops);
    }
    if (!e) {
        xv *none = xv_array();
        e = db_txn_set(t, DMC_VM, vm, DMF_VM_allowed_operations, none);
        xv_free(none);
    }
    if ((e = db_end(t, e)) != NULL) {
        free(id);
        xv_free(r);
        return e;
    }
    *opid = id;
    *rec = r;
    return NULL;
}

/* One attempt at the end: opid out of current_operations, the updates (NULL: none)
 * set, and what they imply (allowed_operations at least), in one transaction. */
static xerr *end_once(struct db *db, const char *vm, const char *opid, const xv *updates)
{
    struct db_txn *t;
    xerr *e = db_begin(db, &t);
    if (e)
        return e;
    xv *before = NULL;
    if ((e = db_txn_read_record(t, DMC_VM, vm, &before)) == NULL) {
        xv *ops = xv_dup(dm_get(before, DMF_VM_current_operations));
        xv_struct_remove(ops, opid);
        xv *all = updates ? xv_dup(updates) : xv_struct();
        dm_set(all, DMF_VM_current_operations, ops);
        e = vm_apply(t, vm, before, all);
        xv_free(all);
    }
    xv_free(before);
    return db_end(t, e);
}

static void log_end_error(const char *vm, const char *what, const xerr *e)
{
    _cleanup_free_ char *s = xerr_str(e);
    log_error("VM %s: %s: %s", vm, what, s);
}

#define END_TRIES 2

xerr *vm_op_end(struct api_ctx *ctx, const char *vm, const char *opid, xv *updates, xerr *failed)
{
    assert(opid);
    xerr *first = NULL;
    bool done = false;
    for (int i = 0; i < END_TRIES && !done; i++) {
        xerr *e = end_once(ctx->db, vm, opid, updates);
        done = !e;
        if (e) {
            log_end_error(vm, "recording the end of an operation failed", e);
            if (first)
                xerr_free(e);
            else
                first = e;
        }
    }
    /* then only the VM given back (no longer scheduled anywhere either): what the
     * operation did to its domain the monitor finds and records */
    xv *released = xv_struct();
    dm_set(released, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
    for (int i = 0; i < END_TRIES && !done; i++) {
        xerr *e = end_once(ctx->db, vm, opid, released);
        done = !e;
        if (e) {
            log_end_error(vm, "giving the VM back after a failed end failed too", e);
            xerr_free(e);
        } else {
            log_warn("VM %s: only current_operations was cleared; the domain monitor records the rest", vm);
        }
    }
    if (!done)
        log_error("VM %s: operation %s stays in current_operations until the daemon restarts", vm, opid);
    xv_free(released);
    xv_free(updates);
    if (failed) {
        xerr_free(first); /* logged above */
        return failed;
    }
    return first;
}

static bool builds_domain(const char *op)
{
    static const enum vm_operations builders[] = {VM_OPERATIONS_START, VM_OPERATIONS_START_ON,
                                                  VM_OPERATIONS_RESUME, VM_OPERATIONS_RESUME_ON,
                                                  VM_OPERATIONS_CLEAN_REBOOT, VM_OPERATIONS_HARD_REBOOT};
    for (size_t i = 0; i < sizeof(builders) / sizeof(builders[0]); i++)
        if (strcmp(op, vm_operations_name(builders[i])) == 0)
            return true;
    return false;
}

/* A start (resume, reboot) cut short by the daemon's death leaves the domain it was
 * building paused, perhaps half-built (no xenstore tree, not introduced): never
 * acknowledged, it is undone, and the VM stays what its record said before (the kill
 * -9 soak found such VMs recorded Paused).  One the start had unpaused runs: the
 * monitor records it Running.  Done before the operation is cleared from the record,
 * so that a death meanwhile leaves it to the next start. */
static void undo_interrupted_builds(struct api *api)
{
    xv *refs = NULL;
    xerr *e = db_read_refs(api_db(api), DMC_VM, &refs);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *vm = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL;
        if ((e = db_read_record(api_db(api), DMC_VM, vm, &rec)) != NULL)
            break;
        const xv *cur = dm_get(rec, DMF_VM_current_operations);
        const char *uuid = dm_get_str(rec, DMF_VM_uuid);
        struct hv_domain_info di;
        if (cur && cur->u.st.n > 0 && builds_domain(xv_str(cur->u.st.m[0].val)) &&
            vm_find_domain(api, uuid, &di) && di.state == HV_DOM_PAUSED) {
            log_warn("VM %s: its %s was cut short with domain %u paused: destroying that domain", vm,
                     xv_str(cur->u.st.m[0].val), di.domid);
            xerr *de = hv_domain_destroy(api_hv(api), di.domid);
            if (de) {
                _cleanup_free_ char *why = xerr_str(de);
                log_error("VM %s: cannot destroy the domain of its interrupted start: %s", vm, why);
                xerr_free(de);
            } else {
                hv_domain_forget(api_hv(api), di.domid, uuid); /* a tree written without its vm key */
            }
        }
        xv_free(rec);
    }
    if (e) {
        _cleanup_free_ char *why = xerr_str(e);
        log_error("looking for starts cut short: %s", why);
        xerr_free(e);
    }
    xv_free(refs);
}

/* Operations recorded in the database when the daemon starts died with it. */
xerr *vm_clear_stale_operations(struct api *api)
{
    undo_interrupted_builds(api);
    struct db_txn *t;
    xerr *e = db_begin(api_db(api), &t);
    if (e)
        return e;
    xv *refs = NULL;
    e = db_txn_read_refs(t, DMC_VM, &refs);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *vm = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL;
        if ((e = db_txn_read_record(t, DMC_VM, vm, &rec)) != NULL)
            break;
        const xv *cur = dm_get(rec, DMF_VM_current_operations);
        if (cur && cur->u.st.n > 0) {
            log_warn("VM %s: operation %s was interrupted by a restart of the daemon", vm,
                     xv_str(cur->u.st.m[0].val));
            xv *u = xv_struct();
            dm_set(u, DMF_VM_current_operations, xv_struct());
            dm_set(u, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
            e = vm_apply(t, vm, rec, u);
            xv_free(u);
        }
        xv_free(rec);
    }
    xv_free(refs);
    return db_end(t, e);
}
