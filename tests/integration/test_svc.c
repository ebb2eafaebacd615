/* Integration: the service harness (tm_svc) and the admin listener against real servers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "itest.h"
#include "tm_admin.h"
#include "tm_metrics.h"
#include "tm_svc.h"

#define ADMIN_PORT   itest_port(ITEST_PORT_SVC)
#define ADMIN_PORT_2 itest_port(ITEST_PORT_SVC2)

static const char *nats_url, *pg_url;
static char schema[64], dir[128];
static char s_who[96], s_fail[96], s_slow[96], s_idem[96], s_idem_slow[96], s_health[96];
static atomic_int idem_calls;
static tm_svc_t *svc;
static natsConnection *nc;

static int h_who(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)req;
    usleep(2000);
    tm_svc_reply_json(rep, 200, json_pack("{s:i}", "worker", w->index));
    return 0;
}

static int h_fail(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)w;
    (void)rep;
    return tm_json_bool(req->json, "forbidden", false) ? TM_ERR_FORBIDDEN : TM_ERR_NOT_FOUND;
}

static int h_slow(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)w;
    (void)req;
    usleep(400 * 1000);
    tm_svc_reply_json(rep, 200, json_object());
    return 0;
}

/* Writes a row in its own (nested) transaction, like a real mutation would. */
static int h_idem(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    atomic_fetch_add(&idem_calls, 1);
    if (tm_json_bool(req->json, "slow", false))
        usleep(500 * 1000);
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    const char *p[] = {tm_json_str(req->json, "v", "0")};
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, "ins", 1, p, &r, NULL);
    if (rc != TM_OK) {
        tm_pg_rollback(w->pg);
        return rc;
    }
    int id = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if ((rc = tm_pg_commit(w->pg, NULL)) != TM_OK)
        return rc;
    if (tm_json_bool(req->json, "fail", false)) {
        tm_svc_reply_problem(rep, req, 500, NULL, "boom");
        return 0;
    }
    tm_svc_reply_json(rep, 201, json_pack("{s:i,s:i}", "id", id, "call", atomic_load(&idem_calls)));
    tm_svc_reply_header(rep, "ETag", "\"v1\"");
    return 0;
}

static const tm_pg_stmt_t stmts[] = {
    {"ins", "INSERT INTO items (v) VALUES ($1) RETURNING id", 1},
};

static tm_svc_route_t routes[6];
static tm_svc_config_t cfg;

static int setup(void **state)
{
    (void)state;
    nats_url = itest_env("TM_TEST_NATS_URL");
    pg_url = itest_env("TM_TEST_PG_URL");
    itest_unique("it_svc", schema, sizeof schema);
    snprintf(dir, sizeof dir, "/tmp/%s", schema);
    mkdir(dir, 0755);
    itest_write(dir, "001_items.sql", "CREATE TABLE items (id serial PRIMARY KEY, v text);");
    snprintf(s_who, sizeof s_who, "it.%s.who", schema);
    snprintf(s_fail, sizeof s_fail, "it.%s.fail", schema);
    snprintf(s_slow, sizeof s_slow, "it.%s.slow", schema);
    snprintf(s_idem, sizeof s_idem, "it.%s.idem", schema);
    snprintf(s_idem_slow, sizeof s_idem_slow, "it.%s.idem_small", schema);
    snprintf(s_health, sizeof s_health, "it.%s.health", schema);
    routes[0] = (tm_svc_route_t){.subject = s_who, .fn = h_who};
    routes[1] = (tm_svc_route_t){.subject = s_fail, .fn = h_fail};
    routes[2] = (tm_svc_route_t){.subject = s_slow, .fn = h_slow};
    routes[3] = (tm_svc_route_t){.subject = s_idem, .fn = h_idem, .idempotent = true};
    routes[4] = (tm_svc_route_t){.subject = s_idem_slow, .fn = h_idem, .max_body = 32};
    cfg = (tm_svc_config_t){.name = schema,
                            .health_subject = s_health,
                            .nats_url = nats_url,
                            .pg_conninfo = pg_url,
                            .schema = schema,
                            .migrations_dir = dir,
                            .workers = 2,
                            .queue_cap = 64,
                            .drain_timeout_ms = 3000,
                            .admin_port = ADMIN_PORT,
                            .stmts = stmts,
                            .nstmts = 1,
                            .routes = routes,
                            .nroutes = 5};
    svc = tm_svc_start(&cfg);
    if (!svc)
        return -1;
    tm_nats_opts_t o = {.send_asap = true};
    return tm_nats_connect(nats_url, &o, &nc) == TM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tm_svc_stop(svc);
    natsConnection_Destroy(nc);
    PGconn *c = PQconnectdb(pg_url);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static json_t *body_of(natsMsg *m)
{
    return json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
}

typedef struct {
    int seen[2];
    int other;
} who_result_t;

static void *who_client(void *arg)
{
    who_result_t *res = arg;
    for (int i = 0; i < 50; i++) {
        natsMsg *m = itest_request(nc, s_who, "{}", NULL, 0, 3000);
        json_t *b = m ? body_of(m) : NULL;
        int idx = (int)tm_json_int(b, "worker", -1);
        if (itest_status(m) == 200 && (idx == 0 || idx == 1))
            res->seen[idx]++;
        else
            res->other++;
        json_decref(b);
        natsMsg_Destroy(m);
    }
    return NULL;
}

static void test_requests_spread_over_workers(void **state)
{
    (void)state;
    pthread_t t[4];
    who_result_t res[4];
    memset(res, 0, sizeof res);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, who_client, &res[i]), 0);
    int seen0 = 0, seen1 = 0, other = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        seen0 += res[i].seen[0];
        seen1 += res[i].seen[1];
        other += res[i].other;
    }
    assert_int_equal(other, 0);
    assert_int_equal(seen0 + seen1, 200);
    assert_true(seen0 > 0);
    assert_true(seen1 > 0);
}

