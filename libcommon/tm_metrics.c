/* tm_metrics: a process-wide Prometheus registry; lock to create, atomics to update. */
#include "tm_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_log.h"
#include "tm_util.h"

/* Caps the label cardinality a bug could create. */
#define METRICS_MAX        10000
#define METRICS_MAX_BOUNDS 64

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } metric_kind_t;

struct tm_metric {
    struct tm_metric *next; /* creation order */
    metric_kind_t kind;
    char *name, *help, *labels;
    atomic_uint_least64_t counter;
    atomic_int_least64_t gauge;
    size_t nbounds;
    double *bounds;
    atomic_uint_least64_t *buckets; /* nbounds + 1 (the last is +Inf), not cumulative */
    atomic_uint_least64_t sum_bits; /* a double, updated by compare-and-swap */
};

const double tm_metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const size_t tm_metrics_latency_nbuckets =
    sizeof tm_metrics_latency_buckets / sizeof tm_metrics_latency_buckets[0];

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tm_metric *g_head, *g_tail;
static size_t g_count;

static const char *kind_name(metric_kind_t k)
{
    return k == KIND_COUNTER ? "counter" : k == KIND_GAUGE ? "gauge" : "histogram";
}

static bool valid_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':'))
            return false;
    }
    return true;
}

static bool valid_bounds(const double *bounds, size_t n)
{
    if (n == 0 || n > METRICS_MAX_BOUNDS)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return false;
    return true;
}

/* Under g_lock: the metric with this name and labels, or NULL. */
static struct tm_metric *find_locked(const char *name, const char *labels)
{
    for (struct tm_metric *m = g_head; m; m = m->next)
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels) == 0)
            return m;
    return NULL;
}

static bool name_has_other_kind(const char *name, metric_kind_t kind)
{
    for (struct tm_metric *m = g_head; m; m = m->next)
        if (strcmp(m->name, name) == 0 && m->kind != kind)
            return true;
    return false;
}

static struct tm_metric *metric_new(metric_kind_t kind, const char *name, const char *help,
                                    const char *labels, const double *bounds, size_t nbounds)
{
    struct tm_metric *m = tm_xcalloc(1, sizeof *m);
    m->kind = kind;
    m->name = tm_xstrdup(name);
    m->help = tm_xstrdup(help ? help : "");
    m->labels = tm_xstrdup(labels);
    if (kind == KIND_HISTOGRAM) {
        m->nbounds = nbounds;
        m->bounds = tm_xcalloc(nbounds, sizeof *m->bounds);
        memcpy(m->bounds, bounds, nbounds * sizeof *bounds);
        m->buckets = tm_xcalloc(nbounds + 1, sizeof *m->buckets);
        for (size_t i = 0; i <= nbounds; i++)
            atomic_init(&m->buckets[i], 0);
    }
    atomic_init(&m->counter, 0);
    atomic_init(&m->gauge, 0);
    atomic_init(&m->sum_bits, 0); /* the bits of 0.0 */
    return m;
}

static struct tm_metric *get_or_create(metric_kind_t kind, const char *name, const char *help,
                                       const char *labels, const double *bounds, size_t nbounds)
{
    if (!labels)
        labels = "";
    if (!valid_name(name)) {
        tm_logf(TM_LOG_ERROR, NULL, "metrics: invalid metric name '%s'", name ? name : "");
        return NULL;
    }
    pthread_mutex_lock(&g_lock);
    struct tm_metric *m = find_locked(name, labels);
    if (m && m->kind != kind)
        m = NULL;
    else if (!m && !name_has_other_kind(name, kind) && g_count < METRICS_MAX) {
        m = metric_new(kind, name, help, labels, bounds, nbounds);
        if (g_tail)
            g_tail->next = m;
        else
            g_head = m;
        g_tail = m;
        g_count++;
    }
    pthread_mutex_unlock(&g_lock);
    if (!m)
        tm_logf(TM_LOG_ERROR, NULL, "metrics: cannot register %s %s{%s}", kind_name(kind), name,
                labels);
    return m;
}

tm_counter_t *tm_metrics_counter(const char *name, const char *help, const char *labels)
{
    return get_or_create(KIND_COUNTER, name, help, labels, NULL, 0);
}

tm_gauge_t *tm_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return get_or_create(KIND_GAUGE, name, help, labels, NULL, 0);
}

