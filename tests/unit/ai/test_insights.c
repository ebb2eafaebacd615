/* Unit tests for ai_insights (services/ai/insights.c) over a fixed history. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "insights.h"

#define HOUR 3600000LL
#define DAY  (24 * HOUR)
static const int64_t NOW = 1795600800000LL; /* Wed 2026-11-25T10:00:00Z */
static const int64_t MIDNIGHT = 1795600800000LL - 10 * HOUR;

/* Local (UTC) time `days` days ago at `hour`. */
static int64_t at(int days, double hour)
{
    return MIDNIGHT - days * DAY + (int64_t)(hour * HOUR);
}

static const char *const WORK[] = {"work"}, *const HOME[] = {"home"};
static const char *const BOTH[] = {"work", "home"};

static void history(ai_task_t *t)
{
    t[0] = (ai_task_t){.title = "A",
                       .created_at = NOW - 2 * DAY,
                       .completed_at = at(0, 9),
                       .estimate_minutes = 60,
                       .logged_minutes = 90,
                       .labels = WORK,
                       .n_labels = 1};
    t[1] = (ai_task_t){.title = "B",
                       .created_at = NOW - 3 * DAY,
                       .completed_at = at(1, 9.5),
                       .estimate_minutes = 30,
                       .logged_minutes = 30,
                       .labels = BOTH,
                       .n_labels = 2};
    t[2] = (ai_task_t){.title = "C",
                       .created_at = NOW - 10 * DAY,
                       .completed_at = at(2, 14),
                       .estimate_minutes = 120,
                       .logged_minutes = 60,
                       .labels = HOME,
                       .n_labels = 1};
    t[3] = (ai_task_t){.title = "D", .created_at = NOW - 5 * DAY, .due_at = at(3, 12)};
    t[4] = (ai_task_t){.title = "E",
                       .created_at = NOW - 20 * DAY,
                       .due_at = at(12, 0),
                       .completed_at = at(10, 9),
                       .logged_minutes = 15};
    t[5] = (ai_task_t){.title = "F", .created_at = NOW - 40 * DAY, .due_at = NOW - 25 * DAY};
    t[6] = (ai_task_t){.title = "G", .created_at = NOW - 6 * DAY};
    t[7] = (ai_task_t){.title = "I", .created_at = NOW - 8 * DAY, .due_at = NOW - DAY};
    /* Completed on time: never overdue. */
    t[8] = (ai_task_t){.title = "J",
                       .created_at = NOW - 50 * DAY,
                       .due_at = NOW - 40 * DAY,
                       .completed_at = NOW - 45 * DAY};
}

static int64_t geti(json_t *root, const char *path)
{
    json_t *v = root;
    char buf[128], *save = NULL;
    strncpy(buf, path, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    assert_non_null(v);
    return json_integer_value(v);
}

static double getr(json_t *root, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(json_object_get(root, a), b);
    if (c)
        v = json_object_get(v, c);
    assert_true(json_is_real(v));
    return json_real_value(v);
}

static void test_fixed_history(void **state)
{
    (void)state;
    ai_task_t t[9];
    ai_tz_t utc;
    history(t);
    assert_int_equal(ai_tz_init(&utc, "UTC"), TM_OK);
    json_t *j = ai_insights(t, 9, NOW, &utc);
    assert_non_null(j);
    assert_int_equal(geti(j, "completion.7d.created"), 4);
    assert_int_equal(geti(j, "completion.7d.completed"), 2);
    assert_int_equal(geti(j, "completion.7d.completions"), 3);
    assert_float_equal(getr(j, "completion", "7d", "rate"), 0.5, 1e-12);
    assert_int_equal(geti(j, "completion.30d.created"), 7);
    assert_int_equal(geti(j, "completion.30d.completed"), 4);
    assert_int_equal(geti(j, "completion.30d.completions"), 4);
    assert_float_equal(getr(j, "completion", "30d", "rate"), 4.0 / 7.0, 1e-12);
    assert_int_equal(geti(j, "productive.by_hour.9"), 3);
    assert_int_equal(geti(j, "productive.by_hour.14"), 1);
    assert_int_equal(geti(j, "productive.by_hour.8"), 0);
    assert_int_equal(geti(j, "productive.by_hour.10"), 1);
    assert_int_equal(geti(j, "productive.top_hour"), 9);
    int want_days[7] = {1, 1, 1, 0, 0, 0, 2}; /* J (45 days ago) was a Sunday too */
    json_t *wd = json_object_get(json_object_get(j, "productive"), "by_weekday");
    for (size_t d = 0; d < 7; d++)
        assert_int_equal(json_integer_value(json_array_get(wd, d)), want_days[d]);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "productive"), "top_weekday")),
        "sunday");
    assert_int_equal(geti(j, "estimate_accuracy.samples"), 3);
    assert_float_equal(getr(j, "estimate_accuracy", "median_ratio", NULL), 1.0, 1e-12);
    json_t *bl = json_object_get(json_object_get(j, "estimate_accuracy"), "by_label");
    assert_float_equal(getr(bl, "work", "median_ratio", NULL), 1.25, 1e-12);
    assert_float_equal(getr(bl, "home", "median_ratio", NULL), 0.75, 1e-12);
    assert_int_equal(geti(j, "estimate_accuracy.by_label.work.samples"), 2);
    int want_over[4] = {1, 0, 1, 2};
    json_t *weeks = json_object_get(json_object_get(j, "overdue_trend"), "weeks");
    for (size_t w = 0; w < 4; w++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(weeks, w), "overdue")),
                         want_over[w]);
    assert_string_equal(json_string_value(json_object_get(json_array_get(weeks, 0), "week_start")),
                        "2026-10-28T10:00:00.000Z");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "overdue_trend"), "direction")),
        "rising");
    assert_int_equal(geti(j, "streaks.current"), 3);
    assert_int_equal(geti(j, "streaks.longest"), 3);
    json_decref(j);
}

