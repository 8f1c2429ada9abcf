#include "modules.h"

xerr *modules_register(struct api *api)
{
    (void)api;
    return NULL;
}

xerr *modules_start(struct api *api)
{
    (void)api;
    return NULL;
}

void modules_stop(struct api *api)
{
    (void)api;
}
