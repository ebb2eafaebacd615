/* Unit tests for ws_ops: decoding of client WebSocket ops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ws_ops.h"

#define WSID   "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
#define TASKID "0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3"

static int decode(const char *json, ws_op_t *op, ws_op_error_t *err)
{
    return ws_ops_decode(json, strlen(json), op, err);
}

static void expect_refused(const char *json, const char *code, const char *needle)
{
    ws_op_t op;
    ws_op_error_t err;
    int rc = decode(json, &op, &err);
    if (rc == TM_OK)
        fail_msg("accepted: %s", json);
    assert_int_equal(op.kind, WS_OP_NONE);
    assert_non_null(err.code);
    if (strcmp(err.code, code) != 0)
        fail_msg("%s: code %s, want %s (%s)", json, err.code, code, err.message);
    if (needle && !strstr(err.message, needle))
        fail_msg("%s: message \"%s\" lacks \"%s\"", json, err.message, needle);
}

static void test_subscribe(void **state)
{
    (void)state;
    ws_op_t op;
    ws_op_error_t err;
    assert_int_equal(decode("{\"op\":\"subscribe\",\"room\":\"workspace:" WSID "\"}", &op, &err),
                     0);
    assert_int_equal(op.kind, WS_OP_SUBSCRIBE);
    assert_int_equal(op.room_kind, WS_ROOM_WORKSPACE);
    assert_string_equal(op.room, "workspace:" WSID);
    assert_string_equal(op.room_id, WSID);
    /* uppercase UUIDs are accepted and canonicalised */
    assert_int_equal(
        decode("{\"room\":\"task:0B1C2D3E-4F50-4A6B-8C7D-8E9FA0B1C2D3\",\"op\":\"unsubscribe\"}",
               &op, &err),
        0);
    assert_int_equal(op.kind, WS_OP_UNSUBSCRIBE);
    assert_int_equal(op.room_kind, WS_ROOM_TASK);
    assert_string_equal(op.room, "task:" TASKID);
    assert_string_equal(ws_ops_name(op.kind), "unsubscribe");
}

static void test_bad_rooms(void **state)
{
    (void)state;
    const char *rooms[] = {"",
                           "workspace:",
                           "workspace:nope",
                           "room:" WSID,
                           "Workspace:" WSID,
                           "task:" WSID "x",
                           "task:" WSID " ",
                           " task:" WSID,
                           "workspace:" TASKID "0",
                           "workspace::" WSID,
                           "user:" WSID};
    for (size_t i = 0; i < sizeof rooms / sizeof rooms[0]; i++) {
        char json[200];
        snprintf(json, sizeof json, "{\"op\":\"subscribe\",\"room\":\"%s\"}", rooms[i]);
        expect_refused(json, "invalid_op", "room");
        assert_int_equal(ws_ops_parse_room(rooms[i], NULL), WS_ROOM_NONE);
    }
    expect_refused("{\"op\":\"subscribe\"}", "invalid_op", "room: is required");
    expect_refused("{\"op\":\"subscribe\",\"room\":7}", "invalid_op", "room: must be a string");
    expect_refused("{\"op\":\"subscribe\",\"room\":null}", "invalid_op", "room");
}

static void test_resume(void **state)
{
    (void)state;
    ws_op_t op;
    ws_op_error_t err;
    assert_int_equal(
        decode("{\"op\":\"resume\",\"room\":\"workspace:" WSID "\",\"since\":42}", &op, &err), 0);
    assert_int_equal(op.kind, WS_OP_RESUME);
    assert_int_equal(op.since, 42);
    assert_int_equal(
        decode("{\"op\":\"resume\",\"room\":\"workspace:" WSID "\",\"since\":0}", &op, &err), 0);
    assert_int_equal(op.since, 0);
    assert_int_equal(decode("{\"op\":\"resume\",\"room\":\"workspace:" WSID
                            "\",\"since\":9223372036854775807}",
                            &op, &err),
                     0);
    assert_int_equal(op.since, INT64_MAX);
    const char *bad[] = {"-1", "\"5\"", "1.5", "null", "true", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char json[200];
        snprintf(json, sizeof json,
                 "{\"op\":\"resume\",\"room\":\"workspace:" WSID "\","
                 "\"since\":%s}",
                 bad[i]);
        ws_op_t o;
        assert_int_not_equal(decode(json, &o, &err), 0);
        assert_int_equal(o.kind, WS_OP_NONE);
    }
    expect_refused("{\"op\":\"resume\",\"room\":\"workspace:" WSID "\"}", "invalid_op",
                   "since: is required");
}

