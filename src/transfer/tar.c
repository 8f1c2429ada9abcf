/* The tar around ova.xml: POSIX ustar, as xapi's Tar.Header.make writes it (one
 * regular file, mode 0400, owner 0), and a reader that trusts nothing in it. */
#include "transfer.h"
#include "dm_gen.h"

#include <stdio.h>
#include <string.h>

#define BLOCK 512

/* width - 1 octal digits and a NUL, as ustar wants (v fits: sizes are bounded) */
static void octal(char *field, size_t width, unsigned long long v)
{
    field[width - 1] = 0;
    for (size_t i = width - 1; i-- > 0; v >>= 3)
        field[i] = (char)('0' + (v & 7));
}

void transfer_tar_write(buf *out, const char *name, const char *data, size_t len, time_t mtime)
{
    char h[BLOCK];
    memset(h, 0, sizeof(h));
    snprintf(h, 100, "%s", name);
    octal(h + 100, 8, 0400);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, len);
    octal(h + 136, 12, (unsigned long long)(mtime > 0 ? mtime : 0));
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    buf_add(out, h, BLOCK);
    buf_add(out, data, len);
    size_t pad = (BLOCK - len % BLOCK) % BLOCK;
    static const char zeros[BLOCK * 2];
    buf_add(out, zeros, pad);
    buf_add(out, zeros, sizeof(zeros)); /* the end of the archive */
}

/* An octal field: digits, then NUL or spaces.  False on anything else. */
static bool read_octal(const char *f, size_t width, unsigned long long *out)
{
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    unsigned long long v = 0;
    size_t digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v > (~0ull >> 3))
            return false;
        v = v * 8 + (unsigned)(f[i] - '0');
    }
    for (; i < width; i++)
        if (f[i] != ' ' && f[i] != 0)
            return false;
    *out = v;
    return digits > 0;
}

static bool all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* A member name as a C string: ustar's prefix "/" name, each NUL-bounded. */
static void member_name(const char *h, char out[258])
{
    char name[101], prefix[156];
    memcpy(name, h, 100);
    name[100] = 0;
    bool ustar = memcmp(h + 257, "ustar", 5) == 0;
    memcpy(prefix, h + 345, 155);
    prefix[155] = 0;
    if (ustar && prefix[0])
        snprintf(out, 258, "%s/%s", prefix, name);
    else
        snprintf(out, 258, "%s", name);
}

/* A name printable in an error: control bytes and non-ASCII as '?'. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

xerr *transfer_tar_ova(const char *data, size_t len, const char **xml, size_t *xml_len)
{
    if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b)
        return err_import_error("the archive is gzip-compressed: send the tar itself");
    if (len < BLOCK)
        return err_import_error_premature_eof();
    if (all_zero(data, BLOCK))
        return err_import_error("the archive is empty: it holds no ova.xml");
    unsigned long long sum, size;
    if (!read_octal(data + 148, 8, &sum))
        return err_import_error("not a tar archive: the first header has no checksum");
    unsigned s = 0;
    for (size_t i = 0; i < BLOCK; i++)
        s += i >= 148 && i < 156 ? ' ' : (unsigned char)data[i];
    if (s != sum)
        return err_import_error("not a tar archive: the first header's checksum is wrong");
    char name[258];
    member_name(data, name);
    printable(name);
    /* names are not paths here: only ova.xml is read, and nothing is written to disk;
     * a name that tries to climb out is named as what it is */
    if (name[0] == '/' || strstr(name, "..") || strchr(name, '\\'))
        return err_import_error_unexpected_file(TRANSFER_OVA_NAME, name);
    char type = data[156];
    if (strcmp(name, TRANSFER_OVA_NAME) != 0)
        return err_import_error_unexpected_file(TRANSFER_OVA_NAME, name);
    if (type != '0' && type != 0)
        return err_import_error("ova.xml is not a regular file in the archive");
    if (!read_octal(data + 124, 12, &size))
        return err_import_error("the size of ova.xml in the archive is not a number");
    if (size > TRANSFER_MAX_OVA_XML) {
        char msg[128];
        snprintf(msg, sizeof(msg), "ova.xml is %llu bytes, more than the %u this server reads", size,
                 TRANSFER_MAX_OVA_XML);
        return err_import_error(msg);
    }
    if (size > len - BLOCK)
        return err_import_error_premature_eof();
    *xml = data + BLOCK;
    *xml_len = (size_t)size;
    return NULL;
}
