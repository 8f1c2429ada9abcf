/* The rpc client over TLS, against a GnuTLS server in a thread of this process with a
 * certificate made here: the check sees the certificate's real SHA-256 fingerprint, a
 * check that refuses stops the call before a byte of the request is sent, and without
 * a check a self-signed certificate is refused.  Also the spellings of a fingerprint. */
#include <check.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "dm_gen.h"
#include "rpc.h"
#include "unit.h"

static gnutls_certificate_credentials_t server_cred;
static char cert_fingerprint[RPC_FINGERPRINT_LEN + 1];

/* A self-signed ECDSA certificate for 127.0.0.1, and its fingerprint. */
static void make_identity(void)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    ck_assert_int_ge(gnutls_x509_privkey_init(&key), 0);
    ck_assert_int_ge(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
    ck_assert_int_ge(gnutls_x509_crt_init(&crt), 0);
    unsigned char serial[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    time_t now = time(NULL);
    ck_assert_int_ge(gnutls_x509_crt_set_version(crt, 3), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "127.0.0.1", 9), 0);
    ck_assert_int_ge(gnutls_x509_crt_set_key(crt, key), 0);
    ck_assert_int_ge(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    unsigned char der[4096], md[32];
    size_t dlen = sizeof(der), mlen = sizeof(md);
    ck_assert_int_ge(gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_DER, der, &dlen), 0);
    gnutls_datum_t d = {der, (unsigned)dlen};
    ck_assert_int_ge(gnutls_fingerprint(GNUTLS_DIG_SHA256, &d, md, &mlen), 0);
    for (size_t i = 0; i < mlen; i++)
        snprintf(cert_fingerprint + 3 * i, 4, i + 1 < mlen ? "%02X:" : "%02X", md[i]);
    ck_assert_int_ge(gnutls_certificate_allocate_credentials(&server_cred), 0);
    ck_assert_int_ge(gnutls_certificate_set_x509_key(server_cred, &crt, 1, key), 0);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

/* The canned answer to any call: HTTP and an XML-RPC Success of "pong"; its length. */
#define PONG_BODY                                                                           \
    "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>"                 \
    "<member><name>Status</name><value>Success</value></member>"                            \
    "<member><name>Value</name><value>pong</value></member>"                                \
    "</struct></value></param></params></methodResponse>"

static int pong(char *out, size_t n)
{
    static const char body[] = PONG_BODY;
    return snprintf(out, n, "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n\r\n%s",
                    sizeof(body) - 1, body);
}

/* One connection: handshake, then read what the client sends until it closes; answer
 * one canned XML-RPC response to a request. */
struct server {
    int lfd, port;
    pthread_t thread;
    size_t received;           /* request bytes after the handshake */
    bool handshake_ok;
};

static void *serve(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    gnutls_session_t tls;
    gnutls_init(&tls, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
    gnutls_priority_set_direct(tls, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", NULL);
    gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, server_cred);
    gnutls_transport_set_int(tls, fd);
    int rc;
    do
        rc = gnutls_handshake(tls);
    while (rc < 0 && !gnutls_error_is_fatal(rc));
    s->handshake_ok = rc >= 0;
    char data[8192];
    ssize_t n;
    while (s->handshake_ok && (n = gnutls_record_recv(tls, data, sizeof(data))) > 0) {
        s->received += (size_t)n;
        if (memmem(data, (size_t)n, "</methodCall>", 13)) {
            char resp[1024];
            int len = pong(resp, sizeof(resp));
            gnutls_record_send(tls, resp, (size_t)len);
        }
    }
    gnutls_deinit(tls);
    close(fd);
    return NULL;
}

/* A socket listening on a free loopback port; *port gets the port. */
static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(sa);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void server_start(struct server *s)
{
    memset(s, 0, sizeof(*s));
    s->lfd = listen_loopback(&s->port);
    pthread_create(&s->thread, NULL, serve, s);
}

static void server_join(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

static struct rpc_client *client_for(const struct server *s)
{
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", s->port);
    struct rpc_client *c = NULL;
    ck_assert_ptr_null(rpc_client_open(url, &c));
    return c;
}

struct seen {
    char host[64], port[16], fp[RPC_FINGERPRINT_LEN + 1];
    bool refuse;
};

static xerr *check(void *ctx, const char *host, const char *port, const char *fp)
{
    struct seen *s = ctx;
    snprintf(s->host, sizeof(s->host), "%s", host);
    snprintf(s->port, sizeof(s->port), "%s", port);
    snprintf(s->fp, sizeof(s->fp), "%s", fp);
    return s->refuse ? err_cli_failed("refused") : NULL;
}

START_TEST(test_check_sees_the_fingerprint_and_the_call_goes_through)
{
    struct server s;
    server_start(&s);
    struct rpc_client *c = client_for(&s);
    struct seen seen = {.refuse = false};
    rpc_client_set_cert_check(c, check, &seen);
    xv *params = xv_array(), *result = NULL;
    xerr *e = rpc_client_call(c, "ping", params, &result);
    ck_assert_msg(e == NULL, "%s", e ? xerr_str(e) : "");
    ck_assert_str_eq(xv_str(result), "pong");
    ck_assert_str_eq(seen.fp, cert_fingerprint);
    ck_assert_str_eq(seen.host, "127.0.0.1");
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    ck_assert_str_eq(seen.port, port);
    xv_free(result);
    xv_free(params);
    rpc_client_close(c);
    server_join(&s);
    ck_assert(s.handshake_ok);
    ck_assert_uint_gt(s.received, 0);
}
END_TEST

START_TEST(test_a_refusing_check_sends_nothing)
{
    struct server s;
    server_start(&s);
    struct rpc_client *c = client_for(&s);
    struct seen seen = {.refuse = true};
    rpc_client_set_cert_check(c, check, &seen);
    xv *params = xv_array(), *result = NULL;
    xerr *e = rpc_client_call(c, "session.login_with_password", params, &result);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->code, XERR_CLI_FAILED);      /* the check's own error, as it made it */
    ck_assert_ptr_null(result);
    xerr_free(e);
    xv_free(params);
    rpc_client_close(c);
    server_join(&s);
    ck_assert(s.handshake_ok);
    ck_assert_uint_eq(s.received, 0);
}
END_TEST

START_TEST(test_without_a_check_a_self_signed_certificate_is_refused)
{
    struct server s;
    server_start(&s);
    struct rpc_client *c = client_for(&s);
    xv *params = xv_array(), *result = NULL;
    xerr *e = rpc_client_call(c, "ping", params, &result);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->code, XERR_INTERNAL_ERROR);
    ck_assert_msg(strstr(e->params[0], "not trusted") != NULL, "%s", e->params[0]);
    xerr_free(e);
    xv_free(params);
    rpc_client_close(c);
    server_join(&s);
    ck_assert_uint_eq(s.received, 0);
}
END_TEST

START_TEST(test_fingerprint_spellings)
{
    const char *want = "AD:54:1F:D8:CB:18:BD:02:4F:FB:14:CE:CC:50:A4:58:8A:38:4A:DA:0A:0A:71:A4:E4:9A:6C:A5:A8:26:37:A4";
    const char *ok[] = {
        "AD:54:1F:D8:CB:18:BD:02:4F:FB:14:CE:CC:50:A4:58:8A:38:4A:DA:0A:0A:71:A4:E4:9A:6C:A5:A8:26:37:A4",
        "ad541fd8cb18bd024ffb14cecc50a4588a384ada0a0a71a4e49a6ca5a82637a4",
        "sha256 Fingerprint=AD:54:1F:D8:CB:18:BD:02:4F:FB:14:CE:CC:50:A4:58:8A:38:4A:DA:0A:0A:71:A4:E4:9A:6C:A5:A8:26:37:A4",
        "SHA256:ad541fd8cb18bd024ffb14cecc50a4588a384ada0a0a71a4e49a6ca5a82637a4",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char out[RPC_FINGERPRINT_LEN + 1];
        ck_assert_msg(rpc_fingerprint_parse(ok[i], out), "%s", ok[i]);
        ck_assert_str_eq(out, want);
    }
    const char *bad[] = {"", "AD:54", "ad541fd8cb18bd024ffb14cecc50a4588a384ada0a0a71a4e49a6ca5a82637a4ff",
                         "zz541fd8cb18bd024ffb14cecc50a4588a384ada0a0a71a4e49a6ca5a82637a4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[RPC_FINGERPRINT_LEN + 1];
        ck_assert_msg(!rpc_fingerprint_parse(bad[i], out), "accepted: %s", bad[i]);
    }
}
END_TEST

/* ---- a kept connection and its reconnection, over plain HTTP ---- */

enum act { ANSWER, ANSWER_THEN_CLOSE, DROP }; /* DROP: read the request, close unanswered */

/* Connections one after another; the k-th request gets acts[k]; it ends when the
 * client closes after the last act. */
struct flaky {
    int lfd, port;
    pthread_t thread;
    const enum act *acts;
    int nacts;
    int requests, connections; /* what arrived */
    char methods[8][64];       /* the method of each request */
    int conn_of[8];            /* and the connection it came on (1, 2, ...) */
    atomic_bool closed_one;  /* it closed a connection itself (ANSWER_THEN_CLOSE) */
};

static void *flaky_serve(void *arg)
{
    struct flaky *f = arg;
    while (f->requests < f->nacts) {
        int fd = accept(f->lfd, NULL, NULL);
        ck_assert_int_ge(fd, 0);
        f->connections++;
        char data[8192];
        size_t have = 0;
        bool open = true;
        while (open) {
            ssize_t n = read(fd, data + have, sizeof(data) - 1 - have);
            if (n <= 0)
                break;
            have += (size_t)n;
            data[have] = 0;
            char *end = strstr(data, "</methodCall>");
            if (!end)
                continue;
            ck_assert_int_lt(f->requests, f->nacts);
            const char *m = strstr(data, "<methodName>");
            snprintf(f->methods[f->requests], sizeof(f->methods[0]), "%.*s", m ? (int)strcspn(m + 12, "<") : 0,
                     m ? m + 12 : "");
            f->conn_of[f->requests] = f->connections;
            enum act a = f->acts[f->requests++];
            have = 0;
            if (a == DROP)
                break;
            char resp[1024];
            int len = pong(resp, sizeof(resp));
            ck_assert_int_eq(write(fd, resp, (size_t)len), len);
            open = a == ANSWER;
        }
        close(fd);
        if (!open)
            f->closed_one = true;
    }
    return NULL;
}

static struct rpc_client *flaky_start(struct flaky *f, const enum act *acts, int n)
{
    memset(f, 0, sizeof(*f));
    f->acts = acts;
    f->nacts = n;
    f->lfd = listen_loopback(&f->port);
    pthread_create(&f->thread, NULL, flaky_serve, f);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->port);
    struct rpc_client *c = NULL;
    ck_assert_ptr_null(rpc_client_open(url, &c));
    return c;
}

