/* rpc: the XenAPI over HTTP.  XML-RPC on POST / and /RPC2, JSON-RPC (v1 and v2) on
 * POST /jsonrpc, served by xmlrpc-c's Abyss on TCP and on a unix socket; and a small
 * HTTP client for the CLI and for calls between pool members. */
#ifndef XENAPID_RPC_H
#define XENAPID_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "util.h"
#include "xerr.h"
#include "xv.h"

struct rpc_server;

struct rpc_options {
    const char *address;         /* "" for no TCP listener */
    int port;                    /* 0: any free port (see rpc_port) */
    const char *unix_path;       /* "" for no unix socket */
    int max_connections;
    int keepalive_timeout;       /* seconds */
    size_t max_request;          /* bytes */
};

xerr *rpc_start(struct api *api, const struct rpc_options *opt, struct rpc_server **out);
int rpc_port(const struct rpc_server *s);     /* the TCP port actually bound */
/* Stop listening and wait up to grace seconds for requests in flight.  False when
 * some are still running: then nothing the server uses may be freed. */
bool rpc_stop(struct rpc_server *s, double grace);

/* The protocols without HTTP: a request body in, a response body out. */
void rpc_handle_xmlrpc(struct api *api, const char *body, size_t len, const char *peer, buf *out);
void rpc_handle_jsonrpc(struct api *api, const char *body, size_t len, const char *peer, buf *out);

/* ---- client ---- */
struct rpc_client;
/* url: http://host:port/, https://host:port/ or unix:/path/to/socket */
xerr *rpc_client_open(const char *url, struct rpc_client **out);
void rpc_client_close(struct rpc_client *c);
/* How an https:// client trusts the server.  With a check, any certificate passes the
 * handshake and check decides from the SHA-256 fingerprint of the server's certificate
 * ("AB:CD:...", RPC_FINGERPRINT_LEN chars) before a byte of the request is sent: a pin,
 * trust on first use.  An xerr from check is returned by the call that connected.
 * Without a check the certificate must chain to the system's trusted CAs and name the
 * host. */
#define RPC_FINGERPRINT_LEN (32 * 3 - 1)
/* A SHA-256 fingerprint as people write it (AB:CD:.., abcd.., sha256:.., openssl's
 * "SHA256 Fingerprint=AB:..") to "AB:CD:..."; false when it is not one. */
bool rpc_fingerprint_parse(const char *in, char out[RPC_FINGERPRINT_LEN + 1]);
typedef xerr *(*rpc_cert_check)(void *ctx, const char *host, const char *port, const char *fingerprint);
void rpc_client_set_cert_check(struct rpc_client *c, rpc_cert_check check, void *ctx);
/* Call a XenAPI method over XML-RPC, keeping the connection alive between calls.
 * Failures the server reports come back as their xerr; transport failures as
 * INTERNAL_ERROR naming the problem. */
xerr *rpc_client_call(struct rpc_client *c, const char *method, const xv *params, xv **result);

#endif
