/* users: registration, the caller's profile, the admin user list/update, and the
 * promote CLI. Handlers run on worker threads. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_query.h"
#include "tm_subjects.h"
#include "tm_util.h"
#include "user_cache.h"

#define ADMIN_PAGE_DEFAULT 50
#define ADMIN_PAGE_MAX     200

static const tm_json_field_t register_fields[] = {
    {"email", TM_JF_STRING, true, false, 1, 320, 0, NULL},
    {"password", TM_JF_STRING, true, false, 1, PASSWORD_MAX_BYTES, 0, NULL},
    {"display_name", TM_JF_STRING, true, false, 1, 100, 0, NULL},
};

static const tm_json_field_t update_fields[] = {
    {"role", TM_JF_STRING, false, false, 0, 0, 0, "user|moderator|admin"},
    {"disabled", TM_JF_BOOL, false, false, 0, 0, 0, NULL},
};

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

/* Field-level checks beyond the table; fills email with the normalised address. */
static void check_register(const json_t *body, char *email, size_t cap, tm_json_errors_t *errs)
{
    if (cred_email_normalize(tm_json_str(body, "email", ""), email, cap) != TM_OK)
        tm_json_errors_add(errs, "email", "must be a valid email address");
    const char *why = password_policy_check(tm_json_str(body, "password", ""));
    if (why)
        tm_json_errors_add(errs, "password", "%s", why);
    if (is_blank(tm_json_str(body, "display_name", "")))
        tm_json_errors_add(errs, "display_name", "must not be blank");
}

static int insert_user(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                       const char *email, const char *hash)
{
    const char *role = strcmp(email, auth_ctx()->bootstrap_admin) == 0 ? "admin" : "user";
    const char *p[4] = {email, hash, tm_json_str(req->json, "display_name", ""), role};
    PGresult *r = NULL;
    char sqlstate[6] = "";
    int rc = tm_pg_exec(w->pg, "auth_user_insert", 4, p, &r, sqlstate);
    if (rc == TM_ERR_PG && auth_is_unique_violation(sqlstate)) {
        tm_svc_reply_problem(rep, req, 409, "email-taken",
                             "an account with this email already exists");
        return TM_OK;
    }
    if (rc != TM_OK)
        return rc;
    tm_svc_reply_json(rep, 201, auth_user_json(r, 0, 0));
    PQclear(r);
    return TM_OK;
}

int users_register(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, register_fields, 3) != TM_OK)
        return TM_OK;
    tm_json_errors_t errs;
    memset(&errs, 0, sizeof errs);
    char email[CRED_EMAIL_MAX + 1];
    check_register(req->json, email, sizeof email, &errs);
    if (errs.count > 0) {
        tm_svc_reply_invalid(rep, req, &errs);
        return TM_OK;
    }
    char hash[PASSWORD_HASH_MAX];
    int rc =
        password_hash(&auth_ctx()->pw, tm_json_str(req->json, "password", ""), hash, sizeof hash);
    if (rc == TM_OK)
        rc = insert_user(w, req, rep, email, hash);
    memset(hash, 0, sizeof hash);
    return rc;
}

/* ---- the /me cache (user_cache.h) and its invalidation ---- */

static user_cache_t *g_me_cache;
static natsConnection *g_me_nc; /* publishes TM_SUBJ_USER_CHANGED */

static tm_counter_t *me_cache_metric(bool hit)
{
    return tm_metrics_counter("tm_task_user_cache_total", "GET /api/v1/me answers by cache result",
                              hit ? "result=\"hit\"" : "result=\"miss\"");
}

void users_cache_init(const task_config_t *cfg)
{
    g_me_cache = user_cache_new((size_t)cfg->user_cache_entries, cfg->user_cache_ttl_ms);
}

void users_cache_attach(natsConnection *nc)
{
    g_me_nc = nc;
}

void users_cache_dispose(void)
{
    g_me_nc = NULL;
    user_cache_free(g_me_cache);
    g_me_cache = NULL;
}

void users_on_changed(const char *data, int len, void *arg)
{
    (void)arg;
    json_t *o = data && len > 0 ? json_loadb(data, (size_t)len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(o, "id"));
    if (id && tm_is_uuid(id))
        user_cache_drop(g_me_cache, id);
    json_decref(o);
}

void users_changed(const char *id)
{
    user_cache_drop(g_me_cache, id);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
    if (!g_me_nc || n <= 0 || (size_t)n >= sizeof body ||
        natsConnection_Publish(g_me_nc, TM_SUBJ_USER_CHANGED, body, n) != NATS_OK)
        tm_log_kv(TM_LOG_WARN, NULL, "user change not broadcast (other replicas' caches expire)",
                  (const char *[]){"user_id", id, NULL});
}

