/* The simulator backend: simulated domains and the in-process xenstore server
 * (src/xenstored), for machines without Xen.
 *
 * Like a real hypervisor, it outlives the toolstack: its domains and xenstore tree
 * are kept under sim-state-dir and found again when the daemon restarts.
 *
 * The simulated guest is cooperative: it acknowledges control/shutdown and shuts
 * down with the matching reason, unless its VM's platform says
 * sim-guest=unresponsive (it ignores them), sim-guest=hangs (it acknowledges,
 * then never stops) or sim-guest=slow (it takes sim-ack-ms, default 1500, to
 * acknowledge, in the transaction that reads the request, as Linux's: a request
 * taken back meanwhile is not acted on).  Tests drive guest-initiated events by writing, as dom0,
 * /local/domain/<domid>/sim/shutdown = poweroff | reboot | crash | suspend.
 *
 * The simulated guest has a state that a save carries and a restore brings back:
 * a boot id drawn at each cold boot, the time it has run, and a small memory image
 * holding a counter.  Writing sim/query (as dom0) makes the guest bump its counter
 * and report the lot in data/sim-state ("boot-id=<hex> counter=<n> run-ms=<n>"):
 * after a resume the boot id is the same and the counter goes on.
 *
 * An HVM domain's device model is only recorded: its command line is kept in
 * device-model-dir/<domid>.argv, the file the xc backend starts it from, and goes
 * with the domain.
 *
 * One process at a time has the state: sim-state-dir/lock is held (flock) by the
 * daemon that opened it, or by hv_sim_shutdown and hv_sim_remove, which change the
 * domains as the hypervisor would behind a toolstack that is not running. */
#include "backend.h"
#include "simclock.h"
#include "simfault.h"
#include "slotfile.h"
#include "dm_gen.h"
#include "log.h"
#include "util.h"
#include "xsd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#define DOM0_MEMORY (1024ull << 20)
#define SHUTDOWN_DELAY 0.1       /* seconds a guest takes to shut down (on the clock) */
#define SLOW_ACK_MS 1500         /* sim-guest=slow: to take its request (sim-ack-ms) */
#define SIM_MEM_BYTES 4096       /* the simulated guest's memory image */
#define SIM_BOOT_ID_LEN 32
/* The simulated guests' xenstore connections, each with the thread that delivers its
 * watches: a domain's guest uses lane domid % GUEST_LANES.  A real guest has a ring
 * of its own that xenstored serves beside every other guest's; with one connection
 * (and one thread) for all of them, one guest's acknowledgement waited behind every
 * other guest's reads, one request per xenstored turn (load soak: 6-7 s to
 * acknowledge under 64 clients, against a 10 s acknowledgement timeout). */
#define GUEST_LANES 8

struct simdom {
    uint32_t domid;
    char uuid[37];
    char *name;
    enum hv_dom_state state;
    int reason;
    bool hvm;
    uint64_t memory, max_memory;
    unsigned vcpus;
    double started;
    /* the guest's state (see the top): boot id, time run before running_since (the
     * start of its current run, when RUNNING), memory with the counter at 0 */
    char boot_id[SIM_BOOT_ID_LEN + 1];
    uint64_t run_ns;
    double running_since;
    unsigned char mem[SIM_MEM_BYTES];
    struct simdom *next;
};

/* Threads and locks: lock guards the domains (a query takes it for a walk of the
 * list); save_lock serialises writing the state file, the slow part (an fsync), so
 * that a change is on disk when its call returns without a query waiting for it.
 * Neither is held while the other is taken, nor over a sleep or a xenstore call. */
struct sim {
    char *dir, *state_file, *xs_socket, *dm_dir;
    int lock_fd;                 /* holds sim-state-dir/lock */
    uint64_t total_memory;
    unsigned cpus;
    double build_delay;          /* sim-build-delay: seconds a build takes */
    struct xsd *xsd;
    pthread_mutex_t lock;        /* guards doms, next_domid, gen */
    struct simdom *doms;
    uint32_t next_domid;
    uint64_t gen;                /* bumped at every change saved */
    pthread_mutex_t save_lock;   /* guards slots and saved_gen; held over the write */
    struct slotfile *slots;      /* the state file (slotfile.h), opened under the lock file */
    uint64_t saved_gen;          /* the newest state on disk */
    /* the simulated guests' side of xenstore (GUEST_LANES) */
    struct guest_lane {
        struct xs_handle *xs;
        struct hv_watcher *watch;
    } lanes[GUEST_LANES];
    struct simfault *faults;     /* sim-state-dir/fault */
    struct simclock *clock;      /* the guests' shutdowns, a moment after their decision */
};

/* A cold boot: a new boot id and memory filled from it, the counter at 0. */
static void guest_cold_boot(struct simdom *d)
{
    char u[37];
    uuid_generate_str(u);
    size_t n = 0;
    for (const char *p = u; *p && n < SIM_BOOT_ID_LEN; p++)
        if (*p != '-')
            d->boot_id[n++] = *p;
    d->boot_id[n] = 0;
    uint64_t x = 88172645463325252ull;
    for (const char *p = d->boot_id; *p; p++)
        x = (x ^ (unsigned char)*p) * 1099511628211ull;
    for (size_t i = 0; i < SIM_MEM_BYTES; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        d->mem[i] = (unsigned char)x;
    }
    memset(d->mem, 0, 8);
    d->run_ns = 0;
}

static uint64_t guest_counter(const struct simdom *d)
{
    uint64_t c = 0;
    for (int i = 0; i < 8; i++)
        c = c << 8 | d->mem[i];
    return c;
}

