/* rt_config: the one table of tm-realtime's environment variables. */
#include "config.h"

#include <string.h>

#include "tm_config.h"

#ifndef TM_MIGRATIONS_DIR
#define TM_MIGRATIONS_DIR "migrations"
#endif

#define NVARS 21

static void table(rt_config_t *c, tm_config_var_t v[NVARS])
{
    const tm_config_var_t t[NVARS] = {
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
         .defval = "9102",
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
         .defval = "2",
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
        {.name = "TM_RT_SCHEMA",
         .type = TM_CFG_STRING,
         .target = &c->schema,
         .defval = "realtime",
         .help = "Postgres schema owned by tm-realtime"},
        {.name = "TM_RT_CONSUMER",
         .type = TM_CFG_STRING,
         .target = &c->consumer,
         .defval = "realtime",
         .help = "durable JetStream consumer name on TM_EVENTS"},
        {.name = "TM_RT_FETCH_BATCH",
         .type = TM_CFG_INT,
         .target = &c->fetch_batch,
         .defval = "64",
         .min = 1,
         .max = 1024,
         .help = "events fetched per pull"},
        {.name = "TM_RT_MAX_ACK_PENDING",
         .type = TM_CFG_INT,
         .target = &c->max_ack_pending,
         .defval = "1024",
         .min = 1,
         .max = 100000,
         .help = "unacknowledged events the consumer may hold (set when it is created)"},
        {.name = "TM_RT_HISTORY_EVENTS",
         .type = TM_CFG_INT,
         .target = &c->history_events,
         .defval = "1000",
         .min = 10,
         .max = 10000000,
         .help = "room history kept per workspace"},
        {.name = "TM_RT_HISTORY_AGE",
         .type = TM_CFG_DURATION_MS,
         .target = &c->history_age_ms,
         .defval = "24h",
         .min = 60000,
         .max = 31LL * 86400000,
         .help = "room history kept by age"},
        {.name = "TM_RT_PRUNE_INTERVAL",
         .type = TM_CFG_DURATION_MS,
         .target = &c->prune_interval_ms,
         .defval = "60s",
         .min = 1000,
         .max = 86400000,
         .help = "how often room history is pruned"},
        {.name = "TM_RT_PRUNE_BATCH",
         .type = TM_CFG_INT,
         .target = &c->prune_batch,
         .defval = "1000",
         .min = 1,
         .max = 100000,
         .help = "history rows deleted per prune statement (each its own transaction)"},
        {.name = "TM_RT_SWEEP_INTERVAL",
         .type = TM_CFG_DURATION_MS,
         .target = &c->sweep_interval_ms,
         .defval = "5s",
         .min = 100,
         .max = 60000,
         .help = "presence expiry, head beacons and scheduled announcements period"},
        {.name = "TM_RT_PRESENCE_TIMEOUT",
         .type = TM_CFG_DURATION_MS,
         .target = &c->presence_timeout_ms,
         .defval = "30s",
         .min = 1000,
         .max = 3600000,
         .help = "a connection not heartbeated this long is offline"},
        {.name = "TM_RT_HEAD_WINDOW",
         .type = TM_CFG_DURATION_MS,
         .target = &c->head_window_ms,
         .defval = "60s",
         .min = 1000,
         .max = 3600000,
         .help = "rooms with an event this recent get {op:head} beacons"},
        {.name = "TM_RT_TYPING_INTERVAL",
         .type = TM_CFG_DURATION_MS,
         .target = &c->typing_interval_ms,
         .defval = "2s",
         .min = 100,
         .max = 60000,
         .help = "at most one typing delivery per user and room in this time"},
        {.name = "TM_RT_TASK_TIMEOUT",
         .type = TM_CFG_DURATION_MS,
         .target = &c->task_timeout_ms,
         .defval = "2s",
         .min = 100,
         .max = 60000,
         .help = "deadline of membership look-ups sent to tm-task"},
    };
    memcpy(v, t, sizeof t);
}

int rt_config_load(rt_config_t *cfg, char *err, size_t errlen)
{
    tm_config_var_t v[NVARS];
    memset(cfg, 0, sizeof *cfg);
    table(cfg, v);
    return tm_config_load(v, NVARS, err, errlen);
}

void rt_config_free(rt_config_t *cfg)
{
    tm_config_var_t v[NVARS];
    table(cfg, v);
    tm_config_free(v, NVARS);
}

void rt_config_log(rt_config_t *cfg)
{
    tm_config_var_t v[NVARS];
    table(cfg, v);
    tm_config_log(v, NVARS);
}

void rt_config_print_help(void)
{
    rt_config_t c;
    tm_config_var_t v[NVARS];
    table(&c, v);
    tm_config_print_help(v, NVARS);
}
