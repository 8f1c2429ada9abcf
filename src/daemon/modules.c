#include "modules.h"
#include "guest.h"
#include "policy.h"
#include "util.h"
#include "vm.h"

#include <stdlib.h>

/* What the modules run in the background, owned here and nowhere else. */
struct modules {
    struct guest_watch *guest;
    struct vm_monitor *monitor;
};

xerr *modules_register(struct api *api)
{
    xerr *e = vm_register(api);
    return e ? e : policy_register(api);
}

xerr *modules_start(struct api *api, struct modules **out)
{
    struct modules *m = xcalloc(1, sizeof(*m));
    /* the monitor first: it clears the operations a restart interrupted and brings
     * the records up to date, which the guest watch then follows */
    xerr *e = vm_monitor_start(api, &m->monitor);
    if (!e)
        e = guest_watch_start(api, &m->guest);
    if (e) {
        modules_stop(m);
        m = NULL;
    }
    *out = m;
    return e;
}

void modules_stop(struct modules *m)
{
    if (!m)
        return;
    vm_monitor_stop(m->monitor);
    guest_watch_stop(m->guest);
    free(m);
}
