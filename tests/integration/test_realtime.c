/* Integration: tm-realtime (two replicas in this process) against a real nats-server with
 * JetStream and a real Postgres, with the built tm-task (started by the test, own database)
 * answering tm.v1.workspace.get / tm.v1.task.get for the membership fall-back. Most events are
 * inputs published into TM_EVENTS with js_Publish (exact seqs, replays, holes, garbage); the
 * "fresh" workspace and its task are real: created through tm-task while the test holds
 * tm-task's relay lock, so their events are still in the outbox when the fall-back is
 * checked, then released and relayed for real. The tests run in order and share state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "itest.h"
#include "itest_daemon.h"
#include "service.h"
#include "tm_events.h"
#include "tm_json.h"
#include "tm_metrics.h"
#include "tm_query.h"
#include "tm_subjects.h"

#ifndef TM_TASK_BIN
#error "TM_TASK_BIN must be defined by CMake"
#endif

#define ADMIN_1 itest_port(ITEST_PORT_RT1)
#define ADMIN_2 itest_port(ITEST_PORT_RT2)
/* pg_advisory_lock key of tm-task's outbox relay (services/task/relay.c RELAY_LOCK_KEY):
 * while the test holds it, tm-task commits events but does not publish them. */
#define TASK_RELAY_LOCK_KEY "7402110301"

static const char *nats_url, *pg_url;
static char schema[64], consumer[64];
static rt_config_t cfg1, cfg2;
static rt_service_t *rt1, *rt2;
static natsConnection *nc;
static jsCtx *js;
static itest_task_t task;
static PGconn *relay_hold; /* holds tm-task's relay lock until released */

/* ids of this run */
static char ws[37], ws_fresh[37], ws_prune[37], task1[37], task_fresh[37];
static char u1[37], u2[37], u3[37], u4[37], admin[37];

/* ---- helpers ---- */

static natsMsg *request_as(const char *subject, const char *user, const char *role,
                           const char *body, const char *param_id, const char *query)
{
    natsMsg *req = NULL, *rep = NULL;
    if (natsMsg_Create(&req, subject, NULL, body, body ? (int)strlen(body) : 0) != NATS_OK)
        return NULL;
    tm_call_t call;
    memset(&call, 0, sizeof call);
    snprintf(call.request_id, sizeof call.request_id, "it-rt");
    if (user)
        snprintf(call.user_id, sizeof call.user_id, "%s", user);
    snprintf(call.role, sizeof call.role, "%s", role ? role : "user");
    if (tm_nats_set_call_headers(req, &call) != TM_OK)
        abort();
    if (param_id)
        natsMsgHeader_Set(req, TM_HDR_PARAM_PREFIX "id", param_id);
    if (query)
        natsMsgHeader_Set(req, TM_HDR_QUERY, query);
    natsStatus s = natsConnection_RequestMsg(&rep, nc, req, 5000);
    natsMsg_Destroy(req);
    return s == NATS_OK ? rep : NULL;
}

static json_t *body_of(natsMsg *m)
{
    return m ? json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL) : NULL;
}

/* Request and return the parsed body; *status gets Tm-Status. */
static json_t *call_json(const char *subject, const char *user, const char *role, const char *body,
                         const char *param, const char *query, int *status)
{
    natsMsg *m = request_as(subject, user, role, body, param, query);
    *status = itest_status(m);
    json_t *j = body_of(m);
    natsMsg_Destroy(m);
    return j;
}

static void publish_event(const char *ws_id, int64_t seq, const char *type, const char *actor,
                          json_t *data, const char *msg_id_suffix, char event_id[37])
{
    if (!event_id[0])
        tm_uuid_v4(event_id);
    char created[40], subject[128], msgid[80];
    tm_format_rfc3339_ms(tm_wall_ms(), created, sizeof created);
    json_t *env = tm_event_envelope(event_id, ws_id, seq, type, actor, created, data);
    char *text = tm_json_dumps(env, NULL);
    assert_int_equal(tm_event_subject(ws_id, type, subject, sizeof subject), TM_OK);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    snprintf(msgid, sizeof msgid, "%s%s", event_id, msg_id_suffix ? msg_id_suffix : "");
    po.MsgId = msgid;
    jsPubAck *ack = NULL;
    assert_int_equal(js_Publish(&ack, js, subject, text, (int)strlen(text), &po, NULL), NATS_OK);
    jsPubAck_Destroy(ack);
    free(text);
    json_decref(env);
    json_decref(data);
}

static json_t *task_json(const char *id, const char *ws_id, const char *title, const char *status,
                         const char *assignee, const char *created_by)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:i}", "id", id, "workspace_id", ws_id,
                     "title", title, "status", status, "assignee_id",
                     assignee ? json_string(assignee) : json_null(), "created_by", created_by,
                     "version", 1);
}

static json_t *member_json(const char *ws_id, const char *user, const char *role)
{
    return json_pack("{s:s, s:s, s:s}", "workspace_id", ws_id, "user_id", user, "role", role);
}

static natsSubscription *sub_sync(const char *subject)
{
    natsSubscription *s = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&s, nc, subject), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    return s;
}

/* Next message on s within ms whose "op" is op (others skipped); parsed, or NULL. */
static json_t *next_op(natsSubscription *s, const char *op, int64_t ms, natsMsg **keep)
{
    int64_t end = tm_now_ms() + ms;
    while (tm_now_ms() < end) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, s, end - tm_now_ms()) != NATS_OK)
            return NULL;
        json_t *j = body_of(m);
        if (j && strcmp(tm_json_str(j, "op", ""), op) == 0) {
            if (keep)
                *keep = m;
            else
                natsMsg_Destroy(m);
            return j;
        }
        json_decref(j);
        natsMsg_Destroy(m);
    }
    return NULL;
}

