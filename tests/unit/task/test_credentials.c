/* Unit tests: email normalisation, refresh token shape and hashing, role ranks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "credentials.h"
#include "tm_util.h"

static void test_email_trims_and_lowercases(void **state)
{
    (void)state;
    char out[CRED_EMAIL_MAX + 1];
    assert_int_equal(cred_email_normalize("  Alice.Smith+tag@Example.COM \t\n", out, sizeof out),
                     0);
    assert_string_equal(out, "alice.smith+tag@example.com");
}

static void test_email_rejects_bad_shapes(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "   ",
                         "plain",
                         "@example.com",
                         "a@",
                         "a@b",
                         "a@.com",
                         "a@example.",
                         "a b@example.com",
                         "a@exa mple.com",
                         "a@@example.com",
                         "a@b@example.com",
                         "a@example..com",
                         "a\"b@example.com",
                         "a@example.com\x01",
                         "a(b)@example.com"};
    char out[CRED_EMAIL_MAX + 1];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cred_email_normalize(bad[i], out, sizeof out), TM_ERR_INVALID);
    assert_int_equal(cred_email_normalize(NULL, out, sizeof out), TM_ERR_INVALID);
}

static void test_email_length_limits(void **state)
{
    (void)state;
    char in[400], out[CRED_EMAIL_MAX + 1];
    /* 64-char local part + "@" + domain to exactly 254 chars is accepted */
    memset(in, 'a', 64);
    in[64] = '@';
    size_t dlen = CRED_EMAIL_MAX - 65 - 4;
    memset(in + 65, 'b', dlen);
    memcpy(in + 65 + dlen, ".com", 5);
    assert_int_equal(strlen(in), CRED_EMAIL_MAX);
    assert_int_equal(cred_email_normalize(in, out, sizeof out), 0);
    /* one more character is refused */
    memmove(in + 66, in + 65, strlen(in + 65) + 1);
    in[65] = 'c';
    assert_int_equal(cred_email_normalize(in, out, sizeof out), TM_ERR_INVALID);
    /* a 65-char local part is refused */
    memset(in, 'a', 65);
    strcpy(in + 65, "@example.com");
    assert_int_equal(cred_email_normalize(in, out, sizeof out), TM_ERR_INVALID);
}

static void test_refresh_token_shape_and_hash(void **state)
{
    (void)state;
    char tok[CRED_REFRESH_CHARS + 1], tok2[CRED_REFRESH_CHARS + 1], h[65], h2[65], h3[65];
    cred_refresh_new(tok, h);
    cred_refresh_new(tok2, h2);
    assert_int_equal(strlen(tok), CRED_REFRESH_CHARS);
    assert_string_not_equal(tok, tok2);
    assert_true(cred_refresh_hash(tok, h3));
    assert_string_equal(h, h3);
    char expect[65];
    tm_sha256_hex(tok, strlen(tok), expect);
    assert_string_equal(h, expect);
    assert_string_not_equal(h, h2);
}

static void test_refresh_hash_rejects_bad_tokens(void **state)
{
    (void)state;
    char tok[CRED_REFRESH_CHARS + 1], h[65];
    cred_refresh_new(tok, h);
    char bad[64];
    memcpy(bad, tok, sizeof tok);
    bad[5] = '+'; /* not base64url */
    assert_false(cred_refresh_hash(bad, h));
    bad[CRED_REFRESH_CHARS - 1] = '\0'; /* too short */
    assert_false(cred_refresh_hash(bad, h));
    memcpy(bad, tok, sizeof tok);
    strcat(bad, "A"); /* too long */
    assert_false(cred_refresh_hash(bad, h));
    assert_false(cred_refresh_hash(NULL, h));
    assert_false(cred_refresh_hash("", h));
}

static void test_role_rank(void **state)
{
    (void)state;
    assert_int_equal(cred_role_rank("user"), 1);
    assert_int_equal(cred_role_rank("moderator"), 2);
    assert_int_equal(cred_role_rank("admin"), 3);
    assert_int_equal(cred_role_rank("Admin"), 0);
    assert_int_equal(cred_role_rank(""), 0);
    assert_int_equal(cred_role_rank(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_email_trims_and_lowercases),
        cmocka_unit_test(test_email_rejects_bad_shapes),
        cmocka_unit_test(test_email_length_limits),
        cmocka_unit_test(test_refresh_token_shape_and_hash),
        cmocka_unit_test(test_refresh_hash_rejects_bad_tokens),
        cmocka_unit_test(test_role_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
