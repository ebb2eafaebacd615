/* h2guard: HTTP/2 rapid-reset floods (CVE-2023-44487) answered with GOAWAY.
 *
 * h2o 2.2.5 has no hook on RST_STREAM: a client may open and reset streams without end,
 * and every HEADERS it sends starts a request. The guard takes each new client socket
 * instead of h2o_accept and decides the protocol itself (TLS: ALPN after the handshake;
 * cleartext: the client preface, HTTP/2 with prior knowledge), so that it reads every
 * byte of an HTTP/2 connection before h2o does: it wraps h2o's read callback, scans the
 * newly read bytes frame by frame (state kept across reads) and counts client RST_STREAM
 * frames and streams opened by HEADERS in a sliding window. When resets in the window
 * exceed the budget and are more than half of the streams opened (a client that cancels
 * some of many requests is not a flood), the input is cut at the start of the frame that
 * crossed it and frames h2o treats as a connection error are appended: h2o handles the
 * frames before the cut, then sends GOAWAY and closes the connection itself. Those frames
 * are PRIORITY frames for more idle streams than h2o's max_streams_for_priority (GOAWAY
 * ENHANCE_YOUR_CALM) and a RST_STREAM on stream 0 (GOAWAY PROTOCOL_ERROR should the first
 * not apply). h2o closes its descriptor after writing the GOAWAY; the guard keeps a
 * duplicate for a lingering close (send side shut, input read and dropped until the client
 * closes, at most H2GUARD_LINGER_MS), so that a client still sending is not reset before
 * it read the GOAWAY. Other connections are not touched. Floods are counted in
 * tm_gateway_h2_rapid_reset_total and logged once per connection.
 *
 * h2c via HTTP/1.1 Upgrade is not guarded: the gateway turns it off
 * (http1.upgrade_to_http2 = 0; RFC 9113 deprecates it).
 *
 * The thresholds are compile-time constants (H2GUARD_*), not TM_* variables yet.
 *
 * The scanner (h2guard_scan_*) is plain byte parsing; the rest runs on one loop thread. */
#ifndef GW_H2GUARD_H
#define GW_H2GUARD_H

#include <h2o.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H2GUARD_WINDOW_MS  1000 /* sliding window of the counts */
#define H2GUARD_MAX_RESETS 100  /* client resets per window tolerated */
#define H2GUARD_SWEEP_MS   100  /* how often h2o's replaced callbacks are wrapped again */
#define H2GUARD_LINGER_MS  2000 /* a flooder's socket drained after the GOAWAY, at most */
#define H2GUARD_MAX_LINGER 256  /* such sockets per loop; beyond, closed at once */

typedef struct {
    uint32_t window_ms;
    uint32_t max_resets;
} h2guard_limits_t;

typedef enum {
    H2G_OK = 0, /* scanned, under budget */
    H2G_TRIP,   /* the budget was crossed: see h2guard_scan_feed */
    H2G_NOT_H2, /* the stream does not start with the HTTP/2 client preface */
    H2G_DONE,   /* tripped earlier: nothing scanned */
} h2guard_verdict_t;

typedef struct {
    h2guard_limits_t lim;
    uint8_t state;        /* internal: preface, header, payload, ... */
    uint8_t hdr[9];       /* the frame header being collected */
    uint32_t have;        /* bytes of the preface matched / of hdr collected */
    uint32_t skip;        /* payload bytes of the current frame still to skip */
    uint32_t max_opened;  /* highest stream id opened by HEADERS */
    uint32_t max_seen;    /* highest stream id of any frame */
    int64_t win_start_ms; /* start of the current window */
    uint32_t resets[2];   /* [0] current window, [1] the one before */
    uint32_t opens[2];
    uint64_t total_resets, total_opens, frames;
} h2guard_scan_t;

/* Start of a client stream: expect_preface for a new connection; false when scanning
 * starts at a frame boundary of a connection already going (a preface is still
 * recognised if the bytes start with one). */
void h2guard_scan_init(h2guard_scan_t *sc, const h2guard_limits_t *lim, bool expect_preface,
                       int64_t now_ms);
/* Back to a frame boundary (the counts and stream ids are kept). */
void h2guard_scan_resync(h2guard_scan_t *sc);
/* Scan the next len bytes of the client's stream. On H2G_TRIP, *cut is where the frame
 * that crossed the budget starts, as an offset from data: negative (at most 8 bytes back)
 * when its header began in an earlier call. Bytes after that frame's header are not
 * scanned, and later calls return H2G_DONE. */
h2guard_verdict_t h2guard_scan_feed(h2guard_scan_t *sc, const uint8_t *data, size_t len,
                                    int64_t now_ms, ptrdiff_t *cut);
/* Resets and opened streams in the sliding window at now_ms. */
void h2guard_scan_rates(const h2guard_scan_t *sc, int64_t now_ms, uint32_t *resets,
                        uint32_t *opens);
/* The frames appended at the cut: nprio PRIORITY frames for fresh idle streams above any
 * stream id seen (fewer if ids run out), then RST_STREAM on stream 0. Returns the length
 * written (0 if cap is too small). */
size_t h2guard_trigger_frames(const h2guard_scan_t *sc, unsigned nprio, uint8_t *out, size_t cap);

/* ---- h2o side (one h2guard_t per loop thread) ---- */

typedef struct h2guard h2guard_t;

/* Main thread, before the loop runs: the guard of ctx's loop (starts its sweep). */
h2guard_t *h2guard_new(h2o_context_t *ctx, const h2guard_limits_t *lim);
/* Takes a new client socket instead of h2o_accept (no PROXY line support: that case is
 * passed to h2o_accept unguarded). TLS: the handshake, then ALPN picks HTTP/2 or HTTP/1;
 * cleartext: the first bytes, the client preface means HTTP/2. Both bounded by
 * ctx->handshake_timeout, like h2o_accept. */
void h2guard_accept(h2guard_t *g, h2o_accept_ctx_t *actx, h2o_socket_t *sock);
/* After the loop stopped running (tests): unlinks the sweep and frees g. Guards of
 * connections still open stay with their sockets. */
void h2guard_free(h2guard_t *g);
typedef struct {
    uint64_t floods;    /* connections answered with GOAWAY */
    uint64_t rewraps;   /* times h2o had set its read callback again (back-pressure) */
    unsigned lingering; /* sockets in their lingering close now */
} h2guard_stats_t;

/* This loop's figures. */
h2guard_stats_t h2guard_stats(const h2guard_t *g);

#endif
