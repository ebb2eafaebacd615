/* Unit: rt_text writes the bytes jansson's compact dump gives for the same objects (the
 * consumer's delivery ops and history rows are built from text since session 6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "evtext.h"
#include "tm_json.h"

/* Strings jansson escapes (quote, backslash, every control character) and those it leaves
 * alone (slash, DEL, multi-byte UTF-8). */
static const char *const tricky[] = {
    "",
    "task.created",
    "quote \" backslash \\ slash / del \x7f",
    "\b\f\n\r\t \x01\x02\x1f end",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
};
#define NTRICKY (sizeof tricky / sizeof tricky[0])

static void test_str_matches_jansson(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTRICKY; i++) {
        rt_text_t t = {0};
        rt_text_str(&t, tricky[i]);
        json_t *s = json_string(tricky[i]);
        assert_non_null(s);
        char *want = tm_json_dumps(s, NULL);
        assert_string_equal(t.p, want);
        free(want);
        json_decref(s);
        rt_text_free(&t);
    }
    rt_text_t t = {0};
    rt_text_str(&t, NULL);
    assert_string_equal(t.p, "null");
    rt_text_free(&t);
}

static void check_op(const char *room, int64_t seq, const char *type, json_t *data)
{
    json_t *op = rt_op_event(room, seq, type, data, "3f0c1c2e-1111-4222-8333-444455556666",
                             "2026-11-26T11:51:39.285Z");
    char *want = tm_json_dumps(op, NULL);
    char *dtext = data ? tm_json_dumps(data, NULL) : NULL;
    rt_text_t t = {0};
    rt_text_op_event(&t, room, seq, type, dtext, "3f0c1c2e-1111-4222-8333-444455556666",
                     "2026-11-26T11:51:39.285Z");
    assert_string_equal(t.p, want);
    assert_int_equal(t.len, strlen(want));
    rt_text_free(&t);
    free(dtext);
    free(want);
    json_decref(op);
}

static void test_op_event_matches_rt_op_event(void **state)
{
    (void)state;
    json_t *data = json_pack("{s:s, s:i, s:[s, s], s:n, s:{s:b}}", "title", tricky[3], "priority",
                             2, "labels", "a\"b", tricky[4], "due_at", "nested", "x", 1);
    assert_non_null(data);
    for (size_t i = 0; i < NTRICKY; i++)
        check_op("workspace:3f0c1c2e-1111-4222-8333-444455556666", 1, tricky[i], data);
    check_op("task:3f0c1c2e-1111-4222-8333-444455556666", INT64_MAX, "task.updated", data);
    check_op("workspace:3f0c1c2e-1111-4222-8333-444455556666", 7, "task.deleted", NULL);
    json_t *null = json_null();
    check_op("workspace:3f0c1c2e-1111-4222-8333-444455556666", 8, "task.deleted", null);
    json_decref(null);
    json_decref(data);
}

/* Appends grow the buffer past its first allocation; reset keeps it, empty. */
static void test_growth_and_reset(void **state)
{
    (void)state;
    rt_text_t t = {0};
    for (int i = 0; i < 1000; i++)
        rt_text_int(&t, i);
    assert_true(t.len > 256);
    assert_memory_equal(t.p, "0123456789101112", 16);
    assert_int_equal(strlen(t.p), t.len);
    rt_text_reset(&t);
    assert_int_equal(t.len, 0);
    assert_string_equal(t.p, "");
    rt_text_int(&t, -42);
    assert_string_equal(t.p, "-42");
    rt_text_free(&t);
    assert_null(t.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_matches_jansson),
        cmocka_unit_test(test_op_event_matches_rt_op_event),
        cmocka_unit_test(test_growth_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
