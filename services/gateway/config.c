/* gw_config: see config.h. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tm_config.h"
#include "tm_util.h"

#define KEY_FILE_MAX (64 * 1024)

static gw_config_t g_cfg; /* tm_config tables point at static storage */

static const tm_config_var_t vars[] = {
    {"TM_HTTP_HOST", TM_CFG_STRING, &g_cfg.http_host, "0.0.0.0", 0, 0, false, false, NULL,
     "address of the HTTP listener"},
    {"TM_HTTP_PORT", TM_CFG_PORT, &g_cfg.http_port, "8080", 0, 0, false, false, NULL, "HTTP port"},
    {"TM_ADMIN_PORT", TM_CFG_PORT, &g_cfg.admin_port, "9100", 0, 0, false, false, NULL,
     "admin port (/metrics, /healthz, /readyz)"},
    {"TM_GATEWAY_THREADS", TM_CFG_INT, &g_cfg.threads, "0", 0, 64, false, false, NULL,
     "event-loop threads (0 = the CPUs this process may run on)"},
    {"TM_NATS_URL", TM_CFG_STRING, &g_cfg.nats_url, NULL, 0, 0, true, false, NULL,
     "NATS server URL(s)"},
    {"TM_JWT_ALG", TM_CFG_ENUM, &g_cfg.jwt_alg, "ES256", 0, 0, false, false, "ES256|HS256",
     "access-token algorithm"},
    {"TM_JWT_PUBLIC_KEY_FILE", TM_CFG_STRING, &g_cfg.jwt_public_key_file, NULL, 0, 0, false, false,
     NULL, "PEM public key (ES256)"},
    {"TM_JWT_SECRET", TM_CFG_STRING, &g_cfg.jwt_secret, NULL, 0, 0, false, true, NULL,
     "HMAC secret, >= 32 bytes (HS256)"},
    {"TM_JWT_ISSUER", TM_CFG_STRING, &g_cfg.jwt_issuer, "taskmesh", 0, 0, false, false, NULL,
     "required iss claim"},
    {"TM_JWT_AUDIENCE", TM_CFG_STRING, &g_cfg.jwt_audience, "taskmesh-api", 0, 0, false, false,
     NULL, "required aud claim"},
    {"TM_JWT_LEEWAY", TM_CFG_DURATION_MS, &g_cfg.jwt_leeway_ms, "30s", 0, 300000, false, false,
     NULL, "clock skew allowed for exp/nbf/iat"},
    {"TM_REQUEST_TIMEOUT", TM_CFG_DURATION_MS, &g_cfg.request_timeout_ms, "5s", 10, 600000, false,
     false, NULL, "deadline of a forwarded request (504 after)"},
    {"TM_MAX_INFLIGHT", TM_CFG_INT, &g_cfg.max_inflight, "4096", 1, 1000000, false, false, NULL,
     "pending forwarded requests per thread (503 beyond)"},
    {"TM_CORS_ORIGINS", TM_CFG_STRING, &g_cfg.cors_origins_raw, "", 0, 0, false, false, NULL,
     "comma-separated allowed origins (empty = none)"},
    {"TM_TLS_CERT", TM_CFG_STRING, &g_cfg.tls_cert, NULL, 0, 0, false, false, NULL,
     "PEM certificate chain (TLS when set with TM_TLS_KEY)"},
    {"TM_TLS_KEY", TM_CFG_STRING, &g_cfg.tls_key, NULL, 0, 0, false, false, NULL,
     "PEM private key"},
    {"TM_LOG_LEVEL", TM_CFG_ENUM, NULL, "info", 0, 0, false, false, "debug|info|warn|error|off",
     "log level"},
    {"TM_DRAIN_TIMEOUT", TM_CFG_DURATION_MS, &g_cfg.drain_timeout_ms, "10s", 0, 600000, false,
     false, NULL, "time to finish in-flight requests on SIGTERM"},
    {"TM_WS_MAX_CONNECTIONS", TM_CFG_INT, &g_cfg.ws_max_connections, "20000", 1, 10000000, false,
     false, NULL, "WebSocket connections per gateway (503 beyond)"},
    {"TM_WS_MAX_PER_USER", TM_CFG_INT, &g_cfg.ws_max_per_user, "20", 1, 100000, false, false, NULL,
     "WebSocket connections per user per gateway (429 beyond)"},
    {"TM_WS_MAX_MESSAGE", TM_CFG_BYTES, &g_cfg.ws_max_message, "64KiB", 125, 16777216, false, false,
     NULL, "largest client WebSocket message (close 1009 beyond)"},
    {"TM_WS_SEND_QUEUE_BYTES", TM_CFG_BYTES, &g_cfg.ws_send_queue_bytes, "256KiB", 4096, 1073741824,
     false, false, NULL, "unsent bytes per WebSocket (close 1013 beyond)"},
    {"TM_WS_FLUSH_SOCKETS", TM_CFG_INT, &g_cfg.ws_flush_sockets, "128", 1, 1000000, false, false,
     NULL, "WebSockets written per loop pass; the loop reads its input before writing the rest"},
    {"TM_WS_IDLE_TIMEOUT", TM_CFG_DURATION_MS, &g_cfg.ws_idle_timeout_ms, "60s", 1000, 3600000,
     false, false, NULL, "close a silent WebSocket after this; pings at half of it"},
    {"TM_WS_OPS_PER_SEC", TM_CFG_INT, &g_cfg.ws_ops_per_sec, "20", 1, 100000, false, false, NULL,
     "client ops per second per WebSocket (burst twice that)"},
    {"TM_CACHE_BYTES", TM_CFG_BYTES, &g_cfg.cache_bytes, "64MiB", 0, INT64_C(1) << 40, false, false,
     NULL, "response cache size per gateway (0 = off)"},
    {"TM_CACHE_TTL", TM_CFG_DURATION_MS, &g_cfg.cache_ttl_ms, "30s", 1, 3600000, false, false, NULL,
     "longest life of a cached response"},
    {"TM_RATE_USER_RPS", TM_CFG_INT, &g_cfg.rate_user_rps, "500", 0, 1000000, false, false, NULL,
     "requests/s per user, per gateway replica (0 = no limit)"},
    {"TM_RATE_USER_BURST", TM_CFG_INT, &g_cfg.rate_user_burst, "1000", 1, 1000000, false, false,
     NULL, "burst per user"},
    {"TM_RATE_IP_RPS", TM_CFG_INT, &g_cfg.rate_ip_rps, "100", 0, 1000000, false, false, NULL,
     "requests/s per client IP on unauthenticated routes (0 = no limit)"},
    {"TM_RATE_IP_BURST", TM_CFG_INT, &g_cfg.rate_ip_burst, "200", 1, 1000000, false, false, NULL,
     "burst per client IP"},
    {"TM_RATE_AUTH_RPS", TM_CFG_INT, &g_cfg.rate_auth_rps, "20", 0, 1000000, false, false, NULL,
     "login/register/refresh per client IP per second (0 = no limit)"},
    {"TM_RATE_AUTH_BURST", TM_CFG_INT, &g_cfg.rate_auth_burst, "100", 1, 1000000, false, false,
     NULL, "burst of login/register/refresh per client IP"},
    {"TM_MAX_CONNECTIONS", TM_CFG_INT, &g_cfg.max_connections, "30000", 1, 1000000, false, false,
     NULL, "open client connections per gateway (closed beyond)"},
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static int log_level_index; /* TM_CFG_ENUM target for TM_LOG_LEVEL */

static const tm_config_var_t *table(void)
{
    static tm_config_var_t t[NVARS];
    memcpy(t, vars, sizeof(vars));
    for (size_t i = 0; i < NVARS; i++)
        if (strcmp(t[i].name, "TM_LOG_LEVEL") == 0)
            t[i].target = &log_level_index;
    return t;
}

static char *read_small_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "TM_JWT_PUBLIC_KEY_FILE: cannot open '%s': %s", path,
                 strerror(errno));
        return NULL;
    }
    char *buf = tm_xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    fclose(f);
    if (n == 0 || n > KEY_FILE_MAX) {
        snprintf(err, errlen, "TM_JWT_PUBLIC_KEY_FILE: '%s' is empty or over 64 KiB", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int split_origins(gw_config_t *cfg, char *err, size_t errlen)
{
    const char *p = cfg->cors_origins_raw ? cfg->cors_origins_raw : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' '))
            p++, n--;
        size_t len = n;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            if (cfg->ncors == GW_MAX_CORS_ORIGINS || len == 1) {
                snprintf(err, errlen,
                         "TM_CORS_ORIGINS: at most %d explicit origins ('*' is not allowed)",
                         GW_MAX_CORS_ORIGINS);
                return TM_ERR_INVALID;
            }
            cfg->cors[cfg->ncors++] = tm_xstrndup(p, len);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return TM_OK;
}

