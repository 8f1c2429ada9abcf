/* slotfile: a small state saved often, without creating or renaming a file per save.
 *
 * The state lives in three slot files beside PATH (PATH.0, PATH.1, PATH.2), opened
 * once.  A save overwrites one slot in place (one pwritev: a header with magic,
 * generation, length and checksum, then the payload); loading takes the valid slot
 * of the newest generation, so a save torn by a kill -9 or a power loss leaves the
 * one before it.  A save never overwrites the newest slot nor the one last made
 * durable, so that a power loss after slotfile_sync finds at least that state.
 *
 * A file at PATH itself is the older format (one whole file per save): it is loaded
 * when no slot holds a state, and removed once a slot durably replaces it.
 */
#ifndef XENAPID_SLOTFILE_H
#define XENAPID_SLOTFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "xerr.h"

struct slotfile;

/* Opens (creating) the slots of path and loads the newest state: *data (malloc'd,
 * NUL-terminated after *len bytes) or NULL when there is none yet.  Slots holding
 * bytes of which none is valid are an error, not an empty state. */
xerr *slotfile_open(const char *path, struct slotfile **out, char **data, size_t *len);
void slotfile_close(struct slotfile *f);
/* The newest state as slotfile_open would load it, read only: for a reader beside
 * the process that writes (its save in flight reads as torn, so the one before). */
xerr *slotfile_peek(const char *path, char **data, size_t *len);
/* Saves n bytes as the newest state: in the page cache, so a kill -9 keeps it. */
xerr *slotfile_write(struct slotfile *f, const void *p, size_t n);
/* Makes the newest state durable (fdatasync of its slot). */
xerr *slotfile_sync(struct slotfile *f);

#endif
