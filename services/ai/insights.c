/* ai_insights: see insights.h. */
#include "insights.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define WEEK_MS (7 * AI_MS_PER_DAY)

static const char *const WEEKDAYS[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double ai_median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static bool completed_by(const ai_task_t *t, int64_t when)
{
    return t->completed_at != 0 && t->completed_at <= when;
}

static json_t *completion_window(const ai_task_t *tasks, size_t n, int64_t now_ms, int days)
{
    int64_t start = now_ms - days * AI_MS_PER_DAY;
    json_int_t created = 0, completed = 0, completions = 0;
    for (size_t i = 0; i < n; i++) {
        const ai_task_t *t = &tasks[i];
        if (t->created_at >= start && t->created_at <= now_ms) {
            created++;
            completed += completed_by(t, now_ms);
        }
        completions += t->completed_at >= start && completed_by(t, now_ms);
    }
    return json_pack("{s:I, s:I, s:o, s:I}", "created", created, "completed", completed, "rate",
                     created ? json_real((double)completed / (double)created) : json_null(),
                     "completions", completions);
}

static int argmax(const json_int_t *v, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (v[i] > 0 && (best < 0 || v[i] > v[best]))
            best = i;
    return best;
}

static json_t *int_array(const json_int_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *productive(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_tz_t *tz)
{
    json_int_t hours[24] = {0}, days[7] = {0};
    for (size_t i = 0; i < n; i++) {
        ai_local_t l;
        if (!completed_by(&tasks[i], now_ms) || ai_tz_to_local(tz, tasks[i].completed_at, &l))
            continue;
        hours[l.minute_of_day / 60]++;
        days[l.weekday]++;
    }
    int h = argmax(hours, 24), d = argmax(days, 7);
    return json_pack("{s:o, s:o, s:o, s:o}", "by_hour", int_array(hours, 24), "by_weekday",
                     int_array(days, 7), "top_hour", h < 0 ? json_null() : json_integer(h),
                     "top_weekday", d < 0 ? json_null() : json_string(WEEKDAYS[d]));
}

static bool has_ratio(const ai_task_t *t)
{
    return t->completed_at != 0 && t->estimate_minutes > 0 && t->logged_minutes > 0;
}

static bool has_label(const ai_task_t *t, const char *label)
{
    for (size_t k = 0; k < t->n_labels; k++)
        if (t->labels[k] && strcmp(t->labels[k], label) == 0)
            return true;
    return false;
}

/* Median ratio over the tasks with `label` (all tasks when label is NULL). */
static json_t *ratio_stats(const ai_task_t *tasks, size_t n, const char *label, double *scratch)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (has_ratio(&tasks[i]) && (!label || has_label(&tasks[i], label)))
            scratch[m++] = (double)tasks[i].logged_minutes / tasks[i].estimate_minutes;
    return json_pack("{s:I, s:o}", "samples", (json_int_t)m, "median_ratio",
                     m ? json_real(ai_median(scratch, m)) : json_null());
}

static json_t *estimate_accuracy(const ai_task_t *tasks, size_t n)
{
    double *scratch = tm_xcalloc(n ? n : 1, sizeof *scratch);
    json_t *out = ratio_stats(tasks, n, NULL, scratch);
    json_t *by_label = json_object();
    for (size_t i = 0; i < n; i++) {
        const ai_task_t *t = &tasks[i];
        for (size_t k = 0; has_ratio(t) && k < t->n_labels; k++) {
            const char *l = t->labels[k];
            if (!l || json_object_get(by_label, l) ||
                json_object_size(by_label) >= AI_INSIGHTS_MAX_LABELS)
                continue;
            json_object_set_new(by_label, l, ratio_stats(tasks, n, l, scratch));
        }
    }
    json_object_set_new(out, "by_label", by_label);
    free(scratch);
    return out;
}

static json_t *overdue_trend(const ai_task_t *tasks, size_t n, int64_t now_ms)
{
    json_int_t counts[4] = {0};
    json_t *weeks = json_array();
    for (size_t i = 0; i < n; i++) {
        const ai_task_t *t = &tasks[i];
        int64_t since = now_ms - t->due_at;
        if (t->due_at == 0 || since <= 0 || since > 4 * WEEK_MS || completed_by(t, t->due_at))
            continue;
        counts[3 - (since - 1) / WEEK_MS]++;
    }
    for (int w = 0; w < 4; w++) {
        char start[40];
        tm_format_rfc3339_ms(now_ms - (4 - w) * WEEK_MS, start, sizeof start);
        json_array_append_new(weeks,
                              json_pack("{s:s, s:I}", "week_start", start, "overdue", counts[w]));
    }
    const char *dir = counts[3] > counts[0] ? "rising" : counts[3] < counts[0] ? "falling" : "flat";
    return json_pack("{s:o, s:s}", "weeks", weeks, "direction", dir);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted unique local day numbers of completions; returns the count. */
static size_t completion_days(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_tz_t *tz,
                              int64_t *days)
{
    size_t m = 0, u = 0;
    for (size_t i = 0; i < n; i++) {
        ai_local_t l;
        if (completed_by(&tasks[i], now_ms) && !ai_tz_to_local(tz, tasks[i].completed_at, &l))
            days[m++] = ai_days_from_civil(l.year, l.month, l.day);
    }
    qsort(days, m, sizeof *days, cmp_i64);
    for (size_t i = 0; i < m; i++)
        if (u == 0 || days[u - 1] != days[i])
            days[u++] = days[i];
    return u;
}

static json_t *streaks(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_tz_t *tz)
{
    int64_t *days = tm_xcalloc(n ? n : 1, sizeof *days), today = 0;
    size_t u = completion_days(tasks, n, now_ms, tz, days), run = 0, longest = 0, current = 0;
    ai_local_t l;
    if (ai_tz_to_local(tz, now_ms, &l) == TM_OK)
        today = ai_days_from_civil(l.year, l.month, l.day);
    for (size_t i = 0; i < u; i++) {
        run = (i > 0 && days[i] == days[i - 1] + 1) ? run + 1 : 1;
        if (run > longest)
            longest = run;
    }
    if (u > 0 && (days[u - 1] == today || days[u - 1] == today - 1))
        current = run;
    free(days);
    return json_pack("{s:I, s:I}", "current", (json_int_t)current, "longest", (json_int_t)longest);
}

json_t *ai_insights(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_tz_t *tz)
{
    json_t *completion = json_pack("{s:o, s:o}", "7d", completion_window(tasks, n, now_ms, 7),
                                   "30d", completion_window(tasks, n, now_ms, 30));
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "completion", completion, "productive",
                     productive(tasks, n, now_ms, tz), "estimate_accuracy",
                     estimate_accuracy(tasks, n), "overdue_trend", overdue_trend(tasks, n, now_ms),
                     "streaks", streaks(tasks, n, now_ms, tz));
}