static void test_expired_deadline_is_dropped(void **state)
{
    (void)state;
    natsMsg *m = itest_request(nc, s_who, "{}", NULL, tm_wall_ms() - 1000, 500);
    assert_null(m);
    char *text = tm_metrics_render(NULL);
    char needle[160];
    snprintf(needle, sizeof needle, "tm_svc_deadline_dropped_total{subject=\"%s\"} 1", s_who);
    assert_non_null(strstr(text, needle));
    free(text);
    /* A deadline in the future is served. */
    m = itest_request(nc, s_who, "{}", NULL, tm_wall_ms() + 5000, 2000);
    assert_int_equal(itest_status(m), 200);
    natsMsg_Destroy(m);
}

static void test_handler_error_becomes_problem(void **state)
{
    (void)state;
    natsMsg *m = itest_request(nc, s_fail, "{}", NULL, 0, 2000);
    assert_int_equal(itest_status(m), 404);
    assert_string_equal(itest_header(m, "Content-Type"), "application/problem+json");
    json_t *b = body_of(m);
    assert_int_equal(tm_json_int(b, "status", 0), 404);
    assert_string_equal(tm_json_str(b, "instance", ""), "it-req");
    json_decref(b);
    natsMsg_Destroy(m);
    m = itest_request(nc, s_fail, "{\"forbidden\":true}", NULL, 0, 2000);
    assert_int_equal(itest_status(m), 403);
    natsMsg_Destroy(m);
    m = itest_request(nc, s_fail, "{not json", NULL, 0, 2000);
    assert_int_equal(itest_status(m), 400);
    natsMsg_Destroy(m);
    m = itest_request(nc, s_idem_slow, "{\"v\":\"a very long value to pass 32 bytes\"}", NULL, 0,
                      2000);
    assert_int_equal(itest_status(m), 413);
    natsMsg_Destroy(m);
}

static void test_health_reply(void **state)
{
    (void)state;
    natsMsg *m = itest_request(nc, s_health, NULL, NULL, 0, 2000);
    assert_int_equal(itest_status(m), 200);
    json_t *b = body_of(m);
    assert_string_equal(tm_json_str(b, "service", ""), schema);
    assert_true(tm_json_bool(b, "nats", false));
    assert_true(tm_json_bool(b, "postgres", false));
    assert_int_equal(tm_json_int(b, "workers", 0), 2);
    assert_true(tm_json_has(b, "uptime_s"));
    json_decref(b);
    natsMsg_Destroy(m);
}

