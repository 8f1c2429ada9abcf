/* The VM module without a daemon: the api over a temporary SQLite store and the
 * simulator, called as a client calls it (api_call), and the module's state table
 * (src/vm/vm_int.h) checked against xapi's allowed_power_states.  Covered: which
 * operation each power state allows, allowed_operations agreeing with the checks
 * the messages make, the order of those checks, the order of the host checks
 * (xapi's), placement over several host records, the raise of the platform
 * version on feature use, a host unaware of the platform version, and an
 * operation whose end the store refuses to record. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

#include "../../src/vm/vm_int.h"
#include "auth.h"
#include "config.h"
#include "guest.h"
#include "db.h"
#include "log.h"
#include "unit.h"
#include "unit_api.h"

#define MIB (1LL << 20)

static char dir[64];
static struct config *cfg;
static struct platform *pf;
static struct db *db;
static struct hv *hv;
static struct api *api;
static char *session, *host;

/* ---- calling the api as a client ---- */

/* method(session, args...): the args are owned xv values, NULL-terminated. */
static xerr *callv(xv **result, const char *method, va_list ap)
{
    return unit_api_callv(api, session, method, result, ap);
}

static xerr *try_call(const char *method, ...)
{
    va_list ap;
    va_start(ap, method);
    xerr *e = callv(NULL, method, ap);
    va_end(ap);
    return e;
}

/* A call that must succeed; its result (caller frees). */
static xv *call(const char *method, ...)
{
    va_list ap;
    va_start(ap, method);
    xv *r = NULL;
    xerr *e = callv(&r, method, ap);
    va_end(ap);
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        ck_abort_msg("%s: %s", method, s);
    }
    return r;
}

/* The same, for a void message. */
#define call_ok(...) xv_free(call(__VA_ARGS__))

/* "CODE p1 p2 ..." of an error, for comparisons; "" for none.  Frees e. */
static char *error_text(xerr *e)
{
    if (!e)
        return xstrdup("");
    buf b;
    buf_init(&b);
    buf_adds(&b, e->code);
    for (size_t i = 0; i < e->nparams; i++)
        buf_printf(&b, " %s", e->params[i]);
    xerr_free(e);
    return buf_steal(&b);
}

#define ck_assert_error(e, text)                                                                                    \
    do {                                                                                                            \
        _cleanup_free_ char *got_ = error_text(e);                                                                  \
        ck_assert_str_eq(got_, text);                                                                               \
    } while (0)

static xv *vm_record(const char *vm)
{
    xv *rec = NULL;
    xerr *e = db_read_record(db, DMC_VM, vm, &rec);
    ck_assert_msg(e == NULL, "VM record of %s", vm);
    return rec;
}

static char *vm_field(const char *vm, const char *field)
{
    xv *rec = vm_record(vm);
    const xv *v = xv_struct_get(rec, field);
    /* a map: its first value ("" when empty), as for current_operations */
    char *s = v->type == XV_INT      ? xasprintf("%lld", (long long)v->u.i)
              : v->type == XV_BOOL   ? xstrdup(v->u.b ? "true" : "false")
              : v->type == XV_STRUCT ? xstrdup(v->u.st.n ? xv_str(v->u.st.m[0].val) : "")
                                     : xstrdup(xv_str(v));
    xv_free(rec);
    return s;
}

#define ck_assert_field(vm, field, want)                                                                            \
    do {                                                                                                            \
        _cleanup_free_ char *got_ = vm_field(vm, field);                                                            \
        ck_assert_str_eq(got_, want);                                                                               \
    } while (0)

/* Write a field straight into the store, as no client could (DynamicRO fields, or
 * around a setter's guard). */
static void store_set(const struct dm_class *c, const char *ref, const char *field, xv *v)
{
    struct db_txn *t;
    ck_assert(db_begin(db, &t) == NULL);
    xerr *e = db_txn_set(t, c, ref, dm_field_find(c, field), v);
    xv_free(v);
    e = e ? (db_abort(t), e) : db_commit(t, NULL);
    ck_assert_msg(e == NULL, "store_set %s.%s", c->name, field);
}

static xv *int_set(int n, ...)
{
    xv *s = xv_array();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        xv_array_push(s, xv_int(va_arg(ap, int)));
    va_end(ap);
    return s;
}

/* An HVM VM of 256 MiB, with extra (name, owned xv) fields, NULL-terminated. */
static char *new_vm(const char *name, ...)
{
    xv *rec = xv_struct();
    xv_struct_append(rec, "name_label", xv_string(name));
    xv_struct_append(rec, "HVM_boot_policy", xv_string("BIOS order"));
    static const char *const mem[] = {"memory_static_max", "memory_dynamic_max", "memory_dynamic_min"};
    for (int i = 0; i < 3; i++)
        xv_struct_append(rec, mem[i], xv_string_take(xasprintf("%lld", 256 * MIB)));
    xv_struct_append(rec, "memory_static_min", xv_string_take(xasprintf("%lld", 128 * MIB)));
    va_list ap;
    va_start(ap, name);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;)
        xv_struct_set(rec, k, va_arg(ap, xv *));
    va_end(ap);
    xv *ref = call("VM.create", rec, NULL);
    char *s = xstrdup(xv_str(ref));
    xv_free(ref);
    return s;
}

/* A twentieth of a second, between two looks at something that happens on its own. */
static void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* ---- the fixture: a store, the simulator, the api, a session ---- */

