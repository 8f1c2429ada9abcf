/* Migration between the hosts of a pool (VM.pool_migrate, VM.assert_can_migrate).
 *
 * The host the VM runs on does the move; the destination's checks come first, in
 * xapi's order, before anything moves.  The source opens an HTTPS connection to the
 * destination, POST /services/xenops/memory/<vm uuid>?session_id=<session> (the path
 * xenopsd receives memory on), pinned to the certificate fingerprint the pool
 * recorded for that host, and upgraded to a byte stream.  Then:
 *   source: suspends the domain (the guest acknowledges "suspend") and streams
 *           hv_domain_save's output;
 *   dest:   hv_domain_restore from the stream (left paused), "READY <domid>";
 *   source: "GO";
 *   dest:   unpauses, "OK <domid>";
 *   source: destroys its suspended copy; resident_on and domid change in one
 *           transaction with the end of the operation.
 * Any failure before OK (the destination dies, the stream breaks, the restore
 * refuses it) and the source's domain continues in place (hv_domain_resume_in_place):
 * the VM stays as it was, VM_MIGRATE_FAILED says why.  A destination that loses the
 * source before GO destroys what it restored.  (Between GO and OK a broken
 * connection leaves both ends in doubt: the source resumes; the destination, if it
 * unpaused, runs a domain no record names, which its monitor reports.)
 * The destination's errors cross the stream as "ERROR\tCODE\tparam..." lines. */
#include "vm_int.h"
#include "log.h"
#include "rpc.h"
#include "wire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define STREAM_PREFIX "/services/xenops/memory/"
#define STREAM_TIMEOUT 60.0     /* seconds a step of the other side may take */
#define CHUNK 65536

/* ---- both sides ---- */

static bool write_line(int fd, const char *line)
{
    _cleanup_free_ char *l = xasprintf("%s\n", line);
    return write_all(fd, l, strlen(l));
}

/* An error as one line: tabs and newlines inside params become spaces. */
static bool write_error(int fd, const xerr *e)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "ERROR\t%s", e->code);
    for (size_t i = 0; i < e->nparams; i++) {
        buf_adds(&b, "\t");
        for (const char *c = e->params[i]; *c; c++)
            buf_add(&b, *c == '\t' || *c == '\n' ? " " : c, 1);
    }
    bool ok = write_line(fd, b.p);
    buf_free(&b);
    return ok;
}

/* The destination's error, relayed as it came (as any peer's, through src/wire). */
static xerr *parse_error(const char *line)
{
    _cleanup_free_ char *copy = xstrdup(line + 6);
    xv *list = xv_array();
    char *save = NULL;
    for (char *tok = strtok_r(copy, "\t", &save); tok && list->u.arr.n < 16; tok = strtok_r(NULL, "\t", &save))
        xv_array_push(list, xv_string(tok));
    xerr *e = list->u.arr.n ? wire_error_from_list(list) : xerr_internal("the destination failed without saying why");
    xv_free(list);
    return e;
}

/* ---- the destination ---- */

/* One line from the source, a byte at a time (the stream after it is not ours). */
static bool read_line(int fd, char *out, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        if (c == '\n') {
            out[n] = 0;
            return true;
        }
        out[n++] = c;
    }
    return false;
}

/* The pool's sessions are records in the pool's database, which every member reads. */
static xerr *check_session(struct api *api, const char *session)
{
    xv *rec = NULL;
    xerr *e = *session ? db_read_record(api_db(api), DMC_session, session, &rec) : NULL;
    xv_free(rec);
    if (!*session || (e && xerr_is(e, XERR_HANDLE_INVALID))) {
        xerr_free(e);
        return err_session_invalid(session);
    }
    return e;
}

