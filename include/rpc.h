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
/* url: http://host:port/ or unix:/path/to/socket */
xerr *rpc_client_open(const char *url, struct rpc_client **out);
void rpc_client_close(struct rpc_client *c);
/* Call a XenAPI method over XML-RPC, keeping the connection alive between calls.
 * Failures the server reports come back as their xerr; transport failures as
 * INTERNAL_ERROR naming the problem. */
xerr *rpc_client_call(struct rpc_client *c, const char *method, const xv *params, xv **result);

#endif