static void test_typing_auth_ping(void **state)
{
    (void)state;
    ws_op_t op;
    ws_op_error_t err;
    assert_int_equal(decode("{\"op\":\"typing\",\"room\":\"task:" TASKID "\"}", &op, &err), 0);
    assert_int_equal(op.kind, WS_OP_TYPING);
    assert_string_equal(op.task_id, "");
    assert_int_equal(decode("{\"op\":\"typing\",\"room\":\"workspace:" WSID "\",\"task_id\":\""
                            "0B1C2D3E-4F50-4A6B-8C7D-8E9FA0B1C2D3\"}",
                            &op, &err),
                     0);
    assert_string_equal(op.task_id, TASKID);
    expect_refused("{\"op\":\"typing\",\"room\":\"workspace:" WSID "\",\"task_id\":\"x\"}",
                   "invalid_op", "task_id: must be a UUID");

    assert_int_equal(decode("{\"op\":\"auth\",\"token\":\"eyJ.a.b\"}", &op, &err), 0);
    assert_int_equal(op.kind, WS_OP_AUTH);
    assert_string_equal(op.token, "eyJ.a.b");
    expect_refused("{\"op\":\"auth\",\"token\":\"\"}", "invalid_op", "token");
    expect_refused("{\"op\":\"auth\"}", "invalid_op", "token: is required");

    assert_int_equal(decode("{\"op\":\"ping\"}", &op, &err), 0);
    assert_int_equal(op.kind, WS_OP_PING);
    assert_false(op.has_id);
    assert_int_equal(decode("{\"op\":\"ping\",\"id\":17}", &op, &err), 0);
    assert_true(op.has_id && op.id_is_int);
    assert_int_equal(op.id_int, 17);
    assert_int_equal(decode("{\"op\":\"ping\",\"id\":\"c-1\"}", &op, &err), 0);
    assert_true(op.has_id && !op.id_is_int);
    assert_string_equal(op.id, "c-1");
    expect_refused("{\"op\":\"ping\",\"id\":{\"a\":1}}", "invalid_op", "id");
    expect_refused("{\"op\":\"ping\",\"id\":1.5}", "invalid_op", "id");
    char json[200];
    snprintf(json, sizeof json, "{\"op\":\"ping\",\"id\":\"%065d\"}", 0);
    expect_refused(json, "invalid_op", "id");
}

static void test_strictness(void **state)
{
    (void)state;
    ws_op_t op;
    ws_op_error_t err;
    expect_refused("{\"op\":\"jump\"}", "unknown_op", NULL);
    assert_int_not_equal(decode("{\"op\":\"jump\"}", &op, &err), 0);
    assert_string_equal(err.op, "jump");
    expect_refused("{\"op\":42}", "invalid_op", "op");
    expect_refused("{\"room\":\"workspace:" WSID "\"}", "invalid_op", "op");
    expect_refused("{\"op\":\"ping\",\"admin\":true}", "invalid_op", "admin: unknown field");
    expect_refused("{\"op\":\"subscribe\",\"room\":\"workspace:" WSID "\",\"since\":1}",
                   "invalid_op", "since: unknown field");
    expect_refused("not json", "invalid_json", NULL);
    expect_refused("", "invalid_json", NULL);
    expect_refused("[\"op\",\"ping\"]", "invalid_json", NULL);
    expect_refused("{\"op\":\"ping\",\"op\":\"auth\"}", "invalid_json", NULL);
    expect_refused("{\"op\":\"ping\",\"id\":{\"a\":{\"b\":1}}}", "too_large", NULL);
    char *big = malloc(WS_OPS_MAX_MESSAGE + 64);
    int n = snprintf(big, 64, "{\"op\":\"auth\",\"token\":\"");
    memset(big + n, 'a', WS_OPS_MAX_MESSAGE);
    strcpy(big + n + WS_OPS_MAX_MESSAGE, "\"}");
    expect_refused(big, "too_large", NULL);
    /* a token just over WS_OPS_TOKEN_MAX but under the message cap */
    memset(big + n, 'a', WS_OPS_TOKEN_MAX + 1);
    strcpy(big + n + WS_OPS_TOKEN_MAX + 1, "\"}");
    assert_int_not_equal(decode(big, &op, &err), 0);
    memset(big + n, 'a', WS_OPS_TOKEN_MAX);
    strcpy(big + n + WS_OPS_TOKEN_MAX, "\"}");
    assert_int_equal(decode(big, &op, &err), 0);
    assert_int_equal(strlen(op.token), WS_OPS_TOKEN_MAX);
    free(big);
    /* not NUL-terminated input: only len bytes are read */
    const char buf[] = "{\"op\":\"ping\"}garbage";
    assert_int_equal(ws_ops_decode(buf, 13, &op, &err), 0);
}

static void test_error_json(void **state)
{
    (void)state;
    ws_op_t op;
    ws_op_error_t err;
    assert_int_not_equal(decode("{\"op\":\"subscribe\",\"room\":\"x\"}", &op, &err), 0);
    size_t len = 0;
    char *s = ws_ops_error_json(&err, &len);
    assert_non_null(s);
    json_t *o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "code")), "invalid_op");
    assert_string_equal(json_string_value(json_object_get(o, "failed_op")), "subscribe");
    assert_non_null(strstr(json_string_value(json_object_get(o, "message")), "room"));
    assert_int_equal(strlen(s), len);
    json_decref(o);
    free(s);
    /* a field name that is non-ASCII and long must still give valid JSON */
    char json[300] = "{\"op\":\"ping\",\"";
    for (int i = 0; i < 60; i++)
        strcat(json, "\xc3\xa9");
    strcat(json, "\":1}");
    assert_int_not_equal(decode(json, &op, &err), 0);
    s = ws_ops_error_json(&err, NULL);
    assert_non_null(s);
    free(s);
}

static void test_strikes(void **state)
{
    (void)state;
    ws_ops_strikes_t s = {0};
    for (int i = 0; i < WS_OPS_STRIKE_LIMIT; i++)
        assert_false(ws_ops_strike(&s, 1000 + i));
    assert_true(ws_ops_strike(&s, 2000));
    /* the limit applies per window: a new window starts counting again */
    ws_ops_strikes_t t = {0};
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < WS_OPS_STRIKE_LIMIT; i++)
            assert_false(ws_ops_strike(&t, (int64_t)w * WS_OPS_STRIKE_WINDOW_MS + i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscribe),  cmocka_unit_test(test_bad_rooms),
        cmocka_unit_test(test_resume),     cmocka_unit_test(test_typing_auth_ping),
        cmocka_unit_test(test_strictness), cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_strikes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
