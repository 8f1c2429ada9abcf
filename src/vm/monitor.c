/* Keeping VM records in agreement with the hypervisor's domains.
 *
 * At start-up (the daemon may have died while domains kept running or stopped) and
 * whenever the backend says domains changed (@releaseDomain), each VM this host
 * should be running is compared with its domain (found by uuid, the domain handle):
 * a vanished domain makes the VM Halted, a domain the guest shut down is dealt with
 * by the VM's actions_after_* settings, a running one keeps its VM Running.  A VM
 * with an operation in progress belongs to that operation and is left alone. */
#include "vm_int.h"
#include "log.h"

#include <string.h>

static struct {
    struct api *api;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t generation;         /* bumped by every domain change notice */
    pthread_t thread;
    bool running, stop;
    struct vm_domain_hooks hooks;
} mon = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};

void vm_set_domain_hooks(const struct vm_domain_hooks *hooks)
{
    mon.hooks = *hooks;
}

void vm_hooks_started(const char *vm, uint32_t domid)
{
    if (mon.hooks.started)
        mon.hooks.started(mon.hooks.ctx, vm, domid);
}

void vm_hooks_stopped(const char *vm, uint32_t domid)
{
    if (mon.hooks.stopped)
        mon.hooks.stopped(mon.hooks.ctx, vm, domid);
}

static void notice(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&mon.lock);
    mon.generation++;
    pthread_cond_broadcast(&mon.changed);
    pthread_mutex_unlock(&mon.lock);
}

void vm_wait_domain_change(double timeout)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)((timeout - (double)(long)timeout) * 1e9);
    until.tv_sec += (time_t)timeout + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    pthread_mutex_lock(&mon.lock);
    uint64_t g = mon.generation;
    while (g == mon.generation && !mon.stop)
        if (pthread_cond_timedwait(&mon.changed, &mon.lock, &until) != 0)
            break;
    pthread_mutex_unlock(&mon.lock);
}

bool vm_find_domain(struct api *api, const char *uuid, struct hv_domain_info *out)
{
    struct hv_domain_info *all = NULL;
    size_t n = 0;
    xerr *e = hv_domain_list(api_hv(api), &all, &n);
    bool found = false;
    for (size_t i = 0; !e && i < n && !found; i++) {
        if (all[i].domid != 0 && strcmp(all[i].uuid, uuid) == 0) {
            *out = all[i];
            found = true;
        }
    }
    xerr_free(e);
    free(all);
    return found;
}

/* Record updates for a VM unless it changed since the monitor read it (seen): an
 * operation holds it, or one came and went (a new domid, another power state).
 * *applied says whether the updates were recorded. */
static xerr *record(struct api *api, const char *vm, const xv *seen, xv *updates, bool *applied)
{
    *applied = false;
    struct db_txn *t;
    xerr *e = db_begin(api_db(api), &t);
    if (e) {
        xv_free(updates);
        return e;
    }
    xv *rec = NULL;
    e = db_txn_read_record(t, DMC_VM, vm, &rec);
    const xv *cur = rec ? xv_struct_get(rec, "current_operations") : NULL;
    bool same = !e && !(cur && cur->u.st.n > 0) && rec_int(rec, "domid") == rec_int(seen, "domid") &&
                strcmp(rec_str(rec, "power_state"), rec_str(seen, "power_state")) == 0;
    if (same)
        e = vm_apply(t, vm, rec, updates);
    else if (!e)
        log_debug("VM %s changed while the monitor looked at it: left to its next look", vm);
    xv_free(rec);
    xv_free(updates);
    e = e ? (db_abort(t), e) : db_commit(t, NULL);
    *applied = same && !e;
    return e;
}

static const char *action_for(const xv *rec, int reason)
{
    switch (reason) {
    case HV_SHUTDOWN_REBOOT: return rec_str(rec, "actions_after_reboot");
    case HV_SHUTDOWN_CRASH:
    case HV_SHUTDOWN_WATCHDOG: return rec_str(rec, "actions_after_crash");
    case HV_SHUTDOWN_SUSPEND: return "suspend";
    default: return rec_str(rec, "actions_after_shutdown");
    }
}

/* The monitor acts on a VM only as the monitor last saw it. */
static xerr *unchanged(const char *vm, const xv *rec, void *arg)
{
    const xv *seen = arg;
    if (rec_int(rec, "domid") != rec_int(seen, "domid") ||
        strcmp(rec_str(rec, "power_state"), rec_str(seen, "power_state")) != 0)
        return xerr_internal("VM %s changed meanwhile", vm);
    return NULL;
}

