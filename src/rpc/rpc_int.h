/* Internal to src/rpc: the pieces of the server. */
#ifndef XENAPID_RPC_INT_H
#define XENAPID_RPC_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "db.h"
#include "util.h"
#include "xerr.h"

/* Wait on cond for at most secs (pthread_cond_timedwait's clock is the wall clock). */
int cond_wait_for(pthread_cond_t *cond, pthread_mutex_t *lock, double secs);

/* ---- work.c: a bounded, elastic pool of threads for calls that may take long.
 * Threads are made on demand up to max and end after a while idle. */
struct workers;
struct workers *workers_new(int max);
void workers_submit(struct workers *w, void (*fn)(void *), void *arg);
/* Wait for the queue to drain and every thread to end. */
void workers_free(struct workers *w);

/* ---- park.c: parked calls, each woken (fn(arg), which must be quick) once an event
 * newer than its position exists or its wake time comes; no thread waits for any. */
struct parking;
xerr *parking_new(struct db *db, struct parking **out);
/* classes: api_wait's; events of other classes do not wake it. */
void parking_add(struct parking *p, int64_t after, uint64_t classes, double wake, void (*fn)(void *),
                 void *arg);
/* Wake every parked call now (the server stops); later ones wake at once too. */
void parking_flush(struct parking *p);
void parking_free(struct parking *p);

/* ---- conns.c: every open connection, and the deadlines the HTTP library does not
 * keep: its own timeout restarts at every byte, so a client sending one byte a
 * second would never be dropped.  Here a connection waiting for its next request
 * goes after idle_timeout, one whose request started after request_timeout,
 * counted from the start, not from the last byte; one whose answer is not read goes
 * after request_timeout plus the time the answer takes at SEND_MIN_RATE. */
#define SEND_MIN_RATE (256.0 * 1024) /* bytes a second: a slow link, not a stalled reader */
enum conn_state { CONN_IDLE, CONN_REQUEST, CONN_BUSY, CONN_SENDING, CONN_DROPPED };
struct conn {
    struct conn *prev, *next;
    int fd;
    enum conn_state state;
    double since;                /* monotonic, when the state began */
    double send_limit;           /* CONN_SENDING: seconds it may last */
    bool local_root;             /* unix socket peer with uid 0 */
    char addr[72];               /* "192.0.2.1:4711", "[::1]:4711", "unix" */
};
struct conns;
xerr *conns_new(double idle_timeout, double request_timeout, struct conns **out);
void conns_add(struct conns *cs, struct conn *c);
void conns_remove(struct conns *cs, struct conn *c);
void conns_set_state(struct conns *cs, struct conn *c, enum conn_state s);
/* An answer of len bytes is being sent (CONN_SENDING, until the next state). */
void conns_sending(struct conns *cs, struct conn *c, size_t len);
void conns_free(struct conns *cs);

/* ---- listen.c: the listening sockets, made here and handed to the HTTP library. */
xerr *listen_tcp(const char *address, int port, int backlog, int *fd, int *bound_port);
/* A unix socket only its owner can use (mode 0600 from its creation: no umask). */
xerr *listen_unix(const char *path, int backlog, int *fd);
/* The peer of a unix connection is root (SO_PEERCRED). */
bool peer_is_root(int fd);
bool address_is_loopback(const char *address);

/* ---- protocol.c: a request parsed once, run once or, when it parks, again. */
struct rpc_call;
struct rpc_call *rpc_call_parse(const char *body, size_t len, bool json);
const char *rpc_call_method(const struct rpc_call *c);   /* NULL: already answered */
/* False when the call parked (nothing written): run it again later. */
bool rpc_call_run(struct api *api, struct rpc_call *c, const struct api_peer *peer, buf *out);
/* Streamed answers (HTTP): a map of records (get_all_records) longer than
 * RPC_STREAM_FIRST bytes is written in pieces.  Offered before rpc_call_run; after it,
 * rpc_call_streaming says whether out is only the first piece.  rpc_call_more appends
 * the next, about want bytes: 1 when more follow, 0 when that was the last, -1 when it
 * failed (logged): the answer cannot be finished, the connection must be cut. */
#define RPC_STREAM_FIRST (256u << 10)
void rpc_call_offer_stream(struct rpc_call *c);
bool rpc_call_streaming(const struct rpc_call *c);
int rpc_call_more(struct rpc_call *c, buf *out, size_t want);
void rpc_call_free(struct rpc_call *c);

#endif
