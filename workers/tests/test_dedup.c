/* The duplicate filter of repartitioned input, and its commit points: a replay of the first
 * stage is dropped, new records pass, and the state committed at an offset is the state of
 * everything before it. */
#include "dedup.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_replay_dropped_new_kept(void **state)
{
    struct s4f_dedup *d = s4f_dedup_new();
    assert_non_null(d);
    assert_int_equal(s4f_dedup_check(d, 0, 1, 10, 0), S4F_DEDUP_NEW);
    assert_int_equal(s4f_dedup_check(d, 0, 2, 10, 0), S4F_DEDUP_NEW); /* other side, same flow */
    assert_int_equal(s4f_dedup_check(d, 1, 1, 5, 0), S4F_DEDUP_NEW);  /* other source partition */
    assert_int_equal(s4f_dedup_check(d, 0, 1, 11, 0), S4F_DEDUP_NEW);
    /* Stage one restarted from offset 9 of source partition 0 (9 never came here: a record
     * without a claim, of an earlier version, is new unless seen). */
    assert_int_equal(s4f_dedup_check(d, 0, 1, 10, 0), S4F_DEDUP_DUP);
    assert_int_equal(s4f_dedup_check(d, 0, 1, 11, 0), S4F_DEDUP_DUP);
    assert_int_equal(s4f_dedup_check(d, 0, 1, 12, 0), S4F_DEDUP_NEW);
    /* Claims: a first record seen after a failed write does not cover what came before
     * its claim (issue 23: those were dropped as duplicates when their rewrite came). */
    assert_int_equal(s4f_dedup_check(d, 7, 1, 30, 10), S4F_DEDUP_NEW);
    assert_false(s4f_dedup_contiguous(d, 7, 1, 1, 30));
    assert_int_equal(s4f_dedup_check(d, 7, 1, 20, 20), S4F_DEDUP_NEW);
    assert_true(s4f_dedup_contiguous(d, 7, 1, 1, 30));
    assert_int_equal(s4f_dedup_check(d, 7, 1, 20, 20), S4F_DEDUP_DUP);
    s4f_dedup_free(d);
    s4f_dedup_free(NULL);
}

static void test_commit_point_and_restore(void **state)
{
    char meta[256];
    struct s4f_dedup *d = s4f_dedup_new();
    assert_int_equal(s4f_dedup_restore(d, "", 0, 100), 0); /* first record at offset 100 */
    assert_int_equal(s4f_dedup_check(d, 0, 1, 10, 0), S4F_DEDUP_NEW); /* offset 100 */
    s4f_dedup_snapshot(d, 101);
    assert_int_equal(s4f_dedup_check(d, 3, 2, 7, 0), S4F_DEDUP_NEW); /* offset 101 */
    s4f_dedup_snapshot(d, 102);
    /* The windows hold offset 101 still: commit at 101 with the state before it. */
    assert_int_equal(s4f_dedup_commit_point(d, 101, meta, sizeof(meta)), 101);
    assert_string_equal(meta, "d=0.1:10^10");
    /* Nothing at or before 99. */
    assert_int_equal(s4f_dedup_commit_point(d, 99, meta, sizeof(meta)), -1);
    /* Too small a buffer: no commit point, nothing dropped. */
    assert_int_equal(s4f_dedup_commit_point(d, 102, meta, 6), -1);
    assert_int_equal(s4f_dedup_commit_point(d, 102, meta, sizeof(meta)), 102);
    assert_string_equal(meta, "d=0.1:10^10,3.2:7^7");

    /* A crash; the next owner resumes at 101 with the state committed there. */
    struct s4f_dedup *r = s4f_dedup_new();
    assert_int_equal(s4f_dedup_restore(r, "d=0.1:10", 8, 101), 0);
    assert_int_equal(s4f_dedup_check(r, 0, 1, 10, 0), S4F_DEDUP_DUP); /* replayed by stage one */
    assert_int_equal(s4f_dedup_check(r, 3, 2, 7, 0), S4F_DEDUP_NEW);  /* offset 101, again */
    assert_int_equal(s4f_dedup_commit_point(r, 101, meta, sizeof(meta)), 101);
    assert_string_equal(meta, "d=0.1:10");
    s4f_dedup_free(r);
    s4f_dedup_free(d);
}

