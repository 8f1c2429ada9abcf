/* Whether a VM may start on a host: the checks in xapi's order (host live, host
 * enabled, platform version membership, HVM support, memory), placement, and the
 * per-host answers. */
#include "vm_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

xerr *vm_check_vm(const char *vm, const xv *rec)
{
    (void)vm;
    int64_t smin = dm_get_int(rec, DMF_VM_memory_static_min), dmin = dm_get_int(rec, DMF_VM_memory_dynamic_min);
    int64_t dmax = dm_get_int(rec, DMF_VM_memory_dynamic_max), smax = dm_get_int(rec, DMF_VM_memory_static_max);
    if (!(smin <= dmin && dmin <= dmax && dmax <= smax) || smax <= 0)
        return err_memory_constraint_violation(
            "static_min <= dynamic_min <= dynamic_max <= static_max, and static_max > 0");
    int64_t vmax = dm_get_int(rec, DMF_VM_VCPUs_max), vstart = dm_get_int(rec, DMF_VM_VCPUs_at_startup);
    if (vstart < 1 || vstart > vmax) {
        char text[24];
        snprintf(text, sizeof(text), "%" PRId64, vstart);
        return err_invalid_value(DMF_VM_VCPUs_at_startup->name, text);
    }
    return NULL;
}

static bool has_capability(const xv *host, const char *prefix)
{
    const xv *caps = dm_get(host, DMF_host_capabilities);
    for (size_t i = 0; caps && i < caps->u.arr.n; i++)
        if (str_startswith(xv_str(caps->u.arr.v[i]), prefix))
            return true;
    return false;
}

static xerr *check_version(const char *vm, const xv *h, const char *host, int64_t version)
{
    const xv *offered = dm_get(h, DMF_host_virtual_hardware_platform_versions);
    if (platform_host_offers(offered, version))
        return NULL;
    _cleanup_free_ char *have = platform_format_versions(offered);
    char want[24];
    snprintf(want, sizeof(want), "%" PRId64, version);
    return err_vm_host_incompatible_virtual_hardware_platform_version(host, have, vm, want);
}

xerr *vm_check_reboot(struct api *api, const char *vm, int64_t version)
{
    const char *host = api_host_ref(api);
    xv *h = NULL;
    xerr *e = db_read_record(api_db(api), DMC_host, host, &h);
    if (!e)
        e = check_version(vm, h, host, version);
    xv_free(h);
    return e;
}

xerr *vm_host_view_read(struct api *api, const char *host, struct vm_host_view *out)
{
    struct db *db = api_db(api);
    memset(out, 0, sizeof(*out));
    xerr *e = db_read_record(db, DMC_host, host, &out->host);
    if (e)
        return e;
    out->ref = xstrdup(host);
    out->local = strcmp(host, api_host_ref(api)) == 0;
    const char *metrics = dm_get_str(out->host, DMF_host_metrics);
    if (strcmp(metrics, REF_NULL) != 0) {
        xerr *me = db_read_record(db, DMC_host_metrics, metrics, &out->metrics);
        xerr_free(me); /* no metrics: not live, no memory known */
    }
    /* this host is live by answering; others as their metrics say */
    out->live = out->local || (out->metrics && dm_get_bool(out->metrics, DMF_host_metrics_live));
    struct hv_host_info hi;
    xerr *he = NULL;
    if (out->local && api_hv(api) && (he = hv_host_info(api_hv(api), &hi)) == NULL)
        out->free_memory = hi.free_memory_bytes;
    else
        out->free_memory = out->metrics ? (uint64_t)dm_get_int(out->metrics, DMF_host_metrics_memory_free) : 0;
    xerr_free(he);
    return NULL;
}

void vm_host_view_free(struct vm_host_view *v)
{
    free(v->ref);
    xv_free(v->host);
    xv_free(v->metrics);
    memset(v, 0, sizeof(*v));
}

xerr *vm_check_on(const char *vm, const xv *rec, const struct vm_host_view *h, int64_t version)
{
    const char *host = h->ref;
    bool control = dm_get_bool(rec, DMF_VM_is_control_domain);
    const char *aff = dm_get_str(rec, DMF_VM_affinity);
    /* a migration within this host keeps the memory it has */
    bool in_place = dm_get_enum(rec, DMF_VM_power_state) == VM_POWER_STATE_RUNNING &&
                    strcmp(dm_get_str(rec, DMF_VM_resident_on), host) == 0;
    /* 1. live (xapi's HOST_NOT_LIVE has no parameter) */
    if (!h->live)
        return err_host_not_live();
    /* 2. a control domain only where its affinity says */
    if (control && strcmp(aff, REF_NULL) != 0 && strcmp(aff, host) != 0)
        return err_operation_not_allowed("Cannot boot a control domain on a host different from its affinity");
    /* 3. enabled, unless the VM already runs there */
    if (!control && !in_place && !dm_get_bool(h->host, DMF_host_enabled))
        return err_host_disabled(host);
    /* 4. the platform version: membership, not >= */
    xerr *e = check_version(vm, h->host, host, version);
    if (e)
        return e;
    /* 5. HVM needs hardware support: Xen's capabilities, as hvm-3.0-x86_64 */
    if (vm_is_hvm(rec) && !has_capability(h->host, "hvm-"))
        return err_vm_hvm_required(vm);
    /* 6. memory: the VM's static_max (the simulator and xc build at static_max) */
    uint64_t need = (uint64_t)dm_get_int(rec, DMF_VM_memory_static_max);
    if (!in_place && need > h->free_memory) {
        char n[24], a[24];
        snprintf(n, sizeof(n), "%" PRIu64, need);
        snprintf(a, sizeof(a), "%" PRIu64, h->free_memory);
        return err_host_not_enough_free_memory(n, a);
    }
    return NULL;
}

