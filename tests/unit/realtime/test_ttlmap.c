/* Unit: rt_ttlmap as a throttle and as a cache, including its capacity bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "ttlmap.h"

static void test_throttle(void **state)
{
    (void)state;
    rt_ttlmap_t *m = rt_ttlmap_new(16);
    assert_true(rt_ttlmap_take(m, "u1|workspace:a", 1000, 2000));
    assert_false(rt_ttlmap_take(m, "u1|workspace:a", 1500, 2000));
    assert_false(rt_ttlmap_take(m, "u1|workspace:a", 2999, 2000));
    assert_true(rt_ttlmap_take(m, "u2|workspace:a", 1500, 2000)); /* per user */
    assert_true(rt_ttlmap_take(m, "u1|workspace:b", 1500, 2000)); /* per room */
    assert_true(rt_ttlmap_take(m, "u1|workspace:a", 3000, 2000)); /* interval passed */
    assert_false(rt_ttlmap_take(m, "u1|workspace:a", 4000, 2000));
    rt_ttlmap_free(m);
}

static void test_cache(void **state)
{
    (void)state;
    rt_ttlmap_t *m = rt_ttlmap_new(4);
    assert_false(rt_ttlmap_live(m, "k", 0));
    rt_ttlmap_put(m, "k", 0, 100);
    assert_true(rt_ttlmap_live(m, "k", 99));
    assert_false(rt_ttlmap_live(m, "k", 100));
    char long_key[200];
    memset(long_key, 'x', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    rt_ttlmap_put(m, long_key, 0, 100);
    assert_false(rt_ttlmap_live(m, long_key, 1));
    assert_false(rt_ttlmap_take(m, long_key, 1, 100));
    rt_ttlmap_free(m);
}

static void test_capacity_is_bounded(void **state)
{
    (void)state;
    rt_ttlmap_t *m = rt_ttlmap_new(8);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_true(rt_ttlmap_take(m, key, i, 1000000));
        assert_true(rt_ttlmap_size(m) <= 8);
    }
    /* Expired entries are evicted first: live ones survive an eviction. */
    rt_ttlmap_t *e = rt_ttlmap_new(4);
    rt_ttlmap_put(e, "old1", 0, 10);
    rt_ttlmap_put(e, "old2", 0, 10);
    rt_ttlmap_put(e, "live", 0, 1000);
    rt_ttlmap_put(e, "old3", 0, 10);
    rt_ttlmap_put(e, "new", 100, 1000); /* full: evicts the expired ones */
    assert_true(rt_ttlmap_live(e, "live", 101));
    assert_true(rt_ttlmap_live(e, "new", 101));
    assert_int_equal(rt_ttlmap_size(e), 2);
    rt_ttlmap_free(e);
    rt_ttlmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttle),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_capacity_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
