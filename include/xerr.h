/* xerr: the one error idiom, from the bottom of the stack to the wire.
 *
 * A failing function returns an xerr* (NULL means success).  An xerr is a XenAPI
 * error code and its string parameters, exactly what a client receives in
 * ErrorDescription.  Raise it where the fact is known; rpc/ marshals it once.
 * Typed constructors for every code declared in datamodel/ are generated into
 * dm_gen.h (err_vm_bad_power_state(vm, expected, actual), ...).
 */
#ifndef XENAPID_XERR_H
#define XENAPID_XERR_H

#include <stddef.h>

typedef struct xerr {
    char *code;
    size_t nparams;
    char **params;
} xerr;

/* Parameters are strings, terminated by NULL. */
xerr *xerr_new(const char *code, ...) __attribute__((sentinel));
xerr *xerr_newv(const char *code, size_t n, const char *const *params);
/* INTERNAL_ERROR [message], message printf-formatted. */
xerr *xerr_internal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
xerr *xerr_dup(const xerr *e);
void xerr_free(xerr *e);
/* "CODE [p1; p2]" for logs; caller frees. */
char *xerr_str(const xerr *e);
int xerr_is(const xerr *e, const char *code);

/* Free-on-scope-exit helper, as systemd's _cleanup_ does. */
static inline void xerr_freep(xerr **e) { xerr_free(*e); }
#define _cleanup_xerr_ __attribute__((cleanup(xerr_freep)))

#endif
