/* Internal to src/vm. */
#ifndef XENAPID_VM_INT_H
#define XENAPID_VM_INT_H

#include <assert.h>
#include <pthread.h>

#include "api.h"
#include "dm_gen.h"
#include "platform.h"
#include "util.h"
#include "vm.h"
#include "xenbe.h"

/* ---- records ---- */
/* VM_BAD_POWER_STATE [vm, expected, actual], the states in lower case as xapi has them. */
xerr *bad_power_state(const char *vm, enum vm_power_state expected, int actual);
bool vm_is_hvm(const xv *rec);

/* ---- the state table (states.c) ---- */
/* Who asks: a client, or the daemon acting on what the hypervisor did (the
 * monitor), for which only "no other operation holds the VM" applies. */
enum vm_by { VM_BY_CLIENT, VM_BY_DAEMON };
/* NULL if op may start on the VM as rec has it, else the first reason it may not, in
 * this order: another operation (OTHER_OPERATION_IN_PROGRESS), the control domain
 * (OPERATION_NOT_ALLOWED), blocked_operations (OPERATION_BLOCKED), the power state
 * (VM_BAD_POWER_STATE), a template (VM_IS_TEMPLATE). */
xerr *vm_op_check(const char *vm, const xv *rec, enum vm_operations op, enum vm_by by);
/* The same for a change of the VM's hardware that is not an operation
 * (set_has_vendor_device): Halted, and no operation holding it. */
xerr *vm_change_check(const char *vm, const xv *rec);
/* The listed operations vm_op_check allows to a client. */
xv *vm_allowed_operations(const xv *rec);

/* ---- operations (ops.c) ---- */
/* A check run inside the transaction that takes the operation, after the table's,
 * so that two callers cannot both pass it. */
typedef xerr *(*vm_precheck)(const char *vm, const xv *rec, void *arg);
/* Take the VM for op.  *rec gets the record as it was; *opid the operation's key in
 * current_operations (both freed by the caller). */
xerr *vm_op_begin(struct api_ctx *ctx, const char *vm, enum vm_operations op, enum vm_by by, vm_precheck check,
                  void *arg, char **opid, xv **rec);
/* Give the VM back, setting the fields in `updates` (a struct, taken; may be NULL)
 * and applying what a new power_state implies (record.c), in one transaction.
 * failed is the operation's own error (taken; NULL if it succeeded).  When the
 * transaction fails it is retried, then at least current_operations is cleared in
 * a minimal one, so the VM is never left held.  Returns failed if set (an error of
 * the end is then logged), else the end's error: the caller returns it. */
xerr *vm_op_end(struct api_ctx *ctx, const char *vm, const char *opid, xv *updates, xerr *failed)
    __attribute__((warn_unused_result));
xerr *vm_clear_stale_operations(struct api *api);

/* ---- the record side of power state changes (record.c) ---- */
/* Set the fields in updates on the VM and, when power_state changes, what goes with
 * it: VM_metrics, guest metrics (reset on start, not live on stop), allowed ops. */
xerr *vm_apply(struct db_txn *t, const char *vm, const xv *before, const xv *updates);
xv *updates_running(const char *host, int64_t domid, bool paused, bool hvm);
xv *updates_halted(void);
/* The domain build description of a VM record with the hardware it gets
 * (platform_hardware: its pin, else its version's entry), for every build: start,
 * reboot, resume, restore, migration.  *hw must outlive the spec; free with
 * spec_free, then vhw_free.  The caller pins vhw_pin_xml(*hw) in VM.virtual_hardware
 * when !vhw_pinned(*hw) and the build succeeded (vm_build_domain does). */
xerr *vm_domain_spec(const struct platform *p, const xv *rec, struct hv_domain_spec *spec, struct vhw **hw);
void spec_free(struct hv_domain_spec *spec);
xerr *vm_register_records(struct api *api);

/* ---- checks (checks.c) ---- */
xerr *vm_check_vm(const char *vm, const xv *rec);
/* What the checks know of one host: its records in the store, and whether it is
 * live and its free memory (this host: live by answering, memory from the
 * hypervisor; another: its host_metrics). */
struct vm_host_view {
    char *ref;
    xv *host;                    /* the host record */
    xv *metrics;                 /* its host_metrics record, NULL when it has none */
    bool local;                  /* this host */
    bool live;
    uint64_t free_memory;
};
xerr *vm_host_view_read(struct api *api, const char *host, struct vm_host_view *out);
void vm_host_view_free(struct vm_host_view *v);
/* The checks of a start (or a migration) of the VM as rec has it, on h, in xapi's
 * order: live (HOST_NOT_LIVE), a control domain's affinity, enabled (HOST_DISABLED,
 * not for a VM already running there), the platform version (membership), HVM
 * support, memory (static_max; not for a VM already running there).  Pure. */
