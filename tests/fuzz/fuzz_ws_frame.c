/* Fuzz target: the WebSocket frame parser (ws_frame.c).
 * Input: byte 0 picks the message cap (small caps reach 1009), byte 1 the chunk size; the
 * rest is the client byte stream. Checks, beyond the sanitizers:
 *   - feeding in chunks gives the same events as feeding everything at once;
 *   - text messages and close reasons are valid UTF-8, messages fit the cap, close codes
 *     are valid, errors carry 1002/1007/1009;
 *   - WS_EV_NONE means all input was consumed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ws_frame.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

typedef struct {
    uint64_t hash; /* FNV-1a over the event sequence */
    int count;
} trace_t;

static void mix(trace_t *t, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        t->hash = (t->hash ^ b[i]) * 1099511628211ull;
}

static void check_event(const ws_event_t *ev, size_t cap)
{
    switch (ev->type) {
    case WS_EV_MESSAGE:
        CHECK(ev->len <= cap && ev->data[ev->len] == 0);
        CHECK(ev->opcode == WS_OPCODE_TEXT || ev->opcode == WS_OPCODE_BINARY);
        if (ev->opcode == WS_OPCODE_TEXT)
            CHECK(ws_utf8_valid(ev->data, ev->len));
        break;
    case WS_EV_CLOSE:
        CHECK(ev->close_code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev->close_code));
        CHECK(ev->len <= WS_MAX_CONTROL - 2 && ws_utf8_valid(ev->data, ev->len));
        break;
    case WS_EV_PING:
    case WS_EV_PONG:
        CHECK(ev->len <= WS_MAX_CONTROL);
        break;
    case WS_EV_ERROR:
        CHECK(ev->close_code == 1002 || ev->close_code == 1007 || ev->close_code == 1009);
        CHECK(ev->reason != NULL);
        break;
    case WS_EV_NONE:
        CHECK(0);
    }
}

static trace_t run(const uint8_t *data, size_t size, size_t cap, size_t step)
{
    trace_t t = {1469598103934665603ull, 0};
    ws_parser_t p;
    ws_parser_init(&p, cap);
    size_t off = 0;
    bool stop = false;
    while (off < size && !stop) {
        size_t chunk = size - off < step ? size - off : step, used = 0;
        for (;;) {
            size_t n = 0;
            ws_event_t ev;
            ws_event_type_t type = ws_parser_next(&p, data + off + used, chunk - used, &n, &ev);
            used += n;
            CHECK(used <= chunk);
            if (type == WS_EV_NONE) {
                CHECK(used == chunk);
                break;
            }
            check_event(&ev, cap);
            t.count++;
            mix(&t, &ev.type, sizeof ev.type);
            mix(&t, &ev.close_code, sizeof ev.close_code);
            mix(&t, &ev.len, sizeof ev.len);
            if (ev.len)
                mix(&t, ev.data, ev.len);
            if (type == WS_EV_ERROR) {
                stop = true;
                break;
            }
        }
        off += chunk;
    }
    ws_parser_dispose(&p);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const size_t caps[] = {0, 1, 16, 125, 126, 1000, 65536, 1 << 20};
    size_t cap = caps[data[0] & 7];
    size_t step = (size_t)data[1] % 17 + 1;
    data += 2;
    size -= 2;
    trace_t whole = run(data, size, cap ? cap : WS_DEFAULT_MAX_MESSAGE, size ? size : 1);
    trace_t parts = run(data, size, cap ? cap : WS_DEFAULT_MAX_MESSAGE, step);
    CHECK(whole.count == parts.count && whole.hash == parts.hash);

    /* encoders: any length gives a header the parser's rules accept */
    uint8_t h[WS_MAX_HEADER];
    size_t hl = ws_encode_frame(WS_OPCODE_BINARY, data, size, h);
    CHECK(hl == 2 || hl == 4 || hl == 10);
    ws_shared_frame_t *f = ws_shared_frame_new(WS_OPCODE_TEXT, data, size);
    CHECK(f->len == f->header_len + size && memcmp(ws_shared_frame_payload(f), data, size) == 0);
    ws_shared_frame_unref(ws_shared_frame_ref(f));
    ws_shared_frame_unref(f);
    return 0;
}
