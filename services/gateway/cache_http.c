/* gw_cache_http: see cache_http.h. */
#include "cache_http.h"

#include <ctype.h>
#include <stdatomic.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"

#define MAX_QUERY_PARAMS     32
#define EVENTS_PENDING_MSGS  65536
#define EVENTS_PENDING_BYTES (64 * 1024 * 1024)
#define REPLY_PARSE_MAX      (1024 * 1024)
#define HINTED_BODY_MAX      1024 /* a POST read by hint is keyed by its whole body */

enum {
    RULE_NONE = 0,
    RULE_TASK,
    RULE_TASK_LIST,
    RULE_WORKSPACE,
    RULE_WORKSPACE_LIST,
    RULE_HINTED, /* stored only when the service's reply carries Tm-Cache (tm-ai's answers) */
};

/* The NATS epoch (tm_nats_epoch) the cache's content belongs to: events missed while a
 * connection was down could leave entries stale, so the first lookup after a disconnect or
 * a reconnect empties the cache, and a request that started before one stores nothing. */
static _Atomic uint64_t g_nats_epoch;

/* Task tag slot -> 1 + tag slot of the task's workspace, learned from task replies, so
 * that a write that names only the task (DELETE, 204) still drops the workspace's lists. */
static _Atomic uint32_t g_task_ws[GW_CACHE_TAG_SLOTS];

static struct {
    tm_counter_t *hits, *misses, *stores, *invalidations, *events;
    tm_gauge_t *entries, *bytes;
} g_m;

static int rule_of(const gw_route_t *r)
{
    if (r->local != GW_LOCAL_NONE)
        return RULE_NONE;
    /* tm-ai's suggestions: a POST whose answer, for the same user and body, is the same
     * stored set while tm-ai keeps it cached (it says so with Tm-Cache) */
    if (strcmp(r->method, "POST") == 0 && strcmp(r->pattern, "/api/v1/ai/suggestions") == 0)
        return RULE_HINTED;
    if (strcmp(r->method, "GET") != 0)
        return RULE_NONE;
    if (strcmp(r->pattern, "/api/v1/tasks/{id}") == 0)
        return RULE_TASK;
    if (strcmp(r->pattern, "/api/v1/tasks") == 0)
        return RULE_TASK_LIST;
    if (strcmp(r->pattern, "/api/v1/workspaces/{id}") == 0 ||
        strcmp(r->pattern, "/api/v1/workspaces/{id}/members") == 0)
        return RULE_WORKSPACE;
    if (strcmp(r->pattern, "/api/v1/workspaces") == 0)
        return RULE_WORKSPACE_LIST;
    if (strcmp(r->pattern, "/api/v1/ai/insights") == 0 ||
        strcmp(r->pattern, "/api/v1/ai/recommendations") == 0)
        return RULE_HINTED;
    return RULE_NONE;
}

static uint32_t tag_of(char kind, const char *id, size_t n)
{
    char buf[80];
    int len = snprintf(buf, sizeof(buf), "%c:%.*s", kind, (int)(n < 64 ? n : 64), id);
    return gw_cache_tag(buf, (size_t)len);
}

static void add_tag(gw_cache_ticket_t *tk, char kind, const char *id, size_t n)
{
    if (tk->ntags < GW_CACHE_MAX_TAGS && n > 0)
        tk->tags[tk->ntags++] = tag_of(kind, id, n);
}

static void invalidate(gw_server_t *s, char kind, const char *id, size_t n)
{
    if (n == 0)
        return;
    gw_cache_invalidate(s->cache, tag_of(kind, id, n));
    tm_counter_add(g_m.invalidations, 1);
}

/* ------------------------------------------------------------------ events */

static void on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_server_t *s = closure;
    const char *subj = natsMsg_GetSubject(msg), *prefix = "tm.v1.evt.";
    size_t plen = strlen(prefix);
    tm_counter_add(g_m.events, 1);
    if (strncmp(subj, prefix, plen) == 0) {
        const char *ws = subj + plen, *dot = strchr(ws, '.');
        if (dot != NULL) {
            invalidate(s, 'w', ws, (size_t)(dot - ws));
            if (strncmp(dot + 1, "member.", 7) == 0) {
                json_t *ev =
                    json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
                const char *uid =
                    json_string_value(json_object_get(json_object_get(ev, "data"), "user_id"));
                if (uid != NULL)
                    invalidate(s, 'u', uid, strlen(uid));
                json_decref(ev);
            }
        }
    }
    tm_nats_msg_free(msg);
}

