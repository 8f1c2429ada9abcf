/* What the libFuzzer harnesses share: a private temporary directory (the only place a
 * harness writes), files in it, and quiet logging.  Each harness defines
 * LLVMFuzzerTestOneInput; harnesses must not leak and must be deterministic. */
#ifndef XENAPID_FUZZ_HARNESS_H
#define XENAPID_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A property the harness checks: a failure is a crash the fuzzer reports (never
 * compiled out, unlike assert). */
#define FUZZ_CHECK(c)                                                                  \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "fuzz: check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The harness's directory, made on first use and removed with its contents at exit. */
const char *fuzz_tmpdir(void);
/* data as a NUL-terminated string (cut at its first NUL); the caller frees. */
char *fuzz_cstr(const uint8_t *data, size_t size);
/* Only errors are logged, to stderr: the fuzzer's own output stays readable. */
void fuzz_quiet_logs(void);
/* A path under the source tree (etc/platform.xml ...); the caller frees. */
char *fuzz_src_path(const char *rel);

#include "util.h"
#include "xerr.h"
#include "xv.h"

struct api;
/* An API as the daemon serves it (the simulator's modules registered, no hypervisor),
 * over a database in the temporary directory, with no password that can log in: the
 * fuzzed calls reach everything an unauthenticated client reaches and change nothing,
 * so runs stay deterministic.  Made on first use, torn down at exit. */
struct api *fuzz_api(void);
struct db;
/* The database under fuzz_api's api (for rpc_start). */
struct db *fuzz_db(void);

/* A call whose method is a getter (Class.get_*, not Async) is made again as root: the
 * first parameter replaced by a session of root's, so that what the getters read and
 * write on real records is fuzzed too, without changing anything.  The response,
 * written with write, must read back with parse. */
void fuzz_get_as_root(const char *method, const xv *params, void (*write)(buf *, const xv *),
                      xerr *(*parse)(const char *, size_t, xv **));
/* The peer the fuzzed calls come from: a TCP client, not the local root's unix socket;
 * its waits block (no parking). */
extern const struct api_peer fuzz_peer;
#define FUZZ_PEER (&fuzz_peer)

#endif