/* The VM the stream is for: by uuid, and only while a migration holds it. */
static xerr *incoming_vm(struct api *api, const char *uuid, char **vm, xv **rec)
{
    xv *key = xv_string(uuid), *refs = NULL;
    xerr *e = db_lookup_field(api_db(api), DMC_VM, DMF_VM_uuid, key, &refs);
    xv_free(key);
    if (e)
        return e;
    if (refs->u.arr.n != 1) {
        xv_free(refs);
        return err_uuid_invalid(DMC_VM->name, uuid);
    }
    *vm = xstrdup(xv_str(refs->u.arr.v[0]));
    xv_free(refs);
    if ((e = db_read_record(api_db(api), DMC_VM, *vm, rec)) != NULL)
        return e;
    const xv *cur = dm_get(*rec, DMF_VM_current_operations);
    bool migrating = false;
    for (size_t i = 0; cur && i < cur->u.st.n; i++)
        migrating |= strcmp(xv_str(cur->u.st.m[i].val), vm_operations_name(VM_OPERATIONS_POOL_MIGRATE)) == 0;
    if (!migrating || strcmp(dm_get_str(*rec, DMF_VM_scheduled_to_be_resident_on), api_host_ref(api)) != 0)
        return err_operation_not_allowed("no migration of this VM to this host is in progress");
    return NULL;
}

