/* Golden fixtures of proto/fixtures: each file is decoded with jansson and checked
 * against a table of required fields and types; WebSocket client ops also go through the
 * gateway's decoder (ws_ops): valid ones accepted, invalid ones refused with their code.
 * Every file in the folder must be in the table, and every table row must have a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"
#include "ws_ops.h"

#ifndef TM_FIXTURES_DIR
#error "TM_FIXTURES_DIR must name proto/fixtures"
#endif

/* spec: space-separated "path:type" with path "a" or "a.b" (b inside object a, or inside
 * the first element of array a), type one of s i n b o a u t (uuid, RFC 3339 time);
 * a trailing '?' also allows null. */
typedef struct {
    const char *file;
    const char *spec;
    int ws;              /* 0: not a client op; 1: must decode; 2: must be refused */
    const char *ws_code; /* refusal code when ws == 2 */
} fixture_t;

#define USER     "id:u email:s display_name:s role:s created_at:t"
#define TASK_MIN "id:u workspace_id:u title:s status:s priority:i version:i"
#define EVENT    "event_id:u workspace_id:u seq:i type:s actor_id:u created_at:t data:o"
#define PROBLEM  "type:s title:s status:i detail:s instance:s"

static const fixture_t fixtures[] = {
    {"auth.register.request.json", "email:s password:s display_name:s", 0, NULL},
    {"auth.user.reply.json", USER, 0, NULL},
    {"auth.login.request.json", "email:s password:s device:s", 0, NULL},
    {"auth.login.reply.json",
     "access_token:s refresh_token:s token_type:s expires_in:i session_id:u user:o user.id:u "
     "user.email:s user.role:s",
     0, NULL},
    {"auth.refresh.request.json", "refresh_token:s", 0, NULL},
    {"auth.sessions.reply.json",
     "data:a data.id:u data.device:s data.created_at:t data.last_used_at:t next_cursor:s?", 0,
     NULL},
    {"workspace.create.request.json", "name:s", 0, NULL},
    {"workspace.reply.json", "id:u name:s role:s created_at:t", 0, NULL},
    {"workspace.add_member.request.json", "user_id:u role:s", 0, NULL},
    {"workspace.changes.reply.json",
     "data:a data.event_id:u data.seq:i data.type:s data.data:o next_since:i has_more:b", 0, NULL},
    {"task.create.request.json",
     "workspace_id:u title:s description:s priority:i labels:a assignee_id:u due_at:t "
     "estimate_minutes:i",
     0, NULL},
    {"task.reply.json",
     TASK_MIN " description:s? labels:a assignee_id:u? due_at:t? estimate_minutes:i? "
              "time_spent_minutes:i created_by:u created_at:t updated_at:t completed_at:t?",
     0, NULL},
    {"task.update.request.json", "title:s priority:i due_at:t?", 0, NULL},
    {"task.list.reply.json", "data:a data.id:u data.title:s data.version:i next_cursor:s?", 0,
     NULL},
    {"task.complete.request.json", "minutes:i", 0, NULL},
    {"task.time.log.request.json", "minutes:i started_at:t note:s", 0, NULL},
    {"task.attach.reply.json", "id:u filename:s size:i sha256:s content_type:s", 0, NULL},
    {"problem.validation.json", PROBLEM " errors:a errors.field:s errors.reason:s", 0, NULL},
    {"problem.not-found.json", PROBLEM, 0, NULL},
    {"problem.precondition-failed.json", PROBLEM, 0, NULL},
    {"event.task.created.json", EVENT " data.id:u data.version:i", 0, NULL},
    {"event.member.added.json", EVENT " data.user_id:u data.role:s", 0, NULL},
    {"ws.client.subscribe.json", "op:s room:s", 1, NULL},
    {"ws.client.unsubscribe.json", "op:s room:s", 1, NULL},
    {"ws.client.resume.json", "op:s room:s since:i", 1, NULL},
    {"ws.client.typing.json", "op:s room:s task_id:u", 1, NULL},
    {"ws.client.auth.json", "op:s token:s", 1, NULL},
    {"ws.client.ping.json", "op:s", 1, NULL},
    {"ws.client.invalid.unknown-op.json", "op:s", 2, "unknown_op"},
    {"ws.client.invalid.extra-field.json", "op:s", 2, "invalid_op"},
    {"ws.client.invalid.bad-room.json", "op:s room:s", 2, "invalid_op"},
    {"ws.client.invalid.negative-since.json", "op:s since:i", 2, "invalid_op"},
    {"ws.client.invalid.missing-token.json", "op:s", 2, "invalid_op"},
    {"ws.server.hello.json", "op:s connection_id:s heartbeat_ms:i user_id:u", 0, NULL},
    {"ws.server.event.json", "op:s room:s seq:i type:s data:o", 0, NULL},
    {"ws.server.presence.json", "op:s room:s user_id:u online:b devices:a", 0, NULL},
    {"ws.server.typing.json", "op:s room:s user_id:u task_id:u?", 0, NULL},
    {"ws.server.notification.json", "op:s id:u type:s title:s data:o created_at:t", 0, NULL},
    {"ws.server.announcement.json", "op:s id:u message:s level:s starts_at:t", 0, NULL},
    {"ws.server.recovered.json", "op:s room:s ok:b oldest_seq:i head_seq:i", 0, NULL},
    {"ws.server.error.json", "op:s code:s message:s", 0, NULL},
    {"ws.server.pong.json", "op:s", 0, NULL},
    {"ws.server.subscribed.json", "op:s room:s seq:i", 0, NULL},
};
#define NFIXTURES (sizeof fixtures / sizeof fixtures[0])

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TM_FIXTURES_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("missing fixture %s", path);
    char *buf = malloc(65536);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static bool type_ok(const json_t *v, char t)
{
    int64_t ms;
    switch (t) {
    case 's':
        return json_is_string(v);
    case 'i':
        return json_is_integer(v);
    case 'n':
        return json_is_number(v);
    case 'b':
        return json_is_boolean(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v);
    case 'u':
        return json_is_string(v) && tm_is_uuid(json_string_value(v));
    case 't':
        return json_is_string(v) && tm_parse_rfc3339(json_string_value(v), &ms) == TM_OK;
    }
    return false;
}

