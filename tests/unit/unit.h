/* What every Check test program shares: a private temporary directory for a test,
 * removed after it, and main (run the suite, fail if any test failed). */
#ifndef XENAPID_UNIT_H
#define XENAPID_UNIT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

/* A new directory /tmp/<name>.XXXXXX in dir (size bytes): short, since a unix socket's
 * path inside it must fit in 108 bytes. */
static inline void unit_tmpdir(char *dir, size_t size, const char *name)
{
    int n = snprintf(dir, size, "/tmp/%s.XXXXXX", name);
    ck_assert(n > 0 && (size_t)n < size);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline void unit_tmpdir_remove(const char *dir)
{
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The whole file (caller frees); a missing one fails the test, naming it. */
static inline char *unit_slurp(const char *path)
{
    char *text = read_file(path, NULL);
    ck_assert_msg(text != NULL, "cannot read %s (tests run from the top of the checkout)", path);
    return text;
}

/* main's whole work: run every test of the suite; the exit status says if one failed. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define UNIT_MAIN(suite_fn) \
    int main(void) { return unit_run(suite_fn()); }

#endif
