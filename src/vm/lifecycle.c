/* The VM lifecycle: each operation takes the VM (current_operations), works on the
 * hypervisor with no database transaction held, then records the outcome. */
#include "vm_int.h"
#include "log.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static xerr *set_field(struct api *api, const char *vm, const struct dm_field *f, xv *v)
{
    struct db_txn *t;
    xerr *e = db_begin(api_db(api), &t);
    if (!e) {
        e = db_end(t, db_txn_set(t, DMC_VM, vm, f, v));
    }
    xv_free(v);
    return e;
}

xerr *vm_hv_failed(const char *vm, const char *step, xerr *e)
{
    if (!e || !xerr_is(e, XERR_INTERNAL_ERROR))
        return e;
    xerr *d = err_hypervisor_operation_failed(vm, step, e->nparams ? e->params[0] : "");
    xerr_free(e);
    return d;
}

/* An operation the hypervisor failed may have left its domain otherwise than the
 * record says (the guest stopped it, the destroy then failed): record the truth now
 * rather than at the monitor's next look. */
static xerr *failed_end(struct api *api, const char *vm, xerr *e)
{
    if (xerr_is(e, XERR_HYPERVISOR_OPERATION_FAILED))
        vm_reconcile_one(api, vm);
    return e;
}

bool vm_raise_version(struct api *api, const char *vm, xv *rec)
{
    int64_t cur = dm_get_int(rec, DMF_VM_hardware_platform_version);
    int64_t raised = platform_raise(api_platform(api), rec, cur);
    if (raised == cur)
        return false;
    log_info("VM %s: platform version raised from %" PRId64 " to %" PRId64 " for the features it uses", vm, cur,
             raised);
    dm_set(rec, DMF_VM_hardware_platform_version, xv_int(raised));
    return true;
}

/* The raised version goes with the end of the operation, whatever its outcome: a VM
 * refused for lack of version v still needs v. */
static void keep_raise(xv *updates, bool raised, const xv *rec)
{
    if (raised)
        dm_set(updates, DMF_VM_hardware_platform_version, xv_int(dm_get_int(rec, DMF_VM_hardware_platform_version)));
}

xerr *vm_build_domain(struct api *api, const char *vm, const xv *rec, bool paused, xv **updates)
{
    bool hvm = vm_is_hvm(rec);
    if (!hvm && !*dm_get_str(rec, DMF_VM_PV_kernel))
        return err_invalid_value(DMF_VM_PV_kernel->name, "a PV VM needs a kernel (PV_kernel) to boot");
    struct hv_domain_spec spec;
    struct vhw *hw = NULL;
    /* software that predates the platform version predates the vendor device, and
     * pinning, too */
    bool aware = config_get_bool(api_config(api), "platform-version-aware");
    xv *as_built = aware ? NULL : xv_dup(rec);
    if (as_built)
        dm_set(as_built, DMF_VM_has_vendor_device, xv_bool(false));
    xerr *e = vm_domain_spec(api_platform(api), as_built ? as_built : rec, &spec, &hw);
    uint32_t domid = 0;
    if (!e)
        e = vm_hv_failed(vm, "domain build", hv_domain_create(api_hv(api), &spec, &domid));
    spec_free(&spec);
    xv_free(as_built); /* the spec's strings were its */
    /* what the VM got at its first start (or at the first after its version was
     * raised) is what it gets from now on */
    char *pin = !e && aware && !vhw_pinned(hw) ? vhw_pin_xml(hw) : NULL;
    vhw_free(hw);
    if (e)
        return e;
    if (!paused && (e = vm_hv_failed(vm, "domain unpause", hv_domain_unpause(api_hv(api), domid))) != NULL) {
        xerr *de = hv_domain_destroy(api_hv(api), domid);
        if (de) {
            _cleanup_free_ char *why = xerr_str(de);
            log_error("VM %s: destroying domain %" PRIu32 " after its failed unpause: %s", vm, domid, why);
            xerr_free(de);
        }
        free(pin);
        return e;
    }
    *updates = updates_running(api_host_ref(api), domid, paused, hvm);
    if (pin) {
        log_info("VM %s: virtual hardware of platform version %" PRId64 " pinned", vm,
                 dm_get_int(rec, DMF_VM_hardware_platform_version));
        dm_set(*updates, DMF_VM_virtual_hardware, xv_string_take(pin));
    }
    if (dm_get_enum(rec, DMF_VM_domain_type) == DOMAIN_TYPE_UNSPECIFIED)
        dm_set(*updates, DMF_VM_domain_type, xv_string(domain_type_name(hvm ? DOMAIN_TYPE_HVM : DOMAIN_TYPE_PV)));
    log_info("VM %s is %s as domain %" PRIu32, vm, paused ? "paused" : "running", domid);
    return NULL;
}

