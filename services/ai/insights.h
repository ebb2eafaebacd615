/* ai_insights: numbers about a user's own history, for GET /api/v1/ai/insights.
 *
 * ai_insights() returns a new object (caller owns, json_decref):
 *  "completion": {"7d": W, "30d": W}, W = {"created": tasks created in the window,
 *      "completed": of those, completed by now, "rate": completed/created or null,
 *      "completions": all completions inside the window}
 *  "productive": {"by_hour": [24 counts], "by_weekday": [7 counts, Monday first],
 *      "top_hour": 0..23 or null, "top_weekday": "monday".. or null} — completions in the
 *      user's time zone; ties go to the earliest hour/day.
 *  "estimate_accuracy": {"samples", "median_ratio" (logged/estimated, null if none),
 *      "by_label": {label: {"samples", "median_ratio"}}} over completed tasks with both
 *      an estimate and logged time; at most AI_INSIGHTS_MAX_LABELS labels.
 *  "overdue_trend": {"weeks": [4 x {"week_start": RFC 3339, "overdue": n}] oldest first,
 *      "direction": "rising"|"falling"|"flat" (last week vs first)} — a task counts in
 *      the week its due date fell in (weeks end at now) if it was not completed by then.
 *  "streaks": {"current", "longest"} — runs of local days with >= 1 completion; the
 *      current run still counts when today has no completion yet but yesterday had.
 * The caller bounds n (the service loads at most a few thousand recent records).
 * Any thread; allocation failure aborts (tm_xmalloc). */
#ifndef AI_INSIGHTS_H
#define AI_INSIGHTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "ai_task.h"
#include "tz.h"

#define AI_INSIGHTS_MAX_LABELS 64

json_t *ai_insights(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_tz_t *tz);

/* Median of v[0..n) (reorders v); 0 when n == 0. */
double ai_median(double *v, size_t n);

#endif
