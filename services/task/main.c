/* tm-task: wires identity (auth), workspaces and — when present — the task API (tasks.h)
 * into the tm_svc harness.
 *   tm-task                      run the daemon (configuration: TM_* variables, --help)
 *   tm-task promote EMAIL ROLE   set a user's global role directly (first admin) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "config.h"
#include "relay.h"
#include "tm_lifecycle.h"
#include "tm_log.h"
#include "tm_subjects.h"
#include "tm_svc.h"
#include "tm_util.h"
#include "workspaces.h"
#if __has_include("tasks.h")
#include "tasks.h"
#define TASK_HAS_API 1
#else
#define TASK_HAS_API 0
#endif

typedef struct {
    tm_svc_route_t *routes;
    size_t nroutes;
    tm_pg_stmt_t *stmts;
    size_t nstmts;
} tables_t;

static void append(void *dst, size_t *n, const void *src, size_t m, size_t size)
{
    memcpy((char *)dst + *n * size, src, m * size);
    *n += m;
}

/* One route table and one statement table out of every module's. */
static void tables_build(tables_t *t)
{
    size_t nr = auth_nroutes + workspaces_nroutes, ns = auth_nstmts + workspaces_nstmts;
#if TASK_HAS_API
    nr += tasks_nroutes;
    ns += tasks_nstmts;
#endif
    t->routes = tm_xcalloc(nr, sizeof *t->routes);
    t->stmts = tm_xcalloc(ns, sizeof *t->stmts);
    t->nroutes = t->nstmts = 0;
    append(t->routes, &t->nroutes, auth_routes, auth_nroutes, sizeof *t->routes);
    append(t->routes, &t->nroutes, workspaces_routes, workspaces_nroutes, sizeof *t->routes);
    append(t->stmts, &t->nstmts, auth_stmts, auth_nstmts, sizeof *t->stmts);
    append(t->stmts, &t->nstmts, workspaces_stmts, workspaces_nstmts, sizeof *t->stmts);
#if TASK_HAS_API
    append(t->routes, &t->nroutes, tasks_routes, tasks_nroutes, sizeof *t->routes);
    append(t->stmts, &t->nstmts, tasks_stmts, tasks_nstmts, sizeof *t->stmts);
#endif
}

static void bootstrap_admin(const task_config_t *cfg)
{
    tm_pg_t *pg = tm_pg_new(cfg->pg_url, "task", auth_stmts, auth_nstmts);
    if (tm_pg_ensure(pg) != TM_OK || users_bootstrap_admin(pg) != TM_OK)
        TM_WARN("TM_BOOTSTRAP_ADMIN_EMAIL: could not apply now (retried at next start)");
    tm_pg_free(pg);
}

static int promote(const char *email, const char *role)
{
    task_config_t cfg;
    char err[256];
    if (task_config_load_cli(&cfg, err, sizeof err) != TM_OK) {
        fprintf(stderr, "tm-task: %s\n", err);
        return 2;
    }
    tm_log_init("task", TM_LOG_WARN);
    int code = users_promote_cli(cfg.pg_url, email, role);
    task_config_free(&cfg);
    return code;
}

static tm_svc_t *start(const task_config_t *cfg, const tables_t *t, tm_svc_config_t *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->name = "task";
    sc->health_subject = TM_SUBJ_TASK_HEALTH;
    sc->nats_url = cfg->nats_url;
    sc->pg_conninfo = cfg->pg_url;
    sc->schema = "task";
    sc->migrations_dir = cfg->migrations_dir;
    sc->workers = (int)cfg->workers;
    sc->queue_cap = (int)cfg->queue_cap;
    sc->drain_timeout_ms = cfg->drain_timeout_ms;
    sc->admin_port = (int)cfg->admin_port;
    sc->routes = t->routes;
    sc->nroutes = t->nroutes;
    sc->stmts = t->stmts;
    sc->nstmts = t->nstmts;
    static const tm_svc_notice_t notices[] = {{TM_SUBJ_USER_CHANGED, users_on_changed}};
    sc->notices = notices;
    sc->nnotices = sizeof notices / sizeof *notices;
    return tm_svc_start(sc);
}

static relay_t *start_relay(const task_config_t *cfg)
{
    relay_config_t rc = {
        .nats_url = cfg->nats_url,
        .pg_conninfo = cfg->pg_url,
        .sweep_ms = cfg->relay_sweep_ms,
        .batch = (int)cfg->relay_batch,
        .retention_ms = cfg->outbox_retention_ms,
    };
    relay_t *r = relay_start(&rc);
    if (!r)
        TM_ERROR("outbox relay: could not start its thread");
    return r;
}

static int run(void)
{
    static task_config_t cfg;
    char err[512];
    tm_lifecycle_init();
    if (task_config_load(&cfg, err, sizeof err) != TM_OK) {
        fprintf(stderr, "tm-task: %s\n", err);
        return 2;
    }
    int level = tm_log_level_parse(cfg.log_level);
    tm_log_init("task", level < 0 ? TM_LOG_INFO : (tm_log_level_t)level);
    if (level < 0)
        TM_WARN("TM_LOG_LEVEL: unknown level '%s', using info", cfg.log_level);
    task_config_log(&cfg);
    int code = 1;
    tables_t t;
    tm_svc_config_t sc;
    if (auth_init(&cfg) != TM_OK)
        goto free_cfg;
    tables_build(&t);
    users_cache_init(&cfg);
    tm_svc_t *svc = start(&cfg, &t, &sc);
    if (svc) {
        users_cache_attach(tm_svc_nats(svc));
        bootstrap_admin(&cfg);
        relay_t *relay = start_relay(&cfg);
        int sig = tm_lifecycle_wait();
        tm_logf(TM_LOG_INFO, NULL, "stopping (signal %d)", sig);
        /* Unpublished rows stay in the outbox for the next active relay. */
        relay_stop(relay);
        tm_svc_stop(svc);
        code = relay ? 0 : 1;
    }
    users_cache_dispose();
    free(t.routes);
    free(t.stmts);
    auth_dispose();
free_cfg:
    task_config_free(&cfg);
    return code;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "promote") == 0)
        return promote(argv[2], argv[3]);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: tm-task            run the service\n"
               "       tm-task promote <email> <user|moderator|admin>\n\n");
        task_config_print_help();
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "tm-task: unexpected arguments (see --help)\n");
        return 2;
    }
    return run();
}
