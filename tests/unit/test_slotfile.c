/* slotfile: the newest valid slot wins, a torn slot falls back to the one before, the
 * older single file loads and is replaced, and damage everywhere is an error. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "slotfile.h"
#include "unit.h"

static char dir[64], path[128];

static void setup(void)
{
    unit_tmpdir(dir, sizeof(dir), "slottest");
    snprintf(path, sizeof(path), "%s/state", dir);
}

static void teardown(void)
{
    unit_tmpdir_remove(dir);
}

static struct slotfile *open_ok(char **data, size_t *len)
{
    struct slotfile *f;
    xerr *e = slotfile_open(path, &f, data, len);
    ck_assert_msg(e == NULL, "slotfile_open: %s", e ? xerr_str(e) : "");
    return f;
}

static void write_ok(struct slotfile *f, const char *s)
{
    xerr *e = slotfile_write(f, s, strlen(s));
    ck_assert_msg(e == NULL, "slotfile_write: %s", e ? xerr_str(e) : "");
}

/* What a fresh open loads: the state as a string, NULL for none. */
static char *reopen(void)
{
    char *data;
    size_t len;
    slotfile_close(open_ok(&data, &len));
    ck_assert(!data || strlen(data) == len);
    return data;
}

/* The slot holding text, by its bytes on disk. */
static int slot_of(const char *text)
{
    for (int i = 0; i < 3; i++) {
        _cleanup_free_ char *sp = xasprintf("%s.%d", path, i);
        size_t n;
        _cleanup_free_ char *raw = read_file(sp, &n);
        if (raw && n >= 32 + strlen(text) && memcmp(raw + 32, text, strlen(text)) == 0)
            return i;
    }
    return -1;
}

static void damage(int slot, off_t at)
{
    _cleanup_free_ char *sp = xasprintf("%s.%d", path, slot);
    int fd = open(sp, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "Z", 1, at), 1);
    close(fd);
}

START_TEST(test_first_start_is_empty)
{
    ck_assert_ptr_null(reopen());
    _cleanup_free_ char *sp = xasprintf("%s.0", path);
    ck_assert_int_eq(access(sp, F_OK), 0);   /* the slots exist from now on */
}
END_TEST

START_TEST(test_newest_wins)
{
    char *data;
    size_t len;
    struct slotfile *f = open_ok(&data, &len);
    const char *states[] = {"one", "two, longer", "3", "four", "five"};
    for (size_t i = 0; i < 5; i++) {
        write_ok(f, states[i]);
        _cleanup_free_ char *now = reopen();   /* as a kill -9 here would leave it */
        ck_assert_str_eq(now, states[i]);
    }
    slotfile_close(f);
    _cleanup_free_ char *peeked = NULL;
    ck_assert_ptr_null(slotfile_peek(path, &peeked, &len));
    ck_assert_str_eq(peeked, "five");
}
END_TEST

START_TEST(test_torn_slot_falls_back)
{
    char *data;
    size_t len;
    struct slotfile *f = open_ok(&data, &len);
    write_ok(f, "before");
    write_ok(f, "after, torn");
    slotfile_close(f);
    int s = slot_of("after, torn");
    ck_assert_int_ge(s, 0);
    damage(s, 32 + 3);   /* a payload byte: the checksum no longer matches */
    _cleanup_free_ char *now = reopen();
    ck_assert_str_eq(now, "before");
}
END_TEST

START_TEST(test_durable_slot_kept)
{
    /* After a sync, saves go to the other two slots: the synced state stays on disk
     * whatever a power loss does to the writes after it. */
    char *data;
    size_t len;
    struct slotfile *f = open_ok(&data, &len);
    write_ok(f, "synced");
    ck_assert_ptr_null(slotfile_sync(f));
    for (int i = 0; i < 6; i++)
        write_ok(f, i % 2 ? "odd" : "even");
    int s = slot_of("synced");
    ck_assert_int_ge(s, 0);
    int a = slot_of("odd"), b = slot_of("even");
    ck_assert(a >= 0 && b >= 0 && a != s && b != s);
    /* both later slots torn: the synced one is loaded */
    damage(a, 33);
    damage(b, 33);
    _cleanup_free_ char *now = reopen();
    ck_assert_str_eq(now, "synced");
    slotfile_close(f);
}
END_TEST

START_TEST(test_old_single_file_upgrades)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("old format", fp);
    fclose(fp);
    char *data;
    size_t len;
    struct slotfile *f = open_ok(&data, &len);
    ck_assert_str_eq(data, "old format");
    free(data);
    write_ok(f, "new");
    ck_assert_int_ne(access(path, F_OK), 0);   /* replaced */
    slotfile_close(f);
    _cleanup_free_ char *now = reopen();
    ck_assert_str_eq(now, "new");
}
END_TEST

START_TEST(test_all_damaged_is_an_error)
{
    char *data;
    size_t len;
    struct slotfile *f = open_ok(&data, &len);
    write_ok(f, "a");
    write_ok(f, "b");
    write_ok(f, "c");
    slotfile_close(f);
    for (int i = 0; i < 3; i++)
        damage(i, 0);   /* the magic */
    xerr *e = slotfile_open(path, &f, &data, &len);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
    e = slotfile_peek(path, &data, &len);
    ck_assert_ptr_nonnull(e);
    xerr_free(e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("slotfile");
    TCase *tc = tcase_create("slots");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_first_start_is_empty);
    tcase_add_test(tc, test_newest_wins);
    tcase_add_test(tc, test_torn_slot_falls_back);
    tcase_add_test(tc, test_durable_slot_kept);
    tcase_add_test(tc, test_old_single_file_upgrades);
    tcase_add_test(tc, test_all_damaged_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(suite)
