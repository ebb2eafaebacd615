/* gw_ratelimit: burst, refill, retry-after, separate keys, bounded size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include "ratelimit.h"

static const gw_rate_policy_t policy = {.name = "user", .rps = 2, .burst = 3};

static gw_rate_result_t take(gw_ratelimit_t *rl, const char *key, int64_t now_us)
{
    return gw_ratelimit_take(rl, key, strlen(key), &policy, now_us);
}

static void test_burst_then_refill(void **state)
{
    (void)state;
    gw_ratelimit_t *rl = gw_ratelimit_new(1024);
    for (int i = 0; i < 3; i++)
        assert_true(take(rl, "u:a", 0).allowed);
    gw_rate_result_t r = take(rl, "u:a", 0);
    assert_false(r.allowed);
    assert_true(r.retry_after_s > 0.49 && r.retry_after_s <= 0.5);
    assert_true(r.reset_s > 1.49 && r.reset_s <= 1.5);
    assert_true(take(rl, "u:b", 0).allowed); /* its own bucket */
    assert_false(take(rl, "u:a", 400000).allowed);
    assert_true(take(rl, "u:a", 500000).allowed); /* one token after 0.5 s */
    assert_false(take(rl, "u:a", 500000).allowed);
    /* never above the burst after a long idle */
    for (int i = 0; i < 3; i++)
        assert_true(take(rl, "u:a", 100000000).allowed);
    assert_false(take(rl, "u:a", 100000000).allowed);
    gw_ratelimit_free(rl);
}

static void test_bounded(void **state)
{
    (void)state;
    gw_ratelimit_t *rl = gw_ratelimit_new(160);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "i:10.0.%d.%d", i / 256, i % 256);
        take(rl, key, i);
    }
    assert_true(gw_ratelimit_size(rl) <= 160);
    assert_true(gw_ratelimit_size(rl) > 0);
    gw_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
