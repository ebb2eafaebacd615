/* ai_handlers: routes table, shared helpers, and the read-only routes (parse, insights,
 * recommend). Suggestions live in handlers_suggest.c. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "insights.h"
#include "parse.h"
#include "suggest_rules.h"
#include "tm_json.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_query.h"
#include "tm_subjects.h"
#include "tm_util.h"
#include "tz.h"
#include "urgency.h"

#define RECOMMEND_DEFAULT 10
#define RECOMMEND_MAX     50

static int h_parse(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
static int h_insights(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
static int h_recommend(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
static bool h_insights_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep);
static bool h_recommend_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep);

const tm_svc_route_t ai_routes[] = {
    {.subject = TM_SUBJ_AI_PARSE, .fn = h_parse},
    {.subject = TM_SUBJ_AI_INSIGHTS, .fn = h_insights, .fast = h_insights_fast},
    {.subject = TM_SUBJ_AI_RECOMMEND, .fn = h_recommend, .fast = h_recommend_fast},
    {.subject = TM_SUBJ_AI_SUGGEST, .fn = ai_h_suggest, .fast = ai_h_suggest_fast},
    {.subject = TM_SUBJ_AI_ACCEPT, .fn = ai_h_accept},
    {.subject = TM_SUBJ_AI_REJECT, .fn = ai_h_reject},
};
const size_t ai_nroutes = sizeof ai_routes / sizeof ai_routes[0];

/* The answer cache as the fast routes see it: tm_svc_route_t.fast gets no context, and a
 * process has one ai_app_t. Set before the harness starts; NULL: no fast answers. */
static ai_cache_t *g_fast_cache;
static tm_counter_t *g_fast_hits;

void ai_handlers_init(ai_app_t *app)
{
    g_fast_cache = app ? app->cache : NULL;
    g_fast_hits = tm_metrics_counter("tm_ai_cache_fast_hits_total",
                                     "Cached answers sent from the NATS reader thread", NULL);
}

int ai_handlers_worker_init(tm_svc_worker_t *w, void *arg)
{
    w->user = arg;
    return TM_OK;
}

ai_app_t *ai_h_app(tm_svc_worker_t *w)
{
    return w->user;
}

bool ai_h_user(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_is_uuid(req->call.user_id))
        return true;
    tm_svc_reply_problem(rep, req, 401, NULL, "authentication required");
    return false;
}

json_t *ai_h_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    tm_format_rfc3339_ms(ms, buf, sizeof buf);
    return json_string(buf);
}

char *ai_h_cache_get(tm_svc_worker_t *w, const char *user, const char *key, ai_h_cached_t *ctx)
{
    ai_cache_t *cache = ai_h_app(w)->cache;
    int64_t now = tm_now_ms(), stored_gen;
    char *text = NULL;
    ctx->gen = -1;
    if (!ai_cache_enabled(cache))
        return NULL;
    ai_cache_result_t r = ai_cache_get(cache, user, key, now, &text, &stored_gen);
    if (r == AI_CACHE_HIT)
        return text;
    /* the epoch before the generation: an invalidation in between marks the put unconfirmed */
    ctx->epoch = ai_cache_epoch(cache);
    if (ai_projection_gen(w->pg, user, &ctx->gen) != TM_OK) {
        ctx->gen = -1; /* unknown: neither read nor write the cache */
        return NULL;
    }
    return r == AI_CACHE_CHECK ? ai_cache_confirm(cache, user, key, ctx->gen, now) : NULL;
}

void ai_h_cache_put(tm_svc_worker_t *w, const char *user, const char *key, const ai_h_cached_t *ctx,
                    json_t *reply)
{
    if (ctx->gen < 0)
        return;
    json_t *was = json_incref(json_object_get(reply, "cached"));
    json_object_set_new(reply, "cached", json_true());
    char *text = tm_json_dumps(reply, NULL);
    json_object_set_new(reply, "cached", was ? was : json_false());
    ai_cache_put(ai_h_app(w)->cache, user, key, ctx->gen, ctx->epoch, text, tm_now_ms());
    free(text);
}

int ai_h_tasks(tm_svc_worker_t *w, const char *user, const ai_h_cached_t *ctx, ai_tsets_ref_t *ref)
{
    return ai_tsets_acquire(ai_h_app(w)->tsets, w->pg, user, tm_now_ms(), ctx ? ctx->gen : -1, ref);
}

void ai_h_tasks_done(tm_svc_worker_t *w, ai_tsets_ref_t *ref)
{
    ai_tsets_release(ai_h_app(w)->tsets, ref);
}

void ai_h_reply_cached(tm_svc_reply_t *rep, char *text)
{
    rep->status = 200;
    rep->raw = text;
    rep->raw_len = strlen(text);
    tm_svc_reply_header(rep, TM_HDR_CONTENT_TYPE, "application/json");
    ai_edge_hint(rep); /* gateways may keep an answer served from the cache (edge.h) */
}

