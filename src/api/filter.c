/* The expression language of get_all_records_where, exactly as xapi reads it
 * (ocaml/database/db_filter_lex.mll, db_filter_parse.mly, db_filter.ml):
 *
 *   expr  := value "=" value | expr "and" expr | expr "or" expr | "not" expr
 *          | "true" | "false" | "(" expr ")"
 *   value := "\"" chars "\"" | "field" "\"" chars "\""
 *
 * "and" and "or" have the same precedence and group to the left; "not" binds loosest
 * (not a and b is not (a and b)).  There is no "<>" and no escape in a string.  Blanks
 * are space, tab and newline; keywords need no word boundary (ocamllex's longest match
 * over these rules).  The expression is parsed once, before any record is looked at: a
 * failure is INVALID_VALUE [expr, what OCaml's Printexc says].  A field compares by
 * its text in the database: ints in decimal, bools true/false, sets and maps as
 * xapi's S-expressions; an unknown field is INTERNAL_ERROR ["missing field", f, ""],
 * raised when a record is evaluated (and/or short-circuit, as OCaml's && and ||).
 * xapi's column for name_label is "name__label"; both spellings are accepted. */
#include "api_int.h"

#include <stdio.h>
#include <string.h>

/* Deepest nesting of not and ( accepted, and the deepest tree (a long and/or chain):
 * a request of a few MB of "not not ..." or "((..." must not exhaust a request
 * thread's stack when it is parsed, matched or freed.  xapi has no such bound. */
#define FILTER_MAX_DEPTH 256
#define FILTER_MAX_TREE 4096

enum tok { T_EQ, T_TRUE, T_FALSE, T_LPAREN, T_RPAREN, T_FIELD, T_AND, T_OR, T_NOT, T_IDENT, T_EOF, T_BAD };

enum node_kind { N_TRUE, N_FALSE, N_NOT, N_AND, N_OR, N_EQ };

struct value {
    bool field;
    char *text;                  /* the literal, or the field's name */
};

struct filter {
    enum node_kind kind;
    int height;                  /* of the tree below, this node included */
    struct filter *a, *b;        /* N_NOT: a; N_AND, N_OR: a, b */
    struct value l, r;           /* N_EQ */
};

struct lexer {
    const char *s;
    enum tok tok;
    char *ident;                 /* T_IDENT's text */
};

static const struct {
    const char *text;
    enum tok tok;
} keywords[] = {
    {"=", T_EQ}, {"true", T_TRUE}, {"false", T_FALSE}, {"(", T_LPAREN}, {")", T_RPAREN},
    {"field", T_FIELD}, {"and", T_AND}, {"or", T_OR}, {"not", T_NOT},
};

static void next(struct lexer *lx)
{
    free(lx->ident);
    lx->ident = NULL;
    while (*lx->s == ' ' || *lx->s == '\t' || *lx->s == '\n')
        lx->s++;
    if (!*lx->s) {
        lx->tok = T_EOF;
        return;
    }
    for (size_t i = 0; i < sizeof(keywords) / sizeof(*keywords); i++) {
        size_t n = strlen(keywords[i].text);
        if (strncmp(lx->s, keywords[i].text, n) == 0) {
            lx->s += n;
            lx->tok = keywords[i].tok;
            return;
        }
    }
    const char *close = *lx->s == '"' ? strchr(lx->s + 1, '"') : NULL;
    if (!close) {
        lx->tok = T_BAD;         /* no rule matches: ocamllex's empty token */
        return;
    }
    lx->ident = xstrndup(lx->s + 1, (size_t)(close - lx->s - 1));
    lx->s = close + 1;
    lx->tok = T_IDENT;
}

struct parser {
    struct lexer lx;
    const char *error;           /* Printexc's text of the first failure */
    int depth;                   /* nots and brackets being parsed */
};

#define TOO_DEEP "the expression nests too deeply"

#define PARSE_ERROR "Stdlib.Parsing.Parse_error"
#define LEX_ERROR "Failure(\"lexing: empty token\")"

