/* The record side of the lifecycle: what a power state change implies for the VM's
 * other fields and its metrics objects; VM.create/destroy/clone; the setters that
 * guard the platform version. */
#include "vm_int.h"
#include "log.h"
#include "policy.h"

#include <string.h>

static xerr *set(struct db_txn *t, const struct dm_class *c, const char *ref, const struct dm_field *f, xv *v)
{
    xerr *e = db_txn_set(t, c, ref, f, v);
    xv_free(v);
    return e;
}

static bool live_state(int ps)
{
    return ps == VM_POWER_STATE_RUNNING || ps == VM_POWER_STATE_PAUSED;
}

/* The VM's metrics object, made if it is missing. */
static xerr *ensure_metrics(struct db_txn *t, const char *vm, const xv *rec, char **metrics)
{
    const char *m = dm_get_str(rec, DMF_VM_metrics);
    xv *probe = NULL;
    xerr *e = NULL;
    if (strcmp(m, REF_NULL) != 0 && (e = db_txn_read_record(t, DMC_VM_metrics, m, &probe)) == NULL) {
        xv_free(probe);
        *metrics = xstrdup(m);
        return NULL;
    }
    xerr_free(e);
    xv *f = xv_struct();
    dm_set(f, DMF_VM_metrics_install_time, xv_datetime(time(NULL)));
    e = api_create_object(t, DMC_VM_metrics, f, metrics);
    xv_free(f);
    if (!e)
        e = set(t, DMC_VM, vm, DMF_VM_metrics, xv_string(*metrics));
    return e;
}

/* A console per running domain, as xapi makes from xenopsd's report
 * (xapi_xenops.ml, update_vm): an HVM guest's is qemu's VNC server (rfb), a PV
 * guest's its text console (vt100); the location is xapi's
 * https://ADDRESS/console?uuid=UUID.  They go when the domain goes, and a new domain
 * gets new ones. */
static xerr *sync_consoles(struct db_txn *t, const char *vm, const xv *after, bool live)
{
    xv *key = xv_string(vm), *refs = NULL;
    xerr *e = db_txn_lookup_field(t, DMC_console, DMF_console_VM, key, &refs);
    xv_free(key);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++)
        e = db_txn_destroy(t, DMC_console, xv_str(refs->u.arr.v[i]));
    xv_free(refs);
    if (e || !live)
        return e;
    xv *addr = NULL;
    const char *host = dm_get_str(after, DMF_VM_resident_on);
    if (strcmp(host, REF_NULL) != 0 && (e = db_txn_read_field(t, DMC_host, host, DMF_host_address, &addr)) != NULL)
        return e;
    char uuid[37];
    uuid_generate_str(uuid);
    xv *f = xv_struct();
    dm_set(f, DMF_console_uuid, xv_string(uuid));
    dm_set(f, DMF_console_VM, xv_string(vm));
    dm_set(f, DMF_console_protocol,
           xv_string(console_protocol_name(vm_is_hvm(after) ? CONSOLE_PROTOCOL_RFB : CONSOLE_PROTOCOL_VT100)));
    dm_set(f, DMF_console_location,
           xv_string_take(xasprintf("https://%s/console?uuid=%s", addr ? xv_str(addr) : "", uuid)));
    xv_free(addr);
    char *ref = NULL;
    e = api_create_object(t, DMC_console, f, &ref);
    free(ref);
    xv_free(f);
    return e;
}