xerr *vm_check_host(struct api *api, const char *vm, const xv *rec, const char *host, int64_t version)
{
    struct vm_host_view h;
    xerr *e = vm_host_view_read(api, host, &h);
    if (e)
        return e;
    e = vm_check_on(vm, rec, &h, version);
    vm_host_view_free(&h);
    return e;
}

xerr *vm_pick_host(const char *vm, const xv *rec, const struct vm_host_view *hosts, size_t n, int64_t version,
                   size_t *chosen)
{
    const char *aff = dm_get_str(rec, DMF_VM_affinity);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        xerr *e = vm_check_on(vm, rec, &hosts[i], version);
        if (e) {
            xerr_free(e);
            continue;
        }
        /* the affinity host when it passes; else the most free memory, this host on a tie */
        if (strcmp(hosts[i].ref, aff) == 0) {
            *chosen = i;
            return NULL;
        }
        const struct vm_host_view *best = found ? &hosts[*chosen] : NULL;
        if (!best || hosts[i].free_memory > best->free_memory ||
            (hosts[i].free_memory == best->free_memory && hosts[i].local)) {
            *chosen = i;
            found = true;
        }
    }
    return found ? NULL : err_no_hosts_available();
}

/* Every host's view, in the store's order. */
static xerr *read_views(struct api *api, struct vm_host_view **out, size_t *n)
{
    xv *all = NULL;
    xerr *e = db_read_refs(api_db(api), DMC_host, &all);
    if (e)
        return e;
    struct vm_host_view *v = xcalloc(all->u.arr.n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < all->u.arr.n; i++) {
        xerr *re = vm_host_view_read(api, xv_str(all->u.arr.v[i]), &v[k]);
        if (re && xerr_is(re, XERR_HANDLE_INVALID)) {
            xerr_free(re); /* removed since the listing (an eject) */
            continue;
        }
        if (re) {
            for (size_t j = 0; j < k; j++)
                vm_host_view_free(&v[j]);
            free(v);
            xv_free(all);
            return re;
        }
        k++;
    }
    xv_free(all);
    *out = v;
    *n = k;
    return NULL;
}

static void free_views(struct vm_host_view *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vm_host_view_free(&v[i]);
    free(v);
}

xerr *vm_choose_host(struct api *api, const char *vm, const xv *rec, int64_t version, char **host)
{
    struct vm_host_view *v = NULL;
    size_t n = 0, chosen = 0;
    xerr *e = read_views(api, &v, &n);
    if (e)
        return e;
    e = vm_pick_host(vm, rec, v, n, version, &chosen);
    *host = e ? NULL : xstrdup(v[chosen].ref);
    free_views(v, n);
    return e;
}

/* The version a start would need: the raise happens before the host check. */
static int64_t version_for_start(struct api *api, const xv *rec)
{
    return platform_raise(api_platform(api), rec, dm_get_int(rec, DMF_VM_hardware_platform_version));
}

static xerr *assert_can_boot_here(struct api_ctx *ctx, const struct VM_assert_can_boot_here_args *a)
{
    const char *vm = a->self;
    xv *rec = NULL;
    xerr *e = db_read_record(ctx->db, DMC_VM, vm, &rec);
    if (!e)
        e = vm_check_vm(vm, rec);
    if (!e)
        e = vm_check_host(ctx->api, vm, rec, a->host, version_for_start(ctx->api, rec));
    xv_free(rec);
    return e;
}

static xerr *per_host(struct api_ctx *ctx, const char *vm, bool only_ok, xv **result)
{
    xv *rec = NULL, *hosts = NULL;
    xerr *e = db_read_record(ctx->db, DMC_VM, vm, &rec);
    if (!e)
        e = db_read_refs(ctx->db, DMC_host, &hosts);
    if (e) {
        xv_free(rec);
        return e;
    }
    int64_t version = version_for_start(ctx->api, rec);
    xerr *vme = vm_check_vm(vm, rec);
    xv *out = only_ok ? xv_array() : xv_struct();
    for (size_t i = 0; i < hosts->u.arr.n; i++) {
        const char *h = xv_str(hosts->u.arr.v[i]);
        xerr *he = vme ? xerr_dup(vme) : vm_check_host(ctx->api, vm, rec, h, version);
        if (only_ok) {
            if (!he)
                xv_array_push(out, xv_string(h));
        } else {
            xv *why = xv_array();
            if (he) {
                xv_array_push(why, xv_string(he->code));
                for (size_t p = 0; p < he->nparams; p++)
                    xv_array_push(why, xv_string(he->params[p]));
            }
            xv_struct_append(out, h, why);
        }
        xerr_free(he);
    }
    xerr_free(vme);
    xv_free(rec);
    xv_free(hosts);
    *result = out;
    return NULL;
}