/* tm-ai dropped the answers of these users ({"user_ids": [...]}, after its COMMIT): so do
 * we. Their "a:" tag is on nothing else, so their task and workspace entries stay. */
static void on_ai_dropped(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_server_t *s = closure;
    json_t *o = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
    json_t *ids = json_object_get(o, "user_ids"), *id;
    size_t i;
    tm_counter_add(g_m.events, 1);
    if (!json_is_array(ids)) { /* not ours to judge: drop every hinted answer */
        TM_WARN("cache: %s without user_ids: every AI answer dropped", TM_SUBJ_AI_DROPPED);
        invalidate(s, 'a', "*", 1);
    }
    json_array_foreach(ids, i, id)
    {
        if (json_is_string(id))
            invalidate(s, 'a', json_string_value(id), json_string_length(id));
    }
    json_decref(o);
    tm_nats_msg_free(msg);
}

void gw_cache_http_init(gw_server_t *s)
{
    s->cache = gw_cache_new((size_t)s->cfg->cache_bytes, s->cfg->cache_ttl_ms);
    atomic_store(&g_nats_epoch, tm_nats_epoch());
    g_m.hits = tm_metrics_counter("tm_cache_hits_total", "response cache hits", "");
    g_m.misses = tm_metrics_counter("tm_cache_misses_total", "response cache misses", "");
    g_m.stores = tm_metrics_counter("tm_cache_stores_total", "responses stored in the cache", "");
    g_m.invalidations =
        tm_metrics_counter("tm_cache_invalidations_total", "cache tag invalidations", "");
    g_m.events =
        tm_metrics_counter("tm_cache_events_total", "events received for invalidation", "");
    g_m.entries =
        tm_metrics_gauge("tm_cache_entries", "entries in the response cache (at last store)", "");
    g_m.bytes =
        tm_metrics_gauge("tm_cache_bytes", "bytes in the response cache (at last store)", "");
}

static int subscribe_one(gw_server_t *s, natsSubscription **sub, const char *subject,
                         natsMsgHandler fn)
{
    if (natsConnection_Subscribe(sub, s->nc_events, subject, fn, s) != NATS_OK ||
        natsSubscription_SetPendingLimits(*sub, EVENTS_PENDING_MSGS, EVENTS_PENDING_BYTES) !=
            NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", subject, nats_GetLastError(NULL));
        return TM_ERR_NATS;
    }
    return TM_OK;
}

int gw_cache_http_subscribe(gw_server_t *s)
{
    if (subscribe_one(s, &s->events_sub, TM_SUBJ_EVT_ALL, on_event) != TM_OK ||
        subscribe_one(s, &s->ai_sub, TM_SUBJ_AI_DROPPED, on_ai_dropped) != TM_OK)
        return TM_ERR_NATS;
    if (natsConnection_Flush(s->nc_events) != NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "cache subscriptions: flush: %s", nats_GetLastError(NULL));
        return TM_ERR_NATS;
    }
    return TM_OK;
}

static void unsubscribe_one(natsSubscription **sub)
{
    if (*sub == NULL)
        return;
    natsSubscription_Unsubscribe(*sub);
    natsSubscription_Destroy(*sub);
    *sub = NULL;
}

void gw_cache_http_unsubscribe(gw_server_t *s)
{
    unsubscribe_one(&s->events_sub);
    unsubscribe_one(&s->ai_sub);
}

/* ------------------------------------------------------------------ keys */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "<user>|<role>|<path>?<params sorted>[#<body>]" into a malloc'd string; NULL if not
 * cacheable. */
