/* What a guest wrote under attr/PVAddons and data/os_*, and what VM_guest_metrics then
 * says: guest_evaluate over a table of raw values (NULL: the key is absent), as an
 * untrusted guest may write them, and guest_parse_version (the host's
 * guest-tools-version). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"
#include "util.h"
#include "unit.h"

static const int64_t HOST[4] = {1, 2, 3, 4};

/* "major=1,minor=2" in the order major, minor, micro, build, whatever the map's order;
 * "!" if the map has keys besides those. */
static char *version_text(const xv *m)
{
    static const char *const names[4] = {"major", "minor", "micro", "build"};
    buf b;
    buf_init(&b);
    size_t seen = 0;
    for (int i = 0; i < 4; i++) {
        const char *v = xv_struct_get_str(m, names[i]);
        if (v) {
            buf_printf(&b, "%s%s=%s", seen ? "," : "", names[i], v);
            seen++;
        }
    }
    if (seen != m->u.st.n)
        buf_adds(&b, "!");
    return buf_steal(&b);
}

struct row {
    const char *what;
    const char *major, *minor, *micro, *build, *installed, *not_upgradable;
    /* expected */
    const char *version;
    bool detected, up_to_date;
    const char *status;
};

#define NONE NULL

static const struct row rows[] = {
    /* what                         major   minor  micro  build  inst   notupg   version                               det    utd    status */
    {"nothing written",             NONE,   NONE,  NONE,  NONE,  NONE,  NONE,    "",                                   false, false, "not_installed"},
    {"equal",                       "1",    "2",   "3",   "4",   "1",   NONE,    "major=1,minor=2,micro=3,build=4",    true,  true,  "up_to_date"},
    {"equal, without Installed",    "1",    "2",   "3",   "4",   NONE,  NONE,    "major=1,minor=2,micro=3,build=4",    true,  true,  "up_to_date"},
    {"build above",                 "1",    "2",   "3",   "5",   "1",   NONE,    "major=1,minor=2,micro=3,build=5",    true,  true,  "up_to_date"},
    {"build below",                 "1",    "2",   "3",   "3",   "1",   NONE,    "major=1,minor=2,micro=3,build=3",    true,  false, "out_of_date"},
    {"major above, rest lower",     "2",    "0",   "0",   "0",   "1",   NONE,    "major=2,minor=0,micro=0,build=0",    true,  true,  "up_to_date"},
    {"major below, rest higher",    "0",    "99",  "99",  "99",  "1",   NONE,    "major=0,minor=99,micro=99,build=99", true,  false, "out_of_date"},
    {"minor above, no micro/build", "1",    "3",   NONE,  NONE,  "1",   NONE,    "major=1,minor=3",                    true,  true,  "up_to_date"},
    {"missing parts count as 0",    "1",    "2",   NONE,  NONE,  "1",   NONE,    "major=1,minor=2",                    true,  false, "out_of_date"},
    {"major only, above",           "2",    NONE,  NONE,  NONE,  "1",   NONE,    "major=2",                            true,  true,  "up_to_date"},
    {"major only, equal",           "1",    NONE,  NONE,  NONE,  "1",   NONE,    "major=1",                            true,  false, "out_of_date"},
    {"no major: version unknown",   NONE,   "9",   "9",   "9",   "1",   NONE,    "minor=9,micro=9,build=9",            true,  false, "out_of_date"},
    {"Installed without version",   NONE,   NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"Installed=0, nothing else",   NONE,   NONE,  NONE,  NONE,  "0",   NONE,    "",                                   false, false, "not_installed"},
    {"Installed garbage",           NONE,   NONE,  NONE,  NONE,  "yes", NONE,    "",                                   false, false, "not_installed"},
    {"Installed 2",                 NONE,   NONE,  NONE,  NONE,  "2",   NONE,    "",                                   false, false, "not_installed"},
    {"major not a number",          "one",  "2",   "3",   "4",   "1",   NONE,    "minor=2,micro=3,build=4",            true,  false, "out_of_date"},
    {"major negative",              "-1",   "2",   "3",   "4",   "1",   NONE,    "minor=2,micro=3,build=4",            true,  false, "out_of_date"},
    {"major with a plus sign",      "+2",   NONE,  NONE,  NONE,  NONE,  NONE,    "",                                   false, false, "not_installed"},
    {"major hex",                   "0x10", NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"major with exponent",         "1e3",  NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"major dotted",                "2.0",  NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"major empty",                 "",     NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"major blanks only",           "   ",  NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"major 10 digits",             "1000000000", NONE, NONE, NONE, "1", NONE,   "",                                   true,  false, "out_of_date"},
    {"major 9 digits",              "999999999",  NONE, NONE, NONE, "1", NONE,   "major=999999999",                    true,  true,  "up_to_date"},
    {"major 40 digits",             "9999999999999999999999999999999999999999", NONE, NONE, NONE, "1", NONE, "",   true,  false, "out_of_date"},
    {"surrounding blanks allowed",  " 1 ",  "\t2", "3\n", "04",  "1",   NONE,    "major=1,minor=2,micro=3,build=4",    true,  true,  "up_to_date"},
    {"blank inside the number",     "1 0",  NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"trailing junk",               "2abc", NONE,  NONE,  NONE,  "1",   NONE,    "",                                   true,  false, "out_of_date"},
    {"minor garbage counts as 0",   "1",    "x",   "9",   "9",   "1",   NONE,    "major=1,micro=9,build=9",            true,  false, "out_of_date"},
    {"minor garbage, major above",  "2",    "x",   NONE,  NONE,  "1",   NONE,    "major=2",                            true,  true,  "up_to_date"},
    {"NotUpgradable=1, old",        "0",    "1",   "0",   "0",   "1",   "1",     "major=0,minor=1,micro=0,build=0",    true,  true,  "not_upgradable"},
    {"NotUpgradable=1, current",    "1",    "2",   "3",   "4",   "1",   "1",     "major=1,minor=2,micro=3,build=4",    true,  true,  "not_upgradable"},
    {"NotUpgradable=1 alone",       NONE,   NONE,  NONE,  NONE,  NONE,  "1",     "",                                   false, true,  "not_upgradable"},
    {"NotUpgradable=1, Installed",  NONE,   NONE,  NONE,  NONE,  "1",   "1",     "",                                   true,  true,  "not_upgradable"},
    {"NotUpgradable=0, old",        "0",    "1",   "0",   "0",   "1",   "0",     "major=0,minor=1,micro=0,build=0",    true,  false, "out_of_date"},
    {"NotUpgradable=0, current",    "1",    "2",   "3",   "4",   "1",   "0",     "major=1,minor=2,micro=3,build=4",    true,  true,  "up_to_date"},
    {"NotUpgradable garbage",       "0",    NONE,  NONE,  NONE,  "1",   "true",  "major=0",                            true,  false, "out_of_date"},
    {"NotUpgradable empty",         "0",    NONE,  NONE,  NONE,  "1",   "",      "major=0",                            true,  false, "out_of_date"},
    {"NotUpgradable 2",             "0",    NONE,  NONE,  NONE,  "1",   "2",     "major=0",                            true,  false, "out_of_date"},
    {"NotUpgradable -1",            "0",    NONE,  NONE,  NONE,  "1",   "-1",    "major=0",                            true,  false, "out_of_date"},
    {"NotUpgradable 1 with blanks", "0",    NONE,  NONE,  NONE,  "1",   " 1\n",  "major=0",                            true,  true,  "not_upgradable"},
    {"NotUpgradable 11",            "0",    NONE,  NONE,  NONE,  "1",   "11",    "major=0",                            true,  false, "out_of_date"},
    {"NotUpgradable 1 then junk",   "0",    NONE,  NONE,  NONE,  "1",   "1x",    "major=0",                            true,  false, "out_of_date"},
};