static bool fail(struct parser *p)
{
    if (!p->error)
        p->error = p->lx.tok == T_BAD ? LEX_ERROR : PARSE_ERROR;
    return false;
}

static struct filter *node(enum node_kind k, struct filter *a, struct filter *b)
{
    struct filter *f = xcalloc(1, sizeof(*f));
    f->kind = k;
    f->a = a;
    f->b = b;
    int ha = a ? a->height : 0, hb = b ? b->height : 0;
    f->height = (ha > hb ? ha : hb) + 1;
    return f;
}

static bool value(struct parser *p, struct value *v)
{
    v->field = p->lx.tok == T_FIELD;
    if (v->field)
        next(&p->lx);
    if (p->lx.tok != T_IDENT)
        return fail(p);
    v->text = p->lx.ident;
    p->lx.ident = NULL;
    next(&p->lx);
    return true;
}

static struct filter *expr(struct parser *p);

static struct filter *primary(struct parser *p)
{
    switch (p->lx.tok) {
    case T_TRUE:
    case T_FALSE: {
        struct filter *f = node(p->lx.tok == T_TRUE ? N_TRUE : N_FALSE, NULL, NULL);
        next(&p->lx);
        return f;
    }
    case T_LPAREN: {
        next(&p->lx);
        struct filter *f = expr(p);
        if (f && p->lx.tok != T_RPAREN) {
            fail(p);
            filter_free(f);
            return NULL;
        }
        if (f)
            next(&p->lx);
        return f;
    }
    case T_IDENT:
    case T_FIELD: {
        struct filter *f = node(N_EQ, NULL, NULL);
        if (!value(p, &f->l) || (p->lx.tok != T_EQ && !fail(p)) || (next(&p->lx), !value(p, &f->r))) {
            filter_free(f);
            return NULL;
        }
        return f;
    }
    default:
        fail(p);
        return NULL;
    }
}

static struct filter *expr_inner(struct parser *p);

static struct filter *expr(struct parser *p)
{
    if (p->depth >= FILTER_MAX_DEPTH) {
        if (!p->error)
            p->error = TOO_DEEP;
        return NULL;
    }
    p->depth++;
    struct filter *f = expr_inner(p);
    p->depth--;
    return f;
}

/* "not" takes everything to its right; and/or fold to the left. */
static struct filter *expr_inner(struct parser *p)
{
    if (p->lx.tok == T_NOT) {
        next(&p->lx);
        struct filter *a = expr(p);
        return a ? node(N_NOT, a, NULL) : NULL;
    }
    struct filter *left = primary(p);
    while (left && (p->lx.tok == T_AND || p->lx.tok == T_OR)) {
        enum node_kind k = p->lx.tok == T_AND ? N_AND : N_OR;
        next(&p->lx);
        struct filter *right = p->lx.tok == T_NOT ? expr(p) : primary(p);
        if (!right) {
            filter_free(left);
            return NULL;
        }
        left = node(k, left, right);
        if (left->height > FILTER_MAX_TREE) {
            if (!p->error)
                p->error = TOO_DEEP;
            filter_free(left);
            return NULL;
        }
    }
    return left;
}

xerr *filter_parse(const char *text, struct filter **out)
{
    struct parser p = {{text, T_EOF, NULL}, NULL, 0};
    next(&p.lx);
    struct filter *f = expr(&p);
    if (f && p.lx.tok != T_EOF) {
        fail(&p);
        filter_free(f);
        f = NULL;
    }
    free(p.lx.ident);
    if (!f)
        return err_invalid_value(text, p.error ? p.error : PARSE_ERROR);
    *out = f;
    return NULL;
}

void filter_free(struct filter *f)
{
    if (!f)
        return;
    filter_free(f->a);
    filter_free(f->b);
    free(f->l.text);
    free(f->r.text);
    free(f);
}

/* ---- evaluation ---- */

/* xapi's S-expression string: single quotes, with \ and ' escaped. */
static void sexpr_string(buf *b, const char *s)
{
    buf_addc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'' || *s == '\\')
            buf_addc(b, '\\');
        buf_addc(b, *s);
    }
    buf_addc(b, '\'');
}