xerr *vm_check_on(const char *vm, const xv *rec, const struct vm_host_view *h, int64_t version);
/* Placement among hosts[0..n): the affinity host if it passes every check, else
 * the passing host with most free memory (this host on a tie, then the first);
 * NO_HOSTS_AVAILABLE when none passes.  Pure. */
xerr *vm_pick_host(const char *vm, const xv *rec, const struct vm_host_view *hosts, size_t n, int64_t version,
                   size_t *chosen);
xerr *vm_check_host(struct api *api, const char *vm, const xv *rec, const char *host, int64_t version);
/* A reboot in place (the VM stays on this host, its memory already there): only the
 * platform version is checked; a disabled host still reboots the VMs it runs. */
xerr *vm_check_reboot(struct api *api, const char *vm, int64_t version);
xerr *vm_choose_host(struct api *api, const char *vm, const xv *rec, int64_t version, char **host);
xerr *vm_register_checks(struct api *api);

/* ---- the monitor (monitor.c) ---- */
/* The domain of a VM (by uuid) on this host, if any. */
bool vm_find_domain(struct api *api, const char *uuid, struct hv_domain_info *out);
/* Compare one VM with its domain and record the truth, as the monitor does (an
 * operation that failed half-way calls it: what it left is recorded at once). */
void vm_reconcile_one(struct api *api, const char *vm);

/* ---- lifecycle (lifecycle.c) ---- */
/* Have another pool member run method(vm, paused, force=false) on its hypervisor
 * (VM.start, VM.resume: it starts or resumes the VM there); HOST_OFFLINE [host]
 * without a pool. */
xerr *vm_run_on(struct api *api, const char *host, const char *method, const char *vm, bool paused);
/* Wait for the guest to acknowledge the control/shutdown request made, then for the
 * domain to stop; *reason gets Xen's shutdown reason (-1: the domain vanished).
 * Cancellable (task.cancel); times out per shutdown-ack-timeout and
 * clean-shutdown-timeout.  A request not acknowledged by then (or at the cancel) is
 * taken back; one acknowledged at that moment is waited for as any other. */
xerr *vm_wait_guest(struct api_ctx *ctx, const char *vm, uint32_t domid, int *reason);
/* The hypervisor's own failure (src/xen's INTERNAL_ERROR) at a step of the VM's
 * operation, as the client gets it: the declared HYPERVISOR_OPERATION_FAILED [vm,
 * step, message]; NULL and declared errors (HOST_NOT_ENOUGH_FREE_MEMORY, ...) pass
 * as they are.  Takes e. */
xerr *vm_hv_failed(const char *vm, const char *step, xerr *e);
xerr *vm_register_lifecycle(struct api *api);
/* Build and start the VM's domain on this host; used by start, reboot and the
 * monitor's restart actions.  Returns the updates to record. */
xerr *vm_build_domain(struct api *api, const char *vm, const xv *rec, bool paused, xv **updates);
/* Raise on feature use: rec gets the platform version the features it uses need.
 * True if that changed it (the caller records it). */
bool vm_raise_version(struct api *api, const char *vm, xv *rec);
/* The reboot of a VM whose old domain is gone, on this host: raise, check that this
 * host offers the version, build again.  *updates gets what to record: the new
 * domain, or Halted with the reason returned; with the raised version either way.
 * Used by clean_reboot, hard_reboot and the monitor's restart actions. */
xerr *vm_reboot_in_place(struct api *api, const char *vm, xv *rec, xv **updates);

/* ---- the deferred platform upgrade (upgrade.c) ---- */
xerr *vm_register_upgrade(struct api *api);
/* At a clean shutdown: add to updates the pending upgrade of rec (the version, the
 * pinned hardware cleared) and clear it; nothing when none is pending. */
void vm_apply_pending_upgrade(const char *vm, const xv *rec, xv *updates);

/* ---- the suspend image (image.c) ---- */
/* Save the domain (shut down for suspend) as the VM's suspend image. */
xerr *vm_save_image(struct api *api, const char *vm, const char *uuid, uint32_t domid);
/* Restore the VM's domain from its image (DOMAIN_STREAM_INVALID when there is none
 * or it is damaged), unpause it unless paused, remove the image; *updates gets the
 * new domain's fields. */
xerr *vm_restore_image(struct api *api, const char *vm, const xv *rec, bool paused, xv **updates);
/* The VM is no longer Suspended (shut down or destroyed): its image goes. */
void vm_drop_image(struct api *api, const char *uuid);

/* ---- migration (migrate.c) ---- */
xerr *vm_register_migrate(struct api *api);

#endif