static void setup(void)
{
    unit_tmpdir(dir, sizeof(dir), "vmtest");
    cfg = config_new();
    _cleanup_free_ char *dbp = xasprintf("%s/x.db", dir), *sim = xasprintf("%s/sim", dir),
                        *pw = xasprintf("%s/passwd", dir), *inv = xasprintf("%s/inventory", dir);
    config_set(cfg, "db-path", dbp);
    config_set(cfg, "db-sync", "normal");
    config_set(cfg, "sim-state-dir", sim);
    _cleanup_free_ char *dmdir = xasprintf("%s/dm", dir);
    config_set(cfg, "device-model-dir", dmdir);
    config_set(cfg, "auth-file", pw);
    config_set(cfg, "inventory", inv);
    config_set(cfg, "shutdown-ack-timeout", "2");
    config_set(cfg, "clean-shutdown-timeout", "5");
    ck_assert(auth_set_password(pw, "root", "secret") == NULL);
    ck_assert(platform_load("etc/platform.xml", "0,1", &pf) == NULL);
    struct db_options o = {.path = dbp, .sync = "normal", .event_log_size = 10000, .read_connections = 2};
    ck_assert(db_open(&o, &db) == NULL);
    xerr *e = hv_open(cfg, &hv);
    ck_assert_msg(e == NULL, "the simulator does not open");
    struct api_options ao = {.cfg = cfg, .db = db, .hv = hv, .platform = pf};
    ck_assert(api_create(&ao, &api) == NULL);
    ck_assert(vm_register(api) == NULL);
    ck_assert(api_startup(api) == NULL);
    xv *params = xv_array(), *r = NULL;
    xv_array_push(params, xv_string("root"));
    xv_array_push(params, xv_string("secret"));
    ck_assert(api_call(api, "session.login_with_password", params, &(struct api_peer){.addr = "test"}, &r) == NULL);
    session = xstrdup(xv_str(r));
    xv_free(r);
    xv_free(params);
    host = xstrdup(api_host_ref(api));
}

static void teardown(void)
{
    db_set_commit_hook(db, NULL, NULL);
    ck_assert(api_stop(api, 3.0));
    api_destroy(api);
    hv_close(hv);
    db_close(db);
    platform_free(pf);
    config_free(cfg);
    free(session);
    free(host);
    unit_tmpdir_remove(dir);
}

/* ---- the state table, against xapi's allowed_power_states ---- */

/* Written out again here, from xapi_vm_lifecycle.ml, for the operations a client
 * can call: the states each starts from, and the state VM_BAD_POWER_STATE names. */
static const struct {
    const char *op;
    const char *states; /* initials: H, P, R, S */
    const char *expected;
    bool on_template;
} table[] = {
    {"start", "H", "halted", false},         {"start_on", "H", "halted", false},
    {"pause", "R", "running", false},        {"unpause", "P", "paused", false},
    {"clean_shutdown", "R", "running", false}, {"clean_reboot", "R", "running", false},
    {"hard_shutdown", "RPS", "running", false}, {"hard_reboot", "RP", "running", false},
    {"shutdown", "RPS", "running", false},   {"suspend", "R", "running", false},
    {"resume", "S", "suspended", false},     {"resume_on", "S", "suspended", false},
    {"pool_migrate", "R", "running", false}, {"clone", "H", "halted", true},
    {"destroy", "HS", "halted", true},
};
#define NTABLE (sizeof(table) / sizeof(table[0]))
static const char *const states[] = {"Halted", "Paused", "Running", "Suspended"};

static enum vm_operations op_named(const char *name)
{
    enum vm_operations op;
    ck_assert_msg(vm_operations_parse(name, &op), "no operation %s", name);
    return op;
}

