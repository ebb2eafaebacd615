/* ws_frame: RFC 6455 server-side WebSocket codec. No I/O, no event loop, no globals.
 *
 * The gateway lets h2o perform only the HTTP/1.1 upgrade and frames WebSocket itself
 * (dependencies.md: ~0.5 KiB per idle connection instead of wslay's ~9 KiB). This module
 * is the framing: the handshake check and accept key, an incremental parser of client
 * frames, and encoders of server frames (plain and shared, reference-counted broadcasts).
 *
 * Threads: every function is reentrant; a ws_parser_t belongs to one connection and is
 * used by one thread at a time. ws_shared_frame_t may be referenced from several threads. */
#ifndef WS_FRAME_H
#define WS_FRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

/* Opcodes (RFC 6455 section 5.2). */
#define WS_OPCODE_CONT   0x0
#define WS_OPCODE_TEXT   0x1
#define WS_OPCODE_BINARY 0x2
#define WS_OPCODE_CLOSE  0x8
#define WS_OPCODE_PING   0x9
#define WS_OPCODE_PONG   0xA

/* Close codes taskmesh sends or understands (proto/websocket.md). */
#define WS_CLOSE_NORMAL          1000
#define WS_CLOSE_GOING_AWAY      1001 /* server drain / shutdown */
#define WS_CLOSE_PROTOCOL        1002 /* framing violation */
#define WS_CLOSE_UNSUPPORTED     1003 /* a binary message from a client */
#define WS_CLOSE_NO_STATUS       1005 /* never on the wire: a close frame without a code */
#define WS_CLOSE_INVALID_DATA    1007 /* text that is not UTF-8 */
#define WS_CLOSE_POLICY          1008 /* authentication failed, repeated abuse */
#define WS_CLOSE_TOO_BIG         1009 /* message over the cap */
#define WS_CLOSE_INTERNAL        1011
#define WS_CLOSE_TRY_AGAIN       1013 /* slow client dropped, overload */
#define WS_CLOSE_TOKEN_EXPIRED   4001 /* access token expired and not refreshed in time */
#define WS_CLOSE_SESSION_REVOKED 4003 /* the session behind the token was revoked */

#define WS_MAX_HEADER          14  /* largest frame header (client: 2 + 8 + 4 mask) */
#define WS_MAX_CONTROL         125 /* largest control frame payload */
#define WS_CLOSE_FRAME_MAX     (2 + WS_MAX_CONTROL) /* a whole server close frame */
#define WS_DEFAULT_MAX_MESSAGE (64 * 1024)
#define WS_ACCEPT_LEN          28 /* base64 of a SHA-1 digest */
#define WS_KEY_LEN             24 /* base64 of 16 bytes */

/* ---- handshake ---------------------------------------------------------------------- */

/* One request header value; base == NULL means absent. Several header lines of the same
 * name are joined by the caller with ", " (RFC 9110 list syntax). */
typedef struct {
    const char *base;
    size_t len;
} ws_str_t;

typedef struct {
    ws_str_t method;     /* "GET" */
    ws_str_t upgrade;    /* Upgrade */
    ws_str_t connection; /* Connection */
    ws_str_t version;    /* Sec-WebSocket-Version */
    ws_str_t key;        /* Sec-WebSocket-Key */
} ws_handshake_req_t;

typedef enum {
    WS_HS_OK = 0,
    WS_HS_BAD_METHOD,  /* 405: not GET */
    WS_HS_NOT_UPGRADE, /* 426: no "Upgrade: websocket" or Connection lacks "upgrade" */
    WS_HS_BAD_VERSION, /* 426 + "Sec-WebSocket-Version: 13" */
    WS_HS_BAD_KEY,     /* 400: key absent or not base64 of 16 bytes */
} ws_hs_result_t;

/* Check the upgrade request (RFC 6455 4.2.1). Version must be exactly "13". */
ws_hs_result_t ws_handshake_check(const ws_handshake_req_t *req);
/* The HTTP status to answer a failed check with (405, 426 or 400), 101 for WS_HS_OK. */
int ws_handshake_status(ws_hs_result_t r);
/* Static text for a problem detail ("Sec-WebSocket-Version must be 13"). */
const char *ws_handshake_reason(ws_hs_result_t r);

