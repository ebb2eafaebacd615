/* ws_ops: decoding of the JSON text messages a WebSocket client sends (proto/websocket.md).
 *
 * Client ops: subscribe {op, room}, unsubscribe {op, room}, resume {op, room, since},
 * typing {op, room, task_id?}, auth {op, token}, ping {op, id?}. Decoding is strict
 * (tm_json): unknown fields, wrong types and bad room names are errors. Rooms are
 * "workspace:<uuid>" or "task:<uuid>"; the decoder returns them lowercased.
 * Whether the user may enter a room is not decided here (the gateway asks tm-realtime).
 *
 * On an error the server answers {"op":"error","code":..,"message":..,"failed_op":..}
 * (ws_ops_error_json) and counts a strike (ws_ops_strike); the strike that goes over
 * WS_OPS_STRIKE_LIMIT within WS_OPS_STRIKE_WINDOW_MS closes the socket with 1008.
 * Pure functions; any thread. */
#ifndef WS_OPS_H
#define WS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

#define WS_OPS_MAX_MESSAGE      8192 /* a client op is at most this many bytes of JSON */
#define WS_OPS_TOKEN_MAX        4096 /* longest access token in an auth op */
#define WS_OPS_ID_MAX           64   /* longest string id of a ping */
#define WS_ROOM_MAX             46   /* strlen("workspace:") + 36 */
#define WS_OPS_STRIKE_LIMIT     5
#define WS_OPS_STRIKE_WINDOW_MS 60000

typedef enum {
    WS_OP_NONE = 0,
    WS_OP_SUBSCRIBE,
    WS_OP_UNSUBSCRIBE,
    WS_OP_RESUME,
    WS_OP_TYPING,
    WS_OP_AUTH,
    WS_OP_PING,
} ws_op_kind_t;

typedef enum { WS_ROOM_NONE = 0, WS_ROOM_WORKSPACE, WS_ROOM_TASK } ws_room_kind_t;

/* A decoded op. Only the fields of its kind are set; the rest are zero / "". */
typedef struct {
    ws_op_kind_t kind;
    ws_room_kind_t room_kind;   /* subscribe, unsubscribe, resume, typing */
    char room[WS_ROOM_MAX + 1]; /* canonical: "workspace:<lowercase uuid>" */
    char room_id[37];           /* the uuid part of room */
    int64_t since;              /* resume: last seq seen, >= 0 */
    char task_id[37];           /* typing: "" when absent */
    bool has_id;                /* ping: id given (echoed in the pong) */
    bool id_is_int;
    int64_t id_int;
    char id[WS_OPS_ID_MAX + 1];       /* ping: string id */
    char token[WS_OPS_TOKEN_MAX + 1]; /* auth */
} ws_op_t;

/* Why a message was refused. code is one of the static strings "invalid_json",
 * "too_large", "unknown_op", "invalid_op". */
typedef struct {
    const char *code;
    char op[16];       /* the op name when it was a short string, else "" */
    char message[200]; /* "room: must be workspace:<uuid> or task:<uuid>" */
} ws_op_error_t;

/* Decode one text message buf[len] (need not be NUL-terminated) into *op.
 * Returns 0, TM_ERR_INVALID or TM_ERR_LIMIT (over WS_OPS_MAX_MESSAGE or a string over
 * WS_OPS_TOKEN_MAX), with *err filled on failure. */
int ws_ops_decode(const char *buf, size_t len, ws_op_t *op, ws_op_error_t *err) TM_WUR;

/* "subscribe", ... ("" for WS_OP_NONE). */
const char *ws_ops_name(ws_op_kind_t kind);

/* Parse a room name (NUL-terminated) into kind and canonical form (out: WS_ROOM_MAX + 1
 * bytes, may be NULL). Returns WS_ROOM_NONE when it is not a valid room. */
ws_room_kind_t ws_ops_parse_room(const char *room, char *out);

/* The error op as compact JSON in a new heap string (caller frees); *len its length. */
char *ws_ops_error_json(const ws_op_error_t *err, size_t *len);

/* Per-connection count of refused ops in a fixed window. */
typedef struct {
    int64_t window_start_ms;
    uint32_t count;
} ws_ops_strikes_t;

/* Count one refused op at now_ms (monotonic). True when the connection should be closed
 * with 1008: more than WS_OPS_STRIKE_LIMIT refusals within WS_OPS_STRIKE_WINDOW_MS. */
bool ws_ops_strike(ws_ops_strikes_t *s, int64_t now_ms);

#endif
