/* vm-export and vm-import of a VM's metadata, as xe does them: a task made first
 * (task.create), the HTTP handler given session_id and task_id, the outcome read
 * from the task, and a progress bar on a terminal while bytes move. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A transfer shorter than this finishes before a bar would be read. */
#define PROGRESS_MIN_BYTES (64u << 10)

struct bar {
    int last;                    /* percent last drawn, -1: none */
};

static void show(void *ctx, size_t done, size_t total)
{
    struct bar *b = ctx;
    if (total < PROGRESS_MIN_BYTES)
        return;
    int pct = (int)(done * 100 / total), bars = pct * 30 / 100;
    if (pct == b->last)
        return;
    b->last = pct;
    fprintf(stderr, "\r[%.*s%*s] %3d%%", bars, "##############################", 30 - bars, "", pct);
    if (pct == 100)
        fputc('\n', stderr);
    fflush(stderr);
}

static void add_query(buf *b, const char *key, const char *val)
{
    buf_printf(b, "%c%s=", strchr(b->p, '?') ? '&' : '?', key);
    for (const unsigned char *p = (const unsigned char *)val; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~:", *p))
            buf_addc(b, (char)*p);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

static xerr *metadata_only(struct cli *c)
{
    xerr *e = NULL;
    bool md = cli_arg_bool(c, "metadata", false, &e);
    if (!e && !md)
        e = cli_fail("Only metadata exports and imports are supported here: give metadata=true.");
    return e;
}

/* The HTTP answer of a transfer: 200, or the XenAPI error the body names. */
static xerr *answer_error(int status, const buf *body)
{
    if (status == 200)
        return NULL;
    xv *l = NULL;
    xerr *e = wire_json_parse(body->p ? body->p : "", body->len, &l);
    xerr *r = e ? NULL : wire_error_from_list(l);
    xerr_free(e);
    xv_free(l);
    return r ? r : cli_fail("The server answered HTTP %d: %.*s", status, (int)(body->len > 200 ? 200 : body->len),
                            body->p ? body->p : "");
}

/* A task for the transfer, as xe makes one. */
static xerr *new_task(struct cli *c, const char *label, char **task)
{
    xv *t = NULL;
    xerr *e = cli_call(c, &t, "task.create", xv_string(label), xv_string(""), NULL);
    if (!e)
        *task = xstrdup(xv_str(t));
    xv_free(t);
    return e;
}

static void forget_task(struct cli *c, const char *task)
{
    xerr_free(cli_call(c, NULL, "task.destroy", xv_string(task), NULL));
}

static xerr *spill(const char *path, const buf *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cli_fail("Cannot write %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < b->len) {
        ssize_t w = write(fd, b->p + done, b->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    bool ok = done == b->len && fsync(fd) == 0;
    close(fd);
    return ok ? NULL : cli_fail("Cannot write %s: %s", path, strerror(errno));
}

static xerr *slurp(const char *path, buf *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_fail("Cannot read %s: %s", path, strerror(errno));
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            buf_add(b, chunk, (size_t)n);
    int err = errno;
    close(fd);
    return n < 0 ? cli_fail("Cannot read %s: %s", path, strerror(err)) : NULL;
}

xerr *cmd_vm_export(struct cli *c)
{
    xerr *e = metadata_only(c);
    if (e)
        return e;
    struct cli_selection s;
    if ((e = cli_select(c, CLI_VM, &s)) != NULL)
        return e;
    if (s.n != 1)
        e = cli_fail("vm-export exports one VM; the selectors matched %zu.", s.n);
    char *task = NULL;
    if (!e)
        e = new_task(c, "Export of VM metadata", &task);
    buf target, body;
    buf_init(&target);
    buf_init(&body);
    if (!e) {
        buf_adds(&target, "/export_metadata");
        add_query(&target, "session_id", c->session);
        add_query(&target, "task_id", task);
        add_query(&target, "ref", s.refs[0]);
        struct bar bar = {-1};
        int status = 0;
        char *task_hdr = NULL;
        e = rpc_client_http(c->rpc, "GET", target.p, NULL, 0, c->progress ? show : NULL, &bar, &status, &body,
                            &task_hdr);
        free(task_hdr);
        if (!e)
            e = answer_error(status, &body);
    }
    if (!e)
        e = spill(cli_arg(c, "filename"), &body);
    if (task)
        forget_task(c, task);
    free(task);
    buf_free(&target);
    buf_free(&body);
    cli_selection_free(&s);
    return e;
}

/* The uuids of the VMs an import made, from the task's result (a set of refs). */
static xerr *created_uuids(struct cli *c, const char *task, buf *out)
{
    xv *res = NULL, *refs = NULL;
    xerr *e = cli_call(c, &res, "task.get_result", xv_string(task), NULL);
    if (!e) {
        _cleanup_free_ char *doc = xasprintf("<?xml version=\"1.0\"?>%s", xv_str(res));
        e = wire_xmlrpc_parse_value(doc, strlen(doc), &refs);
    }
    for (size_t i = 0; !e && refs->type == XV_ARRAY && i < refs->u.arr.n; i++) {
        xv *u = NULL;
        e = cli_call(c, &u, "VM.get_uuid", xv_string(xv_str(refs->u.arr.v[i])), NULL);
        if (!e)
            buf_printf(out, "%s%s", i ? "," : "", xv_str(u));
        xv_free(u);
    }
    xv_free(res);
    xv_free(refs);
    return e;
}

xerr *cmd_vm_import(struct cli *c)
{
    xerr *e = metadata_only(c);
    bool dry = false, force = false, preserve = false;
    if (!e)
        dry = cli_arg_bool(c, "dry-run", false, &e);
    if (!e)
        force = cli_arg_bool(c, "force", c->o->force, &e);
    if (!e)
        preserve = cli_arg_bool(c, "preserve", false, &e);
    if (!e && preserve)
        e = cli_fail("preserve=true is not supported: an import makes new VMs with fresh uuids.");
    if (e)
        return e;
    buf file, target, body, out;
    buf_init(&file);
    buf_init(&target);
    buf_init(&body);
    buf_init(&out);
    char *task = NULL;
    e = slurp(cli_arg(c, "filename"), &file);
    if (!e)
        e = new_task(c, "Import of VM metadata", &task);
    if (!e) {
        buf_adds(&target, "/import_metadata");
        add_query(&target, "session_id", c->session);
        add_query(&target, "task_id", task);
        add_query(&target, "force", force ? "true" : "false");
        add_query(&target, "dry_run", dry ? "true" : "false");
        struct bar bar = {-1};
        int status = 0;
        char *task_hdr = NULL;
        e = rpc_client_http(c->rpc, "PUT", target.p, file.p ? file.p : "", file.len, c->progress ? show : NULL,
                            &bar, &status, &body, &task_hdr);
        free(task_hdr);
        if (!e)
            e = answer_error(status, &body);
    }
    /* a dry run made nothing: what it would do is the server's report */
    if (!e && dry)
        buf_add(&out, body.p ? body.p : "", body.len);
    else if (!e)
        e = created_uuids(c, task, &out);
    if (!e)
        printf("%s%s", out.p ? out.p : "", dry ? "" : "\n");
    if (task)
        forget_task(c, task);
    free(task);
    buf_free(&file);
    buf_free(&target);
    buf_free(&body);
    buf_free(&out);
    return e;
}