static char *lowered(const char *s)
{
    char *l = xstrdup(s);
    for (char *p = l; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    return l;
}

static bool in_array(const xv *a, const char *s)
{
    for (size_t i = 0; i < a->u.arr.n; i++)
        if (strcmp(xv_str(a->u.arr.v[i]), s) == 0)
            return true;
    return false;
}

/* A VM record as the store holds it, in power state ps. */
static xv *synthetic(const char *ps)
{
    xv *rec = xv_struct();
    for (size_t i = 0; i < DMC_VM->nfields; i++)
        xv_struct_append(rec, DMC_VM->fields[i].name, dm_default(&DMC_VM->fields[i]));
    dm_set(rec, DMF_VM_power_state, xv_string(ps));
    return rec;
}

START_TEST(every_state_allows_what_xapi_allows)
{
    for (size_t s = 0; s < 4; s++) {
        xv *rec = synthetic(states[s]);
        xv *allowed = vm_allowed_operations(rec);
        size_t n_allowed = 0;
        for (size_t i = 0; i < NTABLE; i++) {
            bool ok = strchr(table[i].states, states[s][0]) != NULL;
            xerr *e = vm_op_check("OpaqueRef:v", rec, op_named(table[i].op), VM_BY_CLIENT);
            _cleanup_free_ char *lower = lowered(states[s]);
            _cleanup_free_ char *want =
                ok ? xstrdup("") : xasprintf("VM_BAD_POWER_STATE OpaqueRef:v %s %s", table[i].expected, lower);
            _cleanup_free_ char *got = error_text(e);
            ck_assert_msg(strcmp(got, want) == 0, "%s from %s: '%s', not '%s'", table[i].op, states[s], got, want);
            ck_assert_msg(in_array(allowed, table[i].op) == ok, "allowed_operations of %s and %s", states[s],
                          table[i].op);
            n_allowed += ok;
        }
        /* nothing else is listed */
        ck_assert_uint_eq(allowed->u.arr.n, n_allowed);
        xv_free(allowed);
        xv_free(rec);
    }
}
END_TEST

START_TEST(templates_take_clone_and_destroy_only)
{
    for (size_t s = 0; s < 4; s++) {
        xv *rec = synthetic(states[s]);
        dm_set(rec, DMF_VM_is_a_template, xv_bool(true));
        xv *allowed = vm_allowed_operations(rec);
        for (size_t i = 0; i < NTABLE; i++) {
            bool state_ok = strchr(table[i].states, states[s][0]) != NULL;
            _cleanup_free_ char *got = error_text(vm_op_check("OpaqueRef:t", rec, op_named(table[i].op),
                                                              VM_BY_CLIENT));
            /* the power state is checked first, as xapi does */
            const char *want_code = !state_ok ? "VM_BAD_POWER_STATE" : table[i].on_template ? "" : "VM_IS_TEMPLATE";
            ck_assert_msg(strncmp(got, want_code, strlen(want_code)) == 0 && (*want_code || !*got),
                          "%s of a %s template: '%s'", table[i].op, states[s], got);
            if (!strcmp(want_code, "VM_IS_TEMPLATE")) {
                _cleanup_free_ char *full = xasprintf("VM_IS_TEMPLATE OpaqueRef:t %s", table[i].op);
                ck_assert_str_eq(got, full);
            }
            ck_assert(in_array(allowed, table[i].op) == (state_ok && table[i].on_template));
        }
        xv_free(allowed);
        xv_free(rec);
    }
}
END_TEST

/* The checks come in one order, whatever the operation: another operation, the
 * control domain, blocked_operations, the power state, the template. */
START_TEST(checks_come_in_one_order)
{
    xv *rec = synthetic("Running");
    dm_set(rec, DMF_VM_is_a_template, xv_bool(true));
    xv *blocked = xv_struct();
    xv_struct_append(blocked, "start", xv_string("maintenance"));
    dm_set(rec, DMF_VM_blocked_operations, blocked);
    dm_set(rec, DMF_VM_is_control_domain, xv_bool(true));
    xv *cur = xv_struct();
    xv_struct_append(cur, "OpaqueRef:task", xv_string("hard_reboot"));
    dm_set(rec, DMF_VM_current_operations, cur);

    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_START, VM_BY_CLIENT),
                    "OTHER_OPERATION_IN_PROGRESS VM OpaqueRef:v hard_reboot OpaqueRef:task");
    xv *none = vm_allowed_operations(rec);
    ck_assert_uint_eq(none->u.arr.n, 0);
    xv_free(none);
    /* the daemon's own actions wait for no one else but honour the operation */
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_HARD_SHUTDOWN, VM_BY_DAEMON),
                    "OTHER_OPERATION_IN_PROGRESS VM OpaqueRef:v hard_reboot OpaqueRef:task");
    /* power_state_reset is how a wedged VM is freed: another operation does not stop it */
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_POWER_STATE_RESET, VM_BY_CLIENT),
                    "OPERATION_NOT_ALLOWED the control domain is managed by the host, not through the API");

    dm_set(rec, DMF_VM_current_operations, xv_struct());
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_START, VM_BY_CLIENT),
                    "OPERATION_NOT_ALLOWED the control domain is managed by the host, not through the API");
    ck_assert(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_HARD_SHUTDOWN, VM_BY_DAEMON) == NULL);

    dm_set(rec, DMF_VM_is_control_domain, xv_bool(false));
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_START, VM_BY_CLIENT),
                    "OPERATION_BLOCKED OpaqueRef:v maintenance");
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_START_ON, VM_BY_CLIENT),
                    "VM_BAD_POWER_STATE OpaqueRef:v halted running");

    dm_set(rec, DMF_VM_blocked_operations, xv_struct());
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_START, VM_BY_CLIENT),
                    "VM_BAD_POWER_STATE OpaqueRef:v halted running");
    ck_assert_error(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_HARD_SHUTDOWN, VM_BY_CLIENT),
                    "VM_IS_TEMPLATE OpaqueRef:v hard_shutdown");

    dm_set(rec, DMF_VM_is_a_template, xv_bool(false));
    ck_assert(vm_op_check("OpaqueRef:v", rec, VM_OPERATIONS_HARD_SHUTDOWN, VM_BY_CLIENT) == NULL);
    xv_free(rec);
}
END_TEST

/* ---- through the api: what allowed_operations says is what the messages do ---- */

