/* Integration test of tm-task's outbox relay wake-ups and batches (services/task/relay.c)
 * against the built tm-task on the real nats-server and Postgres of TM_TEST_NATS_URL /
 * TM_TEST_PG_URL. The relay's sweep is set to 60 s, so an event that arrives within
 * WAKE_MS was woken by a kick (task writes), or by the NOTIFY that the writes inside an
 * outer transaction (Idempotency-Key) and the workspace paths still send. A burst of
 * concurrent creates in one workspace must come out once each, in seq order, gapless. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include "itest.h"
#include "itest_daemon.h"
#include "tm_json.h"
#include "tm_subjects.h"

#ifndef TM_TASK_BIN
#error "TM_TASK_BIN must be defined by CMake"
#endif

#define WAKE_MS       800 /* far below the 60 s sweep */
#define BURST_THREADS 8
#define BURST_EACH    25
#define MAX_EVENTS    512

static natsConnection *nc;
static itest_task_t task;
static char user_id[37], ws[37];

/* Events seen on tm.v1.evt.<ws>.> (a core subscription: every publish, duplicates too). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    int64_t seq[MAX_EVENTS];
    char type[MAX_EVENTS][32];
} seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, {{0}}};
static natsSubscription *evsub;

static void on_event(natsConnection *c, natsSubscription *s, natsMsg *m, void *arg)
{
    (void)c;
    (void)s;
    (void)arg;
    json_t *ev = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, NULL);
    pthread_mutex_lock(&seen.mu);
    if (ev && seen.n < MAX_EVENTS) {
        seen.seq[seen.n] = json_integer_value(json_object_get(ev, "seq"));
        snprintf(seen.type[seen.n], sizeof seen.type[0], "%s",
                 json_string_value(json_object_get(ev, "type")));
        seen.n++;
        pthread_cond_broadcast(&seen.cv);
    }
    pthread_mutex_unlock(&seen.mu);
    json_decref(ev);
    natsMsg_Destroy(m);
}

/* Wait until at least want events were seen or timeout_ms passed; returns the count. */
static int wait_events(int want, int64_t timeout_ms)
{
    int64_t deadline = tm_now_ms() + timeout_ms;
    pthread_mutex_lock(&seen.mu);
    while (seen.n < want && tm_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&seen.cv, &seen.mu, &ts);
    }
    int n = seen.n;
    pthread_mutex_unlock(&seen.mu);
    return n;
}

static int request(const char *subject, const char *user, const char *idem, json_t *body,
                   json_t **out)
{
    char *text = tm_json_dumps(body, NULL);
    natsMsg *m = NULL, *rep = NULL;
    assert_int_equal(natsMsg_Create(&m, subject, NULL, text, (int)strlen(text)), NATS_OK);
    char rid[37];
    tm_uuid_v4(rid);
    assert_int_equal(natsMsgHeader_Set(m, TM_HDR_REQUEST_ID, rid), NATS_OK);
    if (user) {
        assert_int_equal(natsMsgHeader_Set(m, TM_HDR_USER_ID, user), NATS_OK);
        assert_int_equal(natsMsgHeader_Set(m, TM_HDR_USER_ROLE, "user"), NATS_OK);
    }
    if (idem)
        assert_int_equal(natsMsgHeader_Set(m, TM_HDR_IDEM_KEY, idem), NATS_OK);
    natsStatus s = natsConnection_RequestMsg(&rep, nc, m, 10000);
    natsMsg_Destroy(m);
    free(text);
    assert_int_equal(s, NATS_OK);
    int status = itest_status(rep);
    if (out)
        *out = json_loadb(natsMsg_GetData(rep), (size_t)natsMsg_GetDataLength(rep), 0, NULL);
    natsMsg_Destroy(rep);
    return status;
}

static int create_task(const char *title, const char *idem)
{
    json_t *b = json_pack("{s:s, s:s}", "workspace_id", ws, "title", title);
    int st = request(TM_SUBJ_TASK_CREATE, user_id, idem, b, NULL);
    json_decref(b);
    return st;
}

