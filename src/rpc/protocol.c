/* The XML-RPC and JSON-RPC envelopes around api_call.  A request is parsed once into
 * an rpc_call, which can then be run (and, when it parks, run again) without
 * parsing it again. */
#include "rpc.h"
#include "rpc_int.h"
#include "dm_gen.h"
#include "log.h"
#include "wire.h"

#include <string.h>

struct rpc_call {
    bool json, v2;
    char *method;                /* NULL when the request is already answered */
    xv *params;                  /* XV_ARRAY */
    xv *id;                      /* JSON-RPC's id, or NULL */
    buf early;                   /* the answer to a request that did not parse */
    bool offer;                  /* the answer may be streamed */
    struct api_records *records; /* a streamed answer's records still to write */
    bool first;                  /* no member written yet (JSON's commas) */
};

static void json_error(buf *out, bool v2, const xv *id, long code, const char *message, const xerr *e)
{
    xv *resp = xv_struct();
    if (v2) {
        xv *err = xv_struct(), *data = xv_array();
        for (size_t i = 0; e && i < e->nparams; i++)
            xv_array_push(data, xv_string(e->params[i]));
        xv_struct_append(err, "code", xv_int(code));
        xv_struct_append(err, "message", xv_string(message));
        xv_struct_append(err, "data", data);
        xv_struct_append(resp, "jsonrpc", xv_string("2.0"));
        xv_struct_append(resp, "error", err);
    } else {
        xv *err = xv_array();
        xv_array_push(err, xv_string(message));
        for (size_t i = 0; e && i < e->nparams; i++)
            xv_array_push(err, xv_string(e->params[i]));
        xv_struct_append(resp, "result", xv_nil());
        xv_struct_append(resp, "error", err);
    }
    xv_struct_append(resp, "id", id ? xv_dup(id) : xv_nil());
    wire_json_write(out, resp);
    xv_free(resp);
}

/* Takes result.  Every response is a {Status, Value} struct except
 * system.listMethods's, which xapi writes as the bare array (ocaml/xapi/api_server.ml,
 * callback). */
static void xmlrpc_answer(buf *out, const char *method, xerr *e, xv *result)
{
    if (!e && method && strcmp(method, "system.listMethods") == 0) {
        wire_xmlrpc_write_response(out, result);
        xv_free(result);
        return;
    }
    xv *env = e ? wire_failure(e) : wire_success(result);
    wire_xmlrpc_write_response(out, env);
    xv_free(env);
}

static void parse_xmlrpc(struct rpc_call *c, const char *body, size_t len)
{
    xerr *e = wire_xmlrpc_parse_call(body, len, &c->method, &c->params);
    if (e) {
        free(c->method);
        xv_free(c->params);
        c->method = NULL;
        c->params = NULL;
        xmlrpc_answer(&c->early, NULL, e, NULL);
        xerr_free(e);
    }
}

static void parse_jsonrpc(struct rpc_call *c, const char *body, size_t len)
{
    xv *req = NULL;
    xerr *e = wire_json_parse(body, len, &req);
    if (e) {
        json_error(&c->early, true, NULL, -32700, "Parse error", e);
        xerr_free(e);
        return;
    }
    const char *version = xv_struct_get_str(req, "jsonrpc");
    /* a request that is not an object says no version: answered in v2 form, as a
     * parse error is */
    c->v2 = req->type != XV_STRUCT || (version && strcmp(version, "2.0") == 0);
    const xv *id = xv_struct_get(req, "id");
    const char *method = xv_struct_get_str(req, "method");
    const xv *params = xv_struct_get(req, "params");
    if (req->type != XV_STRUCT || !method || (params && params->type != XV_ARRAY)) {
        xerr *bad = err_jsonrpc_parse_error(req->type != XV_STRUCT ? "the request is not an object"
                                            : !method              ? "no method"
                                                                   : "params must be an array (by position)");
        json_error(&c->early, c->v2, id, -32600, "Invalid Request", bad);
        xerr_free(bad);
    } else {
        c->method = xstrdup(method);
        c->params = params ? xv_dup(params) : xv_array();
        c->id = id ? xv_dup(id) : NULL;
    }
    xv_free(req);
}

struct rpc_call *rpc_call_parse(const char *body, size_t len, bool json)
{
    struct rpc_call *c = xcalloc(1, sizeof(*c));
    c->json = json;
    buf_init(&c->early);
    if (json)
        parse_jsonrpc(c, body, len);
    else
        parse_xmlrpc(c, body, len);
    return c;
}

const char *rpc_call_method(const struct rpc_call *c)
{
    return c->method;
}

/* ---- streamed answers: the envelope around a map written member by member ---- */

static void stream_head(struct rpc_call *c, buf *out)
{
    const char *array = api_records_array(c->records);
    c->first = true;
    if (!c->json) {
        wire_xmlrpc_write_map_head(out);
        if (array)
            wire_xmlrpc_write_array_member_head(out, array);
        return;
    }
    /* as the whole answer below: {"jsonrpc":"2.0","result":..,"id":..} or
     * {"result":..,"error":null,"id":..} */
    buf_addc(out, '{');
    if (c->v2) {
        xv *version = xv_string("2.0");
        wire_json_write_member(out, true, "jsonrpc", version);
        xv_free(version);
        buf_addc(out, ',');
    }
    buf_addlit(out, "\"result\":{");
    if (array) {
        wire_json_write_key(out, true, array);
        buf_addc(out, '[');
    }
}

