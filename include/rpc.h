/* rpc: the XenAPI over HTTP, routed as xapi routes it: JSON-RPC (v1 and v2) on POST
 * /jsonrpc..., XML-RPC on a POST to any other path, CORS preflights (OPTIONS) answered;
 * served by libmicrohttpd over HTTPS, plain HTTP and a unix socket;
 * and a small HTTP client for the CLI and for calls between pool members.
 *
 * The server's threads only read requests and write answers.  Calls that only touch
 * the database run there; every other call runs on a pool of worker threads while
 * its connection is suspended; event.from and event.next, when they must wait, are
 * parked and hold no thread at all until an event or their timeout comes. */
#ifndef XENAPID_RPC_H
#define XENAPID_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "tls.h"
#include "util.h"
#include "xerr.h"
#include "xv.h"

struct rpc_server;

struct rpc_options {
    const char *address;         /* plain HTTP; "" for none */
    int port;                    /* 0: any free port (see rpc_port) */
    const char *https_address;   /* "" for no HTTPS */
    int https_port;              /* 0: any free port (see rpc_https_port) */
    const struct tls_identity *tls; /* needed for HTTPS; the caller keeps it until rpc_stop */
    const char *unix_path;       /* "" for no unix socket */
    int max_connections;         /* in total, per listener */
    int max_per_address;         /* from one peer address */
    int keepalive_timeout;       /* seconds an idle connection is kept */
    int request_timeout;         /* seconds a started request has to arrive whole */
    size_t max_request;          /* bytes */
    int io_threads;              /* per TCP listener; 0: one per CPU */
    int max_workers;             /* threads for calls that may take long */
};

xerr *rpc_start(struct api *api, struct db *db, const struct rpc_options *opt, struct rpc_server **out);
int rpc_port(const struct rpc_server *s);       /* the plain HTTP port bound, or 0 */
int rpc_https_port(const struct rpc_server *s); /* the HTTPS port bound, or 0 */
/* Stop listening, answer the parked waits, and wait up to grace seconds for the
 * calls in flight.  False when some are still running: then nothing the server uses
 * may be freed. */
bool rpc_stop(struct rpc_server *s, double grace);

/* The protocols without HTTP: a request body in, a response body out.  False (and
 * nothing in out) when the call parked (peer->wait): call again later. */
bool rpc_handle_xmlrpc(struct api *api, const char *body, size_t len, const struct api_peer *peer, buf *out);
bool rpc_handle_jsonrpc(struct api *api, const char *body, size_t len, const struct api_peer *peer, buf *out);

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
/* The keep-alive timeout (seconds) the client takes its server to have; <= 0, or
 * never set: RPC_KEEPALIVE_TIMEOUT, the daemon's default keepalive-timeout.  A call
 * that is not a read goes on a new connection when the kept one has been idle for
 * more than half of it: a server that closed the connection as the request arrived
 * could not be told from one that ran the call and then went. */
#define RPC_KEEPALIVE_TIMEOUT 60
void rpc_client_set_keepalive(struct rpc_client *c, double seconds);
/* Call a XenAPI method over XML-RPC, keeping the connection alive between calls.
 * Failures the server reports come back as their xerr; transport failures as
 * INTERNAL_ERROR naming the problem. */
xerr *rpc_client_call(struct rpc_client *c, const char *method, const xv *params, xv **result);
/* The same to path on the client's server (its protocol: /jsonrpc... JSON-RPC 2.0,
 * else XML-RPC).  raw: a success written as this daemon writes it comes back as its
 * value's bytes (XV_RAW_JSON or XV_RAW_XMLRPC), for relaying on the same wire
 * without reading them; any other answer is read as rpc_client_call reads it. */
xerr *rpc_client_call_path(struct rpc_client *c, const char *path, bool raw, const char *method,
                           const xv *params, xv **result);
/* A plain HTTP request on the client's transport (xapi's export and import handlers):
 * method "GET" or "PUT", target the path and query, body/len what a PUT sends.  The
 * response's status, body and task-id header (caller frees; NULL when absent) come
 * back whatever the status; progress (may be NULL) is told the bytes sent (a PUT)
 * or received so far and the total.  An xerr only when the exchange itself failed. */
typedef void (*rpc_progress_fn)(void *ctx, size_t done, size_t total);
xerr *rpc_client_http(struct rpc_client *c, const char *method, const char *target, const char *body, size_t len,
                      rpc_progress_fn progress, void *ctx, int *status, buf *out, char **task_id);

/* A byte stream to the server (an https:// client): POST path (with its query) asking
 * for "Connection: Upgrade"; after the server's 101 the connection carries whatever
 * the two sides write.  The client's connection is the stream's until
 * rpc_client_close.  A read waits at most timeout seconds (0: no limit); a peer
 * that goes away is an INTERNAL_ERROR saying so. */
xerr *rpc_client_upgrade(struct rpc_client *c, const char *path, double timeout);
xerr *rpc_client_send(struct rpc_client *c, const void *p, size_t n);
/* One line the server wrote (without its newline; caller frees). */
xerr *rpc_client_read_line(struct rpc_client *c, char **line);

#endif
