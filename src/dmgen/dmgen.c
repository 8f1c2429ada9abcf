/* dmgen: reads datamodel/datamodel.xml and writes
 *   --c FILE         the C tables (struct dm_class ..., typed error constructors)
 *   --h FILE         their header (class/field handles, error constructor prototypes)
 *   --markdown FILE  the API reference
 * It refuses a datamodel with dangling names, duplicates or bad types, so that
 * mistakes in the description stop the build instead of reaching a client. */
#include <ctype.h>
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dm.h" /* DM_MAX_PARAMS: the dispatcher's table holds that many */

#define MAX 512

static const char *src_path;
static int errors;

static void fail(xmlNode *n, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", src_path, n ? n->line : 0);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    errors++;
}

static char *attr(xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    char *s = strdup((const char *)v);
    xmlFree(v);
    return s;
}

static char *attr_or(xmlNode *n, const char *name, const char *def)
{
    char *s = attr(n, name);
    return s ? s : strdup(def);
}

static bool is(xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The name attribute every element needs; a missing one is an error, and a
 * placeholder keeps the checks that follow from tripping over NULL. */
static char *name_of(xmlNode *n, const char *what)
{
    char *s = attr(n, "name");
    if (!s || !*s) {
        fail(n, "%s without a name", what);
        free(s);
        s = strdup("?");
    }
    return s;
}

static bool yes(const char *s)
{
    return s && (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0);
}

/* ---- model ---- */

enum kind { K_STRING, K_INT, K_FLOAT, K_BOOL, K_DATETIME, K_ENUM, K_REF, K_SET, K_MAP };
static const char *const kind_c[] = {"DM_STRING", "DM_INT", "DM_FLOAT", "DM_BOOL", "DM_DATETIME",
                                     "DM_ENUM", "DM_REF", "DM_SET", "DM_MAP"};

struct type {
    enum kind kind;
    char *spelling;
    char *name;          /* enum or class name */
    struct type *a, *b;  /* set elem / map key, value */
    int id;
    bool emitted;
};

struct enm {
    char *name, *doc;
    int n;
    char *values[64], *docs[64];
};

struct field {
    char *name, *qual, *doc, *def_json, *inverse, *setter;
    struct type *type;
    bool internal;       /* stored, never on the wire (xapi's internal_only) */
    xmlNode *node;
};

struct param {
    char *name, *doc, *spelling;
    struct type *type;
    bool optional;
};

struct message {
    char *name, *doc, *result;
    bool session, async;
    int nparams, nerrors;
    struct param params[DM_MAX_PARAMS];
    char *errors[32];
    xmlNode *node;
};

struct klass {
    char *name, *doc;
    bool table, create, destroy;
    bool get_all, events; /* xapi's expose_get_all_messages_for, gen_events */
    int nfields, nmessages;
    struct field fields[128];
    struct message messages[64];
};

struct error {
    char *name, *doc;
    bool client;         /* raised by clients of the API (xe), never sent by the server */
    bool mixed_case;     /* xapi spells it so ("Fault"): exempt from the upper-case check */
    int nparams;
    char *params[DM_MAX_PARAMS];
    /* other parameter lists xapi sends the same code with (<form>): err_<code>_<form>() */
    int nforms;
    struct {
        char *name;
        int nparams;
        char *params[DM_MAX_PARAMS];
    } forms[4];
    xmlNode *node;
};

static struct enm enums[MAX];
static int nenums;
static struct klass *classes[MAX];
static int nclasses;
static struct error errs[MAX];
static int nerrs;
static struct type *types[MAX * 4];
static int ntypes;
static char *api_major, *api_minor, *api_vendor;

static struct enm *find_enum(const char *name)
{
    for (int i = 0; i < nenums; i++)
        if (strcmp(enums[i].name, name) == 0)
            return &enums[i];
    return NULL;
}

static struct klass *find_class(const char *name)
{
    for (int i = 0; i < nclasses; i++)
        if (strcmp(classes[i]->name, name) == 0)
            return classes[i];
    return NULL;
}

static struct error *find_error(const char *name)
{
    for (int i = 0; i < nerrs; i++)
        if (strcmp(errs[i].name, name) == 0)
            return &errs[i];
    return NULL;
}

/* ---- type expressions: string | int | ... | enum N | ref C | set(T) | map(K, V) ---- */

static const char *skip_sp(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

static struct type *intern(struct type *t)
{
    for (int i = 0; i < ntypes; i++) {
        if (strcmp(types[i]->spelling, t->spelling) == 0) {
            free(t->spelling);
            free(t->name);
            free(t);
            return types[i];
        }
    }
    t->id = ntypes;
    types[ntypes++] = t;
    return t;
}

static struct type *parse_type(const char **sp, xmlNode *where)
{
    const char *s = skip_sp(*sp);
    struct type *t = calloc(1, sizeof(*t));
    static const struct {
        const char *word;
        enum kind kind;
    } scalars[] = {{"string", K_STRING}, {"int", K_INT},         {"float", K_FLOAT},
                   {"bool", K_BOOL},     {"datetime", K_DATETIME}};
    char word[64];
    size_t n = 0;
    while ((isalnum((unsigned char)s[n]) || s[n] == '_') && n < sizeof(word) - 1)
        n++;
    memcpy(word, s, n);
    word[n] = 0;
    s += n;
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        if (strcmp(word, scalars[i].word) == 0) {
            t->kind = scalars[i].kind;
            t->spelling = strdup(word);
            *sp = s;
            return intern(t);
        }
    }
    if (strcmp(word, "enum") == 0 || strcmp(word, "ref") == 0) {
        s = skip_sp(s);
        size_t m = 0;
        while (isalnum((unsigned char)s[m]) || s[m] == '_')
            m++;
        if (!m) {
            fail(where, "'%s' needs a name", word);
            m = 0;
        }
        t->kind = word[0] == 'e' ? K_ENUM : K_REF;
        t->name = strndup(s, m);
        s += m;
        if (asprintf(&t->spelling, "%s %s", word, t->name) < 0)
            abort();
        *sp = s;
        return intern(t);
    }
    if ((strcmp(word, "set") == 0 || strcmp(word, "map") == 0) && *s == '(') {
        s++;
        t->kind = word[0] == 's' ? K_SET : K_MAP;
        t->a = parse_type(&s, where);
        if (t->kind == K_MAP) {
            s = skip_sp(s);
            if (*s != ',')
                fail(where, "map needs two types");
            else
                s++;
            t->b = parse_type(&s, where);
        }
        s = skip_sp(s);
        if (*s != ')')
            fail(where, "missing ')' in type");
        else
            s++;
        if (t->kind == K_SET) {
            if (asprintf(&t->spelling, "set(%s)", t->a->spelling) < 0)
                abort();
        } else if (asprintf(&t->spelling, "map(%s, %s)", t->a->spelling, t->b->spelling) < 0) {
            abort();
        }
        *sp = s;
        return intern(t);
    }
    fail(where, "unknown type '%s'", *sp);
    t->kind = K_STRING;
    t->spelling = strdup("string");
    *sp = s + strlen(s);
    return intern(t);
}

static struct type *type_of(const char *spelling, xmlNode *where)
{
    const char *s = spelling;
    struct type *t = parse_type(&s, where);
    if (*skip_sp(s))
        fail(where, "junk after type: '%s'", s);
    return t;
}

static void check_type_names(struct type *t, xmlNode *where)
{
    if (t->kind == K_ENUM && !find_enum(t->name))
        fail(where, "unknown enum '%s'", t->name);
    if (t->kind == K_REF && !find_class(t->name))
        fail(where, "unknown class '%s'", t->name);
    if (t->kind == K_MAP && (t->a->kind == K_SET || t->a->kind == K_MAP))
        fail(where, "map keys must be scalar");
    if (t->a)
        check_type_names(t->a, where);
    if (t->b)
        check_type_names(t->b, where);
}

static char *json_quote(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 6 + 3), *o = out;
    *o++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
            *o++ = *s;
        } else if ((unsigned char)*s < 0x20) {
            o += sprintf(o, "\\u%04x", *s);
        } else {
            *o++ = *s;
        }
    }
    *o++ = '"';
    *o = 0;
    return out;
}

