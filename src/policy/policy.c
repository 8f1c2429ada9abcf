/* The pool's platform version policy: default and maximum, and the versions the
 * live hosts have in common. */
#include "policy.h"
#include "dm_gen.h"
#include "log.h"
#include "platform.h"
#include "util.h"
#include "wire.h"

#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *num(int64_t v)
{
    return xasprintf("%" PRId64, v);
}

xerr *policy_read(struct api *api, struct db_txn *t, int64_t *dflt, int64_t *max)
{
    xv *rec = NULL;
    xerr *e = db_txn_read_record(t, DMC_pool, api_pool_ref(api), &rec);
    if (e)
        return e;
    *dflt = dm_get_int(rec, DMF_pool_default_hardware_platform_version);
    *max = dm_get_int(rec, DMF_pool_max_hardware_platform_version);
    xv_free(rec);
    return NULL;
}

xerr *policy_check_max(struct api *api, struct db_txn *t, const char *vm, int64_t version)
{
    int64_t dflt, max;
    xerr *e = policy_read(api, t, &dflt, &max);
    if (e || max < 0 || version <= max)
        return e;
    _cleanup_free_ char *v = num(version), *m = num(max);
    return err_vm_hardware_platform_version_above_pool_maximum(vm, v, m);
}

/* A version given for a pool setting must be one the registry describes: a VM set
 * to it must be buildable. */
static xerr *known(struct api *api, const struct dm_field *f, int64_t v, bool none_allowed)
{
    if ((none_allowed && v == -1) || (v >= 0 && platform_describes(api_platform(api), v)))
        return NULL;
    _cleanup_free_ char *text = num(v);
    return err_invalid_value(f->name, text);
}

/* What both settings do first: the value must be one the registry knows, the pool the
 * only one; the transaction is left open with the current settings read in it. */
static xerr *setting_begin(struct api_ctx *ctx, const char *self, const struct dm_field *f, int64_t value,
                           bool none_allowed, struct db_txn **t, int64_t *dflt, int64_t *max)
{
    xerr *e = known(ctx->api, f, value, none_allowed);
    if (e || (e = db_begin(ctx->db, t)) != NULL)
        return e;
    e = policy_read(ctx->api, *t, dflt, max);
    if (!e && strcmp(self, api_pool_ref(ctx->api)) != 0)
        e = err_handle_invalid(DMC_pool->name, self);
    if (e)
        return db_end(*t, e);
    return NULL;
}

/* ... and last: the field written when it changes, the transaction ended either way. */
static xerr *setting_end(struct db_txn *t, xerr *e, const char *self, const struct dm_field *f,
                         int64_t value, int64_t old)
{
    if (!e && value != old) {
        xv *v = xv_int(value);
        e = db_txn_set(t, DMC_pool, self, f, v);
        xv_free(v);
    }
    return db_end(t, e);
}

static xerr *set_default(struct api_ctx *ctx, const struct pool_set_default_hardware_platform_version_args *a)
{
    const struct dm_field *f = DMF_pool_default_hardware_platform_version;
    struct db_txn *t;
    int64_t dflt, max;
    xerr *e = setting_begin(ctx, a->self, f, a->value, false, &t, &dflt, &max);
    if (e)
        return e;
    if (max >= 0 && a->value > max) {
        _cleanup_free_ char *d = num(a->value), *m = num(max);
        e = err_pool_default_hardware_platform_version_above_maximum(d, m);
    }
    return setting_end(t, e, a->self, f, a->value, dflt);
}

/* The first VM whose version or pending upgrade is above max, as the error naming it. */
static xerr *vm_above(struct db_txn *t, int64_t max)
{
    xv *refs = NULL;
    xerr *e = db_txn_read_refs(t, DMC_VM, &refs);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *vm = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL;
        if ((e = db_txn_read_record(t, DMC_VM, vm, &rec)) != NULL)
            break;
        int64_t v = dm_get_int(rec, DMF_VM_hardware_platform_version);
        int64_t pending = dm_get_int(rec, DMF_VM_pending_hardware_platform_version);
        if (pending > v)
            v = pending;
        xv_free(rec);
        if (v > max) {
            _cleanup_free_ char *vv = num(v), *m = num(max);
            e = err_pool_maximum_hardware_platform_version_below_vm(vm, vv, m);
        }
    }
    xv_free(refs);
    return e;
}

static xerr *set_max(struct api_ctx *ctx, const struct pool_set_max_hardware_platform_version_args *a)
{
    const struct dm_field *f = DMF_pool_max_hardware_platform_version;
    struct db_txn *t;
    int64_t dflt, max;
    xerr *e = setting_begin(ctx, a->self, f, a->value, true, &t, &dflt, &max);
    if (e)
        return e;
    /* in the transaction that sets it: no VM can be raised past it meanwhile */
    if (a->value >= 0)
        e = vm_above(t, a->value);
    if (!e && a->value >= 0 && dflt > a->value) {
        _cleanup_free_ char *d = num(dflt), *m = num(a->value);
        e = err_pool_default_hardware_platform_version_above_maximum(d, m);
    }
    return setting_end(t, e, a->self, f, a->value, max);
}

