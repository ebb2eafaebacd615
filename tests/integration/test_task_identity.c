/* Integration: tm-task's identity and workspace subjects over NATS, against the built
 * tm-task binary, a real nats-server and Postgres (a fresh database per run).
 * Covers register/login/refresh rotation and reuse/logout/sessions/revoke/admin, and
 * workspace create/list/get/members with the last-owner and non-member rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "itest.h"
#include "itest_daemon.h"
#include "tm_subjects.h"

#ifndef TM_TASK_BIN
#error "TM_TASK_BIN must be defined by CMake"
#endif

#define ADMIN_PORT itest_port(ITEST_PORT_TASK)
#define PW         "correct-horse-battery-9"

static itest_task_t g_task;
static natsConnection *g_nc;

typedef struct {
    char id[37];
    char sid[37];
    char email[128];
    char refresh[64];
    char role[16];
} who_t;

static int setup(void **state)
{
    (void)state;
    itest_task_start(&g_task, TM_TASK_BIN, ADMIN_PORT, NULL);
    assert_int_equal(tm_nats_connect(itest_env("TM_TEST_NATS_URL"), NULL, &g_nc), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(g_nc);
    g_nc = NULL;
    return itest_task_stop(&g_task) ? 0 : -1;
}

/* One request with caller headers, an optional Idempotency-Key and path params (name, value,
 * ..., NULL). */
static int call_v(const char *subj, const who_t *w, const char *idem, const char *body,
                  json_t **out, va_list ap)
{
    natsMsg *m = NULL, *rep = NULL;
    assert_int_equal(natsMsg_Create(&m, subj, NULL, body, body ? (int)strlen(body) : 0), 0);
    tm_call_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.request_id, sizeof c.request_id, "itest-identity");
    if (w) {
        snprintf(c.user_id, sizeof c.user_id, "%s", w->id);
        snprintf(c.session_id, sizeof c.session_id, "%s", w->sid);
        snprintf(c.role, sizeof c.role, "%s", w->role);
    }
    if (idem)
        snprintf(c.idem_key, sizeof c.idem_key, "%s", idem);
    assert_int_equal(tm_nats_set_call_headers(m, &c), 0);
    for (const char *k; (k = va_arg(ap, const char *));) {
        char h[64];
        snprintf(h, sizeof h, "Tm-Param-%s", k);
        assert_int_equal(natsMsgHeader_Set(m, h, va_arg(ap, const char *)), 0);
    }
    assert_int_equal(natsConnection_RequestMsg(&rep, g_nc, m, 10000), 0);
    natsMsg_Destroy(m);
    int st = itest_status(rep);
    if (out) {
        int n = natsMsg_GetDataLength(rep);
        *out = n > 0 ? json_loadb(natsMsg_GetData(rep), (size_t)n, 0, NULL) : NULL;
    }
    natsMsg_Destroy(rep);
    return st;
}

static int call(const char *subj, const who_t *w, const char *body, json_t **out, ...)
{
    va_list ap;
    va_start(ap, out);
    int st = call_v(subj, w, NULL, body, out, ap);
    va_end(ap);
    return st;
}

static int call_idem(const char *subj, const who_t *w, const char *idem, const char *body,
                     json_t **out, ...)
{
    va_list ap;
    va_start(ap, out);
    int st = call_v(subj, w, idem, body, out, ap);
    va_end(ap);
    return st;
}

static const char *js(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

static void reg(who_t *w, const char *prefix)
{
    char uniq[48], body[512];
    itest_unique(prefix, uniq, sizeof uniq);
    snprintf(w->email, sizeof w->email, "%s@Test.Local", uniq);
    snprintf(body, sizeof body, "{\"email\":\" %s \",\"password\":\"%s\",\"display_name\":\"%s\"}",
             w->email, PW, prefix);
    json_t *r = NULL;
    assert_int_equal(call(TM_SUBJ_AUTH_REGISTER, NULL, body, &r, NULL), 201);
    snprintf(w->id, sizeof w->id, "%s", js(r, "id", NULL));
    assert_string_equal(js(r, "role", NULL), "user");
    assert_null(json_object_get(r, "password_hash"));
    json_decref(r);
}

static void login(who_t *w, const char *device)
{
    char body[512];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\",\"device\":\"%s\"}",
             w->email, PW, device);
    json_t *r = NULL;
    assert_int_equal(call(TM_SUBJ_AUTH_LOGIN, NULL, body, &r, NULL), 200);
    assert_string_equal(js(r, "token_type", NULL), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(r, "expires_in")), 900);
    assert_int_equal(strlen(js(r, "refresh_token", NULL)), 43);
    assert_string_equal(js(r, "user", "id"), w->id);
    assert_int_equal(strlen(js(r, "access_token", NULL)) > 100, 1);
    snprintf(w->sid, sizeof w->sid, "%s", js(r, "session_id", NULL));
    snprintf(w->refresh, sizeof w->refresh, "%s", js(r, "refresh_token", NULL));
    snprintf(w->role, sizeof w->role, "%s", js(r, "user", "role"));
    json_decref(r);
}

