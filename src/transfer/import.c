/* The metadata import: the VMs of an archive created Halted, with fresh uuids, after
 * the checks the pool's platform policy asks for.  Everything happens in one
 * transaction, aborted on the first refusal (and on a dry run), so that an import
 * changes all or nothing. */
#include "transfer_int.h"
#include "log.h"
#include "platform.h"
#include "policy.h"
#include "vm.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static xerr *vm_error(const char *uuid, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "VM %s in ova.xml: %s", uuid, what);
    return err_import_error(msg);
}

/* The archive's object with this id, or NULL. */
static const xv *find_object(const xv *objects, const char *id)
{
    for (size_t i = 0; i < objects->u.arr.n; i++) {
        const xv *o = objects->u.arr.v[i];
        const char *oid = xv_struct_get_str(o, "id");
        if (oid && strcmp(oid, id) == 0)
            return o;
    }
    return NULL;
}

/* A ref field of the archive's VM: its id names an object of the archive, which is
 * the same object here when this pool has one with its uuid (a host); else null. */
static xerr *resolve_ref(struct db_txn *t, const xv *objects, const struct dm_field *f, const char *id, xv **out)
{
    *out = NULL;
    const xv *o = find_object(objects, id);
    const struct dm_class *c = dm_class_find(f->type->ref_class);
    const char *cls = o ? xv_struct_get_str(o, "class") : NULL;
    const char *uuid = o ? xv_struct_get_str(xv_struct_get(o, "snapshot"), "uuid") : NULL;
    if (!c || !c->uuid || !cls || strcmp(cls, c->name) != 0 || !uuid) {
        *out = xv_string(REF_NULL);
        return NULL;
    }
    xv *key = xv_string(uuid), *refs = NULL;
    xerr *e = db_txn_lookup_field(t, c, c->uuid, key, &refs);
    xv_free(key);
    if (!e)
        *out = xv_string(refs->u.arr.n ? xv_str(refs->u.arr.v[0]) : REF_NULL);
    xv_free(refs);
    return e;
}

/* Fields the server maintains that an import still carries: what makes the VM's
 * hardware the same (the pinned hardware is the stable ABI's field) and its pending
 * upgrade. */
static bool carried(const struct dm_field *f)
{
    if (f->qual != DM_DYNAMIC_RO)
        return f != DMF_VM_uuid;
    return f == DMF_VM_pending_hardware_platform_version || strcmp(f->name, "virtual_hardware") == 0;
}

/* The create fields of the archive's VM record. */
static xerr *fields_of(struct db_txn *t, const xv *objects, const char *uuid, const xv *snap, xv **out)
{
    *out = NULL;
    xv *fields = xv_struct();
    xerr *e = NULL;
    for (size_t i = 0; !e && i < DMC_VM->nfields; i++) {
        const struct dm_field *f = &DMC_VM->fields[i];
        const xv *v = xv_struct_get(snap, f->name);
        if (!v || !carried(f) || f->inverse_class)
            continue;
        xv *c = NULL;
        if (f->type->kind == DM_REF) {
            if (v->type != XV_STRING) {
                char what[128];
                snprintf(what, sizeof(what), "%s is not a reference", f->name);
                e = vm_error(uuid, what);
            } else {
                e = resolve_ref(t, objects, f, xv_str(v), &c);
            }
        } else {
            xerr *ce = dm_coerce(f->type, v, f->name, &c);
            if (ce) {
                _cleanup_free_ char *why = xerr_str(ce);
                xerr_free(ce);
                e = vm_error(uuid, why);
            }
        }
        if (!e)
            xv_struct_set(fields, f->name, c);
    }
    if (e) {
        xv_free(fields);
        return e;
    }
    *out = fields;
    return NULL;
}

/* "uuid [0; 1], uuid [0]": each live host and its versions, for the refusal. */
static xerr *describe_hosts(struct db_txn *t, const xv *hosts, char **out)
{
    buf b;
    buf_init(&b);
    xerr *e = NULL;
    for (size_t i = 0; !e && i < hosts->u.st.n; i++) {
        xv *uuid = NULL;
        if ((e = db_txn_read_field(t, DMC_host, hosts->u.st.m[i].key, DMF_host_uuid, &uuid)) != NULL)
            break;
        _cleanup_free_ char *vs = platform_format_versions(hosts->u.st.m[i].val);
        buf_printf(&b, "%s%s %s", i ? ", " : "", xv_str(uuid), vs);
        xv_free(uuid);
    }
    *out = buf_steal(&b);
    if (!*out)
        *out = xstrdup("");
    return e;
}