static void users_changed_after_txn(void *id)
{
    users_changed(id);
}

bool users_me_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    char *text = NULL;
    size_t len = 0;
    if (!tm_is_uuid(req->call.user_id) ||
        !user_cache_get(g_me_cache, req->call.user_id, tm_now_ms(), &text, &len))
        return false;
    tm_counter_add(me_cache_metric(true), 1);
    tm_svc_reply_json_text(rep, 200, text, len);
    return true;
}

int users_me(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *uid = auth_require_user(req, rep);
    if (!uid)
        return TM_OK;
    char *text = NULL;
    size_t len = 0;
    bool hit = user_cache_get(g_me_cache, uid, tm_now_ms(), &text, &len);
    if (g_me_cache)
        tm_counter_add(me_cache_metric(hit), 1);
    if (hit) {
        tm_svc_reply_json_text(rep, 200, text, len);
        return TM_OK;
    }
    user_cache_ticket_t t = user_cache_ticket(g_me_cache);
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "auth_user_by_id", 1, (const char *[]){uid}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) == 0) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such user");
    } else {
        json_t *u = auth_user_json(r, 0, 0);
        text = tm_json_dumps(u, &len);
        json_decref(u);
        user_cache_put(g_me_cache, uid, text, len, t, tm_now_ms());
        tm_svc_reply_json_text(rep, 200, text, len);
    }
    PQclear(r);
    return TM_OK;
}

static json_t *admin_user_json(const PGresult *r, int row)
{
    json_t *u = auth_user_json(r, row, 0);
    json_object_set_new(u, "disabled", json_boolean(PQgetvalue(r, row, 5)[0] == 't'));
    return u;
}

/* limit (1..200) and cursor (base64url of the last email seen) from Tm-Query. */
static int page_params(const tm_svc_req_t *req, long *limit, char *after, size_t cap)
{
    const char *q = tm_query_string(req->msg);
    char buf[512];
    *limit = ADMIN_PAGE_DEFAULT;
    after[0] = '\0';
    long n = tm_query_get(q, "limit", buf, sizeof buf);
    if (n >= 0) {
        char *end;
        *limit = strtol(buf, &end, 10);
        if (n == 0 || *end || *limit < 1 || *limit > ADMIN_PAGE_MAX)
            return TM_ERR_INVALID;
    } else if (n == -2) {
        return TM_ERR_INVALID;
    }
    n = tm_query_get(q, "cursor", buf, sizeof buf);
    if (n == -2)
        return TM_ERR_INVALID;
    if (n > 0) {
        long d = tm_b64url_decode(buf, (size_t)n, after, cap - 1);
        if (d <= 0 || memchr(after, '\0', (size_t)d))
            return TM_ERR_INVALID;
        after[d] = '\0';
    }
    return TM_OK;
}

static json_t *next_cursor(const PGresult *r, int last)
{
    const char *email = PQgetvalue(r, last, 1);
    size_t n = strlen(email);
    char *enc = tm_xmalloc(tm_b64url_len(n) + 1);
    tm_b64url_encode(email, n, enc);
    json_t *s = json_string(enc);
    free(enc);
    return s;
}

int users_admin_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!auth_require_user(req, rep))
        return TM_OK;
    if (cred_role_rank(req->call.role) < 2) {
        tm_svc_reply_problem(rep, req, 403, NULL, "moderator or admin role required");
        return TM_OK;
    }
    long limit;
    char after[CRED_EMAIL_MAX + 2];
    if (page_params(req, &limit, after, sizeof after) != TM_OK) {
        tm_svc_reply_problem(rep, req, 400, NULL, "limit must be 1..200; cursor as returned");
        return TM_OK;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit + 1);
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "auth_users_page", 2, (const char *[]){after, lim}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    int n = PQntuples(r);
    bool more = n > limit;
    json_t *data = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(data, admin_user_json(r, i));
    json_t *body = json_pack("{s:o, s:o}", "data", data, "next_cursor",
                             more ? next_cursor(r, (int)limit - 1) : json_null());
    PQclear(r);
    tm_svc_reply_json(rep, 200, body);
    return TM_OK;
}

