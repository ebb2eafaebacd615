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
    if (!strchr("wftiabsm", w[0])) /* their first letters: most words stop here */
        return false;
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

static bool is_keyword_word(const char *w)
{
    size_t n = strlen(w);
    return n >= 4 && (n > 6 || !stop_word(w)); /* the stop words have 4 to 6 letters */
}

size_t ai_title_keywords(const char *title, char *out, size_t cap)
{
    char w[WORD_MAX];
    size_t pos = 0, len = 0, written = 0;
    bool fits = out && cap > 0;
    while (title && next_word(title, &pos, w)) {
        if (!is_keyword_word(w))
            continue;
        size_t n = strlen(w) + 1;
        fits = fits && written + n + 1 <= cap;
        if (fits) {
            memcpy(out + written, w, n);
            written += n;
        }
        len += n;
    }
    if (out && cap > 0)
        out[written] = '\0';
    return len + 1;
}

/* A title's keyword list ("w1\0w2\0\0"): the precomputed one of a loaded task, else worked
 * out into buf (a list longer than cap keeps the keywords that fit). */
static const char *keyword_list(const char *title, const char *pre, char *buf, size_t cap)
{
    if (pre)
        return pre;
    (void)ai_title_keywords(title, buf, cap);
    return buf;
}

#define KW_BUF 1024 /* keywords of an ad-hoc title (a loaded task has its own list) */

/* Does the keyword list of a history task share a word with the query's list q? Each list
 * is read once; the query holds a handful of words. */
