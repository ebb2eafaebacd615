/* ws_ops: strict decoding of client WebSocket ops (see ws_ops.h). */
#include "ws_ops.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "tm_json.h"
#include "tm_util.h"
#include "ws_frame.h"

#define F_OP                                                                                       \
    {                                                                                              \
        "op", TM_JF_STRING, true, false, 1, 16, 0, NULL                                            \
    }
#define F_ROOM                                                                                     \
    {                                                                                              \
        "room", TM_JF_STRING, true, false, 1, 64, 0, NULL                                          \
    }

static const tm_json_field_t room_fields[] = {F_OP, F_ROOM};
static const tm_json_field_t resume_fields[] = {
    F_OP, F_ROOM, {"since", TM_JF_INT, true, false, 0, INT64_MAX, 0, NULL}};
static const tm_json_field_t typing_fields[] = {
    F_OP, F_ROOM, {"task_id", TM_JF_UUID, false, false, 0, 0, 0, NULL}};
static const tm_json_field_t auth_fields[] = {
    F_OP, {"token", TM_JF_STRING, true, false, 1, WS_OPS_TOKEN_MAX, 0, NULL}};
static const tm_json_field_t ping_fields[] = {F_OP, {"id", TM_JF_ANY, false, false, 0, 0, 0, NULL}};

typedef struct {
    const char *name;
    ws_op_kind_t kind;
    const tm_json_field_t *fields;
    size_t n;
} op_spec_t;

#define SPEC(name, kind, table)                                                                    \
    {                                                                                              \
        name, kind, table, sizeof table / sizeof table[0]                                          \
    }
static const op_spec_t op_specs[] = {
    SPEC("subscribe", WS_OP_SUBSCRIBE, room_fields),
    SPEC("unsubscribe", WS_OP_UNSUBSCRIBE, room_fields),
    SPEC("resume", WS_OP_RESUME, resume_fields),
    SPEC("typing", WS_OP_TYPING, typing_fields),
    SPEC("auth", WS_OP_AUTH, auth_fields),
    SPEC("ping", WS_OP_PING, ping_fields),
};

const char *ws_ops_name(ws_op_kind_t kind)
{
    for (size_t i = 0; i < sizeof op_specs / sizeof op_specs[0]; i++)
        if (op_specs[i].kind == kind)
            return op_specs[i].name;
    return "";
}

