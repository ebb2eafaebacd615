/* rt_config: the one table of tm-realtime's environment variables. */
#include "config.h"

#include <string.h>

#include "tm_config.h"

#ifndef TM_MIGRATIONS_DIR
#define TM_MIGRATIONS_DIR "migrations"
#endif

#define NVARS 8

static void table(rt_config_t *c, tm_config_var_t v[NVARS])
{
    const tm_config_var_t t[NVARS] = {
        {.name = "TM_NATS_URL", .type = TM_CFG_STRING, .target = &c->nats_url, .required = true,
         .help = "NATS server URL(s), comma-separated"},
        {.name = "TM_PG_URL", .type = TM_CFG_STRING, .target = &c->pg_url, .required = true,
         .secret = true, .help = "Postgres conninfo or URI"},
        {.name = "TM_ADMIN_PORT", .type = TM_CFG_PORT, .target = &c->admin_port,
         .defval = "9102", .help = "port of /healthz, /readyz, /metrics"},
        {.name = "TM_LOG_LEVEL", .type = TM_CFG_ENUM, .target = &c->log_level, .defval = "info",
         .choices = "debug|info|warn|error", .help = "lowest level logged"},
        {.name = "TM_WORKERS", .type = TM_CFG_INT, .target = &c->workers, .defval = "2", .min = 1,
         .max = 64, .help = "worker threads (one Postgres connection each)"},
        {.name = "TM_QUEUE_CAP", .type = TM_CFG_INT, .target = &c->queue_cap, .defval = "1024",
         .min = 1, .max = 1000000, .help = "queued requests before 503"},
        {.name = "TM_DRAIN_TIMEOUT", .type = TM_CFG_DURATION_MS, .target = &c->drain_timeout_ms,
         .defval = "10s", .min = 0, .max = 600000, .help = "time to finish work on shutdown"},
        {.name = "TM_MIGRATIONS_DIR", .type = TM_CFG_STRING, .target = &c->migrations_dir,
         .defval = TM_MIGRATIONS_DIR, .help = "folder of NNN_name.sql migrations"},
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
