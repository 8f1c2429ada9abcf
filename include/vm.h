/* vm: the VM lifecycle (module src/vm/).
 *
 * VM.start/start_on/clean_shutdown/hard_shutdown/shutdown/clean_reboot/hard_reboot/
 * pause/unpause/suspend/resume/resume_on/pool_migrate/clone/create/destroy, the checks
 * (assert_can_boot_here, get_possible_hosts, get_boot_check_results), the raise of
 * the platform version on feature use, and the monitor that keeps VM records in
 * agreement with the hypervisor's domains (also after a restart of the daemon).
 *
 * Every operation holds the VM's current_operations for its duration: a second one
 * gets OTHER_OPERATION_IN_PROGRESS.  No database transaction is held while the
 * hypervisor works. */
#ifndef XENAPID_VM_H
#define XENAPID_VM_H

#include <stdint.h>

#include "api.h"

xerr *vm_register(struct api *api);
/* Reconcile the records with the running domains, then watch the domains. */
xerr *vm_start_monitor(struct api *api);
void vm_stop_monitor(struct api *api);

/* Told when a VM's domain is built or gone (the guest metrics module watches the
 * domain's xenstore tree in between).  Called without any lock held. */
struct vm_domain_hooks {
    void (*started)(void *ctx, const char *vm_ref, uint32_t domid);
    void (*stopped)(void *ctx, const char *vm_ref, uint32_t domid);
    void *ctx;
};
void vm_set_domain_hooks(const struct vm_domain_hooks *hooks);

#endif
