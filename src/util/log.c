#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level cur_level = LL_INFO;
static bool use_syslog;
static const char *const names[] = {"error", "warn", "info", "debug"};

bool log_setup(const char *target, const char *level)
{
    int lv = -1;
    for (int i = 0; i < 4; i++)
        if (level && strcmp(level, names[i]) == 0)
            lv = i;
    if (lv < 0)
        return false;
    if (target && strcmp(target, "syslog") == 0) {
        use_syslog = true;
        openlog("xenapid", LOG_PID, LOG_DAEMON);
    } else if (target && strcmp(target, "stderr") != 0) {
        return false;
    }
    cur_level = (enum log_level)lv;
    return true;
}

bool log_enabled(enum log_level lv)
{
    return lv <= cur_level;
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (!log_enabled(lv))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (use_syslog) {
        syslog(prio[lv], "%s", msg);
        return;
    }
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ xenapid[%s] %s\n", when, ts.tv_nsec / 1000000, names[lv], msg);
}
