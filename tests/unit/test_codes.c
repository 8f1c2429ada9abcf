/* Every error code the daemon can raise is declared in the datamodel with its
 * parameter count.  The test reads the source tree (SRC_DIR, default src/: make
 * test-unit runs from the top of the checkout) as a C tokenizer would, comments and
 * all, and checks each way a code can be raised or compared:
 *   err_<code>(...)            a generated constructor: the code must be declared;
 *   xerr_new("CODE", ..., NULL) the transitional raw form: declared, same count;
 *   xerr_is(e, "CODE")         a literal never matches if misspelt: declared;
 *   any "CODE" literal         outside the files still converting, none at all. */
#include <assert.h>
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_gen.h"
#include "util.h"
#include "unit.h"

/* Files allowed to raise through a literal code: none (kept as a list so that a
 * future transition has one place to say so). */
static const char *const converting[] = {
    NULL,
};

/* The hand-written err_* functions that are not constructors of a code. */
static const char *const not_codes[] = {
    NULL,
};

enum tk { T_IDENT, T_STRING, T_PUNCT };

struct tok {
    enum tk kind;
    char *text;  /* identifier, decoded string, or the punctuation character */
    int line;
};

struct toks {
    struct tok *v;
    size_t n, cap;
};

static void push(struct toks *t, enum tk kind, char *text, int line)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n++] = (struct tok){kind, text, line};
}

/* C tokens of a file: comments and preprocessor line continuations dropped, adjacent
 * string literals kept apart (a code is never split). */
static void tokenize(const char *s, struct toks *out)
{
    int line = 1;
    while (*s) {
        if (*s == '\n') {
            line++;
            s++;
        } else if (s[0] == '/' && s[1] == '/') {
            while (*s && *s != '\n')
                s++;
        } else if (s[0] == '/' && s[1] == '*') {
            s += 2;
            while (*s && !(s[0] == '*' && s[1] == '/'))
                line += *s++ == '\n';
            if (*s)
                s += 2;
        } else if (*s == '"' || *s == '\'') {
            char q = *s++;
            buf b;
            buf_init(&b);
            while (*s && *s != q) {
                if (*s == '\\' && s[1])
                    s++;
                buf_addc(&b, *s++);
            }
            if (*s)
                s++;
            char *text = buf_steal(&b);
            if (q == '"')
                push(out, T_STRING, text ? text : xstrdup(""), line);
            else
                free(text);
        } else if (isalpha((unsigned char)*s) || *s == '_') {
            const char *st = s;
            while (isalnum((unsigned char)*s) || *s == '_')
                s++;
            push(out, T_IDENT, xstrndup(st, (size_t)(s - st)), line);
        } else if (isspace((unsigned char)*s) || isdigit((unsigned char)*s)) {
            s++;
        } else {
            push(out, T_PUNCT, xstrndup(s, 1), line);
            s++;
        }
    }
}

static bool punct(const struct tok *t, char c)
{
    return t->kind == T_PUNCT && t->text[0] == c;
}

/* The arguments of the call whose '(' is at *i: the index of each argument's first
 * token, in args; returns the count (0 for "()"), leaving *i after the ')'. */
static size_t call_args(const struct toks *t, size_t *i, size_t *args, size_t cap)
{
    size_t n = 0, depth = 0, k = *i;
    assert(punct(&t->v[k], '('));
    for (k++; k < t->n; k++) {
        const struct tok *c = &t->v[k];
        if (depth == 0 && punct(c, ')'))
            break;
        if (n == 0 && n < cap)
            args[n++] = k;
        if (punct(c, '(') || punct(c, '[') || punct(c, '{'))
            depth++;
        else if (punct(c, ')') || punct(c, ']') || punct(c, '}'))
            depth--;
        else if (depth == 0 && punct(c, ',') && n < cap)
            args[n++] = k + 1;
    }
    *i = k;
    return n;
}

