/* The simulator's fault injection (issue 15): a step of a domain's build, pause,
 * shutdown, suspend, resume or migration fails on demand, so that tests see what the toolstack leaves
 * when the hypervisor fails under it.
 *
 * The faults are a file, sim-state-dir/fault, one "STEP COUNT" line per armed step,
 * written by `xenapid --sim-fault STEP[:COUNT]` (hv_sim_fault, xenbe.h) aside and renamed into
 * place, so that it works while a daemon runs.  At each step hv.c asks the backend
 * (hv_backend_ops.fault); the simulator's answer is simfault_check: if the step is
 * armed, its count goes down by one (the line goes at zero, the file with its last
 * line) and the step fails with an INTERNAL_ERROR naming it, as the hypervisor's own
 * failure would.  The file is read at each step: a test arms a fault, makes its call,
 * and the next attempt succeeds once the count is used up.
 *
 * The steps (where hv.c calls fault(), in this order within a build):
 *   build            before the backend creates the domain (nothing exists yet)
 *   xenstore-tree    the domain exists, its tree's roots are written, its transaction not
 *   introduce        the tree is written, the domain not yet introduced to xenstore
 *   device-model     (HVM) introduced, the device model not yet started
 *   unpause, pause   the domain's state change
 *   request-shutdown writing control/shutdown (poweroff, reboot, halt)
 *   request-suspend  writing control/shutdown = suspend
 *   destroy          before the backend destroys the domain
 *   save             (suspend, migration's source) the guest has suspended, nothing
 *                    of its stream is written
 *   restore          (resume, migration's destination) the backend has restored the
 *                    domain from the stream, its END not read, its tree not written
 *   migrate-send     the source's guest has suspended, the destination is connected,
 *                    nothing is streamed (src/vm/migrate.c)
 *   migrate-receive  the destination has restored the domain (paused), the source
 *                    not yet told READY
 * A new step: add it to `steps` below and call hv_fault(hv, "step") where it
 * begins; nothing else is needed. */
#include "simfault.h"
#include "xenbe.h"

#include "dm_gen.h"
#include "log.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const steps[] = {
    "build", "xenstore-tree", "introduce", "device-model", "unpause",
    "pause", "request-shutdown", "request-suspend", "destroy",
    "save", "restore", "migrate-send", "migrate-receive",
};

#define NSTEPS (sizeof(steps) / sizeof(steps[0]))
#define MAX_COUNT 1000000

struct simfault {
    char *path;
    pthread_mutex_t lock;        /* one step at a time reads and rewrites the file */
};

static int step_index(const char *step)
{
    for (size_t i = 0; i < NSTEPS; i++)
        if (strcmp(steps[i], step) == 0)
            return (int)i;
    return -1;
}

/* The armed counts, by step; false when the file is unreadable or not ours. */
static bool read_faults(const char *path, long counts[NSTEPS])
{
    memset(counts, 0, NSTEPS * sizeof(counts[0]));
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT;
    char step[64];
    long n;
    bool ok = true;
    while (ok) {
        int got = fscanf(f, "%63s %ld", step, &n);
        if (got == EOF)
            break;
        int i = got == 2 ? step_index(step) : -1;
        ok = i >= 0 && n >= 0 && n <= MAX_COUNT;
        if (ok)
            counts[i] = n;
    }
    fclose(f);
    return ok;
}

static xerr *write_faults(const char *path, const long counts[NSTEPS])
{
    bool any = false;
    for (size_t i = 0; i < NSTEPS; i++)
        any |= counts[i] > 0;
    if (!any)
        return unlink(path) == 0 || errno == ENOENT
                   ? NULL
                   : xerr_internal("simulator: cannot remove %s: %s", path, strerror(errno));
    _cleanup_free_ char *tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL;
    for (size_t i = 0; ok && i < NSTEPS; i++)
        if (counts[i] > 0)
            ok = fprintf(f, "%s %ld\n", steps[i], counts[i]) > 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return xerr_internal("simulator: cannot write %s: %s", path, strerror(err));
    }
    return NULL;
}

struct simfault *simfault_open(const char *state_dir)
{
    struct simfault *f = xcalloc(1, sizeof(*f));
    f->path = xasprintf("%s/fault", state_dir);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

void simfault_close(struct simfault *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->lock);
    free(f->path);
    free(f);
}

xerr *simfault_check(struct simfault *f, const char *step)
{
    int i = step_index(step);
    assert(i >= 0);  /* hv.c names only the steps above */
    long counts[NSTEPS];
    xerr *e = NULL;
    pthread_mutex_lock(&f->lock);
    if (!read_faults(f->path, counts)) {
        log_warn("simulator: %s is not a fault file (STEP COUNT lines): ignored", f->path);
    } else if (counts[i] > 0) {
        counts[i]--;
        xerr *we = write_faults(f->path, counts);
        if (we) {
            _cleanup_free_ char *s = xerr_str(we);
            log_error("%s", s);
            xerr_free(we);
        }
        log_warn("simulator: injected fault at step %s (%ld more armed)", step, counts[i]);
        e = xerr_internal("simulator: injected fault at step %s", step);
    }
    pthread_mutex_unlock(&f->lock);
    return e;
}

xerr *hv_sim_fault(const struct config *cfg, const char *spec)
{
    _cleanup_free_ char *path = xasprintf("%s/fault", config_get(cfg, "sim-state-dir"));
    long counts[NSTEPS];
    if (strcmp(spec, "none") == 0) {
        memset(counts, 0, sizeof(counts));
        return write_faults(path, counts);
    }
    _cleanup_free_ char *step = xstrdup(spec);
    char *colon = strchr(step, ':');
    int64_t count = 1;
    if (colon) {
        *colon = 0;
        if (!parse_int64(colon + 1, &count) || count < 0 || count > MAX_COUNT)
            return err_invalid_value("count", colon + 1);
    }
    int i = step_index(step);
    if (i < 0)
        return err_invalid_value("step", step);
    if (!read_faults(path, counts))
        memset(counts, 0, sizeof(counts));  /* not ours: replaced */
    counts[i] = (long)count;
    return write_faults(path, counts);
}