static void guest_set_counter(struct simdom *d, uint64_t c)
{
    for (int i = 7; i >= 0; i--, c >>= 8)
        d->mem[i] = (unsigned char)c;
}

/* The domain's state changes to `to`: the guest's run time follows. */
static void set_dom_state(struct simdom *d, enum hv_dom_state to)
{
    double now = now_monotonic();
    if (d->state == HV_DOM_RUNNING && to != HV_DOM_RUNNING)
        d->run_ns += (uint64_t)((now - d->running_since) * 1e9);
    if (to == HV_DOM_RUNNING && d->state != HV_DOM_RUNNING)
        d->running_since = now;
    d->state = to;
}

static uint64_t guest_run_ns(const struct simdom *d)
{
    return d->run_ns + (d->state == HV_DOM_RUNNING ? (uint64_t)((now_monotonic() - d->running_since) * 1e9) : 0);
}

static struct simdom *find(struct sim *s, uint32_t domid)
{
    for (struct simdom *d = s->doms; d; d = d->next)
        if (d->domid == domid)
            return d;
    return NULL;
}

/* ---- persistence: one line per domain ---- */

static void clean_text(char *s)
{
    for (; *s; s++)
        if (*s == '\t' || *s == '\n')
            *s = ' ';
}

static void simdom_free(struct simdom *d)
{
    if (!d)
        return;
    free(d->name);
    free(d);
}

/* The state file's text as the domains are now, with s->lock held; write it with
 * persist once the lock is released. */
static char *snapshot(struct sim *s, uint64_t *gen)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        abort();  /* out of memory, as xmalloc */
    *gen = ++s->gen;
    fprintf(f, "next\t%" PRIu32 "\n", s->next_domid);
    for (struct simdom *d = s->doms; d; d = d->next) {
        fprintf(f, "dom\t%" PRIu32 "\t%s\t%s\t%d\t%d\t%d\t%" PRIu64 "\t%" PRIu64 "\t%u\n", d->domid, d->uuid,
                d->name, (int)d->state, d->reason, d->hvm, d->memory, d->max_memory, d->vcpus);
        if (d->domid == 0)
            continue;
        fprintf(f, "guest\t%" PRIu32 "\t%s\t%" PRIu64 "\t", d->domid, d->boot_id, guest_run_ns(d));
        /* hex by hand: fprintf per byte was a fifth of a lifecycle cycle's CPU */
        static const char hex[] = "0123456789abcdef";
        char line[2 * SIM_MEM_BYTES + 1];
        for (size_t i = 0; i < SIM_MEM_BYTES; i++) {
            line[2 * i] = hex[d->mem[i] >> 4];
            line[2 * i + 1] = hex[d->mem[i] & 15];
        }
        line[2 * SIM_MEM_BYTES] = '\n';
        fwrite(line, 1, sizeof(line), f);
    }
    fclose(f);
    return text;
}

/* Writes a snapshot unless a newer one is on disk already (it holds this change
 * too); frees text.  Into the page cache only, never fsynced: it must outlive the
 * daemon's death (a kill -9), as a real hypervisor's domains do, but a real
 * hypervisor's domains do not outlive the host's power loss either. */
static xerr *save(struct sim *s, char *text, uint64_t gen)
{
    if (!text)
        return NULL;
    xerr *e = NULL;
    pthread_mutex_lock(&s->save_lock);
    if (gen > s->saved_gen) {
        e = slotfile_write(s->slots, text, strlen(text));
        if (!e)
            s->saved_gen = gen;
    }
    pthread_mutex_unlock(&s->save_lock);
    free(text);
    return e;
}

/* save, for a change already made in memory, whose caller has no one to tell: the
 * hypervisor's own bookkeeping failed, which the log says. */
static void persist(struct sim *s, char *text, uint64_t gen)
{
    xerr *e = save(s, text, gen);
    if (e) {
        _cleanup_free_ char *msg = xerr_str(e);
        log_error("%s", msg);
        xerr_free(e);
    }
}

/* Parses the state file's text (len bytes, NUL-terminated); frees it. */
static void load(struct sim *s, char *text, size_t len)
{
    if (!text || len == 0) {
        free(text);
        return;
    }
    FILE *f = fmemopen(text, len, "r");
    if (!f)
        abort();  /* out of memory, as xmalloc */
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        line[strcspn(line, "\n")] = 0;
        char *fields[11] = {0};
        size_t n = 0;
        for (char *p = line, *tab; n < 11; p = tab + 1) {
            fields[n++] = p;
            if (!(tab = strchr(p, '\t')))
                break;
            *tab = 0;
        }
        if (n == 2 && strcmp(fields[0], "next") == 0) {
            s->next_domid = (uint32_t)strtoul(fields[1], NULL, 10);
        } else if ((n == 10 || n == 11) && strcmp(fields[0], "dom") == 0) {
            /* an 11th field is the device model's argv of an older simulator: now in
             * device-model-dir */
            struct simdom *d = xcalloc(1, sizeof(*d));
            d->domid = (uint32_t)strtoul(fields[1], NULL, 10);
            snprintf(d->uuid, sizeof(d->uuid), "%s", fields[2]);
            d->name = xstrdup(fields[3]);
            d->state = (enum hv_dom_state)atoi(fields[4]);
            d->reason = atoi(fields[5]);
            d->hvm = atoi(fields[6]) != 0;
            d->memory = strtoull(fields[7], NULL, 10);
            d->max_memory = strtoull(fields[8], NULL, 10);
            d->vcpus = (unsigned)atoi(fields[9]);
            d->started = now_monotonic();
            d->running_since = d->started;
            guest_cold_boot(d);  /* unless its guest line follows */
            d->next = s->doms;
            s->doms = d;
        } else if (n == 5 && strcmp(fields[0], "guest") == 0 && strlen(fields[2]) == SIM_BOOT_ID_LEN &&
                   strlen(fields[4]) == 2 * SIM_MEM_BYTES) {
            struct simdom *d = find(s, (uint32_t)strtoul(fields[1], NULL, 10));
            if (!d)
                continue;
            memcpy(d->boot_id, fields[2], SIM_BOOT_ID_LEN + 1);
            d->run_ns = strtoull(fields[3], NULL, 10);
            for (size_t i = 0; i < SIM_MEM_BYTES; i++) {
                char hex[3] = {fields[4][2 * i], fields[4][2 * i + 1], 0};
                d->mem[i] = (unsigned char)strtoul(hex, NULL, 16);
            }
        }
    }
    free(line);
    fclose(f);
    free(text);
}

