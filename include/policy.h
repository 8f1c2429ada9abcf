/* policy: the pool's platform version policy (beyond xapi, after vSphere's
 * per-cluster settings).
 *
 * pool.default_hardware_platform_version: a new VM starts at max(default, what its
 * features require).  pool.max_hardware_platform_version (-1: none): no VM may be
 * set, raised, upgraded or imported above it, and it cannot be lowered below a VM's
 * version or pending upgrade.  pool.get_common_platform_versions: what every live,
 * enabled host offers (what can run anywhere in the pool now), read from the host
 * records, so that it holds for a pool of any size. */
#ifndef XENAPID_POLICY_H
#define XENAPID_POLICY_H

#include <stdint.h>

#include "api.h"

/* Register the pool's policy messages (before api_startup). */
xerr *policy_register(struct api *api);

/* The pool's default and maximum (-1: no maximum), read in t. */
xerr *policy_read(struct api *api, struct db_txn *t, int64_t *dflt, int64_t *max);
/* VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM [vm, version, maximum] when
 * version is above the pool's maximum; vm names the VM (a ref, or a uuid). */
xerr *policy_check_max(struct api *api, struct db_txn *t, const char *vm, int64_t version);

/* The hosts whose host_metrics say live, with their versions: a struct host ref ->
 * set(int), in t (NULL: a fresh read).  enabled_only: only enabled hosts. */
xerr *policy_live_hosts(struct api *api, struct db_txn *t, bool enabled_only, xv **hosts);
/* The intersection of the versions of every live, enabled host, ascending. */
xerr *policy_common_versions(struct api *api, struct db_txn *t, xv **versions);

#endif