static long long pg_count(const char *sql_fmt, const char *arg)
{
    PGconn *c = PQconnectdb(pg_url);
    char sql[512];
    snprintf(sql, sizeof sql, sql_fmt, schema, arg);
    PGresult *r = PQexec(c, sql);
    long long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return n;
}

static long long metric(const char *needle)
{
    char *text = tm_metrics_render(NULL);
    const char *p = strstr(text, needle);
    long long v = p ? atoll(p + strlen(needle)) : -1;
    free(text);
    return v;
}

/* Resume helper: returns the body. */
static json_t *resume(const char *user, const char *room, long since, long limit, int *status)
{
    char body[200];
    if (limit > 0)
        snprintf(body, sizeof body, "{\"room\":\"%s\",\"since\":%ld,\"limit\":%ld}", room, since,
                 limit);
    else
        snprintf(body, sizeof body, "{\"room\":\"%s\",\"since\":%ld}", room, since);
    return call_json(TM_SUBJ_RT_RESUME, user, NULL, body, NULL, NULL, status);
}

/* ---- real data in tm-task ---- */

/* Request to tm-task as user; returns the body's string field `field` into out. */
static void task_call(const char *subject, const char *user, const char *body, int want,
                      const char *field, char out[37])
{
    int st;
    json_t *r = call_json(subject, user, NULL, body, NULL, NULL, &st);
    if (st != want)
        fail_msg("%s: %d, want %d (tm-task log: %s)", subject, st, want, task.log);
    snprintf(out, 37, "%s", tm_json_str(r, field, ""));
    json_decref(r);
    assert_true(tm_is_uuid(out));
}

/* u3 (a real user) owns ws_fresh with task_fresh in it; their events stay in the outbox. */
static void make_fresh_workspace(void)
{
    char body[256], uniq[48];
    itest_unique("rt", uniq, sizeof uniq);
    snprintf(body, sizeof body,
             "{\"email\":\"%s@it.local\",\"password\":"
             "\"correct-horse-battery-9\",\"display_name\":\"u3\"}",
             uniq);
    task_call(TM_SUBJ_AUTH_REGISTER, NULL, body, 201, "id", u3);
    task_call(TM_SUBJ_WS_CREATE, u3, "{\"name\":\"fresh\"}", 201, "id", ws_fresh);
    snprintf(body, sizeof body, "{\"workspace_id\":\"%s\",\"title\":\"fresh task\"}", ws_fresh);
    task_call(TM_SUBJ_TASK_CREATE, u3, body, 201, "id", task_fresh);
}

static void hold_relay_lock(void)
{
    relay_hold = PQconnectdb(task.db.conninfo);
    assert_int_equal(PQstatus(relay_hold), CONNECTION_OK);
    PGresult *r = PQexec(relay_hold, "SELECT pg_advisory_lock(" TASK_RELAY_LOCK_KEY ")");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
}

/* ---- set-up ---- */

static void load_cfg(rt_config_t *cfg, int admin_port)
{
    char port[16], err[256];
    snprintf(port, sizeof port, "%d", admin_port);
    setenv("TM_ADMIN_PORT", port, 1);
    int rc = rt_config_load(cfg, err, sizeof err);
    if (rc != TM_OK)
        fprintf(stderr, "config: %s\n", err);
    assert_int_equal(rc, TM_OK);
}

