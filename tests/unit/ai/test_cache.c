/* ai_cache: hits, expiry, generation mismatch, per-user invalidation, LRU bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include "cache.h"

#define UA "00000000-0000-4000-8000-00000000000a"
#define UB "00000000-0000-4000-8000-00000000000b"

static void test_hit_expiry_gen(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(10, 1000);
    json_t *v = json_pack("{s:i}", "n", 7);
    ai_cache_put(c, UA, "k", 3, v, 0);
    json_decref(v);
    json_t *got = ai_cache_get(c, UA, "k", 3, 999);
    assert_non_null(got);
    assert_int_equal(json_integer_value(json_object_get(got, "n")), 7);
    json_decref(got);
    assert_null(ai_cache_get(c, UB, "k", 3, 0));  /* other user */
    assert_null(ai_cache_get(c, UA, "k", 4, 10)); /* other generation: dropped */
    assert_null(ai_cache_get(c, UA, "k", 3, 10));
    v = json_true();
    ai_cache_put(c, UA, "k", 3, v, 0);
    assert_null(ai_cache_get(c, UA, "k", 3, 1000)); /* expired */
    ai_cache_free(c);
}

static void test_invalidate_user(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(10, 1000);
    json_t *v = json_true();
    ai_cache_put(c, UA, "a", 0, v, 0);
    ai_cache_put(c, UA, "b", 0, v, 0);
    ai_cache_put(c, UB, "a", 0, v, 0);
    assert_int_equal(ai_cache_invalidate_user(c, UA), 2);
    assert_null(ai_cache_get(c, UA, "a", 0, 1));
    json_t *got = ai_cache_get(c, UB, "a", 0, 1);
    assert_non_null(got);
    json_decref(got);
    ai_cache_free(c);
}

static void test_bounded_lru(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(3, 100000);
    json_t *v = json_true();
    char key[16];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ai_cache_put(c, UA, key, 0, v, 0);
    }
    json_decref(ai_cache_get(c, UA, "k0", 0, 1)); /* k0 is now the most recent */
    ai_cache_put(c, UA, "k3", 0, v, 2);
    assert_int_equal(ai_cache_size(c), 3);
    assert_null(ai_cache_get(c, UA, "k1", 0, 3)); /* the least recent went */
    json_t *got = ai_cache_get(c, UA, "k0", 0, 3);
    assert_non_null(got);
    json_decref(got);
    ai_cache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(0, 1000);
    ai_cache_put(c, UA, "k", 0, json_true(), 0);
    assert_null(ai_cache_get(c, UA, "k", 0, 0));
    ai_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_expiry_gen),
        cmocka_unit_test(test_invalidate_user),
        cmocka_unit_test(test_bounded_lru),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
