/* xerr: the one error idiom, from the bottom of the stack to the wire.
 *
 * A failing function returns an xerr* (NULL means success).  An xerr is a XenAPI
 * error code and its string parameters, exactly what a client receives in
 * ErrorDescription.  Raise it where the fact is known; rpc/ marshals it once.
 *
 * Errors are raised only through the constructors generated from the codes declared
 * in datamodel/datamodel.xml, one per code with its parameters in order
 * (err_vm_bad_power_state(vm, expected, actual), in dm_gen.h), and compared with the
 * generated code constants (xerr_is(e, XERR_TASK_CANCELLED)).  So a code cannot be
 * misspelt, nor raised with the wrong number of parameters.
 */
#ifndef XENAPID_XERR_H
#define XENAPID_XERR_H

#include <stddef.h>

typedef struct xerr {
    char *code;
    size_t nparams;
    char **params;
} xerr;

/* INTERNAL_ERROR [message], message printf-formatted. */
xerr *xerr_internal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An error received from a peer (a XenAPI response, a task's error_info): its code is
 * data, relayed as it came, declared here or not. */
xerr *xerr_from_wire(const char *code, size_t n, const char *const *params);
xerr *xerr_dup(const xerr *e);
void xerr_free(xerr *e);
/* "CODE [p1; p2]" for logs; caller frees. */
char *xerr_str(const xerr *e);
/* code: a generated XERR_<CODE> constant. */
int xerr_is(const xerr *e, const char *code);

/* Free-on-scope-exit helper, as systemd's _cleanup_ does. */
static inline void xerr_freep(xerr **e) { xerr_free(*e); }
#define _cleanup_xerr_ __attribute__((cleanup(xerr_freep)))

/* ---- reserved for the generated constructors (build/gen/dm_gen.c) ----
 * Nothing else calls this: a code raised here was checked against its declaration
 * when dmgen wrote the call. */
xerr *xerr__raise(const char *code, size_t n, const char *const *params);


#endif