static int setup(void **state)
{
    (void)state;
    nats_url = itest_env("TM_TEST_NATS_URL");
    pg_url = itest_env("TM_TEST_PG_URL");
    tm_log_init("itest", TM_LOG_ERROR);
    itest_unique("it_rt", schema, sizeof schema);
    snprintf(consumer, sizeof consumer, "%s", schema);
    setenv("TM_NATS_URL", nats_url, 1);
    setenv("TM_PG_URL", pg_url, 1);
    setenv("TM_RT_SCHEMA", schema, 1);
    setenv("TM_RT_CONSUMER", consumer, 1);
    setenv("TM_MIGRATIONS_DIR", TM_RT_MIGRATIONS, 1);
    setenv("TM_RT_SWEEP_INTERVAL", "300ms", 1);
    setenv("TM_RT_PRESENCE_TIMEOUT", "2s", 1);
    setenv("TM_RT_PRUNE_INTERVAL", "1s", 1);
    setenv("TM_RT_HISTORY_EVENTS", "10", 1);
    setenv("TM_RT_PRUNE_BATCH", "4", 1);
    setenv("TM_RT_TASK_TIMEOUT", "1s", 1);
    setenv("TM_RT_TYPING_INTERVAL", "1s", 1);
    setenv("TM_DRAIN_TIMEOUT", "2s", 1);
    load_cfg(&cfg1, ADMIN_1);
    load_cfg(&cfg2, ADMIN_2);
    tm_nats_opts_t o = {.send_asap = true};
    if (tm_nats_connect(nats_url, &o, &nc) != TM_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK || tm_events_ensure_stream(js, 0))
        return -1;
    tm_uuid_v4(ws);
    tm_uuid_v4(ws_prune);
    tm_uuid_v4(task1);
    tm_uuid_v4(u1);
    tm_uuid_v4(u2);
    tm_uuid_v4(u4);
    tm_uuid_v4(admin);
    itest_task_prepare(&task, itest_port(ITEST_PORT_TASK));
    hold_relay_lock();
    itest_task_spawn(&task, TM_TASK_BIN, NULL);
    make_fresh_workspace();
    rt1 = rt_service_start(&cfg1);
    return rt1 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rt_service_stop(rt1);
    rt_service_stop(rt2);
    PQfinish(relay_hold);
    relay_hold = NULL;
    bool task_clean = itest_task_stop(&task);
    js_DeleteConsumer(js, TM_STREAM_EVENTS, consumer, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    PGconn *c = PQconnectdb(pg_url);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    rt_config_free(&cfg1);
    rt_config_free(&cfg2);
    return task_clean ? 0 : -1;
}

/* ---- tests ---- */

static char ev3[37]; /* task.created, republished by the duplicate test */

static void test_events_delivered_and_resumed(void **state)
{
    (void)state;
    char room[64], troom[64], usub[96], rsub[96], tsub[96];
    snprintf(room, sizeof room, "workspace:%s", ws);
    snprintf(troom, sizeof troom, "task:%s", task1);
    snprintf(rsub, sizeof rsub, TM_SUBJ_DELIVER_ROOM_FMT, room);
    snprintf(tsub, sizeof tsub, TM_SUBJ_DELIVER_ROOM_FMT, troom);
    snprintf(usub, sizeof usub, TM_SUBJ_DELIVER_USER_FMT, u2);
    natsSubscription *rs = sub_sync(rsub), *ts = sub_sync(tsub), *us = sub_sync(usub);
    char e[5][37] = {{0}};
    publish_event(ws, 1, "workspace.created", u1, member_json(ws, u1, "owner"), NULL, e[0]);
    publish_event(ws, 2, "member.added", u1, member_json(ws, u2, "editor"), NULL, e[1]);
    publish_event(ws, 3, "task.created", u1, task_json(task1, ws, "Write spec", "todo", u2, u1),
                  NULL, e[2]);
    publish_event(ws, 4, "task.updated", u2,
                  task_json(task1, ws, "Write spec v2", "in_progress", u2, u1), NULL, e[3]);
    publish_event(ws, 5, "task.completed", u2,
                  task_json(task1, ws, "Write spec v2", "done", u2, u1), NULL, e[4]);
    memcpy(ev3, e[2], sizeof ev3);
    for (int i = 1; i <= 5; i++) {
        json_t *op = next_op(rs, "event", 10000, NULL);
        assert_non_null(op);
        assert_int_equal(tm_json_int(op, "seq", 0), i);
        assert_string_equal(tm_json_str(op, "room", ""), room);
        assert_string_equal(tm_json_str(op, "event_id", ""), e[i - 1]);
        json_decref(op);
    }
    for (int i = 3; i <= 5; i++) { /* the task room gets the task's events only */
        json_t *op = next_op(ts, "event", 5000, NULL);
        assert_non_null(op);
        assert_int_equal(tm_json_int(op, "seq", 0), i);
        assert_string_equal(tm_json_str(op, "room", ""), troom);
        json_decref(op);
    }
    json_t *n1 = next_op(us, "notification", 5000, NULL),
           *n2 = next_op(us, "notification", 5000, NULL);
    assert_non_null(n1);
    assert_non_null(n2);
    assert_string_equal(tm_json_str(n1, "type", ""), "workspace.added");
    assert_string_equal(tm_json_str(n2, "type", ""), "task.assigned");
    json_decref(n1);
    json_decref(n2);
    natsSubscription_Destroy(rs);
    natsSubscription_Destroy(ts);
    natsSubscription_Destroy(us);

    int st;
    json_t *r = resume(u2, room, 0, 0, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(tm_json_int(json_array_get(evs, i), "seq", 0), (int64_t)i + 1);
    assert_string_equal(tm_json_str(json_array_get(evs, 2), "type", ""), "task.created");
    assert_string_equal(tm_json_str(json_object_get(json_array_get(evs, 2), "data"), "title", ""),
                        "Write spec");
    assert_int_equal(tm_json_int(r, "head_seq", 0), 5);
    json_decref(r);
    r = resume(u2, room, 2, 2, &st); /* paging */
    assert_int_equal(st, 200);
    evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_int_equal(tm_json_int(json_array_get(evs, 0), "seq", 0), 3);
    assert_int_equal(tm_json_int(json_array_get(evs, 1), "seq", 0), 4);
    assert_true(json_is_true(json_object_get(r, "has_more")));
    json_decref(r);
    r = resume(u2, troom, 3, 0, &st); /* task room */
    evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_int_equal(tm_json_int(json_array_get(evs, 0), "seq", 0), 4);
    assert_int_equal(tm_json_int(r, "head_seq", 0), 5);
    json_decref(r);
}

static void test_redelivery_stores_once(void **state)
{
    (void)state;
    char room[64], rsub[96];
    snprintf(room, sizeof room, "workspace:%s", ws);
    snprintf(rsub, sizeof rsub, TM_SUBJ_DELIVER_ROOM_FMT, room);
    natsSubscription *rs = sub_sync(rsub);
    long long ok_before = metric("tm_rt_events_total{result=\"ok\"} ");
    /* Same event again under another Nats-Msg-Id: JetStream stores it twice, we once. */
    char id[37];
    memcpy(id, ev3, sizeof id);
    publish_event(ws, 3, "task.created", u1, task_json(task1, ws, "Write spec", "todo", u2, u1),
                  "-again", id);
    json_t *op = next_op(rs, "event", 10000, NULL); /* still delivered: the gateway dedupes */
    assert_non_null(op);
    assert_int_equal(tm_json_int(op, "seq", 0), 3);
    json_decref(op);
    natsSubscription_Destroy(rs);
    assert_true(metric("tm_rt_events_total{result=\"ok\"} ") > ok_before);
    assert_int_equal(pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", ws),
                     5);
    assert_int_equal(pg_count("SELECT count(*) FROM %s.notifications WHERE user_id = '%s'", u2), 2);
}

static void test_bad_event_is_dropped(void **state)
{
    (void)state;
    long long before = metric("tm_rt_events_total{result=\"invalid\"} ");
    char subject[128];
    snprintf(subject, sizeof subject, "tm.v1.evt.%s.task.created", ws);
    const char *bad[] = {"not json", "{\"event_id\":1}", "{\"unknown\":true}"};
    for (int i = 0; i < 3; i++) {
        jsPubAck *ack = NULL;
        assert_int_equal(js_Publish(&ack, js, subject, bad[i], (int)strlen(bad[i]), NULL, NULL),
                         NATS_OK);
        jsPubAck_Destroy(ack);
    }
    for (int i = 0; i < 100 && metric("tm_rt_events_total{result=\"invalid\"} ") < before + 3; i++)
        usleep(50 * 1000);
    assert_int_equal(metric("tm_rt_events_total{result=\"invalid\"} "), before + 3);
    /* The consumer goes on: a valid event after them is stored. */
    char e[37] = "";
    publish_event(ws, 6, "member.added", u1, member_json(ws, u4, "viewer"), NULL, e);
    for (int i = 0;
         i < 100 && pg_count("SELECT count(*) FROM %s.room_events WHERE event_id = '%s'", e) != 1;
         i++)
        usleep(50 * 1000);
    assert_int_equal(pg_count("SELECT count(*) FROM %s.room_events WHERE event_id = '%s'", e), 1);
}

static void test_subscribe_authorization(void **state)
{
    (void)state;
    char body[128];
    int st;
    snprintf(body, sizeof body, "{\"room\":\"workspace:%s\"}", ws);
    json_t *r = call_json(TM_SUBJ_RT_SUBSCRIBE, u2, NULL, body, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(tm_json_int(r, "head_seq", -1), 6);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, u3, NULL, body, NULL, NULL, &st); /* not a member */
    assert_int_equal(st, 404);
    json_decref(r);
    r = resume(u3, "workspace:00000000-0000-4000-8000-000000000000", 0, 0, &st);
    assert_int_equal(st, 404);
    json_decref(r);
    snprintf(body, sizeof body, "{\"room\":\"task:%s\"}", task1);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, u2, NULL, body, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(tm_json_int(r, "head_seq", -1), 5);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, u3, NULL, body, NULL, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);
    /* A workspace whose events have not arrived: tm-task says 200. */
    snprintf(body, sizeof body, "{\"room\":\"workspace:%s\"}", ws_fresh);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, u3, NULL, body, NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(tm_json_int(r, "head_seq", -1), 0);
    json_decref(r);
    snprintf(body, sizeof body, "{\"room\":\"task:%s\"}", task_fresh);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, u3, NULL, body, NULL, NULL, &st);
    assert_int_equal(st, 200);
    json_decref(r);
    /* The relay resumes: the fresh workspace's real events reach realtime. */
    PQfinish(relay_hold);
    relay_hold = NULL;
    for (int i = 0;
         i < 100 &&
         pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", ws_fresh) != 2;
         i++)
        usleep(100 * 1000);
    assert_int_equal(
        pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", ws_fresh), 2);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, u3, NULL, "{\"room\":\"lobby\"}", NULL, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_SUBSCRIBE, NULL, NULL, body, NULL, NULL, &st);
    assert_int_equal(st, 401);
    json_decref(r);
}

static void test_notifications_list_and_read(void **state)
{
    (void)state;
    int st;
    json_t *r = call_json(TM_SUBJ_RT_NOTIFICATIONS, u2, NULL, NULL, NULL, "limit=1", &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    assert_int_equal(tm_json_int(r, "unread_count", -1), 2);
    json_t *first = json_array_get(json_object_get(r, "data"), 0);
    assert_string_equal(tm_json_str(first, "type", ""), "task.assigned"); /* newest first */
    assert_string_equal(tm_json_str(json_object_get(first, "data"), "task_id", ""), task1);
    char cursor[64], id[37];
    snprintf(cursor, sizeof cursor, "limit=1&cursor=%s", tm_json_str(r, "next_cursor", "x"));
    snprintf(id, sizeof id, "%s", tm_json_str(first, "id", ""));
    json_decref(r);
    r = call_json(TM_SUBJ_RT_NOTIFICATIONS, u2, NULL, NULL, NULL, cursor, &st);
    assert_int_equal(st, 200);
    assert_string_equal(tm_json_str(json_array_get(json_object_get(r, "data"), 0), "type", ""),
                        "workspace.added");
    assert_true(json_is_null(json_object_get(r, "next_cursor")));
    json_decref(r);
    r = call_json(TM_SUBJ_RT_NOTIFICATIONS, u1, NULL, NULL, NULL, NULL, &st);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    assert_string_equal(tm_json_str(json_array_get(json_object_get(r, "data"), 0), "type", ""),
                        "task.completed");
    json_decref(r);
    r = call_json(TM_SUBJ_RT_NOTIFICATIONS, u2, NULL, NULL, NULL, "limit=0", &st);
    assert_int_equal(st, 400);
    json_decref(r);
    /* Another user's notification is not found; the owner's is read and pushed. */
    r = call_json(TM_SUBJ_RT_READ, u1, NULL, NULL, id, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);
    char usub[96];
    snprintf(usub, sizeof usub, TM_SUBJ_DELIVER_USER_FMT, u2);
    natsSubscription *us = sub_sync(usub);
    r = call_json(TM_SUBJ_RT_READ, u2, NULL, NULL, id, NULL, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_string(json_object_get(r, "read_at")));
    json_decref(r);
    json_t *op = next_op(us, "notification.read", 3000, NULL);
    assert_non_null(op);
    assert_string_equal(json_string_value(json_array_get(json_object_get(op, "ids"), 0)), id);
    assert_int_equal(tm_json_int(op, "unread_count", -1), 1);
    json_decref(op);
    r = call_json(TM_SUBJ_RT_NOTIFICATIONS, u2, NULL, NULL, NULL, "unread=true", &st);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_READ_ALL, u2, NULL, "{}", NULL, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(tm_json_int(r, "updated", -1), 1);
    json_decref(r);
    op = next_op(us, "notification.read", 3000, NULL);
    assert_non_null(op);
    assert_true(json_is_true(json_object_get(op, "all")));
    json_decref(op);
    natsSubscription_Destroy(us);
    r = call_json(TM_SUBJ_RT_NOTIFICATIONS, u2, NULL, NULL, NULL, NULL, &st);
    assert_int_equal(tm_json_int(r, "unread_count", -1), 0);
    json_decref(r);
}

static json_t *rt_connect(const char *user, const char *conn, const char *device, int *st)
{
    char body[256];
    snprintf(body, sizeof body, "{\"conn_id\":\"%s\",\"gateway_id\":\"gw-it\",\"device\":\"%s\"}",
             conn, device);
    return call_json(TM_SUBJ_RT_CONNECT, user, NULL, body, NULL, NULL, st);
}

static void rt_disconnect(const char *conn)
{
    char body[256];
    int st;
    snprintf(body, sizeof body, "{\"conn_id\":\"%s\",\"gateway_id\":\"gw-it\"}", conn);
    json_decref(call_json(TM_SUBJ_RT_DISCONNECT, NULL, NULL, body, NULL, NULL, &st));
}

static void test_presence_connect_heartbeat_disconnect_expiry(void **state)
{
    (void)state;
    char rsub[96];
    snprintf(rsub, sizeof rsub, "tm.v1.deliver.room.workspace:%s", ws);
    natsSubscription *rs = sub_sync(rsub);
    int st;
    json_t *r = rt_connect(u2, "c-u2-a", "web", &st);
    assert_int_equal(st, 200);
    assert_true(json_is_array(json_object_get(r, "announcements")));
    assert_int_equal(tm_json_int(r, "unread", -1), 0);
    json_decref(r);
    json_t *op = next_op(rs, "presence", 3000, NULL);
    assert_non_null(op);
    assert_string_equal(tm_json_str(op, "user_id", ""), u2);
    assert_true(json_is_true(json_object_get(op, "online")));
    json_decref(op);
    json_decref(rt_connect(u2, "c-u2-b", "ios", &st)); /* second connection: no transition */
    assert_null(next_op(rs, "presence", 700, NULL));
    r = call_json(TM_SUBJ_RT_PRESENCE, u1, NULL, NULL, ws, NULL, &st);
    assert_int_equal(st, 200);
    json_t *data = json_object_get(r, "data");
    size_t i;
    json_t *row;
    int online_devices = -1;
    json_array_foreach(data, i, row)
    {
        if (strcmp(tm_json_str(row, "user_id", ""), u2) == 0) {
            assert_true(json_is_true(json_object_get(row, "online")));
            online_devices = (int)json_array_size(json_object_get(row, "devices"));
        }
    }
    assert_int_equal(online_devices, 2);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_PRESENCE, u3, NULL, NULL, ws, NULL, &st);
    assert_int_equal(st, 404);
    json_decref(r);
    /* Heartbeats keep c-u2-b alive past the timeout; c-u2-a goes away by disconnect. */
    rt_disconnect("c-u2-a");
    assert_null(next_op(rs, "presence", 500, NULL));
    int64_t end = tm_now_ms() + 3000;
    while (tm_now_ms() < end) {
        r = call_json(TM_SUBJ_RT_HEARTBEAT, NULL, NULL,
                      "{\"gateway_id\":\"gw-it\",\"conns\":[\"c-u2-b\"]}", NULL, NULL, &st);
        assert_int_equal(tm_json_int(r, "refreshed", -1), 1);
        json_decref(r);
        assert_null(next_op(rs, "presence", 500, NULL));
    }
    /* No more heartbeats: offline within the timeout plus a sweep. */
    op = next_op(rs, "presence", 4000, NULL);
    assert_non_null(op);
    assert_false(json_is_true(json_object_get(op, "online")));
    assert_string_equal(tm_json_str(op, "user_id", ""), u2);
    json_decref(op);
    assert_int_equal(pg_count("SELECT count(*) FROM %s.connections WHERE user_id = '%s'", u2), 0);
    /* Explicit disconnect of the last connection publishes offline at once. */
    json_decref(rt_connect(u2, "c-u2-c", "web", &st));
    op = next_op(rs, "presence", 3000, NULL);
    assert_true(json_is_true(json_object_get(op, "online")));
    json_decref(op);
    rt_disconnect("c-u2-c");
    op = next_op(rs, "presence", 1500, NULL);
    assert_non_null(op);
    assert_false(json_is_true(json_object_get(op, "online")));
    json_decref(op);
    natsSubscription_Destroy(rs);
}

static void test_announcements(void **state)
{
    (void)state;
    natsSubscription *all = sub_sync(TM_SUBJ_DELIVER_ALL);
    int st;
    json_t *r = call_json(TM_SUBJ_RT_ANNOUNCE, u1, "user",
                          "{\"message\":\"hi\",\"level\":\"info\"}", NULL, NULL, &st);
    assert_int_equal(st, 403);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_ANNOUNCE, admin, "admin", "{\"message\":\"\",\"level\":\"loud\"}",
                  NULL, NULL, &st);
    assert_int_equal(st, 400);
    json_decref(r);
    r = call_json(TM_SUBJ_RT_ANNOUNCE, admin, "admin",
                  "{\"message\":\"Maintenance tonight\",\"level\":\"warning\"}", NULL, NULL, &st);
    assert_int_equal(st, 201);
    char now_id[37];
    snprintf(now_id, sizeof now_id, "%s", tm_json_str(r, "id", ""));
    json_decref(r);
    json_t *op = next_op(all, "announcement", 3000, NULL);
    assert_non_null(op);
    assert_string_equal(tm_json_str(op, "id", ""), now_id);
    assert_string_equal(tm_json_str(op, "message", ""), "Maintenance tonight");
    json_decref(op);
    /* Scheduled: not delivered now, delivered by the sweeper at starts_at. */
    char starts[40], body[200];
    tm_format_rfc3339_ms(tm_wall_ms() + 1500, starts, sizeof starts);
    snprintf(body, sizeof body,
             "{\"message\":\"Later\",\"level\":\"critical\",\"starts_at\":\"%s\"}", starts);
    r = call_json(TM_SUBJ_RT_ANNOUNCE, admin, "admin", body, NULL, NULL, &st);
    assert_int_equal(st, 201);
    char later_id[37];
    snprintf(later_id, sizeof later_id, "%s", tm_json_str(r, "id", ""));
    json_decref(r);
    assert_null(next_op(all, "announcement", 1000, NULL));
    op = next_op(all, "announcement", 3000, NULL);
    assert_non_null(op);
    assert_string_equal(tm_json_str(op, "id", ""), later_id);
    assert_string_equal(tm_json_str(op, "level", ""), "critical");
    json_decref(op);
    assert_null(next_op(all, "announcement", 1000, NULL)); /* once, by one sweeper */
    natsSubscription_Destroy(all);
    r = rt_connect(u4, "c-u4-ann", "web", &st);
    assert_true(json_array_size(json_object_get(r, "announcements")) >= 2);
    json_decref(r);
    rt_disconnect("c-u4-ann");
}

