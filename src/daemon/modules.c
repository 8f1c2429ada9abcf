#include "modules.h"
#include "vm.h"

xerr *modules_register(struct api *api)
{
    return vm_register(api);
}

xerr *modules_start(struct api *api)
{
    return vm_start_monitor(api);
}

void modules_stop(struct api *api)
{
    vm_stop_monitor(api);
}
