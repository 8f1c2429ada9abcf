/* The schema, derived from the datamodel, and its upgrades.
 *
 * A table per class with a column per stored field.  A field added to the
 * datamodel becomes a column added to an existing database file, filled with the
 * field's default.  Changes that need more than that are numbered migrations in
 * `migrations` below, run once each, in order, inside the upgrade transaction.  A
 * database written by a newer schema than this code knows is refused rather than
 * misread. */
#include "db_int.h"
#include "log.h"
#include "wire.h"

#include <string.h>

struct migration {
    int to_version;
    const char *sql;
};

/* Version 1 is the first schema; later ones append here. */
static const struct migration migrations[] = {
    {0, NULL},
};

static const char *sql_type(const struct dm_type *t)
{
    switch (t->kind) {
    case DM_INT:
    case DM_BOOL:
        return "INTEGER";
    case DM_FLOAT:
        return "REAL";
    default:
        return "TEXT";
    }
}

/* The default as an SQL literal, for ALTER TABLE ADD COLUMN. */
static char *sql_default(const struct dm_field *f)
{
    xv *v = dm_default(f);
    char *out;
    switch (f->type->kind) {
    case DM_INT: out = xasprintf("%lld", (long long)v->u.i); break;
    case DM_BOOL: out = xasprintf("%d", v->u.b ? 1 : 0); break;
    case DM_FLOAT: out = xasprintf("%.17g", v->u.f); break;
    case DM_SET:
    case DM_MAP: {
        buf b;
        buf_init(&b);
        wire_json_write(&b, v);
        char *q = sqlite3_mprintf("%Q", b.p);
        out = xstrdup(q);
        sqlite3_free(q);
        buf_free(&b);
        break;
    }
    default: {
        char *q = sqlite3_mprintf("%Q", xv_str(v));
        out = xstrdup(q);
        sqlite3_free(q);
    }
    }
    xv_free(v);
    return out;
}

static bool column_exists(sqlite3 *h, const char *table, const char *col)
{
    _cleanup_free_ char *sql = xasprintf("SELECT 1 FROM pragma_table_info('%s') WHERE name = ?1", table);
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return found;
}

static xerr *create_class(sqlite3 *h, const struct dm_class *c)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "CREATE TABLE IF NOT EXISTS \"%s\" (_ref TEXT PRIMARY KEY NOT NULL", c->name);
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        if (!field_stored(f))
            continue;
        _cleanup_free_ char *def = sql_default(f);
        buf_printf(&b, ", \"%s\" %s NOT NULL DEFAULT %s", f->name, sql_type(f->type), def);
    }
    buf_adds(&b, ")");
    xerr *e = sql_exec(h, b.p);
    buf_free(&b);
    if (e)
        return e;
    /* columns for fields added to the datamodel since the file was created */
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        if (!field_stored(f) || column_exists(h, c->name, f->name))
            continue;
        _cleanup_free_ char *def = sql_default(f);
        _cleanup_free_ char *sql = xasprintf("ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s NOT NULL DEFAULT %s",
                                             c->name, f->name, sql_type(f->type), def);
        if ((e = sql_exec(h, sql)) != NULL)
            return e;
        log_info("database: added column %s.%s", c->name, f->name);
    }
    /* uuids are unique; name_label and every ref field are looked up */
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        if (!field_stored(f))
            continue;
        bool uuid = strcmp(f->name, "uuid") == 0;
        if (!uuid && strcmp(f->name, "name_label") != 0 && f->type->kind != DM_REF)
            continue;
        _cleanup_free_ char *sql = xasprintf("CREATE %sINDEX IF NOT EXISTS \"idx/%s/%s\" ON \"%s\"(\"%s\")",
                                             uuid ? "UNIQUE " : "", c->name, f->name, c->name, f->name);
        if ((e = sql_exec(h, sql)) != NULL)
            return e;
    }
    return NULL;
}

static int read_version(sqlite3 *h)
{
    sqlite3_stmt *st;
    int v = 0;
    if (sqlite3_prepare_v2(h, "SELECT value FROM _meta WHERE key = 'schema_version'", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

xerr *schema_apply(struct db *db, sqlite3 *h)
{
    (void)db;
    xerr *e = sql_exec(h, "BEGIN IMMEDIATE");
    if (e)
        return e;
    e = sql_exec(h, "CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY NOT NULL, value TEXT)");
    if (!e)
        e = sql_exec(h, "CREATE TABLE IF NOT EXISTS _event (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "ts REAL NOT NULL, class TEXT NOT NULL, op TEXT NOT NULL, ref TEXT NOT NULL, "
                        "snapshot TEXT)");
    int version = e ? 0 : read_version(h);
    if (!e && version > DB_SCHEMA_VERSION)
        e = xerr_internal("database %s has schema version %d, newer than this xenapid knows (%d); "
                          "refusing to touch it",
                          db->path, version, DB_SCHEMA_VERSION);
    for (size_t i = 0; !e && i < dm_nclasses; i++)
        if (dm_classes[i].table)
            e = create_class(h, &dm_classes[i]);
    for (size_t i = 0; !e && i < sizeof(migrations) / sizeof(migrations[0]); i++) {
        if (!migrations[i].sql || migrations[i].to_version <= version)
            continue;
        log_info("database: migrating to schema version %d", migrations[i].to_version);
        e = sql_exec(h, migrations[i].sql);
    }
    if (!e && version != DB_SCHEMA_VERSION) {
        _cleanup_free_ char *sql = xasprintf(
            "INSERT OR REPLACE INTO _meta (key, value) VALUES ('schema_version', '%d')", DB_SCHEMA_VERSION);
        e = sql_exec(h, sql);
    }
    if (e) {
        sql_exec(h, "ROLLBACK");
        return e;
    }
    return sql_exec(h, "COMMIT");
}
