#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

static void oom(void)
{
    static const char msg[] = "xenapid: out of memory\n";
    fwrite(msg, 1, sizeof(msg) - 1, stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        oom();
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        oom();
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        oom();
    va_end(ap);
    return s;
}

bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool str_startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_endswith(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    if (!s)
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

/* ---- buffers ---- */

void buf_init(buf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
}

void buf_free(buf *b)
{
    free(b->p);
    buf_init(b);
}

void buf_reset(buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
}

void buf_grow(buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void buf_adds(buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_add_int(buf *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_add(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        len = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* reject overlong forms, surrogates and out-of-range code points */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

/* Bytes that XML character data cannot carry as they are: markup, CR, control
 * characters, and (to be checked as UTF-8) everything from 0x80. */
static const unsigned char xml_special[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

void buf_add_xml(buf *b, const char *s, size_t n)
{
    /* the worst case is 5 bytes out per byte in (&#13;): reserve it once, then
     * write without checking */
    buf_reserve(b, n * 5);
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    char *o = b->p + b->len;
    while (u < end) {
        unsigned char c = *u;
        if (!xml_special[c]) {
            *o++ = (char)c;
            u++;
            continue;
        }
        if (c >= 0x80) {
            size_t adv = utf8_seq_len(u, (size_t)(end - u));
            /* U+FFFE and U+FFFF are valid UTF-8 but not XML 1.0 Chars: a parser
             * refuses the whole document (a guest could make its records unreadable) */
            bool nonchar = adv == 3 && u[0] == 0xef && u[1] == 0xbf && u[2] >= 0xbe;
            if (adv && !nonchar) {
                memcpy(o, u, adv);
                o += adv;
                u += adv;
            } else { /* invalid UTF-8 or a non-Char: U+FFFD */
                memcpy(o, "\xef\xbf\xbd", 3);
                o += 3;
                u += nonchar ? 3 : 1;
            }
            continue;
        }
        const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '\r' ? "&#13;" : "";
        /* other control characters are not representable in XML 1.0: dropped */
        size_t rl = strlen(rep);
        memcpy(o, rep, rl);
        o += rl;
        u++;
    }
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}

void buf_add_json(buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0, i = 0;
    buf_reserve(b, n);
    while (i < n) {
        unsigned char c = u[i];
        char esc[8];
        const char *rep = NULL;
        size_t adv = 1;
        if (c == '"')
            rep = "\\\"";
        else if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '\r')
            rep = "\\r";
        else if (c == '\t')
            rep = "\\t";
        else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            rep = esc;
        } else if (c >= 0x80) {
            adv = utf8_seq_len(u + i, n - i);
            if (!adv) {
                rep = "\\ufffd";
                adv = 1;
            }
        }
        if (rep) {
            buf_add(b, s + start, i - start);
            buf_adds(b, rep);
            start = i + adv;
        }
        i += adv;
    }
    buf_add(b, s + start, n - start);
}

char *buf_steal(buf *b)
{
    char *p = b->p ? b->p : xstrdup("");
    buf_init(b);
    return p;
}

/* ---- files ---- */

char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    buf b;
    buf_init(&b);
    for (;;) {
        buf_reserve(&b, 65536);
        ssize_t n = read(fd, b.p + b.len, b.cap - b.len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            buf_free(&b);
            errno = err;
            return NULL;
        }
        if (n == 0)
            break;
        b.len += (size_t)n;
    }
    close(fd);
    b.p[b.len] = 0;
    if (len)
        *len = b.len;
    return buf_steal(&b);
}

/* ---- uuids and refs ---- */

void uuid_generate_str(char out[37])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        got += (size_t)n;
    }
    r[6] = (r[6] & 0x0f) | 0x40; /* version 4 */
    r[8] = (r[8] & 0x3f) | 0x80; /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

bool uuid_is_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

char *ref_new(void)
{
    char u[37];
    uuid_generate_str(u);
    return xasprintf("OpaqueRef:%s", u);
}

bool ref_is_wellformed(const char *s)
{
    return s && str_startswith(s, "OpaqueRef:") && s[10] != 0;
}

/* ---- time ---- */

/* Years outside 0000-9999 have no 4-digit form: such a time is written as the nearest
 * end of that range, so that what we write always reads back. */
void time_to_xapi(time_t t, char out[20])
{
    static const time_t first = -62167219200, last = 253402300799; /* 0000-01-01, 9999-12-31 */
    t = t < first ? first : t > last ? last : t;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* the clamp keeps each field in range; the modulo says so to the compiler */
    snprintf(out, 20, "%04u%02u%02uT%02u:%02u:%02uZ", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
             (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
}

/* n decimal digits, and nothing else (strptime's %Y took "70" for the year 70, and
 * skips blanks). */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return false;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return true;
}

static bool lit(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* The XenAPI form, 20250319T04:16:24Z, or ISO 8601 with hyphens; the Z may be left
 * out (xmlrpc.client leaves it out).  A date that is not in the calendar (Feb 30, hour
 * 24) is refused, not carried over into the next day: it is read back as written. */
bool time_from_xapi(const char *s, time_t *out)
{
    if (!s)
        return false;
    int y, mo, d, h, mi, sec;
    const char *p = s;
    if (!digits(&p, 4, &y))
        return false;
    bool hyphens = *p == '-';
    if ((hyphens && !lit(&p, '-')) || !digits(&p, 2, &mo) || (hyphens && !lit(&p, '-')) ||
        !digits(&p, 2, &d) || !lit(&p, 'T') || !digits(&p, 2, &h) || !lit(&p, ':') || !digits(&p, 2, &mi) ||
        !lit(&p, ':') || !digits(&p, 2, &sec))
        return false;
    if (*p == 'Z')
        p++;
    if (*p)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (tm.tm_year != y - 1900 || tm.tm_mon != mo - 1 || tm.tm_mday != d || tm.tm_hour != h || tm.tm_min != mi ||
        tm.tm_sec != sec)
        return false;
    *out = t;
    return true;
}

double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double now_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    bool sock = true;
    while (n) {
        ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (w < 0 && sock && errno == ENOTSOCK) {
            sock = false;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = 0;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}
