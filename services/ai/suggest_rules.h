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
 * hist may hold any tasks: only its completed ones are read (a caller may pass all of a
 * user's tasks instead of copying the completed ones out).
 * estimated_minutes comes from ai_estimate_minutes() over the history found once per call
 * (one pass over it per proposal, made only while there is room; a task's precomputed
 * keywords spare re-reading its title). Repeats are found by sorting titles: n log n.
 * Any thread. */
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

/* The tasks estimates learn from (completed, with logged time), found once for many
 * estimates over the same tasks (borrowed: tasks must outlive h). */
typedef struct {
    const ai_task_t **t;
    size_t n;
} ai_history_t;

void ai_history_init(ai_history_t *h, const ai_task_t *tasks, size_t n);
void ai_history_dispose(ai_history_t *h);
/* ai_estimate_task over h. */
int ai_history_estimate(const ai_history_t *h, const ai_task_t *t, size_t *samples);

/* ai_estimate_minutes for a loaded task: its title (its precomputed keywords when set),
 * labels, and its own estimate as the fallback. */
int ai_estimate_task(const ai_task_t *hist, size_t n, const ai_task_t *t, size_t *samples);

/* The keywords of title (the words ai_estimate_minutes compares) as a list "w1\0w2\0\0":
 * lowercase, in title order, each cut to 31 bytes. Writes what fits into out[0..cap) (whole
 * keywords, always terminated when cap > 0) and returns the bytes the whole list needs,
 * at most strlen(title) + 2. out may be NULL (cap 0) to measure. */
size_t ai_title_keywords(const char *title, char *out, size_t cap);

/* "easy" (<= 30 min), "medium" (<= 120), "hard". Static string. */
const char *ai_difficulty(int minutes);

#endif
