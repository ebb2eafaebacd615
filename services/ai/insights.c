/* ai_insights: see insights.h. */
#include "insights.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define WEEK_MS (7 * AI_MS_PER_DAY)

static const char *const WEEKDAYS[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday"};

static void swap_d(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Reorder v so that v[k] is the k-th smallest, v[0..k) <= v[k] <= v[k+1..n): Hoare's
 * selection with a median-of-three pivot, linear on average (a median used to be a sort). */
static void select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo])
            swap_d(&v[mid], &v[lo]);
        if (v[hi] < v[lo])
            swap_d(&v[hi], &v[lo]);
        if (v[hi] < v[mid])
            swap_d(&v[hi], &v[mid]);
        double pivot = v[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                swap_d(&v[i], &v[j]);
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

double ai_median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    select_kth(v, n, n / 2);
    if (n % 2)
        return v[n / 2];
    double below = v[0]; /* the largest of v[0..n/2): the other middle value */
    for (size_t i = 1; i < n / 2; i++)
        if (v[i] > below)
            below = v[i];
    return (below + v[n / 2]) / 2.0;
}

static bool completed_by(const ai_task_t *t, int64_t when)
{
    return t->completed_at != 0 && t->completed_at <= when;
}

static bool has_ratio(const ai_task_t *t)
{
    return t->completed_at != 0 && t->estimate_minutes > 0 && t->logged_minutes > 0;
}

static double ratio(const ai_task_t *t)
{
    return (double)t->logged_minutes / t->estimate_minutes;
}

/* ---- per-label ratios: the first AI_INSIGHTS_MAX_LABELS distinct labels of tasks with a
 * ratio, in order of first appearance, in a small open-addressing table ---- */

#define LABEL_SLOTS (4 * AI_INSIGHTS_MAX_LABELS)

typedef struct {
    const char *name[AI_INSIGHTS_MAX_LABELS];
    size_t count[AI_INSIGHTS_MAX_LABELS], n;
    int slot[LABEL_SLOTS]; /* label index + 1; 0: empty */
} label_table_t;

typedef struct {
    uint32_t label;
    double ratio;
} label_ratio_t;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The index of label, added when new and there is room; -1 beyond the cap. */
static int label_index(label_table_t *lt, const char *label)
{
    size_t i = str_hash(label) & (LABEL_SLOTS - 1);
    for (; lt->slot[i]; i = (i + 1) & (LABEL_SLOTS - 1))
        if (strcmp(lt->name[lt->slot[i] - 1], label) == 0)
            return lt->slot[i] - 1;
    if (lt->n >= AI_INSIGHTS_MAX_LABELS)
        return -1;
    lt->name[lt->n] = label;
    lt->slot[i] = (int)++lt->n;
    return (int)lt->n - 1;
}

/* ---- one pass over the tasks ---- */

#define DAY_BITMAP_MAX (1 << 16) /* local days a bitmap may span (else a sort) */

typedef struct {
    int64_t now;
    const ai_tz_t *tz;
    ai_tz_memo_t memo;
    json_int_t created[2], completed[2], completions[2]; /* windows of 7 and 30 days */
    json_int_t hours[24], weekdays[7], overdue[4];
    int64_t *days; /* local day of each completion */
    size_t n_days;
    int64_t min_day, max_day;
    double *ratios; /* all tasks' ratios */
    size_t n_ratios;
    label_table_t labels;
    label_ratio_t *by_label; /* (label, ratio) of each labelled ratio, once per label */
    size_t n_by_label, cap_by_label;
} acc_t;

static void acc_window(acc_t *a, const ai_task_t *t, int w, int days)
{
    int64_t start = a->now - days * AI_MS_PER_DAY;
    if (t->created_at >= start && t->created_at <= a->now) {
        a->created[w]++;
        a->completed[w] += completed_by(t, a->now);
    }
    a->completions[w] += t->completed_at >= start && completed_by(t, a->now);
}