static char *zero_json(struct type *t)
{
    switch (t->kind) {
    case K_STRING: return strdup("\"\"");
    case K_INT: return strdup("0");
    case K_FLOAT: return strdup("0.0");
    case K_BOOL: return strdup("false");
    case K_DATETIME: return strdup("\"19700101T00:00:00Z\"");
    case K_REF: return strdup("\"OpaqueRef:NULL\"");
    case K_ENUM: {
        struct enm *e = find_enum(t->name);
        return json_quote(e && e->n ? e->values[0] : "");
    }
    case K_SET: return strdup("[]");
    case K_MAP: return strdup("{}");
    }
    return strdup("null");
}

/* ---- reading the XML ---- */

static void read_enum(xmlNode *n)
{
    struct enm *e = &enums[nenums++];
    e->name = name_of(n, "enum");
    e->doc = attr_or(n, "doc", "");
    if (find_enum(e->name) != e)
        fail(n, "duplicate enum %s", e->name);
    for (xmlNode *c = n->children; c; c = c->next) {
        if (!is(c, "value"))
            continue;
        if (e->n == 64) {
            fail(c, "too many values");
            break;
        }
        e->values[e->n] = name_of(c, "enum value");
        e->docs[e->n] = attr_or(c, "doc", "");
        e->n++;
    }
}

static void read_message(struct klass *k, xmlNode *n)
{
    struct message *m = &k->messages[k->nmessages++];
    m->node = n;
    m->name = name_of(n, "message");
    m->doc = attr_or(n, "doc", "");
    char *s = attr(n, "session"), *a = attr(n, "async");
    m->session = !s || yes(s);
    m->async = !a || yes(a);
    free(s);
    free(a);
    m->result = strdup("void");
    for (xmlNode *c = n->children; c; c = c->next) {
        if (is(c, "param")) {
            if (m->nparams == DM_MAX_PARAMS) {
                fail(c, "more than %d parameters: the dispatcher holds no more", DM_MAX_PARAMS);
                break;
            }
            struct param *p = &m->params[m->nparams++];
            p->name = name_of(c, "parameter");
            p->doc = attr_or(c, "doc", "");
            p->spelling = attr_or(c, "type", "string");
            char *o = attr(c, "optional");
            p->optional = yes(o);
            free(o);
            /* "C record": a whole record, checked field by field by its handler */
            size_t sl = strlen(p->spelling);
            p->type = sl > 7 && strcmp(p->spelling + sl - 7, " record") == 0 ? NULL : type_of(p->spelling, c);
        } else if (is(c, "result")) {
            free(m->result);
            m->result = attr_or(c, "type", "void");
        } else if (is(c, "error")) {
            if (m->nerrors == 32) {
                fail(c, "too many errors");
                break;
            }
            m->errors[m->nerrors++] = attr(c, "name");
        }
    }
}

static void read_class(xmlNode *n)
{
    struct klass *k = calloc(1, sizeof(*k));
    classes[nclasses++] = k;
    k->name = name_of(n, "class");
    k->doc = attr_or(n, "doc", "");
    char *t = attr(n, "table"), *c = attr(n, "create"), *d = attr(n, "destroy");
    k->table = !t || yes(t);
    k->create = yes(c);
    k->destroy = yes(d);
    free(t);
    free(c);
    free(d);
    char *ga = attr(n, "get_all"), *ev = attr(n, "events");
    k->get_all = !ga || yes(ga);
    k->events = !ev || yes(ev);
    free(ga);
    free(ev);
    for (xmlNode *ch = n->children; ch; ch = ch->next) {
        if (is(ch, "field")) {
            if (k->nfields == 128) {
                fail(ch, "too many fields");
                break;
            }
            struct field *f = &k->fields[k->nfields++];
            f->node = ch;
            f->name = name_of(ch, "field");
            f->qual = attr_or(ch, "qualifier", "RW");
            f->doc = attr_or(ch, "doc", "");
            f->inverse = attr(ch, "inverse");
            f->setter = attr(ch, "setter");
            char *in = attr(ch, "internal");
            f->internal = yes(in);
            free(in);
            char *ty = attr_or(ch, "type", "string");
            f->type = type_of(ty, ch);
            free(ty);
            char *def = attr(ch, "default");
            if (!def)
                f->def_json = NULL; /* filled in once enums are known */
            else if (f->type->kind == K_STRING || f->type->kind == K_REF ||
                     f->type->kind == K_ENUM || f->type->kind == K_DATETIME)
                f->def_json = json_quote(def);
            else
                f->def_json = strdup(def);
            free(def);
        } else if (is(ch, "message")) {
            if (k->nmessages == 64) {
                fail(ch, "too many messages");
                break;
            }
            read_message(k, ch);
        }
    }
}

