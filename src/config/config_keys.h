/* Internal to src/config: the key table. */
#ifndef XENAPID_CONFIG_KEYS_H
#define XENAPID_CONFIG_KEYS_H

struct config_key {
    const char *name;
    const char *def;
    const char *help;
};

extern const struct config_key config_keys[];

#endif
