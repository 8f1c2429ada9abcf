/* For the Check programs that drive src/api as a client would (test_api, test_vm). */
#ifndef XENAPID_TESTS_UNIT_API_H
#define XENAPID_TESTS_UNIT_API_H

#include <stdarg.h>

#include "api.h"

/* method([session,] args...): the args are owned xv values, NULL-terminated; *result
 * gets the value (or NULL), or it is freed when result is NULL. */
static inline xerr *unit_api_callv(struct api *api, const char *session, const char *method, xv **result,
                                   va_list ap)
{
    xv *params = xv_array();
    if (session)
        xv_array_push(params, xv_string(session));
    for (xv *v; (v = va_arg(ap, xv *)) != NULL;)
        xv_array_push(params, v);
    xv *r = NULL;
    xerr *e = api_call(api, method, params, &(struct api_peer){.addr = "test"}, &r);
    xv_free(params);
    if (result)
        *result = r;
    else
        xv_free(r);
    return e;
}

#endif
