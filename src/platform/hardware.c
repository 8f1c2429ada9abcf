/* The hardware a VM is given: a pure function of its record and one registry entry,
 * the one for its version, pinned at its first start (VM.virtual_hardware) so that an
 * edited or upgraded registry never changes what a booted guest sees.  The build (the
 * device model's arguments, platform/ in xenstore, the HVM parameters read from it)
 * and VM.get_virtual_hardware both come from the struct vhw made here. */
#include "platform_int.h"
#include "dm_gen.h"
#include "util.h"

#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>

struct vhw_dev {
    const struct item *it;       /* in vhw->v */
    const char *model, *pci_id;  /* the chosen model's (or the device's own) */
    int64_t videoram;            /* vga: MiB */
};

struct vhw {
    struct version v;            /* the entry the VM gets: its own copy */
    bool pinned, hvm;
    struct vhw_dev *devs;
    size_t ndevs;
    /* platform/<key> = value, in the order written; from_vm: a key of the VM's own
     * that the version does not declare, passed on as xapi does */
    char **keys, **values;
    bool *from_vm;
    size_t nkeys;
};

static void add_key(struct vhw *h, const char *k, const char *v, bool from_vm)
{
    h->keys = xrealloc(h->keys, (h->nkeys + 1) * sizeof(char *));
    h->values = xrealloc(h->values, (h->nkeys + 1) * sizeof(char *));
    h->from_vm = xrealloc(h->from_vm, (h->nkeys + 1) * sizeof(bool));
    h->keys[h->nkeys] = xstrdup(k);
    h->values[h->nkeys] = xstrdup(v);
    h->from_vm[h->nkeys++] = from_vm;
}

static const char *find_key(const struct vhw *h, const char *k)
{
    for (size_t i = 0; i < h->nkeys; i++)
        if (strcmp(h->keys[i], k) == 0)
            return h->values[i];
    return NULL;
}

void vhw_free(struct vhw *h)
{
    if (!h)
        return;
    platform_version_clear(&h->v);
    free(h->devs);
    for (size_t i = 0; i < h->nkeys; i++) {
        free(h->keys[i]);
        free(h->values[i]);
    }
    free(h->keys);
    free(h->values);
    free(h->from_vm);
    free(h);
}

/* A copy of an entry through its XML: the pinned form is the only form copied. */
static xerr *parse_pin(const char *xml, struct version *v)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "virtual_hardware", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return xerr_internal("the VM's pinned virtual hardware is not XML");
    xmlNode *root = xmlDocGetRootElement(doc), *vn = NULL;
    /* the entry: the registry's form, or inside a pinned <virtualHardware> document */
    if (root && px_is(root, "version"))
        vn = root;
    for (xmlNode *c = root && px_is(root, "virtualHardware") ? root->children : NULL; c && !vn; c = c->next)
        if (px_is(c, "version"))
            vn = c;
    xerr *e = vn ? platform_parse_version("virtual_hardware", vn, v)
                 : xerr_internal("the VM's pinned virtual hardware holds no <version> entry");
    xmlFreeDoc(doc);
    if (e)
        platform_version_clear(v);
    return e;
}

char *platform_version_pin_xml(const struct platform *p, int64_t number)
{
    const struct version *v = platform_find_version(p, number);
    if (!v)
        return NULL;
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlDocSetRootElement(doc, platform_version_node(v));
    char *s = px_dump(doc);
    xmlFreeDoc(doc);
    return s;
}

static xerr *bad_key(const char *key, const char *value)
{
    _cleanup_free_ char *name = xasprintf("platform:%s", key);
    return err_invalid_value(name, value);
}

/* The value of a declared setting: the VM's own, checked against what the version
 * allows, else the version's default; bools as hvmloader and libxl read them. */
static xerr *setting_value(const struct setting *s, const char *given, char **out)
{
    const char *v = given ? given : s->def;
    if (s->type == SETTING_BOOL) {
        bool b;
        if (!parse_bool(v, &b))
            return bad_key(s->key, v);
        *out = xstrdup(b ? "1" : "0");
    } else if (s->type == SETTING_INT) {
        int64_t n;
        if (!parse_int64(v, &n) || n < s->min || n > s->max)
            return bad_key(s->key, v);
        *out = xasprintf("%lld", (long long)n);
    } else {
        for (size_t i = 0; i < s->nvalues; i++)
            if (strcmp(s->values[i], v) == 0) {
                *out = xstrdup(v);
                return NULL;
            }
        return bad_key(s->key, v);
    }
    return NULL;
}