static xerr *ping(struct rpc_client *c, const char *method)
{
    xv *r = NULL;
    xerr *e = rpc_client_call(c, method, NULL, &r);
    if (!e)
        ck_assert_str_eq(xv_str(r), "pong");
    xv_free(r);
    return e;
}

/* The server closed the kept connection while it was idle (its keep-alive timeout):
 * the next call, even one that must not run twice, goes once on a new connection. */
START_TEST(test_a_connection_closed_while_idle_is_opened_again)
{
    static const enum act acts[] = {ANSWER_THEN_CLOSE, ANSWER};
    struct flaky f;
    struct rpc_client *c = flaky_start(&f, acts, 2);
    ck_assert_ptr_null(ping(c, "VM.start"));
    while (!f.closed_one)
        usleep(1000);
    usleep(10000); /* its FIN on our side */
    ck_assert_ptr_null(ping(c, "VM.clean_shutdown"));
    rpc_client_close(c);
    pthread_join(f.thread, NULL);
    close(f.lfd);
    ck_assert_int_eq(f.requests, 2);
    ck_assert_int_eq(f.connections, 2);
    ck_assert_str_eq(f.methods[1], "VM.clean_shutdown");
}
END_TEST

/* The server took a call and went without answering: it may have run it, so a call
 * that changes something is not sent again (the caller learns the link failed); a
 * read is, on a new connection. */
