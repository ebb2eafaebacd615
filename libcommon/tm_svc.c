/* tm_svc: the service harness. One reader thread (tm_nats_reader) reads the NATS connection
 * and moves requests from the routes' synchronous subscriptions to the queue; worker threads
 * each own a Postgres connection, run handlers and write their replies themselves. */
#include "tm_svc_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "tm_admin.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats_reader.h"
#include "tm_problem.h"
#include "tm_util.h"

#ifndef TM_VERSION
#define TM_VERSION "0.0.0"
#endif

#define DEFAULT_MAX_BODY       (64 * 1024)
#define PG_BACKOFF_MIN_MS      100
#define PG_BACKOFF_MAX_MS      5000
#define MIGRATE_BACKOFF_MAX_MS 10000
#define IDLE_TICK_MS           1000
#define IDEM_PRUNE_EVERY_MS    (10 * 60 * 1000)

typedef struct {
    natsMsg *msg;
    const tm_svc_route_t *route;
    int64_t enq_us;
} item_t;

#define STATUS_MIN 100
#define STATUS_MAX 599

typedef struct {
    tm_svc_t *svc;
    const tm_svc_route_t *route;
    tm_histogram_t *latency;
    tm_counter_t *dropped;
    /* tm_svc_requests_total{subject,status} by status - STATUS_MIN, looked up on first
     * use: the registry lookup (global mutex, linear scan) per request cost the workers
     * lock waits under load. */
    _Atomic(tm_counter_t *) *by_status;
} route_ctx_t;

struct tm_svc {
    const tm_svc_config_t *cfg;
    natsConnection *nc;
    tm_nats_reader_t *reader;
    route_ctx_t *routes;
    natsSubscription **subs;
    natsSubscription **notice_subs;
    atomic_bool subs_ready; /* subs filled: the reader may drain them */
    natsSubscription *health_sub;
    tm_admin_t *admin;
    tm_svc_worker_t *workers;
    pthread_t *threads;
    int nthreads;
    tm_pg_stmt_t *stmts; /* cfg->stmts + the harness's own */
    size_t nstmts;
    pthread_t migrate_thread;
    bool migrate_running;

    pthread_mutex_t mu;
    pthread_cond_t cv_work;  /* queue non-empty or stopping */
    pthread_cond_t cv_state; /* idle, worker init done, stopping */
    item_t *queue;
    size_t qcap, qhead, qlen;
    int inflight;
    int init_done;
    bool init_failed;
    bool accepting; /* false once draining: new messages get 503 */
    bool stopping;

    atomic_bool draining;
    atomic_bool migrated;
    atomic_int pg_up_workers;
    int64_t start_ms;

    tm_gauge_t *queue_depth;
    tm_gauge_t *pg_busy; /* workers running a handler: their Postgres connections in use */
    tm_gauge_t *pg_up;
    tm_counter_t *rejected_full;
    tm_counter_t *rejected_draining;
};

typedef struct {
    tm_svc_worker_t *w;
    bool pg_up;
    int64_t next_pg_try_ms;
    int64_t pg_backoff_ms;
    int64_t next_prune_ms;
} worker_state_t;

natsConnection *tm_svc_nats(tm_svc_t *svc)
{
    return svc ? svc->nc : NULL;
}

const tm_svc_config_t *tm_svc_config(tm_svc_t *svc)
{
    return svc ? svc->cfg : NULL;
}

/* ---- NATS side: the reader thread enqueues ---- */

static void enqueue(route_ctx_t *rc, natsMsg *msg)
{
    tm_svc_t *svc = rc->svc;
    pthread_mutex_lock(&svc->mu);
    bool ok = svc->accepting && svc->qlen < svc->qcap;
    bool full = svc->accepting && !ok;
    if (ok) {
        item_t *it = &svc->queue[(svc->qhead + svc->qlen) % svc->qcap];
        it->msg = msg;
        it->route = rc->route;
        it->enq_us = tm_now_us();
        svc->qlen++;
        tm_gauge_set(svc->queue_depth, (int64_t)svc->qlen);
        pthread_cond_signal(&svc->cv_work);
    }
    pthread_mutex_unlock(&svc->mu);
    if (ok)
        return;
    tm_counter_add(full ? svc->rejected_full : svc->rejected_draining, 1);
    svc_send_problem_now(svc->reader, msg, 503,
                         full ? "server busy, retry later" : "shutting down");
    tm_nats_msg_free(msg);
}

