/* Unit tests: password policy and argon2id round trip (low-memory parameters). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "password.h"

static const password_params_t low = {.t_cost = 1, .m_kib = 8192, .lanes = 1};

static void test_policy_length(void **state)
{
    (void)state;
    assert_non_null(password_policy_check("short1!"));
    assert_non_null(password_policy_check("nine9char"));
    assert_null(password_policy_check("ten-chars!"));
    /* 9 code points in 18 bytes is still too short */
    assert_non_null(password_policy_check("ééééééééé"));
    assert_null(password_policy_check("éééééééééé"));
    char longpw[PASSWORD_MAX_BYTES + 2];
    memset(longpw, 'x', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    assert_non_null(password_policy_check(longpw));
    longpw[PASSWORD_MAX_BYTES] = '\0';
    assert_null(password_policy_check(longpw));
    assert_non_null(password_policy_check(NULL));
}

static void test_policy_common(void **state)
{
    (void)state;
    assert_string_equal(password_policy_check("password123"), "is too common");
    assert_string_equal(password_policy_check("QWERTYUIOP"), "is too common");
    assert_string_equal(password_policy_check("1234567890"), "is too common");
    assert_null(password_policy_check("correct horse battery"));
}

static void test_hash_round_trip(void **state)
{
    (void)state;
    char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
    assert_int_equal(password_hash(&low, "correct horse battery", h1, sizeof h1), 0);
    assert_int_equal(password_hash(&low, "correct horse battery", h2, sizeof h2), 0);
    assert_non_null(strstr(h1, "$argon2id$v=19$m=8192,t=1,p=1$"));
    assert_string_not_equal(h1, h2); /* random salt */
    assert_true(password_verify(h1, "correct horse battery"));
    assert_true(password_verify(h2, "correct horse battery"));
    assert_false(password_verify(h1, "correct horse batterY"));
    assert_false(password_verify(h1, ""));
}

static void test_verify_rejects_malformed(void **state)
{
    (void)state;
    assert_false(password_verify("", "x"));
    assert_false(password_verify(NULL, "x"));
    assert_false(password_verify("$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "x"));
    assert_false(password_verify("$argon2id$garbage", "x"));
}

static void test_hash_buffer_too_small(void **state)
{
    (void)state;
    char small[16];
    assert_int_equal(password_hash(&low, "correct horse battery", small, sizeof small),
                     TM_ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_length),
        cmocka_unit_test(test_policy_common),
        cmocka_unit_test(test_hash_round_trip),
        cmocka_unit_test(test_verify_rejects_malformed),
        cmocka_unit_test(test_hash_buffer_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
