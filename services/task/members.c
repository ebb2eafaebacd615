/* members: list, add (or change the role of) and remove workspace members.
 * Membership changes lock the workspace row first (ws_lock) so the "last owner" rule holds
 * under concurrent requests; the caller's role is read after the lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "tm_query.h"
#include "tm_util.h"
#include "workspaces.h"

static const tm_json_field_t add_fields[] = {
    {"user_id", TM_JF_UUID, false, false, 0, 0, 0, NULL},
    {"email", TM_JF_STRING, false, false, 1, 320, 0, NULL},
    {"role", TM_JF_STRING, true, false, 0, 0, 0, "owner|editor|viewer"},
};

static json_t *member_json(const PGresult *r, int row)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", PQgetvalue(r, row, 0), "email",
                     PQgetvalue(r, row, 1), "display_name", PQgetvalue(r, row, 2), "role",
                     PQgetvalue(r, row, 3), "added_at", PQgetvalue(r, row, 4));
}

int members_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *ws_id;
    ws_role_t role;
    if (!auth_require_user(req, rep))
        return TM_OK;
    int rc = workspaces_caller_role(w, req, rep, &ws_id, &role);
    if (rc != TM_OK || role == WS_ROLE_NONE)
        return rc;
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, "ws_members", 1, (const char *[]){ws_id}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    json_t *data = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(data, member_json(r, i));
    PQclear(r);
    tm_svc_reply_json(rep, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
    return TM_OK;
}

/* Begin, lock the workspace, read the caller's role. On NONE (404 in rep) or an error the
 * transaction is rolled back; otherwise it stays open for the caller. */
static int lock_workspace(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                          const char **ws_id, ws_role_t *role)
{
    *role = WS_ROLE_NONE;
    *ws_id = tm_query_param(req->msg, "id");
    if (!*ws_id || !tm_is_uuid(*ws_id)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such workspace");
        return TM_OK;
    }
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, "ws_lock", 1, (const char *[]){*ws_id}, &r, NULL);
    PQclear(r);
    if (rc == TM_OK)
        rc = workspaces_caller_role(w, req, rep, ws_id, role);
    if (rc != TM_OK || *role == WS_ROLE_NONE)
        tm_pg_rollback(w->pg);
    return rc;
}

static int owner_count(tm_svc_worker_t *w, const char *ws_id, long *n)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "ws_owner_count", 1, (const char *[]){ws_id}, &r, NULL);
    if (rc == TM_OK)
        *n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return rc;
}

/* The target user's id from user_id or email; "" when there is no such user. */
static int resolve_user(tm_svc_worker_t *w, const tm_svc_req_t *req, char out[37])
{
    char email[CRED_EMAIL_MAX + 1];
    const char *uid = tm_json_str(req->json, "user_id", NULL);
    const char *em = NULL;
    out[0] = '\0';
    if (!uid) {
        if (cred_email_normalize(tm_json_str(req->json, "email", ""), email, sizeof email))
            return TM_OK;
        em = email;
    }
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "ws_user_lookup", 2, (const char *[]){uid, em}, &r, NULL);
    if (rc == TM_OK && PQntuples(r) == 1)
        memcpy(out, PQgetvalue(r, 0, 0), 37);
    PQclear(r);
    return rc;
}

/* Insert or change the role of target; status 201 (added), 200 (changed/same), 409. */
static int upsert_member(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *ws_id,
                         const char *target, const char *role, int *status)
{
    PGresult *cur = NULL, *r = NULL;
    int rc = tm_pg_exec(w->pg, "ws_member_get", 2, (const char *[]){ws_id, target}, &cur, NULL);
    if (rc != TM_OK)
        return rc;
    const char *p[3] = {ws_id, target, role};
    if (PQntuples(cur) == 0) {
        *status = 201;
        rc = tm_pg_exec(w->pg, "ws_member_insert", 3, p, &r, NULL);
        if (rc == TM_OK)
            rc = workspaces_event(w, req, ws_id, "member.added", target, role);
        goto clear;
    }
    *status = 200;
    const char *old = PQgetvalue(cur, 0, 3);
    if (strcmp(old, role) == 0)
        goto clear;
    long owners = 0;
    if (strcmp(old, "owner") == 0 && (rc = owner_count(w, ws_id, &owners)) == TM_OK &&
        owners <= 1) {
        *status = 409;
        goto clear;
    }
    if (rc == TM_OK)
        rc = tm_pg_exec(w->pg, "ws_member_update", 3, p, &r, NULL);
    if (rc == TM_OK)
        rc = workspaces_event(w, req, ws_id, "member.updated", target, role);
clear:
    PQclear(cur);
    PQclear(r);
    return rc;
}