static void test_register_rules(void **state)
{
    (void)state;
    who_t a;
    memset(&a, 0, sizeof a);
    reg(&a, "reg");
    char body[512];
    json_t *r = NULL;
    /* the same address in another case is a duplicate */
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\",\"display_name\":\"x\"}",
             a.email, PW);
    for (char *p = strchr(body, '@'); p && *p != '"'; p++)
        *p = (char)toupper((unsigned char)*p);
    assert_int_equal(call(TM_SUBJ_AUTH_REGISTER, NULL, body, NULL, NULL), 409);
    assert_int_equal(call(TM_SUBJ_AUTH_REGISTER, NULL,
                          "{\"email\":\"weak@test.local\",\"password\":\"password123\","
                          "\"display_name\":\"x\"}",
                          &r, NULL),
                     400);
    assert_string_equal(js(json_array_get(json_object_get(r, "errors"), 0), "field", NULL),
                        "password");
    json_decref(r);
    assert_int_equal(call(TM_SUBJ_AUTH_REGISTER, NULL,
                          "{\"email\":\"x@test.local\",\"password\":\"" PW "\","
                          "\"display_name\":\"x\",\"role\":\"admin\"}",
                          &r, NULL),
                     400);
    assert_string_equal(js(json_array_get(json_object_get(r, "errors"), 0), "field", NULL), "role");
    json_decref(r);
    assert_int_equal(call(TM_SUBJ_AUTH_REGISTER, NULL,
                          "{\"email\":\"not-an-email\",\"password\":\"" PW "\","
                          "\"display_name\":\"x\"}",
                          NULL, NULL),
                     400);
}

