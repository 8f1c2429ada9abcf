#include "modules.h"
#include "guest.h"
#include "vm.h"

xerr *modules_register(struct api *api)
{
    return vm_register(api);
}

xerr *modules_start(struct api *api)
{
    /* guest metrics first: the monitor tells it about domains it adopts or loses */
    xerr *e = guest_start(api);
    if (!e)
        e = vm_start_monitor(api);
    return e;
}

void modules_stop(struct api *api)
{
    vm_stop_monitor(api);
    guest_stop();
}