static bool fill_request(const item_t *it, tm_svc_req_t *req);
static void count_request(route_ctx_t *rc, int status, int64_t start_us);

static size_t max_body(const tm_svc_route_t *route)
{
    return route->max_body ? route->max_body : DEFAULT_MAX_BODY;
}

/* req->json from the body (none for raw routes or an empty body); errs filled on failure. */
static bool parse_body(const tm_svc_route_t *route, tm_svc_req_t *req, tm_json_errors_t *errs)
{
    if (route->raw_body || req->body_len == 0)
        return true;
    memset(errs, 0, sizeof *errs);
    tm_json_limits_t lim = {.max_bytes = max_body(route)};
    return tm_json_parse(req->body, req->body_len, &lim, &req->json, errs) == TM_OK;
}

/* req->json for a fast route: false (nothing to free) when the body is too large or not
 * valid JSON - the worker path then answers 413 or 400 as usual. */
static bool parse_body_quietly(const tm_svc_route_t *route, tm_svc_req_t *req)
{
    tm_json_errors_t errs;
    return req->body_len <= max_body(route) && parse_body(route, req, &errs);
}

/* Reader thread: the route's fast answer, sent from here; false to queue msg instead. */
static bool answer_fast(route_ctx_t *rc, natsMsg *msg)
{
    int64_t start = tm_now_us();
    item_t it = {.msg = msg, .route = rc->route, .enq_us = start};
    tm_svc_req_t req;
    if (!fill_request(&it, &req) || req.call.idem_key[0] || !parse_body_quietly(rc->route, &req))
        return false; /* the worker path counts late ones and answers bad bodies */
    tm_svc_reply_t rep;
    memset(&rep, 0, sizeof rep);
    bool answered = rc->route->fast(&req, &rep);
    json_decref(req.json);
    if (!answered) {
        svc_reply_reset(&rep);
        return false;
    }
    svc_wire_t wire;
    svc_to_wire(&rep, &wire);
    svc_send_wire(rc->svc->reader, msg, &wire, req.call.request_id);
    count_request(rc, wire.status, start);
    svc_wire_dispose(&wire);
    svc_reply_reset(&rep);
    tm_nats_msg_free(msg);
    return true;
}

/* The next of the messages waiting in a sync subscription, or NULL (never blocks). */
static natsMsg *next_waiting(natsSubscription *sub)
{
    int n = 0;
    if (natsSubscription_GetPending(sub, &n, NULL) != NATS_OK || n <= 0)
        return NULL;
    natsMsg *msg = NULL;
    natsStatus st = natsSubscription_NextMsg(&msg, sub, 0);
    if (st == NATS_SLOW_CONSUMER) /* reported once; the messages are still there */
        st = natsSubscription_NextMsg(&msg, sub, 0);
    return st == NATS_OK ? msg : NULL;
}

/* Reader thread: every notice waiting, applied. */
static void drain_notices(tm_svc_t *svc)
{
    for (size_t i = 0; i < svc->cfg->nnotices; i++) {
        for (natsMsg *msg; (msg = next_waiting(svc->notice_subs[i]));) {
            svc->cfg->notices[i].fn(natsMsg_GetData(msg), natsMsg_GetDataLength(msg),
                                    svc->cfg->arg);
            tm_nats_msg_free(msg);
        }
    }
}

/* Reader thread, after each read: the notices read, then every request waiting in a route's
 * subscription answered (fast routes) or queued. */
static void drain_routes(void *ctx)
{
    tm_svc_t *svc = ctx;
    if (!atomic_load(&svc->subs_ready))
        return;
    drain_notices(svc);
    for (size_t i = 0; i < svc->cfg->nroutes; i++) {
        for (natsMsg *msg; (msg = next_waiting(svc->subs[i]));) {
            if (svc->routes[i].route->fast && answer_fast(&svc->routes[i], msg))
                continue;
            enqueue(&svc->routes[i], msg);
        }
    }
}

static bool nats_up(tm_svc_t *svc)
{
    return svc->nc && natsConnection_Status(svc->nc) == NATS_CONN_STATUS_CONNECTED;
}

