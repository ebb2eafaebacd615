/* config: the TM_* variables of tm-task, loaded once at start and read-only afterwards
 * (any thread). */
#ifndef TASK_CONFIG_H
#define TASK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_config.h"

typedef enum { TASK_JWT_ES256 = 0, TASK_JWT_HS256 = 1 } task_jwt_alg_t;

typedef struct {
    char *nats_url;
    char *pg_url;
    int64_t admin_port;
    char *log_level;
    int64_t workers;
    int64_t queue_cap;
    int64_t drain_timeout_ms;
    char *migrations_dir;
    int jwt_alg; /* task_jwt_alg_t */
    char *jwt_private_key_file;
    char *jwt_secret;
    char *jwt_issuer;
    char *jwt_audience;
    int64_t access_ttl_ms;
    int64_t refresh_ttl_ms;
    int64_t argon2_t;
    int64_t argon2_m_kib;
    int64_t argon2_p;
    char *bootstrap_admin_email;
    int64_t relay_sweep_ms;
    int64_t relay_batch;
    int64_t outbox_retention_ms;
    int64_t user_cache_entries;
    int64_t user_cache_ttl_ms;
} task_config_t;

/* Fill cfg from the environment. On error returns TM_ERR_INVALID with a message naming the
 * variable in err. Cross-field rules (ES256 needs a key file, HS256 a secret of >= 32
 * bytes) are checked too. Free with task_config_free. */
int task_config_load(task_config_t *cfg, char *err, size_t errlen) TM_WUR;
/* Only TM_PG_URL and TM_LOG_LEVEL (for the promote CLI). */
int task_config_load_cli(task_config_t *cfg, char *err, size_t errlen) TM_WUR;
void task_config_log(const task_config_t *cfg);
void task_config_print_help(void);
void task_config_free(task_config_t *cfg);

#endif
