/* xenbe: the hypervisor, behind one interface (module src/xen/).
 *
 * Two backends, chosen by the `backend` configuration key: `simulator` (simulated
 * domains plus a xenstore server speaking the real wire protocol on a unix socket)
 * and `xc` (libxenctrl + libxenguest + libxenstore in a Xen dom0).  Above this
 * header nothing knows which one runs.  Both are driven through libxenstore for
 * everything that lives in xenstore, so the domain's tree is written by one piece of
 * code (src/xen/hv.c) whatever the backend.
 *
 * Threads and locks.  Every function here may be called from any thread, at once:
 * builds of several domains run side by side, and a query (hv_host_info,
 * hv_domain_list, hv_domain_info) never waits for a build, a destroy or a device
 * model's exit.  The locks of src/xen are leaves: none is taken while another is
 * held, src/xen takes none of its callers' locks, and no callback (hv_domain_cb,
 * hv_watch_fn) runs with one held.  The ones a query takes are held for a few loads
 * and stores, never over a hypercall, a sleep, waitpid, a file or xenstore access:
 *   xc (src/xen/xc.c): pool_lock (the idle libxenctrl handles: each operation
 *     borrows one of its own, so no libxenctrl call is made under a lock) and
 *     mem_lock (memory promised to builds in flight).
 *   simulator (src/xen/sim.c): lock (its domains); and save_lock, taken only by
 *     changes, after lock is released, and held while the state file is written.
 *     (Against another process, sim-state-dir/lock: a file lock held as long as
 *     the simulator is open, so never waited for.)
 *   hv.c: spare_lock (its idle xenstore connections); libxenstore serialises
 *     requests on a handle itself.
 *   hv_xs_open (src/xen/watcher.c): the environment's lock, held over a connect:
 *     shared by opens of the socket already set, alone only to set another.
 */
#ifndef XENAPID_XENBE_H
#define XENAPID_XENBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "xerr.h"

struct hv;  /* an opened backend and its xenstore connection */

struct hv_host_info {
    char xen_version[64];        /* "4.17.7" (real) or "4.17.0-sim" */
    char xen_caps[1024];         /* "xen-3.0-x86_64 hvm-3.0-x86_32 ...", as long as Xen's can be */
    char backend[16];            /* "xc" or "simulator" */
    uint64_t total_memory_bytes;
    uint64_t free_memory_bytes;
    unsigned nr_cpus;
    unsigned cpu_mhz;
    bool hvm_capable;
};

enum hv_dom_state {
    HV_DOM_RUNNING,
    HV_DOM_PAUSED,
    HV_DOM_SHUTDOWN,   /* stopped, shutdown_reason says why; not yet destroyed */
    HV_DOM_DYING,
};

/* Same numbering as Xen's SHUTDOWN_* (xen/sched.h). */
enum hv_shutdown_reason {
    HV_SHUTDOWN_POWEROFF = 0,
    HV_SHUTDOWN_REBOOT = 1,
    HV_SHUTDOWN_SUSPEND = 2,
    HV_SHUTDOWN_CRASH = 3,
    HV_SHUTDOWN_WATCHDOG = 4,
};

struct hv_domain_info {
    uint32_t domid;
    char uuid[37];               /* the domain handle: the VM's uuid */
    enum hv_dom_state state;
    int shutdown_reason;         /* valid when state == HV_DOM_SHUTDOWN */
    uint64_t memory_bytes;       /* currently allocated */
    uint64_t max_memory_bytes;
    unsigned vcpus;
    uint64_t cpu_time_ns;
    bool hvm;
};

/* Everything needed to build a domain.  The caller owns the strings. */
struct hv_domain_spec {
    const char *uuid;
    const char *name;
    bool hvm;
    uint64_t memory_static_max;  /* bytes */
    uint64_t memory_target;      /* bytes */
    unsigned vcpus_max;
    unsigned vcpus;
    const char *kernel;          /* PV: path of the kernel in dom0 */
    const char *ramdisk;         /* PV: may be NULL or "" */
    const char *cmdline;         /* PV */
    bool has_vendor_device;      /* the emulated PCI vendor device (platform version 1) */
    /* HVM: the VM's virtual hardware (platform_hardware): the device model's machine
     * type, its arguments for the devices (NULL-terminated, each at its fixed slot)
     * and the VGA memory */
    const char *machine;
    const char *const *dm_devices;
    unsigned videoram_mib;
    /* the platform keys of the VM's hardware, as key/value pairs written to .../platform/ */
    size_t nplatform;
    const char *const *platform_keys;
    const char *const *platform_values;
    /* The VM's own xenstore keys beyond the standard layout (vm-data, ...): none yet. */
};