static natsMsg *idem(const char *key, const char *body)
{
    return itest_request(nc, s_idem, body, key, 0, 3000);
}

static void test_idempotency(void **state)
{
    (void)state;
    char key[64];
    itest_unique("k", key, sizeof key);
    natsMsg *a = idem(key, "{\"v\":\"x\"}");
    assert_int_equal(itest_status(a), 201);
    assert_null(itest_header(a, "Idempotent-Replayed"));
    int calls = atomic_load(&idem_calls);
    natsMsg *b = idem(key, "{\"v\":\"x\"}");
    assert_int_equal(itest_status(b), 201);
    assert_string_equal(itest_header(b, "Idempotent-Replayed"), "true");
    assert_string_equal(itest_header(b, "ETag"), "\"v1\"");
    assert_string_equal(itest_header(b, "Content-Type"), "application/json");
    assert_int_equal(natsMsg_GetDataLength(a), natsMsg_GetDataLength(b));
    assert_memory_equal(natsMsg_GetData(a), natsMsg_GetData(b), natsMsg_GetDataLength(a));
    assert_int_equal(atomic_load(&idem_calls), calls); /* handler not run again */
    natsMsg_Destroy(a);
    natsMsg_Destroy(b);

    natsMsg *c = idem(key, "{\"v\":\"y\"}");
    assert_int_equal(itest_status(c), 422);
    natsMsg_Destroy(c);

    /* Without a key the route is an ordinary one. */
    natsMsg *d = idem(NULL, "{\"v\":\"x\"}");
    assert_int_equal(itest_status(d), 201);
    assert_null(itest_header(d, "Idempotent-Replayed"));
    natsMsg_Destroy(d);
}

static void test_idempotency_5xx_not_stored(void **state)
{
    (void)state;
    char key[64];
    itest_unique("k5", key, sizeof key);
    int before = atomic_load(&idem_calls);
    natsMsg *a = idem(key, "{\"v\":\"f\",\"fail\":true}");
    assert_int_equal(itest_status(a), 500);
    natsMsg *b = idem(key, "{\"v\":\"f\",\"fail\":true}");
    assert_int_equal(itest_status(b), 500);
    assert_null(itest_header(b, "Idempotent-Replayed"));
    assert_int_equal(atomic_load(&idem_calls), before + 2);
    natsMsg_Destroy(a);
    natsMsg_Destroy(b);
    /* The handler's row was rolled back with the failed reply. */
    PGconn *c = PQconnectdb(pg_url);
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.items WHERE v = 'f'", schema);
    PGresult *r = PQexec(c, sql);
    assert_string_equal(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(c);
}

static void *slow_idem(void *arg)
{
    natsMsg **out = arg;
    *out = itest_request(nc, s_idem, "{\"v\":\"s\",\"slow\":true}", "slow-key-it", 0, 3000);
    return NULL;
}

static void test_idempotency_in_flight_conflict(void **state)
{
    (void)state;
    natsMsg *first = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_idem, &first), 0);
    usleep(150 * 1000);
    natsMsg *second =
        itest_request(nc, s_idem, "{\"v\":\"s\",\"slow\":true}", "slow-key-it", 0, 3000);
    assert_int_equal(itest_status(second), 409);
    pthread_join(t, NULL);
    assert_int_equal(itest_status(first), 201);
    natsMsg_Destroy(first);
    natsMsg_Destroy(second);
}

static void test_admin_endpoints(void **state)
{
    (void)state;
    static char buf[65536];
    assert_int_equal(itest_http(ADMIN_PORT, "GET", "/healthz", buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "\"status\":\"ok\""));
    assert_non_null(strcasestr(buf, "content-length: 15"));
    assert_int_equal(itest_http(ADMIN_PORT, "GET", "/readyz", buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "\"migrations\":true"));
    assert_int_equal(itest_http(ADMIN_PORT, "GET", "/metrics", buf, sizeof buf), 200);
    assert_non_null(strstr(buf, "text/plain; version=0.0.4"));
    assert_non_null(strstr(buf, "tm_svc_request_seconds_bucket"));
    assert_non_null(strstr(buf, "tm_pg_up 1"));
    assert_int_equal(itest_http(ADMIN_PORT, "POST", "/healthz", buf, sizeof buf), 405);
    assert_int_equal(itest_http(ADMIN_PORT, "GET", "/nope", buf, sizeof buf), 404);
}

