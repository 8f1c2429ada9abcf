/* Which objects a command acts on: uuid=, <prefix>= (a name or a uuid), and any
 * field=value (or map-param:key=value) of the class as a filter, as xe selects. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool listed(const char *list, const char *key)
{
    if (!list)
        return false;
    size_t n = strlen(key);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, key, n) == 0)
            return true;
        p += len + (p[len] ? 1 : 0);
    }
    return false;
}

/* A key=value on the command line that filters objects rather than configuring the
 * command; *d gets its param, *mapkey the key of map-param:key filters. */
static bool filter_param(struct cli *c, const struct cli_class *cc, const char *key,
                         const struct cli_pdesc **d, char **mapkey)
{
    *mapkey = NULL;
    if (listed(c->cmd->reqd, key) || listed(c->cmd->optional, key) || strcmp(key, cc->prefix) == 0)
        return false;
    const char *colon = strchr(key, ':');
    if (colon) {
        _cleanup_free_ char *name = xstrndup(key, (size_t)(colon - key));
        *d = cli_param_find(cc, name);
        if (!*d || !(*d)->field || (*d)->field->type->kind != DM_MAP)
            return false;
        *mapkey = xstrdup(colon + 1);
        return true;
    }
    *d = cli_param_find(cc, key);
    return *d != NULL;
}

static bool mentioned(struct cli *c, const char *name)
{
    return cli_arg(c, name) != NULL;
}

/* Templates and the like stay out unless asked for by name. */
bool cli_visible(struct cli *c, const struct cli_class *cc, const xv *rec, const char *hide)
{
    if (!hide)
        return true;
    _cleanup_free_ char *list = xstrdup(hide);
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        const struct cli_pdesc *d = cli_param_find(cc, p);
        if (!d || !d->field || d->via || mentioned(c, p))
            continue;
        const xv *v = xv_struct_get(rec, d->field->name);
        if (v && v->type == XV_BOOL && v->u.b)
            return false;
    }
    return true;
}

static bool value_equal(const struct cli_pdesc *d, const char *have, const char *want)
{
    if (d->field && (d->field->type->kind == DM_ENUM || d->field->type->kind == DM_BOOL))
        return strcasecmp(have, want) == 0;
    return strcmp(have, want) == 0;
}

xerr *cli_filters_match(struct cli *c, const struct cli_class *cc, const char *ref, const xv *rec,
                        bool *match)
{
    *match = true;
    for (size_t i = 0; i < c->o->nargs && *match; i++) {
        const struct cli_pdesc *d;
        _cleanup_free_ char *mapkey = NULL;
        if (!filter_param(c, cc, c->o->args[i].key, &d, &mapkey))
            continue;
        struct cli_record r;
        xerr *e = cli_record_build(c, cc, ref, rec, &d, 1, &r);
        if (e)
            return e;
        const char *want = c->o->args[i].val;
        if (mapkey) {
            const xv *v = r.p[0].raw ? xv_struct_get(r.p[0].raw, mapkey) : NULL;
            _cleanup_free_ char *s = v ? cli_format(c, d->field->type->val, v, false) : NULL;
            *match = s && strcmp(s, want) == 0;
        } else {
            *match = value_equal(d, r.p[0].value, want);
        }
        cli_record_free(&r);
    }
    return NULL;
}

static void add(struct cli_selection *s, const char *ref, xv *rec)
{
    s->refs = xrealloc(s->refs, (s->n + 1) * sizeof(*s->refs));
    s->recs = xrealloc(s->recs, (s->n + 1) * sizeof(*s->recs));
    s->refs[s->n] = xstrdup(ref);
    s->recs[s->n++] = rec;
}

void cli_selection_free(struct cli_selection *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->refs[i]);
        xv_free(s->recs[i]);
    }
    free(s->refs);
    free(s->recs);
    memset(s, 0, sizeof(*s));
}

