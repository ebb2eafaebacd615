/* Room handlers: subscribe, resume (history replay), typing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "ctx.h"
#include "deliver.h"
#include "handlers.h"
#include "room.h"
#include "tm_log.h"
#include "tm_util.h"

#define RESUME_MAX      500
#define MEMBER_CACHE_MS 30000

bool rt_h_need_user(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_is_uuid(req->call.user_id))
        return true;
    tm_svc_reply_problem(rep, req, 401, NULL, "authentication required");
    return false;
}

/* Parse the body's room and check access; on refusal rep holds the problem and *ok=false. */
static int open_room(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                     rt_room_t *room, char ws[37], bool *ok)
{
    *ok = false;
    if (rt_room_parse(tm_json_str(req->json, "room", NULL), room) != TM_OK) {
        tm_json_errors_t errs = {0};
        tm_json_errors_add(&errs, "room", "must be workspace:<uuid> or task:<uuid>");
        tm_svc_reply_invalid(rep, req, &errs);
        return TM_OK;
    }
    int rc = rt_access_room(w, &req->call, room, ws);
    if (rc == TM_ERR_NOT_FOUND) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such room");
        return TM_OK;
    }
    *ok = rc == TM_OK;
    return rc;
}

static int one_int(tm_pg_t *pg, const char *stmt, const char *arg, int64_t *out)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, stmt, 1, (const char *[]){arg}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    *out = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return TM_OK;
}

/* head (last seq of the room) and oldest (first seq kept in the room's workspace). */
static int room_bounds(tm_pg_t *pg, const rt_room_t *room, const char *ws, int64_t *oldest,
                       int64_t *head)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "room_ws_bounds", 1, (const char *[]){ws}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    *oldest = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *head = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    if (room->kind == RT_ROOM_TASK)
        rc = one_int(pg, "room_task_head", room->id, head);
    return rc;
}

static const tm_json_field_t room_fields[] = {
    {"room", TM_JF_STRING, true, false, 1, RT_ROOM_MAX, 0, NULL},
};

int rt_h_subscribe(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep) || tm_svc_check_body(req, rep, room_fields, 1) != TM_OK)
        return TM_OK;
    rt_room_t room;
    char ws[37];
    bool ok;
    int rc = open_room(w, req, rep, &room, ws, &ok);
    if (rc != TM_OK || !ok)
        return rc;
    int64_t oldest, head;
    if ((rc = room_bounds(w->pg, &room, ws, &oldest, &head)) != TM_OK)
        return rc;
    tm_svc_reply_json(rep, 200,
                      json_pack("{s:s, s:I}", "room", room.name, "head_seq", (json_int_t)head));
    return TM_OK;
}

static json_t *page_events(const PGresult *r, const char *room, int n)
{
    json_t *events = json_array();
    for (int i = 0; i < n; i++) {
        json_t *data = json_loads(PQgetvalue(r, i, 3), 0, NULL);
        json_array_append_new(events, rt_op_event(room, strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                                  PQgetvalue(r, i, 2), data, PQgetvalue(r, i, 1),
                                                  PQgetvalue(r, i, 4)));
        json_decref(data);
    }
    return events;
}

/* Last seq after since with no hole in the workspace's history (see room_ws_contig). */
static int contiguous_end(tm_pg_t *pg, const char *ws, const char *since, char out[24])
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "room_ws_contig", 2, (const char *[]){ws, since}, &r, NULL);
    if (rc == TM_OK)
        snprintf(out, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* One page of events after since, never past a seq whose predecessor is not stored yet: a
 * replay must not skip an event that a slower consumer is still committing. */
static int resume_page(tm_svc_worker_t *w, const rt_room_t *room, const char *ws, int64_t since,
                       int64_t limit, int64_t head, tm_svc_reply_t *rep)
{
    char s_since[24], s_limit[24], s_end[24];
    snprintf(s_since, sizeof s_since, "%lld", (long long)since);
    snprintf(s_limit, sizeof s_limit, "%lld", (long long)limit + 1);
    int rc = contiguous_end(w->pg, ws, s_since, s_end);
    if (rc != TM_OK)
        return rc;
    const char *p[] = {room->id, s_since, s_limit, s_end};
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, room->kind == RT_ROOM_TASK ? "room_task_page" : "room_ws_page", 4, p, &r,
                    NULL);
    if (rc != TM_OK)
        return rc;
    int n = PQntuples(r);
    bool more = n > limit;
    json_t *events = page_events(r, room->name, more ? (int)limit : n);
    PQclear(r);
    tm_svc_reply_json(rep, 200,
                      json_pack("{s:s, s:b, s:o, s:I, s:b}", "room", room->name, "ok", 1, "events",
                                events, "head_seq", (json_int_t)head, "has_more", more));
    return TM_OK;
}

