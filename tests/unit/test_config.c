/* The configuration: every key declared in src/config/keys.c is documented in
 * etc/xenapid.conf with its default and nothing else is; the file format; unknown
 * keys are errors.  Run from the top of the checkout (make test-unit does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"
#include "../../src/config/config_keys.h"
#include "unit.h"

static const char *conf_path(void)
{
    const char *p = getenv("XENAPID_CONF");
    return p ? p : "etc/xenapid.conf";
}

static size_t nkeys(void)
{
    size_t n = 0;
    while (config_keys[n].name)
        n++;
    return n;
}

/* The keys etc/xenapid.conf sets (not the commented-out ones), in order. */
static size_t conf_keys(char keys[][64], size_t max)
{
    FILE *f = fopen(conf_path(), "r");
    ck_assert_msg(f != NULL, "cannot read %s", conf_path());
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '#' || *s == '\n' || !*s)
            continue;
        char *eq = strchr(s, '=');
        ck_assert_msg(eq != NULL, "%s: a line that is neither comment nor key: %s", conf_path(), line);
        while (eq > s && (eq[-1] == ' ' || eq[-1] == '\t'))
            eq--;
        ck_assert_uint_lt(n, max);
        snprintf(keys[n], 64, "%.*s", (int)(eq - s), s);
        n++;
    }
    fclose(f);
    return n;
}

START_TEST(test_every_key_is_documented)
{
    char keys[256][64];
    size_t n = conf_keys(keys, 256);
    for (size_t i = 0; config_keys[i].name; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(keys[j], config_keys[i].name) == 0;
        ck_assert_msg(found, "key %s (src/config/keys.c) is not in %s", config_keys[i].name, conf_path());
        ck_assert_msg(config_keys[i].help && *config_keys[i].help, "key %s has no help", config_keys[i].name);
    }
}
END_TEST

START_TEST(test_every_documented_key_exists)
{
    char keys[256][64];
    size_t n = conf_keys(keys, 256);
    for (size_t j = 0; j < n; j++) {
        ck_assert_msg(config_known(keys[j]), "%s sets '%s', which src/config/keys.c does not declare", conf_path(),
                      keys[j]);
        for (size_t k = 0; k < j; k++)
            ck_assert_msg(strcmp(keys[j], keys[k]) != 0, "%s sets '%s' twice", conf_path(), keys[j]);
    }
    ck_assert_uint_eq(n, nkeys());
}
END_TEST

START_TEST(test_shipped_file_loads_with_the_defaults)
{
    /* the shipped file says what the daemon does without it */
    struct config *c = config_new();
    xerr *e = config_load_file(c, conf_path());
    ck_assert_msg(e == NULL, "%s does not load: %s", conf_path(), e && e->nparams ? e->params[0] : "");
    for (size_t i = 0; config_keys[i].name; i++)
        ck_assert_msg(strcmp(config_get(c, config_keys[i].name), config_keys[i].def) == 0,
                      "%s sets %s = '%s' but the default is '%s'", conf_path(), config_keys[i].name,
                      config_get(c, config_keys[i].name), config_keys[i].def);
    config_free(c);
}
END_TEST

START_TEST(test_defaults_and_help)
{
    struct config *c = config_new();
    for (size_t i = 0; config_keys[i].name; i++) {
        ck_assert(config_known(config_keys[i].name));
        ck_assert_str_eq(config_get(c, config_keys[i].name), config_keys[i].def);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(config_keys[i].name, config_keys[j].name);
    }
    /* --help lists every key with its default */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    config_print_help(mem);
    fclose(mem);
    for (size_t i = 0; config_keys[i].name; i++) {
        _cleanup_free_ char *opt = xasprintf("--%s=VALUE", config_keys[i].name);
        ck_assert_msg(strstr(text, opt) != NULL, "--help lacks %s", opt);
        _cleanup_free_ char *def = xasprintf("(default: '%s')", config_keys[i].def);
        ck_assert_msg(strstr(text, def) != NULL, "--help lacks the default of %s", config_keys[i].name);
    }
    free(text);
    config_free(c);
}
END_TEST

START_TEST(test_unknown_key_is_an_error)
{
    struct config *c = config_new();
    ck_assert(!config_known("listen-prot"));
    ck_assert(!config_known(""));
    ck_assert(!config_known("LISTEN-PORT"));
    xerr *e = config_set(c, "listen-prot", "1");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->code, "INVALID_VALUE");
    ck_assert_uint_eq(e->nparams, 2);
    ck_assert_str_eq(e->params[1], "listen-prot");
    xerr_free(e);
    /* nothing changed */
    ck_assert_str_eq(config_get(c, "listen-port"), "8090");
    config_free(c);
}
END_TEST

