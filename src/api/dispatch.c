/* The method table and api_call: lookup, parameter count, session, types. */
#include "api_int.h"
#include "log.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

const struct dm_type api_string_type = {DM_STRING, "string", NULL, NULL, NULL, NULL, NULL};
const struct dm_type api_float_type = {DM_FLOAT, "float", NULL, NULL, NULL, NULL, NULL};

static struct method *method_new(struct api *api, const char *name, const struct dm_class *c)
{
    struct method *m = xcalloc(1, sizeof(*m));
    m->name = xstrdup(name);
    m->cls = c;
    m->session = true;
    m->async = false; /* xapi: of the generic messages only create and destroy */
    struct method *old = strmap_put(api->methods, name, m);
    if (old) {
        free(old->name);
        free(old);
    }
    return m;
}

static void param(struct method *m, const char *name, const struct dm_type *t, bool optional)
{
    assert(m->nparams < API_MAX_PARAMS);
    m->pnames[m->nparams] = name;
    m->ptypes[m->nparams] = t;
    m->nparams++;
    if (!optional)
        m->nrequired = m->nparams;
}

static struct method *add_generic(struct api *api, const struct dm_class *c, enum generic kind,
                                  const char *suffix, const struct dm_field *f)
{
    char name[160];
    int len = snprintf(name, sizeof(name), "%s.%s%s", c->name, suffix, f ? f->name : "");
    assert(len > 0 && (size_t)len < sizeof(name));
    (void)len;
    struct method *m = method_new(api, name, c);
    m->kind = kind;
    m->field = f;
    const struct dm_type *self = &api->ref_types[c->index];
    switch (kind) {
    case GEN_GET_FIELD:
    case GEN_GET_RECORD:
    case GEN_DESTROY:
        param(m, "self", self, false);
        break;
    case GEN_SET_FIELD:
        param(m, "self", self, false);
        param(m, "value", f->type, false);
        break;
    case GEN_ADD_TO:
        param(m, "self", self, false);
        param(m, "key", &api_string_type, false);
        param(m, "value", f->type->val, false);
        break;
    case GEN_REMOVE_FROM:
        param(m, "self", self, false);
        param(m, "key", &api_string_type, false);
        break;
    case GEN_ADD:
    case GEN_REMOVE:
        param(m, "self", self, false);
        param(m, "value", f->type->elem, false);
        break;
    case GEN_GET_ALL_RECORDS_WHERE:
        param(m, "expr", &api_string_type, false);
        break;
    case GEN_GET_BY_UUID:
        param(m, "uuid", &api_string_type, false);
        break;
    case GEN_GET_BY_NAME_LABEL:
        param(m, "label", &api_string_type, false);
        break;
    case GEN_CREATE:
        param(m, "args", NULL, false); /* a record: checked field by field */
        break;
    default:
        break;
    }
    return m;
}

static void build_table(struct api *api)
{
    for (size_t i = 0; i < dm_nclasses; i++) {
        const struct dm_class *c = &dm_classes[i];
        if (c->table) {
            for (size_t j = 0; j < c->nfields; j++) {
                const struct dm_field *f = &c->fields[j];
                if (f->internal)
                    continue;
                add_generic(api, c, GEN_GET_FIELD, "get_", f);
                if (f->qual != DM_RW || f->custom_setter)
                    continue;
                add_generic(api, c, GEN_SET_FIELD, "set_", f);
                if (f->type->kind == DM_MAP) {
                    add_generic(api, c, GEN_ADD_TO, "add_to_", f);
                    add_generic(api, c, GEN_REMOVE_FROM, "remove_from_", f);
                } else if (f->type->kind == DM_SET) {
                    add_generic(api, c, GEN_ADD, "add_", f);
                    add_generic(api, c, GEN_REMOVE, "remove_", f);
                }
            }
            add_generic(api, c, GEN_GET_RECORD, "get_record", NULL);
            if (c->get_all) { /* not for session: its refs are credentials */
                add_generic(api, c, GEN_GET_ALL, "get_all", NULL);
                add_generic(api, c, GEN_GET_ALL_RECORDS, "get_all_records", NULL);
                add_generic(api, c, GEN_GET_ALL_RECORDS_WHERE, "get_all_records_where", NULL);
            }
            add_generic(api, c, GEN_GET_BY_UUID, "get_by_uuid", NULL);
            if (c->name_label)
                add_generic(api, c, GEN_GET_BY_NAME_LABEL, "get_by_name_label", NULL);
            if (c->create)
                add_generic(api, c, GEN_CREATE, "create", NULL)->async = true;
            if (c->destroy)
                add_generic(api, c, GEN_DESTROY, "destroy", NULL)->async = true;
        }
        /* declared messages replace a generic one of the same name */
        for (size_t j = 0; j < c->nmessages; j++) {
            const struct dm_message *dm = &c->messages[j];
            char name[160];
            int len = snprintf(name, sizeof(name), "%s.%s", c->name, dm->name);
            assert(len > 0 && (size_t)len < sizeof(name));
            (void)len;
            struct method *m = method_new(api, name, c);
            m->kind = GEN_NONE;
            m->msg = dm;
            m->session = dm->session;
            m->async = dm->async;
            assert(dm->nparams <= API_MAX_PARAMS); /* dmgen refuses more */
            for (size_t p = 0; p < dm->nparams; p++)
                param(m, dm->params[p].name, dm->params[p].type, dm->params[p].optional);
        }
    }
}

