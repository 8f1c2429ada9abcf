/* The classes the CLI knows and their parameters as xe names them.  Parameters come
 * from the datamodel's fields; what xe does differently lives in the small tables
 * here, so a new field in datamodel/ shows up in the CLI with no code. */
#include "cli.h"

#include <assert.h>

#include <string.h>

const struct cli_class cli_classes[] = {
    {"vm", "VM", "VM", "uuid,name-label,power-state", "is-a-template,is-a-snapshot",
     "is-a-template,is-a-snapshot,is-control-domain"},
    {"host", "host", "host", "uuid,name-label,address,enabled,host-metrics-live,virtual-hardware-platform-versions",
     NULL, NULL},
    {"pool", "pool", "pool", "uuid,name-label,name-description,master", NULL, NULL},
    {"task", "task", "task", "uuid,name-label,name-description,status,progress", NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

/* Fields of another object that xe shows among a class's params, reached through a
 * ref field.  With all_fields, every field of the target is shown (under its dashed
 * name, or the name given here; a NULL name hides it), so a field added to
 * VM_guest_metrics later (the tools status) appears in vm-param-list by itself. */
struct via_name {
    const char *field, *param;
};

struct via {
    const char *cls, *via_field, *target;
    bool all_fields;
    const struct via_name *names;
};

static const struct via_name vm_guest_metrics_names[] = {
    {"uuid", NULL},
    {"other_config", NULL},
    {"last_updated", "guest-metrics-last-updated"},
    {NULL, NULL},
};

static const struct via_name vm_metrics_names[] = {
    {"memory_actual", "memory-actual"},
    {"VCPUs_number", "VCPUs-number"},
    {"VCPUs_utilisation", "VCPUs-utilisation"},
    {"start_time", "start-time"},
    {"install_time", "install-time"},
    {NULL, NULL},
};

static const struct via_name host_metrics_names[] = {
    {"memory_total", "memory-total"},
    {"memory_free", "memory-free"},
    {"live", "host-metrics-live"},
    {NULL, NULL},
};

static const struct via vias[] = {
    {"VM", "metrics", "VM_metrics", false, vm_metrics_names},
    {"VM", "guest_metrics", "VM_guest_metrics", true, vm_guest_metrics_names},
    {"host", "metrics", "host_metrics", false, host_metrics_names},
};

/* Computed by a message; shown by param-list and param-get only, as xe marks them
 * expensive. */
static const struct {
    const char *cls, *param, *message, *result_class;
} expensive[] = {
    {"VM", "possible-hosts", "get_possible_hosts", "host"},
};

/* Fields xe does not let the CLI set even though the API can. */
static const struct {
    const char *cls, *field;
} cli_readonly[] = {
    {"VM", "hardware_platform_version"},
};

char *cli_dashed(const char *field)
{
    char *s = xstrdup(field);
    for (char *p = s; *p; p++)
        if (*p == '_')
            *p = '-';
    return s;
}

const struct cli_class *cli_class_by_prefix(const char *prefix)
{
    for (const struct cli_class *cc = cli_classes; cc->prefix; cc++)
        if (strcmp(cc->prefix, prefix) == 0)
            return cc;
    return NULL;
}

const struct dm_class *cli_dm_class(const struct cli_class *cc)
{
    return dm_class_find(cc->cls);
}

static bool writable(const struct dm_class *c, const struct dm_field *f)
{
    for (size_t i = 0; i < sizeof(cli_readonly) / sizeof(cli_readonly[0]); i++)
        if (strcmp(cli_readonly[i].cls, c->name) == 0 && strcmp(cli_readonly[i].field, f->name) == 0)
            return false;
    /* a custom setter is how the API changes a StaticRO field (has_vendor_device) */
    return f->qual == DM_RW || f->custom_setter;
}

static const char *tag(const struct dm_field *f, bool w)
{
    if (dm_is_map_or_set(f->type))
        return w ? "MRW" : "MRO";
    return w ? "RW" : "RO";
}

struct plist {
    struct cli_pdesc *v;
    size_t n, cap;
};

static bool plist_has(const struct plist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return true;
    return false;
}

static void plist_add(struct plist *l, struct cli_pdesc d)
{
    if (plist_has(l, d.name)) {
        /* a derived name that would hide a field of the class itself loses */
        free(d.name);
        return;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = d;
}

static void add_via(struct plist *l, const struct dm_class *c, const struct via *v)
{
    const struct dm_field *vf = dm_field_find(c, v->via_field);
    const struct dm_class *t = dm_class_find(v->target);
    if (!vf || !t)
        return;
    if (v->all_fields) {
        for (size_t i = 0; i < t->nfields; i++) {
            const struct dm_field *f = &t->fields[i];
            const char *param = NULL;
            bool named = false;
            for (const struct via_name *n = v->names; n->field; n++)
                if (strcmp(n->field, f->name) == 0) {
                    param = n->param;
                    named = true;
                }
            if (named && !param)
                continue;
            plist_add(l, (struct cli_pdesc){.name = param ? xstrdup(param) : cli_dashed(f->name),
                                             .field = f, .via = vf, .tag = tag(f, false)});
        }
        return;
    }
    for (const struct via_name *n = v->names; n->field; n++) {
        const struct dm_field *f = dm_field_find(t, n->field);
        if (f)
            plist_add(l, (struct cli_pdesc){.name = xstrdup(n->param), .field = f, .via = vf,
                                             .tag = tag(f, false)});
    }
}

static struct plist build(const struct cli_class *cc)
{
    struct plist l = {0};
    const struct dm_class *c = cli_dm_class(cc);
    if (!c)
        return l;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        bool w = writable(c, f);
        plist_add(&l, (struct cli_pdesc){.name = cli_dashed(f->name), .field = f, .writable = w,
                                         .tag = tag(f, w)});
    }
    for (size_t i = 0; i < sizeof(vias) / sizeof(vias[0]); i++)
        if (strcmp(vias[i].cls, c->name) == 0)
            add_via(&l, c, &vias[i]);
    for (size_t i = 0; i < sizeof(expensive) / sizeof(expensive[0]); i++)
        if (strcmp(expensive[i].cls, c->name) == 0 && dm_message_find(c, expensive[i].message))
            plist_add(&l, (struct cli_pdesc){.name = xstrdup(expensive[i].param),
                                             .message = expensive[i].message,
                                             .message_class = expensive[i].result_class,
                                             .tag = "MRO"});
    return l;
}

/* Built once per class for the life of the process: a CLI run is short. */
static struct plist cache[16];

const struct cli_pdesc *cli_params(const struct cli_class *cc, size_t *n)
{
    size_t i = (size_t)(cc - cli_classes);
    assert(i < sizeof(cache) / sizeof(cache[0])); /* one slot per xe class: grow it with them */
    if (!cache[i].v)
        cache[i] = build(cc);
    *n = cache[i].n;
    return cache[i].v;
}

const struct cli_pdesc *cli_param_find(const struct cli_class *cc, const char *name)
{
    size_t n;
    const struct cli_pdesc *d = cli_params(cc, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].name, name) == 0)
            return &d[i];
    return NULL;
}
