/* Records as xe prints them: `name ( RO): value` lines, aligned on the colon. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static xerr *expensive_value(struct cli *c, const struct dm_class *dc, const struct cli_pdesc *d,
                             const char *ref, char **out)
{
    _cleanup_free_ char *m = xasprintf("%s.%s", dc->name, d->message);
    xv *v = NULL;
    xerr *e = cli_call(c, &v, m, xv_string(ref), NULL);
    if (e)
        return e;
    buf b;
    buf_init(&b);
    for (size_t i = 0; v->type == XV_ARRAY && i < v->u.arr.n; i++)
        buf_printf(&b, "%s%s", i ? (c->o->minimal ? "," : "; ") : "",
                   cli_ref_uuid(c, d->message_class, xv_str(v->u.arr.v[i])));
    xv_free(v);
    *out = b.p ? buf_steal(&b) : xstrdup("");
    return NULL;
}

/* The record of the object a via field points to, fetched once per record. */
struct via_cache {
    const struct dm_field *via;
    xv *rec;                     /* NULL: no such object */
};

static const xv *via_record(struct cli *c, const xv *rec, const struct dm_field *via,
                            struct via_cache *vc, size_t *nvc)
{
    for (size_t i = 0; i < *nvc; i++)
        if (vc[i].via == via)
            return vc[i].rec;
    const char *ref = xv_struct_get_str(rec, via->name);
    xv *r = NULL;
    if (ref && strcmp(ref, REF_NULL) != 0) {
        _cleanup_free_ char *m = xasprintf("%s.get_record", via->type->ref_class);
        xerr *e = cli_call(c, &r, m, xv_string(ref), NULL);
        if (e) {
            /* a dangling ref reads as xe shows it: <not in database> */
            xerr_free(e);
            r = NULL;
        }
    }
    vc[*nvc].via = via;
    vc[*nvc].rec = r;
    (*nvc)++;
    return r;
}

xerr *cli_record_build(struct cli *c, const struct cli_class *cc, const char *ref, const xv *rec,
                       const struct cli_pdesc *const *want, size_t nwant, struct cli_record *out)
{
    size_t np;
    const struct cli_pdesc *all = cli_params(cc, &np);
    const struct dm_class *dc = cli_dm_class(cc);
    memset(out, 0, sizeof(*out));
    out->ref = xstrdup(ref);
    size_t n = want ? nwant : np;
    out->p = xcalloc(n ? n : 1, sizeof(*out->p));
    struct via_cache vc[8];
    size_t nvc = 0;
    xerr *e = NULL;
    for (size_t i = 0; i < n && !e; i++) {
        const struct cli_pdesc *d = want ? want[i] : &all[i];
        if (!want && d->message)
            continue;            /* computed values only when asked for by name */
        struct cli_param *p = &out->p[out->n++];
        p->d = d;
        if (d->message) {
            e = expensive_value(c, dc, d, ref, &p->value);
            continue;
        }
        const xv *src = d->via ? via_record(c, rec, d->via, vc, &nvc) : rec;
        const xv *v = src ? xv_struct_get(src, d->field->name) : NULL;
        if (!v) {
            p->value = xstrdup("<not in database>");
            continue;
        }
        p->raw = xv_dup(v);
        p->value = cli_format(c, d->field->type, v, c->o->minimal);
    }
    for (size_t i = 0; i < nvc; i++)
        xv_free(vc[i].rec);
    if (e)
        cli_record_free(out);
    return e;
}

void cli_record_free(struct cli_record *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->p[i].value);
        xv_free(r->p[i].raw);
    }
    free(r->p);
    free(r->ref);
    memset(r, 0, sizeof(*r));
}

const struct cli_param *cli_record_get(const struct cli_record *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->p[i].d->name, name) == 0)
            return &r->p[i];
    return NULL;
}

void cli_print_lines(const char *const *names, const char *const *tags, const char *const *values, size_t n)
{
    size_t width = 0;
    for (size_t i = 0; i < n; i++) {
        size_t w = strlen(names[i]) + strlen(" (") + 3 + strlen(")");
        if (w > width)
            width = w;
    }
    /* xe pads to the longest name plus four, so the first line sits apart */
    width += 4;
    for (size_t i = 0; i < n; i++) {
        char head[512];
        snprintf(head, sizeof(head), "%s (%3s)", names[i], tags[i]);
        if (i == 0)
            printf("%-*s: ", (int)width, head);
        else
            printf("%*s: ", (int)width, head);
        /* continuation lines of a multi-line value line up under its first */
        for (const char *v = values[i]; *v; v++) {
            putchar(*v);
            if (*v == '\n' && v[1])
                printf("%*s", (int)width + 2, "");
        }
        putchar('\n');
    }
}

void cli_record_print(const struct cli_record *r)
{
    const char **names = xcalloc(r->n + 1, sizeof(char *));
    const char **tags = xcalloc(r->n + 1, sizeof(char *));
    const char **values = xcalloc(r->n + 1, sizeof(char *));
    for (size_t i = 0; i < r->n; i++) {
        names[i] = r->p[i].d->name;
        tags[i] = r->p[i].d->tag;
        values[i] = r->p[i].value;
    }
    cli_print_lines(names, tags, values, r->n);
    free(names);
    free(tags);
    free(values);
}
