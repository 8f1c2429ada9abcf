/* Parked calls (src/rpc/park.c): each is woken once, at its time or by news, whatever
 * the keeper was sleeping for when it parked; the keeper is signalled only when a
 * call needs it sooner than it would wake, so these check every way a call can come
 * due relative to that sleep. */
#include <stdatomic.h>
#include <unistd.h>

#include "db.h"
#include "dm_gen.h"
#include "util.h"
#include "wire.h"
#include "../../src/rpc/rpc_int.h"
#include "unit.h"

#define NONE 0x0ull              /* waits for no class: only its time wakes it */
#define ANY (~0ull)

static char dir[64];
static struct db *db;
static struct parking *pk;

struct call {
    atomic_int woken;            /* times fn ran */
    _Atomic double at;           /* when it first ran (monotonic) */
};

static void wake(void *p)
{
    struct call *c = p;
    if (atomic_fetch_add(&c->woken, 1) == 0)
        atomic_store(&c->at, now_monotonic());
}

/* Wait up to limit seconds for c's wake; true if it came. */
static bool woken_within(struct call *c, double limit)
{
    double end = now_monotonic() + limit;
    while (atomic_load(&c->woken) == 0 && now_monotonic() < end)
        usleep(2000);
    return atomic_load(&c->woken) > 0;
}

static void ok(xerr *e, const char *what)
{
    if (e) {
        _cleanup_free_ char *s = xerr_str(e);
        ck_abort_msg("%s: %s", what, s);
    }
}

/* A VM created (the store fills every field left out): one event. */
static void write_event(void)
{
    _cleanup_free_ char *ref = ref_new();
    char uuid[37];
    uuid_generate_str(uuid);
    xv *rec = xv_struct();
    xv_struct_append(rec, "uuid", xv_string(uuid));
    struct db_txn *t;
    ok(db_begin(db, &t), "begin");
    ok(db_txn_create(t, DMC_VM, ref, rec), "create");
    ok(db_commit(t, NULL), "commit");
    xv_free(rec);
}

static void setup(void)
{
    unit_tmpdir(dir, sizeof(dir), "parktest");
    _cleanup_free_ char *path = xasprintf("%s/x.db", dir);
    struct db_options o = {.path = path, .sync = "normal", .event_log_size = 1000, .read_connections = 2};
    ok(db_open(&o, &db), "db_open");
    ok(parking_new(db, &pk), "parking_new");
}

static void teardown(void)
{
    parking_flush(pk);
    parking_free(pk);
    db_close(db);
    unit_tmpdir_remove(dir);
}

/* The keeper sleeps until a far call's time; a nearer one parked then wakes at its
 * own time, not at the far one's. */
START_TEST(test_sooner_call_wakes_on_time)
{
    struct call far = {0}, near = {0};
    int64_t last = db_last_event_id(db);
    parking_add(pk, last, NONE, now_monotonic() + 60, wake, &far);
    usleep(100 * 1000); /* the keeper is asleep until far's time */
    double t0 = now_monotonic();
    parking_add(pk, last, NONE, t0 + 0.2, wake, &near);
    ck_assert_msg(woken_within(&near, 5), "a call due in 0.2 s was not woken within 5 s");
    double after = atomic_load(&near.at) - t0;
    ck_assert_msg(after >= 0.19 && after < 2, "woken %.3f s after parking, due at 0.2 s", after);
    ck_assert_int_eq(atomic_load(&far.woken), 0);
    parking_flush(pk);
    ck_assert(woken_within(&far, 5));
    ck_assert_int_eq(atomic_load(&near.woken), 1);
    ck_assert_int_eq(atomic_load(&far.woken), 1);
}
END_TEST

/* A call due after the keeper's wake-up needs no signal: it wakes at its own time,
 * after the sooner one. */
START_TEST(test_later_call_wakes_after_the_sooner)
{
    struct call first = {0}, second = {0};
    int64_t last = db_last_event_id(db);
    double t0 = now_monotonic();
    parking_add(pk, last, NONE, t0 + 0.3, wake, &first);
    usleep(50 * 1000);
    parking_add(pk, last, NONE, t0 + 0.6, wake, &second);
    ck_assert(woken_within(&first, 5));
    ck_assert(woken_within(&second, 5));
    double a = atomic_load(&first.at) - t0, b = atomic_load(&second.at) - t0;
    ck_assert_msg(a >= 0.29 && b >= 0.59 && a <= b, "woken at %.3f s and %.3f s, due at 0.3 and 0.6", a, b);
    ck_assert_msg(b < 3, "the later call was woken %.3f s after its time", b - 0.6);
}
END_TEST

/* News the watcher saw before the call parked wakes it at once, though the keeper
 * sleeps until a time sooner than the call's own. */
START_TEST(test_news_before_parking_wakes_at_once)
{
    struct call other = {0}, c = {0};
    int64_t last = db_last_event_id(db);
    write_event();
    parking_add(pk, db_last_event_id(db), NONE, now_monotonic() + 30, wake, &other);
    usleep(300 * 1000); /* the watcher has seen the event; the keeper sleeps until other's time */
    double t0 = now_monotonic();
    parking_add(pk, last, ANY, t0 + 60, wake, &c);
    ck_assert_msg(woken_within(&c, 5), "a call with news waiting was not woken");
    ck_assert_msg(atomic_load(&c.at) - t0 < 2, "woken %.3f s after parking", atomic_load(&c.at) - t0);
    ck_assert_int_eq(atomic_load(&other.woken), 0);
}
END_TEST

/* News after parking wakes the call; news of a class it does not wait for does not. */
START_TEST(test_news_after_parking_wakes)
{
    struct call deaf = {0}, listening = {0};
    int64_t last = db_last_event_id(db);
    parking_add(pk, last, NONE, now_monotonic() + 60, wake, &deaf);
    parking_add(pk, last, ANY, now_monotonic() + 60, wake, &listening);
    usleep(50 * 1000);
    write_event();
    ck_assert_msg(woken_within(&listening, 5), "news did not wake the call waiting for it");
    usleep(200 * 1000);
    ck_assert_int_eq(atomic_load(&deaf.woken), 0);
}
END_TEST

static Suite *park_suite(void)
{
    Suite *s = suite_create("park");
    TCase *tc = tcase_create("park");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sooner_call_wakes_on_time);
    tcase_add_test(tc, test_later_call_wakes_after_the_sooner);
    tcase_add_test(tc, test_news_before_parking_wakes_at_once);
    tcase_add_test(tc, test_news_after_parking_wakes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(park_suite)