/* ---- the simulated guests ---- */

static void release(struct sim *s, uint32_t domid)
{
    xsd_domain_released(s->xsd, domid);
}

/* The guest stops: as Xen does, the domain stays until the toolstack destroys it. */
static void guest_shutdown(struct sim *s, uint32_t domid, int reason)
{
    pthread_mutex_lock(&s->lock);
    struct simdom *d = find(s, domid);
    bool changed = d && (d->state == HV_DOM_RUNNING || d->state == HV_DOM_PAUSED);
    char *snap = NULL;
    uint64_t gen = 0;
    if (changed) {
        set_dom_state(d, HV_DOM_SHUTDOWN);
        d->reason = reason;
        snap = snapshot(s, &gen);
    }
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    if (changed) {
        log_info("simulator: domain %" PRIu32 " shut down (reason %d)", domid, reason);
        /* xenstored keeps it until it dies: a domain resumed in place after a
         * failed save goes on with its connection and its own nodes */
        xsd_domain_shutdown(s->xsd, domid);
    }
}

/* what control/shutdown and sim/shutdown hold: Xen's words, not XenAPI's */
static int reason_of(const char *what)
{
    if (strcmp(what, "reboot") == 0)
        return HV_SHUTDOWN_REBOOT;
    if (strcmp(what, "suspend") == 0)
        return HV_SHUTDOWN_SUSPEND;
    if (strcmp(what, "crash") == 0)
        return HV_SHUTDOWN_CRASH;
    if (strcmp(what, "poweroff") == 0 || strcmp(what, "halt") == 0)
        return HV_SHUTDOWN_POWEROFF;
    return -1;
}

static bool guest_running(struct sim *s, uint32_t domid)
{
    pthread_mutex_lock(&s->lock);
    struct simdom *d = find(s, domid);
    bool running = d && d->state == HV_DOM_RUNNING;
    pthread_mutex_unlock(&s->lock);
    return running;
}

/* The connection domid's guest talks to xenstore on. */
static struct xs_handle *guest_xs(struct sim *s, uint32_t domid)
{
    return s->lanes[domid % GUEST_LANES].xs;
}

static char *xs_get(struct xs_handle *h, const char *fmt, uint32_t domid)
{
    char path[128];
    unsigned len;
    snprintf(path, sizeof(path), fmt, domid);
    return xs_read(h, XBT_NULL, path, &len);
}

/* Look at a domain's control/shutdown and sim/shutdown and act as its guest would. */
/* The guest answers sim/query: its counter goes up by one and it reports. */
static void guest_query(struct sim *s, uint32_t domid)
{
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/sim/query", domid);
    xs_rm(guest_xs(s, domid), XBT_NULL, path);
    pthread_mutex_lock(&s->lock);
    struct simdom *d = find(s, domid);
    char *report = NULL, *snap = NULL;
    uint64_t gen = 0;
    if (d && d->state == HV_DOM_RUNNING) {
        guest_set_counter(d, guest_counter(d) + 1);
        report = xasprintf("boot-id=%s counter=%" PRIu64 " run-ms=%" PRIu64, d->boot_id, guest_counter(d),
                           guest_run_ns(d) / 1000000);
        snap = snapshot(s, &gen);
    }
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    if (report) {
        snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/data/sim-state", domid);
        xs_write(guest_xs(s, domid), XBT_NULL, path, report, strlen(report));
        free(report);
    }
}

/* The guest takes its control/shutdown request as Linux does (drivers/xen/manage.c):
 * it reads it and writes it back empty in one transaction, retried when xenstore
 * says another changed the key meanwhile, so that a request the toolstack took back
 * (hv_domain_cancel_shutdown) is not acted on.  A slow guest (sim-guest=slow) takes
 * its platform's sim-ack-ms (SLOW_ACK_MS) inside its transaction.  NULL: no request
 * (or it went meanwhile). */
static char *guest_take_request(struct sim *s, uint32_t domid, bool slow)
{
    long slow_ms = 0;
    if (slow) {
        _cleanup_free_ char *ms = xs_get(guest_xs(s, domid), "/local/domain/%" PRIu32 "/platform/sim-ack-ms", domid);
        int64_t v = SLOW_ACK_MS;
        slow_ms = ms && parse_int64(ms, &v) && v >= 0 && v <= 60000 ? (long)v : SLOW_ACK_MS;
    }
    struct xs_handle *xs = guest_xs(s, domid);
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/control/shutdown", domid);
    for (int attempt = 0; attempt < 20; attempt++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            return NULL;
        unsigned len = 0;
        char *req = xs_read(xs, t, path, &len);
        if (req && *req && slow_ms)
            usleep((useconds_t)slow_ms * 1000);
        if (!req || !*req || !xs_write(xs, t, path, "", 0)) {
            xs_transaction_end(xs, t, true);
            free(req);
            return NULL;
        }
        if (xs_transaction_end(xs, t, false))
            return req;
        free(req);
        if (errno != EAGAIN)
            return NULL;
    }
    return NULL;
}

