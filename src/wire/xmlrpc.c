/* XML-RPC codec.  Input is parsed with libxml2 into a tree (no network, no DTD, no
 * entity substitution), then walked into xv values; output is written directly. */
#include "wire.h"
#include "dm_gen.h"

#include <assert.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static xerr *unmarshal_error(const char *expected, const char *received)
{
    return err_xmlrpc_unmarshal_failure(expected, received);
}

/* The element children of n, skipping whitespace text and comments. */
static xmlNode *first_elem(xmlNode *n)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

static xmlNode *next_elem(xmlNode *n)
{
    for (xmlNode *c = n->next; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

static bool is(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Concatenated text content of an element, without allocation for the common
 * single-text-node case.  *owned is set when the caller must free the result. */
static const char *text_of(xmlNode *n, size_t *len, char **owned)
{
    *owned = NULL;
    xmlNode *c = n->children;
    if (!c) {
        *len = 0;
        return "";
    }
    if (!c->next && (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)) {
        *len = strlen((const char *)c->content);
        return (const char *)c->content;
    }
    xmlChar *t = xmlNodeGetContent(n);
    *owned = xstrdup((const char *)t);
    xmlFree(t);
    *len = strlen(*owned);
    return *owned;
}

static xerr *parse_value(xmlNode *v, int depth, xv **out);

static xerr *parse_scalar(xmlNode *t, xv **out)
{
    size_t len;
    char *owned;
    const char *s = text_of(t, &len, &owned);
    const char *name = (const char *)t->name;
    xerr *e = NULL;
    if (strcmp(name, "string") == 0) {
        *out = xv_stringn(s, len);
    } else if (strcmp(name, "int") == 0 || strcmp(name, "i4") == 0 || strcmp(name, "i8") == 0) {
        int64_t i;
        const char *p = s;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        _cleanup_free_ char *trimmed = xstrdup(p);
        for (size_t k = strlen(trimmed); k && strchr(" \t\r\n", trimmed[k - 1]); k--)
            trimmed[k - 1] = 0;
        if (trimmed[0] == '+')
            memmove(trimmed, trimmed + 1, strlen(trimmed));
        if (parse_int64(trimmed, &i))
            *out = xv_int(i);
        else
            e = unmarshal_error("int", s);
    } else if (strcmp(name, "boolean") == 0) {
        if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
            *out = xv_bool(true);
        else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
            *out = xv_bool(false);
        else
            e = unmarshal_error("boolean", s);
    } else if (strcmp(name, "double") == 0) {
        char *end;
        double d = strtod(s, &end);
        if (len == 0 || *end || !isfinite(d))
            e = unmarshal_error("double", s);
        else
            *out = xv_float(d);
    } else if (strcmp(name, "dateTime.iso8601") == 0) {
        time_t tt;
        if (time_from_xapi(s, &tt))
            *out = xv_datetime(tt);
        else
            e = unmarshal_error("dateTime.iso8601", s);
    } else if (strcmp(name, "nil") == 0) {
        *out = xv_nil();
    } else {
        e = unmarshal_error("an XML-RPC value", name);
    }
    free(owned);
    return e;
}

static xerr *parse_value(xmlNode *v, int depth, xv **out)
{
    *out = NULL;
    if (depth > WIRE_MAX_DEPTH)
        return unmarshal_error("value", "nesting too deep");
    if (!is(v, "value"))
        return unmarshal_error("value", v ? (const char *)v->name : "nothing");
    xmlNode *t = first_elem(v);
    if (!t) { /* a bare <value>text</value> is a string */
        size_t len;
        char *owned;
        const char *s = text_of(v, &len, &owned);
        *out = xv_stringn(s, len);
        free(owned);
        return NULL;
    }
    if (next_elem(t))
        return unmarshal_error("one element in value", "several");
    if (is(t, "array")) {
        xmlNode *data = first_elem(t);
        if (!is(data, "data"))
            return unmarshal_error("data", data ? (const char *)data->name : "nothing");
        xv *a = xv_array();
        for (xmlNode *c = first_elem(data); c; c = next_elem(c)) {
            xv *item;
            xerr *e = parse_value(c, depth + 1, &item);
            if (e) {
                xv_free(a);
                return e;
            }
            xv_array_push(a, item);
        }
        *out = a;
        return NULL;
    }
    if (is(t, "struct")) {
        xv *s = xv_struct();
        for (xmlNode *m = first_elem(t); m; m = next_elem(m)) {
            xmlNode *name = first_elem(m);
            xmlNode *val = name ? next_elem(name) : NULL;
            if (!is(m, "member") || !is(name, "name") || !val) {
                xv_free(s);
                return unmarshal_error("member with name and value", (const char *)m->name);
            }
            size_t len;
            char *owned;
            const char *key = text_of(name, &len, &owned);
            _cleanup_free_ char *k = xstrndup(key, len);
            free(owned);
            xv *item;
            xerr *e = parse_value(val, depth + 1, &item);
            if (e) {
                xv_free(s);
                return e;
            }
            xv_struct_set(s, k, item);
        }
        *out = s;
        return NULL;
    }
    return parse_scalar(t, out);
}

/* A parser context per thread, reused: making one (its name dictionary above all)
 * costs as much as parsing a request.  It is renewed every PARSER_REUSES parses so
 * that what a client puts in its dictionary cannot pile up. */
#define PARSER_REUSES 1000

static pthread_key_t parser_key;
static pthread_once_t parser_once = PTHREAD_ONCE_INIT;

struct parser {
    xmlParserCtxt *ctxt;
    unsigned uses;
};

static void parser_free(void *p)
{
    struct parser *pr = p;
    xmlFreeParserCtxt(pr->ctxt);
    free(pr);
}

static void parser_key_init(void)
{
    pthread_key_create(&parser_key, parser_free);
}

static xmlParserCtxt *thread_parser(void)
{
    pthread_once(&parser_once, parser_key_init);
    struct parser *pr = pthread_getspecific(parser_key);
    if (pr && ++pr->uses > PARSER_REUSES) {
        xmlFreeParserCtxt(pr->ctxt);
        pr->ctxt = NULL;
    }
    if (!pr) {
        pr = xcalloc(1, sizeof(*pr));
        pthread_setspecific(parser_key, pr);
    }
    if (!pr->ctxt) {
        pr->ctxt = xmlNewParserCtxt();
        pr->uses = 0;
    }
    return pr->ctxt;
}

static xerr *read_doc(const char *body, size_t len, xmlDoc **doc)
{
    if (len > (size_t)INT32_MAX)
        return unmarshal_error("XML document", "too large");
    xmlParserCtxt *ctxt = thread_parser();
    if (!ctxt)
        return xerr_internal("out of memory creating an XML parser");
    *doc = xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL,
                             XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xerr *e = NULL;
    if (!*doc) {
        const xmlError *le = xmlCtxtGetLastError(ctxt);
        char msg[256];
        snprintf(msg, sizeof(msg), "malformed XML at line %d: %s", le ? le->line : 0,
                 le && le->message ? le->message : "unknown error");
        msg[strcspn(msg, "\n")] = 0;
        e = unmarshal_error("XML document", msg);
    } else if ((*doc)->intSubset || (*doc)->extSubset) {
        /* No client of this API sends a DTD; refusing them rules out entity tricks. */
        e = unmarshal_error("XML document", "DTDs are not accepted");
        xmlFreeDoc(*doc);
        *doc = NULL;
    }
    return e;
}

/* ---- the common call, without a tree ----
 * Nearly every call a client sends is a method name and string parameters, written
 * the one way every XenAPI binding writes them.  Such a body is read here directly;
 * anything else, or anything this reader is not sure of (entities, CDATA, comments,
 * a '>' or a byte outside printable ASCII in text, another XML declaration), goes to
 * libxml2 as before, so the two can only agree (tests/unit/test_wire.c compares them
 * on every shape). */

struct scan {
    const char *p, *end;
};

static bool lit(struct scan *s, const char *l, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, l, n) != 0)
        return false;
    s->p += n;
    return true;
}
#define LIT(s, l) lit((s), "" l, sizeof(l) - 1)

static void skip_space(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Text up to the next '<': printable ASCII but '&' and '>', tab and newline (no
 * carriage return: XML turns it into a newline). */
static bool plain_text(struct scan *s, const char **t, size_t *n)
{
    const char *q = s->p;
    while (q < s->end && *q != '<') {
        unsigned char ch = (unsigned char)*q;
        if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch > 0x7e || ch == '&' || ch == '>')
            return false;
        q++;
    }
    if (q == s->end)
        return false;
    *t = s->p;
    *n = (size_t)(q - s->p);
    s->p = q;
    return true;
}

/* <value>TEXT</value> or <value><string>TEXT</string></value> */
static bool fast_value(struct scan *s, xv **out)
{
    const char *t;
    size_t n;
    if (!LIT(s, "<value>"))
        return false;
    bool typed = LIT(s, "<string>");
    if (!plain_text(s, &t, &n))
        return false;
    if (typed && !LIT(s, "</string>"))
        return false;
    if (!LIT(s, "</value>"))
        return false;
    *out = xv_stringn(t, n);
    return true;
}

static bool fast_parse_call(const char *body, size_t len, char **method, xv **params)
{
    static const char *const decls[] = {
        "<?xml version=\"1.0\"?>", "<?xml version='1.0'?>", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>", "<?xml version='1.0' encoding='UTF-8'?>",
        "<?xml version='1.0' encoding='utf-8'?>",
    };
    struct scan s = {body, body + len};
    if (len && body[0] == '<' && len > 1 && body[1] == '?') {
        size_t i = 0;
        while (i < sizeof(decls) / sizeof(decls[0]) && !lit(&s, decls[i], strlen(decls[i])))
            i++;
        if (i == sizeof(decls) / sizeof(decls[0]))
            return false;
    }
    skip_space(&s);
    const char *m;
    size_t mlen;
    if (!LIT(&s, "<methodCall>"))
        return false;
    skip_space(&s);
    if (!LIT(&s, "<methodName>") || !plain_text(&s, &m, &mlen) || !LIT(&s, "</methodName>"))
        return false;
    skip_space(&s);
    xv *arr = xv_array();
    if (LIT(&s, "<params>")) {
        skip_space(&s);
        while (LIT(&s, "<param>")) {
            xv *v = NULL;
            skip_space(&s);
            if (!fast_value(&s, &v)) {
                xv_free(arr);
                return false;
            }
            xv_array_push(arr, v);
            skip_space(&s);
            if (!LIT(&s, "</param>")) {
                xv_free(arr);
                return false;
            }
            skip_space(&s);
        }
        if (!LIT(&s, "</params>")) {
            xv_free(arr);
            return false;
        }
        skip_space(&s);
    }
    if (!LIT(&s, "</methodCall>")) {
        xv_free(arr);
        return false;
    }
    skip_space(&s);
    if (s.p != s.end) {
        xv_free(arr);
        return false;
    }
    *method = xstrndup(m, mlen);
    *params = arr;
    return true;
}

xerr *wire_xmlrpc_parse_call(const char *body, size_t len, char **method, xv **params)
{
    *method = NULL;
    *params = NULL;
    if (fast_parse_call(body, len, method, params))
        return NULL;
    return wire_xmlrpc_parse_call_tree(body, len, method, params);
}

xerr *wire_xmlrpc_parse_call_tree(const char *body, size_t len, char **method, xv **params)
{
    xmlDoc *doc;
    *method = NULL;
    *params = NULL;
    xerr *e = read_doc(body, len, &doc);
    if (e)
        return e;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *mn = first_elem(root);
    if (!is(root, "methodCall") || !is(mn, "methodName")) {
        e = unmarshal_error("methodCall with methodName", root ? (const char *)root->name : "nothing");
        goto out;
    }
    size_t mlen;
    char *owned;
    const char *m = text_of(mn, &mlen, &owned);
    *method = xstrndup(m, mlen);
    free(owned);
    xv *arr = xv_array();
    xmlNode *ps = next_elem(mn);
    if (ps && !is(ps, "params")) {
        xv_free(arr);
        e = unmarshal_error("params", (const char *)ps->name);
        goto out;
    }
    for (xmlNode *p = ps ? first_elem(ps) : NULL; p; p = next_elem(p)) {
        xv *v;
        if (!is(p, "param")) {
            e = unmarshal_error("param", (const char *)p->name);
        } else if ((e = parse_value(first_elem(p), 0, &v)) == NULL) {
            xv_array_push(arr, v);
            continue;
        }
        xv_free(arr);
        goto out;
    }
    *params = arr;
out:
    if (e) {
        free(*method);
        *method = NULL;
    }
    xmlFreeDoc(doc);
    return e;
}

xerr *wire_xmlrpc_parse_value(const char *text, size_t len, xv **value)
{
    xmlDoc *doc;
    *value = NULL;
    xerr *e = read_doc(text, len, &doc);
    if (e)
        return e;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!is(root, "value"))
        e = unmarshal_error("value", root ? (const char *)root->name : "nothing");
    else
        e = parse_value(root, 0, value);
    xmlFreeDoc(doc);
    return e;
}

