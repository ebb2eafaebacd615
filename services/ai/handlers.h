/* ai_handlers: tm-ai's NATS routes (tm.v1.ai.*), run on the harness worker threads.
 *
 *  parse      {text, timezone?, now?} -> ai_parse_to_json + source
 *  insights   query timezone? -> ai_insights numbers (cached per user)
 *  recommend  query limit?, workspace_id? -> open tasks ranked by urgency (cached)
 *  suggest    {workspace_id?, context?, limit?} -> stored suggestions (rules or LLM; cached)
 *  accept     Tm-Param-id, {workspace_id?} -> creates the proposed tasks through tm-task
 *  reject     Tm-Param-id -> records the rejection
 * insights and recommend send a confirmed cache hit from the NATS reader thread (the
 * harness's fast path) and go to a worker otherwise.
 * Every route needs Tm-User-Id (401 otherwise) and sees only that user's data; another
 * user's suggestion is 404. Handlers reach the shared ai_app_t through w->user. */
#ifndef AI_HANDLERS_H
#define AI_HANDLERS_H

#include <jansson.h>
#include "cache.h"
#include "config.h"
#include "llm.h"
#include "projection.h"
#include "tm_svc.h"
#include "tsets.h"

typedef struct {
    const ai_config_t *cfg; /* read-only */
    ai_cache_t *cache;      /* thread-safe */
    ai_tsets_t *tsets;      /* thread-safe: the users' tasks in memory */
    ai_llm_t *llm;          /* NULL when TM_AI_PROVIDER=none */
} ai_app_t;

extern const tm_svc_route_t ai_routes[];
extern const size_t ai_nroutes;
/* Statements of the suggestion routes (the harness also needs ai_projection_stmts). */
extern const tm_pg_stmt_t ai_handler_stmts[];
extern const size_t ai_handler_nstmts;

/* Before the harness starts: the fast routes (insights, recommend answer their confirmed
 * cache hits on the NATS reader thread) read app's cache. */
void ai_handlers_init(ai_app_t *app);
/* worker_init for the harness: arg is the ai_app_t. */
int ai_handlers_worker_init(tm_svc_worker_t *w, void *arg);

/* Shared by handlers*.c. */
ai_app_t *ai_h_app(tm_svc_worker_t *w);
/* false (with a 401 reply) when the request has no valid Tm-User-Id. */
bool ai_h_user(const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* What a cache miss remembers for the put of the reply computed next. */
typedef struct {
    int64_t gen; /* the user's generation before the reply was computed; -1: do not store */
    uint64_t epoch;
} ai_h_cached_t;
/* The cached reply text for (user, key), with "cached": true (caller frees, or passes it to
 * ai_h_reply_cached); NULL on a miss, with *ctx filled for ai_h_cache_put. A hit confirmed
 * within AI_CACHE_RECHECK_MS costs no Postgres query. */
char *ai_h_cache_get(tm_svc_worker_t *w, const char *user, const char *key, ai_h_cached_t *ctx);
/* Store reply (its "cached" member is stored as true). */
void ai_h_cache_put(tm_svc_worker_t *w, const char *user, const char *key, const ai_h_cached_t *ctx,
                    json_t *reply);
/* The user's tasks for this request (ai_tsets_acquire with the worker's Postgres), at least
 * as new as the generation ctx read (so the reply is stored under a generation its data
 * has; ctx may be NULL). Hold them only while computing (a refresh waits for readers). */
int ai_h_tasks(tm_svc_worker_t *w, const char *user, const ai_h_cached_t *ctx,
               ai_tsets_ref_t *ref) TM_WUR;
void ai_h_tasks_done(tm_svc_worker_t *w, ai_tsets_ref_t *ref);
/* 200 with text (stolen) as the JSON body. */
void ai_h_reply_cached(tm_svc_reply_t *rep, char *text);
/* Reader thread (tm_svc_route_t.fast): rep filled from the cache when the caller's answer
 * under key is a hit confirmed within the recheck interval; false sends the request to a
 * worker. */
bool ai_h_fast_hit(const tm_svc_req_t *req, const char *key, tm_svc_reply_t *rep);
json_t *ai_h_time(int64_t ms); /* RFC 3339 string or null */

int ai_h_suggest(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
bool ai_h_suggest_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep);
int ai_h_accept(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int ai_h_reject(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);

#endif