xerr *policy_live_hosts(struct api *api, struct db_txn *t, bool enabled_only, xv **hosts)
{
    (void)api;
    *hosts = xv_struct();
    xv *refs = NULL;
    xerr *e = t ? db_txn_read_refs(t, DMC_host, &refs) : db_read_refs(api_db(api), DMC_host, &refs);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *h = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL, *metrics = NULL;
        e = t ? db_txn_read_record(t, DMC_host, h, &rec) : db_read_record(api_db(api), DMC_host, h, &rec);
        if (e)
            break;
        const char *m = dm_get_str(rec, DMF_host_metrics);
        /* a host without metrics has never reported: not live */
        xerr *me = t ? db_txn_read_record(t, DMC_host_metrics, m, &metrics)
                     : db_read_record(api_db(api), DMC_host_metrics, m, &metrics);
        bool live = !me && dm_get_bool(metrics, DMF_host_metrics_live);
        xerr_free(me);
        if (live && (!enabled_only || dm_get_bool(rec, DMF_host_enabled)))
            xv_struct_append(*hosts, h, xv_dup(dm_get(rec, DMF_host_virtual_hardware_platform_versions)));
        xv_free(metrics);
        xv_free(rec);
    }
    xv_free(refs);
    if (e) {
        xv_free(*hosts);
        *hosts = NULL;
    }
    return e;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

xerr *policy_common_versions(struct api *api, struct db_txn *t, xv **versions)
{
    *versions = NULL;
    xv *hosts = NULL;
    xerr *e = policy_live_hosts(api, t, true, &hosts);
    if (e)
        return e;
    /* the first host's versions, kept when every other host offers them too */
    int64_t *vs = NULL;
    size_t n = 0;
    if (hosts->u.st.n) {
        const xv *first = hosts->u.st.m[0].val;
        for (size_t i = 0; first && first->type == XV_ARRAY && i < first->u.arr.n; i++) {
            int64_t v = first->u.arr.v[i]->u.i;
            bool all = true, dup = false;
            for (size_t h = 1; h < hosts->u.st.n && all; h++)
                all = platform_host_offers(hosts->u.st.m[h].val, v);
            for (size_t j = 0; j < n; j++)
                dup |= vs[j] == v;
            if (all && !dup) {
                vs = xrealloc(vs, (n + 1) * sizeof(*vs));
                vs[n++] = v;
            }
        }
    }
    if (n)
        qsort(vs, n, sizeof(*vs), cmp_i64);
    *versions = xv_array();
    for (size_t i = 0; i < n; i++)
        xv_array_push(*versions, xv_int(vs[i]));
    free(vs);
    xv_free(hosts);
    return NULL;
}

static xerr *get_common(struct api_ctx *ctx, xv **result)
{
    return policy_common_versions(ctx->api, NULL, result);
}

/* This host's capabilities document, with offered= saying what the pool's live
 * hosts have in common: the registry describes each version's hardware, the same
 * on every host of one software version. */
static xerr *get_capabilities(struct api_ctx *ctx, xv **result)
{
    xv *common = NULL;
    xerr *e = policy_common_versions(ctx->api, NULL, &common);
    if (e)
        return e;
    xv *uuid = NULL;
    e = db_read_field(ctx->db, DMC_pool, api_pool_ref(ctx->api), DMF_pool_uuid, &uuid);
    if (e) {
        xv_free(common);
        return e;
    }
    _cleanup_free_ char *host_doc = platform_capabilities_xml(api_platform(ctx->api), xv_str(uuid));
    xmlDoc *doc = xmlReadMemory(host_doc, (int)strlen(host_doc), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        xmlFreeDoc(doc);
        xv_free(common);
        xv_free(uuid);
        return xerr_internal("the host's capabilities document does not parse");
    }
    xmlUnsetProp(root, (const xmlChar *)"host");
    xmlSetProp(root, (const xmlChar *)"pool", (const xmlChar *)xv_str(uuid));
    for (xmlNode *n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, "version") != 0)
            continue;
        xmlChar *number = xmlGetProp(n, (const xmlChar *)"number");
        int64_t v = -1;
        bool ok = number && parse_int64((const char *)number, &v);
        xmlFree(number);
        xmlSetProp(n, (const xmlChar *)"offered",
                   (const xmlChar *)(ok && platform_host_offers(common, v) ? "yes" : "no"));
    }
    xmlChar *mem = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &mem, &len, "UTF-8", 1);
    *result = xv_stringn((const char *)mem, (size_t)len);
    xmlFree(mem);
    xmlFreeDoc(doc);
    xv_free(common);
    xv_free(uuid);
    return NULL;
}

xerr *policy_register(struct api *api)
{
    api_register_pool_set_default_hardware_platform_version(api, set_default);
    api_register_pool_set_max_hardware_platform_version(api, set_max);
    api_register_pool_get_common_platform_versions(api, get_common);
    api_register_pool_get_platform_capabilities(api, get_capabilities);
    return NULL;
}
