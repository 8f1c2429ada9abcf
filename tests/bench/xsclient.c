/* xsclient: one xenstore client's request round trip against a xenstored, for the
 * lifecycle part of `make bench` (the bound of a cycle: its xenstore requests, each a
 * round trip to the simulator's one xenstored thread, made one after the other).
 *
 *   xsclient SOCKET SECONDS write|read
 *       repeats, for SECONDS, XS_WRITE of /bench-xsclient (a change, which the server
 *       saves before it answers, as most of a cycle's requests are) or XS_READ of it
 *       (a bare round trip); prints "requests N seconds S us_per_request U
 *       client_cpu_us C" (C: this process's CPU per request, libxenstore's side of
 *       the round trip, which the daemon pays too when it is the client).
 * The node is removed at the end.  Uses the stock libxenstore, as the daemon does.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <xenstore.h>

#include "cycles.h"

#define NODE "/bench-xsclient"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "write") != 0 && strcmp(argv[3], "read") != 0)) {
        fprintf(stderr, "usage: xsclient SOCKET SECONDS write|read\n");
        return 2;
    }
    setenv("XENSTORED_PATH", argv[1], 1);
    double secs = atof(argv[2]);
    bool write = strcmp(argv[3], "write") == 0;
    struct xs_handle *xs = xs_open(0);
    if (!xs || !xs_write(xs, XBT_NULL, NODE, "0", 1)) {
        perror("xsclient: xenstore");
        return 1;
    }
    unsigned long n = 0;
    char v[24];
    double t0 = now(), t1 = t0, c0 = cpu_seconds();
    while (t1 - t0 < secs) {
        /* 64 requests between clock reads */
        for (int i = 0; i < 64; i++, n++) {
            bool ok;
            if (write) {
                int len = snprintf(v, sizeof(v), "%lu", n);
                ok = xs_write(xs, XBT_NULL, NODE, v, (unsigned)len);
            } else {
                unsigned len;
                char *r = xs_read(xs, XBT_NULL, NODE, &len);
                ok = r != NULL;
                free(r);
            }
            if (!ok) {
                perror("xsclient: request");
                return 1;
            }
        }
        t1 = now();
    }
    double c1 = cpu_seconds();
    xs_rm(xs, XBT_NULL, NODE);
    xs_close(xs);
    printf("requests %lu seconds %.2f us_per_request %.1f client_cpu_us %.1f\n", n, t1 - t0,
           1e6 * (t1 - t0) / (double)n, 1e6 * (c1 - c0) / (double)n);
    return 0;
}
