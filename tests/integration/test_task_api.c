/* Integration test of the task API subjects against the built tm-task, started by the test
 * (itest_daemon: own database and key pair) on the real nats-server and Postgres of
 * TM_TEST_NATS_URL / TM_TEST_PG_URL. It plays the gateway: it sets Tm-User-Id /
 * Tm-User-Role, Tm-Param-*, Tm-Query, If-Match and If-None-Match itself. */
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

static natsConnection *nc;
static itest_task_t task;

typedef struct {
    const char *user, *role, *id, *aid, *query, *if_match, *if_none_match, *ctype, *idem;
    const char *raw;
    size_t raw_len;
} call_t;

typedef struct {
    int status;
    json_t *json;
    natsMsg *msg;
} reply_t;

static void reply_free(reply_t *r)
{
    json_decref(r->json);
    natsMsg_Destroy(r->msg);
    memset(r, 0, sizeof *r);
}

static void set_hdr(natsMsg *m, const char *name, const char *v)
{
    if (v)
        assert_int_equal(natsMsgHeader_Set(m, name, v), NATS_OK);
}

static reply_t req(const char *subject, const call_t *c, const json_t *body)
{
    char *text = body ? tm_json_dumps(body, NULL) : NULL;
    const char *data = c->raw ? c->raw : text;
    int len = c->raw ? (int)c->raw_len : text ? (int)strlen(text) : 0;
    natsMsg *m = NULL, *rep = NULL;
    assert_int_equal(natsMsg_Create(&m, subject, NULL, data, len), NATS_OK);
    char rid[37];
    tm_uuid_v4(rid);
    set_hdr(m, TM_HDR_REQUEST_ID, rid);
    set_hdr(m, TM_HDR_USER_ID, c->user);
    set_hdr(m, TM_HDR_USER_ROLE, c->role ? c->role : "user");
    set_hdr(m, "Tm-Param-id", c->id);
    set_hdr(m, "Tm-Param-aid", c->aid);
    set_hdr(m, "Tm-Query", c->query);
    set_hdr(m, "If-Match", c->if_match);
    set_hdr(m, "If-None-Match", c->if_none_match);
    set_hdr(m, "Content-Type", c->ctype);
    set_hdr(m, TM_HDR_IDEM_KEY, c->idem);
    natsStatus s = natsConnection_RequestMsg(&rep, nc, m, 10000);
    natsMsg_Destroy(m);
    free(text);
    assert_int_equal(s, NATS_OK);
    reply_t r = {.status = itest_status(rep), .msg = rep};
    if (natsMsg_GetDataLength(rep) > 0 && !c->aid)
        r.json = json_loadb(natsMsg_GetData(rep), (size_t)natsMsg_GetDataLength(rep), 0, NULL);
    return r;
}

typedef struct {
    char id[37];
} user_t;

static user_t alice, bob;
static char ws[37];

static void make_user(user_t *u, const char *prefix)
{
    char email[96], r[37];
    tm_uuid_v4(r);
    snprintf(email, sizeof email, "%s-%s@it.local", prefix, r);
    json_t *b = json_pack("{s:s, s:s, s:s}", "email", email, "password", "correct-horse-battery-9",
                          "display_name", prefix);
    call_t c = {0};
    reply_t rep = req(TM_SUBJ_AUTH_REGISTER, &c, b);
    json_decref(b);
    assert_int_equal(rep.status, 201);
    const char *id = json_string_value(json_object_get(rep.json, "id"));
    if (!id) /* some replies nest the user */
        id = json_string_value(json_object_get(json_object_get(rep.json, "user"), "id"));
    assert_non_null(id);
    snprintf(u->id, sizeof u->id, "%s", id);
    reply_free(&rep);
}

static void make_workspace(const user_t *owner, char out[37])
{
    json_t *b = json_pack("{s:s}", "name", "it tasks");
    call_t c = {.user = owner->id};
    reply_t rep = req(TM_SUBJ_WS_CREATE, &c, b);
    json_decref(b);
    assert_int_equal(rep.status, 201);
    snprintf(out, 37, "%s", json_string_value(json_object_get(rep.json, "id")));
    reply_free(&rep);
}