/* Sec-WebSocket-Accept for sec_key (NUL-terminated, as received, trimmed): base64(SHA-1(key
 * + GUID)) into out (28 chars + NUL). Returns 0, or TM_ERR_INVALID if sec_key is longer
 * than 64 bytes, TM_ERR_INTERNAL if OpenSSL fails. */
int ws_handshake_accept(const char *sec_key, char out[WS_ACCEPT_LEN + 1]) TM_WUR;

/* ---- parser ------------------------------------------------------------------------- */

typedef enum {
    WS_EV_NONE = 0, /* all input consumed, nothing to report */
    WS_EV_MESSAGE,  /* a complete text or binary message: opcode, data, len */
    WS_EV_PING,     /* data/len: payload to echo in the pong */
    WS_EV_PONG,
    WS_EV_CLOSE, /* close_code (1005 when the frame had none), data/len: UTF-8 reason */
    WS_EV_ERROR, /* close_code: 1002, 1007 or 1009; reason: static text. Parser is dead */
} ws_event_type_t;

typedef struct {
    ws_event_type_t type;
    uint8_t opcode; /* WS_OPCODE_TEXT or WS_OPCODE_BINARY for WS_EV_MESSAGE */
    uint16_t close_code;
    const uint8_t *data; /* NUL-terminated copy (data[len] == 0); owned by the parser and
                          * valid until the next ws_parser_next/feed/dispose call */
    size_t len;
    const char *reason; /* WS_EV_ERROR only */
} ws_event_t;

typedef enum { WS_PS_HEADER, WS_PS_PAYLOAD, WS_PS_CLOSED, WS_PS_FAILED } ws_parse_state_t;

/* Per-connection parser: 64 bytes on x86-64 when idle; during a message it also holds
 * one heap buffer of at most max_message + 1 bytes, and one of at most 126 bytes during a
 * control frame. Fields are private to ws_frame.c. */
typedef struct {
    uint8_t hdr[WS_MAX_HEADER];
    uint8_t hdr_len;  /* bytes of hdr collected */
    uint8_t state;    /* ws_parse_state_t */
    uint8_t frame_op; /* opcode of the frame being read */
    uint8_t msg_op;   /* opcode of the (fragmented) message in progress, 0 if none */
    uint8_t utf8;     /* UTF-8 validator state of the text message (see .c) */
    uint8_t mask_pos; /* next mask byte index (0..3) */
    uint8_t release;  /* buffers handed out in the last event, free on next call */
    uint8_t err;      /* index of the error once WS_PS_FAILED */
    uint8_t ctl_len;  /* control payload bytes collected */
    uint32_t max_message;
    uint64_t remaining; /* payload bytes of the current frame still to read */
    uint8_t *buf;       /* message being assembled (data frames), cap >= len + 1 */
    uint32_t len, cap;
    uint8_t *ctl; /* control frame payload being assembled */
} ws_parser_t;

/* Prepare p. max_message: the largest message (sum of fragments) in bytes; 0 -> 64 KiB;
 * values above 1 GiB mean 1 GiB. Call ws_parser_dispose when the connection ends. */
void ws_parser_init(ws_parser_t *p, size_t max_message);
/* Free the buffers p holds (p may be NULL). p may be init'ed again afterwards. */
void ws_parser_dispose(ws_parser_t *p);

/* Consume buf[len] up to and including the next event. *consumed gets the bytes used.
 * Returns the event type (also in ev->type). Call it again with the rest of the input
 * (possibly zero bytes) until it returns WS_EV_NONE: that call also frees the buffers of
 * the previous event, so an idle connection holds no memory. After WS_EV_CLOSE further
 * input is consumed and ignored; after WS_EV_ERROR every call returns the error again
 * (consuming nothing): send a close frame with ev->close_code and drop the connection. */
ws_event_type_t ws_parser_next(ws_parser_t *p, const uint8_t *buf, size_t len, size_t *consumed,
                               ws_event_t *ev);

