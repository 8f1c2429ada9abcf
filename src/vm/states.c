/* Which operation is allowed in which power state: one table, as xapi's
 * allowed_power_states (xapi_vm_lifecycle.ml).  The same judgement computes
 * allowed_operations and makes the check at the start of every operation, so that
 * the two cannot disagree. */
#include "vm_int.h"

#include <string.h>

#define H (1u << VM_PS_HALTED)
#define P (1u << VM_PS_PAUSED)
#define R (1u << VM_PS_RUNNING)
#define S (1u << VM_PS_SUSPENDED)

/* `named` is the state VM_BAD_POWER_STATE says the operation expects: the one it is
 * for (hard_shutdown is for a running VM, though a paused or suspended one stops
 * too).  Clients have always seen that one name, not xapi's list. */
static const struct vm_op_rule rules[VM_OP_COUNT] = {
    /*                         name                     from       named            template listed exclusive blockable */
    [VM_OP_START]          = {"start",                 H,         VM_PS_HALTED,    false, true,  true,  true},
    [VM_OP_START_ON]       = {"start_on",              H,         VM_PS_HALTED,    false, true,  true,  true},
    [VM_OP_PAUSE]          = {"pause",                 R,         VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_UNPAUSE]        = {"unpause",               P,         VM_PS_PAUSED,    false, true,  true,  true},
    [VM_OP_CLEAN_SHUTDOWN] = {"clean_shutdown",        R,         VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_CLEAN_REBOOT]   = {"clean_reboot",          R,         VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_HARD_SHUTDOWN]  = {"hard_shutdown",         R | P | S, VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_HARD_REBOOT]    = {"hard_reboot",           R | P,     VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_SHUTDOWN]       = {"shutdown",              R | P | S, VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_SUSPEND]        = {"suspend",               R,         VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_RESUME]         = {"resume",                S,         VM_PS_SUSPENDED, false, true,  true,  true},
    [VM_OP_RESUME_ON]      = {"resume_on",             S,         VM_PS_SUSPENDED, false, true,  true,  true},
    [VM_OP_POOL_MIGRATE]   = {"pool_migrate",          R,         VM_PS_RUNNING,   false, true,  true,  true},
    [VM_OP_CLONE]          = {"clone",                 H,         VM_PS_HALTED,    true,  true,  true,  true},
    [VM_OP_DESTROY]        = {"destroy",               H | S,     VM_PS_HALTED,    true,  true,  true,  true},
    /* not in allowed_operations (xapi leaves it out too); it clears current_operations,
     * so another operation does not stop it */
    [VM_OP_POWER_STATE_RESET] = {"power_state_reset",  H | P | R | S, VM_PS_HALTED, true, false, false, false},
    /* not an operation of the enum, but a change only a Halted VM takes */
    [VM_OP_SET_HAS_VENDOR_DEVICE] = {"set_has_vendor_device", H, VM_PS_HALTED,     true,  false, true,  false},
};

static const char *const state_names[VM_PS_COUNT] = {
    [VM_PS_HALTED] = "Halted",
    [VM_PS_PAUSED] = "Paused",
    [VM_PS_RUNNING] = "Running",
    [VM_PS_SUSPENDED] = "Suspended",
};

const struct vm_op_rule *vm_op_rule(enum vm_op op)
{
    assert(op >= 0 && op < VM_OP_COUNT);
    return &rules[op];
}

const char *vm_op_name(enum vm_op op)
{
    return vm_op_rule(op)->name;
}

const char *vm_ps_name(enum vm_ps ps)
{
    assert(ps >= 0 && ps < VM_PS_COUNT);
    return state_names[ps];
}

enum vm_ps vm_power_state(const xv *rec)
{
    const char *ps = rec_str(rec, "power_state");
    for (int i = 0; i < VM_PS_COUNT; i++)
        if (strcmp(ps, state_names[i]) == 0)
            return (enum vm_ps)i;
    /* the store only holds values of the enum */
    assert(!"a VM record without a power state");
    return VM_PS_HALTED;
}

enum verdict { OK, IN_PROGRESS, CONTROL_DOMAIN, BLOCKED, POWER_STATE, TEMPLATE };

/* The checks in one order for every operation: another operation holds the VM, the
 * control domain, blocked_operations, the power state, templates.  The daemon's own
 * actions (the monitor following a domain its guest stopped) only need the VM to
 * themselves: the rest are rules for clients. */
static enum verdict judge(const xv *rec, enum vm_op op, enum vm_by by)
{
    const struct vm_op_rule *r = vm_op_rule(op);
    const xv *cur = xv_struct_get(rec, "current_operations");
    if (r->exclusive && cur && cur->type == XV_STRUCT && cur->u.st.n > 0)
        return IN_PROGRESS;
    if (by == VM_BY_DAEMON)
        return OK;
    if (rec_bool(rec, "is_control_domain"))
        return CONTROL_DOMAIN;
    if (r->blockable && xv_struct_get(xv_struct_get(rec, "blocked_operations"), r->name))
        return BLOCKED;
    if (!(r->from & (1u << vm_power_state(rec))))
        return POWER_STATE;
    if (!r->on_template && rec_bool(rec, "is_a_template"))
        return TEMPLATE;
    return OK;
}

xerr *vm_op_check(const char *vm, const xv *rec, enum vm_op op, enum vm_by by)
{
    const struct vm_op_rule *r = vm_op_rule(op);
    switch (judge(rec, op, by)) {
    case OK:
        return NULL;
    case IN_PROGRESS: {
        const xv *cur = xv_struct_get(rec, "current_operations");
        return err_other_operation_in_progress("VM", vm, xv_str(cur->u.st.m[0].val), cur->u.st.m[0].key);
    }
    case CONTROL_DOMAIN:
        return err_operation_not_allowed("the control domain is managed by the host, not through the API");
    case BLOCKED: {
        _cleanup_free_ char *why = xasprintf("%s is blocked on this VM: %s", r->name,
                                             xv_str(xv_struct_get(xv_struct_get(rec, "blocked_operations"), r->name)));
        return err_operation_not_allowed(why);
    }
    case POWER_STATE: {
        _cleanup_free_ char *expected = lower_state(vm_ps_name(r->named));
        return bad_power_state(vm, expected, rec_str(rec, "power_state"));
    }
    case TEMPLATE:
        return err_vm_is_template(vm, r->name);
    }
    assert(!"unreachable");
    return NULL;
}

xv *vm_allowed_operations(const xv *rec)
{
    xv *ops = xv_array();
    for (int op = 0; op < VM_OP_COUNT; op++)
        if (rules[op].listed && judge(rec, (enum vm_op)op, VM_BY_CLIENT) == OK)
            xv_array_push(ops, xv_string(rules[op].name));
    return ops;
}
