/* Internal to src/xen: what each backend provides.  The common code in hv.c calls
 * these and does everything xenstore-related itself through libxenstore. */
#ifndef XENAPID_XEN_BACKEND_H
#define XENAPID_XEN_BACKEND_H

#include "xenbe.h"

struct hv_build {
    uint32_t domid;
    uint64_t store_mfn;          /* xenstore ring frame, for xs_introduce_domain (HVM: its gfn) */
    uint32_t store_evtchn;
    uint64_t console_mfn;        /* console ring frame, written to .../console/ring-ref (HVM: gfn) */
    uint32_t console_evtchn;
};

struct hv_backend_ops {
    const char *name;
    bool can_suspend;            /* can save a domain's memory image (PV) */
    bool can_suspend_hvm;        /* and an HVM domain's */
    xerr *(*open)(const struct config *cfg, void **state);
    void (*close)(void *state);
    /* The xenstore socket path for libxenstore, NULL for the system default. */
    const char *(*xenstore_path)(void *state);
    xerr *(*host_info)(void *state, struct hv_host_info *out);
    /* Create the domain (handle = spec->uuid), size it, load the kernel (PV) or the
     * firmware (HVM), allocate the store and console event channels and rings; leave
     * it paused.  On failure nothing is left behind. */
    xerr *(*build)(void *state, const struct hv_domain_spec *spec, struct hv_build *out);
    xerr *(*pause)(void *state, uint32_t domid);
    xerr *(*unpause)(void *state, uint32_t domid);
    /* Destroy the domain in the hypervisor (no guest cooperation). */
    xerr *(*destroy)(void *state, uint32_t domid);
    xerr *(*list)(void *state, struct hv_domain_info **out, size_t *n);
    /* Optional: the domain's xenstore tree is written and it is introduced. */
    void (*built)(void *state, uint32_t domid);
    /* Optional: start (xc) or record (simulator) the device model of an HVM domain. */
    xerr *(*device_model)(void *state, uint32_t domid, char *const *argv);
    char **(*dm_argv)(void *state, uint32_t domid);
    /* Optional: a domain went without hv_domain_destroy (hv_domain_forget); drop
     * what the backend kept for it (the device model and its files). */
    void (*forget)(void *state, uint32_t domid);
    /* Save and restore (all three, or none: can_suspend says which).
     * save: the domain is shut down with reason suspend; write the backend's own
     * sections of the stream (hv.c writes the header, the identity and END) and
     * leave the domain as it is.
     * restore: as build, but the domain continues from the sections save wrote
     * (read from fd, in order); out gets the rings the restored guest uses.  On
     * failure nothing is left behind.
     * resume_in_place: a domain shut down for suspend runs on (it was not
     * destroyed: a failed save or migration). */
    xerr *(*save)(void *state, uint32_t domid, int fd);
    xerr *(*restore)(void *state, const struct hv_domain_spec *spec, int fd, struct hv_build *out);
    xerr *(*resume_in_place)(void *state, uint32_t domid);
    /* Optional (the simulator's fault injection, simfault.c): NULL, or the failure to
     * report at the named step hv.c is about to take. */
    xerr *(*fault)(void *state, const char *step);
};

/* The saved-domain stream (stream.c, format in docs/domain-stream.md).  A section
 * is its tag (4 bytes), its length (8, big-endian), the payload and a checksum
 * (4): hv_stream_put writes one whole; a long one can be written as it comes with
 * put_begin, hv_stream_write and put_end over hv_stream_sum of the payload.
 * Readers: hv_stream_next reads a section's head and refuses another tag or a
 * length above max (DOMAIN_STREAM_INVALID), hv_stream_check_sum its checksum;
 * hv_stream_get reads a whole one (NUL-terminated).  A stream that ends early is
 * DOMAIN_STREAM_INVALID too. */
#define HV_STREAM_VERSION 1
#define HV_STREAM_SUM_INIT 2166136261u
uint32_t hv_stream_sum(uint32_t sum, const void *data, size_t len);
xerr *hv_stream_write(int fd, const void *data, size_t len);
xerr *hv_stream_read(int fd, void *data, size_t len);
xerr *hv_stream_put_header(int fd);
xerr *hv_stream_check_header(int fd);
xerr *hv_stream_put(int fd, const char *tag, const void *data, size_t len);
xerr *hv_stream_put_begin(int fd, const char *tag, uint64_t len);
xerr *hv_stream_put_end(int fd, uint32_t sum);
xerr *hv_stream_next(int fd, const char *tag, uint64_t max, uint64_t *len);
xerr *hv_stream_check_sum(int fd, const char *tag, uint32_t sum);
xerr *hv_stream_get(int fd, const char *tag, uint64_t max, char **data, size_t *len);
/* Domain state changes reach hv.c through xenstore's @releaseDomain watch in both
 * backends: the simulator fires it itself (xsd_domain_released), as xenstored does. */

/* A watcher on a connection of its own to the xenstore at path (watcher.c); the
 * simulator uses it before its struct hv exists. */
xerr *hv_watcher_open_at(const char *path, hv_watch_fn fn, void *ctx, struct hv_watcher **out);

/* The device model's files, device-model-dir/<domid>.<ext> (dmfiles.c): <domid>.argv
 * holds its command line, one argument a line (a backslash or a newline inside an
 * argument written \\ or \n), written aside and renamed into place. */
char *hv_dm_file(const char *dir, uint32_t domid, const char *ext);
xerr *hv_dm_write_argv(const char *dir, uint32_t domid, char *const *argv);
char **hv_dm_read_argv(const char *dir, uint32_t domid);  /* NULL if none */
/* The domain's files: its argv and pid (the log stays for the operator). */
void hv_dm_files_remove(const char *dir, uint32_t domid);

extern const struct hv_backend_ops hv_simulator_ops;
extern const struct hv_backend_ops hv_xc_ops;

#endif