/* The message of a table operation, with the arguments it takes. */
static xerr *call_op(const char *op, const char *vm)
{
    _cleanup_free_ char *method = xasprintf("VM.%s", op);
    if (!strcmp(op, "start") || !strcmp(op, "resume"))
        return try_call(method, xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    if (!strcmp(op, "start_on") || !strcmp(op, "resume_on"))
        return try_call(method, xv_string(vm), xv_string(host), xv_bool(false), xv_bool(false), NULL);
    if (!strcmp(op, "pool_migrate"))
        return try_call(method, xv_string(vm), xv_string(host), xv_struct(), NULL);
    if (!strcmp(op, "clone"))
        return try_call(method, xv_string(vm), xv_string("the clone"), NULL);
    return try_call(method, xv_string(vm), NULL);
}

START_TEST(allowed_operations_agree_with_the_messages)
{
    char *vm = new_vm("cycled", NULL);
    /* Halted, Running, Paused, Suspended in the order a VM gets there */
    static const char *const order[] = {"Halted", "Running", "Paused", "Suspended"};
    for (int s = 0; s < 4; s++) {
        if (s == 1)
            call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
        else if (s == 2)
            call_ok("VM.pause", xv_string(vm), NULL);
        else if (s == 3) {
            call_ok("VM.unpause", xv_string(vm), NULL);
            call_ok("VM.suspend", xv_string(vm), NULL);
        }
        ck_assert_field(vm, "power_state", order[s]);
        xv *rec = vm_record(vm);
        const xv *allowed = xv_struct_get(rec, "allowed_operations");
        for (size_t i = 0; i < NTABLE; i++) {
            bool listed = in_array(allowed, table[i].op);
            ck_assert_msg(listed == (strchr(table[i].states, order[s][0]) != NULL), "%s listed when %s",
                          table[i].op, order[s]);
            if (listed) {
                ck_assert(vm_op_check(vm, rec, op_named(table[i].op), VM_BY_CLIENT) == NULL);
                continue;
            }
            /* refused, as the table says, and nothing changed */
            _cleanup_free_ char *lower = lowered(order[s]);
            _cleanup_free_ char *want = xasprintf("VM_BAD_POWER_STATE %s %s %s", vm, table[i].expected, lower);
            _cleanup_free_ char *got = error_text(call_op(table[i].op, vm));
            ck_assert_msg(strcmp(got, want) == 0, "VM.%s when %s: '%s'", table[i].op, order[s], got);
            ck_assert_field(vm, "power_state", order[s]);
            ck_assert_field(vm, "current_operations", "");
        }
        xv_free(rec);
    }
    free(vm);
}
END_TEST

/* Two places disagreed: allowed_operations left out a blocked destroy or clone, and
 * the messages did them anyway. */
START_TEST(blocked_destroy_and_clone_are_refused)
{
    char *vm = new_vm("kept", NULL);
    call_ok("VM.add_to_blocked_operations", xv_string(vm), xv_string("destroy"), xv_string("keep it"), NULL);
    call_ok("VM.add_to_blocked_operations", xv_string(vm), xv_string("clone"), xv_string("one is enough"), NULL);
    xv *allowed = call("VM.get_allowed_operations", xv_string(vm), NULL);
    ck_assert(!in_array(allowed, "destroy") && !in_array(allowed, "clone") && in_array(allowed, "start"));
    xv_free(allowed);
    _cleanup_free_ char *keep = xasprintf("OPERATION_BLOCKED %s keep it", vm);
    ck_assert_error(try_call("VM.destroy", xv_string(vm), NULL), keep);
    _cleanup_free_ char *enough = xasprintf("OPERATION_BLOCKED %s one is enough", vm);
    ck_assert_error(try_call("VM.clone", xv_string(vm), xv_string("c"), NULL), enough);
    ck_assert(db_exists(db, DMC_VM, vm));
    call_ok("VM.remove_from_blocked_operations", xv_string(vm), xv_string("destroy"), NULL);
    call_ok("VM.destroy", xv_string(vm), NULL);
    ck_assert(!db_exists(db, DMC_VM, vm));
    free(vm);
}
END_TEST

/* The other disagreement: a running VM made a template listed clone and destroy
 * (which its power state refuses) and took shutdowns it did not list. */
START_TEST(a_running_template_is_refused_what_it_does_not_list)
{
    char *vm = new_vm("running template", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    call_ok("VM.set_is_a_template", xv_string(vm), xv_bool(true), NULL);
    xv *allowed = call("VM.get_allowed_operations", xv_string(vm), NULL);
    ck_assert_uint_eq(allowed->u.arr.n, 0);
    xv_free(allowed);
    _cleanup_free_ char *want = xasprintf("VM_IS_TEMPLATE %s hard_shutdown", vm);
    ck_assert_error(try_call("VM.hard_shutdown", xv_string(vm), NULL), want);
    ck_assert_field(vm, "power_state", "Running");
    call_ok("VM.set_is_a_template", xv_string(vm), xv_bool(false), NULL);
    call_ok("VM.hard_shutdown", xv_string(vm), NULL);
    ck_assert_field(vm, "power_state", "Halted");
    free(vm);
}
END_TEST

/* ---- the host checks, in xapi's order ---- */

static char *other_host(bool live, int64_t free_memory)
{
    struct db_txn *t;
    ck_assert(db_begin(db, &t) == NULL);
    xv *mf = xv_struct();
    xv_struct_append(mf, "live", xv_bool(live));
    xv_struct_append(mf, "memory_free", xv_int(free_memory));
    char *metrics = NULL, *ref = NULL;
    ck_assert(api_create_object(t, DMC_host_metrics, mf, &metrics) == NULL);
    xv *hf = xv_struct();
    xv_struct_append(hf, "name_label", xv_string("other"));
    xv_struct_append(hf, "enabled", xv_bool(true));
    xv_struct_append(hf, "metrics", xv_string(metrics));
    xv *caps = xv_array();
    xv_array_push(caps, xv_string("hvm-3.0-x86_64"));
    xv_struct_append(hf, "capabilities", caps);
    xv_struct_append(hf, "virtual_hardware_platform_versions", int_set(2, 0, 1));
    ck_assert(api_create_object(t, DMC_host, hf, &ref) == NULL);
    ck_assert(db_commit(t, NULL) == NULL);
    xv_free(mf);
    xv_free(hf);
    free(metrics);
    return ref;
}

static char *boot_check(const char *vm, const char *h)
{
    return error_text(try_call("VM.assert_can_boot_here", xv_string(vm), xv_string(h), NULL));
}

START_TEST(host_checks_come_in_xapis_order)
{
    /* a VM that fails everything a host can fail it for: version 2, 32 GiB */
    char *vm = new_vm("demanding", "hardware_platform_version", xv_string("2"), "memory_static_max",
                      xv_string_take(xasprintf("%lld", 32768 * MIB)), NULL);
    char *other = other_host(false, 0);
    call_ok("host.disable", xv_string(other), NULL);
    call_ok("host.disable", xv_string(host), NULL);
    store_set(DMC_host, host, "capabilities", xv_array());

    _cleanup_free_ char *dead = boot_check(vm, other);
    ck_assert_str_eq(dead, "HOST_NOT_LIVE");
    _cleanup_free_ char *disabled = boot_check(vm, host);
    _cleanup_free_ char *want_disabled = xasprintf("HOST_DISABLED %s", host);
    ck_assert_str_eq(disabled, want_disabled);
    call_ok("host.enable", xv_string(host), NULL);
    _cleanup_free_ char *version = boot_check(vm, host);
    _cleanup_free_ char *want_version =
        xasprintf("VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION %s [0; 1] %s 2", host, vm);
    ck_assert_str_eq(version, want_version);
    store_set(DMC_host, host, "virtual_hardware_platform_versions", int_set(3, 0, 1, 2));
    _cleanup_free_ char *hvm = boot_check(vm, host);
    _cleanup_free_ char *want_hvm = xasprintf("VM_HVM_REQUIRED %s", vm);
    ck_assert_str_eq(hvm, want_hvm);
    xv *caps = xv_array();
    xv_array_push(caps, xv_string("hvm-3.0-x86_64"));
    store_set(DMC_host, host, "capabilities", caps);
    _cleanup_free_ char *memory = boot_check(vm, host);
    ck_assert_msg(strncmp(memory, "HOST_NOT_ENOUGH_FREE_MEMORY 34359738368 ", 40) == 0, "%s", memory);
    store_set(DMC_VM, vm, "memory_static_max", xv_int(256 * MIB));
    _cleanup_free_ char *fits = boot_check(vm, host);
    ck_assert_str_eq(fits, "");
    /* the VM's own constraints come before any host's */
    store_set(DMC_VM, vm, "memory_dynamic_max", xv_int(512 * MIB));
    _cleanup_free_ char *constraint = boot_check(vm, other);
    ck_assert(strncmp(constraint, "MEMORY_CONSTRAINT_VIOLATION", 27) == 0);
    free(other);
    free(vm);
}
END_TEST

/* ---- placement ---- */

static char *chosen(const char *vm)
{
    xv *rec = vm_record(vm);
    char *h = NULL;
    xerr *e = vm_choose_host(api, vm, rec, dm_get_int(rec, DMF_VM_hardware_platform_version), &h);
    xv_free(rec);
    return e ? error_text(e) : h;
}

static void set_free_memory(const char *h, int64_t bytes)
{
    xv *rec = NULL;
    ck_assert(db_read_record(db, DMC_host, h, &rec) == NULL);
    store_set(DMC_host_metrics, dm_get_str(rec, DMF_host_metrics), "memory_free", xv_int(bytes));
    xv_free(rec);
}

/* The reason VM.get_boot_check_results gives for host h, as "CODE p1 ..." ("" for none). */
static char *reason_for(const xv *results, const char *h)
{
    const xv *why = xv_struct_get(results, h);
    ck_assert_msg(why != NULL, "no result for host %s", h);
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < why->u.arr.n; i++)
        buf_printf(&b, "%s%s", i ? " " : "", xv_str(why->u.arr.v[i]));
    return buf_steal(&b);
}

START_TEST(placement_prefers_affinity_then_most_free_memory)
{
    /* the simulator's host has 16 GiB; three more hosts as a pool's master has them */
    char *vm = new_vm("placed", NULL);
    char *big = other_host(true, 64 * 1024 * MIB), *small = other_host(true, 1024 * MIB);
    char *dead = other_host(false, 128 * 1024 * MIB);
    _cleanup_free_ char *first = chosen(vm);
    ck_assert_str_eq(first, big); /* most free memory among the live ones */
    store_set(DMC_VM, vm, "affinity", xv_string(small));
    _cleanup_free_ char *affine = chosen(vm);
    ck_assert_str_eq(affine, small);
    /* an affinity host that cannot run it is passed over */
    call_ok("host.disable", xv_string(small), NULL);
    _cleanup_free_ char *passed = chosen(vm);
    ck_assert_str_eq(passed, big);
    set_free_memory(big, 128 * MIB); /* less than the VM's 256 MiB */
    _cleanup_free_ char *local = chosen(vm);
    ck_assert_str_eq(local, host);

    /* every host's reason, in xapi's words */
    xv *results = call("VM.get_boot_check_results", xv_string(vm), NULL);
    ck_assert_uint_eq(results->u.st.n, 4);
    _cleanup_free_ char *r_local = reason_for(results, host), *r_big = reason_for(results, big),
                        *r_small = reason_for(results, small), *r_dead = reason_for(results, dead);
    ck_assert_str_eq(r_local, "");
    _cleanup_free_ char *want_big = xasprintf("HOST_NOT_ENOUGH_FREE_MEMORY %lld %lld", 256 * MIB, 128 * MIB);
    ck_assert_str_eq(r_big, want_big);
    _cleanup_free_ char *want_small = xasprintf("HOST_DISABLED %s", small);
    ck_assert_str_eq(r_small, want_small);
    ck_assert_str_eq(r_dead, "HOST_NOT_LIVE");
    xv_free(results);

    /* a [0] host is never chosen for a version-1 VM, however much memory it has */
    set_free_memory(big, 64 * 1024 * MIB);
    store_set(DMC_host, big, "virtual_hardware_platform_versions", int_set(1, 0));
    store_set(DMC_VM, vm, "affinity", xv_string(big));
    store_set(DMC_VM, vm, "has_vendor_device", xv_bool(true));
    xv *rec = vm_record(vm);
    char *h = NULL;
    ck_assert(vm_choose_host(api, vm, rec, 1, &h) == NULL);
    ck_assert_str_eq(h, host);
    free(h);
    xv_free(rec);
    results = call("VM.get_boot_check_results", xv_string(vm), NULL);
    _cleanup_free_ char *r_v1 = reason_for(results, big);
    _cleanup_free_ char *want_v1 = xasprintf("VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION %s [0] %s 1", big, vm);
    ck_assert_str_eq(r_v1, want_v1);
    xv_free(results);
    xv *possible = call("VM.get_possible_hosts", xv_string(vm), NULL);
    ck_assert_uint_eq(possible->u.arr.n, 1);
    ck_assert_str_eq(xv_str(possible->u.arr.v[0]), host);
    xv_free(possible);
    /* the start raises the version, then places: this host, not the affinity */
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    ck_assert_field(vm, "resident_on", host);
    ck_assert_field(vm, "hardware_platform_version", "1");
    call_ok("VM.hard_shutdown", xv_string(vm), NULL);
    _cleanup_free_ char *refused = error_text(try_call("VM.start_on", xv_string(vm), xv_string(big), xv_bool(false),
                                                       xv_bool(false), NULL));
    ck_assert_str_eq(refused, want_v1);
    ck_assert_field(vm, "power_state", "Halted");

    call_ok("host.disable", xv_string(host), NULL);
    _cleanup_free_ char *nowhere = error_text(try_call("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL));
    ck_assert_str_eq(nowhere, "NO_HOSTS_AVAILABLE");
    free(big);
    free(small);
    free(dead);
    free(vm);
}
END_TEST

START_TEST(a_host_unaware_of_the_platform_version_never_writes_its_versions)
{
    xv *rec = NULL;
    ck_assert(db_read_field(db, DMC_host, host, DMF_host_virtual_hardware_platform_versions, &rec) == NULL);
    ck_assert_uint_eq(rec->u.arr.n, 2); /* [0; 1], written at start-up */
    xv_free(rec);
    /* the master created the record with [0]; the member starts as old software */
    store_set(DMC_host, host, "virtual_hardware_platform_versions", int_set(1, 0));
    config_set(cfg, "platform-version-aware", "false");
    ck_assert(api_startup(api) == NULL);
    ck_assert(db_read_field(db, DMC_host, host, DMF_host_virtual_hardware_platform_versions, &rec) == NULL);
    ck_assert_uint_eq(rec->u.arr.n, 1);
    ck_assert_int_eq(rec->u.arr.v[0]->u.i, 0);
    xv_free(rec);
    /* so a VM that needs version 1 does not start here; one of version 0 does */
    char *v1 = new_vm("v1", "has_vendor_device", xv_bool(true), NULL), *v0 = new_vm("v0", NULL);
    _cleanup_free_ char *refused = error_text(try_call("VM.start", xv_string(v1), xv_bool(false), xv_bool(false), NULL));
    ck_assert_str_eq(refused, "NO_HOSTS_AVAILABLE");
    call_ok("VM.start", xv_string(v0), xv_bool(false), xv_bool(false), NULL);
    ck_assert_field(v0, "power_state", "Running");
    free(v1);
    free(v0);
}
END_TEST

/* ---- the raise of the platform version on feature use ---- */

START_TEST(a_start_raises_the_version_first)
{
    char *vm = new_vm("vendor", NULL);
    /* the vendor device given behind the setter's back: the start must raise */
    store_set(DMC_VM, vm, "has_vendor_device", xv_bool(true));
    ck_assert_field(vm, "hardware_platform_version", "0");
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    ck_assert_field(vm, "hardware_platform_version", "1");
    ck_assert_field(vm, "power_state", "Running");
    free(vm);
}
END_TEST

START_TEST(a_refused_start_keeps_the_raised_version)
{
    char *vm = new_vm("vendor", NULL);
    store_set(DMC_VM, vm, "has_vendor_device", xv_bool(true));
    store_set(DMC_host, host, "virtual_hardware_platform_versions", int_set(1, 0));
    ck_assert_error(try_call("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL), "NO_HOSTS_AVAILABLE");
    ck_assert_field(vm, "hardware_platform_version", "1");
    ck_assert_field(vm, "power_state", "Halted");
    ck_assert_field(vm, "current_operations", "");
    free(vm);
}
END_TEST

START_TEST(reboots_raise_the_version)
{
    static const char *const reboots[] = {"VM.hard_reboot", "VM.clean_reboot"};
    for (int i = 0; i < 2; i++) {
        char *vm = new_vm("rebooted", NULL);
        call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
        _cleanup_free_ char *domid = vm_field(vm, "domid");
        store_set(DMC_VM, vm, "has_vendor_device", xv_bool(true));
        call_ok(reboots[i], xv_string(vm), NULL);
        ck_assert_field(vm, "hardware_platform_version", "1");
        ck_assert_field(vm, "power_state", "Running");
        _cleanup_free_ char *again = vm_field(vm, "domid");
        ck_assert_str_ne(again, domid);
        free(vm);
    }
}
END_TEST

START_TEST(a_reboot_the_host_cannot_take_halts_with_the_raised_version)
{
    char *vm = new_vm("rebooted", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    store_set(DMC_VM, vm, "has_vendor_device", xv_bool(true));
    store_set(DMC_host, host, "virtual_hardware_platform_versions", int_set(1, 0));
    _cleanup_free_ char *want =
        xasprintf("VM_HOST_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION %s [0] %s 1", host, vm);
    ck_assert_error(try_call("VM.hard_reboot", xv_string(vm), NULL), want);
    ck_assert_field(vm, "power_state", "Halted");
    ck_assert_field(vm, "hardware_platform_version", "1");
    free(vm);
}
END_TEST

/* The simulated guest stops its own domain (it obeys sim/shutdown: poweroff, reboot). */
static void guest_stops_itself(const char *domid, const char *how)
{
    struct xs_handle *xs = hv_xs_open(hv_xenstore_path(hv));
    ck_assert_ptr_nonnull(xs);
    _cleanup_free_ char *path = xasprintf("/local/domain/%s/sim/shutdown", domid);
    ck_assert(xs_write(xs, XBT_NULL, path, how, (unsigned)strlen(how)));
    xs_close(xs);
}

/* The guest stops its domain itself (the simulator's guest obeys sim/shutdown); the
 * monitor's look restarts it as actions_after_reboot says, raising first. */
START_TEST(a_guest_reboot_the_monitor_follows_raises_the_version)
{
    char *vm = new_vm("rebooting guest", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    _cleanup_free_ char *domid = vm_field(vm, "domid");
    store_set(DMC_VM, vm, "has_vendor_device", xv_bool(true));
    guest_stops_itself(domid, "reboot");
    bool rebooted = false;
    for (int i = 0; i < 100 && !rebooted; i++) {
        nap();
        vm_reconcile(api);
        _cleanup_free_ char *now = vm_field(vm, "domid");
        rebooted = strcmp(now, domid) != 0 && strcmp(now, "-1") != 0;
    }
    ck_assert_msg(rebooted, "the monitor did not restart the domain");
    ck_assert_field(vm, "power_state", "Running");
    ck_assert_field(vm, "hardware_platform_version", "1");
    ck_assert_field(vm, "current_operations", "");
    free(vm);
}
END_TEST

/* The guest powers its domain off and, before the monitor records it, a client pauses
 * the VM: a declared VM_BAD_POWER_STATE, not the backend's INTERNAL_ERROR (found by the
 * kill -9 soak), and the VM is not left with an operation. */
START_TEST(pausing_a_domain_its_guest_just_stopped_is_a_declared_error)
{
    char *vm = new_vm("stopping guest", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    _cleanup_free_ char *domid = vm_field(vm, "domid");
    guest_stops_itself(domid, "poweroff");
    struct hv_domain_info di;
    bool stopped = false;
    for (int i = 0; i < 100 && !stopped; i++) {
        nap();
        stopped = !hv_domain_info(hv, (uint32_t)atoi(domid), &di) || di.state == HV_DOM_SHUTDOWN ||
                  di.state == HV_DOM_DYING;
    }
    ck_assert_msg(stopped, "the simulated guest did not power off");
    ck_assert_field(vm, "power_state", "Running"); /* not yet reconciled */
    _cleanup_free_ char *expected = xasprintf("VM_BAD_POWER_STATE %s running halted", vm);
    ck_assert_error(try_call("VM.pause", xv_string(vm), NULL), expected);
    ck_assert_field(vm, "current_operations", "");
    free(vm);
}
END_TEST

/* ---- the background objects, owned by whoever starts them ---- */

static void xs_put(struct xs_handle *xs, const char *domid, const char *key, const char *value)
{
    _cleanup_free_ char *path = xasprintf("/local/domain/%s/%s", domid, key);
    ck_assert_msg(xs_write(xs, XBT_NULL, path, value, (unsigned)strlen(value)), "write %s", path);
}

/* A guest metrics object for the VM whose os_version name is os, within 10 s. */
static bool wait_guest_metrics(const char *vm, const char *os)
{
    for (int i = 0; i < 200; i++) {
        _cleanup_free_ char *gm = vm_field(vm, "guest_metrics");
        xv *m = NULL;
        if (strcmp(gm, REF_NULL) != 0 && db_read_record(db, DMC_VM_guest_metrics, gm, &m) == NULL) {
            const char *name = xv_struct_get_str(dm_get(m, DMF_VM_guest_metrics_os_version), "name");
            bool ok = name && strcmp(name, os) == 0;
            xv_free(m);
            if (ok)
                return true;
        }
        nap();
    }
    return false;
}

START_TEST(the_monitor_and_the_guest_watch_are_objects_of_their_own)
{
    struct vm_monitor *mon = NULL;
    struct guest_watch *gw = NULL;
    ck_assert(vm_monitor_start(api, &mon) == NULL);
    ck_assert(guest_watch_start(api, &gw) == NULL);
    char *vm = new_vm("reporting guest", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    _cleanup_free_ char *domid = vm_field(vm, "domid");
    struct xs_handle *xs = hv_xs_open(hv_xenstore_path(hv));
    ck_assert_ptr_nonnull(xs);
    /* what the guest's agent writes: the watch follows the domain the record names */
    xs_put(xs, domid, "data/os_name", "Debian");
    xs_put(xs, domid, "data/updated", "1");
    ck_assert_msg(wait_guest_metrics(vm, "Debian"), "no guest metrics from the running VM");
    /* a second watch on its own, then none: nothing is shared between them */
    guest_watch_stop(gw);
    ck_assert(guest_watch_start(api, &gw) == NULL);
    xs_put(xs, domid, "data/os_name", "Alpine");
    xs_put(xs, domid, "data/updated", "2");
    ck_assert_msg(wait_guest_metrics(vm, "Alpine"), "a watch started again does not follow the VM");
    /* the monitor follows the domain: gone behind the API's back, the VM is Halted */
    xs_close(xs);
    ck_assert(hv_domain_destroy(hv, (uint32_t)atoi(domid)) == NULL);
    bool halted = false;
    for (int i = 0; i < 200 && !halted; i++) {
        nap();
        _cleanup_free_ char *ps = vm_field(vm, "power_state");
        halted = strcmp(ps, "Halted") == 0;
    }
    ck_assert_msg(halted, "the monitor did not notice the domain go");
    guest_watch_stop(gw);
    vm_monitor_stop(mon);
    free(vm);
}
END_TEST

/* ---- the end of an operation the store refuses to record ---- */

struct refuse {
    const char *vm;
    int times;                   /* ends still to refuse; -1: every one */
    int refused;
};

/* Refuses the commits that give the VM back (current_operations empty after an
 * operation held it): the end of the operation. */
static xerr *refuse_ends(void *ctx, struct db_txn *t)
{
    struct refuse *r = ctx;
    xv *cur = NULL;
    if (r->times == 0 || db_txn_read_field(t, DMC_VM, r->vm, DMF_VM_current_operations, &cur) != NULL)
        return NULL;
    bool ending = cur->u.st.n == 0;
    xv_free(cur);
    if (!ending)
        return NULL;
    if (r->times > 0)
        r->times--;
    r->refused++;
    return xerr_internal("injected: the disk is full");
}

START_TEST(a_failed_end_reaches_the_client_and_frees_the_vm)
{
    char *vm = new_vm("unlucky", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    struct refuse r = {vm, 2, 0};
    db_set_commit_hook(db, refuse_ends, &r);
    ck_assert_error(try_call("VM.hard_shutdown", xv_string(vm), NULL), "INTERNAL_ERROR injected: the disk is full");
    db_set_commit_hook(db, NULL, NULL);
    ck_assert_int_eq(r.refused, 2);
    /* not held: the VM takes operations again */
    ck_assert_field(vm, "current_operations", "");
    xv *allowed = call("VM.get_allowed_operations", xv_string(vm), NULL);
    ck_assert(in_array(allowed, "hard_shutdown"));
    xv_free(allowed);
    /* the domain went; the record is brought up to date by the monitor's next look */
    ck_assert_field(vm, "power_state", "Running");
    vm_reconcile(api);
    ck_assert_field(vm, "power_state", "Halted");
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    ck_assert_field(vm, "power_state", "Running");
    free(vm);
}
END_TEST

START_TEST(a_failed_operation_whose_end_fails_too_reports_its_own_error)
{
    /* a PV VM without a kernel: the start fails, and so does recording that */
    xv *rec = xv_struct();
    xv_struct_append(rec, "name_label", xv_string("nokernel"));
    xv *ref = call("VM.create", rec, NULL);
    const char *vm = xv_str(ref);
    struct refuse r = {vm, 2, 0};
    db_set_commit_hook(db, refuse_ends, &r);
    _cleanup_free_ char *got = error_text(try_call("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL));
    db_set_commit_hook(db, NULL, NULL);
    ck_assert_msg(strncmp(got, "INVALID_VALUE PV_kernel", 23) == 0, "%s", got);
    ck_assert_int_eq(r.refused, 2);
    ck_assert_field(vm, "current_operations", "");
    ck_assert_field(vm, "power_state", "Halted");
    /* given back whole: not scheduled to run anywhere */
    ck_assert_field(vm, "scheduled_to_be_resident_on", REF_NULL);
    xv_free(ref);
}
END_TEST

START_TEST(an_end_never_recorded_is_still_reported)
{
    char *vm = new_vm("doomed", NULL);
    call_ok("VM.start", xv_string(vm), xv_bool(false), xv_bool(false), NULL);
    struct refuse r = {vm, -1, 0};
    db_set_commit_hook(db, refuse_ends, &r);
    ck_assert_error(try_call("VM.pause", xv_string(vm), NULL), "INTERNAL_ERROR injected: the disk is full");
    db_set_commit_hook(db, NULL, NULL);
    ck_assert_int_gt(r.refused, 2);
    /* held until the daemon restarts, which clears what it finds */
    _cleanup_free_ char *held = vm_field(vm, "current_operations");
    ck_assert_str_eq(held, "pause");
    ck_assert(vm_clear_stale_operations(api) == NULL);
    ck_assert_field(vm, "current_operations", "");
    free(vm);
}
END_TEST

static Suite *vm_suite(void)
{
    log_setup("stderr", "error");
    Suite *s = suite_create("vm");
    TCase *table_tc = tcase_create("state table");
    tcase_add_test(table_tc, every_state_allows_what_xapi_allows);
    tcase_add_test(table_tc, templates_take_clone_and_destroy_only);
    tcase_add_test(table_tc, checks_come_in_one_order);
    suite_add_tcase(s, table_tc);

    TCase *api_tc = tcase_create("through the api");
    tcase_add_checked_fixture(api_tc, setup, teardown);
    tcase_set_timeout(api_tc, 60);
    tcase_add_test(api_tc, allowed_operations_agree_with_the_messages);
    tcase_add_test(api_tc, blocked_destroy_and_clone_are_refused);
    tcase_add_test(api_tc, a_running_template_is_refused_what_it_does_not_list);
    tcase_add_test(api_tc, host_checks_come_in_xapis_order);
    tcase_add_test(api_tc, placement_prefers_affinity_then_most_free_memory);
    tcase_add_test(api_tc, a_host_unaware_of_the_platform_version_never_writes_its_versions);
    tcase_add_test(api_tc, a_start_raises_the_version_first);
    tcase_add_test(api_tc, a_refused_start_keeps_the_raised_version);
    tcase_add_test(api_tc, reboots_raise_the_version);
    tcase_add_test(api_tc, a_reboot_the_host_cannot_take_halts_with_the_raised_version);
    tcase_add_test(api_tc, a_guest_reboot_the_monitor_follows_raises_the_version);
    tcase_add_test(api_tc, pausing_a_domain_its_guest_just_stopped_is_a_declared_error);
    tcase_add_test(api_tc, the_monitor_and_the_guest_watch_are_objects_of_their_own);
    tcase_add_test(api_tc, a_failed_end_reaches_the_client_and_frees_the_vm);
    tcase_add_test(api_tc, a_failed_operation_whose_end_fails_too_reports_its_own_error);
    tcase_add_test(api_tc, an_end_never_recorded_is_still_reported);
    suite_add_tcase(s, api_tc);

    return s;
}

UNIT_MAIN(vm_suite)
