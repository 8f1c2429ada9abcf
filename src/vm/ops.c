/* current_operations as the VM's lock, and allowed_operations kept true. */
#include "vm_int.h"
#include "log.h"

#include <ctype.h>
#include <string.h>

const char *rec_str(const xv *rec, const char *field)
{
    const char *s = xv_struct_get_str(rec, field);
    return s ? s : "";
}

int64_t rec_int(const xv *rec, const char *field)
{
    const xv *v = xv_struct_get(rec, field);
    return v && v->type == XV_INT ? v->u.i : 0;
}

bool rec_bool(const xv *rec, const char *field)
{
    const xv *v = xv_struct_get(rec, field);
    return v && v->type == XV_BOOL && v->u.b;
}

char *lower_state(const char *state)
{
    char *s = xstrdup(state);
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

xerr *bad_power_state(const char *vm, const char *expected, const char *actual)
{
    _cleanup_free_ char *a = lower_state(actual);
    return err_vm_bad_power_state(vm, expected, a);
}

bool vm_is_hvm(const xv *rec)
{
    const char *dt = rec_str(rec, "domain_type");
    if (strcmp(dt, "hvm") == 0)
        return true;
    if (strcmp(dt, "unspecified") == 0)
        return *rec_str(rec, "HVM_boot_policy") != 0;
    return false;
}

xv *vm_allowed_operations(const xv *rec)
{
    xv *ops = xv_array();
    const xv *cur = xv_struct_get(rec, "current_operations");
    if (cur && cur->type == XV_STRUCT && cur->u.st.n > 0)
        return ops; /* one operation at a time */
    if (rec_bool(rec, "is_control_domain"))
        return ops;
    /* only operations a client can call: no VM.export message exists (yet) */
    static const char *const halted[] = {"start", "start_on", "clone", "destroy", NULL};
    static const char *const running[] = {"clean_shutdown", "hard_shutdown", "shutdown", "clean_reboot",
                                          "hard_reboot", "pause", "suspend", "pool_migrate", NULL};
    static const char *const paused[] = {"unpause", "hard_shutdown", "shutdown", "hard_reboot", NULL};
    static const char *const suspended[] = {"resume", "resume_on", "hard_shutdown", "shutdown", "destroy", NULL};
    static const char *const template_ops[] = {"clone", "destroy", NULL};
    const char *ps = rec_str(rec, "power_state");
    const char *const *list = rec_bool(rec, "is_a_template") ? template_ops
                              : strcmp(ps, "Halted") == 0    ? halted
                              : strcmp(ps, "Running") == 0   ? running
                              : strcmp(ps, "Paused") == 0    ? paused
                                                             : suspended;
    const xv *blocked = xv_struct_get(rec, "blocked_operations");
    for (size_t i = 0; list[i]; i++)
        if (!xv_struct_get(blocked, list[i]))
            xv_array_push(ops, xv_string(list[i]));
    return ops;
}

static xerr *op_begin(struct api_ctx *ctx, const char *vm, const char *op, bool honour_blocked,
                      vm_precheck check, void *arg, char **opid, xv **rec)
{
    *opid = NULL;
    *rec = NULL;
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *r = NULL;
    if ((e = db_txn_read_record(t, DMC_VM, vm, &r)) != NULL)
        goto fail;
    xv *cur = xv_struct_get(r, "current_operations");
    if (cur && cur->u.st.n > 0) {
        e = err_other_operation_in_progress("VM", vm, xv_str(cur->u.st.m[0].val), cur->u.st.m[0].key);
        goto fail;
    }
    if (rec_bool(r, "is_control_domain")) {
        e = err_operation_not_allowed("the control domain is managed by the host, not through the API");
        goto fail;
    }
    const xv *blocked = xv_struct_get(r, "blocked_operations");
    if (honour_blocked && xv_struct_get(blocked, op)) {
        _cleanup_free_ char *why = xasprintf("%s is blocked on this VM: %s", op,
                                             xv_str(xv_struct_get(blocked, op)));
        e = err_operation_not_allowed(why);
        goto fail;
    }
    if (check && (e = check(vm, r, arg)) != NULL)
        goto fail;
    char *id = ctx->task ? xstrdup(ctx->task) : ref_new();
    xv *ops = xv_struct();
    xv_struct_append(ops, id, xv_string(op));
    e = db_txn_set(t, DMC_VM, vm, DMF_VM_current_operations, ops);
    xv_free(ops);
    if (!e) {
        xv *none = xv_array();
        e = db_txn_set(t, DMC_VM, vm, DMF_VM_allowed_operations, none);
        xv_free(none);
    }
    if (e) {
        free(id);
        goto fail;
    }
    if ((e = db_commit(t, NULL)) != NULL) {
        free(id);
        xv_free(r);
        return e;
    }
    *opid = id;
    *rec = r;
    return NULL;
fail:
    xv_free(r);
    db_abort(t);
    return e;
}

xerr *vm_op_begin(struct api_ctx *ctx, const char *vm, const char *op, vm_precheck check, void *arg,
                  char **opid, xv **rec)
{
    return op_begin(ctx, vm, op, true, check, arg, opid, rec);
}

xerr *vm_op_begin_internal(struct api_ctx *ctx, const char *vm, const char *op, vm_precheck check, void *arg,
                           char **opid, xv **rec)
{
    return op_begin(ctx, vm, op, false, check, arg, opid, rec);
}

xerr *vm_op_end(struct api_ctx *ctx, const char *vm, const char *opid, xv *updates)
{
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        goto out;
    xv *before = NULL;
    if ((e = db_txn_read_record(t, DMC_VM, vm, &before)) == NULL) {
        xv *ops = xv_dup(xv_struct_get(before, "current_operations"));
        xv_struct_remove(ops, opid);
        xv *all = updates ? xv_dup(updates) : xv_struct();
        xv_struct_set(all, "current_operations", ops);
        e = vm_apply(t, vm, before, all);
        xv_free(all);
    }
    xv_free(before);
    e = e ? (db_abort(t), e) : db_commit(t, NULL);
out:
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("VM %s: recording the end of an operation failed: %s", vm, s);
    }
    xv_free(updates);
    return e;
}

/* Operations recorded in the database when the daemon starts died with it. */
xerr *vm_clear_stale_operations(struct api *api)
{
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
        const xv *cur = xv_struct_get(rec, "current_operations");
        if (cur && cur->u.st.n > 0) {
            log_warn("VM %s: operation %s was interrupted by a restart of the daemon", vm,
                     xv_str(cur->u.st.m[0].val));
            xv *u = xv_struct();
            xv_struct_append(u, "current_operations", xv_struct());
            xv_struct_append(u, "scheduled_to_be_resident_on", xv_string(REF_NULL));
            e = vm_apply(t, vm, rec, u);
            xv_free(u);
        }
        xv_free(rec);
    }
    xv_free(refs);
    return e ? (db_abort(t), e) : db_commit(t, NULL);
}
