/* pool.join on the joining host, its master's side (pool.initial_auth,
 * pool.register_member), and pool.eject. */
#include "pool_int.h"
#include "dm_gen.h"
#include "log.h"
#include "wire.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void pool_want_restart(struct pool *p)
{
    /* the daemon's main loop restarts it, once this call's answer is sent */
    (void)p;
    kill(getpid(), SIGUSR1);
}

/* ---- on the joining host ---- */

struct remote {
    struct peer *peer;
    char *session;
};

static xerr *rcall(struct remote *r, const char *method, xv *args, xv **result)
{
    xv *params = xv_array();
    xv_array_push(params, xv_string(r->session));
    for (size_t i = 0; args && i < args->u.arr.n; i++)
        xv_array_push(params, xv_dup(args->u.arr.v[i]));
    xv_free(args);
    xv *res = NULL;
    xerr *e = peer_call_raw(r->peer, method, params, &res);
    xv_free(params);
    if (link_failed(e)) {
        xerr_free(e);
        e = err_joining_host_connection_failed();
    }
    if (!e && result)
        *result = res;
    else
        xv_free(res);
    return e;
}

static xv *a1(const char *s)
{
    xv *a = xv_array();
    xv_array_push(a, xv_string(s));
    return a;
}

static int64_t as_int(const xv *v)
{
    int64_t i = 0;
    if (v && v->type == XV_INT)
        return v->u.i;
    if (v && xv_str(v))
        parse_int64(xv_str(v), &i);
    return i;
}

/* xapi's pre-join checks that apply here, in its order. */
static xerr *pre_join_checks(struct pool *p, struct remote *r, const char *my_uuid)
{
    struct db *db = api_db(p->api);
    xv *pools = NULL, *master = NULL, *muuid = NULL;
    xerr *e = rcall(r, "pool.get_all", xv_array(), &pools);
    if (!e && (pools->type != XV_ARRAY || pools->u.arr.n != 1))
        e = xerr_internal("the remote host does not belong to exactly one pool");
    if (!e)
        e = rcall(r, "pool.get_master", a1(xv_str(pools->u.arr.v[0])), &master);
    if (!e)
        e = rcall(r, "host.get_uuid", a1(xv_str(master)), &muuid);
    int64_t hosts = db_count(db, DMC_host);
    if (!e && strcmp(xv_str(muuid), my_uuid) == 0)
        e = err_operation_not_allowed(hosts > 1 ? "Host is already part of a pool" : "Host cannot become slave of itself");
    if (!e && hosts > 1)
        e = err_joining_host_cannot_be_master_of_other_hosts();
    xv *vms = NULL;
    if (!e)
        e = db_read_all_records(db, DMC_VM, &vms);
    for (size_t i = 0; !e && i < vms->u.st.n; i++) {
        const xv *rec = vms->u.st.m[i].val;
        int ps = dm_get_enum(rec, DMF_VM_power_state);
        /* xapi refuses Running; a paused domain runs too, and a suspended one's image
         * stays on this host */
        if (!dm_get_bool(rec, DMF_VM_is_control_domain) && ps != VM_POWER_STATE_HALTED)
            e = err_joining_host_cannot_have_running_vms();
    }
    for (size_t i = 0; !e && i < vms->u.st.n; i++) {
        const xv *cur = dm_get(vms->u.st.m[i].val, DMF_VM_current_operations);
        if (cur && cur->type == XV_STRUCT && cur->u.st.n)
            e = err_joining_host_cannot_have_vms_with_current_operations();
    }
    xv *mmaj = NULL, *mmin = NULL, *me = NULL;
    if (!e)
        e = rcall(r, "host.get_API_version_major", a1(xv_str(master)), &mmaj);
    if (!e)
        e = rcall(r, "host.get_API_version_minor", a1(xv_str(master)), &mmin);
    if (!e)
        e = db_read_record(db, DMC_host, api_host_ref(p->api), &me);
    if (!e) {
        int64_t smaj = dm_get_int(me, DMF_host_API_version_major), smin = dm_get_int(me, DMF_host_API_version_minor);
        if (smaj != as_int(mmaj) || smin != as_int(mmin)) {
            char s[48], m[48];
            snprintf(s, sizeof(s), "%lld.%lld", (long long)smaj, (long long)smin);
            snprintf(m, sizeof(m), "%lld.%lld", (long long)as_int(mmaj), (long long)as_int(mmin));
            log_warn("pool.join: this host's API version is %s, the master's %s", s, m);
            e = err_pool_joining_host_must_have_same_api_version(s, m);
        }
    }
    xv_free(pools);
    xv_free(master);
    xv_free(muuid);
    xv_free(vms);
    xv_free(mmaj);
    xv_free(mmin);
    xv_free(me);
    return e;
}