/* The guest stopped its domain itself: do what the VM says.  Destroying and building
 * domains is an operation like any other: it holds the VM (current_operations), so
 * that a client's operation cannot interleave with it. */
static xerr *guest_stopped(struct api *api, const char *vm, const xv *seen, const struct hv_domain_info *di)
{
    const char *action = action_for(seen, di->shutdown_reason);
    bool applied;
    if (strcmp(action, "preserve") == 0) {
        /* kept for inspection, as xapi does: the VM shows Paused until someone acts */
        log_info("VM %s: domain %u shut down by its guest (reason %d): preserved", vm, di->domid,
                 di->shutdown_reason);
        xv *u = xv_struct();
        xv_struct_append(u, "power_state", xv_string("Paused"));
        return record(api, vm, seen, u, &applied);
    }
    bool suspend = strcmp(action, "suspend") == 0;
    bool restart = strcmp(action, "restart") == 0 || strcmp(action, "rename_restart") == 0 ||
                   strcmp(action, "coredump_and_restart") == 0;
    struct api_ctx ctx = {.api = api, .db = api_db(api), .method = "VM.(domain monitor)"};
    char *opid = NULL;
    xv *rec = NULL;
    xerr *e = vm_op_begin_internal(&ctx, vm, restart ? "hard_reboot" : suspend ? "suspend" : "hard_shutdown",
                                   unchanged, (void *)seen, &opid, &rec);
    if (e) {
        /* a client's operation has the VM: the domain is its business now */
        _cleanup_free_ char *why = xerr_str(e);
        log_debug("VM %s: not acting on its stopped domain: %s", vm, why);
        xerr_free(e);
        return NULL;
    }
    struct hv_domain_info now;
    if (!hv_domain_info(api_hv(api), di->domid, &now) || now.state != HV_DOM_SHUTDOWN) {
        vm_op_end(&ctx, vm, opid, NULL); /* gone or changed meanwhile: the next look sees it */
        free(opid);
        xv_free(rec);
        return NULL;
    }
    log_info("VM %s: domain %u shut down by its guest (reason %d): %s", vm, di->domid, di->shutdown_reason,
             action);
    xv *u = NULL;
    e = hv_domain_destroy(api_hv(api), di->domid);
    if (!e) {
        vm_hooks_stopped(vm, di->domid);
        if (suspend) {
            u = updates_halted();
            xv_struct_set(u, "power_state", xv_string("Suspended"));
        } else if (!restart) {
            u = updates_halted();
        } else {
            /* restart: raise (a reboot is a start), check this host still fits, build again */
            int64_t cur = rec_int(rec, "hardware_platform_version");
            int64_t raised = platform_raise(api_platform(api), rec, cur);
            xv_struct_set(rec, "hardware_platform_version", xv_int(raised));
            xerr *be = vm_check_reboot(api, vm, raised);
            if (!be)
                be = vm_build_domain(api, vm, rec, false, &u);
            if (be) {
                _cleanup_free_ char *why = xerr_str(be);
                log_warn("VM %s: cannot restart: %s; it is Halted", vm, why);
                xerr_free(be);
                u = updates_halted();
            }
            if (raised != cur)
                xv_struct_set(u, "hardware_platform_version", xv_int(raised));
        }
    }
    int64_t domid = u ? rec_int(u, "domid") : -1;
    xerr *ee = vm_op_end(&ctx, vm, opid, u);
    if (!e && !ee && domid > 0)
        vm_hooks_started(vm, (uint32_t)domid);
    free(opid);
    xv_free(rec);
    return e ? (xerr_free(ee), e) : ee;
}

/* The record is read before the domains are listed: whatever an operation does after
 * that read changes the record (domid, power_state, current_operations), which
 * record() and guest_stopped() check before they act. */
