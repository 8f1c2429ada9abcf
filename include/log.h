/* log: levelled messages to stderr or syslog.  Never log a password. */
#ifndef XENAPID_LOG_H
#define XENAPID_LOG_H

#include <stdbool.h>

enum log_level { LL_ERROR = 0, LL_WARN, LL_INFO, LL_DEBUG };

/* target: "stderr" or "syslog"; level: "error", "warn", "info", "debug". */
bool log_setup(const char *target, const char *level);
bool log_enabled(enum log_level lv);
void log_msg(enum log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LL_DEBUG)) log_msg(LL_DEBUG, __VA_ARGS__); } while (0)

#endif