static void acc_local(acc_t *a, const ai_task_t *t)
{
    int64_t day;
    int minute, weekday;
    if (!completed_by(t, a->now) ||
        ai_tz_local_day(a->tz, &a->memo, t->completed_at, &day, &minute, &weekday) != TM_OK)
        return;
    a->hours[minute / 60]++;
    a->weekdays[weekday]++;
    if (a->n_days == 0 || day < a->min_day)
        a->min_day = day;
    if (a->n_days == 0 || day > a->max_day)
        a->max_day = day;
    a->days[a->n_days++] = day;
}

static void push_label(acc_t *a, int label, double r)
{
    if (a->n_by_label == a->cap_by_label) {
        a->cap_by_label = a->cap_by_label ? 2 * a->cap_by_label : 256;
        a->by_label = tm_xrealloc(a->by_label, a->cap_by_label * sizeof *a->by_label);
    }
    a->by_label[a->n_by_label++] = (label_ratio_t){(uint32_t)label, r};
    a->labels.count[label]++;
}

static void acc_ratio(acc_t *a, const ai_task_t *t)
{
    if (!has_ratio(t))
        return;
    double r = ratio(t);
    a->ratios[a->n_ratios++] = r;
    for (size_t k = 0; k < t->n_labels; k++) {
        int li = t->labels[k] ? label_index(&a->labels, t->labels[k]) : -1;
        bool again = false; /* a label twice on one task counts once */
        for (size_t j = 0; li >= 0 && j < k && !again; j++)
            again = t->labels[j] && strcmp(t->labels[j], t->labels[k]) == 0;
        if (li >= 0 && !again)
            push_label(a, li, r);
    }
}

/* A task counts in the week its due date fell in (weeks end at now) if it was not
 * completed by then. */
static void acc_overdue(acc_t *a, const ai_task_t *t)
{
    int64_t since = a->now - t->due_at;
    if (t->due_at == 0 || since <= 0 || since > 4 * WEEK_MS || completed_by(t, t->due_at))
        return;
    a->overdue[3 - (since - 1) / WEEK_MS]++;
}

static void accumulate(acc_t *a, const ai_task_t *tasks, size_t n)
{
    a->days = tm_xmalloc((n ? n : 1) * sizeof *a->days);
    a->ratios = tm_xmalloc((n ? n : 1) * sizeof *a->ratios);
    for (size_t i = 0; i < n; i++) {
        const ai_task_t *t = &tasks[i];
        acc_window(a, t, 0, 7);
        acc_window(a, t, 1, 30);
        acc_local(a, t);
        acc_ratio(a, t);
        acc_overdue(a, t);
    }
}

/* ---- the parts of the answer ---- */

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

static json_t *window_json(const acc_t *a, int w)
{
    return json_pack(
        "{s:I, s:I, s:o, s:I}", "created", a->created[w], "completed", a->completed[w], "rate",
        a->created[w] ? json_real((double)a->completed[w] / (double)a->created[w]) : json_null(),
        "completions", a->completions[w]);
}

static json_t *productive(const acc_t *a)
{
    int h = argmax(a->hours, 24), d = argmax(a->weekdays, 7);
    return json_pack("{s:o, s:o, s:o, s:o}", "by_hour", int_array(a->hours, 24), "by_weekday",
                     int_array(a->weekdays, 7), "top_hour", h < 0 ? json_null() : json_integer(h),
                     "top_weekday", d < 0 ? json_null() : json_string(WEEKDAYS[d]));
}

static json_t *ratio_json(double *v, size_t m)
{
    return json_pack("{s:I, s:o}", "samples", (json_int_t)m, "median_ratio",
                     m ? json_real(ai_median(v, m)) : json_null());
}