xerr *vm_apply(struct db_txn *t, const char *vm, const xv *before, const xv *updates)
{
    xerr *e = NULL;
    xv *after = xv_dup(before);
    for (size_t i = 0; !e && i < updates->u.st.n; i++) {
        const char *k = updates->u.st.m[i].key;
        const struct dm_field *f = dm_field_find(DMC_VM, k);
        if (!f) {
            e = xerr_internal("VM has no field %s", k);
            break;
        }
        if (xv_equal(xv_struct_get(before, k), updates->u.st.m[i].val))
            continue;
        e = db_txn_set(t, DMC_VM, vm, f, updates->u.st.m[i].val);
        xv_struct_set(after, k, xv_dup(updates->u.st.m[i].val));
    }
    int was = dm_get_enum(before, DMF_VM_power_state), now = dm_get_enum(after, DMF_VM_power_state);
    /* a new domain while staying up is a reboot: for the metrics, a start; unless
     * it is on another host (a migration: the same guest goes on there) */
    bool moved = strcmp(dm_get_str(before, DMF_VM_resident_on), dm_get_str(after, DMF_VM_resident_on)) != 0;
    bool restarted = live_state(was) && live_state(now) && !moved &&
                     dm_get_int(before, DMF_VM_domid) != dm_get_int(after, DMF_VM_domid);
    if (!e && (was != now || restarted) && !dm_get_bool(after, DMF_VM_is_control_domain)) {
        _cleanup_free_ char *metrics = NULL;
        e = ensure_metrics(t, vm, after, &metrics);
        const char *gm = dm_get_str(after, DMF_VM_guest_metrics);
        bool has_gm = strcmp(gm, REF_NULL) != 0;
        if (!e && live_state(now) && (!live_state(was) || restarted)) {
            bool hvm = vm_is_hvm(after);
            e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_start_time, xv_datetime(time(NULL)));
            if (!e) e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_VCPUs_number, xv_int(dm_get_int(after, DMF_VM_VCPUs_at_startup)));
            if (!e) e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_memory_actual, xv_int(dm_get_int(after, DMF_VM_memory_static_max)));
            if (!e) e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_hvm, xv_bool(hvm));
            if (!e) e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_current_domain_type, xv_string(domain_type_name(hvm ? DOMAIN_TYPE_HVM : DOMAIN_TYPE_PV)));
            /* what the guest reported belongs to its last boot */
            if (!e && has_gm) {
                xerr *ge = db_txn_destroy(t, DMC_VM_guest_metrics, gm);
                if (ge && !xerr_is(ge, XERR_HANDLE_INVALID))
                    e = ge;
                else
                    xerr_free(ge);
                if (!e)
                    e = set(t, DMC_VM, vm, DMF_VM_guest_metrics, xv_string(REF_NULL));
            }
        } else if (!e && !live_state(now)) {
            e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_memory_actual, xv_int(0));
            if (!e) e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_VCPUs_number, xv_int(0));
            if (!e && has_gm) {
                xerr *ge = set(t, DMC_VM_guest_metrics, gm, DMF_VM_guest_metrics_live, xv_bool(false));
                if (ge && !xerr_is(ge, XERR_HANDLE_INVALID))
                    e = ge;
                else
                    xerr_free(ge);
            }
        }
        if (!e)
            e = set(t, DMC_VM_metrics, metrics, DMF_VM_metrics_last_updated, xv_datetime(time(NULL)));
        if (!e && (!live_state(now) || !live_state(was) || restarted))
            e = sync_consoles(t, vm, after, live_state(now));
    }
    if (!e) {
        xv *ops = vm_allowed_operations(after);
        if (!xv_equal(ops, dm_get(before, DMF_VM_allowed_operations)))
            e = db_txn_set(t, DMC_VM, vm, DMF_VM_allowed_operations, ops);
        xv_free(ops);
    }
    xv_free(after);
    return e;
}

