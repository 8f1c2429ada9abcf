/* get_all_records_where's expression language (src/api/filter.c) on one VM record:
 * what matches, what is refused as INVALID_VALUE [expr, msg] (xapi's grammar:
 * ocaml/database/db_filter_lex.mll, db_filter_parse.mly), and deep nesting, which
 * is refused instead of exhausting the stack (found by tests/fuzz/fuzz_filter). */
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_int.h"
#include "unit.h"

static xv *vm(void)
{
    xv *r = xv_struct();
    xv_struct_append(r, "uuid", xv_string("u-1"));
    xv_struct_append(r, "name_label", xv_string("a b"));
    xv_struct_append(r, "power_state", xv_string("Halted"));
    xv_struct_append(r, "is_a_template", xv_bool(false));
    xv_struct_append(r, "VCPUs_max", xv_int(3));
    return r;
}

/* 1 match, 0 no match, -1 refused (and then the error names the expression) */
static int eval(const char *text)
{
    xv *r = vm();
    bool match = false;
    xerr *e = filter_eval(text, DMC_VM, r, &match);
    xv_free(r);
    if (e) {
        ck_assert_str_eq(e->code, "INVALID_VALUE");
        ck_assert_uint_eq(e->nparams, 2);
        ck_assert_str_eq(e->params[0], text);
        xerr_free(e);
        return -1;
    }
    return match;
}

START_TEST(test_matches)
{
    ck_assert_int_eq(eval("true"), 1);
    ck_assert_int_eq(eval("false"), 0);
    ck_assert_int_eq(eval("field \"uuid\" = \"u-1\""), 1);
    ck_assert_int_eq(eval("field \"name__label\" = \"a \\\"b\\\"\""), -1); /* no escapes */
    ck_assert_int_eq(eval("field \"name__label\" = \"a b\""), 1);
    ck_assert_int_eq(eval("field \"VCPUs_max\" = \"3\" and not (field \"is_a_template\" = \"true\")"), 1);
    ck_assert_int_eq(eval("field \"power_state\" <> \"Halted\" or false"), -1); /* no <> */
    ck_assert_int_eq(eval("not field \"power_state\" = \"Halted\" or true"), 0); /* not (a or b) */
    ck_assert_int_eq(eval("field \"uuid\" ="), -1);
    ck_assert_int_eq(eval("(true"), -1);
}
END_TEST

static char *repeat(const char *unit, size_t n, const char *tail)
{
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++)
        buf_adds(&b, unit);
    buf_adds(&b, tail);
    return buf_steal(&b);
}

START_TEST(test_deep_nesting)
{
    /* within the bound: evaluated */
    _cleanup_free_ char *nots = repeat("not ", 100, "true");
    ck_assert_int_eq(eval(nots), 1);
    _cleanup_free_ char *open = repeat("(", 100, "true");
    _cleanup_free_ char *brackets = repeat(")", 100, "");
    _cleanup_free_ char *both = xasprintf("%s%s", open, brackets);
    ck_assert_int_eq(eval(both), 1);
    /* far beyond it: refused, as a request body of a few MB could hold; before the
     * bound this overflowed the stack */
    _cleanup_free_ char *deep_nots = repeat("not ", 1000000, "true");
    ck_assert_int_eq(eval(deep_nots), -1);
    _cleanup_free_ char *deep_open = repeat("(", 1000000, "true");
    ck_assert_int_eq(eval(deep_open), -1);
    /* a long and-chain is no recursion when parsed, but its tree is matched and freed
     * recursively: bounded too */
    _cleanup_free_ char *chain = repeat("true and ", 1000, "true");
    ck_assert_int_eq(eval(chain), 1);
    _cleanup_free_ char *long_chain = repeat("true and ", 1000000, "true");
    ck_assert_int_eq(eval(long_chain), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("filter");
    TCase *tc = tcase_create("filter");
    tcase_add_test(tc, test_matches);
    tcase_add_test(tc, test_deep_nesting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(suite());
}
