#include "xerr.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

xerr *xerr_newv(const char *code, size_t n, const char *const *params)
{
    xerr *e = xcalloc(1, sizeof(*e));
    e->code = xstrdup(code);
    e->nparams = n;
    e->params = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        e->params[i] = xstrdup(params[i] ? params[i] : "");
    return e;
}

xerr *xerr_new(const char *code, ...)
{
    const char *params[32];
    size_t n = 0;
    va_list ap;
    va_start(ap, code);
    for (const char *p; (p = va_arg(ap, const char *)) != NULL && n < 32;)
        params[n++] = p;
    va_end(ap);
    return xerr_newv(code, n, params);
}

xerr *xerr_internal(const char *fmt, ...)
{
    va_list ap;
    char *msg;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    xerr *e = xerr_new("INTERNAL_ERROR", msg, NULL);
    free(msg);
    return e;
}

xerr *xerr_dup(const xerr *e)
{
    return e ? xerr_newv(e->code, e->nparams, (const char *const *)e->params) : NULL;
}

void xerr_free(xerr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nparams; i++)
        free(e->params[i]);
    free(e->params);
    free(e->code);
    free(e);
}

char *xerr_str(const xerr *e)
{
    buf b;
    buf_init(&b);
    buf_adds(&b, e->code);
    buf_adds(&b, " [");
    for (size_t i = 0; i < e->nparams; i++) {
        if (i)
            buf_adds(&b, "; ");
        buf_adds(&b, e->params[i]);
    }
    buf_addc(&b, ']');
    return buf_steal(&b);
}

int xerr_is(const xerr *e, const char *code)
{
    return e && strcmp(e->code, code) == 0;
}
