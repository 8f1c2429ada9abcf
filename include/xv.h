/* xv: a XenAPI value, the currency between the wire codecs, the dispatcher, the
 * store and the API.  Types follow SPEC section 4: refs and enums are strings,
 * sets are arrays, maps and records are structs.
 */
#ifndef XENAPID_XV_H
#define XENAPID_XV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef enum {
    XV_NIL,       /* void: an empty string on the XML-RPC wire, null in JSON */
    XV_STRING,
    XV_INT,
    XV_BOOL,
    XV_FLOAT,
    XV_DATETIME,  /* u.str holds the XenAPI form 20250319T04:16:24Z */
    XV_ARRAY,
    XV_STRUCT,
    /* A value already written by one wire's writer (u.str: its bytes), which copies
     * them as they are; made only for a caller that named its wire (api_peer.wire),
     * never stored, never given to the other writer. */
    XV_RAW_XMLRPC,
    XV_RAW_JSON,
} xv_type;

typedef struct xv xv;

struct xv_member {
    char *key;
    xv *val;
    bool borrowed;               /* key points at a string that outlives the value */
};

struct xv {
    xv_type type;
    bool inline_str;             /* u.str.s lives in the same allocation as the node */
    bool i4;                     /* XV_INT written as an XML-RPC <i4>, not as xapi's int64
                                  * text (xapi's Rpc.Int32: event.from's valid_ref_counts) */
    union {
        struct {
            char *s;
            size_t len;
        } str;
        int64_t i;
        bool b;
        double f;
        struct {
            xv **v;
            size_t n, cap;
        } arr;
        struct {
            struct xv_member *m;
            size_t n, cap;
        } st;
    } u;
};

xv *xv_nil(void);
xv *xv_string(const char *s);
xv *xv_stringn(const char *s, size_t n);
xv *xv_string_take(char *s);              /* takes ownership of s */
xv *xv_int(int64_t i);
xv *xv_i4(int32_t i);                     /* an XV_INT with i4 set */
xv *xv_bool(bool b);
xv *xv_float(double f);
xv *xv_datetime(time_t t);
xv *xv_datetime_str(const char *s);       /* already in XenAPI form */
xv *xv_raw_take(xv_type t, char *s, size_t len); /* t: an XV_RAW_ type; takes s */
xv *xv_array(void);
xv *xv_struct(void);

void xv_array_push(xv *a, xv *item);      /* takes ownership of item */
/* Set key to val (taking ownership of val); replaces an existing member. */
void xv_struct_set(xv *s, const char *key, xv *val);
/* Append without looking for an existing key: for building records fast. */
void xv_struct_append(xv *s, const char *key, xv *val);
/* The same, borrowing key (a string that outlives the struct: a datamodel name). */
void xv_struct_append_static(xv *s, const char *key, xv *val);
xv *xv_struct_get(const xv *s, const char *key);
bool xv_struct_remove(xv *s, const char *key);
const char *xv_struct_get_str(const xv *s, const char *key); /* NULL unless a string */

xv *xv_dup(const xv *v);
void xv_free(xv *v);
bool xv_equal(const xv *a, const xv *b);
const char *xv_type_name(xv_type t);
/* A string view for string-like values (string, datetime); NULL otherwise. */
const char *xv_str(const xv *v);

static inline void xv_freep(xv **v) { xv_free(*v); }
#define _cleanup_xv_ __attribute__((cleanup(xv_freep)))

#endif