static void read_error(xmlNode *n)
{
    struct error *e = &errs[nerrs++];
    e->node = n;
    e->name = name_of(n, "error");
    e->doc = attr_or(n, "doc", "");
    char *cl = attr(n, "client");
    e->client = yes(cl);
    free(cl);
    char *mc = attr(n, "mixed_case");
    e->mixed_case = yes(mc);
    free(mc);
    for (xmlNode *c = n->children; c; c = c->next) {
        if (is(c, "form")) {
            if (e->nforms == 4) {
                fail(c, "too many forms");
                break;
            }
            int f = e->nforms++;
            e->forms[f].name = name_of(c, "error form");
            for (xmlNode *fp = c->children; fp; fp = fp->next) {
                if (!is(fp, "param"))
                    continue;
                if (e->forms[f].nparams == DM_MAX_PARAMS) {
                    fail(fp, "too many parameters");
                    break;
                }
                e->forms[f].params[e->forms[f].nparams++] = name_of(fp, "error parameter");
            }
            continue;
        }
        if (!is(c, "param"))
            continue;
        if (e->nparams == DM_MAX_PARAMS) {
            fail(c, "too many parameters");
            break;
        }
        e->params[e->nparams++] = name_of(c, "error parameter");
    }
}

static void lower(char *dst, const char *src);

/* The constructor of one parameter list of an error (form < 0: its declared one). */
static void write_error_ctor(FILE *o, const struct error *e, int form, bool body)
{
    char lname[128];
    lower(lname, e->name);
    int n = form < 0 ? e->nparams : e->forms[form].nparams;
    char *const *params = form < 0 ? e->params : e->forms[form].params;
    if (form < 0)
        fprintf(o, "xerr *err_%s(", lname);
    else
        fprintf(o, "xerr *err_%s_%s(", lname, e->forms[form].name);
    for (int p = 0; p < n; p++)
        fprintf(o, "%sconst char *%s", p ? ", " : "", params[p]);
    if (!n)
        fputs("void", o);
    if (!body) {
        fputs(");\n", o);
        return;
    }
    fputs(")\n{\n", o);
    if (n) {
        fputs("    const char *const pv_[] = {", o);
        for (int p = 0; p < n; p++)
            fprintf(o, "%s%s", p ? ", " : "", params[p]);
        fprintf(o, "};\n    return xerr__raise(XERR_%s, %d, pv_);\n}\n\n", e->name, n);
    } else {
        fprintf(o, "    return xerr__raise(XERR_%s, 0, NULL);\n}\n\n", e->name);
    }
}

/* ---- defaults: the JSON text must be a value of the field's type ---- */

/* A JSON string at *sp, decoded into out (escapes other than \" and \\ are kept as
 * written: names and numbers never need them). */
static bool json_string(const char **sp, char *out, size_t cap)
{
    const char *s = *sp;
    size_t n = 0;
    if (*s++ != '"')
        return false;
    while (*s && *s != '"') {
        if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
            s++;
        if (n + 1 < cap)
            out[n++] = *s;
        s++;
    }
    if (*s != '"')
        return false;
    out[n] = 0;
    *sp = s + 1;
    return true;
}

/* Is text (a map key, or a string default) a valid scalar of type t? */
static bool scalar_text_ok(const struct type *t, const char *text)
{
    char *end;
    switch (t->kind) {
    case K_INT:
        errno = 0;
        (void)strtoll(text, &end, 10);
        return *text && !errno && !*end;
    case K_BOOL:
        return strcmp(text, "true") == 0 || strcmp(text, "false") == 0;
    case K_FLOAT: {
        double d = strtod(text, &end);
        return *text && !*end && isfinite(d);
    }
    case K_ENUM: {
        struct enm *e = find_enum(t->name);
        for (int i = 0; e && i < e->n; i++)
            if (strcasecmp(e->values[i], text) == 0)
                return true;
        return false;
    }
    case K_DATETIME: {
        struct tm tm;
        const char *r = strptime(text, "%Y%m%dT%H:%M:%S", &tm);
        return r && (!*r || strcmp(r, "Z") == 0);
    }
    case K_REF:
        return strncmp(text, "OpaqueRef:", 10) == 0;
    default:
        return true;
    }
}

static bool json_value_ok(const struct type *t, const char **sp)
{
    const char *s = skip_sp(*sp);
    char text[512];
    switch (t->kind) {
    case K_STRING:
    case K_ENUM:
    case K_DATETIME:
    case K_REF:
        if (!json_string(&s, text, sizeof(text)) || !scalar_text_ok(t, text))
            return false;
        break;
    case K_INT:
    case K_FLOAT: {
        size_t n = strspn(s, "-+0123456789.eE");
        if (!n || n >= sizeof(text))
            return false;
        memcpy(text, s, n);
        text[n] = 0;
        if (!scalar_text_ok(t, text))
            return false;
        s += n;
        break;
    }
    case K_BOOL:
        if (strncmp(s, "true", 4) == 0)
            s += 4;
        else if (strncmp(s, "false", 5) == 0)
            s += 5;
        else
            return false;
        break;
    case K_SET:
    case K_MAP: {
        char close = t->kind == K_SET ? ']' : '}';
        if (*s++ != (t->kind == K_SET ? '[' : '{'))
            return false;
        s = skip_sp(s);
        if (*s == close) {
            s++;
            break;
        }
        for (;;) {
            if (t->kind == K_MAP) {
                s = skip_sp(s);
                if (!json_string(&s, text, sizeof(text)) || !scalar_text_ok(t->a, text))
                    return false;
                s = skip_sp(s);
                if (*s++ != ':')
                    return false;
            }
            if (!json_value_ok(t->kind == K_SET ? t->a : t->b, &s))
                return false;
            s = skip_sp(s);
            if (*s == ',') {
                s++;
                continue;
            }
            if (*s++ != close)
                return false;
            break;
        }
        break;
    }
    }
    *sp = s;
    return true;
}