static xerr *destroy_domain(struct api *api, const char *vm, int64_t domid)
{
    if (domid <= 0)
        return NULL;
    struct hv_domain_info di;
    if (!hv_domain_info(api_hv(api), (uint32_t)domid, &di))
        return NULL; /* already gone */
    return vm_hv_failed(vm, "domain destroy", hv_domain_destroy(api_hv(api), (uint32_t)domid));
}

xerr *vm_reboot_in_place(struct api *api, const char *vm, xv *rec, xv **updates)
{
    *updates = NULL;
    bool raised = vm_raise_version(api, vm, rec);
    xerr *e = vm_check_reboot(api, vm, dm_get_int(rec, DMF_VM_hardware_platform_version));
    if (!e)
        e = vm_build_domain(api, vm, rec, false, updates);
    if (e)
        *updates = updates_halted();
    keep_raise(*updates, raised, rec);
    return e;
}

xerr *vm_run_on(struct api *api, const char *host, const char *method, const char *vm, bool paused)
{
    if (!api_pool(api))
        return err_host_offline(host); /* no pool link: no way to reach it */
    xv *args = xv_array(), *r = NULL;
    xv_array_push(args, xv_string(vm));
    xv_array_push(args, xv_bool(paused));
    xv_array_push(args, xv_bool(false));
    log_info("VM %s: %s on host %s", vm, method, host);
    xerr *e = api_call_on_host(api, host, method, args, &r);
    xv_free(args);
    xv_free(r);
    return e;
}

/* ---- start, start_on, resume, resume_on ---- */

