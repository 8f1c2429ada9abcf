/* virtclient: the baseline of the lifecycle part of `make bench`: the same cycle as
 * lifeclient's (define, start, destroy, undefine: VM.create, VM.start,
 * VM.hard_shutdown, VM.destroy) through libvirt's C API, against libvirtd's test
 * driver in a private libvirtd reached over its unix socket.
 *
 *   virtclient URI CLIENTS SECONDS
 *       CLIENTS threads, each with its own connection; prints
 *       "clients C cycles N seconds S per_s R p50_ms M p99_ms M"
 *
 * Any call that fails makes it fail (exit 1, libvirt's message on stderr). */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *uri;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    const virError *e = virGetLastError();
    fprintf(stderr, "virtclient: %s: %s\n", what, e && e->message ? e->message : "failed");
    exit(1);
}

struct worker {
    pthread_t th;
    int id;
    double until;
    long cycles;
    double *lat;
    size_t nlat, caplat;
};

static void *cycler(void *arg)
{
    struct worker *w = arg;
    virConnectPtr c = virConnectOpen(uri);
    if (!c)
        die("virConnectOpen");
    char xml[1024];
    for (long i = 0; now() < w->until; i++) {
        double t0 = now();
        /* the guest lifeclient creates: PV, 32 MiB, one kernel */
        snprintf(xml, sizeof(xml),
                 "<domain type='test'><name>life-%d-%ld</name><memory unit='MiB'>32</memory>"
                 "<vcpu>1</vcpu><os><type>xen</type><kernel>/boot/vmlinuz-guest</kernel></os></domain>",
                 w->id, i);
        virDomainPtr d = virDomainDefineXML(c, xml);
        if (!d)
            die("virDomainDefineXML");
        if (virDomainCreate(d) != 0)
            die("virDomainCreate");
        if (virDomainDestroy(d) != 0)
            die("virDomainDestroy");
        if (virDomainUndefine(d) != 0)
            die("virDomainUndefine");
        virDomainFree(d);
        w->cycles++;
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat * 2 + 256;
            w->lat = realloc(w->lat, w->caplat * sizeof(double));
        }
        w->lat[w->nlat++] = (now() - t0) * 1e3;
    }
    virConnectClose(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: virtclient URI CLIENTS SECONDS\n");
        return 2;
    }
    uri = argv[1];
    int clients = atoi(argv[2]);
    double seconds = atof(argv[3]);
    if (clients < 1 || clients > 1024 || virInitialize() != 0)
        return 2;
    struct worker *w = calloc((size_t)clients, sizeof(*w));
    double t0 = now();
    for (int i = 0; i < clients; i++) {
        w[i].id = i;
        w[i].until = t0 + seconds;
        pthread_create(&w[i].th, NULL, cycler, &w[i]);
    }
    long total = 0;
    size_t nlat = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(w[i].th, NULL);
        total += w[i].cycles;
        nlat += w[i].nlat;
    }
    double s = now() - t0;
    double *lat = malloc((nlat + 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(lat + k, w[i].lat, w[i].nlat * sizeof(double));
        k += w[i].nlat;
        free(w[i].lat);
    }
    qsort(lat, nlat, sizeof(double), cmp_double);
    printf("clients %d cycles %ld seconds %.2f per_s %.1f p50_ms %.2f p99_ms %.2f\n", clients, total, s,
           (double)total / s, nlat ? lat[nlat / 2] : 0.0, nlat ? lat[(size_t)(0.99 * (double)(nlat - 1) + 0.5)] : 0.0);
    free(lat);
    free(w);
    return 0;
}