/* Keep the candidates that pass the filters (and, unless chosen by uuid, are not hidden). */
static xerr *consider(struct cli *c, const struct cli_class *cc, const char *ref, xv *rec, bool by_uuid,
                      struct cli_selection *out)
{
    bool match = by_uuid || cli_visible(c, cc, rec, cc->select_hide);
    xerr *e = match ? cli_filters_match(c, cc, ref, rec, &match) : NULL;
    if (!e && match)
        add(out, ref, rec);
    else
        xv_free(rec);
    return e;
}

static xerr *by_refs(struct cli *c, const struct cli_class *cc, const xv *refs, bool by_uuid,
                     struct cli_selection *out)
{
    _cleanup_free_ char *m = xasprintf("%s.get_record", cc->cls);
    for (size_t i = 0; i < refs->u.arr.n; i++) {
        const char *ref = xv_str(refs->u.arr.v[i]);
        xv *rec = NULL;
        xerr *e = cli_call(c, &rec, m, xv_string(ref), NULL);
        if (!e)
            e = consider(c, cc, ref, rec, by_uuid, out);
        if (e)
            return e;
    }
    return NULL;
}

static bool has_filters(struct cli *c, const struct cli_class *cc)
{
    for (size_t i = 0; i < c->o->nargs; i++) {
        const struct cli_pdesc *d;
        _cleanup_free_ char *mapkey = NULL;
        if (filter_param(c, cc, c->o->args[i].key, &d, &mapkey))
            return true;
    }
    return false;
}

static xerr *gather(struct cli *c, const struct cli_class *cc, struct cli_selection *out)
{
    const char *uuid = cli_arg(c, "uuid"), *name = cli_arg(c, cc->prefix);
    xv *refs = NULL;
    xerr *e;
    if (uuid || (name && uuid_is_valid(name))) {
        _cleanup_free_ char *m = xasprintf("%s.get_by_uuid", cc->cls);
        e = cli_call(c, &refs, m, xv_string(uuid ? uuid : name), NULL);
        if (e && xerr_is(e, XERR_UUID_INVALID) && !uuid) {
            xerr_free(e);     /* vm=<something uuid-shaped> may still be a name */
            e = NULL;
        } else if (e) {
            return e;
        } else {
            xv *one = xv_array();
            xv_array_push(one, refs);
            /* an object named by its uuid is acted on even if it is a template */
            e = by_refs(c, cc, one, true, out);
            xv_free(one);
            return e;
        }
    }
    if (name) {
        const struct dm_class *dc = cli_dm_class(cc);
        if (!dm_field_find(dc, "name_label"))
            return NULL;
        _cleanup_free_ char *m = xasprintf("%s.get_by_name_label", cc->cls);
        e = cli_call(c, &refs, m, xv_string(name), NULL);
        if (!e)
            e = by_refs(c, cc, refs, false, out);
        xv_free(refs);
        return e;
    }
    if (!has_filters(c, cc) && !c->o->multiple)
        return cli_usage("No %s selected: give uuid=, %s= (name or uuid) or field=value filters, "
                         "and --multiple to act on several. See 'xe help %s'.",
                         cc->display, cc->prefix, c->cmd->name);
    xv *all = NULL;
    _cleanup_free_ char *m = xasprintf("%s.get_all_records", cc->cls);
    e = cli_call(c, &all, m, NULL);
    if (e)
        return e;
    for (size_t i = 0; !e && i < all->u.st.n; i++) {
        xv *rec = all->u.st.m[i].val;
        all->u.st.m[i].val = xv_nil();
        e = consider(c, cc, all->u.st.m[i].key, rec, false, out);
    }
    xv_free(all);
    return e;
}

xerr *cli_select(struct cli *c, const struct cli_class *cc, struct cli_selection *out)
{
    memset(out, 0, sizeof(*out));
    xerr *e = gather(c, cc, out);
    if (!e && out->n == 0)
        e = cli_fail("No matching %ss found.", cc->display);
    if (!e && out->n > 1 && !c->o->multiple)
        e = cli_fail("%zu %ss match: add --multiple to act on all of them, or select one by uuid=.",
                     out->n, cc->display);
    if (e)
        cli_selection_free(out);
    return e;
}