static void test_login_refresh_logout(void **state)
{
    (void)state;
    who_t a, b;
    memset(&a, 0, sizeof a);
    reg(&a, "sess");
    login(&a, "laptop");
    b = a;
    login(&b, "phone");
    assert_string_not_equal(a.sid, b.sid);
    char body[256];
    /* wrong password and unknown email: the same 401 */
    json_t *r1 = NULL, *r2 = NULL;
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"wrong-password-1\"}", a.email);
    assert_int_equal(call(TM_SUBJ_AUTH_LOGIN, NULL, body, &r1, NULL), 401);
    assert_int_equal(call(TM_SUBJ_AUTH_LOGIN, NULL,
                          "{\"email\":\"nobody@test.local\",\"password\":\"wrong-password-1\"}",
                          &r2, NULL),
                     401);
    assert_string_equal(js(r1, "detail", NULL), js(r2, "detail", NULL));
    json_decref(r1);
    json_decref(r2);
    /* sessions: two, the current one flagged */
    json_t *r = NULL;
    assert_int_equal(call(TM_SUBJ_AUTH_SESSIONS, &a, NULL, &r, NULL), 200);
    json_t *data = json_object_get(r, "data");
    assert_int_equal(json_array_size(data), 2);
    int current = 0;
    for (size_t i = 0; i < 2; i++)
        current += json_is_true(json_object_get(json_array_get(data, i), "current"));
    assert_int_equal(current, 1);
    json_decref(r);
    /* refresh rotates */
    char old[64];
    snprintf(old, sizeof old, "%s", a.refresh);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", old);
    assert_int_equal(call(TM_SUBJ_AUTH_REFRESH, NULL, body, &r, NULL), 200);
    assert_string_equal(js(r, "session_id", NULL), a.sid);
    assert_string_not_equal(js(r, "refresh_token", NULL), old);
    snprintf(a.refresh, sizeof a.refresh, "%s", js(r, "refresh_token", NULL));
    json_decref(r);
    /* reuse of the old token revokes the session: the new token dies too */
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sub, g_nc, TM_SUBJ_AUTH_REVOKED), 0);
    assert_int_equal(call(TM_SUBJ_AUTH_REFRESH, NULL, body, NULL, NULL), 401);
    natsMsg *ev = NULL;
    assert_int_equal(natsSubscription_NextMsg(&ev, sub, 5000), 0);
    assert_non_null(strstr(natsMsg_GetData(ev), a.sid));
    natsMsg_Destroy(ev);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", a.refresh);
    assert_int_equal(call(TM_SUBJ_AUTH_REFRESH, NULL, body, NULL, NULL), 401);
    /* logout of b: 204, its refresh token stops working, one session left -> none */
    assert_int_equal(call(TM_SUBJ_AUTH_LOGOUT, &b, NULL, NULL, NULL), 204);
    assert_int_equal(natsSubscription_NextMsg(&ev, sub, 5000), 0);
    assert_non_null(strstr(natsMsg_GetData(ev), b.sid));
    natsMsg_Destroy(ev);
    natsSubscription_Destroy(sub);
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", b.refresh);
    assert_int_equal(call(TM_SUBJ_AUTH_REFRESH, NULL, body, NULL, NULL), 401);
    assert_int_equal(call(TM_SUBJ_AUTH_SESSIONS, &a, NULL, &r, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 0);
    json_decref(r);
    assert_int_equal(call(TM_SUBJ_AUTH_ME, &a, NULL, &r, NULL), 200);
    assert_string_equal(js(r, "id", NULL), a.id);
    json_decref(r);
}

static void test_revoke_other_users_session(void **state)
{
    (void)state;
    who_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    reg(&a, "rva");
    reg(&b, "rvb");
    login(&a, "one");
    who_t a2 = a;
    login(&a2, "two");
    login(&b, "bee");
    assert_int_equal(call(TM_SUBJ_AUTH_REVOKE, &b, NULL, NULL, "id", a2.sid, NULL), 404);
    assert_int_equal(call(TM_SUBJ_AUTH_REVOKE, &a, NULL, NULL, "id", a2.sid, NULL), 204);
    char body[128];
    snprintf(body, sizeof body, "{\"refresh_token\":\"%s\"}", a2.refresh);
    assert_int_equal(call(TM_SUBJ_AUTH_REFRESH, NULL, body, NULL, NULL), 401);
}

/* `tm-task promote` straight into the database (no NATS, no cache invalidation). */
static void promote_cli(const who_t *w, const char *role)
{
    char e_cli[1100], email[128], r[16];
    snprintf(e_cli, sizeof e_cli, "TM_PG_URL=%s", g_task.db.conninfo);
    snprintf(email, sizeof email, "%s", w->email);
    snprintf(r, sizeof r, "%s", role);
    char *env[] = {e_cli, NULL};
    char *argv[] = {TM_TASK_BIN, "promote", email, r, NULL};
    assert_true(itest_exited_clean(itest_run(argv, env, "/tmp/itest_task_identity_promote.log")));
}

static void test_admin_routes(void **state)
{
    (void)state;
    who_t u, adm;
    memset(&u, 0, sizeof u);
    memset(&adm, 0, sizeof adm);
    reg(&u, "plain");
    reg(&adm, "boss");
    login(&u, "d");
    assert_int_equal(call(TM_SUBJ_ADMIN_USERS, &u, NULL, NULL, NULL), 403);
    /* promote through the CLI, then log in again to get the role */
    promote_cli(&adm, "admin");
    login(&adm, "admin-box");
    assert_string_equal(adm.role, "admin");
    json_t *r = NULL;
    assert_int_equal(call(TM_SUBJ_ADMIN_USERS, &adm, NULL, &r, NULL), 200);
    assert_true(json_array_size(json_object_get(r, "data")) >= 2);
    json_decref(r);
    assert_int_equal(
        call(TM_SUBJ_ADMIN_USER_UPDATE, &adm, "{\"role\":\"moderator\"}", &r, "id", u.id, NULL),
        200);
    assert_string_equal(js(r, "role", NULL), "moderator");
    json_decref(r);
    assert_int_equal(
        call(TM_SUBJ_ADMIN_USER_UPDATE, &u, "{\"role\":\"admin\"}", NULL, "id", u.id, NULL), 403);
    /* the only admin cannot demote themself */
    assert_int_equal(
        call(TM_SUBJ_ADMIN_USER_UPDATE, &adm, "{\"role\":\"user\"}", NULL, "id", adm.id, NULL),
        409);
    assert_int_equal(call(TM_SUBJ_ADMIN_USER_UPDATE, &adm, "{\"bogus\":1}", NULL, "id", u.id, NULL),
                     400);
}

