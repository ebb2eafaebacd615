/* tm-realtime: wiring only. Configuration, logging, the service (rt_service), signals. */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "tm_lifecycle.h"
#include "tm_log.h"
#include "service.h"

static int usage(const char *arg)
{
    fprintf(stderr,
            "tm-realtime: unknown argument '%s' (configuration is TM_* environment "
            "variables; see --help)\n",
            arg);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("tm-realtime %s: presence, rooms, notifications for taskmesh\n", TM_VERSION);
        rt_config_print_help();
        return 0;
    }
    if (argc > 1)
        return usage(argv[1]);
    rt_config_t cfg;
    char err[256];
    if (rt_config_load(&cfg, err, sizeof err) != TM_OK) {
        fprintf(stderr, "tm-realtime: %s\n", err);
        rt_config_free(&cfg);
        return 2;
    }
    tm_log_init("realtime", (tm_log_level_t)cfg.log_level);
    rt_config_log(&cfg);
    tm_lifecycle_init();
    rt_service_t *svc = rt_service_start(&cfg);
    int rc = 1;
    if (svc) {
        tm_lifecycle_wait();
        rt_service_stop(svc);
        rc = 0;
    }
    rt_config_free(&cfg);
    nats_Close();
    return rc;
}
