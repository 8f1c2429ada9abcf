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

#include "cycles.h"

static const char *uri;

static void die(const char *what)
{
    const virError *e = virGetLastError();
    fprintf(stderr, "virtclient: %s: %s\n", what, e && e->message ? e->message : "failed");
    exit(1);
}

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
        worker_note(w, t0);
    }
    virConnectClose(c);
    return NULL;
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
    run_cycles(clients, seconds, cycler);
    return 0;
}
