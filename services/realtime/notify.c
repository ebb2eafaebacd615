/* Notification handlers (list, read, read all) and announcements (admin). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "deliver.h"
#include "handlers.h"
#include "tm_log.h"
#include "tm_query.h"
#include "tm_util.h"

#define LIST_DEFAULT 50
#define LIST_MAX     100

typedef struct {
    bool unread;
    long limit;
    char cursor[32]; /* "" = first page; else the pos to continue below */
} list_query_t;

/* unread=true|false, limit=1..100, cursor=<digits>; false on a bad value (field named). */
static bool parse_list_query(const char *q, list_query_t *lq, tm_json_errors_t *errs)
{
    char v[32];
    memset(lq, 0, sizeof *lq);
    lq->limit = LIST_DEFAULT;
    long n = tm_query_get(q, "unread", v, sizeof v);
    if (n >= 0 && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        tm_json_errors_add(errs, "unread", "must be true or false");
    lq->unread = n >= 0 && strcmp(v, "true") == 0;
    if ((n = tm_query_get(q, "limit", v, sizeof v)) != -1) {
        char *end = NULL;
        lq->limit = n > 0 ? strtol(v, &end, 10) : 0;
        if (n <= 0 || *end || lq->limit < 1 || lq->limit > LIST_MAX)
            tm_json_errors_add(errs, "limit", "must be an integer from 1 to %d", LIST_MAX);
    }
    if ((n = tm_query_get(q, "cursor", v, sizeof v)) != -1) {
        bool digits = n > 0 && n < (long)sizeof lq->cursor && strspn(v, "0123456789") == (size_t)n;
        if (!digits)
            tm_json_errors_add(errs, "cursor", "is not a cursor from this endpoint");
        else
            snprintf(lq->cursor, sizeof lq->cursor, "%s", v);
    }
    return errs->count == 0;
}

static int unread_count(tm_pg_t *pg, const char *uid, int64_t *n)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "ntf_unread", 1, (const char *[]){uid}, &r, NULL);
    if (rc == TM_OK)
        *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return rc;
}

int rt_h_notifications(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep))
        return TM_OK;
    list_query_t lq;
    tm_json_errors_t errs = {0};
    if (!parse_list_query(tm_query_string(req->msg), &lq, &errs)) {
        tm_svc_reply_invalid(rep, req, &errs);
        return TM_OK;
    }
    char limit[24];
    snprintf(limit, sizeof limit, "%ld", lq.limit + 1);
    const char *p[] = {req->call.user_id, lq.unread ? "true" : "false",
                       lq.cursor[0] ? lq.cursor : NULL, limit};
    PGresult *r = NULL;
    int64_t unread = 0;
    int rc = tm_pg_exec(w->pg, "ntf_list", 4, p, &r, NULL);
    if (rc == TM_OK)
        rc = unread_count(w->pg, req->call.user_id, &unread);
    if (rc != TM_OK) {
        PQclear(r);
        return rc;
    }
    int n = PQntuples(r);
    bool more = n > lq.limit;
    json_t *data = json_array();
    for (int i = 0; i < (more ? (int)lq.limit : n); i++)
        json_array_append_new(data, rt_view_notification(r, i));
    json_t *next = more ? json_string(PQgetvalue(r, (int)lq.limit - 1, 7)) : json_null();
    PQclear(r);
    tm_svc_reply_json(rep, 200,
                      json_pack("{s:o, s:o, s:I}", "data", data, "next_cursor", next,
                                "unread_count", (json_int_t)unread));
    return TM_OK;
}

static void push_read(tm_svc_worker_t *w, const char *uid, const char *id, int64_t unread)
{
    json_t *op = id ? json_pack("{s:s, s:[s], s:I}", "op", "notification.read", "ids", id,
                                "unread_count", (json_int_t)unread)
                    : json_pack("{s:s, s:b, s:I}", "op", "notification.read", "all", 1,
                                "unread_count", (json_int_t)unread);
    rt_deliver_user(w->nc, uid, op);
    json_decref(op);
}

int rt_h_read(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep))
        return TM_OK;
    const char *id = tm_query_param(req->msg, "id");
    PGresult *r = NULL;
    int rc = TM_OK;
    if (id && tm_is_uuid(id))
        rc = tm_pg_exec(w->pg, "ntf_read", 2, (const char *[]){id, req->call.user_id}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        tm_svc_reply_problem(rep, req, 404, NULL, "no such notification");
        return TM_OK;
    }
    json_t *ntf = rt_view_notification(r, 0);
    PQclear(r);
    int64_t unread = 0;
    if ((rc = unread_count(w->pg, req->call.user_id, &unread)) != TM_OK) {
        json_decref(ntf);
        return rc;
    }
    push_read(w, req->call.user_id, tm_json_str(ntf, "id", ""), unread);
    tm_svc_reply_json(rep, 200, ntf);
    return TM_OK;
}

int rt_h_read_all(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep))
        return TM_OK;
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "ntf_read_all", 1, (const char *[]){req->call.user_id}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    long updated = atol(PQcmdTuples(r));
    PQclear(r);
    push_read(w, req->call.user_id, NULL, 0);
    tm_svc_reply_json(rep, 200,
                      json_pack("{s:I, s:i}", "updated", (json_int_t)updated, "unread_count", 0));
    return TM_OK;
}

static const tm_json_field_t announce_fields[] = {
    {"message", TM_JF_STRING, true, false, 1, 2000, 0, NULL},
    {"level", TM_JF_STRING, false, false, 0, 0, 0, "info|warning|critical"},
    {"starts_at", TM_JF_TIME, false, true, 0, 0, 0, NULL},
    {"ends_at", TM_JF_TIME, false, true, 0, 0, 0, NULL},
};

/* ends_at must be after starts_at (or after now when starts_at is absent). */
static bool window_ok(const json_t *body)
{
    const char *s = tm_json_str(body, "starts_at", NULL), *e = tm_json_str(body, "ends_at", NULL);
    int64_t start = tm_wall_ms(), end;
    if (!e)
        return true;
    if ((s && tm_parse_rfc3339(s, &start) != TM_OK) || tm_parse_rfc3339(e, &end) != TM_OK)
        return false;
    return end > start;
}

int rt_h_announce(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep))
        return TM_OK;
    if (strcmp(req->call.role, "admin") != 0) {
        tm_svc_reply_problem(rep, req, 403, NULL, "admins only");
        return TM_OK;
    }
    if (tm_svc_check_body(req, rep, announce_fields, 4) != TM_OK)
        return TM_OK;
    if (!window_ok(req->json)) {
        tm_json_errors_t errs = {0};
        tm_json_errors_add(&errs, "ends_at", "must be after starts_at and in the future");
        tm_svc_reply_invalid(rep, req, &errs);
        return TM_OK;
    }
    const char *p[] = {tm_json_str(req->json, "message", ""),
                       tm_json_str(req->json, "level", "info"),
                       tm_json_str(req->json, "starts_at", NULL),
                       tm_json_str(req->json, "ends_at", NULL), req->call.user_id};
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "ann_insert", 5, p, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (PQgetvalue(r, 0, 6)[0] == 't') {
        json_t *op = rt_op_announcement(r, 0);
        rt_deliver_all(w->nc, op);
        json_decref(op);
    }
    tm_svc_reply_json(rep, 201, rt_view_announcement(r, 0));
    PQclear(r);
    return TM_OK;
}