void api_on_change(struct api *api, const struct dm_class *c, api_change_hook fn)
{
    api->change_hooks[c->index] = fn;
}

/* A hand-written message's method; registering one not declared, or twice, is a
 * programming error. */
static struct method *handwritten(struct api *api, const char *method)
{
    struct method *m = strmap_get(api->methods, method);
    if (!m || m->kind != GEN_NONE || m->thunk) {
        log_error("registering %s: %s", method,
                  !m || m->kind != GEN_NONE ? "not declared in the datamodel" : "registered twice");
        abort();
    }
    return m;
}

void api_register_thunk(struct api *api, const struct dm_class *c, const struct dm_message *msg,
                        api_thunk thunk, void (*fn)(void))
{
    char name[160];
    int len = snprintf(name, sizeof(name), "%s.%s", c->name, msg->name);
    assert(len > 0 && (size_t)len < sizeof(name));
    (void)len;
    struct method *m = handwritten(api, name);
    assert(m->msg == msg);
    m->thunk = thunk;
    m->typed = fn;
}

static void free_method(void *p)
{
    struct method *m = p;
    free(m->name);
    free(m);
}

xerr *api_create(const struct api_options *opt, struct api **out)
{
    struct api *api = xcalloc(1, sizeof(*api));
    api->cfg = opt->cfg;
    api->db = opt->db;
    api->hv = opt->hv;
    api->platform = opt->platform;
    api->certificate_fingerprint = xstrdup(opt->certificate_fingerprint ? opt->certificate_fingerprint : "");
    api->certificate_fingerprint_sha1 =
        xstrdup(opt->certificate_fingerprint_sha1 ? opt->certificate_fingerprint_sha1 : "");
    api->certificate_not_before = opt->certificate_not_before;
    api->certificate_not_after = opt->certificate_not_after;
    api->methods = strmap_new();
    api->ref_types = xcalloc(dm_nclasses, sizeof(struct dm_type));
    api->change_hooks = xcalloc(dm_nclasses, sizeof(api_change_hook));
    for (size_t i = 0; i < dm_nclasses; i++)
        api->ref_types[i] = (struct dm_type){DM_REF, "ref", NULL, dm_classes[i].name, NULL, NULL, NULL};
    build_table(api);
    xerr *e = sessions_init(api);
    if (!e)
        e = events_init(api);
    if (!e)
        e = tasks_init(api);
    if (e) {
        api_destroy(api);
        return e;
    }
    register_session_messages(api);
    register_event_messages(api);
    register_task_messages(api);
    *out = api;
    return NULL;
}

void api_destroy(struct api *api)
{
    if (!api)
        return;
    tasks_free(api);
    events_free(api);
    sessions_free(api);
    strmap_free(api->methods, free_method);
    free(api->ref_types);
    free(api->change_hooks);
    free(api->host_ref);
    free(api->pool_ref);
    free(api->certificate_fingerprint);
    free(api->certificate_fingerprint_sha1);
    free(api);
}

bool api_stop(struct api *api, double grace)
{
    return tasks_stop(api, grace);
}

xerr *api_startup(struct api *api)
{
    return host_startup(api);
}

void api_set_pool(struct api *api, api_router router, api_forwarder forwarder, api_host_caller caller,
                  void *ctx)
{
    api->router = router;
    api->forwarder = forwarder;
    api->host_caller = caller;
    api->pool_ctx = ctx;
}

void *api_pool(struct api *api)
{
    return api->pool_ctx;
}

