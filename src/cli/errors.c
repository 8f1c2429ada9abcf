/* Errors as xe prints them: the error's description (from the datamodel), then one
 * `param: value` line per parameter, with refs shown as `uuid (name-label)`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The class a parameter named "vm" or "host" refers to. */
static const char *class_hint(const char *param)
{
    for (size_t i = 0; i < dm_nclasses; i++)
        if (dm_classes[i].table && strcasecmp(dm_classes[i].name, param) == 0)
            return dm_classes[i].name;
    return NULL;
}

static char *param_value(struct cli *c, const char *param, const char *v)
{
    if (c && c->rpc && c->session && str_startswith(v, "OpaqueRef:") && strcmp(v, REF_NULL) != 0)
        return cli_ref_describe(c, param ? class_hint(param) : NULL, v);
    return xstrdup(v);
}

void cli_describe_error(struct cli *c, const xerr *e, const char *indent, buf *b)
{
    if (xerr_is(e, XERR_CLI_USAGE) || xerr_is(e, XERR_CLI_FAILED)) {
        buf_printf(b, "%s%s\n", indent, e->nparams ? e->params[0] : "");
        return;
    }
    const struct dm_error *de = dm_error_find(e->code);
    if (!de) {
        /* what xe prints for an error it has no description of */
        buf_printf(b, "%sError code: %s\n%sError parameters: ", indent, e->code, indent);
        for (size_t i = 0; i < e->nparams; i++) {
            _cleanup_free_ char *v = param_value(c, NULL, e->params[i]);
            buf_printf(b, "%s%s", i ? ", " : "", v);
        }
        buf_adds(b, "\n");
        return;
    }
    buf_printf(b, "%s%s\n", indent, de->doc);
    for (size_t i = 0; i < e->nparams; i++) {
        const char *name = i < de->nparams ? de->params[i] : NULL;
        _cleanup_free_ char *v = param_value(c, name, e->params[i]);
        if (name)
            buf_printf(b, "%s%s: %s\n", indent, name, v);
        else
            buf_printf(b, "%sparam %zu: %s\n", indent, i + 1, v);
    }
}

int cli_report(struct cli *c, const xerr *e)
{
    buf b;
    buf_init(&b);
    cli_describe_error(c, e, "", &b);
    fflush(stdout);
    fputs(b.p ? b.p : "", stderr);
    buf_free(&b);
    return xerr_is(e, XERR_CLI_USAGE) ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
}
