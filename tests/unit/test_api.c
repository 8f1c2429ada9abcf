/* src/api without a daemon: api_create on a temporary SQLite database with no
 * hypervisor, called through api_call as the RPC layer calls it.  Dispatch (unknown
 * methods, parameter counts, sessions, type errors), the generated typed thunks, the
 * generic getters and setters, and the task lifecycle. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"
#include "unit.h"
#include "unit_api.h"
#include "wire.h"
#include "rpc.h"
#include "../../src/rpc/rpc_int.h"

static char dir[64];
static struct config *cfg;
static struct db *db;
static struct api *api;
static char *session;

/* params: xv values (owned), NULL-terminated; *result gets the value (or NULL). */
static xerr *vcall(const char *method, xv **result, va_list ap)
{
    return unit_api_callv(api, NULL, method, result, ap);
}

static xerr *call(const char *method, xv **result, ...)
{
    va_list ap;
    va_start(ap, result);
    xerr *e = vcall(method, result, ap);
    va_end(ap);
    return e;
}

/* A call that must succeed; returns its result. */
static xv *ok(const char *method, ...)
{
    va_list ap;
    va_start(ap, method);
    xv *r = NULL;
    xerr *e = vcall(method, &r, ap);
    va_end(ap);
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        ck_abort_msg("%s: %s", method, s);
    }
    return r;
}

/* The error a call must fail with: code and every parameter. */
static void expect(xerr *e, const char *code, size_t n, ...)
{
    ck_assert_msg(e != NULL, "expected %s, got success", code);
    ck_assert_str_eq(e->code, code);
    ck_assert_uint_eq(e->nparams, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *want = va_arg(ap, const char *);
        if (want) /* NULL: any value */
            ck_assert_str_eq(e->params[i], want);
    }
    va_end(ap);
    xerr_free(e);
}

static xv *S(const char *s) { return xv_string(s); }
static xv *sess(void) { return xv_string(session); }

static void setup(void)
{
    unit_tmpdir(dir, sizeof(dir), "apitest");
    cfg = config_new();
    _cleanup_free_ char *pw = xasprintf("%s/passwd", dir);
    _cleanup_free_ char *inv = xasprintf("%s/inventory", dir);
    _cleanup_free_ char *dbp = xasprintf("%s/x.db", dir);
    ck_assert_ptr_null(config_set(cfg, "auth-file", pw));
    ck_assert_ptr_null(config_set(cfg, "inventory", inv));
    ck_assert_ptr_null(config_set(cfg, "login-failure-delay", "0"));
    ck_assert_ptr_null(auth_set_password(pw, "alice", "secret"));
    struct db_options o = {.path = dbp, .sync = "normal", .event_log_size = 1000, .read_connections = 2};
    ck_assert_ptr_null(db_open(&o, &db));
    struct api_options ao = {.cfg = cfg, .db = db, .hv = NULL, .platform = NULL};
    ck_assert_ptr_null(api_create(&ao, &api));
    ck_assert_ptr_null(api_startup(api));
    xv *s = ok("session.login_with_password", S("alice"), S("secret"), NULL);
    session = xstrdup(xv_str(s));
    xv_free(s);
}

static void teardown(void)
{
    ck_assert(api_stop(api, 10));
    api_destroy(api);
    db_close(db);
    config_free(cfg);
    free(session);
    session = NULL;
    unit_tmpdir_remove(dir);
}

/* ---- dispatch ---- */

START_TEST(test_unknown_methods)
{
    expect(call("VM.fly", NULL, sess(), NULL), "MESSAGE_METHOD_UNKNOWN", 1, "VM.fly");
    expect(call("nothing", NULL, NULL), "MESSAGE_METHOD_UNKNOWN", 1, "nothing");
    /* no setter for a field the server maintains */
    expect(call("host.set_hostname", NULL, sess(), S(api_host_ref(api)), S("x"), NULL), "MESSAGE_METHOD_UNKNOWN",
           1, "host.set_hostname");
    /* declared, but no module registered it (no vm/ here) */
    expect(call("VM.start", NULL, sess(), S("OpaqueRef:v"), xv_bool(false), xv_bool(false), NULL),
           "NOT_IMPLEMENTED", 1, "VM.start");
}
END_TEST

/* The dispatcher's answers outside the datamodel, each row a call and xapi's exact
 * answer (ocaml/idl/ocaml_backend/gen_server.ml, ocaml/xapi/server_helpers.ml:
 * sync_ty_and_maybe_remove_prefix strips Async. before any error names the message;
 * do_dispatch answers a message without async mode with a Fault). */
