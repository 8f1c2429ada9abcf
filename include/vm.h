/* vm: the VM lifecycle (module src/vm/).
 *
 * VM.start/start_on/clean_shutdown/hard_shutdown/shutdown/clean_reboot/hard_reboot/
 * pause/unpause/suspend/resume/resume_on/pool_migrate/clone/create/destroy, the checks
 * (assert_can_boot_here, get_possible_hosts, get_boot_check_results), the raise of
 * the platform version on feature use, and the monitor that keeps VM records in
 * agreement with the hypervisor's domains (also after a restart of the daemon).
 *
 * Which operation a VM takes in which state is one table (src/vm/states.c): it both
 * makes each operation's check and computes allowed_operations.  Every operation
 * holds the VM's current_operations for its duration: a second one gets
 * OTHER_OPERATION_IN_PROGRESS.  No database transaction is held while the
 * hypervisor works.  The messages need nothing beyond the api (its store and
 * hypervisor): they run without the monitor, as in the unit tests. */
#ifndef XENAPID_VM_H
#define XENAPID_VM_H

#include "api.h"

/* Register the VM messages (before api_startup). */
xerr *vm_register(struct api *api);

/* A new VM record from its fields (the rest from the defaults), with its metrics
 * object and allowed_operations, in t; no check (the caller made them). */
xerr *vm_create_record(struct db_txn *t, xv *fields, char **ref);

/* The monitor: clears the operations a restart of the daemon interrupted, reconciles
 * the records with the running domains, then follows the domains (@releaseDomain,
 * and every 10 s) on a thread of its own until vm_monitor_stop, which frees it
 * (NULL is allowed). */
struct vm_monitor;
xerr *vm_monitor_start(struct api *api, struct vm_monitor **out);
void vm_monitor_stop(struct vm_monitor *m);
/* One look at every VM, as the monitor takes after a domain change. */
void vm_reconcile(struct api *api);

#endif
