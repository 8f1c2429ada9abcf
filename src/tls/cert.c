/* Loading, making and checking the server's certificate with GnuTLS's x509 API. */
#include "tls.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CERT_YEARS 10

static xerr *gnutls_fail(const char *what, int rc)
{
    return xerr_internal("TLS: %s: %s", what, gnutls_strerror(rc));
}

static xerr *read_pem(const char *path, char **out)
{
    *out = read_file(path, NULL);
    return *out ? NULL : xerr_internal("cannot read %s: %s", path, strerror(errno));
}

/* Write path atomically (a temporary file renamed over it) with the given mode,
 * whatever the process's umask. */
static xerr *write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return xerr_internal("cannot create %s: %s", tmp, strerror(errno));
    bool ok = fchmod(fd, mode) == 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t w = write(fd, (const char *)data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        done += ok ? (size_t)w : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        saved = ok ? errno : saved;
        unlink(tmp);
        return xerr_internal("cannot write %s: %s", path, strerror(saved));
    }
    return NULL;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static xerr *check_key_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return xerr_internal("cannot read the TLS key %s: %s", path, strerror(errno));
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return xerr_internal("the TLS key %s can be read by others (mode %04o): make it 0600 (chmod 600 %s)",
                             path, (unsigned)(st.st_mode & 07777), path);
    return NULL;
}

static void add_ip(gnutls_x509_crt_t crt, const char *text)
{
    unsigned char raw[16];
    if (inet_pton(AF_INET, text, raw) == 1)
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw, 4, GNUTLS_FSAN_APPEND);
    else if (inet_pton(AF_INET6, text, raw) == 1)
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, raw, 16, GNUTLS_FSAN_APPEND);
}

static bool is_wildcard(const char *a)
{
    return !*a || strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0;
}

/* The names a client may reach this host by: its name, loopback, every interface
 * address, and the addresses the server listens on. */
static void add_names(gnutls_x509_crt_t crt, const char *host, const char *const *addrs)
{
    gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host, (unsigned)strlen(host),
                                         GNUTLS_FSAN_APPEND);
    if (strcmp(host, "localhost") != 0)
        gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND);
    add_ip(crt, "127.0.0.1");
    add_ip(crt, "::1");
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) == 0) {
        for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
            char text[INET6_ADDRSTRLEN];
            if (!i->ifa_addr)
                continue;
            if (i->ifa_addr->sa_family == AF_INET) {
                struct in_addr *a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
                if ((ntohl(a->s_addr) >> 24) != 127 && inet_ntop(AF_INET, a, text, sizeof(text)))
                    add_ip(crt, text);
            } else if (i->ifa_addr->sa_family == AF_INET6) {
                struct in6_addr *a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
                if (!IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a) &&
                    inet_ntop(AF_INET6, a, text, sizeof(text)))
                    add_ip(crt, text);
            }
        }
        freeifaddrs(ifs);
    }
    for (size_t i = 0; addrs && addrs[i]; i++)
        if (!is_wildcard(addrs[i]))
            add_ip(crt, addrs[i]);
}

static xerr *export_pem(int (*fn)(void *, gnutls_x509_crt_fmt_t, void *, size_t *), void *obj, char **out)
{
    size_t size = 0;
    int rc = fn(obj, GNUTLS_X509_FMT_PEM, NULL, &size);
    if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER && rc < 0)
        return gnutls_fail("export", rc);
    char *pem = xmalloc(size + 1);
    rc = fn(obj, GNUTLS_X509_FMT_PEM, pem, &size);
    if (rc < 0) {
        free(pem);
        return gnutls_fail("export", rc);
    }
    pem[size] = 0;
    *out = pem;
    return NULL;
}

static int export_key(void *k, gnutls_x509_crt_fmt_t f, void *out, size_t *size)
{
    return gnutls_x509_privkey_export(k, f, out, size);
}

static int export_crt(void *c, gnutls_x509_crt_fmt_t f, void *out, size_t *size)
{
    return gnutls_x509_crt_export(c, f, out, size);
}

/* A self-signed certificate for key, valid from a day ago (clocks differ) for ten years. */
static xerr *make_cert(gnutls_x509_privkey_t key, const char *const *addrs, char **pem)
{
    gnutls_x509_crt_t crt;
    int rc = gnutls_x509_crt_init(&crt);
    if (rc < 0)
        return gnutls_fail("certificate", rc);
    char host[256] = "localhost";
    if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = 0;
    unsigned char serial[16], keyid[64];
    size_t keyid_size = sizeof(keyid);
    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
    serial[0] &= 0x7f; /* a positive number */
    time_t now = time(NULL);
    if ((rc = gnutls_x509_crt_set_version(crt, 3)) >= 0 &&
        (rc = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) >= 0 &&
        (rc = gnutls_x509_crt_set_activation_time(crt, now - 86400)) >= 0 &&
        (rc = gnutls_x509_crt_set_expiration_time(crt, now + (time_t)CERT_YEARS * 365 * 86400)) >= 0 &&
        (rc = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, host,
                                            (unsigned)strlen(host))) >= 0 &&
        (rc = gnutls_x509_crt_set_key(crt, key)) >= 0 &&
        (rc = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) >= 0 &&
        (rc = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) >= 0 &&
        (rc = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) >= 0 &&
        (rc = gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_size)) >= 0 &&
        (rc = gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_size)) >= 0 &&
        (rc = gnutls_x509_crt_set_authority_key_id(crt, keyid, keyid_size)) >= 0) {
        add_names(crt, host, addrs);
        rc = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
    }
    xerr *e = rc < 0 ? gnutls_fail("making the certificate", rc) : export_pem(export_crt, crt, pem);
    gnutls_x509_crt_deinit(crt);
    return e;
}

