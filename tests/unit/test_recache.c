/* The store's cache of serialised records (db_read_record_bytes): it serves what it
 * made, and no read ever gets bytes older than the last commit that returned:
 * after a write, a rollback, a refused commit, a change to an inverse field, a
 * member's commit (db_serve_remote), a commit that overtakes a read, and under
 * concurrent readers and a writer. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "dm.h"
#include "dm_gen.h"
#include "util.h"
#include "wire.h"
#include "unit.h"

static char dir[64], path[128];
static struct db *db;

static void open_db(size_t cache)
{
    struct db_options o = {.path = path, .sync = "normal", .event_log_size = 1000, .read_connections = 4,
                           .record_cache_size = cache};
    xerr *e = db_open(&o, &db);
    ck_assert_msg(e == NULL, "db_open: %s", e ? e->code : "");
}

static void setup(void)
{
    unit_tmpdir(dir, sizeof(dir), "recache");
    snprintf(path, sizeof(path), "%s/x.db", dir);
    open_db(1 << 20);
}

static void teardown(void)
{
    db_close(db);
    db = NULL;
    unit_tmpdir_remove(dir);
}

static void ok(xerr *e, const char *what)
{
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        ck_abort_msg("%s: %s", what, s);
    }
}

static char *create(const struct dm_class *c, const char *field, xv *v)
{
    xv *rec = xv_struct();
    char uuid[37];
    uuid_generate_str(uuid);
    for (size_t i = 0; i < c->nfields; i++) {
        const struct dm_field *f = &c->fields[i];
        if (f->inverse_class)
            continue;
        xv_struct_append(rec, f->name, f == c->uuid ? xv_string(uuid) : dm_default(f));
    }
    if (field)
        xv_struct_set(rec, field, v);
    char *ref = ref_new();
    struct db_txn *t;
    ok(db_begin(db, &t), "begin");
    ok(db_txn_create(t, c, ref, rec), "create");
    ok(db_commit(t, NULL), "commit");
    xv_free(rec);
    return ref;
}

static void set_str(const struct dm_class *c, const char *ref, const struct dm_field *f, const char *s)
{
    struct db_txn *t;
    ok(db_begin(db, &t), "begin");
    xv *v = xv_string(s);
    ok(db_txn_set(t, c, ref, f, v), "set");
    xv_free(v);
    ok(db_commit(t, NULL), "commit");
}

static void set_label(const char *vm, const char *label)
{
    set_str(DMC_VM, vm, DMF_VM_name_label, label);
}

/* The bytes: the record as JSON, and how many times they were made. */
static int made;
static void to_json(void *ctx, const struct dm_class *c, xv *rec, buf *out)
{
    (void)ctx;
    (void)c;
    __atomic_add_fetch(&made, 1, __ATOMIC_RELAXED);
    wire_json_write(out, rec);
}

/* The record as db_read_record_bytes gives it, decoded back. */
static xv *cached(const struct dm_class *c, const char *ref)
{
    buf b;
    buf_init(&b);
    ok(db_read_record_bytes(db, c, ref, 1, to_json, NULL, &b), "read bytes");
    xv *v = NULL;
    ok(wire_json_parse(b.p, b.len, &v), "parse bytes");
    buf_free(&b);
    return v;
}

static void expect_label(const char *vm, const char *label)
{
    xv *r = cached(DMC_VM, vm);
    ck_assert_str_eq(xv_struct_get_str(r, "name_label"), label);
    xv_free(r);
}

