/* Internal to src/cli: the xe-style command-line client.
 *
 * Everything about a class's parameters (names, RO/RW tags, value formatting,
 * param-get/set/add/remove) comes from the datamodel tables (dm.h); the few things
 * xe does differently from the datamodel are small tables in params.c. */
#ifndef XENAPID_CLI_H
#define XENAPID_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "dm_gen.h"
#include "rpc.h"
#include "util.h"
#include "wire.h"
#include "xerr.h"
#include "xv.h"

/* Exit codes (docs/xe.md). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1        /* the server refused, nothing matched, cannot connect */
#define CLI_EXIT_USAGE 2         /* the command line is wrong */

/* Errors the client raises itself travel as xerrs, so that one printer handles every
 * failure: CLI_USAGE [message] (exit 2) and CLI_FAILED [message] (exit 1), declared
 * in the datamodel as client-side codes. */
xerr *cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
xerr *cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the command line (args.c) ---- */
struct cli_arg {
    char *key, *val;
};

struct cli_opts {
    const char *server, *port, *user, *password, *password_file;
    bool nossl;                                  /* plain HTTP to -s */
    char fingerprint[RPC_FINGERPRINT_LEN + 1];   /* --fingerprint, normalized; "" if none */
    bool minimal, multiple, force, all, fields;
    const char *command;
    struct cli_arg *args;
    size_t nargs;
};

xerr *cli_parse_argv(int argc, char **argv, struct cli_opts *o);
void cli_opts_free(struct cli_opts *o);

/* ---- which servers to trust over HTTPS (trust.c) ---- */
/* The rpc_cert_check of xe (ctx: its struct cli_opts): --fingerprint, else the pin in
 * ~/.xe_known_hosts, else trust on first use and pin. */
xerr *cli_trust_check(void *ctx, const char *host, const char *port, const char *fingerprint);

/* ---- classes and their parameters (params.c) ---- */

/* A parameter as xe shows it: a field of the class itself, a field of an object
 * one of its ref fields points to (xe's vm-param-list shows the guest metrics'
 * PV-drivers-version), or a value computed by a message (possible-hosts). */
struct cli_pdesc {
    char *name;                           /* "PV-drivers-version" */
    const struct dm_field *field;         /* the field holding the value */
    const struct dm_field *via;           /* NULL, or the ref field of the main class */
    const char *message;                  /* expensive: "get_possible_hosts" (field NULL) */
    const char *message_class;            /* the class of the refs it returns */
    bool writable;                        /* settable through the CLI */
    const char *tag;                      /* RO RW MRO MRW */
};

struct cli_class {
    const char *prefix;                   /* "vm": vm-list, vm-param-get, vm= */
    const char *cls;                      /* "VM" */
    const char *display;                  /* "VM", for messages */
    const char *list_params;              /* the columns of <prefix>-list */
    /* Objects with one of these params true are left out unless the command line
     * names the param (as xe's vm-list leaves out templates): by <prefix>-list, and
     * by the commands that act on objects. */
    const char *list_hide, *select_hide;
};

extern const struct cli_class cli_classes[];
/* cli_classes[] in order, for the command table */
#define CLI_VM (&cli_classes[0])
#define CLI_HOST (&cli_classes[1])
#define CLI_POOL (&cli_classes[2])
#define CLI_TASK (&cli_classes[3])
const struct cli_class *cli_class_by_prefix(const char *prefix);
const struct dm_class *cli_dm_class(const struct cli_class *cc);
/* Every parameter of the class, in the order xe prints them. */
const struct cli_pdesc *cli_params(const struct cli_class *cc, size_t *n);
const struct cli_pdesc *cli_param_find(const struct cli_class *cc, const char *name);
/* xe's spelling of a field name: underscores become dashes. Caller frees. */
char *cli_dashed(const char *field);

/* ---- talking to the daemon (conn.c) ---- */
struct cli {
    struct cli_opts *o;
    const struct cli_cmd *cmd;
    struct rpc_client *rpc;
    char *url;
    char *session;
    struct strmap *refs;                  /* ref -> "uuid\tname-label" (or "" when unknown) */
    bool progress;                        /* show task progress (a terminal) */
};

xerr *cli_connect(struct cli *c);
void cli_disconnect(struct cli *c);
/* Call method with the session first, then the given values (owned, NULL-terminated).
 * *result may be NULL when the caller does not want it. */
xerr *cli_call(struct cli *c, xv **result, const char *method, ...) __attribute__((sentinel));
xerr *cli_call_arr(struct cli *c, const char *method, xv *params, xv **result);
bool cli_has_method(const char *cls, const char *msg);

/* ---- arguments of the current command (args.c) ---- */
const char *cli_arg(struct cli *c, const char *key);
bool cli_arg_bool(struct cli *c, const char *key, bool dflt, xerr **e);
/* Check the command line against the command's declared parameters. */
xerr *cli_check_args(struct cli *c);

/* ---- values (format.c) ---- */
/* A value as xe prints it.  minimal: sets separated by ',' as --minimal wants. */
char *cli_format(struct cli *c, const struct dm_type *t, const xv *v, bool minimal);
/* A ref as xe shows it in a record: the object's uuid, or <not in database>. */
const char *cli_ref_uuid(struct cli *c, const char *cls, const char *ref);
/* "uuid (name-label)" for a ref of any class (cls may be NULL), else the ref itself.
 * Caller frees. */
char *cli_ref_describe(struct cli *c, const char *cls, const char *ref);
void cli_forget_refs(struct cli *c);
/* Text from the command line to a value of type t (refs by uuid or name). */
xerr *cli_parse_value(struct cli *c, const struct dm_type *t, const char *param, const char *s, xv **out);