static void reconcile_vm(struct api *api, const char *vm)
{
    xv *rec = NULL;
    xerr *e = db_read_record(api_db(api), DMC_VM, vm, &rec);
    if (e) {
        xerr_free(e);
        return;
    }
    const xv *cur = xv_struct_get(rec, "current_operations");
    if ((cur && cur->u.st.n > 0) || rec_bool(rec, "is_control_domain") || rec_bool(rec, "is_a_template")) {
        xv_free(rec);
        return;
    }
    const char *ps = rec_str(rec, "power_state"), *uuid = rec_str(rec, "uuid");
    bool live = strcmp(ps, "Running") == 0 || strcmp(ps, "Paused") == 0;
    bool here = strcmp(rec_str(rec, "resident_on"), api_host_ref(api)) == 0;
    struct hv_domain_info found, *di = NULL;
    if (vm_find_domain(api, uuid, &found))
        di = &found;
    bool applied = false;
    if (live && here && !di) {
        int64_t domid = rec_int(rec, "domid");
        log_warn("VM %s: its domain %lld is gone; the VM is Halted", vm, (long long)domid);
        if (domid > 0)
            hv_domain_forget(api_hv(api), (uint32_t)domid, uuid); /* its xenstore entries */
        e = record(api, vm, rec, updates_halted(), &applied);
        if (applied && domid > 0)
            vm_hooks_stopped(vm, (uint32_t)domid);
    } else if (di && di->state == HV_DOM_SHUTDOWN && (here || !live)) {
        if (strcmp(ps, "Paused") == 0 && di->shutdown_reason == HV_SHUTDOWN_CRASH &&
            strcmp(rec_str(rec, "actions_after_crash"), "preserve") == 0) {
            xv_free(rec); /* already preserved */
            return;
        }
        e = guest_stopped(api, vm, rec, di);
    } else if (di && (di->state == HV_DOM_RUNNING || di->state == HV_DOM_PAUSED)) {
        /* a running domain keeps its VM running, whatever the record said */
        bool paused = di->state == HV_DOM_PAUSED;
        const char *want = paused ? "Paused" : "Running";
        if (strcmp(ps, want) != 0 || !here || rec_int(rec, "domid") != di->domid) {
            log_info("VM %s: domain %u is %s; recording it", vm, di->domid, want);
            int64_t old = rec_int(rec, "domid");
            e = record(api, vm, rec, updates_running(api_host_ref(api), di->domid, paused, di->hvm), &applied);
            /* the guest metrics follow the domain the VM now runs in */
            if (applied && live && old > 0 && old != (int64_t)di->domid)
                vm_hooks_stopped(vm, (uint32_t)old);
            if (applied && (!live || old != (int64_t)di->domid))
                vm_hooks_started(vm, di->domid);
        }
    }
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("VM %s: reconciling with the hypervisor failed: %s", vm, s);
        xerr_free(e);
    }
    xv_free(rec);
}

static void reconcile(struct api *api)
{
    xv *vms = NULL;
    xerr *e = db_read_refs(api_db(api), DMC_VM, &vms);
    for (size_t i = 0; !e && i < vms->u.arr.n; i++)
        reconcile_vm(api, xv_str(vms->u.arr.v[i]));
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("reconciling with the hypervisor: %s", s);
        xerr_free(e);
    }
    xv_free(vms);
}

static void *monitor_main(void *arg)
{
    struct api *api = arg;
    pthread_mutex_lock(&mon.lock);
    while (!mon.stop) {
        uint64_t seen = mon.generation;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10; /* and now and then, in case a notice was missed */
        while (seen == mon.generation && !mon.stop)
            if (pthread_cond_timedwait(&mon.changed, &mon.lock, &until) != 0)
                break;
        if (mon.stop)
            break;
        pthread_mutex_unlock(&mon.lock);
        reconcile(api);
        pthread_mutex_lock(&mon.lock);
    }
    pthread_mutex_unlock(&mon.lock);
    return NULL;
}

xerr *vm_start_monitor(struct api *api)
{
    mon.api = api;
    xerr *e = vm_clear_stale_operations(api);
    if (e)
        return e;
    reconcile(api);
    if ((e = hv_watch_domains(api_hv(api), notice, NULL)) != NULL)
        return e;
    if (pthread_create(&mon.thread, NULL, monitor_main, api) != 0)
        return xerr_internal("cannot start the domain monitor");
    mon.running = true;
    return NULL;
}

void vm_stop_monitor(struct api *api)
{
    (void)api;
    if (!mon.running)
        return;
    pthread_mutex_lock(&mon.lock);
    mon.stop = true;
    pthread_cond_broadcast(&mon.changed);
    pthread_mutex_unlock(&mon.lock);
    pthread_join(mon.thread, NULL);
    mon.running = false;
}

xerr *vm_register(struct api *api)
{
    xerr *e = vm_register_records(api);
    if (!e)
        e = vm_register_checks(api);
    if (!e)
        e = vm_register_lifecycle(api);
    return e;
}