static bool pg_ok(tm_svc_t *svc)
{
    return !svc->cfg->pg_conninfo || atomic_load(&svc->pg_up_workers) > 0;
}

static bool migrations_ok(tm_svc_t *svc)
{
    return !svc->cfg->pg_conninfo || atomic_load(&svc->migrated);
}

static void on_health(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    tm_svc_t *svc = closure;
    pthread_mutex_lock(&svc->mu);
    size_t queued = svc->qlen;
    int inflight = svc->inflight;
    pthread_mutex_unlock(&svc->mu);
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:b,s:b,s:b,s:i,s:I,s:i}", "service", svc->cfg->name, "version",
                  TM_VERSION, "uptime_s", (json_int_t)((tm_now_ms() - svc->start_ms) / 1000),
                  "nats", nats_up(svc), "postgres", pg_ok(svc), "migrations", migrations_ok(svc),
                  "workers", svc->cfg->workers, "queued", (json_int_t)queued, "inflight", inflight);
    if (svc->cfg->health_extra)
        svc->cfg->health_extra(o, svc->cfg->arg);
    tm_svc_reply_t rep;
    memset(&rep, 0, sizeof rep);
    tm_svc_reply_json(&rep, 200, o);
    svc_wire_t w;
    svc_to_wire(&rep, &w);
    svc_send_wire(svc->reader, msg, &w, NULL);
    svc_wire_dispose(&w);
    svc_reply_reset(&rep);
    tm_nats_msg_free(msg);
}

static bool ready_fn(void *ctx, json_t *checks)
{
    tm_svc_t *svc = ctx;
    bool n = nats_up(svc), p = pg_ok(svc), m = migrations_ok(svc);
    bool d = atomic_load(&svc->draining);
    json_object_set_new(checks, "nats", json_boolean(n));
    json_object_set_new(checks, "postgres", json_boolean(p));
    json_object_set_new(checks, "migrations", json_boolean(m));
    json_object_set_new(checks, "draining", json_boolean(d));
    return n && p && m && !d;
}

/* ---- Postgres availability ---- */

static void set_pg_state(worker_state_t *ws, bool up)
{
    if (ws->pg_up == up)
        return;
    ws->pg_up = up;
    tm_svc_t *svc = ws->w->svc;
    int now = atomic_fetch_add(&svc->pg_up_workers, up ? 1 : -1) + (up ? 1 : -1);
    tm_gauge_set(svc->pg_up, now > 0 ? 1 : 0);
}

/* Connects if needed, at most once per backoff step. */
static bool worker_pg_ready(worker_state_t *ws)
{
    tm_pg_t *pg = ws->w->pg;
    if (!pg)
        return true;
    if (tm_pg_is_up(pg)) {
        set_pg_state(ws, true);
        return true;
    }
    int64_t now = tm_now_ms();
    if (now < ws->next_pg_try_ms) {
        set_pg_state(ws, false);
        return false;
    }
    bool up = tm_pg_ensure(pg) == TM_OK;
    set_pg_state(ws, up);
    if (up) {
        ws->pg_backoff_ms = PG_BACKOFF_MIN_MS;
        return true;
    }
    ws->next_pg_try_ms = now + ws->pg_backoff_ms;
    ws->pg_backoff_ms =
        ws->pg_backoff_ms * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : ws->pg_backoff_ms * 2;
    return false;
}

static void maybe_prune(worker_state_t *ws)
{
    if (!ws->w->pg || ws->w->index != 0 || !ws->pg_up || tm_now_ms() < ws->next_prune_ms)
        return;
    ws->next_prune_ms = tm_now_ms() + IDEM_PRUNE_EVERY_MS;
    if (tm_pg_exec(ws->w->pg, "tm_svc_idem_prune", 0, NULL, NULL, NULL) != TM_OK)
        TM_WARN("svc: pruning expired idempotency keys failed");
}

/* ---- one request ---- */

static tm_counter_t *requests_counter(route_ctx_t *rc, int status)
{
    bool cacheable = status >= STATUS_MIN && status <= STATUS_MAX;
    tm_counter_t *c = cacheable ? atomic_load(&rc->by_status[status - STATUS_MIN]) : NULL;
    if (c)
        return c;
    char subj[256], labels[320];
    tm_metrics_escape(rc->route->subject, subj, sizeof subj);
    snprintf(labels, sizeof labels, "subject=\"%s\",status=\"%d\"", subj, status);
    c = tm_metrics_counter("tm_svc_requests_total", "Requests handled by subject and status",
                           labels);
    if (c && cacheable)
        atomic_store(&rc->by_status[status - STATUS_MIN], c);
    return c;
}