static void test_typing_throttle_and_exclude(void **state)
{
    (void)state;
    char rsub[96], body[160];
    snprintf(rsub, sizeof rsub, "tm.v1.deliver.room.workspace:%s", ws);
    snprintf(body, sizeof body, "{\"room\":\"workspace:%s\",\"task_id\":\"%s\"}", ws, task1);
    natsSubscription *rs = sub_sync(rsub);
    natsConnection_PublishString(nc, TM_SUBJ_RT_TYPING, "{}"); /* no user: ignored */
    natsMsg *req = NULL;
    natsMsg_Create(&req, TM_SUBJ_RT_TYPING, NULL, body, (int)strlen(body));
    natsMsgHeader_Set(req, TM_HDR_USER_ID, u2);
    natsConnection_PublishMsg(nc, req);
    natsConnection_PublishMsg(nc, req); /* throttled */
    natsMsg *m = NULL;
    json_t *op = next_op(rs, "typing", 3000, &m);
    assert_non_null(op);
    assert_string_equal(tm_json_str(op, "user_id", ""), u2);
    assert_string_equal(tm_json_str(op, "task_id", ""), task1);
    assert_string_equal(itest_header(m, "Tm-Exclude-User"), u2);
    natsMsg_Destroy(m);
    json_decref(op);
    assert_null(next_op(rs, "typing", 1000, NULL));
    /* A non-member's typing is never delivered. */
    natsMsgHeader_Set(req, TM_HDR_USER_ID, u3);
    natsConnection_PublishMsg(nc, req);
    assert_null(next_op(rs, "typing", 1000, NULL));
    /* After the interval the member may type again. */
    usleep(1200 * 1000);
    natsMsgHeader_Set(req, TM_HDR_USER_ID, u2);
    natsConnection_PublishMsg(nc, req);
    op = next_op(rs, "typing", 3000, NULL);
    assert_non_null(op);
    json_decref(op);
    natsMsg_Destroy(req);
    natsSubscription_Destroy(rs);
}

