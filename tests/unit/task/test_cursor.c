/* Unit tests for services/task/cursor.c: round trip, tamper detection, sort binding and
 * key validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "../../../services/task/cursor.c"

#define ID "0b6f2c3e-8a1d-4c2b-9f3e-1234567890ab"

static cursor_t make(const char *sort, const char *key)
{
    cursor_t c = {0};
    snprintf(c.sort, sizeof c.sort, "%s", sort);
    snprintf(c.key, sizeof c.key, "%s", key);
    snprintf(c.id, sizeof c.id, "%s", ID);
    return c;
}

static void test_round_trip_each_kind(void **state)
{
    (void)state;
    struct {
        const char *sort, *key;
        cursor_key_kind_t kind;
    } cases[] = {
        {"-created_at", "2026-11-25T21:56:43.123456Z", CURSOR_KEY_TIME},
        {"due_at", "infinity", CURSOR_KEY_TIME},
        {"-due_at", "-infinity", CURSOR_KEY_TIME},
        {"priority", "3", CURSOR_KEY_INT},
        {"rank", "0.0607927", CURSOR_KEY_REAL},
        {"rank", "1e-20", CURSOR_KEY_REAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cursor_t in = make(cases[i].sort, cases[i].key), out;
        char tok[CURSOR_TOKEN_MAX];
        assert_int_equal(cursor_encode(&in, tok, sizeof tok), TM_OK);
        assert_null(strchr(tok, '=')); /* base64url without padding */
        assert_null(strchr(tok, '+'));
        assert_int_equal(cursor_decode(tok, cases[i].sort, cases[i].kind, &out), TM_OK);
        assert_string_equal(out.key, cases[i].key);
        assert_string_equal(out.id, ID);
        assert_string_equal(out.sort, cases[i].sort);
    }
}

static void test_tamper_every_char(void **state)
{
    (void)state;
    cursor_t in = make("-created_at", "2026-11-25T21:56:43.123456Z"), out;
    char tok[CURSOR_TOKEN_MAX];
    assert_int_equal(cursor_encode(&in, tok, sizeof tok), TM_OK);
    size_t n = strlen(tok);
    for (size_t i = 0; i < n; i++) {
        char bad[CURSOR_TOKEN_MAX];
        memcpy(bad, tok, n + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        /* Changing the last char may only flip unused padding bits of base64; every other
         * edit must be refused. */
        if (i == n - 1)
            continue;
        assert_int_equal(cursor_decode(bad, "-created_at", CURSOR_KEY_TIME, &out), TM_ERR_INVALID);
    }
}

static void test_forged_payload_refused(void **state)
{
    (void)state;
    /* A well-formed body with a wrong checksum, and one with SQL in the key. */
    const char *bodies[] = {
        "created_at|2026-11-25T21:56:43.123456Z|" ID "|0000000000000000",
        "priority|1 OR 1=1|" ID "|0000000000000000",
        "priority|1|" ID,
        "",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char tok[CURSOR_TOKEN_MAX];
        tm_b64url_encode(bodies[i], strlen(bodies[i]), tok);
        cursor_t out;
        assert_int_equal(cursor_decode(tok, "created_at", CURSOR_KEY_TIME, &out), TM_ERR_INVALID);
        assert_int_equal(cursor_decode(tok, "priority", CURSOR_KEY_INT, &out), TM_ERR_INVALID);
    }
    cursor_t out;
    assert_int_equal(cursor_decode("!!!not-base64!!!", "priority", CURSOR_KEY_INT, &out),
                     TM_ERR_INVALID);
    char huge[400];
    memset(huge, 'A', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_int_equal(cursor_decode(huge, "priority", CURSOR_KEY_INT, &out), TM_ERR_INVALID);
}

static void test_other_sort_refused(void **state)
{
    (void)state;
    cursor_t in = make("priority", "2"), out;
    char tok[CURSOR_TOKEN_MAX];
    assert_int_equal(cursor_encode(&in, tok, sizeof tok), TM_OK);
    assert_int_equal(cursor_decode(tok, "-priority", CURSOR_KEY_INT, &out), TM_ERR_INVALID);
    assert_int_equal(cursor_decode(tok, "priority", CURSOR_KEY_TIME, &out), TM_ERR_INVALID);
    assert_int_equal(cursor_decode(tok, "priority", CURSOR_KEY_INT, &out), TM_OK);
}

static void test_encode_refuses_bad_fields(void **state)
{
    (void)state;
    char tok[CURSOR_TOKEN_MAX];
    cursor_t c = make("priority", "1|2");
    assert_int_equal(cursor_encode(&c, tok, sizeof tok), TM_ERR_INVALID);
    c = make("priority", "");
    assert_int_equal(cursor_encode(&c, tok, sizeof tok), TM_ERR_INVALID);
    c = make("Priority!", "1");
    assert_int_equal(cursor_encode(&c, tok, sizeof tok), TM_ERR_INVALID);
    c = make("priority", "1");
    snprintf(c.id, sizeof c.id, "not-a-uuid");
    assert_int_equal(cursor_encode(&c, tok, sizeof tok), TM_ERR_INVALID);
    c = make("priority", "1");
    assert_int_equal(cursor_encode(&c, tok, 8), TM_ERR_LIMIT);
}

static void test_key_validation(void **state)
{
    (void)state;
    assert_true(cursor_key_valid(CURSOR_KEY_TIME, "2026-01-02T03:04:05.000000Z"));
    assert_false(cursor_key_valid(CURSOR_KEY_TIME, "2026-01-02 03:04:05.000000Z"));
    assert_false(cursor_key_valid(CURSOR_KEY_TIME, "2026-01-02T03:04:05Z"));
    assert_false(cursor_key_valid(CURSOR_KEY_TIME, "now"));
    assert_true(cursor_key_valid(CURSOR_KEY_INT, "-12"));
    assert_false(cursor_key_valid(CURSOR_KEY_INT, "1.5"));
    assert_false(cursor_key_valid(CURSOR_KEY_INT, "1234567890123456789"));
    assert_false(cursor_key_valid(CURSOR_KEY_INT, ""));
    assert_true(cursor_key_valid(CURSOR_KEY_REAL, "1.5e-3"));
    assert_false(cursor_key_valid(CURSOR_KEY_REAL, "nan"));
    assert_false(cursor_key_valid(CURSOR_KEY_REAL, "1e999"));
    assert_false(cursor_key_valid(CURSOR_KEY_REAL, "1.0;"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_each_kind),      cmocka_unit_test(test_tamper_every_char),
        cmocka_unit_test(test_forged_payload_refused),    cmocka_unit_test(test_other_sort_refused),
        cmocka_unit_test(test_encode_refuses_bad_fields), cmocka_unit_test(test_key_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
