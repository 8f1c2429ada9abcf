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

xv *wire_error_list(const xerr *e)
{
    xv *d = xv_array();
    xv_array_push(d, xv_string(e->code));
    for (size_t i = 0; i < e->nparams; i++)
        xv_array_push(d, xv_string(e->params[i]));
    return d;
}

xv *wire_failure(const xerr *e)
{
    xv *s = xv_struct();
    xv_struct_append(s, "Status", xv_string("Failure"));
    xv_struct_append(s, "ErrorDescription", wire_error_list(e));
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
    size_t n = list->u.arr.n - 1;
    const char **params = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        params[i] = xv_str(list->u.arr.v[i + 1]) ? xv_str(list->u.arr.v[i + 1]) : "";
    const char *code = xv_str(list->u.arr.v[0]);
    xerr *e = xerr_from_wire(code ? code : XERR_INTERNAL_ERROR, n, params);
    free(params);
    return e;
}
