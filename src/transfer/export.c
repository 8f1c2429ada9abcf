/* The metadata export, as xapi's export.ml (vm_metadata, make_vm, make_host) writes
 * it: every object reached from the VM (its metrics, guest metrics, and the hosts its
 * resident_on and affinity point at) gets an id "Ref:N"; each record is written with
 * its refs turned into those ids, or OpaqueRef:NULL when the object is not in the
 * export, so that the file holds no dangling pointer. */
#include "transfer_int.h"
#include "log.h"
#include "wire.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ref -> id, in the order the ids are given */
struct table {
    char **refs, **ids;
    const struct dm_class **cls;
    size_t n;
};

static const char *lookup(const struct table *t, const char *ref)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->refs[i], ref) == 0)
            return t->ids[i];
    return NULL;
}

static void add(struct table *t, struct db *db, const struct dm_class *c, const char *ref)
{
    if (!ref || strcmp(ref, REF_NULL) == 0 || lookup(t, ref) || !db_exists(db, c, ref))
        return;
    t->refs = xrealloc(t->refs, (t->n + 1) * sizeof(char *));
    t->ids = xrealloc(t->ids, (t->n + 1) * sizeof(char *));
    t->cls = xrealloc(t->cls, (t->n + 1) * sizeof(*t->cls));
    t->refs[t->n] = xstrdup(ref);
    t->ids[t->n] = xasprintf("Ref:%zu", t->n);
    t->cls[t->n] = c;
    t->n++;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->refs[i]);
        free(t->ids[i]);
    }
    free(t->refs);
    free(t->ids);
    free(t->cls);
}

/* Every ref field of the record turned into its id or the null ref; sets of refs
 * keep only the members in the export. */
static void map_refs(const struct table *t, const struct dm_class *c, xv *rec)
{
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        xv *v = xv_struct_get(rec, f->name);
        if (!v)
            continue;
        if (f->type->kind == DM_REF) {
            const char *id = lookup(t, xv_str(v));
            xv_struct_set(rec, f->name, xv_string(id ? id : REF_NULL));
        } else if (f->type->kind == DM_SET && f->type->elem->kind == DM_REF) {
            xv *kept = xv_array();
            for (size_t j = 0; j < v->u.arr.n; j++) {
                const char *id = lookup(t, xv_str(v->u.arr.v[j]));
                if (id)
                    xv_array_push(kept, xv_string(id));
            }
            xv_struct_set(rec, f->name, kept);
        }
    }
}

/* xapi's VM fields this datamodel lacks, with the value a VM without them has: xapi's
 * importer (API.vM_t_of_rpc) refuses a record missing a field that has no default in
 * its datamodel (ocaml/idl/datamodel_vm.ml), so an export that xapi can read carries
 * them. */
struct extra {
    const char *name;
    enum { X_STR, X_NULLREF, X_SET, X_MAP, X_BOOL, X_INT } kind;
    const char *str;
};
static const struct extra xapi_vm_fields[] = {
    {"actions_after_softreboot", X_STR, "soft_reboot"},
    {"suspend_VDI", X_NULLREF, NULL}, {"suspend_SR", X_NULLREF, NULL},
    {"consoles", X_SET, NULL}, {"VIFs", X_SET, NULL}, {"VBDs", X_SET, NULL}, {"VUSBs", X_SET, NULL},
    {"crash_dumps", X_SET, NULL}, {"VTPMs", X_SET, NULL}, {"VGPUs", X_SET, NULL},
    {"attached_PCIs", X_SET, NULL}, {"children", X_SET, NULL},
    {"ha_always_run", X_BOOL, NULL}, {"ha_restart_priority", X_STR, ""},
    {"transportable_snapshot_id", X_STR, ""}, {"blobs", X_MAP, NULL}, {"snapshot_info", X_MAP, NULL},
    {"snapshot_metadata", X_STR, ""}, {"parent", X_NULLREF, NULL}, {"protection_policy", X_NULLREF, NULL},
    {"is_snapshot_from_vmpp", X_BOOL, NULL}, {"snapshot_schedule", X_NULLREF, NULL},
    {"is_vmss_snapshot", X_BOOL, NULL}, {"appliance", X_NULLREF, NULL}, {"version", X_INT, NULL},
    {"pending_guidances", X_SET, NULL}, {"pending_guidances_recommended", X_SET, NULL},
    {"pending_guidances_full", X_SET, NULL},
};

static void add_xapi_fields(xv *rec)
{
    for (size_t i = 0; i < sizeof(xapi_vm_fields) / sizeof(xapi_vm_fields[0]); i++) {
        const struct extra *x = &xapi_vm_fields[i];
        if (xv_struct_get(rec, x->name))
            continue;
        xv *v = x->kind == X_STR       ? xv_string(x->str)
                : x->kind == X_NULLREF ? xv_string(REF_NULL)
                : x->kind == X_SET     ? xv_array()
                : x->kind == X_MAP     ? xv_struct()
                : x->kind == X_BOOL    ? xv_bool(false)
                                       : xv_int(0);
        xv_struct_set(rec, x->name, v);
    }
}

