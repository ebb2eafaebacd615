/* ai_breaker: the closed -> open -> half_open -> closed|open state machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "breaker.h"

static void test_opens_after_threshold(void **state)
{
    (void)state;
    ai_breaker_t b;
    ai_breaker_init(&b, 3, 1000);
    for (int i = 0; i < 2; i++) {
        assert_true(ai_breaker_allow(&b, 0));
        ai_breaker_record(&b, false, 0);
    }
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_CLOSED);
    assert_true(ai_breaker_allow(&b, 0));
    ai_breaker_record(&b, false, 10);
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_OPEN);
    assert_false(ai_breaker_allow(&b, 500));
    assert_false(ai_breaker_allow(&b, 1009));
    ai_breaker_dispose(&b);
}

static void test_success_resets_count(void **state)
{
    (void)state;
    ai_breaker_t b;
    ai_breaker_init(&b, 2, 1000);
    assert_true(ai_breaker_allow(&b, 0));
    ai_breaker_record(&b, false, 0);
    assert_true(ai_breaker_allow(&b, 0));
    ai_breaker_record(&b, true, 0);
    assert_true(ai_breaker_allow(&b, 0));
    ai_breaker_record(&b, false, 0);
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_CLOSED);
    ai_breaker_dispose(&b);
}

static void trip(ai_breaker_t *b, int64_t now)
{
    assert_true(ai_breaker_allow(b, now));
    ai_breaker_record(b, false, now);
    assert_int_equal(ai_breaker_state(b), AI_BREAKER_OPEN);
}

static void test_half_open_single_probe(void **state)
{
    (void)state;
    ai_breaker_t b;
    ai_breaker_init(&b, 1, 1000);
    trip(&b, 0);
    assert_true(ai_breaker_allow(&b, 1000)); /* the probe */
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_HALF_OPEN);
    assert_false(ai_breaker_allow(&b, 1001)); /* only one probe in flight */
    ai_breaker_record(&b, true, 1200);
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_CLOSED);
    assert_true(ai_breaker_allow(&b, 1201));
    ai_breaker_record(&b, true, 1201);
    ai_breaker_dispose(&b);
}

static void test_failed_probe_reopens(void **state)
{
    (void)state;
    ai_breaker_t b;
    ai_breaker_init(&b, 1, 1000);
    trip(&b, 0);
    assert_true(ai_breaker_allow(&b, 1500));
    ai_breaker_record(&b, false, 1600);
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_OPEN);
    assert_false(ai_breaker_allow(&b, 2599)); /* a new cool-down from 1600 */
    assert_true(ai_breaker_allow(&b, 2600));
    assert_string_equal(ai_breaker_state_name(ai_breaker_state(&b)), "half_open");
    ai_breaker_dispose(&b);
}

static void test_late_result_while_open(void **state)
{
    (void)state;
    ai_breaker_t b;
    ai_breaker_init(&b, 1, 1000);
    assert_true(ai_breaker_allow(&b, 0)); /* a slow call goes out */
    trip(&b, 10);                         /* another one fails and trips */
    ai_breaker_record(&b, true, 20);      /* the slow one succeeds late */
    assert_int_equal(ai_breaker_state(&b), AI_BREAKER_OPEN);
    ai_breaker_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold),  cmocka_unit_test(test_success_resets_count),
        cmocka_unit_test(test_half_open_single_probe), cmocka_unit_test(test_failed_probe_reopens),
        cmocka_unit_test(test_late_result_while_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
