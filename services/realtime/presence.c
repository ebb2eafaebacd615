/* Presence: connect / disconnect / heartbeat / GET presence. The connections table is shared
 * by every replica; a per-user advisory transaction lock orders connects, disconnects and
 * expiry of one user so exactly one online and one offline transition is published. */
#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "ctx.h"
#include "deliver.h"
#include "handlers.h"
#include "tm_log.h"
#include "tm_query.h"
#include "tm_util.h"

#define MAX_HEARTBEAT_CONNS 20000

static json_t *devices_of(tm_pg_t *pg, const char *user_id)
{
    PGresult *r = NULL;
    json_t *out = json_array();
    if (tm_pg_exec(pg, "conn_devices", 1, (const char *[]){user_id}, &r, NULL) != TM_OK)
        return out;
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(out,
                              json_pack("{s:s, s:I}", "device", PQgetvalue(r, i, 0), "connections",
                                        (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10)));
    PQclear(r);
    return out;
}

int rt_presence_publish(natsConnection *nc, tm_pg_t *pg, const char *user_id, bool online)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "mem_workspaces", 1, (const char *[]){user_id}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    json_t *devices = online ? devices_of(pg, user_id) : json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        char room[64];
        snprintf(room, sizeof room, "workspace:%s", PQgetvalue(r, i, 0));
        json_t *op = json_pack("{s:s, s:s, s:s, s:b, s:O}", "op", "presence", "room", room,
                               "user_id", user_id, "online", online, "devices", devices);
        rt_deliver_room(nc, room, op, NULL);
        json_decref(op);
    }
    json_decref(devices);
    PQclear(r);
    return TM_OK;
}

static int count_user(tm_pg_t *pg, const char *user_id, int64_t *n)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "conn_count", 1, (const char *[]){user_id}, &r, NULL);
    if (rc == TM_OK)
        *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return rc;
}

static int lock_user(tm_pg_t *pg, const char *user_id)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "user_lock", 1, (const char *[]){user_id}, &r, NULL);
    PQclear(r);
    return rc;
}

/* Record the connection; *first = it is the user's only live one now. *clash = the
 * conn_id belongs to another user. */
static int record_conn(tm_pg_t *pg, const tm_svc_req_t *req, bool *first, bool *clash)
{
    const char *uid = req->call.user_id;
    const char *p[] = {tm_json_str(req->json, "conn_id", ""),
                       tm_json_str(req->json, "gateway_id", ""), uid,
                       tm_json_str(req->json, "device", "unknown")};
    PGresult *r = NULL;
    int64_t n = 0;
    int rc = tm_pg_begin(pg);
    if (rc == TM_OK)
        rc = lock_user(pg, uid);
    if (rc == TM_OK)
        rc = tm_pg_exec(pg, "conn_upsert", 4, p, &r, NULL);
    *clash = rc == TM_OK && PQntuples(r) == 0;
    bool inserted = rc == TM_OK && !*clash && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (rc == TM_OK && !*clash)
        rc = count_user(pg, uid, &n);
    if (rc != TM_OK || *clash) {
        tm_pg_rollback(pg);
        return rc;
    }
    *first = inserted && n == 1;
    return tm_pg_commit(pg, NULL);
}

static int connect_reply(tm_pg_t *pg, const char *uid, tm_svc_reply_t *rep)
{
    PGresult *a = NULL, *u = NULL;
    int rc = tm_pg_exec(pg, "ann_active", 0, NULL, &a, NULL);
    if (rc == TM_OK)
        rc = tm_pg_exec(pg, "ntf_unread", 1, (const char *[]){uid}, &u, NULL);
    if (rc == TM_OK) {
        json_t *anns = json_array();
        for (int i = 0; i < PQntuples(a); i++)
            json_array_append_new(anns, rt_view_announcement(a, i));
        tm_svc_reply_json(rep, 200,
                          json_pack("{s:o, s:I}", "announcements", anns, "unread",
                                    (json_int_t)strtoll(PQgetvalue(u, 0, 0), NULL, 10)));
    }
    PQclear(a);
    PQclear(u);
    return rc;
}

static const tm_json_field_t connect_fields[] = {
    {"conn_id", TM_JF_STRING, true, false, 1, 128, 0, NULL},
    {"gateway_id", TM_JF_STRING, true, false, 1, 128, 0, NULL},
    {"device", TM_JF_STRING, false, true, 0, 64, 0, NULL},
};

int rt_h_connect(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep) || tm_svc_check_body(req, rep, connect_fields, 3) != TM_OK)
        return TM_OK;
    bool first = false, clash = false;
    int rc = record_conn(w->pg, req, &first, &clash);
    if (rc != TM_OK)
        return rc;
    if (clash) {
        tm_svc_reply_problem(rep, req, 409, NULL, "conn_id is in use");
        return TM_OK;
    }
    if (first && rt_presence_publish(w->nc, w->pg, req->call.user_id, true) != TM_OK)
        TM_WARN("realtime: presence online not published");
    return connect_reply(w->pg, req->call.user_id, rep);
}

