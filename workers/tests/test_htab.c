/* The bounded hash table's removal (backward shift): every remaining key stays findable,
 * whatever the clustering, wrap-around included. The 64-bit-key table: growth keeps every
 * count, the cap refuses only new keys, key 0 is refused, reserve and clear. */
#include "htab.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Hashes chosen to pile keys into a few home slots near the end of the table, so that runs
 * wrap around to its start. */
static uint64_t clustered(uint32_t k)
{
    return (uint64_t)(k % 5) * 1000003u + 61u;
}

static void test_remove_keeps_others_findable(void **state)
{
    struct s4f_htab h;
    s4f_htab_init(&h, sizeof(uint32_t), sizeof(uint32_t), 1000);
    for (uint32_t k = 0; k < 30; k++) {
        bool created;
        uint32_t *v = s4f_htab_insert(&h, &k, clustered(k), &created);
        assert_non_null(v);
        *v = k * 7;
    }
    assert_int_equal(h.cap, 64);
    for (uint32_t k = 0; k < 30; k += 3)
        assert_true(s4f_htab_remove(&h, &k, clustered(k)));
    uint32_t missing = 1000;
    assert_false(s4f_htab_remove(&h, &missing, clustered(missing)));
    assert_int_equal(h.n, 20);
    for (uint32_t k = 0; k < 30; k++) {
        uint32_t *v = s4f_htab_find(&h, &k, clustered(k));
        if (k % 3 == 0) {
            assert_null(v);
        } else {
            assert_non_null(v);
            assert_int_equal(*v, k * 7);
        }
    }
    /* Room again under the cap, and removed keys come back empty. */
    bool created;
    uint32_t k = 3;
    uint32_t *v = s4f_htab_insert(&h, &k, clustered(k), &created);
    assert_true(created);
    assert_int_equal(*v, 0);
    s4f_htab_release(&h);
}

static void test_htab64_counts_cap_and_reuse(void **state)
{
    (void)state;
    struct s4f_htab64 h;
    s4f_htab64_init(&h, 5000);
    bool created;
    assert_null(s4f_htab64_insert(&h, 0, &created));
    for (int round = 0; round < 3; round++)
        for (uint64_t k = 1; k <= 6000; k++) {
            uint64_t *v = s4f_htab64_insert(&h, k << 32 | (k * 7919), &created);
            if (k > 5000) {
                assert_null(v); /* the cap: a new key is refused */
                continue;
            }
            assert_non_null(v);
            assert_int_equal(created, round == 0);
            *v += k;
        }
    assert_int_equal(h.n, 5000);
    assert_true(h.cap * 7 >= h.n * 10);
    uint64_t sum = 0, keys = 0;
    for (size_t i = 0; i < h.cap; i++)
        if (h.mem[2 * i]) {
            keys++;
            assert_int_equal(h.mem[2 * i + 1], 3 * (h.mem[2 * i] >> 32));
            sum += h.mem[2 * i + 1];
        }
    assert_int_equal(keys, 5000);
    assert_int_equal(sum, 3 * 5000 * 5001 / 2);
    size_t cap = h.cap;
    s4f_htab64_clear(&h);
    assert_int_equal(h.n, 0);
    assert_int_equal(h.cap, cap);
    assert_int_equal(s4f_htab64_reserve(&h, 100000), 0);
    assert_int_equal(h.cap, 8192); /* reserve is capped at max: 5000 entries at load 0.7 */
    uint64_t *v = s4f_htab64_insert(&h, 42, &created);
    assert_true(created);
    assert_int_equal(*v, 0);
    s4f_htab64_release(&h);
}

/* Pair counts sharing a word with their key stay exact past the word's count bits (they move
 * to the side table), across growth and reuse; keys wider than declared are refused. */
static void test_cset64_counts_exact_past_word(void **state)
{
    (void)state;
    struct s4f_cset64 h;
    s4f_cset64_init(&h, 5000, 60); /* 4 count bits: 15 marks a count kept aside */
    bool created;
    assert_int_equal(s4f_cset64_add(&h, 0, 1, &created), -1);
    assert_int_equal(s4f_cset64_add(&h, (uint64_t)1 << 60, 1, &created), -1);
    /* Key k gets k % 40 + 1 increments of 2: up to 80, past 15 for most. */
    for (uint64_t k = 1; k <= 3000; k++)
        for (uint64_t j = 0; j <= k % 40; j++) {
            assert_int_equal(s4f_cset64_add(&h, k << 32 | (k * 7919), 2, &created), 0);
            assert_int_equal(created, j == 0);
        }
    assert_int_equal(s4f_cset64_add(&h, 1ull << 59, 1000, &created), 0); /* aside at once */
    assert_int_equal(h.n, 3001);
    size_t seen = 0;
    for (size_t i = 0; i < h.cap; i++) {
        uint64_t k = s4f_cset64_key_at(&h, i);
        if (!k)
            continue;
        seen++;
        uint64_t want = k == 1ull << 59 ? 1000 : 2 * ((k >> 32) % 40 + 1);
        assert_int_equal(s4f_cset64_count_at(&h, i), want);
    }
    assert_int_equal(seen, 3001);
    for (uint64_t k = 5001; h.n < 5000; k++)
        assert_int_equal(s4f_cset64_add(&h, k, 1, &created), 0);
    assert_int_equal(s4f_cset64_add(&h, 99999, 1, &created), -1); /* capped */
    assert_int_equal(s4f_cset64_add(&h, 5001, 1, &created), 0);   /* present: counted */
    s4f_cset64_clear(&h);
    assert_int_equal(h.n, 0);
    assert_int_equal(s4f_cset64_reserve(&h, 4000), 0);
    assert_int_equal(s4f_cset64_add(&h, 42, 20, &created), 0);
    assert_true(created);
    for (size_t i = 0; i < h.cap; i++)
        if (s4f_cset64_key_at(&h, i))
            assert_int_equal(s4f_cset64_count_at(&h, i), 20);
    s4f_cset64_release(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove_keeps_others_findable),
        cmocka_unit_test(test_htab64_counts_cap_and_reuse),
        cmocka_unit_test(test_cset64_counts_exact_past_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