static bool is_code_like(const char *s)
{
    /* a XenAPI code: upper case, digits and at least one underscore */
    if (!isupper((unsigned char)*s) || !strchr(s, '_'))
        return false;
    for (; *s; s++)
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static const struct dm_error *by_lower(const char *lname)
{
    for (size_t i = 0; i < dm_nerrors; i++) {
        char l[128];
        size_t j = 0;
        for (const char *p = dm_errors[i].name; *p && j < sizeof(l) - 1; p++)
            l[j++] = (char)tolower((unsigned char)*p);
        l[j] = 0;
        if (strcmp(l, lname) == 0)
            return &dm_errors[i];
        /* a <form> of the code: err_<code>_<form> */
        for (size_t f = 0; f < dm_errors[i].nforms; f++)
            if (strncmp(lname, l, j) == 0 && lname[j] == '_' && strcmp(lname + j + 1, dm_errors[i].forms[f]) == 0)
                return &dm_errors[i];
    }
    return NULL;
}

static bool listed(const char *const *list, const char *s, bool prefix)
{
    for (; *list; list++)
        if (prefix ? str_startswith(s, *list) : strcmp(s, *list) == 0)
            return true;
    return false;
}

struct findings {
    buf problems;
    int constructor_calls, raw_calls, comparisons;
    bool raised[1024];   /* by dm_errors index */
};

static void problem(struct findings *f, const char *path, int line, const char *fmt, const char *a)
{
    buf_printf(&f->problems, "%s:%d: ", path, line);
    buf_printf(&f->problems, fmt, a);
    buf_addc(&f->problems, '\n');
}

static void check_file(const char *path, struct findings *f)
{
    _cleanup_free_ char *text = unit_slurp(path);
    struct toks t = {0};
    tokenize(text, &t);
    bool tolerant = listed(converting, path, true);
    for (size_t i = 0; i < t.n; i++) {
        struct tok *k = &t.v[i];
        bool is_call = i + 1 < t.n && punct(&t.v[i + 1], '(');
        /* a declaration or definition, f(const char *...), is not a call */
        if (is_call && i + 2 < t.n && t.v[i + 2].kind == T_IDENT && strcmp(t.v[i + 2].text, "const") == 0)
            is_call = false;
        if (k->kind == T_IDENT && is_call && str_startswith(k->text, "err_") && !listed(not_codes, k->text, false)) {
            const struct dm_error *d = by_lower(k->text + 4);
            if (!d) {
                problem(f, path, k->line, "%s: no such error code in the datamodel", k->text);
            } else {
                f->raised[d - dm_errors] = true;
                f->constructor_calls++;
            }
        } else if (k->kind == T_IDENT && is_call && strcmp(k->text, "xerr_new") == 0) {
            size_t j = i + 1, args[64];
            size_t n = call_args(&t, &j, args, 64);
            f->raw_calls++;
            if (n == 0 || t.v[args[0]].kind != T_STRING) {
                problem(f, path, k->line, "%s with a code that is not a literal", "xerr_new");
                continue;
            }
            const char *code = t.v[args[0]].text;
            bool sentinel = n >= 2 && t.v[args[n - 1]].kind == T_IDENT && strcmp(t.v[args[n - 1]].text, "NULL") == 0;
            const struct dm_error *d = dm_error_find(code);
            if (!d)
                problem(f, path, k->line, "xerr_new(\"%s\"): not declared in the datamodel", code);
            else if (!sentinel || d->nparams != n - 2)
                problem(f, path, k->line, "xerr_new(\"%s\"): not the declared number of parameters", code);
            else
                f->raised[d - dm_errors] = true;
            if (!tolerant)
                problem(f, path, k->line, "xerr_new(\"%s\"): use the generated constructor", code);
        } else if (k->kind == T_IDENT && is_call && strcmp(k->text, "xerr_is") == 0) {
            size_t j = i + 1, args[4];
            size_t n = call_args(&t, &j, args, 4);
            f->comparisons++;
            if (n == 2 && t.v[args[1]].kind == T_STRING) {
                if (!dm_error_find(t.v[args[1]].text))
                    problem(f, path, k->line, "xerr_is(e, \"%s\") compares with a code never declared",
                            t.v[args[1]].text);
                if (!tolerant)
                    problem(f, path, k->line, "xerr_is(e, \"%s\"): use the XERR_ constant", t.v[args[1]].text);
            }
        } else if (k->kind == T_IDENT && is_call && strcmp(k->text, "xerr__raise") == 0) {
            /* only the generated constructors (build/gen, not scanned) */
            problem(f, path, k->line, "%s outside generated code", k->text);
        } else if (k->kind == T_IDENT && is_call && strcmp(k->text, "xerr_from_wire") == 0 && !strstr(path, "/wire/")) {
            /* a remote error is relayed by the wire module, never raised locally */
            problem(f, path, k->line, "%s outside src/wire", k->text);
        } else if (k->kind == T_STRING && is_code_like(k->text) && dm_error_find(k->text) && !tolerant) {
            problem(f, path, k->line, "\"%s\": a code as a literal (use XERR_ or err_)", k->text);
        }
    }
    for (size_t i = 0; i < t.n; i++)
        free(t.v[i].text);
    free(t.v);
}

static void walk(const char *dir, struct findings *f, int *files)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (set SRC_DIR)", dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        ck_assert_int_eq(stat(p, &st), 0);
        size_t l = strlen(de->d_name);
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(de->d_name, "dmgen") != 0) /* the generator writes calls, it makes none */
                walk(p, f, files);
        } else if (l > 2 && (strcmp(de->d_name + l - 2, ".c") == 0 || strcmp(de->d_name + l - 2, ".h") == 0)) {
            check_file(p, f);
            (*files)++;
        }
    }
    closedir(d);
}

