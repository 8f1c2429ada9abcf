/* The simulated guests' clock (simclock.c): what a guest does a moment after it
 * decided to (shut down once it acknowledged its request), on one thread of its
 * own, so that one guest's moment does not hold up the others, as it would on the
 * thread that delivers every guest's xenstore watches. */
#ifndef XENAPID_XEN_SIMCLOCK_H
#define XENAPID_XEN_SIMCLOCK_H

#include "xerr.h"

#include <stdint.h>

struct simclock;
typedef void (*simclock_fn)(void *ctx, uint32_t domid, int arg);
/* Starts the thread, which calls fn(ctx, domid, arg) for each entry when its time
 * comes, holding no lock of the clock's. */
xerr *simclock_start(simclock_fn fn, void *ctx, struct simclock **out);
/* fn(ctx, domid, arg) in delay seconds. */
void simclock_add(struct simclock *c, double delay, uint32_t domid, int arg);
/* Stops the thread (an entry being run finishes first); entries not yet due are
 * dropped, as a guest's plans are when its host goes down.  NULL is fine. */
void simclock_stop(struct simclock *c);

#endif
