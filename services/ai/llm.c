/* ai_llm: see llm.h. */
#include "llm.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tm_json.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_util.h"

#define BACKOFF_BASE_MS 200
#define MIN_ATTEMPT_MS  50
#define NRESULTS        8

static const char *const result_names[NRESULTS] = {
    "ok",         "busy",      "breaker_open", "timeout",
    "http_error", "transport", "too_large",    "invalid_response"};

struct ai_llm {
    const ai_config_t *cfg;
    char *url;
    char *auth_header;
    atomic_int inflight;
    ai_breaker_t breaker;
    tm_counter_t *calls[NRESULTS];
    tm_gauge_t *state;
    tm_histogram_t *latency;
};

typedef struct {
    char *buf;
    size_t len;
    bool too_large;
} body_t;

static char *build_url(const ai_config_t *c)
{
    const char *base = c->base_url && *c->base_url ? c->base_url : "https://api.openai.com/v1";
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (c->provider == AI_PROVIDER_AZURE)
        return tm_xasprintf("%.*s/openai/deployments/%s/chat/completions?api-version=%s", (int)n,
                            base, c->azure_deployment, c->azure_api_version);
    return tm_xasprintf("%.*s/chat/completions", (int)n, base);
}

ai_llm_t *ai_llm_new(const ai_config_t *cfg)
{
    if (cfg->provider == AI_PROVIDER_NONE)
        return NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ai_llm_t *l = tm_xcalloc(1, sizeof *l);
    l->cfg = cfg;
    l->url = build_url(cfg);
    const char *key = cfg->api_key ? cfg->api_key : "";
    if (cfg->provider == AI_PROVIDER_AZURE)
        l->auth_header = tm_xasprintf("api-key: %s", key);
    else if (*key)
        l->auth_header = tm_xasprintf("Authorization: Bearer %s", key);
    ai_breaker_init(&l->breaker, (int)cfg->breaker_failures, cfg->breaker_cooldown_ms);
    for (int i = 0; i < NRESULTS; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "result=\"%s\"", result_names[i]);
        l->calls[i] = tm_metrics_counter("tm_ai_llm_calls_total", "LLM calls by outcome", labels);
    }
    l->state = tm_metrics_gauge("tm_ai_breaker_state",
                                "LLM circuit breaker: 0 closed, 1 open, 2 half-open", NULL);
    l->latency =
        tm_metrics_histogram("tm_ai_llm_latency_seconds", "LLM call latency", NULL, NULL, 0);
    return l;
}

void ai_llm_free(ai_llm_t *l)
{
    if (!l)
        return;
    ai_breaker_dispose(&l->breaker);
    free(l->url);
    free(l->auth_header);
    free(l);
    curl_global_cleanup();
}

const char *ai_llm_model(const ai_llm_t *l)
{
    if (!l)
        return NULL;
    return l->cfg->provider == AI_PROVIDER_AZURE ? l->cfg->azure_deployment : l->cfg->model;
}

ai_breaker_state_t ai_llm_breaker_state(ai_llm_t *l)
{
    return l ? ai_breaker_state(&l->breaker) : AI_BREAKER_CLOSED;
}

static void count(ai_llm_t *l, const char *result)
{
    for (int i = 0; i < NRESULTS; i++)
        if (strcmp(result_names[i], result) == 0)
            tm_counter_add(l->calls[i], 1);
}

/* ---- validation ---- */

static const tm_json_field_t root_fields[] = {
    {.name = "suggestions",
     .kind = TM_JF_ARRAY,
     .required = true,
     .max_items = AI_LLM_MAX_SUGGESTIONS},
};
static const tm_json_field_t item_fields[] = {
    {.name = "kind",
     .kind = TM_JF_STRING,
     .required = true,
     .choices = "new_task|breakdown|reschedule|raise_priority|focus"},
    {.name = "title", .kind = TM_JF_STRING, .required = true, .min = 1, .max = 200},
    {.name = "reason", .kind = TM_JF_STRING, .required = true, .min = 1, .max = 1000},
    {.name = "confidence", .kind = TM_JF_NUMBER, .required = true, .min = 0, .max = 1},
    {.name = "estimated_minutes", .kind = TM_JF_INT, .required = true, .min = 1, .max = 10080},
    {.name = "difficulty", .kind = TM_JF_STRING, .required = true, .choices = "easy|medium|hard"},
    {.name = "task_id", .kind = TM_JF_UUID, .nullable = true},
    {.name = "tasks", .kind = TM_JF_ARRAY, .max_items = AI_LLM_MAX_TASKS},
};
static const tm_json_field_t task_fields[] = {
    {.name = "title", .kind = TM_JF_STRING, .required = true, .min = 1, .max = 200},
    {.name = "description", .kind = TM_JF_STRING, .nullable = true, .max = 2000},
    {.name = "estimate_minutes", .kind = TM_JF_INT, .nullable = true, .min = 1, .max = 10080},
    {.name = "priority", .kind = TM_JF_INT, .nullable = true, .min = 1, .max = 4},
    {.name = "due_at", .kind = TM_JF_TIME, .nullable = true},
    {.name = "labels", .kind = TM_JF_STRING_ARRAY, .min = 1, .max = 50, .max_items = 20},
};
#define NF(a) (sizeof(a) / sizeof((a)[0]))

