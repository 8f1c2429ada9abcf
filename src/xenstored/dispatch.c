/* Request dispatch: which handler, who may call it, errors as the wire spells them. */
#include "xsd_int.h"

#include <errno.h>
#include <string.h>

#include "log.h"

#define F_NOTID 1u   /* the transaction id is ignored */
#define F_PRIV  2u   /* dom0 only */

static const struct {
    int (*fn)(struct req *r);
    unsigned flags;
} handlers[XS_TYPE_COUNT] = {
    [XS_CONTROL] = {op_control, F_PRIV},
    [XS_DIRECTORY] = {op_directory, 0},
    [XS_READ] = {op_read, 0},
    [XS_GET_PERMS] = {op_get_perms, 0},
    [XS_WATCH] = {op_watch, F_NOTID},
    [XS_UNWATCH] = {op_unwatch, F_NOTID},
    [XS_TRANSACTION_START] = {op_transaction_start, 0},
    [XS_TRANSACTION_END] = {op_transaction_end, 0},
    [XS_INTRODUCE] = {op_introduce, F_PRIV},
    [XS_RELEASE] = {op_release, F_PRIV},
    [XS_GET_DOMAIN_PATH] = {op_get_domain_path, 0},
    [XS_WRITE] = {op_write, 0},
    [XS_MKDIR] = {op_mkdir, 0},
    [XS_RM] = {op_rm, 0},
    [XS_SET_PERMS] = {op_set_perms, 0},
    [XS_IS_DOMAIN_INTRODUCED] = {op_is_domain_introduced, F_PRIV},
    [XS_RESUME] = {op_resume, F_PRIV},
    [XS_SET_TARGET] = {op_set_target, F_PRIV},
    [XS_RESET_WATCHES] = {op_reset_watches, 0},
    [XS_DIRECTORY_PART] = {op_directory_part, 0},
};

static void reply_error(struct req *r, int err)
{
    /* libxenstore maps these names back to errno; anything else reads as EINVAL. */
    const char *name = xsd_errors[0].errstring;
    for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
        if (xsd_errors[i].errnum == err)
            name = xsd_errors[i].errstring;
    conn_send(r->c, XS_ERROR, r->hdr.req_id, r->hdr.tx_id, name, strlen(name) + 1);
}

void reply(struct req *r, uint32_t type, const void *data, size_t len)
{
    if (len > XENSTORE_PAYLOAD_MAX) {
        reply_error(r, E2BIG);
        return;
    }
    conn_send(r->c, type, r->hdr.req_id, r->hdr.tx_id, data, len);
}

void reply_ack(struct req *r)
{
    reply(r, r->hdr.type, "OK", 3);
}

void req_dispatch(struct req *r)
{
    uint32_t type = r->hdr.type;
    r->x->served++;
    if (type >= XS_TYPE_COUNT || !handlers[type].fn) {
        /* What xenstored answers, ENOSYS, so a client can tell "unsupported" apart. */
        log_debug("xenstored: domain %u sent unknown request type %u", r->c->domid, type);
        reply_error(r, ENOSYS);
        return;
    }
    if ((handlers[type].flags & F_PRIV) && !r->who.priv) {
        reply_error(r, EACCES);
        return;
    }
    r->t = NULL;
    if (!(handlers[type].flags & F_NOTID) && r->hdr.tx_id) {
        r->t = txn_find(r->c, r->hdr.tx_id);
        if (!r->t) {
            reply_error(r, ENOENT);
            return;
        }
    }
    int e = handlers[type].fn(r);
    if (e)
        reply_error(r, e);
}

char *req_canon(const struct req *r, const char *path)
{
    if (path[0] == '/' || path[0] == '@')
        return xstrdup(path);
    return xasprintf("%s/%s", r->c->home, path);
}

unsigned req_strings(const struct req *r, const char **vec, unsigned n)
{
    unsigned i = 0;
    size_t off = 0;
    while (off < r->hdr.len) {
        const char *nul = memchr(r->data + off, 0, r->hdr.len - off);
        if (!nul)
            break;
        if (i < n)
            vec[i] = r->data + off;
        i++;
        off = (size_t)(nul - r->data) + 1;
    }
    return i;
}

const char *req_onearg(const struct req *r)
{
    if (r->hdr.len == 0 || strlen(r->data) + 1 != r->hdr.len)
        return NULL;
    return r->data;
}
