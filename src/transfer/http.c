/* The HTTP handlers: session and task as xapi's Xapi_http.with_context has them
 * (session_id= and task_id= in the query), the answer and the task both saying how
 * it went. */
#include "transfer_int.h"
#include "log.h"
#include "wire.h"

#include <string.h>
#include <strings.h>

void transfer_reply_init(struct transfer_reply *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->body);
}

void transfer_reply_free(struct transfer_reply *r)
{
    buf_free(&r->body);
    free(r->task);
    free(r->filename);
}

/* xapi's find_query_flag: the flag is "true" */
static bool flag(const struct transfer_query *q, const char *key)
{
    const char *v = q->get(q->ctx, key);
    return v && strcasecmp(v, "true") == 0;
}

static unsigned status_of(const xerr *e)
{
    if (xerr_is(e, XERR_SESSION_INVALID))
        return 403;
    if (xerr_is(e, XERR_UUID_INVALID) || xerr_is(e, XERR_HANDLE_INVALID))
        return 404;
    if (xerr_is(e, XERR_IMPORT_ERROR) || xerr_is(e, XERR_IMPORT_ERROR_PREMATURE_EOF) ||
        xerr_is(e, XERR_IMPORT_ERROR_UNEXPECTED_FILE) || xerr_is(e, XERR_INVALID_VALUE))
        return 400;
    if (xerr_is(e, XERR_VM_HARDWARE_PLATFORM_VERSION_ABOVE_POOL_MAXIMUM) ||
        xerr_is(e, XERR_IMPORT_INCOMPATIBLE_VIRTUAL_HARDWARE_PLATFORM_VERSION))
        return 409;
    return 500;
}

/* The failure answer: the XenAPI error as a JSON list [CODE, params...]. */
static void fail(struct transfer_reply *out, xerr *e)
{
    out->status = status_of(e);
    out->type = "application/json";
    buf_reset(&out->body);
    xv *l = wire_error_list(e);
    wire_json_write(&out->body, l);
    buf_addc(&out->body, '\n');
    xv_free(l);
}

static void log_error_of(const char *what, xerr *e)
{
    _cleanup_free_ char *s = xerr_str(e);
    log_info("%s refused: %s", what, s);
}

/* The session, then the task: the client's (task_id=) or one made here. */
static xerr *begin(struct api *api, const struct transfer_query *q, const char *label, struct transfer_reply *out)
{
    const char *session = q->get(q->ctx, "session_id");
    xerr *e = api_session_check(api, session ? session : "");
    if (e)
        return e;
    const char *task = q->get(q->ctx, "task_id");
    if (task && *task) {
        if (!db_exists(api_db(api), DMC_task, task))
            return err_handle_invalid(DMC_task->name, task);
        out->task = xstrdup(task);
        return NULL;
    }
    return api_task_new(api, session, label, &out->task);
}

/* Record the outcome in the task; an error recording it is logged (the answer
 * still says what happened). */
static void finish(struct api *api, struct transfer_reply *out, const xv *result, xerr *e)
{
    if (!out->task)
        return;
    xerr *te = api_task_finish(api, out->task, result, e);
    if (te) {
        _cleanup_free_ char *s = xerr_str(te);
        log_error("task %s: recording the end of a transfer failed: %s", out->task, s);
        xerr_free(te);
    }
}

void transfer_export_metadata(struct api *api, const struct transfer_query *q, struct transfer_reply *out)
{
    xerr *e = begin(api, q, "VM.export_metadata", out);
    char *vm = NULL;
    if (!e) {
        const char *uuid = q->get(q->ctx, "uuid"), *ref = q->get(q->ctx, "ref");
        if (ref && *ref)
            e = db_exists(api_db(api), DMC_VM, ref) ? NULL : err_handle_invalid(DMC_VM->name, ref);
        else if (uuid && *uuid)
            e = db_lookup_uuid(api_db(api), DMC_VM, uuid, &vm);
        else
            e = err_invalid_value("uuid", "");
        if (!e && !vm)
            vm = xstrdup(ref);
    }
    char *xml = NULL;
    size_t len = 0;
    if (!e)
        e = transfer_export_xml(api, vm, &xml, &len);
    if (!e) {
        out->status = 200;
        out->type = "application/octet-stream";
        out->filename = xstrdup("export.xva");
        transfer_tar_write(&out->body, TRANSFER_OVA_NAME, xml, len, time(NULL));
        log_info("exported the metadata of VM %s (%zu bytes of ova.xml)", vm, len);
    }
    finish(api, out, NULL, e);
    if (e) {
        log_error_of("a metadata export", e);
        fail(out, e);
        xerr_free(e);
    }
    free(xml);
    free(vm);
}

void transfer_import_metadata(struct api *api, const struct transfer_query *q, const char *body, size_t len,
                              struct transfer_reply *out)
{
    xerr *e = begin(api, q, "VM.import_metadata", out);
    bool dry_run = flag(q, "dry_run"), force = flag(q, "force");
    xv *header = NULL;
    if (!e)
        e = transfer_parse_archive(body ? body : "", len, &header);
    if (!e && out->task)
        xerr_free(api_task_set_progress(api, out->task, 0.5));
    struct import_outcome res = {0};
    buf_init(&res.report);
    if (!e)
        e = transfer_import_header(api, header, dry_run, force, &res);
    if (!e) {
        out->status = 200;
        out->type = "text/plain";
        buf_add(&out->body, res.report.p ? res.report.p : "", res.report.len);
        log_info("metadata import%s: %zu VMs", dry_run ? " (dry run)" : "", res.created ? res.created->u.arr.n : 0);
    }
    finish(api, out, res.created, e);
    if (e) {
        log_error_of("a metadata import", e);
        fail(out, e);
        xerr_free(e);
    }
    xv_free(res.created);
    buf_free(&res.report);
    xv_free(header);
}
