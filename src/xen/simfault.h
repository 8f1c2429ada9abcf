/* Internal to src/xen: the simulator's fault injection (simfault.c says how it works
 * and names the steps). */
#ifndef XENAPID_XEN_SIMFAULT_H
#define XENAPID_XEN_SIMFAULT_H

#include <pthread.h>

#include "xerr.h"

struct simfault;
struct simfault *simfault_open(const char *state_dir);
void simfault_close(struct simfault *f);
/* NULL, or the injected failure of step (one of the armed count used up). */
xerr *simfault_check(struct simfault *f, const char *step);

#endif
