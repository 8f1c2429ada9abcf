/* Internal to src/pool. */
#ifndef XENAPID_POOL_INT_H
#define XENAPID_POOL_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "pool.h"
#include "rpc.h"
#include "util.h"

/* What pool-file holds. */
struct pool_state {
    bool member;
    char *secret;                /* the pool secret (hex) */
    char *master;                /* member: the master's address */
    char *master_fingerprint;    /* member: its certificate, pinned at join */
    char *host;                  /* member: its own host ref in the pool's database */
};

/* A peer (the master, or a member seen from the master): idle connections kept for
 * reuse, and the session we hold there. */
struct peer {
    char *url;                   /* https://addr:port/jsonrpc */
    char *fingerprint;           /* pinned (under lock) */
    bool tofu;                   /* join: pin whatever the first connection shows */
    char *session;               /* slave_login's, NULL until logged in */
    double keepalive;            /* its keep-alive timeout (rpc_client_set_keepalive) */
    pthread_mutex_t lock;
    struct rpc_client *idle[8];
    int nidle;
};

struct pool {
    const struct config *cfg;
    char *path;                  /* pool-file */
    struct pool_state st;
    struct api *api;
    struct peer *master;         /* member: the link to the master */
    /* master: links to members, host ref -> struct peer */
    pthread_mutex_t lock;
    struct strmap *members;
    /* member: the tokens the master logged in with (slave_login here) */
    struct strmap *tokens;
    /* master: last heartbeat of each member (monotonic), host ref -> double* */
    struct strmap *seen;
    /* background */
    pthread_t thread;
    bool running, stop;
    pthread_cond_t cond;
    bool master_lost;            /* member: the last heartbeat failed */
};

/* state.c */
xerr *pool_state_load(const char *path, struct pool_state *st, bool *found);
xerr *pool_state_save(const char *path, const struct pool_state *st);
void pool_state_clear(struct pool_state *st);
char *pool_secret_new(void);
char *pool_default_path(const struct config *cfg);

/* link.c */
/* A peer is configured as this host is: it listens on our https-port and keeps an
 * idle connection for our keepalive-timeout. */
struct peer *peer_new(const struct pool *pool, const char *address, const char *fingerprint);
void peer_free(struct peer *p);
/* A call on the peer, params including the session (taken as given). */
xerr *peer_call_raw(struct peer *p, const char *method, const xv *params, xv **result);
/* The same for a call that came in on wire (api_peer.wire): sent in that protocol, and
 * a success comes back as the bytes of its value (XV_RAW_*) to relay as they came.
 * API_WIRE_NONE: peer_call_raw. */
xerr *peer_call_wire(struct peer *p, const char *method, const xv *params, enum api_wire wire, xv **result);
/* A call with our session there (logging in with the pool secret first, and again
 * when the peer forgot the session); args without the session. */
xerr *peer_call(struct pool *pool, struct peer *p, const char *method, const xv *args, xv **result);
/* Transport failures (as opposed to an answer from the peer). */
bool link_failed(const xerr *e);
int pool_port(const struct pool *p);

/* route.c */
void pool_hooks(struct pool *p);
struct peer *member_peer(struct pool *p, const char *host, xerr **err);

/* join.c */
void pool_register_join(struct pool *p);
void pool_want_restart(struct pool *p);

/* live.c */
void pool_register_live(struct pool *p);
void *pool_thread(void *arg);

#endif
