/* The server's certificate: made at first start with its key private, kept after,
 * a key others can read refused, a key without its certificate given one again. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"
#include "util.h"

static char dir[64], cert[96], key[96];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/xa-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
}

static void teardown(void)
{
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

static struct tls_identity *load_ok(void)
{
    const char *addrs[] = {"192.0.2.7", "0.0.0.0", NULL};
    struct tls_identity *id = NULL;
    xerr *e = tls_identity_load(cert, key, addrs, &id);
    ck_assert_msg(e == NULL, "%s", e && e->nparams ? e->params[0] : "");
    return id;
}

START_TEST(test_made_then_kept)
{
    struct tls_identity *a = load_ok();
    ck_assert(a->created);
    ck_assert_ptr_nonnull(strstr(a->cert_pem, "BEGIN CERTIFICATE"));
    ck_assert_ptr_nonnull(strstr(a->key_pem, "PRIVATE KEY"));
    ck_assert_uint_eq(strlen(a->fingerprint), 95); /* 32 bytes as XX:XX:... */
    struct stat st;
    ck_assert_int_eq(stat(key, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    struct tls_identity *b = load_ok();
    ck_assert(!b->created);
    ck_assert_str_eq(a->fingerprint, b->fingerprint);
    ck_assert_str_eq(a->cert_pem, b->cert_pem);
    tls_identity_free(a);
    tls_identity_free(b);
}
END_TEST

START_TEST(test_a_key_others_can_read_is_refused)
{
    tls_identity_free(load_ok());
    ck_assert_int_eq(chmod(key, 0640), 0);
    struct tls_identity *id = NULL;
    xerr *e = tls_identity_load(cert, key, NULL, &id);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(id);
    ck_assert_ptr_nonnull(strstr(e->params[0], "can be read by others"));
    xerr_free(e);
}
END_TEST

START_TEST(test_a_certificate_without_its_key_is_refused)
{
    tls_identity_free(load_ok());
    unlink(key);
    struct tls_identity *id = NULL;
    xerr *e = tls_identity_load(cert, key, NULL, &id);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
}
END_TEST

START_TEST(test_a_key_without_its_certificate_gets_one)
{
    struct tls_identity *a = load_ok();
    _cleanup_free_ char *key_pem = xstrdup(a->key_pem);
    tls_identity_free(a);
    unlink(cert); /* as a start that died between the two files leaves them */
    struct tls_identity *b = load_ok();
    ck_assert(b->created);
    ck_assert_str_eq(b->key_pem, key_pem);
    tls_identity_free(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("certificate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_made_then_kept);
    tcase_add_test(tc, test_a_key_others_can_read_is_refused);
    tcase_add_test(tc, test_a_certificate_without_its_key_is_refused);
    tcase_add_test(tc, test_a_key_without_its_certificate_gets_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
