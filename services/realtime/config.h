/* rt_config: the TM_* environment variables of tm-realtime, validated at start.
 * Filled once on the main thread by rt_config_load(); read-only afterwards (any thread). */
#ifndef RT_CONFIG_H
#define RT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

typedef struct {
    char *nats_url;        /* TM_NATS_URL (required) */
    char *pg_url;          /* TM_PG_URL (required; libpq conninfo or URI; secret) */
    int64_t admin_port;    /* TM_ADMIN_PORT */
    int log_level;         /* TM_LOG_LEVEL: tm_log_level_t */
    int64_t workers;       /* TM_WORKERS */
    int64_t queue_cap;     /* TM_QUEUE_CAP */
    int64_t drain_timeout_ms; /* TM_DRAIN_TIMEOUT */
    char *migrations_dir;  /* TM_MIGRATIONS_DIR */
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