/* GET /me n times (requests spread over the replicas by the queue group): every answer
 * must show role. */
static void expect_me_role(const who_t *u, const char *role, int n)
{
    for (int i = 0; i < n; i++) {
        json_t *r = NULL;
        assert_int_equal(call(TM_SUBJ_AUTH_ME, u, NULL, &r, NULL), 200);
        assert_string_equal(js(r, "id", NULL), u->id);
        assert_string_equal(js(r, "role", NULL), role);
        json_decref(r);
    }
}

static long metric_value(int admin_port, const char *series)
{
    static char buf[1 << 18];
    assert_int_equal(itest_http(admin_port, "GET", "/metrics", buf, sizeof buf), 200);
    const char *p = strstr(buf, series);
    return p ? strtol(p + strlen(series), NULL, 10) : 0;
}

/* Two replicas cache /me; a role change made on either (inside the harness's Idempotency-Key
 * transaction, or the handler's own) is seen by every later /me on both. */
static void test_me_cache_two_replicas(void **state)
{
    (void)state;
    who_t u, adm;
    memset(&u, 0, sizeof u);
    memset(&adm, 0, sizeof adm);
    reg(&u, "cached");
    reg(&adm, "chief");
    login(&u, "d");
    promote_cli(&adm, "admin");
    login(&adm, "admin-box");
    itest_task_t second = g_task; /* same database and key */
    second.admin_port = itest_port(ITEST_PORT_TASK2);
    snprintf(second.log, sizeof second.log, "/tmp/itest_task_identity_replica2.log");
    itest_task_spawn(&second, TM_TASK_BIN, NULL);

    const char *hit = "tm_task_user_cache_total{result=\"hit\"} ";
    long hits0 = metric_value(ADMIN_PORT, hit), hits1 = metric_value(second.admin_port, hit);
    expect_me_role(&u, "user", 60);
    /* both replicas answered from their caches (60 requests: each gets some) */
    assert_true(metric_value(ADMIN_PORT, hit) > hits0);
    assert_true(metric_value(second.admin_port, hit) > hits1);

    json_t *r = NULL;
    assert_int_equal(call_idem(TM_SUBJ_ADMIN_USER_UPDATE, &adm, "promote-cached-1",
                               "{\"role\":\"moderator\"}", &r, "id", u.id, NULL),
                     200);
    json_decref(r);
    expect_me_role(&u, "moderator", 40);
    assert_int_equal(
        call(TM_SUBJ_ADMIN_USER_UPDATE, &adm, "{\"role\":\"user\"}", NULL, "id", u.id, NULL), 200);
    expect_me_role(&u, "user", 40);
    expect_me_role(&adm, "admin", 10); /* promoted before anything cached it */
    assert_true(itest_exited_clean(itest_stop(&second.pid)));
}