START_TEST(test_evaluate_table)
{
    const struct row *r = &rows[_i];
    char *raw[GK_COUNT] = {0};
    raw[GK_MAJOR] = (char *)r->major;
    raw[GK_MINOR] = (char *)r->minor;
    raw[GK_MICRO] = (char *)r->micro;
    raw[GK_BUILD] = (char *)r->build;
    raw[GK_INSTALLED] = (char *)r->installed;
    raw[GK_NOT_UPGRADABLE] = (char *)r->not_upgradable;
    xv *out = guest_evaluate(raw, HOST);
    ck_assert_int_eq(out->type, XV_STRUCT);
    xv *version = xv_struct_get(out, "PV_drivers_version");
    ck_assert_ptr_nonnull(version);
    ck_assert_int_eq(version->type, XV_STRUCT);
    _cleanup_free_ char *vt = version_text(version);
    ck_assert_msg(strcmp(vt, r->version) == 0, "%s: PV_drivers_version %s, expected %s", r->what, vt, r->version);
    xv *det = xv_struct_get(out, "PV_drivers_detected"), *utd = xv_struct_get(out, "PV_drivers_up_to_date");
    ck_assert(det && det->type == XV_BOOL && utd && utd->type == XV_BOOL);
    ck_assert_msg(det->u.b == r->detected, "%s: PV_drivers_detected %d", r->what, det->u.b);
    ck_assert_msg(utd->u.b == r->up_to_date, "%s: PV_drivers_up_to_date %d", r->what, utd->u.b);
    const char *status = xv_struct_get_str(out, "tools_status");
    ck_assert_msg(status && strcmp(status, r->status) == 0, "%s: tools_status %s, expected %s", r->what,
                  status ? status : "(none)", r->status);
    /* nothing of the OS was written */
    xv *os = xv_struct_get(out, "os_version");
    ck_assert(os && os->type == XV_STRUCT);
    ck_assert_int_eq(os->u.st.n, 0);
    /* the raw flags are kept, as the guest wrote them, in other */
    xv *other = xv_struct_get(out, "other");
    ck_assert(other && other->type == XV_STRUCT);
    const char *oi = xv_struct_get_str(other, "PVAddons-Installed");
    const char *on = xv_struct_get_str(other, "PVAddons-NotUpgradable");
    if (r->installed && !strchr(r->installed, '\n') && !strchr(r->installed, '\t'))
        ck_assert_str_eq(oi, r->installed);
    else if (!r->installed)
        ck_assert_ptr_null(oi);
    if (r->not_upgradable && !strchr(r->not_upgradable, '\n'))
        ck_assert_str_eq(on, r->not_upgradable);
    else if (!r->not_upgradable)
        ck_assert_ptr_null(on);
    xv_free(out);
}
END_TEST

