/* tm-ai: wiring only. Configuration, logging, the service harness, signals. */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "tm_lifecycle.h"
#include "tm_log.h"
#include "tm_subjects.h"
#include "tm_svc.h"

static int usage(const char *arg)
{
    fprintf(stderr, "tm-ai: unknown argument '%s' (configuration is TM_* environment "
                    "variables; see --help)\n", arg);
    return 2;
}

static tm_svc_config_t svc_config(const ai_config_t *c)
{
    return (tm_svc_config_t){
        .name = "ai",
        .health_subject = TM_SUBJ_AI_HEALTH,
        .nats_url = c->nats_url,
        .pg_conninfo = c->pg_url,
        .schema = "ai",
        .migrations_dir = c->migrations_dir,
        .workers = (int)c->workers,
        .queue_cap = (int)c->queue_cap,
        .drain_timeout_ms = c->drain_timeout_ms,
        .admin_port = (int)c->admin_port,
    };
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("tm-ai %s: analytics, suggestions, quick-add parsing for taskmesh\n", TM_VERSION);
        ai_config_print_help();
        return 0;
    }
    if (argc > 1)
        return usage(argv[1]);
    ai_config_t cfg;
    char err[256];
    if (ai_config_load(&cfg, err, sizeof err) != TM_OK) {
        fprintf(stderr, "tm-ai: %s\n", err);
        ai_config_free(&cfg);
        return 2;
    }
    tm_log_init("ai", (tm_log_level_t)cfg.log_level);
    ai_config_log(&cfg);
    tm_lifecycle_init();
    tm_svc_config_t sc = svc_config(&cfg);
    tm_svc_t *svc = tm_svc_start(&sc);
    int rc = 1;
    if (svc) {
        tm_lifecycle_wait();
        tm_svc_stop(svc);
        rc = 0;
    }
    ai_config_free(&cfg);
    nats_Close();
    return rc;
}