static void count_request(route_ctx_t *rc, int status, int64_t start_us)
{
    tm_counter_add(requests_counter(rc, status), 1);
    tm_histogram_observe(rc->latency, (double)(tm_now_us() - start_us) / 1e6);
}

static route_ctx_t *route_ctx_of(tm_svc_t *svc, const tm_svc_route_t *route)
{
    return &svc->routes[route - svc->cfg->routes];
}

/* Unwinds whatever a handler left open so the next request starts clean. */
void svc_unwind_txn(tm_pg_t *pg, int keep_depth, const char *subject)
{
    if (!pg || tm_pg_txn_depth(pg) <= keep_depth)
        return;
    TM_WARN("svc: handler for %s left a transaction open; rolled back", subject);
    while (tm_pg_txn_depth(pg) > keep_depth)
        tm_pg_rollback(pg);
}

void svc_run_handler(tm_svc_worker_t *w, const tm_svc_route_t *route, const tm_svc_req_t *req,
                     tm_svc_reply_t *rep, int keep_depth)
{
    int rc = route->fn(w, req, rep);
    svc_unwind_txn(w->pg, keep_depth, route->subject);
    if (rc >= 0)
        return;
    /* A handler that filled an error reply and then returned the error keeps its reply. */
    if (rep->status >= 400 && rep->json)
        return;
    int status = tm_problem_status_for(rc);
    svc_reply_reset(rep);
    if (status >= 500)
        TM_WARN("svc: %s failed: %s", route->subject, tm_strerror(rc));
    tm_svc_reply_problem(rep, req, status, NULL, status >= 500 ? NULL : "%s", tm_strerror(rc));
}

static bool fill_request(const item_t *it, tm_svc_req_t *req)
{
    memset(req, 0, sizeof *req);
    req->msg = it->msg;
    req->subject = it->route->subject;
    req->body = natsMsg_GetData(it->msg);
    int len = natsMsg_GetDataLength(it->msg);
    req->body_len = len > 0 ? (size_t)len : 0;
    if (!req->body)
        req->body = "";
    tm_nats_get_call_headers(it->msg, &req->call);
    return !(req->call.deadline_ms > 0 && tm_wall_ms() > req->call.deadline_ms);
}

/* Answers what can be answered without the handler; false when rep is filled. */
static bool admit(worker_state_t *ws, const tm_svc_route_t *route, tm_svc_req_t *req,
                  tm_svc_reply_t *rep)
{
    tm_svc_t *svc = ws->w->svc;
    size_t max = max_body(route);
    if (req->body_len > max) {
        tm_svc_reply_problem(rep, req, 413, NULL, "body larger than %zu bytes", max);
        return false;
    }
    if (svc->cfg->pg_conninfo && (!atomic_load(&svc->migrated) || !worker_pg_ready(ws))) {
        tm_svc_reply_problem(rep, req, 503, NULL, "storage unavailable, retry later");
        tm_svc_reply_header(rep, "Retry-After", "1");
        return false;
    }
    tm_json_errors_t errs;
    if (!parse_body(route, req, &errs)) {
        tm_svc_reply_invalid(rep, req, &errs);
        return false;
    }
    return true;
}

static void process(worker_state_t *ws, item_t *it)
{
    tm_svc_worker_t *w = ws->w;
    route_ctx_t *rc = route_ctx_of(w->svc, it->route);
    tm_svc_req_t req;
    if (!fill_request(it, &req)) {
        tm_counter_add(rc->dropped, 1);
        TM_DEBUG("svc: %s dropped, deadline passed", it->route->subject);
        tm_nats_msg_free(it->msg);
        return;
    }
    tm_svc_reply_t rep;
    memset(&rep, 0, sizeof rep);
    svc_wire_t wire;
    memset(&wire, 0, sizeof wire);
    if (!admit(ws, it->route, &req, &rep))
        svc_to_wire(&rep, &wire);
    else if (it->route->idempotent && req.call.idem_key[0] && w->pg)
        svc_run_idempotent(w, it->route, &req, &rep, &wire);
    else {
        svc_run_handler(w, it->route, &req, &rep, 0);
        svc_to_wire(&rep, &wire);
    }
    svc_run_after_txn(&rep);
    svc_send_wire(w->svc->reader, it->msg, &wire, req.call.request_id);
    count_request(rc, wire.status, it->enq_us);
    svc_wire_dispose(&wire);
    svc_reply_reset(&rep);
    json_decref(req.json);
    tm_nats_msg_free(it->msg);
}