static char *make_key(h2o_req_t *req, const gw_jwt_claims_t *c, const h2o_iovec_t *body,
                      size_t *klen)
{
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char *params[MAX_QUERY_PARAMS];
    int n = 0;
    char *q = NULL;
    if (req->query_at != SIZE_MAX) {
        q = tm_xstrndup(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
        for (char *save = NULL, *p = strtok_r(q, "&", &save); p != NULL;
             p = strtok_r(NULL, "&", &save)) {
            if (n == MAX_QUERY_PARAMS) {
                free(q);
                return NULL;
            }
            params[n++] = p;
        }
        qsort(params, (size_t)n, sizeof(params[0]), cmp_str);
    }
    size_t cap = 128 + plen + (req->path.len - plen) + 2, len;
    char *key = tm_xmalloc(cap);
    len =
        (size_t)snprintf(key, cap, "%s|%d|%.*s?", c->sub, (int)c->role, (int)plen, req->path.base);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(key + len, cap - len, "%s%s", i ? "&" : "", params[i]);
    free(q);
    if (body != NULL) { /* "#<body bytes>" (binary: the key is compared by length and bytes) */
        key = tm_xrealloc(key, len + 2 + body->len);
        key[len++] = '#';
        memcpy(key + len, body->base, body->len);
        len += body->len;
    }
    *klen = len;
    return key;
}

/* The single workspace_id=<id> of a task list query (id made of param characters). */
static bool list_workspace(h2o_req_t *req, const char **id, size_t *n)
{
    if (req->query_at == SIZE_MAX)
        return false;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    int found = 0;
    for (const char *p = q; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > 13 && memcmp(p, "workspace_id=", 13) == 0) {
            *id = p + 13;
            *n = (size_t)(e - p - 13);
            found++;
        }
        p = e + 1;
    }
    if (found != 1 || *n > GW_PARAM_MAX)
        return false;
    for (size_t i = 0; i < *n; i++)
        if (!isalnum((unsigned char)(*id)[i]) && (*id)[i] != '-')
            return false;
    return true;
}

static void param_tags(const gw_route_t *r, const gw_params_t *params, gw_cache_ticket_t *tk)
{
    for (int i = 0; i < params->n; i++) {
        if (params->p[i].name_len == 4 && memcmp(params->p[i].name, "user", 4) == 0)
            add_tag(tk, 'u', params->p[i].value, params->p[i].len);
        if (params->p[i].name_len != 2 || memcmp(params->p[i].name, "id", 2) != 0)
            continue;
        if (strncmp(r->pattern, "/api/v1/tasks/", 14) == 0)
            add_tag(tk, 't', params->p[i].value, params->p[i].len);
        else if (strncmp(r->pattern, "/api/v1/workspaces/", 19) == 0)
            add_tag(tk, 'w', params->p[i].value, params->p[i].len);
    }
}

/* ------------------------------------------------------------------ requests */

/* HTTP/2 needs lowercase names; HTTP/1.1 shows the given spelling. */
static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t n = strlen(name);
    h2o_iovec_t orig = h2o_strdup(&req->pool, name, n), lower = h2o_strdup(&req->pool, name, n);
    for (size_t i = 0; i < n; i++)
        lower.base[i] = (char)tolower((unsigned char)lower.base[i]);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, lower.base, n, 1, orig.base, v.base,
                          v.len);
}

static void serve_hit(h2o_req_t *req, const gw_http_log_t *lg, const gw_cache_item_t *it)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, -1);
    add_header(req, "X-Cache", "HIT");
    if (it->etag[0] != '\0')
        add_header(req, "ETag", it->etag);
    if (i >= 0 && it->etag[0] != '\0' &&
        h2o_memis(req->headers.entries[i].value.base, req->headers.entries[i].value.len, it->etag,
                  strlen(it->etag))) {
        gw_http_send(req, lg, 304, NULL, "", 0);
        return;
    }
    gw_http_send(req, lg, 200, it->ctype, it->body, it->len);
}