static int setup(void **state)
{
    (void)state;
    tm_log_init("it-task", TM_LOG_WARN);
    itest_task_start(&task, TM_TASK_BIN, itest_port(ITEST_PORT_TASK), NULL);
    tm_nats_opts_t o = {.send_asap = true, .name = "it-task"};
    if (tm_nats_connect(itest_env("TM_TEST_NATS_URL"), &o, &nc) != TM_OK)
        return -1;
    make_user(&alice, "alice");
    make_user(&bob, "bob");
    make_workspace(&alice, ws);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    natsConnection_Destroy(nc);
    nc = NULL;
    return itest_task_stop(&task) ? 0 : -1;
}

static json_t *create(const char *title, const char *extra_json)
{
    json_t *b = extra_json ? json_loads(extra_json, 0, NULL) : json_object();
    json_object_set_new(b, "workspace_id", json_string(ws));
    json_object_set_new(b, "title", json_string(title));
    call_t c = {.user = alice.id};
    reply_t r = req(TM_SUBJ_TASK_CREATE, &c, b);
    json_decref(b);
    if (r.status != 201)
        fail_msg("create: %d %s", r.status, r.json ? json_dumps(r.json, 0) : "");
    json_t *t = json_incref(r.json);
    reply_free(&r);
    return t;
}

static const char *sid(const json_t *t)
{
    return json_string_value(json_object_get(t, "id"));
}

static bool names_field(const json_t *problem, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(problem, "errors"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            return true;
    }
    return false;
}

static void test_crud_etag(void **state)
{
    (void)state;
    json_t *t = create("crud", "{\"due_at\":\"2030-01-01T00:00:00Z\",\"labels\":[\"a\"]}");
    assert_int_equal(json_integer_value(json_object_get(t, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(t, "priority")), 4);
    assert_string_equal(json_string_value(json_object_get(t, "status")), "todo");
    call_t c = {.user = alice.id, .id = sid(t)};
    reply_t r = req(TM_SUBJ_TASK_GET, &c, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(itest_header(r.msg, "ETag"), "\"1\"");
    assert_true(json_equal(r.json, t));
    reply_free(&r);
    c.if_none_match = "\"1\"";
    r = req(TM_SUBJ_TASK_GET, &c, NULL);
    assert_int_equal(r.status, 304);
    assert_int_equal(natsMsg_GetDataLength(r.msg), 0);
    reply_free(&r);
    c.if_none_match = NULL;
    c.if_match = "\"5\"";
    json_t *patch = json_pack("{s:n, s:s}", "due_at", "title", "renamed");
    r = req(TM_SUBJ_TASK_UPDATE, &c, patch);
    assert_int_equal(r.status, 412);
    reply_free(&r);
    c.if_match = "\"1\"";
    r = req(TM_SUBJ_TASK_UPDATE, &c, patch);
    assert_int_equal(r.status, 200);
    assert_true(json_is_null(json_object_get(r.json, "due_at")));
    assert_string_equal(json_string_value(json_object_get(r.json, "title")), "renamed");
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 2);
    assert_string_equal(itest_header(r.msg, "ETag"), "\"2\"");
    reply_free(&r);
    json_decref(patch);
    /* PUT resets omitted fields */
    c.if_match = NULL;
    json_t *put = json_pack("{s:s}", "title", "replaced");
    r = req(TM_SUBJ_TASK_REPLACE, &c, put);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "labels")), 0);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 3);
    reply_free(&r);
    json_decref(put);
    c.if_match = "\"2\"";
    r = req(TM_SUBJ_TASK_DELETE, &c, NULL);
    assert_int_equal(r.status, 412);
    reply_free(&r);
    c.if_match = "\"3\"";
    r = req(TM_SUBJ_TASK_DELETE, &c, NULL);
    assert_int_equal(r.status, 204);
    reply_free(&r);
    c.if_match = NULL;
    r = req(TM_SUBJ_TASK_GET, &c, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    json_decref(t);
}

