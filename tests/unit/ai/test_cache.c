/* ai_cache: hits, expiry, confirmation of the generation after the recheck window, the
 * reader thread's early refresh (one caller per half-window goes to a worker), the epoch
 * guard against a put racing an invalidation, per-user invalidation, LRU bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdbool.h>
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

/* ai_cache_get_fast: true with the text, or false with no text. */
static bool fast(ai_cache_t *c, const char *user, const char *key, int64_t now, const char *want)
{
    char *text = NULL;
    bool hit = ai_cache_get_fast(c, user, key, now, &text);
    if (hit)
        assert_string_equal(text, want);
    else
        assert_null(text);
    free(text);
    return hit;
}

static void test_fast_early_refresh(void **state)
{
    (void)state;
    int64_t gen;
    ai_cache_t *c = ai_cache_new(10, 100000, 1000);
    ai_cache_put(c, UA, "k", 3, ai_cache_epoch(c), "v3", 0);
    assert_true(fast(c, UA, "k", 749, "v3"));
    /* a worker's lookup is not changed by the refresh point alone */
    assert_int_equal(get(c, UA, "k", 800, "v3", NULL), AI_CACHE_HIT);
    /* 3/4 of the window gone: one fast caller is sent to a worker, the others still hit */
    assert_false(fast(c, UA, "k", 750, NULL));
    assert_true(fast(c, UA, "k", 751, "v3"));
    assert_true(fast(c, UA, "k", 874, "v3"));
    /* that caller's worker asks Postgres (CHECK) instead of answering from memory */
    assert_int_equal(get(c, UA, "k", 752, NULL, &gen), AI_CACHE_CHECK);
    assert_int_equal(gen, 3);
    char *text = ai_cache_confirm(c, UA, "k", 3, 760);
    assert_string_equal(text, "v3");
    free(text);
    /* confirmed at 760: no refresh is due before 1510, and hits last until 1759 */
    assert_int_equal(get(c, UA, "k", 1500, "v3", NULL), AI_CACHE_HIT);
    assert_true(fast(c, UA, "k", 1509, "v3"));
    assert_false(fast(c, UA, "k", 1510, NULL));
    /* the sent caller never confirmed: another is sent recheck_ms / 8 later, not before */
    assert_true(fast(c, UA, "k", 1634, "v3"));
    assert_false(fast(c, UA, "k", 1635, NULL));
    assert_true(fast(c, UA, "k", 1759, "v3"));
    /* the window is over: every fast caller goes to a worker, which must check */
    assert_false(fast(c, UA, "k", 1760, NULL));
    assert_false(fast(c, UA, "k", 1761, NULL));
    assert_int_equal(get(c, UA, "k", 1762, NULL, NULL), AI_CACHE_CHECK);
    ai_cache_free(c);
}

static void test_fast_never_confirmed(void **state)
{
    (void)state;
    ai_cache_t *c = ai_cache_new(10, 100000, 1000);
    uint64_t before = ai_cache_epoch(c);
    (void)ai_cache_invalidate_user(c, UA);
    ai_cache_put(c, UA, "k", 1, before, "v", 0); /* raced an invalidation: unconfirmed */
    assert_false(fast(c, UA, "k", 1, NULL));
    assert_false(fast(c, UB, "k", 1, NULL));
    ai_cache_free(c);
    c = ai_cache_new(10, 100000, 0); /* recheck 0: never from the reader thread */
    ai_cache_put(c, UA, "k", 1, ai_cache_epoch(c), "v", 0);
    assert_false(fast(c, UA, "k", 0, NULL));
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

/* Many users sharing the per-user chains (more users than buckets): an invalidation drops
 * exactly the one user's entries, and the chains stay consistent through LRU evictions. */
static void test_invalidate_many_users(void **state)
{
    (void)state;
    enum { USERS = 300, CAP = 500 };
    ai_cache_t *c = ai_cache_new(CAP, 100000, 100000);
    char user[40];
    for (int round = 0; round < 2; round++) {
        for (int u = 0; u < USERS; u++) {
            snprintf(user, sizeof user, "00000000-0000-4000-8000-%012d", u);
            ai_cache_put(c, user, "a", 0, ai_cache_epoch(c), "a", 0);
            ai_cache_put(c, user, "b", 0, ai_cache_epoch(c), "b", 0);
        }
    }
    assert_int_equal(ai_cache_size(c), CAP); /* users 0..49 were evicted */
    snprintf(user, sizeof user, "00000000-0000-4000-8000-%012d", 10);
    assert_int_equal(ai_cache_invalidate_user(c, user), 0);
    snprintf(user, sizeof user, "00000000-0000-4000-8000-%012d", 77);
    assert_int_equal(ai_cache_invalidate_user(c, user), 2);
    assert_int_equal(ai_cache_invalidate_user(c, user), 0);
    assert_int_equal(ai_cache_size(c), CAP - 2);
    assert_int_equal(get(c, user, "a", 1, NULL, NULL), AI_CACHE_MISS);
    snprintf(user, sizeof user, "00000000-0000-4000-8000-%012d", 78);
    assert_int_equal(get(c, user, "a", 1, "a", NULL), AI_CACHE_HIT);
    assert_int_equal(ai_cache_invalidate_user(c, user), 2);
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
        cmocka_unit_test(test_fast_early_refresh),
        cmocka_unit_test(test_fast_never_confirmed),
        cmocka_unit_test(test_recheck_zero_always_checks),
        cmocka_unit_test(test_put_racing_invalidation),
        cmocka_unit_test(test_invalidate_user),
        cmocka_unit_test(test_invalidate_many_users),
        cmocka_unit_test(test_bounded_lru),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
