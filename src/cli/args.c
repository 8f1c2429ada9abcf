/* The command line: xe's global options, the command, its key=value parameters and
 * --flags, and the check of those parameters against the command's declaration. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static xerr *vmsg(xerr *(*raise)(const char *message), const char *fmt, va_list ap)
{
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        abort();
    xerr *e = raise(m);
    free(m);
    return e;
}

xerr *cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xerr *e = vmsg(err_cli_usage, fmt, ap);
    va_end(ap);
    return e;
}

xerr *cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xerr *e = vmsg(err_cli_failed, fmt, ap);
    va_end(ap);
    return e;
}

/* Options that take a value, as xe spells them. */
static const char **option_slot(struct cli_opts *o, const char *opt)
{
    if (strcmp(opt, "-s") == 0)
        return &o->server;
    if (strcmp(opt, "-p") == 0)
        return &o->port;
    if (strcmp(opt, "-u") == 0)
        return &o->user;
    if (strcmp(opt, "-pw") == 0)
        return &o->password;
    if (strcmp(opt, "-pwf") == 0)
        return &o->password_file;
    return NULL;
}

static bool *flag_slot(struct cli_opts *o, const char *flag)
{
    if (strcmp(flag, "--minimal") == 0)
        return &o->minimal;
    if (strcmp(flag, "--multiple") == 0)
        return &o->multiple;
    if (strcmp(flag, "--force") == 0)
        return &o->force;
    if (strcmp(flag, "--all") == 0)
        return &o->all;
    if (strcmp(flag, "--fields") == 0)
        return &o->fields;
    return NULL;
}

/* Options and flags may come before or after the command, as xe allows. */
xerr *cli_parse_argv(int argc, char **argv, struct cli_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->args = xcalloc((size_t)argc + 1, sizeof(*o->args));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = option_slot(o, a);
        bool *flag = flag_slot(o, a);
        if (slot) {
            if (i + 1 >= argc)
                return cli_usage("Option %s needs a value.", a);
            *slot = argv[++i];
        } else if (flag) {
            *flag = true;
        } else if (strcmp(a, "--nossl") == 0) {
            o->nossl = true;
        } else if (strcmp(a, "--fingerprint") == 0 || str_startswith(a, "--fingerprint=")) {
            const char *fp = a[13] == '=' ? a + 14 : i + 1 < argc ? argv[++i] : NULL;
            if (!fp)
                return cli_usage("Option %s needs a value.", a);
            if (!rpc_fingerprint_parse(fp, o->fingerprint))
                return cli_usage("--fingerprint %s: not a SHA-256 fingerprint (64 hex digits, colons "
                                 "allowed).", fp);
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            if (!o->command)
                o->command = "help";
        } else if (a[0] == '-' && !strchr(a, '=')) {
            return cli_usage("Unknown option '%s'. See 'xe help'.", a);
        } else if (!o->command && !strchr(a, '=')) {
            o->command = a;
        } else {
            const char *eq = strchr(a, '=');
            if (!eq) {
                if (o->command && strcmp(o->command, "help") == 0 && o->nargs == 0) {
                    /* `xe help vm-start`: the command asked about */
                    o->args[o->nargs].key = xstrdup("command");
                    o->args[o->nargs++].val = xstrdup(a);
                    continue;
                }
                return cli_usage("Invalid argument '%s': parameters are written key=value.", a);
            }
            if (eq == a)
                return cli_usage("Invalid argument '%s': the parameter name is missing.", a);
            o->args[o->nargs].key = xstrndup(a, (size_t)(eq - a));
            o->args[o->nargs++].val = xstrdup(eq + 1);
        }
    }
    return NULL;
}

void cli_opts_free(struct cli_opts *o)
{
    for (size_t i = 0; i < o->nargs; i++) {
        free(o->args[i].key);
        free(o->args[i].val);
    }
    free(o->args);
}

const char *cli_arg(struct cli *c, const char *key)
{
    for (size_t i = 0; i < c->o->nargs; i++)
        if (strcmp(c->o->args[i].key, key) == 0)
            return c->o->args[i].val;
    return NULL;
}

bool cli_arg_bool(struct cli *c, const char *key, bool dflt, xerr **e)
{
    const char *v = cli_arg(c, key);
    bool b = dflt;
    if (v && !parse_bool(v, &b))
        *e = cli_usage("Invalid value for %s: '%s' (expected true or false).", key, v);
    return b;
}

static bool in_list(const char *list, const char *key)
{
    if (!list)
        return false;
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, key, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* "other-config:key": a map param and one of its keys. */
static bool is_map_key(const struct cli_class *cc, const char *key)
{
    const char *colon = strchr(key, ':');
    if (!cc || !colon)
        return false;
    _cleanup_free_ char *name = xstrndup(key, (size_t)(colon - key));
    const struct cli_pdesc *d = cli_param_find(cc, name);
    return d && d->field && d->field->type->kind == DM_MAP;
}

xerr *cli_check_args(struct cli *c)
{
    const struct cli_cmd *cmd = c->cmd;
    const struct cli_class *cc = cmd->cls;
    for (size_t i = 0; i < c->o->nargs; i++) {
        const char *k = c->o->args[i].key;
        if (in_list(cmd->reqd, k) || in_list(cmd->optional, k))
            continue;
        if (cmd->flags & CMD_ANYKEY)
            continue;
        if (cc && (cmd->flags & CMD_SELECT) && strcmp(k, cc->prefix) == 0)
            continue;
        if (cc && (cmd->flags & (CMD_SELECT | CMD_FIELDS)) && cli_param_find(cc, k))
            continue;
        if (cc && (cmd->flags & (CMD_SELECT | CMD_MAPKEYS)) && is_map_key(cc, k))
            continue;
        if (cc && (cmd->flags & (CMD_SELECT | CMD_FIELDS)) && !strchr(k, ':'))
            return cli_usage("Unknown parameter '%s': %s objects have no such field. See 'xe help %s'.",
                             k, cc->display, cmd->name);
        return cli_usage("Unknown parameter '%s' for %s. See 'xe help %s'.", k, cmd->name, cmd->name);
    }
    if (cmd->reqd) {
        _cleanup_free_ char *list = xstrdup(cmd->reqd);
        char *save = NULL;
        for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
            if (!cli_arg(c, p))
                return cli_usage("Required parameter not found: %s. See 'xe help %s'.", p, cmd->name);
    }
    return NULL;
}