/* The halted VMs that move to the master, as a JSON array of their records. */
static xerr *halted_vms(struct db *db, char **json)
{
    xv *vms = NULL;
    xerr *e = db_read_all_records(db, DMC_VM, &vms);
    if (e)
        return e;
    xv *list = xv_array();
    for (size_t i = 0; i < vms->u.st.n; i++) {
        const xv *rec = vms->u.st.m[i].val;
        if (!dm_get_bool(rec, DMF_VM_is_control_domain) &&
            dm_get_enum(rec, DMF_VM_power_state) == VM_POWER_STATE_HALTED)
            xv_array_push(list, xv_dup(rec));
    }
    buf b;
    buf_init(&b);
    wire_json_write(&b, list);
    *json = buf_steal(&b);
    xv_free(list);
    xv_free(vms);
    return NULL;
}

static xv *facts(struct pool *p, const xv *me)
{
    xv *f = xv_struct();
    xv_struct_append(f, "name_label", xv_string(dm_get_str(me, DMF_host_name_label)));
    xv_struct_append(f, "hostname", xv_string(dm_get_str(me, DMF_host_hostname)));
    xv_struct_append(f, "address", xv_string(dm_get_str(me, DMF_host_address)));
    xv_struct_append(f, "certificate_fingerprint", xv_string(dm_get_str(me, DMF_host_certificate_fingerprint)));
    (void)p;
    return f;
}

static xerr *join(struct api_ctx *ctx, const struct pool_join_args *a)
{
    struct pool *p = api_pool(ctx->api);
    struct db *db = api_db(p->api);
    if (p->st.member)
        return err_operation_not_allowed("Host is already part of a pool");
    xv *me = NULL;
    xerr *e = db_read_record(db, DMC_host, api_host_ref(p->api), &me);
    if (e)
        return e;
    if (!*dm_get_str(me, DMF_host_certificate_fingerprint)) {
        xv_free(me);
        return err_operation_not_allowed("a pool member needs HTTPS (https-address)");
    }
    char my_uuid[37];
    snprintf(my_uuid, sizeof(my_uuid), "%s", dm_get_str(me, DMF_host_uuid));

    /* the master's certificate is trusted on first use and pinned from then on, as
     * xapi's join does before it exchanges certificates */
    struct remote r = {.peer = peer_new(p, a->master_address, NULL)};
    r.peer->tofu = true;
    xv *params = xv_array(), *s = NULL;
    xv_array_push(params, xv_string(a->master_username));
    xv_array_push(params, xv_string(a->master_password));
    e = peer_call_raw(r.peer, "session.login_with_password", params, &s);
    xv_free(params);
    if (link_failed(e)) {
        _cleanup_free_ char *str = xerr_str(e);
        log_warn("pool.join: cannot reach %s: %s", a->master_address, str);
        xerr_free(e);
        e = err_joining_host_connection_failed();
    }
    if (!e)
        r.session = xstrdup(xv_str(s) ? xv_str(s) : "");
    xv_free(s);

    if (!e)
        e = pre_join_checks(p, &r, my_uuid);
    xv *secret = NULL, *host = NULL;
    if (!e)
        e = rcall(&r, "pool.initial_auth", xv_array(), &secret);
    _cleanup_free_ char *vms = NULL;
    if (!e)
        e = halted_vms(db, &vms);
    if (!e) {
        xv *args = xv_array();
        xv_array_push(args, xv_string(my_uuid));
        xv_array_push(args, facts(p, me));
        xv_array_push(args, xv_string(vms));
        e = rcall(&r, "pool.register_member", args, &host);
    }
    if (r.session)
        xerr_free(rcall(&r, "session.logout", xv_array(), NULL));
    if (!e) {
        struct pool_state st = {
            .member = true,
            .secret = xstrdup(xv_str(secret)),
            .master = xstrdup(a->master_address),
            .master_fingerprint = xstrdup(r.peer->fingerprint),
            .host = xstrdup(xv_str(host)),
        };
        e = pool_state_save(p->path, &st);
        pool_state_clear(&st);
    }
    if (!e) {
        log_info("joined the pool of %s as host %s: restarting as a member", a->master_address, xv_str(host));
        pool_want_restart(p);
    }
    xv_free(secret);
    xv_free(host);
    xv_free(me);
    free(r.session);
    peer_free(r.peer);
    return e;
}

