/* guest: what guests report about their tools (module src/guest/).
 *
 * For the domain of every VM the records say runs on this host a xenstore watch on /local/domain/<domid>/data/updated;
 * when it fires (and only then) the PVAddons and OS keys are read in one xenstore
 * transaction and the VM's VM_guest_metrics object is created or updated.  A guest
 * is untrusted: bad values count as absent, reads of one domain happen at most once
 * per guest-metrics-interval however often it bumps data/updated, and a flooding
 * guest cannot delay another's update. */
#ifndef XENAPID_GUEST_H
#define XENAPID_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "xv.h"

/* The watch: follows the VM records (the store's event log) and the domains they
 * name, on threads of its own, until guest_watch_stop, which frees it (NULL is
 * allowed). */
struct guest_watch;
xerr *guest_watch_start(struct api *api, struct guest_watch **out);
void guest_watch_stop(struct guest_watch *g);

/* ---- the evaluation, without xenstore (unit-tested) ---- */
enum guest_key {
    GK_MAJOR, GK_MINOR, GK_MICRO, GK_BUILD, GK_INSTALLED, GK_NOT_UPGRADABLE,
    GK_OS_NAME, GK_OS_UNAME, GK_OS_DISTRO, GK_OS_MAJOR, GK_OS_MINOR,
    GK_COUNT
};
/* Relative to /local/domain/<domid>: "attr/PVAddons/MajorVersion", ... */
extern const char *const guest_key_paths[GK_COUNT];

/* "8.2.1.0" -> {8,2,1,0}; missing trailing parts are 0.  False if not a version. */
bool guest_parse_version(const char *s, int64_t out[4]);
/* The VM_guest_metrics fields the raw key values (NULL = absent) give, against the
 * tools version this host ships: PV_drivers_version, PV_drivers_detected,
 * PV_drivers_up_to_date, tools_status, os_version, other. */
xv *guest_evaluate(char *const raw[GK_COUNT], const int64_t host_tools[4]);

#endif