xerr *wire_xmlrpc_parse_response(const char *body, size_t len, xv **value)
{
    xmlDoc *doc;
    *value = NULL;
    xerr *e = read_doc(body, len, &doc);
    if (e)
        return e;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *c = first_elem(root);
    if (!is(root, "methodResponse") || !c) {
        e = unmarshal_error("methodResponse", root ? (const char *)root->name : "nothing");
    } else if (is(c, "params")) {
        xmlNode *p = first_elem(c);
        if (!is(p, "param"))
            e = unmarshal_error("param", p ? (const char *)p->name : "nothing");
        else
            e = parse_value(first_elem(p), 0, value);
    } else if (is(c, "fault")) {
        xv *f = NULL;
        e = parse_value(first_elem(c), 0, &f);
        if (!e) {
            const char *fs = xv_struct_get_str(f, "faultString");
            xv *code = xv_struct_get(f, "faultCode");
            char cbuf[32] = "";
            if (code && code->type == XV_INT)
                snprintf(cbuf, sizeof(cbuf), "%lld", (long long)code->u.i);
            e = err_xmlrpc_fault(cbuf, fs ? fs : "");
        }
        xv_free(f);
    } else {
        e = unmarshal_error("params or fault", (const char *)c->name);
    }
    xmlFreeDoc(doc);
    return e;
}

