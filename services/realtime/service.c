/* rt_service: see service.h. */
#include "service.h"

#include <stdlib.h>

#include "consumer.h"
#include "ctx.h"
#include "db.h"
#include "handlers.h"
#include "sweeper.h"
#include "tm_subjects.h"
#include "tm_svc.h"
#include "tm_util.h"

#define TYPING_KEYS        65536
#define MEMBER_KEYS        65536
#define HEARTBEAT_MAX_BODY (1024 * 1024)

static const tm_svc_route_t routes[] = {
    {.subject = TM_SUBJ_RT_CONNECT, .fn = rt_h_connect},
    {.subject = TM_SUBJ_RT_DISCONNECT, .fn = rt_h_disconnect},
    {.subject = TM_SUBJ_RT_HEARTBEAT, .fn = rt_h_heartbeat, .max_body = HEARTBEAT_MAX_BODY},
    {.subject = TM_SUBJ_RT_SUBSCRIBE, .fn = rt_h_subscribe},
    {.subject = TM_SUBJ_RT_RESUME, .fn = rt_h_resume},
    {.subject = TM_SUBJ_RT_TYPING, .fn = rt_h_typing},
    {.subject = TM_SUBJ_RT_PRESENCE, .fn = rt_h_presence},
    {.subject = TM_SUBJ_RT_NOTIFICATIONS, .fn = rt_h_notifications},
    {.subject = TM_SUBJ_RT_READ, .fn = rt_h_read},
    {.subject = TM_SUBJ_RT_READ_ALL, .fn = rt_h_read_all},
    {.subject = TM_SUBJ_RT_ANNOUNCE, .fn = rt_h_announce, .idempotent = true},
};

struct rt_service {
    rt_ctx_t ctx;
    tm_svc_config_t sc;
    tm_svc_t *svc;
    rt_consumer_t *consumer;
    rt_sweeper_t *sweeper;
};

static int worker_init(tm_svc_worker_t *w, void *arg)
{
    w->user = arg;
    return TM_OK;
}

static tm_svc_config_t svc_config(const rt_config_t *c, rt_ctx_t *ctx)
{
    return (tm_svc_config_t){
        .name = "realtime",
        .health_subject = TM_SUBJ_REALTIME_HEALTH,
        .nats_url = c->nats_url,
        .pg_conninfo = c->pg_url,
        .schema = c->schema,
        .migrations_dir = c->migrations_dir,
        .workers = (int)c->workers,
        .queue_cap = (int)c->queue_cap,
        .drain_timeout_ms = c->drain_timeout_ms,
        .admin_port = (int)c->admin_port,
        .stmts = rt_db_stmts,
        .nstmts = rt_db_nstmts,
        .routes = routes,
        .nroutes = sizeof routes / sizeof routes[0],
        .worker_init = worker_init,
        .arg = ctx,
    };
}

rt_service_t *rt_service_start(const rt_config_t *cfg)
{
    rt_service_t *s = tm_xcalloc(1, sizeof *s);
    s->ctx.cfg = cfg;
    s->ctx.typing = rt_ttlmap_new(TYPING_KEYS);
    s->ctx.member_cache = rt_ttlmap_new(MEMBER_KEYS);
    s->sc = svc_config(cfg, &s->ctx);
    s->svc = tm_svc_start(&s->sc);
    if (s->svc)
        s->consumer = rt_consumer_start(cfg, cfg->schema);
    if (s->consumer)
        s->sweeper = rt_sweeper_start(cfg, cfg->schema);
    if (!s->sweeper) {
        rt_service_stop(s);
        return NULL;
    }
    return s;
}

void rt_service_stop(rt_service_t *s)
{
    if (!s)
        return;
    tm_svc_stop(s->svc);
    rt_consumer_stop(s->consumer);
    rt_sweeper_stop(s->sweeper);
    rt_ttlmap_free(s->ctx.typing);
    rt_ttlmap_free(s->ctx.member_cache);
    free(s);
}