/* ---- on the master ---- */

static xerr *initial_auth(struct api_ctx *ctx, xv **result)
{
    struct pool *p = api_pool(ctx->api);
    *result = xv_string(p->st.secret);
    return NULL;
}

static xerr *set(struct db_txn *t, const struct dm_class *c, const char *ref, const struct dm_field *f, xv *v)
{
    xerr *e = db_txn_set(t, c, ref, f, v);
    xv_free(v);
    return e;
}

/* A joiner's VM record, typed, without what pointed into the joiner's database. */
static xerr *moved_vm(const xv *in, xv **out)
{
    *out = NULL;
    if (!in || in->type != XV_STRUCT)
        return err_invalid_value("vms", "not a record");
    xv *rec = xv_struct();
    for (size_t i = 0; i < in->u.st.n; i++) {
        const struct dm_field *f = dm_field_find(DMC_VM, in->u.st.m[i].key);
        if (!f || f->inverse_class || f->type->kind == DM_REF || f == DMF_VM_current_operations)
            continue;
        xv *v = NULL;
        xerr *e = dm_coerce(f->type, in->u.st.m[i].val, f->name, &v);
        if (e) {
            xv_free(rec);
            return e;
        }
        dm_set(rec, f, v);
    }
    *out = rec;
    return NULL;
}

static xerr *register_member(struct api_ctx *ctx, const struct pool_register_member_args *a, xv **result)
{
    struct pool *p = api_pool(ctx->api);
    if (p->st.member)
        return err_operation_not_allowed("not the pool master");
    xv *vms = NULL;
    xerr *e = wire_json_parse(a->vms, strlen(a->vms), &vms);
    if (e)
        return e;
    if (vms->type != XV_ARRAY) {
        xv_free(vms);
        return err_invalid_value("vms", "not an array");
    }
    struct db_txn *t;
    if ((e = db_begin(ctx->db, &t)) != NULL) {
        xv_free(vms);
        return e;
    }
    xv *uuidv = xv_string(a->uuid), *refs = NULL;
    e = db_txn_lookup_field(t, DMC_host, DMF_host_uuid, uuidv, &refs);
    xv_free(uuidv);
    char *host = NULL;
    if (!e && refs->u.arr.n) {
        host = xstrdup(xv_str(refs->u.arr.v[0]));
    } else if (!e) {
        xv *f = xv_struct();
        dm_set(f, DMF_host_uuid, xv_string(a->uuid));
        e = api_create_object(t, DMC_host, f, &host);
        xv_free(f);
    }
    xv_free(refs);
    static const char *const keys[] = {"name_label", "hostname", "address", "certificate_fingerprint", NULL};
    for (const char *const *k = keys; !e && *k; k++) {
        const char *v = xv_struct_get_str(a->facts, *k);
        if (v)
            e = set(t, DMC_host, host, dm_field_find(DMC_host, *k), xv_string(v));
    }
    char *metrics = NULL;
    if (!e) {
        xv *f = xv_struct();
        dm_set(f, DMF_host_metrics_live, xv_bool(true));
        dm_set(f, DMF_host_metrics_last_updated, xv_datetime(time(NULL)));
        e = api_create_object(t, DMC_host_metrics, f, &metrics);
        xv_free(f);
    }
    if (!e)
        e = set(t, DMC_host, host, DMF_host_metrics, xv_string(metrics));
    for (size_t i = 0; !e && i < vms->u.arr.n; i++) {
        xv *rec = NULL;
        e = moved_vm(vms->u.arr.v[i], &rec);
        char *ref = NULL;
        xv *found = NULL;
        const char *uuid = e ? "" : dm_get_str(rec, DMF_VM_uuid);
        if (!e && (e = db_txn_lookup_field(t, DMC_VM, DMF_VM_uuid, dm_get(rec, DMF_VM_uuid), &found)) == NULL &&
            found->u.arr.n == 0 && uuid_is_valid(uuid))
            e = api_create_object(t, DMC_VM, rec, &ref);
        if (!e && ref)
            log_info("pool.register_member: VM %s (%s) moved to the pool", uuid, ref);
        free(ref);
        xv_free(found);
        xv_free(rec);
    }
    xv_free(vms);
    e = db_end(t, e);
    free(metrics);
    if (e) {
        free(host);
        return e;
    }
    /* the new member counts as just heard from */
    double *now = xmalloc(sizeof(*now));
    *now = now_monotonic();
    pthread_mutex_lock(&p->lock);
    free(strmap_put(p->seen, host, now));
    pthread_mutex_unlock(&p->lock);
    log_info("host %s (%s) joined the pool", a->uuid, host);
    *result = xv_string_take(host);
    return NULL;
}