xv *updates_running(const char *host, int64_t domid, bool paused, bool hvm)
{
    xv *u = xv_struct();
    dm_set(u, DMF_VM_power_state, xv_string(vm_power_state_name(paused ? VM_POWER_STATE_PAUSED : VM_POWER_STATE_RUNNING)));
    dm_set(u, DMF_VM_domid, xv_int(domid));
    dm_set(u, DMF_VM_resident_on, xv_string(host));
    dm_set(u, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
    dm_set(u, DMF_VM_domarch, xv_string("x64"));
    (void)hvm;
    return u;
}

xv *updates_halted(void)
{
    xv *u = xv_struct();
    dm_set(u, DMF_VM_power_state, xv_string(vm_power_state_name(VM_POWER_STATE_HALTED)));
    dm_set(u, DMF_VM_domid, xv_int(-1));
    dm_set(u, DMF_VM_resident_on, xv_string(REF_NULL));
    dm_set(u, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
    return u;
}

/* The fields of the spec that come from the record alone. */
static void spec_from_record(const xv *rec, struct hv_domain_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->uuid = dm_get_str(rec, DMF_VM_uuid);
    spec->name = dm_get_str(rec, DMF_VM_name_label);
    spec->hvm = vm_is_hvm(rec);
    spec->memory_static_max = (uint64_t)dm_get_int(rec, DMF_VM_memory_static_max);
    spec->memory_target = (uint64_t)dm_get_int(rec, DMF_VM_memory_dynamic_max);
    spec->vcpus_max = (unsigned)dm_get_int(rec, DMF_VM_VCPUs_max);
    spec->vcpus = (unsigned)dm_get_int(rec, DMF_VM_VCPUs_at_startup);
    spec->kernel = dm_get_str(rec, DMF_VM_PV_kernel);
    spec->ramdisk = dm_get_str(rec, DMF_VM_PV_ramdisk);
    spec->cmdline = dm_get_str(rec, DMF_VM_PV_args);
    spec->has_vendor_device = dm_get_bool(rec, DMF_VM_has_vendor_device);
}

xerr *vm_domain_spec(const struct platform *p, const xv *rec, struct hv_domain_spec *spec, struct vhw **hw)
{
    spec_from_record(rec, spec);
    xerr *e = platform_hardware(p, rec, spec->hvm, hw);
    if (e)
        return e;
    spec->machine = vhw_machine(*hw);
    spec->dm_devices = (const char *const *)vhw_dm_args(*hw);
    spec->videoram_mib = (unsigned)vhw_videoram_mib(*hw);
    spec->nplatform = vhw_platform(*hw, &spec->platform_keys, &spec->platform_values);
    return NULL;
}

void spec_free(struct hv_domain_spec *spec)
{
    hv_strv_free((char **)spec->dm_devices);
    spec->dm_devices = NULL;
}

/* ---- VM.create, destroy, clone ---- */

/* A VM record as it will be stored: the given fields over the defaults. */
static xv *with_defaults(const xv *fields)
{
    xv *full = xv_struct();
    for (size_t i = 0; i < DMC_VM->nfields; i++) {
        const struct dm_field *f = &DMC_VM->fields[i];
        const xv *given = xv_struct_get(fields, f->name);
        xv_struct_append_static(full, f->name, given ? xv_dup(given) : dm_default(f));
    }
    return full;
}

/* A new VM from its fields, with its metrics object and its allowed operations. */
static xerr *make_vm(struct db_txn *t, xv *fields, char **ref)
{
    char *metrics = NULL;
    xv *mf = xv_struct();
    dm_set(mf, DMF_VM_metrics_install_time, xv_datetime(time(NULL)));
    xerr *e = api_create_object(t, DMC_VM_metrics, mf, &metrics);
    xv_free(mf);
    if (!e) {
        dm_set(fields, DMF_VM_metrics, xv_string(metrics));
        xv *full = with_defaults(fields);
        dm_set(fields, DMF_VM_allowed_operations, vm_allowed_operations(full));
        xv_free(full);
        e = api_create_object(t, DMC_VM, fields, ref);
    }
    free(metrics);
    return e;
}

xerr *vm_create_record(struct db_txn *t, xv *fields, char **ref)
{
    return make_vm(t, fields, ref);
}

static xerr *vm_create(struct api_ctx *ctx, const struct VM_create_args *a, xv **result)
{
    xv *fields = NULL;
    xerr *e = api_record_from_args(DMC_VM, a->args, &fields);
    if (e)
        return e;
    /* the raise sees the record as it will be */
    xv *full = with_defaults(fields);
    int64_t requested = dm_get_int(full, DMF_VM_hardware_platform_version);
    if (requested < 0) {
        xv_free(full);
        xv_free(fields);
        return err_invalid_value(DMF_VM_hardware_platform_version->name, "must not be negative");
    }
    struct db_txn *t;
    char *ref = NULL;
    e = db_begin(ctx->db, &t);
    if (!e) {
        /* the pool's default, then the raise for the features; never above the
         * maximum.  In the transaction, so that the policy cannot change meanwhile. */
        int64_t dflt = 0, max = -1;
        e = policy_read(ctx->api, t, &dflt, &max);
        int64_t v = platform_raise(api_platform(ctx->api), full, requested > dflt ? requested : dflt);
        if (!e)
            e = policy_check_max(ctx->api, t, dm_get_str(full, DMF_VM_name_label), v);
        dm_set(fields, DMF_VM_hardware_platform_version, xv_int(v));
        if (!e)
            e = make_vm(t, fields, &ref);
        e = db_end(t, e);
    }
    xv_free(full);
    xv_free(fields);
    if (e) {
        free(ref);
        return e;
    }
    *result = xv_string_take(ref);
    return NULL;
}

/* The guard of the record operations, inside their transaction: the state table's
 * check of op, or (op < 0) of a change only a Halted VM takes. */
static xerr *guard(struct db_txn *t, const char *vm, int op, xv **rec)
{
    xerr *e = db_txn_read_record(t, DMC_VM, vm, rec);
    if (e)
        return e;
    return op < 0 ? vm_change_check(vm, *rec) : vm_op_check(vm, *rec, (enum vm_operations)op, VM_BY_CLIENT);
}

static xerr *destroy_linked(struct db_txn *t, const struct dm_class *c, const char *ref)
{
    if (strcmp(ref, REF_NULL) == 0)
        return NULL;
    xerr *e = db_txn_destroy(t, c, ref);
    if (xerr_is(e, XERR_HANDLE_INVALID)) {
        xerr_free(e);
        return NULL;
    }
    return e;
}

static xerr *vm_destroy(struct api_ctx *ctx, const struct VM_destroy_args *a)
{
    const char *vm = a->self;
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *rec = NULL;
    e = guard(t, vm, VM_OPERATIONS_DESTROY, &rec);
    if (!e) e = destroy_linked(t, DMC_VM_metrics, dm_get_str(rec, DMF_VM_metrics));
    if (!e) e = destroy_linked(t, DMC_VM_guest_metrics, dm_get_str(rec, DMF_VM_guest_metrics));
    if (!e) e = db_txn_destroy(t, DMC_VM, vm);
    bool suspended = !e && dm_get_enum(rec, DMF_VM_power_state) == VM_POWER_STATE_SUSPENDED;
    _cleanup_free_ char *uuid = suspended ? xstrdup(dm_get_str(rec, DMF_VM_uuid)) : NULL;
    xv_free(rec);
    e = db_end(t, e);
    if (!e && suspended)
        vm_drop_image(ctx->api, uuid);  /* the record that named it is gone */
    return e;
}

static xerr *vm_clone(struct api_ctx *ctx, const struct VM_clone_args *a, xv **result)
{
    const char *vm = a->vm;
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *rec = NULL;
    char *ref = NULL;
    e = guard(t, vm, VM_OPERATIONS_CLONE, &rec);
    if (!e) {
        /* the copy has the same virtual hardware: its settings, and its version */
        xv *f = xv_struct();
        for (size_t i = 0; i < DMC_VM->nfields; i++) {
            const struct dm_field *fd = &DMC_VM->fields[i];
            /* ... and the hardware pinned at its first start: the copy's disks hold a
             * guest that saw it */
            if ((fd->qual != DM_DYNAMIC_RO && fd != DMF_VM_uuid) || fd == DMF_VM_virtual_hardware)
                xv_struct_append(f, fd->name, xv_dup(xv_struct_get(rec, fd->name)));
        }
        dm_set(f, DMF_VM_name_label, xv_string(a->new_name));
        e = make_vm(t, f, &ref);
        xv_free(f);
    }
    xv_free(rec);
    e = db_end(t, e);
    if (e) {
        free(ref);
        return e;
    }
    *result = xv_string_take(ref);
    return NULL;
}

/* ---- the guarded setters ---- */

static xerr *vm_set_has_vendor_device(struct api_ctx *ctx, const struct VM_set_has_vendor_device_args *a)
{
    const char *vm = a->self;
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *rec = NULL;
    /* the guest's drivers bind to the device at boot: change it only while Halted */
    e = guard(t, vm, -1, &rec);
    if (!e) {
        dm_set(rec, DMF_VM_has_vendor_device, xv_bool(a->value));
        int64_t cur = dm_get_int(rec, DMF_VM_hardware_platform_version);
        int64_t raised = platform_raise(api_platform(ctx->api), rec, cur);
        e = raised != cur ? policy_check_max(ctx->api, t, vm, raised) : NULL;
        if (!e)
            e = set(t, DMC_VM, vm, DMF_VM_has_vendor_device, xv_bool(a->value));
        if (!e && raised != cur) {
            log_info("VM %s: platform version raised from %lld to %lld (vendor device)", vm, (long long)cur,
                     (long long)raised);
            e = set(t, DMC_VM, vm, DMF_VM_hardware_platform_version, xv_int(raised));
        }
    }
    xv_free(rec);
    return db_end(t, e);
}

static xerr *vm_set_hardware_platform_version(struct api_ctx *ctx,
                                              const struct VM_set_hardware_platform_version_args *a)
{
    const char *vm = a->self;
    int64_t value = a->value;
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *cur = NULL;
    e = db_txn_read_field(t, DMC_VM, vm, DMF_VM_hardware_platform_version, &cur);
    if (!e && (value < 0 || value < cur->u.i)) {
        /* never lowered: the guest may already depend on the newer hardware */
        char text[24];
        snprintf(text, sizeof(text), "%lld", (long long)value);
        e = err_invalid_value(DMF_VM_hardware_platform_version->name, text);
    }
    if (!e && value != cur->u.i)
        e = policy_check_max(ctx->api, t, vm, value);
    if (!e && value != cur->u.i)
        e = set(t, DMC_VM, vm, DMF_VM_hardware_platform_version, xv_int(value));
    xv_free(cur);
    return db_end(t, e);
}

/* allowed_operations follows is_a_template and blocked_operations, which clients
 * change with the generic setters. */
static xerr *vm_changed(struct db_txn *t, const struct dm_class *c, const char *vm, const struct dm_field *f)
{
    (void)c;
    if (f != DMF_VM_is_a_template && f != DMF_VM_blocked_operations)
        return NULL;
    xv *rec = NULL;
    xerr *e = db_txn_read_record(t, DMC_VM, vm, &rec);
    if (!e) {
        xv *ops = vm_allowed_operations(rec);
        if (!xv_equal(ops, dm_get(rec, DMF_VM_allowed_operations)))
            e = db_txn_set(t, DMC_VM, vm, DMF_VM_allowed_operations, ops);
        xv_free(ops);
    }
    xv_free(rec);
    return e;
}

xerr *vm_register_records(struct api *api)
{
    api_on_change(api, DMC_VM, vm_changed);
    api_register_VM_create(api, vm_create);
    api_register_VM_destroy(api, vm_destroy);
    api_register_VM_clone(api, vm_clone);
    api_register_VM_set_has_vendor_device(api, vm_set_has_vendor_device);
    api_register_VM_set_hardware_platform_version(api, vm_set_hardware_platform_version);
    return NULL;
}