static void test_validation(void **state)
{
    (void)state;
    json_t *b = json_pack("{s:s, s:s, s:i, s:i, s:b}", "workspace_id", ws, "title", "", "priority",
                          9, "version", 3, "is_admin", 1);
    call_t c = {.user = alice.id};
    reply_t r = req(TM_SUBJ_TASK_CREATE, &c, b);
    assert_int_equal(r.status, 400);
    assert_true(names_field(r.json, "title"));
    assert_true(names_field(r.json, "priority"));
    assert_true(names_field(r.json, "version"));
    assert_true(names_field(r.json, "is_admin"));
    reply_free(&r);
    json_decref(b);
    /* assignee must be a member */
    b = json_pack("{s:s, s:s, s:s}", "workspace_id", ws, "title", "t", "assignee_id", bob.id);
    r = req(TM_SUBJ_TASK_CREATE, &c, b);
    assert_int_equal(r.status, 400);
    assert_true(names_field(r.json, "assignee_id"));
    reply_free(&r);
    json_decref(b);
}

/* Walk a list query with limit per page; returns every task id (owned array). */
static json_t *walk(const char *query, int *pages)
{
    json_t *ids = json_array();
    char *cursor = NULL;
    *pages = 0;
    for (;;) {
        char q[512];
        snprintf(q, sizeof q, "%s%s%s", query, cursor ? "&cursor=" : "", cursor ? cursor : "");
        call_t c = {.user = alice.id, .query = q};
        reply_t r = req(TM_SUBJ_TASK_LIST, &c, NULL);
        if (r.status != 200)
            fail_msg("list %s: %d %s", q, r.status, json_dumps(r.json, 0));
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(r.json, "data"), i, t)
            json_array_append(ids, json_object_get(t, "id"));
        free(cursor);
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        cursor = next ? strdup(next) : NULL;
        reply_free(&r);
        (*pages)++;
        if (!cursor)
            return ids;
    }
}

static void test_list_cursor_walk(void **state)
{
    (void)state;
    for (int i = 0; i < 23; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, "{\"priority\":%d,\"labels\":[\"%s\"]%s}", i % 4 + 1,
                 i % 2 ? "odd" : "even", i % 3 ? "" : ",\"description\":\"quarterly invoice\"");
        json_decref(create("walk", extra));
    }
    const char *sorts[] = {"created_at", "-created_at", "priority",   "-priority",
                           "due_at",     "-due_at",     "updated_at", "-updated_at"};
    for (size_t s = 0; s < 8; s++) {
        char q[128];
        int pages;
        snprintf(q, sizeof q, "workspace_id=%s&limit=4&sort=%s", ws, sorts[s]);
        json_t *ids = walk(q, &pages);
        size_t n = json_array_size(ids);
        assert_true(n >= 23);
        assert_true(pages >= 6);
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                assert_false(json_equal(json_array_get(ids, i), json_array_get(ids, j)));
        json_decref(ids);
    }
    /* filters and search */
    char q[256];
    int pages;
    snprintf(q, sizeof q, "workspace_id=%s&label=odd&priority=2", ws);
    json_t *ids = walk(q, &pages);
    assert_true(json_array_size(ids) >= 5);
    json_decref(ids);
    snprintf(q, sizeof q, "workspace_id=%s&q=invoices", ws);
    ids = walk(q, &pages);
    assert_int_equal(json_array_size(ids), 8);
    json_decref(ids);
}

static void test_list_concurrent_inserts(void **state)
{
    (void)state;
    char q[128];
    int pages;
    snprintf(q, sizeof q, "workspace_id=%s&limit=200&sort=created_at", ws);
    json_t *before = walk(q, &pages);
    json_t *seen = json_array();
    char *cursor = NULL;
    for (;;) {
        char qq[400];
        snprintf(qq, sizeof qq, "workspace_id=%s&limit=3&sort=created_at%s%s", ws,
                 cursor ? "&cursor=" : "", cursor ? cursor : "");
        call_t c = {.user = alice.id, .query = qq};
        reply_t r = req(TM_SUBJ_TASK_LIST, &c, NULL);
        assert_int_equal(r.status, 200);
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(r.json, "data"), i, t)
            json_array_append(seen, json_object_get(t, "id"));
        json_decref(create("inserted during the walk", NULL));
        free(cursor);
        const char *next = json_string_value(json_object_get(r.json, "next_cursor"));
        cursor = next ? strdup(next) : NULL;
        reply_free(&r);
        if (!cursor)
            break;
    }
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(seen, i, a)
    {
        json_array_foreach(seen, j, b)
        {
            if (j > i)
                assert_false(json_equal(a, b));
        }
    }
    json_array_foreach(before, i, a)
    {
        bool found = false;
        json_array_foreach(seen, j, b) found = found || json_equal(a, b);
        assert_true(found);
    }
    json_decref(before);
    json_decref(seen);
}