START_TEST(test_a_call_left_unanswered_is_sent_again_only_if_a_read)
{
    static const enum act acts[] = {ANSWER, DROP, ANSWER, DROP, ANSWER};
    struct flaky f;
    struct rpc_client *c = flaky_start(&f, acts, 5);
    ck_assert_ptr_null(ping(c, "VM.get_record"));
    xerr *e = ping(c, "VM.start");
    ck_assert_ptr_nonnull(e);
    ck_assert_msg(strstr(e->params[0], "closed") && strstr(e->params[0], "may have run"), "%s", e->params[0]);
    xerr_free(e);
    ck_assert_ptr_null(ping(c, "VM.get_record")); /* then the link works again */
    ck_assert_ptr_null(ping(c, "VM.get_power_state")); /* dropped, sent again, answered */
    rpc_client_close(c);
    pthread_join(f.thread, NULL);
    close(f.lfd);
    ck_assert_int_eq(f.requests, 5);
    const char *want[] = {"VM.get_record", "VM.start", "VM.get_record", "VM.get_power_state", "VM.get_power_state"};
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(f.methods[i], want[i]);
}
END_TEST

/* A server may close a connection idle for its keep-alive timeout just as the next
 * request arrives, and the client could not tell that from a call that ran.  So once
 * the kept connection has been idle for over half that timeout (here 2 s), a call
 * that must not run twice goes on a new one; a read, which may go again, still uses
 * the kept one, as does a call soon after the last. */
