#include "wire.h"

#include <string.h>

xv *wire_success(xv *value)
{
    xv *s = xv_struct();
    xv_struct_append(s, "Status", xv_string("Success"));
    xv_struct_append(s, "Value", value ? value : xv_nil());
    return s;
}

xv *wire_failure(const xerr *e)
{
    xv *s = xv_struct();
    xv *d = xv_array();
    xv_array_push(d, xv_string(e->code));
    for (size_t i = 0; i < e->nparams; i++)
        xv_array_push(d, xv_string(e->params[i]));
    xv_struct_append(s, "Status", xv_string("Failure"));
    xv_struct_append(s, "ErrorDescription", d);
    return s;
}

xerr *wire_unwrap(xv *envelope, xv **value)
{
    *value = NULL;
    const char *status = xv_struct_get_str(envelope, "Status");
    if (status && strcmp(status, "Success") == 0) {
        for (size_t i = 0; i < envelope->u.st.n; i++) {
            if (strcmp(envelope->u.st.m[i].key, "Value") == 0) {
                *value = envelope->u.st.m[i].val;
                envelope->u.st.m[i].val = xv_nil();
                return NULL;
            }
        }
        *value = xv_nil();
        return NULL;
    }
    xv *d = xv_struct_get(envelope, "ErrorDescription");
    if (status && strcmp(status, "Failure") == 0 && d && d->type == XV_ARRAY && d->u.arr.n > 0) {
        const char *params[64];
        size_t n = 0;
        for (size_t i = 1; i < d->u.arr.n && n < 64; i++)
            params[n++] = xv_str(d->u.arr.v[i]) ? xv_str(d->u.arr.v[i]) : "";
        return xerr_newv(xv_str(d->u.arr.v[0]) ? xv_str(d->u.arr.v[0]) : "INTERNAL_ERROR", n, params);
    }
    return xerr_new("XMLRPC_UNMARSHAL_FAILURE", "Status struct", "response without Status", NULL);
}