static xerr *get_possible_hosts(struct api_ctx *ctx, const struct VM_get_possible_hosts_args *a, xv **result)
{
    return per_host(ctx, a->vm, true, result);
}

static xerr *get_boot_check_results(struct api_ctx *ctx, const struct VM_get_boot_check_results_args *a,
                                   xv **result)
{
    return per_host(ctx, a->vm, false, result);
}

/* ---- host.enable / disable / get_platform_capabilities ---- */

static xerr *set_enabled(struct api_ctx *ctx, const char *host, bool on)
{
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *v = xv_bool(on);
    e = db_txn_set(t, DMC_host, host, DMF_host_enabled, v);
    xv_free(v);
    return db_end(t, e);
}

static xerr *host_enable(struct api_ctx *ctx, const struct host_enable_args *a)
{
    return set_enabled(ctx, a->host, true);
}

static xerr *host_disable(struct api_ctx *ctx, const struct host_disable_args *a)
{
    return set_enabled(ctx, a->host, false);
}

static xerr *host_get_platform_capabilities(struct api_ctx *ctx, const struct host_get_platform_capabilities_args *a,
                                            xv **result)
{
    const char *host = a->host;
    xv *uuid = NULL;
    xerr *e = db_read_field(ctx->db, DMC_host, host, DMF_host_uuid, &uuid);
    if (e)
        return e;
    if (strcmp(host, api_host_ref(ctx->api)) != 0) {
        xv_free(uuid);
        /* the registry is each host's own: ask that host */
        return err_not_implemented("host.get_platform_capabilities of another host");
    }
    *result = xv_string_take(platform_capabilities_xml(api_platform(ctx->api), xv_str(uuid)));
    xv_free(uuid);
    return NULL;
}

/* ---- VM.get_virtual_hardware, VM.get_platform_capabilities ---- */

/* The hardware a VM would get at a start now: after the raise a start makes, from
 * its pin or the registry's entry for its version. */
static xerr *hardware_now(struct api *api, xv *rec, struct vhw **hw)
{
    dm_set(rec, DMF_VM_hardware_platform_version, xv_int(version_for_start(api, rec)));
    return platform_hardware(api_platform(api), rec, vm_is_hvm(rec), hw);
}

static xerr *vm_get_virtual_hardware(struct api_ctx *ctx, const struct VM_get_virtual_hardware_args *a, xv **result)
{
    xv *rec = NULL;
    xerr *e = db_read_record(ctx->db, DMC_VM, a->vm, &rec);
    struct vhw *hw = NULL;
    if (!e)
        e = hardware_now(ctx->api, rec, &hw);
    if (!e)
        *result = xv_string_take(vhw_xml(hw));
    vhw_free(hw);
    xv_free(rec);
    return e;
}

static xerr *vm_get_platform_capabilities(struct api_ctx *ctx, const struct VM_get_platform_capabilities_args *a,
                                          xv **result)
{
    xv *rec = NULL, *huuid = NULL;
    xerr *e = db_read_record(ctx->db, DMC_VM, a->vm, &rec);
    if (!e)
        e = db_read_field(ctx->db, DMC_host, a->host, DMF_host_uuid, &huuid);
    /* another pool member's answer is its own (src/pool/route.c sends the call there);
     * a host outside any pool has no other host to ask */
    if (!e && strcmp(a->host, api_host_ref(ctx->api)) != 0)
        e = err_not_implemented("VM.get_platform_capabilities on another host");
    struct vhw *hw = NULL;
    if (!e)
        e = hardware_now(ctx->api, rec, &hw);
    if (!e) {
        xerr *refusal = vm_check_host(ctx->api, a->vm, rec, a->host, dm_get_int(rec, DMF_VM_hardware_platform_version));
        _cleanup_free_ char *why = refusal ? xerr_str(refusal) : NULL;
        xerr_free(refusal);
        *result = xv_string_take(vhw_vm_capabilities_xml(api_platform(ctx->api), hw, dm_get_str(rec, DMF_VM_uuid),
                                                         xv_str(huuid), why));
    }
    vhw_free(hw);
    xv_free(huuid);
    xv_free(rec);
    return e;
}

xerr *vm_register_checks(struct api *api)
{
    api_register_VM_get_virtual_hardware(api, vm_get_virtual_hardware);
    api_register_VM_get_platform_capabilities(api, vm_get_platform_capabilities);
    api_register_VM_assert_can_boot_here(api, assert_can_boot_here);
    api_register_VM_get_possible_hosts(api, get_possible_hosts);
    api_register_VM_get_boot_check_results(api, get_boot_check_results);
    api_register_host_enable(api, host_enable);
    api_register_host_disable(api, host_disable);
    api_register_host_get_platform_capabilities(api, host_get_platform_capabilities);
    return NULL;
}
