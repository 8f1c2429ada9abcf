/* JSON-RPC calls (src/wire/json.c and the envelope of src/rpc/protocol.c): the bytes are
 * a POST body to /jsonrpc.  A document that parses must write back to the same value;
 * every body gets a response that is a JSON object.  Getters are also called as root
 * (fuzz_get_as_root). */
#include "harness.h"

#include "rpc.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet_logs();
    fuzz_api();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    xv *v = NULL;
    xerr *e = wire_json_parse(body, size, &v);
    if (!e) {
        buf b;
        buf_init(&b);
        wire_json_write(&b, v);
        xv *back = NULL;
        xerr *e2 = wire_json_parse(b.p, b.len, &back);
        FUZZ_CHECK(!e2);
        FUZZ_CHECK(xv_equal(v, back));
        xv_free(back);
        buf_free(&b);
        if (v->type == XV_STRUCT && xv_struct_get_str(v, "method"))
            fuzz_get_as_root(xv_struct_get_str(v, "method"), xv_struct_get(v, "params"),
                             wire_json_write, wire_json_parse);
    }
    xerr_free(e);
    xv_free(v);

    buf out;
    buf_init(&out);
    rpc_handle_jsonrpc(fuzz_api(), body, size, FUZZ_PEER, &out);
    xv *resp = NULL;
    e = wire_json_parse(out.p, out.len, &resp);
    FUZZ_CHECK(!e && resp && resp->type == XV_STRUCT && xv_struct_get(resp, "id"));
    xv_free(resp);
    buf_free(&out);
    return 0;
}
