/* Unit tests for tm_config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tm_config.h"
#include "tm_log.h"

typedef struct {
    char *url;
    char *secret;
    int64_t port, workers, timeout_ms, max_body;
    bool debug;
    int provider;
} cfg_t;

static cfg_t cfg;

static const tm_config_var_t vars[] = {
    {"TM_T_URL", TM_CFG_STRING, &cfg.url, "nats://127.0.0.1:4222", 0, 0, false, false, NULL, "url"},
    {"TM_T_SECRET", TM_CFG_STRING, &cfg.secret, NULL, 0, 0, true, true, NULL, "secret"},
    {"TM_T_PORT", TM_CFG_PORT, &cfg.port, "8080", 0, 0, false, false, NULL, "port"},
    {"TM_T_WORKERS", TM_CFG_INT, &cfg.workers, "4", 1, 64, false, false, NULL, "workers"},
    {"TM_T_TIMEOUT", TM_CFG_DURATION_MS, &cfg.timeout_ms, "5s", 1, 60000, false, false, NULL, "t"},
    {"TM_T_MAX_BODY", TM_CFG_BYTES, &cfg.max_body, "64KiB", 1, 1LL << 30, false, false, NULL, "b"},
    {"TM_T_DEBUG", TM_CFG_BOOL, &cfg.debug, "off", 0, 0, false, false, NULL, "debug"},
    {"TM_T_PROVIDER", TM_CFG_ENUM, &cfg.provider, "none", 0, 0, false, false, "none|openai|azure",
     "provider"},
};
#define NVARS (sizeof vars / sizeof *vars)

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVARS; i++)
        unsetenv(vars[i].name);
    setenv("TM_T_SECRET", "hunter2-very-secret", 1);
    memset(&cfg, 0, sizeof cfg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tm_config_free(vars, NVARS);
    return 0;
}

static int load(char *err, size_t len)
{
    return tm_config_load(vars, NVARS, err, len);
}

static void test_defaults(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(load(err, sizeof err), TM_OK);
    assert_string_equal(cfg.url, "nats://127.0.0.1:4222");
    assert_string_equal(cfg.secret, "hunter2-very-secret");
    assert_int_equal(cfg.port, 8080);
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.timeout_ms, 5000);
    assert_int_equal(cfg.max_body, 65536);
    assert_false(cfg.debug);
    assert_int_equal(cfg.provider, 0);
}

static void test_env_overrides(void **state)
{
    (void)state;
    char err[256];
    setenv("TM_T_PORT", "9000", 1);
    setenv("TM_T_WORKERS", "64", 1);
    setenv("TM_T_PROVIDER", "azure", 1);
    setenv("TM_T_DEBUG", "YES", 1);
    setenv("TM_T_TIMEOUT", "1m", 1);
    assert_int_equal(load(err, sizeof err), TM_OK);
    assert_int_equal(cfg.port, 9000);
    assert_int_equal(cfg.workers, 64);
    assert_int_equal(cfg.provider, 2);
    assert_true(cfg.debug);
    assert_int_equal(cfg.timeout_ms, 60000);
}

static void test_bad_int(void **state)
{
    (void)state;
    char err[256];
    setenv("TM_T_PORT", "abc", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_string_equal(err, "TM_T_PORT: not an integer (got 'abc')");
    assert_null(cfg.url); /* strings loaded before the failure were released */
    setenv("TM_T_PORT", "80x", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    setenv("TM_T_PORT", "99999999999999999999999", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_non_null(strstr(err, "not an integer"));
}

static void test_out_of_bounds(void **state)
{
    (void)state;
    char err[256];
    setenv("TM_T_WORKERS", "65", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_string_equal(err, "TM_T_WORKERS: must be between 1 and 64 (got '65')");
    assert_int_not_equal(cfg.workers, 64); /* rejected, not clamped */
    setenv("TM_T_WORKERS", "0", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    unsetenv("TM_T_WORKERS");
    setenv("TM_T_PORT", "65536", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_non_null(strstr(err, "TM_T_PORT: must be between 1 and 65535"));
    setenv("TM_T_PORT", "0", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    unsetenv("TM_T_PORT");
    setenv("TM_T_TIMEOUT", "2h", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_non_null(strstr(err, "TM_T_TIMEOUT: must be between 1 and 60000"));
}

static void test_required_missing(void **state)
{
    (void)state;
    char err[256];
    unsetenv("TM_T_SECRET");
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_string_equal(err, "TM_T_SECRET: required but not set");
    setenv("TM_T_SECRET", "", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_string_equal(err, "TM_T_SECRET: required but not set");
}

static void test_bad_enum(void **state)
{
    (void)state;
    char err[256];
    setenv("TM_T_PROVIDER", "gemini", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_string_equal(err, "TM_T_PROVIDER: must be one of: none, openai, azure (got 'gemini')");
    setenv("TM_T_PROVIDER", "open", 1); /* prefix of a choice */
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
}

static void test_bool_forms(void **state)
{
    (void)state;
    const char *t[] = {"true", "1", "yes", "on", "TRUE", "On"};
    const char *f[] = {"false", "0", "no", "off", "False", "NO"};
    const char *bad[] = {"2", "y", "truee", "", " true"};
    bool b;
    for (size_t i = 0; i < 6; i++) {
        b = false;
        assert_int_equal(tm_config_parse_bool(t[i], &b), TM_OK);
        assert_true(b);
        assert_int_equal(tm_config_parse_bool(f[i], &b), TM_OK);
        assert_false(b);
    }
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(tm_config_parse_bool(bad[i], &b), TM_ERR_INVALID);
    char err[256];
    setenv("TM_T_DEBUG", "maybe", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_non_null(strstr(err, "TM_T_DEBUG: not a boolean"));
    assert_non_null(strstr(err, "(got 'maybe')"));
}

static void test_int_parse(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(tm_config_parse_int("-42", &v), TM_OK);
    assert_int_equal(v, -42);
    assert_int_equal(tm_config_parse_int("9223372036854775807", &v), TM_OK);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(tm_config_parse_int("9223372036854775808", &v), TM_ERR_INVALID);
    assert_int_equal(tm_config_parse_int("", &v), TM_ERR_INVALID);
    assert_int_equal(tm_config_parse_int(" 1", &v), TM_ERR_INVALID);
    assert_int_equal(tm_config_parse_int("1 ", &v), TM_ERR_INVALID);
    assert_int_equal(tm_config_parse_int("1.5", &v), TM_ERR_INVALID);
}

static void test_duration_units(void **state)
{
    (void)state;
    int64_t v;
    struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"250ms", 250}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000}, {"750", 750}, {"0s", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(tm_config_parse_duration_ms(ok[i].s, &v), TM_OK);
        assert_int_equal(v, ok[i].ms);
    }
    const char *bad[] = {"5 s", "5sec", "s", "-5s", "1.5s", "5d", "9223372036854775807h", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (tm_config_parse_duration_ms(bad[i], &v) != TM_ERR_INVALID)
            fail_msg("accepted duration '%s'", bad[i]);
}

static void test_bytes_units(void **state)
{
    (void)state;
    int64_t v;
    struct {
        const char *s;
        int64_t b;
    } ok[] = {
        {"512", 512},         {"512B", 512}, {"64KiB", 65536}, {"5MiB", 5242880},
        {"1GiB", 1073741824}, {"2K", 2048},  {"3M", 3145728},  {"1G", 1073741824},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        assert_int_equal(tm_config_parse_bytes(ok[i].s, &v), TM_OK);
        assert_int_equal(v, ok[i].b);
    }
    const char *bad[] = {"5 MiB", "5MB", "5kib", "-1", "MiB", "9223372036854775807GiB", "1.5K"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (tm_config_parse_bytes(bad[i], &v) != TM_ERR_INVALID)
            fail_msg("accepted size '%s'", bad[i]);
    char err[256];
    setenv("TM_T_MAX_BODY", "2GiB", 1);
    assert_int_equal(load(err, sizeof err), TM_ERR_INVALID);
    assert_non_null(strstr(err, "TM_T_MAX_BODY: must be between"));
}

static void test_secret_not_in_errors(void **state)
{
    (void)state;
    static int64_t n;
    static const tm_config_var_t sv[] = {
        {"TM_T_SECRET_INT", TM_CFG_INT, &n, NULL, 0, 0, false, true, NULL, "x"},
    };
    char err[256];
    setenv("TM_T_SECRET_INT", "s3cr3t-value", 1);
    assert_int_equal(tm_config_load(sv, 1, err, sizeof err), TM_ERR_INVALID);
    assert_string_equal(err, "TM_T_SECRET_INT: not an integer");
    assert_null(strstr(err, "s3cr3t"));
    unsetenv("TM_T_SECRET_INT");
}

static void test_masking_in_log(void **state)
{
    (void)state;
    char err[256];
    setenv("TM_T_PORT", "9100", 1);
    assert_int_equal(load(err, sizeof err), TM_OK);
    int fd = memfd_create("cfg_log", 0);
    assert_true(fd >= 0);
    tm_log_init("cfgtest", TM_LOG_INFO);
    tm_log_set_fd(fd);
    tm_config_log(vars, NVARS);
    tm_log_set_fd(1);
    char buf[4096] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    assert_null(strstr(buf, "hunter2"));
    assert_non_null(strstr(buf, "\"***\""));
    assert_int_equal(strchr(buf, '\n') - buf, n - 1); /* one line */
    json_error_t jerr;
    json_t *line = json_loads(buf, 0, &jerr);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "level")), "info");
    json_t *c = json_object_get(line, "config");
    assert_true(json_is_object(c));
    assert_string_equal(json_string_value(json_object_get(c, "TM_T_SECRET")), "***");
    assert_string_equal(json_string_value(json_object_get(c, "TM_T_URL")), "nats://127.0.0.1:4222");
    assert_int_equal(json_integer_value(json_object_get(c, "TM_T_PORT")), 9100);
    assert_string_equal(json_string_value(json_object_get(c, "TM_T_PROVIDER")), "none");
    assert_true(json_is_false(json_object_get(c, "TM_T_DEBUG")));
    json_decref(line);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_env_overrides),
        T(test_bad_int),
        T(test_out_of_bounds),
        T(test_required_missing),
        T(test_bad_enum),
        T(test_bool_forms),
        T(test_int_parse),
        T(test_duration_units),
        T(test_bytes_units),
        T(test_secret_not_in_errors),
        T(test_masking_in_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
