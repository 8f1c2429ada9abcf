#include "wire.h"
#include "dm_gen.h"

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
    xerr *e = status && strcmp(status, "Failure") == 0 ? wire_error_from_list(d) : NULL;
    return e ? e : err_xmlrpc_unmarshal_failure("Status struct", "response without Status");
}

xerr *wire_error_from_list(const xv *list)
{
    if (!list || list->type != XV_ARRAY || list->u.arr.n == 0)
        return NULL;
    const char *params[64];
    size_t n = 0;
    for (size_t i = 1; i < list->u.arr.n && n < 64; i++)
        params[n++] = xv_str(list->u.arr.v[i]) ? xv_str(list->u.arr.v[i]) : "";
    const char *code = xv_str(list->u.arr.v[0]);
    return xerr_from_wire(code ? code : XERR_INTERNAL_ERROR, n, params);
}