static int check_key(gw_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->jwt_alg == GW_JWT_HS256) {
        if (cfg->jwt_secret == NULL || strlen(cfg->jwt_secret) < 32) {
            snprintf(err, errlen,
                     "TM_JWT_SECRET: required with TM_JWT_ALG=HS256, at least 32 bytes");
            return TM_ERR_INVALID;
        }
        return TM_OK;
    }
    if (cfg->jwt_public_key_file == NULL || cfg->jwt_public_key_file[0] == '\0') {
        snprintf(err, errlen, "TM_JWT_PUBLIC_KEY_FILE: required with TM_JWT_ALG=ES256");
        return TM_ERR_INVALID;
    }
    cfg->jwt_public_key_pem = read_small_file(cfg->jwt_public_key_file, err, errlen);
    if (cfg->jwt_public_key_pem == NULL)
        return TM_ERR_INVALID;
    char why[128] = "";
    gw_jwt_config_t jc = gw_config_jwt(cfg);
    gw_jwt_verifier_t *v = gw_jwt_verifier_new(&jc, why, sizeof(why));
    if (v == NULL) {
        snprintf(err, errlen, "TM_JWT_PUBLIC_KEY_FILE: %s", why);
        return TM_ERR_INVALID;
    }
    gw_jwt_verifier_free(v);
    return TM_OK;
}

