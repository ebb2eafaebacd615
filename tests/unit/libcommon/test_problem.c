/* Unit tests for tm_problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "tm_problem.h"

static void test_fields(void **state)
{
    (void)state;
    json_t *p = tm_problem_new(404, NULL, "task not found", "req-9");
    assert_string_equal(json_string_value(json_object_get(p, "type")), "/problems/not-found");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "task not found");
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "req-9");
    assert_null(json_object_get(p, "errors"));
    json_decref(p);

    p = tm_problem_new(409, "version-mismatch", NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(p, "type")),
                        "/problems/version-mismatch");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Conflict");
    assert_null(json_object_get(p, "detail"));
    assert_null(json_object_get(p, "instance"));
    json_decref(p);
}

static void test_titles_slugs(void **state)
{
    (void)state;
    assert_string_equal(tm_problem_title(422), "Unprocessable Content");
    assert_string_equal(tm_problem_title(299), "Error");
    struct {
        int status;
        const char *slug;
    } m[] = {
        {400, "bad-request"},
        {401, "unauthorized"},
        {403, "forbidden"},
        {404, "not-found"},
        {405, "method-not-allowed"},
        {409, "conflict"},
        {410, "gone"},
        {412, "precondition-failed"},
        {413, "payload-too-large"},
        {415, "unsupported-media-type"},
        {422, "unprocessable"},
        {429, "rate-limited"},
        {500, "internal"},
        {503, "unavailable"},
        {504, "timeout"},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        assert_string_equal(tm_problem_slug(m[i].status), m[i].slug);
}

static void test_errors_array(void **state)
{
    (void)state;
    json_t *p = tm_problem_new(400, "validation", NULL, NULL);
    tm_problem_add_error(p, "title", "is required");
    tm_problem_add_error(p, "labels[2]", "must be at most 50 characters");
    json_t *errs = json_object_get(p, "errors");
    assert_int_equal(json_array_size(errs), 2);
    json_t *e = json_array_get(errs, 1);
    assert_string_equal(json_string_value(json_object_get(e, "field")), "labels[2]");
    assert_string_equal(json_string_value(json_object_get(e, "reason")),
                        "must be at most 50 characters");
    json_decref(p);
}

static void test_from_errors(void **state)
{
    (void)state;
    tm_json_errors_t errs = {0};
    for (int i = 0; i < TM_JSON_MAX_ERRORS + 3; i++)
        tm_json_errors_add(&errs, "f", "reason %d", i);
    json_t *p = tm_problem_from_errors(422, &errs, "rid");
    assert_string_equal(json_string_value(json_object_get(p, "type")), "/problems/validation");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 422);
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "rid");
    json_t *arr = json_object_get(p, "errors");
    assert_int_equal(json_array_size(arr), TM_JSON_MAX_ERRORS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 3), "reason")),
                        "reason 3");
    assert_non_null(strstr(json_string_value(json_object_get(p, "detail")), "19"));
    json_decref(p);

    tm_json_errors_t one = {0};
    tm_json_errors_add(&one, "title", "is required");
    p = tm_problem_from_errors(400, &one, NULL);
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Bad Request");
    assert_int_equal(json_array_size(json_object_get(p, "errors")), 1);
    json_decref(p);
}

static void test_status_for(void **state)
{
    (void)state;
    assert_int_equal(tm_problem_status_for(TM_ERR_INVALID), 400);
    assert_int_equal(tm_problem_status_for(TM_ERR_NOT_FOUND), 404);
    assert_int_equal(tm_problem_status_for(TM_ERR_CONFLICT), 409);
    assert_int_equal(tm_problem_status_for(TM_ERR_TIMEOUT), 504);
    assert_int_equal(tm_problem_status_for(TM_ERR_LIMIT), 413);
    assert_int_equal(tm_problem_status_for(TM_ERR_UNAVAILABLE), 503);
    assert_int_equal(tm_problem_status_for(TM_ERR_AUTH), 401);
    assert_int_equal(tm_problem_status_for(TM_ERR_FORBIDDEN), 403);
    assert_int_equal(tm_problem_status_for(TM_ERR_PG), 500);
    assert_int_equal(tm_problem_status_for(TM_ERR_INTERNAL), 500);
    assert_int_equal(tm_problem_status_for(-999), 500);
    assert_string_equal(tm_strerror(TM_ERR_NOT_FOUND), "not found");
    assert_non_null(tm_strerror(12345));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),       cmocka_unit_test(test_titles_slugs),
        cmocka_unit_test(test_errors_array), cmocka_unit_test(test_from_errors),
        cmocka_unit_test(test_status_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
