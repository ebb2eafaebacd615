/* ai_handlers: suggestions (rules or LLM, stored with provenance), accept and reject. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insights.h"
#include "prompt.h"
#include "suggest_rules.h"
#include "tm_log.h"
#include "tm_query.h"
#include "tm_subjects.h"
#include "tm_util.h"

#define SUGGEST_DEFAULT      5
#define SUGGEST_MAX          20
#define CONTEXT_MAX          2000
#define TASK_CALL_TIMEOUT_MS 5000
#define DEADLINE_RESERVE_MS  500

const tm_pg_stmt_t ai_handler_stmts[] = {
    {"sugg_insert",
     "INSERT INTO suggestions (id, user_id, workspace_id, kind, title, item, "
     "source, model, prompt_hash, latency_ms, tokens) VALUES ($1, $2, $3, $4, $5, "
     "$6::jsonb, $7, $8, $9, $10::int, $11::int)",
     11},
    {"sugg_get",
     "SELECT item::text, COALESCE(workspace_id::text, ''), status FROM suggestions "
     "WHERE id = $1 AND user_id = $2",
     2},
    {"sugg_decide",
     "UPDATE suggestions SET status = $3, decided_at = now(), "
     "created_tasks = $4::jsonb WHERE id = $1 AND user_id = $2",
     4},
    {"llm_log",
     "INSERT INTO llm_calls (user_id, model, prompt_hash, result, http_status, "
     "latency_ms, tokens) VALUES ($1, $2, $3, $4, $5::int, $6::int, $7::int)",
     7},
};
const size_t ai_handler_nstmts = sizeof ai_handler_stmts / sizeof ai_handler_stmts[0];

static const tm_json_field_t suggest_fields[] = {
    {.name = "workspace_id", .kind = TM_JF_UUID, .nullable = true},
    {.name = "context", .kind = TM_JF_STRING, .nullable = true, .max = CONTEXT_MAX},
    {.name = "limit", .kind = TM_JF_INT, .min = 1, .max = SUGGEST_MAX},
};

/* What one suggestion round produced, and where it came from. */
typedef struct {
    json_t *items;        /* array of items without ids */
    const char *source;   /* "rules" | "llm" */
    const char *fallback; /* NULL or the reason the LLM answer was not used */
    const char *model;
    char prompt_hash[65];
    int64_t latency_ms, tokens;
} round_t;

/* ---- rules ---- */

static json_t *rules_tasks(const json_t *s)
{
    const char *kind = tm_json_str(s, "kind", "");
    json_t *tasks = json_array();
    if (strcmp(kind, "new_task") == 0) {
        json_array_append_new(
            tasks, json_pack("{s:s, s:O?, s:I}", "title", tm_json_str(s, "title", ""), "due_at",
                             json_object_get(s, "proposed_due_at"), "estimate_minutes",
                             (json_int_t)tm_json_int(s, "estimated_minutes", 30)));
    } else if (strcmp(kind, "breakdown") == 0) {
        size_t i;
        json_t *sub;
        json_array_foreach(json_object_get(s, "subtasks"), i, sub) json_array_append_new(
            tasks,
            json_pack("{s:s, s:I}", "title", tm_json_str(sub, "title", ""), "estimate_minutes",
                      (json_int_t)tm_json_int(sub, "estimated_minutes", 30)));
    }
    return tasks;
}

static json_t *rules_items(const ai_task_set_t *set, const char *ws, size_t limit)
{
    ai_task_t *open = tm_xcalloc(set->n + 1, sizeof *open),
              *hist = tm_xcalloc(set->n + 1, sizeof *hist);
    size_t no = 0, nh = 0;
    for (size_t i = 0; i < set->n; i++) {
        const char *st = set->meta[i].status;
        if (set->tasks[i].completed_at)
            hist[nh++] = set->tasks[i];
        else if (strcmp(st, "archived") != 0 && (!ws || strcmp(set->meta[i].workspace_id, ws) == 0))
            open[no++] = set->tasks[i];
    }
    ai_suggest_opts_t o;
    ai_suggest_defaults(&o);
    o.max_suggestions = limit;
    json_t *items = ai_suggest(open, no, hist, nh, tm_wall_ms(), &o);
    free(open);
    free(hist);
    size_t i;
    json_t *s;
    json_array_foreach(items, i, s) json_object_set_new(s, "tasks", rules_tasks(s));
    return items;
}