static int refuse(ws_op_error_t *err, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(ws_op_error_t *err, int rc, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* Field names come from the client and snprintf may cut a sequence: keep the text
     * valid UTF-8 so it can go back in a JSON string. */
    if (!ws_utf8_valid((const uint8_t *)err->message, strlen(err->message)))
        for (char *c = err->message; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
    return rc;
}

ws_room_kind_t ws_ops_parse_room(const char *room, char *out)
{
    static const struct {
        const char *prefix;
        ws_room_kind_t kind;
    } kinds[] = {{"workspace:", WS_ROOM_WORKSPACE}, {"task:", WS_ROOM_TASK}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t plen = strlen(kinds[i].prefix);
        if (strncmp(room, kinds[i].prefix, plen) != 0 || !tm_is_uuid(room + plen))
            continue;
        if (out != NULL) {
            size_t n = plen + 36;
            for (size_t j = 0; j < n; j++)
                out[j] = (char)tolower((unsigned char)room[j]);
            out[n] = '\0';
        }
        return kinds[i].kind;
    }
    return WS_ROOM_NONE;
}

static int take_room(const json_t *obj, ws_op_t *op, ws_op_error_t *err)
{
    const char *room = tm_json_str(obj, "room", "");
    op->room_kind = ws_ops_parse_room(room, op->room);
    if (op->room_kind == WS_ROOM_NONE)
        return refuse(err, TM_ERR_INVALID, "invalid_op",
                      "room: must be workspace:<uuid> or task:<uuid>");
    memcpy(op->room_id, strchr(op->room, ':') + 1, 37);
    return TM_OK;
}

static int take_ping_id(const json_t *obj, ws_op_t *op, ws_op_error_t *err)
{
    const json_t *id = json_object_get(obj, "id");
    if (id == NULL)
        return TM_OK;
    op->has_id = true;
    if (json_is_integer(id)) {
        op->id_is_int = true;
        op->id_int = json_integer_value(id);
        return TM_OK;
    }
    if (json_is_string(id) && json_string_length(id) <= WS_OPS_ID_MAX) {
        memcpy(op->id, json_string_value(id), json_string_length(id) + 1);
        return TM_OK;
    }
    return refuse(err, TM_ERR_INVALID, "invalid_op",
                  "id: must be an integer or a string of at most %d bytes", WS_OPS_ID_MAX);
}

/* Fields beyond the table's types: room syntax, ping id, values copied into op. */
static int take_fields(const json_t *obj, ws_op_t *op, ws_op_error_t *err)
{
    switch (op->kind) {
    case WS_OP_RESUME:
        op->since = tm_json_int(obj, "since", 0);
        return take_room(obj, op, err);
    case WS_OP_TYPING:
        snprintf(op->task_id, sizeof op->task_id, "%s", tm_json_str(obj, "task_id", ""));
        for (char *c = op->task_id; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        return take_room(obj, op, err);
    case WS_OP_SUBSCRIBE:
    case WS_OP_UNSUBSCRIBE:
        return take_room(obj, op, err);
    case WS_OP_AUTH:
        snprintf(op->token, sizeof op->token, "%s", tm_json_str(obj, "token", ""));
        return TM_OK;
    case WS_OP_PING:
        return take_ping_id(obj, op, err);
    case WS_OP_NONE:
        break;
    }
    return refuse(err, TM_ERR_INTERNAL, "invalid_op", "no such op");
}

static const op_spec_t *find_spec(const json_t *obj, ws_op_error_t *err)
{
    const json_t *name = json_object_get(obj, "op");
    if (!json_is_string(name)) {
        refuse(err, TM_ERR_INVALID, "invalid_op", "op: must be a string");
        return NULL;
    }
    const char *s = json_string_value(name);
    if (json_string_length(name) < sizeof err->op)
        memcpy(err->op, s, json_string_length(name) + 1);
    for (size_t i = 0; i < sizeof op_specs / sizeof op_specs[0]; i++)
        if (strcmp(op_specs[i].name, s) == 0)
            return &op_specs[i];
    refuse(err, TM_ERR_INVALID, "unknown_op", "op: unknown op");
    return NULL;
}

static int check_table(const json_t *obj, const op_spec_t *spec, ws_op_error_t *err)
{
    tm_json_errors_t errs = {0};
    if (tm_json_check(obj, spec->fields, spec->n, &errs) == TM_OK)
        return TM_OK;
    return refuse(err, TM_ERR_INVALID, "invalid_op", "%s: %s", errs.e[0].field, errs.e[0].reason);
}

int ws_ops_decode(const char *buf, size_t len, ws_op_t *op, ws_op_error_t *err)
{
    static const tm_json_limits_t limits = {
        .max_bytes = WS_OPS_MAX_MESSAGE, .max_depth = 2, .max_string = WS_OPS_TOKEN_MAX};
    tm_json_errors_t errs = {0};
    json_t *obj = NULL;
    memset(op, 0, sizeof *op);
    memset(err, 0, sizeof *err);
    int rc = tm_json_parse(buf, len, &limits, &obj, &errs);
    if (rc != TM_OK) {
        const char *code = rc == TM_ERR_LIMIT ? "too_large" : "invalid_json";
        return refuse(err, rc, code, "%s", errs.count > 0 ? errs.e[0].reason : "invalid JSON");
    }
    const op_spec_t *spec = find_spec(obj, err);
    rc = spec ? check_table(obj, spec, err) : TM_ERR_INVALID;
    if (rc == TM_OK) {
        op->kind = spec->kind;
        rc = take_fields(obj, op, err);
    }
    json_decref(obj);
    if (rc != TM_OK)
        op->kind = WS_OP_NONE;
    return rc;
}

char *ws_ops_error_json(const ws_op_error_t *err, size_t *len)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "op", "error", "code",
                          err->code ? err->code : "invalid_op", "message", err->message);
    if (o != NULL && err->op[0] != '\0')
        json_object_set_new(o, "failed_op", json_string(err->op));
    char *s = o ? tm_json_dumps(o, len) : NULL;
    json_decref(o);
    return s;
}

bool ws_ops_strike(ws_ops_strikes_t *s, int64_t now_ms)
{
    if (s->count == 0 || now_ms - s->window_start_ms >= WS_OPS_STRIKE_WINDOW_MS) {
        s->window_start_ms = now_ms;
        s->count = 0;
    }
    s->count++;
    return s->count > WS_OPS_STRIKE_LIMIT;
}