/* The key at key_path, or a new one written there. */
static xerr *load_or_make_key(const char *key_path, bool make, char **pem, gnutls_x509_privkey_t *out)
{
    int rc = gnutls_x509_privkey_init(out);
    if (rc < 0)
        return gnutls_fail("key", rc);
    xerr *e = NULL;
    if (make) {
        rc = gnutls_x509_privkey_generate(*out, GNUTLS_PK_ECDSA,
                                          GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
        e = rc < 0 ? gnutls_fail("making a key", rc) : export_pem(export_key, *out, pem);
        if (!e)
            e = write_file(key_path, *pem, strlen(*pem), 0600);
    } else if ((e = read_pem(key_path, pem)) == NULL) {
        gnutls_datum_t d = {(unsigned char *)*pem, (unsigned)strlen(*pem)};
        rc = gnutls_x509_privkey_import(*out, &d, GNUTLS_X509_FMT_PEM);
        if (rc < 0)
            e = xerr_internal("the TLS key %s: %s", key_path, gnutls_strerror(rc));
    }
    if (e) {
        gnutls_x509_privkey_deinit(*out);
        *out = NULL;
    }
    return e;
}

static void hex_colons(const unsigned char *md, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

/* The fingerprints and validity the host's Certificate record shows. */
static xerr *describe(const char *cert_path, struct tls_identity *id)
{
    gnutls_x509_crt_t crt;
    int rc = gnutls_x509_crt_init(&crt);
    if (rc < 0)
        return gnutls_fail("certificate", rc);
    gnutls_datum_t d = {(unsigned char *)id->cert_pem, (unsigned)strlen(id->cert_pem)};
    unsigned char md[32], md1[20];
    size_t n = sizeof(md), n1 = sizeof(md1);
    xerr *e = NULL;
    if ((rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0)
        e = xerr_internal("the TLS certificate %s: %s", cert_path, gnutls_strerror(rc));
    else if ((rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md, &n)) < 0 || n != sizeof(md))
        e = gnutls_fail("fingerprint", rc);
    else if ((rc = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA1, md1, &n1)) < 0 || n1 != sizeof(md1))
        e = gnutls_fail("fingerprint", rc);
    if (!e) {
        id->not_before = gnutls_x509_crt_get_activation_time(crt);
        id->not_after = gnutls_x509_crt_get_expiration_time(crt);
    }
    gnutls_x509_crt_deinit(crt);
    if (!e) {
        hex_colons(md, n, id->fingerprint);
        hex_colons(md1, n1, id->fingerprint_sha1);
    }
    return e;
}

xerr *tls_identity_load(const char *cert_path, const char *key_path, const char *const *addrs,
                        struct tls_identity **out)
{
    bool have_cert = exists(cert_path), have_key = exists(key_path);
    if (have_cert && !have_key)
        return xerr_internal("the TLS certificate %s exists but its key %s does not", cert_path, key_path);
    xerr *e = have_key ? check_key_mode(key_path) : NULL;
    if (e)
        return e;
    struct tls_identity *id = xcalloc(1, sizeof(*id));
    gnutls_x509_privkey_t key = NULL;
    /* a key without its certificate is what a start that died halfway leaves:
     * the certificate is made again for it */
    e = load_or_make_key(key_path, !have_key, &id->key_pem, &key);
    if (!e && !have_cert) {
        e = make_cert(key, addrs, &id->cert_pem);
        if (!e)
            e = write_file(cert_path, id->cert_pem, strlen(id->cert_pem), 0644);
        id->created = true;
        if (!e)
            log_info("made a self-signed TLS certificate %s (key %s)", cert_path, key_path);
    } else if (!e) {
        e = read_pem(cert_path, &id->cert_pem);
    }
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (!e)
        e = describe(cert_path, id);
    if (e) {
        tls_identity_free(id);
        return e;
    }
    *out = id;
    return NULL;
}

void tls_identity_free(struct tls_identity *id)
{
    if (!id)
        return;
    if (id->key_pem) /* the key is a secret: do not leave it in freed memory */
        gnutls_memset(id->key_pem, 0, strlen(id->key_pem));
    free(id->cert_pem);
    free(id->key_pem);
    free(id);
}