/* The value at "a" or "a.b" (through an object, or the first element of an array). */
static const json_t *lookup(const json_t *root, const char *path)
{
    char head[64];
    const char *dot = strchr(path, '.');
    if (!dot)
        return json_object_get(root, path);
    snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
    const json_t *outer = json_object_get(root, head);
    if (json_is_array(outer))
        outer = json_array_get(outer, 0);
    return json_object_get(outer, dot + 1);
}

static void check_spec(const char *file, const json_t *root, const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(tok, ':');
        assert_non_null(colon);
        *colon = '\0';
        bool nullable = colon[2] == '?';
        const json_t *v = lookup(root, tok);
        if (v == NULL)
            fail_msg("%s: required field %s is missing", file, tok);
        if (!(nullable && json_is_null(v)) && !type_ok(v, colon[1]))
            fail_msg("%s: field %s is not of type %c", file, tok, colon[1]);
    }
    free(copy);
}

/* Naming rules that tie a fixture's name to its content. */
static void check_name(const char *file, const json_t *root)
{
    char want[128];
    if (strncmp(file, "problem.", 8) == 0) {
        snprintf(want, sizeof want, "/problems/%.*s", (int)(strlen(file) - 13), file + 8);
        assert_string_equal(json_string_value(json_object_get(root, "type")), want);
    } else if (strncmp(file, "event.", 6) == 0) {
        snprintf(want, sizeof want, "%.*s", (int)(strlen(file) - 11), file + 6);
        assert_string_equal(json_string_value(json_object_get(root, "type")), want);
    } else if (strncmp(file, "ws.server.", 10) == 0) {
        snprintf(want, sizeof want, "%.*s", (int)(strlen(file) - 15), file + 10);
        assert_string_equal(json_string_value(json_object_get(root, "op")), want);
    }
}

static void check_ws(const fixture_t *fx, const char *buf, size_t len)
{
    static ws_op_t op;
    ws_op_error_t err;
    int rc = ws_ops_decode(buf, len, &op, &err);
    if (fx->ws == 1 && rc != TM_OK)
        fail_msg("%s refused: %s %s", fx->file, err.code, err.message);
    if (fx->ws == 2) {
        if (rc == TM_OK)
            fail_msg("%s accepted", fx->file);
        assert_string_equal(err.code, fx->ws_code);
    }
}

static void test_fixtures(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFIXTURES; i++) {
        size_t len;
        char *buf = read_fixture(fixtures[i].file, &len);
        json_error_t jerr;
        json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(root))
            fail_msg("%s: not a JSON object (%s)", fixtures[i].file, jerr.text);
        check_spec(fixtures[i].file, root, fixtures[i].spec);
        check_name(fixtures[i].file, root);
        if (fixtures[i].ws)
            check_ws(&fixtures[i], buf, len);
        json_decref(root);
        free(buf);
    }
}

static void test_every_file_listed(void **state)
{
    (void)state;
    DIR *d = opendir(TM_FIXTURES_DIR);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        files++;
        bool listed = false;
        for (size_t i = 0; i < NFIXTURES && !listed; i++)
            listed = strcmp(fixtures[i].file, e->d_name) == 0;
        if (!listed)
            fail_msg("fixture %s has no row in the table", e->d_name);
    }
    closedir(d);
    assert_int_equal(files, (int)NFIXTURES);
}

/* The checker itself must catch a wrong fixture. */
static void test_checker_rejects(void **state)
{
    (void)state;
    json_t *o = json_pack("{s:s, s:i}", "id", "not-a-uuid", "seq", 1);
    assert_false(type_ok(json_object_get(o, "id"), 'u'));
    assert_false(type_ok(json_object_get(o, "seq"), 's'));
    assert_true(type_ok(json_object_get(o, "seq"), 'i'));
    assert_null(lookup(o, "missing"));
    assert_null(lookup(o, "seq.x"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_every_file_listed),
        cmocka_unit_test(test_checker_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
