/* The platform version registry and its rules: platform_load of good and bad
 * registries, the raise and the membership check over the whole table of (VM
 * version, host versions, features) with the vendor device required at 1 (this
 * project) and at 2 (as shipped xapi numbers it), xapi's printing of a version set,
 * and the capabilities document. */
#include <libgen.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform.h"
#include "util.h"
#include "unit.h"

/* ---- helpers ---- */

static char tmpdir[64];

static void setup(void)
{
    unit_tmpdir(tmpdir, sizeof(tmpdir), "platformtest");
}

static void teardown(void)
{
    unit_tmpdir_remove(tmpdir);
}

/* Write text to a new file in tmpdir; returns its path (caller frees). */
static char *write_file(const char *text)
{
    static int n;
    char *path = xasprintf("%s/registry-%d.xml", tmpdir, n++);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* The registry this project ships: the vendor device is version 1. */
static const char REG_REQ1[] =
    "<?xml version='1.0'?>\n"
    "<platform-registry>\n"
    "  <version number='0'><device name='vga'/><feature name='vendor-device' supported='no'/></version>\n"
    "  <version number='1'><device name='vga'/><device name='xen-pvdevice' id='0xc000'/>\n"
    "    <feature name='vendor-device' supported='yes'/></version>\n"
    "  <feature name='vendor-device' requires='1'/>\n"
    "</platform-registry>\n";

/* As shipped xapi numbers it: the vendor device is version 2, hosts offer 0,1,2. */
static const char REG_REQ2[] =
    "<?xml version='1.0'?>\n"
    "<platform-registry>\n"
    "  <version number='0'><device name='vga'/></version>\n"
    "  <version number='1'><device name='vga'/></version>\n"
    "  <version number='2'><device name='vga'/><device name='xen-pvdevice' id='0xc000'/>\n"
    "    <feature name='vendor-device' supported='yes'/></version>\n"
    "  <feature name='vendor-device' requires='2'/>\n"
    "</platform-registry>\n";

static struct platform *load_ok(const char *text, const char *offered)
{
    _cleanup_free_ char *path = write_file(text);
    struct platform *p = NULL;
    xerr *e = platform_load(path, offered, &p);
    ck_assert_msg(e == NULL, "platform_load(%s, %s) failed: %s %s", text, offered, e ? e->code : "",
                  e && e->nparams ? e->params[0] : "");
    ck_assert_ptr_nonnull(p);
    return p;
}

/* platform_load must fail with code; returns nothing, frees everything. */
static void load_fails(const char *text, const char *offered, const char *code, const char *why)
{
    _cleanup_free_ char *path = write_file(text);
    struct platform *p = NULL;
    xerr *e = platform_load(path, offered, &p);
    ck_assert_msg(e != NULL, "platform_load accepted %s (%s)", why, text);
    ck_assert_str_eq(e->code, code);
    ck_assert_ptr_null(p);
    xerr_free(e);
}

static xv *int_set(const int64_t *v, size_t n)
{
    xv *a = xv_array();
    for (size_t i = 0; i < n; i++)
        xv_array_push(a, xv_int(v[i]));
    return a;
}

static xv *vm_record(bool vendor_device, int64_t version)
{
    xv *r = xv_struct();
    xv_struct_append(r, "name_label", xv_string("vm"));
    xv_struct_append(r, "has_vendor_device", xv_bool(vendor_device));
    xv_struct_append(r, "hardware_platform_version", xv_int(version));
    return r;
}

/* ---- loading ---- */

START_TEST(test_load_shipped_registry)
{
    /* the daemon's own etc/platform.xml, found from this program's place in build/<x>/tests */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = 0;
    char *top = dirname(dirname(dirname(dirname(exe))));
    _cleanup_free_ char *path = xasprintf("%s/etc/platform.xml", top);
    struct platform *p = NULL;
    xerr *e = platform_load(path, "0,1", &p);
    ck_assert_msg(e == NULL, "the shipped registry %s does not load", path);
    ck_assert_int_eq(platform_feature_requires(p, "vendor-device"), 1);
    ck_assert_int_eq(platform_feature_requires(p, "no-such-feature"), -1);
    xv *off = platform_offered(p);
    _cleanup_free_ char *s = platform_format_versions(off);
    ck_assert_str_eq(s, "[0; 1]");
    xv_free(off);
    platform_free(p);
}
END_TEST

START_TEST(test_load_offered)
{
    struct {
        const char *offered, *printed;
    } ok[] = {
        {"0,1", "[0; 1]"}, {"0", "[0]"}, {"1", "[1]"}, {" 1 , 0 ", "[1; 0]"}, {"0,1,1,0", "[0; 1]"},
        {"0 1", "[0; 1]"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct platform *p = load_ok(REG_REQ1, ok[i].offered);
        xv *off = platform_offered(p);
        _cleanup_free_ char *s = platform_format_versions(off);
        ck_assert_msg(strcmp(s, ok[i].printed) == 0, "offered '%s' gives %s", ok[i].offered, s);
        xv_free(off);
        platform_free(p);
    }
    struct platform *p = load_ok(REG_REQ2, "0,1,2");
    ck_assert_int_eq(platform_feature_requires(p, "vendor-device"), 2);
    platform_free(p);
}
END_TEST

START_TEST(test_load_bad_offered)
{
    load_fails(REG_REQ1, "", "INVALID_VALUE", "an empty offer");
    load_fails(REG_REQ1, " , ", "INVALID_VALUE", "an offer of nothing");
    load_fails(REG_REQ1, "a", "INVALID_VALUE", "a version that is not a number");
    load_fails(REG_REQ1, "0,1x", "INVALID_VALUE", "a version with trailing junk");
    load_fails(REG_REQ1, "-1", "INVALID_VALUE", "a negative version");
    load_fails(REG_REQ1, "0,1,2", "INTERNAL_ERROR", "a version the registry does not describe");
    load_fails(REG_REQ2, "0,1,2,3", "INTERNAL_ERROR", "a version the registry does not describe");
}
END_TEST

START_TEST(test_load_bad_registries)
{
    struct platform *p = NULL;
    _cleanup_free_ char *missing = xasprintf("%s/no-such-file.xml", tmpdir);
    xerr *e = platform_load(missing, "0", &p);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->code, "INTERNAL_ERROR");
    ck_assert_ptr_null(p);
    xerr_free(e);

#define V01 "<version number='0'/><version number='1'/>"
#define REQ "<feature name='vendor-device' requires='1'/>"
    load_fails("this is not XML", "0", "INTERNAL_ERROR", "text");
    load_fails("<platform-registry>" V01 REQ, "0", "INTERNAL_ERROR", "unclosed root");
    load_fails("<registry>" V01 REQ "</registry>", "0", "INTERNAL_ERROR", "another root");
    load_fails("<platform-registry><version/>" V01 REQ "</platform-registry>", "0", "INTERNAL_ERROR",
               "a version without a number");
    load_fails("<platform-registry><version number='x'/>" V01 REQ "</platform-registry>", "0", "INTERNAL_ERROR",
               "a version number that is not a number");
    load_fails("<platform-registry><version number='-1'/>" V01 REQ "</platform-registry>", "0", "INTERNAL_ERROR",
               "a negative version number");
    load_fails("<platform-registry>" V01 "<version number='1'/>" REQ "</platform-registry>", "0",
               "INTERNAL_ERROR", "a version described twice");
    load_fails("<platform-registry>" V01 "</platform-registry>", "0", "INTERNAL_ERROR",
               "no requirement for the vendor device the daemon knows");
    load_fails("<platform-registry>" V01 "<feature name='vendor-device'/></platform-registry>", "0",
               "INTERNAL_ERROR", "a requirement without requires");
    load_fails("<platform-registry>" V01 "<feature name='vendor-device' requires='one'/></platform-registry>",
               "0", "INTERNAL_ERROR", "requires that is not a number");
    load_fails("<platform-registry>" V01 "<feature name='vendor-device' requires='-1'/></platform-registry>",
               "0", "INTERNAL_ERROR", "a negative requirement");
    load_fails("<platform-registry>" V01 "<feature requires='1'/>" REQ "</platform-registry>", "0",
               "INTERNAL_ERROR", "a requirement without a name");
    load_fails("<platform-registry>" V01 "<feature name='vendor-device' requires='2'/></platform-registry>", "0",
               "INTERNAL_ERROR", "a requirement of a version the registry does not describe");
    load_fails("<platform-registry>" V01 REQ "<feature name='vendor-device' requires='0'/></platform-registry>",
               "0", "INTERNAL_ERROR", "a feature required twice");
    load_fails("<platform-registry><version number='0'><device doc='x'/></version><version number='1'/>" REQ
               "</platform-registry>",
               "0", "INTERNAL_ERROR", "a device without a name");
    load_fails("<platform-registry><version number='0'><feature name='f' supported='maybe'/></version>"
               "<version number='1'/>" REQ "</platform-registry>",
               "0", "INTERNAL_ERROR", "supported that is neither yes nor no");
#undef V01
#undef REQ
}
END_TEST

/* ---- the rules over the whole table ---- */

struct hostset {
    int64_t v[3];
    size_t n;
    const char *printed;
};

static const struct hostset hostsets[] = {
    {{0}, 1, "[0]"}, {{1}, 1, "[1]"}, {{0, 1}, 2, "[0; 1]"}, {{0, 1, 2}, 3, "[0; 1; 2]"},
    {{2}, 1, "[2]"}, {{0}, 0, "[]"},
};
#define NHOSTSETS (sizeof(hostsets) / sizeof(hostsets[0]))

static void check_table(const char *registry, int64_t requires)
{
    struct platform *p = load_ok(registry, "0");
    ck_assert_int_eq(platform_feature_requires(p, "vendor-device"), requires);
    size_t runs = 0, refusals = 0;
    for (int64_t v = 0; v <= 3; v++) {
        for (int vendor = 0; vendor <= 1; vendor++) {
            xv *vm = vm_record(vendor, v);
            /* what the rules say, written out independently of platform.c */
            int64_t needed = vendor ? requires : 0;
            int64_t raised = v > needed ? v : needed;
            ck_assert_int_eq(platform_version_needed(p, vm), needed);
            ck_assert_msg(platform_raise(p, vm, v) == raised, "raise(v=%lld, vendor=%d, requires=%lld)",
                          (long long)v, vendor, (long long)requires);
            /* the raise never lowers, and raising twice changes nothing */
            ck_assert_int_ge(platform_raise(p, vm, v), v);
            ck_assert_int_eq(platform_raise(p, vm, platform_raise(p, vm, v)), raised);
            for (size_t h = 0; h < NHOSTSETS; h++) {
                xv *set = int_set(hostsets[h].v, hostsets[h].n);
                bool member = false;
                for (size_t i = 0; i < hostsets[h].n; i++)
                    member |= hostsets[h].v[i] == raised;
                ck_assert_msg(platform_host_offers(set, raised) == member,
                              "v=%lld vendor=%d requires=%lld host=%s: expected %s", (long long)v, vendor,
                              (long long)requires, hostsets[h].printed, member ? "runs" : "refused");
                /* membership, not >=: a host offering only higher versions refuses */
                if (hostsets[h].n == 1 && hostsets[h].v[0] > raised)
                    ck_assert(!platform_host_offers(set, raised));
                _cleanup_free_ char *printed = platform_format_versions(set);
                ck_assert_str_eq(printed, hostsets[h].printed);
                member ? runs++ : refusals++;
                xv_free(set);
            }
            xv_free(vm);
        }
    }
    ck_assert_int_eq(runs + refusals, 4 * 2 * NHOSTSETS);
    ck_assert_int_gt(runs, 0);
    ck_assert_int_gt(refusals, 0);
    platform_free(p);
}

START_TEST(test_table_requires_1)
{
    check_table(REG_REQ1, 1);
}
END_TEST

START_TEST(test_table_requires_2)
{
    check_table(REG_REQ2, 2);
}
END_TEST

START_TEST(test_spot_checks)
{
    /* the cases the issue names, spelled out */
    struct platform *p1 = load_ok(REG_REQ1, "0,1"), *p2 = load_ok(REG_REQ2, "0,1,2");
    xv *win = vm_record(true, 0), *plain = vm_record(false, 0);
    int64_t h0[] = {0}, h01[] = {0, 1}, h012[] = {0, 1, 2};
    xv *s0 = int_set(h0, 1), *s01 = int_set(h01, 2), *s012 = int_set(h012, 3);
    ck_assert_int_eq(platform_raise(p1, win, 0), 1);
    ck_assert(platform_host_offers(s01, platform_raise(p1, win, 0)));
    ck_assert(!platform_host_offers(s0, platform_raise(p1, win, 0)));
    ck_assert_int_eq(platform_raise(p2, win, 1), 2);
    ck_assert(!platform_host_offers(s01, platform_raise(p2, win, 1)));
    ck_assert(platform_host_offers(s012, platform_raise(p2, win, 1)));
    ck_assert_int_eq(platform_raise(p1, plain, 0), 0);
    ck_assert(platform_host_offers(s0, 0));
    /* the flag must be a true bool to count */
    xv *odd = vm_record(false, 0);
    xv_struct_set(odd, "has_vendor_device", xv_string("true"));
    ck_assert_int_eq(platform_version_needed(p1, odd), 0);
    xv_struct_remove(odd, "has_vendor_device");
    ck_assert_int_eq(platform_version_needed(p1, odd), 0);
    /* not a set of ints: nothing is offered */
    ck_assert(!platform_host_offers(NULL, 0));
    xv *str = xv_array();
    xv_array_push(str, xv_string("0"));
    ck_assert(!platform_host_offers(str, 0));
    _cleanup_free_ char *none = platform_format_versions(NULL);
    ck_assert_str_eq(none, "[]");
    xv_free(str);
    xv_free(odd);
    xv_free(s0);
    xv_free(s01);
    xv_free(s012);
    xv_free(win);
    xv_free(plain);
    platform_free(p1);
    platform_free(p2);
}
END_TEST

/* ---- capabilities ---- */

static xmlNode *child(xmlNode *n, const char *name, const char *attr, const char *value)
{
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, name) != 0)
            continue;
        if (!attr)
            return c;
        xmlChar *v = xmlGetProp(c, (const xmlChar *)attr);
        bool match = v && strcmp((const char *)v, value) == 0;
        xmlFree(v);
        if (match)
            return c;
    }
    return NULL;
}

