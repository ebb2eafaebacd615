/* Unit tests for tm_metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "tm_log.h"
#include "tm_metrics.h"

static int reset(void **state)
{
    (void)state;
    tm_metrics_reset();
    return 0;
}

static int count_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void test_counter_gauge_grouping(void **state)
{
    (void)state;
    tm_counter_t *a = tm_metrics_counter("tm_requests_total", "Requests.", "route=\"/a\"");
    tm_gauge_t *g = tm_metrics_gauge("tm_inflight", "In flight.", NULL);
    tm_counter_t *b = tm_metrics_counter("tm_requests_total", "Requests.", "route=\"/b\"");
    assert_ptr_equal(tm_metrics_counter("tm_requests_total", "Requests.", "route=\"/a\""), a);
    tm_counter_add(a, 3);
    tm_counter_add(b, 1);
    tm_counter_add(a, 2);
    tm_gauge_set(g, 10);
    tm_gauge_add(g, -3);
    size_t len;
    char *text = tm_metrics_render(&len);
    assert_int_equal(len, strlen(text));
    const char *want = "# HELP tm_requests_total Requests.\n"
                       "# TYPE tm_requests_total counter\n"
                       "tm_requests_total{route=\"/a\"} 5\n"
                       "tm_requests_total{route=\"/b\"} 1\n"
                       "# HELP tm_inflight In flight.\n"
                       "# TYPE tm_inflight gauge\n"
                       "tm_inflight 7\n";
    assert_string_equal(text, want);
    free(text);
}

static void test_histogram(void **state)
{
    (void)state;
    const double bounds[] = {0.1, 1, 10};
    tm_histogram_t *h =
        tm_metrics_histogram("tm_latency_seconds", "Latency.", "op=\"get\"", bounds, 3);
    const double obs[] = {0.05, 0.1, 0.5, 2, 20, 30};
    for (size_t i = 0; i < 6; i++)
        tm_histogram_observe(h, obs[i]);
    char *text = tm_metrics_render(NULL);
    assert_non_null(strstr(text, "# TYPE tm_latency_seconds histogram\n"));
    assert_non_null(strstr(text, "tm_latency_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n"));
    assert_non_null(strstr(text, "tm_latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"));
    assert_non_null(strstr(text, "tm_latency_seconds_bucket{op=\"get\",le=\"10\"} 4\n"));
    assert_non_null(strstr(text, "tm_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 6\n"));
    assert_non_null(strstr(text, "tm_latency_seconds_sum{op=\"get\"} 52.65\n"));
    assert_non_null(strstr(text, "tm_latency_seconds_count{op=\"get\"} 6\n"));
    free(text);

    tm_histogram_t *d = tm_metrics_histogram("tm_default_seconds", "D.", NULL, NULL, 0);
    tm_histogram_observe(d, 0.0001);
    text = tm_metrics_render(NULL);
    char line[128];
    snprintf(line, sizeof line, "tm_default_seconds_bucket{le=\"0.0005\"} 1\n");
    assert_non_null(strstr(text, line));
    assert_non_null(strstr(text, "tm_default_seconds_count 1\n"));
    assert_int_equal(count_occurrences(text, "tm_default_seconds_bucket"),
                     (int)tm_metrics_latency_nbuckets + 1);
    free(text);
}

static void test_help_type_once(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "n=\"%d\"", i);
        tm_metrics_counter("tm_x_total", "X.", labels);
        tm_metrics_gauge("tm_y", "Y with \\ and\nnewline.", labels);
    }
    char *text = tm_metrics_render(NULL);
    assert_int_equal(count_occurrences(text, "# HELP tm_x_total"), 1);
    assert_int_equal(count_occurrences(text, "# TYPE tm_x_total counter"), 1);
    assert_int_equal(count_occurrences(text, "# TYPE tm_y gauge"), 1);
    assert_non_null(strstr(text, "# HELP tm_y Y with \\\\ and\\nnewline.\n"));
    /* the five tm_x_total series are adjacent */
    char *first = strstr(text, "tm_x_total{n=\"0\"}");
    char *last = strstr(text, "tm_x_total{n=\"4\"}");
    assert_non_null(first);
    assert_non_null(last);
    assert_null(memmem(first, (size_t)(last - first), "tm_y", 4));
    free(text);
}

static void test_escape(void **state)
{
    (void)state;
    char out[64];
    tm_metrics_escape("a\"b\\c\nd", out, sizeof out);
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    tm_metrics_escape("abcdef", out, 4);
    assert_string_equal(out, "abc");
    tm_metrics_escape("ab\"", out, 4); /* an escape never split */
    assert_string_equal(out, "ab");

    char labels[96];
    char esc[64];
    tm_metrics_escape("/api/\"x\"", esc, sizeof esc);
    snprintf(labels, sizeof labels, "route=\"%s\"", esc);
    tm_counter_add(tm_metrics_counter("tm_esc_total", "E.", labels), 1);
    char *text = tm_metrics_render(NULL);
    assert_non_null(strstr(text, "tm_esc_total{route=\"/api/\\\"x\\\"\"} 1\n"));
    free(text);
}

static void test_rejects(void **state)
{
    (void)state;
    tm_log_init("metrics-test", TM_LOG_OFF);
    assert_null(tm_metrics_counter("bad name", "h", NULL));
    assert_null(tm_metrics_counter("9bad", "h", NULL));
    tm_metrics_counter("tm_kind", "h", NULL);
    assert_null(tm_metrics_gauge("tm_kind", "h", "a=\"1\"")); /* one name, one type */
    const double desc[] = {1, 0.5};
    assert_null(tm_metrics_histogram("tm_h", "h", NULL, desc, 2));
    tm_counter_add(NULL, 1); /* no-ops */
    tm_gauge_set(NULL, 1);
    tm_histogram_observe(NULL, 1);
    tm_log_init("metrics-test", TM_LOG_INFO);
}

static void *hammer(void *arg)
{
    tm_counter_t *c = tm_metrics_counter("tm_threads_total", "T.", NULL);
    tm_histogram_t *h = arg;
    for (int i = 0; i < 10000; i++) {
        tm_counter_add(c, 1);
        tm_histogram_observe(h, 0.5);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const double bounds[] = {1};
    tm_histogram_t *h = tm_metrics_histogram("tm_thr_seconds", "T.", NULL, bounds, 1);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, h);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = tm_metrics_render(NULL);
    assert_non_null(strstr(text, "tm_threads_total 40000\n"));
    assert_non_null(strstr(text, "tm_thr_seconds_sum 20000\n"));
    assert_non_null(strstr(text, "tm_thr_seconds_bucket{le=\"1\"} 40000\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counter_gauge_grouping, reset, reset),
        cmocka_unit_test_setup_teardown(test_histogram, reset, reset),
        cmocka_unit_test_setup_teardown(test_help_type_once, reset, reset),
        cmocka_unit_test_setup_teardown(test_escape, reset, reset),
        cmocka_unit_test_setup_teardown(test_rejects, reset, reset),
        cmocka_unit_test_setup_teardown(test_threads, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