/* Would this change leave no active admin? (admins locked by the caller.) */
static int check_last_admin(tm_svc_worker_t *w, const char *id, const json_t *body, bool *last,
                            bool *changes)
{
    PGresult *admins = NULL, *target = NULL;
    int rc = tm_pg_exec(w->pg, "auth_admins_lock", 0, NULL, &admins, NULL);
    if (rc == TM_OK)
        rc = tm_pg_exec(w->pg, "auth_user_lock", 1, (const char *[]){id}, &target, NULL);
    if (rc != TM_OK)
        goto clear;
    if (PQntuples(target) == 0) {
        rc = TM_ERR_NOT_FOUND;
        goto clear;
    }
    const char *role = PQgetvalue(target, 0, 0);
    bool disabled = PQgetvalue(target, 0, 1)[0] == 't';
    const char *new_role = tm_json_str(body, "role", role);
    bool new_disabled = tm_json_bool(body, "disabled", disabled);
    bool active_admin = strcmp(role, "admin") == 0 && !disabled;
    bool stays = strcmp(new_role, "admin") == 0 && !new_disabled;
    *last = active_admin && !stays && PQntuples(admins) <= 1;
    *changes = strcmp(new_role, role) != 0 || (new_disabled && !disabled);
clear:
    PQclear(admins);
    PQclear(target);
    return rc;
}

static int apply_update(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                        const char *id)
{
    bool last = false, revoke = false;
    int rc = check_last_admin(w, id, req->json, &last, &revoke);
    if (rc == TM_ERR_NOT_FOUND) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such user");
        return TM_OK;
    }
    if (rc != TM_OK)
        return rc;
    if (last) {
        tm_svc_reply_problem(rep, req, 409, "last-admin",
                             "the last admin cannot be demoted "
                             "or disabled");
        return TM_OK;
    }
    const char *dis = !tm_json_has(req->json, "disabled")          ? NULL
                      : tm_json_bool(req->json, "disabled", false) ? "true"
                                                                   : "false";
    const char *p[3] = {id, tm_json_str(req->json, "role", NULL), dis};
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, "auth_user_update", 3, p, &r, NULL);
    if (rc != TM_OK)
        return rc;
    /* A role change or a disabled account ends its sessions: tokens carry the role. */
    if (revoke)
        rc =
            sessions_revoke_all(w, id, PQgetvalue(r, 0, 5)[0] == 't' ? "disabled" : "role_changed");
    if (rc == TM_OK)
        tm_svc_reply_json(rep, 200, admin_user_json(r, 0));
    PQclear(r);
    return rc;
}

int users_admin_update(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!auth_require_user(req, rep))
        return TM_OK;
    if (cred_role_rank(req->call.role) < 3) {
        tm_svc_reply_problem(rep, req, 403, NULL, "admin role required");
        return TM_OK;
    }
    const char *id = tm_query_param(req->msg, "id");
    if (!id || !tm_is_uuid(id)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such user");
        return TM_OK;
    }
    if (tm_svc_check_body(req, rep, update_fields, 2) != TM_OK)
        return TM_OK;
    /* Whatever the outcome: a needless drop costs one cache miss. */
    tm_svc_after_txn(rep, users_changed_after_txn, tm_xstrdup(id));
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    rc = apply_update(w, req, rep, id);
    if (rc == TM_OK && rep->status < 300)
        rc = tm_pg_commit(w->pg, NULL);
    else
        tm_pg_rollback(w->pg);
    return rc;
}

int users_bootstrap_admin(tm_pg_t *pg)
{
    const char *email = auth_ctx()->bootstrap_admin;
    if (!*email)
        return TM_OK;
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "auth_user_set_role", 2, (const char *[]){email, "admin"}, &r, NULL);
    if (rc == TM_OK && PQntuples(r) > 0) {
        tm_log_kv(TM_LOG_INFO, NULL, "bootstrap admin promoted",
                  (const char *[]){"user_id", PQgetvalue(r, 0, 0), NULL});
        users_changed(PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}

int users_promote_cli(const char *pg_url, const char *email_in, const char *role)
{
    char email[CRED_EMAIL_MAX + 1];
    if (cred_role_rank(role) == 0 || cred_email_normalize(email_in, email, sizeof email)) {
        fprintf(stderr, "usage: tm-task promote <email> <user|moderator|admin>\n");
        return 2;
    }
    tm_pg_t *pg = tm_pg_new(pg_url, "task", auth_stmts, auth_nstmts);
    PGresult *r = NULL;
    int rc = tm_pg_ensure(pg);
    if (rc == TM_OK)
        rc = tm_pg_exec(pg, "auth_user_by_email", 1, (const char *[]){email}, &r, NULL);
    if (rc == TM_OK && PQntuples(r) == 0)
        rc = TM_ERR_NOT_FOUND;
    PQclear(r);
    r = NULL;
    if (rc == TM_OK)
        rc = tm_pg_exec(pg, "auth_user_set_role", 2, (const char *[]){email, role}, &r, NULL);
    PQclear(r);
    tm_pg_free(pg);
    if (rc != TM_OK) {
        fprintf(stderr, "tm-task promote: %s\n", tm_strerror(rc));
        return 1;
    }
    printf("%s is now %s\n", email, role);
    return 0;
}