xerr *hv_open(const struct config *cfg, struct hv **out);
void hv_close(struct hv *hv);
const char *hv_backend_name(const struct hv *hv);
/* Whether VM.suspend can work: the backend can save a domain (hv_domain_save), an
 * HVM one or a PV one.  (xc saves PV domains only: an HVM domain's device model
 * state would have to be saved with it.) */
bool hv_can_suspend(const struct hv *hv, bool hvm);
/* Path of the xenstore socket clients should use (XENSTORED_PATH), NULL for the
 * system default (a real dom0). */
const char *hv_xenstore_path(const struct hv *hv);

xerr *hv_host_info(struct hv *hv, struct hv_host_info *out);

/* Create and build a domain and write its xenstore tree (/local/domain/<domid>/...,
 * /vm/<uuid>, control/has-vendor-device), introduce it to xenstore, and leave it
 * paused.  For HVM the device model argument list is computed and recorded (see
 * hv_domain_dm_argv); the xc backend also starts the device model where its binary
 * is installed. */
xerr *hv_domain_create(struct hv *hv, const struct hv_domain_spec *spec, uint32_t *domid);
xerr *hv_domain_pause(struct hv *hv, uint32_t domid);
xerr *hv_domain_unpause(struct hv *hv, uint32_t domid);
/* Ask the guest, through control/shutdown ("poweroff", "reboot", "suspend", "halt").
 * Returns at once; the guest acknowledges by removing the key. */
xerr *hv_domain_request_shutdown(struct hv *hv, uint32_t domid, const char *reason);
/* Take back a request the guest has not acknowledged (it is written back empty, as
 * the guest's acknowledgement would), so that it does not act on it later.  The read
 * and the write are one transaction, as the guest's acknowledgement is (Linux,
 * drivers/xen/manage.c): of the two, one wins.  False when the guest had
 * acknowledged (the key was empty or gone): it is acting on the request, which can
 * no longer be taken back. */
bool hv_domain_cancel_shutdown(struct hv *hv, uint32_t domid);
/* Whether the guest has acknowledged (removed) the control/shutdown request. */
bool hv_domain_shutdown_acked(struct hv *hv, uint32_t domid);
/* Force the domain down without the guest (hard shutdown), destroy it and remove its
 * xenstore entries. */
xerr *hv_domain_destroy(struct hv *hv, uint32_t domid);
/* A domain that went without the toolstack (destroyed behind its back, or while the
 * daemon was down): remove the xenstore entries written for it (as hv_domain_destroy
 * does), unless a domain domid exists or the tree at domid belongs to another VM. */
void hv_domain_forget(struct hv *hv, uint32_t domid, const char *uuid);
xerr *hv_domain_list(struct hv *hv, struct hv_domain_info **out, size_t *n);
/* HV_DOMAIN_NOT_FOUND-style: returns false when no such domain exists. */
bool hv_domain_info(struct hv *hv, uint32_t domid, struct hv_domain_info *out);
/* The device model argv an HVM domain was (or would be) started with; NULL-terminated,
 * caller frees with hv_strv_free.  NULL if the domain has none (PV). */
char **hv_domain_dm_argv(struct hv *hv, uint32_t domid);
void hv_strv_free(char **v);

/* Saving and restoring a domain, for suspend/resume and migration.  The stream is
 * written and read in order, never seeked: fd may be a file, a pipe or a socket.
 * Its format (docs/domain-stream.md): a header (magic, format version), the
 * domain's identity (the VM's uuid, name, HVM or PV, the backend), the backend's
 * sections (the simulator's guest state; xc's libxenguest stream), END; every
 * section length-prefixed and checksummed.
 * hv_domain_save: the domain has acknowledged "suspend" and is shut down with
 * reason suspend; writes the stream and leaves the domain in place (the caller
 * destroys it, or resumes it in place if the stream could not be kept).
 * hv_domain_restore: builds a domain for spec that continues from the stream (not
 * a cold boot), writes its xenstore tree and introduces it as hv_domain_create
 * does, and leaves it paused; a stream that is truncated, damaged, of another
 * version, another VM (uuid) or another backend is DOMAIN_STREAM_INVALID, and no
 * domain is left behind.  The domid is new.
 * hv_domain_resume_in_place: a domain shut down for suspend, not destroyed,
 * continues (after a failed save or migration). */
xerr *hv_domain_save(struct hv *hv, uint32_t domid, int fd);
xerr *hv_domain_restore(struct hv *hv, const struct hv_domain_spec *spec, int fd, uint32_t *domid);
xerr *hv_domain_resume_in_place(struct hv *hv, uint32_t domid);
/* The failure the backend injects at a named step (the simulator's fault injection,
 * src/xen/simfault.c, which lists the steps), or NULL: hv.c asks at each step of a
 * build, pause, shutdown, save and restore; the migration (src/vm/migrate.c) at its
 * sending and receiving steps. */
