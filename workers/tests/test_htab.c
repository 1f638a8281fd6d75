/* The bounded hash table's removal (backward shift): every remaining key stays findable,
 * whatever the clustering, wrap-around included. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove_keeps_others_findable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
