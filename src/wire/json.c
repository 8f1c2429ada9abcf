/* JSON codec (RFC 8259).  Integral numbers that fit in int64 become XV_INT, other
 * numbers XV_FLOAT; null is XV_NIL. */
#include "wire.h"
#include "dm_gen.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct jp {
    const char *s, *end;
    const char *err;
};

static void skip_ws(struct jp *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static bool lit(struct jp *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) >= n && memcmp(p->s, word, n) == 0) {
        p->s += n;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(struct jp *p, unsigned *out)
{
    if (p->end - p->s < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[i]);
        if (h < 0)
            return false;
        v = v * 16 + (unsigned)h;
    }
    p->s += 4;
    *out = v;
    return true;
}

static void put_utf8(buf *b, unsigned cp)
{
    if (cp < 0x80) {
        buf_addc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_addc(b, (char)(0xc0 | (cp >> 6)));
        buf_addc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_addc(b, (char)(0xe0 | (cp >> 12)));
        buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_addc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_addc(b, (char)(0xf0 | (cp >> 18)));
        buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_addc(b, (char)(0x80 | (cp & 0x3f)));
    }
}


/* p->s is just past the opening quote. */
static bool parse_string(struct jp *p, buf *out)
{
    while (p->s < p->end) {
        unsigned char c = (unsigned char)*p->s++;
        if (c == '"')
            return true;
        if (c < 0x20) {
            p->err = "control character in string";
            return false;
        }
        if (c >= 0x80) {
            /* RFC 8259: JSON text is UTF-8; what is not would not read back the same */
            size_t n = utf8_seq_len((const unsigned char *)p->s - 1, (size_t)(p->end - p->s) + 1);
            if (!n) {
                p->err = "invalid UTF-8";
                return false;
            }
            buf_add(out, p->s - 1, n);
            p->s += n - 1;
            continue;
        }
        if (c != '\\') {
            buf_addc(out, (char)c);
            continue;
        }
        if (p->s >= p->end)
            break;
        char esc = *p->s++;
        switch (esc) {
        case '"': buf_addc(out, '"'); break;
        case '\\': buf_addc(out, '\\'); break;
        case '/': buf_addc(out, '/'); break;
        case 'b': buf_addc(out, '\b'); break;
        case 'f': buf_addc(out, '\f'); break;
        case 'n': buf_addc(out, '\n'); break;
        case 'r': buf_addc(out, '\r'); break;
        case 't': buf_addc(out, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (!read_hex4(p, &cp)) {
                p->err = "bad \\u escape";
                return false;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (!lit(p, "\\u") || !read_hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    p->err = "unpaired surrogate";
                    return false;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                p->err = "unpaired surrogate";
                return false;
            }
            put_utf8(out, cp);
            break;
        }
        default:
            p->err = "bad escape";
            return false;
        }
    }
    p->err = "unterminated string";
    return false;
}

static xv *parse_number(struct jp *p)
{
    const char *start = p->s;
    bool integral = true;
    if (p->s < p->end && *p->s == '-')
        p->s++;
    if (p->s >= p->end || !(*p->s >= '0' && *p->s <= '9')) {
        p->err = "bad number";
        return NULL;
    }
    if (*p->s == '0')
        p->s++;
    else
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    if (p->s < p->end && *p->s == '.') {
        integral = false;
        p->s++;
        if (p->s >= p->end || !(*p->s >= '0' && *p->s <= '9')) {
            p->err = "bad number";
            return NULL;
        }
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        integral = false;
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        if (p->s >= p->end || !(*p->s >= '0' && *p->s <= '9')) {
            p->err = "bad number";
            return NULL;
        }
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
            p->s++;
    }
    _cleanup_free_ char *txt = xstrndup(start, (size_t)(p->s - start));
    int64_t i;
    if (integral && parse_int64(txt, &i))
        return xv_int(i);
    double d = strtod(txt, NULL);
    if (!isfinite(d)) {
        p->err = "number out of range";
        return NULL;
    }
    return xv_float(d);
}

/* p->s is just past an opening quote.  A string with no escapes, control or
 * non-ASCII bytes (the common case) is taken as it stands: true, with its text in
 * [*start, *start + *n) and p->s past the closing quote. */
static bool plain_string(struct jp *p, const char **start, size_t *n)
{
    const char *q = p->s;
    while (q < p->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80)
        q++;
    if (q >= p->end || *q != '"')
        return false;
    *start = p->s;
    *n = (size_t)(q - p->s);
    p->s = q + 1;
    return true;
}

static xv *parse_any(struct jp *p, int depth)
{
    if (depth > WIRE_MAX_DEPTH) {
        p->err = "nesting too deep";
        return NULL;
    }
    skip_ws(p);
    if (p->s >= p->end) {
        p->err = "unexpected end of input";
        return NULL;
    }
    char c = *p->s;
    if (c == '"') {
        p->s++;
        const char *plain;
        size_t plen;
        if (plain_string(p, &plain, &plen))
            return xv_stringn(plain, plen);
        buf b;
        buf_init(&b);
        if (!parse_string(p, &b)) {
            buf_free(&b);
            return NULL;
        }
        xv *v = xv_stringn(b.p ? b.p : "", b.len);
        buf_free(&b);
        return v;
    }
    if (c == '{') {
        xv *o = xv_struct();
        p->s++;
        skip_ws(p);
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            return o;
        }
        for (;;) {
            skip_ws(p);
            if (p->s >= p->end || *p->s != '"') {
                p->err = "expected a member name";
                break;
            }
            p->s++;
            buf k;
            buf_init(&k);
            const char *plain;
            size_t plen;
            if (plain_string(p, &plain, &plen)) {
                buf_add(&k, plain, plen);
            } else if (!parse_string(p, &k)) {
                buf_free(&k);
                break;
            }
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') {
                buf_free(&k);
                p->err = "expected ':'";
                break;
            }
            p->s++;
            xv *v = parse_any(p, depth + 1);
            if (!v) {
                buf_free(&k);
                break;
            }
            xv_struct_set(o, k.p ? k.p : "", v);
            buf_free(&k);
            skip_ws(p);
            if (p->s < p->end && *p->s == ',') {
                p->s++;
                continue;
            }
            if (p->s < p->end && *p->s == '}') {
                p->s++;
                return o;
            }
            p->err = "expected ',' or '}'";
            break;
        }
        xv_free(o);
        return NULL;
    }
    if (c == '[') {
        xv *a = xv_array();
        p->s++;
        skip_ws(p);
        if (p->s < p->end && *p->s == ']') {
            p->s++;
            return a;
        }
        for (;;) {
            xv *v = parse_any(p, depth + 1);
            if (!v)
                break;
            xv_array_push(a, v);
            skip_ws(p);
            if (p->s < p->end && *p->s == ',') {
                p->s++;
                continue;
            }
            if (p->s < p->end && *p->s == ']') {
                p->s++;
                return a;
            }
            p->err = "expected ',' or ']'";
            break;
        }
        xv_free(a);
        return NULL;
    }
    if (lit(p, "true"))
        return xv_bool(true);
    if (lit(p, "false"))
        return xv_bool(false);
    if (lit(p, "null"))
        return xv_nil();
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(p);
    p->err = "unexpected character";
    return NULL;
}