/* The checks and the creation of one VM of the archive. */
static xerr *import_vm(struct api *api, struct db_txn *t, const xv *objects, const xv *snap, bool dry_run,
                       bool force, struct import_outcome *out)
{
    const char *uuid = xv_struct_get_str(snap, DMF_VM_uuid->name);
    if (!uuid)
        uuid = "(no uuid)";
    xv *fields = NULL;
    xerr *e = fields_of(t, objects, uuid, snap, &fields);
    if (e)
        return e;
    /* a VM exported before platform versions existed has version 0, as xapi's
     * datamodel defaults it; its features may need more */
    int64_t version = 0;
    const xv *hv = dm_get(fields, DMF_VM_hardware_platform_version);
    if (hv)
        version = hv->u.i;
    if (version < 0)
        e = vm_error(uuid, "hardware_platform_version is negative");
    if (!e) {
        version = platform_raise(api_platform(api), fields, version);
        dm_set(fields, DMF_VM_hardware_platform_version, xv_int(version));
        e = policy_check_max(api, t, uuid, version);
    }
    /* a pending upgrade comes along when this pool could do it */
    const xv *pv = dm_get(fields, DMF_VM_pending_hardware_platform_version);
    if (!e && pv && pv->u.i >= 0) {
        if (pv->u.i < version || !platform_describes(api_platform(api), pv->u.i))
            dm_set(fields, DMF_VM_pending_hardware_platform_version, xv_int(-1));
        else
            e = policy_check_max(api, t, uuid, pv->u.i);
    }
    xv *hosts = NULL;
    if (!e)
        e = policy_live_hosts(api, t, false, &hosts);
    bool offered = false;
    for (size_t i = 0; !e && i < hosts->u.st.n; i++)
        offered |= platform_host_offers(hosts->u.st.m[i].val, version);
    if (!e && !offered && !force) {
        _cleanup_free_ char *hs = NULL;
        e = describe_hosts(t, hosts, &hs);
        char v[24];
        snprintf(v, sizeof(v), "%" PRId64, version);
        if (!e)
            e = err_import_incompatible_virtual_hardware_platform_version(uuid, v, hs);
    }
    xv_free(hosts);
    const char *name = xv_struct_get_str(fields, DMF_VM_name_label->name);
    char *ref = NULL;
    if (!e)
        e = vm_create_record(t, fields, &ref);
    xv *newuuid = NULL;
    if (!e)
        e = db_txn_read_field(t, DMC_VM, ref, DMF_VM_uuid, &newuuid);
    if (!e) {
        buf_printf(&out->report, "%s VM %s (%s) from %s: hardware-platform-version %" PRId64 "%s\n",
                   dry_run ? "would import" : "imported", dry_run ? "-" : xv_str(newuuid), name ? name : "",
                   uuid, version, offered ? "" : " (no live host offers it: imported because of force)");
        if (!dry_run)
            xv_array_push(out->created, xv_string(ref));
    }
    xv_free(newuuid);
    free(ref);
    xv_free(fields);
    return e;
}

xerr *transfer_import_header(struct api *api, const xv *header, bool dry_run, bool force, struct import_outcome *out)
{
    const xv *objects = xv_struct_get(header, "objects");
    out->created = xv_array();
    buf_init(&out->report);
    struct db_txn *t;
    xerr *e = db_begin(api_db(api), &t);
    if (e)
        return e;
    size_t vms = 0;
    for (size_t i = 0; !e && i < objects->u.arr.n; i++) {
        const xv *o = objects->u.arr.v[i];
        if (strcmp(xv_struct_get_str(o, "class"), DMC_VM->name) != 0)
            continue; /* metrics and hosts: made anew, or this pool's own */
        const xv *snap = xv_struct_get(o, "snapshot");
        const xv *dom0 = xv_struct_get(snap, DMF_VM_is_control_domain->name);
        const xv *snapshot = xv_struct_get(snap, DMF_VM_is_a_snapshot->name);
        bool skip = (dom0 && dom0->type == XV_BOOL && dom0->u.b) || (snapshot && snapshot->type == XV_BOOL && snapshot->u.b);
        if (skip) {
            buf_printf(&out->report, "skipped %s %s: not imported here\n",
                       dom0 && dom0->u.b ? "control domain" : "snapshot",
                       xv_struct_get_str(snap, "uuid") ? xv_struct_get_str(snap, "uuid") : "");
            continue;
        }
        vms++;
        e = import_vm(api, t, objects, snap, dry_run, force, out);
    }
    if (!e && vms == 0)
        e = err_import_error("ova.xml holds no VM to import");
    if (dry_run || e) {
        db_abort(t);
        return e;
    }
    return db_commit(t, NULL);
}
