/* Unit tests for services/task/task_json.c: every limit, read-only and unknown fields,
 * merge semantics (null clears, defaults), and SQL parameter mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "../../../services/task/task_json.c"

#define WS "0b6f2c3e-8a1d-4c2b-9f3e-1234567890ab"

static json_t *parse(const char *s)
{
    json_t *v = json_loads(s, 0, NULL);
    assert_non_null(v);
    return v;
}

/* The single error of checking body as kind names field with a reason containing want. */
static void expect_error(task_body_kind_t kind, json_t *body, const char *field, const char *want)
{
    tm_json_errors_t errs = {0};
    assert_int_equal(task_json_check(body, kind, &errs), TM_ERR_INVALID);
    bool found = false;
    for (int i = 0; i < errs.count && i < TM_JSON_MAX_ERRORS; i++)
        if (strcmp(errs.e[i].field, field) == 0 && strstr(errs.e[i].reason, want))
            found = true;
    if (!found)
        fail_msg("no error for %s containing '%s' (first: %s %s)", field, want,
                 errs.count ? errs.e[0].field : "-", errs.count ? errs.e[0].reason : "-");
    json_decref(body);
}

static void expect_ok(task_body_kind_t kind, json_t *body)
{
    tm_json_errors_t errs = {0};
    int rc = task_json_check(body, kind, &errs);
    if (rc != TM_OK)
        fail_msg("unexpected error: %s %s", errs.e[0].field, errs.e[0].reason);
    json_decref(body);
}

static json_t *with_string(const char *field, size_t chars, const char *unit)
{
    json_t *b = json_pack("{s:s, s:s}", "workspace_id", WS, "title", "t");
    size_t ulen = strlen(unit);
    char *s = malloc(chars * ulen + 1);
    for (size_t i = 0; i < chars; i++)
        memcpy(s + i * ulen, unit, ulen);
    s[chars * ulen] = '\0';
    json_object_set_new(b, field, json_string(s));
    free(s);
    return b;
}

static void test_title_limits(void **state)
{
    (void)state;
    expect_ok(TASK_BODY_CREATE, with_string("title", 500, "a"));
    expect_ok(TASK_BODY_CREATE, with_string("title", 500, "\xc3\xa9")); /* 500 chars, 1000 B */
    expect_error(TASK_BODY_CREATE, with_string("title", 501, "a"), "title", "at most 500");
    expect_error(TASK_BODY_CREATE, with_string("title", 0, "a"), "title", "at least 1");
    expect_error(TASK_BODY_CREATE, parse("{\"workspace_id\":\"" WS "\"}"), "title", "required");
    expect_error(TASK_BODY_UPDATE, parse("{\"title\":null}"), "title", "null");
}

static void test_description_limits(void **state)
{
    (void)state;
    expect_ok(TASK_BODY_CREATE, with_string("description", 20000, "x"));
    expect_error(TASK_BODY_CREATE, with_string("description", 20001, "x"), "description",
                 "at most 20000");
    expect_ok(TASK_BODY_UPDATE, parse("{\"description\":null}"));
}

static void test_enum_and_ranges(void **state)
{
    (void)state;
    expect_error(TASK_BODY_UPDATE, parse("{\"status\":\"closed\"}"), "status", "one of");
    expect_ok(TASK_BODY_UPDATE, parse("{\"status\":\"in_progress\"}"));
    expect_error(TASK_BODY_UPDATE, parse("{\"priority\":0}"), "priority", "between 1 and 4");
    expect_error(TASK_BODY_UPDATE, parse("{\"priority\":5}"), "priority", "between 1 and 4");
    expect_error(TASK_BODY_UPDATE, parse("{\"priority\":1.5}"), "priority", "integer");
    expect_error(TASK_BODY_UPDATE, parse("{\"priority\":\"1\"}"), "priority", "integer");
    expect_ok(TASK_BODY_UPDATE, parse("{\"priority\":1}"));
    expect_error(TASK_BODY_UPDATE, parse("{\"estimate_minutes\":-1}"), "estimate_minutes",
                 "between 0 and 100000");
    expect_error(TASK_BODY_UPDATE, parse("{\"estimate_minutes\":100001}"), "estimate_minutes",
                 "between");
    expect_ok(TASK_BODY_UPDATE, parse("{\"estimate_minutes\":0}"));
    expect_ok(TASK_BODY_UPDATE, parse("{\"estimate_minutes\":null}"));
    expect_error(TASK_BODY_UPDATE, parse("{\"due_at\":\"tomorrow\"}"), "due_at", "RFC 3339");
    expect_ok(TASK_BODY_UPDATE, parse("{\"due_at\":\"2026-01-02T03:04:05Z\"}"));
    expect_error(TASK_BODY_UPDATE, parse("{\"assignee_id\":\"bob\"}"), "assignee_id", "UUID");
    expect_error(TASK_BODY_CREATE, parse("{\"workspace_id\":\"x\",\"title\":\"t\"}"),
                 "workspace_id", "UUID");
}