static void test_hostile_metadata(void **state)
{
    static const char *const bad[] = {
        "x", "d=1", "d=1.2", "d=1.2:", "d=a.1:2", "d=1.2:3;", "d=-1.1:2", "d=1.999:2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s4f_dedup *d = s4f_dedup_new();
        assert_int_equal(s4f_dedup_restore(d, bad[i], strlen(bad[i]), 5), -1);
        /* Left empty but usable. */
        assert_int_equal(s4f_dedup_check(d, 1, 1, 1, 0), S4F_DEDUP_NEW);
        s4f_dedup_free(d);
    }
}

static void test_bounds(void **state)
{
    char meta[64];
    struct s4f_dedup *d = s4f_dedup_new();
    for (int i = 0; i < S4F_DEDUP_MAX_KEYS; i++)
        assert_int_equal(s4f_dedup_check(d, i, 1, 1, 0), S4F_DEDUP_NEW);
    assert_int_equal(s4f_dedup_check(d, 100000, 1, 1, 0), S4F_DEDUP_FULL);
    /* Many snapshots: the cap holds and the oldest commit point survives thinning. */
    for (int i = 0; i < 10 * S4F_DEDUP_MAX_SNAPSHOTS; i++) {
        assert_int_equal(s4f_dedup_check(d, 0, 1, 2 + i, 0), S4F_DEDUP_NEW);
        s4f_dedup_snapshot(d, 1000 + i);
    }
    char big[16384];
    assert_int_equal(s4f_dedup_commit_point(d, 1000, big, sizeof(big)), 1000);
    assert_int_equal(s4f_dedup_commit_point(d, 5000, meta, sizeof(meta)), -1); /* too long */
    s4f_dedup_free(d);
}

/* Issue 23: a failed write leaves a gap that the rewrite refills; a maximum alone dropped
 * the rewritten records as duplicates. Records claim the offsets since the previous record
 * routed to the same partition and side. */
