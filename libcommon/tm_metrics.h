/* tm_metrics: a process-wide registry of Prometheus counters, gauges and histograms.
 *
 * A metric is found or created by (name, labels); keep the returned pointer (creation
 * takes a lock, updates are lock-free atomics). Labels are given pre-formatted, e.g.
 * "route=\"/api/v1/me\",status=\"200\"" (values escaped by the caller with
 * tm_metrics_escape). Pointers stay valid until tm_metrics_reset(). Any thread. */
#ifndef TM_METRICS_H
#define TM_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_metric tm_counter_t;
typedef struct tm_metric tm_gauge_t;
typedef struct tm_metric tm_histogram_t;

/* Default latency buckets in seconds: 0.0005 .. 10. */
extern const double tm_metrics_latency_buckets[];
extern const size_t tm_metrics_latency_nbuckets;

tm_counter_t *tm_metrics_counter(const char *name, const char *help, const char *labels);
tm_gauge_t *tm_metrics_gauge(const char *name, const char *help, const char *labels);
/* bounds NULL -> tm_metrics_latency_buckets. bounds must be ascending; copied. */
tm_histogram_t *tm_metrics_histogram(const char *name, const char *help, const char *labels,
                                     const double *bounds, size_t nbounds);

void tm_counter_add(tm_counter_t *c, uint64_t n);
void tm_gauge_set(tm_gauge_t *g, int64_t v);
void tm_gauge_add(tm_gauge_t *g, int64_t delta);
void tm_histogram_observe(tm_histogram_t *h, double value);

/* Render every metric in the Prometheus text exposition format 0.0.4 (HELP and TYPE once
 * per name, _bucket{le=...}/_sum/_count for histograms). Caller frees; *len set if given. */
char *tm_metrics_render(size_t *len);
/* Escape a label value (\\, \", \n) into out (cap bytes, always NUL-terminated). */
void tm_metrics_escape(const char *in, char *out, size_t cap);
/* Drop every metric (tests only; no other thread may hold pointers). */
void tm_metrics_reset(void);

#endif