/* Callback form: feed all of buf[len], calling cb for each event (never WS_EV_NONE).
 * Stops early when cb returns non-zero or after WS_EV_ERROR / WS_EV_CLOSE. Returns the
 * bytes consumed. ev is valid only during cb. */
typedef int (*ws_event_cb)(const ws_event_t *ev, void *arg);
size_t ws_parser_feed(ws_parser_t *p, const uint8_t *buf, size_t len, ws_event_cb cb, void *arg);

/* True if a peer may send code in a close frame (1000-1003, 1007-1014, 3000-4999). */
bool ws_close_code_valid(unsigned code);
/* True if buf[len] is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool ws_utf8_valid(const uint8_t *buf, size_t len);

/* ---- encoders (server frames: FIN set, unmasked) ------------------------------------ */

/* Write the header of a single-frame message of len payload bytes into out_header and
 * return its length (2, 4 or 10). payload is not read (server frames are not masked): the
 * caller writes header then payload, ideally with one writev. */
size_t ws_encode_frame(uint8_t opcode, const void *payload, size_t len,
                       uint8_t out_header[WS_MAX_HEADER]);
/* A whole close frame with code and reason (truncated to 123 bytes on a UTF-8 boundary;
 * NULL ok) into out; returns its length. code 0 sends a close frame without a body. */
size_t ws_encode_close(unsigned code, const char *reason, uint8_t out[WS_CLOSE_FRAME_MAX]);

/* A frame encoded once and written to many connections: header and payload in one
 * allocation. Create with refs = 1; each queued write takes a reference and drops it when
 * written or discarded. The bytes are immutable once the frame is shared. */
typedef struct {
    atomic_uint refs;
    uint32_t header_len;
    size_t len; /* header + payload */
    uint8_t bytes[];
} ws_shared_frame_t;

/* New frame of opcode with payload[len] copied in (payload NULL: left uninitialised, fill
 * it through ws_shared_frame_payload before sharing). NULL if len does not fit size_t
 * arithmetic; aborts on out-of-memory. */
ws_shared_frame_t *ws_shared_frame_new(uint8_t opcode, const void *payload, size_t len);
ws_shared_frame_t *ws_shared_frame_ref(ws_shared_frame_t *f);
/* Drop one reference; the last one frees. NULL ok. */
void ws_shared_frame_unref(ws_shared_frame_t *f);
static inline uint8_t *ws_shared_frame_payload(ws_shared_frame_t *f)
{
    return f->bytes + f->header_len;
}

/* ---- send queue --------------------------------------------------------------------- */

/* A connection's FIFO of shared frames waiting to be written, with their total bytes (for
 * the send-queue cap). The first WS_QUEUE_INLINE slots live in the struct itself, so the
 * usual case of a frame or two queued behind a write in progress allocates nothing per
 * delivery; a longer queue moves to a heap ring, given back once the queue is empty. Not
 * thread-safe (one connection, one thread). */
#define WS_QUEUE_INLINE 4

typedef struct {
    ws_shared_frame_t *inl[WS_QUEUE_INLINE];
    ws_shared_frame_t **heap; /* NULL: the ring is inl */
    uint32_t head, len, cap;  /* cap 0 means WS_QUEUE_INLINE (a zeroed queue is empty) */
    size_t bytes;             /* sum of the queued frames' len */
} ws_queue_t;

/* Append f; the queue takes over the caller's reference. Aborts on out-of-memory. */
void ws_queue_push(ws_queue_t *q, ws_shared_frame_t *f);
/* The i-th frame from the front (i < len), still queued. */
ws_shared_frame_t *ws_queue_at(const ws_queue_t *q, uint32_t i);
/* Remove the front / back frame and return its reference (NULL when empty). */
ws_shared_frame_t *ws_queue_pop(ws_queue_t *q);
ws_shared_frame_t *ws_queue_pop_back(ws_queue_t *q);
/* Drop every frame's reference and the heap ring: the queue is empty and reusable. */
void ws_queue_clear(ws_queue_t *q);

#endif