/* ---- workers ---- */

static bool next_item(tm_svc_t *svc, worker_state_t *ws, item_t *out)
{
    pthread_mutex_lock(&svc->mu);
    while (svc->qlen == 0 && !svc->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += IDLE_TICK_MS / 1000;
        if (pthread_cond_timedwait(&svc->cv_work, &svc->mu, &ts) == ETIMEDOUT) {
            pthread_mutex_unlock(&svc->mu);
            (void)worker_pg_ready(ws);
            maybe_prune(ws);
            pthread_mutex_lock(&svc->mu);
        }
    }
    bool got = !svc->stopping && svc->qlen > 0;
    if (got) {
        *out = svc->queue[svc->qhead];
        svc->qhead = (svc->qhead + 1) % svc->qcap;
        svc->qlen--;
        svc->inflight++;
        tm_gauge_set(svc->queue_depth, (int64_t)svc->qlen);
        tm_gauge_set(svc->pg_busy, svc->inflight);
    }
    pthread_mutex_unlock(&svc->mu);
    return got;
}

static void item_done(tm_svc_t *svc)
{
    pthread_mutex_lock(&svc->mu);
    svc->inflight--;
    tm_gauge_set(svc->pg_busy, svc->inflight);
    if (svc->qlen == 0 && svc->inflight == 0)
        pthread_cond_broadcast(&svc->cv_state);
    pthread_mutex_unlock(&svc->mu);
}

static void report_init(tm_svc_t *svc, bool ok)
{
    pthread_mutex_lock(&svc->mu);
    svc->init_done++;
    if (!ok)
        svc->init_failed = true;
    pthread_cond_broadcast(&svc->cv_state);
    pthread_mutex_unlock(&svc->mu);
}

static void *worker_main(void *arg)
{
    tm_svc_worker_t *w = arg;
    tm_svc_t *svc = w->svc;
    const tm_svc_config_t *cfg = svc->cfg;
    worker_state_t ws = {.w = w, .pg_backoff_ms = PG_BACKOFF_MIN_MS};
    if (cfg->pg_conninfo)
        w->pg = tm_pg_new(cfg->pg_conninfo, cfg->schema, svc->stmts, svc->nstmts);
    (void)worker_pg_ready(&ws);
    bool ok = !cfg->worker_init || cfg->worker_init(w, cfg->arg) == TM_OK;
    report_init(svc, ok);
    item_t it;
    while (ok && next_item(svc, &ws, &it)) {
        process(&ws, &it);
        item_done(svc);
    }
    if (ok && cfg->worker_dispose)
        cfg->worker_dispose(w, cfg->arg);
    set_pg_state(&ws, false);
    tm_pg_free(w->pg);
    w->pg = NULL;
    return NULL;
}

/* ---- migrations ---- */

static int sleep_unless_stopping(tm_svc_t *svc, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&svc->mu);
    while (!svc->stopping && pthread_cond_timedwait(&svc->cv_state, &svc->mu, &ts) != ETIMEDOUT) {
    }
    bool stop = svc->stopping;
    pthread_mutex_unlock(&svc->mu);
    return stop ? -1 : 0;
}

static bool migrate_once(tm_svc_t *svc)
{
    int applied = 0;
    const tm_svc_config_t *cfg = svc->cfg;
    int rc = tm_pg_migrate(cfg->pg_conninfo, cfg->schema, cfg->migrations_dir, &applied);
    if (rc != TM_OK) {
        TM_WARN("svc: migrations not applied yet: %s", tm_strerror(rc));
        return false;
    }
    TM_INFO("svc: schema %s up to date (%d migration(s) applied now)", cfg->schema, applied);
    atomic_store(&svc->migrated, true);
    return true;
}

