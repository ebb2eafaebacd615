/* ai_llm: strict validation of chat-completions replies, and the breaker/transport path
 * against a closed port (no network needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include "llm.h"
#include "tm_metrics.h"

/* Wrap content (a JSON value given as text) into a completion body. */
static char *completion(const char *content_json_text)
{
    json_t *body =
        json_pack("{s:[{s:{s:s, s:s}}], s:{s:i}}", "choices", "message", "role", "assistant",
                  "content", content_json_text, "usage", "total_tokens", 42);
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return s;
}

static json_t *validate(const char *content, size_t limit, int64_t *tokens, char *why)
{
    char *b = completion(content);
    json_t *r = ai_llm_validate(b, strlen(b), limit, tokens, why, 256);
    free(b);
    return r;
}

#define ITEM(extra)                                                                                \
    "{\"kind\":\"new_task\",\"title\":\"T\",\"reason\":\"R\",\"confidence\":0.5,"                  \
    "\"estimated_minutes\":30,\"difficulty\":\"easy\"" extra "}"

static void test_valid(void **state)
{
    (void)state;
    int64_t tokens;
    char why[256];
    json_t *r = validate("{\"suggestions\":[" ITEM(
                             ",\"tasks\":[{\"title\":\"a\",\"priority\":2}]") "," ITEM("") "]}",
                         5, &tokens, why);
    assert_non_null(r);
    assert_int_equal(json_array_size(r), 2);
    assert_int_equal(tokens, 42);
    assert_true(json_is_array(json_object_get(json_array_get(r, 1), "tasks"))); /* defaulted */
    json_decref(r);
    r = validate("{\"suggestions\":[" ITEM("") "," ITEM("") "," ITEM("") "]}", 2, &tokens, why);
    assert_int_equal(json_array_size(r), 2); /* cut to the limit */
    json_decref(r);
}

static void test_invalid(void **state)
{
    (void)state;
    int64_t tokens;
    char why[256];
    const char *bad[] = {
        "not json at all",
        "[1,2]",
        "{\"suggestions\":{}}",
        "{\"suggestions\":[],\"extra\":1}",
        "{\"suggestions\":[" ITEM(",\"surprise\":true") "]}",
        "{\"suggestions\":[{\"kind\":\"dance\",\"title\":\"T\",\"reason\":\"R\",\"confidence\":0.5,"
        "\"estimated_minutes\":30,\"difficulty\":\"easy\"}]}",
        "{\"suggestions\":[{\"kind\":\"focus\",\"title\":\"T\",\"reason\":\"R\",\"confidence\":1.5,"
        "\"estimated_minutes\":30,\"difficulty\":\"easy\"}]}",
        "{\"suggestions\":[{\"kind\":\"focus\",\"reason\":\"R\",\"confidence\":0.5,"
        "\"estimated_minutes\":30,\"difficulty\":\"easy\"}]}",
        "{\"suggestions\":[" ITEM(",\"tasks\":[{\"title\":\"\"}]") "]}",
        "{\"suggestions\":[" ITEM(",\"tasks\":[{\"title\":\"a\",\"priority\":9}]") "]}",
        "{\"suggestions\":[" ITEM(",\"tasks\":[{\"title\":\"a\",\"due_at\":\"tomorrow\"}]") "]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        json_t *r = validate(bad[i], 5, &tokens, why);
        if (r)
            fail_msg("accepted bad content #%zu: %s", i, bad[i]);
        assert_true(why[0] != '\0');
    }
    const char *bodies[] = {"", "{}", "{\"choices\":[]}",
                            "{\"choices\":[{\"message\":{\"content\":5}}]}", "<html>"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        assert_null(ai_llm_validate(bodies[i], strlen(bodies[i]), 5, &tokens, why, sizeof why));
}

static void test_unreachable_trips_breaker(void **state)
{
    (void)state;
    ai_config_t cfg = {.provider = AI_PROVIDER_OPENAI,
                       .base_url = "http://127.0.0.1:1/v1",
                       .model = "m",
                       .timeout_ms = 1000,
                       .connect_timeout_ms = 500,
                       .max_concurrent = 2,
                       .retries = 1,
                       .breaker_failures = 2,
                       .breaker_cooldown_ms = 60000};
    ai_llm_t *l = ai_llm_new(&cfg);
    assert_non_null(l);
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
    ai_llm_result_t r;
    for (int i = 0; i < 2; i++) {
        assert_int_not_equal(ai_llm_suggest(l, msgs, 5, 1000, &r), 0);
        assert_string_equal(r.result, "transport");
        assert_int_equal(r.attempts, 2);
        assert_null(r.suggestions);
    }
    assert_int_equal(ai_llm_breaker_state(l), AI_BREAKER_OPEN);
    assert_int_not_equal(ai_llm_suggest(l, msgs, 5, 1000, &r), 0);
    assert_string_equal(r.result, "breaker_open");
    assert_int_equal(r.attempts, 0);
    char *m = tm_metrics_render(NULL);
    assert_non_null(strstr(m, "tm_ai_llm_calls_total{result=\"transport\"} 2"));
    assert_non_null(strstr(m, "tm_ai_breaker_state 1"));
    free(m);
    json_decref(msgs);
    ai_llm_free(l);
    cfg.provider = AI_PROVIDER_NONE;
    assert_null(ai_llm_new(&cfg));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_unreachable_trips_breaker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
