/* ai_urgency: see urgency.h. */
#include "urgency.h"

#include <math.h>
#include <stdlib.h>
#include "tm_util.h"

#define MS_PER_DAY 86400000.0

void ai_urgency_defaults(ai_weights_t *w)
{
    *w = (ai_weights_t){.priority = 4.0,
                        .due = 5.0,
                        .age = 1.0,
                        .quick_win = 0.5,
                        .due_midpoint_days = 3.0,
                        .due_scale_days = 1.0,
                        .overdue_bonus = 0.5,
                        .overdue_tau_days = 7.0,
                        .age_tau_days = 14.0,
                        .quick_minutes = 30.0};
}

static double priority_factor(int p)
{
    return (p >= 1 && p <= 4) ? (5.0 - p) / 4.0 : 0.0;
}

static double due_factor(const ai_task_t *t, int64_t now_ms, const ai_weights_t *w)
{
    if (t->due_at == 0)
        return 0.0;
    double days = (double)(t->due_at - now_ms) / MS_PER_DAY;
    if (days < 0)
        return 1.0 + w->overdue_bonus * (1.0 - exp(days / w->overdue_tau_days));
    double m = w->due_midpoint_days, s = w->due_scale_days;
    return (1.0 + exp(-m / s)) / (1.0 + exp((days - m) / s));
}

static double age_factor(const ai_task_t *t, int64_t now_ms, const ai_weights_t *w)
{
    double days = (double)(now_ms - t->created_at) / MS_PER_DAY;
    return days <= 0 ? 0.0 : 1.0 - exp(-days / w->age_tau_days);
}

static double quick_factor(const ai_task_t *t, const ai_weights_t *w)
{
    double est = t->estimate_minutes, q = w->quick_minutes;
    if (est <= 0)
        return 0.0;
    if (est <= q)
        return 1.0;
    return est >= 4 * q ? 0.0 : (4 * q - est) / (3 * q);
}

double ai_urgency(const ai_task_t *t, int64_t now_ms, const ai_weights_t *w,
                  ai_urgency_parts_t *parts)
{
    ai_weights_t defaults;
    ai_urgency_parts_t p = {0};
    if (!w) {
        ai_urgency_defaults(&defaults);
        w = &defaults;
    }
    if (t->completed_at == 0) {
        p.priority = w->priority * priority_factor(t->priority);
        p.due = w->due * due_factor(t, now_ms, w);
        p.age = w->age * age_factor(t, now_ms, w);
        p.quick_win = w->quick_win * quick_factor(t, w);
        p.total = p.priority + p.due + p.age + p.quick_win;
    }
    if (parts)
        *parts = p;
    return p.total;
}

typedef struct {
    double score;
    size_t index;
} ranked_t;

static int by_score_desc(const void *a, const void *b)
{
    const ranked_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void ai_urgency_rank(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_weights_t *w,
                     size_t *order)
{
    if (n == 0)
        return;
    ranked_t *r = tm_xcalloc(n, sizeof *r);
    for (size_t i = 0; i < n; i++)
        r[i] = (ranked_t){ai_urgency(&tasks[i], now_ms, w, NULL), i};
    qsort(r, n, sizeof *r, by_score_desc);
    for (size_t i = 0; i < n; i++)
        order[i] = r[i].index;
    free(r);
}

/* Insert (score, index) into best[0..*n) (kept in rank order, at most k long). */
static void keep_best(ranked_t *best, size_t *n, size_t k, ranked_t r)
{
    if (*n == k && by_score_desc(&r, &best[k - 1]) >= 0)
        return;
    size_t i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && by_score_desc(&r, &best[i - 1]) < 0) {
        best[i] = best[i - 1];
        i--;
    }
    best[i] = r;
}

/* A bound on ai_urgency(t) without its exp() calls: priority and quick win exactly, the due
 * part at its most (1 for a future due date, where the curve only falls; 1 + bonus once
 * overdue), age at its most (1). Summed in ai_urgency's order: rounding keeps it >= the
 * score (weights are >= 0). */
static double upper_bound(const ai_task_t *t, int64_t now_ms, const ai_weights_t *w)
{
    if (t->completed_at != 0)
        return 0.0;
    double due = t->due_at == 0            ? 0.0
                 : t->due_at - now_ms >= 0 ? w->due
                                           : w->due * (1.0 + w->overdue_bonus);
    double age = now_ms - t->created_at <= 0 ? 0.0 : w->age;
    return w->priority * priority_factor(t->priority) + due + age +
           w->quick_win * quick_factor(t, w);
}

size_t ai_urgency_top(const ai_task_t *tasks, size_t n, ai_urgency_pick_fn pick, void *arg,
                      int64_t now_ms, const ai_weights_t *w, size_t k, size_t *order)
{
    ai_weights_t defaults;
    if (!w) {
        ai_urgency_defaults(&defaults);
        w = &defaults;
    }
    if (k == 0)
        return 0;
    ranked_t *best = tm_xmalloc(k * sizeof *best);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (pick && !pick(i, arg))
            continue;
        /* a task that cannot beat the k-th best is not scored: most of a long list */
        if (m == k && upper_bound(&tasks[i], now_ms, w) < best[k - 1].score)
            continue;
        keep_best(best, &m, k, (ranked_t){ai_urgency(&tasks[i], now_ms, w, NULL), i});
    }
    for (size_t i = 0; i < m; i++)
        order[i] = best[i].index;
    free(best);
    return m;
}