START_TEST(test_async_table)
{
    struct {
        const char *method;
        int nargs;               /* after the session; -1: no session either */
        const char *code, *p0, *p1, *p2;
    } rows[] = {
        {"Async.VM.fly", 0, "MESSAGE_METHOD_UNKNOWN", "VM.fly", NULL, NULL},
        {"Async.VM.get_record", -1, "MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"},
        {"Async.VM.get_record", 0, "MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "1", "0"},
        {"Async.VM.get_record", 1, "Fault", "No async mode for this operation (rpc: VM.get_record)", NULL, NULL},
        {"Async.VM.get_all", 0, "Fault", "No async mode for this operation (rpc: VM.get_all)", NULL, NULL},
        {"Async.host.set_name_label", 2, "Fault", "No async mode for this operation (rpc: host.set_name_label)", NULL,
         NULL},
        {"Async.session.logout", 0, "Fault", "No async mode for this operation (rpc: session.logout)", NULL, NULL},
        {"Async.event.from", 3, "Fault", "No async mode for this operation (rpc: event.from)", NULL, NULL},
        {"Async.task.create", 2, "Fault", "No async mode for this operation (rpc: task.create)", NULL, NULL},
        {"Async.event.get_current_id", 0, "Fault", "No async mode for this operation (rpc: event.get_current_id)",
         NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
        xv *params = xv_array();
        if (rows[i].nargs >= 0)
            xv_array_push(params, sess());
        for (int a = 0; a < rows[i].nargs; a++) {
            if (strcmp(rows[i].method, "Async.event.from") == 0)
                xv_array_push(params, a == 0 ? xv_array() : a == 1 ? S("") : xv_float(0));
            else
                xv_array_push(params, S(a == 0 ? api_host_ref(api) : "x"));
        }
        xv *r = NULL;
        xerr *e = api_call(api, rows[i].method, params, &(struct api_peer){.addr = "test"}, &r);
        xv_free(params);
        xv_free(r);
        ck_assert_msg(e != NULL, "%s succeeded", rows[i].method);
        ck_assert_str_eq(e->code, rows[i].code);
        const char *want[] = {rows[i].p0, rows[i].p1, rows[i].p2};
        size_t n = rows[i].p2 ? 3 : rows[i].p1 ? 2 : 1;
        ck_assert_uint_eq(e->nparams, n);
        for (size_t p = 0; p < n; p++)
            ck_assert_str_eq(e->params[p], want[p]);
        xerr_free(e);
    }
    /* what xapi runs as a task (declared messages by default; the generic create and
     * destroy are VM's own here, so tested over the wire) */
    const char *yes[] = {"Async.task.cancel", "Async.event.inject", "Async.event.register", "Async.event.unregister"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
        xv *params = xv_array();
        xv_array_push(params, sess());
        xerr *e = api_call(api, yes[i], params, &(struct api_peer){.addr = "test"}, &(xv *){NULL});
        xv_free(params);
        /* a count mismatch, not MESSAGE_METHOD_UNKNOWN or a Fault: the Async form exists */
        ck_assert_msg(e && strcmp(e->code, "MESSAGE_PARAMETER_COUNT_MISMATCH") == 0, "%s", yes[i]);
        ck_assert_str_eq(e->params[0], yes[i] + 6);
        xerr_free(e);
    }
    /* system.isAlive:<x> answers its first parameter (gen_server.ml) */
    xv *r = ok("system.isAlive:anything", S("ping"), NULL);
    ck_assert_str_eq(xv_str(r), "ping");
    xv_free(r);
    expect(call("system.isAlive", NULL, S("ping"), NULL), "MESSAGE_METHOD_UNKNOWN", 1, "system.isAlive");
}
END_TEST

/* system.listMethods: every synchronous wire name, no Async. and no system.* names
 * (gen_server.ml writes DU.wire_name ~sync:true of each message). */
START_TEST(test_list_methods)
{
    xv *list = ok("system.listMethods", NULL);
    bool login = false, get_record = false;
    for (size_t i = 0; i < list->u.arr.n; i++) {
        const char *m = xv_str(list->u.arr.v[i]);
        ck_assert_msg(!str_startswith(m, "Async.") && !str_startswith(m, "system."), "%s listed", m);
        login |= strcmp(m, "session.login_with_password") == 0;
        get_record |= strcmp(m, "VM.get_record") == 0;
    }
    ck_assert(login && get_record);
    xv_free(list);
}
END_TEST

START_TEST(test_parameter_counts)
{
    /* counts exclude the session */
    expect(call("host.get_name_label", NULL, sess(), NULL), "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
           "host.get_name_label", "1", "0");
    expect(call("host.get_name_label", NULL, sess(), S(api_host_ref(api)), S("extra"), NULL),
           "MESSAGE_PARAMETER_COUNT_MISMATCH", 3, "host.get_name_label", "1", "2");
    /* nothing at all: not even a session */
    expect(call("host.get_name_label", NULL, NULL), "MESSAGE_PARAMETER_COUNT_MISMATCH", 3, "host.get_name_label",
           "1", "0");
    /* optional parameters: login takes 2 to 4 */
    expect(call("session.login_with_password", NULL, S("alice"), NULL), "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
           "session.login_with_password", "2", "1");
    /* a message with defaulted parameters ignores trailing extras (gen_server.ml:
     * required :: default_args); one without takes exactly its own */
    xv *s5 = ok("session.login_with_password", S("alice"), S("secret"), S("1.0"), S("me"), S("extra"), NULL);
    xv_free(ok("session.logout", s5, NULL));
    expect(call("session.login_with_password", NULL, S("alice"), NULL), "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
           "session.login_with_password", "2", "1");
    expect(call("task.create", NULL, sess(), S("a"), S("b"), S("c"), NULL), "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
           "task.create", "2", "3");
}
END_TEST

START_TEST(test_sessions)
{
    expect(call("host.get_all", NULL, S("OpaqueRef:nobody"), NULL), "SESSION_INVALID", 1, "OpaqueRef:nobody");
    expect(call("event.get_current_id", NULL, NULL), "SESSION_INVALID", 1, "");
    expect(call("session.login_with_password", NULL, S("alice"), S("wrong"), NULL), "SESSION_AUTHENTICATION_FAILED",
           2, "alice", NULL);
    /* the optional originator is recorded */
    xv *s2 = ok("session.login_with_password", S("alice"), S("secret"), S("1.0"), S("unit-test"), NULL);
    xv *orig = ok("session.get_originator", sess(), xv_dup(s2), NULL);
    ck_assert_str_eq(xv_str(orig), "unit-test");
    xv_free(orig);
    /* xapi: this_user is the deprecated Ref _user, always NULL; the name is auth_user_name */
    xv *user = ok("session.get_this_user", xv_dup(s2), xv_dup(s2), NULL);
    ck_assert_str_eq(xv_str(user), "OpaqueRef:NULL");
    xv_free(user);
    user = ok("session.get_auth_user_name", xv_dup(s2), xv_dup(s2), NULL);
    ck_assert_str_eq(xv_str(user), "alice");
    xv_free(user);
    /* logout ends that session only */
    xv_free(ok("session.logout", xv_dup(s2), NULL));
    expect(call("host.get_all", NULL, xv_dup(s2), NULL), "SESSION_INVALID", 1, xv_str(s2));
    xv_free(ok("host.get_all", sess(), NULL));
    xv_free(s2);
}
END_TEST

/* Sessions are credentials (xapi: ocaml/idl/datamodel.ml leaves session out of
 * expose_get_all_messages_for and gives it gen_events:false; task.session is
 * internal_only).  Bob holds a session and a task; alice calls every listed method
 * that takes nothing but her session, reads every event, and must never see bob's ref. */
static bool mentions(const xv *v, const xerr *e, const char *secret)
{
    buf b;
    buf_init(&b);
    xv *w = e ? wire_failure(e) : NULL;
    wire_json_write(&b, e ? w : v);
    bool found = strstr(b.p, secret) != NULL;
    xv_free(w);
    buf_free(&b);
    return found;
}

START_TEST(test_session_secrecy)
{
    _cleanup_free_ char *pw = xasprintf("%s/passwd", dir);
    ck_assert_ptr_null(auth_set_password(pw, "bob", "hunter2"));
    xv *bob = ok("session.login_with_password", S("bob"), S("hunter2"), NULL);
    const char *secret = xv_str(bob);
    xv *bt = ok("task.create", xv_dup(bob), S("bob's"), S("work"), NULL);
    xv_free(ok("task.set_progress", xv_dup(bob), xv_dup(bt), xv_float(0.5), NULL));

    const char *gone[] = {"session.get_all", "session.get_all_records", "session.get_all_records_where"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(*gone); i++)
        expect(call(gone[i], NULL, sess(), S("true"), NULL), "MESSAGE_METHOD_UNKNOWN", 1, gone[i]);

    xv *list = ok("system.listMethods", NULL);
    size_t tried = 0;
    for (size_t i = 0; i < list->u.arr.n; i++) {
        const char *m = xv_str(list->u.arr.v[i]);
        ck_assert_msg(!str_startswith(m, "session.get_all"), "%s listed", m);
        if (strstr(m, "logout") || strcmp(m, "event.next") == 0)
            continue; /* would end alice's session or block */
        xv *r = NULL;
        xerr *e = call(m, &r, sess(), NULL);
        if (e && strcmp(e->code, "MESSAGE_PARAMETER_COUNT_MISMATCH") == 0) {
            xerr_free(e);
            e = call(m, &r, sess(), S("true"), NULL); /* get_all_records_where "true" */
        }
        if (e && strcmp(e->code, "MESSAGE_PARAMETER_COUNT_MISMATCH") == 0) {
            xerr_free(e);
            continue;
        }
        tried++;
        ck_assert_msg(!mentions(r, e, secret), "%s shows another user's session", m);
        xv_free(r);
        xerr_free(e);
    }
    ck_assert_uint_gt(tried, 20);
    xv_free(list);

    xv *classes = xv_array();
    xv_array_push(classes, S("*"));
    xv *r = ok("event.from", sess(), classes, S(""), xv_float(0), NULL);
    ck_assert(!mentions(r, NULL, secret));
    /* a count is no ref: xapi counts every table, session's too (xapi_event.ml) */
    ck_assert_int_eq(xv_struct_get(xv_struct_get(r, "valid_ref_counts"), "session")->u.i, 2);
    xv *token = xv_dup(xv_struct_get(r, "token"));
    xv_free(r);
    /* a new session and a change to bob's task after the token */
    xv *bob2 = ok("session.login_with_password", S("bob"), S("hunter2"), NULL);
    xv_free(ok("task.set_progress", xv_dup(bob), xv_dup(bt), xv_float(0.75), NULL));
    classes = xv_array();
    xv_array_push(classes, S("*"));
    xv_array_push(classes, S("session"));
    r = ok("event.from", sess(), classes, token, xv_float(0), NULL);
    ck_assert_uint_gt(xv_struct_get(r, "events")->u.arr.n, 0); /* the task's mod */
    ck_assert(!mentions(r, NULL, secret));
    ck_assert(!mentions(r, NULL, xv_str(bob2)));
    xv_free(r);
    classes = xv_array();
    xv_array_push(classes, S("*"));
    xv_free(ok("event.register", sess(), classes, NULL));
    xv_free(ok("session.logout", xv_dup(bob2), NULL));
    xv_free(ok("task.set_progress", xv_dup(bob), xv_dup(bt), xv_float(0.8), NULL));
    r = ok("event.next", sess(), NULL);
    ck_assert(!mentions(r, NULL, secret));
    ck_assert(!mentions(r, NULL, xv_str(bob2)));
    xv_free(r);
    xv_free(bob2);
    xv_free(bt);
    xv_free(bob);
}
END_TEST

START_TEST(test_type_errors)
{
    const char *h = api_host_ref(api);

    expect(call("host.get_name_label", NULL, sess(), xv_int(3), NULL), "FIELD_TYPE_ERROR", 1, "self");
    expect(call("host.set_name_label", NULL, sess(), S(h), xv_bool(true), NULL), "FIELD_TYPE_ERROR", 1, "value");
    expect(call("host.set_tags", NULL, sess(), S(h), S("not a set"), NULL), "FIELD_TYPE_ERROR", 1, "value");
    xv *t = ok("task.create", sess(), S("mine"), S("d"), NULL);
    expect(call("task.set_progress", NULL, sess(), xv_dup(t), S("lots"), NULL), "FIELD_TYPE_ERROR", 1, "value");
    expect(call("task.set_status", NULL, sess(), xv_dup(t), S("bogus"), NULL), "INVALID_VALUE", 2, "value", "bogus");
    /* a handler's own check, after the types */
    expect(call("task.set_progress", NULL, sess(), xv_dup(t), xv_float(1.5), NULL), "INVALID_VALUE", 2, "value",
           NULL);
    xv_free(t);
}
END_TEST

/* ---- typed thunks: a handler sees checked, converted arguments ---- */

static struct {
    int calls;
    char vm[64], host[64];
    bool start_paused, force;
    int64_t version;
    size_t noptions;
    char live[16];
} seen;

static xerr *fake_start_on(struct api_ctx *ctx, const struct VM_start_on_args *a)
{
    ck_assert_ptr_nonnull(ctx->session);
    ck_assert_str_eq(ctx->method, "VM.start_on");
    seen.calls++;
    snprintf(seen.vm, sizeof(seen.vm), "%s", a->vm);
    snprintf(seen.host, sizeof(seen.host), "%s", a->host);
    seen.start_paused = a->start_paused;
    seen.force = a->force;
    return NULL;
}

static xerr *fake_set_version(struct api_ctx *ctx, const struct VM_set_hardware_platform_version_args *a)
{
    (void)ctx;
    seen.calls++;
    seen.version = a->value;
    return a->value > 100 ? err_invalid_value("value", "too high") : NULL;
}

static xerr *fake_migrate(struct api_ctx *ctx, const struct VM_pool_migrate_args *a)
{
    (void)ctx;
    seen.calls++;
    ck_assert_int_eq(a->options->type, XV_STRUCT);
    seen.noptions = a->options->u.st.n;
    const char *live = xv_struct_get_str(a->options, "live");
    snprintf(seen.live, sizeof(seen.live), "%s", live ? live : "");
    return NULL;
}

static xerr *fake_clone(struct api_ctx *ctx, const struct VM_clone_args *a, xv **result)
{
    (void)ctx;
    seen.calls++;
    *result = xv_string_take(xasprintf("clone of %s: %s", a->vm, a->new_name));
    return NULL;
}

START_TEST(test_typed_thunks)
{
    memset(&seen, 0, sizeof(seen));
    api_register_VM_start_on(api, fake_start_on);
    api_register_VM_set_hardware_platform_version(api, fake_set_version);
    api_register_VM_pool_migrate(api, fake_migrate);
    api_register_VM_clone(api, fake_clone);
    /* a bool is a boolean: ocaml-rpc's bool_of_rpc refuses the string "false" */
    expect(call("VM.start_on", NULL, sess(), S("OpaqueRef:v"), S("OpaqueRef:h"), xv_bool(true), S("false"), NULL),
           "FIELD_TYPE_ERROR", 1, "force");
    expect(call("VM.start_on", NULL, sess(), S("OpaqueRef:v"), S("OpaqueRef:h"), xv_int(1), xv_bool(false), NULL),
           "FIELD_TYPE_ERROR", 1, "start_paused");
    xv *r = ok("VM.start_on", sess(), S("OpaqueRef:v"), S("OpaqueRef:h"), xv_bool(true), xv_bool(false), NULL);
    /* a void handler: the client gets "" on every wire (gen_server.ml: Rpc.String "") */
    ck_assert_int_eq(r->type, XV_STRING);
    ck_assert_str_eq(xv_str(r), "");
    xv_free(r);
    ck_assert_int_eq(seen.calls, 1);
    ck_assert_str_eq(seen.vm, "OpaqueRef:v");
    ck_assert_str_eq(seen.host, "OpaqueRef:h");
    ck_assert(seen.start_paused && !seen.force);
    /* an int from its decimal string; the handler's error reaches the client */
    xv_free(ok("VM.set_hardware_platform_version", sess(), S("OpaqueRef:v"), S("7"), NULL));
    ck_assert_int_eq(seen.version, 7);
    expect(call("VM.set_hardware_platform_version", NULL, sess(), S("OpaqueRef:v"), xv_int(101), NULL),
           "INVALID_VALUE", 2, "value", "too high");
    /* a type error never reaches the handler */
    seen.calls = 0;
    expect(call("VM.set_hardware_platform_version", NULL, sess(), S("OpaqueRef:v"), S("seven"), NULL),
           "FIELD_TYPE_ERROR", 1, "value");
    ck_assert_int_eq(seen.calls, 0);
    /* a map, checked against map(string, string) */
    xv *opts = xv_struct();
    xv_struct_set(opts, "live", S("true"));
    xv_free(ok("VM.pool_migrate", sess(), S("OpaqueRef:v"), S("OpaqueRef:h"), opts, NULL));
    ck_assert_uint_eq(seen.noptions, 1);
    ck_assert_str_eq(seen.live, "true");
    opts = xv_struct();
    xv_struct_set(opts, "live", xv_array());
    expect(call("VM.pool_migrate", NULL, sess(), S("OpaqueRef:v"), S("OpaqueRef:h"), opts, NULL), "FIELD_TYPE_ERROR",
           1, "options");
    /* a result */
    r = ok("VM.clone", sess(), S("OpaqueRef:v"), S("copy"), NULL);
    ck_assert_str_eq(xv_str(r), "clone of OpaqueRef:v: copy");
    xv_free(r);
}
END_TEST

/* Registering a message twice is a programming error, caught at start-up. */
START_TEST(test_register_twice_aborts)
{
    api_register_VM_clone(api, fake_clone);
    api_register_VM_clone(api, fake_clone);
}
END_TEST

/* ---- generic messages ---- */

START_TEST(test_generic_fields)
{
    const char *h = api_host_ref(api);
    xv_free(ok("host.set_name_label", sess(), S(h), S("alpha"), NULL));
    xv *v = ok("host.get_name_label", sess(), S(h), NULL);
    ck_assert_str_eq(xv_str(v), "alpha");
    xv_free(v);
    /* maps: add_to_, a duplicate key refused, remove_from_ */
    xv_free(ok("host.add_to_other_config", sess(), S(h), S("k"), S("v1"), NULL));
    xv *uuid = ok("host.get_uuid", sess(), S(h), NULL);
    expect(call("host.add_to_other_config", NULL, sess(), S(h), S("k"), S("v2"), NULL), "MAP_DUPLICATE_KEY", 4, "host",
           "other_config", xv_str(uuid), "k");
    v = ok("host.get_other_config", sess(), S(h), NULL);
    ck_assert_str_eq(xv_struct_get_str(v, "k"), "v1");
    xv_free(v);
    xv_free(ok("host.remove_from_other_config", sess(), S(h), S("k"), NULL));
    v = ok("host.get_other_config", sess(), S(h), NULL);
    ck_assert_uint_eq(v->u.st.n, 0);
    xv_free(v);
    /* sets: each value once */
    xv_free(ok("host.add_tags", sess(), S(h), S("blue"), NULL));
    xv_free(ok("host.add_tags", sess(), S(h), S("blue"), NULL));
    v = ok("host.get_tags", sess(), S(h), NULL);
    ck_assert_uint_eq(v->u.arr.n, 1);
    xv_free(v);
    /* lookups */
    v = ok("host.get_by_uuid", sess(), xv_dup(uuid), NULL);
    ck_assert_str_eq(xv_str(v), h);
    xv_free(v);
    expect(call("host.get_by_uuid", NULL, sess(), S("no-such"), NULL), "UUID_INVALID", 2, "host", "no-such");
    v = ok("host.get_by_name_label", sess(), S("alpha"), NULL);
    ck_assert_uint_eq(v->u.arr.n, 1);
    ck_assert_str_eq(xv_str(v->u.arr.v[0]), h);
    xv_free(v);
    v = ok("host.get_record", sess(), S(h), NULL);
    ck_assert_str_eq(dm_get_str(v, DMF_host_name_label), "alpha");
    ck_assert_str_eq(dm_get_str(v, DMF_host_uuid), xv_str(uuid));
    xv_free(v);
    v = ok("host.get_all_records_where", sess(), S("field \"name_label\" = \"alpha\""), NULL);
    ck_assert_uint_eq(v->u.st.n, 1);
    xv_free(v);
    expect(call("host.get_record", NULL, sess(), S("OpaqueRef:gone"), NULL), "HANDLE_INVALID", 2, "host",
           "OpaqueRef:gone");
    /* start-up made this host's dom0 record, through the generated enum names */
    v = ok("VM.get_all_records_where", sess(), S("field \"is_control_domain\" = \"true\""), NULL);
    ck_assert_uint_eq(v->u.st.n, 1);
    ck_assert_int_eq(dm_get_enum(v->u.st.m[0].val, DMF_VM_power_state), VM_POWER_STATE_RUNNING);
    ck_assert_int_eq(dm_get_enum(v->u.st.m[0].val, DMF_VM_domain_type), DOMAIN_TYPE_PV);
    xv_free(v);
    xv_free(uuid);
}
END_TEST

/* ---- tasks ---- */

static int status_of(const char *task)
{
    xv *v = ok("task.get_status", sess(), S(task), NULL);
    enum task_status_type st;
    ck_assert_msg(task_status_type_parse(xv_str(v), &st), "status %s", xv_str(v));
    xv_free(v);
    return (int)st;
}

static int wait_finished(const char *task)
{
    for (int i = 0; i < 500; i++) {
        int st = status_of(task);
        if (st != TASK_STATUS_TYPE_PENDING && st != TASK_STATUS_TYPE_CANCELLING)
            return st;
        usleep(10000);
    }
    ck_abort_msg("task %s did not finish", task);
    return -1;
}

START_TEST(test_client_task_lifecycle)
{
    xv *t = ok("task.create", sess(), S("import"), S("my own work"), NULL);
    ck_assert_int_eq(status_of(xv_str(t)), TASK_STATUS_TYPE_PENDING);
    xv_free(ok("task.set_progress", sess(), xv_dup(t), xv_int(0), NULL)); /* an int is a float */
    xv_free(ok("task.set_progress", sess(), xv_dup(t), xv_float(0.5), NULL));
    xv *p = ok("task.get_progress", sess(), xv_dup(t), NULL);
    ck_assert(p->type == XV_FLOAT && p->u.f == 0.5);
    xv_free(p);
    /* enums are read case-insensitively and stored canonically */
    xv_free(ok("task.set_status", sess(), xv_dup(t), S("SUCCESS"), NULL));
    ck_assert_int_eq(status_of(xv_str(t)), TASK_STATUS_TYPE_SUCCESS);
    xv *rec = ok("task.get_record", sess(), xv_dup(t), NULL);
    ck_assert_str_eq(dm_get_str(rec, DMF_task_status), "success");
    ck_assert_str_ne(dm_get_str(rec, DMF_task_finished), "19700101T00:00:00Z");
    /* the creating session is internal (xapi's internal_only): not in the record, but
     * the session lists its own tasks */
    ck_assert_ptr_null(dm_get(rec, DMF_task_session));
    xv_free(rec);
    xv *mine = ok("session.get_tasks", sess(), sess(), NULL);
    bool listed = false;
    for (size_t i = 0; i < mine->u.arr.n; i++)
        listed = listed || strcmp(xv_str(mine->u.arr.v[i]), xv_str(t)) == 0;
    ck_assert(listed);
    xv_free(mine);
    expect(call("task.cancel", NULL, sess(), xv_dup(t), NULL), "OPERATION_NOT_ALLOWED", 1,
           "the task is not pending");
    xv_free(ok("task.destroy", sess(), xv_dup(t), NULL));
    expect(call("task.get_status", NULL, sess(), xv_dup(t), NULL), "HANDLE_INVALID", 2, "task", xv_str(t));
    xv_free(t);
}
END_TEST

static xerr *fake_clone_fails(struct api_ctx *ctx, const struct VM_clone_args *a, xv **result)
{
    (void)result;
    ck_assert_ptr_nonnull(ctx->task);
    return err_vm_bad_power_state(a->vm, "Halted", "Running");
}

START_TEST(test_async_success_and_failure)
{
    api_register_VM_clone(api, fake_clone);
    xv *t = ok("Async.VM.clone", sess(), S("OpaqueRef:v"), S("copy"), NULL);
    ck_assert(str_startswith(xv_str(t), "OpaqueRef:"));
    ck_assert_int_eq(wait_finished(xv_str(t)), TASK_STATUS_TYPE_SUCCESS);
    xv *rec = ok("task.get_record", sess(), xv_dup(t), NULL);
    ck_assert_str_eq(dm_get_str(rec, DMF_task_name_label), "Async.VM.clone");
    ck_assert_str_eq(dm_get_str(rec, DMF_task_result), "<value>clone of OpaqueRef:v: copy</value>");
    ck_assert(dm_get_float(rec, DMF_task_progress) == 1.0);
    ck_assert_uint_eq(dm_get(rec, DMF_task_error_info)->u.arr.n, 0);
    xv_free(rec);
    xv_free(t);
}
END_TEST

START_TEST(test_async_failure)
{
    api_register_VM_clone(api, fake_clone_fails);
    xv *t = ok("Async.VM.clone", sess(), S("OpaqueRef:v"), S("copy"), NULL);
    ck_assert_int_eq(wait_finished(xv_str(t)), TASK_STATUS_TYPE_FAILURE);
    xv *info = ok("task.get_error_info", sess(), xv_dup(t), NULL);
    ck_assert_uint_eq(info->u.arr.n, 4);
    ck_assert_str_eq(xv_str(info->u.arr.v[0]), "VM_BAD_POWER_STATE");
    ck_assert_str_eq(xv_str(info->u.arr.v[1]), "OpaqueRef:v");
    ck_assert_str_eq(xv_str(info->u.arr.v[3]), "Running");
    xv_free(info);
    xv_free(t);
}
END_TEST

/* An operation that lets itself be cancelled, and stops when asked. */
static xerr *fake_migrate_cancellable(struct api_ctx *ctx, const struct VM_pool_migrate_args *a)
{
    (void)a;
    api_task_allow_cancel(ctx, true);
    for (int i = 0; i < 1000 && !api_task_cancelling(ctx); i++)
        usleep(5000);
    return api_task_cancelling(ctx) ? err_task_cancelled(ctx->task) : NULL;
}

START_TEST(test_async_cancel)
{
    api_register_VM_pool_migrate(api, fake_migrate_cancellable);
    xv *t = ok("Async.VM.pool_migrate", sess(), S("OpaqueRef:v"), S("OpaqueRef:h"), xv_struct(), NULL);
    /* cancel is offered once the operation allows it */
    bool offered = false;
    for (int i = 0; i < 500 && !offered; i++) {
        xv *ops = ok("task.get_allowed_operations", sess(), xv_dup(t), NULL);
        offered = ops->u.arr.n == 1 && strcmp(xv_str(ops->u.arr.v[0]), "cancel") == 0;
        xv_free(ops);
        if (!offered)
            usleep(10000);
    }
    ck_assert(offered);
    /* while the server runs it, the client can neither forget nor drive it */
    expect(call("task.destroy", NULL, sess(), xv_dup(t), NULL), "OPERATION_NOT_ALLOWED", 1,
           "the task is still running");
    expect(call("task.set_status", NULL, sess(), xv_dup(t), S("success"), NULL), "OPERATION_NOT_ALLOWED", 1,
           "the server is running this task");
    xv_free(ok("task.cancel", sess(), xv_dup(t), NULL));
    ck_assert_int_eq(wait_finished(xv_str(t)), TASK_STATUS_TYPE_CANCELLED);
    xv *info = ok("task.get_error_info", sess(), xv_dup(t), NULL);
    ck_assert_str_eq(xv_str(info->u.arr.v[0]), "TASK_CANCELLED");
    ck_assert_str_eq(xv_str(info->u.arr.v[1]), xv_str(t));
    xv_free(info);
    /* once finished, it can be forgotten */
    xv_free(ok("task.destroy", sess(), xv_dup(t), NULL));
    xv_free(t);
}
END_TEST

/* ---- events ---- */

START_TEST(test_event_from_and_inject)
{
    xv *classes = xv_array();
    xv_array_push(classes, S("host"));
    xv *r = ok("event.from", sess(), classes, S(""), xv_float(0), NULL);
    const xv *evs = xv_struct_get(r, "events");
    ck_assert_uint_eq(evs->u.arr.n, 1); /* this host, as an add */
    ck_assert_str_eq(xv_struct_get_str(evs->u.arr.v[0], "operation"), "add");
    ck_assert_str_eq(xv_struct_get_str(evs->u.arr.v[0], "ref"), api_host_ref(api));
    xv *token = xv_dup(xv_struct_get(r, "token"));
    xv_free(r);
    xv *t2 = ok("event.inject", sess(), S("host"), S(api_host_ref(api)), NULL);
    classes = xv_array();
    xv_array_push(classes, S("host"));
    r = ok("event.from", sess(), classes, token, xv_float(1), NULL);
    evs = xv_struct_get(r, "events");
    ck_assert_uint_eq(evs->u.arr.n, 1);
    ck_assert_str_eq(xv_struct_get_str(evs->u.arr.v[0], "operation"), "mod");
    /* xapi's inject token is just before the event (generation - 1): event.from then
     * answers a greater one */
    ck_assert_int_gt(strcmp(xv_struct_get_str(r, "token"), xv_str(t2)), 0);
    xv_free(r);
    classes = xv_array();
    xv_array_push(classes, S("host"));
    r = ok("event.from", sess(), classes, xv_dup(t2), xv_float(1), NULL);
    ck_assert_uint_eq(xv_struct_get(r, "events")->u.arr.n, 1);
    xv_free(r);
    xv_free(t2);
    expect(call("event.inject", NULL, sess(), S("nosuchclass"), S("OpaqueRef:x"), NULL), "HANDLE_INVALID", 2,
           "nosuchclass", "OpaqueRef:x");
    classes = xv_array();
    expect(call("event.from", NULL, sess(), classes, S("junk"), xv_float(0), NULL), "EVENT_FROM_TOKEN_PARSE_FAILURE",
           1, "junk");
    expect(call("event.next", NULL, sess(), NULL), "SESSION_NOT_REGISTERED", 1, session);
}
END_TEST

/* event.from from token on wire w (its answer in that wire's bytes, as the server asks
 * for it), parsed back; *bytes gets the bytes when asked (NULL for an answer without
 * events, which comes as a value). */
static xv *from_wire(enum api_wire w, const char *cls, const char *token, double timeout, char **bytes)
{
    xv *params = xv_array(), *classes = xv_array(), *r = NULL;
    xv_array_push(classes, S(cls));
    xv_array_push(params, sess());
    xv_array_push(params, classes);
    xv_array_push(params, S(token));
    xv_array_push(params, xv_float(timeout));
    xerr *e = api_call(api, "event.from", params, &(struct api_peer){.addr = "test", .wire = w}, &r);
    xv_free(params);
    ck_assert_ptr_null(e);
    if (r->type == XV_STRUCT) { /* no events (a timeout): made for this call alone */
        if (bytes)
            *bytes = NULL;
        return r;
    }
    ck_assert_int_eq(r->type, w == API_WIRE_JSON ? XV_RAW_JSON : XV_RAW_XMLRPC);
    xv *v = NULL;
    if (w == API_WIRE_JSON) {
        ck_assert_ptr_null(wire_json_parse(r->u.str.s, r->u.str.len, &v));
    } else {
        _cleanup_free_ char *doc = xasprintf("<?xml version=\"1.0\"?>%.*s", (int)r->u.str.len, r->u.str.s);
        ck_assert_ptr_null(wire_xmlrpc_parse_value(doc, strlen(doc), &v));
    }
    if (bytes)
        *bytes = xstrndup(r->u.str.s, r->u.str.len);
    xv_free(r);
    return v;
}

/* The name_labels of an answer's pool events, in order, one a line. */
static char *pool_names(const xv *r)
{
    buf b;
    buf_init(&b);
    const xv *evs = xv_struct_get(r, "events");
    for (size_t i = 0; i < evs->u.arr.n; i++) {
        const xv *snap = xv_struct_get(evs->u.arr.v[i], "snapshot");
        buf_printf(&b, "%s\n", snap ? xv_struct_get_str(snap, "name_label") : "?");
    }
    return b.p ? buf_steal(&b) : xstrdup("");
}

static void set_pool_name(const char *name)
{
    xv_free(ok("pool.set_name_label", sess(), S(api_pool_ref(api)), S(name), NULL));
}

/* The token now, for the pool's events (caller frees). */
static char *pool_token(void)
{
    xv *classes = xv_array();
    xv_array_push(classes, S("pool"));
    xv *r = ok("event.from", sess(), classes, S(""), xv_float(0), NULL);
    char *t = xstrdup(xv_struct_get_str(r, "token"));
    xv_free(r);
    return t;
}

/* Calls with the same token and classes share one answer's bytes (kept in event.c):
 * what a user sees must be what a fresh answer says, on either wire, however the
 * log moved on since the answer was made. */
START_TEST(test_event_from_shared_answers)
{
    _cleanup_free_ char *t0 = pool_token();
    set_pool_name("one");
    enum api_wire wires[] = {API_WIRE_JSON, API_WIRE_XMLRPC};
    for (size_t w = 0; w < 2; w++) {
        char *b1, *b2;
        uint64_t hits0, kept0, hits1, kept1;
        api_event_answer_stats(api, &hits0, &kept0);
        xv *a = from_wire(wires[w], "pool", t0, 0, &b1), *b = from_wire(wires[w], "pool", t0, 0, &b2);
        ck_assert_str_eq(b1, b2);
        /* the first answer was kept, the second copied from it */
        api_event_answer_stats(api, &hits1, &kept1);
        ck_assert_uint_eq(kept1 - kept0, 1);
        ck_assert_uint_eq(hits1 - hits0, 1);
        _cleanup_free_ char *names = pool_names(a);
        ck_assert_str_eq(names, "one\n");
        /* the same bytes as an answer made for no wire, written */
        xv *classes = xv_array();
        xv_array_push(classes, S("pool"));
        xv *r = ok("event.from", sess(), classes, S(t0), xv_float(0), NULL);
        buf fresh;
        buf_init(&fresh);
        if (wires[w] == API_WIRE_JSON)
            wire_json_write(&fresh, r);
        else
            wire_xmlrpc_write_value(&fresh, r);
        ck_assert_str_eq(fresh.p, b1);
        buf_free(&fresh);
        xv_free(r);
        xv_free(a);
        xv_free(b);
        free(b1);
        free(b2);
    }
    /* a change after the kept answer: the same question now has both */
    xv *a = from_wire(API_WIRE_JSON, "pool", t0, 0, NULL);
    _cleanup_free_ char *t1 = xstrdup(xv_struct_get_str(a, "token"));
    xv_free(a);
    set_pool_name("two");
    a = from_wire(API_WIRE_JSON, "pool", t0, 0, NULL);
    _cleanup_free_ char *both = pool_names(a);
    ck_assert_str_eq(both, "one\ntwo\n");
    ck_assert_int_gt(strcmp(xv_struct_get_str(a, "token"), t1), 0);
    xv_free(a);
    a = from_wire(API_WIRE_JSON, "pool", t1, 0, NULL);
    _cleanup_free_ char *second = pool_names(a);
    ck_assert_str_eq(second, "two\n");
    xv_free(a);
    /* other classes: not the pool's answer */
    a = from_wire(API_WIRE_JSON, "host", t0, 0, NULL);
    _cleanup_free_ char *none = pool_names(a);
    ck_assert_str_eq(none, "");
    xv_free(a);
}
END_TEST

#define FOLLOW_WRITES 150
#define FOLLOWERS 3

/* A client following the pool's events from t0 with tokens, until it saw every write. */
static void *follow(void *p)
{
    char *token = xstrdup(p), *got = xstrdup("");
    size_t n = 0;
    while (n < FOLLOW_WRITES) {
        xv *r = from_wire(API_WIRE_JSON, "pool", token, 10, NULL);
        _cleanup_free_ char *names = pool_names(r);
        for (const char *q = names; *q; q++)
            n += *q == '\n';
        char *more = xasprintf("%s%s", got, names);
        free(got);
        got = more;
        free(token);
        token = xstrdup(xv_struct_get_str(r, "token"));
        xv_free(r);
    }
    free(token);
    return got;
}

/* Followers sharing answers while writes commit: each sees every write once, in order. */
START_TEST(test_event_from_shared_answers_under_writes)
{
    _cleanup_free_ char *t0 = pool_token();
    pthread_t th[FOLLOWERS];
    for (int i = 0; i < FOLLOWERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, follow, t0), 0);
    buf want;
    buf_init(&want);
    for (int i = 0; i < FOLLOW_WRITES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "w%d", i);
        set_pool_name(name);
        buf_printf(&want, "%s\n", name);
        if (i % 7 == 0)
            usleep(200); /* now and then the followers catch up and wait */
    }
    for (int i = 0; i < FOLLOWERS; i++) {
        void *got;
        pthread_join(th[i], &got);
        ck_assert_str_eq(got, want.p);
        free(got);
    }
    buf_free(&want);
}
END_TEST