static void test_resume_past_history(void **state)
{
    (void)state;
    char e[37] = "";
    publish_event(ws_prune, 1, "workspace.created", u1, member_json(ws_prune, u1, "owner"), NULL,
                  e);
    for (int i = 2; i <= 25; i++) {
        char id[37] = "", tid[37];
        tm_uuid_v4(tid);
        publish_event(ws_prune, i, "task.created", u1,
                      task_json(tid, ws_prune, "t", "todo", NULL, u1), NULL, id);
    }
    /* History keeps 10 events per workspace (TM_RT_HISTORY_EVENTS); the pruner runs every s. */
    for (int i = 0;
         i < 100 &&
         pg_count("SELECT min(seq) FROM %s.room_events WHERE workspace_id = '%s'", ws_prune) != 16;
         i++)
        usleep(100 * 1000);
    assert_int_equal(
        pg_count("SELECT min(seq) FROM %s.room_events WHERE workspace_id = '%s'", ws_prune), 16);
    char room[64];
    snprintf(room, sizeof room, "workspace:%s", ws_prune);
    int st;
    json_t *r = resume(u1, room, 3, 0, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_int_equal(tm_json_int(r, "oldest_seq", 0), 16);
    assert_int_equal(tm_json_int(r, "head_seq", 0), 25);
    json_decref(r);
    r = resume(u1, room, 15, 0, &st); /* exactly at the edge: complete */
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_array_size(json_object_get(r, "events")), 10);
    json_decref(r);
    r = resume(u1, room, 25, 0, &st); /* up to date */
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_array_size(json_object_get(r, "events")), 0);
    json_decref(r);
}