/* sim/shutdown: the guest stops on its own as told; true if it was told.  It takes
 * the request as guest_take_request does, reading and removing it in one transaction:
 * the lane's watch thread and an API thread (guest_poll at unpause or resume) may
 * both see it, and one request must stop the guest once.  A plain read first: most
 * looks find none (the removal's own event, every build), and a transaction costs two
 * round trips more. */
static bool guest_forced(struct sim *s, struct xs_handle *xs, uint32_t domid)
{
    _cleanup_free_ char *seen = xs_get(xs, "/local/domain/%" PRIu32 "/sim/shutdown", domid);
    if (!seen || !*seen)
        return false;
    char path[96];
    snprintf(path, sizeof(path), "/local/domain/%" PRIu32 "/sim/shutdown", domid);
    for (int attempt = 0; attempt < 20; attempt++) {
        xs_transaction_t t = xs_transaction_start(xs);
        if (t == XBT_NULL)
            break;
        unsigned len = 0;
        _cleanup_free_ char *forced = xs_read(xs, t, path, &len);
        if (!forced || !*forced || !xs_rm(xs, t, path)) {
            xs_transaction_end(xs, t, true);
            break; /* another look took it meanwhile (and acts), or xenstore failed */
        }
        if (xs_transaction_end(xs, t, false)) {
            int r = reason_of(forced);
            if (r >= 0)
                simclock_add(s->clock, SHUTDOWN_DELAY, domid, r);
            break;
        }
        if (errno != EAGAIN)
            break;
    }
    return true;
}

/* control/shutdown: the guest answers a request, as its platform's sim-guest says.
 * A plain read first: most events on the key are its own acknowledgement or the
 * toolstack taking a request back, and answering those costs one round trip. */
static void guest_answer(struct sim *s, struct xs_handle *xs, uint32_t domid)
{
    _cleanup_free_ char *pending = xs_get(xs, "/local/domain/%" PRIu32 "/control/shutdown", domid);
    if (!pending || !*pending)
        return;
    _cleanup_free_ char *mode = xs_get(xs, "/local/domain/%" PRIu32 "/platform/sim-guest", domid);
    if (mode && strcmp(mode, "unresponsive") == 0)
        return;
    _cleanup_free_ char *req = guest_take_request(s, domid, mode && strcmp(mode, "slow") == 0);
    if (!req)
        return;
    int r = reason_of(req);
    if (r < 0 || (mode && strcmp(mode, "hangs") == 0))
        return;
    simclock_add(s->clock, SHUTDOWN_DELAY, domid, r);
}

/* Everything the guest may have been asked while it could not look (built,
 * unpaused, resumed). */
static void guest_poll(struct sim *s, uint32_t domid)
{
    if (!guest_running(s, domid))
        return; /* a paused guest cannot react; it will on unpause */
    struct xs_handle *xs = guest_xs(s, domid);
    _cleanup_free_ char *query = xs_get(xs, "/local/domain/%" PRIu32 "/sim/query", domid);
    if (query)
        guest_query(s, domid);
    if (!guest_forced(s, xs, domid))
        guest_answer(s, xs, domid);
}

static void guest_shutdown_due(void *ctx, uint32_t domid, int reason)
{
    guest_shutdown(ctx, domid, reason);
}

/* A watch fired: the guest looks at the key that changed only (a round trip
 * spent on the others was one less for every other guest of its lane). */
static void guest_event(void *ctx, const char *path, const char *token)
{
    struct sim *s = ctx;
    uint32_t domid = (uint32_t)strtoul(token, NULL, 10);
    if (!guest_running(s, domid))
        return; /* a paused guest cannot react; it will on unpause */
    struct xs_handle *xs = guest_xs(s, domid);
    if (str_endswith(path, "/control/shutdown"))
        guest_answer(s, xs, domid);
    else if (str_endswith(path, "/sim/shutdown"))
        guest_forced(s, xs, domid);
    else
        guest_poll(s, domid);
}

static void guest_watch(struct sim *s, uint32_t domid, bool on)
{
    char token[16], p[3][96];
    snprintf(token, sizeof(token), "%" PRIu32, domid);
    snprintf(p[0], sizeof(p[0]), "/local/domain/%" PRIu32 "/control/shutdown", domid);
    snprintf(p[1], sizeof(p[1]), "/local/domain/%" PRIu32 "/sim/shutdown", domid);
    snprintf(p[2], sizeof(p[2]), "/local/domain/%" PRIu32 "/sim/query", domid);
    struct hv_watcher *w = s->lanes[domid % GUEST_LANES].watch;
    if (!w)
        return;
    for (int i = 0; i < 3; i++) {
        if (!on) {
            hv_watcher_remove(w, p[i], token);
            continue;
        }
        /* without it the guest never answers: said here, not only by a
         * VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT seconds later */
        xerr *e = hv_watcher_add(w, p[i], token);
        if (e) {
            _cleanup_free_ char *why = xerr_str(e);
            log_warn("simulator: no watch on %s for domain %" PRIu32 ": %s", p[i], domid, why);
            xerr_free(e);
        }
    }
}

