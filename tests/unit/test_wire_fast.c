/* The XML-RPC call reader's fast path (a name and string parameters, read without
 * libxml2) agrees with the tree reader on every body: the shapes clients send, and
 * every one-byte change, insertion, deletion and truncation of them. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "wire.h"
#include "unit.h"

/* Both readers on one body: the same method and parameters, or the same error. */
static void same(const char *body, size_t len)
{
    char *m1 = NULL, *m2 = NULL;
    xv *p1 = NULL, *p2 = NULL;
    xerr *e1 = wire_xmlrpc_parse_call(body, len, &m1, &p1);
    xerr *e2 = wire_xmlrpc_parse_call_tree(body, len, &m2, &p2);
    ck_assert_msg(!e1 == !e2, "one reader failed, not the other, on: %.*s", (int)len, body);
    if (e1) {
        ck_assert_str_eq(e1->code, e2->code);
        ck_assert_uint_eq(e1->nparams, e2->nparams);
        for (size_t i = 0; i < e1->nparams; i++)
            ck_assert_str_eq(e1->params[i], e2->params[i]);
    } else {
        ck_assert_msg(strcmp(m1, m2) == 0, "method %s != %s on: %.*s", m1, m2, (int)len, body);
        ck_assert_msg(xv_equal(p1, p2), "parameters differ on: %.*s", (int)len, body);
    }
    xerr_free(e1);
    xerr_free(e2);
    free(m1);
    free(m2);
    xv_free(p1);
    xv_free(p2);
}

static const char *const shapes[] = {
    /* ours (the bench, xe, the pool link), Python's xmlrpc.client, XenAPI.py */
    "<?xml version=\"1.0\"?>\n<methodCall><methodName>VM.get_record</methodName><params><param><value>"
    "<string>OpaqueRef:9e0b0d6c-2d4f-4c43-a0ae-8d5b9e1f0c11</string></value></param><param><value><string>"
    "OpaqueRef:13d87a26-7a66-4654-a87d-c0e609893159</string></value></param></params></methodCall>\n",
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.get_record</methodName>\n<params>\n<param>\n"
    "<value><string>OpaqueRef:a</string></value>\n</param>\n<param>\n<value><string>OpaqueRef:b</string>"
    "</value>\n</param>\n</params>\n</methodCall>\n",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>session.login_with_password"
    "</methodName><params><param><value>root</value></param><param><value>pass word</value></param>"
    "</params></methodCall>",
    "<methodCall><methodName>system.listMethods</methodName></methodCall>",
    "<methodCall><methodName>system.listMethods</methodName><params></params></methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value></value></param><param><value><string>"
    "</string></value></param></params></methodCall>",
    "\r\n<methodCall>\r\n<methodName>x</methodName>\r\n</methodCall>\r\n",
    "  <methodCall><methodName> spaced \t</methodName></methodCall>",
    /* what the fast path leaves to libxml2 */
    "<methodCall><methodName>x</methodName><params><param><value><i8>42</i8></value></param></params>"
    "</methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value>a&amp;b&#60;</value></param></params>"
    "</methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value><![CDATA[<x>]]></value></param></params>"
    "</methodCall>",
    "<methodCall><!-- c --><methodName>x</methodName></methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value>a\r\nb</value></param></params>"
    "</methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value>caf\xc3\xa9</value></param></params>"
    "</methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value>bad\xff</value></param></params>"
    "</methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value>a>b</value></param></params>"
    "</methodCall>",
    "<methodCall><methodName>x</methodName><params><param><value> <string>s</string> </value></param>"
    "</params></methodCall>",
    "<methodCall><methodName>x</methodName><params/></methodCall>",
    "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><methodCall><methodName>x</methodName></methodCall>",
    "<?xml version=\"1.1\"?><methodCall><methodName>x</methodName></methodCall>",
    " <?xml version=\"1.0\"?><methodCall><methodName>x</methodName></methodCall>",
    "<!DOCTYPE methodCall><methodCall><methodName>x</methodName></methodCall>",
    "<methodCall><methodName>x</methodName></methodCall><extra/>",
    "<methodCall><methodName>x</methodName></methodCall>trailing",
    "<methodCall><methodName>x</methodName><params><param><value><string>a</string></value>"
    "<value>b</value></param></params></methodCall>",
    "",
};

START_TEST(test_shapes)
{
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        same(shapes[i], strlen(shapes[i]));
    /* the common shape reads as it should */
    char *m = NULL;
    xv *p = NULL;
    ck_assert_ptr_null(wire_xmlrpc_parse_call(shapes[1], strlen(shapes[1]), &m, &p));
    ck_assert_str_eq(m, "VM.get_record");
    ck_assert_uint_eq(p->u.arr.n, 2);
    ck_assert_str_eq(xv_str(p->u.arr.v[0]), "OpaqueRef:a");
    ck_assert_str_eq(xv_str(p->u.arr.v[1]), "OpaqueRef:b");
    free(m);
    xv_free(p);
}
END_TEST

/* Every position of the common shapes changed to each of these, or one inserted
 * there, deleted, or cut. */
START_TEST(test_every_byte)
{
    static const char subst[] = {'<', '>', '&', '/', ' ', '\r', '\n', '\t', 'x', '"', '\'', '?', '!', '\x80', '\0'};
    for (size_t s = 0; s < 3; s++) {
        const char *orig = shapes[s];
        size_t len = strlen(orig);
        char *b = xmalloc(len + 2);
        for (size_t i = 0; i < len; i++) {
            for (size_t k = 0; k < sizeof(subst); k++) {
                memcpy(b, orig, len);
                b[i] = subst[k];
                same(b, len);
            }
            memcpy(b, orig, i);
            memcpy(b + i, orig + i + 1, len - i - 1);
            same(b, len - 1);
            same(orig, i);
            for (size_t k = 0; k < sizeof(subst); k++) { /* inserted before i */
                memcpy(b, orig, i);
                b[i] = subst[k];
                memcpy(b + i + 1, orig + i, len - i);
                same(b, len + 1);
            }
        }
        free(b);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("wire_fast");
    TCase *tc = tcase_create("wire_fast");
    tcase_add_test(tc, test_shapes);
    tcase_add_test(tc, test_every_byte);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