tm_histogram_t *tm_metrics_histogram(const char *name, const char *help, const char *labels,
                                     const double *bounds, size_t nbounds)
{
    if (!bounds) {
        bounds = tm_metrics_latency_buckets;
        nbounds = tm_metrics_latency_nbuckets;
    }
    if (!valid_bounds(bounds, nbounds)) {
        tm_logf(TM_LOG_ERROR, NULL, "metrics: bad bucket bounds for %s", name ? name : "");
        return NULL;
    }
    return get_or_create(KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void tm_counter_add(tm_counter_t *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->counter, n, memory_order_relaxed);
}

void tm_gauge_set(tm_gauge_t *g, int64_t v)
{
    if (g)
        atomic_store_explicit(&g->gauge, v, memory_order_relaxed);
}

void tm_gauge_add(tm_gauge_t *g, int64_t delta)
{
    if (g)
        atomic_fetch_add_explicit(&g->gauge, delta, memory_order_relaxed);
}

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static uint64_t double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return bits;
}

void tm_histogram_observe(tm_histogram_t *h, double value)
{
    if (!h || isnan(value))
        return;
    size_t i = 0;
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
    uint64_t next;
    do {
        next = double_to_bits(bits_to_double(old) + value);
    } while (!atomic_compare_exchange_weak_explicit(&h->sum_bits, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void tm_metrics_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return;
    for (; in && *in; in++) {
        const char *rep = *in == '\\' ? "\\\\" : *in == '"' ? "\\\"" : *in == '\n' ? "\\n" : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n >= cap)
            break;
        if (rep)
            memcpy(out + o, rep, 2);
        else
            out[o] = *in;
        o += n;
    }
    out[o] = '\0';
}

/* HELP text escapes only backslash and newline. */
static void put_help(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

/* name{labels} with an optional extra label (le="...") appended. */
static void put_series(FILE *f, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
    fprintf(f, "%s%s", name, suffix);
    if (*labels && extra)
        fprintf(f, "{%s,%s}", labels, extra);
    else if (*labels || extra)
        fprintf(f, "{%s}", *labels ? labels : extra);
}

static void render_histogram(FILE *f, const struct tm_metric *m)
{
    uint64_t cumulative = 0;
    char le[48];
    for (size_t i = 0; i <= m->nbounds; i++) {
        cumulative += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        if (i < m->nbounds)
            snprintf(le, sizeof le, "le=\"%.15g\"", m->bounds[i]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        put_series(f, m->name, "_bucket", m->labels, le);
        fprintf(f, " %llu\n", (unsigned long long)cumulative);
    }
    put_series(f, m->name, "_sum", m->labels, NULL);
    fprintf(f, " %.15g\n", bits_to_double(atomic_load(&m->sum_bits)));
    /* _count from the bucket total so the two never disagree mid-update. */
    put_series(f, m->name, "_count", m->labels, NULL);
    fprintf(f, " %llu\n", (unsigned long long)cumulative);
}

static void render_one(FILE *f, const struct tm_metric *m)
{
    switch (m->kind) {
    case KIND_COUNTER:
        put_series(f, m->name, "", m->labels, NULL);
        fprintf(f, " %llu\n", (unsigned long long)atomic_load(&m->counter));
        break;
    case KIND_GAUGE:
        put_series(f, m->name, "", m->labels, NULL);
        fprintf(f, " %lld\n", (long long)atomic_load(&m->gauge));
        break;
    case KIND_HISTOGRAM:
        render_histogram(f, m);
        break;
    }
}

static bool seen_before(const struct tm_metric *m)
{
    for (const struct tm_metric *p = g_head; p != m; p = p->next)
        if (strcmp(p->name, m->name) == 0)
            return true;
    return false;
}

/* Under g_lock: every family once, with all its series together. */
static void render_locked(FILE *f)
{
    for (const struct tm_metric *m = g_head; m; m = m->next) {
        if (seen_before(m))
            continue;
        fprintf(f, "# HELP %s%s", m->name, *m->help ? " " : "");
        put_help(f, m->help);
        fprintf(f, "\n# TYPE %s %s\n", m->name, kind_name(m->kind));
        for (const struct tm_metric *s = m; s; s = s->next)
            if (strcmp(s->name, m->name) == 0)
                render_one(f, s);
    }
}

char *tm_metrics_render(size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) {
        fprintf(stderr, "taskmesh: open_memstream failed (out of memory), aborting\n");
        abort();
    }
    pthread_mutex_lock(&g_lock);
    render_locked(f);
    pthread_mutex_unlock(&g_lock);
    if (fclose(f) != 0 || !buf) {
        fprintf(stderr, "taskmesh: rendering metrics failed (out of memory), aborting\n");
        abort();
    }
    if (len)
        *len = size;
    return buf;
}

void tm_metrics_reset(void)
{
    pthread_mutex_lock(&g_lock);
    struct tm_metric *m = g_head;
    g_head = g_tail = NULL;
    g_count = 0;
    pthread_mutex_unlock(&g_lock);
    while (m) {
        struct tm_metric *next = m->next;
        free(m->name);
        free(m->help);
        free(m->labels);
        free(m->bounds);
        free((void *)m->buckets);
        free(m);
        m = next;
    }
}