bool gw_cache_http_begin(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r,
                         const gw_params_t *params, const gw_jwt_claims_t *c,
                         const gw_http_log_t *lg, gw_cache_ticket_t *tk)
{
    gw_server_t *s = t->server;
    const char *ws = NULL;
    size_t wn = 0;
    gw_cache_item_t it;
    memset(tk, 0, sizeof(*tk));
    if (c == NULL || s->cache == NULL)
        return false;
    int rule = rule_of(r);
    bool post_read = rule == RULE_HINTED && strcmp(r->method, "POST") == 0;
    if (post_read &&
        (req->entity.len > HINTED_BODY_MAX ||
         h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1) >= 0)) {
        post_read = false; /* the service judges idempotency keys and large bodies */
        rule = RULE_NONE;
    }
    if (strcmp(r->method, "GET") != 0 && !post_read) {
        tk->write = true;
        add_tag(tk, 'u', c->sub, strlen(c->sub));
        param_tags(r, params, tk);
        return false;
    }
    if (rule == RULE_NONE || s->cfg->cache_bytes == 0 ||
        (rule == RULE_TASK_LIST && !list_workspace(req, &ws, &wn)))
        return false;
    if ((tk->key = make_key(req, c, post_read ? &req->entity : NULL, &tk->klen)) == NULL)
        return false;
    tk->rule = rule;
    tk->nats_epoch = tm_nats_epoch();
    uint64_t had = atomic_load(&g_nats_epoch);
    if (had != tk->nats_epoch &&
        atomic_compare_exchange_strong(&g_nats_epoch, &had, tk->nats_epoch))
        gw_cache_clear(s->cache);
    tk->epoch = gw_cache_epoch(s->cache);
    add_tag(tk, 'u', c->sub, strlen(c->sub));
    param_tags(r, params, tk);
    if (ws != NULL)
        add_tag(tk, 'w', ws, wn);
    if (rule == RULE_HINTED) { /* tm.v1.ai.dropped names the user, or drops them all */
        add_tag(tk, 'a', c->sub, strlen(c->sub));
        add_tag(tk, 'a', "*", 1);
    }
    if (!gw_cache_lookup(s->cache, tk->key, tk->klen, tm_now_ms(), &it)) {
        tm_counter_add(g_m.misses, 1);
        return false;
    }
    tm_counter_add(g_m.hits, 1);
    serve_hit(req, lg, &it);
    free((char *)it.body);
    gw_cache_http_dispose(tk);
    return true;
}

void gw_cache_http_dispose(gw_cache_ticket_t *tk)
{
    free(tk->key);
    memset(tk, 0, sizeof(*tk));
}

static int reply_status(natsMsg *msg)
{
    const char *st = NULL;
    if (natsMsgHeader_Get(msg, TM_HDR_STATUS, &st) != NATS_OK || st == NULL)
        return 500;
    return atoi(st);
}

static json_t *reply_json(natsMsg *msg)
{
    int n = natsMsg_GetDataLength(msg);
    const char *d = natsMsg_GetData(msg);
    if (n < 2 || n > REPLY_PARSE_MAX || d[0] != '{')
        return NULL;
    return json_loadb(d, (size_t)n, 0, NULL);
}

/* Tags and version a read learns from its reply. False: do not store it. */
static bool tags_from_reply(gw_cache_ticket_t *tk, json_t *body, int64_t *version)
{
    if (tk->rule == RULE_TASK) {
        const char *ws = json_string_value(json_object_get(body, "workspace_id"));
        json_t *v = json_object_get(body, "version");
        if (ws == NULL)
            return false;
        add_tag(tk, 'w', ws, strlen(ws));
        if (tk->ntags >= 3) /* u, t, w */
            atomic_store(&g_task_ws[tk->tags[1]], tk->tags[tk->ntags - 1] + 1);
        *version = json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
    } else if (tk->rule == RULE_WORKSPACE_LIST) {
        json_t *data = json_object_get(body, "data"), *w;
        size_t i;
        if (!json_is_array(data) || tk->ntags + json_array_size(data) > GW_CACHE_MAX_TAGS)
            return false; /* more workspaces than tags: left to the service */
        json_array_foreach(data, i, w)
        {
            const char *id = json_string_value(json_object_get(w, "id"));
            if (id == NULL)
                return false;
            add_tag(tk, 'w', id, strlen(id));
        }
    }
    return true;
}

/* The life a service gives its reply in Tm-Cache ("private, max-age=<s>"), in ms; 0 when
 * there is none or it says no-store / max-age=0. */
static int64_t hint_ttl_ms(natsMsg *msg)
{
    const char *h = NULL, *ma;
    if (natsMsgHeader_Get(msg, TM_HDR_CACHE, &h) != NATS_OK || h == NULL ||
        strstr(h, "no-store") != NULL || (ma = strstr(h, "max-age=")) == NULL)
        return 0;
    char *end;
    long long sec = strtoll(ma + 8, &end, 10);
    if (end == ma + 8 || sec <= 0)
        return 0;
    return sec > 86400 ? 86400000 : (int64_t)sec * 1000;
}