/* After the last item: the rest of the result, then the envelope's end. */
static void stream_tail(struct rpc_call *c, buf *out)
{
    bool array = api_records_array(c->records) != NULL;
    xv *rest = array ? api_records_rest(c->records) : NULL;
    if (array && !c->json)
        wire_xmlrpc_write_array_member_tail(out);
    else if (array)
        buf_addc(out, ']');
    for (size_t i = 0; rest && i < rest->u.st.n; i++) {
        if (c->json)
            wire_json_write_member(out, false, rest->u.st.m[i].key, rest->u.st.m[i].val);
        else
            wire_xmlrpc_write_member(out, rest->u.st.m[i].key, rest->u.st.m[i].val);
    }
    xv_free(rest);
    if (!c->json) {
        wire_xmlrpc_write_map_tail(out);
        return;
    }
    buf_addc(out, '}');
    xv *nil = xv_nil();
    if (!c->v2)
        wire_json_write_member(out, false, "error", nil);
    wire_json_write_member(out, false, "id", c->id ? c->id : nil);
    xv_free(nil);
    buf_addc(out, '}');
}

/* Items until want more bytes are in out or the stream ends (then its tail too):
 * 1 when more follow, 0 at the end, -1 on an error (*err). */
static int stream_more(struct rpc_call *c, buf *out, size_t want, xerr **err)
{
    if (!c->records)
        return 0;
    size_t start = out->len;
    bool array = api_records_array(c->records) != NULL;
    while (out->len - start < want) {
        char *key;
        xv *val;
        xerr *e = api_records_next(c->records, &key, &val);
        if (e) {
            *err = e;
            api_records_free(c->records);
            c->records = NULL;
            return -1;
        }
        if (!val) {
            stream_tail(c, out);
            api_records_free(c->records);
            c->records = NULL;
            return 0;
        }
        if (array && c->json) {
            if (!c->first)
                buf_addc(out, ',');
            wire_json_write(out, val);
        } else if (array) {
            wire_xmlrpc_write_value(out, val);
        } else if (c->json) {
            wire_json_write_member(out, c->first, key, val);
        } else {
            wire_xmlrpc_write_member(out, key, val);
        }
        c->first = false;
        free(key);
        xv_free(val);
    }
    return 1;
}

void rpc_call_offer_stream(struct rpc_call *c)
{
    c->offer = true;
}

bool rpc_call_streaming(const struct rpc_call *c)
{
    return c->records != NULL;
}

int rpc_call_more(struct rpc_call *c, buf *out, size_t want)
{
    xerr *e = NULL;
    int rc = stream_more(c, out, want, &e);
    if (e) {
        _cleanup_free_ char *why = xerr_str(e);
        log_warn("%s: failed after part of its answer was sent, the connection is cut: %s", c->method, why);
        xerr_free(e);
    }
    return rc;
}

static void answer(struct rpc_call *c, buf *out, xerr *e, xv *result);

/* The first RPC_STREAM_FIRST bytes are made before any is sent: an answer that ends
 * within them is sent whole (with its length, as any other), and an error within them
 * is still a proper fault. */
static void stream_start(struct rpc_call *c, buf *out)
{
    size_t start = out->len;
    xerr *e = NULL;
    stream_head(c, out);
    if (stream_more(c, out, RPC_STREAM_FIRST, &e) < 0) {
        out->len = start;
        answer(c, out, e, NULL);
    }
}

bool rpc_call_run(struct api *api, struct rpc_call *c, const struct api_peer *peer, buf *out)
{
    if (!c->method) {
        buf_add(out, c->early.p, c->early.len);
        return true;
    }
    xv *result = NULL;
    struct api_peer who = *peer;
    who.wire = c->json ? API_WIRE_JSON : API_WIRE_XMLRPC; /* the answer is written below */
    who.records = c->offer ? &c->records : NULL;
    xerr *e = api_call(api, c->method, c->params, &who, &result);
    if (!e && c->records) {
        stream_start(c, out);
        return true;
    }
    if (!e && !result)
        return false; /* parked */
    answer(c, out, e, result);
    return true;
}

/* Takes e and result. */
static void answer(struct rpc_call *c, buf *out, xerr *e, xv *result)
{
    if (!c->json) {
        xmlrpc_answer(out, c->method, e, result);
    } else if (e) {
        json_error(out, c->v2, c->id, 1, e->code, e);
    } else {
        /* an answer kept in its wire form (event.from's, to 1,000 waiters) is written
         * into one allocation, not grown into by doubling */
        if (result && result->type == XV_RAW_JSON)
            buf_reserve(out, result->u.str.len + 64);
        xv *resp = xv_struct();
        if (c->v2)
            xv_struct_append(resp, "jsonrpc", xv_string("2.0"));
        xv_struct_append(resp, "result", result);
        if (!c->v2)
            xv_struct_append(resp, "error", xv_nil());
        xv_struct_append(resp, "id", c->id ? xv_dup(c->id) : xv_nil());
        wire_json_write(out, resp);
        xv_free(resp);
    }
    xerr_free(e);
}

void rpc_call_free(struct rpc_call *c)
{
    if (!c)
        return;
    free(c->method);
    xv_free(c->params);
    xv_free(c->id);
    buf_free(&c->early);
    api_records_free(c->records);
    free(c);
}

static bool handle(struct api *api, const char *body, size_t len, bool json, const struct api_peer *peer,
                   buf *out)
{
    struct rpc_call *c = rpc_call_parse(body, len, json);
    bool answered = rpc_call_run(api, c, peer, out);
    rpc_call_free(c);
    return answered;
}

bool rpc_handle_xmlrpc(struct api *api, const char *body, size_t len, const struct api_peer *peer, buf *out)
{
    return handle(api, body, len, false, peer, out);
}

bool rpc_handle_jsonrpc(struct api *api, const char *body, size_t len, const struct api_peer *peer, buf *out)
{
    return handle(api, body, len, true, peer, out);
}
