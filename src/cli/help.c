/* `xe help`: the command list, one command's parameters, and the machine-readable
 * lists scripts/xe-completion.bash reads (--minimal, --fields). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(void)
{
    printf("Usage: xe [-s server] [-p port] [-u user] [-pw password | -pwf file] COMMAND [param=value ...]\n"
           "          [--minimal] [--multiple] [--force] [--nossl] [--fingerprint SHA256]\n"
           "Without -s, xe talks to the local daemon over its unix socket.  With -s it uses HTTPS\n"
           "(port 443 unless -p): the server's certificate must have the SHA-256 fingerprint given\n"
           "with --fingerprint, else the one pinned for it in ~/.xe_known_hosts; the first connection\n"
           "to a server pins its certificate there.  --nossl: plain HTTP (port 8090 unless -p).\n"
           "Run 'xe help COMMAND' for a command's parameters; docs/xe.md has the rest.\n\n"
           "Commands:\n");
    size_t width = 0;
    for (const struct cli_cmd *c = cli_commands; c->name; c++)
        if (strlen(c->name) > width)
            width = strlen(c->name);
    int col = 0, cols = 3;
    for (const struct cli_cmd *c = cli_commands; c->name; c++) {
        bool last = ++col == cols || !c[1].name;
        printf("  %-*s", last ? 0 : (int)width, c->name);
        if (last) {
            putchar('\n');
            col = 0;
        }
    }
}

static void list_add(buf *b, const char *items)
{
    if (!items)
        return;
    _cleanup_free_ char *l = xstrdup(items);
    char *save = NULL;
    for (char *p = strtok_r(l, ",", &save); p; p = strtok_r(NULL, ",", &save))
        buf_printf(b, "%s%s", b->len ? ", " : "", p);
}

/* Words wrapped to the terminal's usual width, under a hanging indent. */
static void wrapped(const char *text, int indent)
{
    int col = indent;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, " ");
        if (col > indent && col + 1 + (int)len > 100) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            putchar(' ');
            col++;
        }
        printf("%.*s", (int)len, p);
        col += (int)len;
        p += len;
        while (*p == ' ')
            p++;
    }
    putchar('\n');
}

static void describe(const struct cli_cmd *cmd)
{
    buf reqd, opt;
    buf_init(&reqd);
    buf_init(&opt);
    list_add(&reqd, cmd->reqd);
    list_add(&opt, cmd->optional);
    if (cmd->cls && (cmd->flags & CMD_SELECT)) {
        _cleanup_free_ char *sel = xasprintf("uuid,%s,<%s-selectors>", cmd->cls->prefix, cmd->cls->prefix);
        list_add(&opt, sel);
        list_add(&opt, "--multiple");
    }
    if (cmd->cls && (cmd->flags & CMD_FIELDS) && cmd->run != cmd_list)
        list_add(&opt, "<param>=<value>");
    if (cmd->run == cmd_list) {
        _cleanup_free_ char *f = xasprintf("<%s-filters>,--minimal", cmd->cls->prefix);
        list_add(&opt, f);
    }
    printf("command name            : %s\n", cmd->name);
    printf("        reqd params     : %s\n", reqd.p ? reqd.p : "");
    printf("        optional params : %s\n", opt.p ? opt.p : "");
    printf("        description     : ");
    wrapped(cmd->help, 26);
    if (cmd->cls && (cmd->flags & CMD_SELECT)) {
        printf("                          ");
        _cleanup_free_ char *t = xasprintf(
            "Selecting %ss: uuid=, or %s= with a name or a uuid, or any param=value of '%s-list "
            "params=all' as a filter (power-state=halted).  When several match, --multiple is needed "
            "to act on all of them.",
            cmd->cls->display, cmd->cls->prefix, cmd->cls->prefix);
        wrapped(t, 26);
    }
    buf_free(&reqd);
    buf_free(&opt);
}

/* For completion: the parameters a command takes, or its class's param names,
 * separated by commas. */
struct names {
    const char *v[512];
    size_t n;
};

static void name_add(struct names *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0)
            return;
    if (l->n < sizeof(l->v) / sizeof(l->v[0]))
        l->v[l->n++] = name;
}

static void name_add_list(struct names *l, const char *items, char **keep)
{
    if (!items)
        return;
    *keep = xstrdup(items);
    char *save = NULL;
    for (char *p = strtok_r(*keep, ",", &save); p; p = strtok_r(NULL, ",", &save))
        name_add(l, p);
}

static void names(const struct cli_cmd *cmd, bool fields)
{
    struct names l = {.n = 0};
    char *k1 = NULL, *k2 = NULL;
    if (!fields) {
        name_add_list(&l, cmd->reqd, &k1);
        name_add_list(&l, cmd->optional, &k2);
        if (cmd->cls && (cmd->flags & CMD_SELECT)) {
            name_add(&l, "uuid");
            name_add(&l, cmd->cls->prefix);
        }
    }
    if (cmd->cls && (fields || (cmd->flags & (CMD_SELECT | CMD_FIELDS)))) {
        size_t n;
        const struct cli_pdesc *d = cli_params(cmd->cls, &n);
        for (size_t i = 0; i < n; i++)
            name_add(&l, d[i].name);
    }
    for (size_t i = 0; i < l.n; i++)
        printf("%s%s", i ? "," : "", l.v[i]);
    putchar('\n');
    free(k1);
    free(k2);
}

xerr *cmd_help(struct cli *c)
{
    const char *name = cli_arg(c, "command");
    if (!name) {
        if (c->o->minimal) {
            for (const struct cli_cmd *k = cli_commands; k->name; k++)
                printf("%s%s", k == cli_commands ? "" : ",", k->name);
            putchar('\n');
        } else {
            usage();
        }
        return NULL;
    }
    const struct cli_cmd *cmd = cli_command_find(name);
    if (!cmd)
        return cli_usage("Unknown command: %s. For usage run: 'xe help'", name);
    if (c->o->minimal || c->o->fields)
        names(cmd, c->o->fields);
    else
        describe(cmd);
    return NULL;
}
