/* Fuzz target: JSON request bodies of every HTTP route that takes one, as the gateway parses
 * them (64 KiB, depth 32, no duplicate keys, object root) and the owning handler checks them.
 * The first input byte picks the route; the rest is the body.
 *
 * Tasks (POST/PATCH/PUT /api/v1/tasks...) go through the real task_json_check
 * (services/task/task_json.c). The other handlers keep their field tables file-static next to
 * code that needs Postgres and NATS, so they are not reachable from here: the tables below are
 * copies, each naming its source, with the sources' own limit macros where a header has
 * them; keep them in sync (grep -n "tm_json_field_t" services/ lists the originals).
 * Checks: check OK <=> no errors; an accepted body has its required fields with the right
 * types; errors never exceed what was stored; unknown fields are always refused. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"
#include "password.h"
#include "task_json.h"
#include "tz.h"
#include "tm_json.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define F(n, k, req, nul, mn, mx, items, ch)                                                       \
    {                                                                                              \
        n, k, req, nul, mn, mx, items, ch                                                          \
    }
/* services/task/users.c register_fields */
static const tm_json_field_t register_f[] = {
    F("email", TM_JF_STRING, true, false, 1, 320, 0, NULL),
    F("password", TM_JF_STRING, true, false, 1, PASSWORD_MAX_BYTES, 0, NULL),
    F("display_name", TM_JF_STRING, true, false, 1, 100, 0, NULL)};
/* services/task/users.c update_fields (PATCH /api/v1/admin/users/{id}) */
static const tm_json_field_t user_update_f[] = {
    F("role", TM_JF_STRING, false, false, 0, 0, 0, "user|moderator|admin"),
    F("disabled", TM_JF_BOOL, false, false, 0, 0, 0, NULL)};
/* services/task/sessions.c login_fields, refresh_fields */
static const tm_json_field_t login_f[] = {
    F("email", TM_JF_STRING, true, false, 1, 320, 0, NULL),
    F("password", TM_JF_STRING, true, false, 1, PASSWORD_MAX_BYTES, 0, NULL),
    F("device", TM_JF_STRING, false, false, 0, 100, 0, NULL)};
static const tm_json_field_t refresh_f[] = {
    F("refresh_token", TM_JF_STRING, true, false, 1, 128, 0, NULL)};
/* services/task/workspaces.c create_fields; members.c add_fields */
static const tm_json_field_t ws_create_f[] = {
    F("name", TM_JF_STRING, true, false, 1, 200, 0, NULL)};
static const tm_json_field_t member_add_f[] = {
    F("user_id", TM_JF_UUID, false, false, 0, 0, 0, NULL),
    F("email", TM_JF_STRING, false, false, 1, 320, 0, NULL),
    F("role", TM_JF_STRING, true, false, 0, 0, 0, "owner|editor|viewer")};
/* services/task/tasks.c complete_fields; time_entries.c log_fields */
static const tm_json_field_t complete_f[] = {
    F("minutes", TM_JF_INT, false, true, 1, 1440, 0, NULL)};
static const tm_json_field_t time_log_f[] = {
    F("minutes", TM_JF_INT, true, false, 1, 1440, 0, NULL),
    F("started_at", TM_JF_TIME, false, true, 0, 0, 0, NULL),
    F("note", TM_JF_STRING, false, true, 0, 1000, 0, NULL)};
/* services/ai/handlers.c parse_fields; handlers_suggest.c suggest_fields (its CONTEXT_MAX
 * 2000 and SUGGEST_MAX 20 live in the .c), accept_fields */
static const tm_json_field_t parse_f[] = {
    F("text", TM_JF_STRING, true, false, 1, AI_PARSE_MAX_CHARS, 0, NULL),
    F("timezone", TM_JF_STRING, false, false, 1, AI_TZ_NAME_MAX - 1, 0, NULL),
    F("now", TM_JF_TIME, false, false, 0, 0, 0, NULL)};
static const tm_json_field_t suggest_f[] = {
    F("workspace_id", TM_JF_UUID, false, true, 0, 0, 0, NULL),
    F("context", TM_JF_STRING, false, true, 0, 2000, 0, NULL),
    F("limit", TM_JF_INT, false, false, 1, 20, 0, NULL)};
static const tm_json_field_t accept_f[] = {
    F("workspace_id", TM_JF_UUID, false, false, 0, 0, 0, NULL)};