static void *migrate_main(void *arg)
{
    tm_svc_t *svc = arg;
    int64_t backoff = 500;
    while (!migrate_once(svc)) {
        if (sleep_unless_stopping(svc, backoff) != 0)
            break;
        backoff = backoff * 2 > MIGRATE_BACKOFF_MAX_MS ? MIGRATE_BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

/* ---- start / stop ---- */

static bool config_ok(const tm_svc_config_t *cfg)
{
    const char *why = NULL;
    if (!cfg->name || !cfg->nats_url)
        why = "name and nats_url are required";
    else if (cfg->workers < 1)
        why = "workers must be >= 1";
    else if (cfg->queue_cap < 1)
        why = "queue_cap must be >= 1";
    else if (cfg->pg_conninfo && (!cfg->schema || !*cfg->schema))
        why = "a schema is required with Postgres";
    for (size_t i = 0; !why && i < cfg->nroutes; i++)
        if (!cfg->routes[i].subject || !cfg->routes[i].fn)
            why = "every route needs a subject and a handler";
    if (why)
        TM_ERROR("svc: bad harness configuration: %s", why);
    return why == NULL;
}

static void init_metrics(tm_svc_t *svc)
{
    svc->queue_depth =
        tm_metrics_gauge("tm_svc_queue_depth", "Requests waiting for a worker", NULL);
    svc->pg_up = tm_metrics_gauge("tm_pg_up", "1 while a worker has a Postgres connection", NULL);
    /* Each worker owns one Postgres connection (the pool): its size and how many are busy. */
    tm_gauge_set(tm_metrics_gauge("tm_pg_pool_size", "Postgres connections (one per worker)", NULL),
                 svc->cfg->pg_conninfo ? svc->cfg->workers : 0);
    svc->pg_busy = tm_metrics_gauge(
        "tm_pg_pool_in_use", "Postgres connections in use (workers running a request)", NULL);
    svc->rejected_full = tm_metrics_counter("tm_svc_rejected_total", "Requests refused with 503",
                                            "reason=\"queue_full\"");
    svc->rejected_draining = tm_metrics_counter("tm_svc_rejected_total",
                                                "Requests refused with 503", "reason=\"draining\"");
    svc->routes = tm_xcalloc(svc->cfg->nroutes + 1, sizeof *svc->routes);
    for (size_t i = 0; i < svc->cfg->nroutes; i++) {
        char subj[256], labels[300];
        tm_metrics_escape(svc->cfg->routes[i].subject, subj, sizeof subj);
        snprintf(labels, sizeof labels, "subject=\"%s\"", subj);
        svc->routes[i].svc = svc;
        svc->routes[i].route = &svc->cfg->routes[i];
        svc->routes[i].by_status =
            tm_xcalloc(STATUS_MAX - STATUS_MIN + 1, sizeof *svc->routes[i].by_status);
        svc->routes[i].latency = tm_metrics_histogram(
            "tm_svc_request_seconds", "Time from enqueue to reply", labels, NULL, 0);
        svc->routes[i].dropped = tm_metrics_counter(
            "tm_svc_deadline_dropped_total", "Requests dropped because Tm-Deadline passed", labels);
    }
}

static tm_svc_t *svc_new(const tm_svc_config_t *cfg)
{
    tm_svc_t *svc = tm_xcalloc(1, sizeof *svc);
    svc->cfg = cfg;
    svc->start_ms = tm_now_ms();
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->cv_work, NULL);
    pthread_cond_init(&svc->cv_state, NULL);
    svc->qcap = (size_t)cfg->queue_cap;
    svc->queue = tm_xcalloc(svc->qcap, sizeof *svc->queue);
    svc->accepting = true;
    svc->nstmts = cfg->nstmts + svc_idem_nstmts;
    svc->stmts = tm_xcalloc(svc->nstmts, sizeof *svc->stmts);
    if (cfg->nstmts)
        memcpy(svc->stmts, cfg->stmts, cfg->nstmts * sizeof *svc->stmts);
    memcpy(svc->stmts + cfg->nstmts, svc_idem_stmts, svc_idem_nstmts * sizeof *svc_idem_stmts);
    init_metrics(svc);
    return svc;
}

static int start_workers(tm_svc_t *svc)
{
    int n = svc->cfg->workers;
    svc->workers = tm_xcalloc((size_t)n, sizeof *svc->workers);
    svc->threads = tm_xcalloc((size_t)n, sizeof *svc->threads);
    for (int i = 0; i < n; i++) {
        svc->workers[i] = (tm_svc_worker_t){.svc = svc, .index = i, .nc = svc->nc};
        if (pthread_create(&svc->threads[i], NULL, worker_main, &svc->workers[i]) != 0) {
            TM_ERROR("svc: cannot start worker thread %d", i);
            report_init(svc, false);
            break;
        }
        svc->nthreads++;
    }
    pthread_mutex_lock(&svc->mu);
    while (svc->init_done < n)
        pthread_cond_wait(&svc->cv_state, &svc->mu);
    bool failed = svc->init_failed;
    pthread_mutex_unlock(&svc->mu);
    if (failed)
        TM_ERROR("svc: worker initialisation failed");
    return failed ? TM_ERR_INTERNAL : TM_OK;
}

static int subscribe_all(tm_svc_t *svc)
{
    const tm_svc_config_t *cfg = svc->cfg;
    svc->notice_subs = tm_xcalloc(cfg->nnotices + 1, sizeof *svc->notice_subs);
    for (size_t i = 0; i < cfg->nnotices; i++) { /* before the requests that depend on them */
        natsStatus s =
            natsConnection_SubscribeSync(&svc->notice_subs[i], svc->nc, cfg->notices[i].subject);
        if (s != NATS_OK) {
            TM_ERROR("svc: cannot subscribe %s: %s", cfg->notices[i].subject,
                     natsStatus_GetText(s));
            return TM_ERR_NATS;
        }
    }
    svc->subs = tm_xcalloc(cfg->nroutes + 1, sizeof *svc->subs);
    for (size_t i = 0; i < cfg->nroutes; i++) {
        natsStatus s = natsConnection_QueueSubscribeSync(&svc->subs[i], svc->nc,
                                                         cfg->routes[i].subject, cfg->name);
        if (s != NATS_OK) {
            TM_ERROR("svc: cannot subscribe %s: %s", cfg->routes[i].subject, natsStatus_GetText(s));
            return TM_ERR_NATS;
        }
    }
    if (cfg->health_subject &&
        natsConnection_Subscribe(&svc->health_sub, svc->nc, cfg->health_subject, on_health, svc) !=
            NATS_OK) {
        TM_ERROR("svc: cannot subscribe %s", cfg->health_subject);
        return TM_ERR_NATS;
    }
    atomic_store(&svc->subs_ready, true);
    return TM_OK;
}

static int start_migrations(tm_svc_t *svc)
{
    if (!svc->cfg->pg_conninfo || migrate_once(svc))
        return TM_OK;
    if (pthread_create(&svc->migrate_thread, NULL, migrate_main, svc) != 0)
        return TM_ERR_INTERNAL;
    svc->migrate_running = true;
    return TM_OK;
}

tm_svc_t *tm_svc_start(const tm_svc_config_t *cfg)
{
    if (!cfg || !config_ok(cfg))
        return NULL;
    tm_svc_t *svc = svc_new(cfg);
    tm_nats_opts_t nopts = {.send_asap = true, .name = cfg->name};
    if (!(svc->reader = tm_nats_reader_new(drain_routes, svc)))
        goto fail;
    tm_nats_reader_opts(svc->reader, &nopts);
    if (tm_nats_connect(cfg->nats_url, &nopts, &svc->nc) != TM_OK ||
        tm_nats_reader_start(svc->reader, svc->nc) != TM_OK)
        goto fail;
    if (start_migrations(svc) != TM_OK || start_workers(svc) != TM_OK)
        goto fail;
    if (subscribe_all(svc) != TM_OK)
        goto fail;
    /* Once start returns (and /readyz says ready), the server knows the subscriptions. */
    if (nats_up(svc))
        (void)natsConnection_FlushTimeout(svc->nc, 2000);
    if (cfg->admin_port > 0 && !(svc->admin = tm_admin_start(NULL, cfg->admin_port, ready_fn, svc)))
        goto fail;
    TM_INFO("svc: %s started with %d worker(s), %zu route(s)", cfg->name, cfg->workers,
            cfg->nroutes);
    return svc;
fail:
    TM_ERROR("svc: %s failed to start", cfg->name);
    tm_svc_stop(svc);
    return NULL;
}

/* Waits until the queue is empty and nothing runs, or until deadline_ms (monotonic). */
static void wait_idle(tm_svc_t *svc, int64_t deadline_ms)
{
    pthread_mutex_lock(&svc->mu);
    while ((svc->qlen > 0 || svc->inflight > 0) && tm_now_ms() < deadline_ms) {
        pthread_mutex_unlock(&svc->mu);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&svc->mu);
    }
    if (svc->qlen > 0 || svc->inflight > 0)
        TM_WARN("svc: drain timeout with %zu queued and %d running", svc->qlen, svc->inflight);
    pthread_mutex_unlock(&svc->mu);
}

