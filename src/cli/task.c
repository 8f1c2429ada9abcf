/* Long operations run as tasks (Async.*): the client waits for the task with
 * event.from rather than polling, and draws its progress when stderr is a terminal. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void draw(double progress)
{
    int pct = (int)(progress * 100 + 0.5), bars = pct * 30 / 100;
    if (pct < 0)
        pct = 0, bars = 0;
    if (pct > 100)
        pct = 100, bars = 30;
    fprintf(stderr, "\r[%.*s%*s] %3d%%", bars, "##############################", 30 - bars, "", pct);
    fflush(stderr);
}

static void sleep_briefly(void)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Block until something happens to the task (or a second passes). */
static void wait_change(struct cli *c, const char *task, char **token)
{
    xv *classes = xv_array();
    xv_array_push(classes, xv_string_take(xasprintf("task/%s", task)));
    xv *r = NULL;
    xerr *e = cli_call(c, &r, "event.from", classes, xv_string(*token ? *token : ""), xv_float(1.0), NULL);
    const char *t = e ? NULL : xv_struct_get_str(r, "token");
    if (t) {
        free(*token);
        *token = xstrdup(t);
    } else {
        sleep_briefly();         /* no events to wait on: poll gently instead */
    }
    xerr_free(e);
    xv_free(r);
}

static xerr *task_error(const xv *rec, const char *task)
{
    xerr *e = wire_error_from_list(dm_get(rec, DMF_task_error_info));
    return e ? e : err_task_cancelled(task);
}

xerr *cli_run_task(struct cli *c, const char *method, xv *params)
{
    _cleanup_free_ char *async = xasprintf("Async.%s", method);
    xv *tv = NULL;
    xerr *e = cli_call_arr(c, async, params, &tv);
    if (e)
        return e;
    char *task = xstrdup(xv_str(tv) ? xv_str(tv) : "");
    xv_free(tv);
    char *token = NULL;
    bool drawn = false;
    for (;;) {
        xv *rec = NULL;
        e = cli_call(c, &rec, "task.get_record", xv_string(task), NULL);
        if (e)
            break;
        int status = dm_get_enum(rec, DMF_task_status);
        if (status >= 0 && status != TASK_STATUS_TYPE_PENDING && status != TASK_STATUS_TYPE_CANCELLING) {
            if (status != TASK_STATUS_TYPE_SUCCESS)
                e = task_error(rec, task);
            xv_free(rec);
            break;
        }
        if (c->progress) {
            draw(dm_get_float(rec, DMF_task_progress));
            drawn = true;
        }
        xv_free(rec);
        wait_change(c, task, &token);
    }
    if (drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    xerr *d = cli_call(c, NULL, "task.destroy", xv_string(task), NULL);
    xerr_free(d);
    free(token);
    free(task);
    return e;
}

xerr *cli_invoke(struct cli *c, const char *cls, const char *msg, struct cli_named *args, size_t n)
{
    const struct dm_class *dc = dm_class_find(cls);
    const struct dm_message *m = dc ? dm_message_find(dc, msg) : NULL;
    xv *params = xv_array();
    if (m) {
        /* the datamodel's declaration decides the order; what the caller does not
         * give is the type's zero (false for start_paused), an optional tail is left off */
        bool self_done = false;
        for (size_t i = 0; i < m->nparams; i++) {
            const struct dm_param *p = &m->params[i];
            /* "self" is the object acted on, whatever the declaration calls it
             * (vm, self): the first parameter that is a ref of the class */
            bool is_self = !self_done && p->type && p->type->kind == DM_REF &&
                           strcmp(p->type->ref_class, cls) == 0;
            self_done |= is_self;
            xv *v = NULL;
            for (size_t j = 0; j < n; j++)
                if (args[j].val && (strcmp(args[j].name, p->name) == 0 ||
                                    (is_self && strcmp(args[j].name, "self") == 0))) {
                    v = args[j].val;
                    args[j].val = NULL;
                }
            if (!v && p->optional)
                break;
            if (!v)
                v = p->type ? dm_zero(p->type) : xv_string("");
            xv_array_push(params, v);
        }
    }
    for (size_t j = 0; j < n; j++) {
        if (args[j].val && !m)
            xv_array_push(params, args[j].val);
        else
            xv_free(args[j].val);
        args[j].val = NULL;
    }
    _cleanup_free_ char *method = xasprintf("%s.%s", cls, msg);
    if (m && m->async)
        return cli_run_task(c, method, params);
    return cli_call_arr(c, method, params, NULL);
}
