#include "platform.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <libxml/parser.h>
#include <limits.h>
#include <libxml/tree.h>
#include <string.h>

#include "platform_int.h"

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

char *px_prop(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    char *s = v ? xstrdup((const char *)v) : NULL;
    xmlFree(v);
    return s;
}

bool px_is(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

void px_set(xmlNode *n, const char *name, const char *value)
{
    if (value)
        xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value);
}

char *px_dump(xmlDoc *doc)
{
    xmlChar *mem = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    char *out = xstrndup((const char *)mem, (size_t)len);
    xmlFree(mem);
    return out;
}

#define prop px_prop
#define is px_is

static xerr *bad(const char *path, xmlNode *n, const char *what)
{
    return xerr_internal("%s:%d: %s", path, n ? n->line : 0, what);
}

static void free_item(struct item *it)
{
    free(it->name);
    free(it->doc);
    free(it->id);
    free(it->slot);
    free(it->model);
    free(it->pci_id);
    free(it->revision);
    free(it->model_key);
    free(it->when);
    for (size_t i = 0; i < it->nmodels; i++) {
        free(it->models[i].name);
        free(it->models[i].qemu);
        free(it->models[i].pci_id);
    }
    free(it->models);
}

static void free_setting(struct setting *s)
{
    free(s->key);
    free(s->def);
    free(s->doc);
    for (size_t i = 0; i < s->nvalues; i++)
        free(s->values[i]);
    free(s->values);
}

/* A PCI address as the guest's lspci shows it: bus 00, slot, function. */
static bool good_slot(const char *s)
{
    unsigned bus, dev, fn;
    char end;
    return strlen(s) == 7 && sscanf(s, "%2x:%2x.%1x%c", &bus, &dev, &fn, &end) == 3 && bus == 0 && dev < 32 &&
           fn < 8;
}

static bool good_pci_id(const char *s)
{
    return strlen(s) == 9 && s[4] == ':' && strspn(s, "0123456789abcdef:") == 9;
}

static const char *read_device(xmlNode *c, struct item *it)
{
    _cleanup_free_ char *builtin = prop(c, "builtin"), *count = prop(c, "count");
    it->slot = prop(c, "slot");
    it->model = prop(c, "model");
    it->pci_id = prop(c, "pci-id");
    it->revision = prop(c, "revision");
    it->model_key = prop(c, "model-key");
    it->when = prop(c, "when");
    if (builtin && !parse_bool(builtin, &it->builtin))
        return "builtin must be yes or no";
    if (count && (!parse_int64(count, &it->count) || it->count < 0 || it->count > 16))
        return "count must be 0 to 16";
    if (it->slot && !good_slot(it->slot))
        return "slot must be a PCI address 00:SS.F";
    if (it->pci_id && !good_pci_id(it->pci_id))
        return "pci-id must be vvvv:dddd in lower-case hex";
    if (it->when && strcmp(it->when, "has_vendor_device") != 0)
        return "when may only name has_vendor_device";
    for (xmlNode *m = c->children; m; m = m->next) {
        if (!is(m, "model"))
            continue;
        struct model md = {prop(m, "name"), prop(m, "qemu"), prop(m, "pci-id")};
        it->models = xrealloc(it->models, (it->nmodels + 1) * sizeof(struct model));
        it->models[it->nmodels++] = md;
        if (!md.name || !md.qemu)
            return "a model needs a name and its qemu device";
        if (md.pci_id && !good_pci_id(md.pci_id))
            return "pci-id must be vvvv:dddd in lower-case hex";
    }
    if (it->nmodels && !it->model_key)
        return "a device with models needs model-key, the platform key choosing one";
    return NULL;
}

