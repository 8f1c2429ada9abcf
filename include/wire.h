/* wire: XML-RPC and JSON encodings of xv values and of the XenAPI envelope.
 *
 * Types are written as xapi writes them (SPEC section 4): strings bare in <value>,
 * ints as bare decimal text, bool as <boolean>, datetime as <dateTime.iso8601>,
 * void as an empty <value/>.  Input accepts every standard XML-RPC scalar tag.
 * Parse errors come back as XMLRPC_UNMARSHAL_FAILURE / JSONRPC_PARSE_ERROR xerrs.
 */
#ifndef XENAPID_WIRE_H
#define XENAPID_WIRE_H

#include "util.h"
#include "xerr.h"
#include "xv.h"

/* Deepest nesting of arrays/structs accepted on input. */
#define WIRE_MAX_DEPTH 64

/* ---- XML-RPC ---- */
xerr *wire_xmlrpc_parse_call(const char *body, size_t len, char **method, xv **params);
/* The same, always through libxml2's tree: wire_xmlrpc_parse_call reads the common
 * shape of a call (a name and string parameters) itself and must agree with this. */
xerr *wire_xmlrpc_parse_call_tree(const char *body, size_t len, char **method, xv **params);
xerr *wire_xmlrpc_parse_response(const char *body, size_t len, xv **value);
void wire_xmlrpc_write_value(buf *b, const xv *v);
/* A document whose root is one XML-RPC <value> (xapi's ova.xml); no DTD accepted. */
xerr *wire_xmlrpc_parse_value(const char *text, size_t len, xv **value);
void wire_xmlrpc_write_call(buf *b, const char *method, const xv *params);
void wire_xmlrpc_write_response(buf *b, const xv *value);

/* ---- JSON ---- */
xerr *wire_json_parse(const char *text, size_t len, xv **out);
void wire_json_write(buf *b, const xv *v);

/* ---- a map written a member at a time (a streamed result) ----
 * The same bytes as the writers above give for the whole: an XML-RPC response
 * wire_xmlrpc_write_response(wire_success(map)) is the map head, each member, the map
 * tail; a JSON object is '{', each member (a comma before all but the first), '}'. */
void wire_xmlrpc_write_map_head(buf *b);
void wire_xmlrpc_write_member(buf *b, const char *key, const xv *v);
void wire_xmlrpc_write_map_tail(buf *b);
/* A member of a struct whose value is an array written an item at a time: its head,
 * each item (wire_xmlrpc_write_value), its tail. */
void wire_xmlrpc_write_array_member_head(buf *b, const char *key);
void wire_xmlrpc_write_array_member_tail(buf *b);
void wire_json_write_member(buf *b, bool first, const char *key, const xv *v);
void wire_json_write_key(buf *b, bool first, const char *key);   /* a member's "key": */

/* ---- the XenAPI envelope ---- */
/* {Status: "Success", Value: value}; takes ownership of value (NULL means void). */
xv *wire_success(xv *value);
/* {Status: "Failure", ErrorDescription: [code, params...]} */
xv *wire_failure(const xerr *e);
/* Undo the envelope: a Success yields its Value (ownership moves to *value), a Failure
 * yields the xerr it carries.  Anything else is an XMLRPC_UNMARSHAL_FAILURE. */
xerr *wire_unwrap(xv *envelope, xv **value);
/* [CODE, param, ...]: an error as ErrorDescription and a task's error_info hold it. */
xv *wire_error_list(const xerr *e);
/* An error as a peer sent it, [CODE, param, ...] (ErrorDescription, a task's
 * error_info): relayed as it came.  NULL when list is not a non-empty array. */
xerr *wire_error_from_list(const xv *list);

#endif
