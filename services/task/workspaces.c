/* workspaces: create, list and get, the shared membership helpers, and the route and
 * statement tables of workspaces and members. */
#include "workspaces.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "outbox.h"
#include "tm_query.h"
#include "tm_subjects.h"
#include "tm_util.h"

#define WS_LIST_MAX "500"

static const tm_json_field_t create_fields[] = {
    {"name", TM_JF_STRING, true, false, 1, 200, 0, NULL},
};

/* {id, name, role, created_at, member_count} from a ws_list/ws_get row. */
static json_t *ws_json(const PGresult *r, int row)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", PQgetvalue(r, row, 0), "name",
                     PQgetvalue(r, row, 1), "role", PQgetvalue(r, row, 2), "created_at",
                     PQgetvalue(r, row, 3), "member_count",
                     (json_int_t)strtoll(PQgetvalue(r, row, 4), NULL, 10));
}

int workspaces_event(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *ws_id,
                     const char *type, const char *user_id, const char *role)
{
    json_t *payload =
        json_pack("{s:s, s:s, s:s}", "workspace_id", ws_id, "user_id", user_id, "role", role);
    int64_t seq;
    char event_id[37];
    int rc = outbox_append(w->pg, ws_id, type, req->call.user_id, payload, &seq, event_id);
    json_decref(payload);
    return rc;
}

int workspaces_caller_role(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                           const char **ws_id, ws_role_t *role)
{
    *ws_id = tm_query_param(req->msg, "id");
    int rc = access_workspace_role(w->pg, *ws_id, req->call.user_id, role);
    if (rc == TM_OK && *role == WS_ROLE_NONE)
        tm_svc_reply_problem(rep, req, 404, NULL, "no such workspace");
    return rc;
}

static int insert_workspace(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *uid,
                            PGresult **ws)
{
    const char *name = tm_json_str(req->json, "name", "");
    int rc = tm_pg_exec(w->pg, "ws_insert", 2, (const char *[]){name, uid}, ws, NULL);
    if (rc != TM_OK)
        return rc;
    const char *id = PQgetvalue(*ws, 0, 0);
    PGresult *m = NULL;
    rc = tm_pg_exec(w->pg, "ws_member_insert", 3, (const char *[]){id, uid, "owner"}, &m, NULL);
    PQclear(m);
    if (rc == TM_OK)
        rc = workspaces_event(w, req, id, "workspace.created", uid, "owner");
    return rc;
}

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

int workspaces_create(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid || tm_svc_check_body(req, rep, create_fields, 1) != TM_OK)
        return TM_OK;
    if (is_blank(tm_json_str(req->json, "name", ""))) {
        tm_json_errors_t errs;
        memset(&errs, 0, sizeof errs);
        tm_json_errors_add(&errs, "name", "must not be blank");
        tm_svc_reply_invalid(rep, req, &errs);
        return TM_OK;
    }
    PGresult *ws = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    rc = insert_workspace(w, req, uid, &ws);
    if (rc == TM_OK)
        rc = tm_pg_commit(w->pg, NULL);
    else
        tm_pg_rollback(w->pg);
    if (rc == TM_OK)
        tm_svc_reply_json(rep, 201, ws_json(ws, 0));
    PQclear(ws);
    return rc;
}

int workspaces_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid)
        return TM_OK;
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "ws_list", 1, (const char *[]){uid}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    json_t *data = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(data, ws_json(r, i));
    PQclear(r);
    tm_svc_reply_json(rep, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
    return TM_OK;
}

int workspaces_get(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid)
        return TM_OK;
    const char *id = tm_query_param(req->msg, "id");
    if (!id || !tm_is_uuid(id)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such workspace");
        return TM_OK;
    }
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "ws_get", 2, (const char *[]){id, uid}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) == 0)
        tm_svc_reply_problem(rep, req, 404, NULL, "no such workspace");
    else
        tm_svc_reply_json(rep, 200, ws_json(r, 0));
    PQclear(r);
    return TM_OK;
}

const tm_svc_route_t workspaces_routes[] = {
    {.subject = TM_SUBJ_WS_CREATE, .fn = workspaces_create, .max_body = 4096, .idempotent = true},
    {.subject = TM_SUBJ_WS_LIST, .fn = workspaces_list, .max_body = 4096},
    {.subject = TM_SUBJ_WS_GET, .fn = workspaces_get, .max_body = 4096},
    {.subject = TM_SUBJ_WS_MEMBERS, .fn = members_list, .max_body = 4096},
    {.subject = TM_SUBJ_WS_ADD_MEMBER, .fn = members_add, .max_body = 4096, .idempotent = true},
    {.subject = TM_SUBJ_WS_REMOVE_MEMBER,
     .fn = members_remove,
     .max_body = 4096,
     .idempotent = true},
};
const size_t workspaces_nroutes = sizeof workspaces_routes / sizeof *workspaces_routes;

#define WS_COLS                                                                                    \
    "w.id, w.name, m.role, " AUTH_TS(                                                              \
        "w.created_at") ", (SELECT count(*) FROM task.members c WHERE c.workspace_id = w.id)"
#define MEMBER_COLS "m.user_id, u.email, u.display_name, m.role, " AUTH_TS("m.added_at")

const tm_pg_stmt_t workspaces_stmts[] = {
    {"access_member_role", "SELECT role FROM task.members WHERE workspace_id = $1 AND user_id = $2",
     2},
    {"ws_insert",
     "INSERT INTO task.workspaces AS w (name, created_by) VALUES ($1, $2) "
     "RETURNING w.id, w.name, 'owner', " AUTH_TS("w.created_at") ", 1",
     2},
    {"ws_member_insert",
     "INSERT INTO task.members (workspace_id, user_id, role) VALUES ($1, $2, $3)", 3},
    {"ws_list",
     "SELECT " WS_COLS " FROM task.members m JOIN task.workspaces w ON w.id = m.workspace_id "
     "WHERE m.user_id = $1 ORDER BY w.created_at, w.id LIMIT " WS_LIST_MAX,
     1},
    {"ws_get",
     "SELECT " WS_COLS " FROM task.members m JOIN task.workspaces w ON w.id = m.workspace_id "
     "WHERE w.id = $1 AND m.user_id = $2",
     2},
    {"ws_lock", "SELECT id FROM task.workspaces WHERE id = $1 FOR UPDATE", 1},
    {"ws_members",
     "SELECT " MEMBER_COLS " FROM task.members m JOIN task.users u ON u.id = m.user_id "
     "WHERE m.workspace_id = $1 ORDER BY m.added_at, m.user_id LIMIT 1000",
     1},
    {"ws_member_get",
     "SELECT " MEMBER_COLS " FROM task.members m JOIN task.users u ON u.id = m.user_id "
     "WHERE m.workspace_id = $1 AND m.user_id = $2",
     2},
    {"ws_member_update",
     "UPDATE task.members SET role = $3 WHERE workspace_id = $1 AND user_id = $2", 3},
    {"ws_member_delete", "DELETE FROM task.members WHERE workspace_id = $1 AND user_id = $2", 2},
    {"ws_owner_count",
     "SELECT count(*) FROM task.members WHERE workspace_id = $1 AND role = 'owner'", 1},
    {"ws_user_lookup",
     "SELECT id FROM task.users WHERE ($1::uuid IS NOT NULL AND id = $1::uuid) "
     "OR ($2::text IS NOT NULL AND lower(email) = $2)",
     2},
};
const size_t workspaces_nstmts = sizeof workspaces_stmts / sizeof *workspaces_stmts;
