/* VM lifecycle commands.  Each selects its VMs the way xe does and calls the
 * message the datamodel declares, as a task when it has an Async form. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef xerr *(*vm_op)(struct cli *c, const char *vm, void *ctx);

static xerr *each_vm(struct cli *c, vm_op op, void *ctx)
{
    struct cli_selection s;
    xerr *e = cli_select(c, cli_class_by_prefix("vm"), &s);
    for (size_t i = 0; !e && i < s.n; i++)
        e = op(c, s.refs[i], ctx);
    cli_selection_free(&s);
    return e;
}

static xerr *simple(struct cli *c, const char *vm, const char *msg)
{
    struct cli_named a[] = {{"self", xv_string(vm)}};
    return cli_invoke(c, "VM", msg, a, 1);
}

static bool forced(struct cli *c, xerr **e)
{
    return cli_arg_bool(c, "force", c->o->force, e);
}

/* ---- why a VM cannot start: VM.get_boot_check_results ---- */

/* The error a start on host would raise, as [CODE, params...]; NULL for OK. */
static xerr *check_error(const xv *reasons)
{
    return wire_error_from_list(reasons);
}

static xerr *boot_checks(struct cli *c, const char *vm, xv **out)
{
    return cli_call(c, out, "VM.get_boot_check_results", xv_string(vm), NULL);
}

/* NO_HOSTS_AVAILABLE says nothing about why: add each host's reason, so the user
 * sees at once what to fix. */
static xerr *explain_no_hosts(struct cli *c, const char *vm, xerr *e)
{
    if (!xerr_is(e, XERR_NO_HOSTS_AVAILABLE))
        return e;
    xv *res = NULL;
    xerr *q = boot_checks(c, vm, &res);
    if (q) {
        xerr_free(q);
        return e;
    }
    buf b;
    buf_init(&b);
    cli_describe_error(c, e, "", &b);
    buf_adds(&b, "Why each host cannot start the VM:\n");
    for (size_t i = 0; res->type == XV_STRUCT && i < res->u.st.n; i++) {
        _cleanup_free_ char *host = cli_ref_describe(c, "host", res->u.st.m[i].key);
        xerr *why = check_error(res->u.st.m[i].val);
        buf_printf(&b, "host %s:%s\n", host, why ? "" : " it can start the VM now");
        if (why)
            cli_describe_error(c, why, "    ", &b);
        xerr_free(why);
    }
    xv_free(res);
    if (b.len && b.p[b.len - 1] == '\n')
        b.p[--b.len] = 0;
    xerr *r = cli_fail("%s", b.p);
    buf_free(&b);
    xerr_free(e);
    return r;
}

struct start_ctx {
    char *host;                  /* on= */
    bool paused, force;
    const char *msg, *msg_on;    /* start/start_on or resume/resume_on */
};

static xerr *start_one(struct cli *c, const char *vm, void *p)
{
    struct start_ctx *s = p;
    struct cli_named a[] = {
        {"self", xv_string(vm)},
        {"host", s->host ? xv_string(s->host) : NULL},
        {"start_paused", xv_bool(s->paused)},
        {"force", xv_bool(s->force)},
    };
    xerr *e = cli_invoke(c, "VM", s->host ? s->msg_on : s->msg, a, 4);
    return explain_no_hosts(c, vm, e);
}

static xerr *start_or_resume(struct cli *c, const char *msg, const char *msg_on)
{
    xerr *e = NULL;
    struct start_ctx s = {.msg = msg, .msg_on = msg_on};
    s.paused = cli_arg_bool(c, "paused", false, &e);
    if (!e)
        s.force = forced(c, &e);
    const char *on = cli_arg(c, "on");
    if (!e && on)
        e = cli_resolve(c, "host", "on", on, &s.host);
    if (!e)
        e = each_vm(c, start_one, &s);
    free(s.host);
    return e;
}

xerr *cmd_vm_start(struct cli *c)
{
    return start_or_resume(c, "start", "start_on");
}

xerr *cmd_vm_resume(struct cli *c)
{
    return start_or_resume(c, "resume", "resume_on");
}

static xerr *op_msg(struct cli *c, const char *vm, void *msg)
{
    return simple(c, vm, msg);
}

xerr *cmd_vm_shutdown(struct cli *c)
{
    xerr *e = NULL;
    bool force = forced(c, &e);
    if (e)
        return e;
    /* xe's vm-shutdown is VM.shutdown: clean, then hard if the guest ignores it */
    const char *msg = force ? "hard_shutdown" : cli_has_method("VM", "shutdown") ? "shutdown" : "clean_shutdown";
    return each_vm(c, op_msg, (void *)msg);
}

