/* Host and task commands, and event-wait. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static xerr *each(struct cli *c, const char *prefix, const char *msg, bool sync)
{
    const struct cli_class *cc = cli_class_by_prefix(prefix);
    struct cli_selection s;
    xerr *e = cli_select(c, cc, &s);
    for (size_t i = 0; !e && i < s.n; i++) {
        if (sync) {
            _cleanup_free_ char *m = xasprintf("%s.%s", cc->cls, msg);
            e = cli_call(c, NULL, m, xv_string(s.refs[i]), NULL);
        } else {
            struct cli_named a[] = {{"self", xv_string(s.refs[i])}};
            e = cli_invoke(c, cc->cls, msg, a, 1);
        }
    }
    cli_selection_free(&s);
    return e;
}

xerr *cmd_host_enable(struct cli *c)
{
    return each(c, "host", "enable", false);
}

xerr *cmd_host_disable(struct cli *c)
{
    return each(c, "host", "disable", false);
}

xerr *cmd_pool_join(struct cli *c)
{
    struct cli_named a[] = {
        {"master_address", xv_string(cli_arg(c, "master-address"))},
        {"master_username", xv_string(cli_arg(c, "master-username"))},
        {"master_password", xv_string(cli_arg(c, "master-password"))},
    };
    return cli_invoke(c, "pool", "join", a, 3);
}

xerr *cmd_pool_eject(struct cli *c)
{
    char *host = NULL;
    xerr *e = cli_resolve(c, "host", "host-uuid", cli_arg(c, "host-uuid"), &host);
    if (e)
        return e;
    struct cli_named a[] = {{"host", xv_string_take(host)}};
    return cli_invoke(c, "pool", "eject", a, 1);
}

xerr *cmd_task_cancel(struct cli *c)
{
    /* a task to cancel a task would be one too many */
    return each(c, "task", "cancel", true);
}

/* ---- event-wait class=vm [field=value | field=/=value ...] [timeout=seconds] ---- */

struct cond {
    const struct dm_field *f;
    const char *want;
    bool negate;                 /* field=/=value: wait until it differs */
};

static const struct dm_field *dashed_field(const struct dm_class *dc, const char *name)
{
    for (size_t i = 0; i < dc->nfields; i++) {
        _cleanup_free_ char *d = cli_dashed(dc->fields[i].name);
        if (strcmp(d, name) == 0)
            return &dc->fields[i];
    }
    return NULL;
}

static bool holds(struct cli *c, const struct cond *k, size_t n, const xv *snap)
{
    for (size_t i = 0; i < n; i++) {
        const xv *v = xv_struct_get(snap, k[i].f->name);
        _cleanup_free_ char *s = v ? cli_format(c, k[i].f->type, v, false) : xstrdup("");
        enum dm_kind kind = k[i].f->type->kind;
        bool eq = kind == DM_ENUM || kind == DM_BOOL ? strcasecmp(s, k[i].want) == 0 : strcmp(s, k[i].want) == 0;
        if (eq == k[i].negate)
            return false;
    }
    return true;
}

xerr *cmd_event_wait(struct cli *c)
{
    const char *cls = cli_arg(c, "class");
    const struct dm_class *dc = dm_class_find_lower(cls);
    if (!dc || !dc->table)
        return cli_usage("Unknown class '%s'.", cls);
    double timeout = -1;
    const char *ts = cli_arg(c, "timeout");
    int64_t ti = 0;
    if (ts && (!parse_int64(ts, &ti) || ti < 0))
        return cli_usage("Invalid value for timeout: '%s' is not a number of seconds.", ts);
    if (ts)
        timeout = (double)ti;
    struct cond conds[c->o->nargs + 1];
    size_t n = 0;
    for (size_t i = 0; i < c->o->nargs; i++) {
        const char *k = c->o->args[i].key, *v = c->o->args[i].val;
        if (strcmp(k, "class") == 0 || strcmp(k, "timeout") == 0)
            continue;
        const struct dm_field *f = dashed_field(dc, k);
        if (!f)
            return cli_usage("Unknown parameter '%s': %s objects have no such field.", k, dc->name);
        bool neg = str_startswith(v, "/=");
        conds[n++] = (struct cond){f, neg ? v + 2 : v, neg};
    }
    double deadline = timeout >= 0 ? now_monotonic() + timeout : 0;
    char *token = xstrdup("");
    xerr *e = NULL;
    for (bool found = false; !found && !e;) {
        double wait = 30;
        if (timeout >= 0) {
            wait = deadline - now_monotonic();
            if (wait <= 0) {
                e = cli_fail("Timed out after %s seconds: no %s matched.", ts, dc->name);
                break;
            }
        }
        xv *classes = xv_array(), *r = NULL;
        xv_array_push(classes, xv_string(dc->lname));
        e = cli_call(c, &r, "event.from", classes, xv_string(token), xv_float(wait), NULL);
        if (e)
            break;
        const xv *evs = xv_struct_get(r, "events");
        for (size_t i = 0; evs && evs->type == XV_ARRAY && i < evs->u.arr.n && !found; i++) {
            const xv *snap = xv_struct_get(evs->u.arr.v[i], "snapshot");
            found = snap && snap->type == XV_STRUCT && holds(c, conds, n, snap);
        }
        const char *t = xv_struct_get_str(r, "token");
        if (t) {
            free(token);
            token = xstrdup(t);
        }
        xv_free(r);
    }
    free(token);
    return e;
}
