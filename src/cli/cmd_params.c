/* The generic commands every class gets: <x>-list, <x>-param-list, -param-get,
 * -param-set, -param-add, -param-remove, -param-clear.  Nothing here knows a field:
 * the datamodel says what each param is and whether it can be written. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* <x>-list's params=: the columns, or all of them. */
static xerr *columns(struct cli *c, const struct cli_class *cc, const struct cli_pdesc ***out, size_t *n)
{
    const char *spec = cli_arg(c, "params");
    size_t np;
    const struct cli_pdesc *all = cli_params(cc, &np);
    *out = xcalloc(np + 1, sizeof(**out));
    *n = 0;
    if (spec && strcmp(spec, "all") == 0) {
        for (size_t i = 0; i < np; i++)
            if (!all[i].message)
                (*out)[(*n)++] = &all[i];
        return NULL;
    }
    _cleanup_free_ char *list = xstrdup(spec ? spec : cc->list_params);
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        const struct cli_pdesc *d = cli_param_find(cc, p);
        if (!d) {
            free(*out);
            *out = NULL;
            return cli_usage("Unknown parameter '%s' in params=: %s objects have no such field.", p,
                             cc->display);
        }
        if (*n < np)
            (*out)[(*n)++] = d;
    }
    return NULL;
}

static void print_records(struct cli *c, struct cli_record *recs, size_t n, const struct cli_pdesc *only)
{
    if (c->o->minimal) {
        /* --minimal: the uuids, or the one column asked for */
        for (size_t i = 0; i < n; i++) {
            const struct cli_param *p = cli_record_get(&recs[i], only ? only->name : "uuid");
            printf("%s%s", i ? "," : "", p ? p->value : "");
        }
        putchar('\n');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        cli_record_print(&recs[i]);
        fputs("\n\n", stdout);
    }
}

xerr *cmd_list(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    const struct cli_pdesc **cols = NULL;
    size_t ncols = 0;
    xerr *e = columns(c, cc, &cols, &ncols);
    if (e)
        return e;
    /* the uuid is always fetched so that --minimal can print it */
    const struct cli_pdesc *uuid = cli_param_find(cc, "uuid");
    bool have_uuid = false;
    for (size_t i = 0; i < ncols; i++)
        have_uuid |= cols[i] == uuid;
    xv *all = NULL;
    _cleanup_free_ char *m = xasprintf("%s.get_all_records", cc->cls);
    e = cli_call(c, &all, m, NULL);
    struct cli_record *recs = NULL;
    size_t n = 0;
    for (size_t i = 0; !e && i < all->u.st.n; i++) {
        const char *ref = all->u.st.m[i].key;
        const xv *rec = all->u.st.m[i].val;
        bool match = cli_visible(c, cc, rec, cc->list_hide);
        if (match)
            e = cli_filters_match(c, cc, ref, rec, &match);
        if (e || !match)
            continue;
        recs = xrealloc(recs, (n + 1) * sizeof(*recs));
        const struct cli_pdesc *want[ncols + 1];
        memcpy(want, cols, ncols * sizeof(*cols));
        size_t nwant = ncols;
        if (!have_uuid && c->o->minimal && ncols != 1)
            want[nwant++] = uuid;
        e = cli_record_build(c, cc, ref, rec, want, nwant, &recs[n]);
        if (!e)
            n++;
    }
    xv_free(all);
    if (!e)
        print_records(c, recs, n, ncols == 1 ? cols[0] : NULL);
    for (size_t i = 0; i < n; i++)
        cli_record_free(&recs[i]);
    free(recs);
    free(cols);
    return e;
}

/* The object a param command works on: uuid=, or the only one (the pool). */
static xerr *the_object(struct cli *c, const struct cli_class *cc, char **ref, xv **rec)
{
    const char *uuid = cli_arg(c, "uuid");
    xv *v = NULL;
    xerr *e;
    *ref = NULL;
    *rec = NULL;
    if (uuid) {
        _cleanup_free_ char *m = xasprintf("%s.get_by_uuid", cc->cls);
        e = cli_call(c, &v, m, xv_string(uuid), NULL);
        if (e)
            return e;
        *ref = xstrdup(xv_str(v) ? xv_str(v) : "");
        xv_free(v);
    } else {
        _cleanup_free_ char *m = xasprintf("%s.get_all", cc->cls);
        e = cli_call(c, &v, m, NULL);
        if (e)
            return e;
        if (v->u.arr.n == 1)
            *ref = xstrdup(xv_str(v->u.arr.v[0]));
        xv_free(v);
        if (!*ref)
            return cli_usage("Required parameter not found: uuid. See 'xe help %s'.", c->cmd->name);
    }
    _cleanup_free_ char *m = xasprintf("%s.get_record", cc->cls);
    e = cli_call(c, rec, m, xv_string(*ref), NULL);
    if (e) {
        free(*ref);
        *ref = NULL;
    }
    return e;
}