static const char *read_setting(xmlNode *c, struct setting *s)
{
    _cleanup_free_ char *type = prop(c, "type"), *min = prop(c, "min"), *max = prop(c, "max"),
                        *values = prop(c, "values");
    s->key = prop(c, "key");
    s->def = prop(c, "default");
    s->doc = prop(c, "doc");
    if (!s->key || !s->key[0] || strpbrk(s->key, "/@"))
        return "a setting needs a key of one path component";
    if (!s->def)
        return "a setting needs a default";
    if (!type || strcmp(type, "bool") == 0) {
        s->type = SETTING_BOOL;
        bool b;
        if (!parse_bool(s->def, &b))
            return "a bool setting's default must be 1 or 0";
    } else if (strcmp(type, "int") == 0) {
        s->type = SETTING_INT;
        int64_t d;
        if (!min || !max || !parse_int64(min, &s->min) || !parse_int64(max, &s->max) || s->min > s->max ||
            !parse_int64(s->def, &d) || d < s->min || d > s->max)
            return "an int setting needs min <= default <= max";
    } else if (strcmp(type, "enum") == 0) {
        s->type = SETTING_ENUM;
        char *save = NULL;
        bool has_def = false;
        for (char *tok = values ? strtok_r(values, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save)) {
            s->values = xrealloc(s->values, (s->nvalues + 1) * sizeof(char *));
            s->values[s->nvalues++] = xstrdup(tok);
            has_def |= strcmp(tok, s->def) == 0;
        }
        if (!has_def)
            return "an enum setting needs values=\"a b ...\" holding its default";
    } else {
        return "a setting's type is bool, int or enum";
    }
    return NULL;
}

xerr *platform_parse_version(const char *path, xmlNode *vn, struct version *v)
{
    _cleanup_free_ char *num = prop(vn, "number");
    memset(v, 0, sizeof(*v));
    v->doc = prop(vn, "doc");
    if (!num || !parse_int64(num, &v->number) || v->number < 0)
        return bad(path, vn, "a version needs a number >= 0");
    for (xmlNode *c = vn->children; c; c = c->next) {
        const char *wrong = NULL;
        if (is(c, "machine")) {
            free(v->machine);
            v->machine = prop(c, "type");
            if (!v->machine || !v->machine[0])
                wrong = "a machine needs a type";
        } else if (is(c, "setting")) {
            v->settings = xrealloc(v->settings, (v->nsettings + 1) * sizeof(struct setting));
            struct setting *s = &v->settings[v->nsettings++];
            memset(s, 0, sizeof(*s));
            wrong = read_setting(c, s);
            for (size_t i = 0; !wrong && i + 1 < v->nsettings; i++)
                if (strcmp(v->settings[i].key, s->key) == 0)
                    wrong = "a setting is declared twice";
        } else if (is(c, "device") || is(c, "feature")) {
            bool dev = is(c, "device");
            struct item **arr = dev ? &v->devices : &v->features;
            size_t *n = dev ? &v->ndevices : &v->nfeatures;
            *arr = xrealloc(*arr, (*n + 1) * sizeof(struct item));
            struct item *it = &(*arr)[(*n)++];
            memset(it, 0, sizeof(*it));
            it->name = prop(c, "name");
            it->doc = prop(c, "doc");
            it->id = prop(c, "id");
            it->supported = true;
            _cleanup_free_ char *sup = prop(c, "supported");
            wrong = !it->name                                      ? "a device or feature without a name"
                    : sup && !parse_bool(sup, &it->supported) ? "supported must be yes or no"
                    : dev                                          ? read_device(c, it)
                                                                   : NULL;
        }
        if (wrong)
            return bad(path, c, wrong);
    }
    return NULL;
}

void platform_version_clear(struct version *v)
{
    free(v->doc);
    free(v->machine);
    for (size_t i = 0; i < v->ndevices; i++)
        free_item(&v->devices[i]);
    free(v->devices);
    for (size_t i = 0; i < v->nfeatures; i++)
        free_item(&v->features[i]);
    free(v->features);
    for (size_t i = 0; i < v->nsettings; i++)
        free_setting(&v->settings[i]);
    free(v->settings);
    memset(v, 0, sizeof(*v));
}

static void put_item(xmlNode *parent, const char *kind, const struct item *it)
{
    xmlNode *c = xmlNewChild(parent, NULL, (const xmlChar *)kind, NULL);
    px_set(c, "name", it->name);
    if (!it->supported)
        px_set(c, "supported", "no");
    px_set(c, "slot", it->slot);
    px_set(c, "model", it->model);
    px_set(c, "pci-id", it->pci_id);
    px_set(c, "revision", it->revision);
    px_set(c, "id", it->id);
    px_set(c, "model-key", it->model_key);
    px_set(c, "when", it->when);
    if (it->builtin)
        px_set(c, "builtin", "yes");
    if (it->count) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", (long long)it->count);
        px_set(c, "count", n);
    }
    for (size_t i = 0; i < it->nmodels; i++) {
        xmlNode *m = xmlNewChild(c, NULL, (const xmlChar *)"model", NULL);
        px_set(m, "name", it->models[i].name);
        px_set(m, "qemu", it->models[i].qemu);
        px_set(m, "pci-id", it->models[i].pci_id);
    }
}

