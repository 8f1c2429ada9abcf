#include "config.h"
#include "dm_gen.h"
#include "config_keys.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

struct config {
    size_t n;
    char **values;   /* parallel to config_keys */
};

static long key_index(const char *key)
{
    /* the first byte first: most keys differ there, and every read of a key looks it up
     * (the config fuzzer reads each key four ways per input, under an intercepted strcmp) */
    for (size_t i = 0; config_keys[i].name; i++)
        if (config_keys[i].name[0] == key[0] && strcmp(config_keys[i].name, key) == 0)
            return (long)i;
    return -1;
}

bool config_known(const char *key)
{
    return key_index(key) >= 0;
}

struct config *config_new(void)
{
    struct config *c = xcalloc(1, sizeof(*c));
    while (config_keys[c->n].name)
        c->n++;
    c->values = xcalloc(c->n, sizeof(char *));
    for (size_t i = 0; i < c->n; i++)
        c->values[i] = xstrdup(config_keys[i].def);
    return c;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->values[i]);
    free(c->values);
    free(c);
}

xerr *config_set(struct config *c, const char *key, const char *value)
{
    long i = key_index(key);
    if (i < 0)
        return err_invalid_value("configuration key", key);
    free(c->values[i]);
    c->values[i] = xstrdup(value);
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

xerr *config_load_text(struct config *c, const char *name, const char *text, size_t len)
{
    xerr *e = NULL;
    int lineno = 0;
    for (size_t at = 0; !e && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        /* a copy to cut and trim in place; a NUL in the line ends it there */
        _cleanup_free_ char *line = xstrndup(text + at, n);
        at += n + (nl != NULL);
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return xerr_internal("%s:%d: expected 'key = value'", name, lineno);
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        /* values may be quoted to keep surrounding spaces or to say '' */
        size_t vn = strlen(val);
        if (vn >= 2 && ((val[0] == '"' && val[vn - 1] == '"') || (val[0] == '\'' && val[vn - 1] == '\''))) {
            val[vn - 1] = 0;
            val++;
        }
        if (!config_known(key))
            e = xerr_internal("%s:%d: unknown configuration key '%s'", name, lineno, key);
        else
            e = config_set(c, key, val);
    }
    return e;
}

xerr *config_load_file(struct config *c, const char *path)
{
    size_t len = 0;
    _cleanup_free_ char *text = read_file(path, &len);
    if (!text)
        return xerr_internal("cannot read configuration %s: %s", path, strerror(errno));
    return config_load_text(c, path, text, len);
}

const char *config_get(const struct config *c, const char *key)
{
    long i = key_index(key);
    if (i < 0) {
        /* a programming error: every key used must be declared in keys.c */
        fprintf(stderr, "xenapid: undeclared configuration key '%s'\n", key);
        abort();
    }
    return c->values[i];
}

int64_t config_get_int(const struct config *c, const char *key)
{
    int64_t v = 0;
    parse_int64(config_get(c, key), &v);
    return v;
}

double config_get_double(const struct config *c, const char *key)
{
    const char *s = config_get(c, key);
    char *end;
    double d = strtod(s, &end);
    return (*s && !*end && isfinite(d)) ? d : 0.0;
}

bool config_get_bool(const struct config *c, const char *key)
{
    bool b = false;
    parse_bool(config_get(c, key), &b);
    return b;
}

void config_print_help(FILE *out)
{
    for (size_t i = 0; config_keys[i].name; i++)
        fprintf(out, "  --%s=VALUE\n      %s (default: '%s')\n", config_keys[i].name,
                config_keys[i].help, config_keys[i].def);
}