xerr *api_call_trusted(struct api *api, const char *method, const xv *args, xv **result)
{
    xv *params = xv_array();
    xv_array_push(params, xv_string(""));
    for (size_t i = 0; args && i < args->u.arr.n; i++)
        xv_array_push(params, xv_dup(args->u.arr.v[i]));
    struct api_peer who = {.addr = "pool", .trusted = true};
    xerr *e = api_call(api, method, params, &who, result);
    xv_free(params);
    return e;
}

xerr *api_call_on_host(struct api *api, const char *host, const char *method, const xv *args, xv **result)
{
    if (!api->host_caller || !host || (api->host_ref && strcmp(host, api->host_ref) == 0))
        return api_call_trusted(api, method, args, result);
    return api->host_caller(api->pool_ctx, host, method, args, result);
}

const struct config *api_config(struct api *api) { return api->cfg; }
struct hv *api_hv(struct api *api) { return api->hv; }
struct platform *api_platform(struct api *api) { return api->platform; }
struct db *api_db(struct api *api) { return api->db; }
const char *api_host_ref(struct api *api) { return api->host_ref; }
const char *api_pool_ref(struct api *api) { return api->pool_ref; }

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* As xapi's generated dispatcher (ocaml/idl/ocaml_backend/gen_server.ml): the
 * synchronous wire name of every message, no Async. forms and no system.* names. */
xv *api_list_methods(struct api *api)
{
    size_t n = strmap_size(api->methods), pos = 0, i = 0;
    const char **names = xcalloc(n + 1, sizeof(char *));
    const char *k;
    void *v;
    while (strmap_next(api->methods, &pos, &k, &v))
        names[i++] = k;
    qsort(names, i, sizeof(char *), cmp_str);
    xv *a = xv_array();
    for (size_t j = 0; j < i; j++)
        xv_array_push(a, xv_string(names[j]));
    free(names);
    return a;
}

/* The wire types xapi's unmarshallers refuse before any conversion (ocaml-rpc's
 * bool_of_rpc takes only a boolean: the string "true" is not one), inside sets and
 * maps too.  Other types are left to dm_coerce. */
xerr *api_strict(const struct dm_type *t, const xv *in, const char *name)
{
    switch (t->kind) {
    case DM_BOOL:
        return in->type == XV_BOOL ? NULL : err_field_type_error(name);
    case DM_SET:
        for (size_t i = 0; in->type == XV_ARRAY && i < in->u.arr.n; i++) {
            xerr *e = api_strict(t->elem, in->u.arr.v[i], name);
            if (e)
                return e;
        }
        return NULL;
    case DM_MAP:
        for (size_t i = 0; in->type == XV_STRUCT && i < in->u.st.n; i++) {
            xerr *e = api_strict(t->val, in->u.st.m[i].val, name);
            if (e)
                return e;
        }
        return NULL;
    default:
        return NULL;
    }
}

static xerr *count_mismatch(const char *method, size_t expected, size_t received)
{
    char e[24], r[24];
    snprintf(e, sizeof(e), "%zu", expected);
    snprintf(r, sizeof(r), "%zu", received);
    return err_message_parameter_count_mismatch(method, e, r);
}

void api_register_stream(struct api *api, const char *prefix, api_stream_handler fn)
{
    assert(!api->stream_handler); /* one so far: a table when a second comes */
    api->stream_prefix = prefix;
    api->stream_handler = fn;
}

api_stream_handler api_stream_lookup(struct api *api, const char *path)
{
    return api->stream_handler && str_startswith(path, api->stream_prefix) ? api->stream_handler : NULL;
}

bool api_call_is_quick(struct api *api, const char *method)
{
    if (api->router)
        return false; /* a pool member: most calls go to the master, over the network */
    if (str_startswith(method, "Async.") || strcmp(method, "system.listMethods") == 0)
        return true;
    const struct method *m = strmap_get(api->methods, method);
    /* event's messages read the event log; their waits park (api_wait) */
    return !m || m->kind != GEN_NONE || m->cls == DMC_event;
}