/* ---- pool.eject ---- */

static xerr *forget_host(struct db *db, const char *host)
{
    xv *rec = NULL;
    xerr *e = db_read_record(db, DMC_host, host, &rec);
    if (e)
        return e;
    struct db_txn *t;
    if ((e = db_begin(db, &t)) != NULL) {
        xv_free(rec);
        return e;
    }
    const char *m = dm_get_str(rec, DMF_host_metrics), *dom0 = dm_get_str(rec, DMF_host_control_domain);
    if (strcmp(m, REF_NULL) != 0 && db_exists(db, DMC_host_metrics, m))
        e = db_txn_destroy(t, DMC_host_metrics, m);
    if (!e && strcmp(dom0, REF_NULL) != 0 && db_exists(db, DMC_VM, dom0))
        e = db_txn_destroy(t, DMC_VM, dom0);
    if (!e)
        e = db_txn_destroy(t, DMC_host, host);
    xv_free(rec);
    return db_end(t, e);
}

/* On the member, from the master: forget the pool, start again with a new database. */
static xerr *eject_self(struct pool *p)
{
    const char *db = config_get(p->cfg, "db-path");
    static const char *const suffixes[] = {"", "-wal", "-shm", NULL};
    for (const char *const *s = suffixes; *s; s++) {
        _cleanup_free_ char *f = xasprintf("%s%s", db, *s);
        unlink(f);
    }
    unlink(p->path);
    log_info("ejected from the pool: restarting as a standalone host with a new database");
    pool_want_restart(p);
    return NULL;
}

static xerr *eject(struct api_ctx *ctx, const struct pool_eject_args *a)
{
    struct pool *p = api_pool(ctx->api);
    if (p->st.member)
        return strcmp(a->host, p->st.host) == 0 ? eject_self(p) : err_operation_not_allowed("not the pool master");
    if (strcmp(a->host, api_host_ref(ctx->api)) == 0)
        return err_operation_not_allowed("Cannot eject the pool master");
    xv *vms = NULL;
    xerr *e = db_read_field(ctx->db, DMC_host, a->host, DMF_host_resident_VMs, &vms);
    if (e)
        return e;
    xv *dom0 = NULL;
    e = db_read_field(ctx->db, DMC_host, a->host, DMF_host_control_domain, &dom0);
    for (size_t i = 0; !e && i < vms->u.arr.n; i++)
        if (strcmp(xv_str(vms->u.arr.v[i]), xv_str(dom0)) != 0)
            e = err_operation_not_allowed("VM resident on host");
    xv_free(vms);
    xv_free(dom0);
    if (e)
        return e;
    xv *args = a1(a->host), *r = NULL;
    xerr *told = pool_call_host(p, a->host, "pool.eject", args, &r);
    xv_free(args);
    xv_free(r);
    if (told) {
        /* a member that does not answer is ejected all the same: it finds out when
         * it comes back (the master no longer knows it) */
        _cleanup_free_ char *s = xerr_str(told);
        log_warn("pool.eject: host %s was not told: %s", a->host, s);
        xerr_free(told);
    }
    e = forget_host(ctx->db, a->host);
    if (!e) {
        pthread_mutex_lock(&p->lock);
        free(strmap_remove(p->seen, a->host));
        pthread_mutex_unlock(&p->lock);
        log_info("host %s ejected from the pool", a->host);
    }
    return e;
}

void pool_register_join(struct pool *p)
{
    api_register_pool_join(p->api, join);
    api_register_pool_initial_auth(p->api, initial_auth);
    api_register_pool_register_member(p->api, register_member);
    api_register_pool_eject(p->api, eject);
}
