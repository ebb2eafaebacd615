/* ai_suggest: see suggest_rules.h. */
#include "suggest_rules.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "insights.h"
#include "tm_util.h"

#define DAY_MS         86400000LL
#define WORD_MAX       32
#define SUBTITLE_CHARS 480

void ai_suggest_defaults(ai_suggest_opts_t *o)
{
    *o = (ai_suggest_opts_t){.stale_days = 14,
                             .untouched_days = 7,
                             .breakdown_minutes = 240,
                             .long_description = 500,
                             .max_suggestions = 20};
}

const char *ai_difficulty(int minutes)
{
    return minutes <= 30 ? "easy" : minutes <= 120 ? "medium" : "hard";
}

/* ---- similarity ---- */

static bool stop_word(const char *w)
{
    static const char *const stop[] = {"with",  "from",   "this", "that", "into", "about",
                                       "after", "before", "some", "more", "task"};
    for (size_t i = 0; i < sizeof stop / sizeof stop[0]; i++)
        if (strcmp(stop[i], w) == 0)
            return true;
    return false;
}

/* Next lowercase ASCII alphanumeric word of s at *pos into w (truncated to WORD_MAX-1). */
static bool next_word(const char *s, size_t *pos, char w[WORD_MAX])
{
    size_t i = *pos, n = 0;
    while (s[i] && !isalnum((unsigned char)s[i]))
        i++;
    if (!s[i])
        return false;
    while (isalnum((unsigned char)s[i])) {
        if (n < WORD_MAX - 1)
            w[n++] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    w[n] = '\0';
    *pos = i;
    return true;
}

static bool has_word(const char *s, const char *word)
{
    char w[WORD_MAX];
    size_t pos = 0;
    while (next_word(s, &pos, w))
        if (strcmp(w, word) == 0)
            return true;
    return false;
}

static bool shares_keyword(const char *a, const char *b)
{
    char w[WORD_MAX];
    size_t pos = 0;
    if (!a || !b)
        return false;
    while (next_word(a, &pos, w))
        if (strlen(w) >= 4 && !stop_word(w) && has_word(b, w))
            return true;
    return false;
}

static bool shares_label(const ai_task_t *t, const char *const *labels, size_t n)
{
    for (size_t i = 0; i < t->n_labels; i++)
        for (size_t k = 0; k < n; k++)
            if (t->labels[i] && labels[k] && strcmp(t->labels[i], labels[k]) == 0)
                return true;
    return false;
}

int ai_estimate_minutes(const ai_task_t *hist, size_t n, const char *title,
                        const char *const *labels, size_t n_labels, int fallback, size_t *samples)
{
    double *v = tm_xcalloc(n ? n : 1, sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const ai_task_t *t = &hist[i];
        if (t->completed_at == 0 || t->logged_minutes <= 0)
            continue;
        if (shares_label(t, labels, n_labels) || shares_keyword(title, t->title))
            v[m++] = t->logged_minutes;
    }
    int out = m ? (int)lround(ai_median(v, m)) : fallback > 0 ? fallback : 30;
    free(v);
    if (samples)
        *samples = m;
    return out;
}

/* ---- proposals ---- */

static int task_estimate(const ai_task_t *hist, size_t n, const ai_task_t *t)
{
    return ai_estimate_minutes(hist, n, t->title, t->labels, t->n_labels, t->estimate_minutes,
                               NULL);
}

static json_t *proposal(const char *kind, const ai_task_t *t, const char *title, const char *reason,
                        double confidence, int minutes)
{
    return json_pack("{s:s, s:o, s:s, s:s, s:f, s:i, s:s}", "kind", kind, "task_id",
                     t && t->id ? json_string(t->id) : json_null(), "title", title, "reason",
                     reason, "confidence", confidence, "estimated_minutes", minutes, "difficulty",
                     ai_difficulty(minutes));
}

static void set_time(json_t *p, const char *key, int64_t ms)
{
    char buf[40];
    tm_format_rfc3339_ms(ms, buf, sizeof buf);
    json_object_set_new(p, key, json_string(buf));
}

static json_t *reschedule(const ai_task_t *t, const ai_task_t *hist, size_t n, int64_t now_ms)
{
    int64_t late = now_ms - t->due_at, days = (late + DAY_MS - 1) / DAY_MS;
    double od = (double)late / DAY_MS;
    char reason[128];
    snprintf(reason, sizeof reason, "Overdue by %lld day%s; move it to the next free slot",
             (long long)days, days == 1 ? "" : "s");
    json_t *p = proposal("reschedule", t, t->title, reason, 0.5 + 0.4 * (1 - exp(-od / 7)),
                         task_estimate(hist, n, t));
    set_time(p, "proposed_due_at", t->due_at + days * DAY_MS);
    return p;
}

static json_t *raise_priority(const ai_task_t *t, const ai_task_t *hist, size_t n, int64_t now_ms,
                              const ai_suggest_opts_t *o)
{
    int64_t touched = t->updated_at ? t->updated_at : t->created_at;
    double idle = (double)(now_ms - touched) / DAY_MS;
    if ((t->priority != 2 && t->priority != 3) || now_ms - t->created_at < o->stale_days * DAY_MS ||
        idle < o->untouched_days)
        return NULL;
    char reason[128];
    snprintf(reason, sizeof reason, "Priority %d task untouched for %d days", t->priority,
             (int)idle);
    json_t *p = proposal("raise_priority", t, t->title, reason, 0.4 + 0.4 * (1 - exp(-idle / 30)),
                         task_estimate(hist, n, t));
    json_object_set_new(p, "proposed_priority", json_integer(t->priority - 1));
    return p;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Byte length of the first max_chars code points of s. */
static int prefix_bytes(const char *s, size_t max_chars)
{
    size_t i = 0, chars = 0;
    while (s[i] && !(((unsigned char)s[i] & 0xC0) != 0x80 && chars++ == max_chars))
        i++;
    return (int)i;
}

static json_t *subtasks(const char *title, size_t k, int total)
{
    static const char *const plans[3][5] = {{"Outline", "Draft", "Review"},
                                            {"Outline", "Draft", "Review", "Finalize"},
                                            {"Research", "Outline", "Draft", "Review", "Finalize"}};
    json_t *a = json_array();
    int len = prefix_bytes(title, SUBTITLE_CHARS), each = total / (int)k;
    for (size_t i = 0; i < k; i++) {
        char *sub = tm_xasprintf("%s: %.*s", plans[k - 3][i], len, title);
        json_array_append_new(
            a, json_pack("{s:s, s:i}", "title", sub, "estimated_minutes", each > 0 ? each : 1));
        free(sub);
    }
    return a;
}

static json_t *breakdown(const ai_task_t *t, const ai_task_t *hist, size_t n,
                         const ai_suggest_opts_t *o)
{
    bool big = t->estimate_minutes > o->breakdown_minutes;
    bool wordy = utf8_chars(t->description) > o->long_description;
    if (!big && !wordy)
        return NULL;
    int total = big ? t->estimate_minutes : task_estimate(hist, n, t);
    size_t k = !big || total <= 480 ? 3 : total <= 960 ? 4 : 5;
    char reason[128];
    if (big)
        snprintf(reason, sizeof reason,
                 "Estimated at %d minutes; smaller steps are easier to start", total);
    else
        snprintf(reason, sizeof reason, "Long description; split it into steps");
    json_t *p = proposal("breakdown", t, t->title, reason, big ? 0.6 : 0.5, total);
    json_object_set_new(p, "subtasks", subtasks(t->title, k, total));
    return p;
}

static bool same_title(const ai_task_t *a, const ai_task_t *b)
{
    return a->title && b->title && strcasecmp(a->title, b->title) == 0;
}

static bool is_open_title(const ai_task_t *open, size_t n_open, const ai_task_t *t)
{
    for (size_t i = 0; i < n_open; i++)
        if (same_title(&open[i], t))
            return true;
    return false;
}

/* Completion times of history tasks titled like hist[i] into v; count returned. */
static size_t repeats(const ai_task_t *hist, size_t n, size_t i, double *v)
{
    size_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (hist[j].completed_at && same_title(&hist[i], &hist[j]))
            v[m++] = (double)hist[j].completed_at;
    return m;
}

static bool seen_before(const ai_task_t *hist, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (hist[j].completed_at && same_title(&hist[i], &hist[j]))
            return true;
    return false;
}

/* v and gaps hold n doubles each (scratch). */
static json_t *recurring(const ai_task_t *hist, size_t n, size_t i, int64_t now_ms, double *v,
                         double *gaps)
{
    size_t m = repeats(hist, n, i, v);
    if (m < 3)
        return NULL;
    (void)ai_median(v, m); /* sorts v ascending */
    for (size_t k = 1; k < m; k++)
        gaps[k - 1] = (v[k] - v[k - 1]) / DAY_MS;
    int64_t gap_days = llround(ai_median(gaps, m - 1));
    if (gap_days < 1)
        return NULL;
    int64_t due = (int64_t)v[m - 1] + gap_days * DAY_MS;
    if (due <= now_ms)
        due += ((now_ms - due) / (gap_days * DAY_MS) + 1) * gap_days * DAY_MS;
    char reason[160];
    snprintf(reason, sizeof reason, "Completed %zu times, about every %lld day%s", m,
             (long long)gap_days, gap_days == 1 ? "" : "s");
    double conf = fmin(0.9, 0.5 + 0.1 * (double)(m - 3));
    int minutes = ai_estimate_minutes(hist, n, hist[i].title, hist[i].labels, hist[i].n_labels,
                                      hist[i].estimate_minutes, NULL);
    json_t *p = proposal("new_task", NULL, hist[i].title, reason, conf, minutes);
    set_time(p, "proposed_due_at", due);
    return p;
}

static void add(json_t *out, json_t *p, const ai_suggest_opts_t *o)
{
    if (p && json_array_size(out) < o->max_suggestions)
        json_array_append_new(out, p);
    else
        json_decref(p);
}

static void suggest_open(json_t *out, const ai_task_t *open, size_t n_open, const ai_task_t *hist,
                         size_t n_hist, int64_t now_ms, const ai_suggest_opts_t *o)
{
    for (size_t i = 0; i < n_open; i++)
        if (!open[i].completed_at && open[i].due_at && open[i].due_at < now_ms)
            add(out, reschedule(&open[i], hist, n_hist, now_ms), o);
    for (size_t i = 0; i < n_open; i++)
        if (!open[i].completed_at)
            add(out, raise_priority(&open[i], hist, n_hist, now_ms, o), o);
    for (size_t i = 0; i < n_open; i++)
        if (!open[i].completed_at)
            add(out, breakdown(&open[i], hist, n_hist, o), o);
}

json_t *ai_suggest(const ai_task_t *open, size_t n_open, const ai_task_t *hist, size_t n_hist,
                   int64_t now_ms, const ai_suggest_opts_t *o)
{
    ai_suggest_opts_t defaults;
    if (!o) {
        ai_suggest_defaults(&defaults);
        o = &defaults;
    }
    json_t *out = json_array();
    suggest_open(out, open, n_open, hist, n_hist, now_ms, o);
    double *v = tm_xcalloc(n_hist ? n_hist : 1, sizeof *v);
    double *gaps = tm_xcalloc(n_hist ? n_hist : 1, sizeof *gaps);
    for (size_t i = 0; i < n_hist && json_array_size(out) < o->max_suggestions; i++) {
        if (!hist[i].completed_at || !hist[i].title || seen_before(hist, i) ||
            is_open_title(open, n_open, &hist[i]))
            continue;
        add(out, recurring(hist, n_hist, i, now_ms, v, gaps), o);
    }
    free(gaps);
    free(v);
    return out;
}
