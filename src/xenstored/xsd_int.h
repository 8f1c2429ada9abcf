/* Internal to src/xenstored: the types shared by the files of the xenstore server.
 * Everything runs on the server thread except what server.c guards with x->lock. */
#ifndef XENAPID_XSD_INT_H
#define XENAPID_XSD_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xenstore_lib.h>   /* XS_PERM_*, and xen/io/xs_wire.h */

#include "slotfile.h"
#include "util.h"
#include "xsd.h"

/* Quotas for unprivileged connections, xenstored's defaults. */
#define Q_NODES        1000   /* nodes a domain owns */
#define Q_WATCHES       128   /* watches per domain */
#define Q_TXNS           10   /* open transactions per domain */
#define Q_ENTRY_SIZE   2048   /* bytes of one node record (value + children + perms) */
#define Q_PERMS           5   /* permission entries per node */
#define Q_TXN_NODES    1024   /* nodes one transaction may touch */
#define Q_CONNS          16   /* connections on one domain socket (a ring has one) */

/* Output bounds.  Above OUT_SOFT a connection's requests are not read (it must read
 * its replies first); a guest's watch events are dropped above OUT_SOFT, as xenstored
 * drops them over the memory quota; a dom0 connection is cut above OUT_PRIV_MAX. */
#define OUT_SOFT      (256u * 1024)
#define OUT_PRIV_MAX  (16u * 1024 * 1024)

#define DOMID_MAX     0x7fefu   /* DOMID_FIRST_RESERVED - 1 */
#define HDR_LEN       sizeof(struct xsd_sockmsg)
#define IN_BUF        (2 * (HDR_LEN + XENSTORE_PAYLOAD_MAX))

/* ---- store.c: nodes, permissions, paths, the committed tree ---- */
struct perm {
    uint32_t id;
    uint32_t bits;   /* XS_PERM_READ | XS_PERM_WRITE */
};
struct perms {
    uint32_t n;
    struct perm *p;  /* p[0]: owner, and what everyone not listed gets */
};

struct node {
    char *path;
    uint64_t gen;        /* store generation of the last change; 0 inside a transaction */
    struct perms perms;
    uint32_t vlen, clen;
    char *value;         /* vlen bytes, may hold NULs */
    char *children;      /* clen bytes: names, each NUL-terminated, in creation order */
};

/* Who is asking: dom0 on the privileged socket, or a domain on its socket. */
struct who {
    bool priv;
    unsigned domid;
    bool has_target;     /* XS_SET_TARGET: a device model acts for its target */
    unsigned target;
};

struct store {
    struct strmap *nodes;          /* path -> struct node */
    uint64_t gen;
    uint32_t *owned;             /* per domid: nodes it owns (quota) */
    struct perms sp_intro, sp_release;   /* @introduceDomain, @releaseDomain */
    bool dirty;                  /* changed since the last save */
};

struct node *node_new(const char *path);
struct node *node_dup(const struct node *n);
void node_free(struct node *n);
void node_set_value(struct node *n, const void *v, uint32_t len);
void node_add_child(struct node *n, const char *name);
bool node_del_child(struct node *n, const char *name);
/* Size xenstored charges against Q_ENTRY_SIZE. */
size_t node_rec_size(const struct node *n);

void perms_copy(struct perms *dst, const struct perms *src);
void perms_free(struct perms *p);
/* count strings "n0", "r5", "w3", "b1" back to back; false if any is malformed. */
bool perms_parse(const char *s, size_t len, uint32_t count, struct perms *out);
void perms_format(const struct perms *p, buf *out);
/* The XS_PERM_* bits who has on a node with these permissions. */
unsigned perm_for(const struct who *w, const struct perms *p);

/* Valid node path (absolute, allowed characters, lengths).  An unprivileged caller gets
 * at most XENSTORE_REL_PATH_MAX below its /local/domain/<id>. */
bool path_valid(const char *p, bool priv);
char *path_parent(const char *p);        /* caller frees; "/" for a top-level node */
const char *path_base(const char *p);    /* last component; p must not be "/" */
bool path_is_below(const char *p, const char *top);   /* p == top or under it */
char *path_child(const char *dir, const char *name);  /* caller frees */
bool parse_domid(const char *s, unsigned *out);

void store_init(struct store *s);        /* "/", "/tool", "/tool/xenstored" as xenstored */
void store_destroy(struct store *s);
const struct node *store_get(const struct store *s, const char *path);
/* Takes n; gives it a new generation; keeps the owner counts. */
void store_put(struct store *s, struct node *n);
void store_del(struct store *s, const char *path);
uint32_t store_owned(const struct store *s, unsigned domid);
/* A domain is gone: what it owned passes to dom0, entries naming it are dropped, so
 * that a later domain with the same id inherits nothing. */
void store_forget_domain(struct store *s, unsigned domid);
struct perms *store_special(struct store *s, const char *name);   /* NULL if not special */

/* ---- the server: connections, domains ---- */
struct outmsg {
    struct outmsg *next;
    size_t len, off;
    char *evkey;         /* watch event: its dedup key in conn->pending, else NULL */
    char data[];         /* header + payload */
};

struct watch {
    struct watch *next;
    char *path;          /* absolute, or @name */
    char *token;
    bool relative;       /* registered relative: events are reported relative */
};

struct change {          /* a watch to fire when a transaction commits */
    struct change *next;
    char *path;
    bool exact;
    bool has_old;
    struct perms perms, old;
};

struct tnode {           /* a node a transaction touched */
    char *path;
    uint64_t base_gen;   /* committed generation at first touch, 0: did not exist */
    bool written;        /* to be committed */
    struct node *n;      /* the node as the transaction sees it, NULL: absent */
};