xerr *hv_fault(struct hv *hv, const char *step);

/* The domain's layout (src/xen/layout.c), pure functions of the spec for the golden
 * tests: what hv_domain_create writes and starts. */
struct hv_rings {
    uint32_t store_port;
    uint64_t store_ref;
    uint32_t console_port;
    uint64_t console_ref;
};
struct hv_xs_node {
    char *path, *value;
    bool guest_owned;            /* the guest may write it; else dom0's, guest-readable */
};
/* The xenstore tree, in the order written. */
struct hv_xs_node *hv_domain_tree(uint32_t domid, const struct hv_domain_spec *spec, const struct hv_rings *r,
                                  size_t *n);
void hv_xs_nodes_free(struct hv_xs_node *v, size_t n);
/* The device model's argv (HVM); free with hv_strv_free. */
char **hv_dm_argv(uint32_t domid, const struct hv_domain_spec *spec);

/* Domain state changes.  The callback runs on the backend's watch thread whenever a
 * domain may have changed state (xenstore's @releaseDomain, or the simulator's own
 * notice); it should look at hv_domain_list/hv_domain_info and must not block long. */
typedef void (*hv_domain_cb)(void *ctx);
xerr *hv_watch_domains(struct hv *hv, hv_domain_cb cb, void *ctx);

/* Watching xenstore paths, for modules that follow what guests write.  fn runs on
 * the watcher's own thread, once per event (and once when a watch is added, as
 * xenstore does); it must not block long.  Close joins the thread. */
struct hv_watcher;
typedef void (*hv_watch_fn)(void *ctx, const char *path, const char *token);
xerr *hv_watcher_open(struct hv *hv, hv_watch_fn fn, void *ctx, struct hv_watcher **out);
xerr *hv_watcher_add(struct hv_watcher *w, const char *path, const char *token);
void hv_watcher_remove(struct hv_watcher *w, const char *path, const char *token);
void hv_watcher_close(struct hv_watcher *w);
/* Read a xenstore value as dom0; NULL when absent.  *len gets its length. */
char *hv_xs_read(struct hv *hv, const char *path, size_t *len);
/* Read n values in one xenstore transaction, so that they belong together;
 * values[i] is NULL where a key is absent.  Caller frees each value. */
xerr *hv_xs_read_many(struct hv *hv, const char *const *paths, size_t n, char **values);
/* A libxenstore connection of the caller's own to the xenstore at path (a socket);
 * NULL or "": to the one XENSTORED_PATH named when the process first opened one
 * (libxenstore's default socket if it was unset then).  libxenstore takes its socket
 * from XENSTORED_PATH alone, when a connection opens, and a process may hold more than
 * one backend (the unit tests' two hosts), so every connection of the process opens
 * here, which sets the variable under its lock: setting it or calling xs_open anywhere
 * else races with that (`make lint` checks src/ and tests/unit).  NULL and errno when
 * the connection cannot be made. */
struct xs_handle;
struct xs_handle *hv_xs_open(const char *path);

/* The simulator's control (`xenapid --sim-domain`): change a domain of the simulator
 * whose state is in sim-state-dir as its hypervisor would behind a toolstack that is
 * not running, for the daemon to find at its next start.  Refused while a daemon has
 * that simulator open (it holds sim-state-dir/lock), and for domain 0.
 * hv_sim_shutdown: a running or paused domain shuts down, reason in Xen's words
 * ("poweroff", "reboot", "crash"); it stays until destroyed.
 * hv_sim_remove: the domain is gone; its xenstore entries and device model files are
 * left for the toolstack to clean up, as after a real hypervisor's destroy. */
xerr *hv_sim_shutdown(const struct config *cfg, uint32_t domid, const char *reason);
xerr *hv_sim_remove(const struct config *cfg, uint32_t domid);
/* The simulator's fault injection (`xenapid --sim-fault`, src/xen/simfault.c): spec
 * "STEP[:COUNT]" makes the next COUNT (default 1; 0 disarms) passes through that step
 * of a build, pause, shutdown, suspend, resume or migration fail, "none" disarms every step.  Works
 * while a daemon runs: it reads sim-state-dir/fault at each step. */
xerr *hv_sim_fault(const struct config *cfg, const char *spec);
/* `xenapid --sim-list`: one line per saved domain, "DOMID<TAB>UUID<TAB>STATE<TAB>REASON"
 * (state running, paused, shutdown or dying), as `xl list`; works beside a daemon. */
xerr *hv_sim_list(const struct config *cfg, FILE *out);

#endif