static void test_failed_write_gap_refilled(void **state)
{
    struct s4f_dedup *d = s4f_dedup_new();
    assert_int_equal(s4f_dedup_check(d, 0, 1, 10, 5), S4F_DEDUP_NEW);
    assert_int_equal(s4f_dedup_check(d, 0, 1, 14, 4), S4F_DEDUP_NEW);
    /* 17 and 20 were lost (claims (14,17], (17,20]); 23 claims (20, 23]. */
    assert_int_equal(s4f_dedup_check(d, 0, 1, 23, 3), S4F_DEDUP_NEW);
    assert_false(s4f_dedup_contiguous(d, 0, 1, 6, 23));
    assert_true(s4f_dedup_contiguous(d, 0, 1, 6, 14));
    assert_false(s4f_dedup_contiguous(d, 0, 1, 5, 14)); /* below the first claim */
    char meta[256];
    s4f_dedup_snapshot(d, 100);
    assert_int_equal(s4f_dedup_commit_point(d, 100, meta, sizeof(meta)), 100);
    assert_string_equal(meta, "d=0.1:14^6~21-23");
    /* A restart keeps the gap. */
    struct s4f_dedup *r = s4f_dedup_new();
    assert_int_equal(s4f_dedup_restore(r, meta, strlen(meta), 100), 0);
    /* The rewrite from the last commit: 10 and 14 again (duplicates), 17 and 20 new, 23
     * again. */
    for (int i = 0; i < 2; i++) {
        struct s4f_dedup *x = i ? r : d;
        assert_int_equal(s4f_dedup_check(x, 0, 1, 10, 5), S4F_DEDUP_DUP);
        assert_int_equal(s4f_dedup_check(x, 0, 1, 14, 4), S4F_DEDUP_DUP);
        assert_int_equal(s4f_dedup_check(x, 0, 1, 17, 3), S4F_DEDUP_NEW);
        assert_int_equal(s4f_dedup_check(x, 0, 1, 17, 3), S4F_DEDUP_DUP);
        assert_int_equal(s4f_dedup_check(x, 0, 1, 20, 3), S4F_DEDUP_NEW);
        assert_int_equal(s4f_dedup_check(x, 0, 1, 23, 3), S4F_DEDUP_DUP);
        assert_true(s4f_dedup_contiguous(x, 0, 1, 6, 23));
        assert_int_equal(s4f_dedup_check(x, 0, 1, 25, 2), S4F_DEDUP_NEW);
    }
    /* Hostile gap lists are refused. */
    const char *bad[] = {"d=0.1:14~3-5", "d=0.1:14~20-19", "d=0.1:14~20",
                         "d=0.1:14~-",   "d=0.1:14^15",    "d=0.1:14^"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(s4f_dedup_restore(r, bad[i], strlen(bad[i]), 100), -1);
    /* More gaps than tracked: the oldest is taken as filled, the newest kept. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(s4f_dedup_check(r, 5, 2, 1000 + 10 * i, 1), S4F_DEDUP_NEW);
    assert_int_equal(s4f_dedup_check(r, 5, 2, 1005, 1), S4F_DEDUP_DUP);
    assert_int_equal(s4f_dedup_check(r, 5, 2, 1185, 1), S4F_DEDUP_NEW);
    s4f_dedup_free(d);
    s4f_dedup_free(r);
}

static void test_source_offset_bound(void **state)
{
    /* Regression (issue 13): one record claiming a far source offset made every later
     * record of its source partition a duplicate. */
    int64_t slack = S4F_DEDUP_HWM_SLACK;
    assert_int_equal(s4f_dedup_bound(10, -1, INT64_MAX), S4F_DEDUP_BOUND_QUERY); /* never asked */
    assert_int_equal(s4f_dedup_bound(10, 100, 5), S4F_DEDUP_BOUND_OK);
    assert_int_equal(s4f_dedup_bound(100, 100, 0), S4F_DEDUP_BOUND_BEYOND); /* fresh mark */
    assert_int_equal(s4f_dedup_bound(100, 100, 10), S4F_DEDUP_BOUND_OK);    /* input grew */
    assert_int_equal(s4f_dedup_bound(100 + slack, 100, 10), S4F_DEDUP_BOUND_BEYOND);
    assert_int_equal(s4f_dedup_bound(INT64_MAX, 100, 10), S4F_DEDUP_BOUND_BEYOND);
    assert_int_equal(s4f_dedup_bound(200, 100, S4F_DEDUP_HWM_REFRESH_MS), S4F_DEDUP_BOUND_QUERY);
    assert_int_equal(s4f_dedup_bound(-1, 100, 10), S4F_DEDUP_BOUND_BEYOND);
    assert_int_equal(s4f_dedup_bound(5, -1, 10), S4F_DEDUP_BOUND_OK); /* query failed */
}

static bool beyond_50(void *ctx, int32_t sp, int64_t so)
{
    (void)ctx;
    (void)sp;
    return so >= 50;
}

static void test_restored_maxima_cleaned(void **state)
{
    /* A bad maximum that reached the commit metadata is forgotten on restore, in the
     * commit point too. */
    const char *meta = "d=0.1:40,1.1:9000000000,2.2:7";
    struct s4f_dedup *d = s4f_dedup_new();
    assert_int_equal(s4f_dedup_restore(d, meta, strlen(meta), 100), 0);
    assert_int_equal(s4f_dedup_drop_if(d, beyond_50, NULL), 1);
    assert_int_equal(s4f_dedup_check(d, 1, 1, 10, 0), S4F_DEDUP_NEW);
    assert_int_equal(s4f_dedup_check(d, 0, 1, 40, 0), S4F_DEDUP_DUP);
    char out[128];
    assert_int_equal(s4f_dedup_commit_point(d, 100, out, sizeof(out)), 100);
    assert_string_equal(out, "d=0.1:40,2.2:7");
    s4f_dedup_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_dropped_new_kept),
        cmocka_unit_test(test_commit_point_and_restore),
        cmocka_unit_test(test_hostile_metadata),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_failed_write_gap_refilled),
        cmocka_unit_test(test_source_offset_bound),
        cmocka_unit_test(test_restored_maxima_cleaned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
