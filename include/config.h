/* config: the daemon's configuration, `key = value` lines from a file, each key also
 * settable as --key=value on the command line.  Every key the daemon knows is declared
 * once in src/config/keys.c with its default and help text; unknown keys are errors,
 * so a typo never silently falls back to a default. */
#ifndef XENAPID_CONFIG_H
#define XENAPID_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "xerr.h"

struct config;

struct config *config_new(void);                 /* every key at its default */
void config_free(struct config *c);
/* Errors are INVALID_VALUE-style xerrs naming the file, line and key. */
xerr *config_load_file(struct config *c, const char *path);
/* The same from a file's len bytes of text, named name in the errors (config_load_file
 * reads the file and calls this). */
xerr *config_load_text(struct config *c, const char *name, const char *text, size_t len);
xerr *config_set(struct config *c, const char *key, const char *value);
bool config_known(const char *key);

const char *config_get(const struct config *c, const char *key);
int64_t config_get_int(const struct config *c, const char *key);
double config_get_double(const struct config *c, const char *key);
bool config_get_bool(const struct config *c, const char *key);

/* The documented key list, as printed by `xenapid --help`. */
void config_print_help(FILE *out);

#endif
