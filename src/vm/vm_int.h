/* Internal to src/vm. */
#ifndef XENAPID_VM_INT_H
#define XENAPID_VM_INT_H

#include <pthread.h>

#include "api.h"
#include "dm_gen.h"
#include "platform.h"
#include "util.h"
#include "vm.h"
#include "xenbe.h"

/* ---- reading records ---- */
const char *rec_str(const xv *rec, const char *field);
int64_t rec_int(const xv *rec, const char *field);
bool rec_bool(const xv *rec, const char *field);
/* "Running" -> "running", for VM_BAD_POWER_STATE */
char *lower_state(const char *state);
xerr *bad_power_state(const char *vm, const char *expected, const char *actual);
bool vm_is_hvm(const xv *rec);

/* ---- operations (ops.c) ---- */
/* A check run inside the transaction that takes the operation, so that two callers
 * cannot both pass it. */
typedef xerr *(*vm_precheck)(const char *vm, const xv *rec, void *arg);
/* Take the VM for op.  *rec gets the record as it was; *opid the operation's key in
 * current_operations (both freed by the caller). */
xerr *vm_op_begin(struct api_ctx *ctx, const char *vm, const char *op, vm_precheck check, void *arg,
                  char **opid, xv **rec);
/* The same for the daemon's own actions (the monitor acting on a domain its guest
 * stopped): blocked_operations, which is for clients, does not apply. */
xerr *vm_op_begin_internal(struct api_ctx *ctx, const char *vm, const char *op, vm_precheck check, void *arg,
                           char **opid, xv **rec);
/* Give the VM back, setting the fields in `updates` (a struct, may be NULL) and
 * applying what a new power_state implies (record.c), in one transaction. */
xerr *vm_op_end(struct api_ctx *ctx, const char *vm, const char *opid, xv *updates);
xv *vm_allowed_operations(const xv *rec);
xerr *vm_clear_stale_operations(struct api *api);

/* ---- the record side of power state changes (record.c) ---- */
/* Set the fields in updates on the VM and, when power_state changes, what goes with
 * it: VM_metrics, guest metrics (reset on start, not live on stop), allowed ops. */
xerr *vm_apply(struct db_txn *t, const char *vm, const xv *before, const xv *updates);
xv *updates_running(const char *host, int64_t domid, bool paused, bool hvm);
xv *updates_halted(void);
/* The domain build description of a VM record; free with spec_free. */
void spec_from_record(const xv *rec, struct hv_domain_spec *spec);
void spec_free(struct hv_domain_spec *spec);
xerr *vm_register_records(struct api *api);

/* ---- checks (checks.c) ---- */
xerr *vm_check_vm(const char *vm, const xv *rec);
xerr *vm_check_host(struct api *api, const char *vm, const xv *rec, const char *host, int64_t version);
/* A reboot in place (the VM stays on this host, its memory already there): only the
 * platform version is checked; a disabled host still reboots the VMs it runs. */
xerr *vm_check_reboot(struct api *api, const char *vm, int64_t version);
xerr *vm_choose_host(struct api *api, const char *vm, const xv *rec, int64_t version, char **host);
xerr *vm_register_checks(struct api *api);

/* ---- the monitor (monitor.c) ---- */
/* Wait until a domain state change is noticed or timeout seconds pass. */
void vm_wait_domain_change(double timeout);
/* The domain of a VM (by uuid) on this host, if any. */
bool vm_find_domain(struct api *api, const char *uuid, struct hv_domain_info *out);
void vm_hooks_started(const char *vm, uint32_t domid);
void vm_hooks_stopped(const char *vm, uint32_t domid);

/* ---- lifecycle (lifecycle.c) ---- */
xerr *vm_register_lifecycle(struct api *api);
/* Build and start the VM's domain on this host; used by start, reboot and the
 * monitor's restart actions.  Returns the updates to record. */
xerr *vm_build_domain(struct api *api, const char *vm, const xv *rec, bool paused, xv **updates);

#endif
