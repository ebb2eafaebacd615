/* ai_config: the TM_* environment variables of tm-ai, validated at start.
 * Filled once on the main thread by ai_config_load(); read-only afterwards (any thread). */
#ifndef AI_CONFIG_H
#define AI_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"
#include "urgency.h"

typedef enum { AI_PROVIDER_NONE = 0, AI_PROVIDER_OPENAI, AI_PROVIDER_AZURE } ai_provider_t;

typedef struct {
    char *nats_url;              /* TM_NATS_URL (required) */
    char *pg_url;                /* TM_PG_URL (required; libpq conninfo or URI; secret) */
    int64_t admin_port;          /* TM_ADMIN_PORT */
    int log_level;               /* TM_LOG_LEVEL: tm_log_level_t */
    int64_t workers;             /* TM_WORKERS (> TM_AI_MAX_CONCURRENT when an LLM is configured) */
    int64_t queue_cap;           /* TM_QUEUE_CAP */
    int64_t drain_timeout_ms;    /* TM_DRAIN_TIMEOUT */
    char *migrations_dir;        /* TM_MIGRATIONS_DIR */
    char *consumer;              /* TM_AI_CONSUMER: durable consumer name on TM_EVENTS */
    int64_t processed_keep_ms;   /* TM_AI_PROCESSED_RETENTION: processed_events kept */
    int64_t max_tasks;           /* TM_AI_MAX_TASKS: a user's tasks answers consider */
    int64_t taskset_bytes;       /* TM_AI_TASKSET_BYTES: in-memory task sets (tsets.h) */
    int64_t cache_ttl_ms;        /* TM_AI_CACHE_TTL */
    int64_t edge_max_age_ms;     /* TM_AI_EDGE_MAX_AGE */
    int64_t cache_entries;       /* TM_AI_CACHE_ENTRIES */
    int provider;                /* TM_AI_PROVIDER: ai_provider_t */
    char *base_url;              /* TM_AI_BASE_URL */
    char *api_key;               /* TM_AI_API_KEY (secret) */
    char *model;                 /* TM_AI_MODEL */
    char *azure_deployment;      /* TM_AI_AZURE_DEPLOYMENT */
    char *azure_api_version;     /* TM_AI_AZURE_API_VERSION */
    int64_t timeout_ms;          /* TM_AI_TIMEOUT: whole LLM call budget, retries included */
    int64_t connect_timeout_ms;  /* TM_AI_CONNECT_TIMEOUT */
    int64_t max_concurrent;      /* TM_AI_MAX_CONCURRENT */
    int64_t retries;             /* TM_AI_RETRIES: extra attempts on 429/5xx/transport errors */
    int64_t breaker_failures;    /* TM_AI_BREAKER_FAILURES */
    int64_t breaker_cooldown_ms; /* TM_AI_BREAKER_COOLDOWN */
    char *w_text[4];             /* TM_AI_W_PRIORITY, _DUE, _AGE, _QUICK_WIN as given */
    ai_weights_t weights;        /* urgency weights (defaults overridden by TM_AI_W_*) */
} ai_config_t;

/* Load from the environment. On error returns TM_ERR_INVALID with a message naming the
 * variable in err. Strings are owned by cfg until ai_config_free(). */
int ai_config_load(ai_config_t *cfg, char *err, size_t errlen) TM_WUR;
void ai_config_free(ai_config_t *cfg);
/* Log the effective configuration (secrets masked). After tm_log_init. */
void ai_config_log(ai_config_t *cfg);
/* Print the variable table for --help. */
void ai_config_print_help(void);

#endif