static const tm_json_field_t resume_fields[] = {
    {"room", TM_JF_STRING, true, false, 1, RT_ROOM_MAX, 0, NULL},
    {"since", TM_JF_INT, true, false, 0, INT64_MAX, 0, NULL},
    {"limit", TM_JF_INT, false, false, 1, RESUME_MAX, 0, NULL},
};

int rt_h_resume(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep) || tm_svc_check_body(req, rep, resume_fields, 3) != TM_OK)
        return TM_OK;
    rt_room_t room;
    char ws[37];
    bool ok;
    int rc = open_room(w, req, rep, &room, ws, &ok);
    if (rc != TM_OK || !ok)
        return rc;
    int64_t since = tm_json_int(req->json, "since", 0);
    int64_t limit = tm_json_int(req->json, "limit", RESUME_MAX);
    int64_t oldest, head;
    if ((rc = room_bounds(w->pg, &room, ws, &oldest, &head)) != TM_OK)
        return rc;
    /* Events since+1 .. oldest-1 were pruned (or never seen): a silent gap is not allowed. */
    if (oldest > 0 && since + 1 < oldest && since < head) {
        tm_svc_reply_json(rep, 200,
                          json_pack("{s:s, s:b, s:I, s:I}", "room", room.name, "ok", 0,
                                    "oldest_seq", (json_int_t)oldest, "head_seq",
                                    (json_int_t)head));
        return TM_OK;
    }
    return resume_page(w, &room, ws, since, limit, head, rep);
}

static const tm_json_field_t typing_fields[] = {
    {"room", TM_JF_STRING, true, false, 1, RT_ROOM_MAX, 0, NULL},
    {"task_id", TM_JF_UUID, false, true, 0, 0, 0, NULL},
};

/* Membership for typing, cached: typing arrives often and must stay cheap. */
static bool typing_allowed(tm_svc_worker_t *w, const tm_svc_req_t *req, const rt_room_t *room)
{
    rt_ctx_t *ctx = w->user;
    char key[RT_TTLMAP_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", req->call.user_id, room->name);
    int64_t now = tm_now_ms();
    if (rt_ttlmap_live(ctx->member_cache, key, now))
        return true;
    char ws[37];
    if (rt_access_room(w, &req->call, room, ws) != TM_OK)
        return false;
    rt_ttlmap_put(ctx->member_cache, key, now, MEMBER_CACHE_MS);
    return true;
}

int rt_h_typing(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    rt_ctx_t *ctx = w->user;
    if (!rt_h_need_user(req, rep) || tm_svc_check_body(req, rep, typing_fields, 2) != TM_OK)
        return TM_OK;
    rt_room_t room;
    if (rt_room_parse(tm_json_str(req->json, "room", NULL), &room) != TM_OK ||
        !typing_allowed(w, req, &room)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such room");
        return TM_OK;
    }
    char key[RT_TTLMAP_KEY_MAX];
    snprintf(key, sizeof key, "%s|%s", req->call.user_id, room.name);
    if (!rt_ttlmap_take(ctx->typing, key, tm_now_ms(), ctx->cfg->typing_interval_ms)) {
        tm_svc_reply_json(rep, 202, json_pack("{s:b}", "throttled", 1));
        return TM_OK;
    }
    const char *task = tm_json_str(req->json, "task_id", NULL);
    json_t *op = json_pack("{s:s, s:s, s:s, s:o}", "op", "typing", "room", room.name, "user_id",
                           req->call.user_id, "task_id", task ? json_string(task) : json_null());
    rt_deliver_room(w->nc, room.name, op, req->call.user_id);
    json_decref(op);
    tm_svc_reply_json(rep, 202, json_pack("{s:b}", "throttled", 0));
    return TM_OK;
}