START_TEST(test_a_call_that_may_not_run_twice_avoids_a_long_idle_connection)
{
    static const enum act acts[] = {ANSWER, ANSWER, ANSWER, ANSWER};
    struct flaky f;
    struct rpc_client *c = flaky_start(&f, acts, 4);
    rpc_client_set_keepalive(c, 2);
    ck_assert_ptr_null(ping(c, "VM.start"));
    ck_assert_ptr_null(ping(c, "VM.clean_shutdown"));
    usleep(1100 * 1000);
    ck_assert_ptr_null(ping(c, "VM.get_record"));
    usleep(1100 * 1000);
    ck_assert_ptr_null(ping(c, "VM.start"));
    rpc_client_close(c);
    pthread_join(f.thread, NULL);
    close(f.lfd);
    ck_assert_int_eq(f.requests, 4);
    const int want[] = {1, 1, 1, 2};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(f.conn_of[i] == want[i], "request %d (%s) came on connection %d, not %d", i, f.methods[i],
                      f.conn_of[i], want[i]);
}
END_TEST

/* The timeout the client assumes by default is the one a daemon has by default. */
START_TEST(test_the_assumed_keepalive_timeout_is_the_daemons_default)
{
    struct config *cfg = config_new();
    ck_assert_int_eq(config_get_int(cfg, "keepalive-timeout"), RPC_KEEPALIVE_TIMEOUT);
    config_free(cfg);
}
END_TEST

/* A server that answers one request with the given bytes, then closes. */
struct canned {
    int lfd, port;
    pthread_t thread;
    const char *answer;
    size_t len;
};