static bool check_item(json_t *item, tm_json_errors_t *errs)
{
    if (!json_is_object(item) || tm_json_check(item, item_fields, NF(item_fields), errs) != TM_OK)
        return false;
    json_t *tasks = json_object_get(item, "tasks");
    if (!tasks) {
        json_object_set_new(item, "tasks", json_array());
        return true;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) if (!json_is_object(t) ||
                                        tm_json_check(t, task_fields, NF(task_fields), errs) !=
                                            TM_OK) return false;
    return true;
}

static const char *content_of(const json_t *reply, int64_t *tokens)
{
    json_t *usage = json_object_get(reply, "usage");
    json_t *total = json_object_get(usage, "total_tokens");
    *tokens =
        json_is_integer(total) && json_integer_value(total) >= 0 ? json_integer_value(total) : 0;
    json_t *choices = json_object_get(reply, "choices");
    json_t *msg = json_object_get(json_array_get(choices, 0), "message");
    json_t *content = json_object_get(msg, "content");
    return json_is_string(content) ? json_string_value(content) : NULL;
}

json_t *ai_llm_validate(const char *body, size_t len, size_t limit, int64_t *tokens, char *why,
                        size_t whylen)
{
    tm_json_limits_t lim = {.max_bytes = AI_LLM_MAX_REPLY};
    tm_json_errors_t errs = {0};
    json_t *reply = NULL, *inner = NULL, *out = NULL;
    *tokens = 0;
    if (tm_json_parse(body, len, &lim, &reply, &errs) != TM_OK) {
        snprintf(why, whylen, "reply is not a JSON object");
        return NULL;
    }
    const char *content = content_of(reply, tokens);
    if (!content) {
        snprintf(why, whylen, "no choices[0].message.content");
        goto done;
    }
    if (tm_json_parse(content, strlen(content), &lim, &inner, &errs) != TM_OK ||
        tm_json_check(inner, root_fields, NF(root_fields), &errs) != TM_OK) {
        snprintf(why, whylen, "content: %s %s", errs.count ? errs.e[0].field : "",
                 errs.count ? errs.e[0].reason : "not a JSON object");
        goto done;
    }
    json_t *arr = json_object_get(inner, "suggestions");
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!check_item(item, &errs)) {
            snprintf(why, whylen, "suggestions[%zu]: %s %s", i, errs.count ? errs.e[0].field : "",
                     errs.count ? errs.e[0].reason : "not an object");
            goto done;
        }
    }
    while (json_array_size(arr) > limit)
        json_array_remove(arr, json_array_size(arr) - 1);
    out = json_incref(arr);
done:
    json_decref(inner);
    json_decref(reply);
    return out;
}

/* ---- transport ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    body_t *b = arg;
    size_t n = size * nmemb, total;
    if (!tm_size_add(b->len, n, &total) || total > AI_LLM_MAX_REPLY) {
        b->too_large = true;
        return 0; /* aborts the transfer */
    }
    b->buf = tm_xrealloc(b->buf, total + 1);
    memcpy(b->buf + b->len, ptr, n);
    b->len = total;
    b->buf[total] = '\0';
    return n;
}

static CURL *easy_for(ai_llm_t *l, const char *payload, struct curl_slist *hdrs, body_t *b,
                      int64_t timeout_ms)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    bool plain = strncmp(l->url, "http://", 7) == 0;
    curl_easy_setopt(h, CURLOPT_URL, l->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     plain ? (long)CURL_HTTP_VERSION_1_1 : (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)l->cfg->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)AI_LLM_MAX_REPLY);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    return h;
}

