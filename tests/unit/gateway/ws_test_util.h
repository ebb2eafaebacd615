/* Test helpers for ws_frame: a client-side (masked) frame writer and an event recorder that
 * feeds input in chunks of a chosen size. Header-only, for tests and fuzz replays. */
#ifndef WS_TEST_UTIL_H
#define WS_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ws_frame.h"

#define WST_MAX_EVENTS 32

/* Write a client frame: b0 is FIN|RSV|opcode, payload masked with mask (NULL: unmasked).
 * Returns the frame length; out must hold len + 14 bytes. */
static inline size_t wst_frame(uint8_t *out, uint8_t b0, const void *payload, uint64_t len,
                               const uint8_t *mask)
{
    size_t h = 0;
    out[h++] = b0;
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[h++] = (uint8_t)(m | len);
    } else if (len <= 0xffff) {
        out[h++] = m | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + h, mask, 4);
        h += 4;
    }
    const uint8_t *src = payload;
    for (uint64_t i = 0; i < len && src; i++)
        out[h + i] = mask ? (uint8_t)(src[i] ^ mask[i & 3]) : src[i];
    return h + (size_t)len;
}

static const uint8_t wst_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Masked client frame with the standard test mask. */
static inline size_t wst_cframe(uint8_t *out, uint8_t b0, const void *payload, uint64_t len)
{
    return wst_frame(out, b0, payload, len, wst_mask);
}

typedef struct {
    ws_event_type_t type;
    uint8_t opcode;
    uint16_t code;
    size_t len;
    uint8_t *data; /* copy */
} wst_event_t;

typedef struct {
    int n;
    wst_event_t ev[WST_MAX_EVENTS];
} wst_log_t;

static inline void wst_log_free(wst_log_t *log)
{
    for (int i = 0; i < log->n; i++)
        free(log->ev[i].data);
    log->n = 0;
}

static inline void wst_record(wst_log_t *log, const ws_event_t *ev)
{
    if (log->n >= WST_MAX_EVENTS)
        return;
    wst_event_t *e = &log->ev[log->n++];
    e->type = ev->type;
    e->opcode = ev->opcode;
    e->code = ev->close_code;
    e->len = ev->len;
    e->data = malloc(ev->len + 1);
    if (ev->len > 0)
        memcpy(e->data, ev->data, ev->len);
    e->data[ev->len] = 0;
}

/* Feed buf[len] in chunks of step bytes (0: all at once), recording events until the
 * input ends or an error. Returns the number of events. */
static inline int wst_run(ws_parser_t *p, const uint8_t *buf, size_t len, size_t step,
                          wst_log_t *log)
{
    size_t off = 0;
    if (step == 0)
        step = len ? len : 1;
    while (off < len) {
        size_t chunk = len - off < step ? len - off : step, used = 0;
        for (;;) {
            size_t n = 0;
            ws_event_t ev;
            ws_event_type_t t = ws_parser_next(p, buf + off + used, chunk - used, &n, &ev);
            used += n;
            if (t == WS_EV_NONE)
                break;
            wst_record(log, &ev);
            if (t == WS_EV_ERROR)
                return log->n;
        }
        off += chunk;
    }
    return log->n;
}

#endif
