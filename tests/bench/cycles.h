/* What lifeclient and virtclient share: CLIENTS threads repeating a lifecycle cycle
 * until a deadline, each noting how long its cycles took, and the one line both print. */
#ifndef XENAPID_BENCH_CYCLES_H
#define XENAPID_BENCH_CYCLES_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile of sorted v (0 when empty). */
static inline double pct(const double *v, size_t n, double p)
{
    return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : 0.0;
}

struct worker {
    pthread_t th;
    int id;
    double until;
    long cycles;
    double *lat;                 /* ms per cycle */
    size_t nlat, caplat;
};

/* A cycle that took since t0 (seconds, monotonic). */
static inline void worker_note(struct worker *w, double t0)
{
    w->cycles++;
    if (w->nlat == w->caplat) {
        w->caplat = w->caplat * 2 + 256;
        w->lat = realloc(w->lat, w->caplat * sizeof(double));
    }
    w->lat[w->nlat++] = (now() - t0) * 1e3;
}

/* Runs fn on CLIENTS threads for SECONDS; prints
 * "clients C cycles N seconds S per_s R p50_ms M p99_ms M". */
static inline void run_cycles(int clients, double seconds, void *(*fn)(void *))
{
    struct worker *w = calloc((size_t)clients, sizeof(*w));
    double t0 = now();
    for (int i = 0; i < clients; i++) {
        w[i].id = i;
        w[i].until = t0 + seconds;
        pthread_create(&w[i].th, NULL, fn, &w[i]);
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
           (double)total / s, pct(lat, nlat, 0.5), pct(lat, nlat, 0.99));
    free(lat);
    free(w);
}

#endif
