/* dm: the datamodel at run time.  The tables are generated from
 * datamodel/datamodel.xml (build/gen/dm_gen.c); this module interprets them:
 * lookups, default values, and turning wire values into the canonical value of a
 * field's type. */
#ifndef XENAPID_DM_H
#define XENAPID_DM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xerr.h"
#include "xv.h"

/* The most parameters a message may declare: dmgen refuses more, and the
 * dispatcher's tables hold this many. */
#define DM_MAX_PARAMS 16

enum dm_kind { DM_STRING, DM_INT, DM_FLOAT, DM_BOOL, DM_DATETIME, DM_ENUM, DM_REF, DM_SET, DM_MAP };

struct dm_enum {
    const char *name;
    size_t n;
    const char *const *values;
    const char *const *docs;
    const char *doc;
};

struct dm_type {
    enum dm_kind kind;
    const char *spelling;            /* as written in the datamodel: "map(string, string)" */
    const struct dm_enum *enm;       /* DM_ENUM */
    const char *ref_class;           /* DM_REF */
    const struct dm_type *elem;      /* DM_SET */
    const struct dm_type *key, *val; /* DM_MAP */
};

enum dm_qual { DM_RW, DM_STATIC_RO, DM_DYNAMIC_RO };

struct dm_field {
    const char *name;
    const struct dm_type *type;
    enum dm_qual qual;
    const char *default_json;        /* the default, as JSON */
    const char *doc;
    const char *inverse_class;       /* set(ref) computed from inverse_class.inverse_field */
    const char *inverse_field;
    bool custom_setter;              /* set_<name> is hand-written */
    int index;
    bool internal;                   /* stored but never on the wire: no getter, not in
                                      * records or events (xapi's internal_only) */
};

struct dm_param {
    const char *name;
    const struct dm_type *type;      /* NULL: a type the dispatcher does not check */
    const char *type_spelling;
    bool optional;
    const char *doc;
};

struct dm_message {
    const char *name;
    const struct dm_param *params;
    size_t nparams;
    const char *result;              /* type spelling, for documentation */
    bool session;                    /* takes the session ref first */
    bool async;                      /* has an Async. form */
    const char *doc;
    const char *const *errors;
    size_t nerrors;
};

struct dm_class {
    const char *name;                /* "VM" */
    const char *lname;               /* "vm": the event class name */
    const char *doc;
    bool table;                      /* has records */
    bool create, destroy;            /* has the generic constructor/destructor */
    const struct dm_field *fields;
    size_t nfields;
    const struct dm_message *messages;
    size_t nmessages;
    int index;
    const struct dm_field *uuid;       /* NULL for a class without records */
    const struct dm_field *name_label; /* NULL if it has none */
    bool get_all;                    /* has get_all, get_all_records(_where): false for
                                      * session, whose refs are credentials (xapi) */
    bool events;                     /* its changes are events (false for session) */
};

struct dm_error {
    const char *name;
    size_t nparams;
    const char *const *params;
    const char *doc;
    bool client;                     /* raised by clients (xe), never by the server */
    const char *const *forms;        /* other parameter lists: err_<code>_<form>() */
    size_t nforms;
};

extern const struct dm_class dm_classes[];
extern const size_t dm_nclasses;
extern const struct dm_enum dm_enums[];
extern const size_t dm_nenums;
extern const struct dm_error dm_errors[];
extern const size_t dm_nerrors;
extern const int dm_api_version_major, dm_api_version_minor;
extern const char dm_api_version_vendor[];

const struct dm_class *dm_class_find(const char *name);       /* exact name, "VM" */
const struct dm_class *dm_class_find_lower(const char *lname); /* case-insensitive, "vm" */
const struct dm_field *dm_field_find(const struct dm_class *c, const char *name);
const struct dm_message *dm_message_find(const struct dm_class *c, const char *name);
const struct dm_error *dm_error_find(const char *code);

/* The wire spelling of value i (asserted in range), and the value of a spelling
 * (case-insensitive, as xapi reads enums), -1 if unknown.  The generated
 * vm_power_state_name()/vm_power_state_parse() are the typed forms. */
const char *dm_enum_name(const struct dm_enum *e, int i);
int dm_enum_parse(const struct dm_enum *e, const char *s);

/* ---- a record (an XV_STRUCT keyed by field name), read and written by field handle:
 * dm_get_str(rec, DMF_VM_domain_type).  The getter's kind must match the field's
 * (asserted); a missing member reads as the type's zero value ("", 0, false, -1 for
 * an enum), as an unknown enum spelling does. ---- */
const xv *dm_get(const xv *rec, const struct dm_field *f);       /* NULL if absent */
const char *dm_get_str(const xv *rec, const struct dm_field *f); /* string, ref, enum, datetime */
int64_t dm_get_int(const xv *rec, const struct dm_field *f);
double dm_get_float(const xv *rec, const struct dm_field *f);
bool dm_get_bool(const xv *rec, const struct dm_field *f);
int dm_get_enum(const xv *rec, const struct dm_field *f);
/* Set the member (taking ownership of v), replacing an existing one. */
void dm_set(xv *rec, const struct dm_field *f, xv *v);

/* ---- for the generated thunks: a checked argument as its C value.  The dispatcher
 * coerced it to the declared type, so a mismatch is a bug (asserted). ---- */
const char *dm_arg_str(const xv *v);   /* string, ref, datetime */
int64_t dm_arg_int(const xv *v);
double dm_arg_float(const xv *v);
bool dm_arg_bool(const xv *v);
int dm_arg_enum(const struct dm_enum *e, const xv *v);
const xv *dm_arg_xv(const xv *v);      /* set, map */

/* A fresh copy of the field's default value. */
xv *dm_default(const struct dm_field *f);
/* Check a value from the wire against a type and return its canonical form (ints
 * from strings, datetimes from strings, enum spelling fixed, ...).  On failure:
 * FIELD_TYPE_ERROR [name], or INVALID_VALUE [name, value] for a bad enum value. */
xerr *dm_coerce(const struct dm_type *t, const xv *in, const char *name, xv **out);
/* The zero value of a type. */
xv *dm_zero(const struct dm_type *t);
bool dm_is_map_or_set(const struct dm_type *t);
/* xe's tag for a field: RO, RW, MRO or MRW. */
const char *dm_field_tag(const struct dm_field *f);

#endif