/* ---- the backend ---- */

/* The guests' watches stop, then the clock they add to, then their connections
 * (before xenstore).  Lanes not opened are NULL. */
static void close_lanes(struct sim *s)
{
    for (int i = 0; i < GUEST_LANES; i++) {
        hv_watcher_close(s->lanes[i].watch);
        s->lanes[i].watch = NULL;
    }
    simclock_stop(s->clock);
    s->clock = NULL;
    for (int i = 0; i < GUEST_LANES; i++) {
        if (s->lanes[i].xs)
            xs_close(s->lanes[i].xs);
        s->lanes[i].xs = NULL;
    }
}

/* What open made before the xenstore server started, and close leaves. */
static void sim_free(struct sim *s)
{
    for (struct simdom *d = s->doms, *n; d; d = n) {
        n = d->next;
        simdom_free(d);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->save_lock);
    simfault_close(s->faults);
    slotfile_close(s->slots);
    free(s->dir);
    free(s->state_file);
    free(s->xs_socket);
    free(s->dm_dir);
    if (s->lock_fd >= 0)
        close(s->lock_fd);  /* releases the lock */
    free(s);
}

/* Takes sim-state-dir/lock for this process, and writes its pid there for the
 * message of the next one to try. */
static xerr *lock_state(struct sim *s)
{
    _cleanup_free_ char *path = xasprintf("%s/lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0)
        return xerr_internal("simulator: cannot open %s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char pid[32] = "";
        ssize_t n = pread(s->lock_fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? strcspn(pid, "\n") : 0] = 0;
        if (err == EWOULDBLOCK)
            return xerr_internal("simulator: its state in %s is in use by a running xenapid (pid %s); "
                                 "stop it first", s->dir, *pid ? pid : "unknown");
        return xerr_internal("simulator: cannot lock %s: %s", path, strerror(err));
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, pid, (size_t)len, 0) != len)
        log_warn("simulator: cannot write its pid to %s: %s", path, strerror(errno));
    return NULL;
}

/* A simulator on sim-state-dir, nothing loaded, no lock taken. */
static struct sim *sim_alloc(const struct config *cfg)
{
    struct sim *s = xcalloc(1, sizeof(*s));
    s->lock_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->save_lock, NULL);
    s->dir = xstrdup(config_get(cfg, "sim-state-dir"));
    s->state_file = xasprintf("%s/domains", s->dir);
    return s;
}

/* The simulator's domains as saved, under its lock: what open and the control
 * share. */
static xerr *sim_load(const struct config *cfg, struct sim **out)
{
    struct sim *s = sim_alloc(cfg);
    s->xs_socket = xasprintf("%s/xenstored.sock", s->dir);
    s->dm_dir = xstrdup(config_get(cfg, "device-model-dir"));
    s->faults = simfault_open(s->dir);
    s->total_memory = (uint64_t)config_get_int(cfg, "sim-memory-mib") << 20;
    s->cpus = (unsigned)config_get_int(cfg, "sim-cpus");
    s->build_delay = config_get_double(cfg, "sim-build-delay");
    s->next_domid = 1;
    const char *bad = NULL;  /* the key whose value cannot work */
    if (s->total_memory < DOM0_MEMORY * 2)
        bad = "sim-memory-mib";
    else if (s->cpus == 0 || s->cpus > 4096)
        bad = "sim-cpus";
    else if (!(s->build_delay >= 0 && s->build_delay <= 3600))
        bad = "sim-build-delay";
    if (bad) {
        sim_free(s);
        return err_invalid_value(bad, config_get(cfg, bad));
    }
    mkdir(s->dir, 0755);
    xerr *e = lock_state(s);
    if (e) {
        sim_free(s);
        return e;
    }
    char *text;
    size_t len;
    e = slotfile_open(s->state_file, &s->slots, &text, &len);
    if (e) {
        sim_free(s);
        return e;
    }
    load(s, text, len);
    if (!find(s, 0)) {
        struct simdom *d = xcalloc(1, sizeof(*d));
        d->name = xstrdup("Domain-0");
        snprintf(d->uuid, sizeof(d->uuid), "00000000-0000-0000-0000-000000000000");
        d->memory = d->max_memory = DOM0_MEMORY;
        d->vcpus = s->cpus;
        d->next = s->doms;
        s->doms = d;
    }
    *out = s;
    return NULL;
}

/* xenstored's question at its start: the domains of the state file just loaded (no
 * other thread yet), those a kill left introduced after their end among them. */
static bool sim_has_domain(void *arg, unsigned domid)
{
    return find(arg, domid) != NULL;
}