xerr *wire_json_parse(const char *text, size_t len, xv **out)
{
    struct jp p = {text, text + len, NULL};
    *out = parse_any(&p, 0);
    if (*out) {
        skip_ws(&p);
        if (p.s == p.end)
            return NULL;
        xv_free(*out);
        *out = NULL;
        p.err = "trailing characters";
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "%s at offset %zu", p.err ? p.err : "parse error",
             (size_t)(p.s - text));
    return err_jsonrpc_parse_error(msg);
}

void wire_json_write(buf *b, const xv *v)
{
    switch (v->type) {
    case XV_NIL:
        buf_addlit(b, "null");
        break;
    case XV_STRING:
    case XV_DATETIME:
        buf_addc(b, '"');
        buf_add_json(b, v->u.str.s, v->u.str.len);
        buf_addc(b, '"');
        break;
    case XV_INT:
        buf_add_int(b, v->u.i);
        break;
    case XV_BOOL:
        buf_adds(b, v->u.b ? "true" : "false");
        break;
    case XV_FLOAT: {
        if (!isfinite(v->u.f)) {
            buf_adds(b, "null");
            break;
        }
        char tmp[40];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof(tmp), "%.*g", prec, v->u.f);
            if (strtod(tmp, NULL) == v->u.f)
                break;
        }
        buf_adds(b, tmp);
        /* keep it a float for readers that distinguish 1 from 1.0 */
        if (!strpbrk(tmp, ".eEn"))
            buf_adds(b, ".0");
        break;
    }
    case XV_ARRAY:
        buf_addc(b, '[');
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                buf_addc(b, ',');
            wire_json_write(b, v->u.arr.v[i]);
        }
        buf_addc(b, ']');
        break;
    case XV_STRUCT:
        buf_addc(b, '{');
        for (size_t i = 0; i < v->u.st.n; i++)
            wire_json_write_member(b, i == 0, v->u.st.m[i].key, v->u.st.m[i].val);
        buf_addc(b, '}');
        break;
    case XV_RAW_JSON:
        buf_add(b, v->u.str.s, v->u.str.len);
        break;
    case XV_RAW_XMLRPC: /* never made for this wire (api_peer.wire) */
        assert(!"XML-RPC bytes given to the JSON writer");
        buf_addlit(b, "null");
        break;
    }
}

void wire_json_write_key(buf *b, bool first, const char *key)
{
    if (!first)
        buf_addc(b, ',');
    buf_addc(b, '"');
    buf_add_json(b, key, strlen(key));
    buf_adds(b, "\":");
}

void wire_json_write_member(buf *b, bool first, const char *key, const xv *v)
{
    wire_json_write_key(b, first, key);
    wire_json_write(b, v);
}
