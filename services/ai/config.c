/* ai_config: the one table of tm-ai's environment variables. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_config.h"

#ifndef TM_MIGRATIONS_DIR
#define TM_MIGRATIONS_DIR "migrations"
#endif

#define NVARS 31
#define W_MAX 100.0

static void table_llm(ai_config_t *c, tm_config_var_t *v)
{
    const tm_config_var_t t[] = {
        {.name = "TM_AI_PROVIDER",
         .type = TM_CFG_ENUM,
         .target = &c->provider,
         .defval = "none",
         .choices = "none|openai|azure",
         .help = "LLM provider; none = rule-based engine only"},
        {.name = "TM_AI_BASE_URL",
         .type = TM_CFG_STRING,
         .target = &c->base_url,
         .help = "chat-completions base URL (openai default https://api.openai.com/v1)"},
        {.name = "TM_AI_API_KEY",
         .type = TM_CFG_STRING,
         .target = &c->api_key,
         .secret = true,
         .help = "LLM API key"},
        {.name = "TM_AI_MODEL",
         .type = TM_CFG_STRING,
         .target = &c->model,
         .defval = "gpt-4o-mini",
         .help = "model name sent to the provider"},
        {.name = "TM_AI_AZURE_DEPLOYMENT",
         .type = TM_CFG_STRING,
         .target = &c->azure_deployment,
         .help = "Azure OpenAI deployment (provider azure)"},
        {.name = "TM_AI_AZURE_API_VERSION",
         .type = TM_CFG_STRING,
         .target = &c->azure_api_version,
         .defval = "2024-06-01",
         .help = "Azure OpenAI api-version"},
        {.name = "TM_AI_TIMEOUT",
         .type = TM_CFG_DURATION_MS,
         .target = &c->timeout_ms,
         .defval = "8s",
         .min = 100,
         .max = 120000,
         .help = "whole LLM call budget"},
        {.name = "TM_AI_CONNECT_TIMEOUT",
         .type = TM_CFG_DURATION_MS,
         .target = &c->connect_timeout_ms,
         .defval = "2s",
         .min = 50,
         .max = 60000,
         .help = "LLM connect timeout"},
        {.name = "TM_AI_MAX_CONCURRENT",
         .type = TM_CFG_INT,
         .target = &c->max_concurrent,
         .defval = "4",
         .min = 1,
         .max = 256,
         .help = "LLM calls in flight; excess gets rules"},
        {.name = "TM_AI_RETRIES",
         .type = TM_CFG_INT,
         .target = &c->retries,
         .defval = "1",
         .min = 0,
         .max = 5,
         .help = "retries on 429/5xx/transport errors"},
        {.name = "TM_AI_BREAKER_FAILURES",
         .type = TM_CFG_INT,
         .target = &c->breaker_failures,
         .defval = "5",
         .min = 1,
         .max = 1000,
         .help = "consecutive failures that open the breaker"},
        {.name = "TM_AI_BREAKER_COOLDOWN",
         .type = TM_CFG_DURATION_MS,
         .target = &c->breaker_cooldown_ms,
         .defval = "30s",
         .min = 100,
         .max = 3600000,
         .help = "open breaker waits this long before a probe"},
    };
    memcpy(v, t, sizeof t);
}

static void table_ai(ai_config_t *c, tm_config_var_t *v)
{
    const tm_config_var_t t[] = {
        {.name = "TM_AI_CONSUMER",
         .type = TM_CFG_STRING,
         .target = &c->consumer,
         .defval = "ai",
         .help = "durable consumer name on TM_EVENTS"},
        {.name = "TM_AI_PROCESSED_RETENTION",
         .type = TM_CFG_DURATION_MS,
         .target = &c->processed_keep_ms,
         .defval = "720h",
         .min = 3600000,
         .max = (int64_t)8760 * 3600000,
         .help = "applied event ids kept for idempotency (older ones pruned hourly)"},
        {.name = "TM_AI_MAX_TASKS",
         .type = TM_CFG_INT,
         .target = &c->max_tasks,
         .defval = "10000",
         .min = 10,
         .max = 100000,
         .help = "most recently updated tasks of a user that answers consider"},
        {.name = "TM_AI_TASKSET_BYTES",
         .type = TM_CFG_BYTES,
         .target = &c->taskset_bytes,
         .defval = "64MiB",
         .min = 0,
         .max = (int64_t)64 << 30,
         .help = "memory for users' tasks kept decoded (LRU by user; 0 = load per request)"},
        {.name = "TM_AI_CACHE_TTL",
         .type = TM_CFG_DURATION_MS,
         .target = &c->cache_ttl_ms,
         .defval = "30m",
         .min = 0,
         .max = 86400000,
         .help = "per-user answer cache lifetime"},
        {.name = "TM_AI_EDGE_MAX_AGE",
         .type = TM_CFG_DURATION_MS,
         .target = &c->edge_max_age_ms,
         .defval = "1s",
         .min = 0,
         .max = 3600000,
         .help = "how long a gateway may keep an answer served from the cache (Tm-Cache "
                 "max-age, whole seconds; 0 = gateways never keep them)"},
        {.name = "TM_AI_CACHE_ENTRIES",
         .type = TM_CFG_INT,
         .target = &c->cache_entries,
         .defval = "10000",
         .min = 0,
         .max = 1000000,
         .help = "answer cache capacity"},
        {.name = "TM_AI_W_PRIORITY",
         .type = TM_CFG_STRING,
         .target = &c->w_text[0],
         .defval = "4.0",
         .help = "urgency weight of priority (0..100)"},
        {.name = "TM_AI_W_DUE",
         .type = TM_CFG_STRING,
         .target = &c->w_text[1],
         .defval = "5.0",
         .help = "urgency weight of due proximity (0..100)"},
        {.name = "TM_AI_W_AGE",
         .type = TM_CFG_STRING,
         .target = &c->w_text[2],
         .defval = "1.0",
         .help = "urgency weight of age (0..100)"},
        {.name = "TM_AI_W_QUICK_WIN",
         .type = TM_CFG_STRING,
         .target = &c->w_text[3],
         .defval = "0.5",
         .help = "urgency weight of short estimates (0..100)"},
    };
    memcpy(v, t, sizeof t);
}

static void table(ai_config_t *c, tm_config_var_t v[NVARS])
{
    const tm_config_var_t t[8] = {
        {.name = "TM_NATS_URL",
         .type = TM_CFG_STRING,
         .target = &c->nats_url,
         .required = true,
         .help = "NATS server URL(s), comma-separated"},
        {.name = "TM_PG_URL",
         .type = TM_CFG_STRING,
         .target = &c->pg_url,
         .required = true,
         .secret = true,
         .help = "Postgres conninfo or URI"},
        {.name = "TM_ADMIN_PORT",
         .type = TM_CFG_PORT,
         .target = &c->admin_port,
         .defval = "9103",
         .help = "port of /healthz, /readyz, /metrics"},
        {.name = "TM_LOG_LEVEL",
         .type = TM_CFG_ENUM,
         .target = &c->log_level,
         .defval = "info",
         .choices = "debug|info|warn|error",
         .help = "lowest level logged"},
        {.name = "TM_WORKERS",
         .type = TM_CFG_INT,
         .target = &c->workers,
         .defval = "8",
         .min = 1,
         .max = 64,
         .help = "worker threads (one Postgres connection each)"},
        {.name = "TM_QUEUE_CAP",
         .type = TM_CFG_INT,
         .target = &c->queue_cap,
         .defval = "1024",
         .min = 1,
         .max = 1000000,
         .help = "queued requests before 503"},
        {.name = "TM_DRAIN_TIMEOUT",
         .type = TM_CFG_DURATION_MS,
         .target = &c->drain_timeout_ms,
         .defval = "10s",
         .min = 0,
         .max = 600000,
         .help = "time to finish work on shutdown"},
        {.name = "TM_MIGRATIONS_DIR",
         .type = TM_CFG_STRING,
         .target = &c->migrations_dir,
         .defval = TM_MIGRATIONS_DIR,
         .help = "folder of NNN_name.sql migrations"},
    };
    memcpy(v, t, sizeof t);
    table_llm(c, v + 8);
    table_ai(c, v + 20);
}

static int parse_weight(const char *name, const char *s, double *out, char *err, size_t errlen)
{
    char *end = NULL;
    double d = s && *s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || !isfinite(d) || d < 0 || d > W_MAX) {
        snprintf(err, errlen, "%s: must be a number in 0..100 (got '%s')", name, s ? s : "");
        return TM_ERR_INVALID;
    }
    *out = d;
    return TM_OK;
}

static int check_llm(const ai_config_t *c, char *err, size_t errlen)
{
    const char *why = NULL;
    if (c->provider == AI_PROVIDER_AZURE && (!c->base_url || !*c->base_url))
        why = "TM_AI_BASE_URL: required with TM_AI_PROVIDER=azure";
    else if (c->provider == AI_PROVIDER_AZURE && (!c->azure_deployment || !*c->azure_deployment))
        why = "TM_AI_AZURE_DEPLOYMENT: required with TM_AI_PROVIDER=azure";
    else if (c->provider == AI_PROVIDER_AZURE && (!c->api_key || !*c->api_key))
        why = "TM_AI_API_KEY: required with TM_AI_PROVIDER=azure";
    else if (c->base_url && *c->base_url && strncmp(c->base_url, "http://", 7) != 0 &&
             strncmp(c->base_url, "https://", 8) != 0)
        why = "TM_AI_BASE_URL: must start with http:// or https://";
    else if (c->provider != AI_PROVIDER_NONE && c->workers <= c->max_concurrent)
        why = "TM_WORKERS: must exceed TM_AI_MAX_CONCURRENT so LLM calls never take every "
              "worker";
    if (why) {
        snprintf(err, errlen, "%s", why);
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

int ai_config_load(ai_config_t *cfg, char *err, size_t errlen)
{
    tm_config_var_t v[NVARS];
    memset(cfg, 0, sizeof *cfg);
    table(cfg, v);
    int rc = tm_config_load(v, NVARS, err, errlen);
    if (rc != TM_OK)
        return rc;
    ai_urgency_defaults(&cfg->weights);
    double *w[4] = {&cfg->weights.priority, &cfg->weights.due, &cfg->weights.age,
                    &cfg->weights.quick_win};
    static const char *const names[4] = {"TM_AI_W_PRIORITY", "TM_AI_W_DUE", "TM_AI_W_AGE",
                                         "TM_AI_W_QUICK_WIN"};
    for (int i = 0; i < 4; i++)
        if ((rc = parse_weight(names[i], cfg->w_text[i], w[i], err, errlen)) != TM_OK)
            return rc;
    return check_llm(cfg, err, errlen);
}

void ai_config_free(ai_config_t *cfg)
{
    tm_config_var_t v[NVARS];
    table(cfg, v);
    tm_config_free(v, NVARS);
}

void ai_config_log(ai_config_t *cfg)
{
    tm_config_var_t v[NVARS];
    table(cfg, v);
    tm_config_log(v, NVARS);
}

void ai_config_print_help(void)
{
    ai_config_t c;
    tm_config_var_t v[NVARS];
    table(&c, v);
    tm_config_print_help(v, NVARS);
}