struct txn {
    struct txn *next;
    uint32_t id;
    struct strmap *nodes;  /* path -> struct tnode */
    long own_delta;      /* nodes the connection's domain gains on commit */
    struct change *changes, **changes_tail;   /* watches to fire, in order */
    struct strmap *changed;                      /* path -> struct change */
};

struct dom {             /* an introduced domain */
    struct dom *next;
    unsigned domid;
    bool has_target;
    unsigned target;
    int listen_fd;
    char *sock_path;
    int pfd;             /* index in this loop's pollfd array, -1 none */
    unsigned nconns, nwatches, ntxns;
};

struct conn {
    struct conn *next;
    int fd;
    int pfd;
    bool priv;
    unsigned domid;
    struct dom *dom;     /* NULL for dom0 */
    bool dead;
    char *home;          /* /local/domain/<domid> */
    unsigned char in[IN_BUF];
    size_t inlen;
    struct outmsg *out, *out_tail;
    size_t out_bytes;
    struct strmap *pending;    /* queued watch events, to drop duplicates */
    unsigned long dropped;   /* watch events dropped over the bound */
    struct watch *watches;
    struct txn *txns;
    uint32_t next_txid;
};

struct xsd {
    char *sock_path, *dom_dir, *state_path;
    int listen_fd, wake_fd;
    pthread_t thread;
    pthread_mutex_t lock;        /* guards released[] and stop */
    unsigned *released;
    size_t nreleased, capreleased;
    bool stop;
    struct store st;
    struct conn *conns;
    struct dom *doms;
    double last_save;
    unsigned long long served;   /* requests, for the log at stop (what a bench divides) */
    struct slotfile *slots;      /* the saved state (state_path), opened by persist_load */
    bool unsynced;               /* saved, not yet fsynced (persist_save(x, false)) */
};

/* A request being served. */
struct req {
    struct xsd *x;
    struct conn *c;
    struct txn *t;       /* the transaction it runs in, NULL outside */
    struct who who;
    struct xsd_sockmsg hdr;
    char *data;          /* hdr.len bytes, plus a NUL after them */
};

/* conn.c */
struct conn *conn_new(struct xsd *x, int fd, struct dom *d);
void conn_kill(struct xsd *x, struct conn *c);      /* closes now; freed by conn_sweep */
void conn_sweep(struct xsd *x);
void conn_read(struct xsd *x, struct conn *c);
void conn_flush(struct xsd *x, struct conn *c);
/* A whole request is buffered and the connection may be served now. */
bool conn_ready(const struct conn *c);
/* Serve the first buffered request. */
void conn_serve_one(struct xsd *x, struct conn *c);
void conn_send(struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
               const void *data, size_t len);
void conn_send_event(struct xsd *x, struct conn *c, const char *path, const char *token);
void conn_who(const struct conn *c, struct who *w);

/* dispatch.c */
void req_dispatch(struct req *r);
void reply(struct req *r, uint32_t type, const void *data, size_t len);
void reply_ack(struct req *r);
char *req_canon(const struct req *r, const char *path);   /* caller frees */
/* The payload's strings: the number of NULs in it; vec gets up to n of them. */
unsigned req_strings(const struct req *r, const char **vec, unsigned n);
/* Exactly one string filling the payload, else NULL. */
const char *req_onearg(const struct req *r);

/* ops_tree.c: the tree requests */
int op_read(struct req *r);
int op_write(struct req *r);
int op_mkdir(struct req *r);
int op_rm(struct req *r);
int op_directory(struct req *r);
int op_directory_part(struct req *r);
int op_get_perms(struct req *r);
int op_set_perms(struct req *r);

/* ops_domain.c: domains, control */
int op_introduce(struct req *r);
int op_release(struct req *r);
int op_is_domain_introduced(struct req *r);
int op_get_domain_path(struct req *r);
int op_resume(struct req *r);
int op_set_target(struct req *r);
int op_control(struct req *r);
struct dom *dom_find(struct xsd *x, unsigned domid);
/* Forget a domain: close its connections and socket, fire @releaseDomain. */
void dom_release(struct xsd *x, unsigned domid);
xerr *dom_add(struct xsd *x, unsigned domid, struct dom **out);

/* txn.c */
int view_get(struct req *r, const char *path, const struct node **out);
void view_put(struct req *r, struct node *n);
void view_del(struct req *r, const char *path);
int op_transaction_start(struct req *r);
int op_transaction_end(struct req *r);
struct txn *txn_find(struct conn *c, uint32_t id);
void txn_free(struct txn *t);
void conn_drop_txns(struct conn *c);

/* watch.c */
int op_watch(struct req *r);
int op_unwatch(struct req *r);
int op_reset_watches(struct req *r);
void conn_drop_watches(struct conn *c);
/* A node changed: queue events now, or at commit inside a transaction.  exact: only
 * watches on exactly this path (the descendants of a removed node). */
void fire(struct req *r, const char *path, bool exact, const struct perms *perms,
          const struct perms *old);
void fire_now(struct xsd *x, const char *path, bool exact, const struct perms *perms,
              const struct perms *old);
void fire_special(struct xsd *x, const char *name);

/* server.c: a listening unix socket at path (an old one there is replaced). */
xerr *sock_listen(const char *path, int *fd_out);

/* persist.c: opens x->slots on state_path and loads what they hold. */
xerr *persist_load(struct xsd *x);
/* Writes the state into a slot: enough against the death of the process (the page
 * cache keeps it); durable also fdatasyncs it, against the host's. */
bool persist_save(struct xsd *x, bool durable);
/* The last save made durable (fdatasync of its slot). */
void persist_sync(struct xsd *x);
/* Save at once (domain introductions and releases), not at the next interval. */
void save_now(struct xsd *x);

#endif