static bool default_ok(const struct type *t, const char *json)
{
    const char *s = json;
    return json_value_ok(t, &s) && !*skip_sp(s);
}

/* The C name of an enum value: VM_POWER_STATE_HALTED for vm_power_state.Halted. */
static void enum_const(char *dst, size_t cap, const char *enm, const char *value)
{
    size_t n = 0;
    for (const char *parts[] = {enm, "_", value}, **p = parts; p < parts + 3; p++)
        for (const char *c = *p; *c && n + 1 < cap; c++)
            dst[n++] = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
    dst[n] = 0;
}

static void validate_enums_and_errors(void)
{
    /* C enum constants share one namespace: refuse two values that would collide */
    static char names[MAX * 8][160];
    int nnames = 0;
    for (int i = 0; i < nenums; i++) {
        struct enm *e = &enums[i];
        char count[160];
        enum_const(count, sizeof(count), e->name, "COUNT");
        for (int j = 0; j < e->n; j++) {
            char *c = names[nnames];
            enum_const(c, sizeof(names[0]), e->name, e->values[j]);
            if (strcmp(c, count) == 0)
                fail(NULL, "enum %s: value %s collides with %s", e->name, e->values[j], count);
            for (int k = 0; k < nnames; k++)
                if (strcmp(names[k], c) == 0)
                    fail(NULL, "enum %s: value %s gives the C name %s twice", e->name, e->values[j], c);
            if (nnames < MAX * 8 - 1)
                nnames++;
        }
    }
    for (int i = 0; i < nerrs; i++) {
        const char *c = errs[i].name;
        const char *allowed = errs[i].mixed_case ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                 : "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
        if (!isupper((unsigned char)*c) || strspn(c, allowed) != strlen(c))
            fail(errs[i].node, "error code %s is not an upper-case identifier", c);
        for (int p = 0; p < errs[i].nparams; p++)
            for (const char *q = errs[i].params[p]; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_') {
                    fail(errs[i].node, "parameter %s of %s is not an identifier", errs[i].params[p], c);
                    break;
                }
    }
}

static void validate(void)
{
    validate_enums_and_errors();
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        if (find_class(k->name) != k)
            fail(NULL, "duplicate class %s", k->name);
        bool has_uuid = false;
        for (int j = 0; j < k->nfields; j++) {
            struct field *f = &k->fields[j];
            check_type_names(f->type, f->node);
            if (!f->name)
                fail(f->node, "field without name");
            for (int m = 0; m < j; m++)
                if (strcmp(k->fields[m].name, f->name) == 0)
                    fail(f->node, "duplicate field %s.%s", k->name, f->name);
            if (strcmp(f->qual, "RW") && strcmp(f->qual, "StaticRO") && strcmp(f->qual, "DynamicRO"))
                fail(f->node, "bad qualifier '%s'", f->qual);
            if (strcmp(f->name, "uuid") == 0)
                has_uuid = true;
            if (!f->def_json)
                f->def_json = zero_json(f->type);
            else if (!default_ok(f->type, f->def_json))
                fail(f->node, "default %s of %s.%s is not a %s", f->def_json, k->name, f->name,
                     f->type->spelling);
            if (f->inverse) {
                char *dot = strchr(f->inverse, '.');
                struct klass *ik = NULL;
                if (dot) {
                    *dot = 0;
                    ik = find_class(f->inverse);
                    *dot = '.';
                }
                bool ok = false;
                for (int m = 0; ik && m < ik->nfields; m++)
                    if (strcmp(ik->fields[m].name, dot + 1) == 0 && ik->fields[m].type->kind == K_REF &&
                        strcmp(ik->fields[m].type->name, k->name) == 0)
                        ok = true;
                if (!ok)
                    fail(f->node, "inverse %s is not a ref %s field", f->inverse, k->name);
                if (f->type->kind != K_SET || f->type->a->kind != K_REF)
                    fail(f->node, "an inverse field must be a set(ref ...)");
            }
            if (f->setter && strcmp(f->setter, "custom") != 0)
                fail(f->node, "setter must be 'custom'");
        }
        if (k->table && !has_uuid)
            fail(NULL, "class %s has records but no uuid", k->name);
        for (int j = 0; j < k->nmessages; j++) {
            struct message *m = &k->messages[j];
            for (int p = 0; p < m->nparams; p++)
                if (m->params[p].type)
                    check_type_names(m->params[p].type, m->node);
            for (int e = 0; e < m->nerrors; e++)
                if (!m->errors[e] || !find_error(m->errors[e]))
                    fail(m->node, "%s.%s names unknown error %s", k->name, m->name,
                         m->errors[e] ? m->errors[e] : "?");
            for (int p = 1; p < m->nparams; p++)
                if (m->params[p - 1].optional && !m->params[p].optional)
                    fail(m->node, "optional parameters must come last");
            /* parameters become members of the handler's argument struct */
            static const char *const keywords[] = {
                "auto", "bool", "break", "case", "char", "const", "continue", "default", "do", "double",
                "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
                "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
                "union", "unsigned", "void", "volatile", "while", NULL};
            for (int p = 0; p < m->nparams; p++) {
                const char *pn = m->params[p].name;
                bool ident = (isalpha((unsigned char)*pn) || *pn == '_') && strspn(pn, "abcdefghijklmnopqrstuvwxyz"
                                                                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == strlen(pn);
                for (const char *const *kw = keywords; ident && *kw; kw++)
                    ident = strcmp(pn, *kw) != 0;
                if (!ident || strncmp(pn, "has_", 4) == 0)
                    fail(m->node, "%s.%s: parameter '%s' cannot be a C member name", k->name, m->name, pn);
                for (int q = 0; q < p; q++)
                    if (strcmp(m->params[q].name, pn) == 0)
                        fail(m->node, "%s.%s: duplicate parameter %s", k->name, m->name, pn);
            }
        }
    }
    for (int i = 0; i < nerrs; i++)
        if (find_error(errs[i].name) != &errs[i])
            fail(errs[i].node, "duplicate error %s", errs[i].name);
}

