/* Unit tests for tm_json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_json.h"

static const tm_json_field_t task_fields[] = {
    {.name = "title", .kind = TM_JF_STRING, .required = true, .min = 1, .max = 10},
    {.name = "priority", .kind = TM_JF_INT, .min = 0, .max = 4},
    {.name = "done", .kind = TM_JF_BOOL},
    {.name = "status", .kind = TM_JF_STRING, .choices = "open|closed"},
    {.name = "due", .kind = TM_JF_TIME, .nullable = true},
    {.name = "project_id", .kind = TM_JF_UUID},
    {.name = "labels", .kind = TM_JF_STRING_ARRAY, .max = 5, .max_items = 3},
    {.name = "score", .kind = TM_JF_NUMBER, .min = -1, .max = 1},
    {.name = "meta", .kind = TM_JF_OBJECT},
};
#define NF (sizeof task_fields / sizeof *task_fields)

static json_t *parse_ok(const char *s)
{
    tm_json_errors_t errs = {0};
    json_t *v = NULL;
    int rc = tm_json_parse(s, strlen(s), NULL, &v, &errs);
    if (rc != TM_OK)
        fail_msg("parse failed: %s", errs.count ? errs.e[0].reason : "?");
    return v;
}

/* Parses and checks s; returns the check result, errors in *errs. */
static int check(const char *s, tm_json_errors_t *errs)
{
    memset(errs, 0, sizeof *errs);
    json_t *v = parse_ok(s);
    int rc = tm_json_check(v, task_fields, NF, errs);
    json_decref(v);
    return rc;
}

static void assert_error(const tm_json_errors_t *errs, const char *field, const char *reason)
{
    for (int i = 0; i < errs->count && i < TM_JSON_MAX_ERRORS; i++)
        if (strcmp(errs->e[i].field, field) == 0 && strcmp(errs->e[i].reason, reason) == 0)
            return;
    fail_msg("no error {%s: %s} among %d", field, reason, errs->count);
}

static char *nested(int depth)
{
    /* depth objects: {"a":{"a":...{}}} */
    char *s = calloc((size_t)depth * 6 + 1, 1);
    for (int i = 0; i < depth; i++)
        strcat(s, i + 1 < depth ? "{\"a\":" : "{");
    for (int i = 0; i < depth; i++)
        strcat(s, "}");
    return s;
}

static void test_valid(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    int rc = check("{\"title\":\"hi\",\"priority\":4,\"done\":true,\"status\":\"open\","
                   "\"due\":\"2025-11-25T10:00:00Z\","
                   "\"project_id\":\"123e4567-e89b-42d3-a456-426614174000\","
                   "\"labels\":[\"a\",\"bb\"],\"score\":0.5,\"meta\":{}}",
                   &errs);
    assert_int_equal(rc, TM_OK);
    assert_int_equal(errs.count, 0);
    assert_int_equal(check("{\"title\":\"x\",\"due\":null}", &errs), TM_OK);
}

static void test_unknown_field(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    assert_int_equal(check("{\"title\":\"x\",\"owner_id\":\"me\"}", &errs), TM_ERR_INVALID);
    assert_int_equal(errs.count, 1);
    assert_error(&errs, "owner_id", "unknown field");
}

