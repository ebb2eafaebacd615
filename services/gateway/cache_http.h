/* gw_cache_http: the response cache (cache.h) at the HTTP edge.
 *
 * Cached: GET replies (200) of /api/v1/tasks/{id}, /api/v1/tasks?workspace_id=..,
 * /api/v1/workspaces, /api/v1/workspaces/{id} and /api/v1/workspaces/{id}/members, keyed
 * by user, role, path and sorted query; and GET /api/v1/ai/insights,
 * /api/v1/ai/recommendations and POST /api/v1/ai/suggestions (keyed by its body too: at most
 * 1 KiB, no Idempotency-Key) when tm-ai's reply carries a Tm-Cache hint (for its max-age at
 * most), tagged "a:<user>" and "a:*". Tags: the user ("u:"), the workspace ("w:", from
 * the task reply's workspace_id, the list's workspace_id filter, the path parameter, or
 * every workspace of a workspace list) and the task ("t:").
 * Invalidated: by every authenticated write through this gateway before its reply is sent
 * (the writer's user, the task / workspace of the path, the reply's workspace_id); by
 * events on tm.v1.evt.<workspace>.<type> (the workspace; member.* events also the
 * member's user); by tm.v1.ai.dropped (tm-ai's answers, kept only when its reply says
 * Tm-Cache); by TM_CACHE_TTL; and wholly after a NATS disconnect or reconnect (events may
 * have been missed meanwhile). Replies carry X-Cache: HIT or MISS; a hit whose ETag
 * matches If-None-Match is a 304. Loop threads, except start/stop (main thread). */
#ifndef GW_CACHE_HTTP_H
#define GW_CACHE_HTTP_H

#include <h2o.h>
#include <nats/nats.h>
#include "cache.h"
#include "http.h"
#include "routes.h"
#include "server.h"
#include "tm_error.h"

/* What a forwarded request remembers for the cache until its reply (zeroed = nothing). */
typedef struct {
    int rule;   /* how to tag a read; 0 = not cached */
    bool write; /* invalidate when it ends */
    char *key;  /* malloc'd cache key of a read */
    size_t klen;
    uint64_t epoch;
    uint64_t nats_epoch; /* tm_nats_epoch() at the start: no store across a NATS disconnect */
    uint32_t tags[GW_CACHE_MAX_TAGS];
    int ntags;
} gw_cache_ticket_t;

/* Create the cache and its metrics (main thread, before the loops start). */
void gw_cache_http_init(gw_server_t *s);
/* Subscribe to tm.v1.evt.> on s->nc_events (after gw_upstream_start). Logs on error. */
int gw_cache_http_subscribe(gw_server_t *s) TM_WUR;
/* Unsubscribe (before gw_upstream_stop). */
void gw_cache_http_unsubscribe(gw_server_t *s);

/* Before forwarding: true if the request was answered from the cache. Otherwise tk is
 * filled for gw_cache_http_end. */
bool gw_cache_http_begin(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r,
                         const gw_params_t *params, const gw_jwt_claims_t *c,
                         const gw_http_log_t *lg, gw_cache_ticket_t *tk);
/* When the forwarded request ends, before its reply is sent: invalidates (writes), stores
 * (reads answered 200), adds X-Cache: MISS (req NULL when the client is gone; msg NULL on
 * timeout). Frees what tk holds. */
void gw_cache_http_end(gw_thread_t *t, h2o_req_t *req, gw_cache_ticket_t *tk, natsMsg *msg);
/* Free what tk holds (request ended without gw_cache_http_end). */
void gw_cache_http_dispose(gw_cache_ticket_t *tk);
/* GET (figures) and DELETE (drop everything) /api/v1/admin/cache. */
void gw_cache_http_admin(gw_thread_t *t, h2o_req_t *req, const gw_http_log_t *lg);

#endif