/* ---- records (record.c) ---- */
struct cli_param {
    const struct cli_pdesc *d;
    char *value;                          /* as xe prints it */
    xv *raw;                              /* as received; NULL for computed values */
};

struct cli_record {
    char *ref;
    struct cli_param *p;
    size_t n;
};

/* Build the params in want (all non-expensive ones when NULL) of the object ref
 * whose record is rec. */
xerr *cli_record_build(struct cli *c, const struct cli_class *cc, const char *ref, const xv *rec,
                       const struct cli_pdesc *const *want, size_t nwant, struct cli_record *out);
void cli_record_free(struct cli_record *r);
const struct cli_param *cli_record_get(const struct cli_record *r, const char *name);
/* Print as xe: the first line's name left-aligned, the others right-aligned so
 * that the colons line up. */
void cli_record_print(const struct cli_record *r);
/* Print name/tag/value triples the same way (values may span lines). */
void cli_print_lines(const char *const *names, const char *const *tags, const char *const *values, size_t n);

/* ---- choosing objects (select.c) ---- */
struct cli_selection {
    size_t n;
    char **refs;
    xv **recs;                            /* their records */
};

/* The objects the command line names: uuid=, <prefix>= (name or uuid), and
 * field=value filters.  One object unless --multiple. */
xerr *cli_select(struct cli *c, const struct cli_class *cc, struct cli_selection *out);
void cli_selection_free(struct cli_selection *s);
/* False for an object hidden by the comma-separated params in hide (templates). */
bool cli_visible(struct cli *c, const struct cli_class *cc, const xv *rec, const char *hide);
/* Does the record match every filter on the command line? */
xerr *cli_filters_match(struct cli *c, const struct cli_class *cc, const char *ref, const xv *rec,
                        bool *match);
/* Resolve a host (or other) given by uuid or name. */
xerr *cli_resolve(struct cli *c, const char *cls, const char *param, const char *s, char **ref);

/* ---- errors (errors.c) ---- */
/* Print e as xe does; returns the exit code. */
int cli_report(struct cli *c, const xerr *e);
/* Write e's description and parameter lines to b, each line prefixed by indent. */
void cli_describe_error(struct cli *c, const xerr *e, const char *indent, buf *b);

/* ---- tasks (task.c) ---- */
/* Run Async.<method>, show progress on a terminal, and wait for the outcome. */
xerr *cli_run_task(struct cli *c, const char *method, xv *params);
/* Call cls.msg with the named values, as the datamodel declares its parameters;
 * as a task when it has an Async form.  The name "self" stands for the object
 * acted on (the first parameter that is a ref of cls).  Takes the values. */
struct cli_named {
    const char *name;
    xv *val;
};
xerr *cli_invoke(struct cli *c, const char *cls, const char *msg, struct cli_named *args, size_t n);

/* ---- commands (commands.c and cmd_*.c) ---- */
enum {
    CMD_NOLOGIN = 1 << 0,      /* help */
    CMD_SELECT = 1 << 1,       /* takes uuid=, <prefix>= and field=value selectors */
    CMD_FIELDS = 1 << 2,       /* any param of the class as key=value (filters, settings) */
    CMD_MAPKEYS = 1 << 3,      /* param:key=value */
    CMD_ANYKEY = 1 << 4,       /* any key (map entries) */
};

struct cli_cmd {
    const char *name;
    xerr *(*run)(struct cli *c);
    const struct cli_class *cls;
    const char *reqd;          /* comma-separated */
    const char *optional;
    unsigned flags;
    const char *help;
};

extern const struct cli_cmd cli_commands[];
const struct cli_cmd *cli_command_find(const char *name);
/* The class a generic command works on. */
const struct cli_class *cli_cmd_class(struct cli *c);

xerr *cmd_list(struct cli *c);
xerr *cmd_param_list(struct cli *c);
xerr *cmd_param_get(struct cli *c);
xerr *cmd_param_set(struct cli *c);
xerr *cmd_param_add(struct cli *c);
xerr *cmd_param_remove(struct cli *c);
xerr *cmd_param_clear(struct cli *c);
xerr *cmd_vm_install(struct cli *c);
xerr *cmd_vm_create(struct cli *c);
xerr *cmd_vm_uninstall(struct cli *c);
xerr *cmd_vm_destroy(struct cli *c);
xerr *cmd_vm_start(struct cli *c);
xerr *cmd_vm_shutdown(struct cli *c);
xerr *cmd_vm_reboot(struct cli *c);
xerr *cmd_vm_pause(struct cli *c);
xerr *cmd_vm_unpause(struct cli *c);
xerr *cmd_vm_suspend(struct cli *c);
xerr *cmd_vm_resume(struct cli *c);
xerr *cmd_vm_migrate(struct cli *c);
xerr *cmd_vm_boot_check(struct cli *c);
xerr *cmd_vm_virtual_hardware(struct cli *c);
xerr *cmd_host_enable(struct cli *c);
xerr *cmd_pool_join(struct cli *c);
xerr *cmd_pool_eject(struct cli *c);
xerr *cmd_host_disable(struct cli *c);
xerr *cmd_task_cancel(struct cli *c);
xerr *cmd_event_wait(struct cli *c);
xerr *cmd_help(struct cli *c);
xerr *cmd_vm_upgrade_schedule(struct cli *c);
xerr *cmd_vm_upgrade_cancel(struct cli *c);
xerr *cmd_pool_platform_versions(struct cli *c);
xerr *cmd_vm_export(struct cli *c);
xerr *cmd_vm_import(struct cli *c);

#endif