/* ---- C output ---- */

static void c_str(FILE *o, const char *s)
{
    if (!s) {
        fputs("NULL", o);
        return;
    }
    fputc('"', o);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(o, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", o);
        else
            fputc(*s, o);
    }
    fputc('"', o);
}

static void lower(char *dst, const char *src)
{
    for (; *src; src++)
        *dst++ = (char)tolower((unsigned char)*src);
    *dst = 0;
}

static void emit_type(FILE *o, struct type *t)
{
    if (t->emitted)
        return;
    if (t->a)
        emit_type(o, t->a);
    if (t->b)
        emit_type(o, t->b);
    t->emitted = true;
    fprintf(o, "static const struct dm_type T%d = {%s, ", t->id, kind_c[t->kind]);
    c_str(o, t->spelling);
    if (t->kind == K_ENUM)
        fprintf(o, ", &dm_enums[%d], NULL", (int)(find_enum(t->name) - enums));
    else if (t->kind == K_REF) {
        fputs(", NULL, ", o);
        c_str(o, t->name);
    } else
        fputs(", NULL, NULL", o);
    if (t->kind == K_SET)
        fprintf(o, ", &T%d, NULL, NULL};\n", t->a->id);
    else if (t->kind == K_MAP)
        fprintf(o, ", NULL, &T%d, &T%d};\n", t->a->id, t->b->id);
    else
        fputs(", NULL, NULL, NULL};\n", o);
}

static void write_handlers_c(FILE *o);

static void write_c(const char *path)
{
    FILE *o = fopen(path, "w");
    if (!o) {
        perror(path);
        exit(1);
    }
    fprintf(o, "/* Generated by dmgen from %s.  Do not edit. */\n", src_path);
    fputs("#include \"dm_gen.h\"\n\n#include <assert.h>\n\n", o);
    fprintf(o, "const int dm_api_version_major = %s, dm_api_version_minor = %s;\n", api_major, api_minor);
    fputs("const char dm_api_version_vendor[] = ", o);
    c_str(o, api_vendor);
    fputs(";\n\n", o);
    for (int i = 0; i < nenums; i++) {
        struct enm *e = &enums[i];
        fprintf(o, "static const char *const E_%s_values[] = {", e->name);
        for (int j = 0; j < e->n; j++) {
            c_str(o, e->values[j]);
            fputs(", ", o);
        }
        fprintf(o, "};\nstatic const char *const E_%s_docs[] = {", e->name);
        for (int j = 0; j < e->n; j++) {
            c_str(o, e->docs[j]);
            fputs(", ", o);
        }
        fputs("};\n", o);
    }
    fputs("const struct dm_enum dm_enums[] = {\n", o);
    for (int i = 0; i < nenums; i++) {
        struct enm *e = &enums[i];
        fputs("    {", o);
        c_str(o, e->name);
        fprintf(o, ", %d, E_%s_values, E_%s_docs, ", e->n, e->name, e->name);
        c_str(o, e->doc);
        fputs("},\n", o);
    }
    fprintf(o, "};\nconst size_t dm_nenums = %d;\n\n", nenums);
    for (int i = 0; i < nenums; i++) {
        const char *n = enums[i].name;
        fprintf(o, "const char *%s_name(enum %s v)\n{\n    return dm_enum_name(&dm_enums[%d], (int)v);\n}\n\n",
                n, n, i);
        fprintf(o, "bool %s_parse(const char *s, enum %s *out)\n{\n    int i = dm_enum_parse(&dm_enums[%d], s);\n"
                   "    if (i < 0)\n        return false;\n    *out = (enum %s)i;\n    return true;\n}\n\n",
                n, n, i, n);
    }
    fputc('\n', o);
    for (int i = 0; i < ntypes; i++)
        emit_type(o, types[i]);
    fputc('\n', o);
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        fprintf(o, "static const struct dm_field F_%s[] = {\n", k->name);
        for (int j = 0; j < k->nfields; j++) {
            struct field *f = &k->fields[j];
            fputs("    {", o);
            c_str(o, f->name);
            fprintf(o, ", &T%d, %s, ", f->type->id,
                    strcmp(f->qual, "RW") == 0         ? "DM_RW"
                    : strcmp(f->qual, "StaticRO") == 0 ? "DM_STATIC_RO"
                                                       : "DM_DYNAMIC_RO");
            c_str(o, f->def_json);
            fputs(", ", o);
            c_str(o, f->doc);
            if (f->inverse) {
                char *dot = strchr(f->inverse, '.');
                fprintf(o, ", \"%.*s\", \"%s\"", (int)(dot - f->inverse), f->inverse, dot + 1);
            } else {
                fputs(", NULL, NULL", o);
            }
            fprintf(o, ", %s, %d, %s},\n", f->setter ? "true" : "false", j, f->internal ? "true" : "false");
        }
        fputs("    {NULL, NULL, 0, NULL, NULL, NULL, NULL, false, -1, false},\n};\n", o);
        for (int j = 0; j < k->nmessages; j++) {
            struct message *m = &k->messages[j];
            fprintf(o, "static const struct dm_param P_%s_%s[] = {\n", k->name, m->name);
            for (int p = 0; p < m->nparams; p++) {
                fputs("    {", o);
                c_str(o, m->params[p].name);
                if (m->params[p].type)
                    fprintf(o, ", &T%d, ", m->params[p].type->id);
                else
                    fputs(", NULL, ", o);
                c_str(o, m->params[p].spelling);
                fprintf(o, ", %s, ", m->params[p].optional ? "true" : "false");
                c_str(o, m->params[p].doc);
                fputs("},\n", o);
            }
            fputs("    {NULL, NULL, NULL, false, NULL},\n};\n", o);
            fprintf(o, "static const char *const X_%s_%s[] = {", k->name, m->name);
            for (int e = 0; e < m->nerrors; e++) {
                c_str(o, m->errors[e]);
                fputs(", ", o);
            }
            fputs("NULL};\n", o);
        }
        fprintf(o, "static const struct dm_message M_%s[] = {\n", k->name);
        for (int j = 0; j < k->nmessages; j++) {
            struct message *m = &k->messages[j];
            fputs("    {", o);
            c_str(o, m->name);
            fprintf(o, ", P_%s_%s, %d, ", k->name, m->name, m->nparams);
            c_str(o, m->result);
            fprintf(o, ", %s, %s, ", m->session ? "true" : "false", m->async ? "true" : "false");
            c_str(o, m->doc);
            fprintf(o, ", X_%s_%s, %d},\n", k->name, m->name, m->nerrors);
        }
        fputs("    {NULL, NULL, 0, NULL, false, false, NULL, NULL, 0},\n};\n\n", o);
    }
    fputs("const struct dm_class dm_classes[] = {\n", o);
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        char lname[128];
        lower(lname, k->name);
        fputs("    {", o);
        c_str(o, k->name);
        fputs(", ", o);
        c_str(o, lname);
        fputs(", ", o);
        c_str(o, k->doc);
        fprintf(o, ", %s, %s, %s, F_%s, %d, M_%s, %d, %d", k->table ? "true" : "false",
                k->create ? "true" : "false", k->destroy ? "true" : "false", k->name, k->nfields,
                k->name, k->nmessages, i);
        for (const char *const *fname = (const char *const[]){"uuid", "name_label", NULL}; *fname; fname++) {
            int at = -1;
            for (int j = 0; j < k->nfields; j++)
                if (strcmp(k->fields[j].name, *fname) == 0)
                    at = j;
            if (at >= 0)
                fprintf(o, ", &F_%s[%d]", k->name, at);
            else
                fputs(", NULL", o);
        }
        fprintf(o, ", %s, %s", k->get_all ? "true" : "false", k->events ? "true" : "false");
        fputs("},\n", o);
    }
    fprintf(o, "};\nconst size_t dm_nclasses = %d;\n\n", nclasses);
    for (int i = 0; i < nerrs; i++) {
        fprintf(o, "static const char *const R_%s[] = {", errs[i].name);
        for (int p = 0; p < errs[i].nparams; p++) {
            c_str(o, errs[i].params[p]);
            fputs(", ", o);
        }
        fputs("NULL};\n", o);
        fprintf(o, "static const char *const Q_%s[] = {", errs[i].name);
        for (int f = 0; f < errs[i].nforms; f++) {
            c_str(o, errs[i].forms[f].name);
            fputs(", ", o);
        }
        fputs("NULL};\n", o);
    }
    fputs("const struct dm_error dm_errors[] = {\n", o);
    for (int i = 0; i < nerrs; i++) {
        fputs("    {", o);
        c_str(o, errs[i].name);
        fprintf(o, ", %d, R_%s, ", errs[i].nparams, errs[i].name);
        c_str(o, errs[i].doc);
        fprintf(o, ", %s, Q_%s, %d},\n", errs[i].client ? "true" : "false", errs[i].name, errs[i].nforms);
    }
    fprintf(o, "};\nconst size_t dm_nerrors = %d;\n\n", nerrs);
    for (int i = 0; i < nerrs; i++)
        for (int f = -1; f < errs[i].nforms; f++)
            write_error_ctor(o, &errs[i], f, true);
    write_handlers_c(o);
    fclose(o);
}

