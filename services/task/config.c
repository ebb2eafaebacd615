/* config: the one table of tm-task's TM_* variables. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#ifndef TM_MIGRATIONS_DIR
#define TM_MIGRATIONS_DIR "migrations"
#endif

#define DAY_MS (24LL * 3600 * 1000)

#define N(x) (sizeof(x) / sizeof *(x))

/* The table bound to c. Not reentrant (one static copy): called at start-up only. */
static tm_config_var_t *vars_for(task_config_t *c, size_t *n)
{
    static tm_config_var_t v[24];
    const tm_config_var_t t[] = {
        {"TM_NATS_URL", TM_CFG_STRING, &c->nats_url, NULL, 0, 0, true, false, NULL,
         "NATS server URL(s), comma-separated"},
        {"TM_PG_URL", TM_CFG_STRING, &c->pg_url, NULL, 0, 0, true, true, NULL,
         "Postgres connection string (role owning schema task)"},
        {"TM_ADMIN_PORT", TM_CFG_PORT, &c->admin_port, "9101", 0, 0, false, false, NULL,
         "admin HTTP port (/healthz /readyz /metrics)"},
        {"TM_LOG_LEVEL", TM_CFG_STRING, &c->log_level, "info", 0, 0, false, false, NULL,
         "debug|info|warn|error"},
        {"TM_WORKERS", TM_CFG_INT, &c->workers, "8", 1, 64, false, false, NULL,
         "worker threads (one Postgres connection each; argon2 runs here)"},
        {"TM_QUEUE_CAP", TM_CFG_INT, &c->queue_cap, "256", 1, 100000, false, false, NULL,
         "queued requests before 503"},
        {"TM_DRAIN_TIMEOUT", TM_CFG_DURATION_MS, &c->drain_timeout_ms, "10s", 0, 600000, false,
         false, NULL, "time to finish in-flight work at shutdown"},
        {"TM_MIGRATIONS_DIR", TM_CFG_STRING, &c->migrations_dir, TM_MIGRATIONS_DIR, 0, 0, false,
         false, NULL, "folder of NNN_name.sql migrations"},
        {"TM_JWT_ALG", TM_CFG_ENUM, &c->jwt_alg, "ES256", 0, 0, false, false, "ES256|HS256",
         "access token signature algorithm"},
        {"TM_JWT_PRIVATE_KEY_FILE", TM_CFG_STRING, &c->jwt_private_key_file, NULL, 0, 0, false,
         false, NULL, "PEM EC P-256 private key (ES256)"},
        {"TM_JWT_SECRET", TM_CFG_STRING, &c->jwt_secret, NULL, 0, 0, false, true, NULL,
         "HMAC secret, >= 32 bytes (HS256)"},
        {"TM_JWT_ISSUER", TM_CFG_STRING, &c->jwt_issuer, "taskmesh", 0, 0, false, false, NULL,
         "iss claim"},
        {"TM_JWT_AUDIENCE", TM_CFG_STRING, &c->jwt_audience, "taskmesh-api", 0, 0, false, false,
         NULL, "aud claim"},
        {"TM_ACCESS_TTL", TM_CFG_DURATION_MS, &c->access_ttl_ms, "15m", 60000, 3600000, false,
         false, NULL, "access token lifetime (1m..1h)"},
        {"TM_REFRESH_TTL", TM_CFG_DURATION_MS, &c->refresh_ttl_ms, "720h", 3600000, 365 * DAY_MS,
         false, false, NULL, "session (refresh token) lifetime"},
        {"TM_ARGON2_T", TM_CFG_INT, &c->argon2_t, "3", 1, 10, false, false, NULL,
         "argon2id iterations"},
        {"TM_ARGON2_M_KIB", TM_CFG_INT, &c->argon2_m_kib, "65536", 8192, 1048576, false, false,
         NULL, "argon2id memory in KiB"},
        {"TM_ARGON2_P", TM_CFG_INT, &c->argon2_p, "1", 1, 8, false, false, NULL, "argon2id lanes"},
        {"TM_BOOTSTRAP_ADMIN_EMAIL", TM_CFG_STRING, &c->bootstrap_admin_email, NULL, 0, 0, false,
         false, NULL, "this user becomes admin at registration and at start"},
        {"TM_RELAY_SWEEP", TM_CFG_DURATION_MS, &c->relay_sweep_ms, "1s", 50, 60000, false, false,
         NULL, "outbox relay sweep interval when nothing wakes it (kicks, NOTIFY)"},
        {"TM_RELAY_BATCH", TM_CFG_INT, &c->relay_batch, "500", 1, 10000, false, false, NULL,
         "outbox rows the relay publishes per batch"},
        {"TM_OUTBOX_RETENTION", TM_CFG_DURATION_MS, &c->outbox_retention_ms, "720h", 0,
         365 * DAY_MS, false, false, NULL,
         "keep published events this long for the change feed (0 = forever)"},
        {"TM_USER_CACHE_ENTRIES", TM_CFG_INT, &c->user_cache_entries, "16384", 0, 10000000, false,
         false, NULL, "users whose GET /api/v1/me answer is kept in memory (0 = off)"},
        {"TM_USER_CACHE_TTL", TM_CFG_DURATION_MS, &c->user_cache_ttl_ms, "10s", 100, 3600000, false,
         false, NULL,
         "longest a cached /me answer is served: bounds staleness when a change's broadcast "
         "is lost (replica died after COMMIT, tm-task promote)"},
    };
    _Static_assert(N(t) == N(v), "table size");
    memcpy(v, t, sizeof t);
    *n = N(v);
    return v;
}

static int check_jwt(const task_config_t *c, char *err, size_t errlen)
{
    if (c->jwt_alg == TASK_JWT_ES256 && (!c->jwt_private_key_file || !*c->jwt_private_key_file)) {
        snprintf(err, errlen, "TM_JWT_PRIVATE_KEY_FILE: required when TM_JWT_ALG=ES256");
        return TM_ERR_INVALID;
    }
    if (c->jwt_alg == TASK_JWT_HS256 && (!c->jwt_secret || strlen(c->jwt_secret) < 32)) {
        snprintf(err, errlen, "TM_JWT_SECRET: at least 32 bytes required when TM_JWT_ALG=HS256");
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

int task_config_load(task_config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    size_t n;
    tm_config_var_t *v = vars_for(cfg, &n);
    int rc = tm_config_load(v, n, err, errlen);
    if (rc == TM_OK)
        rc = check_jwt(cfg, err, errlen);
    return rc;
}

int task_config_load_cli(task_config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    size_t n;
    tm_config_var_t *v = vars_for(cfg, &n);
    tm_config_var_t sub[2] = {v[1], v[3]}; /* TM_PG_URL, TM_LOG_LEVEL */
    return tm_config_load(sub, 2, err, errlen);
}

void task_config_log(const task_config_t *cfg)
{
    size_t n;
    tm_config_var_t *v = vars_for((task_config_t *)cfg, &n);
    tm_config_log(v, n);
}

void task_config_print_help(void)
{
    task_config_t tmp;
    size_t n;
    tm_config_var_t *v = vars_for(&tmp, &n);
    tm_config_print_help(v, n);
}

void task_config_free(task_config_t *cfg)
{
    if (!cfg)
        return;
    size_t n;
    tm_config_var_t *v = vars_for(cfg, &n);
    tm_config_free(v, n);
}