static xerr *resolve_devices(struct vhw *h, bool vendor_device)
{
    bool vendor_given = false;
    for (size_t i = 0; i < h->v.ndevices; i++) {
        const struct item *it = &h->v.devices[i];
        if (!it->supported)
            continue;
        if (it->when && !vendor_device)
            continue;
        vendor_given |= it->when != NULL;
        struct vhw_dev d = {it, it->model, it->pci_id, 0};
        if (it->nmodels) {
            const char *want = find_key(h, it->model_key);
            const struct model *m = &it->models[0];
            for (size_t j = 0; want && j < it->nmodels; j++)
                if (strcmp(it->models[j].name, want) == 0)
                    m = &it->models[j];
            if (want && strcmp(m->name, want) != 0)
                return bad_key(it->model_key, want);
            d.model = m->qemu;
            d.pci_id = m->pci_id;
        }
        if (strcmp(it->name, "vga") == 0) {
            const char *mem = find_key(h, "videoram");
            if (!mem || !parse_int64(mem, &d.videoram))
                return xerr_internal("version %lld gives a VGA device but no videoram setting",
                                     (long long)h->v.number);
        }
        if (!it->builtin && !it->slot && strcmp(it->name, "usb-tablet") != 0)
            return xerr_internal("version %lld: device %s has no fixed slot", (long long)h->v.number, it->name);
        if (!it->builtin && !d.model)
            return xerr_internal("version %lld: device %s has no model", (long long)h->v.number, it->name);
        h->devs = xrealloc(h->devs, (h->ndevs + 1) * sizeof(struct vhw_dev));
        h->devs[h->ndevs++] = d;
    }
    if (vendor_device && !vendor_given)
        return err_invalid_value(DMF_VM_has_vendor_device->name, "the VM's platform version gives no vendor device");
    return NULL;
}

xerr *platform_hardware(const struct platform *p, const xv *vm, bool hvm, struct vhw **out)
{
    *out = NULL;
    int64_t version = dm_get_int(vm, DMF_VM_hardware_platform_version);
    const char *pin = dm_get_str(vm, DMF_VM_virtual_hardware);
    struct vhw *h = xcalloc(1, sizeof(*h));
    h->hvm = hvm;
    xerr *e = NULL;
    if (pin && *pin) {
        e = parse_pin(pin, &h->v);
        /* a raised version is a change of hardware the VM's owner asked for (a feature
         * it now uses): the new version's entry is pinned at the next start */
        if (!e && h->v.number != version)
            platform_version_clear(&h->v);
        else
            h->pinned = !e;
    }
    if (!e && !h->pinned) {
        _cleanup_free_ char *fresh = platform_version_pin_xml(p, version);
        e = fresh ? parse_pin(fresh, &h->v)
                  : xerr_internal("the platform registry does not describe version %lld", (long long)version);
    }
    const xv *pl = dm_get(vm, DMF_VM_platform);
    size_t n = pl && pl->type == XV_STRUCT ? pl->u.st.n : 0;
    if (!e && hvm) {
        if (!h->v.machine)
            e = xerr_internal("version %lld of the platform registry names no machine type", (long long)version);
        for (size_t i = 0; !e && i < h->v.nsettings; i++) {
            const struct setting *s = &h->v.settings[i];
            const xv *given = pl ? xv_struct_get(pl, s->key) : NULL;
            char *val = NULL;
            e = setting_value(s, given ? xv_str(given) : NULL, &val);
            if (!e)
                add_key(h, s->key, val, false);
            free(val);
        }
        if (!e)
            e = resolve_devices(h, dm_get_bool(vm, DMF_VM_has_vendor_device));
    }
    for (size_t i = 0; !e && i < n; i++) {
        const char *k = pl->u.st.m[i].key, *v = xv_str(pl->u.st.m[i].val);
        /* keys go to platform/<key>: one path component */
        if (!k[0] || strpbrk(k, "/@") || (hvm && platform_version_setting(&h->v, k)))
            continue;
        add_key(h, k, v ? v : "", true);
    }
    if (e) {
        vhw_free(h);
        return e;
    }
    *out = h;
    return NULL;
}

const struct version *vhw_version(const struct vhw *h)
{
    return &h->v;
}

bool vhw_pinned(const struct vhw *h)
{
    return h->pinned;
}

static char *hw_doc(const struct vhw *h, bool pinned);

char *vhw_pin_xml(const struct vhw *h)
{
    return hw_doc(h, true);
}

const char *vhw_machine(const struct vhw *h)
{
    return h->hvm ? h->v.machine : NULL;
}

int64_t vhw_videoram_mib(const struct vhw *h)
{
    for (size_t i = 0; i < h->ndevs; i++)
        if (h->devs[i].videoram)
            return h->devs[i].videoram;
    return 0;
}

size_t vhw_platform(const struct vhw *h, const char *const **keys, const char *const **values)
{
    *keys = (const char *const *)h->keys;
    *values = (const char *const *)h->values;
    return h->nkeys;
}

