/* Unit tests for ai_suggest / ai_estimate_minutes (services/ai/suggest_rules.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "suggest_rules.h"

#define DAY 86400000LL
static const int64_t NOW = 1795600800000LL; /* 2026-11-25T10:00:00Z */
static const char *const WORK[] = {"work"}, *const HEALTH[] = {"health"};
static char long_desc[601];

static size_t fixture(ai_task_t *open, ai_task_t *hist, size_t *n_hist)
{
    memset(long_desc, 'x', 600);
    open[0] = (ai_task_t){.id = "o1",
                          .title = "Write quarterly report",
                          .priority = 1,
                          .labels = WORK,
                          .n_labels = 1,
                          .created_at = NOW - 20 * DAY,
                          .updated_at = NOW - DAY,
                          .due_at = NOW - 60 * 60 * 60000LL,
                          .estimate_minutes = 60};
    open[1] = (ai_task_t){.id = "o2",
                          .title = "Refactor billing module",
                          .priority = 2,
                          .created_at = NOW - 30 * DAY,
                          .updated_at = NOW - 10 * DAY,
                          .estimate_minutes = 600};
    open[2] =
        (ai_task_t){.id = "o3", .title = "Buy stamps", .priority = 3, .created_at = NOW - 2 * DAY};
    open[3] = (ai_task_t){
        .id = "o4", .title = "Organise offsite", .description = long_desc, .created_at = NOW - DAY};
    open[4] = (ai_task_t){
        .id = "o5", .title = "Someday idea", .priority = 4, .created_at = NOW - 90 * DAY};
    size_t n = 0;
    hist[n++] = (ai_task_t){.title = "Write monthly report",
                            .labels = WORK,
                            .n_labels = 1,
                            .completed_at = NOW - 5 * DAY,
                            .logged_minutes = 90};
    hist[n++] =
        (ai_task_t){.title = "Report numbers", .completed_at = NOW - 4 * DAY, .logged_minutes = 30};
    hist[n++] = (ai_task_t){.title = "Gym session",
                            .labels = HEALTH,
                            .n_labels = 1,
                            .completed_at = NOW - 15 * DAY,
                            .logged_minutes = 60};
    hist[n++] = (ai_task_t){.title = "gym SESSION",
                            .labels = HEALTH,
                            .n_labels = 1,
                            .completed_at = NOW - 8 * DAY,
                            .logged_minutes = 60};
    hist[n++] = (ai_task_t){.title = "Gym session",
                            .labels = HEALTH,
                            .n_labels = 1,
                            .completed_at = NOW - DAY,
                            .logged_minutes = 60};
    hist[n++] =
        (ai_task_t){.title = "Refactor auth", .completed_at = NOW - 3 * DAY, .logged_minutes = 240};
    hist[n++] = (ai_task_t){.title = "Water plants", .completed_at = NOW - 3 * DAY};
    hist[n++] = (ai_task_t){.title = "Water plants", .completed_at = NOW - 2 * DAY};
    hist[n++] = (ai_task_t){.title = "Report draft", .logged_minutes = 500};
    *n_hist = n;
    return 5;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_estimate(void **state)
{
    (void)state;
    ai_task_t open[5], hist[16];
    size_t nh, samples;
    fixture(open, hist, &nh);
    assert_int_equal(ai_estimate_minutes(hist, nh, "Write quarterly report", WORK, 1, 0, &samples),
                     60);
    assert_int_equal(samples, 2);
    assert_int_equal(ai_estimate_minutes(hist, nh, "Refactor billing", NULL, 0, 0, &samples), 240);
    assert_int_equal(samples, 1);
    assert_int_equal(ai_estimate_minutes(hist, nh, "Something new", NULL, 0, 45, &samples), 45);
    assert_int_equal(samples, 0);
    assert_int_equal(ai_estimate_minutes(hist, nh, "Something new", NULL, 0, 0, NULL), 30);
    /* Short or stop words do not make tasks similar. */
    assert_int_equal(ai_estimate_minutes(hist, nh, "Gym with Bob", NULL, 0, 0, NULL), 30);
    assert_string_equal(ai_difficulty(30), "easy");
    assert_string_equal(ai_difficulty(31), "medium");
    assert_string_equal(ai_difficulty(121), "hard");
}

static void test_proposals(void **state)
{
    (void)state;
    ai_task_t open[5], hist[16];
    size_t nh, no = fixture(open, hist, &nh);
    json_t *a = ai_suggest(open, no, hist, nh, NOW, NULL);
    assert_int_equal(json_array_size(a), 5);

    json_t *p = json_array_get(a, 0);
    assert_string_equal(str(p, "kind"), "reschedule");
    assert_string_equal(str(p, "task_id"), "o1");
    assert_string_equal(str(p, "proposed_due_at"), "2026-11-25T22:00:00.000Z");
    assert_float_equal(json_real_value(json_object_get(p, "confidence")),
                       0.5 + 0.4 * (1 - exp(-2.5 / 7)), 1e-9);
    assert_int_equal(json_integer_value(json_object_get(p, "estimated_minutes")), 60);
    assert_string_equal(str(p, "difficulty"), "medium");

    p = json_array_get(a, 1);
    assert_string_equal(str(p, "kind"), "raise_priority");
    assert_string_equal(str(p, "task_id"), "o2");
    assert_int_equal(json_integer_value(json_object_get(p, "proposed_priority")), 1);
    assert_float_equal(json_real_value(json_object_get(p, "confidence")),
                       0.4 + 0.4 * (1 - exp(-10.0 / 30)), 1e-9);

    p = json_array_get(a, 2);
    assert_string_equal(str(p, "kind"), "breakdown");
    assert_string_equal(str(p, "task_id"), "o2");
    assert_string_equal(str(p, "difficulty"), "hard");
    json_t *subs = json_object_get(p, "subtasks");
    assert_int_equal(json_array_size(subs), 4);
    assert_string_equal(str(json_array_get(subs, 0), "title"), "Outline: Refactor billing module");
    assert_string_equal(str(json_array_get(subs, 3), "title"), "Finalize: Refactor billing module");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(subs, 1), "estimated_minutes")), 150);

    p = json_array_get(a, 3);
    assert_string_equal(str(p, "task_id"), "o4");
    subs = json_object_get(p, "subtasks");
    assert_int_equal(json_array_size(subs), 3);
    assert_string_equal(str(json_array_get(subs, 2), "title"), "Review: Organise offsite");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(subs, 0), "estimated_minutes")), 10);

    p = json_array_get(a, 4);
    assert_string_equal(str(p, "kind"), "new_task");
    assert_true(json_is_null(json_object_get(p, "task_id")));
    assert_string_equal(str(p, "title"), "Gym session");
    assert_string_equal(str(p, "proposed_due_at"), "2026-12-01T10:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(p, "estimated_minutes")), 60);
    assert_float_equal(json_real_value(json_object_get(p, "confidence")), 0.5, 1e-9);
    json_decref(a);
}

