/* auth: the identity context, shared helpers, and the auth route/statement tables. */
#include "auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_log.h"
#include "tm_subjects.h"
#include "tm_util.h"

static auth_ctx_t g_auth;

const auth_ctx_t *auth_ctx(void)
{
    return &g_auth;
}

static int load_signer(const task_config_t *cfg)
{
    char *key = NULL;
    size_t keylen = 0;
    const char *why = NULL;
    if (cfg->jwt_alg == TASK_JWT_ES256) {
        if (jwt_signer_read_file(cfg->jwt_private_key_file, &key, &keylen) != TM_OK) {
            TM_ERROR("TM_JWT_PRIVATE_KEY_FILE: cannot read '%s'", cfg->jwt_private_key_file);
            return TM_ERR_INVALID;
        }
    } else {
        key = tm_xstrdup(cfg->jwt_secret);
        keylen = strlen(key);
    }
    g_auth.signer =
        jwt_signer_new(cfg->jwt_alg == TASK_JWT_ES256 ? JWT_SIGNER_ES256 : JWT_SIGNER_HS256, key,
                       keylen, cfg->jwt_issuer, cfg->jwt_audience, cfg->access_ttl_ms / 1000, &why);
    memset(key, 0, keylen);
    free(key);
    if (!g_auth.signer) {
        TM_ERROR("%s: %s",
                 cfg->jwt_alg == TASK_JWT_ES256 ? "TM_JWT_PRIVATE_KEY_FILE" : "TM_JWT_SECRET", why);
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

int auth_init(const task_config_t *cfg)
{
    memset(&g_auth, 0, sizeof g_auth);
    g_auth.cfg = cfg;
    g_auth.pw.t_cost = (uint32_t)cfg->argon2_t;
    g_auth.pw.m_kib = (uint32_t)cfg->argon2_m_kib;
    g_auth.pw.lanes = (uint32_t)cfg->argon2_p;
    if (cfg->bootstrap_admin_email && *cfg->bootstrap_admin_email &&
        cred_email_normalize(cfg->bootstrap_admin_email, g_auth.bootstrap_admin,
                             sizeof g_auth.bootstrap_admin) != TM_OK) {
        TM_ERROR("TM_BOOTSTRAP_ADMIN_EMAIL: not a valid email address");
        return TM_ERR_INVALID;
    }
    if (load_signer(cfg) != TM_OK)
        return TM_ERR_INVALID;
    char dummy_pw[33];
    unsigned char rnd[24];
    tm_random_bytes(rnd, sizeof rnd);
    tm_b64url_encode(rnd, sizeof rnd, dummy_pw);
    if (password_hash(&g_auth.pw, dummy_pw, g_auth.dummy_hash, sizeof g_auth.dummy_hash) != TM_OK) {
        TM_ERROR("TM_ARGON2_*: argon2id cannot hash with these parameters");
        auth_dispose();
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

void auth_dispose(void)
{
    jwt_signer_free(g_auth.signer);
    g_auth.signer = NULL;
}

json_t *auth_user_json(const PGresult *r, int row, int col0)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", PQgetvalue(r, row, col0), "email",
                     PQgetvalue(r, row, col0 + 1), "display_name", PQgetvalue(r, row, col0 + 2),
                     "role", PQgetvalue(r, row, col0 + 3), "created_at",
                     PQgetvalue(r, row, col0 + 4));
}

void auth_publish_revoked(natsConnection *nc, const char *sid)
{
    int64_t exp = tm_wall_ms() / 1000 + jwt_signer_ttl(g_auth.signer);
    char body[128];
    int n = snprintf(body, sizeof body, "{\"sid\":\"%s\",\"exp\":%" PRId64 "}", sid, exp);
    natsStatus s = nc ? natsConnection_Publish(nc, TM_SUBJ_AUTH_REVOKED, body, n) : NATS_ERR;
    if (s != NATS_OK)
        tm_log_kv(TM_LOG_WARN, NULL, "revocation not published",
                  (const char *[]){"sid", sid, NULL});
}

const char *auth_require_user(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!tm_is_uuid(req->call.user_id)) {
        tm_svc_reply_problem(rep, req, 401, "unauthenticated", "authentication required");
        return NULL;
    }
    return req->call.user_id;
}

bool auth_is_unique_violation(const char *sqlstate)
{
    return strcmp(sqlstate, "23505") == 0;
}

/* Mutations are idempotent=true: the harness honours Idempotency-Key for them. */
const tm_svc_route_t auth_routes[] = {
    {.subject = TM_SUBJ_AUTH_REGISTER, .fn = users_register, .max_body = 8192, .idempotent = true},
    {.subject = TM_SUBJ_AUTH_LOGIN, .fn = sessions_login, .max_body = 8192, .idempotent = true},
    {.subject = TM_SUBJ_AUTH_REFRESH, .fn = sessions_refresh, .max_body = 4096, .idempotent = true},
    {.subject = TM_SUBJ_AUTH_LOGOUT, .fn = sessions_logout, .max_body = 4096, .idempotent = true},
    {.subject = TM_SUBJ_AUTH_ME, .fn = users_me, .max_body = 4096, .fast = users_me_fast},
    {.subject = TM_SUBJ_AUTH_SESSIONS, .fn = sessions_list, .max_body = 4096},
    {.subject = TM_SUBJ_AUTH_REVOKE, .fn = sessions_revoke, .max_body = 4096, .idempotent = true},
    {.subject = TM_SUBJ_AUTH_SESSION_CHECK, .fn = sessions_check, .max_body = 4096},
    {.subject = TM_SUBJ_ADMIN_USERS, .fn = users_admin_list, .max_body = 4096},
    {.subject = TM_SUBJ_ADMIN_USER_UPDATE,
     .fn = users_admin_update,
     .max_body = 4096,
     .idempotent = true},
};
const size_t auth_nroutes = sizeof auth_routes / sizeof *auth_routes;

#define USER_FROM          "FROM task.users u "
#define SESSION_REVOKE_SET "SET revoked_at = now(), revoke_reason = "

const tm_pg_stmt_t auth_stmts[] = {
    {"auth_user_insert",
     "INSERT INTO task.users AS u (email, password_hash, display_name, role) "
     "VALUES ($1, $2, $3, $4) RETURNING " AUTH_USER_COLS,
     4},
    {"auth_user_by_email",
     "SELECT " AUTH_USER_COLS ", u.password_hash, u.disabled " USER_FROM
     "WHERE lower(u.email) = $1",
     1},
    {"auth_user_by_id", "SELECT " AUTH_USER_COLS ", u.disabled " USER_FROM "WHERE u.id = $1", 1},
    {"auth_users_page",
     "SELECT " AUTH_USER_COLS ", u.disabled " USER_FROM
     "WHERE lower(u.email) > $1 ORDER BY lower(u.email) LIMIT $2",
     2},
    {"auth_user_update",
     "UPDATE task.users AS u SET role = COALESCE($2, u.role), "
     "disabled = COALESCE($3::boolean, u.disabled), updated_at = now() "
     "WHERE u.id = $1 RETURNING " AUTH_USER_COLS ", u.disabled",
     3},
    {"auth_user_lock", "SELECT u.role, u.disabled " USER_FROM "WHERE u.id = $1 FOR UPDATE", 1},
    {"auth_admins_lock",
     "SELECT u.id " USER_FROM "WHERE u.role = 'admin' AND NOT u.disabled "
     "ORDER BY u.id FOR UPDATE",
     0},
    {"auth_user_set_role",
     "UPDATE task.users SET role = $2, updated_at = now() WHERE lower(email) = $1 "
     "AND role <> $2 RETURNING id",
     2},
    {"auth_session_insert",
     "INSERT INTO task.sessions (user_id, device, expires_at) "
     "VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond') RETURNING id",
     3},
    {"auth_refresh_insert",
     "INSERT INTO task.refresh_tokens (hash, session_id, generation) "
     "VALUES (decode($1, 'hex'), $2, $3)",
     3},
    {"auth_refresh_lookup",
     "SELECT rt.session_id, rt.generation, rt.used_at IS NOT NULL, s.user_id, "
     "s.revoked_at IS NOT NULL, s.expires_at <= now(), encode(rt.hash, 'hex') "
     "FROM task.refresh_tokens rt JOIN task.sessions s ON s.id = rt.session_id "
     "WHERE rt.hash = decode($1, 'hex') FOR UPDATE OF rt, s",
     1},
    {"auth_refresh_mark_used",
     "UPDATE task.refresh_tokens SET used_at = now() "
     "WHERE hash = decode($1, 'hex') AND used_at IS NULL",
     1},
    {"auth_session_touch", "UPDATE task.sessions SET last_used_at = now() WHERE id = $1", 1},
    {"auth_session_revoke",
     "UPDATE task.sessions " SESSION_REVOKE_SET "$3 "
     "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id",
     3},
    {"auth_session_owned", "SELECT 1 FROM task.sessions WHERE id = $1 AND user_id = $2", 2},
    {"auth_sessions_revoke_user",
     "UPDATE task.sessions " SESSION_REVOKE_SET "$2 "
     "WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING id",
     2},
    {"auth_sessions_list",
     "SELECT id, device, " AUTH_TS("created_at") ", " AUTH_TS(
         "last_used_at") " FROM task.sessions WHERE user_id = $1 AND revoked_at IS NULL "
                         "AND expires_at > now() ORDER BY created_at DESC, id LIMIT 200",
     1},
    {"auth_session_active",
     "SELECT s.user_id FROM task.sessions s JOIN task.users u ON u.id = s.user_id "
     "WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() "
     "AND NOT u.disabled",
     1},
};
const size_t auth_nstmts = sizeof auth_stmts / sizeof *auth_stmts;
