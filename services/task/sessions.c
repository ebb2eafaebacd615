/* sessions: login, refresh-token rotation with reuse detection, logout, the caller's
 * session list and revocation. Handlers run on worker threads.
 *
 * A session is one refresh-token family. Each refresh marks the presented token used and
 * issues the next generation; presenting a used token again means it was copied, so the
 * whole session is revoked (RFC 9700 §4.14.2). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "tm_log.h"
#include "tm_query.h"
#include "tm_util.h"

static const tm_json_field_t login_fields[] = {
    {"email", TM_JF_STRING, true, false, 1, 320, 0, NULL},
    {"password", TM_JF_STRING, true, false, 1, PASSWORD_MAX_BYTES, 0, NULL},
    {"device", TM_JF_STRING, false, false, 0, 100, 0, NULL},
};

static const tm_json_field_t refresh_fields[] = {
    {"refresh_token", TM_JF_STRING, true, false, 1, 128, 0, NULL},
};

static void reply_bad_credentials(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    tm_svc_reply_problem(rep, req, 401, "invalid-credentials", "invalid email or password");
}

static void reply_bad_refresh(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    tm_svc_reply_problem(rep, req, 401, "invalid-refresh-token",
                         "refresh token invalid, expired or revoked");
}

/* The token reply of login and refresh. user row: AUTH_USER_COLS at column 0. */
static int reply_tokens(const tm_svc_req_t *req, tm_svc_reply_t *rep, const PGresult *user,
                        const char *sid, const char *refresh)
{
    const auth_ctx_t *a = auth_ctx();
    char *access = NULL;
    int rc = jwt_signer_access(a->signer, PQgetvalue(user, 0, 0), PQgetvalue(user, 0, 3), sid,
                               tm_wall_ms() / 1000, &access);
    if (rc != TM_OK)
        return rc;
    json_t *body = json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "access_token", access,
                             "refresh_token", refresh, "token_type", "Bearer", "expires_in",
                             (json_int_t)jwt_signer_ttl(a->signer), "session_id", sid, "user",
                             auth_user_json(user, 0, 0));
    free(access);
    (void)req;
    tm_svc_reply_json(rep, 200, body);
    return TM_OK;
}

/* Insert refresh token generation gen of session sid; tok receives the token. */
static int new_refresh(tm_pg_t *pg, const char *sid, int gen, char tok[CRED_REFRESH_CHARS + 1])
{
    char hash[65], g[16];
    cred_refresh_new(tok, hash);
    snprintf(g, sizeof g, "%d", gen);
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "auth_refresh_insert", 3, (const char *[]){hash, sid, g}, &r, NULL);
    PQclear(r);
    return rc;
}

static int open_session(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                        const PGresult *user)
{
    char ttl[32], sid[37], tok[CRED_REFRESH_CHARS + 1];
    snprintf(ttl, sizeof ttl, "%" PRId64, auth_ctx()->cfg->refresh_ttl_ms);
    const char *p[3] = {PQgetvalue(user, 0, 0), tm_json_str(req->json, "device", ""), ttl};
    PGresult *r = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    rc = tm_pg_exec(w->pg, "auth_session_insert", 3, p, &r, NULL);
    if (rc == TM_OK) {
        snprintf(sid, sizeof sid, "%s", PQgetvalue(r, 0, 0));
        rc = new_refresh(w->pg, sid, 1, tok);
    }
    PQclear(r);
    if (rc == TM_OK)
        rc = tm_pg_commit(w->pg, NULL);
    else
        tm_pg_rollback(w->pg);
    if (rc == TM_OK)
        rc = reply_tokens(req, rep, user, sid, tok);
    memset(tok, 0, sizeof tok);
    return rc;
}

int sessions_login(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, login_fields, 3) != TM_OK)
        return TM_OK;
    const char *pw = tm_json_str(req->json, "password", "");
    char email[CRED_EMAIL_MAX + 1];
    PGresult *r = NULL;
    int rc = TM_OK;
    bool ok = false;
    if (cred_email_normalize(tm_json_str(req->json, "email", ""), email, sizeof email) == 0)
        rc = tm_pg_exec(w->pg, "auth_user_by_email", 1, (const char *[]){email}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    /* Unknown emails verify against a dummy hash so both failures take the same time. */
    if (r && PQntuples(r) == 1)
        ok = password_verify(PQgetvalue(r, 0, 5), pw) && PQgetvalue(r, 0, 6)[0] != 't';
    else
        (void)password_verify(auth_ctx()->dummy_hash, pw);
    if (ok)
        rc = open_session(w, req, rep, r);
    else
        reply_bad_credentials(req, rep);
    PQclear(r);
    return rc;
}

/* Revoke session sid of user uid (reason); publishes when a live session was revoked. */
static int revoke_one(tm_svc_worker_t *w, const char *sid, const char *uid, const char *reason,
                      bool *revoked)
{
    PGresult *r = NULL;
    int rc =
        tm_pg_exec(w->pg, "auth_session_revoke", 3, (const char *[]){sid, uid, reason}, &r, NULL);
    *revoked = rc == TM_OK && PQntuples(r) > 0;
    PQclear(r);
    if (*revoked)
        auth_publish_revoked(w->nc, sid);
    return rc;
}

