/* Unit: which notifications and membership changes an event produces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "rules.h"

#define WS "11111111-1111-4111-8111-111111111111"
#define T1 "22222222-2222-4222-8222-222222222222"
#define A  "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define B  "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

static tm_event_t ev_of(const char *type, const char *actor, json_t *data)
{
    tm_event_t ev;
    memset(&ev, 0, sizeof ev);
    strcpy(ev.event_id, "33333333-3333-4333-8333-333333333333");
    strcpy(ev.workspace_id, WS);
    ev.seq = 7;
    strcpy(ev.type, type);
    strcpy(ev.actor_id, actor);
    ev.data = data;
    return ev;
}

static json_t *task(const char *assignee, const char *created_by, const char *title)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s}", "id", T1, "workspace_id", WS, "title", title,
                     "assignee_id", assignee ? json_string(assignee) : json_null(), "created_by",
                     created_by);
}

static void test_assignment(void **state)
{
    (void)state;
    rt_notice_t n[RT_RULES_MAX];
    tm_event_t ev = ev_of("task.created", A, task(B, A, "Ship it"));
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 1);
    assert_string_equal(n[0].user_id, B);
    assert_string_equal(n[0].type, "task.assigned");
    assert_string_equal(n[0].body, "Ship it");
    assert_string_equal(rt_rules_task_id(&ev), T1);
    tm_event_dispose(&ev);
    ev = ev_of("task.created", B, task(B, B, "Mine")); /* assigned to myself */
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 0);
    tm_event_dispose(&ev);
    ev = ev_of("task.created", A, task(NULL, A, "Nobody's"));
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 0);
    tm_event_dispose(&ev);
    /* Updates notify only when the assignee changed. */
    ev = ev_of("task.updated", A, task(B, A, "x"));
    assert_int_equal(rt_rules_notices(&ev, B, n, RT_RULES_MAX), 0);
    assert_int_equal(rt_rules_notices(&ev, A, n, RT_RULES_MAX), 1);
    assert_int_equal(rt_rules_notices(&ev, "", n, RT_RULES_MAX), 1);
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 1);
    assert_int_equal(rt_rules_notices(&ev, NULL, n, 0), 0); /* cap respected */
    tm_event_dispose(&ev);
}

static void test_completion_and_membership(void **state)
{
    (void)state;
    rt_notice_t n[RT_RULES_MAX];
    tm_event_t ev = ev_of("task.completed", B, task(B, A, "Done"));
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 1);
    assert_string_equal(n[0].user_id, A);
    assert_string_equal(n[0].type, "task.completed");
    tm_event_dispose(&ev);
    ev = ev_of("task.completed", A, task(B, A, "Done by creator"));
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 0);
    tm_event_dispose(&ev);

    const char *uid, *role;
    ev = ev_of("member.added", A,
               json_pack("{s:s, s:s, s:s}", "workspace_id", WS, "user_id", B, "role", "editor"));
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 1);
    assert_string_equal(n[0].type, "workspace.added");
    assert_string_equal(n[0].user_id, B);
    assert_int_equal(rt_rules_membership(&ev, &uid, &role), 1);
    assert_string_equal(uid, B);
    assert_string_equal(role, "editor");
    assert_null(rt_rules_task_id(&ev));
    tm_event_dispose(&ev);
    ev = ev_of("member.added", B,
               json_pack("{s:s, s:s, s:s}", "workspace_id", WS, "user_id", B, "role",
                         "editor")); /* added themselves */
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 0);
    tm_event_dispose(&ev);
    ev = ev_of("workspace.created", A,
               json_pack("{s:s, s:s, s:s}", "workspace_id", WS, "user_id", A, "role", "owner"));
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 0);
    assert_int_equal(rt_rules_membership(&ev, &uid, &role), 1);
    assert_string_equal(role, "owner");
    tm_event_dispose(&ev);
    ev = ev_of("workspace.created", A, json_pack("{s:s, s:s}", "id", WS, "created_by", A));
    assert_int_equal(rt_rules_membership(&ev, &uid, &role), 1);
    assert_string_equal(uid, A);
    assert_string_equal(role, "owner");
    tm_event_dispose(&ev);
    ev = ev_of("member.removed", A,
               json_pack("{s:s, s:s, s:s}", "workspace_id", WS, "user_id", B, "role", "editor"));
    assert_int_equal(rt_rules_membership(&ev, &uid, &role), -1);
    tm_event_dispose(&ev);
    ev = ev_of("task.deleted", A,
               json_pack("{s:s, s:s, s:b}", "id", T1, "workspace_id", WS, "deleted", 1));
    assert_int_equal(rt_rules_membership(&ev, &uid, &role), 0);
    assert_int_equal(rt_rules_notices(&ev, NULL, n, RT_RULES_MAX), 0);
    assert_string_equal(rt_rules_task_id(&ev), T1);
    tm_event_dispose(&ev);
}

static void test_utf8_cut(void **state)
{
    (void)state;
    char out[8];
    rt_rules_utf8_cut("h\xc3\xa9llo", out, 2); /* é would be cut in half */
    assert_string_equal(out, "h");
    rt_rules_utf8_cut("h\xc3\xa9llo", out, 3);
    assert_string_equal(out, "h\xc3\xa9");
    rt_rules_utf8_cut("\xe2\x82\xac\xe2\x82\xac", out, 5);
    assert_string_equal(out, "\xe2\x82\xac");
    rt_rules_utf8_cut("abc", out, 7);
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment),
        cmocka_unit_test(test_completion_and_membership),
        cmocka_unit_test(test_utf8_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