static void test_required_and_null(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    assert_int_equal(check("{}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "title", "is required");
    assert_int_equal(check("{\"title\":\"x\",\"priority\":null}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "priority", "must not be null");
}

static void test_depth(void **state)
{
    (void)state;
    tm_json_errors_t errs = {0};
    json_t *v = NULL;
    char *ok = nested(32), *deep = nested(33);
    assert_int_equal(tm_json_parse(ok, strlen(ok), NULL, &v, &errs), TM_OK);
    assert_int_equal(tm_json_depth(v), 32);
    json_decref(v);
    assert_int_equal(tm_json_parse(deep, strlen(deep), NULL, &v, &errs), TM_ERR_LIMIT);
    assert_null(v);
    assert_int_equal(errs.count, 1);
    assert_non_null(strstr(errs.e[0].reason, "32"));
    tm_json_limits_t lim = {.max_depth = 2};
    memset(&errs, 0, sizeof errs);
    const char *arr = "{\"a\":[[1]]}";
    assert_int_equal(tm_json_parse(arr, strlen(arr), &lim, &v, &errs), TM_ERR_LIMIT);
    free(ok);
    free(deep);
}

static void test_oversize_body(void **state)
{
    (void)state;
    tm_json_limits_t lim = {.max_bytes = 16};
    tm_json_errors_t errs = {0};
    json_t *v = NULL;
    const char *body = "{\"title\":\"0123456789\"}";
    assert_int_equal(tm_json_parse(body, strlen(body), &lim, &v, &errs), TM_ERR_LIMIT);
    assert_null(v);
    assert_string_equal(errs.e[0].field, "");
    assert_non_null(strstr(errs.e[0].reason, "16 bytes"));
    lim.max_bytes = strlen(body);
    assert_int_equal(tm_json_parse(body, strlen(body), &lim, &v, &errs), TM_OK);
    json_decref(v);
    /* default cap of 64 KiB */
    size_t big = 64 * 1024 + 1;
    char *s = malloc(big);
    memset(s, ' ', big);
    s[0] = '{';
    s[big - 1] = '}';
    assert_int_equal(tm_json_parse(s, big, NULL, &v, &errs), TM_ERR_LIMIT);
    assert_int_equal(tm_json_parse(s, big - 1, NULL, &v, &errs), TM_ERR_INVALID);
    s[big - 2] = '}';
    assert_int_equal(tm_json_parse(s, big - 1, NULL, &v, &errs), TM_OK);
    json_decref(v);
    free(s);
}

static void test_oversize_string(void **state)
{
    (void)state;
    tm_json_limits_t lim = {.max_string = 8};
    tm_json_errors_t errs = {0};
    json_t *v = NULL;
    const char *ok = "{\"k\":[\"12345678\"]}", *bad = "{\"k\":[\"123456789\"]}";
    const char *badkey = "{\"123456789\":1}";
    assert_int_equal(tm_json_parse(ok, strlen(ok), &lim, &v, &errs), TM_OK);
    json_decref(v);
    assert_int_equal(tm_json_parse(bad, strlen(bad), &lim, &v, &errs), TM_ERR_LIMIT);
    assert_int_equal(tm_json_parse(badkey, strlen(badkey), &lim, &v, &errs), TM_ERR_LIMIT);
    assert_null(v);
}

static void test_syntax_duplicates_root(void **state)
{
    (void)state;
    tm_json_errors_t errs = {0};
    json_t *v = NULL;
    const char *dup = "{\"title\":\"a\",\"title\":\"b\"}";
    assert_int_equal(tm_json_parse(dup, strlen(dup), NULL, &v, &errs), TM_ERR_INVALID);
    assert_null(v);
    assert_non_null(strstr(errs.e[0].reason, "duplicate"));
    assert_int_equal(tm_json_parse("[1]", 3, NULL, &v, &errs), TM_ERR_INVALID);
    assert_string_equal(errs.e[1].reason, "body must be a JSON object");
    assert_int_equal(tm_json_parse("{\"a\":", 5, NULL, &v, &errs), TM_ERR_INVALID);
    assert_int_equal(tm_json_parse("{} {}", 5, NULL, &v, &errs), TM_ERR_INVALID);
    assert_int_equal(errs.count, 4);
}

static void test_wrong_types(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    assert_int_equal(check("{\"title\":5,\"priority\":\"1\",\"done\":1,\"score\":\"x\","
                           "\"labels\":\"a\",\"meta\":[]}",
                           &errs),
                     TM_ERR_INVALID);
    assert_int_equal(errs.count, 6);
    assert_error(&errs, "title", "must be a string");
    assert_error(&errs, "priority", "must be an integer");
    assert_error(&errs, "done", "must be a boolean");
    assert_error(&errs, "score", "must be a number");
    assert_error(&errs, "labels", "must be an array");
    assert_error(&errs, "meta", "must be an object");
    assert_int_equal(check("{\"title\":\"x\",\"priority\":1.0}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "priority", "must be an integer");
}

static void test_int_range(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    assert_int_equal(check("{\"title\":\"x\",\"priority\":0}", &errs), TM_OK);
    assert_int_equal(check("{\"title\":\"x\",\"priority\":5}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "priority", "must be between 0 and 4");
    assert_int_equal(check("{\"title\":\"x\",\"priority\":-1}", &errs), TM_ERR_INVALID);
    assert_int_equal(check("{\"title\":\"x\",\"score\":1.5}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "score", "must be between -1 and 1");
}

static void test_string_length_code_points(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    /* ten 2-byte and 3-byte characters: 10 code points but more than 10 bytes */
    assert_int_equal(check("{\"title\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"}",
                           &errs),
                     TM_OK);
    assert_int_equal(check("{\"title\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
                           "\xf0\x9f\x98\x80\"}",
                           &errs),
                     TM_ERR_INVALID);
    assert_error(&errs, "title", "must be at most 10 characters");
    assert_int_equal(check("{\"title\":\"\"}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "title", "must be at least 1 characters");
    assert_int_equal(tm_json_utf8_len("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), 4);
}

static void test_string_array(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    assert_int_equal(check("{\"title\":\"x\",\"labels\":[\"a\",\"b\",\"toolong\"]}", &errs),
                     TM_ERR_INVALID);
    assert_int_equal(errs.count, 1);
    assert_error(&errs, "labels[2]", "must be at most 5 characters");
    assert_int_equal(check("{\"title\":\"x\",\"labels\":[\"a\",1]}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "labels[1]", "must be a string");
    assert_int_equal(check("{\"title\":\"x\",\"labels\":[\"a\",\"b\",\"c\",\"d\"]}", &errs),
                     TM_ERR_INVALID);
    assert_error(&errs, "labels", "must have at most 3 items");
}

static void test_choices_uuid_time(void **state)
{
    (void)state;
    tm_json_errors_t errs;
    assert_int_equal(check("{\"title\":\"x\",\"status\":\"closed\"}", &errs), TM_OK);
    assert_int_equal(check("{\"title\":\"x\",\"status\":\"clos\"}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "status", "must be one of: open, closed");
    assert_int_equal(check("{\"title\":\"x\",\"project_id\":\"not-a-uuid\"}", &errs),
                     TM_ERR_INVALID);
    assert_error(&errs, "project_id", "must be a UUID");
    assert_int_equal(check("{\"title\":\"x\",\"project_id\":5}", &errs), TM_ERR_INVALID);
    assert_error(&errs, "project_id", "must be a UUID");
    assert_int_equal(check("{\"title\":\"x\",\"due\":\"2025-02-30T00:00:00Z\"}", &errs),
                     TM_ERR_INVALID);
    assert_error(&errs, "due", "must be an RFC 3339 timestamp");
    assert_int_equal(check("{\"title\":\"x\",\"due\":\"2025-02-28T00:00:00+02:00\"}", &errs),
                     TM_OK);
}

static void test_errors_overflow(void **state)
{
    (void)state;
    tm_json_errors_t errs = {0};
    char body[1024] = "{";
    for (int i = 0; i < 20; i++) {
        char kv[32];
        snprintf(kv, sizeof kv, "%s\"x%d\":1", i ? "," : "", i);
        strcat(body, kv);
    }
    strcat(body, "}");
    json_t *v = parse_ok(body);
    assert_int_equal(tm_json_check(v, task_fields, NF, &errs), TM_ERR_INVALID);
    assert_int_equal(errs.count, 21); /* 20 unknown + title required */
    assert_string_equal(errs.e[TM_JSON_MAX_ERRORS - 1].reason, "unknown field");
    json_decref(v);
}

static void test_getters(void **state)
{
    (void)state;
    json_t *v = parse_ok("{\"s\":\"str\",\"i\":42,\"b\":true,\"n\":null}");
    assert_string_equal(tm_json_str(v, "s", "d"), "str");
    assert_string_equal(tm_json_str(v, "missing", "d"), "d");
    assert_string_equal(tm_json_str(v, "i", "d"), "d");
    assert_int_equal(tm_json_int(v, "i", 7), 42);
    assert_int_equal(tm_json_int(v, "n", 7), 7);
    assert_true(tm_json_bool(v, "b", false));
    assert_true(tm_json_has(v, "n"));
    assert_false(tm_json_has(v, "x"));
    assert_true(tm_json_is_null(v, "n"));
    assert_false(tm_json_is_null(v, "s"));
    size_t len;
    char *s = tm_json_dumps(v, &len);
    assert_string_equal(s, "{\"s\":\"str\",\"i\":42,\"b\":true,\"n\":null}");
    assert_int_equal(len, strlen(s));
    free(s);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_required_and_null),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_oversize_body),
        cmocka_unit_test(test_oversize_string),
        cmocka_unit_test(test_syntax_duplicates_root),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_int_range),
        cmocka_unit_test(test_string_length_code_points),
        cmocka_unit_test(test_string_array),
        cmocka_unit_test(test_choices_uuid_time),
        cmocka_unit_test(test_errors_overflow),
        cmocka_unit_test(test_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
