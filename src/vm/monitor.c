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

struct vm_monitor {
    struct api *api;
    struct hv_watcher *watcher;  /* @releaseDomain */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint64_t generation;         /* bumped by every domain change notice */
    pthread_t thread;
    bool thread_started, stop;
};

static void notice(void *ctx, const char *path, const char *token)
{
    (void)path;
    (void)token;
    struct vm_monitor *m = ctx;
    pthread_mutex_lock(&m->lock);
    m->generation++;
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
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

/* The same domain in the same power state. */
static bool same_look(const xv *rec, const xv *seen)
{
    return dm_get_int(rec, DMF_VM_domid) == dm_get_int(seen, DMF_VM_domid) &&
           dm_get_enum(rec, DMF_VM_power_state) == dm_get_enum(seen, DMF_VM_power_state);
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
    const xv *cur = rec ? dm_get(rec, DMF_VM_current_operations) : NULL;
    bool same = !e && !(cur && cur->u.st.n > 0) && same_look(rec, seen);
    if (same)
        e = vm_apply(t, vm, rec, updates);
    else if (!e)
        log_debug("VM %s changed while the monitor looked at it: left to its next look", vm);
    xv_free(rec);
    xv_free(updates);
    e = db_end(t, e);
    *applied = same && !e;
    return e;
}

/* What to do with a domain its guest stopped. */
enum action { ACT_DESTROY, ACT_RESTART, ACT_PRESERVE, ACT_SUSPEND };

static enum action action_for(const xv *rec, int reason)
{
    if (reason == HV_SHUTDOWN_SUSPEND)
        return ACT_SUSPEND;
    if (reason == HV_SHUTDOWN_CRASH || reason == HV_SHUTDOWN_WATCHDOG) {
        switch (dm_get_enum(rec, DMF_VM_actions_after_crash)) {
        case ON_CRASH_BEHAVIOUR_PRESERVE: return ACT_PRESERVE;
        case ON_CRASH_BEHAVIOUR_RESTART:
        case ON_CRASH_BEHAVIOUR_RENAME_RESTART:
        case ON_CRASH_BEHAVIOUR_COREDUMP_AND_RESTART: return ACT_RESTART;
        default: return ACT_DESTROY;
        }
    }
    const struct dm_field *f = reason == HV_SHUTDOWN_REBOOT ? DMF_VM_actions_after_reboot : DMF_VM_actions_after_shutdown;
    return dm_get_enum(rec, f) == ON_NORMAL_EXIT_RESTART ? ACT_RESTART : ACT_DESTROY;
}

static const char *const action_names[] = {"halting it", "restarting it", "keeping it", "saving it"}; /* logs */

/* The monitor acts on a VM only as the monitor last saw it. */
static xerr *unchanged(const char *vm, const xv *rec, void *arg)
{
    if (!same_look(rec, arg))
        return xerr_internal("VM %s changed meanwhile", vm);
    return NULL;
}

/* The guest stopped its domain itself: do what the VM says.  Destroying and building
 * domains is an operation like any other: it holds the VM (current_operations), so
 * that a client's operation cannot interleave with it. */
static xerr *guest_stopped(struct api *api, const char *vm, const xv *seen, const struct hv_domain_info *di)
{
    enum action action = action_for(seen, di->shutdown_reason);
    bool applied;
    if (action == ACT_PRESERVE) {
        /* kept for inspection, as xapi does: the VM shows Paused until someone acts */
        log_info("VM %s: domain %u shut down by its guest (reason %d): preserved", vm, di->domid,
                 di->shutdown_reason);
        xv *u = xv_struct();
        dm_set(u, DMF_VM_power_state, xv_string(vm_power_state_name(VM_POWER_STATE_PAUSED)));
        return record(api, vm, seen, u, &applied);
    }
    bool suspend = action == ACT_SUSPEND, restart = action == ACT_RESTART;
    struct api_ctx ctx = {.api = api, .db = api_db(api), .method = "VM.(domain monitor)"};
    char *opid = NULL;
    xv *rec = NULL;
    enum vm_operations op = restart   ? VM_OPERATIONS_HARD_REBOOT
                          : suspend ? VM_OPERATIONS_SUSPEND
                                    : VM_OPERATIONS_HARD_SHUTDOWN;
    xerr *e = vm_op_begin(&ctx, vm, op, VM_BY_DAEMON, unchanged, (void *)seen, &opid, &rec);
    if (e) {
        /* a client's operation has the VM: the domain is its business now */
        _cleanup_free_ char *why = xerr_str(e);
        log_debug("VM %s: not acting on its stopped domain: %s", vm, why);
        xerr_free(e);
        return NULL;
    }
    struct hv_domain_info now;
    xv *u = NULL;
    if (!hv_domain_info(api_hv(api), di->domid, &now) || now.state != HV_DOM_SHUTDOWN) {
        /* gone or changed meanwhile: the next look sees it */
    } else {
        log_info("VM %s: domain %u shut down by its guest (reason %d): %s", vm, di->domid, di->shutdown_reason,
                 action_names[action]);
        if (suspend) {
            /* the guest suspended itself: keep its state, or let it run on */
            e = vm_save_image(api, vm, dm_get_str(rec, DMF_VM_uuid), di->domid);
            if (e) {
                xerr *re = hv_domain_resume_in_place(api_hv(api), di->domid);
                if (re) {
                    _cleanup_free_ char *why = xerr_str(re);
                    log_error("VM %s: its domain could be neither saved nor resumed: %s", vm, why);
                    xerr_free(re);
                }
            }
        }
        if (!e)
            e = hv_domain_destroy(api_hv(api), di->domid);
        if (!e && restart) {
            xerr *be = vm_reboot_in_place(api, vm, rec, &u);
            if (be) {
                _cleanup_free_ char *why = xerr_str(be);
                log_warn("VM %s: cannot restart: %s; it is Halted", vm, why);
                xerr_free(be);
            }
        } else if (!e) {
            u = updates_halted();
            /* the guest powered itself off: its next boot may get the new hardware */
            if (!suspend && di->shutdown_reason == HV_SHUTDOWN_POWEROFF)
                vm_apply_pending_upgrade(vm, rec, u);
            if (suspend)
                dm_set(u, DMF_VM_power_state, xv_string(vm_power_state_name(VM_POWER_STATE_SUSPENDED)));
        }
    }
    e = vm_op_end(&ctx, vm, opid, u, e);
    free(opid);
    xv_free(rec);
    return e;
}

/* The record is read before the domains are listed: whatever an operation does after
 * that read changes the record (domid, power_state, current_operations), which
 * record() and guest_stopped() check before they act. */
void vm_reconcile_one(struct api *api, const char *vm)
{
    xv *rec = NULL;
    xerr *e = db_read_record(api_db(api), DMC_VM, vm, &rec);
    if (e) {
        xerr_free(e);
        return;
    }
    const xv *cur = dm_get(rec, DMF_VM_current_operations);
    if ((cur && cur->u.st.n > 0) || dm_get_bool(rec, DMF_VM_is_control_domain) ||
        dm_get_bool(rec, DMF_VM_is_a_template)) {
        xv_free(rec);
        return;
    }
    int ps = dm_get_enum(rec, DMF_VM_power_state);
    const char *uuid = dm_get_str(rec, DMF_VM_uuid);
    bool live = ps == VM_POWER_STATE_RUNNING || ps == VM_POWER_STATE_PAUSED;
    bool here = strcmp(dm_get_str(rec, DMF_VM_resident_on), api_host_ref(api)) == 0;
    struct hv_domain_info found, *di = NULL;
    if (vm_find_domain(api, uuid, &found))
        di = &found;
    bool applied = false;
    if (live && here && !di) {
        int64_t domid = dm_get_int(rec, DMF_VM_domid);
        log_warn("VM %s: its domain %lld is gone; the VM is Halted", vm, (long long)domid);
        if (domid > 0)
            hv_domain_forget(api_hv(api), (uint32_t)domid, uuid); /* its xenstore entries */
        e = record(api, vm, rec, updates_halted(), &applied);
    } else if (di && di->state == HV_DOM_SHUTDOWN && (here || !live)) {
        if (ps == VM_POWER_STATE_PAUSED && di->shutdown_reason == HV_SHUTDOWN_CRASH &&
            dm_get_enum(rec, DMF_VM_actions_after_crash) == ON_CRASH_BEHAVIOUR_PRESERVE) {
            xv_free(rec); /* already preserved */
            return;
        }
        e = guest_stopped(api, vm, rec, di);
    } else if (di && (di->state == HV_DOM_RUNNING || di->state == HV_DOM_PAUSED)) {
        /* a running domain keeps its VM running, whatever the record said */
        bool paused = di->state == HV_DOM_PAUSED;
        enum vm_power_state want = paused ? VM_POWER_STATE_PAUSED : VM_POWER_STATE_RUNNING;
        if (ps != (int)want || !here || dm_get_int(rec, DMF_VM_domid) != di->domid) {
            log_info("VM %s: domain %u is %s; recording it", vm, di->domid, vm_power_state_name(want));
            e = record(api, vm, rec, updates_running(api_host_ref(api), di->domid, paused, di->hvm), &applied);
        }
    }
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("VM %s: reconciling with the hypervisor failed: %s", vm, s);
        xerr_free(e);
    }
    xv_free(rec);
}