xerr *api_call(struct api *api, const char *method, const xv *params, const struct api_peer *who,
               xv **result)
{
    const char *peer = who ? who->addr : NULL;
    *result = NULL;
    bool trusted = who && who->trusted;
    if (api->router && !trusted) {
        xerr *re = NULL;
        enum api_route r = api->router(api->pool_ctx, method, params, who, result, &re);
        if (r == API_ROUTE_DONE)
            return re;
        trusted = r == API_ROUTE_TRUSTED;
    }
    size_t given = params ? params->u.arr.n : 0;
    if (strcmp(method, "system.listMethods") == 0) {
        *result = api_list_methods(api);
        return NULL;
    }
    if (str_startswith(method, "system.isAlive:")) {
        /* xapi answers its first parameter back (gen_server.ml), and with none the
         * List.hd failure its exception wrapper turns into INTERNAL_ERROR */
        if (given == 0)
            return err_internal_error("Failure(\"hd\")");
        *result = xv_dup(params->u.arr.v[0]);
        return NULL;
    }
    /* xapi strips the prefix first (server_helpers.ml sync_ty_and_maybe_remove_prefix):
     * its errors name the message without it */
    bool async = str_startswith(method, "Async.");
    const char *name = async ? method + 6 : method;
    struct method *m = strmap_get(api->methods, name);
    if (!m)
        return err_message_method_unknown(name);
    if (m->kind == GEN_NONE && !m->thunk)
        return err_not_implemented(name);

    size_t first = m->session ? 1 : 0;
    size_t nargs = given >= first ? given - first : 0;
    if (given < first) {
        if (m->nrequired > 0)
            return count_mismatch(name, m->nrequired, 0);
        return err_session_invalid("");
    }
    /* xapi's dispatcher (gen_server.ml): a message with defaulted parameters matches
     * required :: default_args, so trailing extras are ignored; one without takes
     * exactly its parameters */
    bool has_defaults = m->nparams > m->nrequired;
    if (nargs < m->nrequired || (nargs > m->nparams && !has_defaults))
        return count_mismatch(name, has_defaults || nargs < m->nrequired ? m->nrequired : m->nparams, nargs);
    if (nargs > m->nparams)
        nargs = m->nparams;

    struct api_ctx ctx = {.api = api, .db = api->db, .method = name, .peer = peer,
                          .local_root = who && who->local_root, .wait = who ? who->wait : NULL,
                          .wire = who && !async ? who->wire : API_WIRE_NONE,
                          .records = who ? who->records : NULL};
    if (ctx.wait) {
        ctx.wait->parked = false;
        ctx.wait->answer_at = 0;
    }
    if (m->session) {
        const char *s = xv_str(params->u.arr.v[0]);
        xerr *e = trusted ? NULL : session_check(api, s ? s : "");
        if (e)
            return e;
        ctx.session = s;
    }

    xv *args[API_MAX_PARAMS] = {0};
    xerr *e = NULL;
    for (size_t i = 0; i < nargs && !e; i++) {
        const xv *in = params->u.arr.v[first + i];
        if (m->ptypes[i])
            e = api_strict(m->ptypes[i], in, m->pnames[i]);
        if (!e && m->ptypes[i])
            e = dm_coerce(m->ptypes[i], in, m->pnames[i], &args[i]);
        else
            args[i] = xv_dup(in);
    }
    if (!e && async && !m->async) {
        /* after the session and the types, as xapi's do_dispatch */
        _cleanup_free_ char *why = xasprintf("No async mode for this operation (rpc: %s)", name);
        e = err_fault(why);
    } else if (!e) {
        if (async) {
            char *task = NULL;
            e = task_start(&ctx, m, args, nargs, &task);
            if (!e) {
                *result = xv_string_take(task);
                memset(args, 0, sizeof(args)); /* the task owns them now */
            }
        } else {
            e = method_run(&ctx, m, args, nargs, result);
        }
    }
    for (size_t i = 0; i < nargs; i++)
        xv_free(args[i]);
    bool streamed = ctx.records && *ctx.records;
    if (!e && !(ctx.wait && ctx.wait->parked) && !streamed && (!*result || (*result)->type == XV_NIL)) {
        /* void is the empty string on every wire (gen_server.ml: Rpc.String "") */
        xv_free(*result);
        *result = xv_string("");
    }
    if (e && log_enabled(LL_DEBUG)) {
        _cleanup_free_ char *s = xerr_str(e);
        log_debug("%s from %s: %s", method, peer ? peer : "?", s);
    }
    return e;
}

/* Used by task.c to run the call on its own thread. */
xerr *method_run(struct api_ctx *ctx, const struct method *m, xv *const *args, size_t n, xv **result)
{
    assert(n >= m->nrequired && n <= m->nparams);
    xerr *fe = NULL;
    if (m->thunk && ctx->api->forwarder &&
        ctx->api->forwarder(ctx->api->pool_ctx, ctx, m->name, args, n, result, &fe))
        return fe;
    if (m->thunk)
        return m->thunk(ctx, m->typed, args, n, result);
    return generic_call(ctx, m, args, n, result);
}
