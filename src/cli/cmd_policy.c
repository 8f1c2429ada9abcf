/* The pool's platform version policy and the deferred upgrade, in xe's style. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* vm-upgrade-schedule <selectors> version=N */
xerr *cmd_vm_upgrade_schedule(struct cli *c)
{
    const char *text = cli_arg(c, "version");
    int64_t v;
    if (!parse_int64(text, &v))
        return cli_usage("version= must be a whole number, not '%s'.", text);
    struct cli_selection s;
    xerr *e = cli_select(c, CLI_VM, &s);
    for (size_t i = 0; !e && i < s.n; i++) {
        struct cli_named a[] = {{"vm", xv_string(s.refs[i])}, {"version", xv_int(v)}};
        e = cli_invoke(c, "VM", "schedule_hardware_platform_upgrade", a, 2);
    }
    cli_selection_free(&s);
    return e;
}

xerr *cmd_vm_upgrade_cancel(struct cli *c)
{
    struct cli_selection s;
    xerr *e = cli_select(c, CLI_VM, &s);
    for (size_t i = 0; !e && i < s.n; i++) {
        struct cli_named a[] = {{"vm", xv_string(s.refs[i])}};
        e = cli_invoke(c, "VM", "cancel_hardware_platform_upgrade", a, 1);
    }
    cli_selection_free(&s);
    return e;
}

/* pool-platform-versions: what every live, enabled host offers, as xe prints a set */
xerr *cmd_pool_platform_versions(struct cli *c)
{
    xv *res = NULL;
    xerr *e = cli_call(c, &res, "pool.get_common_platform_versions", NULL);
    if (e)
        return e;
    const struct dm_type set_int = {.kind = DM_SET, .spelling = "set(int)",
                                    .elem = &(const struct dm_type){.kind = DM_INT, .spelling = "int"}};
    _cleanup_free_ char *s = cli_format(c, &set_int, res, c->o->minimal);
    printf("%s\n", s);
    xv_free(res);
    return NULL;
}
