/* ova.xml read back: the archive's first member, parsed as one XML-RPC value and
 * checked for the shape importexport.ml's header has, before anything looks at
 * what it says. */
#include "transfer_int.h"
#include "wire.h"

#include <stdio.h>
#include <string.h>

static xerr *bad(const char *what)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "ova.xml is not a metadata export: %s", what);
    return err_import_error(msg);
}

static xerr *check_object(const xv *o, size_t i)
{
    char what[96];
    if (o->type != XV_STRUCT) {
        snprintf(what, sizeof(what), "object %zu is not a struct", i);
        return bad(what);
    }
    const xv *cls = xv_struct_get(o, "class"), *id = xv_struct_get(o, "id"), *snap = xv_struct_get(o, "snapshot");
    if (!cls || cls->type != XV_STRING || !id || id->type != XV_STRING) {
        snprintf(what, sizeof(what), "object %zu has no class or id", i);
        return bad(what);
    }
    if (!snap || snap->type != XV_STRUCT) {
        snprintf(what, sizeof(what), "object %zu has no snapshot record", i);
        return bad(what);
    }
    return NULL;
}

xerr *transfer_parse_archive(const char *data, size_t len, xv **header)
{
    *header = NULL;
    const char *xml = NULL;
    size_t xml_len = 0;
    xerr *e = transfer_tar_ova(data, len, &xml, &xml_len);
    if (e)
        return e;
    xv *h = NULL;
    if ((e = wire_xmlrpc_parse_value(xml, xml_len, &h)) != NULL) {
        _cleanup_free_ char *why = xerr_str(e);
        xerr_free(e);
        char msg[384];
        snprintf(msg, sizeof(msg), "ova.xml does not parse: %s", why);
        return err_import_error(msg);
    }
    const xv *version = h->type == XV_STRUCT ? xv_struct_get(h, "version") : NULL;
    const xv *objects = h->type == XV_STRUCT ? xv_struct_get(h, "objects") : NULL;
    if (h->type != XV_STRUCT)
        e = bad("its value is not a struct");
    else if (!version || version->type != XV_STRUCT)
        e = bad("it has no version struct");
    else if (!objects || objects->type != XV_ARRAY)
        e = bad("it has no objects array");
    for (size_t i = 0; !e && i < objects->u.arr.n; i++)
        e = check_object(objects->u.arr.v[i], i);
    if (e) {
        xv_free(h);
        return e;
    }
    *header = h;
    return NULL;
}