/* Group the (label, ratio) pairs by label (a counting sort) and take each label's median. */
static json_t *estimate_accuracy(acc_t *a)
{
    json_t *out = ratio_json(a->ratios, a->n_ratios);
    size_t off[AI_INSIGHTS_MAX_LABELS + 1] = {0}, fill[AI_INSIGHTS_MAX_LABELS] = {0};
    for (size_t j = 0; j < a->labels.n; j++)
        off[j + 1] = off[j] + a->labels.count[j];
    double *grouped = tm_xmalloc((a->n_by_label + 1) * sizeof *grouped);
    for (size_t i = 0; i < a->n_by_label; i++) {
        uint32_t l = a->by_label[i].label;
        grouped[off[l] + fill[l]++] = a->by_label[i].ratio;
    }
    json_t *by = json_object();
    for (size_t j = 0; j < a->labels.n; j++)
        json_object_set_new(by, a->labels.name[j],
                            ratio_json(grouped + off[j], a->labels.count[j]));
    free(grouped);
    json_object_set_new(out, "by_label", by);
    return out;
}

static json_t *overdue_trend(const acc_t *a)
{
    json_t *weeks = json_array();
    for (int w = 0; w < 4; w++) {
        char start[40];
        tm_format_rfc3339_ms(a->now - (4 - w) * WEEK_MS, start, sizeof start);
        json_array_append_new(
            weeks, json_pack("{s:s, s:I}", "week_start", start, "overdue", a->overdue[w]));
    }
    const json_int_t *c = a->overdue;
    const char *dir = c[3] > c[0] ? "rising" : c[3] < c[0] ? "falling" : "flat";
    return json_pack("{s:o, s:s}", "weeks", weeks, "direction", dir);
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t p = *(const int64_t *)x, q = *(const int64_t *)y;
    return (p > q) - (p < q);
}

/* Sort and dedupe the completion days in place (a bitmap over their span when it is short,
 * which completions almost always are); returns how many distinct days. */
static size_t distinct_days(acc_t *a)
{
    if (a->n_days == 0)
        return 0;
    int64_t span = a->max_day - a->min_day + 1;
    if (span > DAY_BITMAP_MAX) {
        size_t u = 0;
        qsort(a->days, a->n_days, sizeof *a->days, cmp_i64);
        for (size_t i = 0; i < a->n_days; i++)
            if (u == 0 || a->days[u - 1] != a->days[i])
                a->days[u++] = a->days[i];
        return u;
    }
    uint64_t *bits = tm_xcalloc((size_t)(span + 63) / 64, sizeof *bits);
    for (size_t i = 0; i < a->n_days; i++) {
        int64_t b = a->days[i] - a->min_day;
        bits[b / 64] |= 1ULL << (b % 64);
    }
    size_t u = 0;
    for (int64_t b = 0; b < span; b++)
        if (bits[b / 64] >> (b % 64) & 1)
            a->days[u++] = a->min_day + b;
    free(bits);
    return u;
}

static json_t *streaks(acc_t *a)
{
    int64_t *days = a->days, today = 0;
    size_t u = distinct_days(a), run = 0, longest = 0, current = 0;
    ai_local_t l;
    if (ai_tz_to_local(a->tz, a->now, &l) == TM_OK)
        today = ai_days_from_civil(l.year, l.month, l.day);
    for (size_t i = 0; i < u; i++) {
        run = (i > 0 && days[i] == days[i - 1] + 1) ? run + 1 : 1;
        if (run > longest)
            longest = run;
    }
    if (u > 0 && (days[u - 1] == today || days[u - 1] == today - 1))
        current = run;
    return json_pack("{s:I, s:I}", "current", (json_int_t)current, "longest", (json_int_t)longest);
}

json_t *ai_insights(const ai_task_t *tasks, size_t n, int64_t now_ms, const ai_tz_t *tz)
{
    acc_t *a = tm_xcalloc(1, sizeof *a);
    a->now = now_ms;
    a->tz = tz;
    ai_tz_memo_init(&a->memo);
    accumulate(a, tasks, n);
    json_t *completion = json_pack("{s:o, s:o}", "7d", window_json(a, 0), "30d", window_json(a, 1));
    json_t *out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "completion", completion, "productive",
                            productive(a), "estimate_accuracy", estimate_accuracy(a),
                            "overdue_trend", overdue_trend(a), "streaks", streaks(a));
    free(a->days);
    free(a->ratios);
    free(a->by_label);
    free(a);
    return out;
}