/* Pruning deletes TM_RT_PRUNE_BATCH (4) rows per statement, however many are due: 20 rows
 * over TM_RT_HISTORY_EVENTS in one room, 7 past TM_RT_HISTORY_AGE in another, all stored
 * at once. The newest 10 of the first room and the head of the second stay. */
static void test_prune_in_batches(void **state)
{
    (void)state;
    char w_count[37], w_age[37];
    tm_uuid_v4(w_count);
    tm_uuid_v4(w_age);
    long long before = metric("\ntm_rt_pruned_rows_total ");
    const char *ins = "WITH i AS (INSERT INTO %s.room_events (workspace_id, seq, event_id, type, "
                      "data, created_at) SELECT '%s', g, gen_random_uuid(), 'task.created', "
                      "'{}', now() - interval '%s' FROM generate_series(1, %s) g RETURNING 1) "
                      "SELECT count(*) FROM i";
    char sql[512];
    snprintf(sql, sizeof sql, ins, "%s", "%s", "1 second", "30");
    assert_int_equal(pg_count(sql, w_count), 30);
    snprintf(sql, sizeof sql, ins, "%s", "%s", "2 days", "8");
    assert_int_equal(pg_count(sql, w_age), 8);
    const char *n = "SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'";
    for (int i = 0; i < 100 && (pg_count(n, w_count) != 10 || pg_count(n, w_age) != 1); i++)
        usleep(100 * 1000);
    assert_int_equal(pg_count(n, w_count), 10);
    assert_int_equal(pg_count(n, w_age), 1);
    const char *lo = "SELECT min(seq) FROM %s.room_events WHERE workspace_id = '%s'";
    assert_int_equal(pg_count(lo, w_count), 21);
    assert_int_equal(pg_count(lo, w_age), 8);
    long long max = metric("\ntm_rt_prune_batch_max_rows ");
    assert_true(max >= 1 && max <= 4);
    assert_true(metric("\ntm_rt_pruned_rows_total ") - before >= 27);
}