xerr *cmd_param_list(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    _cleanup_free_ char *ref = NULL;
    xv *rec = NULL;
    xerr *e = the_object(c, cc, &ref, &rec);
    if (e)
        return e;
    size_t np;
    const struct cli_pdesc *all = cli_params(cc, &np);
    const struct cli_pdesc *want[np + 1];
    for (size_t i = 0; i < np; i++)
        want[i] = &all[i];
    struct cli_record r;
    e = cli_record_build(c, cc, ref, rec, want, np, &r);
    xv_free(rec);
    if (e)
        return e;
    cli_record_print(&r);
    fputs("\n\n", stdout);
    cli_record_free(&r);
    return NULL;
}

static xerr *find_param(const struct cli_class *cc, const char *name,
                        const struct cli_pdesc **d)
{
    *d = cli_param_find(cc, name);
    if (!*d)
        return cli_usage("Unknown parameter name '%s': %s objects have no such field. See 'xe %s-param-list'.",
                         name, cc->display, cc->prefix);
    return NULL;
}

xerr *cmd_param_get(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    const char *name = cli_arg(c, "param-name"), *key = cli_arg(c, "param-key");
    const struct cli_pdesc *d;
    xerr *e = find_param(cc, name, &d);
    if (e)
        return e;
    if (key && !(d->field && d->field->type->kind == DM_MAP))
        return cli_usage("param-key= applies to map parameters; %s is not one.", name);
    _cleanup_free_ char *ref = NULL;
    xv *rec = NULL;
    e = the_object(c, cc, &ref, &rec);
    if (e)
        return e;
    struct cli_record r;
    e = cli_record_build(c, cc, ref, rec, &d, 1, &r);
    xv_free(rec);
    if (e)
        return e;
    if (key) {
        const xv *v = r.p[0].raw ? xv_struct_get(r.p[0].raw, key) : NULL;
        if (v) {
            _cleanup_free_ char *s = cli_format(c, d->field->type->val, v, c->o->minimal);
            printf("%s\n", s);
        } else {
            e = cli_fail("Key %s not found in map %s.", key, name);
        }
    } else {
        printf("%s\n", r.p[0].value);
    }
    cli_record_free(&r);
    return e;
}

/* A param this command may change: a field of the class itself, writable by the CLI. */
static xerr *settable(const struct cli_class *cc, const char *name, const struct cli_pdesc **d)
{
    *d = cli_param_find(cc, name);
    if (!*d)
        return cli_usage("Unknown parameter name '%s': %s objects have no such field.", name, cc->display);
    if (!(*d)->field || (*d)->via || !(*d)->writable)
        return cli_fail("The parameter '%s' is read-only.", name);
    return NULL;
}

struct setting {
    const struct cli_pdesc *d;
    char *mapkey;                /* map-param:key=value */
    xv *val;
};

static void settings_free(struct setting *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].mapkey);
        xv_free(s[i].val);
    }
    free(s);
}

/* Every key=value but uuid: all are checked before the first is applied, so a
 * mistake in the last leaves the object as it was. */
static xerr *parse_settings(struct cli *c, const struct cli_class *cc, struct setting **out, size_t *n)
{
    *out = xcalloc(c->o->nargs + 1, sizeof(**out));
    *n = 0;
    for (size_t i = 0; i < c->o->nargs; i++) {
        const char *k = c->o->args[i].key, *v = c->o->args[i].val;
        if (strcmp(k, "uuid") == 0)
            continue;
        struct setting *s = &(*out)[*n];
        const char *colon = strchr(k, ':');
        _cleanup_free_ char *name = colon ? xstrndup(k, (size_t)(colon - k)) : xstrdup(k);
        xerr *e = settable(cc, name, &s->d);
        if (!e && colon && s->d->field->type->kind != DM_MAP)
            e = cli_usage("%s is not a map: write %s=value.", name, name);
        if (!e)
            e = cli_parse_value(c, colon ? s->d->field->type->val : s->d->field->type, k, v, &s->val);
        if (e)
            return e;
        s->mapkey = colon ? xstrdup(colon + 1) : NULL;
        (*n)++;
    }
    if (*n == 0)
        return cli_usage("Nothing to set: give param=value pairs. See 'xe help %s'.", c->cmd->name);
    return NULL;
}

static xerr *field_call(struct cli *c, const struct cli_class *cc, const char *prefix,
                        const struct dm_field *f, const char *ref, xv *a, xv *b)
{
    _cleanup_free_ char *m = xasprintf("%s.%s%s", cc->cls, prefix, f->name);
    return b ? cli_call(c, NULL, m, xv_string(ref), a, b, NULL) : cli_call(c, NULL, m, xv_string(ref), a, NULL);
}