/* Shortest decimal text that reads back as the same double. */
static void write_double(buf *b, double d)
{
    char tmp[40];
    if (!isfinite(d)) { /* XML-RPC has no spelling for these */
        buf_adds(b, "0");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    buf_adds(b, tmp);
}

void wire_xmlrpc_write_value(buf *b, const xv *v)
{
    switch (v->type) {
    case XV_NIL:
        buf_addlit(b, "<value/>");
        break;
    case XV_STRING:
        buf_addlit(b, "<value>");
        buf_add_xml(b, v->u.str.s, v->u.str.len);
        buf_addlit(b, "</value>");
        break;
    case XV_INT:
        if (v->i4) {
            buf_addlit(b, "<value><i4>");
            buf_add_int(b, v->u.i);
            buf_addlit(b, "</i4></value>");
            break;
        }
        buf_addlit(b, "<value>");
        buf_add_int(b, v->u.i);
        buf_addlit(b, "</value>");
        break;
    case XV_BOOL:
        if (v->u.b)
            buf_addlit(b, "<value><boolean>1</boolean></value>");
        else
            buf_addlit(b, "<value><boolean>0</boolean></value>");
        break;
    case XV_FLOAT:
        buf_addlit(b, "<value><double>");
        write_double(b, v->u.f);
        buf_addlit(b, "</double></value>");
        break;
    case XV_DATETIME:
        buf_addlit(b, "<value><dateTime.iso8601>");
        buf_add_xml(b, v->u.str.s, v->u.str.len);
        buf_addlit(b, "</dateTime.iso8601></value>");
        break;
    case XV_ARRAY:
        buf_addlit(b, "<value><array><data>");
        for (size_t i = 0; i < v->u.arr.n; i++)
            wire_xmlrpc_write_value(b, v->u.arr.v[i]);
        buf_addlit(b, "</data></array></value>");
        break;
    case XV_STRUCT:
        buf_addlit(b, "<value><struct>");
        for (size_t i = 0; i < v->u.st.n; i++)
            wire_xmlrpc_write_member(b, v->u.st.m[i].key, v->u.st.m[i].val);
        buf_addlit(b, "</struct></value>");
        break;
    case XV_RAW_XMLRPC:
        buf_add(b, v->u.str.s, v->u.str.len);
        break;
    case XV_RAW_JSON: /* never made for this wire (api_peer.wire) */
        assert(!"JSON bytes given to the XML-RPC writer");
        buf_addlit(b, "<value/>");
        break;
    }
}

void wire_xmlrpc_write_member(buf *b, const char *key, const xv *v)
{
    buf_addlit(b, "<member><name>");
    buf_add_xml(b, key, strlen(key));
    buf_addlit(b, "</name>");
    wire_xmlrpc_write_value(b, v);
    buf_addlit(b, "</member>");
}

void wire_xmlrpc_write_call(buf *b, const char *method, const xv *params)
{
    buf_adds(b, "<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    buf_add_xml(b, method, strlen(method));
    buf_adds(b, "</methodName><params>");
    for (size_t i = 0; params && i < params->u.arr.n; i++) {
        buf_adds(b, "<param>");
        /* Ints go out typed so that other servers (and xmlrpc.client) read them as ints. */
        const xv *p = params->u.arr.v[i];
        if (p->type == XV_INT)
            buf_printf(b, "<value><i8>%lld</i8></value>", (long long)p->u.i);
        else
            wire_xmlrpc_write_value(b, p);
        buf_adds(b, "</param>");
    }
    buf_adds(b, "</params></methodCall>\n");
}

#define RESPONSE_HEAD "<?xml version=\"1.0\"?>\n<methodResponse><params><param>"
#define RESPONSE_TAIL "</param></params></methodResponse>\n"

void wire_xmlrpc_write_response(buf *b, const xv *value)
{
    buf_reserve(b, 8192); /* a record's response, at once */
    buf_addlit(b, RESPONSE_HEAD);
    wire_xmlrpc_write_value(b, value);
    buf_addlit(b, RESPONSE_TAIL);
}

/* wire_success's struct, {Status: Success, Value: <the map>}, around the members */
void wire_xmlrpc_write_map_head(buf *b)
{
    buf_addlit(b, RESPONSE_HEAD "<value><struct><member><name>Status</name><value>Success</value></member>"
                  "<member><name>Value</name><value><struct>");
}

void wire_xmlrpc_write_map_tail(buf *b)
{
    buf_addlit(b, "</struct></value></member></struct></value>" RESPONSE_TAIL);
}

void wire_xmlrpc_write_array_member_head(buf *b, const char *key)
{
    buf_addlit(b, "<member><name>");
    buf_add_xml(b, key, strlen(key));
    buf_addlit(b, "</name><value><array><data>");
}

void wire_xmlrpc_write_array_member_tail(buf *b)
{
    buf_addlit(b, "</data></array></value></member>");
}
