/* The modules beyond the core API, in the order the daemon starts them. */
#ifndef XENAPID_DAEMON_MODULES_H
#define XENAPID_DAEMON_MODULES_H

#include "api.h"

/* Register the modules' messages (before api_startup). */
xerr *modules_register(struct api *api);
/* Start what runs in the background (after api_startup: the host record exists);
 * *out owns it.  On failure nothing is left running. */
struct modules;
xerr *modules_start(struct api *api, struct modules **out);
/* Stop and free what modules_start started (NULL is allowed). */
void modules_stop(struct modules *m);

#endif