xerr *cmd_vm_reboot(struct cli *c)
{
    xerr *e = NULL;
    bool force = forced(c, &e);
    return e ? e : each_vm(c, op_msg, force ? "hard_reboot" : "clean_reboot");
}

xerr *cmd_vm_pause(struct cli *c)
{
    return each_vm(c, op_msg, "pause");
}

xerr *cmd_vm_unpause(struct cli *c)
{
    return each_vm(c, op_msg, "unpause");
}

xerr *cmd_vm_suspend(struct cli *c)
{
    return each_vm(c, op_msg, "suspend");
}

struct migrate_ctx {
    char *host;
    bool live;
};

static xerr *migrate_one(struct cli *c, const char *vm, void *p)
{
    struct migrate_ctx *m = p;
    xv *options = xv_struct();
    if (m->live)
        xv_struct_set(options, "live", xv_string("true"));
    struct cli_named a[] = {{"self", xv_string(vm)}, {"host", xv_string(m->host)}, {"options", options}};
    return cli_invoke(c, "VM", "pool_migrate", a, 3);
}

xerr *cmd_vm_migrate(struct cli *c)
{
    struct migrate_ctx m = {0};
    xerr *e = NULL;
    m.live = cli_arg_bool(c, "live", false, &e);
    if (!e)
        e = cli_resolve(c, "host", "host", cli_arg(c, "host"), &m.host);
    if (!e)
        e = each_vm(c, migrate_one, &m);
    free(m.host);
    return e;
}

/* ---- vm-boot-check: every host, whether the VM can start there and why not ---- */

static xerr *boot_check_one(struct cli *c, const char *vm, void *unused)
{
    (void)unused;
    xv *res = NULL;
    xerr *e = boot_checks(c, vm, &res);
    if (e)
        return e;
    bool first = true;
    for (size_t i = 0; res->type == XV_STRUCT && i < res->u.st.n; i++) {
        const char *host = res->u.st.m[i].key;
        xerr *why = check_error(res->u.st.m[i].val);
        if (c->o->minimal) {
            /* the hosts it can start on, like possible-hosts */
            if (!why)
                printf("%s%s", first ? "" : ",", cli_ref_uuid(c, "host", host));
            first &= why != NULL;
            xerr_free(why);
            continue;
        }
        buf reason;
        buf_init(&reason);
        if (why)
            cli_describe_error(c, why, "", &reason);
        if (reason.len && reason.p[reason.len - 1] == '\n')
            reason.p[--reason.len] = 0;
        _cleanup_free_ char *hv = NULL;
        xv *name = NULL;
        xerr *ne = cli_call(c, &name, "host.get_name_label", xv_string(host), NULL);
        hv = xstrdup(!ne && xv_str(name) ? xv_str(name) : "");
        xerr_free(ne);
        xv_free(name);
        const char *names[] = {"uuid", "name-label", "can-boot", "error-code", "reason"};
        const char *tags[] = {"RO", "RO", "RO", "RO", "RO"};
        const char *values[] = {cli_ref_uuid(c, "host", host), hv, why ? "false" : "true",
                                why ? why->code : "", reason.p ? reason.p : ""};
        cli_print_lines(names, tags, values, 5);
        fputs("\n\n", stdout);
        buf_free(&reason);
        xerr_free(why);
    }
    if (c->o->minimal)
        putchar('\n');
    xv_free(res);
    return NULL;
}

xerr *cmd_vm_boot_check(struct cli *c)
{
    return each_vm(c, boot_check_one, NULL);
}

/* ---- vm-virtual-hardware: the XML of the hardware the VM gets ---- */

static xerr *virtual_hardware_one(struct cli *c, const char *vm, void *unused)
{
    (void)unused;
    xv *doc = NULL;
    xerr *e = cli_call(c, &doc, "VM.get_virtual_hardware", xv_string(vm), NULL);
    if (!e)
        fputs(xv_str(doc) ? xv_str(doc) : "", stdout);
    xv_free(doc);
    return e;
}

xerr *cmd_vm_virtual_hardware(struct cli *c)
{
    return each_vm(c, virtual_hardware_one, NULL);
}

/* ---- vm-install / vm-create ---- */

struct field_setting {
    const struct dm_field *f;
    xv *val;
};

/* The key=value pairs that set fields of the new VM; StaticRO fields can be given
 * only in the create record, so they are refused when copying a template. */