/* Events may commit out of order (several consumers): resume never skips a missing seq. */
static void test_resume_stops_at_hole(void **state)
{
    (void)state;
    char w3[37], room[64], e[4][37] = {{0}};
    tm_uuid_v4(w3);
    snprintf(room, sizeof room, "workspace:%s", w3);
    publish_event(w3, 1, "workspace.created", u1, member_json(w3, u1, "owner"), NULL, e[0]);
    publish_event(w3, 2, "member.added", u1, member_json(w3, u2, "viewer"), NULL, e[1]);
    publish_event(w3, 4, "member.added", u1, member_json(w3, u3, "viewer"), NULL, e[3]);
    for (int i = 0;
         i < 100 &&
         pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", w3) != 3;
         i++)
        usleep(50 * 1000);
    int st;
    json_t *r = resume(u1, room, 0, 0, &st);
    assert_int_equal(st, 200);
    json_t *evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_int_equal(tm_json_int(json_array_get(evs, 1), "seq", 0), 2);
    assert_int_equal(tm_json_int(r, "head_seq", 0), 4);
    json_decref(r);
    r = resume(u1, room, 2, 0, &st); /* 3 is not stored yet: nothing after 2 */
    assert_int_equal(json_array_size(json_object_get(r, "events")), 0);
    json_decref(r);
    publish_event(w3, 3, "member.added", u1, member_json(w3, u4, "viewer"), NULL, e[2]);
    for (int i = 0;
         i < 100 &&
         pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", w3) != 4;
         i++)
        usleep(50 * 1000);
    r = resume(u1, room, 2, 0, &st);
    evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_int_equal(tm_json_int(json_array_get(evs, 0), "seq", 0), 3);
    assert_int_equal(tm_json_int(json_array_get(evs, 1), "seq", 0), 4);
    json_decref(r);
}

/* Events that arrive together are stored by one multi-row statement per batch: a redelivered
 * event in the batch is stored once, a null data stays a JSON null, and an update reads the
 * task's previous event from the same batch (no second task.assigned for an unchanged
 * assignee). tm-realtime is stopped while they are published, so one fetch takes them all. */