/* Reader thread: a hit confirmed within AI_CACHE_RECHECK_MS is sent from memory, saving the
 * hand-off to a worker (a wake-up and a context switch, most of a hit's cost). Anything
 * else - a miss, a hit whose generation needs a look at Postgres, no user - goes to a
 * worker, which answers exactly as it would have; so does one request per entry late in its
 * window, which confirms the entry before the window ends (ai_cache_get_fast). */
bool ai_h_fast_hit(const tm_svc_req_t *req, const char *key, tm_svc_reply_t *rep)
{
    char *text = NULL;
    if (!tm_is_uuid(req->call.user_id) ||
        !ai_cache_get_fast(g_fast_cache, req->call.user_id, key, tm_now_ms(), &text))
        return false;
    tm_counter_add(g_fast_hits, 1);
    ai_h_reply_cached(rep, text);
    return true;
}

/* ---- parse ---- */

static const tm_json_field_t parse_fields[] = {
    {.name = "text", .kind = TM_JF_STRING, .required = true, .min = 1, .max = AI_PARSE_MAX_CHARS},
    {.name = "timezone", .kind = TM_JF_STRING, .min = 1, .max = AI_TZ_NAME_MAX - 1},
    {.name = "now", .kind = TM_JF_TIME},
};

static int h_parse(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)w;
    if (!ai_h_user(req, rep) || tm_svc_check_body(req, rep, parse_fields, 3) != TM_OK)
        return TM_OK;
    int64_t now = tm_wall_ms();
    const char *now_s = tm_json_str(req->json, "now", NULL);
    if (now_s && tm_parse_rfc3339(now_s, &now) != TM_OK)
        now = tm_wall_ms();
    const char *tz = tm_json_str(req->json, "timezone", "UTC");
    ai_parse_result_t *r = tm_xmalloc(sizeof *r);
    int rc = ai_parse(tm_json_str(req->json, "text", ""), tz, now, r);
    if (rc != TM_OK) {
        tm_svc_reply_problem(rep, req, 400, "validation", "%s",
                             rc == TM_ERR_LIMIT ? "text is too long"
                                                : "text or timezone is not valid");
        free(r);
        return TM_OK;
    }
    json_t *out = ai_parse_to_json(r);
    json_object_set_new(out, "source", json_string("rules"));
    free(r);
    tm_svc_reply_json(rep, 200, out);
    return TM_OK;
}

/* ---- insights ---- */