static void test_caps_and_open_repeat(void **state)
{
    (void)state;
    ai_task_t open[6], hist[16];
    size_t nh, no = fixture(open, hist, &nh);
    ai_suggest_opts_t o;
    ai_suggest_defaults(&o);
    o.max_suggestions = 2;
    json_t *a = ai_suggest(open, no, hist, nh, NOW, &o);
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    /* An open "Gym session" suppresses the repeat proposal. */
    open[no] = (ai_task_t){.title = "GYM SESSION", .created_at = NOW};
    a = ai_suggest(open, no + 1, hist, nh, NOW, NULL);
    assert_int_equal(json_array_size(a), 4);
    json_decref(a);
    a = ai_suggest(NULL, 0, NULL, 0, NOW, NULL);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
}

/* Repeats are proposed in the order of each title's first completion in hist, whatever the
 * alphabetical order; open tasks and tasks without completion or title are not repeats. */
static void test_repeat_groups_in_history_order(void **state)
{
    (void)state;
    static const char *const titles[] = {"Zumba class",  "Archive mail", "zumba CLASS",
                                         "archive mail", "Zumba class",  "Archive Mail"};
    ai_task_t hist[10], open[1];
    size_t n = 0;
    for (size_t i = 0; i < 6; i++)
        hist[n++] =
            (ai_task_t){.title = titles[i], .completed_at = NOW - (int64_t)(12 - 2 * i) * DAY};
    hist[n++] = (ai_task_t){.title = "Zumba class"};             /* not completed */
    hist[n++] = (ai_task_t){.title = NULL, .completed_at = NOW}; /* no title */
    json_t *a = ai_suggest(NULL, 0, hist, n, NOW, NULL);
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(str(json_array_get(a, 0), "title"), "Zumba class");
    assert_string_equal(str(json_array_get(a, 0), "reason"),
                        "Completed 3 times, about every 4 days");
    assert_string_equal(str(json_array_get(a, 1), "title"), "Archive mail");
    json_decref(a);
    open[0] = (ai_task_t){.title = "ZUMBA CLASS", .created_at = NOW};
    a = ai_suggest(open, 1, hist, n, NOW, NULL);
    assert_int_equal(json_array_size(a), 1);
    assert_string_equal(str(json_array_get(a, 0), "title"), "Archive mail");
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_proposals),
        cmocka_unit_test(test_caps_and_open_repeat),
        cmocka_unit_test(test_repeat_groups_in_history_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
