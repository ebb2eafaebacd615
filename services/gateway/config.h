/* gw_config: the TM_* variables of tm-gateway (one table, see config.c).
 * Filled once on the main thread by gw_config_load; read-only afterwards (any thread). */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "jwt_verify.h"
#include "tm_error.h"

#define GW_MAX_CORS_ORIGINS 16

typedef struct {
    char *http_host;
    int64_t http_port;
    int64_t admin_port;
    int64_t threads; /* resolved: >= 1 */
    char *nats_url;
    int jwt_alg; /* gw_jwt_alg_t */
    char *jwt_public_key_file;
    char *jwt_secret;
    char *jwt_issuer;
    char *jwt_audience;
    int64_t jwt_leeway_ms;
    int64_t request_timeout_ms;
    int64_t max_inflight; /* per thread */
    char *cors_origins_raw;
    char *tls_cert;
    char *tls_key;
    char *log_level;
    int64_t drain_timeout_ms;
    /* WebSocket (ws_conn.c, ws_hub.c) */
    int64_t ws_max_connections;  /* per gateway */
    int64_t ws_max_per_user;     /* per user, per gateway */
    int64_t ws_max_message;      /* bytes of one client message (1009 beyond) */
    int64_t ws_send_queue_bytes; /* per connection (1013 beyond) */
    int64_t ws_idle_timeout_ms;  /* pings every half of it */
    int64_t ws_flush_sockets;    /* sockets written per loop pass (ws_local_flush) */
    int64_t ws_ops_per_sec;      /* client ops; burst twice that */
    /* response cache and rate limits (per gateway replica; cache_http.c, gw_limits.c) */
    int64_t cache_bytes; /* 0 disables the cache */
    int64_t cache_ttl_ms;
    int64_t rate_user_rps, rate_user_burst; /* authenticated routes, per user */
    int64_t rate_ip_rps, rate_ip_burst;     /* unauthenticated routes, per client IP */
    int64_t rate_auth_rps, rate_auth_burst; /* login/register/refresh, per client IP */
    int64_t max_connections;                /* open client connections per gateway */
    /* derived */
    char *jwt_public_key_pem; /* contents of jwt_public_key_file (ES256) */
    size_t ncors;
    char *cors[GW_MAX_CORS_ORIGINS];
} gw_config_t;

/* Load and validate the environment into cfg. On error returns TM_ERR_INVALID with a
 * message naming the variable in err (secrets are not echoed). */
int gw_config_load(gw_config_t *cfg, char *err, size_t errlen) TM_WUR;
/* Log the effective configuration (secrets masked). */
void gw_config_log(const gw_config_t *cfg);
/* Print the variables for --help. */
void gw_config_help(void);
void gw_config_dispose(gw_config_t *cfg);
/* The verifier settings for cfg (pointers into cfg). */
gw_jwt_config_t gw_config_jwt(const gw_config_t *cfg);
/* True if origin (len bytes) is one of TM_CORS_ORIGINS. */
bool gw_config_cors_allowed(const gw_config_t *cfg, const char *origin, size_t len);

#endif
