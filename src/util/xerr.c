#include "xerr.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static xerr *make(const char *code, size_t n, const char *const *params)
{
    xerr *e = xcalloc(1, sizeof(*e));
    e->code = xstrdup(code);
    e->nparams = n;
    e->params = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        e->params[i] = xstrdup(params[i] ? params[i] : "");
    return e;
}

xerr *xerr__raise(const char *code, size_t n, const char *const *params)
{
    return make(code, n, params);
}

xerr *xerr_from_wire(const char *code, size_t n, const char *const *params)
{
    return make(code, n, params);
}

xerr *xerr_dup(const xerr *e)
{
    return e ? make(e->code, e->nparams, (const char *const *)e->params) : NULL;
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
