/* bin/xe: a command-line client in the style of XenServer's xe (docs/xe.md). */
#include "cli.h"

#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct cli_opts o;
    struct cli c = {.o = &o, .progress = isatty(STDERR_FILENO) == 1};
    xerr *e = cli_parse_argv(argc, argv, &o);
    if (!e && !o.command && o.nargs)
        e = cli_usage("No command given. For usage run: 'xe help'");
    if (!e && !o.command)
        o.command = "help";
    if (!e && !(c.cmd = cli_command_find(o.command)))
        e = cli_usage("Unknown command: %s. For usage run: 'xe help'", o.command);
    if (!e)
        e = cli_check_args(&c);
    if (!e && !(c.cmd->flags & CMD_NOLOGIN))
        e = cli_connect(&c);
    if (!e)
        e = c.cmd->run(&c);
    int rc = CLI_EXIT_OK;
    if (e) {
        rc = cli_report(&c, e);
        xerr_free(e);
    }
    fflush(stdout);
    cli_disconnect(&c);
    cli_forget_refs(&c);
    cli_opts_free(&o);
    return rc;
}