static bool shares_keyword(const char *q, const char *list)
{
    if (!*q)
        return false;
    for (const char *w = list; *w; w += strlen(w) + 1)
        for (const char *k = q; *k; k += strlen(k) + 1)
            if (*k == *w && strcmp(k, w) == 0)
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

static bool similar(const ai_task_t *t, const char *q, const char *const *labels, size_t n_labels)
{
    if (shares_label(t, labels, n_labels))
        return true;
    if (!*q || !t->title)
        return false;
    char buf[KW_BUF];
    return shares_keyword(q, keyword_list(t->title, t->keywords, buf, sizeof buf));
}

void ai_history_init(ai_history_t *h, const ai_task_t *tasks, size_t n)
{
    h->t = tm_xmalloc((n ? n : 1) * sizeof *h->t);
    h->n = 0;
    for (size_t i = 0; i < n; i++)
        if (tasks[i].completed_at != 0 && tasks[i].logged_minutes > 0)
            h->t[h->n++] = &tasks[i];
}

void ai_history_dispose(ai_history_t *h)
{
    free(h->t);
    h->t = NULL;
    h->n = 0;
}

static int estimate(const ai_history_t *h, const char *title, const char *keywords,
                    const char *const *labels, size_t n_labels, int fallback, size_t *samples)
{
    char qbuf[KW_BUF];
    const char *q = keyword_list(title, keywords, qbuf, sizeof qbuf);
    double *v = tm_xmalloc((h->n ? h->n : 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < h->n; i++)
        if (similar(h->t[i], q, labels, n_labels))
            v[m++] = h->t[i]->logged_minutes;
    int out = m ? (int)lround(ai_median(v, m)) : fallback > 0 ? fallback : 30;
    free(v);
    if (samples)
        *samples = m;
    return out;
}

int ai_history_estimate(const ai_history_t *h, const ai_task_t *t, size_t *samples)
{
    return estimate(h, t->title, t->keywords, t->labels, t->n_labels, t->estimate_minutes, samples);
}

int ai_estimate_minutes(const ai_task_t *hist, size_t n, const char *title,
                        const char *const *labels, size_t n_labels, int fallback, size_t *samples)
{
    ai_history_t h;
    ai_history_init(&h, hist, n);
    int out = estimate(&h, title, NULL, labels, n_labels, fallback, samples);
    ai_history_dispose(&h);
    return out;
}

int ai_estimate_task(const ai_task_t *hist, size_t n, const ai_task_t *t, size_t *samples)
{
    ai_history_t h;
    ai_history_init(&h, hist, n);
    int out = ai_history_estimate(&h, t, samples);
    ai_history_dispose(&h);
    return out;
}

/* ---- proposals ---- */

static int task_estimate(const ai_history_t *h, const ai_task_t *t)
{
    return ai_history_estimate(h, t, NULL);
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

static json_t *reschedule(const ai_task_t *t, const ai_history_t *h, int64_t now_ms)
{
    int64_t late = now_ms - t->due_at, days = (late + DAY_MS - 1) / DAY_MS;
    double od = (double)late / DAY_MS;
    char reason[128];
    snprintf(reason, sizeof reason, "Overdue by %lld day%s; move it to the next free slot",
             (long long)days, days == 1 ? "" : "s");
    json_t *p = proposal("reschedule", t, t->title, reason, 0.5 + 0.4 * (1 - exp(-od / 7)),
                         task_estimate(h, t));
    set_time(p, "proposed_due_at", t->due_at + days * DAY_MS);
    return p;
}

static json_t *raise_priority(const ai_task_t *t, const ai_history_t *h, int64_t now_ms,
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
                         task_estimate(h, t));
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

static json_t *breakdown(const ai_task_t *t, const ai_history_t *h, const ai_suggest_opts_t *o)
{
    bool big = t->estimate_minutes > o->breakdown_minutes;
    bool wordy = utf8_chars(t->description) > o->long_description;
    if (!big && !wordy)
        return NULL;
    int total = big ? t->estimate_minutes : task_estimate(h, t);
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

/* ---- repeats (new_task) ----
 * Completed history tasks are grouped by title (ASCII case-insensitive) through one sort, so
 * finding repeats costs n log n instead of comparing every pair of titles. */

typedef struct {
    const ai_task_t *tasks;
    size_t index;
} titled_t;

static int by_title(const void *a, const void *b)
{
    const titled_t *x = a, *y = b;
    int c = strcasecmp(x->tasks[x->index].title, y->tasks[y->index].title);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Completed, titled history tasks sorted by (title, index); *m gets the count. */
static titled_t *sorted_titles(const ai_task_t *t, size_t n, bool completed_only, size_t *m)
{
    titled_t *o = tm_xcalloc(n ? n : 1, sizeof *o);
    *m = 0;
    for (size_t i = 0; i < n; i++)
        if (t[i].title && (!completed_only || t[i].completed_at))
            o[(*m)++] = (titled_t){t, i};
    qsort(o, *m, sizeof *o, by_title);
    return o;
}

static bool title_in(const titled_t *sorted, size_t m, const char *title)
{
    size_t lo = 0, hi = m;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(sorted[mid].tasks[sorted[mid].index].title, title);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* v and gaps hold m doubles each (scratch); group: the m completions of one title. */
static json_t *recurring(const ai_task_t *hist, const ai_history_t *h, const titled_t *group,
                         size_t m, int64_t now_ms, double *v, double *gaps)
{
    if (m < 3)
        return NULL;
    const ai_task_t *first = &hist[group[0].index];
    for (size_t k = 0; k < m; k++)
        v[k] = (double)hist[group[k].index].completed_at;
    qsort(v, m, sizeof *v, by_value);
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
    int minutes = ai_history_estimate(h, first, NULL);
    json_t *p = proposal("new_task", NULL, first->title, reason, conf, minutes);
    set_time(p, "proposed_due_at", due);
    return p;
}

static bool full(const json_t *out, const ai_suggest_opts_t *o)
{
    return json_array_size(out) >= o->max_suggestions;
}

static void add(json_t *out, json_t *p, const ai_suggest_opts_t *o)
{
    if (p && !full(out, o))
        json_array_append_new(out, p);
    else
        json_decref(p);
}

/* Proposals are only built while there is room: each one costs a pass over the history. */
static void suggest_open(json_t *out, const ai_task_t *open, size_t n_open, const ai_history_t *h,
                         int64_t now_ms, const ai_suggest_opts_t *o)
{
    for (size_t i = 0; i < n_open && !full(out, o); i++)
        if (!open[i].completed_at && open[i].due_at && open[i].due_at < now_ms)
            add(out, reschedule(&open[i], h, now_ms), o);
    for (size_t i = 0; i < n_open && !full(out, o); i++)
        if (!open[i].completed_at)
            add(out, raise_priority(&open[i], h, now_ms, o), o);
    for (size_t i = 0; i < n_open && !full(out, o); i++)
        if (!open[i].completed_at)
            add(out, breakdown(&open[i], h, o), o);
}

/* Groups of equal titles, proposed in the order of their first completion in hist. */
static void suggest_repeats(json_t *out, const ai_task_t *open, size_t n_open,
                            const ai_task_t *hist, size_t n_hist, const ai_history_t *h,
                            int64_t now_ms, const ai_suggest_opts_t *o)
{
    size_t m, mo;
    titled_t *done = sorted_titles(hist, n_hist, true, &m);
    titled_t *open_titles = sorted_titles(open, n_open, false, &mo);
    size_t *start = tm_xcalloc(n_hist ? n_hist : 1, sizeof *start);
    size_t *len = tm_xcalloc(n_hist ? n_hist : 1, sizeof *len); /* 0: not a group's first */
    for (size_t a = 0, b; a < m; a = b) {
        b = a + 1;
        while (b < m && strcasecmp(hist[done[a].index].title, hist[done[b].index].title) == 0)
            b++;
        start[done[a].index] = a;
        len[done[a].index] = b - a;
    }
    double *v = tm_xcalloc(m ? m : 1, sizeof *v), *gaps = tm_xcalloc(m ? m : 1, sizeof *gaps);
    for (size_t i = 0; i < n_hist && !full(out, o); i++)
        if (len[i] && !title_in(open_titles, mo, hist[i].title))
            add(out, recurring(hist, h, done + start[i], len[i], now_ms, v, gaps), o);
    free(gaps);
    free(v);
    free(len);
    free(start);
    free(open_titles);
    free(done);
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
    ai_history_t h; /* the tasks estimates read, found once */
    ai_history_init(&h, hist, n_hist);
    suggest_open(out, open, n_open, &h, now_ms, o);
    if (!full(out, o))
        suggest_repeats(out, open, n_open, hist, n_hist, &h, now_ms, o);
    ai_history_dispose(&h);
    return out;
}