/* The fields VM_guest_metrics gets are exactly those, with the datamodel's types. */
START_TEST(test_evaluate_fields)
{
    char *raw[GK_COUNT] = {0};
    xv *out = guest_evaluate(raw, HOST);
    static const char *const want[] = {"PV_drivers_version", "PV_drivers_detected", "PV_drivers_up_to_date",
                                       "tools_status",       "os_version",          "other"};
    ck_assert_int_eq(out->u.st.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(xv_struct_get(out, want[i]) != NULL, "no %s", want[i]);
    xv_free(out);
}
END_TEST

/* Against another host version: the comparison is the host's, not a constant. */
START_TEST(test_evaluate_other_host_versions)
{
    char *raw[GK_COUNT] = {0};
    raw[GK_MAJOR] = "8";
    raw[GK_MINOR] = "2";
    raw[GK_INSTALLED] = "1";
    static const struct {
        int64_t host[4];
        bool utd;
    } cases[] = {
        {{8, 2, 0, 0}, true}, {{8, 2, 0, 1}, false}, {{8, 1, 99, 99}, true}, {{9, 0, 0, 0}, false},
        {{0, 0, 0, 0}, true}, {{999999999, 0, 0, 0}, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xv *out = guest_evaluate(raw, cases[i].host);
        ck_assert_msg(xv_struct_get(out, "PV_drivers_up_to_date")->u.b == cases[i].utd, "host case %zu", i);
        ck_assert_str_eq(xv_struct_get_str(out, "tools_status"), cases[i].utd ? "up_to_date" : "out_of_date");
        xv_free(out);
    }
}
END_TEST

static bool valid_utf8(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t len = *u < 0x80 ? 1 : (*u & 0xe0) == 0xc0 ? 2 : (*u & 0xf0) == 0xe0 ? 3 : (*u & 0xf8) == 0xf0 ? 4 : 0;
        if (!len)
            return false;
        for (size_t i = 1; i < len; i++)
            if ((u[i] & 0xc0) != 0x80)
                return false;
        u += len;
    }
    return true;
}

START_TEST(test_os_strings)
{
    char *raw[GK_COUNT] = {0};
    raw[GK_OS_NAME] = "Debian GNU/Linux 12 (bookworm)";
    raw[GK_OS_UNAME] = "6.1.0-18-amd64\n\x1b[31mred\x7f\t";
    raw[GK_OS_DISTRO] = "";
    raw[GK_OS_MAJOR] = "12";
    /* GK_OS_MINOR absent */
    xv *out = guest_evaluate(raw, HOST);
    xv *os = xv_struct_get(out, "os_version");
    ck_assert_int_eq(os->u.st.n, 4);
    ck_assert_str_eq(xv_struct_get_str(os, "name"), "Debian GNU/Linux 12 (bookworm)");
    /* control characters become blanks: nothing a terminal would act on */
    ck_assert_str_eq(xv_struct_get_str(os, "uname"), "6.1.0-18-amd64  [31mred  ");
    ck_assert_str_eq(xv_struct_get_str(os, "distro"), "");
    ck_assert_str_eq(xv_struct_get_str(os, "major"), "12");
    ck_assert_ptr_null(xv_struct_get(os, "minor"));
    /* the OS keys say nothing about the tools */
    ck_assert_str_eq(xv_struct_get_str(out, "tools_status"), "not_installed");
    xv_free(out);
}
END_TEST

START_TEST(test_os_strings_cut)
{
    char big[4097], exact[257], utf[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    memset(exact, 'b', sizeof(exact) - 1);
    exact[sizeof(exact) - 1] = 0;
    /* "x" then 2-byte characters: byte 256 falls inside one */
    utf[0] = 'x';
    size_t n = 1;
    while (n + 2 < sizeof(utf)) {
        utf[n++] = (char)0xc3;
        utf[n++] = (char)0xa9; /* é */
    }
    utf[n] = 0;
    char *raw[GK_COUNT] = {0};
    raw[GK_OS_NAME] = big;
    raw[GK_OS_UNAME] = exact;
    raw[GK_OS_DISTRO] = utf;
    raw[GK_INSTALLED] = big;
    raw[GK_NOT_UPGRADABLE] = big;
    xv *out = guest_evaluate(raw, HOST);
    xv *os = xv_struct_get(out, "os_version");
    const char *name = xv_struct_get_str(os, "name");
    ck_assert_uint_eq(strlen(name), 256);
    ck_assert(strspn(name, "a") == 256);
    ck_assert_uint_eq(strlen(xv_struct_get_str(os, "uname")), 256);
    const char *distro = xv_struct_get_str(os, "distro");
    ck_assert_uint_le(strlen(distro), 256);
    ck_assert_uint_ge(strlen(distro), 255);
    ck_assert_msg(valid_utf8(distro), "a multibyte character cut in half");
    xv *other = xv_struct_get(out, "other");
    ck_assert_uint_le(strlen(xv_struct_get_str(other, "PVAddons-Installed")), 256);
    ck_assert_uint_le(strlen(xv_struct_get_str(other, "PVAddons-NotUpgradable")), 256);
    ck_assert_str_eq(xv_struct_get_str(out, "tools_status"), "not_installed");
    xv_free(out);
}
END_TEST

/* Every key present with the same hostile value, for many values: no crash, no
 * oversize, a status among the four. */
START_TEST(test_evaluate_hostile_values)
{
    static const char *const values[] = {
        "", " ", "\n", "-0", "0", "1", "01", "4294967296", "18446744073709551616", "-9223372036854775808",
        "\xff\xfe", "1\xff", "\x01", "1.2.3.4", "NaN", "inf", "0x1", "1 1", "١", "%s%n",
    };
    static const char *const statuses[] = {"not_installed", "out_of_date", "up_to_date", "not_upgradable"};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char *raw[GK_COUNT];
        for (int k = 0; k < GK_COUNT; k++)
            raw[k] = (char *)values[i];
        xv *out = guest_evaluate(raw, HOST);
        const char *status = xv_struct_get_str(out, "tools_status");
        bool known = false;
        for (size_t s = 0; s < 4; s++)
            known = known || strcmp(status, statuses[s]) == 0;
        ck_assert_msg(known, "value %zu: status %s", i, status);
        xv *os = xv_struct_get(out, "os_version");
        ck_assert_int_eq(os->u.st.n, 5);
        for (size_t k = 0; k < os->u.st.n; k++)
            for (const char *p = xv_str(os->u.st.m[k].val); *p; p++)
                ck_assert_msg((unsigned char)*p >= 0x20 && *p != 0x7f, "value %zu: control character kept", i);
        xv_free(out);
    }
}
END_TEST

struct pv {
    const char *s;
    bool ok;
    int64_t v[4];
};

static const struct pv parse_rows[] = {
    {"8.2.1.0", true, {8, 2, 1, 0}},
    {"1.0.0.0", true, {1, 0, 0, 0}},
    {"8", true, {8, 0, 0, 0}},
    {"8.2", true, {8, 2, 0, 0}},
    {"8.2.1", true, {8, 2, 1, 0}},
    {"0", true, {0, 0, 0, 0}},
    {"999999999.999999999.999999999.999999999", true, {999999999, 999999999, 999999999, 999999999}},
    {"010.2", true, {10, 2, 0, 0}},
    {"", false, {0}},
    {".", false, {0}},
    {"1.2.3.4.5", false, {0}},
    {"1..2", false, {0}},
    {".1", false, {0}},
    {"1.", false, {0}},
    {"1.2.3.", false, {0}},
    {"a.b", false, {0}},
    {"1.x", false, {0}},
    {"-1.0", false, {0}},
    {"1.-2", false, {0}},
    {"+1", false, {0}},
    {"1000000000.0", false, {0}},
    {"1,2", false, {0}},
    {"1 .2", true, {1, 2, 0, 0}}, /* blanks around a part, as for the guest's keys */
    {"v1.0", false, {0}},
};

START_TEST(test_parse_version)
{
    const struct pv *r = &parse_rows[_i];
    int64_t out[4] = {-7, -7, -7, -7};
    bool ok = guest_parse_version(r->s, out);
    ck_assert_msg(ok == r->ok, "'%s': %s", r->s, ok ? "accepted" : "refused");
    if (ok)
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == r->v[i], "'%s' part %d: %lld", r->s, i, (long long)out[i]);
}
END_TEST