/* A look at the VMs the hypervisor has something to say about: those the records put
 * on this host (resident_on, indexed) and those with a domain here.  Any other VM is
 * Halted or Suspended, or runs elsewhere with no domain here: nothing to reconcile.
 * (Reading every VM's record, each with a listing of the domains, made a pass cost
 * the whole pool: with 2,000 halted VMs in the DB a lifecycle cycle, whose destroy
 * sets one off, took 17 -> 58 ms of CPU.)  Each candidate is still read before the
 * domains are listed for it (vm_reconcile_one), as the look requires. */
void vm_reconcile(struct api *api)
{
    struct hv_domain_info *doms = NULL;
    size_t n = 0;
    xv *refs = NULL, *host = xv_string(api_host_ref(api));
    xerr *e = db_lookup_field(api_db(api), DMC_VM, DMF_VM_resident_on, host, &refs);
    xv_free(host);
    if (!e)
        e = hv_domain_list(api_hv(api), &doms, &n);
    struct strmap *seen = strmap_new();  /* ref -> itself: the candidates so far */
    for (size_t i = 0; !e && i < refs->u.arr.n; i++)
        strmap_put(seen, xv_str(refs->u.arr.v[i]), refs->u.arr.v[i]);
    for (size_t i = 0; !e && i < n; i++) {
        char *ref = NULL;
        if (doms[i].domid == 0)
            continue;
        xerr *le = db_lookup_uuid(api_db(api), DMC_VM, doms[i].uuid, &ref);
        if (le && xerr_is(le, XERR_UUID_INVALID)) {
            xerr_free(le); /* a domain of no VM of ours */
            continue;
        }
        e = le;
        if (!e && !strmap_get(seen, ref)) {
            xv *r = xv_string(ref);
            xv_array_push(refs, r);
            strmap_put(seen, ref, r);
        }
        free(ref);
    }
    strmap_free(seen, NULL);
    free(doms);
    for (size_t i = 0; !e && i < refs->u.arr.n; i++)
        vm_reconcile_one(api, xv_str(refs->u.arr.v[i]));
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        log_error("reconciling with the hypervisor: %s", s);
        xerr_free(e);
    }
    xv_free(refs);
}