static xerr *sim_open(const struct config *cfg, void **state)
{
    struct sim *s;
    xerr *e = sim_load(cfg, &s);
    if (e)
        return e;
    _cleanup_free_ char *domdir = xasprintf("%s/domain", s->dir);
    _cleanup_free_ char *xsstate = xasprintf("%s/xenstore", s->dir);
    mkdir(domdir, 0755);
    struct xsd_options xo = {.socket_path = s->xs_socket, .domain_socket_dir = domdir, .state_path = xsstate,
                             .domain_exists = sim_has_domain, .domain_exists_arg = s};
    e = xsd_start(&xo, &s->xsd);
    if (e) {
        sim_free(s);
        return e;
    }
    for (int i = 0; i < GUEST_LANES; i++) {
        if (!(s->lanes[i].xs = hv_xs_open(s->xs_socket))) {
            e = xerr_internal("simulator: cannot connect to its own xenstore: %s", strerror(errno));
            break;
        }
    }
    if (!e) {
        /* dom0's own entries, as xen-init-dom0 writes them */
        xs_write(s->lanes[0].xs, XBT_NULL, "/local/domain/0/name", "Domain-0", 8);
        xs_write(s->lanes[0].xs, XBT_NULL, "/local/domain/0/domid", "0", 1);
        e = simclock_start(guest_shutdown_due, s, &s->clock);
    }
    for (int i = 0; !e && i < GUEST_LANES; i++)
        e = hv_watcher_open_at(s->xs_socket, guest_event, s, &s->lanes[i].watch);
    if (e) {
        close_lanes(s);
        xsd_stop(s->xsd);
        sim_free(s);
        return e;
    }
    for (struct simdom *d = s->doms; d; d = d->next)
        if (d->domid)
            guest_watch(s, d->domid, true);
    uint64_t gen;
    char *snap = snapshot(s, &gen);  /* no other thread yet */
    persist(s, snap, gen);
    *state = s;
    return NULL;
}

static void sim_close(void *state)
{
    struct sim *s = state;
    close_lanes(s);
    xsd_stop(s->xsd);
    pthread_mutex_lock(&s->lock);
    uint64_t gen;
    char *snap = snapshot(s, &gen);
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    sim_free(s);
}

static const char *sim_xenstore_path(void *state)
{
    return ((struct sim *)state)->xs_socket;
}

static uint64_t used_memory(struct sim *s)
{
    uint64_t used = 0;
    for (struct simdom *d = s->doms; d; d = d->next)
        used += d->memory;
    return used;
}