xerr *cmd_param_set(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    struct setting *s = NULL;
    size_t n = 0;
    xerr *e = parse_settings(c, cc, &s, &n);
    _cleanup_free_ char *ref = NULL;
    xv *rec = NULL;
    if (!e)
        e = the_object(c, cc, &ref, &rec);
    xv_free(rec);
    for (size_t i = 0; !e && i < n; i++) {
        const struct dm_field *f = s[i].d->field;
        if (s[i].mapkey) {
            /* xe's map-param:key=value replaces the key's value */
            xerr *r = field_call(c, cc, "remove_from_", f, ref, xv_string(s[i].mapkey), NULL);
            xerr_free(r);
            e = field_call(c, cc, "add_to_", f, ref, xv_string(s[i].mapkey), s[i].val);
        } else {
            /* set_<field>, generic or hand-written (set_has_vendor_device) alike */
            e = field_call(c, cc, "set_", f, ref, s[i].val, NULL);
        }
        s[i].val = NULL;
    }
    settings_free(s, n);
    return e;
}

static xerr *collection_param(struct cli *c, const struct cli_class *cc, const struct cli_pdesc **d)
{
    const char *name = cli_arg(c, "param-name");
    xerr *e = settable(cc, name, d);
    if (!e && !dm_is_map_or_set((*d)->field->type))
        e = cli_usage("%s is not a map or a set: use %s-param-set.", name, cc->prefix);
    return e;
}

static bool reserved(const char *k)
{
    return strcmp(k, "uuid") == 0 || strcmp(k, "param-name") == 0 || strcmp(k, "param-key") == 0;
}

xerr *cmd_param_add(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    const struct cli_pdesc *d;
    xerr *e = collection_param(c, cc, &d);
    if (e)
        return e;
    const struct dm_type *t = d->field->type;
    const char *key = cli_arg(c, "param-key");
    size_t npairs = 0;
    for (size_t i = 0; i < c->o->nargs; i++)
        npairs += !reserved(c->o->args[i].key);
    if (t->kind == DM_SET && (!key || npairs))
        return cli_usage("%s is a set: add a member with param-key=VALUE.", d->name);
    if (t->kind == DM_MAP && (key || !npairs))
        return cli_usage("%s is a map: add entries as KEY=VALUE.", d->name);
    /* check every value before changing anything */
    xv *vals[c->o->nargs + 1];
    size_t nv = 0;
    for (size_t i = 0; !e && i < c->o->nargs; i++)
        if (t->kind == DM_MAP && !reserved(c->o->args[i].key))
            e = cli_parse_value(c, t->val, c->o->args[i].key, c->o->args[i].val, &vals[nv++]);
    if (!e && t->kind == DM_SET)
        e = cli_parse_value(c, t->elem, "param-key", key, &vals[nv++]);
    _cleanup_free_ char *ref = NULL;
    xv *rec = NULL;
    if (!e)
        e = the_object(c, cc, &ref, &rec);
    xv_free(rec);
    size_t used = 0;
    for (size_t i = 0; !e && i < c->o->nargs; i++) {
        if (t->kind != DM_MAP || reserved(c->o->args[i].key))
            continue;
        e = field_call(c, cc, "add_to_", d->field, ref, xv_string(c->o->args[i].key), vals[used]);
        vals[used++] = NULL;
    }
    if (!e && t->kind == DM_SET) {
        e = field_call(c, cc, "add_", d->field, ref, vals[0], NULL);
        vals[used++] = NULL;
    }
    for (size_t i = 0; i < nv; i++)
        if (i >= used)
            xv_free(vals[i]);
    return e;
}

xerr *cmd_param_remove(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    const struct cli_pdesc *d;
    xerr *e = collection_param(c, cc, &d);
    if (e)
        return e;
    const char *key = cli_arg(c, "param-key");
    xv *v = NULL;
    if (d->field->type->kind == DM_SET)
        e = cli_parse_value(c, d->field->type->elem, "param-key", key, &v);
    else
        v = xv_string(key);
    _cleanup_free_ char *ref = NULL;
    xv *rec = NULL;
    if (!e)
        e = the_object(c, cc, &ref, &rec);
    xv_free(rec);
    if (e) {
        xv_free(v);
        return e;
    }
    return field_call(c, cc, d->field->type->kind == DM_SET ? "remove_" : "remove_from_", d->field, ref, v,
                      NULL);
}

xerr *cmd_param_clear(struct cli *c)
{
    const struct cli_class *cc = cli_cmd_class(c);
    const struct cli_pdesc *d;
    xerr *e = settable(cc, cli_arg(c, "param-name"), &d);
    if (e)
        return e;
    enum dm_kind k = d->field->type->kind;
    if (k != DM_SET && k != DM_MAP && k != DM_STRING)
        return cli_usage("%s cannot be cleared: set it with %s-param-set.", d->name, cc->prefix);
    _cleanup_free_ char *ref = NULL;
    xv *rec = NULL;
    e = the_object(c, cc, &ref, &rec);
    xv_free(rec);
    if (e)
        return e;
    return field_call(c, cc, "set_", d->field, ref, dm_zero(d->field->type), NULL);
}
