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
    /* every item of one answer in one statement (one round trip, atomic on its own) */
    {"sugg_insert",
     "INSERT INTO suggestions (id, user_id, workspace_id, kind, title, item, source, model, "
     "prompt_hash, latency_ms, tokens) SELECT (e->>'id')::uuid, $1, "
     "(e->>'workspace_id')::uuid, COALESCE(e->>'kind', 'focus'), COALESCE(e->>'title', ''), "
     "e, $2, $3, $4, $5::int, $6::int FROM jsonb_array_elements($7::jsonb) AS e",
     7},
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
    /* open: a copy of the open tasks of the workspace; the history is the whole set (every
     * rule reads only its completed tasks), so it is not copied */
    ai_task_t *open = tm_xmalloc((set->n + 1) * sizeof *open);
    size_t no = 0;
    ai_uuid_key_t key;
    (void)ai_uuid_key(ws, &key);
    for (size_t i = 0; i < set->n; i++)
        if (!set->tasks[i].completed_at && !set->meta[i].archived &&
            (!ws || ai_uuid_key_eq(set->meta[i].ws_key, key)))
            open[no++] = set->tasks[i];
    ai_suggest_opts_t o;
    ai_suggest_defaults(&o);
    o.max_suggestions = limit;
    json_t *items = ai_suggest(open, no, set->tasks, set->n, tm_wall_ms(), &o);
    free(open);
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

/* The prompt for the model, from the user's tasks (read under the set's lock). */
static json_t *llm_prompt(const tm_svc_req_t *req, const ai_task_set_t *set, const char *context,
                          size_t limit)
{
    int64_t now = tm_wall_ms();
    ai_tz_t utc;
    if (ai_tz_init(&utc, "UTC") != TM_OK)
        return NULL;
    json_t *analytics = ai_insights(set->tasks, set->n, now, &utc);
    json_t *msgs = ai_prompt_messages(req->call.user_id, set, analytics, context, limit, now);
    json_decref(analytics);
    return msgs;
}

/* Ask the model (the user's tasks are not held meanwhile: the call may take seconds). */
static void try_llm(tm_svc_worker_t *w, const tm_svc_req_t *req, json_t *msgs, size_t limit,
                    round_t *r)
{
    ai_app_t *app = ai_h_app(w);
    ai_prompt_hash(msgs, r->prompt_hash);
    r->model = ai_llm_model(app->llm);
    ai_llm_result_t res;
    int64_t budget = llm_budget(req, app->cfg);
    int rc = budget > 0 ? ai_llm_suggest(app->llm, msgs, limit, budget, &res) : TM_ERR_TIMEOUT;
    if (budget <= 0)
        res = (ai_llm_result_t){.result = "timeout"};
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

/* Each item's workspace into its "workspace_id": the asked one, else that of the task it
 * is about (from the user's set), else null. */
static void item_workspaces(json_t *items, const ai_task_set_t *set, const char *ws)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *tid = tm_json_str(it, "task_id", NULL), *found = ws;
        long k = !ws && tid ? ai_task_set_find(set, tid) : -1;
        if (k >= 0)
            found = set->meta[k].workspace_id;
        json_object_set_new(it, "workspace_id", found ? json_string(found) : json_null());
    }
}

/* Give every item its id and store them all, with the round's provenance. */
static int store_all(tm_svc_worker_t *w, const char *user, const round_t *r)
{
    size_t i;
    json_t *it;
    json_array_foreach(r->items, i, it)
    {
        char id[37];
        tm_uuid_v4(id);
        json_object_set_new(it, "id", json_string(id));
    }
    if (json_array_size(r->items) == 0)
        return TM_OK;
    char lat[24], tok[24];
    snprintf(lat, sizeof lat, "%lld", (long long)r->latency_ms);
    snprintf(tok, sizeof tok, "%lld", (long long)r->tokens);
    char *items = tm_json_dumps(r->items, NULL);
    bool llm = strcmp(r->source, "llm") == 0;
    const char *p[7] = {user, r->source, llm ? r->model : NULL, llm ? r->prompt_hash : NULL, lat,
                        tok,  items};
    PGresult *pr = NULL;
    int rc = tm_pg_exec(w->pg, "sugg_insert", 7, p, &pr, NULL);
    PQclear(pr);
    free(items);
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

/* Ask the model, then find its items' workspaces in the user's set (held again). */
static int llm_round(tm_svc_worker_t *w, const tm_svc_req_t *req, json_t *msgs, const char *ws,
                     size_t limit, const ai_h_cached_t *cc, round_t *r)
{
    try_llm(w, req, msgs, limit, r);
    json_decref(msgs);
    ai_tsets_ref_t ref;
    int rc = ai_h_tasks(w, req->call.user_id, cc, &ref);
    if (rc != TM_OK) {
        json_decref(r->items);
        r->items = NULL;
        return rc;
    }
    item_workspaces(r->items, ref.set, ws);
    ai_h_tasks_done(w, &ref);
    return TM_OK;
}

/* The rules' items, then the model's when one is configured; each item with its
 * workspace. The user's tasks are not held during the model call. */
static int suggest_round(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *ws, size_t limit,
                         const ai_h_cached_t *cc, round_t *r)
{
    ai_app_t *app = ai_h_app(w);
    ai_tsets_ref_t ref;
    int rc = ai_h_tasks(w, req->call.user_id, cc, &ref);
    if (rc != TM_OK)
        return rc;
    r->items = rules_items(ref.set, ws, limit);
    json_t *msgs =
        app->llm ? llm_prompt(req, ref.set, tm_json_str(req->json, "context", NULL), limit) : NULL;
    if (!msgs)
        item_workspaces(r->items, ref.set, ws);
    ai_h_tasks_done(w, &ref);
    return msgs ? llm_round(w, req, msgs, ws, limit, cc, r) : TM_OK;
}

static void suggest_key(const tm_svc_req_t *req, size_t limit, char *key, size_t cap)
{
    const char *ctx = tm_json_str(req->json, "context", "");
    char h[65];
    tm_sha256_hex(ctx, strlen(ctx), h);
    snprintf(key, cap, "suggest|%s|%zu|%s", tm_json_str(req->json, "workspace_id", ""), limit, h);
}

/* A body that fails validation is left to the worker, which answers 400. */
bool ai_h_suggest_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!tm_is_uuid(req->call.user_id) || tm_svc_check_body(req, rep, suggest_fields, 3) != TM_OK)
        return false;
    char key[160];
    suggest_key(req, (size_t)tm_json_int(req->json, "limit", SUGGEST_DEFAULT), key, sizeof key);
    return ai_h_fast_hit(req, key, rep);
}

int ai_h_suggest(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (!ai_h_user(req, rep) || tm_svc_check_body(req, rep, suggest_fields, 3) != TM_OK)
        return TM_OK;
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
    round_t r = {.source = "rules"};
    int rc = suggest_round(w, req, ws, limit, &cc, &r);
    if (rc != TM_OK)
        return rc;
    rc = store_all(w, user, &r);
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
