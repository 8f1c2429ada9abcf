/* The XML-RPC and JSON-RPC envelopes around api_call. */
#include "rpc.h"
#include "dm_gen.h"
#include "wire.h"

#include <string.h>

void rpc_handle_xmlrpc(struct api *api, const char *body, size_t len, const char *peer, buf *out)
{
    char *method = NULL;
    xv *params = NULL, *result = NULL, *env;
    xerr *e = wire_xmlrpc_parse_call(body, len, &method, &params);
    if (!e)
        e = api_call(api, method, params, peer, &result);
    /* every response is a struct, system.listMethods's too, as xapi answers */
    env = e ? wire_failure(e) : wire_success(result);
    wire_xmlrpc_write_response(out, env);
    xv_free(env);
    xv_free(params);
    xerr_free(e);
    free(method);
}

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

void rpc_handle_jsonrpc(struct api *api, const char *body, size_t len, const char *peer, buf *out)
{
    xv *req = NULL;
    xerr *e = wire_json_parse(body, len, &req);
    if (e) {
        json_error(out, true, NULL, -32700, "Parse error", e);
        xerr_free(e);
        return;
    }
    const char *version = xv_struct_get_str(req, "jsonrpc");
    /* a request that is not an object says no version: answered in v2 form, as a
     * parse error is */
    bool v2 = req->type != XV_STRUCT || (version && strcmp(version, "2.0") == 0);
    const xv *id = xv_struct_get(req, "id");
    const char *method = xv_struct_get_str(req, "method");
    xv *params = xv_struct_get(req, "params");
    if (req->type != XV_STRUCT || !method || (params && params->type != XV_ARRAY)) {
        xerr *bad = err_jsonrpc_parse_error(req->type != XV_STRUCT ? "the request is not an object"
                                            : !method              ? "no method"
                                                                   : "params must be an array (by position)");
        json_error(out, v2, id, -32600, "Invalid Request", bad);
        xerr_free(bad);
        xv_free(req);
        return;
    }
    xv *empty = params ? NULL : xv_array();
    xv *result = NULL;
    e = api_call(api, method, params ? params : empty, peer, &result);
    if (e) {
        json_error(out, v2, id, 1, e->code, e);
        xerr_free(e);
    } else {
        xv *resp = xv_struct();
        if (v2)
            xv_struct_append(resp, "jsonrpc", xv_string("2.0"));
        xv_struct_append(resp, "result", result);
        if (!v2)
            xv_struct_append(resp, "error", xv_nil());
        xv_struct_append(resp, "id", id ? xv_dup(id) : xv_nil());
        wire_json_write(out, resp);
        xv_free(resp);
    }
    xv_free(empty);
    xv_free(req);
}
