/* Feature discovery after libvirt's domain capabilities (docs/platform.md): per
 * version, the machine type, the devices with their slots, models and enums, the
 * platform keys a VM may set, and the features, tri-state (an absent element is
 * unknown, supported='no' is no). */
#include "platform_int.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static xmlNode *add(xmlNode *parent, const char *name)
{
    return xmlNewChild(parent, NULL, (const xmlChar *)name, NULL);
}

static void add_value(xmlNode *en, const char *v)
{
    xmlNewTextChild(en, NULL, (const xmlChar *)"value", (const xmlChar *)v);
}

static void version_caps(xmlNode *vn, const struct version *v)
{
    if (v->machine)
        px_set(add(vn, "machine"), "type", v->machine);
    xmlNode *devs = add(vn, "devices");
    for (size_t i = 0; i < v->ndevices; i++) {
        const struct item *it = &v->devices[i];
        xmlNode *c = add(devs, "device");
        px_set(c, "name", it->name);
        px_set(c, "supported", it->supported ? "yes" : "no");
        px_set(c, "id", it->id);
        px_set(c, "slot", it->slot);
        px_set(c, "model", it->model);
        px_set(c, "pci-id", it->pci_id);
        px_set(c, "revision", it->revision);
        if (it->builtin)
            px_set(c, "builtin", "yes");
        if (it->when)
            px_set(c, "when", it->when);
        if (it->nmodels) {
            xmlNode *en = add(c, "enum");
            px_set(en, "name", "model");
            px_set(en, "key", it->model_key);
            for (size_t j = 0; j < it->nmodels; j++)
                add_value(en, it->models[j].name);
        }
    }
    xmlNode *plat = add(vn, "platform");
    for (size_t i = 0; i < v->nsettings; i++) {
        const struct setting *s = &v->settings[i];
        xmlNode *c = add(plat, "key");
        px_set(c, "name", s->key);
        px_set(c, "type", s->type == SETTING_BOOL ? "bool" : s->type == SETTING_INT ? "int" : "enum");
        px_set(c, "default", s->def);
        char n[24];
        if (s->type == SETTING_INT) {
            snprintf(n, sizeof(n), "%lld", (long long)s->min);
            px_set(c, "min", n);
            snprintf(n, sizeof(n), "%lld", (long long)s->max);
            px_set(c, "max", n);
        } else if (s->type == SETTING_ENUM) {
            xmlNode *en = add(c, "enum");
            for (size_t j = 0; j < s->nvalues; j++)
                add_value(en, s->values[j]);
        }
    }
    xmlNode *feats = add(vn, "features");
    for (size_t i = 0; i < v->nfeatures; i++) {
        xmlNode *c = add(feats, "feature");
        px_set(c, "name", v->features[i].name);
        px_set(c, "supported", v->features[i].supported ? "yes" : "no");
    }
}

static xmlNode *version_node(const struct version *v, bool offered)
{
    xmlNode *vn = xmlNewNode(NULL, (const xmlChar *)"version");
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)v->number);
    px_set(vn, "number", num);
    px_set(vn, "offered", offered ? "yes" : "no");
    version_caps(vn, v);
    return vn;
}

char *platform_capabilities_xml(const struct platform *p, const char *host_uuid)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"platformCapabilities");
    xmlDocSetRootElement(doc, root);
    px_set(root, "host", host_uuid);
    for (size_t i = 0; i < p->nversions; i++)
        xmlAddChild(root, version_node(&p->versions[i], platform_is_offered(p, p->versions[i].number)));
    xmlNode *reqs = add(root, "requirements");
    for (size_t i = 0; i < p->nreqs; i++) {
        xmlNode *r = add(reqs, "feature");
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)p->reqs[i].requires);
        px_set(r, "name", p->reqs[i].feature);
        px_set(r, "requires", num);
    }
    char *out = px_dump(doc);
    xmlFreeDoc(doc);
    return out;
}

char *vhw_vm_capabilities_xml(const struct platform *p, const struct vhw *h, const char *vm_uuid,
                              const char *host_uuid, const char *refusal)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"vmPlatformCapabilities");
    xmlDocSetRootElement(doc, root);
    px_set(root, "vm", vm_uuid);
    px_set(root, "host", host_uuid);
    const struct version *v = vhw_version(h);
    px_set(root, "runnable", refusal ? "no" : "yes");
    px_set(root, "pinned", vhw_pinned(h) ? "yes" : "no");
    if (refusal)
        xmlNewTextChild(root, NULL, (const xmlChar *)"refusal", (const xmlChar *)refusal);
    xmlAddChild(root, version_node(v, platform_is_offered(p, v->number)));
    /* what it would get there: the same document as VM.get_virtual_hardware */
    _cleanup_free_ char *hw = vhw_xml(h);
    xmlDoc *hd = xmlReadMemory(hw, (int)strlen(hw), "hw", NULL, XML_PARSE_NONET);
    if (hd) {
        xmlAddChild(root, xmlDocCopyNode(xmlDocGetRootElement(hd), doc, 1));
        xmlFreeDoc(hd);
    }
    char *out = px_dump(doc);
    xmlFreeDoc(doc);
    return out;
}
