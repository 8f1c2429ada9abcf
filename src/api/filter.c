/* The expression language of get_all_records_where, as xapi clients write it:
 *   field "power_state" = "Running" and not (field "is_a_template" = "true")
 * Operators: = <> and or not ( ) true false.  A field compares by its wire text
 * (ints in decimal, bools as true/false).  xapi spells name_label "name__label";
 * both are accepted. */
#include "api_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Deepest nesting of not and ( accepted: a long "not not ..." or "((..." must not
 * exhaust a request thread's stack. */
#define FILTER_MAX_DEPTH 256

struct fp {
    const char *s;
    const struct dm_class *c;
    const xv *rec;
    bool bad;
    int depth;   /* factors being parsed */
};

static void ws(struct fp *p)
{
    while (isspace((unsigned char)*p->s))
        p->s++;
}

static bool word(struct fp *p, const char *w)
{
    ws(p);
    size_t n = strlen(w);
    if (strncmp(p->s, w, n) == 0 && !isalnum((unsigned char)p->s[n]) && p->s[n] != '_') {
        p->s += n;
        return true;
    }
    return false;
}

static bool sym(struct fp *p, const char *w)
{
    ws(p);
    if (strncmp(p->s, w, strlen(w)) == 0) {
        p->s += strlen(w);
        return true;
    }
    return false;
}

static char *quoted(struct fp *p)
{
    ws(p);
    if (*p->s != '"') {
        p->bad = true;
        return NULL;
    }
    p->s++;
    buf b;
    buf_init(&b);
    while (*p->s && *p->s != '"') {
        if (*p->s == '\\' && p->s[1])
            p->s++;
        buf_addc(&b, *p->s++);
    }
    if (*p->s != '"') {
        buf_free(&b);
        p->bad = true;
        return NULL;
    }
    p->s++;
    return buf_steal(&b);
}

static char *field_text(struct fp *p, const char *name)
{
    const struct dm_field *f = dm_field_find(p->c, name);
    if (!f && strstr(name, "__")) {
        char tmp[128];
        size_t j = 0;
        for (size_t i = 0; name[i] && j < sizeof(tmp) - 1; i++) {
            tmp[j++] = name[i];
            if (name[i] == '_' && name[i + 1] == '_')
                i++;
        }
        tmp[j] = 0;
        f = dm_field_find(p->c, tmp);
    }
    if (!f)
        return NULL;
    const xv *v = xv_struct_get(p->rec, f->name);
    if (!v)
        return NULL;
    switch (v->type) {
    case XV_STRING:
    case XV_DATETIME: return xstrdup(v->u.str.s);
    case XV_INT: return xasprintf("%lld", (long long)v->u.i);
    case XV_BOOL: return xstrdup(v->u.b ? "true" : "false");
    case XV_FLOAT: return xasprintf("%g", v->u.f);
    default: return NULL;
    }
}

/* An operand's text; NULL for a field that has no comparable text. */
static char *operand(struct fp *p, bool *is_null)
{
    *is_null = false;
    if (word(p, "field")) {
        _cleanup_free_ char *name = quoted(p);
        if (!name)
            return NULL;
        char *t = field_text(p, name);
        *is_null = !t;
        return t;
    }
    return quoted(p);
}

static bool expr(struct fp *p);

static bool factor_at(struct fp *p);

static bool factor(struct fp *p)
{
    if (p->depth >= FILTER_MAX_DEPTH) {
        p->bad = true;
        return false;
    }
    p->depth++;
    bool v = factor_at(p);
    p->depth--;
    return v;
}

static bool factor_at(struct fp *p)
{
    if (p->bad)
        return false;
    if (word(p, "not"))
        return !factor(p);
    if (sym(p, "(")) {
        bool v = expr(p);
        if (!sym(p, ")"))
            p->bad = true;
        return v;
    }
    if (word(p, "true"))
        return true;
    if (word(p, "false"))
        return false;
    bool n1, n2;
    _cleanup_free_ char *a = operand(p, &n1);
    if (p->bad)
        return false;
    bool eq;
    if (sym(p, "<>"))
        eq = false;
    else if (sym(p, "="))
        eq = true;
    else {
        p->bad = true;
        return false;
    }
    _cleanup_free_ char *b = operand(p, &n2);
    if (p->bad)
        return false;
    if (n1 || n2)
        return false;
    return eq == (strcmp(a, b) == 0);
}

static bool term(struct fp *p)
{
    bool v = factor(p);
    while (!p->bad && word(p, "and"))
        v = factor(p) && v;
    return v;
}

static bool expr(struct fp *p)
{
    bool v = term(p);
    while (!p->bad && word(p, "or"))
        v = term(p) || v;
    return v;
}

xerr *filter_eval(const char *text, const struct dm_class *c, const xv *record, bool *match)
{
    struct fp p = {text ? text : "", c, record, false, 0};
    *match = expr(&p);
    ws(&p);
    if (p.bad || *p.s)
        return err_invalid_value("expr", text ? text : "");
    return NULL;
}