static void receive(struct api *api, const char *path, const char *session, int fd)
{
    const char *uuid = path + strlen(STREAM_PREFIX);
    char *vm = NULL;
    xv *rec = NULL;
    uint32_t domid = 0;
    bool built = false;
    xerr *e = check_session(api, session);
    if (!e)
        e = incoming_vm(api, uuid, &vm, &rec);
    if (!e) {
        /* the hardware it runs with on the source: its pin (software predating the
         * platform version builds no vendor device) */
        struct hv_domain_spec spec;
        struct vhw *hw = NULL;
        xv *as_built = config_get_bool(api_config(api), "platform-version-aware") ? NULL : xv_dup(rec);
        if (as_built)
            dm_set(as_built, DMF_VM_has_vendor_device, xv_bool(false));
        e = vm_domain_spec(api_platform(api), as_built ? as_built : rec, &spec, &hw);
        if (!e)
            e = hv_domain_restore(api_hv(api), &spec, fd, &domid);
        spec_free(&spec);
        xv_free(as_built);
        vhw_free(hw);
        built = !e;
        if (!e)
            e = hv_fault(api_hv(api), "migrate-receive");
    }
    char line[64];
    if (!e) {
        snprintf(line, sizeof(line), "READY %" PRIu32, domid);
        struct timeval tv = {(time_t)STREAM_TIMEOUT, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (!write_line(fd, line) || !read_line(fd, line, sizeof(line)) || strcmp(line, "GO") != 0)
            e = xerr_internal("the source went away before the domain was handed over");
    }
    if (!e)
        e = hv_domain_unpause(api_hv(api), domid);
    if (!e) {
        snprintf(line, sizeof(line), "OK %" PRIu32, domid);
        if (!write_line(fd, line))
            log_warn("VM %s: migrated in as domain %" PRIu32 ", but the source did not hear so", vm, domid);
        else
            log_info("VM %s: migrated in as domain %" PRIu32, vm, domid);
    } else {
        _cleanup_free_ char *why = xerr_str(e);
        log_warn("migration of VM %s in: %s", uuid, why);
        if (built) {
            xerr *de = hv_domain_destroy(api_hv(api), domid);
            xerr_free(de);
        }
        write_error(fd, e);
        xerr_free(e);
    }
    free(vm);
    xv_free(rec);
}

/* ---- the source ---- */

struct saver {
    struct hv *hv;
    uint32_t domid;
    int fd;
    xerr *err;
};

static void *save_thread(void *p)
{
    struct saver *s = p;
    s->err = hv_domain_save(s->hv, s->domid, s->fd);
    shutdown(s->fd, SHUT_WR); /* the end of the stream, for the relay */
    return NULL;
}

static xerr *pin(void *ctx, const char *host, const char *port, const char *fingerprint)
{
    const char *want = ctx;
    if (!*want || strcasecmp(want, fingerprint) != 0)
        return xerr_internal("%s port %s presented certificate %s, not the one the pool recorded for it (%s)", host,
                             port, fingerprint, *want ? want : "none");
    return NULL;
}

/* The connection to the destination's stream handler. */
static xerr *connect_dest(struct api_ctx *ctx, const char *dest, const char *uuid, const char *session,
                          struct rpc_client **out)
{
    xv *h = NULL;
    xerr *e = db_read_record(ctx->db, DMC_host, dest, &h);
    if (e)
        return e;
    /* pool members share the HTTPS port and differ by address */
    _cleanup_free_ char *url = xasprintf("https://%s:%s/", dm_get_str(h, DMF_host_address),
                                         config_get(api_config(ctx->api), "https-port"));
    _cleanup_free_ char *fp = xstrdup(dm_get_str(h, DMF_host_certificate_fingerprint));
    xv_free(h);
    struct rpc_client *c = NULL;
    if ((e = rpc_client_open(url, &c)) != NULL)
        return e;
    rpc_client_set_cert_check(c, pin, fp);
    _cleanup_free_ char *path = xasprintf(STREAM_PREFIX "%s?session_id=%s", uuid, session);
    e = rpc_client_upgrade(c, path, STREAM_TIMEOUT);
    rpc_client_set_cert_check(c, NULL, NULL); /* fp goes out of scope */
    if (e) {
        rpc_client_close(c);
        return e;
    }
    *out = c;
    return NULL;
}

/* Stream the suspended domain's image: the saver writes into a socket pair, this
 * thread relays it through TLS, counting for the task's progress.  When the
 * destination stops taking it, the rest is read and dropped, so the saver ends. */
static xerr *stream_image(struct api_ctx *ctx, struct rpc_client *c, uint32_t domid, uint64_t estimate)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return xerr_internal("socketpair: %s", strerror(errno));
    struct saver s = {.hv = api_hv(ctx->api), .domid = domid, .fd = sp[0]};
    pthread_t t;
    if (pthread_create(&t, NULL, save_thread, &s) != 0) {
        close(sp[0]);
        close(sp[1]);
        return xerr_internal("no thread to save the domain");
    }
    char *chunk = xmalloc(CHUNK);
    uint64_t sent = 0;
    xerr *e = NULL;
    for (;;) {
        ssize_t r = read(sp[1], chunk, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (!e) {
            e = rpc_client_send(c, chunk, (size_t)r);
            sent += (size_t)r;
            double f = estimate ? (double)sent / (double)estimate : 0;
            api_task_progress(ctx, 0.2 + 0.6 * (f < 1 ? f : 1));
        }
    }
    free(chunk);
    pthread_join(t, NULL);
    close(sp[0]);
    close(sp[1]);
    if (s.err) {
        xerr_free(e);
        return s.err;
    }
    if (!e)
        log_info("domain %" PRIu32 ": %" PRIu64 " bytes of state sent", domid, sent);
    return e;
}

/* Read the destination's next line: want ("READY", "OK") and its domid, or its error. */
static xerr *expect(struct rpc_client *c, const char *want, uint32_t *domid)
{
    char *line = NULL;
    xerr *e = rpc_client_read_line(c, &line);
    if (e)
        return e;
    size_t n = strlen(want);
    int64_t d = -1;
    if (str_startswith(line, "ERROR\t"))
        e = parse_error(line);
    else if (strncmp(line, want, n) != 0 || line[n] != ' ' || !parse_int64(line + n + 1, &d) || d <= 0 ||
             d > UINT32_MAX)
        e = xerr_internal("the destination answered %.60s", line);
    else
        *domid = (uint32_t)d;
    free(line);
    return e;
}

static void drop_session(struct api *api, char *ref)
{
    struct db_txn *t;
    xerr *e = db_begin(api_db(api), &t);
    if (!e)
        e = db_end(t, db_txn_destroy(t, DMC_session, ref));
    xerr_free(e); /* else the idle sweep ends it */
    free(ref);
}

/* Move the VM's running domain to dest; *updates gets what to record. */
static xerr *migrate_out(struct api_ctx *ctx, const char *vm, const xv *rec, const char *dest, xv **updates)
{
    struct api *api = ctx->api;
    const char *uuid = dm_get_str(rec, DMF_VM_uuid);
    uint32_t domid = (uint32_t)dm_get_int(rec, DMF_VM_domid), newid = 0;
    struct rpc_client *c = NULL;
    /* the stream is authenticated by a session of the pool: the caller's, or, for a
     * call the master handed over (no session here), one of the pool's own */
    char *own = NULL;
    bool theirs = ctx->session && *ctx->session;
    xerr *e = theirs ? NULL : api_session_open(api, "root", "migration", true, &own);
    /* reach the destination before the domain is touched */
    if (!e)
        e = connect_dest(ctx, dest, uuid, theirs ? ctx->session : own, &c);
    api_task_progress(ctx, 0.1);
    bool suspended = false;
    if (!e)
        e = hv_domain_request_shutdown(api_hv(api), domid, "suspend");
    int reason = -1;
    if (!e)
        e = vm_wait_guest(ctx, vm, domid, &reason); /* (which takes back a request never taken) */
    if (!e && reason != HV_SHUTDOWN_SUSPEND)
        e = xerr_internal("the guest stopped (reason %d) instead of suspending", reason);
    suspended = !e;
    if (!e)
        e = hv_fault(api_hv(api), "migrate-send");
    if (!e)
        e = stream_image(ctx, c, domid, (uint64_t)dm_get_int(rec, DMF_VM_memory_static_max));
    if (!e)
        e = expect(c, "READY", &newid);
    api_task_progress(ctx, 0.85);
    if (!e)
        e = rpc_client_send(c, "GO\n", 3);
    if (!e)
        e = expect(c, "OK", &newid);
    rpc_client_close(c);
    if (own)
        drop_session(api, own);
    if (e) {
        /* the VM stays where it was, as it was */
        if (suspended) {
            xerr *re = hv_domain_resume_in_place(api_hv(api), domid);
            if (re) {
                _cleanup_free_ char *why = xerr_str(re);
                log_error("VM %s: its domain %" PRIu32 " could not continue after the failed migration: %s", vm,
                          domid, why);
                xerr_free(re);
            }
        }
        _cleanup_free_ char *why = xerr_str(e);
        log_warn("VM %s: migration to %s failed: %s", vm, dest, why);
        xerr *me = err_vm_migrate_failed(vm, api_host_ref(api), dest, why);
        xerr_free(e);
        return me;
    }
    xerr *de = hv_domain_destroy(api_hv(api), domid);
    if (de) {
        _cleanup_free_ char *why = xerr_str(de);
        log_error("VM %s: its old domain %" PRIu32 " outlived the migration: %s", vm, domid, why);
        xerr_free(de);
    }
    log_info("VM %s migrated to %s (domain %" PRIu32 " there)", vm, dest, newid);
    *updates = xv_struct();
    dm_set(*updates, DMF_VM_resident_on, xv_string(dest));
    dm_set(*updates, DMF_VM_domid, xv_int(newid));
    dm_set(*updates, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
    return NULL;
}

/* ---- the messages ---- */

/* The destination's checks: a start's, in xapi's order; a VM already running there
 * keeps its memory and its place (vm_check_on). */
static xerr *check_dest(struct api *api, const char *vm, const xv *rec, const char *host)
{
    return vm_check_host(api, vm, rec, host, dm_get_int(rec, DMF_VM_hardware_platform_version));
}

static xerr *source_live(struct api *api, const char *source)
{
    if (!api_pool(api))
        return err_host_offline(source);
    struct vm_host_view h;
    xerr *e = vm_host_view_read(api, source, &h);
    if (e)
        return e;
    bool live = h.live;
    vm_host_view_free(&h);
    return live ? NULL : err_host_offline(source);
}

static xerr *set_scheduled(struct api_ctx *ctx, const char *vm, const char *host)
{
    struct db_txn *t;
    xerr *e = db_begin(ctx->db, &t);
    if (e)
        return e;
    xv *v = xv_string(host);
    e = db_txn_set(t, DMC_VM, vm, DMF_VM_scheduled_to_be_resident_on, v);
    xv_free(v);
    return db_end(t, e);
}

static xerr *vm_pool_migrate(struct api_ctx *ctx, const struct VM_pool_migrate_args *a)
{
    const char *vm = a->vm, *host = a->host;
    char *opid = NULL;
    xv *rec = NULL, *updates = NULL, *dest = NULL;
    /* a destination that does not exist is HANDLE_INVALID before the VM is taken */
    xerr *e = db_read_record(ctx->db, DMC_host, host, &dest);
    xv_free(dest);
    if (e)
        return e;
    if ((e = vm_op_begin(ctx, vm, VM_OPERATIONS_POOL_MIGRATE, VM_BY_CLIENT, NULL, NULL, &opid, &rec)) != NULL)
        return e;
    _cleanup_free_ char *source = xstrdup(dm_get_str(rec, DMF_VM_resident_on));
    e = check_dest(ctx->api, vm, rec, host);
    bool elsewhere = !e && strcmp(host, source) != 0 && strcmp(source, api_host_ref(ctx->api)) != 0;
    if (!e && strcmp(host, source) == 0)
        ; /* already there: nothing moves */
    else if (elsewhere)
        e = source_live(ctx->api, source); /* xapi's check_live of the resident host */
    else if (!e && (e = set_scheduled(ctx, vm, host)) == NULL) {
        e = migrate_out(ctx, vm, rec, host, &updates);
        if (e) {
            updates = xv_struct();
            dm_set(updates, DMF_VM_scheduled_to_be_resident_on, xv_string(REF_NULL));
        }
    }
    e = vm_op_end(ctx, vm, opid, updates, e);
    free(opid);
    xv_free(rec);
    if (!e && elsewhere) {
        /* the host the VM runs on moves it (the checks passed here first) */
        xv *args = xv_array(), *r = NULL;
        xv_array_push(args, xv_string(vm));
        xv_array_push(args, xv_string(host));
        xv_array_push(args, xv_dup(a->options));
        log_info("VM %s: VM.pool_migrate on host %s, where it runs", vm, source);
        e = api_call_on_host(ctx->api, source, "VM.pool_migrate", args, &r);
        xv_free(args);
        xv_free(r);
    }
    return e;
}

static xerr *assert_can_migrate(struct api_ctx *ctx, const struct VM_assert_can_migrate_args *a)
{
    const char *vm = a->vm;
    const xv *host = xv_struct_get(a->dest, "host");
    if (!host || host->type != XV_STRING)
        return err_invalid_value("dest", "a map with the key host, the destination's ref");
    const xv *maps[] = {a->vdi_map, a->vif_map, a->vgpu_map};
    static const char *const names[] = {"vdi_map", "vif_map", "vgpu_map"};
    for (int i = 0; i < 3; i++)
        if (maps[i] && maps[i]->u.st.n)
            return err_invalid_value(names[i], "this host has no such devices: the map must be empty");
    xv *rec = NULL, *h = NULL;
    xerr *e = db_read_record(ctx->db, DMC_host, xv_str(host), &h);
    xv_free(h);
    if (!e)
        e = db_read_record(ctx->db, DMC_VM, vm, &rec);
    if (!e)
        e = vm_op_check(vm, rec, VM_OPERATIONS_POOL_MIGRATE, VM_BY_CLIENT);
    if (!e)
        e = check_dest(ctx->api, vm, rec, xv_str(host));
    xv_free(rec);
    return e;
}

xerr *vm_register_migrate(struct api *api)
{
    api_register_VM_pool_migrate(api, vm_pool_migrate);
    api_register_VM_assert_can_migrate(api, assert_can_migrate);
    api_register_stream(api, STREAM_PREFIX, receive);
    return NULL;
}
