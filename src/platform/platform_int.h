/* Internal to src/platform: the registry as parsed, shared by the registry
 * (platform.c), the hardware a VM is given (hardware.c) and the capabilities
 * document (caps.c).  A <version> element of the registry and a VM's pinned
 * hardware (VM.virtual_hardware) are the same XML and parse into one struct version. */
#ifndef XENAPID_PLATFORM_INT_H
#define XENAPID_PLATFORM_INT_H

#include "platform.h"

#include <libxml/tree.h>

struct model {                   /* one choice of a device's model (platform:vga=std, ...) */
    char *name, *qemu, *pci_id;
};

struct item {                    /* a device or a feature of a version */
    char *name, *doc, *id;       /* id: the vendor device's device-id (0xc000) */
    bool supported;
    char *slot;                  /* PCI address the guest sees it at, "00:03.0" */
    char *model;                 /* the device model's name for it (-device MODEL) */
    char *pci_id;                /* vendor:device the guest reads, "5853:0001" */
    char *revision;              /* PCI revision, where declared */
    char *model_key;             /* the platform key choosing among models (vga, nic_type) */
    char *when;                  /* the VM field that must be true (has_vendor_device) */
    bool builtin;                /* the machine type provides it: nothing on the command line */
    int64_t count;               /* nic: how many slots from slot on */
    struct model *models;
    size_t nmodels;
};

enum setting_type { SETTING_BOOL, SETTING_INT, SETTING_ENUM };

struct setting {                 /* a platform key reaching the guest (platform/<key>) */
    char *key, *def, *doc;
    enum setting_type type;
    int64_t min, max;            /* SETTING_INT */
    char **values;               /* SETTING_ENUM */
    size_t nvalues;
};

struct version {
    int64_t number;
    char *doc;
    char *machine;               /* the device model's machine type; NULL: none described */
    struct item *devices, *features;
    size_t ndevices, nfeatures;
    struct setting *settings;
    size_t nsettings;
};

struct requirement {
    char *feature, *doc;
    int64_t requires;
};

struct platform {
    struct version *versions;
    size_t nversions;
    struct requirement *reqs;
    size_t nreqs;
    int64_t *offered;
    size_t noffered;
};

/* Parse a <version> element (of the registry or of a pinned document) into v; path
 * names the source in errors. */
xerr *platform_parse_version(const char *path, xmlNode *vn, struct version *v);
void platform_version_clear(struct version *v);
const struct version *platform_find_version(const struct platform *p, int64_t number);
bool platform_is_offered(const struct platform *p, int64_t number);
/* The <version> element of v, as the registry writes it (pinned hardware). */
xmlNode *platform_version_node(const struct version *v);
const struct item *platform_version_device(const struct version *v, const char *name);
const struct setting *platform_version_setting(const struct version *v, const char *key);

const struct version *vhw_version(const struct vhw *h);

/* XML helpers */
char *px_prop(xmlNode *n, const char *name);
bool px_is(xmlNode *n, const char *name);
void px_set(xmlNode *n, const char *name, const char *value);  /* no-op for NULL */
char *px_dump(xmlDoc *doc);     /* UTF-8, indented; caller frees */

#endif