static void drain_subscriptions(tm_svc_t *svc, int64_t deadline_ms)
{
    for (size_t i = 0; svc->subs && i < svc->cfg->nroutes; i++)
        if (svc->subs[i])
            (void)natsSubscription_Drain(svc->subs[i]);
    for (size_t i = 0; svc->subs && i < svc->cfg->nroutes; i++) {
        int64_t left = deadline_ms - tm_now_ms();
        if (svc->subs[i])
            (void)natsSubscription_WaitForDrainCompletion(svc->subs[i], left > 0 ? left : 1);
    }
    pthread_mutex_lock(&svc->mu);
    svc->accepting = false;
    pthread_mutex_unlock(&svc->mu);
}

static void stop_threads(tm_svc_t *svc)
{
    pthread_mutex_lock(&svc->mu);
    svc->stopping = true;
    svc->accepting = false;
    pthread_cond_broadcast(&svc->cv_work);
    pthread_cond_broadcast(&svc->cv_state);
    pthread_mutex_unlock(&svc->mu);
    for (int i = 0; i < svc->nthreads; i++)
        pthread_join(svc->threads[i], NULL);
    if (svc->migrate_running)
        pthread_join(svc->migrate_thread, NULL);
    svc->nthreads = 0;
    svc->migrate_running = false;
}

