/* serialise: the baseline of VM.get_all_records (tests/bench/bulk.sh).  It holds the
 * same VM records the daemon serves, in memory, as the daemon's own values (read from a
 * copy of its database by its own store code, internal fields stripped as the API
 * strips them), and times writing the whole XML-RPC response with the daemon's own
 * writer (src/wire), checking that the bytes are those the daemon answered.
 *
 *   serialise DB RESPONSE ROUNDS
 *
 * DB: a copy of the daemon's database; RESPONSE: the body of the daemon's answer to
 * VM.get_all_records.  Prints "records N median_ms M min_ms M cpu_ms M bytes B same
 * yes|no" (cpu_ms: the median's CPU time, steadier than wall time on a busy machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "dm_gen.h"
#include "util.h"
#include "wire.h"

static double now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    buf b;
    buf_init(&b);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_add(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: serialise DB RESPONSE ROUNDS\n");
        return 2;
    }
    int rounds = atoi(argv[3]);
    if (rounds < 1)
        rounds = 1;
    struct db *db;
    struct db_options o = {.path = argv[1], .sync = "normal", .event_log_size = 0, .read_connections = 1};
    xerr *e = db_open(&o, &db);
    xv *records = NULL;
    if (!e)
        e = db_read_all_records(db, DMC_VM, &records);
    if (e) {
        char *s = xerr_str(e);
        fprintf(stderr, "serialise: %s\n", s);
        return 1;
    }
    for (size_t r = 0; r < records->u.st.n; r++) /* as the API strips them */
        for (size_t i = 0; i < DMC_VM->nfields; i++)
            if (DMC_VM->fields[i].internal)
                xv_struct_remove(records->u.st.m[r].val, DMC_VM->fields[i].name);
    size_t n = records->u.st.n;
    xv *env = wire_success(records);
    size_t want_len;
    char *want = slurp(argv[2], &want_len);
    double *t = calloc((size_t)rounds, sizeof(double)), *cpu = calloc((size_t)rounds, sizeof(double));
    bool same = true;
    size_t len = 0;
    for (int i = 0; i < rounds; i++) {
        buf b;
        buf_init(&b);
        double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        wire_xmlrpc_write_response(&b, env);
        t[i] = now_ms(CLOCK_MONOTONIC) - t0;
        cpu[i] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
        len = b.len;
        same = same && b.len == want_len && memcmp(b.p, want, want_len) == 0;
        buf_free(&b);
    }
    qsort(t, (size_t)rounds, sizeof(double), cmp_double);
    qsort(cpu, (size_t)rounds, sizeof(double), cmp_double);
    printf("records %zu median_ms %.3f min_ms %.3f cpu_ms %.3f bytes %zu same %s\n", n,
           rounds % 2 ? t[rounds / 2] : (t[rounds / 2 - 1] + t[rounds / 2]) / 2, t[0],
           rounds % 2 ? cpu[rounds / 2] : (cpu[rounds / 2 - 1] + cpu[rounds / 2]) / 2, len, same ? "yes" : "no");
    free(t);
    free(cpu);
    free(want);
    xv_free(env);
    db_close(db);
    return 0;
}
