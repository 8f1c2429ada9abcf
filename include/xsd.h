/* xsd: an in-process xenstore server for the simulator backend (module src/xenstored/).
 *
 * It speaks the real xenstore wire protocol (xen/io/xs_wire.h) on unix sockets, so the
 * stock xenstore-* tools and libxenstore (XENSTORED_PATH=<socket>) work against it
 * unchanged, and it keeps the semantics of the C xenstored of Xen 4.17: tree,
 * permissions, watches, transactions, quotas for unprivileged domains.  It runs on its
 * own thread; these functions may be called from any other thread, none after xsd_stop.
 */
#ifndef XENAPID_XSD_H
#define XENAPID_XSD_H

#include <stdbool.h>

#include "xerr.h"

struct xsd;

struct xsd_options {
    const char *socket_path;       /* privileged socket: every connection acts as dom0 */
    const char *domain_socket_dir; /* per-domain sockets: when a domain is introduced (XS_INTRODUCE)
                                      the server creates <dir>/<domid>; a connection there acts as
                                      that (unprivileged) domain: permissions enforced, quotas apply,
                                      relative paths resolve to /local/domain/<domid>. Removed on
                                      XS_RELEASE or when the domain is released; at start, any there of
                                      no domain introduced (left by a kill) is removed. NULL: none. */
    const char *state_path;        /* NULL: in memory only. Else the tree (nodes, values, permissions)
                                      and the set of introduced domains are loaded at start and saved
                                      in slot files beside it (slotfile.h: <path>.0-2; a file at <path>
                                      itself, the older format, is loaded and replaced) before every
                                      reply that changed them, made durable (fdatasync) at most every
                                      100 ms after a change, and on xsd_stop: the simulated xenstore
                                      survives a restart of the daemon like a real xenstored does. */
    /* NULL: every domain loaded from the state stays introduced.  Else asked at start, for
       each introduced domain loaded, whether the hypervisor still has it; one it has not
       is released then (its socket goes, @releaseDomain), as a real xenstored learns from
       the hypervisor (VIRQ_DOM_EXC) which domains died, those that died while the daemon
       was down included. */
    bool (*domain_exists)(void *arg, unsigned domid);
    void *domain_exists_arg;
};

/* Binds the sockets, loads the state and starts the server thread. */
xerr *xsd_start(const struct xsd_options *opt, struct xsd **out);
/* Stops the thread, saves the state, closes and unlinks the sockets, frees x. */
void xsd_stop(struct xsd *x);
/* The (simulated) hypervisor reports that a domain died or shut down: fire @releaseDomain
   watches, as the real xenstored does on VIRQ_DOM_EXC.  The domain is forgotten as by
   XS_RELEASE (its socket goes, nodes it owned pass to dom0).  Asynchronous. */
void xsd_domain_released(struct xsd *x, unsigned domid);
/* The domain shut down but is not gone (the toolstack may resume it in place after a
 * failed suspend, or destroy it): @releaseDomain fires, as the real xenstored does
 * for a domain that shut down, and the domain keeps its connection and nodes until
 * it is released.  Asynchronous. */
void xsd_domain_shutdown(struct xsd *x, unsigned domid);

#endif