static void test_cursor_tamper_and_clamp(void **state)
{
    (void)state;
    char q[512];
    snprintf(q, sizeof q, "workspace_id=%s&limit=2", ws);
    call_t c = {.user = alice.id, .query = q};
    reply_t r = req(TM_SUBJ_TASK_LIST, &c, NULL);
    assert_int_equal(r.status, 200);
    char cur[200];
    snprintf(cur, sizeof cur, "%s", json_string_value(json_object_get(r.json, "next_cursor")));
    reply_free(&r);
    cur[5] = cur[5] == 'A' ? 'B' : 'A';
    snprintf(q, sizeof q, "workspace_id=%s&limit=2&cursor=%s", ws, cur);
    r = req(TM_SUBJ_TASK_LIST, &c, NULL);
    assert_int_equal(r.status, 400);
    assert_true(names_field(r.json, "cursor"));
    reply_free(&r);
    snprintf(q, sizeof q, "workspace_id=%s&limit=100000", ws);
    r = req(TM_SUBJ_TASK_LIST, &c, NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_is_true(json_object_get(r.json, "limit_clamped")));
    assert_non_null(itest_header(r.msg, "X-Limit-Clamped"));
    reply_free(&r);
    snprintf(q, sizeof q, "workspace_id=%s&sort=title&nope=1", ws);
    r = req(TM_SUBJ_TASK_LIST, &c, NULL);
    assert_int_equal(r.status, 400);
    assert_true(names_field(r.json, "sort"));
    assert_true(names_field(r.json, "nope"));
    reply_free(&r);
}