/* With the token row locked: rotate, or revoke the family on reuse. */
static int rotate(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                  const PGresult *t, const char *hash)
{
    const char *sid = PQgetvalue(t, 0, 0), *uid = PQgetvalue(t, 0, 3);
    bool used = PQgetvalue(t, 0, 2)[0] == 't';
    bool dead = PQgetvalue(t, 0, 4)[0] == 't' || PQgetvalue(t, 0, 5)[0] == 't';
    bool revoked;
    if (dead || used) {
        int rc = used && !dead ? revoke_one(w, sid, uid, "refresh_reuse", &revoked) : TM_OK;
        if (used && !dead)
            tm_log_kv(TM_LOG_WARN, req->call.request_id, "refresh token reuse: session revoked",
                      (const char *[]){"sid", sid, "user_id", uid, NULL});
        reply_bad_refresh(req, rep);
        return rc;
    }
    PGresult *u = NULL, *m = NULL;
    char tok[CRED_REFRESH_CHARS + 1];
    int rc = tm_pg_exec(w->pg, "auth_user_by_id", 1, (const char *[]){uid}, &u, NULL);
    if (rc != TM_OK)
        goto clear;
    if (PQntuples(u) == 0 || PQgetvalue(u, 0, 5)[0] == 't') {
        reply_bad_refresh(req, rep);
        goto clear;
    }
    rc = tm_pg_exec(w->pg, "auth_refresh_mark_used", 1, (const char *[]){hash}, &m, NULL);
    if (rc == TM_OK)
        rc = new_refresh(w->pg, sid, atoi(PQgetvalue(t, 0, 1)) + 1, tok);
    PQclear(m);
    m = NULL;
    if (rc == TM_OK)
        rc = tm_pg_exec(w->pg, "auth_session_touch", 1, (const char *[]){sid}, &m, NULL);
    if (rc == TM_OK)
        rc = reply_tokens(req, rep, u, sid, tok);
    memset(tok, 0, sizeof tok);
clear:
    PQclear(u);
    PQclear(m);
    return rc;
}

int sessions_refresh(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, refresh_fields, 1) != TM_OK)
        return TM_OK;
    char hash[65];
    if (!cred_refresh_hash(tm_json_str(req->json, "refresh_token", ""), hash)) {
        reply_bad_refresh(req, rep);
        return TM_OK;
    }
    PGresult *t = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    rc = tm_pg_exec(w->pg, "auth_refresh_lookup", 1, (const char *[]){hash}, &t, NULL);
    /* The lookup is by hash; compare again in constant time as defence in depth. */
    if (rc == TM_OK && (PQntuples(t) == 0 || !tm_ct_equal(PQgetvalue(t, 0, 6), hash, 64)))
        reply_bad_refresh(req, rep);
    else if (rc == TM_OK)
        rc = rotate(w, req, rep, t, hash);
    PQclear(t);
    if (rc == TM_OK)
        rc = tm_pg_commit(w->pg, NULL);
    else
        tm_pg_rollback(w->pg);
    return rc;
}

int sessions_logout(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid)
        return TM_OK;
    if (tm_svc_check_body(req, rep, NULL, 0) != TM_OK)
        return TM_OK;
    if (!tm_is_uuid(req->call.session_id)) {
        tm_svc_reply_problem(rep, req, 401, "unauthenticated", "no session");
        return TM_OK;
    }
    bool revoked;
    int rc = revoke_one(w, req->call.session_id, uid, "logout", &revoked);
    if (rc == TM_OK)
        rep->status = 204;
    return rc;
}

int sessions_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid)
        return TM_OK;
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "auth_sessions_list", 1, (const char *[]){uid}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    json_t *data = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        json_array_append_new(
            data, json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", id, "device", PQgetvalue(r, i, 1),
                            "created_at", PQgetvalue(r, i, 2), "last_used_at", PQgetvalue(r, i, 3),
                            "current", strcmp(id, req->call.session_id) == 0));
    }
    PQclear(r);
    tm_svc_reply_json(rep, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
    return TM_OK;
}

int sessions_revoke(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid)
        return TM_OK;
    if (tm_svc_check_body(req, rep, NULL, 0) != TM_OK)
        return TM_OK;
    const char *sid = tm_query_param(req->msg, "id");
    if (!sid || !tm_is_uuid(sid)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such session");
        return TM_OK;
    }
    bool revoked;
    int rc = revoke_one(w, sid, uid, "revoked", &revoked);
    PGresult *r = NULL;
    if (rc == TM_OK && !revoked) /* already revoked (204) or not the caller's (404) */
        rc = tm_pg_exec(w->pg, "auth_session_owned", 2, (const char *[]){sid, uid}, &r, NULL);
    if (rc == TM_OK && !revoked && PQntuples(r) == 0)
        tm_svc_reply_problem(rep, req, 404, NULL, "no such session");
    else if (rc == TM_OK)
        rep->status = 204;
    PQclear(r);
    return rc;
}

int sessions_check(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *sid = req->call.session_id;
    PGresult *r = NULL;
    bool active = false;
    if (tm_is_uuid(sid)) {
        int rc = tm_pg_exec(w->pg, "auth_session_active", 1, (const char *[]){sid}, &r, NULL);
        if (rc != TM_OK)
            return rc;
        active = PQntuples(r) == 1 &&
                 (!*req->call.user_id || strcmp(PQgetvalue(r, 0, 0), req->call.user_id) == 0);
    }
    PQclear(r);
    tm_svc_reply_json(rep, 200, json_pack("{s:b}", "active", active));
    return TM_OK;
}

int sessions_revoke_all(tm_svc_worker_t *w, const char *user_id, const char *reason)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "auth_sessions_revoke_user", 2, (const char *[]){user_id, reason},
                        &r, NULL);
    /* Published before the caller's COMMIT: a rollback after this point only makes the
     * gateway deny tokens of sessions that stay live until their next refresh. */
    for (int i = 0; rc == TM_OK && i < PQntuples(r); i++)
        auth_publish_revoked(w->nc, PQgetvalue(r, i, 0));
    PQclear(r);
    return rc;
}
