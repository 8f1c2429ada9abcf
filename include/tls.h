/* tls: the server's certificate and key.
 *
 * tls_identity_load() reads the PEM certificate and key the configuration names.  At
 * first start, when neither exists, it makes a self-signed certificate (ECDSA P-256,
 * ten years) for this host's name and addresses, as xapi does, and writes both files
 * atomically, the key with mode 0600.  A key that group or others can read is
 * refused: its secrecy is the whole point. */
#ifndef XENAPID_TLS_H
#define XENAPID_TLS_H

#include <stdbool.h>
#include <time.h>

#include "xerr.h"

struct tls_identity {
    char *cert_pem;              /* NUL-terminated PEM, as given to the TLS library */
    char *key_pem;
    /* SHA-256 of the certificate (DER) as colon-separated upper-case hex, the form
     * xapi and `openssl x509 -fingerprint -sha256` print */
    char fingerprint[96];
    char fingerprint_sha1[64];   /* the same form */
    time_t not_before, not_after; /* its validity */
    bool created;                /* made at this start */
};

/* addrs: extra IP addresses (text) for the certificate's names when one is made;
 * NULL-terminated, may be NULL.  The host name, localhost, 127.0.0.1, ::1 and the
 * host's interface addresses are always in it. */
xerr *tls_identity_load(const char *cert_path, const char *key_path, const char *const *addrs,
                        struct tls_identity **out);
void tls_identity_free(struct tls_identity *id);

/* The GnuTLS priority string the server uses: TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

#endif