/* ---- typed handlers: an argument struct, a function type, a thunk and a
 * registration function for every declared message ---- */

static bool void_result(const struct message *m)
{
    return strcmp(m->result, "void") == 0;
}

/* The C type of a parameter's checked value. */
static void c_param_type(FILE *o, const struct param *p)
{
    if (!p->type) {
        fputs("const xv *", o);
        return;
    }
    switch (p->type->kind) {
    case K_STRING:
    case K_REF:
    case K_DATETIME: fputs("const char *", o); break;
    case K_INT: fputs("int64_t ", o); break;
    case K_FLOAT: fputs("double ", o); break;
    case K_BOOL: fputs("bool ", o); break;
    case K_ENUM: fprintf(o, "enum %s ", p->type->name); break;
    case K_SET:
    case K_MAP: fputs("const xv *", o); break;
    }
}

static void c_param_unpack(FILE *o, const struct param *p, int i)
{
    if (!p->type) {
        fprintf(o, "args[%d]", i);
        return;
    }
    switch (p->type->kind) {
    case K_STRING:
    case K_REF:
    case K_DATETIME: fprintf(o, "dm_arg_str(args[%d])", i); break;
    case K_INT: fprintf(o, "dm_arg_int(args[%d])", i); break;
    case K_FLOAT: fprintf(o, "dm_arg_float(args[%d])", i); break;
    case K_BOOL: fprintf(o, "dm_arg_bool(args[%d])", i); break;
    case K_ENUM:
        fprintf(o, "(enum %s)dm_arg_enum(&dm_enums[%d], args[%d])", p->type->name,
                (int)(find_enum(p->type->name) - enums), i);
        break;
    case K_SET:
    case K_MAP: fprintf(o, "dm_arg_xv(args[%d])", i); break;
    }
}

/* The handler's function type: (ctx[, args][, result]). */
static void c_fn_params(FILE *o, const struct klass *k, const struct message *m)
{
    fputs("(struct api_ctx *ctx", o);
    if (m->nparams)
        fprintf(o, ", const struct %s_%s_args *a", k->name, m->name);
    if (!void_result(m))
        fputs(", xv **result", o);
    fputc(')', o);
}

static void write_handlers_h(FILE *o)
{
    fputs("/* ---- typed handlers for the hand-written messages ----\n"
          " * For each message C.m: struct C_m_args (its parameters, already checked and\n"
          " * converted; an optional one has has_<name>), the handler type C_m_fn (no args\n"
          " * for a message without parameters, no result for a void one) and\n"
          " * api_register_C_m(api, fn). */\n"
          "struct api;\nstruct api_ctx;\n"
          "/* Reserved for the generated registration functions. */\n"
          "typedef xerr *(*api_thunk)(struct api_ctx *ctx, void (*fn)(void), xv *const *args, size_t n,\n"
          "                           xv **result);\n"
          "void api_register_thunk(struct api *api, const struct dm_class *c, const struct dm_message *msg,\n"
          "                        api_thunk thunk, void (*fn)(void));\n\n", o);
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        for (int j = 0; j < k->nmessages; j++) {
            struct message *m = &k->messages[j];
            if (m->nparams) {
                fprintf(o, "struct %s_%s_args {\n", k->name, m->name);
                for (int p = 0; p < m->nparams; p++) {
                    if (m->params[p].optional)
                        fprintf(o, "    bool has_%s;\n", m->params[p].name);
                    fputs("    ", o);
                    c_param_type(o, &m->params[p]);
                    fprintf(o, "%s;\n", m->params[p].name);
                }
                fputs("};\n", o);
            }
            fprintf(o, "typedef xerr *(*%s_%s_fn)", k->name, m->name);
            c_fn_params(o, k, m);
            fprintf(o, ";\nvoid api_register_%s_%s(struct api *api, %s_%s_fn fn);\n\n", k->name, m->name, k->name,
                    m->name);
        }
    }
}