static void test_complete_time_attach(void **state)
{
    (void)state;
    json_t *t = create("finish", NULL);
    call_t c = {.user = alice.id, .id = sid(t)};
    json_t *b = json_pack("{s:i, s:s}", "minutes", 20, "note", "work");
    reply_t r = req(TM_SUBJ_TASK_TIME_LOG, &c, b);
    assert_int_equal(r.status, 201);
    reply_free(&r);
    json_decref(b);
    b = json_pack("{s:i}", "minutes", 10);
    r = req(TM_SUBJ_TASK_COMPLETE, &c, b);
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "status")), "done");
    assert_int_equal(json_integer_value(json_object_get(r.json, "time_spent_minutes")), 30);
    assert_true(json_is_string(json_object_get(r.json, "completed_at")));
    reply_free(&r);
    json_decref(b);
    r = req(TM_SUBJ_TASK_TIME_LIST, &c, NULL);
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 2);
    reply_free(&r);
    /* attachment round trip */
    char data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7);
    char sha[65];
    tm_sha256_hex(data, sizeof data, sha);
    call_t up = {.user = alice.id,
                 .id = sid(t),
                 .query = "filename=a%22b%2F..%2Fc.bin",
                 .ctype = "application/x-it",
                 .raw = data,
                 .raw_len = sizeof data};
    r = req(TM_SUBJ_TASK_ATTACH_PUT, &up, NULL);
    assert_int_equal(r.status, 201);
    assert_string_equal(json_string_value(json_object_get(r.json, "sha256")), sha);
    assert_null(strpbrk(json_string_value(json_object_get(r.json, "filename")), "\"/"));
    char aid[37];
    snprintf(aid, sizeof aid, "%s", json_string_value(json_object_get(r.json, "id")));
    reply_free(&r);
    call_t get = {.user = alice.id, .id = sid(t), .aid = aid};
    r = req(TM_SUBJ_TASK_ATTACH_GET, &get, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(natsMsg_GetDataLength(r.msg), sizeof data);
    assert_memory_equal(natsMsg_GetData(r.msg), data, sizeof data);
    assert_string_equal(itest_header(r.msg, "Content-Type"), "application/x-it");
    assert_non_null(strstr(itest_header(r.msg, "Content-Disposition"), "attachment; filename=\""));
    reply_free(&r);
    r = req(TM_SUBJ_TASK_ATTACH_DELETE, &get, NULL);
    assert_int_equal(r.status, 204);
    reply_free(&r);
    r = req(TM_SUBJ_TASK_ATTACH_GET, &get, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    json_decref(t);
}

static void test_change_feed(void **state)
{
    (void)state;
    char fws[37];
    make_workspace(&alice, fws);
    json_t *b = json_pack("{s:s, s:s}", "workspace_id", fws, "title", "feed");
    call_t c = {.user = alice.id};
    reply_t r = req(TM_SUBJ_TASK_CREATE, &c, b);
    assert_int_equal(r.status, 201);
    char id[37];
    snprintf(id, sizeof id, "%s", sid(r.json));
    reply_free(&r);
    json_decref(b);
    c.id = id;
    b = json_pack("{s:s}", "title", "fed");
    r = req(TM_SUBJ_TASK_UPDATE, &c, b);
    reply_free(&r);
    json_decref(b);
    r = req(TM_SUBJ_TASK_DELETE, &c, NULL);
    assert_int_equal(r.status, 204);
    reply_free(&r);
    const char *want[] = {"task.created", "task.updated", "task.deleted"};
    int got = 0;
    long long since = 0, last = 0;
    for (int page = 0; page < 20; page++) {
        char q[64];
        snprintf(q, sizeof q, "since=%lld&limit=1", since);
        call_t f = {.user = alice.id, .id = fws, .query = q};
        r = req(TM_SUBJ_WS_CHANGES, &f, NULL);
        assert_int_equal(r.status, 200);
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(r.json, "data"), i, e)
        {
            long long seq = json_integer_value(json_object_get(e, "seq"));
            if (last)
                assert_int_equal(seq, last + 1);
            last = seq;
            const char *type = json_string_value(json_object_get(e, "type"));
            if (strncmp(type, "task.", 5) == 0) {
                assert_true(got < 3);
                assert_string_equal(type, want[got]);
                if (got == 2)
                    assert_true(
                        json_is_true(json_object_get(json_object_get(e, "data"), "deleted")));
                got++;
            }
        }
        since = json_integer_value(json_object_get(r.json, "next_since"));
        bool more = json_is_true(json_object_get(r.json, "has_more"));
        reply_free(&r);
        if (!more)
            break;
    }
    assert_int_equal(got, 3);
    call_t other = {.user = bob.id, .id = fws, .query = "since=0"};
    r = req(TM_SUBJ_WS_CHANGES, &other, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
}

static void test_bola(void **state)
{
    (void)state;
    json_t *t = create("private", NULL);
    struct {
        const char *subj;
        const char *body;
    } calls[] = {
        {TM_SUBJ_TASK_GET, NULL},
        {TM_SUBJ_TASK_UPDATE, "{\"title\":\"x\"}"},
        {TM_SUBJ_TASK_UPDATE, "{\"status\":\"archived\"}"},
        {TM_SUBJ_TASK_REPLACE, "{\"title\":\"x\"}"},
        {TM_SUBJ_TASK_DELETE, NULL},
        {TM_SUBJ_TASK_COMPLETE, "{}"},
        {TM_SUBJ_TASK_TIME_LOG, "{\"minutes\":5}"},
        {TM_SUBJ_TASK_TIME_LIST, NULL},
        {TM_SUBJ_TASK_ATTACH_LIST, NULL},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        json_t *b = calls[i].body ? json_loads(calls[i].body, 0, NULL) : NULL;
        call_t c = {.user = bob.id, .id = sid(t)};
        reply_t r = req(calls[i].subj, &c, b);
        if (r.status != 404)
            fail_msg("%s -> %d", calls[i].subj, r.status);
        reply_free(&r);
        json_decref(b);
    }
    char q[128];
    snprintf(q, sizeof q, "workspace_id=%s", ws);
    call_t c = {.user = bob.id, .query = q};
    reply_t r = req(TM_SUBJ_TASK_LIST, &c, NULL);
    assert_int_equal(r.status, 404);
    reply_free(&r);
    c.query = NULL; /* an empty header value confuses nats.c 3.4.1's header parser */
    r = req(TM_SUBJ_TASK_LIST, &c, NULL);
    if (r.status != 200)
        fail_msg("list all: %d %s", r.status, json_dumps(r.json, 0));
    assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
    reply_free(&r);
    /* a moderator may read and archive, not edit */
    call_t m = {.user = bob.id, .role = "moderator", .id = sid(t)};
    r = req(TM_SUBJ_TASK_GET, &m, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    json_t *b = json_pack("{s:s}", "title", "mod edit");
    r = req(TM_SUBJ_TASK_UPDATE, &m, b);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    json_decref(b);
    b = json_pack("{s:s}", "status", "archived");
    r = req(TM_SUBJ_TASK_UPDATE, &m, b);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    json_decref(b);
    /* the original is untouched by bob's attempts */
    call_t a = {.user = alice.id, .id = sid(t)};
    r = req(TM_SUBJ_TASK_GET, &a, NULL);
    assert_string_equal(json_string_value(json_object_get(r.json, "title")), "private");
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 2);
    reply_free(&r);
    json_decref(t);
}

static void test_idempotency(void **state)
{
    (void)state;
    char key[37];
    tm_uuid_v4(key);
    json_t *b = json_pack("{s:s, s:s}", "workspace_id", ws, "title", "idem");
    call_t c = {.user = alice.id, .idem = key};
    reply_t r1 = req(TM_SUBJ_TASK_CREATE, &c, b);
    reply_t r2 = req(TM_SUBJ_TASK_CREATE, &c, b);
    assert_int_equal(r1.status, 201);
    assert_int_equal(r2.status, 201);
    assert_string_equal(sid(r1.json), sid(r2.json));
    assert_non_null(itest_header(r2.msg, "Idempotent-Replayed"));
    reply_free(&r1);
    reply_free(&r2);
    json_object_set_new(b, "title", json_string("other"));
    r1 = req(TM_SUBJ_TASK_CREATE, &c, b);
    assert_int_equal(r1.status, 422);
    reply_free(&r1);
    json_decref(b);
}

#define RACERS 100
static const char *race_id;
static int race_ok, race_412;
static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;

static void *racer(void *arg)
{
    (void)arg;
    json_t *b = json_pack("{s:s}", "title", "raced");
    call_t c = {.user = alice.id, .id = race_id, .if_match = "\"1\""};
    reply_t r = req(TM_SUBJ_TASK_UPDATE, &c, b);
    pthread_mutex_lock(&race_mu);
    race_ok += r.status == 200;
    race_412 += r.status == 412;
    pthread_mutex_unlock(&race_mu);
    reply_free(&r);
    json_decref(b);
    return NULL;
}

static void test_concurrent_if_match(void **state)
{
    (void)state;
    json_t *t = create("race", NULL);
    race_id = sid(t);
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, racer, NULL), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(th[i], NULL);
    call_t c = {.user = alice.id, .id = race_id};
    reply_t r = req(TM_SUBJ_TASK_GET, &c, NULL);
    assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 1 + race_ok);
    assert_int_equal(race_ok, 1);
    assert_int_equal(race_ok + race_412, RACERS);
    reply_free(&r);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud_etag),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_list_cursor_walk),
        cmocka_unit_test(test_list_concurrent_inserts),
        cmocka_unit_test(test_cursor_tamper_and_clamp),
        cmocka_unit_test(test_complete_time_attach),
        cmocka_unit_test(test_change_feed),
        cmocka_unit_test(test_bola),
        cmocka_unit_test(test_concurrent_if_match),
        cmocka_unit_test(test_idempotency),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