START_TEST(test_parse_version_null_and_long)
{
    int64_t out[4];
    ck_assert(!guest_parse_version(NULL, out));
    char big[5000];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    ck_assert(!guest_parse_version(big, out));
    for (size_t i = 1; i < sizeof(big) - 1; i += 2)
        big[i] = '.';
    ck_assert(!guest_parse_version(big, out));
}
END_TEST

START_TEST(test_key_paths)
{
    ck_assert_str_eq(guest_key_paths[GK_MAJOR], "attr/PVAddons/MajorVersion");
    ck_assert_str_eq(guest_key_paths[GK_MINOR], "attr/PVAddons/MinorVersion");
    ck_assert_str_eq(guest_key_paths[GK_MICRO], "attr/PVAddons/MicroVersion");
    ck_assert_str_eq(guest_key_paths[GK_BUILD], "attr/PVAddons/BuildVersion");
    ck_assert_str_eq(guest_key_paths[GK_INSTALLED], "attr/PVAddons/Installed");
    ck_assert_str_eq(guest_key_paths[GK_NOT_UPGRADABLE], "attr/PVAddons/NotUpgradable");
    ck_assert_str_eq(guest_key_paths[GK_OS_NAME], "data/os_name");
    ck_assert_str_eq(guest_key_paths[GK_OS_UNAME], "data/os_uname");
    ck_assert_str_eq(guest_key_paths[GK_OS_DISTRO], "data/os_distro");
    ck_assert_str_eq(guest_key_paths[GK_OS_MAJOR], "data/os_majorver");
    ck_assert_str_eq(guest_key_paths[GK_OS_MINOR], "data/os_minorver");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("guest");
    TCase *tc = tcase_create("evaluate");
    tcase_add_loop_test(tc, test_evaluate_table, 0, (int)(sizeof(rows) / sizeof(rows[0])));
    tcase_add_test(tc, test_evaluate_fields);
    tcase_add_test(tc, test_evaluate_other_host_versions);
    tcase_add_test(tc, test_os_strings);
    tcase_add_test(tc, test_os_strings_cut);
    tcase_add_test(tc, test_evaluate_hostile_values);
    tcase_add_test(tc, test_key_paths);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("parse_version");
    tcase_add_loop_test(tp, test_parse_version, 0, (int)(sizeof(parse_rows) / sizeof(parse_rows[0])));
    tcase_add_test(tp, test_parse_version_null_and_long);
    suite_add_tcase(s, tp);
    return s;
}

UNIT_MAIN(suite)
