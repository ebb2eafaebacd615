/* ai_llm: the chat-completions client (OpenAI or Azure OpenAI) behind a concurrency cap
 * and a circuit breaker.
 *
 * A call runs on the calling worker thread (blocking libcurl easy transfer, NOSIGNAL, no
 * redirects, http/https only, HTTP/1.1 for http://, connect and total timeouts, reply
 * capped at AI_LLM_MAX_REPLY bytes). 429/5xx/transport errors are retried with jittered
 * exponential backoff inside the call's budget. The model is asked for JSON
 * (response_format json_object) and its content is validated strictly
 * (ai_llm_validate); anything else is a failure the caller answers with the rules.
 * Metrics: tm_ai_llm_calls_total{result}, tm_ai_breaker_state, tm_ai_llm_latency_seconds.
 * Thread-safe after ai_llm_new (called once on the main thread before workers start). */
#ifndef AI_LLM_H
#define AI_LLM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "breaker.h"
#include "config.h"
#include "tm_error.h"

#define AI_LLM_MAX_REPLY       (1024 * 1024)
#define AI_LLM_MAX_SUGGESTIONS 20
#define AI_LLM_MAX_TASKS       10

typedef struct ai_llm ai_llm_t;

typedef struct {
    json_t *suggestions; /* validated array on success (owned; caller decrefs) */
    const char *result;  /* "ok" or why not: busy, breaker_open, timeout, http_error,
                            transport, too_large, invalid_response (static) */
    int http_status;     /* last HTTP status, 0 if none */
    int64_t latency_ms;
    int64_t tokens; /* usage.total_tokens, 0 if absent */
    int attempts;
} ai_llm_result_t;

/* NULL when cfg->provider is none. cfg borrowed (outlives the client). */
ai_llm_t *ai_llm_new(const ai_config_t *cfg);
void ai_llm_free(ai_llm_t *l);
const char *ai_llm_model(const ai_llm_t *l);
ai_breaker_state_t ai_llm_breaker_state(ai_llm_t *l);

/* Send messages (borrowed) and wait at most budget_ms. 0 with out->suggestions set, or a
 * negative error (TM_ERR_TIMEOUT, TM_ERR_UNAVAILABLE, TM_ERR_INVALID, TM_ERR_LIMIT, TM_ERR_IO)
 * with out->result naming the reason. */
int ai_llm_suggest(ai_llm_t *l, const json_t *messages, size_t limit, int64_t budget_ms,
                   ai_llm_result_t *out) TM_WUR;

/* Validate a chat-completions reply body: choices[0].message.content must be a JSON object
 * {"suggestions":[...]} matching the schema in prompt.c, at most limit items. Returns the
 * array (caller owns) or NULL with why filled. *tokens gets usage.total_tokens (or 0). */
json_t *ai_llm_validate(const char *body, size_t len, size_t limit, int64_t *tokens, char *why,
                        size_t whylen);

#endif
