/* ai_urgency: an explainable urgency score for one task (higher = do it sooner).
 *
 * score = w.priority * P + w.due * D + w.age * A + w.quick_win * Q, where
 *   P = (5 - priority) / 4 for priority 1..4 (p1 -> 1, p4 -> 0.25), 0 when unset;
 *   D = 0 without a due date; for a future due date a logistic curve in days that is 1 at
 *       "due now" and falls toward 0: (1 + e^(-m/s)) / (1 + e^((d - m)/s)) with
 *       m = w.due_midpoint_days, s = w.due_scale_days; once overdue
 *       D = 1 + w.overdue_bonus * (1 - e^(-overdue_days / w.overdue_tau_days)),
 *       so more overdue is always more urgent and it saturates;
 *   A = 1 - e^(-age_days / w.age_tau_days) (old tasks creep up);
 *   Q = 1 for an estimate <= w.quick_minutes, falling linearly to 0 at
 *       4 * w.quick_minutes ("quick win"), 0 without an estimate.
 * Completed tasks score 0. Pure functions: any thread, no allocation. */
#ifndef AI_URGENCY_H
#define AI_URGENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ai_task.h"

typedef struct {
    double priority;          /* default 4.0 */
    double due;               /* default 5.0 */
    double age;               /* default 1.0 */
    double quick_win;         /* default 0.5 */
    double due_midpoint_days; /* default 3.0 */
    double due_scale_days;    /* default 1.0 */
    double overdue_bonus;     /* default 0.5 */
    double overdue_tau_days;  /* default 7.0 */
    double age_tau_days;      /* default 14.0 */
    double quick_minutes;     /* default 30.0 */
} ai_weights_t;

/* Weighted contributions; total is their sum (the return value of ai_urgency). */
typedef struct {
    double priority, due, age, quick_win, total;
} ai_urgency_parts_t;

void ai_urgency_defaults(ai_weights_t *w);
/* Score t at now_ms. w NULL -> defaults. parts may be NULL. */
double ai_urgency(const ai_task_t *t, int64_t now_ms, const ai_weights_t *w,
                  ai_urgency_parts_t *parts);
/* Order tasks[0..n) by descending score (ties: earlier index first) into order[0..n). */
void ai_urgency_rank(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_weights_t *w,
                     size_t *order);

/* Which tasks ai_urgency_top ranks: true for index i to be ranked. */
typedef bool (*ai_urgency_pick_fn)(size_t i, void *arg);
/* The k best of the picked tasks of tasks[0..n) (all when pick is NULL), in the order
 * ai_urgency_rank gives them, into order[0..k); returns how many (<= k). One pass keeping
 * a k-long list: no sort of all n. */
size_t ai_urgency_top(const ai_task_t *tasks, size_t n, ai_urgency_pick_fn pick, void *arg,
                      int64_t now_ms, const ai_weights_t *w, size_t k, size_t *order);

#endif
