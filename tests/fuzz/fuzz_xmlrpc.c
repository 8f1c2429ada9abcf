/* XML-RPC calls (src/wire/xmlrpc.c and the envelope of src/rpc/protocol.c): the bytes
 * are a POST body.  A call that parses must write back to the same call (void reading
 * back as "", as it is written); every body
 * gets a response that is well-formed XML-RPC; the same bytes are also tried as a
 * response, as the client and pool members read them.  Getters are also called as root
 * (fuzz_get_as_root). */
#include "harness.h"

#include <string.h>

#include "rpc.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    fuzz_api();
    return 0;
}

/* v as it reads back: void is written as an empty <value/>, which reads as "" (SPEC 4). */
static xv *as_read_back(const xv *v)
{
    switch (v->type) {
    case XV_NIL:
        return xv_string("");
    case XV_ARRAY: {
        xv *a = xv_array();
        for (size_t i = 0; i < v->u.arr.n; i++)
            xv_array_push(a, as_read_back(v->u.arr.v[i]));
        return a;
    }
    case XV_STRUCT: {
        xv *st = xv_struct();
        for (size_t i = 0; i < v->u.st.n; i++)
            xv_struct_append(st, v->u.st.m[i].key, as_read_back(v->u.st.m[i].val));
        return st;
    }
    default:
        return xv_dup(v);
    }
}

static void round_trip(const char *method, const xv *params)
{
    buf b;
    buf_init(&b);
    wire_xmlrpc_write_call(&b, method, params);
    char *m2 = NULL;
    xv *p2 = NULL;
    xerr *e = wire_xmlrpc_parse_call(b.p, b.len, &m2, &p2);
    FUZZ_CHECK(!e);
    FUZZ_CHECK(strcmp(method, m2) == 0);
    xv *want = as_read_back(params);
    FUZZ_CHECK(xv_equal(want, p2));
    xv_free(want);
    xv_free(p2);
    free(m2);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char *method = NULL;
    xv *params = NULL;
    xerr *e = wire_xmlrpc_parse_call(body, size, &method, &params);
    if (!e) {
        round_trip(method, params);
        fuzz_get_as_root(method, params, wire_xmlrpc_write_response, wire_xmlrpc_parse_response);
    }
    /* over XML-RPC, system.listMethods answers the bare array of names (xapi's
     * api_server.ml); every other answer is a {Status, ...} struct */
    bool list_methods = !e && strcmp(method, "system.listMethods") == 0;
    xerr_free(e);
    xv_free(params);
    free(method);

    xv *value = NULL;
    xerr_free(wire_xmlrpc_parse_response(body, size, &value));
    xv_free(value);

    buf out;
    buf_init(&out);
    rpc_handle_xmlrpc(fuzz_api(), body, size, FUZZ_PEER, &out);
    value = NULL;
    e = wire_xmlrpc_parse_response(out.p, out.len, &value);
    FUZZ_CHECK(!e && value &&
               ((value->type == XV_STRUCT && xv_struct_get_str(value, "Status")) ||
                (list_methods && value->type == XV_ARRAY)));
    xv_free(value);
    buf_free(&out);
    return 0;
}
