/* Start-up: this host's identity, and the records every client expects to find
 * (pool, host, host_metrics, dom0's VM), refreshed from the running system. */
#include "api_int.h"
#include "log.h"
#include "platform.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef XENAPID_VERSION
#define XENAPID_VERSION "0.1.0"
#endif

/* The inventory holds the host's uuid, like xapi's xensource-inventory: the
 * identity must outlive the database (a pool member's database is the master's). */
static xerr *load_inventory(const char *path, char uuid[37])
{
    FILE *f = fopen(path, "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\r\n")] = 0;
            if (str_startswith(line, "INSTALLATION_UUID=") && uuid_is_valid(line + 18)) {
                memcpy(uuid, line + 18, 37);
                fclose(f);
                return NULL;
            }
        }
        fclose(f);
    }
    uuid_generate_str(uuid);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return xerr_internal("cannot write %s: %s", tmp, strerror(errno));
    _cleanup_free_ char *text = xasprintf("INSTALLATION_UUID=%s\n", uuid);
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0)
        return xerr_internal("cannot write %s: %s", path, strerror(errno));
    log_info("new host identity %s written to %s", uuid, path);
    return NULL;
}

/* The address other hosts reach us at: configured, else the listen address unless
 * it is a wildcard or loopback, else the source address of the default route. */
static char *host_address(const struct config *cfg)
{
    const char *a = config_get(cfg, "host-address");
    if (*a)
        return xstrdup(a);
    a = config_get(cfg, "listen-address");
    if (*a && strcmp(a, "0.0.0.0") != 0 && strcmp(a, "::") != 0 && !str_startswith(a, "127."))
        return xstrdup(a);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)}, me;
    socklen_t len = sizeof(me);
    inet_pton(AF_INET, "192.0.2.1", &to.sin_addr); /* TEST-NET: nothing is sent */
    char text[INET_ADDRSTRLEN] = "127.0.0.1";
    if (s >= 0 && connect(s, (struct sockaddr *)&to, sizeof(to)) == 0 &&
        getsockname(s, (struct sockaddr *)&me, &len) == 0)
        inet_ntop(AF_INET, &me.sin_addr, text, sizeof(text));
    if (s >= 0)
        close(s);
    return xstrdup(text);
}

static xerr *set(struct db_txn *t, const struct dm_class *c, const char *ref, const struct dm_field *f, xv *v)
{
    return api_txn_set(t, f, c, ref, v);
}

static xv *smap(const char *k1, const char *v1, ...)
{
    xv *m = xv_struct();
    va_list ap;
    va_start(ap, v1);
    const char *k = k1, *v = v1;
    while (k) {
        xv_struct_append(m, k, xv_string(v));
        k = va_arg(ap, const char *);
        v = k ? va_arg(ap, const char *) : NULL;
    }
    va_end(ap);
    return m;
}

/* Find the ref of a record by a ref field, or create the record and point at it. */
static xerr *ensure_linked(struct db_txn *t, const struct dm_class *owner, const char *owner_ref,
                           const struct dm_field *field, const struct dm_class *c, xv *fields, char **ref)
{
    xv *cur = NULL;
    xerr *e = db_txn_read_field(t, owner, owner_ref, field, &cur);
    if (e) {
        xv_free(fields);
        return e;
    }
    xv *probe = NULL;
    if (strcmp(xv_str(cur), REF_NULL) != 0 && (e = db_txn_read_record(t, c, xv_str(cur), &probe)) == NULL) {
        *ref = xstrdup(xv_str(cur));
        xv_free(probe);
        xv_free(cur);
        xv_free(fields);
        return NULL;
    }
    xerr_free(e);
    xv_free(cur);
    e = api_create_object(t, c, fields, ref);
    xv_free(fields);
    if (!e)
        e = set(t, owner, owner_ref, field, xv_string(*ref));
    return e;
}

/* A host_cpu record per physical CPU the backend reports (xapi keeps one per CPU, by
 * number); what the backend does not say (vendor, model) stays empty. */