/* services/realtime/notify.c announce_fields */
static const tm_json_field_t announce_f[] = {
    F("message", TM_JF_STRING, true, false, 1, 2000, 0, NULL),
    F("level", TM_JF_STRING, false, false, 0, 0, 0, "info|warning|critical"),
    F("starts_at", TM_JF_TIME, false, true, 0, 0, 0, NULL),
    F("ends_at", TM_JF_TIME, false, true, 0, 0, 0, NULL)};

typedef struct {
    const char *route;
    const tm_json_field_t *f; /* NULL: a task body (real table via task_json_check) */
    size_t n;
    task_body_kind_t kind;
} route_body_t;
#define T(r, t)                                                                                    \
    {                                                                                              \
        r, t, sizeof t / sizeof t[0], 0                                                            \
    }
static const route_body_t ROUTES[] = {
    T("POST /api/v1/auth/register", register_f),
    T("POST /api/v1/auth/login", login_f),
    T("POST /api/v1/auth/refresh", refresh_f),
    T("POST /api/v1/workspaces", ws_create_f),
    T("POST /api/v1/workspaces/{id}/members", member_add_f),
    {"POST /api/v1/tasks", NULL, 0, TASK_BODY_CREATE},
    {"PATCH /api/v1/tasks/{id}", NULL, 0, TASK_BODY_UPDATE},
    {"PUT /api/v1/tasks/{id}", NULL, 0, TASK_BODY_REPLACE},
    T("POST /api/v1/tasks/{id}/complete", complete_f),
    T("POST /api/v1/tasks/{id}/time-entries", time_log_f),
    T("POST /api/v1/ai/suggestions", suggest_f),
    T("POST /api/v1/ai/suggestions/{id}/accept", accept_f),
    T("POST /api/v1/ai/parse", parse_f),
    T("POST /api/v1/admin/announcements", announce_f),
    T("PATCH /api/v1/admin/users/{id}", user_update_f),
};
#define NROUTES (sizeof ROUTES / sizeof ROUTES[0])

static bool known(const route_body_t *r, const char *key)
{
    static const char *const task_keys[] = {
        "workspace_id",     "title",      "description", "status",
        "priority",         "labels",     "assignee_id", "due_at",
        "estimate_minutes", "id",         "created_by",  "version",
        "completed_at",     "created_at", "updated_at",  "time_spent_minutes"};
    if (r->f == NULL) {
        for (size_t i = 0; i < sizeof task_keys / sizeof task_keys[0]; i++)
            if (strcmp(task_keys[i], key) == 0)
                return true;
        return false;
    }
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].name, key) == 0)
            return true;
    return false;
}

static void check_accepted(const route_body_t *r, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) CHECK(known(r, key));
    for (size_t i = 0; r->f && i < r->n; i++) {
        json_t *x = json_object_get(obj, r->f[i].name);
        if (r->f[i].required)
            CHECK(x != NULL);
        if (x == NULL || json_is_null(x)) {
            CHECK(x == NULL || r->f[i].nullable);
            continue;
        }
        switch (r->f[i].kind) {
        case TM_JF_STRING:
        case TM_JF_TIME:
        case TM_JF_UUID:
            CHECK(json_is_string(x));
            break;
        case TM_JF_INT:
            CHECK(json_is_integer(x));
            if (r->f[i].min != 0 || r->f[i].max != 0)
                CHECK(json_integer_value(x) >= r->f[i].min && json_integer_value(x) <= r->f[i].max);
            break;
        case TM_JF_BOOL:
            CHECK(json_is_boolean(x));
            break;
        default:
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const route_body_t *r = &ROUTES[data[0] % NROUTES];
    const tm_json_limits_t lim = {.max_bytes = 65536, .max_depth = TM_JSON_MAX_DEPTH};
    tm_json_errors_t errs = {0};
    json_t *obj = NULL;
    if (tm_json_parse((const char *)data + 1, size - 1, &lim, &obj, &errs) != TM_OK) {
        CHECK(obj == NULL && errs.count >= 1);
        return 0;
    }
    tm_json_errors_t cerrs = {0};
    int rc = r->f ? tm_json_check(obj, r->f, r->n, &cerrs) : task_json_check(obj, r->kind, &cerrs);
    CHECK((rc == TM_OK) == (cerrs.count == 0));
    CHECK(rc == TM_OK || rc == TM_ERR_INVALID);
    for (int i = 0; i < cerrs.count && i < TM_JSON_MAX_ERRORS; i++)
        CHECK(memchr(cerrs.e[i].field, '\0', sizeof cerrs.e[i].field) &&
              memchr(cerrs.e[i].reason, '\0', sizeof cerrs.e[i].reason));
    if (rc == TM_OK)
        check_accepted(r, obj);
    json_decref(obj);
    return 0;
}