/* ---- LLM ---- */

static int64_t llm_budget(const tm_svc_req_t *req, const ai_config_t *cfg)
{
    int64_t budget = cfg->timeout_ms;
    if (req->call.deadline_ms > 0) {
        int64_t left = req->call.deadline_ms - tm_wall_ms() - DEADLINE_RESERVE_MS;
        if (left < budget)
            budget = left;
    }
    return budget;
}

static void log_call(tm_svc_worker_t *w, const char *user, const round_t *r,
                     const ai_llm_result_t *res)
{
    char st[16], lat[24], tok[24];
    snprintf(st, sizeof st, "%d", res->http_status);
    snprintf(lat, sizeof lat, "%lld", (long long)res->latency_ms);
    snprintf(tok, sizeof tok, "%lld", (long long)res->tokens);
    const char *p[7] = {user, r->model, r->prompt_hash, res->result, st, lat, tok};
    PGresult *pr = NULL;
    if (tm_pg_exec(w->pg, "llm_log", 7, p, &pr, NULL) != TM_OK)
        TM_WARN("suggest: could not log the LLM call");
    PQclear(pr);
}

static void try_llm(tm_svc_worker_t *w, const tm_svc_req_t *req, const ai_task_set_t *set,
                    const char *context, size_t limit, round_t *r)
{
    ai_app_t *app = ai_h_app(w);
    int64_t now = tm_wall_ms();
    ai_tz_t utc;
    if (ai_tz_init(&utc, "UTC") != TM_OK)
        return;
    json_t *analytics = ai_insights(set->tasks, set->n, now, &utc);
    json_t *msgs = ai_prompt_messages(req->call.user_id, set, analytics, context, limit, now);
    json_decref(analytics);
    ai_prompt_hash(msgs, r->prompt_hash);
    r->model = ai_llm_model(app->llm);
    ai_llm_result_t res;
    int64_t budget = llm_budget(req, app->cfg);
    int rc = budget > 0 ? ai_llm_suggest(app->llm, msgs, limit, budget, &res) : TM_ERR_TIMEOUT;
    if (budget <= 0)
        res = (ai_llm_result_t){.result = "timeout"};
    json_decref(msgs);
    r->latency_ms = res.latency_ms;
    r->tokens = res.tokens;
    if (strcmp(res.result, "busy") != 0 && strcmp(res.result, "breaker_open") != 0)
        log_call(w, req->call.user_id, r, &res);
    if (rc == TM_OK) {
        json_decref(r->items);
        r->items = res.suggestions;
        r->source = "llm";
    } else {
        r->fallback = res.result;
    }
}

/* ---- storage and reply ---- */

static const char *item_workspace(const json_t *it, const ai_task_set_t *set, const char *ws)
{
    if (ws)
        return ws;
    const char *tid = tm_json_str(it, "task_id", NULL);
    for (size_t i = 0; tid && i < set->n; i++)
        if (set->tasks[i].id && strcmp(set->tasks[i].id, tid) == 0)
            return set->meta[i].workspace_id;
    return NULL;
}

static int store_item(tm_svc_worker_t *w, const char *user, const char *ws, json_t *it,
                      const round_t *r)
{
    char id[37], lat[24], tok[24];
    tm_uuid_v4(id);
    json_object_set_new(it, "id", json_string(id));
    json_object_set_new(it, "workspace_id", ws ? json_string(ws) : json_null());
    snprintf(lat, sizeof lat, "%lld", (long long)r->latency_ms);
    snprintf(tok, sizeof tok, "%lld", (long long)r->tokens);
    char *item = tm_json_dumps(it, NULL);
    bool llm = strcmp(r->source, "llm") == 0;
    const char *p[11] = {id,
                         user,
                         ws,
                         tm_json_str(it, "kind", "focus"),
                         tm_json_str(it, "title", ""),
                         item,
                         r->source,
                         llm ? r->model : NULL,
                         llm ? r->prompt_hash : NULL,
                         lat,
                         tok};
    PGresult *pr = NULL;
    int rc = tm_pg_exec(w->pg, "sugg_insert", 11, p, &pr, NULL);
    PQclear(pr);
    free(item);
    return rc;
}

