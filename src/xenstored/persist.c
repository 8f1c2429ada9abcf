/* The saved state: the tree, the special nodes' permissions and the introduced domains,
 * so that the simulated xenstore outlives a restart of the daemon.  It is kept in slot
 * files (slotfile.h): a save before every reply that changed the tree is one pwritev
 * into a file opened once; creating and renaming a file per save was a sixth of a VM
 * lifecycle's CPU (ext4 inode creation and rename).
 *
 * Native-endian binary, local to this host: "XSDSTATE", u32 version, then records
 *   'N' u32 pathlen, path, u32 nperms, nperms x (u32 id, u32 bits), u32 vlen, value
 *   'S' u32 which (0 @introduceDomain, 1 @releaseDomain), u32 nperms, perms
 *   'D' u32 domid, u32 target (UINT32_MAX: none)
 *   'E' end
 * Nodes come parent first, children in their order, so loading rebuilds the lists.
 */
#include "xsd_int.h"

#include <string.h>

#include "log.h"

#define MAGIC "XSDSTATE"
#define VERSION 1u
#define NO_TARGET UINT32_MAX

static void put_u32(buf *b, uint32_t v)
{
    buf_add(b, &v, sizeof(v));
}

static void put_perms(buf *b, const struct perms *p)
{
    put_u32(b, p->n);
    for (uint32_t i = 0; i < p->n; i++) {
        put_u32(b, p->p[i].id);
        put_u32(b, p->p[i].bits);
    }
}

static void put_tree(buf *b, const struct store *s, const char *path)
{
    const struct node *n = store_get(s, path);
    if (!n)
        return;
    buf_addc(b, 'N');
    put_u32(b, (uint32_t)strlen(path));
    buf_adds(b, path);
    put_perms(b, &n->perms);
    put_u32(b, n->vlen);
    if (n->vlen)
        buf_add(b, n->value, n->vlen);
    for (uint32_t off = 0; off < n->clen; off += (uint32_t)strlen(n->children + off) + 1) {
        char *child = path_child(path, n->children + off);
        put_tree(b, s, child);
        free(child);
    }
}

void persist_sync(struct xsd *x)
{
    xerr *e = slotfile_sync(x->slots);
    if (e) {
        _cleanup_free_ char *msg = xerr_str(e);
        log_error("xenstored: cannot sync the state: %s", msg);
        xerr_free(e);
        return;   /* still unsynced: retried next interval */
    }
    x->unsynced = false;
}

bool persist_save(struct xsd *x, bool durable)
{
    buf b;
    buf_init(&b);
    buf_add(&b, MAGIC, 8);
    put_u32(&b, VERSION);
    put_tree(&b, &x->st, "/");
    buf_addc(&b, 'S');
    put_u32(&b, 0);
    put_perms(&b, &x->st.sp_intro);
    buf_addc(&b, 'S');
    put_u32(&b, 1);
    put_perms(&b, &x->st.sp_release);
    for (struct dom *d = x->doms; d; d = d->next) {
        buf_addc(&b, 'D');
        put_u32(&b, d->domid);
        put_u32(&b, d->has_target ? d->target : NO_TARGET);
    }
    buf_addc(&b, 'E');

    xerr *e = slotfile_write(x->slots, b.p, b.len);
    buf_free(&b);
    if (e) {
        _cleanup_free_ char *msg = xerr_str(e);
        log_error("xenstored: cannot save the state: %s", msg);
        xerr_free(e);
        return false;   /* stays dirty */
    }
    x->st.dirty = false;
    x->unsynced = true;
    if (durable)
        persist_sync(x);
    return true;
}

/* ---- loading ---- */

struct rd {
    const unsigned char *p;
    size_t len, off;
    bool bad;
};

static uint32_t get_u32(struct rd *r)
{
    uint32_t v = 0;
    if (r->len - r->off < sizeof(v)) {
        r->bad = true;
        return 0;
    }
    memcpy(&v, r->p + r->off, sizeof(v));
    r->off += sizeof(v);
    return v;
}

static const void *get_bytes(struct rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const void *p = r->p + r->off;
    r->off += n;
    return p;
}

