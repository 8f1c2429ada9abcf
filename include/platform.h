/* platform: the virtual hardware platform version.
 *
 * The registry (etc/platform.xml) describes each version's devices and features and
 * the version each feature requires; the configuration says which versions this
 * host offers.  Here too are the rules the rest of the daemon applies: membership
 * (a VM of version v runs on a host iff v is in the host's list: not >=), and the
 * raise (a VM using a feature gets max(current, required)). */
#ifndef XENAPID_PLATFORM_H
#define XENAPID_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "xerr.h"
#include "xv.h"

struct platform;

/* offered: "0,1".  Every offered version must be described in the registry. */
xerr *platform_load(const char *registry_path, const char *offered, struct platform **out);
void platform_free(struct platform *p);

/* The versions this host offers, as the set(int) host.virtual_hardware_platform_versions holds. */
xv *platform_offered(const struct platform *p);
/* True when the registry describes the version (a VM of it can be built). */
bool platform_describes(const struct platform *p, int64_t version);
/* The version a feature requires; -1 if the registry does not know it. */
int64_t platform_feature_requires(const struct platform *p, const char *feature);

/* The lowest version the VM (a VM record) needs for the features it uses. */
int64_t platform_version_needed(const struct platform *p, const xv *vm);
/* The raise: max(current, needed).  current: the VM's hardware_platform_version. */
int64_t platform_raise(const struct platform *p, const xv *vm, int64_t current);
/* Membership of version in a host's set(int) of versions. */
bool platform_host_offers(const xv *host_versions, int64_t version);
/* A set(int) as xapi prints it: "[0; 1]". Caller frees. */
char *platform_format_versions(const xv *versions);

/* Feature discovery, after libvirt's domain capabilities: an XML document of the
 * versions this host offers and, for each, its devices and features.  Caller frees. */
char *platform_capabilities_xml(const struct platform *p, const char *host_uuid);

#endif