static bool never_ready(void *ctx, json_t *checks)
{
    (void)ctx;
    json_object_set_new(checks, "postgres", json_false());
    return false;
}

static void test_admin_not_ready_and_draining(void **state)
{
    (void)state;
    static char buf[8192];
    tm_admin_t *a = tm_admin_start("127.0.0.1", ADMIN_PORT_2, never_ready, NULL);
    assert_non_null(a);
    assert_null(tm_admin_start("127.0.0.1", ADMIN_PORT_2, never_ready, NULL)); /* port taken */
    assert_int_equal(itest_http(ADMIN_PORT_2, "GET", "/readyz", buf, sizeof buf), 503);
    assert_non_null(strstr(buf, "\"postgres\":false"));
    assert_int_equal(itest_http(ADMIN_PORT_2, "GET", "/healthz", buf, sizeof buf), 200);
    tm_admin_set_draining(a);
    assert_int_equal(itest_http(ADMIN_PORT_2, "GET", "/readyz", buf, sizeof buf), 503);
    assert_non_null(strstr(buf, "\"draining\":true"));
    tm_admin_stop(a);
    assert_int_equal(itest_http(ADMIN_PORT_2, "GET", "/healthz", buf, sizeof buf), -1);
}

/* A one-worker service with room for one queued request: the rest get 503 at once. */
static void test_queue_full_answers_503(void **state)
{
    (void)state;
    char name[80], subj[120];
    itest_unique("q", name, sizeof name);
    snprintf(subj, sizeof subj, "it.%s.slow", name);
    tm_svc_route_t r[] = {{.subject = subj, .fn = h_slow}};
    tm_svc_config_t c = {.name = name,
                         .nats_url = nats_url,
                         .workers = 1,
                         .queue_cap = 1,
                         .drain_timeout_ms = 3000,
                         .routes = r,
                         .nroutes = 1};
    tm_svc_t *small = tm_svc_start(&c);
    assert_non_null(small);
    natsSubscription *sub = NULL;
    char inbox[128];
    snprintf(inbox, sizeof inbox, "_INBOX.%s", name);
    assert_int_equal(natsConnection_SubscribeSync(&sub, nc, inbox), NATS_OK);
    /* The first occupies the only worker, the second waits, the other four are refused. */
    assert_int_equal(natsConnection_PublishRequest(nc, subj, inbox, "{}", 2), NATS_OK);
    usleep(150 * 1000);
    for (int i = 0; i < 5; i++)
        assert_int_equal(natsConnection_PublishRequest(nc, subj, inbox, "{}", 2), NATS_OK);
    int n503 = 0, n200 = 0;
    natsMsg *m = NULL;
    while (natsSubscription_NextMsg(&m, sub, 2500) == NATS_OK) {
        int st = itest_status(m);
        n503 += st == 503;
        n200 += st == 200;
        natsMsg_Destroy(m);
    }
    natsSubscription_Destroy(sub);
    tm_svc_stop(small);
    assert_int_equal(n503, 4);
    assert_int_equal(n200, 2);
}

static int h_fast(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)req;
    tm_svc_reply_json(rep, 200, json_pack("{s:i}", "worker", w->index));
    return 0;
}

/* Value of an unlabelled counter in this process's metrics (-1 when absent). */
static long metric_value(const char *name)
{
    char *text = tm_metrics_render(NULL);
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = strstr(text, needle);
    long v = at ? strtol(at + strlen(needle), NULL, 10) : -1;
    free(text);
    return v;
}

static atomic_int fast_on, fast_calls, fast_worker_calls;

static bool f_fast(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    atomic_fetch_add(&fast_calls, 1);
    if (!atomic_load(&fast_on) || tm_json_bool(req->json, "decline", false))
        return false;
    char *text = tm_xstrdup("{\"from\":\"fast\"}");
    tm_svc_reply_json_text(rep, 200, text, strlen(text));
    return true;
}

static int h_fast_worker(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)w;
    (void)req;
    atomic_fetch_add(&fast_worker_calls, 1);
    tm_svc_reply_json(rep, 200, json_pack("{s:s}", "from", "worker"));
    return 0;
}