static int store_all(tm_svc_worker_t *w, const char *user, const char *ws, const ai_task_set_t *set,
                     const round_t *r)
{
    int rc = tm_pg_begin(w->pg);
    size_t i;
    json_t *it;
    json_array_foreach(r->items, i, it)
    {
        if (rc != TM_OK)
            break;
        rc = store_item(w, user, item_workspace(it, set, ws), it, r);
    }
    if (rc == TM_OK)
        return tm_pg_commit(w->pg, NULL);
    tm_pg_rollback(w->pg);
    return rc;
}

static json_t *round_reply(const round_t *r)
{
    bool llm = strcmp(r->source, "llm") == 0;
    json_t *out =
        json_pack("{s:O, s:s, s:s?, s:b, s:o}", "data", r->items, "source", r->source, "model",
                  llm ? r->model : NULL, "cached", 0, "generated_at", ai_h_time(tm_wall_ms()));
    if (r->fallback) {
        json_object_set_new(out, "fallback_reason", json_string(r->fallback));
        json_object_set_new(out, "reason", json_string(r->fallback));
    }
    if (llm)
        json_object_set_new(out, "prompt_hash", json_string(r->prompt_hash));
    return out;
}

static void suggest_key(const tm_svc_req_t *req, size_t limit, char *key, size_t cap)
{
    const char *ctx = tm_json_str(req->json, "context", "");
    char h[65];
    tm_sha256_hex(ctx, strlen(ctx), h);
    snprintf(key, cap, "suggest|%s|%zu|%s", tm_json_str(req->json, "workspace_id", ""), limit, h);
}

int ai_h_suggest(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!ai_h_user(req, rep) || tm_svc_check_body(req, rep, suggest_fields, 3) != TM_OK)
        return TM_OK;
    ai_app_t *app = ai_h_app(w);
    const char *user = req->call.user_id, *ws = tm_json_str(req->json, "workspace_id", NULL);
    size_t limit = (size_t)tm_json_int(req->json, "limit", SUGGEST_DEFAULT);
    char key[160];
    ai_h_cached_t cc;
    suggest_key(req, limit, key, sizeof key);
    char *hit = ai_h_cache_get(w, user, key, &cc);
    if (hit) {
        ai_h_reply_cached(rep, hit);
        return TM_OK;
    }
    ai_task_set_t set;
    int rc = ai_projection_load(w->pg, user, app->cfg->max_tasks, &set);
    if (rc != TM_OK)
        return rc;
    round_t r = {.items = rules_items(&set, ws, limit), .source = "rules"};
    if (app->llm)
        try_llm(w, req, &set, tm_json_str(req->json, "context", NULL), limit, &r);
    rc = store_all(w, user, ws, &set, &r);
    ai_task_set_dispose(&set);
    if (rc != TM_OK) {
        json_decref(r.items);
        return rc;
    }
    json_t *out = round_reply(&r);
    json_decref(r.items);
    if (!r.fallback) /* a fallback is not kept: the next call tries the model again */
        ai_h_cache_put(w, user, key, &cc, out);
    tm_svc_reply_json(rep, 200, out);
    return TM_OK;
}

/* ---- accept / reject ---- */

typedef struct {
    json_t *item;
    char workspace_id[37];
    char status[16];
} stored_t;

/* 0 with s filled, or a reply already set (404) and TM_ERR_NOT_FOUND. */
static int load_stored(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                       stored_t *s)
{
    memset(s, 0, sizeof *s);
    const char *id = tm_query_param(req->msg, "id");
    PGresult *r = NULL;
    int rc = TM_ERR_NOT_FOUND;
    if (id && tm_is_uuid(id)) {
        rc = tm_pg_exec(w->pg, "sugg_get", 2, (const char *[]){id, req->call.user_id}, &r, NULL);
        if (rc == TM_OK && PQntuples(r) != 1)
            rc = TM_ERR_NOT_FOUND;
    }
    if (rc == TM_OK) {
        s->item = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
        snprintf(s->workspace_id, sizeof s->workspace_id, "%s", PQgetvalue(r, 0, 1));
        snprintf(s->status, sizeof s->status, "%s", PQgetvalue(r, 0, 2));
        if (!s->item)
            rc = TM_ERR_INTERNAL;
    }
    PQclear(r);
    if (rc == TM_ERR_NOT_FOUND)
        tm_svc_reply_problem(rep, req, 404, NULL, "no such suggestion");
    return rc;
}