static void *monitor_main(void *arg)
{
    struct vm_monitor *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        uint64_t seen = m->generation;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10; /* and now and then, in case a notice was missed */
        while (seen == m->generation && !m->stop)
            if (pthread_cond_timedwait(&m->changed, &m->lock, &until) != 0)
                break;
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->lock);
        vm_reconcile(m->api);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

xerr *vm_monitor_start(struct api *api, struct vm_monitor **out)
{
    *out = NULL;
    xerr *e = vm_clear_stale_operations(api);
    if (e)
        return e;
    vm_reconcile(api);
    struct vm_monitor *m = xcalloc(1, sizeof(*m));
    m->api = api;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->changed, NULL);
    e = hv_watcher_open(api_hv(api), notice, m, &m->watcher);
    if (!e && (e = hv_watcher_add(m->watcher, "@releaseDomain", "release")) == NULL) {
        if (pthread_create(&m->thread, NULL, monitor_main, m) == 0)
            m->thread_started = true;
        else
            e = xerr_internal("cannot start the domain monitor");
    }
    if (e) {
        vm_monitor_stop(m);
        return e;
    }
    *out = m;
    return NULL;
}

void vm_monitor_stop(struct vm_monitor *m)
{
    if (!m)
        return;
    /* the watcher first: its thread calls notice, which uses m */
    hv_watcher_close(m->watcher);
    if (m->thread_started) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_broadcast(&m->changed);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->thread, NULL);
    }
    pthread_cond_destroy(&m->changed);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

xerr *vm_register(struct api *api)
{
    xerr *e = vm_register_records(api);
    if (!e)
        e = vm_register_checks(api);
    if (!e)
        e = vm_register_lifecycle(api);
    if (!e)
        e = vm_register_upgrade(api);
    if (!e)
        e = vm_register_migrate(api);
    return e;
}