static void test_batch_applies_in_order(void **state)
{
    (void)state;
    char w5[37], t5[37], e[4][37] = {{0}};
    tm_uuid_v4(w5);
    tm_uuid_v4(t5);
    rt_service_stop(rt1);
    rt1 = NULL;
    publish_event(w5, 1, "workspace.created", u1, member_json(w5, u1, "owner"), NULL, e[0]);
    publish_event(w5, 2, "task.created", u1, task_json(t5, w5, "Batch", "todo", u2, u1), NULL,
                  e[1]);
    publish_event(w5, 3, "task.updated", u1, task_json(t5, w5, "Batch v2", "todo", u2, u1), NULL,
                  e[2]);
    char again[37];
    memcpy(again, e[2], sizeof again);
    publish_event(w5, 3, "task.updated", u1, task_json(t5, w5, "Batch v2", "todo", u2, u1),
                  "-again", again);
    publish_event(w5, 4, "workspace.noted", u1, json_null(), NULL, e[3]);
    rt1 = rt_service_start(&cfg1);
    assert_non_null(rt1);
    for (int i = 0;
         i < 100 &&
         pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", w5) != 4;
         i++)
        usleep(50 * 1000);
    usleep(200 * 1000); /* a duplicate row, if any, would be in the same commit */
    assert_int_equal(pg_count("SELECT count(*) FROM %s.room_events WHERE workspace_id = '%s'", w5),
                     4);
    assert_int_equal(pg_count("SELECT count(*) FROM %s.room_events WHERE event_id = '%s' AND "
                              "data = 'null'::jsonb",
                              e[3]),
                     1);
    assert_int_equal(
        pg_count("SELECT count(*) FROM %s.notifications WHERE data->>'task_id' = '%s'", t5), 1);
    char room[64];
    snprintf(room, sizeof room, "workspace:%s", w5);
    int st;
    json_t *r = resume(u1, room, 0, 0, &st);
    assert_int_equal(st, 200);
    json_t *evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(tm_json_int(json_array_get(evs, i), "seq", 0), (int64_t)i + 1);
        assert_string_equal(tm_json_str(json_array_get(evs, i), "event_id", ""), e[i]);
    }
    json_decref(r);
}

static void test_head_beacon(void **state)
{
    (void)state;
    char rsub[96];
    snprintf(rsub, sizeof rsub, "tm.v1.deliver.room.workspace:%s", ws_prune);
    natsSubscription *rs = sub_sync(rsub);
    json_t *op = next_op(rs, "head", 3000, NULL);
    assert_non_null(op);
    assert_int_equal(tm_json_int(op, "seq", 0), 25);
    json_decref(op);
    natsSubscription_Destroy(rs);
}

typedef struct {
    char conn[32];
    int status;
} conn_job_t;

static void *connect_job(void *arg)
{
    conn_job_t *j = arg;
    json_decref(rt_connect(u4, j->conn, "web", &j->status));
    return NULL;
}

static void *disconnect_job(void *arg)
{
    rt_disconnect(((conn_job_t *)arg)->conn);
    return NULL;
}

static int count_ops(natsSubscription *s, const char *op, bool online, int64_t ms)
{
    int n = 0;
    json_t *j;
    while ((j = next_op(s, op, ms, NULL)) != NULL) {
        if (json_is_true(json_object_get(j, "online")) == online)
            n++;
        json_decref(j);
    }
    return n;
}

static void test_two_replicas_share_presence(void **state)
{
    (void)state;
    rt2 = rt_service_start(&cfg2);
    assert_non_null(rt2);
    for (int i = 0; i < 50; i++) { /* wait until the second replica answers */
        char out[512];
        if (itest_http(ADMIN_2, "GET", "/readyz", out, sizeof out) == 200)
            break;
        usleep(100 * 1000);
    }
    char rsub[96];
    snprintf(rsub, sizeof rsub, "tm.v1.deliver.room.workspace:%s", ws);
    for (int round = 0; round < 3; round++) {
        natsSubscription *rs = sub_sync(rsub);
        enum { N = 8 };
        pthread_t t[N];
        conn_job_t jobs[N];
        for (int i = 0; i < N; i++) {
            snprintf(jobs[i].conn, sizeof jobs[i].conn, "c-u4-%d-%d", round, i);
            assert_int_equal(pthread_create(&t[i], NULL, connect_job, &jobs[i]), 0);
        }
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(jobs[i].status, 200);
        }
        assert_int_equal(pg_count("SELECT count(*) FROM %s.connections WHERE user_id = '%s'", u4),
                         N);
        assert_int_equal(count_ops(rs, "presence", true, 800), 1);
        for (int i = 0; i < N; i++)
            assert_int_equal(pthread_create(&t[i], NULL, disconnect_job, &jobs[i]), 0);
        for (int i = 0; i < N; i++)
            pthread_join(t[i], NULL);
        int offline = count_ops(rs, "presence", false, 800);
        assert_int_equal(offline, 1);
        natsSubscription_Destroy(rs);
    }
    /* Expiry with two sweepers: exactly one offline. */
    natsSubscription *rs = sub_sync(rsub);
    int st;
    json_decref(rt_connect(u4, "c-u4-exp1", "web", &st));
    json_decref(rt_connect(u4, "c-u4-exp2", "ios", &st));
    assert_int_equal(count_ops(rs, "presence", true, 500), 1);
    int64_t end = tm_now_ms() + 5000;
    int offline = 0;
    while (tm_now_ms() < end)
        offline += count_ops(rs, "presence", false, 500);
    assert_int_equal(offline, 1);
    natsSubscription_Destroy(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_delivered_and_resumed),
        cmocka_unit_test(test_redelivery_stores_once),
        cmocka_unit_test(test_bad_event_is_dropped),
        cmocka_unit_test(test_subscribe_authorization),
        cmocka_unit_test(test_notifications_list_and_read),
        cmocka_unit_test(test_presence_connect_heartbeat_disconnect_expiry),
        cmocka_unit_test(test_announcements),
        cmocka_unit_test(test_typing_throttle_and_exclude),
        cmocka_unit_test(test_resume_past_history),
        cmocka_unit_test(test_prune_in_batches),
        cmocka_unit_test(test_resume_stops_at_hole),
        cmocka_unit_test(test_batch_applies_in_order),
        cmocka_unit_test(test_head_beacon),
        cmocka_unit_test(test_two_replicas_share_presence),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