static int setup(void **state)
{
    (void)state;
    tm_log_init("it-relay", TM_LOG_WARN);
    char *env[] = {"TM_RELAY_SWEEP=60s", NULL};
    itest_task_start(&task, TM_TASK_BIN, itest_port(ITEST_PORT_TASK), env);
    tm_nats_opts_t o = {.send_asap = true, .name = "it-relay"};
    if (tm_nats_connect(itest_env("TM_TEST_NATS_URL"), &o, &nc) != TM_OK)
        return -1;
    char email[96], r[37];
    tm_uuid_v4(r);
    snprintf(email, sizeof email, "relay-%s@it.local", r);
    json_t *b = json_pack("{s:s, s:s, s:s}", "email", email, "password", "correct-horse-battery-9",
                          "display_name", "relay");
    json_t *u = NULL;
    int st = request(TM_SUBJ_AUTH_REGISTER, NULL, NULL, b, &u);
    json_decref(b);
    assert_int_equal(st, 201);
    const char *id = json_string_value(json_object_get(u, "id"));
    if (!id)
        id = json_string_value(json_object_get(json_object_get(u, "user"), "id"));
    assert_non_null(id);
    snprintf(user_id, sizeof user_id, "%s", id);
    json_decref(u);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    natsSubscription_Destroy(evsub);
    natsConnection_Destroy(nc);
    nc = NULL;
    return itest_task_stop(&task) ? 0 : -1;
}

/* The workspace and its subscription; its workspace.created event comes through
 * outbox_append's NOTIFY. The relay may still be taking its lock: up to 5 s here. */
static void test_workspace_event_notify(void **state)
{
    (void)state;
    json_t *b = json_pack("{s:s}", "name", "relay it"), *w = NULL;
    /* subscribe to every workspace's events first, then narrow by id once known */
    assert_int_equal(
        natsConnection_Subscribe(&evsub, nc, "tm.v1.evt.*.workspace.created", on_event, NULL),
        NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    assert_int_equal(request(TM_SUBJ_WS_CREATE, user_id, NULL, b, &w), 201);
    json_decref(b);
    snprintf(ws, sizeof ws, "%s", json_string_value(json_object_get(w, "id")));
    json_decref(w);
    assert_true(wait_events(1, 5000) >= 1);
    natsSubscription_Destroy(evsub);
    pthread_mutex_lock(&seen.mu);
    assert_string_equal(seen.type[0], "workspace.created");
    seen.n = 0;
    pthread_mutex_unlock(&seen.mu);
    char subj[128];
    snprintf(subj, sizeof subj, "tm.v1.evt.%s.>", ws);
    assert_int_equal(natsConnection_Subscribe(&evsub, nc, subj, on_event, NULL), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
}

/* A create outside any transaction commits on its own and kicks the relay in-process. */
static void test_create_kicks_relay(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        int before = wait_events(0, 0);
        int64_t t0 = tm_now_ms();
        assert_int_equal(create_task("kicked", NULL), 201);
        assert_int_equal(wait_events(before + 1, WAKE_MS), before + 1);
        assert_true(tm_now_ms() - t0 < WAKE_MS);
    }
}

/* With an Idempotency-Key the create runs inside tm_svc's transaction: the NOTIFY form. */
static void test_idempotent_create_notifies(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) {
        char key[48];
        snprintf(key, sizeof key, "relay-it-%d-%lld", i, (long long)tm_now_ms());
        int before = wait_events(0, 0);
        assert_int_equal(create_task("idempotent", key), 201);
        assert_int_equal(wait_events(before + 1, WAKE_MS), before + 1);
    }
}

static void *burst(void *arg)
{
    (void)arg;
    for (int i = 0; i < BURST_EACH; i++)
        if (create_task("burst", NULL) != 201)
            return (void *)1;
    return NULL;
}

/* Concurrent creates in one workspace: every event once, in seq order, without a gap. */
static void test_burst_in_order_once(void **state)
{
    (void)state;
    int before = wait_events(0, 0);
    pthread_t th[BURST_THREADS];
    for (int i = 0; i < BURST_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, burst, NULL), 0);
    for (int i = 0; i < BURST_THREADS; i++) {
        void *rc = NULL;
        pthread_join(th[i], &rc);
        assert_null(rc);
    }
    int want = before + BURST_THREADS * BURST_EACH;
    assert_int_equal(wait_events(want, 10000), want);
    assert_int_equal(wait_events(want + 1, 300), want); /* and nothing twice */
    pthread_mutex_lock(&seen.mu);
    for (int i = 1; i < seen.n; i++)
        if (seen.seq[i] != seen.seq[i - 1] + 1)
            fail_msg("event %d: seq %lld after %lld", i, (long long)seen.seq[i],
                     (long long)seen.seq[i - 1]);
    pthread_mutex_unlock(&seen.mu);
    char sql[160], n[32];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM task.outbox WHERE workspace_id = '%s' AND published_at IS NULL",
             ws);
    itest_query1(task.db.conninfo, sql, n, sizeof n);
    assert_string_equal(n, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workspace_event_notify),
        cmocka_unit_test(test_create_kicks_relay),
        cmocka_unit_test(test_idempotent_create_notifies),
        cmocka_unit_test(test_burst_in_order_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