START_TEST(test_hit_after_miss)
{
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("a"));
    made = 0;
    expect_label(vm, "a");
    expect_label(vm, "a");
    expect_label(vm, "a");
    ck_assert_int_eq(made, 1); /* made once, then served */
    struct db_cache_stats st;
    db_record_cache_stats(db, &st);
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.entries, 1);
    /* the other slot is made on its own */
    buf b;
    buf_init(&b);
    ok(db_read_record_bytes(db, DMC_VM, vm, 0, to_json, NULL, &b), "slot 0");
    buf_free(&b);
    ck_assert_int_eq(made, 2);
    /* an object that does not exist: its error, nothing kept */
    buf_init(&b);
    xerr *e = db_read_record_bytes(db, DMC_VM, "OpaqueRef:none", 1, to_json, NULL, &b);
    ck_assert_ptr_nonnull(e);
    ck_assert(xerr_is(e, XERR_HANDLE_INVALID));
    xerr_free(e);
    buf_free(&b);
}
END_TEST

START_TEST(test_write_drops)
{
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("a"));
    expect_label(vm, "a");
    set_label(vm, "b");
    expect_label(vm, "b");
    /* destroyed: gone from the cache too */
    struct db_txn *t;
    ok(db_begin(db, &t), "begin");
    ok(db_txn_destroy(t, DMC_VM, vm), "destroy");
    ok(db_commit(t, NULL), "commit");
    buf b;
    buf_init(&b);
    xerr *e = db_read_record_bytes(db, DMC_VM, vm, 1, to_json, NULL, &b);
    ck_assert(e && xerr_is(e, XERR_HANDLE_INVALID));
    xerr_free(e);
    buf_free(&b);
}
END_TEST

START_TEST(test_rollback)
{
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("a"));
    expect_label(vm, "a");
    /* a write rolled back: the record, and its bytes, are as before */
    struct db_txn *t;
    ok(db_begin(db, &t), "begin");
    xv *v = xv_string("rolled back");
    ok(db_txn_set(t, DMC_VM, vm, DMF_VM_name_label, v), "set");
    xv_free(v);
    expect_label(vm, "a"); /* while it is open too */
    db_abort(t);
    expect_label(vm, "a");
    set_label(vm, "b");
    expect_label(vm, "b");
}
END_TEST

static xerr *refuse(void *ctx, struct db_txn *t)
{
    (void)ctx;
    (void)t;
    return err_database_write_failed("refused by the test");
}

START_TEST(test_refused_commit)
{
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("a"));
    expect_label(vm, "a");
    db_set_commit_hook(db, refuse, NULL);
    struct db_txn *t;
    ok(db_begin(db, &t), "begin");
    xv *v = xv_string("refused");
    ok(db_txn_set(t, DMC_VM, vm, DMF_VM_name_label, v), "set");
    xv_free(v);
    xerr *e = db_commit(t, NULL);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
    db_set_commit_hook(db, NULL, NULL);
    expect_label(vm, "a");
    set_label(vm, "c");
    expect_label(vm, "c");
}
END_TEST

START_TEST(test_inverse_field)
{
    _cleanup_free_ char *host = create(DMC_host, "name_label", xv_string("h"));
    xv *r = cached(DMC_host, host);
    ck_assert_uint_eq(xv_struct_get(r, "resident_VMs")->u.arr.n, 0);
    xv_free(r);
    /* a VM made resident on it changes the host's record (an inverse field) */
    _cleanup_free_ char *vm = create(DMC_VM, "resident_on", xv_string(host));
    r = cached(DMC_host, host);
    ck_assert_uint_eq(xv_struct_get(r, "resident_VMs")->u.arr.n, 1);
    ck_assert_str_eq(xv_str(xv_struct_get(r, "resident_VMs")->u.arr.v[0]), vm);
    xv_free(r);
    set_str(DMC_VM, vm, DMF_VM_resident_on, REF_NULL);
    r = cached(DMC_host, host);
    ck_assert_uint_eq(xv_struct_get(r, "resident_VMs")->u.arr.n, 0);
    xv_free(r);
}
END_TEST

