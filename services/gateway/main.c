/* tm-gateway: wires config, logging, the HTTP server, the admin listener and shutdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config.h"
#include "server.h"
#include "tm_admin.h"
#include "tm_lifecycle.h"
#include "tm_log.h"
#include "upstream.h"

static bool admin_ready(void *ctx, json_t *checks)
{
    gw_server_t *s = ctx;
    json_object_set_new(checks, "nats", json_boolean(gw_upstream_connected(s)));
    json_object_set_new(checks, "draining", json_boolean(atomic_load(&s->draining)));
    return gw_server_ready(s);
}

static tm_log_level_t initial_log_level(void)
{
    const char *v = getenv("TM_LOG_LEVEL");
    int level = v && *v ? tm_log_level_parse(v) : TM_LOG_INFO;
    return level < 0 ? TM_LOG_INFO : (tm_log_level_t)level;
}

int main(int argc, char **argv)
{
    gw_config_t cfg;
    char err[512];
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        gw_config_help();
        return 0;
    }
    tm_log_init("gateway", initial_log_level());
    if (gw_config_load(&cfg, err, sizeof(err)) != TM_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "bad configuration: %s", err);
        fprintf(stderr, "tm-gateway: %s\n", err);
        return 2;
    }
    gw_config_log(&cfg);
    tm_lifecycle_init();
    gw_server_t *s = gw_server_start(&cfg);
    if (s == NULL) {
        gw_config_dispose(&cfg);
        return 1;
    }
    tm_admin_t *admin = tm_admin_start(cfg.http_host, (int)cfg.admin_port, admin_ready, s);
    if (admin == NULL)
        tm_logf(TM_LOG_WARN, NULL, "TM_ADMIN_PORT: admin listener not started");
    int sig = tm_lifecycle_wait();
    tm_logf(TM_LOG_INFO, NULL, "stopping (signal %d): draining for up to %lld ms", sig,
            (long long)cfg.drain_timeout_ms);
    if (admin != NULL)
        tm_admin_set_draining(admin);
    gw_server_stop(s);
    /* Not tm_admin_stop(): with a keep-alive client still connected to the admin port it
     * trips h2o's h2o_timeout_dispose assertion (libcommon/tm_admin.c, reported); the
     * admin thread ends with the process. */
    gw_config_dispose(&cfg);
    tm_logf(TM_LOG_INFO, NULL, "stopped");
    return 0;
}
