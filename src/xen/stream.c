/* The saved-domain stream (docs/domain-stream.md): a header, then sections, each a
 * tag, a length, the payload and a checksum of it, ending with an END section.  It is
 * written and read strictly in order, never seeked, so that the fd may be a pipe or
 * a socket as well as a suspend image. */
#include "backend.h"
#include "dm_gen.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "XENAPID-DOMAIN\n"  /* 15 bytes and a NUL: 16 */
#define MAGIC_LEN 16

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const unsigned char *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

uint32_t hv_stream_sum(uint32_t sum, const void *data, size_t len)
{
    /* FNV-1a: it is there to catch a damaged image, not an attacker */
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        sum = (sum ^ p[i]) * 16777619u;
    return sum;
}

xerr *hv_stream_write(int fd, const void *data, size_t len)
{
    if (!write_all(fd, data, len))
        return xerr_internal("writing the domain stream: %s", errno ? strerror(errno) : "nothing written");
    return NULL;
}

static xerr *invalid(const char *fmt, const char *arg)
{
    _cleanup_free_ char *why = xasprintf(fmt, arg);
    return err_domain_stream_invalid(why);
}

xerr *hv_stream_read(int fd, void *data, size_t len)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return xerr_internal("reading the domain stream: %s", strerror(errno));
        if (n == 0)
            return invalid("the stream ends too early%s", " (truncated)");
        p += n;
        len -= (size_t)n;
    }
    return NULL;
}

xerr *hv_stream_put_header(int fd)
{
    unsigned char h[MAGIC_LEN + 4] = MAGIC;
    put_be32(h + MAGIC_LEN, HV_STREAM_VERSION);
    return hv_stream_write(fd, h, sizeof(h));
}

xerr *hv_stream_check_header(int fd)
{
    unsigned char h[MAGIC_LEN + 4];
    xerr *e = hv_stream_read(fd, h, sizeof(h));
    if (e)
        return e;
    if (memcmp(h, MAGIC, MAGIC_LEN) != 0)
        return invalid("not a saved domain: no %s magic", "XENAPID-DOMAIN");
    uint32_t v = get_be32(h + MAGIC_LEN);
    if (v != HV_STREAM_VERSION) {
        char s[16];
        snprintf(s, sizeof(s), "%" PRIu32, v);
        return invalid("format version %s: this daemon reads version 1", s);
    }
    return NULL;
}

xerr *hv_stream_put_begin(int fd, const char *tag, uint64_t len)
{
    unsigned char h[12];
    memcpy(h, tag, 4);
    put_be64(h + 4, len);
    return hv_stream_write(fd, h, sizeof(h));
}

xerr *hv_stream_put_end(int fd, uint32_t sum)
{
    unsigned char s[4];
    put_be32(s, sum);
    return hv_stream_write(fd, s, sizeof(s));
}

xerr *hv_stream_put(int fd, const char *tag, const void *data, size_t len)
{
    xerr *e = hv_stream_put_begin(fd, tag, len);
    if (!e)
        e = hv_stream_write(fd, data, len);
    if (!e)
        e = hv_stream_put_end(fd, hv_stream_sum(HV_STREAM_SUM_INIT, data, len));
    return e;
}

xerr *hv_stream_next(int fd, const char *want, uint64_t max, uint64_t *len)
{
    unsigned char h[12];
    xerr *e = hv_stream_read(fd, h, sizeof(h));
    if (e)
        return e;
    if (memcmp(h, want, 4) != 0) {
        char got[5] = {0};
        for (int i = 0; i < 4; i++)
            got[i] = h[i] >= 0x20 && h[i] < 0x7f ? (char)h[i] : '?';
        _cleanup_free_ char *why = xasprintf("section %.4s where %.4s was expected", got, want);
        return err_domain_stream_invalid(why);
    }
    *len = get_be64(h + 4);
    if (*len > max) {
        _cleanup_free_ char *why =
            xasprintf("section %.4s of %" PRIu64 " bytes, more than its %" PRIu64 " at most", want, *len, max);
        return err_domain_stream_invalid(why);
    }
    return NULL;
}

xerr *hv_stream_check_sum(int fd, const char *tag, uint32_t sum)
{
    unsigned char s[4];
    xerr *e = hv_stream_read(fd, s, sizeof(s));
    if (!e && get_be32(s) != sum) {
        _cleanup_free_ char *why = xasprintf("section %.4s is damaged (checksum mismatch)", tag);
        e = err_domain_stream_invalid(why);
    }
    return e;
}

xerr *hv_stream_get(int fd, const char *tag, uint64_t max, char **data, size_t *len)
{
    uint64_t n = 0;
    *data = NULL;
    xerr *e = hv_stream_next(fd, tag, max, &n);
    if (e)
        return e;
    char *p = xmalloc((size_t)n + 1);
    e = hv_stream_read(fd, p, (size_t)n);
    if (!e)
        e = hv_stream_check_sum(fd, tag, hv_stream_sum(HV_STREAM_SUM_INIT, p, (size_t)n));
    if (e) {
        free(p);
        return e;
    }
    p[n] = 0;
    *data = p;
    if (len)
        *len = (size_t)n;
    return NULL;
}