static void write_handlers_c(FILE *o)
{
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        for (int j = 0; j < k->nmessages; j++) {
            struct message *m = &k->messages[j];
            int nreq = 0;
            for (int p = 0; p < m->nparams; p++)
                if (!m->params[p].optional)
                    nreq = p + 1;
            fprintf(o, "static xerr *thunk_%s_%s(struct api_ctx *ctx, void (*fn)(void), xv *const *args, size_t n,\n"
                       "                         xv **result)\n{\n",
                    k->name, m->name);
            /* the dispatcher checked the count; n unused when asserts are off */
            if (nreq == m->nparams)
                fprintf(o, "    assert(n == %d);\n", nreq);
            else if (nreq == 0)
                fprintf(o, "    assert(n <= %d);\n", m->nparams);
            else
                fprintf(o, "    assert(n >= %d && n <= %d);\n", nreq, m->nparams);
            fputs("    (void)n;\n", o);
            if (!m->nparams)
                fputs("    (void)args;\n", o);
            if (void_result(m))
                fputs("    (void)result;\n", o);
            if (m->nparams) {
                fprintf(o, "    struct %s_%s_args a = {0};\n", k->name, m->name);
                for (int p = 0; p < m->nparams; p++) {
                    const char *pad = "    ";
                    if (m->params[p].optional) {
                        fprintf(o, "    if (n > %d) {\n        a.has_%s = true;\n", p, m->params[p].name);
                        pad = "        ";
                    }
                    fprintf(o, "%sa.%s = ", pad, m->params[p].name);
                    c_param_unpack(o, &m->params[p], p);
                    fputs(";\n", o);
                    if (m->params[p].optional)
                        fputs("    }\n", o);
                }
            }
            fprintf(o, "    return ((%s_%s_fn)fn)(ctx%s%s);\n}\n\n", k->name, m->name, m->nparams ? ", &a" : "",
                    void_result(m) ? "" : ", result");
            fprintf(o, "void api_register_%s_%s(struct api *api, %s_%s_fn fn)\n{\n"
                       "    api_register_thunk(api, &dm_classes[%d], &dm_classes[%d].messages[%d], thunk_%s_%s,\n"
                       "                       (void (*)(void))fn);\n}\n\n",
                    k->name, m->name, k->name, m->name, i, i, j, k->name, m->name);
        }
    }
}

static void write_h(const char *path)
{
    FILE *o = fopen(path, "w");
    if (!o) {
        perror(path);
        exit(1);
    }
    fprintf(o, "/* Generated by dmgen from %s.  Do not edit. */\n", src_path);
    fputs("#ifndef XENAPID_DM_GEN_H\n#define XENAPID_DM_GEN_H\n\n#include \"dm.h\"\n\n", o);
    fputs("/* Classes and fields, by name: DMC_VM, DMF_VM_power_state. */\n", o);
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        fprintf(o, "#define DMC_%s (&dm_classes[%d])\n", k->name, i);
        for (int j = 0; j < k->nfields; j++)
            fprintf(o, "#define DMF_%s_%s (&dm_classes[%d].fields[%d])\n", k->name, k->fields[j].name, i, j);
    }
    fputs("\n/* Enums: the C enum, the wire spelling of a value, and the value of a spelling\n"
          " * (case-insensitive, as on the wire; false if unknown). */\n", o);
    for (int i = 0; i < nenums; i++) {
        struct enm *e = &enums[i];
        char c[160];
        fprintf(o, "enum %s {\n", e->name);
        for (int j = 0; j < e->n; j++) {
            enum_const(c, sizeof(c), e->name, e->values[j]);
            fprintf(o, "    %s,\n", c);
        }
        enum_const(c, sizeof(c), e->name, "COUNT");
        fprintf(o, "    %s\n};\n#define DME_%s (&dm_enums[%d])\n", c, e->name, i);
        fprintf(o, "const char *%s_name(enum %s v);\nbool %s_parse(const char *s, enum %s *out);\n\n",
                e->name, e->name, e->name, e->name);
    }
    fputs("/* Error codes, for xerr_is(e, XERR_TASK_CANCELLED). */\n", o);
    for (int i = 0; i < nerrs; i++)
        fprintf(o, "#define XERR_%s \"%s\"\n", errs[i].name, errs[i].name);
    fputs("\n/* A constructor for every error code, its parameters in order. */\n", o);
    for (int i = 0; i < nerrs; i++)
        for (int f = -1; f < errs[i].nforms; f++)
            write_error_ctor(o, &errs[i], f, false);
    fputc('\n', o);
    write_handlers_h(o);
    fputs("#endif\n", o);
    fclose(o);
}

/* ---- markdown ---- */

static void md_text(FILE *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", o);
        else if (*s == '\n')
            fputc(' ', o);
        else
            fputc(*s, o);
    }
}

static const char *tag(struct field *f)
{
    bool m = f->type->kind == K_SET || f->type->kind == K_MAP;
    bool rw = strcmp(f->qual, "RW") == 0;
    return m ? (rw ? "MRW" : "MRO") : (rw ? "RW" : "RO");
}

static bool dm_has_name_label(struct klass *k);