/* One request to subj; the "from" of its 200 reply ("" when none) into from. */
static int ask_fast(const char *subj, const char *body, const char *idem, int64_t deadline,
                    char *from, size_t cap)
{
    natsMsg *m = itest_request(nc, subj, body, idem, deadline, 1000);
    json_t *b = m ? body_of(m) : NULL;
    snprintf(from, cap, "%s", tm_json_str(b, "from", ""));
    int st = itest_status(m);
    if (st == 200)
        assert_string_equal(itest_header(m, TM_HDR_CONTENT_TYPE), "application/json");
    json_decref(b);
    natsMsg_Destroy(m);
    return st;
}

/* A route's fast answer is sent from the reader thread without a worker, with the body
 * parsed; a false return, a body that is not JSON or an Idempotency-Key take the worker path;
 * late requests are still dropped. */
static void test_fast_route(void **state)
{
    (void)state;
    char name[80], subj[120], from[32];
    itest_unique("fast", name, sizeof name);
    snprintf(subj, sizeof subj, "it.%s.me", name);
    tm_svc_route_t r[] = {{.subject = subj, .fn = h_fast_worker, .fast = f_fast}};
    tm_svc_config_t c = {.name = name,
                         .nats_url = nats_url,
                         .workers = 2,
                         .queue_cap = 64,
                         .drain_timeout_ms = 3000,
                         .routes = r,
                         .nroutes = 1};
    tm_svc_t *fs = tm_svc_start(&c);
    assert_non_null(fs);
    atomic_store(&fast_on, 1);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ask_fast(subj, NULL, NULL, 0, from, sizeof from), 200);
        assert_string_equal(from, "fast");
    }
    assert_int_equal(ask_fast(subj, "{\"a\":1}", NULL, 0, from, sizeof from), 200);
    assert_string_equal(from, "fast"); /* the body reached fast() parsed */
    assert_int_equal(atomic_load(&fast_worker_calls), 0);
    assert_int_equal(ask_fast(subj, "{\"decline\":true}", NULL, 0, from, sizeof from), 200);
    assert_string_equal(from, "worker"); /* fast() declined */
    assert_int_equal(ask_fast(subj, "{", NULL, 0, from, sizeof from), 400);
    assert_int_equal(ask_fast(subj, NULL, "key-1", 0, from, sizeof from), 200);
    assert_string_equal(from, "worker");
    int calls = atomic_load(&fast_calls);
    assert_int_equal(ask_fast(subj, NULL, NULL, tm_wall_ms() - 1000, from, sizeof from), -1);
    assert_int_equal(atomic_load(&fast_calls), calls); /* late: not answered at all */
    atomic_store(&fast_on, 0);
    assert_int_equal(ask_fast(subj, NULL, NULL, 0, from, sizeof from), 200);
    assert_string_equal(from, "worker");
    assert_int_equal(atomic_load(&fast_worker_calls), 3);
    assert_int_equal(atomic_load(&fast_calls), 23); /* not for "{", the key, the late one */
    /* counted after the reply is sent: give the last one a moment */
    char needle[200];
    snprintf(needle, sizeof needle, "tm_svc_requests_total{subject=\"%s\",status=\"200\"} 24",
             subj);
    bool counted = false;
    for (int i = 0; i < 100 && !counted; i++) {
        char *text = tm_metrics_render(NULL);
        counted = strstr(text, needle) != NULL;
        free(text);
        if (!counted)
            usleep(20 * 1000);
    }
    assert_true(counted);
    tm_svc_stop(fs);
}

static atomic_int notice_value;

static void n_set(const char *data, int len, void *arg)
{
    (void)arg;
    char buf[16];
    snprintf(buf, sizeof buf, "%.*s", len, data);
    atomic_store(&notice_value, atoi(buf));
}

static bool f_value(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    (void)req;
    char *text = tm_xmalloc(32);
    int n = snprintf(text, 32, "{\"value\":%d}", atomic_load(&notice_value));
    tm_svc_reply_json_text(rep, 200, text, (size_t)n);
    return true;
}

