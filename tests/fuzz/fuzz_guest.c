/* Guest PVAddons and OS values as a guest writes them to xenstore (src/guest/evaluate.c).
 * Input: two bytes, a mask of the keys present (bit i: key i of guest_key_paths), then
 * the values of the present keys in that order, each ended by a NUL (a xenstore read
 * gives a string).  The VM_guest_metrics fields must encode on both wires and decode
 * again: a guest must not be able to break a client's response. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "wire.h"

static const int64_t host_tools[4] = {1, 0, 0, 0};   /* guest-tools-version's default */

/* The response decodes, and what a client decodes is stable: encoded again it decodes
 * to the same value (the writers make invalid UTF-8 U+FFFD, by design). */
static void check_wire(void (*write)(buf *, const xv *), xerr *(*parse)(const char *, size_t, xv **),
                       const xv *fields)
{
    buf b;
    buf_init(&b);
    write(&b, fields);
    xv *back = NULL, *again = NULL;
    xerr *e = parse(b.p, b.len, &back);
    FUZZ_CHECK(!e && back && back->type == XV_STRUCT);
    buf_reset(&b);
    write(&b, back);
    e = parse(b.p, b.len, &again);
    FUZZ_CHECK(!e && xv_equal(back, again));
    xv_free(again);
    xv_free(back);
    buf_free(&b);
}

static void check_wires(const xv *fields)
{
    check_wire(wire_xmlrpc_write_response, wire_xmlrpc_parse_response, fields);
    check_wire(wire_json_write, wire_json_parse, fields);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mask = data[0] | (unsigned)data[1] << 8;
    size_t off = 2;
    char *raw[GK_COUNT] = {NULL};
    for (int i = 0; i < GK_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        const uint8_t *end = off < size ? memchr(data + off, 0, size - off) : NULL;
        size_t n = end ? (size_t)(end - (data + off)) : size - off;
        raw[i] = fuzz_cstr(data + off, n);
        off += n + (end != NULL);
    }
    xv *fields = guest_evaluate(raw, host_tools);
    const char *status = xv_struct_get_str(fields, "tools_status");
    FUZZ_CHECK(status);
    check_wires(fields);
    xv_free(fields);
    for (int i = 0; i < GK_COUNT; i++) {
        int64_t v[4];
        if (raw[i] && guest_parse_version(raw[i], v))
            for (int k = 0; k < 4; k++)
                FUZZ_CHECK(v[k] >= 0 && v[k] <= 999999999);
        free(raw[i]);
    }
    return 0;
}
