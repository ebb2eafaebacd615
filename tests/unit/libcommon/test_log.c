/* Unit tests for tm_log; includes the .c to drive its clock seam. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../../libcommon/tm_log.c"

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return fake_now;
}

typedef struct {
    int fd;
} cap_t;

static int setup(void **state)
{
    cap_t *c = calloc(1, sizeof *c);
    c->fd = memfd_create("tm_log_test", 0);
    assert_true(c->fd >= 0);
    tm_log_init("testsvc", TM_LOG_DEBUG);
    tm_log_set_fd(c->fd);
    memset(g_rate, 0, sizeof g_rate);
    fake_now = 1000000;
    clock_ms = fake_clock;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    cap_t *c = *state;
    tm_log_set_fd(1);
    close(c->fd);
    free(c);
    return 0;
}

/* Everything written so far (caller frees). */
static char *captured(cap_t *c)
{
    off_t n = lseek(c->fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(c->fd, buf, (size_t)n, 0), n);
    return buf;
}

/* Parses every line as a JSON object into out[] (max), returns the count. */
static int parse_lines(cap_t *c, json_t **out, int max)
{
    char *all = captured(c);
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *v = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        if (!v)
            fail_msg("line is not JSON: %s (%s)", line, err.text);
        assert_true(json_is_object(v));
        assert_true(n < max);
        out[n++] = v;
    }
    free(all);
    return n;
}

static void free_lines(json_t **v, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(v[i]);
}