static char tmpfile_path[64];

static const char *write_tmp(const char *text)
{
    strcpy(tmpfile_path, "/tmp/conftest.XXXXXX");
    int fd = mkstemp(tmpfile_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return tmpfile_path;
}

START_TEST(test_file_format)
{
    struct config *c = config_new();
    const char *p = write_tmp("# a comment\n"
                              "\n"
                              "   listen-port   =   1234   \n"
                              "\tlog-level=debug\n"
                              "host-name-label = \"  spaced  \"\n"
                              "host-address = ''\n"
                              "  # indented comment = not a key\n"
                              "auth-file = /a/b=c\n"
                              "listen-port = 4321\n");
    xerr *e = config_load_file(c, p);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(config_get(c, "listen-port"), "4321"); /* the last one wins */
    ck_assert_int_eq(config_get_int(c, "listen-port"), 4321);
    ck_assert_str_eq(config_get(c, "log-level"), "debug");
    ck_assert_str_eq(config_get(c, "host-name-label"), "  spaced  ");
    ck_assert_str_eq(config_get(c, "host-address"), "");
    ck_assert_str_eq(config_get(c, "auth-file"), "/a/b=c");
    unlink(p);

    /* an unknown key names the file, the line and the key */
    p = write_tmp("listen-port = 1\n\nlisten-prot = 2\n");
    e = config_load_file(c, p);
    ck_assert_ptr_nonnull(e);
    _cleanup_free_ char *msg = xerr_str(e);
    _cleanup_free_ char *where = xasprintf("%s:3:", p);
    ck_assert_msg(strstr(msg, where) && strstr(msg, "listen-prot"), "%s", msg);
    xerr_free(e);
    unlink(p);

    /* a line without '=' */
    p = write_tmp("log-level debug\n");
    e = config_load_file(c, p);
    ck_assert_ptr_nonnull(e);
    _cleanup_free_ char *msg2 = xerr_str(e);
    _cleanup_free_ char *where2 = xasprintf("%s:1:", p);
    ck_assert_msg(strstr(msg2, where2), "%s", msg2);
    xerr_free(e);
    unlink(p);

    /* a file that is not there */
    e = config_load_file(c, "/nonexistent/xenapid.conf");
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
    config_free(c);
}
END_TEST

/* config_load_text, what config_load_file parses a file's bytes with: the last line
 * needs no newline, a NUL ends its line (as it did a line read from a file), and the
 * errors name the name given and the line. */
START_TEST(test_text)
{
    struct config *c = config_new();
    static const char text[] = "log-level = debug\0 listen-port = 1\nlisten-port = 99";
    xerr *e = config_load_text(c, "mem.conf", text, sizeof(text) - 1);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(config_get(c, "log-level"), "debug");
    ck_assert_int_eq(config_get_int(c, "listen-port"), 99);
    static const char bad[] = "\n# comment\nlog-level debug\n";
    e = config_load_text(c, "mem.conf", bad, sizeof(bad) - 1);
    ck_assert_ptr_nonnull(e);
    _cleanup_free_ char *msg = xerr_str(e);
    ck_assert_msg(strstr(msg, "mem.conf:3:"), "%s", msg);
    xerr_free(e);
    config_free(c);
}
END_TEST

START_TEST(test_typed_getters)
{
    struct config *c = config_new();
    ck_assert_ptr_null(config_set(c, "login-failure-delay", "0.25"));
    ck_assert(config_get_double(c, "login-failure-delay") == 0.25);
    ck_assert_ptr_null(config_set(c, "login-failure-delay", "soon"));
    ck_assert(config_get_double(c, "login-failure-delay") == 0.0);
    ck_assert_ptr_null(config_set(c, "session-timeout", "600"));
    ck_assert_int_eq(config_get_int(c, "session-timeout"), 600);
    ck_assert_ptr_null(config_set(c, "session-timeout", "10m"));
    ck_assert_int_eq(config_get_int(c, "session-timeout"), 0);
    ck_assert_ptr_null(config_set(c, "host-name-label", "on"));
    ck_assert(config_get_bool(c, "host-name-label"));
    ck_assert_ptr_null(config_set(c, "host-name-label", "No"));
    ck_assert(!config_get_bool(c, "host-name-label"));
    config_free(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_every_key_is_documented);
    tcase_add_test(tc, test_every_documented_key_exists);
    tcase_add_test(tc, test_shipped_file_loads_with_the_defaults);
    tcase_add_test(tc, test_defaults_and_help);
    tcase_add_test(tc, test_unknown_key_is_an_error);
    tcase_add_test(tc, test_file_format);
    tcase_add_test(tc, test_text);
    tcase_add_test(tc, test_typed_getters);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