static void assert_prop(xmlNode *n, const char *attr, const char *want)
{
    ck_assert_ptr_nonnull(n);
    xmlChar *v = xmlGetProp(n, (const xmlChar *)attr);
    ck_assert_msg(v != NULL, "no %s attribute on <%s>", attr, n->name);
    ck_assert_str_eq((const char *)v, want);
    xmlFree(v);
}

START_TEST(test_capabilities_xml)
{
    struct platform *p = load_ok(REG_REQ2, "0,2");
    _cleanup_free_ char *doc = platform_capabilities_xml(p, "3f0e1f5c-8d39-4a53-9a5e-6a0b3f0b2a01");
    xmlDoc *d = xmlReadMemory(doc, (int)strlen(doc), "caps.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    ck_assert_msg(d != NULL, "not well-formed:\n%s", doc);
    xmlNode *root = xmlDocGetRootElement(d);
    ck_assert_str_eq((const char *)root->name, "platformCapabilities");
    assert_prop(root, "host", "3f0e1f5c-8d39-4a53-9a5e-6a0b3f0b2a01");
    assert_prop(child(root, "version", "number", "0"), "offered", "yes");
    assert_prop(child(root, "version", "number", "1"), "offered", "no");
    xmlNode *v2 = child(root, "version", "number", "2");
    assert_prop(v2, "offered", "yes");
    ck_assert_ptr_null(child(root, "version", "number", "3"));
    xmlNode *pv = child(child(v2, "devices", NULL, NULL), "device", "name", "xen-pvdevice");
    assert_prop(pv, "id", "0xc000");
    assert_prop(pv, "supported", "yes");
    assert_prop(child(child(v2, "features", NULL, NULL), "feature", "name", "vendor-device"), "supported", "yes");
    ck_assert_ptr_null(child(child(child(root, "version", "number", "1"), "devices", NULL, NULL), "device", "name",
                             "xen-pvdevice"));
    assert_prop(child(child(root, "requirements", NULL, NULL), "feature", "name", "vendor-device"), "requires",
                "2");
    xmlFreeDoc(d);
    platform_free(p);
}
END_TEST

START_TEST(test_capabilities_xml_escapes)
{
    /* names the registry may hold must not break the document */
    struct platform *p = load_ok("<platform-registry>"
                                 "<version number='0'><device name='a&amp;b&lt;c&quot;d' id='&apos;x&apos;'/>"
                                 "<feature name='f&gt;g' supported='no'/></version>"
                                 "<version number='1'/>"
                                 "<feature name='vendor-device' requires='1'/>"
                                 "</platform-registry>",
                                 "0,1");
    _cleanup_free_ char *doc = platform_capabilities_xml(p, "h&<\"");
    xmlDoc *d = xmlReadMemory(doc, (int)strlen(doc), "caps.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    ck_assert_msg(d != NULL, "not well-formed:\n%s", doc);
    xmlNode *root = xmlDocGetRootElement(d);
    assert_prop(root, "host", "h&<\"");
    xmlNode *v0 = child(root, "version", "number", "0");
    xmlNode *dev = child(child(v0, "devices", NULL, NULL), "device", "name", "a&b<c\"d");
    assert_prop(dev, "id", "'x'");
    assert_prop(child(child(v0, "features", NULL, NULL), "feature", "name", "f>g"), "supported", "no");
    xmlFreeDoc(d);
    platform_free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("platform");
    TCase *tl = tcase_create("load");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_test(tl, test_load_shipped_registry);
    tcase_add_test(tl, test_load_offered);
    tcase_add_test(tl, test_load_bad_offered);
    tcase_add_test(tl, test_load_bad_registries);
    suite_add_tcase(s, tl);
    TCase *tr = tcase_create("rules");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_test(tr, test_table_requires_1);
    tcase_add_test(tr, test_table_requires_2);
    tcase_add_test(tr, test_spot_checks);
    suite_add_tcase(s, tr);
    TCase *tc = tcase_create("capabilities");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_capabilities_xml);
    tcase_add_test(tc, test_capabilities_xml_escapes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    xmlInitParser();
    int rc = unit_run(suite());
    xmlCleanupParser();
    return rc;
}