static xerr *install_settings(struct cli *c, bool from_template, struct field_setting *s, size_t *n)
{
    const struct cli_class *cc = cli_class_by_prefix("vm");
    *n = 0;
    for (size_t i = 0; i < c->o->nargs; i++) {
        const char *k = c->o->args[i].key;
        if (strcmp(k, "new-name-label") == 0 || strcmp(k, "template") == 0)
            continue;
        const struct cli_pdesc *d = cli_param_find(cc, k);
        if (!d)
            return cli_usage("Unknown parameter '%s': VM objects have no such field.", k);
        bool in_record = d->field && !d->via && d->field->qual == DM_STATIC_RO;
        if (!d->field || d->via || !(d->writable || in_record))
            return cli_fail("The parameter '%s' is read-only.", k);
        if (from_template && !d->writable)
            return cli_fail("The parameter '%s' can only be given when a VM is created, "
                            "not when it is copied from a template.", k);
        xerr *e = cli_parse_value(c, d->field->type, k, c->o->args[i].val, &s[*n].val);
        if (e)
            return e;
        s[(*n)++].f = d->field;
    }
    return NULL;
}

static xerr *print_uuid(struct cli *c, const char *ref)
{
    xv *u = NULL;
    xerr *e = cli_call(c, &u, "VM.get_uuid", xv_string(ref), NULL);
    if (!e)
        printf("%s\n", xv_str(u) ? xv_str(u) : "");
    xv_free(u);
    return e;
}

static xerr *install(struct cli *c, const char *name, const char *template)
{
    struct field_setting s[c->o->nargs + 1];
    size_t n = 0;
    xerr *e = install_settings(c, template != NULL, s, &n);
    xv *ref = NULL;
    if (!e && !template) {
        xv *rec = xv_struct();
        if (name)
            xv_struct_set(rec, "name_label", xv_string(name));
        for (size_t i = 0; i < n; i++) {
            xv_struct_set(rec, s[i].f->name, s[i].val);
            s[i].val = NULL;
        }
        e = cli_call(c, &ref, "VM.create", rec, NULL);
    } else if (!e) {
        char *tref = NULL;
        e = cli_resolve(c, "VM", "template", template, &tref);
        if (!e)
            e = cli_call(c, &ref, "VM.clone", xv_string(tref), xv_string(name), NULL);
        free(tref);
        /* the copy of a template is a VM */
        if (!e)
            e = cli_call(c, NULL, "VM.set_is_a_template", xv_string(xv_str(ref)), xv_bool(false), NULL);
        for (size_t i = 0; !e && i < n; i++) {
            _cleanup_free_ char *m = xasprintf("VM.set_%s", s[i].f->name);
            e = cli_call(c, NULL, m, xv_string(xv_str(ref)), s[i].val, NULL);
            s[i].val = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        xv_free(s[i].val);
    if (!e)
        e = print_uuid(c, xv_str(ref));
    xv_free(ref);
    return e;
}

xerr *cmd_vm_install(struct cli *c)
{
    return install(c, cli_arg(c, "new-name-label"), cli_arg(c, "template"));
}

xerr *cmd_vm_create(struct cli *c)
{
    return install(c, NULL, NULL);
}

/* ---- vm-uninstall / vm-destroy ---- */

static xerr *destroy_one(struct cli *c, const char *vm, void *unused)
{
    (void)unused;
    return simple(c, vm, "destroy");
}

static xerr *confirm(struct cli *c, struct cli_selection *s)
{
    printf("The following items are about to be destroyed\n");
    for (size_t i = 0; i < s->n; i++) {
        _cleanup_free_ char *d = cli_ref_describe(c, "VM", s->refs[i]);
        printf("VM : %s\n", d);
    }
    printf("Type 'yes' to continue\n");
    fflush(stdout);
    char line[64] = "";
    if (!fgets(line, sizeof(line), stdin))
        line[0] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (strcmp(line, "yes") != 0)
        return cli_fail("Aborted: nothing was destroyed.");
    return NULL;
}

xerr *cmd_vm_uninstall(struct cli *c)
{
    struct cli_selection s;
    xerr *e = NULL;
    bool force = forced(c, &e);
    if (!e)
        e = cli_select(c, cli_class_by_prefix("vm"), &s);
    if (e)
        return e;
    /* xe asks before destroying, unless --force */
    if (!force)
        e = confirm(c, &s);
    for (size_t i = 0; !e && i < s.n; i++)
        e = destroy_one(c, s.refs[i], NULL);
    if (!e)
        printf("All objects destroyed\n");
    cli_selection_free(&s);
    return e;
}

xerr *cmd_vm_destroy(struct cli *c)
{
    return each_vm(c, destroy_one, NULL);
}
