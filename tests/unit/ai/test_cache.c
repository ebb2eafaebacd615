/* ai_cache: hits, expiry, confirmation of the generation after the recheck window, the
 * epoch guard against a put racing an invalidation, per-user invalidation, LRU bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include "cache.h"

#define UA "00000000-0000-4000-8000-00000000000a"
#define UB "00000000-0000-4000-8000-00000000000b"

/* The result of a get; the text (if any) is compared with want and freed. */
static ai_cache_result_t get(ai_cache_t *c, const char *user, const char *key, int64_t now,
                             const char *want, int64_t *gen)
{
    char *text = NULL;
    int64_t g = -1;
    ai_cache_result_t r = ai_cache_get(c, user, key, now, &text, &g);
    if (r == AI_CACHE_HIT)
        assert_string_equal(text, want);
    else
        assert_null(text);
    free(text);
    if (gen)
        *gen = g;
    return r;
}

static void test_hit_and_expiry(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(10, 5000, 1000);
    ai_cache_put(c, UA, "k", 3, ai_cache_epoch(c), "{\"n\":7}", 0);
    assert_int_equal(get(c, UA, "k", 999, "{\"n\":7}", NULL), AI_CACHE_HIT);
    assert_int_equal(get(c, UB, "k", 10, NULL, NULL), AI_CACHE_MISS);   /* other user */
    assert_int_equal(get(c, UA, "x", 10, NULL, NULL), AI_CACHE_MISS);   /* other key */
    assert_int_equal(get(c, UA, "k", 5000, NULL, NULL), AI_CACHE_MISS); /* expired */
    assert_int_equal(ai_cache_size(c), 0);
    ai_cache_free(c);
}

static void test_recheck_confirm(void **state)
{
    (void)state;
    int64_t gen;
    ai_cache_t *c = ai_cache_new(10, 100000, 1000);
    ai_cache_put(c, UA, "k", 3, ai_cache_epoch(c), "v3", 0);
    /* past the recheck window the generation must be confirmed */
    assert_int_equal(get(c, UA, "k", 1000, NULL, &gen), AI_CACHE_CHECK);
    assert_int_equal(gen, 3);
    char *text = ai_cache_confirm(c, UA, "k", 3, 1500);
    assert_string_equal(text, "v3");
    free(text);
    /* confirmed at 1500: trusted again until 2500 */
    assert_int_equal(get(c, UA, "k", 2499, "v3", NULL), AI_CACHE_HIT);
    assert_int_equal(get(c, UA, "k", 2500, NULL, NULL), AI_CACHE_CHECK);
    /* another replica changed the user's data: the entry goes */
    assert_null(ai_cache_confirm(c, UA, "k", 4, 2600));
    assert_int_equal(get(c, UA, "k", 2601, NULL, NULL), AI_CACHE_MISS);
    ai_cache_free(c);
}

static void test_recheck_zero_always_checks(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(10, 100000, 0);
    ai_cache_put(c, UA, "k", 1, ai_cache_epoch(c), "v", 0);
    assert_int_equal(get(c, UA, "k", 0, NULL, NULL), AI_CACHE_CHECK);
    char *text = ai_cache_confirm(c, UA, "k", 1, 0);
    assert_string_equal(text, "v");
    free(text);
    assert_int_equal(get(c, UA, "k", 0, NULL, NULL), AI_CACHE_CHECK);
    ai_cache_free(c);
}

static void test_put_racing_invalidation(void **state)
{
    (void)state;
    int64_t gen;
    ai_cache_t *c = ai_cache_new(10, 100000, 1000);
    uint64_t before = ai_cache_epoch(c);
    /* the consumer drops UA's answers while a worker computes one (from data that may
     * predate the change): the stored reply is not trusted without a check */
    assert_int_equal(ai_cache_invalidate_user(c, UA), 0);
    assert_true(ai_cache_epoch(c) != before);
    ai_cache_put(c, UA, "k", 5, before, "old", 10);
    assert_int_equal(get(c, UA, "k", 11, NULL, &gen), AI_CACHE_CHECK);
    assert_int_equal(gen, 5);
    assert_null(ai_cache_confirm(c, UA, "k", 6, 12));
    /* a put with the current epoch is trusted at once */
    ai_cache_put(c, UA, "k", 6, ai_cache_epoch(c), "new", 20);
    assert_int_equal(get(c, UA, "k", 21, "new", NULL), AI_CACHE_HIT);
    ai_cache_free(c);
}

static void test_invalidate_user(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(10, 1000, 1000);
    uint64_t e = ai_cache_epoch(c);
    ai_cache_put(c, UA, "a", 0, e, "1", 0);
    ai_cache_put(c, UA, "b", 0, e, "2", 0);
    ai_cache_put(c, UB, "a", 0, e, "3", 0);
    assert_int_equal(ai_cache_invalidate_user(c, UA), 2);
    assert_int_equal(get(c, UA, "a", 1, NULL, NULL), AI_CACHE_MISS);
    assert_int_equal(get(c, UA, "b", 1, NULL, NULL), AI_CACHE_MISS);
    assert_int_equal(get(c, UB, "a", 1, "3", NULL), AI_CACHE_HIT);
    ai_cache_free(c);
}

static void test_bounded_lru(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(3, 100000, 100000);
    char key[16];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ai_cache_put(c, UA, key, 0, ai_cache_epoch(c), key, 0);
    }
    assert_int_equal(get(c, UA, "k0", 1, "k0", NULL), AI_CACHE_HIT); /* k0 now most recent */
    ai_cache_put(c, UA, "k3", 0, ai_cache_epoch(c), "k3", 2);
    assert_int_equal(ai_cache_size(c), 3);
    assert_int_equal(get(c, UA, "k1", 3, NULL, NULL), AI_CACHE_MISS); /* the least recent went */
    assert_int_equal(get(c, UA, "k0", 3, "k0", NULL), AI_CACHE_HIT);
    ai_cache_put(c, UA, "k0", 0, ai_cache_epoch(c), "k0b", 4); /* replaces, no growth */
    assert_int_equal(ai_cache_size(c), 3);
    assert_int_equal(get(c, UA, "k0", 5, "k0b", NULL), AI_CACHE_HIT);
    ai_cache_free(c);
}

static void test_disabled(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(0, 1000, 1000);
    assert_false(ai_cache_enabled(c));
    ai_cache_put(c, UA, "k", 0, 0, "v", 0);
    assert_int_equal(get(c, UA, "k", 0, NULL, NULL), AI_CACHE_MISS);
    assert_null(ai_cache_confirm(c, UA, "k", 0, 0));
    ai_cache_free(c);
    c = ai_cache_new(10, 0, 1000);
    assert_false(ai_cache_enabled(c));
    ai_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_and_expiry),
        cmocka_unit_test(test_recheck_confirm),
        cmocka_unit_test(test_recheck_zero_always_checks),
        cmocka_unit_test(test_put_racing_invalidation),
        cmocka_unit_test(test_invalidate_user),
        cmocka_unit_test(test_bounded_lru),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