static xerr *start_common(struct api_ctx *ctx, const char *vm, const char *wanted, bool paused, bool resume)
{
    struct api *api = ctx->api;
    enum vm_operations op = resume ? (wanted ? VM_OPERATIONS_RESUME_ON : VM_OPERATIONS_RESUME)
                                   : (wanted ? VM_OPERATIONS_START_ON : VM_OPERATIONS_START);
    char *opid = NULL, *host = NULL;
    xv *rec = NULL, *updates = NULL;
    xerr *e = vm_op_begin(ctx, vm, op, VM_BY_CLIENT, NULL, NULL, &opid, &rec);
    if (e)
        return e;
    /* until the domain is being built, a start can be called off */
    api_task_allow_cancel(ctx, true);
    api_task_progress(ctx, 0.1);
    bool raised = false;
    e = vm_check_vm(vm, rec);
    /* raise on feature use before any host check, so that a VM needing version v is
     * refused by every host lacking v */
    if (!e)
        raised = vm_raise_version(api, vm, rec);
    if (!e && wanted) {
        e = vm_check_host(api, vm, rec, wanted, dm_get_int(rec, DMF_VM_hardware_platform_version));
        host = e ? NULL : xstrdup(wanted);
    } else if (!e && resume) {
        /* the suspend image is on the disk of the host that suspended the VM, not
         * shared storage: a resume without a host stays here (resume_on elsewhere) */
        xerr *he = vm_check_host(api, vm, rec, api_host_ref(api), dm_get_int(rec, DMF_VM_hardware_platform_version));
        e = he ? err_no_hosts_available() : NULL;
        xerr_free(he);
        host = e ? NULL : xstrdup(api_host_ref(api));
    } else if (!e) {
        e = vm_choose_host(api, vm, rec, dm_get_int(rec, DMF_VM_hardware_platform_version), &host);
    }
    if (!e && strcmp(host, api_host_ref(api)) != 0) {
        /* the chosen host builds the domain on its own hypervisor: as xapi, the
         * master gives the VM back and sends that host VM.start (VM.resume), which
         * it runs as a start there */
        api_task_allow_cancel(ctx, false);
        xv *u = xv_struct();
        keep_raise(u, raised, rec);
        e = vm_op_end(ctx, vm, opid, u, NULL);
        if (!e) {
            xv *args = xv_array(), *r = NULL;
            xv_array_push(args, xv_string(vm));
            xv_array_push(args, xv_bool(paused));
            xv_array_push(args, xv_bool(false));
            e = api_call_on_host(api, host, resume ? "VM.resume" : "VM.start", args, &r);
            xv_free(args);
            xv_free(r);
        }
        free(opid);
        free(host);
        xv_free(rec);
        return e;
    }
    if (!e)
        e = set_field(api, vm, DMF_VM_scheduled_to_be_resident_on, xv_string(host));
    api_task_allow_cancel(ctx, false);
    if (!e && api_task_cancelling(ctx))
        e = err_task_cancelled(ctx->task);
    api_task_progress(ctx, 0.3);
    /* resume: the domain continues from its suspend image, whatever the host offers now
     * (its hardware is the one it was saved with) */
    if (!e)
        e = resume ? vm_restore_image(api, vm, rec, paused, &updates) : vm_build_domain(api, vm, rec, paused, &updates);
    if (e) {
        updates = xv_struct();
        dm_set(updates, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
    }
    keep_raise(updates, raised, rec);
    e = failed_end(api, vm, vm_op_end(ctx, vm, opid, updates, e));
    free(opid);
    free(host);
    xv_free(rec);
    return e;
}

static xerr *vm_start(struct api_ctx *ctx, const struct VM_start_args *a)
{
    return start_common(ctx, a->vm, NULL, a->start_paused, false);
}

static xerr *vm_start_on(struct api_ctx *ctx, const struct VM_start_on_args *a)
{
    return start_common(ctx, a->vm, a->host, a->start_paused, false);
}

static xerr *vm_resume(struct api_ctx *ctx, const struct VM_resume_args *a)
{
    return start_common(ctx, a->vm, NULL, a->start_paused, true);
}

static xerr *vm_resume_on(struct api_ctx *ctx, const struct VM_resume_on_args *a)
{
    return start_common(ctx, a->vm, a->host, a->start_paused, true);
}

/* ---- asking the guest ---- */

/* How often a wait looks at the domain again: the acknowledgement is a xenstore
 * write and the stop a state of the domain, neither of which is announced to it. */
#define POLL_SECONDS 0.05

static void pause_for(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Wait for the guest to acknowledge control/shutdown, then for the domain to stop.
 * *reason gets the shutdown reason (-1 if the domain vanished).  The wait can be
 * cancelled (task.cancel): the VM then stays as it is, as after a timeout.  At the
 * acknowledgement's deadline (or a cancel) the request is taken back, unless the
 * guest acknowledged it meanwhile: then it is shutting down and the wait goes on,
 * rather than tell the client the VM stays Running when it will not (load soak
 * finding: a VM Halted or Suspended after its client was told the guest did not
 * answer, and a later suspend met the guest powering off). */
static xerr *wait_guest_loop(struct api_ctx *ctx, const char *vm, uint32_t domid, int *reason);

xerr *vm_wait_guest(struct api_ctx *ctx, const char *vm, uint32_t domid, int *reason)
{
    api_task_allow_cancel(ctx, true);
    xerr *e = wait_guest_loop(ctx, vm, domid, reason);
    api_task_allow_cancel(ctx, false);
    return e;
}

static xerr *wait_guest_loop(struct api_ctx *ctx, const char *vm, uint32_t domid, int *reason)
{
    struct api *api = ctx->api;
    const struct config *cfg = api_config(api);
    double ack_timeout = config_get_double(cfg, "shutdown-ack-timeout");
    double timeout = config_get_double(cfg, "clean-shutdown-timeout");
    struct hv_domain_info di;
    double deadline = now_monotonic() + ack_timeout;
    bool late = false;
    *reason = -1;
    for (;;) {
        if (!hv_domain_info(api_hv(api), domid, &di))
            return NULL;
        if (di.state == HV_DOM_SHUTDOWN || di.state == HV_DOM_DYING || hv_domain_shutdown_acked(api_hv(api), domid))
            break;
        double left = deadline - now_monotonic();
        bool cancelling = api_task_cancelling(ctx);
        if ((cancelling || left <= 0) && hv_domain_cancel_shutdown(api_hv(api), domid))
            return cancelling ? err_task_cancelled(ctx->task) : err_vm_failed_shutdown_acknowledgment(vm);
        if (cancelling || left <= 0) {
            late = cancelling; /* acknowledged at the last moment: that cancel came too late */
            break;
        }
        pause_for(fmin(left, POLL_SECONDS));
    }
    deadline = now_monotonic() + timeout;
    for (;;) {
        if (!hv_domain_info(api_hv(api), domid, &di))
            return NULL;
        if (di.state == HV_DOM_SHUTDOWN) {
            *reason = di.shutdown_reason;
            return NULL;
        }
        if (di.state == HV_DOM_DYING)
            return NULL;
        double left = deadline - now_monotonic();
        if (!late && api_task_cancelling(ctx))
            return err_task_cancelled(ctx->task);
        if (left <= 0) {
            char t[32];
            snprintf(t, sizeof(t), "%g", timeout);
            return err_vm_shutdown_timeout(vm, t);
        }
        pause_for(fmin(left, POLL_SECONDS));
    }
}

enum clean_kind { CLEAN_SHUTDOWN, CLEAN_REBOOT, CLEAN_SUSPEND };

/* The guest has answered "suspend": keep its domain as the suspend image.  If it
 * stopped for another reason, nothing is saved and the monitor deals with the
 * domain as with any guest that stopped; if the image cannot be written, the guest
 * runs on where it was. */
static xerr *save_suspended(struct api *api, const char *vm, const char *uuid, int64_t domid, int reason)
{
    if (domid <= 0 || reason < 0)
        return xerr_internal("VM %s: its domain vanished while it suspended", vm);
    if (reason != HV_SHUTDOWN_SUSPEND)
        return xerr_internal("VM %s: the guest stopped (reason %d) instead of suspending", vm, reason);
    xerr *e = vm_save_image(api, vm, uuid, (uint32_t)domid);
    if (!e)
        return NULL;
    xerr *re = hv_domain_resume_in_place(api_hv(api), (uint32_t)domid);
    if (re) {
        _cleanup_free_ char *why = xerr_str(re);
        log_error("VM %s: its domain could be neither saved nor resumed: %s", vm, why);
        xerr_free(re);
    }
    return e;
}

/* clean_shutdown, shutdown (fallback), clean_reboot, suspend */
static xerr *clean_op(struct api_ctx *ctx, const char *vm, enum clean_kind kind, bool fallback)
{
    struct api *api = ctx->api;
    static const enum vm_operations ops[] = {VM_OPERATIONS_CLEAN_SHUTDOWN, VM_OPERATIONS_CLEAN_REBOOT,
                                            VM_OPERATIONS_SUSPEND};
    /* the words of the xenstore control/shutdown protocol, not XenAPI's */
    static const char *const requests[] = {"poweroff", "reboot", "suspend"};
    char *opid = NULL;
    xv *rec = NULL, *updates = NULL;
    xerr *e = vm_op_begin(ctx, vm, fallback ? VM_OPERATIONS_SHUTDOWN : ops[kind], VM_BY_CLIENT, NULL, NULL, &opid, &rec);
    if (e)
        return e;
    int64_t domid = dm_get_int(rec, DMF_VM_domid);
    int ps = dm_get_enum(rec, DMF_VM_power_state);
    bool ask = true;
    if (kind == CLEAN_SUSPEND && !hv_can_suspend(api_hv(api), vm_is_hvm(rec)))
        e = err_vm_lacks_feature_suspend(vm);
    else if (fallback && ps != VM_POWER_STATE_RUNNING)
        ask = false; /* a paused or suspended guest cannot answer: straight to hard */
    else if (domid > 0)
        e = vm_hv_failed(vm, kind == CLEAN_SUSPEND ? "suspend request" : "shutdown request",
                      hv_domain_request_shutdown(api_hv(api), (uint32_t)domid, requests[kind]));
    int reason = -1;
    api_task_progress(ctx, 0.2);
    /* (a request the guest never took is taken back there: the VM stays as it is, as
     * the error says) */
    if (!e && ask && domid > 0)
        e = vm_wait_guest(ctx, vm, (uint32_t)domid, &reason);
    /* the guest itself powered off: a clean shutdown, which applies a pending upgrade */
    bool clean = !e && ask && domid > 0 && reason == HV_SHUTDOWN_POWEROFF;
    if (e && fallback && !xerr_is(e, XERR_TASK_CANCELLED)) {
        _cleanup_free_ char *why = xerr_str(e);
        log_info("VM %s: clean shutdown failed (%s): shutting it down hard", vm, why);
        xerr_free(e);
        e = NULL;
    }
    api_task_progress(ctx, 0.7);
    if (!e && kind == CLEAN_SUSPEND)
        e = save_suspended(api, vm, dm_get_str(rec, DMF_VM_uuid), domid, reason);
    if (!e && ps != VM_POWER_STATE_SUSPENDED)
        e = destroy_domain(api, vm, domid);
    if (!e && ps == VM_POWER_STATE_SUSPENDED)
        vm_drop_image(api, dm_get_str(rec, DMF_VM_uuid));
    if (!e) {
        if (kind == CLEAN_REBOOT) {
            e = vm_reboot_in_place(api, vm, rec, &updates);
        } else {
            updates = updates_halted();
            if (kind == CLEAN_SHUTDOWN && clean)
                vm_apply_pending_upgrade(vm, rec, updates);
            if (kind == CLEAN_SUSPEND)
                dm_set(updates, DMF_VM_power_state, xv_string(vm_power_state_name(VM_POWER_STATE_SUSPENDED)));
        }
    }
    e = failed_end(api, vm, vm_op_end(ctx, vm, opid, updates, e));
    free(opid);
    xv_free(rec);
    return e;
}

static xerr *vm_clean_shutdown(struct api_ctx *ctx, const struct VM_clean_shutdown_args *a)
{
    return clean_op(ctx, a->vm, CLEAN_SHUTDOWN, false);
}

static xerr *vm_shutdown(struct api_ctx *ctx, const struct VM_shutdown_args *a)
{
    return clean_op(ctx, a->vm, CLEAN_SHUTDOWN, true);
}

static xerr *vm_clean_reboot(struct api_ctx *ctx, const struct VM_clean_reboot_args *a)
{
    return clean_op(ctx, a->vm, CLEAN_REBOOT, false);
}

static xerr *vm_suspend(struct api_ctx *ctx, const struct VM_suspend_args *a)
{
    return clean_op(ctx, a->vm, CLEAN_SUSPEND, false);
}

/* ---- without the guest ---- */

static xerr *vm_hard_shutdown(struct api_ctx *ctx, const struct VM_hard_shutdown_args *a)
{
    const char *vm = a->vm;
    char *opid = NULL;
    xv *rec = NULL;
    xerr *e = vm_op_begin(ctx, vm, VM_OPERATIONS_HARD_SHUTDOWN, VM_BY_CLIENT, NULL, NULL, &opid, &rec);
    if (e)
        return e;
    /* a Suspended VM has no domain: its saved state is simply dropped */
    e = destroy_domain(ctx->api, vm, dm_get_int(rec, DMF_VM_domid));
    if (!e && dm_get_enum(rec, DMF_VM_power_state) == VM_POWER_STATE_SUSPENDED)
        vm_drop_image(ctx->api, dm_get_str(rec, DMF_VM_uuid));
    e = failed_end(ctx->api, vm, vm_op_end(ctx, vm, opid, e ? NULL : updates_halted(), e));
    free(opid);
    xv_free(rec);
    return e;
}

static xerr *vm_hard_reboot(struct api_ctx *ctx, const struct VM_hard_reboot_args *a)
{
    const char *vm = a->vm;
    char *opid = NULL;
    xv *rec = NULL, *updates = NULL;
    xerr *e = vm_op_begin(ctx, vm, VM_OPERATIONS_HARD_REBOOT, VM_BY_CLIENT, NULL, NULL, &opid, &rec);
    if (e)
        return e;
    e = destroy_domain(ctx->api, vm, dm_get_int(rec, DMF_VM_domid));
    if (!e)
        e = vm_reboot_in_place(ctx->api, vm, rec, &updates);
    e = failed_end(ctx->api, vm, vm_op_end(ctx, vm, opid, updates, e));
    free(opid);
    xv_free(rec);
    return e;
}

static xerr *pause_op(struct api_ctx *ctx, const char *vm, bool pause)
{
    char *opid = NULL;
    xv *rec = NULL, *updates = NULL;
    xerr *e = vm_op_begin(ctx, vm, pause ? VM_OPERATIONS_PAUSE : VM_OPERATIONS_UNPAUSE, VM_BY_CLIENT, NULL, NULL, &opid, &rec);
    if (e)
        return e;
    uint32_t domid = (uint32_t)dm_get_int(rec, DMF_VM_domid);
    struct hv_domain_info di;
    bool known = hv_domain_info(api_hv(ctx->api), domid, &di);
    if (!pause && known && di.state == HV_DOM_SHUTDOWN)
        /* a crashed domain kept for inspection (actions_after_crash=preserve) shows as Paused */
        e = err_operation_not_allowed("the VM's domain has crashed and is kept for inspection: "
                                      "shut the VM down or reboot it");
    else if (pause && (!known || di.state == HV_DOM_SHUTDOWN || di.state == HV_DOM_DYING))
        /* the guest stopped itself a moment ago and the monitor has not recorded it yet:
         * the domain is no longer running (found by the kill -9 soak) */
        e = bad_power_state(vm, VM_POWER_STATE_RUNNING, VM_POWER_STATE_HALTED);
    else
        e = pause ? vm_hv_failed(vm, "domain pause", hv_domain_pause(api_hv(ctx->api), domid))
                  : vm_hv_failed(vm, "domain unpause", hv_domain_unpause(api_hv(ctx->api), domid));
    if (!e) {
        updates = xv_struct();
        dm_set(updates, DMF_VM_power_state,
               xv_string(vm_power_state_name(pause ? VM_POWER_STATE_PAUSED : VM_POWER_STATE_RUNNING)));
    }
    e = failed_end(ctx->api, vm, vm_op_end(ctx, vm, opid, updates, e));
    free(opid);
    xv_free(rec);
    return e;
}

static xerr *vm_pause(struct api_ctx *ctx, const struct VM_pause_args *a)
{
    return pause_op(ctx, a->vm, true);
}

static xerr *vm_unpause(struct api_ctx *ctx, const struct VM_unpause_args *a)
{
    return pause_op(ctx, a->vm, false);
}

static xerr *vm_power_state_reset(struct api_ctx *ctx, const struct VM_power_state_reset_args *a)
{
    const char *vm = a->vm;
    xv *rec = NULL;
    xerr *e = db_read_record(ctx->db, DMC_VM, vm, &rec);
    if (e)
        return e;
    struct hv_domain_info di;
    e = vm_op_check(vm, rec, VM_OPERATIONS_POWER_STATE_RESET, VM_BY_CLIENT);
    if (!e && vm_find_domain(ctx->api, dm_get_str(rec, DMF_VM_uuid), &di))
        e = err_operation_not_allowed("a domain of this VM is running on this host: shut it down instead");
    xv_free(rec);
    if (e)
        return e;
    struct db_txn *t;
    if ((e = db_begin(ctx->db, &t)) != NULL)
        return e;
    if ((e = db_txn_read_record(t, DMC_VM, vm, &rec)) == NULL) {
        xv *u = updates_halted();
        dm_set(u, DMF_VM_current_operations, xv_struct());
        e = vm_apply(t, vm, rec, u);
        xv_free(u);
    }
    xv_free(rec);
    return db_end(t, e);
}

xerr *vm_register_lifecycle(struct api *api)
{
    api_register_VM_start(api, vm_start);
    api_register_VM_start_on(api, vm_start_on);
    api_register_VM_resume(api, vm_resume);
    api_register_VM_resume_on(api, vm_resume_on);
    api_register_VM_clean_shutdown(api, vm_clean_shutdown);
    api_register_VM_shutdown(api, vm_shutdown);
    api_register_VM_clean_reboot(api, vm_clean_reboot);
    api_register_VM_suspend(api, vm_suspend);
    api_register_VM_hard_shutdown(api, vm_hard_shutdown);
    api_register_VM_hard_reboot(api, vm_hard_reboot);
    api_register_VM_pause(api, vm_pause);
    api_register_VM_unpause(api, vm_unpause);
    api_register_VM_power_state_reset(api, vm_power_state_reset);
    return NULL;
}
