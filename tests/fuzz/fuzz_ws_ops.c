/* Fuzz target: the client op decoder (ws_ops.c) on top of tm_json.
 * Checks: an accepted op has a kind and a canonical room that parses again; a refusal has
 * a code and an error op that is valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ws_ops.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static ws_op_t op; /* large (auth token): keep it off the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws_op_error_t err;
    int rc = ws_ops_decode((const char *)data, size, &op, &err);
    if (rc == 0) {
        CHECK(op.kind != WS_OP_NONE);
        if (op.room[0] != '\0') {
            char again[WS_ROOM_MAX + 1];
            CHECK(ws_ops_parse_room(op.room, again) == op.room_kind);
            CHECK(strcmp(again, op.room) == 0);
        }
        CHECK(op.kind != WS_OP_RESUME || op.since >= 0);
        CHECK(strlen(op.token) <= WS_OPS_TOKEN_MAX);
        return 0;
    }
    CHECK(op.kind == WS_OP_NONE && err.code != NULL);
    size_t len = 0;
    char *s = ws_ops_error_json(&err, &len);
    CHECK(s != NULL);
    json_t *o = json_loadb(s, len, 0, NULL);
    CHECK(o != NULL);
    json_decref(o);
    free(s);
    return 0;
}