static int decide(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *status,
                  const json_t *created)
{
    char *c = created ? tm_json_dumps(created, NULL) : NULL;
    const char *p[4] = {tm_query_param(req->msg, "id"), req->call.user_id, status, c};
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "sugg_decide", 4, p, &r, NULL);
    PQclear(r);
    free(c);
    return rc;
}

static json_t *task_body(const json_t *t, const char *ws)
{
    json_t *b = json_pack("{s:s, s:s}", "workspace_id", ws, "title", tm_json_str(t, "title", ""));
    static const char *const copy[] = {"description", "estimate_minutes", "priority", "due_at",
                                       "labels"};
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        json_t *v = json_object_get(t, copy[i]);
        if (v && !json_is_null(v))
            json_object_set(b, copy[i], v);
    }
    return b;
}

/* Create task n through tm-task; 0 with *created, or a reply already set. */
static int create_one(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                      const json_t *t, size_t n, const char *ws, json_t **created)
{
    tm_call_t call = req->call;
    snprintf(call.idem_key, sizeof call.idem_key, "%s:%zu", tm_query_param(req->msg, "id"), n);
    json_t *body = task_body(t, ws), *reply = NULL;
    int status = 0;
    int rc = tm_nats_request_json(w->nc, TM_SUBJ_TASK_CREATE, &call, body, TASK_CALL_TIMEOUT_MS,
                                  &status, &reply);
    json_decref(body);
    if (rc == TM_OK && (status == 200 || status == 201)) {
        *created = reply;
        return TM_OK;
    }
    if (rc == TM_OK) /* pass tm-task's answer (a problem) through */
        tm_svc_reply_json(rep, status, reply ? reply : json_object());
    else
        tm_svc_reply_problem(rep, req, rc == TM_ERR_TIMEOUT ? 504 : 503, NULL,
                             "the task service did not answer");
    return rc == TM_OK ? TM_ERR_CONFLICT : rc;
}

static const tm_json_field_t accept_fields[] = {
    {.name = "workspace_id", .kind = TM_JF_UUID},
};

int ai_h_accept(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    stored_t s;
    if (!ai_h_user(req, rep) || tm_svc_check_body(req, rep, accept_fields, 1) != TM_OK)
        return TM_OK;
    int rc = load_stored(w, req, rep, &s);
    if (rc != TM_OK)
        return rc == TM_ERR_NOT_FOUND ? TM_OK : rc;
    json_t *tasks = json_object_get(s.item, "tasks"), *created = json_array();
    const char *ws =
        tm_json_str(req->json, "workspace_id", s.workspace_id[0] ? s.workspace_id : NULL);
    if (strcmp(s.status, "rejected") == 0) {
        tm_svc_reply_problem(rep, req, 409, "conflict", "the suggestion was rejected");
        goto done;
    }
    if (json_array_size(tasks) > 0 && !ws) {
        tm_svc_reply_problem(rep, req, 422, "validation", "workspace_id is required");
        goto done;
    }
    size_t i;
    json_t *t, *one = NULL;
    json_array_foreach(tasks, i, t)
    {
        if (create_one(w, req, rep, t, i, ws, &one) != TM_OK)
            goto done;
        json_array_append_new(created, one);
    }
    if ((rc = decide(w, req, "accepted", created)) == TM_OK)
        tm_svc_reply_json(rep, 200,
                          json_pack("{s:s, s:s, s:O}", "id", tm_query_param(req->msg, "id"),
                                    "status", "accepted", "tasks", created));
done:
    json_decref(created);
    json_decref(s.item);
    return rc;
}

int ai_h_reject(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    stored_t s;
    if (!ai_h_user(req, rep))
        return TM_OK;
    int rc = load_stored(w, req, rep, &s);
    if (rc != TM_OK)
        return rc == TM_ERR_NOT_FOUND ? TM_OK : rc;
    if (strcmp(s.status, "accepted") == 0)
        tm_svc_reply_problem(rep, req, 409, "conflict", "the suggestion was accepted");
    else if ((rc = decide(w, req, "rejected", NULL)) == TM_OK)
        tm_svc_reply_json(
            rep, 200,
            json_pack("{s:s, s:s}", "id", tm_query_param(req->msg, "id"), "status", "rejected"));
    json_decref(s.item);
    return rc;
}