static void write_md(const char *path)
{
    FILE *o = fopen(path, "w");
    if (!o) {
        perror(path);
        exit(1);
    }
    fprintf(o, "# The xenapid API reference\n\n"
               "Generated from `datamodel/datamodel.xml` by `build/dmgen`; do not edit (run "
               "`make docs/api.md`).\n\nAPI version %s.%s. Wire format: ../shared/docs/SPEC.md "
               "section 4 and the README. Every call but `session.login_with_password` takes the "
               "session reference as its first parameter; it is not listed below.\n\n",
            api_major, api_minor);
    fputs("## Classes\n\n", o);
    for (int i = 0; i < nclasses; i++)
        fprintf(o, "- [%s](#class-%s): ", classes[i]->name, classes[i]->name), md_text(o, classes[i]->doc),
            fputc('\n', o);
    fputs("- [Enums](#enums)\n- [Errors](#errors)\n\n", o);
    for (int i = 0; i < nclasses; i++) {
        struct klass *k = classes[i];
        fprintf(o, "<a id=\"class-%s\"></a>\n## Class %s\n\n", k->name, k->name);
        md_text(o, k->doc);
        fputs(".\n\n", o);
        if (k->table) {
            fputs("| Field | Type | Qualifier | Default | Description |\n|---|---|---|---|---|\n", o);
            for (int j = 0; j < k->nfields; j++) {
                struct field *f = &k->fields[j];
                if (f->internal)
                    continue; /* never on the wire */
                fprintf(o, "| `%s` | `%s` | %s (%s) | `", f->name, f->type->spelling, f->qual, tag(f));
                md_text(o, f->inverse ? "(computed)" : f->def_json);
                fputs("` | ", o);
                md_text(o, f->doc);
                if (f->inverse)
                    fprintf(o, " (the %s whose `%s` is this object)", f->inverse,
                            strchr(f->inverse, '.') + 1);
                fputs(" |\n", o);
            }
            fputs("\nGeneric messages: ", o);
            fprintf(o, "`get_record`, %s"
                       "`get_by_uuid`%s%s%s; `get_<field>` for every field; `set_<field>` for "
                       "RW fields",
                    k->get_all ? "`get_all`, `get_all_records`, `get_all_records_where`, " : "",
                    dm_has_name_label(k) ? ", `get_by_name_label`" : "", k->create ? ", `create`" : "",
                    k->destroy ? ", `destroy`" : "");
            fputs("; `add_to_<field>`/`remove_from_<field>` for RW maps; `add_<field>`/`remove_<field>` "
                  "for RW sets.\n\n",
                  o);
            if (!k->events)
                fputs("No events: event.from and event.next never report this class.\n\n", o);
        }
        for (int j = 0; j < k->nmessages; j++) {
            struct message *m = &k->messages[j];
            fprintf(o, "### %s.%s\n\n", k->name, m->name);
            md_text(o, m->doc);
            fprintf(o, "\n\n- Returns: `%s`\n", m->result);
            if (!m->session)
                fputs("- Takes no session.\n", o);
            if (m->async)
                fprintf(o, "- Also as `Async.%s.%s`, returning a task.\n", k->name, m->name);
            for (int p = 0; p < m->nparams; p++) {
                fprintf(o, "- `%s` (`%s`%s): ", m->params[p].name, m->params[p].spelling,
                        m->params[p].optional ? ", optional" : "");
                md_text(o, m->params[p].doc);
                fputc('\n', o);
            }
            if (m->nerrors) {
                fputs("- Errors:", o);
                for (int e = 0; e < m->nerrors; e++)
                    fprintf(o, " `%s`", m->errors[e]);
                fputc('\n', o);
            }
            fputc('\n', o);
        }
    }
    fputs("<a id=\"enums\"></a>\n## Enums\n\n", o);
    for (int i = 0; i < nenums; i++) {
        fprintf(o, "### %s\n\n", enums[i].name);
        md_text(o, enums[i].doc);
        fputs(".\n\n", o);
        for (int j = 0; j < enums[i].n; j++) {
            fprintf(o, "- `%s`", enums[i].values[j]);
            if (*enums[i].docs[j]) {
                fputs(": ", o);
                md_text(o, enums[i].docs[j]);
            }
            fputc('\n', o);
        }
        fputc('\n', o);
    }
    fputs("<a id=\"errors\"></a>\n## Errors\n\nEvery error is `[CODE, param, ...]` in "
          "`ErrorDescription`.\n\n| Code | Parameters | Meaning |\n|---|---|---|\n",
          o);
    for (int i = 0; i < nerrs; i++) {
        if (errs[i].client)
            continue; /* never on the wire */
        fprintf(o, "| `%s` | ", errs[i].name);
        for (int p = 0; p < errs[i].nparams; p++)
            fprintf(o, "%s`%s`", p ? ", " : "", errs[i].params[p]);
        fputs(" | ", o);
        md_text(o, errs[i].doc);
        fputs(" |\n", o);
    }
    fclose(o);
}

static bool dm_has_name_label(struct klass *k)
{
    for (int j = 0; j < k->nfields; j++)
        if (strcmp(k->fields[j].name, "name_label") == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    const char *out_c = NULL, *out_h = NULL, *out_md = NULL;
    int i;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--c") == 0)
            out_c = argv[i + 1];
        else if (strcmp(argv[i], "--h") == 0)
            out_h = argv[i + 1];
        else if (strcmp(argv[i], "--markdown") == 0)
            out_md = argv[i + 1];
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: dmgen [--c FILE] [--h FILE] [--markdown FILE] datamodel.xml\n");
        return 2;
    }
    src_path = argv[i];
    xmlDoc *doc = xmlReadFile(src_path, NULL, XML_PARSE_NONET);
    if (!doc) {
        fprintf(stderr, "%s: not well-formed XML\n", src_path);
        return 1;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    api_major = attr_or(root, "api-version-major", "2");
    api_minor = attr_or(root, "api-version-minor", "0");
    api_vendor = attr_or(root, "api-version-vendor", "");
    /* enums and errors first: classes refer to them */
    for (xmlNode *n = root->children; n; n = n->next) {
        if (is(n, "enum"))
            read_enum(n);
        else if (is(n, "error"))
            read_error(n);
    }
    for (xmlNode *n = root->children; n; n = n->next)
        if (is(n, "class"))
            read_class(n);
    validate();
    if (errors) {
        fprintf(stderr, "%s: %d error(s)\n", src_path, errors);
        return 1;
    }
    if (out_c)
        write_c(out_c);
    if (out_h)
        write_h(out_h);
    if (out_md)
        write_md(out_md);
    xmlFreeDoc(doc);
    return 0;
}