static void test_fields(void **state)
{
    cap_t *c = *state;
    tm_log_kv(TM_LOG_INFO, "req-1", "task created",
              (const char *const[]){"task_id", "t1", "user", "u1", NULL});
    json_t *v[4];
    assert_int_equal(parse_lines(c, v, 4), 1);
    int64_t ms;
    assert_int_equal(tm_parse_rfc3339(json_string_value(json_object_get(v[0], "ts")), &ms), TM_OK);
    assert_int_equal(strlen(json_string_value(json_object_get(v[0], "ts"))), 24);
    assert_string_equal(json_string_value(json_object_get(v[0], "level")), "info");
    assert_string_equal(json_string_value(json_object_get(v[0], "svc")), "testsvc");
    assert_string_equal(json_string_value(json_object_get(v[0], "msg")), "task created");
    assert_string_equal(json_string_value(json_object_get(v[0], "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(v[0], "task_id")), "t1");
    assert_string_equal(json_string_value(json_object_get(v[0], "user")), "u1");
    free_lines(v, 1);
}

static void test_no_request_id(void **state)
{
    cap_t *c = *state;
    tm_logf(TM_LOG_WARN, NULL, "disk at %d%%", 91);
    json_t *v[2];
    assert_int_equal(parse_lines(c, v, 2), 1);
    assert_null(json_object_get(v[0], "request_id"));
    assert_string_equal(json_string_value(json_object_get(v[0], "msg")), "disk at 91%");
    assert_string_equal(json_string_value(json_object_get(v[0], "level")), "warn");
    free_lines(v, 1);
}

static void test_escaping(void **state)
{
    cap_t *c = *state;
    const char *nasty = "q\"uote\\ back\nnew\ttab\r\x01\x1f end \xc3\xa9 \xe2\x82\xac";
    tm_log_kv(TM_LOG_INFO, "r\"id", nasty, (const char *const[]){"k\"ey", nasty, NULL});
    char *raw = captured(c);
    assert_non_null(strstr(raw, "\\u0001"));
    assert_non_null(strstr(raw, "\\u001f"));
    assert_non_null(strstr(raw, "\\n"));
    assert_int_equal(strchr(raw, '\n') - raw, strlen(raw) - 1); /* exactly one newline */
    free(raw);
    json_t *v[2];
    assert_int_equal(parse_lines(c, v, 2), 1);
    assert_string_equal(json_string_value(json_object_get(v[0], "msg")), nasty);
    assert_string_equal(json_string_value(json_object_get(v[0], "k\"ey")), nasty);
    assert_string_equal(json_string_value(json_object_get(v[0], "request_id")), "r\"id");
    free_lines(v, 1);
}

static void test_invalid_utf8(void **state)
{
    cap_t *c = *state;
    tm_log_kv(TM_LOG_INFO, NULL, "bad \xff\xfe and \xc0\xaf and \xed\xa0\x80 cut \xe2\x82", NULL);
    json_t *v[2];
    assert_int_equal(parse_lines(c, v, 2), 1);
    const char *msg = json_string_value(json_object_get(v[0], "msg"));
    assert_non_null(msg);
    assert_non_null(strstr(msg, "bad \xef\xbf\xbd\xef\xbf\xbd and "));
    assert_null(strchr(msg, '\xff'));
    free_lines(v, 1);
}

static void test_long_line_heap(void **state)
{
    cap_t *c = *state;
    char *big = malloc(6000);
    memset(big, '"', 5999); /* each escapes to two bytes: beyond the stack buffer */
    big[5999] = '\0';
    tm_log_kv(TM_LOG_INFO, NULL, "big", (const char *const[]){"v", big, NULL});
    json_t *v[2];
    assert_int_equal(parse_lines(c, v, 2), 1);
    assert_string_equal(json_string_value(json_object_get(v[0], "v")), big);
    free_lines(v, 1);
    free(big);
}

static void test_level_filter(void **state)
{
    cap_t *c = *state;
    tm_log_init("testsvc", TM_LOG_WARN);
    assert_false(tm_log_enabled(TM_LOG_INFO));
    assert_true(tm_log_enabled(TM_LOG_ERROR));
    tm_logf(TM_LOG_DEBUG, NULL, "d");
    tm_logf(TM_LOG_INFO, NULL, "i");
    TM_DEBUG("dd");
    TM_INFO("ii");
    tm_logf(TM_LOG_WARN, NULL, "w");
    TM_ERROR("e");
    json_t *v[8];
    assert_int_equal(parse_lines(c, v, 8), 2);
    assert_string_equal(json_string_value(json_object_get(v[0], "msg")), "w");
    assert_string_equal(json_string_value(json_object_get(v[1], "level")), "error");
    free_lines(v, 2);
    tm_log_init("testsvc", TM_LOG_OFF);
    tm_logf(TM_LOG_ERROR, NULL, "nothing");
    assert_int_equal(parse_lines(c, v, 8), 2);
    free_lines(v, 2);
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(tm_log_level_parse("debug"), TM_LOG_DEBUG);
    assert_int_equal(tm_log_level_parse("warn"), TM_LOG_WARN);
    assert_int_equal(tm_log_level_parse("off"), TM_LOG_OFF);
    assert_int_equal(tm_log_level_parse("loud"), -1);
    assert_int_equal(tm_log_level_parse(NULL), -1);
}

static void test_rate_limit(void **state)
{
    cap_t *c = *state;
    for (int i = 0; i < TM_LOG_BURST + 5; i++)
        tm_logf(TM_LOG_ERROR, NULL, "db down");
    for (int i = 0; i < TM_LOG_BURST + 5; i++)
        tm_logf(TM_LOG_INFO, NULL, "info is not limited");
    tm_logf(TM_LOG_ERROR, NULL, "another error");
    json_t *v[64];
    int n = parse_lines(c, v, 64);
    assert_int_equal(n, TM_LOG_BURST + TM_LOG_BURST + 5 + 1);
    free_lines(v, n);

    fake_now += TM_LOG_WINDOW_MS; /* a new window: the next line reports the 5 dropped */
    tm_logf(TM_LOG_ERROR, NULL, "db down");
    tm_logf(TM_LOG_ERROR, NULL, "db down");
    n = parse_lines(c, v, 64);
    assert_int_equal(json_integer_value(json_object_get(v[n - 2], "suppressed")), 5);
    assert_string_equal(json_string_value(json_object_get(v[n - 2], "msg")), "db down");
    assert_null(json_object_get(v[n - 1], "suppressed"));
    free_lines(v, n);
}

static void test_json_field(void **state)
{
    cap_t *c = *state;
    tm_log_json(TM_LOG_INFO, NULL, "cfg", "config", "{\"a\":1,\"b\":[true]}");
    json_t *v[2];
    assert_int_equal(parse_lines(c, v, 2), 1);
    json_t *cfg = json_object_get(v[0], "config");
    assert_true(json_is_object(cfg));
    assert_int_equal(json_integer_value(json_object_get(cfg, "a")), 1);
    free_lines(v, 1);
}

static void *log_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        tm_log_kv(
            TM_LOG_INFO, "rid", "from a thread",
            (const char *const[]){"pad", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", NULL});
    return NULL;
}

static void test_threads_whole_lines(void **state)
{
    cap_t *c = *state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, log_many, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    json_t **v = calloc(1000, sizeof *v);
    int n = parse_lines(c, v, 1000); /* fails if any line is interleaved */
    assert_int_equal(n, 800);
    free_lines(v, n);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_request_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_heap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_whole_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