static xerr *sim_host_info(void *state, struct hv_host_info *out)
{
    struct sim *s = state;
    snprintf(out->xen_version, sizeof(out->xen_version), "4.17.0-sim");
    snprintf(out->xen_caps, sizeof(out->xen_caps), "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
    pthread_mutex_lock(&s->lock);
    out->total_memory_bytes = s->total_memory;
    uint64_t used = used_memory(s);
    out->free_memory_bytes = used < s->total_memory ? s->total_memory - used : 0;
    pthread_mutex_unlock(&s->lock);
    out->nr_cpus = s->cpus;
    out->cpu_mhz = 2400;
    out->hvm_capable = true;
    return NULL;
}

/* A new domain for spec, paused; its guest boots cold, or continues from the state
 * in guest (a restore). */
static xerr *new_domain(struct sim *s, const struct hv_domain_spec *spec, const struct simdom *guest,
                        struct hv_build *out)
{
    if (!spec->hvm && (!spec->kernel || !*spec->kernel))
        return xerr_internal("a PV domain needs a kernel");
    pthread_mutex_lock(&s->lock);
    uint64_t used = used_memory(s);
    uint64_t avail = used < s->total_memory ? s->total_memory - used : 0;
    if (spec->memory_static_max > avail) {
        pthread_mutex_unlock(&s->lock);
        char need[32], have[32];
        snprintf(need, sizeof(need), "%" PRIu64, spec->memory_static_max);
        snprintf(have, sizeof(have), "%" PRIu64, avail);
        return err_host_not_enough_free_memory(need, have);
    }
    struct simdom *d = xcalloc(1, sizeof(*d));
    /* domids are not reused soon after, as in Xen, so a stale one never names a new guest */
    while (find(s, s->next_domid) || s->next_domid == 0 || s->next_domid >= 0x7ff0)
        s->next_domid = s->next_domid >= 0x7ff0 ? 1 : s->next_domid + 1;
    d->domid = s->next_domid++;
    snprintf(d->uuid, sizeof(d->uuid), "%s", spec->uuid);
    d->name = xstrdup(spec->name);
    clean_text(d->name);
    d->state = HV_DOM_PAUSED;
    d->hvm = spec->hvm;
    d->memory = spec->memory_static_max;
    d->max_memory = spec->memory_static_max;
    d->vcpus = spec->vcpus;
    d->started = now_monotonic();
    if (guest) {
        memcpy(d->boot_id, guest->boot_id, sizeof(d->boot_id));
        d->run_ns = guest->run_ns;
        memcpy(d->mem, guest->mem, sizeof(d->mem));
    } else {
        guest_cold_boot(d);
    }
    d->next = s->doms;
    s->doms = d;
    uint32_t domid = d->domid;
    uint64_t gen;
    char *snap = snapshot(s, &gen);
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    /* A real build loads the kernel or firmware into the domain, created and
     * paused, taking its memory: the test knob makes it as slow, under no lock. */
    if (s->build_delay > 0) {
        struct timespec ts = {.tv_sec = (time_t)s->build_delay,
                              .tv_nsec = (long)((s->build_delay - (double)(time_t)s->build_delay) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    out->domid = domid;
    out->store_mfn = 0x100000 + domid;
    out->store_evtchn = 1;
    out->console_mfn = 0x200000 + domid;
    out->console_evtchn = 2;
    return NULL;
}

static xerr *sim_build(void *state, const struct hv_domain_spec *spec, struct hv_build *out)
{
    return new_domain(state, spec, NULL, out);
}

/* The simulator's section of the stream: the guest's boot id, the nanoseconds it
 * has run (big-endian) and its memory image. */
#define SIMG_LEN (SIM_BOOT_ID_LEN + 8 + SIM_MEM_BYTES)

static xerr *sim_save(void *state, uint32_t domid, int fd)
{
    struct sim *s = state;
    unsigned char img[SIMG_LEN];
    pthread_mutex_lock(&s->lock);
    struct simdom *d = find(s, domid);
    bool ok = d && d->domid != 0 && d->state == HV_DOM_SHUTDOWN && d->reason == HV_SHUTDOWN_SUSPEND;
    if (ok) {
        memcpy(img, d->boot_id, SIM_BOOT_ID_LEN);
        uint64_t ns = d->run_ns;
        for (int i = 7; i >= 0; i--, ns >>= 8)
            img[SIM_BOOT_ID_LEN + i] = (unsigned char)ns;
        memcpy(img + SIM_BOOT_ID_LEN + 8, d->mem, SIM_MEM_BYTES);
    }
    pthread_mutex_unlock(&s->lock);
    if (!ok)
        return xerr_internal("simulator: domain %" PRIu32 " is not suspended", domid);
    return hv_stream_put(fd, "SIMG", img, sizeof(img));
}

static xerr *sim_restore(void *state, const struct hv_domain_spec *spec, int fd, struct hv_build *out)
{
    char *img = NULL;
    size_t len = 0;
    xerr *e = hv_stream_get(fd, "SIMG", SIMG_LEN, &img, &len);
    if (e)
        return e;
    if (len != SIMG_LEN) {
        free(img);
        return err_domain_stream_invalid("the simulator's guest state has the wrong length");
    }
    struct simdom *g = xcalloc(1, sizeof(*g));
    memcpy(g->boot_id, img, SIM_BOOT_ID_LEN);
    g->boot_id[SIM_BOOT_ID_LEN] = 0;
    for (int i = 0; i < 8; i++)
        g->run_ns = g->run_ns << 8 | (unsigned char)img[SIM_BOOT_ID_LEN + i];
    memcpy(g->mem, img + SIM_BOOT_ID_LEN + 8, SIM_MEM_BYTES);
    free(img);
    bool printable = strlen(g->boot_id) == SIM_BOOT_ID_LEN && strspn(g->boot_id, "0123456789abcdef") == SIM_BOOT_ID_LEN;
    e = printable ? new_domain(state, spec, g, out)
                  : err_domain_stream_invalid("the simulator's guest state has no valid boot id");
    free(g);
    return e;
}

static xerr *sim_resume_in_place(void *state, uint32_t domid)
{
    struct sim *s = state;
    pthread_mutex_lock(&s->lock);
    struct simdom *d = find(s, domid);
    bool ok = d && d->domid != 0 && d->state == HV_DOM_SHUTDOWN && d->reason == HV_SHUTDOWN_SUSPEND;
    char *snap = NULL;
    uint64_t gen = 0;
    if (ok) {
        set_dom_state(d, HV_DOM_RUNNING);
        d->reason = 0;
        snap = snapshot(s, &gen);
    }
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    if (!ok)
        return xerr_internal("simulator: domain %" PRIu32 " is not suspended: it cannot resume", domid);
    guest_poll(s, domid);
    return NULL;
}

static void sim_built(void *state, uint32_t domid)
{
    guest_watch(state, domid, true);
}

static xerr *set_state(struct sim *s, uint32_t domid, enum hv_dom_state from, enum hv_dom_state to)
{
    pthread_mutex_lock(&s->lock);
    struct simdom *d = find(s, domid);
    xerr *e = NULL;
    char *snap = NULL;
    uint64_t gen = 0;
    if (!d || domid == 0)
        e = xerr_internal("simulator: no domain %" PRIu32, domid);
    else if (d->state == from || d->state == to) {
        set_dom_state(d, to);
        snap = snapshot(s, &gen);
    } else
        e = xerr_internal("simulator: domain %" PRIu32 " is not in the right state", domid);
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    return e;
}

static xerr *sim_pause(void *state, uint32_t domid)
{
    return set_state(state, domid, HV_DOM_RUNNING, HV_DOM_PAUSED);
}

static xerr *sim_unpause(void *state, uint32_t domid)
{
    xerr *e = set_state(state, domid, HV_DOM_PAUSED, HV_DOM_RUNNING);
    if (!e)
        guest_poll(state, domid); /* a request made while paused is seen now */
    return e;
}

static xerr *sim_destroy(void *state, uint32_t domid)
{
    struct sim *s = state;
    if (domid == 0)
        return xerr_internal("simulator: dom0 cannot be destroyed");
    pthread_mutex_lock(&s->lock);
    struct simdom **pp = &s->doms, *d = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->domid == domid) {
            d = *pp;
            *pp = d->next;
            break;
        }
    }
    char *snap = NULL;
    uint64_t gen = 0;
    if (d)
        snap = snapshot(s, &gen);
    pthread_mutex_unlock(&s->lock);
    persist(s, snap, gen);
    if (!d)
        return NULL; /* already gone: destroying is idempotent */
    guest_watch(s, domid, false);
    simdom_free(d);
    hv_dm_files_remove(s->dm_dir, domid);
    release(s, domid);
    return NULL;
}

static xerr *sim_list(void *state, struct hv_domain_info **out, size_t *n)
{
    struct sim *s = state;
    pthread_mutex_lock(&s->lock);
    size_t count = 0;
    for (struct simdom *d = s->doms; d; d = d->next)
        count++;
    struct hv_domain_info *v = xcalloc(count ? count : 1, sizeof(*v));
    size_t i = 0;
    double now = now_monotonic();
    for (struct simdom *d = s->doms; d; d = d->next, i++) {
        v[i].domid = d->domid;
        snprintf(v[i].uuid, sizeof(v[i].uuid), "%s", d->uuid);
        v[i].state = d->state;
        v[i].shutdown_reason = d->reason;
        v[i].memory_bytes = d->memory;
        v[i].max_memory_bytes = d->max_memory;
        v[i].vcpus = d->vcpus;
        v[i].hvm = d->hvm;
        v[i].cpu_time_ns = d->state == HV_DOM_RUNNING ? (uint64_t)((now - d->started) * 1e8) : 0;
    }
    pthread_mutex_unlock(&s->lock);
    *out = v;
    *n = count;
    return NULL;
}

static xerr *sim_device_model(void *state, uint32_t domid, char *const *argv)
{
    struct sim *s = state;
    pthread_mutex_lock(&s->lock);
    bool found = find(s, domid) != NULL;
    pthread_mutex_unlock(&s->lock);
    if (!found)
        return xerr_internal("simulator: no domain %" PRIu32, domid);
    if (!argv || !argv[0])
        return xerr_internal("domain %" PRIu32 ": an empty device model command line", domid);
    return hv_dm_write_argv(s->dm_dir, domid, argv);
}

static char **sim_dm_argv(void *state, uint32_t domid)
{
    return hv_dm_read_argv(((struct sim *)state)->dm_dir, domid);
}

/* A domain that went while the daemon was down: its device model's files too. */
static void sim_forget(void *state, uint32_t domid)
{
    hv_dm_files_remove(((struct sim *)state)->dm_dir, domid);
}

static xerr *sim_fault(void *state, const char *step)
{
    return simfault_check(((struct sim *)state)->faults, step);
}

const struct hv_backend_ops hv_simulator_ops = {
    .name = "simulator",
    .can_suspend = true,
    .can_suspend_hvm = true,
    .open = sim_open,
    .close = sim_close,
    .xenstore_path = sim_xenstore_path,
    .host_info = sim_host_info,
    .build = sim_build,
    .pause = sim_pause,
    .unpause = sim_unpause,
    .destroy = sim_destroy,
    .list = sim_list,
    .built = sim_built,
    .device_model = sim_device_model,
    .dm_argv = sim_dm_argv,
    .forget = sim_forget,
    .save = sim_save,
    .restore = sim_restore,
    .resume_in_place = sim_resume_in_place,
    .fault = sim_fault,
};

/* ---- the simulator's control, with no daemon running ---- */

static const struct {
    const char *word;
    int reason;
} control_reasons[] = {
    {"poweroff", HV_SHUTDOWN_POWEROFF},
    {"reboot", HV_SHUTDOWN_REBOOT},
    {"crash", HV_SHUTDOWN_CRASH},
};

/* Shuts the domain down with shutdown_reason, or removes it when that is NULL. */
static xerr *control(const struct config *cfg, uint32_t domid, const char *shutdown_reason)
{
    int reason = -1;
    for (size_t i = 0; shutdown_reason && i < sizeof(control_reasons) / sizeof(control_reasons[0]); i++)
        if (strcmp(shutdown_reason, control_reasons[i].word) == 0)
            reason = control_reasons[i].reason;
    if (shutdown_reason && reason < 0)
        return err_invalid_value("reason", shutdown_reason);
    if (domid == 0)
        return xerr_internal("simulator: domain 0 is the control domain: it stays");
    struct sim *s;
    xerr *e = sim_load(cfg, &s);
    if (e)
        return e;
    struct simdom **pp = &s->doms;
    while (*pp && (*pp)->domid != domid)
        pp = &(*pp)->next;
    struct simdom *d = *pp;
    if (!d)
        e = xerr_internal("simulator: no domain %" PRIu32 " in %s", domid, s->dir);
    else if (shutdown_reason && d->state != HV_DOM_RUNNING && d->state != HV_DOM_PAUSED)
        e = xerr_internal("simulator: domain %" PRIu32 " is not running", domid);
    if (!e && shutdown_reason) {
        set_dom_state(d, HV_DOM_SHUTDOWN);
        d->reason = reason;
    } else if (!e) {
        /* as if destroyed behind the toolstack's back: what the toolstack kept for
         * it (xenstore entries, device model files) is its to clean up */
        *pp = d->next;
        simdom_free(d);
    }
    if (!e) {
        uint64_t gen;
        char *snap = snapshot(s, &gen);  /* the only thread */
        e = save(s, snap, gen);
    }
    sim_free(s);
    return e;
}

xerr *hv_sim_shutdown(const struct config *cfg, uint32_t domid, const char *reason)
{
    return control(cfg, domid, reason ? reason : "");
}

xerr *hv_sim_remove(const struct config *cfg, uint32_t domid)
{
    return control(cfg, domid, NULL);
}

/* `xenapid --sim-list`: the domains as the simulator last saved them (it saves every
 * change before the call making it returns), as `xl list` shows a host's; read
 * without the lock, so that it works beside a running daemon. */
xerr *hv_sim_list(const struct config *cfg, FILE *out)
{
    static const char *const states[] = {"running", "paused", "shutdown", "dying"};
    struct sim *s = sim_alloc(cfg);
    char *text;
    size_t len;
    xerr *e = slotfile_peek(s->state_file, &text, &len);
    if (e) {
        sim_free(s);
        return e;
    }
    load(s, text, len);
    for (struct simdom *d = s->doms; d; d = d->next) {
        unsigned st = (unsigned)d->state;
        fprintf(out, "%" PRIu32 "\t%s\t%s\t%d\n", d->domid, d->uuid,
                st < sizeof(states) / sizeof(states[0]) ? states[st] : "?", d->reason);
    }
    sim_free(s);
    return NULL;
}
