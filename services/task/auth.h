/* auth: identity for tm-task — the process-wide auth context, the helpers shared by
 * users.c and sessions.c, and their route and statement tables.
 *
 * auth_init() runs once on the main thread before the service starts; afterwards the
 * context is immutable and read from worker threads. Handlers (users_*, sessions_*) run on
 * worker threads with the worker's tm_pg_t. */
#ifndef TASK_AUTH_H
#define TASK_AUTH_H

#include <jansson.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <stdbool.h>
#include "config.h"
#include "credentials.h"
#include "jwt_sign.h"
#include "password.h"
#include "tm_svc.h"

/* RFC 3339 UTC text of a timestamptz column, in SQL. */
#define AUTH_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
/* The user columns every user reply is built from (auth_user_json reads them at col0). */
#define AUTH_USER_COLS "u.id, u.email, u.display_name, u.role, " AUTH_TS("u.created_at")

typedef struct {
    const task_config_t *cfg;
    jwt_signer_t *signer;
    password_params_t pw;
    char dummy_hash[PASSWORD_HASH_MAX];       /* verified for unknown emails (equal timing) */
    char bootstrap_admin[CRED_EMAIL_MAX + 1]; /* normalised, "" when unset */
} auth_ctx_t;

/* Build the context: read the signing key, make the dummy hash. Main thread, once.
 * Returns 0 or TM_ERR_INVALID after logging why. */
int auth_init(const task_config_t *cfg) TM_WUR;
void auth_dispose(void);
const auth_ctx_t *auth_ctx(void);

/* {id, email, display_name, role, created_at} from row r at columns col0..col0+4. */
json_t *auth_user_json(const PGresult *r, int row, int col0);
/* Publish TM_SUBJ_AUTH_REVOKED {"sid", "exp": now + access ttl} on core NATS. Best
 * effort: a failure is logged (the access token then lives until its exp). */
void auth_publish_revoked(natsConnection *nc, const char *sid);
/* The caller's user id from Tm-User-Id; NULL (and a 401 in rep) when absent. */
const char *auth_require_user(const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* The sqlstate of a unique violation. */
bool auth_is_unique_violation(const char *sqlstate);

/* The GET /api/v1/me cache (user_cache.h), off when TM_USER_CACHE_ENTRIES=0. Main thread:
 * init before the service starts, attach its NATS connection (the broadcasts go out on it)
 * once it has, dispose after it has stopped. users_on_changed is the service's notice for
 * TM_SUBJ_USER_CHANGED (tm_svc_notice_t: the reader thread applies it before the requests
 * read after it). */
void users_cache_init(const task_config_t *cfg);
void users_cache_attach(natsConnection *nc);
void users_cache_dispose(void);
void users_on_changed(const char *data, int len, void *arg);
/* After a COMMIT that changed user id's row: drop its cached answer here and broadcast
 * TM_SUBJ_USER_CHANGED so every replica does (best effort; the TTL bounds a lost one). */
void users_changed(const char *id);

/* Handlers (worker threads). */
int users_register(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int users_me(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* users_me's answer from the cache, on the NATS reader thread (tm_svc_route_t.fast). */
bool users_me_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep);
int users_admin_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int users_admin_update(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int sessions_login(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int sessions_refresh(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int sessions_logout(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int sessions_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int sessions_revoke(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int sessions_check(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* Revoke every live session of user_id (reason as in sessions.revoke_reason) and publish
 * each revocation. Inside the caller's transaction. */
int sessions_revoke_all(tm_svc_worker_t *w, const char *user_id, const char *reason) TM_WUR;

/* `tm-task promote <email> <role>`: set a user's role directly (main thread, no NATS).
 * Returns a process exit code. */
int users_promote_cli(const char *pg_url, const char *email, const char *role);
/* Make the TM_BOOTSTRAP_ADMIN_EMAIL user (if registered) admin. */
int users_bootstrap_admin(tm_pg_t *pg) TM_WUR;

extern const tm_svc_route_t auth_routes[];
extern const size_t auth_nroutes;
extern const tm_pg_stmt_t auth_stmts[];
extern const size_t auth_nstmts;

#endif