static void test_timezone_and_streaks(void **state)
{
    (void)state;
    ai_tz_t ny, utc;
    assert_int_equal(ai_tz_init(&ny, "America/New_York"), TM_OK);
    assert_int_equal(ai_tz_init(&utc, "UTC"), TM_OK);
    /* 03:00Z on the 25th is 22:00 on Tuesday the 24th in New York. */
    ai_task_t t[1] = {{.title = "x", .created_at = NOW - DAY, .completed_at = at(0, 3)}};
    json_t *j = ai_insights(t, 1, NOW, &ny);
    assert_int_equal(geti(j, "productive.top_hour"), 22);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "productive"), "top_weekday")),
        "tuesday");
    assert_int_equal(geti(j, "streaks.current"), 1);
    json_decref(j);
    t[0].completed_at = at(3, 12);
    j = ai_insights(t, 1, NOW, &utc);
    assert_int_equal(geti(j, "streaks.current"), 0);
    assert_int_equal(geti(j, "streaks.longest"), 1);
    json_decref(j);
}

static void test_empty(void **state)
{
    (void)state;
    ai_tz_t utc;
    assert_int_equal(ai_tz_init(&utc, "UTC"), TM_OK);
    json_t *j = ai_insights(NULL, 0, NOW, &utc);
    assert_true(json_is_null(
        json_object_get(json_object_get(json_object_get(j, "completion"), "7d"), "rate")));
    assert_true(json_is_null(json_object_get(json_object_get(j, "productive"), "top_hour")));
    assert_int_equal(geti(j, "streaks.longest"), 0);
    json_decref(j);
}

static void test_median(void **state)
{
    (void)state;
    double a[] = {5, 1, 3}, b[] = {4, 1, 3, 2};
    assert_float_equal(ai_median(a, 3), 3.0, 0);
    assert_float_equal(ai_median(b, 4), 2.5, 0);
    assert_float_equal(ai_median(NULL, 0), 0.0, 0);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The selection-based median equals the middle of a sorted copy, duplicates included. */
static void test_median_random(void **state)
{
    (void)state;
    srand(7);
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(rand() % 60);
        double v[60], sorted[60];
        for (size_t i = 0; i < n; i++)
            v[i] = sorted[i] = rand() % (1 + rand() % 12);
        qsort(sorted, n, sizeof *sorted, cmp_d);
        double want = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        assert_float_equal(ai_median(v, n), want, 0);
    }
}

/* The hourly offset memo answers as a direct conversion does, every minute across both
 * daylight-saving changes of a year, in a zone with a half-hour change too. */
static void test_tz_memo_matches(void **state)
{
    (void)state;
    const char *zones[] = {"Europe/Berlin", "Australia/Lord_Howe", "+05:30"};
    const int64_t spans[][2] = {{1774742400000LL, 1774756800000LL},  /* 2026-03-29 00-04 UTC */
                                {1792886400000LL, 1792900800000LL},  /* 2026-10-25 00-04 UTC */
                                {1775314800000LL, 1775332800000LL},  /* 2026-04-04 15-20 UTC */
                                {1791039600000LL, 1791057600000LL}}; /* 2026-10-03 15-20 UTC */
    for (size_t z = 0; z < 3; z++) {
        ai_tz_t tz;
        ai_tz_memo_t memo;
        assert_int_equal(ai_tz_init(&tz, zones[z]), TM_OK);
        ai_tz_memo_init(&memo);
        for (size_t s = 0; s < 4; s++)
            for (int64_t t = spans[s][0]; t < spans[s][1]; t += 60000 + 7) {
                ai_local_t want, got;
                int64_t day;
                int minute, weekday;
                assert_int_equal(ai_tz_to_local(&tz, t, &want), TM_OK);
                assert_int_equal(ai_tz_to_local_memo(&tz, &memo, t, &got), TM_OK);
                assert_int_equal(ai_tz_local_day(&tz, &memo, t, &day, &minute, &weekday), TM_OK);
                assert_memory_equal(&want, &got, sizeof want);
                assert_int_equal(day, ai_days_from_civil(want.year, want.month, want.day));
                assert_int_equal(minute, want.minute_of_day);
                assert_int_equal(weekday, want.weekday);
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_history), cmocka_unit_test(test_timezone_and_streaks),
        cmocka_unit_test(test_empty),         cmocka_unit_test(test_median),
        cmocka_unit_test(test_median_random), cmocka_unit_test(test_tz_memo_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