static void test_labels(void **state)
{
    (void)state;
    json_t *many = json_array();
    for (int i = 0; i < 21; i++)
        json_array_append_new(many, json_string("l"));
    json_t *b = json_pack("{s:o}", "labels", many);
    expect_error(TASK_BODY_UPDATE, b, "labels", "at most 20 items");
    expect_error(TASK_BODY_UPDATE, parse("{\"labels\":[\"ok\",\"\"]}"), "labels[1]", "at least 1");
    char label[52];
    memset(label, 'z', 51);
    label[51] = '\0';
    expect_error(TASK_BODY_UPDATE, json_pack("{s:[s]}", "labels", label), "labels[0]",
                 "at most 50");
    label[50] = '\0';
    expect_ok(TASK_BODY_UPDATE, json_pack("{s:[s]}", "labels", label));
    expect_error(TASK_BODY_UPDATE, parse("{\"labels\":[1]}"), "labels[0]", "string");
    expect_error(TASK_BODY_UPDATE, parse("{\"labels\":null}"), "labels", "null");
}

static void test_read_only_fields(void **state)
{
    (void)state;
    const char *ro[] = {"id",         "created_by", "version",           "completed_at",
                        "created_at", "updated_at", "time_spent_minutes"};
    for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
        for (int k = 0; k < 3; k++) {
            json_t *b = json_pack("{s:s, s:s}", "title", "t", "workspace_id", WS);
            if (k != TASK_BODY_CREATE)
                json_object_del(b, "workspace_id");
            json_object_set_new(b, ro[i], json_integer(7));
            expect_error((task_body_kind_t)k, b, ro[i], "read-only field");
        }
    }
    expect_error(TASK_BODY_UPDATE, json_pack("{s:s}", "workspace_id", WS), "workspace_id",
                 "read-only field");
    expect_error(TASK_BODY_REPLACE, json_pack("{s:s, s:s}", "title", "t", "workspace_id", WS),
                 "workspace_id", "read-only field");
    /* null does not sneak past either */
    expect_error(TASK_BODY_UPDATE, parse("{\"completed_at\":null}"), "completed_at",
                 "read-only field");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    expect_error(TASK_BODY_UPDATE, parse("{\"is_admin\":true}"), "is_admin", "unknown field");
    expect_error(TASK_BODY_CREATE,
                 parse("{\"workspace_id\":\"" WS "\",\"title\":\"t\",\"owner\":\"x\"}"), "owner",
                 "unknown field");
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    json_t *b = parse("{\"title\":\"\",\"priority\":9,\"version\":3,\"x\":1}");
    tm_json_errors_t errs = {0};
    assert_int_equal(task_json_check(b, TASK_BODY_UPDATE, &errs), TM_ERR_INVALID);
    assert_int_equal(errs.count, 4);
    json_decref(b);
}

static void test_merge_and_params(void **state)
{
    (void)state;
    json_t *cur = parse("{\"title\":\"old\",\"description\":\"d\",\"status\":\"done\","
                        "\"priority\":2,\"labels\":[\"a\"],\"assignee_id\":null,"
                        "\"due_at\":\"2026-01-01T00:00:00.000Z\",\"estimate_minutes\":30,"
                        "\"version\":4}");
    json_t *patch = parse("{\"title\":\"new\",\"due_at\":null}");
    json_t *full = task_json_merge(cur, patch);
    assert_string_equal(tm_json_str(full, "title", ""), "new");
    assert_true(tm_json_is_null(full, "due_at"));
    assert_int_equal(tm_json_int(full, "priority", 0), 2);
    assert_false(tm_json_has(full, "version"));
    task_params_t p;
    task_params_init(&p, full);
    assert_string_equal(p.v[0], "new");
    assert_string_equal(p.v[1], "d");
    assert_string_equal(p.v[2], "done");
    assert_string_equal(p.v[3], "2");
    assert_string_equal(p.v[4], "[\"a\"]");
    assert_null(p.v[5]);
    assert_null(p.v[6]);
    assert_string_equal(p.v[7], "30");
    task_params_dispose(&p);
    json_decref(full);

    /* replace/create: absent fields take the defaults */
    full = task_json_merge(NULL, patch);
    task_params_init(&p, full);
    assert_string_equal(p.v[2], "todo");
    assert_string_equal(p.v[3], "4");
    assert_string_equal(p.v[4], "[]");
    assert_null(p.v[1]);
    assert_null(p.v[7]);
    task_params_dispose(&p);
    json_decref(full);
    json_decref(patch);
    json_decref(cur);
}

static void test_archive_only(void **state)
{
    (void)state;
    json_t *a = parse("{\"status\":\"archived\"}");
    json_t *b = parse("{\"status\":\"archived\",\"title\":\"x\"}");
    json_t *c = parse("{\"status\":\"done\"}");
    assert_true(task_json_is_archive_only(a));
    assert_false(task_json_is_archive_only(b));
    assert_false(task_json_is_archive_only(c));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_title_limits),        cmocka_unit_test(test_description_limits),
        cmocka_unit_test(test_enum_and_ranges),     cmocka_unit_test(test_labels),
        cmocka_unit_test(test_read_only_fields),    cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_all_errors_reported), cmocka_unit_test(test_merge_and_params),
        cmocka_unit_test(test_archive_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