/* Requests still queued after the drain timeout get a 503 rather than silence. */
static void reject_leftovers(tm_svc_t *svc)
{
    for (; svc->qlen > 0; svc->qlen--) {
        item_t *it = &svc->queue[svc->qhead];
        svc->qhead = (svc->qhead + 1) % svc->qcap;
        if (svc->nc)
            svc_send_problem_now(svc->reader, it->msg, 503, "shutting down");
        tm_nats_msg_free(it->msg);
    }
}

static void close_nats(tm_svc_t *svc)
{
    if (svc->health_sub)
        (void)natsSubscription_Unsubscribe(svc->health_sub);
    if (svc->nc) {
        (void)natsConnection_FlushTimeout(svc->nc, 1000); /* the reader reads the PONG */
        natsConnection_Close(svc->nc);
    }
    tm_nats_reader_stop(svc->reader); /* no drain_routes from here on */
    for (size_t i = 0; svc->subs && i < svc->cfg->nroutes; i++)
        natsSubscription_Destroy(svc->subs[i]);
    for (size_t i = 0; svc->notice_subs && i < svc->cfg->nnotices; i++)
        natsSubscription_Destroy(svc->notice_subs[i]);
    natsSubscription_Destroy(svc->health_sub);
    natsConnection_Destroy(svc->nc);
    tm_nats_reader_free(svc->reader);
}

void tm_svc_stop(tm_svc_t *svc)
{
    if (!svc)
        return;
    int64_t deadline = tm_now_ms() + svc->cfg->drain_timeout_ms;
    atomic_store(&svc->draining, true);
    tm_admin_set_draining(svc->admin);
    drain_subscriptions(svc, deadline);
    wait_idle(svc, deadline);
    stop_threads(svc);
    reject_leftovers(svc);
    close_nats(svc);
    tm_admin_stop(svc->admin);
    TM_INFO("svc: %s stopped", svc->cfg->name);
    pthread_cond_destroy(&svc->cv_work);
    pthread_cond_destroy(&svc->cv_state);
    pthread_mutex_destroy(&svc->mu);
    free(svc->subs);
    free(svc->notice_subs);
    for (size_t i = 0; svc->routes && i < svc->cfg->nroutes; i++)
        free(svc->routes[i].by_status);
    free(svc->routes);
    free(svc->queue);
    free(svc->workers);
    free(svc->threads);
    free(svc->stmts);
    free(svc);
}