START_TEST(test_member_commit)
{
    /* a pool member's write arrives as a batch applied by db_serve_remote */
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("a"));
    expect_label(vm, "a");
    xv *set = xv_array();
    xv_array_push(set, xv_string("set"));
    xv_array_push(set, xv_string("VM"));
    xv_array_push(set, xv_string(vm));
    xv_array_push(set, xv_string("name_label"));
    xv_array_push(set, xv_string("from a member"));
    xv *batch = xv_array();
    xv_array_push(batch, set);
    xv *args = xv_array();
    xv_array_push(args, batch);
    xv *res = NULL;
    ok(db_serve_remote(db, "commit", args, &res), "db_serve_remote commit");
    xv_free(res);
    xv_free(args);
    expect_label(vm, "from a member");
}
END_TEST

/* A commit between the read and the keeping: those bytes must not be kept. */
static const char *overtake_vm;
static void to_json_overtaken(void *ctx, const struct dm_class *c, xv *rec, buf *out)
{
    if (ctx)
        set_label(overtake_vm, "overtaking");
    to_json(NULL, c, rec, out);
}

START_TEST(test_overtaken_read_not_kept)
{
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("a"));
    overtake_vm = vm;
    buf b;
    buf_init(&b);
    ok(db_read_record_bytes(db, DMC_VM, vm, 1, to_json_overtaken, "overtake", &b), "read");
    ck_assert_ptr_nonnull(strstr(b.p, "\"name_label\":\"a\"")); /* what it read, before the write */
    buf_free(&b);
    expect_label(vm, "overtaking");
}
END_TEST

START_TEST(test_bounded)
{
    db_close(db);
    open_db(64 * 1024);
    char *vms[64];
    for (int i = 0; i < 64; i++) {
        vms[i] = create(DMC_VM, "name_label", xv_string("many"));
        expect_label(vms[i], "many");
    }
    struct db_cache_stats st;
    db_record_cache_stats(db, &st);
    ck_assert_uint_le(st.bytes, 64 * 1024);
    ck_assert_uint_gt(st.entries, 0);
    ck_assert_uint_lt(st.entries, 64); /* some went */
    /* the most recent is still there; the first went */
    made = 0;
    expect_label(vms[63], "many");
    ck_assert_int_eq(made, 0);
    expect_label(vms[0], "many");
    ck_assert_int_eq(made, 1);
    for (int i = 0; i < 64; i++)
        free(vms[i]);
    /* none at all */
    db_close(db);
    open_db(0);
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("x"));
    made = 0;
    expect_label(vm, "x");
    expect_label(vm, "x");
    ck_assert_int_eq(made, 2);
}
END_TEST

/* Readers hammer one record while a writer changes it: every read the writer makes
 * after its commit returned sees its write. */
static volatile int stop_readers;
static const char *shared_vm;
static void *reader(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000 && !stop_readers; i++) {
        buf b;
        buf_init(&b);
        xerr *e = db_read_record_bytes(db, DMC_VM, shared_vm, 1, to_json, NULL, &b);
        xerr_free(e);
        buf_free(&b);
    }
    return NULL;
}

START_TEST(test_concurrent_read_your_writes)
{
    _cleanup_free_ char *vm = create(DMC_VM, "name_label", xv_string("0"));
    shared_vm = vm;
    stop_readers = 0;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
    for (int i = 1; i <= 300; i++) {
        char label[16];
        snprintf(label, sizeof(label), "%d", i);
        set_label(vm, label);
        expect_label(vm, label);
    }
    stop_readers = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    struct db_cache_stats st;
    db_record_cache_stats(db, &st);
    ck_assert_uint_gt(st.hits, 0); /* the cache was in play, not bypassed */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("recache");
    TCase *tc = tcase_create("recache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_hit_after_miss);
    tcase_add_test(tc, test_write_drops);
    tcase_add_test(tc, test_rollback);
    tcase_add_test(tc, test_refused_commit);
    tcase_add_test(tc, test_inverse_field);
    tcase_add_test(tc, test_member_commit);
    tcase_add_test(tc, test_overtaken_read_not_kept);
    tcase_add_test(tc, test_bounded);
    tcase_add_test(tc, test_concurrent_read_your_writes);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