static void store(gw_server_t *s, gw_cache_ticket_t *tk, natsMsg *msg)
{
    const char *cc = NULL, *etag = NULL, *ctype = NULL;
    gw_cache_item_t it = {.body = natsMsg_GetData(msg), .len = (size_t)natsMsg_GetDataLength(msg)};
    if (natsMsgHeader_Get(msg, "Cache-Control", &cc) == NATS_OK && cc != NULL &&
        strstr(cc, "no-store"))
        return;
    if (tk->rule == RULE_HINTED && (it.ttl_ms = hint_ttl_ms(msg)) == 0)
        return;
    json_t *body =
        tk->rule == RULE_TASK || tk->rule == RULE_WORKSPACE_LIST ? reply_json(msg) : NULL;
    bool ok = (body != NULL || (tk->rule != RULE_TASK && tk->rule != RULE_WORKSPACE_LIST)) &&
              tags_from_reply(tk, body, &it.version);
    json_decref(body);
    if (!ok)
        return;
    if (natsMsgHeader_Get(msg, "ETag", &etag) == NATS_OK && etag != NULL)
        snprintf(it.etag, sizeof(it.etag), "%s", etag);
    if (natsMsgHeader_Get(msg, TM_HDR_CONTENT_TYPE, &ctype) != NATS_OK || ctype == NULL)
        ctype = "application/json";
    snprintf(it.ctype, sizeof(it.ctype), "%s", ctype);
    if (gw_cache_store(s->cache, tk->key, tk->klen, &it, tk->tags, tk->ntags, tk->epoch,
                       tm_now_ms())) {
        uint64_t entries, bytes;
        tm_counter_add(g_m.stores, 1);
        gw_cache_size(s->cache, &entries, &bytes);
        tm_gauge_set(g_m.entries, (int64_t)entries);
        tm_gauge_set(g_m.bytes, (int64_t)bytes);
    }
}

/* Read your writes: the write's own tags, then the workspace its reply names. */
static void invalidate_write(gw_server_t *s, gw_cache_ticket_t *tk, natsMsg *msg)
{
    for (int i = 0; i < tk->ntags; i++) {
        uint32_t ws_slot = atomic_load(&g_task_ws[tk->tags[i]]);
        gw_cache_invalidate(s->cache, tk->tags[i]);
        if (ws_slot != 0) /* a task we cached: its workspace too (might be a collision: harmless) */
            gw_cache_invalidate(s->cache, ws_slot - 1);
        tm_counter_add(g_m.invalidations, 1);
    }
    json_t *body = msg != NULL ? reply_json(msg) : NULL;
    const char *ws = json_string_value(json_object_get(body, "workspace_id"));
    const char *uid = json_string_value(json_object_get(body, "user_id"));
    if (ws != NULL)
        invalidate(s, 'w', ws, strlen(ws));
    if (uid != NULL) /* membership changes: the member's own lists */
        invalidate(s, 'u', uid, strlen(uid));
    json_decref(body);
}

void gw_cache_http_end(gw_thread_t *t, h2o_req_t *req, gw_cache_ticket_t *tk, natsMsg *msg)
{
    gw_server_t *s = t->server;
    bool replied = msg != NULL && !natsMsg_IsNoResponders(msg);
    if (tk->write)
        invalidate_write(s, tk, replied ? msg : NULL);
    else if (tk->rule != RULE_NONE) {
        if (req != NULL)
            add_header(req, "X-Cache", "MISS");
        if (replied && reply_status(msg) == 200 && tm_nats_epoch() == tk->nats_epoch)
            store(s, tk, msg);
    }
    gw_cache_http_dispose(tk);
}

void gw_cache_http_admin(gw_thread_t *t, h2o_req_t *req, const gw_http_log_t *lg)
{
    gw_server_t *s = t->server;
    gw_cache_stats_t st;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE"))) {
        gw_cache_clear(s->cache);
        tm_gauge_set(g_m.entries, 0);
        tm_gauge_set(g_m.bytes, 0);
        gw_http_send(req, lg, 204, NULL, "", 0);
        return;
    }
    gw_cache_stats(s->cache, tm_now_ms(), &st);
    uint64_t lookups = st.hits + st.misses;
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I}", "entries", (json_int_t)st.entries,
        "bytes", (json_int_t)st.bytes, "hits", (json_int_t)st.hits, "misses", (json_int_t)st.misses,
        "hit_rate", lookups ? (double)st.hits / (double)lookups : 0.0, "evictions",
        (json_int_t)st.evictions, "invalidations", (json_int_t)st.invalidations, "stores",
        (json_int_t)st.stores, "max_bytes", (json_int_t)s->cfg->cache_bytes, "ttl_ms",
        (json_int_t)s->cfg->cache_ttl_ms);
    char *text = json_dumps(o, JSON_COMPACT);
    gw_http_send(req, lg, 200, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}