/* A scalar's text: bare at the top, quoted inside a set or map. */
static void scalar(buf *b, const char *text, bool nested)
{
    if (nested)
        sexpr_string(b, text);
    else
        buf_adds(b, text);
}

static void db_text(buf *b, const xv *v, bool nested)
{
    char n[40];
    switch (v->type) {
    case XV_STRING:
    case XV_DATETIME:
        scalar(b, v->u.str.s, nested);
        break;
    case XV_INT:
        snprintf(n, sizeof(n), "%lld", (long long)v->u.i);
        scalar(b, n, nested);
        break;
    case XV_BOOL:
        scalar(b, v->u.b ? "true" : "false", nested);
        break;
    case XV_FLOAT:
        snprintf(n, sizeof(n), "%.16g", v->u.f);
        scalar(b, n, nested);
        break;
    case XV_ARRAY:
        buf_addc(b, '(');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                buf_addc(b, ' ');
            db_text(b, v->u.arr.v[i], true);
        }
        buf_addc(b, ')');
        break;
    case XV_STRUCT:
        buf_addc(b, '(');
        for (size_t i = 0; i < v->u.st.n; i++) {
            if (i)
                buf_addc(b, ' ');
            buf_addc(b, '(');
            sexpr_string(b, v->u.st.m[i].key);
            buf_addc(b, ' ');
            db_text(b, v->u.st.m[i].val, true);
            buf_addc(b, ')');
        }
        buf_addc(b, ')');
        break;
    case XV_NIL:
    case XV_RAW_XMLRPC: /* never in a record read from the store */
    case XV_RAW_JSON:
        break;
    }
}

static const struct dm_field *column(const struct dm_class *c, const char *name)
{
    const struct dm_field *f = dm_field_find(c, name);
    if (f || !strstr(name, "__"))
        return f;
    char tmp[128];
    size_t j = 0;
    for (size_t i = 0; name[i] && j < sizeof(tmp) - 1; i++) {
        tmp[j++] = name[i];
        if (name[i] == '_' && name[i + 1] == '_')
            i++;
    }
    tmp[j] = 0;
    return dm_field_find(c, tmp);
}

static xerr *lookup(const struct value *v, const struct dm_class *c, const xv *rec, buf *out)
{
    if (!v->field) {
        buf_adds(out, v->text);
        return NULL;
    }
    const struct dm_field *f = column(c, v->text);
    if (!f)
        return err_internal_error_missing_field("missing field", v->text, "");
    const xv *val = xv_struct_get(rec, f->name);
    if (val)
        db_text(out, val, false);
    return NULL;
}

static xerr *eval(const struct filter *f, const struct dm_class *c, const xv *rec, bool *match)
{
    xerr *e = NULL;
    switch (f->kind) {
    case N_TRUE:
        *match = true;
        return NULL;
    case N_FALSE:
        *match = false;
        return NULL;
    case N_NOT:
        e = eval(f->a, c, rec, match);
        *match = !*match;
        return e;
    case N_AND:
    case N_OR:
        e = eval(f->a, c, rec, match);
        if (e || *match == (f->kind == N_OR))
            return e;
        return eval(f->b, c, rec, match);
    case N_EQ: {
        buf l, r;
        buf_init(&l);
        buf_init(&r);
        e = lookup(&f->l, c, rec, &l);
        if (!e)
            e = lookup(&f->r, c, rec, &r);
        *match = !e && l.len == r.len && memcmp(l.p ? l.p : "", r.p ? r.p : "", l.len) == 0;
        buf_free(&l);
        buf_free(&r);
        return e;
    }
    }
    return xerr_internal("filter: bad node");
}

xerr *filter_match(const struct filter *f, const struct dm_class *c, const xv *record, bool *match)
{
    *match = false;
    return eval(f, c, record, match);
}

xerr *filter_eval(const char *expr, const struct dm_class *c, const xv *record, bool *match)
{
    struct filter *f = NULL;
    xerr *e = filter_parse(expr, &f);
    if (!e)
        e = filter_match(f, c, record, match);
    filter_free(f);
    return e;
}
