/* From what a guest wrote to what VM_guest_metrics says.  Everything here comes from
 * an untrusted guest: a value that is not what it should be counts as absent. */
#include "guest.h"
#include "dm_gen.h"
#include "util.h"

#include <ctype.h>
#include <string.h>

const char *const guest_key_paths[GK_COUNT] = {
    [GK_MAJOR] = "attr/PVAddons/MajorVersion",
    [GK_MINOR] = "attr/PVAddons/MinorVersion",
    [GK_MICRO] = "attr/PVAddons/MicroVersion",
    [GK_BUILD] = "attr/PVAddons/BuildVersion",
    [GK_INSTALLED] = "attr/PVAddons/Installed",
    [GK_NOT_UPGRADABLE] = "attr/PVAddons/NotUpgradable",
    [GK_OS_NAME] = "data/os_name",
    [GK_OS_UNAME] = "data/os_uname",
    [GK_OS_DISTRO] = "data/os_distro",
    [GK_OS_MAJOR] = "data/os_majorver",
    [GK_OS_MINOR] = "data/os_minorver",
};

#define MAX_TEXT 256 /* of an OS string kept from a guest */

/* A version component: 1 to 9 decimal digits, surrounding blanks allowed. */
static bool component(const char *s, int64_t *out)
{
    if (!s)
        return false;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = 0;
    int64_t v = 0;
    while (isdigit((unsigned char)s[n]) && n < 10)
        v = v * 10 + (s[n++] - '0');
    if (n == 0 || n > 9)
        return false;
    for (const char *p = s + n; *p; p++)
        if (!isspace((unsigned char)*p))
            return false;
    *out = v;
    return true;
}

static bool flag(const char *s)
{
    int64_t v;
    return component(s, &v) && v == 1;
}

bool guest_parse_version(const char *s, int64_t out[4])
{
    memset(out, 0, 4 * sizeof(int64_t));
    if (!s || !*s)
        return false;
    _cleanup_free_ char *copy = xstrdup(s);
    /* split on every dot: an empty part ("1..2", ".1", "1.") is not a number */
    char *part = copy;
    for (int i = 0;; i++) {
        char *dot = strchr(part, '.');
        if (dot)
            *dot = 0;
        if (i == 4 || !component(part, &out[i])) {
            memset(out, 0, 4 * sizeof(int64_t));
            return false;
        }
        if (!dot)
            return true;
        part = dot + 1;
    }
}

/* Printable text of bounded length; NULL stays NULL.  A cut never splits a UTF-8
 * character: it goes back over continuation bytes to the start of the last one. */
static xv *text(const char *s)
{
    size_t n = strnlen(s, MAX_TEXT);
    if (s[n] && ((unsigned char)s[n] & 0xc0) == 0x80) {
        size_t k = n;
        while (k > 0 && n - k < 4 && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
        if (((unsigned char)s[k] & 0xc0) == 0xc0) /* the lead byte of the cut character */
            n = k;
    }
    char *t = xstrndup(s, n);
    for (char *p = t; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return xv_string_take(t);
}

xv *guest_evaluate(char *const raw[GK_COUNT], const int64_t host_tools[4])
{
    static const char *const names[4] = {"major", "minor", "micro", "build"};
    xv *out = xv_struct(), *version = xv_struct(), *os = xv_struct(), *other = xv_struct();
    int64_t v[4] = {0};
    bool have[4] = {false};
    for (int i = 0; i < 4; i++) {
        have[i] = component(raw[GK_MAJOR + i], &v[i]);
        if (have[i])
            xv_struct_append(version, names[i], xv_string_take(xasprintf("%lld", (long long)v[i])));
        else
            v[i] = 0; /* absent parts compare as 0 */
    }
    bool installed = flag(raw[GK_INSTALLED]);
    bool not_upgradable = flag(raw[GK_NOT_UPGRADABLE]);
    bool detected = installed || have[0];
    int cmp = 0;
    for (int i = 0; i < 4 && cmp == 0; i++)
        cmp = v[i] < host_tools[i] ? -1 : v[i] > host_tools[i];
    /* a guest that says it has tools but not which: we cannot call them current */
    bool up_to_date = not_upgradable || (have[0] && cmp >= 0);
    enum tools_status status = not_upgradable ? TOOLS_STATUS_NOT_UPGRADABLE
                               : !detected    ? TOOLS_STATUS_NOT_INSTALLED
                               : up_to_date   ? TOOLS_STATUS_UP_TO_DATE
                                              : TOOLS_STATUS_OUT_OF_DATE;

    static const struct {
        enum guest_key key;
        const char *name;
    } osmap[] = {{GK_OS_NAME, "name"},   {GK_OS_UNAME, "uname"}, {GK_OS_DISTRO, "distro"},
                 {GK_OS_MAJOR, "major"}, {GK_OS_MINOR, "minor"}};
    for (size_t i = 0; i < sizeof(osmap) / sizeof(osmap[0]); i++)
        if (raw[osmap[i].key])
            xv_struct_append(os, osmap[i].name, text(raw[osmap[i].key]));
    if (raw[GK_INSTALLED])
        xv_struct_append(other, "PVAddons-Installed", text(raw[GK_INSTALLED]));
    if (raw[GK_NOT_UPGRADABLE])
        xv_struct_append(other, "PVAddons-NotUpgradable", text(raw[GK_NOT_UPGRADABLE]));

    dm_set(out, DMF_VM_guest_metrics_PV_drivers_version, version);
    dm_set(out, DMF_VM_guest_metrics_PV_drivers_detected, xv_bool(detected));
    dm_set(out, DMF_VM_guest_metrics_PV_drivers_up_to_date, xv_bool(up_to_date));
    dm_set(out, DMF_VM_guest_metrics_tools_status, xv_string(tools_status_name(status)));
    dm_set(out, DMF_VM_guest_metrics_os_version, os);
    dm_set(out, DMF_VM_guest_metrics_other, other);
    return out;
}
