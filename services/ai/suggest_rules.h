/* ai_suggest: rule-based proposals from a user's open tasks and history (source "rules").
 *
 * ai_suggest() returns a new JSON array (caller owns) of proposals, at most
 * o->max_suggestions, in the order: reschedule, raise_priority, breakdown, new_task. Each is
 *   {"kind", "task_id" (or null), "title", "reason", "confidence" 0..1,
 *    "estimated_minutes", "difficulty": "easy"|"medium"|"hard"} plus
 *   reschedule:     "proposed_due_at" — the old due time moved forward by whole days to the
 *                   first such time after now; confidence 0.5..0.9 grows with lateness;
 *   raise_priority: "proposed_priority" — for p2/p3 tasks created >= stale_days ago and not
 *                   updated for >= untouched_days; confidence 0.4..0.8 grows with staleness;
 *   breakdown:      "subtasks": [{title, estimated_minutes}] — for estimates above
 *                   breakdown_minutes (3 parts up to 8 h, 4 up to 16 h, else 5) or
 *                   descriptions longer than long_description characters (3 parts);
 *                   titles "Outline: X", "Draft: X", "Review: X" (+ "Finalize", "Research");
 *   new_task:       "proposed_due_at" — a title completed >= 3 times with no open task of
 *                   that title; due = last completion + the median gap (>= 1 day), rolled
 *                   forward past now; confidence 0.5 + 0.1 per extra repeat, at most 0.9.
 * estimated_minutes comes from ai_estimate_minutes() (one pass over hist per proposal, made
 * only while there is room). Repeats are found by sorting titles: n log n. Any thread. */
#ifndef AI_SUGGEST_RULES_H
#define AI_SUGGEST_RULES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "ai_task.h"

typedef struct {
    int stale_days;          /* default 14 */
    int untouched_days;      /* default 7 */
    int breakdown_minutes;   /* default 240 */
    size_t long_description; /* default 500 characters */
    size_t max_suggestions;  /* default 20 */
} ai_suggest_opts_t;

void ai_suggest_defaults(ai_suggest_opts_t *o);
/* o NULL -> defaults. */
json_t *ai_suggest(const ai_task_t *open, size_t n_open, const ai_task_t *hist, size_t n_hist,
                   int64_t now_ms, const ai_suggest_opts_t *o);

/* Median logged minutes of completed history tasks similar to (title, labels): sharing a
 * label or a title keyword (a word of >= 4 letters/digits, case-insensitive, minus a few
 * stop words). None -> fallback if > 0, else 30. *samples (may be NULL) gets the count. */
int ai_estimate_minutes(const ai_task_t *hist, size_t n, const char *title,
                        const char *const *labels, size_t n_labels, int fallback, size_t *samples);

/* "easy" (<= 30 min), "medium" (<= 120), "hard". Static string. */
const char *ai_difficulty(int minutes);

#endif
