#include "platform.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

struct item {                    /* a device or a feature of a version */
    char *name, *doc, *id;
    bool supported;
};

struct version {
    int64_t number;
    char *doc;
    struct item *devices, *features;
    size_t ndevices, nfeatures;
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

/* The features this daemon can tell a VM uses, from its record.  A feature here
 * must have a requirement in the registry, or the daemon refuses to start: a VM
 * using it would otherwise never be raised. */
struct feature_use {
    const char *name;
    bool (*used)(const xv *vm);
};

static bool uses_vendor_device(const xv *vm)
{
    const xv *v = xv_struct_get(vm, "has_vendor_device");
    return v && v->type == XV_BOOL && v->u.b;
}

static const struct feature_use feature_uses[] = {
    {"vendor-device", uses_vendor_device},
};
#define NFEATURE_USES (sizeof(feature_uses) / sizeof(feature_uses[0]))

static char *prop(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? xstrdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

static bool is(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xerr *bad(const char *path, xmlNode *n, const char *what)
{
    return xerr_internal("%s:%d: %s", path, n ? n->line : 0, what);
}

static xerr *read_items(const char *path, xmlNode *vn, struct version *v)
{
    for (xmlNode *c = vn->children; c; c = c->next) {
        bool dev = is(c, "device");
        if (!dev && !is(c, "feature"))
            continue;
        struct item it = {prop(c, "name"), prop(c, "doc"), prop(c, "id"), true};
        _cleanup_free_ char *sup = prop(c, "supported");
        const char *wrong = !it.name                                     ? "a device or feature without a name"
                            : sup && !parse_bool(sup, &it.supported) ? "supported must be yes or no"
                                                                     : NULL;
        if (wrong) {
            free(it.name);
            free(it.doc);
            free(it.id);
            return bad(path, c, wrong);
        }
        struct item **arr = dev ? &v->devices : &v->features;
        size_t *n = dev ? &v->ndevices : &v->nfeatures;
        *arr = xrealloc(*arr, (*n + 1) * sizeof(struct item));
        (*arr)[(*n)++] = it;
    }
    return NULL;
}

static xerr *parse(struct platform *p, const char *path)
{
    xmlDoc *doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return xerr_internal("cannot read the platform registry %s", path);
    xmlNode *root = xmlDocGetRootElement(doc);
    xerr *e = NULL;
    if (!root || !is(root, "platform-registry"))
        e = bad(path, root, "the root element must be platform-registry");
    for (xmlNode *n = root ? root->children : NULL; n && !e; n = n->next) {
        if (is(n, "version")) {
            _cleanup_free_ char *num = prop(n, "number");
            struct version v = {.doc = prop(n, "doc")};
            if (!num || !parse_int64(num, &v.number) || v.number < 0) {
                free(v.doc);
                e = bad(path, n, "a version needs a number >= 0");
                break;
            }
            for (size_t i = 0; i < p->nversions; i++)
                if (p->versions[i].number == v.number)
                    e = bad(path, n, "a version is described twice");
            p->versions = xrealloc(p->versions, (p->nversions + 1) * sizeof(struct version));
            p->versions[p->nversions++] = v;
            if (!e)
                e = read_items(path, n, &p->versions[p->nversions - 1]);
        } else if (is(n, "feature")) {
            _cleanup_free_ char *req = prop(n, "requires");
            struct requirement r = {prop(n, "name"), prop(n, "doc"), 0};
            p->reqs = xrealloc(p->reqs, (p->nreqs + 1) * sizeof(struct requirement));
            p->reqs[p->nreqs++] = r;
            if (!r.feature || !req || !parse_int64(req, &p->reqs[p->nreqs - 1].requires) ||
                p->reqs[p->nreqs - 1].requires < 0)
                e = bad(path, n, "a feature needs a name and requires=\"N\"");
        }
    }
    xmlFreeDoc(doc);
    return e;
}

static bool described(const struct platform *p, int64_t v)
{
    for (size_t i = 0; i < p->nversions; i++)
        if (p->versions[i].number == v)
            return true;
    return false;
}

/* A requirement must name a version the registry describes (a VM raised to it must
 * be buildable from the registry), and a feature may be required only once. */
static xerr *check_requirements(const struct platform *p, const char *path)
{
    for (size_t i = 0; i < p->nreqs; i++) {
        if (!described(p, p->reqs[i].requires))
            return xerr_internal("%s: feature %s requires version %lld, which the registry does not describe",
                                 path, p->reqs[i].feature, (long long)p->reqs[i].requires);
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->reqs[i].feature, p->reqs[j].feature) == 0)
                return xerr_internal("%s: feature %s is required twice", path, p->reqs[i].feature);
    }
    return NULL;
}

xerr *platform_load(const char *registry_path, const char *offered, struct platform **out)
{
    struct platform *p = xcalloc(1, sizeof(*p));
    xerr *e = parse(p, registry_path);
    if (!e)
        e = check_requirements(p, registry_path);
    for (size_t i = 0; !e && i < NFEATURE_USES; i++)
        if (platform_feature_requires(p, feature_uses[i].name) < 0)
            e = xerr_internal("%s: no <feature name=\"%s\" requires=\"N\"/>", registry_path,
                              feature_uses[i].name);
    _cleanup_free_ char *copy = xstrdup(offered);
    char *save = NULL;
    for (char *tok = e ? NULL : strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        int64_t v;
        if (!parse_int64(tok, &v) || v < 0) {
            e = err_invalid_value("virtual-hardware-platform-versions", offered);
            break;
        }
        if (!described(p, v)) {
            e = xerr_internal("virtual-hardware-platform-versions offers %lld, which %s does not describe",
                              (long long)v, registry_path);
            break;
        }
        bool dup = false;
        for (size_t i = 0; i < p->noffered; i++)
            dup |= p->offered[i] == v;
        if (dup)
            continue;
        p->offered = xrealloc(p->offered, (p->noffered + 1) * sizeof(int64_t));
        p->offered[p->noffered++] = v;
    }
    if (!e && p->noffered == 0)
        e = err_invalid_value("virtual-hardware-platform-versions", offered);
    if (e) {
        platform_free(p);
        return e;
    }
    *out = p;
    return NULL;
}

static void free_items(struct item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(it[i].name);
        free(it[i].doc);
        free(it[i].id);
    }
    free(it);
}