/* A notice published before a request (by this client, so the server sends it first) is
 * applied before the request is answered: each request sees the value just published. */
static void test_notice_applied_before_later_requests(void **state)
{
    (void)state;
    char name[80], subj[120], notice[120];
    itest_unique("notice", name, sizeof name);
    snprintf(subj, sizeof subj, "it.%s.value", name);
    snprintf(notice, sizeof notice, "it.%s.set", name);
    tm_svc_route_t r[] = {{.subject = subj, .fn = h_fast_worker, .fast = f_value}};
    tm_svc_notice_t nt[] = {{.subject = notice, .fn = n_set}};
    tm_svc_config_t c = {.name = name,
                         .nats_url = nats_url,
                         .workers = 1,
                         .queue_cap = 64,
                         .drain_timeout_ms = 3000,
                         .routes = r,
                         .nroutes = 1,
                         .notices = nt,
                         .nnotices = 1};
    tm_svc_t *ns = tm_svc_start(&c);
    assert_non_null(ns);
    for (int i = 1; i <= 300; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "%d", i);
        assert_int_equal(natsConnection_Publish(nc, notice, v, n), NATS_OK);
        natsMsg *m = itest_request(nc, subj, NULL, NULL, 0, 1000);
        json_t *b = m ? body_of(m) : NULL;
        assert_int_equal(tm_json_int(b, "value", -1), i);
        json_decref(b);
        natsMsg_Destroy(m);
    }
    tm_svc_stop(ns);
}

typedef struct {
    const char *subject;
    int ok, failed;
} burst_client_t;

static void *burst_client(void *arg)
{
    burst_client_t *c = arg;
    for (int i = 0; i < 400; i++) {
        natsMsg *m = itest_request(nc, c->subject, "{}", NULL, 0, 3000);
        if (itest_status(m) == 200)
            c->ok++;
        else
            c->failed++;
        natsMsg_Destroy(m);
    }
    return NULL;
}

/* Eight workers replying at once write to one NATS connection from eight threads: every
 * reply arrives and the connection is never dropped (an empty flush racing a full one once
 * made nats.c take the connection for closed and reconnect). */
static void test_concurrent_replies_keep_the_connection(void **state)
{
    (void)state;
    char name[80], subj[120];
    itest_unique("burst", name, sizeof name);
    snprintf(subj, sizeof subj, "it.%s.fast", name);
    tm_svc_route_t r[] = {{.subject = subj, .fn = h_fast}};
    tm_svc_config_t c = {.name = name,
                         .nats_url = nats_url,
                         .workers = 8,
                         .queue_cap = 1024,
                         .drain_timeout_ms = 3000,
                         .routes = r,
                         .nroutes = 1};
    tm_svc_t *burst = tm_svc_start(&c);
    assert_non_null(burst);
    long reconnects = metric_value("tm_nats_reconnects_total");
    pthread_t t[8];
    burst_client_t cl[8];
    for (int i = 0; i < 8; i++) {
        cl[i] = (burst_client_t){.subject = subj};
        assert_int_equal(pthread_create(&t[i], NULL, burst_client, &cl[i]), 0);
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += cl[i].ok;
        failed += cl[i].failed;
    }
    tm_svc_stop(burst);
    assert_int_equal(failed, 0);
    assert_int_equal(ok, 8 * 400);
    assert_int_equal(metric_value("tm_nats_reconnects_total"), reconnects);
}

int main(void)
{
    tm_log_init("itest", TM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_spread_over_workers),
        cmocka_unit_test(test_expired_deadline_is_dropped),
        cmocka_unit_test(test_handler_error_becomes_problem),
        cmocka_unit_test(test_health_reply),
        cmocka_unit_test(test_idempotency),
        cmocka_unit_test(test_idempotency_5xx_not_stored),
        cmocka_unit_test(test_idempotency_in_flight_conflict),
        cmocka_unit_test(test_admin_endpoints),
        cmocka_unit_test(test_admin_not_ready_and_draining),
        cmocka_unit_test(test_queue_full_answers_503),
        cmocka_unit_test(test_concurrent_replies_keep_the_connection),
        cmocka_unit_test(test_fast_route),
        cmocka_unit_test(test_notice_applied_before_later_requests),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    nats_Close();
    return rc;
}