static bool get_perms(struct rd *r, struct perms *out)
{
    uint32_t n = get_u32(r);
    if (r->bad || n == 0 || n > (r->len - r->off) / 8) {
        r->bad = true;
        return false;
    }
    out->n = n;
    out->p = xmalloc(n * sizeof(*out->p));
    for (uint32_t i = 0; i < n; i++) {
        out->p[i].id = get_u32(r);
        out->p[i].bits = get_u32(r);
        if (out->p[i].id > 0xffff || out->p[i].bits > (XS_PERM_READ | XS_PERM_WRITE))
            r->bad = true;
    }
    if (r->bad)
        perms_free(out);
    return !r->bad;
}

static bool load_node(struct rd *r, struct store *s)
{
    uint32_t pl = get_u32(r);
    const char *pp = get_bytes(r, pl);
    if (!pp || pl == 0 || pl > XENSTORE_ABS_PATH_MAX)
        return false;
    char *path = xstrndup(pp, pl);
    struct node *parent = NULL;
    bool ok = strlen(path) == pl && path_valid(path, true) && !store_get(s, path);
    if (ok && strcmp(path, "/") != 0) {
        char *pname = path_parent(path);
        parent = (struct node *)store_get(s, pname);
        free(pname);
        ok = parent != NULL;
    } else if (ok) {
        ok = strmap_size(s->nodes) == 0;   /* the root comes first */
    }
    struct node *n = node_new(path);
    free(path);
    ok = ok && get_perms(r, &n->perms);
    uint32_t vl = ok ? get_u32(r) : 0;
    const void *v = ok ? get_bytes(r, vl) : NULL;
    if (!ok || (vl && !v) || r->bad) {
        node_free(n);
        return false;
    }
    node_set_value(n, v, vl);
    if (parent)
        node_add_child(parent, path_base(n->path));
    store_put(s, n);
    return true;
}

struct saved_dom {
    uint32_t domid, target;
};

xerr *persist_load(struct xsd *x)
{
    size_t len;
    char *data;
    xerr *oe = slotfile_open(x->state_path, &x->slots, &data, &len);
    if (oe)
        return oe;
    if (!data)
        return NULL;   /* first start */

    struct store s;
    memset(&s, 0, sizeof(s));
    s.nodes = strmap_new();
    s.owned = xcalloc(65536, sizeof(*s.owned));
    struct saved_dom *doms = NULL;
    size_t ndoms = 0;
    struct rd r = {.p = (const unsigned char *)data, .len = len};
    const char *magic = get_bytes(&r, 8);
    bool ok = magic && memcmp(magic, MAGIC, 8) == 0 && get_u32(&r) == VERSION && !r.bad;
    bool end = false;
    while (ok && !end) {
        const char *tag = get_bytes(&r, 1);
        if (!tag)
            break;
        switch (*tag) {
        case 'N':
            ok = load_node(&r, &s);
            break;
        case 'S': {
            uint32_t which = get_u32(&r);
            struct perms p;
            ok = which <= 1 && get_perms(&r, &p);
            if (ok) {
                struct perms *dst = which ? &s.sp_release : &s.sp_intro;
                perms_free(dst);
                *dst = p;
            }
            break;
        }
        case 'D':
            doms = xrealloc(doms, (ndoms + 1) * sizeof(*doms));
            doms[ndoms].domid = get_u32(&r);
            doms[ndoms].target = get_u32(&r);
            ok = !r.bad && doms[ndoms].domid >= 1 && doms[ndoms].domid <= DOMID_MAX &&
                 (doms[ndoms].target <= DOMID_MAX || doms[ndoms].target == NO_TARGET);
            ndoms++;
            break;
        case 'E':
            end = true;
            break;
        default:
            ok = false;
        }
    }
    ok = ok && end && r.off == r.len && store_get(&s, "/") && s.sp_intro.n && s.sp_release.n;
    free(data);
    xerr *e = NULL;
    if (!ok) {
        e = xerr_internal("xenstore state %s is corrupt (near byte %zu)", x->state_path, r.off);
        store_destroy(&s);
    } else {
        store_destroy(&x->st);
        x->st = s;
        for (size_t i = 0; i < ndoms && !e; i++) {
            struct dom *d;
            if (dom_find(x, doms[i].domid))
                continue;
            e = dom_add(x, doms[i].domid, &d);
            if (!e && doms[i].target != NO_TARGET) {
                d->has_target = true;
                d->target = doms[i].target;
            }
        }
        x->st.dirty = false;
        log_info("xenstored: loaded %zu nodes and %zu domains from %s",
                 strmap_size(x->st.nodes), ndoms, x->state_path);
    }
    free(doms);
    return e;
}