void platform_free(struct platform *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nversions; i++) {
        free(p->versions[i].doc);
        free_items(p->versions[i].devices, p->versions[i].ndevices);
        free_items(p->versions[i].features, p->versions[i].nfeatures);
    }
    free(p->versions);
    for (size_t i = 0; i < p->nreqs; i++) {
        free(p->reqs[i].feature);
        free(p->reqs[i].doc);
    }
    free(p->reqs);
    free(p->offered);
    free(p);
}

bool platform_describes(const struct platform *p, int64_t version)
{
    return described(p, version);
}

xv *platform_offered(const struct platform *p)
{
    xv *a = xv_array();
    for (size_t i = 0; i < p->noffered; i++)
        xv_array_push(a, xv_int(p->offered[i]));
    return a;
}

int64_t platform_feature_requires(const struct platform *p, const char *feature)
{
    for (size_t i = 0; i < p->nreqs; i++)
        if (strcmp(p->reqs[i].feature, feature) == 0)
            return p->reqs[i].requires;
    return -1;
}

int64_t platform_version_needed(const struct platform *p, const xv *vm)
{
    int64_t needed = 0;
    for (size_t i = 0; i < NFEATURE_USES; i++) {
        if (!feature_uses[i].used(vm))
            continue;
        int64_t r = platform_feature_requires(p, feature_uses[i].name);
        if (r > needed)
            needed = r;
    }
    return needed;
}

int64_t platform_raise(const struct platform *p, const xv *vm, int64_t current)
{
    int64_t needed = platform_version_needed(p, vm);
    return needed > current ? needed : current;
}

bool platform_host_offers(const xv *host_versions, int64_t version)
{
    for (size_t i = 0; host_versions && host_versions->type == XV_ARRAY && i < host_versions->u.arr.n; i++) {
        const xv *v = host_versions->u.arr.v[i];
        if (v->type == XV_INT && v->u.i == version)
            return true;
    }
    return false;
}

char *platform_format_versions(const xv *versions)
{
    buf b;
    buf_init(&b);
    buf_addc(&b, '[');
    for (size_t i = 0; versions && versions->type == XV_ARRAY && i < versions->u.arr.n; i++) {
        const xv *v = versions->u.arr.v[i];
        buf_printf(&b, "%s%lld", i ? "; " : "", (long long)(v->type == XV_INT ? v->u.i : 0));
    }
    buf_addc(&b, ']');
    return buf_steal(&b);
}

static void add_items(xmlNode *parent, const char *kind, const struct item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        xmlNode *c = xmlNewChild(parent, NULL, (const xmlChar *)kind, NULL);
        xmlNewProp(c, (const xmlChar *)"name", (const xmlChar *)it[i].name);
        xmlNewProp(c, (const xmlChar *)"supported", (const xmlChar *)(it[i].supported ? "yes" : "no"));
        if (it[i].id)
            xmlNewProp(c, (const xmlChar *)"id", (const xmlChar *)it[i].id);
    }
}

char *platform_capabilities_xml(const struct platform *p, const char *host_uuid)
{
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
    xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"platformCapabilities");
    xmlDocSetRootElement(doc, root);
    xmlNewProp(root, (const xmlChar *)"host", (const xmlChar *)host_uuid);
    for (size_t i = 0; i < p->nversions; i++) {
        const struct version *v = &p->versions[i];
        bool offered = false;
        for (size_t j = 0; j < p->noffered; j++)
            offered |= p->offered[j] == v->number;
        xmlNode *vn = xmlNewChild(root, NULL, (const xmlChar *)"version", NULL);
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)v->number);
        xmlNewProp(vn, (const xmlChar *)"number", (const xmlChar *)num);
        xmlNewProp(vn, (const xmlChar *)"offered", (const xmlChar *)(offered ? "yes" : "no"));
        add_items(xmlNewChild(vn, NULL, (const xmlChar *)"devices", NULL), "device", v->devices, v->ndevices);
        add_items(xmlNewChild(vn, NULL, (const xmlChar *)"features", NULL), "feature", v->features, v->nfeatures);
    }
    xmlNode *reqs = xmlNewChild(root, NULL, (const xmlChar *)"requirements", NULL);
    for (size_t i = 0; i < p->nreqs; i++) {
        xmlNode *r = xmlNewChild(reqs, NULL, (const xmlChar *)"feature", NULL);
        char num[24];
        snprintf(num, sizeof(num), "%lld", (long long)p->reqs[i].requires);
        xmlNewProp(r, (const xmlChar *)"name", (const xmlChar *)p->reqs[i].feature);
        xmlNewProp(r, (const xmlChar *)"requires", (const xmlChar *)num);
    }
    xmlChar *mem = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    char *out = xstrndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    xmlFreeDoc(doc);
    return out;
}
