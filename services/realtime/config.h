/* rt_config: the TM_* environment variables of tm-realtime, validated at start.
 * Filled once on the main thread by rt_config_load(); read-only afterwards (any thread). */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

typedef struct {
    char *nats_url;              /* TM_NATS_URL (required) */
    char *pg_url;                /* TM_PG_URL (required; libpq conninfo or URI; secret) */
    int64_t admin_port;          /* TM_ADMIN_PORT */
    int log_level;               /* TM_LOG_LEVEL: tm_log_level_t */
    int64_t workers;             /* TM_WORKERS */
    int64_t queue_cap;           /* TM_QUEUE_CAP */
    int64_t drain_timeout_ms;    /* TM_DRAIN_TIMEOUT */
    char *migrations_dir;        /* TM_MIGRATIONS_DIR */
    char *schema;                /* TM_RT_SCHEMA: the Postgres schema this service owns */
    char *consumer;              /* TM_RT_CONSUMER: durable consumer name on TM_EVENTS */
    int64_t fetch_batch;         /* TM_RT_FETCH_BATCH */
    int64_t max_ack_pending;     /* TM_RT_MAX_ACK_PENDING */
    int64_t history_events;      /* TM_RT_HISTORY_EVENTS: kept per workspace */
    int64_t history_age_ms;      /* TM_RT_HISTORY_AGE */
    int64_t prune_interval_ms;   /* TM_RT_PRUNE_INTERVAL */
    int64_t prune_batch;         /* TM_RT_PRUNE_BATCH: rows per prune statement */
    int64_t sweep_interval_ms;   /* TM_RT_SWEEP_INTERVAL: presence expiry, heads, announcements */
    int64_t presence_timeout_ms; /* TM_RT_PRESENCE_TIMEOUT */
    int64_t head_window_ms;     /* TM_RT_HEAD_WINDOW: rooms active this recently get head beacons */
    int64_t typing_interval_ms; /* TM_RT_TYPING_INTERVAL: per user+room throttle */
    int64_t task_timeout_ms;    /* TM_RT_TASK_TIMEOUT: membership fallback requests to tm-task */
} rt_config_t;

/* Load from the environment. On error returns TM_ERR_INVALID with a message naming the
 * variable in err. Strings are owned by cfg until rt_config_free(). */
int rt_config_load(rt_config_t *cfg, char *err, size_t errlen) TM_WUR;
void rt_config_free(rt_config_t *cfg);
/* Log the effective configuration (secrets masked). After tm_log_init. */
void rt_config_log(rt_config_t *cfg);
/* Print the variable table for --help. */
void rt_config_print_help(void);

#endif
