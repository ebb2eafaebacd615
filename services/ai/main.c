/* tm-ai: wiring only. Configuration, logging, the answer cache, the in-memory task sets,
 * the LLM client, the TM_EVENTS consumer, the service harness with the ai routes, signals. */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "config.h"
#include "consumer.h"
#include "edge.h"
#include "handlers.h"
#include "llm.h"
#include "projection.h"
#include "tm_util.h"
#include "tm_lifecycle.h"
#include "tm_log.h"
#include "tm_subjects.h"
#include "tm_svc.h"
#include "tsets.h"

static int usage(const char *arg)
{
    fprintf(stderr,
            "tm-ai: unknown argument '%s' (configuration is TM_* environment "
            "variables; see --help)\n",
            arg);
    return 2;
}

/* The harness prepares one list on every worker: projection reads + suggestion writes. */
static tm_pg_stmt_t *all_stmts(size_t *n)
{
    *n = ai_projection_nstmts + ai_handler_nstmts;
    tm_pg_stmt_t *s = tm_xcalloc(*n, sizeof *s);
    memcpy(s, ai_projection_stmts, ai_projection_nstmts * sizeof *s);
    memcpy(s + ai_projection_nstmts, ai_handler_stmts, ai_handler_nstmts * sizeof *s);
    return s;
}

static tm_svc_config_t svc_config(const ai_config_t *c, ai_app_t *app, const tm_pg_stmt_t *stmts,
                                  size_t nstmts)
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
        .stmts = stmts,
        .nstmts = nstmts,
        .routes = ai_routes,
        .nroutes = ai_nroutes,
        .worker_init = ai_handlers_worker_init,
        .arg = app,
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
    size_t nstmts;
    tm_pg_stmt_t *stmts = all_stmts(&nstmts);
    ai_app_t app = {
        .cfg = &cfg,
        .cache = ai_cache_new((size_t)cfg.cache_entries, cfg.cache_ttl_ms, AI_CACHE_RECHECK_MS),
        .tsets = ai_tsets_new((size_t)cfg.taskset_bytes, cfg.max_tasks, AI_CACHE_RECHECK_MS,
                              &ai_tsets_pg_source),
        .llm = ai_llm_new(&cfg)};
    /* the consumer drops a user's answers through the cache: the task sets hear it too */
    ai_cache_set_listener(app.cache, ai_tsets_on_invalidate, app.tsets);
    ai_edge_init(cfg.edge_max_age_ms, cfg.cache_ttl_ms);
    ai_handlers_init(&app);
    tm_svc_config_t sc = svc_config(&cfg, &app, stmts, nstmts);
    tm_svc_t *svc = tm_svc_start(&sc);
    int rc = 1;
    /* Task sets confirmed off the request path on a connection of their own (tsets.h),
     * every AI_CACHE_RECHECK_MS / 8: one check waited up to ~0.5 s for the CPU under load
     * (perf sched), and two checks in a row must still fit in one recheck window. */
    tm_pg_t *confirm_pg = tm_pg_new(cfg.pg_url, "ai", stmts, nstmts);
    ai_tsets_confirmer_t *confirmer =
        svc && cfg.taskset_bytes > 0
            ? ai_tsets_confirmer_start(app.tsets, confirm_pg, AI_CACHE_RECHECK_MS / 8)
            : NULL;
    if (svc) {
        ai_consumer_t *consumer = ai_consumer_start(cfg.nats_url, cfg.pg_url, cfg.consumer,
                                                    cfg.processed_keep_ms, app.cache);
        if (consumer)
            tm_lifecycle_wait();
        ai_consumer_stop(consumer);
        tm_svc_stop(svc);
        rc = consumer ? 0 : 1;
    }
    ai_tsets_confirmer_stop(confirmer);
    tm_pg_free(confirm_pg);
    ai_llm_free(app.llm);
    ai_cache_free(app.cache);
    ai_tsets_free(app.tsets);
    free(stmts);
    ai_config_free(&cfg);
    nats_Close();
    return rc;
}