/* The CPUs this process may run on (its affinity mask: a cpuset, taskset, a container's
 * --cpuset-cpus), else the online ones. More loops than that only take turns on the same
 * CPUs: each preempts the other at its next system call, and the requests of the one
 * waiting wait too. */
static long usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

int gw_config_load(gw_config_t *cfg, char *err, size_t errlen)
{
    memset(&g_cfg, 0, sizeof(g_cfg));
    int rc = tm_config_load(table(), NVARS, err, errlen);
    if (rc != TM_OK)
        return rc;
    if (g_cfg.threads == 0) {
        long n = usable_cpus();
        g_cfg.threads = n < 1 ? 1 : (n > 64 ? 64 : n);
    }
    if ((g_cfg.tls_cert && *g_cfg.tls_cert) != (g_cfg.tls_key && *g_cfg.tls_key)) {
        snprintf(err, errlen, "%s: TM_TLS_CERT and TM_TLS_KEY go together",
                 g_cfg.tls_cert && *g_cfg.tls_cert ? "TM_TLS_KEY" : "TM_TLS_CERT");
        rc = TM_ERR_INVALID;
    }
    static const char *levels[] = {"debug", "info", "warn", "error", "off"};
    g_cfg.log_level = tm_xstrdup(levels[log_level_index]);
    if (rc == TM_OK)
        rc = split_origins(&g_cfg, err, errlen);
    if (rc == TM_OK)
        rc = check_key(&g_cfg, err, errlen);
    *cfg = g_cfg;
    if (rc != TM_OK)
        gw_config_dispose(cfg);
    return rc;
}

void gw_config_log(const gw_config_t *cfg)
{
    (void)cfg;
    tm_config_log(table(), NVARS);
}

void gw_config_help(void)
{
    tm_config_print_help(table(), NVARS);
}

void gw_config_dispose(gw_config_t *cfg)
{
    tm_config_free(table(), NVARS);
    free(cfg->log_level);
    free(cfg->jwt_public_key_pem);
    for (size_t i = 0; i < cfg->ncors; i++)
        free(cfg->cors[i]);
    memset(cfg, 0, sizeof(*cfg));
    memset(&g_cfg, 0, sizeof(g_cfg));
}

gw_jwt_config_t gw_config_jwt(const gw_config_t *cfg)
{
    gw_jwt_config_t jc = {
        .alg = (gw_jwt_alg_t)cfg->jwt_alg,
        .public_key_pem = cfg->jwt_public_key_pem,
        .secret = cfg->jwt_secret,
        .secret_len = cfg->jwt_secret ? strlen(cfg->jwt_secret) : 0,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .leeway_s = cfg->jwt_leeway_ms / 1000,
    };
    return jc;
}

bool gw_config_cors_allowed(const gw_config_t *cfg, const char *origin, size_t len)
{
    for (size_t i = 0; i < cfg->ncors; i++)
        if (strlen(cfg->cors[i]) == len && memcmp(cfg->cors[i], origin, len) == 0)
            return true;
    return false;
}