/* "00:04.0" -> "0x4" (function 0) or "0x4.0x1" as qemu's addr= takes it. */
static char *qemu_addr(const char *slot)
{
    unsigned bus, dev, fn;
    if (sscanf(slot, "%2x:%2x.%1x", &bus, &dev, &fn) != 3)
        return xstrdup("");
    return fn ? xasprintf("0x%x.0x%x", dev, fn) : xasprintf("0x%x", dev);
}

/* The device model's arguments for the devices, in the registry's order.  Devices
 * the machine type provides (builtin) take no argument; the emulated NICs take one
 * per VIF, and VMs have none yet. */
char **vhw_dm_args(const struct vhw *h)
{
    char **argv = xcalloc(4 * h->ndevs + 3, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; h->hvm && i < h->ndevs; i++) {
        const struct vhw_dev *d = &h->devs[i];
        const char *name = d->it->name;
        if (d->it->builtin || strcmp(name, "nic") == 0)
            continue;
        _cleanup_free_ char *addr = d->it->slot ? qemu_addr(d->it->slot) : NULL;
        if (strcmp(name, "vga") == 0) {
            argv[n++] = xstrdup("-device");
            argv[n++] = xasprintf("%s,vgamem_mb=%lld,addr=%s", d->model, (long long)d->videoram, addr);
        } else if (strcmp(name, "xen-pvdevice") == 0) {
            argv[n++] = xstrdup("-device");
            argv[n++] = xasprintf("%s,device-id=%s,addr=%s", d->model, d->it->id ? d->it->id : "0xc000", addr);
        } else if (strcmp(name, "usb-tablet") == 0) {
            /* the USB controller is the PIIX3's function 2, made by -usb */
            argv[n++] = xstrdup("-usb");
            argv[n++] = xstrdup("-device");
            argv[n++] = xstrdup(d->model);
        } else {
            argv[n++] = xstrdup("-device");
            argv[n++] = xasprintf("%s,addr=%s", d->model, addr);
        }
    }
    argv[n] = NULL;
    return argv;
}

/* ---- the document VM.get_virtual_hardware returns ---- */

char *vhw_xml(const struct vhw *h)
{
    return hw_doc(h, h->pinned);
}

/* The resolved hardware, then the entry it was resolved from: what a later start
 * resolves again (with the VM's platform keys of then). */
static char *hw_doc(const struct vhw *h, bool pinned)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"virtualHardware");
    xmlDocSetRootElement(doc, root);
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)h->v.number);
    px_set(root, "version", num);
    px_set(root, "type", h->hvm ? "hvm" : "pv");
    px_set(root, "pinned", pinned ? "yes" : "no");
    if (h->hvm) {
        px_set(xmlNewChild(root, NULL, (const xmlChar *)"machine", NULL), "type", h->v.machine);
        xmlNode *devs = xmlNewChild(root, NULL, (const xmlChar *)"devices", NULL);
        for (size_t i = 0; i < h->ndevs; i++) {
            const struct vhw_dev *d = &h->devs[i];
            xmlNode *c = xmlNewChild(devs, NULL, (const xmlChar *)"device", NULL);
            px_set(c, "name", d->it->name);
            px_set(c, "slot", d->it->slot);
            px_set(c, "model", d->model);
            px_set(c, "pci-id", d->pci_id);
            px_set(c, "revision", d->it->revision);
            px_set(c, "device-id", d->it->id);
            if (d->it->builtin)
                px_set(c, "builtin", "yes");
            if (d->videoram) {
                snprintf(num, sizeof(num), "%lld", (long long)d->videoram);
                px_set(c, "videoram", num);
            }
            if (strcmp(d->it->name, "nic") == 0) {
                snprintf(num, sizeof(num), "%lld", (long long)d->it->count);
                px_set(c, "max", num);
                px_set(c, "present", "0");
            }
        }
    }
    xmlNode *plat = xmlNewChild(root, NULL, (const xmlChar *)"platform", NULL);
    for (size_t i = 0; i < h->nkeys; i++) {
        xmlNode *c = xmlNewChild(plat, NULL, (const xmlChar *)"key", NULL);
        px_set(c, "name", h->keys[i]);
        px_set(c, "value", h->values[i]);
        if (h->from_vm[i])
            px_set(c, "from", "vm");
    }
    xmlAddChild(root, platform_version_node(&h->v));
    char *s = px_dump(doc);
    xmlFreeDoc(doc);
    return s;
}

char *vhw_pci_inventory(const struct vhw *h)
{
    /* slot order: the registry lists devices in any order */
    const struct vhw_dev **v = xcalloc(h->ndevs + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; h->hvm && i < h->ndevs; i++)
        if (h->devs[i].it->slot && h->devs[i].pci_id && strcmp(h->devs[i].it->name, "nic") != 0)
            v[n++] = &h->devs[i];
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1]->it->slot, v[j]->it->slot) > 0; j--) {
            const struct vhw_dev *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s %s\n", v[i]->it->slot, v[i]->pci_id);
    free(v);
    return buf_steal(&b);
}