static void *canned_serve(void *arg)
{
    struct canned *k = arg;
    int fd = accept(k->lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    char data[8192];
    size_t have = 0;
    ssize_t n;
    while ((n = read(fd, data + have, sizeof(data) - 1 - have)) > 0) {
        have += (size_t)n;
        data[have] = 0;
        if (strstr(data, "</methodCall>"))
            break;
    }
    /* all of it, unless the client stops reading and closes first */
    for (size_t off = 0; off < k->len;) {
        ssize_t w = send(fd, k->answer + off, k->len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    return NULL;
}

static xerr *call_canned_n(const char *answer, size_t len, xv **result)
{
    struct canned k = {.answer = answer, .len = len};
    k.lfd = listen_loopback(&k.port);
    pthread_create(&k.thread, NULL, canned_serve, &k);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", k.port);
    struct rpc_client *c = NULL;
    ck_assert_ptr_null(rpc_client_open(url, &c));
    xerr *e = rpc_client_call(c, "VM.set_name_label", NULL, result);
    rpc_client_close(c);
    pthread_join(k.thread, NULL);
    close(k.lfd);
    return e;
}

static xerr *call_canned(const char *answer, xv **result)
{
    return call_canned_n(answer, strlen(answer), result);
}

/* A response head that never ends (here, a NUL in it, where the search for its end
 * stops) fails the call once it passes 64 KiB, whatever the peer goes on sending. */
START_TEST(test_a_response_head_that_never_ends_fails_the_call)
{
    size_t n = 100 << 10;
    char *answer = malloc(n);
    memcpy(answer, "HTTP/1.1 200 OK\r\nX: ", 21);
    memset(answer + 21, 'a', n - 21);
    answer[30] = 0;
    memcpy(answer + 40, "\r\n\r\n", 4); /* after the NUL: not seen as the head's end */
    xv *r = NULL;
    xerr *e = call_canned_n(answer, n, &r);
    free(answer);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(strstr(e->params[0], "response head over 65536 bytes"));
    xerr_free(e);
}
END_TEST

/* A chunked answer, as a peer streams a big one, reads as the whole body. */
START_TEST(test_a_chunked_answer_is_read_whole)
{
    char answer[1024];
    const char body[] = PONG_BODY;
    snprintf(answer, sizeof(answer), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%.20s\r\n%zx\r\n%s\r\n0\r\n\r\n",
             20, body, sizeof(body) - 1 - 20, body + 20);
    xv *r = NULL;
    xerr *e = call_canned(answer, &r);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(xv_str(r), "pong");
    xv_free(r);
}
END_TEST

/* A chunk size near 2^64 (fuzz_peer's find: the sums wrapped and the client copied
 * past what it had read) fails the call with the size it was sent. */
START_TEST(test_a_chunk_size_near_2_64_fails_the_call)
{
    xv *r = NULL;
    xerr *e = call_canned("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab\r\n0\r\n\r\n", &r);
    ck_assert_ptr_nonnull(e);
    ck_assert(xerr_is(e, XERR_INTERNAL_ERROR));
    ck_assert_ptr_nonnull(strstr(e->params[0], "18446744073709551615"));
    ck_assert_ptr_null(r);
    xerr_free(e);
}
END_TEST

static void free_identity(void)
{
    gnutls_certificate_free_credentials(server_cred);
}

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, make_identity, free_identity);
    tcase_add_test(tc, test_check_sees_the_fingerprint_and_the_call_goes_through);
    tcase_add_test(tc, test_a_refusing_check_sends_nothing);
    tcase_add_test(tc, test_without_a_check_a_self_signed_certificate_is_refused);
    tcase_add_test(tc, test_fingerprint_spellings);
    suite_add_tcase(s, tc);
    tc = tcase_create("reconnect");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_a_connection_closed_while_idle_is_opened_again);
    tcase_add_test(tc, test_a_call_left_unanswered_is_sent_again_only_if_a_read);
    tcase_add_test(tc, test_a_call_that_may_not_run_twice_avoids_a_long_idle_connection);
    tcase_add_test(tc, test_the_assumed_keepalive_timeout_is_the_daemons_default);
    tcase_add_test(tc, test_a_chunked_answer_is_read_whole);
    tcase_add_test(tc, test_a_response_head_that_never_ends_fails_the_call);
    tcase_add_test(tc, test_a_chunk_size_near_2_64_fails_the_call);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(client_suite)