/* event.from's answer as xapi shapes it (ocaml/xapi/xapi_event.ml, from_inner;
 * ocaml/xapi-types/event_types.ml): events with a string id and timestamp "0.0",
 * valid_ref_counts for every table as <i4> integers, the token "%020d,%020d". */
START_TEST(test_event_from_shape)
{
    xv *classes = xv_array();
    xv_array_push(classes, S("pool"));
    xv *r = ok("event.from", sess(), classes, S(""), xv_float(0), NULL);
    ck_assert_uint_eq(r->u.st.n, 3);
    const xv *evs = xv_struct_get(r, "events");
    ck_assert_uint_eq(evs->u.arr.n, 1);
    const xv *ev = evs->u.arr.v[0];
    const char *keys[] = {"id", "timestamp", "class", "operation", "ref", "snapshot"};
    ck_assert_uint_eq(ev->u.st.n, 6);
    for (size_t i = 0; i < 6; i++)
        ck_assert_str_eq(ev->u.st.m[i].key, keys[i]);
    ck_assert_int_eq(xv_struct_get(ev, "id")->type, XV_STRING);
    ck_assert_str_eq(xv_struct_get_str(ev, "timestamp"), "0.0");
    ck_assert_str_eq(xv_struct_get_str(ev, "class"), "pool");
    const xv *counts = xv_struct_get(r, "valid_ref_counts");
    size_t tables = 0;
    for (size_t i = 0; i < dm_nclasses; i++) {
        if (!dm_classes[i].table)
            continue;
        tables++;
        const xv *n = xv_struct_get(counts, dm_classes[i].lname);
        ck_assert_msg(n && n->type == XV_INT && n->i4, "%s", dm_classes[i].lname); /* not subscribed: counted */
    }
    ck_assert_uint_eq(counts->u.st.n, tables);
    ck_assert_int_eq(xv_struct_get(counts, "pool")->u.i, 1);
    buf b;
    buf_init(&b);
    wire_xmlrpc_write_value(&b, counts);
    ck_assert_ptr_nonnull(strstr(b.p, "<name>pool</name><value><i4>1</i4></value>"));
    buf_free(&b);
    const char *token = xv_struct_get_str(r, "token");
    ck_assert_uint_eq(strlen(token), 41);
    ck_assert_int_eq(token[20], ',');
    ck_assert_str_eq(token + 21, "00000000000000000000");
    xv_free(r);

    struct {
        const char *token;
        bool ok;
    } rows[] = {
        {"00000000000000000000,00000000000000000000", true}, {"1,0", true}, {"00000000000000000001", true},
        {"1", true}, {"junk", false}, {"1,x", false}, {"-1", false}, {"1,2,3", false}, {",", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
        classes = xv_array();
        xv_array_push(classes, S("pool"));
        r = NULL;
        xerr *e = call("event.from", &r, sess(), classes, S(rows[i].token), xv_float(0), NULL);
        if (rows[i].ok) {
            ck_assert_msg(!e, "%s", rows[i].token);
        } else {
            expect(e, "EVENT_FROM_TOKEN_PARSE_FAILURE", 1, rows[i].token);
            e = NULL;
        }
        xerr_free(e);
        xv_free(r);
    }
    /* event.next's timestamp: OCaml's string_of_float of the second ("1764620000.") */
    classes = xv_array();
    xv_array_push(classes, S("pool"));
    xv_free(ok("event.register", sess(), classes, NULL));
    xv_free(ok("pool.set_name_label", sess(), S(api_pool_ref(api)), S("next"), NULL));
    r = ok("event.next", sess(), NULL);
    ck_assert_uint_ge(r->u.arr.n, 1);
    const char *ts = xv_struct_get_str(r->u.arr.v[0], "timestamp");
    ck_assert_uint_gt(strlen(ts), 2);
    ck_assert_int_eq(ts[strlen(ts) - 1], '.');
    ck_assert_uint_eq(strspn(ts, "0123456789"), strlen(ts) - 1);
    xv_free(r);
}
END_TEST

/* get_all_records_where, each row an expression over the one pool record and xapi's
 * answer (ocaml/database/db_filter_lex.mll, db_filter_parse.mly: and/or of equal
 * precedence grouping left, not loosest, no <> and no escapes; ocaml/xapi/exnHelper.ml:
 * INVALID_VALUE [expr, Printexc text]; db_cache_types.ml: ["missing field", f, ""]). */
START_TEST(test_where_table)
{
    xv_free(ok("pool.set_name_label", sess(), S(api_pool_ref(api)), S("p1"), NULL));
#define PARSE "Stdlib.Parsing.Parse_error"
#define LEX "Failure(\"lexing: empty token\")"
    struct {
        const char *expr;
        int match;               /* 1, 0, or -1: an error */
        const char *code, *p0, *p1;
    } rows[] = {
        {"true", 1}, {"false", 0}, {"field \"name__label\" = \"p1\"", 1}, {"field \"name_label\" = \"p1\"", 1},
        {"\"a\" = \"a\"", 1}, {"\"a\" = \"b\"", 0},
        {"not true and false", 1},      /* not (true and false) */
        {"not false or true", 0},       /* not (false or true) */
        {"true or true and false", 0},  /* (true or true) and false */
        {"false and true or true", 1},  /* (false and true) or true */
        {"true and not false or false", 1},
        {"field\"name__label\"=\"p1\"and true", 1},
        {" \t\n(true)\n", 1},
        {"field \"tags\" = \"()\"", 1}, {"field \"other_config\" = \"()\"", 1},
        {"false and field \"nope\" = \"x\"", 0},  /* && short-circuits: no lookup */
        {"field \"nope\" = \"x\"", -1, "INTERNAL_ERROR", "missing field", "nope"},
        {"field \"uuid\" <> \"x\"", -1, "INVALID_VALUE", NULL, LEX},
        {"field \"uuid\" =", -1, "INVALID_VALUE", NULL, PARSE},
        {"(true", -1, "INVALID_VALUE", NULL, PARSE},
        {"true true", -1, "INVALID_VALUE", NULL, PARSE},
        {"\"x", -1, "INVALID_VALUE", NULL, LEX},
        {"", -1, "INVALID_VALUE", NULL, PARSE},
        {"field uuid = \"x\"", -1, "INVALID_VALUE", NULL, LEX},
        {"\"a\\\"b\" = \"x\"", -1, "INVALID_VALUE", NULL, LEX},
        {"True", -1, "INVALID_VALUE", NULL, LEX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
        xv *r = NULL;
        xerr *e = call("pool.get_all_records_where", &r, sess(), S(rows[i].expr), NULL);
        if (rows[i].match >= 0) {
            ck_assert_msg(!e, "%s: %s", rows[i].expr, e ? e->code : "");
            ck_assert_msg(r->u.st.n == (size_t)rows[i].match, "%s matched %zu", rows[i].expr, r->u.st.n);
        } else if (strcmp(rows[i].code, "INTERNAL_ERROR") == 0) {
            expect(e, rows[i].code, 3, rows[i].p0, rows[i].p1, "");
            e = NULL;
        } else {
            expect(e, rows[i].code, 2, rows[i].expr, rows[i].p1);
            e = NULL;
        }
        xerr_free(e);
        xv_free(r);
    }
    /* parsed before the table is read: a bad expression fails on an empty table too */
    expect(call("VM.get_all_records_where", NULL, sess(), S("(true"), NULL), "INVALID_VALUE", 2, "(true", PARSE);
#undef PARSE
#undef LEX
}
END_TEST


/* ---- streamed answers: the same bytes as the whole ---- */

/* The answer to body as a stream gives it: the first piece, then the rest piece by
 * piece (want bytes each); *pieces counts them. */
static void streamed(const char *body, bool json, size_t want, buf *out, int *pieces)
{
    struct rpc_call *c = rpc_call_parse(body, strlen(body), json);
    rpc_call_offer_stream(c);
    ck_assert(rpc_call_run(api, c, &(struct api_peer){.addr = "test"}, out));
    *pieces = 1;
    int rc = rpc_call_streaming(c) ? 1 : 0;
    while (rc == 1) {
        rc = rpc_call_more(c, out, want);
        ck_assert_int_ge(rc, 0);
        ++*pieces;
    }
    ck_assert(!rpc_call_streaming(c));
    rpc_call_free(c);
}

START_TEST(test_stream_bytes)
{
    /* enough VMs that the answer passes RPC_STREAM_FIRST, with text to escape */
    for (int i = 0; i < 300; i++) {
        xv *rec = xv_struct(), *oc = xv_struct();
        _cleanup_free_ char *name = xasprintf("vm-%d <&> \"é\"", i);
        xv_struct_append(rec, "name_label", xv_string(name));
        for (int k = 0; k < 8; k++) {
            char key[16];
            snprintf(key, sizeof(key), "k%d", k);
            xv_struct_append(oc, key, xv_string("a value of some length, with ' and \\ in it"));
        }
        xv_struct_append(rec, "other_config", oc);
        struct db_txn *t; /* VM.create is src/vm's, not registered here */
        char *ref = NULL;
        ck_assert_ptr_null(db_begin(db, &t));
        ck_assert_ptr_null(db_end(t, api_create_object(t, DMC_VM, rec, &ref)));
        free(ref);
        xv_free(rec);
    }
    _cleanup_free_ char *xml = xasprintf("<?xml version=\"1.0\"?><methodCall><methodName>VM.get_all_records"
                                         "</methodName><params><param><value>%s</value></param></params>"
                                         "</methodCall>", session);
    _cleanup_free_ char *v2 = xasprintf("{\"jsonrpc\":\"2.0\",\"method\":\"VM.get_all_records\",\"params\":[\"%s\"],"
                                        "\"id\":{\"a\":[1]}}", session);
    _cleanup_free_ char *v1 = xasprintf("{\"method\":\"VM.get_all_records\",\"params\":[\"%s\"],\"id\":7}", session);
    _cleanup_free_ char *v1noid = xasprintf("{\"method\":\"VM.get_all_records\",\"params\":[\"%s\"]}", session);
    _cleanup_free_ char *from = xasprintf("<?xml version=\"1.0\"?><methodCall><methodName>event.from</methodName>"
                                          "<params><param><value>%s</value></param><param><value><array><data>"
                                          "<value>vm</value><value>host</value></data></array></value></param>"
                                          "<param><value></value></param><param><value><double>1</double>"
                                          "</value></param></params></methodCall>", session);
    _cleanup_free_ char *from_json = xasprintf("{\"jsonrpc\":\"2.0\",\"method\":\"event.from\",\"params\":[\"%s\","
                                               "[\"*\"],\"\",1.0],\"id\":3}", session);
    struct { const char *body; bool json; } cases[] = {{xml, false}, {v2, true}, {v1, true}, {v1noid, true},
                                                       {from, false}, {from_json, true}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        buf whole, parts;
        buf_init(&whole);
        buf_init(&parts);
        struct api_peer p = {.addr = "test"};
        ck_assert(cases[i].json ? rpc_handle_jsonrpc(api, cases[i].body, strlen(cases[i].body), &p, &whole)
                                : rpc_handle_xmlrpc(api, cases[i].body, strlen(cases[i].body), &p, &whole));
        ck_assert_uint_gt(whole.len, RPC_STREAM_FIRST);
        int pieces;
        streamed(cases[i].body, cases[i].json, 4096, &parts, &pieces);
        ck_assert_msg(pieces > 10, "case %zu: streamed in %d pieces", i, pieces);
        ck_assert_uint_eq(parts.len, whole.len);
        ck_assert_msg(memcmp(parts.p, whole.p, whole.len) == 0, "case %zu: the streamed bytes differ", i);
        buf_free(&whole);
        buf_free(&parts);
    }
    /* a table below RPC_STREAM_FIRST comes whole at once, as before */
    _cleanup_free_ char *hosts = xasprintf("<?xml version=\"1.0\"?><methodCall><methodName>host.get_all_records"
                                           "</methodName><params><param><value>%s</value></param></params>"
                                           "</methodCall>", session);
    buf one;
    buf_init(&one);
    int pieces;
    streamed(hosts, false, 4096, &one, &pieces);
    ck_assert_int_eq(pieces, 1);
    ck_assert_ptr_nonnull(strstr(one.p, "</methodResponse>"));
    buf_free(&one);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_unknown_methods);
    tcase_add_test(tc, test_async_table);
    tcase_add_test(tc, test_list_methods);
    tcase_add_test(tc, test_parameter_counts);
    tcase_add_test(tc, test_sessions);
    tcase_add_test(tc, test_session_secrecy);
    tcase_add_test(tc, test_type_errors);
    tcase_add_test(tc, test_typed_thunks);
    tcase_add_test_raise_signal(tc, test_register_twice_aborts, SIGABRT);
    tcase_add_test(tc, test_generic_fields);
    tcase_add_test(tc, test_stream_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("tasks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_client_task_lifecycle);
    tcase_add_test(tc, test_async_success_and_failure);
    tcase_add_test(tc, test_async_failure);
    tcase_add_test(tc, test_async_cancel);
    tcase_add_test(tc, test_event_from_and_inject);
    tcase_add_test(tc, test_event_from_shape);
    tcase_add_test(tc, test_event_from_shared_answers);
    tcase_add_test(tc, test_event_from_shared_answers_under_writes);
    tcase_add_test(tc, test_where_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_setup("stderr", "warn");
    return unit_run(suite());
}