START_TEST(test_every_raised_code_is_declared)
{
    const char *src = getenv("SRC_DIR") ? getenv("SRC_DIR") : "src";
    struct findings *f = xcalloc(1, sizeof(*f));
    ck_assert_uint_le(dm_nerrors, sizeof(f->raised));
    buf_init(&f->problems);
    int files = 0;
    walk(src, f, &files);
    /* the scan saw the tree: not a test that passes on an empty directory */
    ck_assert_int_gt(files, 50);
    ck_assert_int_gt(f->constructor_calls, 50);
    ck_assert_msg(f->problems.len == 0, "%s", f->problems.p);
    /* the codes the server sends most are among those found raised */
    ck_assert(f->raised[dm_error_find("HANDLE_INVALID") - dm_errors]);
    ck_assert(f->raised[dm_error_find("SESSION_INVALID") - dm_errors]);
    ck_assert(f->raised[dm_error_find("VM_BAD_POWER_STATE") - dm_errors]);
    buf_free(&f->problems);
    free(f);
}
END_TEST

/* The scanner itself: it finds what it must and skips comments. */
START_TEST(test_scanner_finds_mistakes)
{
    char dir[] = "/tmp/codestest.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    _cleanup_free_ char *p = xasprintf("%s/bad.c", dir);
    FILE *o = fopen(p, "w");
    ck_assert_ptr_nonnull(o);
    fputs("/* xerr_new(\"IN_A_COMMENT\", NULL) */\n"
          "x = xerr_new(\"VM_REQUIRES_HVM\", vm, host, NULL);\n"
          "y = xerr_new(\"HANDLE_INVALID\", c, NULL);\n"
          "z = err_no_such_thing(a);\n"
          "if (xerr_is(e, \"TASK_CANCELED\")) w = 1;\n"
          "v = \"OPERATION_BLOCKED\";\n"
          "u = err_operation_blocked(ref, code);\n"
          "t = xerr__raise(\"EVENTS_LOST\", 0, NULL);\n"
          "r = xerr_from_wire(code, n, p);\n",
          o);
    fclose(o);
    struct findings *f = xcalloc(1, sizeof(*f));
    buf_init(&f->problems);
    check_file(p, f);
    const char *text = f->problems.p ? f->problems.p : "";
    ck_assert_msg(strstr(text, "IN_A_COMMENT") == NULL, "%s", text);
    ck_assert_msg(strstr(text, "\"VM_REQUIRES_HVM\"): not declared"), "%s", text);
    ck_assert_msg(strstr(text, "\"HANDLE_INVALID\"): not the declared number"), "%s", text);
    ck_assert_msg(strstr(text, "err_no_such_thing: no such error code"), "%s", text);
    ck_assert_msg(strstr(text, "\"TASK_CANCELED\") compares with a code never declared"), "%s", text);
    ck_assert_msg(strstr(text, "\"OPERATION_BLOCKED\": a code as a literal"), "%s", text);
    ck_assert_msg(strstr(text, "xerr__raise outside generated code"), "%s", text);
    ck_assert_msg(strstr(text, "xerr_from_wire outside src/wire"), "%s", text);
    ck_assert_int_eq(f->constructor_calls, 1);
    ck_assert(f->raised[dm_error_find("OPERATION_BLOCKED") - dm_errors]);
    buf_free(&f->problems);
    free(f);
    ck_assert_int_eq(remove(p), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("codes");
    TCase *tc = tcase_create("declared");
    tcase_add_test(tc, test_every_raised_code_is_declared);
    tcase_add_test(tc, test_scanner_finds_mistakes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
