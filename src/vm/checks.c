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

xerr *vm_check_host(struct api *api, const char *vm, const xv *rec, const char *host, int64_t version)
{
    struct db *db = api_db(api);
    xv *h = NULL, *m = NULL;
    xerr *e = db_read_record(db, DMC_host, host, &h);
    if (e)
        return e;
    bool local = strcmp(host, api_host_ref(api)) == 0;
    const char *metrics = dm_get_str(h, DMF_host_metrics);
    if (strcmp(metrics, REF_NULL) != 0) {
        xerr *me = db_read_record(db, DMC_host_metrics, metrics, &m);
        xerr_free(me);
    }
    /* 1. live: this host is, by answering; others as their metrics say */
    if (!local && !(m && dm_get_bool(m, DMF_host_metrics_live)))
        e = err_host_not_live();
    /* 2. enabled */
    else if (!dm_get_bool(h, DMF_host_enabled))
        e = err_host_disabled(host);
    /* 3. the platform version: membership, not >= */
    else if (!platform_host_offers(dm_get(h, DMF_host_virtual_hardware_platform_versions), version))
        e = check_version(vm, h, host, version);
    /* 4. HVM needs hardware support: Xen's capabilities, as hvm-3.0-x86_64 */
    else if (vm_is_hvm(rec) && !has_capability(h, "hvm-"))
        e = err_vm_hvm_required(vm);
    /* 5. memory */
    else {
        uint64_t need = (uint64_t)dm_get_int(rec, DMF_VM_memory_static_max), avail = 0;
        struct hv_host_info hi;
        xerr *he = NULL;
        if (local && api_hv(api) && (he = hv_host_info(api_hv(api), &hi)) == NULL)
            avail = hi.free_memory_bytes;
        else
            avail = m ? (uint64_t)dm_get_int(m, DMF_host_metrics_memory_free) : 0;
        xerr_free(he);
        if (need > avail) {
            char n[24], a[24];
            snprintf(n, sizeof(n), "%" PRIu64, need);
            snprintf(a, sizeof(a), "%" PRIu64, avail);
            e = err_host_not_enough_free_memory(n, a);
        }
    }
    xv_free(h);
    xv_free(m);
    return e;
}

/* Hosts in the order a start tries them: affinity, this host, the others. */
static xerr *candidates(struct api *api, const xv *rec, xv **out)
{
    xv *all = NULL;
    xerr *e = db_read_refs(api_db(api), DMC_host, &all);
    if (e)
        return e;
    xv *order = xv_array();
    const char *aff = dm_get_str(rec, DMF_VM_affinity);
    const char *first[2] = {aff, api_host_ref(api)};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < all->u.arr.n; i++)
            if (strcmp(xv_str(all->u.arr.v[i]), first[k]) == 0) {
                bool dup = false;
                for (size_t j = 0; j < order->u.arr.n; j++)
                    dup |= strcmp(xv_str(order->u.arr.v[j]), first[k]) == 0;
                if (!dup)
                    xv_array_push(order, xv_string(first[k]));
            }
    for (size_t i = 0; i < all->u.arr.n; i++) {
        bool dup = false;
        for (size_t j = 0; j < order->u.arr.n; j++)
            dup |= xv_equal(order->u.arr.v[j], all->u.arr.v[i]);
        if (!dup)
            xv_array_push(order, xv_dup(all->u.arr.v[i]));
    }
    xv_free(all);
    *out = order;
    return NULL;
}

xerr *vm_choose_host(struct api *api, const char *vm, const xv *rec, int64_t version, char **host)
{
    xv *order = NULL;
    xerr *e = candidates(api, rec, &order);
    if (e)
        return e;
    *host = NULL;
    for (size_t i = 0; i < order->u.arr.n && !*host; i++) {
        xerr *he = vm_check_host(api, vm, rec, xv_str(order->u.arr.v[i]), version);
        if (!he)
            *host = xstrdup(xv_str(order->u.arr.v[i]));
        xerr_free(he);
    }
    xv_free(order);
    return *host ? NULL : err_no_hosts_available();
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

xerr *vm_register_checks(struct api *api)
{
    api_register_VM_assert_can_boot_here(api, assert_can_boot_here);
    api_register_VM_get_possible_hosts(api, get_possible_hosts);
    api_register_VM_get_boot_check_results(api, get_boot_check_results);
    api_register_host_enable(api, host_enable);
    api_register_host_disable(api, host_disable);
    api_register_host_get_platform_capabilities(api, host_get_platform_capabilities);
    return NULL;
}