/* One HTTP attempt. Returns the result name ("ok" = 2xx with a body in b). */
static const char *attempt(ai_llm_t *l, const char *payload, int64_t timeout_ms, body_t *b,
                           int *http_status)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (l->auth_header)
        hdrs = curl_slist_append(hdrs, l->auth_header);
    hdrs = curl_slist_append(hdrs, "Expect:");
    CURL *h = easy_for(l, payload, hdrs, b, timeout_ms);
    const char *res = "transport";
    if (h) {
        CURLcode cc = curl_easy_perform(h);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        *http_status = (int)code;
        if (b->too_large || cc == CURLE_FILESIZE_EXCEEDED)
            res = "too_large";
        else if (cc == CURLE_OPERATION_TIMEDOUT)
            res = "timeout";
        else if (cc != CURLE_OK)
            res = "transport";
        else
            res = code >= 200 && code < 300 ? "ok" : "http_error";
        curl_easy_cleanup(h);
    }
    curl_slist_free_all(hdrs);
    return res;
}

static bool retryable(const char *res, int status)
{
    return strcmp(res, "transport") == 0 ||
           (strcmp(res, "http_error") == 0 && (status == 429 || status >= 500));
}

static void backoff_sleep(int attempt_no, int64_t remaining_ms)
{
    int64_t ms = (int64_t)BACKOFF_BASE_MS << (attempt_no < 6 ? attempt_no : 6);
    unsigned char r;
    tm_random_bytes(&r, 1);
    ms = ms / 2 + (ms / 2) * r / 255;
    if (ms > remaining_ms / 2)
        ms = remaining_ms / 2;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *payload_for(ai_llm_t *l, const json_t *messages)
{
    json_t *req = json_pack("{s:O, s:{s:s}, s:f, s:i}", "messages", messages, "response_format",
                            "type", "json_object", "temperature", 0.2, "max_tokens", 1500);
    if (l->cfg->provider == AI_PROVIDER_OPENAI)
        json_object_set_new(req, "model", json_string(l->cfg->model));
    char *s = tm_json_dumps(req, NULL);
    json_decref(req);
    return s;
}

/* Attempts with retries inside budget; the body of the last attempt stays in b. */
static const char *transfer(ai_llm_t *l, const char *payload, int64_t budget_ms, body_t *b,
                            ai_llm_result_t *out)
{
    int64_t deadline = tm_now_ms() + budget_ms;
    const char *res = "timeout";
    for (int i = 0; i <= (int)l->cfg->retries; i++) {
        int64_t left = deadline - tm_now_ms();
        if (left < MIN_ATTEMPT_MS)
            break;
        free(b->buf);
        *b = (body_t){0};
        out->attempts++;
        res = attempt(l, payload, left, b, &out->http_status);
        if (!retryable(res, out->http_status) || i == (int)l->cfg->retries)
            break;
        backoff_sleep(i, deadline - tm_now_ms());
    }
    return res;
}

static int err_for(const char *res)
{
    if (strcmp(res, "timeout") == 0)
        return TM_ERR_TIMEOUT;
    if (strcmp(res, "too_large") == 0)
        return TM_ERR_LIMIT;
    if (strcmp(res, "invalid_response") == 0)
        return TM_ERR_INVALID;
    if (strcmp(res, "transport") == 0)
        return TM_ERR_IO;
    return TM_ERR_UNAVAILABLE;
}

static int finish(ai_llm_t *l, ai_llm_result_t *out, const char *res, int64_t t0)
{
    out->result = res;
    out->latency_ms = tm_now_ms() - t0;
    count(l, res);
    tm_gauge_set(l->state, (int64_t)ai_breaker_state(&l->breaker));
    return strcmp(res, "ok") == 0 ? TM_OK : err_for(res);
}

int ai_llm_suggest(ai_llm_t *l, const json_t *messages, size_t limit, int64_t budget_ms,
                   ai_llm_result_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = tm_now_ms();
    if (atomic_fetch_add(&l->inflight, 1) >= (int)l->cfg->max_concurrent) {
        atomic_fetch_sub(&l->inflight, 1);
        return finish(l, out, "busy", t0);
    }
    if (!ai_breaker_allow(&l->breaker, t0)) {
        atomic_fetch_sub(&l->inflight, 1);
        return finish(l, out, "breaker_open", t0);
    }
    char *payload = payload_for(l, messages);
    body_t b = {0};
    const char *res = transfer(l, payload, budget_ms, &b, out);
    if (strcmp(res, "ok") == 0) {
        char why[256];
        out->suggestions =
            ai_llm_validate(b.buf ? b.buf : "", b.len, limit, &out->tokens, why, sizeof why);
        if (!out->suggestions) {
            res = "invalid_response";
            TM_WARN("llm: invalid reply: %s", why);
        }
    }
    ai_breaker_record(&l->breaker, strcmp(res, "ok") == 0, tm_now_ms());
    tm_histogram_observe(l->latency, (double)(tm_now_ms() - t0) / 1000.0);
    atomic_fetch_sub(&l->inflight, 1);
    free(b.buf);
    free(payload);
    return finish(l, out, res, t0);
}