static xerr *sync_cpus(struct db_txn *t, const char *host, const struct hv_host_info *hi)
{
    xv *key = xv_string(host), *refs = NULL;
    xerr *e = db_txn_lookup_field(t, DMC_host_cpu, DMF_host_cpu_host, key, &refs);
    xv_free(key);
    if (e)
        return e;
    bool *have = xcalloc(hi->nr_cpus + 1, sizeof(bool));
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *ref = xv_str(refs->u.arr.v[i]);
        xv *n = NULL;
        e = db_txn_read_field(t, DMC_host_cpu, ref, DMF_host_cpu_number, &n);
        if (e)
            break;
        int64_t num = n->u.i;
        xv_free(n);
        if (num < 0 || num >= (int64_t)hi->nr_cpus || have[num])
            e = db_txn_destroy(t, DMC_host_cpu, ref); /* a CPU no longer there */
        else
            have[num] = true;
        if (!e)
            e = set(t, DMC_host_cpu, ref, DMF_host_cpu_speed, xv_int(hi->cpu_mhz));
    }
    for (unsigned i = 0; !e && i < hi->nr_cpus; i++) {
        if (have[i])
            continue;
        xv *f = xv_struct();
        dm_set(f, DMF_host_cpu_host, xv_string(host));
        dm_set(f, DMF_host_cpu_number, xv_int(i));
        dm_set(f, DMF_host_cpu_speed, xv_int(hi->cpu_mhz));
        char *ref = NULL;
        e = api_create_object(t, DMC_host_cpu, f, &ref);
        free(ref);
        xv_free(f);
    }
    free(have);
    xv_free(refs);
    return e;
}

/* This host's HTTPS certificate as a Certificate record of type host (xapi keeps
 * one per host, datamodel_certificate.ml); none without HTTPS.  A changed
 * certificate replaces the record. */
/* Of the records of class c whose field `link` names owner, the first the judge calls a
 * match is kept (*have), the other matches and those it calls ours are destroyed, the
 * rest left alone: host records made again when what they describe changed. */
enum owned { OWNED_MATCH, OWNED_STALE, OWNED_FOREIGN };
static xerr *prune_owned(struct db_txn *t, const struct dm_class *c, const struct dm_field *link, const char *owner,
                         enum owned (*judge)(const xv *rec, const char *ref, const void *arg), const void *arg,
                         bool *have)
{
    xv *key = xv_string(owner), *refs = NULL;
    xerr *e = db_txn_lookup_field(t, c, link, key, &refs);
    xv_free(key);
    *have = false;
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *ref = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL;
        if ((e = db_txn_read_record(t, c, ref, &rec)) != NULL)
            break;
        enum owned o = judge(rec, ref, arg);
        xv_free(rec);
        if (o == OWNED_MATCH && !*have)
            *have = true;
        else if (o != OWNED_FOREIGN)
            e = db_txn_destroy(t, c, ref);
    }
    xv_free(refs);
    return e;
}

static enum owned judge_certificate(const xv *rec, const char *ref, const void *want)
{
    (void)ref;
    if (dm_get_enum(rec, DMF_Certificate_type) != CERTIFICATE_TYPE_HOST)
        return OWNED_FOREIGN;
    const char *w = want;
    return *w && strcmp(dm_get_str(rec, DMF_Certificate_fingerprint_sha256), w) == 0 ? OWNED_MATCH : OWNED_STALE;
}

/* This host's HTTPS certificate as a Certificate record of type host (xapi keeps
 * one per host, datamodel_certificate.ml); none without HTTPS.  A changed
 * certificate replaces the record. */
