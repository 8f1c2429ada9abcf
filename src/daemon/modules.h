/* The modules beyond the core API, in the order the daemon starts them. */
#ifndef XENAPID_DAEMON_MODULES_H
#define XENAPID_DAEMON_MODULES_H

#include "api.h"

/* Register the modules' messages (before api_startup). */
xerr *modules_register(struct api *api);
/* Start what runs in the background (after api_startup: the host record exists). */
xerr *modules_start(struct api *api);
void modules_stop(struct api *api);

#endif
