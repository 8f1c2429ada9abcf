/* What the Check programs in tests/unit share: their main, a scratch directory and
 * reading a whole file.  Header-only, so the Makefile's test_*.c rule needs nothing. */
#ifndef XENAPID_TESTS_UNIT_H
#define XENAPID_TESTS_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Run every test of the suite; the exit status a test program returns. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#define UNIT_MAIN(suite_fn) \
    int main(void) { return unit_run(suite_fn()); }

/* A fresh directory /tmp/<prefix>.XXXXXX in dir (64 bytes), and its removal. */
static inline void unit_tmpdir(char dir[64], const char *prefix)
{
    snprintf(dir, 64, "/tmp/%s.XXXXXX", prefix);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void unit_rmtree(const char *dir)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

/* The whole file (caller frees); a missing one fails the test, naming it. */
static inline char *unit_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s (tests run from the top of the checkout)", path);
    buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_add(&b, chunk, n);
    fclose(f);
    char *s = buf_steal(&b);
    return s ? s : xstrdup("");
}

#endif
