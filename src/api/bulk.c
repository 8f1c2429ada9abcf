/* Streamed results (api_records), and get_all_records and get_all_records_where: the
 * records read a row at a time (a db_cursor), filtered and stripped one by one, and
 * either collected into the map or, when the caller offers a stream, handed out as
 * they come. */
#include "api_int.h"

#include <string.h>

xerr *api_records_next(struct api_records *s, char **key, xv **val)
{
    return s->next(s, key, val);
}

void api_records_free(struct api_records *s)
{
    if (s)
        s->free(s);
}

const char *api_records_array(const struct api_records *s)
{
    return s->array;
}

xv *api_records_rest(struct api_records *s)
{
    return s->rest ? s->rest(s) : xv_struct();
}

struct bulk {
    struct api_records r;        /* first: the stream is the bulk */
    const struct dm_class *c;
    struct db_cursor *cur;
    struct filter *filter;       /* get_all_records_where's, or NULL */
};

static void bulk_free(struct api_records *r)
{
    struct bulk *s = (struct bulk *)r;
    db_cursor_close(s->cur);
    filter_free(s->filter);
    free(s);
}

static xerr *bulk_next(struct api_records *r, char **key, xv **val)
{
    struct bulk *s = (struct bulk *)r;
    for (;;) {
        xerr *e = db_cursor_next(s->cur, key, val);
        if (e || !*val)
            return e;
        bool match = true;
        e = s->filter ? filter_match(s->filter, s->c, *val, &match) : NULL;
        if (!e && match) {
            api_strip_internal(s->c, *val);
            return NULL;
        }
        free(*key);
        xv_free(*val);
        *key = NULL;
        *val = NULL;
        if (e)
            return e;
    }
}

xerr *api_all_records(struct api_ctx *ctx, const struct dm_class *c, const char *expr, xv **result)
{
    struct bulk *s = xcalloc(1, sizeof(*s));
    s->r = (struct api_records){.next = bulk_next, .free = bulk_free};
    s->c = c;
    /* parsed before any record is read, as xapi: a bad expression fails on an empty
     * table too */
    xerr *e = expr ? filter_parse(expr, &s->filter) : NULL;
    if (!e)
        e = db_cursor_open(ctx->db, c, &s->cur);
    if (e) {
        bulk_free(&s->r);
        return e;
    }
    if (ctx->records) {
        *ctx->records = &s->r;
        return NULL;
    }
    xv *all = xv_struct();
    char *key;
    xv *rec;
    while (!(e = bulk_next(&s->r, &key, &rec)) && rec) {
        xv_struct_append(all, key, rec);
        free(key);
    }
    bulk_free(&s->r);
    if (e) {
        xv_free(all);
        return e;
    }
    *result = all;
    return NULL;
}
