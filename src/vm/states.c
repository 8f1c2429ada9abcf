/* Which operation is allowed in which power state: one table, as xapi's
 * allowed_power_states (xapi_vm_lifecycle.ml).  The same judgement computes
 * allowed_operations and makes the check at the start of every operation, so that
 * the two cannot disagree. */
#include "vm_int.h"

#include <string.h>

#define H (1u << VM_POWER_STATE_HALTED)
#define P (1u << VM_POWER_STATE_PAUSED)
#define R (1u << VM_POWER_STATE_RUNNING)
#define S (1u << VM_POWER_STATE_SUSPENDED)

/* What the table says of one operation. */
struct rule {
    unsigned from;               /* the power states it starts from, a bit per state */
    enum vm_power_state named;   /* the state VM_BAD_POWER_STATE says it expects */
    bool on_template;            /* a template takes it */
    bool listed;                 /* a VM.<op> message: listed in allowed_operations */
    bool exclusive;              /* refused while another operation holds the VM */
    bool blockable;              /* blocked_operations applies to it */
};

/* `named` is the state the operation is for (hard_shutdown is for a running VM,
 * though a paused or suspended one stops too): clients have always seen that one
 * name, not xapi's list. */
static const struct rule rules[VM_OPERATIONS_COUNT] = {
#define HALTED VM_POWER_STATE_HALTED
#define PAUSED VM_POWER_STATE_PAUSED
#define RUNNING VM_POWER_STATE_RUNNING
#define SUSPENDED VM_POWER_STATE_SUSPENDED
    /*                                       from       named      template listed exclusive blockable */
    [VM_OPERATIONS_START]                = {H,         HALTED,    false, true,  true,  true},
    [VM_OPERATIONS_START_ON]             = {H,         HALTED,    false, true,  true,  true},
    [VM_OPERATIONS_PAUSE]                = {R,         RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_UNPAUSE]              = {P,         PAUSED,    false, true,  true,  true},
    [VM_OPERATIONS_CLEAN_SHUTDOWN]       = {R,         RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_CLEAN_REBOOT]         = {R,         RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_HARD_SHUTDOWN]        = {R | P | S, RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_HARD_REBOOT]          = {R | P,     RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_SHUTDOWN]             = {R | P | S, RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_SUSPEND]              = {R,         RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_RESUME]               = {S,         SUSPENDED, false, true,  true,  true},
    [VM_OPERATIONS_RESUME_ON]            = {S,         SUSPENDED, false, true,  true,  true},
    [VM_OPERATIONS_POOL_MIGRATE]         = {R,         RUNNING,   false, true,  true,  true},
    [VM_OPERATIONS_CLONE]                = {H,         HALTED,    true,  true,  true,  true},
    [VM_OPERATIONS_DESTROY]              = {H | S,     HALTED,    true,  true,  true,  true},
    /* left out of allowed_operations (as xapi does); it clears current_operations, so
     * another operation does not stop it */
    [VM_OPERATIONS_POWER_STATE_RESET]    = {H | P | R | S, HALTED, true, false, false, false},
    /* xapi's states; no message here does them yet */
    [VM_OPERATIONS_CHANGING_VCPUS]       = {H,         HALTED,    true,  false, true,  true},
    [VM_OPERATIONS_CHANGING_STATIC_RANGE] = {H,        HALTED,    true,  false, true,  true},
    [VM_OPERATIONS_CHANGING_DYNAMIC_RANGE] = {H | R,   HALTED,    true,  false, true,  true},
    [VM_OPERATIONS_MAKE_INTO_TEMPLATE]   = {H,         HALTED,    false, false, true,  true},
    [VM_OPERATIONS_EXPORT]               = {H | S,     HALTED,    true,  false, true,  true},
    [VM_OPERATIONS_IMPORT]               = {0,         HALTED,    false, false, true,  true},
};

/* A change of the VM's hardware that is not an operation of the enum (VM.
 * set_has_vendor_device): only while Halted, and not while an operation holds it. */
static const struct rule halted_change = {H, HALTED, true, false, true, false};

enum verdict { OK, IN_PROGRESS, CONTROL_DOMAIN, BLOCKED, POWER_STATE, TEMPLATE };

/* The checks in one order for every operation: another operation holds the VM, the
 * control domain, blocked_operations, the power state, templates.  The daemon's own
 * actions (the monitor following a domain its guest stopped) only need the VM to
 * themselves: the rest are rules for clients.  name: the operation's, for
 * blocked_operations. */
static enum verdict judge(const xv *rec, const struct rule *r, const char *name, enum vm_by by)
{
    const xv *cur = dm_get(rec, DMF_VM_current_operations);
    if (r->exclusive && cur && cur->u.st.n > 0)
        return IN_PROGRESS;
    if (by == VM_BY_DAEMON)
        return OK;
    if (dm_get_bool(rec, DMF_VM_is_control_domain))
        return CONTROL_DOMAIN;
    if (r->blockable && xv_struct_get(dm_get(rec, DMF_VM_blocked_operations), name))
        return BLOCKED;
    int ps = dm_get_enum(rec, DMF_VM_power_state);
    assert(ps >= 0 && ps < VM_POWER_STATE_COUNT); /* the store holds values of the enum */
    if (!(r->from & (1u << ps)))
        return POWER_STATE;
    if (!r->on_template && dm_get_bool(rec, DMF_VM_is_a_template))
        return TEMPLATE;
    return OK;
}

static xerr *explain(const char *vm, const xv *rec, const struct rule *r, const char *name, enum verdict v)
{
    switch (v) {
    case OK:
        return NULL;
    case IN_PROGRESS: {
        const xv *cur = dm_get(rec, DMF_VM_current_operations);
        return err_other_operation_in_progress(DMC_VM->name, vm, xv_str(cur->u.st.m[0].val), cur->u.st.m[0].key);
    }
    case CONTROL_DOMAIN:
        return err_operation_not_allowed("the control domain is managed by the host, not through the API");
    case BLOCKED:
        return err_operation_blocked(vm, xv_str(xv_struct_get(dm_get(rec, DMF_VM_blocked_operations), name)));
    case POWER_STATE:
        return bad_power_state(vm, r->named, dm_get_enum(rec, DMF_VM_power_state));
    case TEMPLATE:
        return err_vm_is_template(vm, name);
    }
    assert(!"unreachable");
    return NULL;
}

xerr *vm_op_check(const char *vm, const xv *rec, enum vm_operations op, enum vm_by by)
{
    assert(op >= 0 && op < VM_OPERATIONS_COUNT);
    const char *name = vm_operations_name(op);
    return explain(vm, rec, &rules[op], name, judge(rec, &rules[op], name, by));
}

xerr *vm_change_check(const char *vm, const xv *rec)
{
    return explain(vm, rec, &halted_change, NULL, judge(rec, &halted_change, NULL, VM_BY_CLIENT));
}

xv *vm_allowed_operations(const xv *rec)
{
    xv *ops = xv_array();
    for (int op = 0; op < VM_OPERATIONS_COUNT; op++) {
        const char *name = vm_operations_name((enum vm_operations)op);
        if (rules[op].listed && judge(rec, &rules[op], name, VM_BY_CLIENT) == OK)
            xv_array_push(ops, xv_string(name));
    }
    return ops;
}
