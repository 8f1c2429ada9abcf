/* The suspend image: a Suspended VM's saved domain, kept on local disk as xapi keeps
 * a suspend VDI (suspend-image-dir/<vm uuid>.image, in the stream format of
 * docs/domain-stream.md).  Written aside and renamed into place, so that an image
 * that is there is whole. */
#include "vm_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *image_dir(struct api *api)
{
    const struct config *cfg = api_config(api);
    const char *dir = config_get(cfg, "suspend-image-dir");
    if (*dir)
        return xstrdup(dir);
    const char *db = config_get(cfg, "db-path");
    const char *slash = strrchr(db, '/');
    return slash ? xasprintf("%.*s/suspend", (int)(slash - db), db) : xstrdup("suspend");
}

static char *image_path(struct api *api, const char *uuid)
{
    _cleanup_free_ char *dir = image_dir(api);
    return xasprintf("%s/%s.image", dir, uuid);
}

xerr *vm_save_image(struct api *api, const char *vm, const char *uuid, uint32_t domid)
{
    _cleanup_free_ char *dir = image_dir(api);
    _cleanup_free_ char *path = image_path(api, uuid);
    _cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return xerr_internal("cannot make the suspend image directory %s: %s", dir, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return xerr_internal("cannot write the suspend image %s: %s", tmp, strerror(errno));
    double t0 = now_monotonic();
    xerr *e = vm_hv_failed(vm, "domain save", hv_domain_save(api_hv(api), domid, fd));
    if (!e && fsync(fd) != 0)
        e = xerr_internal("cannot write the suspend image %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !e)
        e = xerr_internal("cannot write the suspend image %s: %s", tmp, strerror(errno));
    if (!e && rename(tmp, path) != 0)
        e = xerr_internal("cannot put the suspend image in place at %s: %s", path, strerror(errno));
    if (e) {
        unlink(tmp);
        return e;
    }
    struct stat st;
    log_info("VM %s: domain %" PRIu32 " saved to %s (%lld bytes, %.2f s)", uuid, domid, path,
             stat(path, &st) == 0 ? (long long)st.st_size : -1LL, now_monotonic() - t0);
    return NULL;
}

xerr *vm_restore_image(struct api *api, const char *vm, const xv *rec, bool paused, xv **updates)
{
    const char *uuid = dm_get_str(rec, DMF_VM_uuid);
    _cleanup_free_ char *path = image_path(api, uuid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        _cleanup_free_ char *why = xasprintf("no suspend image at %s: %s", path, strerror(errno));
        return err_domain_stream_invalid(why);
    }
    /* the same hardware it was suspended with: its pin */
    struct hv_domain_spec spec;
    struct vhw *hw = NULL;
    uint32_t domid = 0;
    double t0 = now_monotonic();
    xerr *e = vm_domain_spec(api_platform(api), rec, &spec, &hw);
    if (!e)
        e = vm_hv_failed(vm, "domain restore", hv_domain_restore(api_hv(api), &spec, fd, &domid));
    spec_free(&spec);
    vhw_free(hw);
    close(fd);
    if (e)
        return e;
    if (!paused && (e = vm_hv_failed(vm, "domain unpause", hv_domain_unpause(api_hv(api), domid))) != NULL) {
        xerr *de = hv_domain_destroy(api_hv(api), domid);
        if (de) {
            _cleanup_free_ char *why = xerr_str(de);
            log_error("VM %s: cannot take down domain %" PRIu32 " after a failed resume: %s", vm, domid, why);
            xerr_free(de);
        }
        return e;
    }
    /* the domain holds the state now: the image would only resume it a second time */
    if (unlink(path) != 0)
        log_warn("VM %s: cannot remove its suspend image %s: %s", vm, path, strerror(errno));
    *updates = updates_running(api_host_ref(api), domid, paused, vm_is_hvm(rec));
    log_info("VM %s resumed from %s as domain %" PRIu32 " (%s, %.2f s)", vm, path, domid,
             paused ? "paused" : "running", now_monotonic() - t0);
    return NULL;
}

void vm_drop_image(struct api *api, const char *uuid)
{
    _cleanup_free_ char *path = image_path(api, uuid);
    if (unlink(path) == 0)
        log_info("VM %s: suspend image %s dropped", uuid, path);
    else if (errno != ENOENT)
        log_warn("VM %s: cannot remove its suspend image %s: %s", uuid, path, strerror(errno));
}