static int query_tz(const tm_svc_req_t *req, tm_svc_reply_t *rep, ai_tz_t *tz, char *name,
                    size_t cap)
{
    long n = tm_query_get(tm_query_string(req->msg), "timezone", name, cap);
    if (n <= 0)
        snprintf(name, cap, "UTC");
    if (n == -2 || ai_tz_init(tz, name) != TM_OK) {
        tm_svc_reply_problem(rep, req, 400, "validation", "timezone is not a known time zone");
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

/* Only a validated zone name is ever part of a stored key, so a fast lookup needs no
 * validation: an unknown or malformed name misses and its worker answers 400. */
static bool h_insights_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    char tzname[AI_TZ_NAME_MAX], key[128];
    long n = tm_query_get(tm_query_string(req->msg), "timezone", tzname, sizeof tzname);
    if (n == -2)
        return false;
    snprintf(key, sizeof key, "insights|%s", n > 0 ? tzname : "UTC");
    return ai_h_fast_hit(req, key, rep);
}

static int h_insights(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    ai_tz_t tz;
    char tzname[AI_TZ_NAME_MAX], key[128];
    if (!ai_h_user(req, rep) || query_tz(req, rep, &tz, tzname, sizeof tzname) != TM_OK)
        return TM_OK;
    const char *user = req->call.user_id;
    snprintf(key, sizeof key, "insights|%s", tzname);
    ai_h_cached_t cc;
    char *hit = ai_h_cache_get(w, user, key, &cc);
    if (hit) {
        ai_h_reply_cached(rep, hit);
        return TM_OK;
    }
    ai_tsets_ref_t ref;
    int rc = ai_h_tasks(w, user, &cc, &ref);
    if (rc != TM_OK)
        return rc;
    int64_t now = tm_wall_ms();
    json_t *out = ai_insights(ref.set->tasks, ref.set->n, now, &tz);
    ai_h_tasks_done(w, &ref);
    json_object_set_new(out, "timezone", json_string(tzname));
    json_object_set_new(out, "generated_at", ai_h_time(now));
    json_object_set_new(out, "source", json_string("rules"));
    json_object_set_new(out, "cached", json_false());
    ai_h_cache_put(w, user, key, &cc, out);
    tm_svc_reply_json(rep, 200, out);
    return TM_OK;
}

/* ---- recommend ---- */

typedef struct {
    int64_t limit;
    char workspace_id[37];
} rec_query_t;

/* false when limit or workspace_id is malformed */
static bool rec_query_parse(const char *qs, rec_query_t *q)
{
    char buf[64];
    q->limit = RECOMMEND_DEFAULT;
    q->workspace_id[0] = '\0';
    long n = tm_query_get(qs, "limit", buf, sizeof buf);
    if (n > 0) {
        char *end = NULL;
        long long v = strtoll(buf, &end, 10);
        if (*end || v < 1 || v > RECOMMEND_MAX)
            n = -2;
        q->limit = v;
    }
    long m = tm_query_get(qs, "workspace_id", buf, sizeof buf);
    if (m == 36 && tm_is_uuid(buf))
        memcpy(q->workspace_id, buf, 37);
    return !(n == -2 || n == 0 || m == -2 || m == 0 || (m > 0 && !q->workspace_id[0]));
}

static int rec_query(const tm_svc_req_t *req, tm_svc_reply_t *rep, rec_query_t *q)
{
    if (rec_query_parse(tm_query_string(req->msg), q))
        return TM_OK;
    tm_svc_reply_problem(rep, req, 400, "validation", "limit must be 1..%d and workspace_id a UUID",
                         RECOMMEND_MAX);
    return TM_ERR_INVALID;
}

static void rec_key(const rec_query_t *q, char *key, size_t cap)
{
    snprintf(key, cap, "recommend|%lld|%s", (long long)q->limit, q->workspace_id);
}

typedef struct {
    const ai_task_set_t *set;
    bool any_ws;
    ai_uuid_key_t ws;
} open_pick_t;

static bool is_open(size_t i, void *arg)
{
    const open_pick_t *p = arg;
    const ai_task_meta_t *m = &p->set->meta[i];
    return p->set->tasks[i].completed_at == 0 && !m->done && !m->archived &&
           (p->any_ws || ai_uuid_key_eq(m->ws_key, p->ws));
}

static json_t *rec_item(const ai_task_t *t, const ai_task_meta_t *m, const ai_history_t *hist,
                        int64_t now, const ai_weights_t *wt)
{
    ai_urgency_parts_t p;
    double score = ai_urgency(t, now, wt, &p);
    size_t samples = 0;
    int est = ai_history_estimate(hist, t, &samples);
    const char *src = samples ? "history" : t->estimate_minutes > 0 ? "task" : "default";
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:f, s:{s:f, s:f, s:f, s:f}, s:i, s:s, s:i, "
                     "s:s}",
                     "task_id", t->id, "workspace_id", m->workspace_id, "title", t->title,
                     "priority", t->priority ? json_integer(t->priority) : json_null(), "due_at",
                     ai_h_time(t->due_at), "score", score, "parts", "priority", p.priority, "due",
                     p.due, "age", p.age, "quick_win", p.quick_win, "estimated_minutes", est,
                     "estimate_source", src, "estimate_samples", (int)samples, "difficulty",
                     ai_difficulty(est));
}

/* The open tasks ranked by urgency: one scoring pass keeping the best q->limit. */
static json_t *recommend(const ai_task_set_t *s, const rec_query_t *q, const ai_weights_t *wt)
{
    size_t order[RECOMMEND_MAX];
    int64_t now = tm_wall_ms();
    open_pick_t pick = {.set = s, .any_ws = !q->workspace_id[0]};
    (void)ai_uuid_key(q->workspace_id, &pick.ws);
    size_t k = ai_urgency_top(s->tasks, s->n, is_open, &pick, now, wt, (size_t)q->limit, order);
    ai_history_t hist;
    ai_history_init(&hist, s->tasks, s->n);
    json_t *data = json_array();
    for (size_t i = 0; i < k; i++)
        json_array_append_new(data,
                              rec_item(&s->tasks[order[i]], &s->meta[order[i]], &hist, now, wt));
    ai_history_dispose(&hist);
    return json_pack("{s:o, s:o, s:s, s:b}", "data", data, "generated_at", ai_h_time(now), "source",
                     "rules", "cached", 0);
}

static bool h_recommend_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    rec_query_t q;
    char key[128];
    if (!rec_query_parse(tm_query_string(req->msg), &q))
        return false;
    rec_key(&q, key, sizeof key);
    return ai_h_fast_hit(req, key, rep);
}

static int h_recommend(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    rec_query_t q;
    char key[128];
    if (!ai_h_user(req, rep) || rec_query(req, rep, &q) != TM_OK)
        return TM_OK;
    const char *user = req->call.user_id;
    rec_key(&q, key, sizeof key);
    ai_h_cached_t cc;
    char *hit = ai_h_cache_get(w, user, key, &cc);
    if (hit) {
        ai_h_reply_cached(rep, hit);
        return TM_OK;
    }
    ai_tsets_ref_t ref;
    int rc = ai_h_tasks(w, user, &cc, &ref);
    if (rc != TM_OK)
        return rc;
    json_t *out = recommend(ref.set, &q, &ai_h_app(w)->cfg->weights);
    ai_h_tasks_done(w, &ref);
    ai_h_cache_put(w, user, key, &cc, out);
    tm_svc_reply_json(rep, 200, out);
    return TM_OK;
}