static xerr *sync_certificate(struct api *api, struct db_txn *t, const char *host)
{
    const char *want = api->certificate_fingerprint;
    bool have;
    xerr *e = prune_owned(t, DMC_Certificate, DMF_Certificate_host, host, judge_certificate, want, &have);
    if (e || have || !*want)
        return e;
    xv *f = xv_struct();
    dm_set(f, DMF_Certificate_type, xv_string(certificate_type_name(CERTIFICATE_TYPE_HOST)));
    dm_set(f, DMF_Certificate_host, xv_string(host));
    dm_set(f, DMF_Certificate_not_before, xv_datetime(api->certificate_not_before));
    dm_set(f, DMF_Certificate_not_after, xv_datetime(api->certificate_not_after));
    dm_set(f, DMF_Certificate_fingerprint, xv_string(want));
    dm_set(f, DMF_Certificate_fingerprint_sha256, xv_string(want));
    dm_set(f, DMF_Certificate_fingerprint_sha1, xv_string(api->certificate_fingerprint_sha1));
    char *ref = NULL;
    e = api_create_object(t, DMC_Certificate, f, &ref);
    free(ref);
    xv_free(f);
    return e;
}

static xerr *refresh(struct api *api, struct db_txn *t, const char *host, const struct hv_host_info *hi)
{
    const struct config *cfg = api->cfg;
    char hostname[256] = "localhost";
    gethostname(hostname, sizeof(hostname) - 1);
    const char *label = *config_get(cfg, "host-name-label") ? config_get(cfg, "host-name-label") : hostname;
    _cleanup_free_ char *addr = host_address(cfg);
    char mhz[32], cpus[32];
    snprintf(mhz, sizeof(mhz), "%u", hi->cpu_mhz);
    snprintf(cpus, sizeof(cpus), "%u", hi->nr_cpus);

    /* Nothing else ever writes this field: it says what this host's software offers.
     * Software that predates the concept does not write it at all (platform-version-
     * aware = false): the record keeps what the master gave it at the join, [0]. */
    bool aware = config_get_bool(cfg, "platform-version-aware");
    xv *versions = api->platform ? platform_offered(api->platform) : xv_array();
    if (!api->platform)
        xv_array_push(versions, xv_int(0));
    xerr *e = NULL;
    xv *caps = xv_array();
    _cleanup_free_ char *capstr = xstrdup(hi->xen_caps);
    char *save = NULL;
    for (char *tok = strtok_r(capstr, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
        xv_array_push(caps, xv_string(tok));

    xv *name = NULL;
    e = db_txn_read_field(t, DMC_host, host, DMF_host_name_label, &name);
    bool unnamed = !e && !*xv_str(name);
    xv_free(name);
    if (!e && (unnamed || *config_get(cfg, "host-name-label")))
        e = set(t, DMC_host, host, DMF_host_name_label, xv_string(label));
    if (!e) e = set(t, DMC_host, host, DMF_host_hostname, xv_string(hostname));
    if (!e) e = set(t, DMC_host, host, DMF_host_address, xv_string(addr));
    if (!e) e = set(t, DMC_host, host, DMF_host_certificate_fingerprint, xv_string(api->certificate_fingerprint));
    long long major = dm_api_version_major, minor = dm_api_version_minor;
    const char *posing = config_get(cfg, "api-version");
    if (!e && *posing && sscanf(posing, "%lld.%lld", &major, &minor) != 2)
        e = err_invalid_value("api-version", posing);
    if (!e) e = set(t, DMC_host, host, DMF_host_API_version_major, xv_int(major));
    if (!e) e = set(t, DMC_host, host, DMF_host_API_version_minor, xv_int(minor));
    if (!e) e = set(t, DMC_host, host, DMF_host_API_version_vendor, xv_string(dm_api_version_vendor));
    if (!e)
        e = set(t, DMC_host, host, DMF_host_software_version,
                /* xapi's keys (xapi_globs.ml software_version, create_misc.ml; Xen
                 * Orchestra reads build_number too), and backend */
                smap("product_brand", "xenapid", "product_version", XENAPID_VERSION, "platform_name",
                     "xenapid", "platform_version", XENAPID_VERSION, "xapi", XENAPID_VERSION, "xapi_build",
                     XENAPID_VERSION, "build_number", XENAPID_VERSION, "xen", hi->xen_version, "backend", hi->backend, "hostname", hostname,
                     NULL, NULL));
    if (!e)
        e = set(t, DMC_host, host, DMF_host_cpu_info, smap("cpu_count", cpus, "speed", mhz, NULL, NULL));
    if (!e) e = sync_cpus(t, host, hi);
    if (!e) e = sync_certificate(api, t, host);
    if (!e) e = set(t, DMC_host, host, DMF_host_capabilities, caps);
    else xv_free(caps);
    if (!e && aware) e = set(t, DMC_host, host, DMF_host_virtual_hardware_platform_versions, versions);
    else xv_free(versions);
    return e;
}

static enum owned judge_console(const xv *rec, const char *ref, const void *addr)
{
    _cleanup_free_ char *want = xasprintf("https://%s/console?ref=%s", (const char *)addr, ref);
    return dm_get_enum(rec, DMF_console_protocol) == CONSOLE_PROTOCOL_VT100 &&
                   strcmp(dm_get_str(rec, DMF_console_location), want) == 0
               ? OWNED_MATCH
               : OWNED_STALE;
}

/* dom0's text console, as xapi's create_misc.ml makes it (at
 * https://ADDRESS/console?ref=REF); xapi's second one, rfb, is vncterm's, which this
 * host does not run.  Made again when the address moved. */
static xerr *dom0_console(struct db_txn *t, const char *dom0, const char *addr)
{
    bool have;
    xerr *e = prune_owned(t, DMC_console, DMF_console_VM, dom0, judge_console, addr, &have);
    if (e || have)
        return e;
    xv *f = xv_struct();
    dm_set(f, DMF_console_VM, xv_string(dom0));
    dm_set(f, DMF_console_protocol, xv_string(console_protocol_name(CONSOLE_PROTOCOL_VT100)));
    char *ref = NULL;
    e = api_create_object(t, DMC_console, f, &ref);
    xv_free(f);
    if (!e)
        e = set(t, DMC_console, ref, DMF_console_location,
                xv_string_take(xasprintf("https://%s/console?ref=%s", addr, ref)));
    free(ref);
    return e;
}

static xerr *ensure_records(struct api *api, struct db_txn *t, const char *host_uuid,
                            const struct hv_host_info *hi)
{
    char *host = NULL;
    xv *uuidv = xv_string(host_uuid), *refs = NULL;
    xerr *e = db_txn_lookup_field(t, DMC_host, DMF_host_uuid, uuidv, &refs);
    xv_free(uuidv);
    if (e)
        return e;
    if (refs->u.arr.n) {
        host = xstrdup(xv_str(refs->u.arr.v[0]));
    } else {
        xv *f = xv_struct();
        dm_set(f, DMF_host_uuid, xv_string(host_uuid));
        e = api_create_object(t, DMC_host, f, &host);
        xv_free(f);
        if (!e)
            log_info("created the record of this host (%s)", host_uuid);
    }
    xv_free(refs);
    if (e)
        return e;
    free(api->host_ref);
    api->host_ref = host;

    /* the pool: there is exactly one; a fresh database makes this host its master */
    xv *pools = NULL;
    if ((e = db_txn_read_refs(t, DMC_pool, &pools)) != NULL)
        return e;
    if (pools->u.arr.n) {
        free(api->pool_ref);
        api->pool_ref = xstrdup(xv_str(pools->u.arr.v[0]));
    } else {
        xv *f = xv_struct();
        dm_set(f, DMF_pool_master, xv_string(host));
        e = api_create_object(t, DMC_pool, f, &api->pool_ref);
        xv_free(f);
    }
    xv_free(pools);
    if (e)
        return e;

    e = refresh(api, t, host, hi);
    if (e)
        return e;

    _cleanup_free_ char *metrics = NULL;
    e = ensure_linked(t, DMC_host, host, DMF_host_metrics, DMC_host_metrics, NULL, &metrics);
    if (!e) e = set(t, DMC_host_metrics, metrics, DMF_host_metrics_memory_total, xv_int((int64_t)hi->total_memory_bytes));
    if (!e) e = set(t, DMC_host_metrics, metrics, DMF_host_metrics_memory_free, xv_int((int64_t)hi->free_memory_bytes));
    if (!e) e = set(t, DMC_host_metrics, metrics, DMF_host_metrics_live, xv_bool(true));
    if (!e) e = set(t, DMC_host_metrics, metrics, DMF_host_metrics_last_updated, xv_datetime(time(NULL)));
    if (e)
        return e;

    /* dom0 is a VM record too, as in xapi: clients look for is_control_domain */
    xv *f = xv_struct();
    dm_set(f, DMF_VM_name_label, xv_string_take(xasprintf("Control domain on host: %s", host_uuid)));
    dm_set(f, DMF_VM_is_control_domain, xv_bool(true));
    _cleanup_free_ char *dom0 = NULL;
    e = ensure_linked(t, DMC_host, host, DMF_host_control_domain, DMC_VM, f, &dom0);
    if (!e) e = set(t, DMC_VM, dom0, DMF_VM_is_control_domain, xv_bool(true));
    if (!e) e = set(t, DMC_VM, dom0, DMF_VM_power_state, xv_string(vm_power_state_name(VM_POWER_STATE_RUNNING)));
    if (!e) e = set(t, DMC_VM, dom0, DMF_VM_domid, xv_int(0));
    if (!e) e = set(t, DMC_VM, dom0, DMF_VM_resident_on, xv_string(host));
    if (!e) e = set(t, DMC_VM, dom0, DMF_VM_domain_type, xv_string(domain_type_name(DOMAIN_TYPE_PV)));
    if (!e) {
        _cleanup_free_ char *addr = host_address(api->cfg);
        e = dom0_console(t, dom0, addr);
    }
    return e;
}

/* Tasks that were running when the daemon stopped will never finish. */
static xerr *fail_stale_tasks(struct api *api, struct db_txn *t)
{
    xv *refs = NULL;
    xerr *e = db_txn_lookup_field(t, DMC_task, DMF_task_resident_on, &(xv){.type = XV_STRING,
                                  .u.str = {api->host_ref, strlen(api->host_ref)}}, &refs);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++) {
        const char *ref = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL;
        if ((e = db_txn_read_record(t, DMC_task, ref, &rec)) != NULL)
            break;
        int status = dm_get_enum(rec, DMF_task_status);
        bool ours = str_startswith(dm_get_str(rec, DMF_task_name_label), "Async.");
        if (ours && (status == TASK_STATUS_TYPE_PENDING || status == TASK_STATUS_TYPE_CANCELLING)) {
            _cleanup_xerr_ xerr *lost = err_internal_error("the daemon restarted while the task was running");
            e = set(t, DMC_task, ref, DMF_task_error_info, wire_error_list(lost));
            if (!e) e = set(t, DMC_task, ref, DMF_task_status, xv_string(task_status_type_name(TASK_STATUS_TYPE_FAILURE)));
            if (!e) e = set(t, DMC_task, ref, DMF_task_finished, xv_datetime(time(NULL)));
            if (!e) e = set(t, DMC_task, ref, DMF_task_allowed_operations, xv_array());
        }
        xv_free(rec);
    }
    xv_free(refs);
    return e;
}

xerr *host_startup(struct api *api)
{
    char uuid[37];
    xerr *e = load_inventory(config_get(api->cfg, "inventory"), uuid);
    if (e)
        return e;
    struct hv_host_info hi = {0};
    if (api->hv)
        e = hv_host_info(api->hv, &hi);
    else
        snprintf(hi.backend, sizeof(hi.backend), "none");
    if (e)
        return e;
    struct db_txn *t;
    if ((e = db_begin(api->db, &t)) != NULL)
        return e;
    e = ensure_records(api, t, uuid, &hi);
    if (!e)
        e = fail_stale_tasks(api, t);
    e = db_end(t, e);
    if (!e)
        log_info("this is host %s (%s), pool %s", uuid, api->host_ref, api->pool_ref);
    return e;
}
