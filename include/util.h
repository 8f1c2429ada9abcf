/* util: allocation, strings, growable buffers, uuids, time, whole files, a hash map.
 *
 * Allocation failures abort: a daemon that cannot get a few bytes cannot answer a
 * client sensibly anyway, and checking every small malloc hides real errors.
 */
#ifndef XENAPID_UTIL_H
#define XENAPID_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void freep(void *p) { free(*(void **)p); }
#define _cleanup_free_ __attribute__((cleanup(freep)))

bool str_eq(const char *a, const char *b);           /* NULL-safe */
bool str_startswith(const char *s, const char *prefix);
bool str_endswith(const char *s, const char *suffix);
/* Parse a whole decimal int64; false on garbage, overflow or empty. */
bool parse_int64(const char *s, int64_t *out);
bool parse_bool(const char *s, bool *out);           /* true/false/1/0/yes/no/on/off */
/* All n bytes written (EINTR retried; a socket without SIGPIPE); false with errno
 * set, 0 when nothing could be written. */
bool write_all(int fd, const void *p, size_t n);

/* Growable byte buffer, always NUL-terminated after the used bytes. */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b);
void buf_grow(buf *b, size_t extra);           /* the slow path of buf_reserve */
/* The appends are inline: they are most of the work of writing a response. */
static inline void buf_reserve(buf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap)
        buf_grow(b, extra);
}
static inline void buf_add(buf *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    __builtin_memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}
static inline void buf_addc(buf *b, char c)
{
    buf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = 0;
}
void buf_adds(buf *b, const char *s);
/* A string literal, without a strlen. */
#define buf_addlit(b, lit) buf_add((b), "" lit, sizeof(lit) - 1)
/* A decimal integer, without printf. */
void buf_add_int(buf *b, int64_t v);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The length of the well-formed UTF-8 sequence at s (at most n bytes), 0 if it is
 * not one: overlong forms, surrogates and code points past U+10FFFF included. */
size_t utf8_seq_len(const unsigned char *s, size_t n);
/* XML character data: escapes & < > and drops bytes XML 1.0 cannot carry. */
void buf_add_xml(buf *b, const char *s, size_t n);
/* JSON string contents (without the quotes). */
void buf_add_json(buf *b, const char *s, size_t n);
char *buf_steal(buf *b);                              /* caller frees; buffer emptied */

/* Random (v4) uuid in canonical lower-case form; out must hold 37 bytes. */
void uuid_generate_str(char out[37]);
bool uuid_is_valid(const char *s);
/* "OpaqueRef:<uuid>" */
char *ref_new(void);
#define REF_NULL "OpaqueRef:NULL"
bool ref_is_wellformed(const char *s);

/* Time as the XenAPI writes it: 20250319T04:16:24Z (UTC, no hyphens). out: 20 bytes. */
void time_to_xapi(time_t t, char out[20]);
bool time_from_xapi(const char *s, time_t *out);
double now_monotonic(void);                           /* seconds */
double now_realtime(void);

/* The whole file at path, NUL-terminated after its *len bytes (len may be NULL for
 * text); NULL with errno set when it cannot be read.  The caller frees. */
char *read_file(const char *path, size_t *len);

/* A string-keyed hash map (open addressing).  Keys are copied; values are the
 * caller's.  Not thread-safe: callers lock. */
struct strmap;
struct strmap *strmap_new(void);
void strmap_free(struct strmap *m, void (*free_value)(void *));
void *strmap_get(const struct strmap *m, const char *key);
/* Returns the previous value, or NULL. */
void *strmap_put(struct strmap *m, const char *key, void *value);
void *strmap_remove(struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);
/* Iterate: *pos starts at 0; returns false when done. */
bool strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value);
#endif
