/* pool: master and members (module src/pool/, docs/pool.md).
 *
 * One master holds the pool's database; every other host is a member.  A member's
 * store is the master's (db_open_remote through this module's link), so its own
 * modules (the VM lifecycle, the monitor, the guest watch) run unchanged and write
 * the master's records.  Every API call a member receives, over HTTP or its unix
 * socket, is forwarded to the master, except session.login_with_password (answered
 * HOST_IS_SLAVE [master address], or, for root on the unix socket, a pool session)
 * and the calls the master itself makes to it.  The master has a member run the VM
 * operations of the VMs resident on it (start_on is sent as VM.start, as xapi does).
 *
 * The link is JSON-RPC at /jsonrpc over HTTPS on the port every host of the pool
 * shares (https-port).  Members log in to the master with session.slave_login(host,
 * pool secret); the master logs in to a member the same way.  Each side pins the
 * other's certificate: the member the master's, seen at join (trust on first use, as
 * xapi's join), the master each member's host.certificate_fingerprint.
 *
 * Membership (master address, secret, pins) is kept in pool-file, outside the
 * database.  pool.join and pool.eject end by asking the daemon to restart
 * (pool_restart_wanted), as xapi restarts after them. */
#ifndef XENAPID_POOL_H
#define XENAPID_POOL_H

#include <stdbool.h>

#include "api.h"
#include "config.h"
#include "db.h"

struct pool;

/* Read (or, on a fresh host, make) this host's membership. */
xerr *pool_open(const struct config *cfg, struct pool **out);
void pool_free(struct pool *p);
bool pool_is_member(const struct pool *p);
/* A member's store: the master's database, through the link. */
xerr *pool_open_store(struct pool *p, struct db **out);
/* Register the pool's messages and hooks (before api_startup). */
xerr *pool_register(struct pool *p, struct api *api);
/* Start the background work (after api_startup): a member's heartbeat, the master's
 * liveness watch.  When pool.join or pool.eject wants the daemon to restart, the
 * process gets SIGUSR1 (the daemon's main loop waits for it with its other signals). */
xerr *pool_start(struct pool *p);
void pool_stop(struct pool *p);

/* Run method(args, without session) on host: here when it is this host, else on
 * that member through the link (the master's side of "run operation X for VM v on
 * host h").  The same as api_call_on_host. */
xerr *pool_call_host(struct pool *p, const char *host, const char *method, const xv *args, xv **result);

#endif