static const tm_json_field_t disconnect_fields[] = {
    {"conn_id", TM_JF_STRING, true, false, 1, 128, 0, NULL},
    {"gateway_id", TM_JF_STRING, true, false, 1, 128, 0, NULL},
};

/* Remove the connection; *uid gets its user and *last whether none is left. */
static int drop_conn(tm_pg_t *pg, const tm_svc_req_t *req, char uid[37], bool *last)
{
    const char *p[] = {tm_json_str(req->json, "conn_id", ""),
                       tm_json_str(req->json, "gateway_id", "")};
    PGresult *r = NULL;
    int64_t n = 1;
    *last = false;
    uid[0] = '\0';
    int rc = tm_pg_begin(pg);
    if (rc == TM_OK)
        rc = tm_pg_exec(pg, "conn_delete", 2, p, &r, NULL);
    if (rc == TM_OK && PQntuples(r) > 0)
        snprintf(uid, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (rc == TM_OK && uid[0])
        rc = lock_user(pg, uid);
    if (rc == TM_OK && uid[0])
        rc = count_user(pg, uid, &n);
    if (rc != TM_OK) {
        tm_pg_rollback(pg);
        return rc;
    }
    *last = uid[0] && n == 0;
    return tm_pg_commit(pg, NULL);
}

int rt_h_disconnect(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, disconnect_fields, 2) != TM_OK)
        return TM_OK;
    char uid[37];
    bool last;
    int rc = drop_conn(w->pg, req, uid, &last);
    if (rc != TM_OK)
        return rc;
    if (last && rt_presence_publish(w->nc, w->pg, uid, false) != TM_OK)
        TM_WARN("realtime: presence offline not published");
    tm_svc_reply_json(rep, 200, json_pack("{s:b}", "removed", uid[0] != '\0'));
    return TM_OK;
}

static const tm_json_field_t heartbeat_fields[] = {
    {"gateway_id", TM_JF_STRING, true, false, 1, 128, 0, NULL},
    {"conns", TM_JF_STRING_ARRAY, true, false, 1, 128, MAX_HEARTBEAT_CONNS, NULL},
};

int rt_h_heartbeat(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, heartbeat_fields, 2) != TM_OK)
        return TM_OK;
    char *conns = tm_json_dumps(json_object_get(req->json, "conns"), NULL);
    const char *p[] = {tm_json_str(req->json, "gateway_id", ""), conns};
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "conn_touch", 2, p, &r, NULL);
    free(conns);
    if (rc == TM_OK)
        tm_svc_reply_json(rep, 200, json_pack("{s:i}", "refreshed", atoi(PQcmdTuples(r))));
    PQclear(r);
    return rc;
}

/* Rows (user, device|NULL, connections, last_seen|NULL) ordered by user -> data[]. */
static json_t *presence_rows(const PGresult *r)
{
    json_t *data = json_array(), *cur = NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *uid = PQgetvalue(r, i, 0);
        if (!cur || strcmp(tm_json_str(cur, "user_id", ""), uid) != 0) {
            cur = json_pack("{s:s, s:b, s:[], s:n}", "user_id", uid, "online", 0, "devices",
                            "last_seen");
            json_array_append_new(data, cur);
        }
        if (PQgetisnull(r, i, 1))
            continue;
        json_object_set_new(cur, "online", json_true());
        json_object_set_new(cur, "last_seen", json_string(PQgetvalue(r, i, 3)));
        json_array_append_new(json_object_get(cur, "devices"),
                              json_pack("{s:s, s:I}", "device", PQgetvalue(r, i, 1), "connections",
                                        (json_int_t)strtoll(PQgetvalue(r, i, 2), NULL, 10)));
    }
    return data;
}

int rt_h_presence(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!rt_h_need_user(req, rep))
        return TM_OK;
    const char *ws = tm_query_param(req->msg, "id");
    int rc = ws && tm_is_uuid(ws) ? rt_access_workspace(w, &req->call, ws) : TM_ERR_NOT_FOUND;
    if (rc == TM_ERR_NOT_FOUND) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such workspace");
        return TM_OK;
    }
    if (rc != TM_OK)
        return rc;
    PGresult *r = NULL;
    if ((rc = tm_pg_exec(w->pg, "presence_list", 1, (const char *[]){ws}, &r, NULL)) != TM_OK)
        return rc;
    tm_svc_reply_json(rep, 200, json_pack("{s:o}", "data", presence_rows(r)));
    PQclear(r);
    return TM_OK;
}