/* make_host: what xapi leaves out of a host's record in an export. */
static void trim_host(xv *rec)
{
    dm_set(rec, DMF_host_metrics, xv_string(REF_NULL));
    dm_set(rec, DMF_host_logging, xv_struct());
    dm_set(rec, DMF_host_supported_bootloaders, xv_array());
    dm_set(rec, DMF_host_cpu_configuration, xv_struct());
    dm_set(rec, DMF_host_other_config, xv_struct());
    dm_set(rec, DMF_host_capabilities, xv_array());
    dm_set(rec, DMF_host_software_version, xv_struct());
    dm_set(rec, DMF_host_sched_policy, xv_string(""));
    dm_set(rec, DMF_host_tags, xv_array());
}

static xv *object(const char *cls, const char *id, xv *snapshot)
{
    xv *o = xv_struct();
    xv_struct_append(o, "class", xv_string(cls));
    xv_struct_append(o, "id", xv_string(id));
    xv_struct_append(o, "snapshot", snapshot);
    return o;
}

/* importexport.ml's version record */
static xv *version_struct(struct api *api)
{
    char hostname[256] = "localhost";
    gethostname(hostname, sizeof(hostname) - 1);
    xv *sv = NULL;
    xerr *e = db_read_field(api_db(api), DMC_host, api_host_ref(api), DMF_host_software_version, &sv);
    xerr_free(e);
    const char *pv = sv ? xv_struct_get_str(sv, "product_version") : NULL;
    const char *brand = sv ? xv_struct_get_str(sv, "product_brand") : NULL;
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    xv *v = xv_struct();
    xv_struct_append(v, "hostname", xv_string(hostname));
    xv_struct_append(v, "date", xv_string(date));
    xv_struct_append(v, "product_version", xv_string(pv ? pv : ""));
    xv_struct_append(v, "product_brand", xv_string(brand ? brand : ""));
    xv_struct_append(v, "build_number", xv_string(""));
    /* xapi refuses an export from a newer xapi (assert_compatible): the API version
     * is below any xapi's own */
    xv_struct_append(v, "xapi_major", xv_int(dm_api_version_major));
    xv_struct_append(v, "xapi_minor", xv_int(dm_api_version_minor));
    xv_struct_append(v, "export_vsn", xv_int(2));
    xv_free(sv);
    return v;
}

xerr *transfer_export_xml(struct api *api, const char *vm, char **xml, size_t *len)
{
    struct db *db = api_db(api);
    xv *rec = NULL;
    xerr *e = db_read_record(db, DMC_VM, vm, &rec);
    if (e)
        return e;
    struct table t = {0};
    add(&t, db, DMC_VM, vm);
    add(&t, db, DMC_VM_metrics, dm_get_str(rec, DMF_VM_metrics));
    add(&t, db, DMC_VM_guest_metrics, dm_get_str(rec, DMF_VM_guest_metrics));
    add(&t, db, DMC_host, dm_get_str(rec, DMF_VM_resident_on));
    add(&t, db, DMC_host, dm_get_str(rec, DMF_VM_affinity));
    xv_free(rec);

    /* in export.ml's order: hosts, VMs, VM metrics, guest metrics */
    const struct dm_class *classes[] = {DMC_host, DMC_VM, DMC_VM_metrics, DMC_VM_guest_metrics};
    xv *objects = xv_array();
    for (size_t k = 0; !e && k < 4; k++) {
        for (size_t i = 0; !e && i < t.n; i++) {
            if (t.cls[i] != classes[k])
                continue;
            xv *r = NULL;
            if ((e = db_read_record(db, t.cls[i], t.refs[i], &r)) != NULL)
                break;
            if (t.cls[i] == DMC_VM) {
                dm_set(r, DMF_VM_current_operations, xv_struct());
                dm_set(r, DMF_VM_allowed_operations, xv_array());
                add_xapi_fields(r);
            } else if (t.cls[i] == DMC_host) {
                trim_host(r);
            }
            map_refs(&t, t.cls[i], r);
            xv_array_push(objects, object(t.cls[i]->name, t.ids[i], r));
        }
    }
    table_free(&t);
    if (e) {
        xv_free(objects);
        return e;
    }
    xv *header = xv_struct();
    xv_struct_append(header, "version", version_struct(api));
    xv_struct_append(header, "objects", objects);
    buf b;
    buf_init(&b);
    wire_xmlrpc_write_value(&b, header); /* Xmlrpc.to_string: no declaration, no spaces */
    xv_free(header);
    *len = b.len;
    *xml = buf_steal(&b);
    return NULL;
}