/* Everything that decides the hardware, without the docs: the pinned copy says
 * what the VM got, the registry says why. */
xmlNode *platform_version_node(const struct version *v)
{
    xmlNode *vn = xmlNewNode(NULL, (const xmlChar *)"version");
    char num[24];
    snprintf(num, sizeof(num), "%lld", (long long)v->number);
    px_set(vn, "number", num);
    if (v->machine)
        px_set(xmlNewChild(vn, NULL, (const xmlChar *)"machine", NULL), "type", v->machine);
    for (size_t i = 0; i < v->ndevices; i++)
        put_item(vn, "device", &v->devices[i]);
    for (size_t i = 0; i < v->nsettings; i++) {
        const struct setting *s = &v->settings[i];
        xmlNode *c = xmlNewChild(vn, NULL, (const xmlChar *)"setting", NULL);
        px_set(c, "key", s->key);
        px_set(c, "type", s->type == SETTING_BOOL ? "bool" : s->type == SETTING_INT ? "int" : "enum");
        px_set(c, "default", s->def);
        if (s->type == SETTING_INT) {
            char n[24];
            snprintf(n, sizeof(n), "%lld", (long long)s->min);
            px_set(c, "min", n);
            snprintf(n, sizeof(n), "%lld", (long long)s->max);
            px_set(c, "max", n);
        } else if (s->type == SETTING_ENUM) {
            buf b;
            buf_init(&b);
            for (size_t j = 0; j < s->nvalues; j++)
                buf_printf(&b, "%s%s", j ? " " : "", s->values[j]);
            _cleanup_free_ char *vals = buf_steal(&b);
            px_set(c, "values", vals);
        }
    }
    for (size_t i = 0; i < v->nfeatures; i++)
        put_item(vn, "feature", &v->features[i]);
    return vn;
}

const struct item *platform_version_device(const struct version *v, const char *name)
{
    for (size_t i = 0; i < v->ndevices; i++)
        if (strcmp(v->devices[i].name, name) == 0)
            return &v->devices[i];
    return NULL;
}

const struct setting *platform_version_setting(const struct version *v, const char *key)
{
    for (size_t i = 0; i < v->nsettings; i++)
        if (strcmp(v->settings[i].key, key) == 0)
            return &v->settings[i];
    return NULL;
}

const struct version *platform_find_version(const struct platform *p, int64_t number)
{
    for (size_t i = 0; i < p->nversions; i++)
        if (p->versions[i].number == number)
            return &p->versions[i];
    return NULL;
}

bool platform_is_offered(const struct platform *p, int64_t number)
{
    for (size_t i = 0; i < p->noffered; i++)
        if (p->offered[i] == number)
            return true;
    return false;
}

static xerr *parse(struct platform *p, const char *path, const char *text, size_t len)
{
    xmlDoc *doc = len > INT_MAX ? NULL
                                : xmlReadMemory(text, (int)len, path, NULL,
                                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return xerr_internal("cannot read the platform registry %s", path);
    xmlNode *root = xmlDocGetRootElement(doc);
    xerr *e = NULL;
    if (!root || !is(root, "platform-registry"))
        e = bad(path, root, "the root element must be platform-registry");
    for (xmlNode *n = root ? root->children : NULL; n && !e; n = n->next) {
        if (is(n, "version")) {
            p->versions = xrealloc(p->versions, (p->nversions + 1) * sizeof(struct version));
            struct version *v = &p->versions[p->nversions++];
            e = platform_parse_version(path, n, v);
            for (size_t i = 0; !e && i + 1 < p->nversions; i++)
                if (p->versions[i].number == v->number)
                    e = bad(path, n, "a version is described twice");
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
    size_t len = 0;
    _cleanup_free_ char *text = read_file(registry_path, &len);
    if (!text)
        return xerr_internal("cannot read the platform registry %s: %s", registry_path, strerror(errno));
    return platform_load_text(registry_path, text, len, offered, out);
}

xerr *platform_load_text(const char *registry_path, const char *text, size_t len, const char *offered,
                         struct platform **out)
{
    struct platform *p = xcalloc(1, sizeof(*p));
    xerr *e = parse(p, registry_path, text, len);
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

void platform_free(struct platform *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nversions; i++) {
        platform_version_clear(&p->versions[i]);
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

