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
/* The same from the registry's len bytes of text, registry_path naming it in the errors
 * (platform_load reads the file and calls this). */
xerr *platform_load_text(const char *registry_path, const char *text, size_t len, const char *offered,
                         struct platform **out);
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

/* Feature discovery, after libvirt's domain capabilities (docs/platform.md): an XML
 * document of the versions in the registry, whether this host offers each, and for
 * each its machine type, devices (slots, models, enums), platform keys and features
 * (tri-state).  Caller frees. */
char *platform_capabilities_xml(const struct platform *p, const char *host_uuid);

/* ---- the hardware a VM is given (src/platform/hardware.c) ----
 *
 * A pure function of the VM's record and ONE registry entry: the one pinned in the
 * record (VM.virtual_hardware, the <version> element it got at its first start) when
 * that is for the VM's current version, else the registry's entry for the VM's
 * version (never the host's newest).  The VM's platform keys are applied on top:
 * a key the version declares (<setting>) is checked against what it allows
 * (INVALID_VALUE ["platform:<key>", value]) and written normalised; any other key is
 * passed on to platform/ as it is, as xapi does.  PV VMs get no device model and
 * only their own keys.  Errors: INVALID_VALUE as above, or for has_vendor_device when
 * the version gives no vendor device; INTERNAL_ERROR when the version is not
 * described or names no machine type (HVM) or a device the daemon cannot give. */
struct vhw;
xerr *platform_hardware(const struct platform *p, const xv *vm, bool hvm, struct vhw **out);
void vhw_free(struct vhw *h);
/* The registry's entry for a version in its pinned form; NULL if not described. */
char *platform_version_pin_xml(const struct platform *p, int64_t number);
/* Whether h came from the VM's pin (else from the registry: to be pinned at start). */
bool vhw_pinned(const struct vhw *h);
/* What VM.virtual_hardware stores: the entry h was made from. Caller frees. */
char *vhw_pin_xml(const struct vhw *h);
/* VM.get_virtual_hardware's document: machine, devices with slots and ids, the
 * platform keys written.  Caller frees. */
char *vhw_xml(const struct vhw *h);
/* The guest's PCI devices, "00:02.0 5853:0001\n" a line in slot order. Caller frees. */
char *vhw_pci_inventory(const struct vhw *h);
/* For the build.  Machine type: NULL for PV. */
const char *vhw_machine(const struct vhw *h);
int64_t vhw_videoram_mib(const struct vhw *h);
/* The device model's arguments for the devices: NULL-terminated, caller frees each
 * and the array. */
char **vhw_dm_args(const struct vhw *h);
/* platform/<key> = value as written; the arrays live as long as h. */
size_t vhw_platform(const struct vhw *h, const char *const **keys, const char *const **values);
/* VM.get_platform_capabilities: the entry's capabilities and the hardware the VM
 * would get on host, with refusal (the error a start there raises) or NULL. */
char *vhw_vm_capabilities_xml(const struct platform *p, const struct vhw *h, const char *vm_uuid,
                              const char *host_uuid, const char *refusal);

#endif