static int add_locked(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                      const char *ws_id)
{
    char target[37];
    int status = 0;
    int rc = resolve_user(w, req, target);
    if (rc != TM_OK)
        return rc;
    if (!*target) {
        tm_svc_reply_problem(rep, req, 404, "user-not-found", "no such user");
        return TM_OK;
    }
    rc = upsert_member(w, req, ws_id, target, tm_json_str(req->json, "role", ""), &status);
    if (rc != TM_OK)
        return rc;
    if (status == 409) {
        tm_svc_reply_problem(rep, req, 409, "last-owner", "the last owner cannot be demoted");
        return TM_OK;
    }
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, "ws_member_get", 2, (const char *[]){ws_id, target}, &r, NULL);
    if (rc == TM_OK)
        tm_svc_reply_json(rep, status, member_json(r, 0));
    PQclear(r);
    return rc;
}

static bool add_body_ok(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, add_fields, 3) != TM_OK)
        return false;
    bool by_id = tm_json_has(req->json, "user_id"), by_email = tm_json_has(req->json, "email");
    if (by_id == by_email) {
        tm_json_errors_t errs;
        memset(&errs, 0, sizeof errs);
        tm_json_errors_add(&errs, "user_id", "exactly one of user_id and email is required");
        tm_svc_reply_invalid(rep, req, &errs);
        return false;
    }
    return true;
}

/* Commit when the reply is a success, else roll back. */
static int finish(tm_svc_worker_t *w, tm_svc_reply_t *rep, int rc)
{
    if (rc == TM_OK && rep->status < 300)
        return tm_pg_commit(w->pg, NULL);
    tm_pg_rollback(w->pg);
    return rc;
}

int members_add(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *ws_id;
    ws_role_t role;
    if (!auth_require_user(req, rep) || !add_body_ok(req, rep))
        return TM_OK;
    int rc = lock_workspace(w, req, rep, &ws_id, &role);
    if (rc != TM_OK || role == WS_ROLE_NONE)
        return rc;
    if (role != WS_ROLE_OWNER) {
        tm_svc_reply_problem(rep, req, 403, NULL, "only an owner can manage members");
        return finish(w, rep, TM_OK);
    }
    return finish(w, rep, add_locked(w, req, rep, ws_id));
}

static int remove_locked(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                         const char *ws_id, const char *target)
{
    PGresult *cur = NULL, *r = NULL;
    long owners = 2;
    int rc = tm_pg_exec(w->pg, "ws_member_get", 2, (const char *[]){ws_id, target}, &cur, NULL);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(cur) == 0) {
        tm_svc_reply_problem(rep, req, 404, "member-not-found", "no such member");
        goto clear;
    }
    char old[16];
    snprintf(old, sizeof old, "%s", PQgetvalue(cur, 0, 3));
    if (strcmp(old, "owner") == 0 && (rc = owner_count(w, ws_id, &owners)) != TM_OK)
        goto clear;
    if (owners <= 1) {
        tm_svc_reply_problem(rep, req, 409, "last-owner",
                             "the last owner cannot leave or be "
                             "removed");
        goto clear;
    }
    rc = tm_pg_exec(w->pg, "ws_member_delete", 2, (const char *[]){ws_id, target}, &r, NULL);
    if (rc == TM_OK)
        rc = workspaces_event(w, req, ws_id, "member.removed", target, old);
    if (rc == TM_OK)
        rep->status = 204;
clear:
    PQclear(cur);
    PQclear(r);
    return rc;
}

int members_remove(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *ws_id, *uid = auth_require_user(req, rep);
    ws_role_t role;
    if (!uid || tm_svc_check_body(req, rep, NULL, 0) != TM_OK)
        return TM_OK;
    int rc = lock_workspace(w, req, rep, &ws_id, &role);
    if (rc != TM_OK || role == WS_ROLE_NONE)
        return rc;
    const char *target = tm_query_param(req->msg, "user");
    if (!target || !tm_is_uuid(target)) {
        tm_svc_reply_problem(rep, req, 404, "member-not-found", "no such member");
        return finish(w, rep, TM_OK);
    }
    if (role != WS_ROLE_OWNER && strcmp(target, uid) != 0) {
        tm_svc_reply_problem(rep, req, 403, NULL, "only an owner can remove other members");
        return finish(w, rep, TM_OK);
    }
    return finish(w, rep, remove_locked(w, req, rep, ws_id, target));
}