static void test_workspaces(void **state)
{
    (void)state;
    who_t o, e, x;
    memset(&o, 0, sizeof o);
    memset(&e, 0, sizeof e);
    memset(&x, 0, sizeof x);
    reg(&o, "owner");
    reg(&e, "editor");
    reg(&x, "stranger");
    json_t *r = NULL;
    assert_int_equal(call(TM_SUBJ_WS_CREATE, &o, "{\"name\":\"Team\"}", &r, NULL), 201);
    char ws[37];
    snprintf(ws, sizeof ws, "%s", js(r, "id", NULL));
    assert_string_equal(js(r, "role", NULL), "owner");
    assert_int_equal(json_integer_value(json_object_get(r, "member_count")), 1);
    json_decref(r);
    assert_int_equal(call(TM_SUBJ_WS_CREATE, &o, "{\"name\":\"T\",\"owner\":\"x\"}", NULL, NULL),
                     400);
    assert_int_equal(call(TM_SUBJ_WS_LIST, &o, NULL, &r, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    json_decref(r);
    assert_int_equal(call(TM_SUBJ_WS_GET, &x, NULL, NULL, "id", ws, NULL), 404);
    assert_int_equal(call(TM_SUBJ_WS_MEMBERS, &x, NULL, NULL, "id", ws, NULL), 404);
    assert_int_equal(call(TM_SUBJ_WS_GET, &o, NULL, NULL, "id", ws, NULL), 200);
    char body[256];
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"role\":\"editor\"}", e.email);
    assert_int_equal(call(TM_SUBJ_WS_ADD_MEMBER, &x, body, NULL, "id", ws, NULL), 404);
    assert_int_equal(call(TM_SUBJ_WS_ADD_MEMBER, &o, body, &r, "id", ws, NULL), 201);
    assert_string_equal(js(r, "user_id", NULL), e.id);
    json_decref(r);
    assert_int_equal(call(TM_SUBJ_WS_GET, &e, NULL, &r, "id", ws, NULL), 200);
    assert_string_equal(js(r, "role", NULL), "editor");
    json_decref(r);
    /* an editor sees the workspace but cannot manage members */
    snprintf(body, sizeof body, "{\"user_id\":\"%s\",\"role\":\"viewer\"}", x.id);
    assert_int_equal(call(TM_SUBJ_WS_ADD_MEMBER, &e, body, NULL, "id", ws, NULL), 403);
    assert_int_equal(call(TM_SUBJ_WS_REMOVE_MEMBER, &e, NULL, NULL, "id", ws, "user", o.id, NULL),
                     403);
    /* last owner: cannot leave or be demoted */
    assert_int_equal(call(TM_SUBJ_WS_REMOVE_MEMBER, &o, NULL, NULL, "id", ws, "user", o.id, NULL),
                     409);
    snprintf(body, sizeof body, "{\"user_id\":\"%s\",\"role\":\"editor\"}", o.id);
    assert_int_equal(call(TM_SUBJ_WS_ADD_MEMBER, &o, body, NULL, "id", ws, NULL), 409);
    /* role change is add_member again (200) */
    snprintf(body, sizeof body, "{\"user_id\":\"%s\",\"role\":\"owner\"}", e.id);
    assert_int_equal(call(TM_SUBJ_WS_ADD_MEMBER, &o, body, NULL, "id", ws, NULL), 200);
    assert_int_equal(call(TM_SUBJ_WS_MEMBERS, &o, NULL, &r, "id", ws, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 2);
    json_decref(r);
    /* now the first owner may leave; the editor-turned-owner is the last one */
    assert_int_equal(call(TM_SUBJ_WS_REMOVE_MEMBER, &o, NULL, NULL, "id", ws, "user", o.id, NULL),
                     204);
    assert_int_equal(call(TM_SUBJ_WS_GET, &o, NULL, NULL, "id", ws, NULL), 404);
    assert_int_equal(call(TM_SUBJ_WS_REMOVE_MEMBER, &e, NULL, NULL, "id", ws, "user", e.id, NULL),
                     409);
    assert_int_equal(call(TM_SUBJ_WS_GET, &o, NULL, NULL, "id", "not-a-uuid", NULL), 404);
    /* every committed change wrote one outbox event, gapless, in order; refusals none */
    PGconn *c = PQconnectdb(g_task.db.conninfo);
    const char *p[1] = {ws};
    PGresult *q = PQexecParams(c,
                               "SELECT string_agg(type || ':' || seq, ',' ORDER BY seq) "
                               "FROM task.outbox WHERE workspace_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(q), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(q, 0, 0), "workspace.created:1,member.added:2,"
                                             "member.updated:3,member.removed:4");
    PQclear(q);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_rules),
        cmocka_unit_test(test_login_refresh_logout),
        cmocka_unit_test(test_revoke_other_users_session),
        cmocka_unit_test(test_admin_routes),
        cmocka_unit_test(test_me_cache_two_replicas),
        cmocka_unit_test(test_workspaces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
