/* h2guard: the frame scanner (preface, frames split across reads, padding, counts, the
 * sliding window, the cut) and the guard in front of a real h2o 2.2.5 HTTP/2 connection
 * over a socketpair (flood -> GOAWAY ENHANCE_YOUR_CALM and close; a client resetting a few
 * streams keeps its connection; the guard is back after h2o's write back-pressure). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "h2guard.h"

static const h2guard_limits_t LIM = {.window_ms = 1000, .max_resets = 100};
static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* ---- frame building ---- */

typedef struct {
    uint8_t b[3 << 20];
    size_t n;
} buf_t;

static void put(buf_t *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof(w->b));
    if (n > 0)
        memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void frame(buf_t *w, uint8_t type, uint8_t flags, uint32_t sid, const void *payload,
                  size_t len)
{
    uint8_t h[9] = {
        (uint8_t)(len >> 16), (uint8_t)(len >> 8),  (uint8_t)len,        type,        flags,
        (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};
    put(w, h, 9);
    put(w, payload, len);
}

/* GET / with :authority x (HPACK: indexed :method GET, :scheme http, :path /). */
static const uint8_t GET_BLOCK[] = {0x82, 0x86, 0x84, 0x01, 0x01, 'x'};

static void headers(buf_t *w, uint32_t sid)
{
    frame(w, 0x1, 0x5 /* END_STREAM|END_HEADERS */, sid, GET_BLOCK, sizeof(GET_BLOCK));
}

static void rst(buf_t *w, uint32_t sid)
{
    static const uint8_t cancel[4] = {0, 0, 0, 0x8};
    frame(w, 0x3, 0, sid, cancel, 4);
}

static void settings(buf_t *w)
{
    frame(w, 0x4, 0, 0, NULL, 0);
}

static void client_start(buf_t *w)
{
    put(w, PREFACE, 24);
    settings(w);
}

/* ---- scanner ---- */

static h2guard_verdict_t feed_all(h2guard_scan_t *sc, const buf_t *w, size_t chunk, int64_t now,
                                  ptrdiff_t *cut, size_t *trip_at)
{
    for (size_t off = 0; off < w->n; off += chunk) {
        size_t n = w->n - off < chunk ? w->n - off : chunk;
        h2guard_verdict_t v = h2guard_scan_feed(sc, w->b + off, n, now, cut);
        if (v != H2G_OK) {
            if (trip_at)
                *trip_at = off;
            return v;
        }
    }
    return H2G_OK;
}

static void test_counts_in_any_chunking(void **state)
{
    (void)state;
    static buf_t w;
    w.n = 0;
    client_start(&w);
    for (uint32_t sid = 1; sid <= 41; sid += 2)
        headers(&w, sid); /* 21 streams */
    for (uint32_t sid = 1; sid <= 19; sid += 2)
        rst(&w, sid);                                 /* 10 resets */
    frame(&w, 0x8, 0, 0, (uint8_t[]){0, 0, 1, 0}, 4); /* WINDOW_UPDATE */
    static const size_t chunks[] = {1, 2, 5, 8, 9, 10, 23, 24, 25, 4096};
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        h2guard_scan_t sc;
        ptrdiff_t cut = 0;
        h2guard_scan_init(&sc, &LIM, true, 0);
        assert_int_equal(feed_all(&sc, &w, chunks[k], 10, &cut, NULL), H2G_OK);
        assert_int_equal(sc.frames, 1 + 21 + 10 + 1);
        assert_int_equal(sc.total_opens, 21);
        assert_int_equal(sc.total_resets, 10);
        assert_int_equal(sc.max_opened, 41);
        uint32_t r, o;
        h2guard_scan_rates(&sc, 10, &r, &o);
        assert_int_equal(r, 10);
        assert_int_equal(o, 21);
    }
}

static void test_not_http2(void **state)
{
    (void)state;
    h2guard_scan_t sc;
    ptrdiff_t cut;
    h2guard_scan_init(&sc, &LIM, true, 0);
    const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(h2guard_scan_feed(&sc, (const uint8_t *)get, strlen(get), 0, &cut),
                     H2G_NOT_H2);
    assert_int_equal(h2guard_scan_feed(&sc, (const uint8_t *)get, 3, 0, &cut), H2G_NOT_H2);
    /* a preface that goes wrong in its second read */
    h2guard_scan_init(&sc, &LIM, true, 0);
    assert_int_equal(h2guard_scan_feed(&sc, (const uint8_t *)PREFACE, 10, 0, &cut), H2G_OK);
    assert_int_equal(h2guard_scan_feed(&sc, (const uint8_t *)"X", 1, 0, &cut), H2G_NOT_H2);
    /* "PRI * HTTP/1.1" is no preface either */
    h2guard_scan_init(&sc, &LIM, true, 0);
    assert_int_equal(h2guard_scan_feed(&sc, (const uint8_t *)"PRI * HTTP/1.1\r\n", 16, 0, &cut),
                     H2G_NOT_H2);
}

/* Padding and payload bytes that look like frames are skipped, not parsed. */
static void test_padding_and_payloads_are_skipped(void **state)
{
    (void)state;
    static buf_t w, fake;
    w.n = fake.n = 0;
    for (int i = 0; i < 300; i++)
        rst(&fake, (uint32_t)(2 * i + 1)); /* 3900 bytes of would-be resets */
    client_start(&w);
    /* HEADERS, PADDED|PRIORITY: pad length, then priority (5), block, padding = fake */
    static uint8_t hp[1 + 5 + sizeof(GET_BLOCK) + 255];
    hp[0] = 255;
    memset(hp + 1, 0, 5);
    memcpy(hp + 6, GET_BLOCK, sizeof(GET_BLOCK));
    memcpy(hp + 6 + sizeof(GET_BLOCK), fake.b, 255);
    frame(&w, 0x1, 0x5 | 0x8 | 0x20, 1, hp, sizeof(hp));
    /* DATA (PADDED) and a CONTINUATION-free big DATA carrying frames as payload */
    static uint8_t dp[1 + 1000 + 200];
    dp[0] = 200;
    memcpy(dp + 1, fake.b, 1000 + 200);
    frame(&w, 0x0, 0x8, 3, dp, sizeof(dp));
    frame(&w, 0x0, 0, 5, fake.b, fake.n);
    h2guard_scan_t sc;
    ptrdiff_t cut;
    h2guard_scan_init(&sc, &LIM, true, 0);
    assert_int_equal(feed_all(&sc, &w, 7, 0, &cut, NULL), H2G_OK);
    assert_int_equal(sc.frames, 4);
    assert_int_equal(sc.total_resets, 0);
    assert_int_equal(sc.total_opens, 1);
}

/* A trailer HEADERS on an open stream opens nothing; PRIORITY moves max_seen only. */
static void test_trailers_and_priority(void **state)
{
    (void)state;
    static buf_t w;
    w.n = 0;
    client_start(&w);
    frame(&w, 0x1, 0x4, 7, GET_BLOCK, sizeof(GET_BLOCK)); /* open 7, body follows */
    frame(&w, 0x1, 0x5, 7, GET_BLOCK, sizeof(GET_BLOCK)); /* trailers */
    frame(&w, 0x2, 0, 99, (uint8_t[]){0, 0, 0, 0, 15}, 5);
    h2guard_scan_t sc;
    ptrdiff_t cut;
    h2guard_scan_init(&sc, &LIM, true, 0);
    assert_int_equal(feed_all(&sc, &w, 4096, 0, &cut, NULL), H2G_OK);
    assert_int_equal(sc.total_opens, 1);
    assert_int_equal(sc.max_opened, 7);
    assert_int_equal(sc.max_seen, 99);
}

/* 200 HEADERS+RST pairs: the 101st reset trips; the cut is that RST's first byte,
 * wherever the read boundaries fall (negative when its header began in an earlier read). */
static void test_flood_trips_at_the_crossing_frame(void **state)
{
    (void)state;
    static buf_t w;
    w.n = 0;
    client_start(&w);
    size_t crossing = 0;
    for (uint32_t i = 0; i < 200; i++) {
        headers(&w, 2 * i + 1);
        if (i == 100)
            crossing = w.n;
        rst(&w, 2 * i + 1);
    }
    static const size_t chunks[] = {1, 3, 9, 13, 100, 1 << 20};
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        h2guard_scan_t sc;
        ptrdiff_t cut = 0;
        size_t at = 0;
        h2guard_scan_init(&sc, &LIM, true, 0);
        assert_int_equal(feed_all(&sc, &w, chunks[k], 50, &cut, &at), H2G_TRIP);
        assert_int_equal((ptrdiff_t)at + cut, (ptrdiff_t)crossing);
        assert_true(cut >= -8);
        assert_int_equal(sc.total_resets, 101);
        assert_int_equal(sc.total_opens, 101);
        assert_int_equal(h2guard_scan_feed(&sc, w.b, 10, 60, &cut), H2G_DONE);
    }
}

/* Many streams, some reset: resets over the budget but not over half the streams. */
static void test_cancelling_some_of_many_is_no_flood(void **state)
{
    (void)state;
    static buf_t w;
    w.n = 0;
    client_start(&w);
    for (uint32_t i = 0; i < 2000; i++) {
        headers(&w, 2 * i + 1);
        if (i % 5 == 0)
            rst(&w, 2 * i + 1); /* 400 resets in 2000 streams */
    }
    h2guard_scan_t sc;
    ptrdiff_t cut;
    h2guard_scan_init(&sc, &LIM, true, 0);
    assert_int_equal(feed_all(&sc, &w, 4096, 0, &cut, NULL), H2G_OK);
    assert_int_equal(sc.total_resets, 400);
}

/* The window slides: 90 resets a second for 10 s is fine, 150 in one second is not. */
static void test_sliding_window(void **state)
{
    (void)state;
    static buf_t pair;
    h2guard_scan_t sc;
    ptrdiff_t cut;
    h2guard_scan_init(&sc, &LIM, true, 0);
    assert_int_equal(h2guard_scan_feed(&sc, (const uint8_t *)PREFACE, 24, 0, &cut), H2G_OK);
    uint32_t sid = 1;
    for (int64_t t = 0; t < 10000; t += 100) {
        for (int k = 0; k < 9; k++, sid += 2) {
            pair.n = 0;
            headers(&pair, sid);
            rst(&pair, sid);
            assert_int_equal(h2guard_scan_feed(&sc, pair.b, pair.n, t, &cut), H2G_OK);
        }
    }
    uint32_t r, o;
    h2guard_scan_rates(&sc, 9950, &r, &o);
    assert_true(r >= 85 && r <= 95);
    /* idle for two windows: nothing left */
    h2guard_scan_rates(&sc, 12500, &r, &o);
    assert_int_equal(r, 0);
    /* then a burst within 500 ms */
    h2guard_verdict_t v = H2G_OK;
    int n = 0;
    for (; n < 150 && v == H2G_OK; n++, sid += 2) {
        pair.n = 0;
        headers(&pair, sid);
        rst(&pair, sid);
        v = h2guard_scan_feed(&sc, pair.b, pair.n, 20000 + n * 3, &cut);
    }
    assert_int_equal(v, H2G_TRIP);
    assert_int_equal(n, 101);
}

/* Resync at a frame boundary: a preface is still recognised, frames are frames. */
static void test_resync_maybe_preface(void **state)
{
    (void)state;
    static buf_t w;
    h2guard_scan_t sc;
    ptrdiff_t cut;
    w.n = 0;
    client_start(&w);
    rst(&w, 1);
    h2guard_scan_init(&sc, &LIM, false, 0);
    assert_int_equal(feed_all(&sc, &w, 5, 0, &cut, NULL), H2G_OK);
    assert_int_equal(sc.frames, 2);
    assert_int_equal(sc.total_resets, 1);
    w.n = 0;
    settings(&w);
    rst(&w, 1);
    h2guard_scan_init(&sc, &LIM, false, 0);
    assert_int_equal(feed_all(&sc, &w, 1, 0, &cut, NULL), H2G_OK);
    assert_int_equal(sc.frames, 2);
    /* mid-payload resync: back to a frame boundary, counts kept */
    h2guard_scan_resync(&sc);
    w.n = 0;
    rst(&w, 3);
    assert_int_equal(feed_all(&sc, &w, 4096, 0, &cut, NULL), H2G_OK);
    assert_int_equal(sc.total_resets, 2);
}

/* The trigger: PRIORITY frames on fresh odd idle streams above any id seen, then
 * RST_STREAM on stream 0; another scanner reads exactly those frames. */
static void test_trigger_frames(void **state)
{
    (void)state;
    h2guard_scan_t sc;
    h2guard_scan_init(&sc, &LIM, true, 0);
    sc.max_opened = 41;
    sc.max_seen = 100;
    uint8_t out[2048];
    size_t n = h2guard_trigger_frames(&sc, 17, out, sizeof(out));
    assert_int_equal(n, 17 * 14 + 13);
    uint32_t expect = 101;
    for (int k = 0; k < 17; k++, expect += 2) {
        const uint8_t *f = out + k * 14;
        assert_int_equal(f[2], 5);
        assert_int_equal(f[3], 0x2);
        assert_int_equal((uint32_t)f[5] << 24 | f[6] << 16 | f[7] << 8 | f[8], expect);
    }
    const uint8_t *r = out + 17 * 14;
    assert_int_equal(r[3], 0x3);
    assert_int_equal(r[5] | r[6] | r[7] | r[8], 0);
    h2guard_scan_t back;
    ptrdiff_t cut;
    h2guard_scan_init(&back, &LIM, false, 0);
    assert_int_equal(h2guard_scan_feed(&back, out, n, 0, &cut), H2G_OK);
    assert_int_equal(back.frames, 18);
    assert_int_equal(back.total_resets, 1);
    /* stream ids run out: only the reset */
    sc.max_seen = 0x7ffffffd;
    assert_int_equal(h2guard_trigger_frames(&sc, 17, out, sizeof(out)), 14 + 13);
    sc.max_seen = 0x7fffffff;
    assert_int_equal(h2guard_trigger_frames(&sc, 17, out, sizeof(out)), 13);
    assert_int_equal(h2guard_trigger_frames(&sc, 17, out, 100), 0);
}

/* ---- the guard in front of h2o ---- */

typedef struct {
    h2o_globalconf_t conf;
    h2o_context_t ctx;
    h2o_accept_ctx_t actx;
    h2guard_t *g;
    int served;
    bool big; /* answer 64 KiB instead of "ok" */
} server_t;

static server_t *g_srv;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    g_srv->served++;
    static char big[65536];
    req->res.status = 200;
    req->res.reason = "OK";
    if (g_srv->big)
        h2o_send_inline(req, big, sizeof(big));
    else
        h2o_send_inline(req, H2O_STRLIT("ok"));
    return 0;
}

static void server_init(server_t *s)
{
    memset(s, 0, sizeof(*s));
    g_srv = s;
    h2o_config_init(&s->conf);
    s->conf.http1.upgrade_to_http2 = 0; /* as the gateway */
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = on_req;
    h2o_context_init(&s->ctx, h2o_evloop_create(), &s->conf);
    s->actx.ctx = &s->ctx;
    s->actx.hosts = s->conf.hosts;
    s->g = h2guard_new(&s->ctx, &LIM);
}

static void server_dispose(server_t *s)
{
    h2o_evloop_t *loop = s->ctx.loop;
    for (int i = 0; i < 5; i++)
        h2o_evloop_run(loop, 0);
    h2guard_free(s->g);
    h2o_context_dispose(&s->ctx);
    h2o_evloop_destroy(loop);
    h2o_config_dispose(&s->conf);
}

/* A client socket whose server end is accepted through the guard. */
static int connect_client(server_t *s)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    h2o_socket_t *sock = h2o_evloop_socket_create(s->ctx.loop, sv[0], 0);
    h2guard_accept(s->g, &s->actx, sock);
    return sv[1];
}

static void send_all(int fd, const buf_t *w)
{
    for (size_t off = 0; off < w->n;) {
        ssize_t n = write(fd, w->b + off, w->n - off);
        if (n < 0 && errno == EAGAIN) {
            h2o_evloop_run(g_srv->ctx.loop, 1);
            continue;
        }
        assert_true(n > 0);
        off += (size_t)n;
    }
}

/* Runs the server loop for up to ms, collecting what it writes; true if it closed. */
static bool pump(int fd, buf_t *in, int ms)
{
    for (int i = 0; i < ms; i++) {
        h2o_evloop_run(g_srv->ctx.loop, 1);
        for (;;) {
            ssize_t n = read(fd, in->b + in->n, sizeof(in->b) - in->n);
            if (n == 0)
                return true;
            if (n < 0)
                break;
            in->n += (size_t)n;
        }
    }
    return false;
}

typedef struct {
    int goaways;
    uint32_t goaway_error;
    int responses; /* HEADERS from the server */
} seen_t;

static seen_t parse_server(const buf_t *in, size_t from)
{
    seen_t s = {0};
    for (size_t off = from; off + 9 <= in->n;) {
        const uint8_t *f = in->b + off;
        uint32_t len = (uint32_t)f[0] << 16 | f[1] << 8 | f[2];
        if (off + 9 + len > in->n)
            break;
        if (f[3] == 0x7 && len >= 8) {
            s.goaways++;
            s.goaway_error = (uint32_t)f[13] << 24 | f[14] << 16 | f[15] << 8 | f[16];
        } else if (f[3] == 0x1) {
            s.responses++;
        }
        off += 9 + len;
    }
    return s;
}

static void test_flood_gets_goaway_and_close(void **state)
{
    (void)state;
    static server_t s;
    static buf_t w, in;
    server_init(&s);
    int fd = connect_client(&s);
    w.n = in.n = 0;
    client_start(&w);
    for (uint32_t i = 0; i < 1000; i++) {
        headers(&w, 2 * i + 1);
        rst(&w, 2 * i + 1);
    }
    send_all(fd, &w);
    assert_true(pump(fd, &in, 2000)); /* GOAWAY, then end of stream */
    seen_t seen = parse_server(&in, 0);
    assert_int_equal(seen.goaways, 1);
    assert_int_equal(seen.goaway_error, 0xb); /* ENHANCE_YOUR_CALM */
    assert_int_equal(h2guard_stats(s.g).floods, 1);
    assert_true(s.served <= 101); /* nothing after the cut reached the handler */
    /* lingering close: what the client still sends is drained, not answered by a reset */
    assert_int_equal(h2guard_stats(s.g).lingering, 1);
    send_all(fd, &w);
    assert_true(pump(fd, &in, 10));
    close(fd);
    for (int i = 0; i < 50 && h2guard_stats(s.g).lingering > 0; i++)
        h2o_evloop_run(s.ctx.loop, 1);
    assert_int_equal(h2guard_stats(s.g).lingering, 0);
    server_dispose(&s);
}

/* Four thousand streams, one in five reset, over several reads: no GOAWAY. */
static void test_some_resets_keep_the_connection(void **state)
{
    (void)state;
    static server_t s;
    static buf_t w, in;
    server_init(&s);
    int fd = connect_client(&s);
    in.n = 0;
    w.n = 0;
    client_start(&w);
    send_all(fd, &w);
    uint32_t sid = 1;
    for (int round = 0; round < 40; round++) {
        w.n = 0;
        for (int k = 0; k < 50; k++, sid += 2) {
            headers(&w, sid);
            if (k % 5 == 0)
                rst(&w, sid);
        }
        send_all(fd, &w);
        assert_false(pump(fd, &in, 5));
    }
    assert_false(pump(fd, &in, 50));
    seen_t seen = parse_server(&in, 0);
    assert_int_equal(seen.goaways, 0);
    assert_true(seen.responses >= 1500);
    assert_int_equal(h2guard_stats(s.g).floods, 0);
    close(fd);
    server_dispose(&s);
}

/* Writes w from *off on while the server loop runs, for up to about ms (the server may
 * stop reading). */
static void send_for(int fd, const buf_t *w, size_t *off, int ms)
{
    for (int i = 0; i < ms && *off < w->n;) {
        ssize_t n = write(fd, w->b + *off, w->n - *off);
        if (n > 0) {
            *off += (size_t)n;
            continue;
        }
        assert_true(n < 0 && errno == EAGAIN);
        h2o_evloop_run(g_srv->ctx.loop, 1);
        i++;
    }
}

/* h2o 2.2.5 (Debian, with 2.2.6's fix for control-frame floods) stops reading while over
 * 512 KiB of its output waits, and sets its read callback again when a write completes:
 * here PING answers pile up behind unread 64 KiB answers. The next sweep puts the guard
 * back in front, and a flood after that is answered. */
static void test_guard_is_back_after_backpressure(void **state)
{
    (void)state;
    static server_t s;
    static buf_t w, pings, in;
    server_init(&s);
    s.big = true;
    int fd = connect_client(&s);
    w.n = pings.n = in.n = 0;
    put(&w, PREFACE, 24);
    /* INITIAL_WINDOW_SIZE and the connection window at 2^31-1: h2o may send it all */
    frame(&w, 0x4, 0, 0, (uint8_t[]){0, 4, 0x7f, 0xff, 0xff, 0xff}, 6);
    frame(&w, 0x8, 0, 0, (uint8_t[]){0x7f, 0xff, 0, 0}, 4);
    for (uint32_t i = 0; i < 8; i++)
        headers(&w, 2 * i + 1);
    size_t off = 0, poff = 0;
    send_for(fd, &w, &off, 1000);
    assert_int_equal(off, w.n);
    for (int i = 0; i < 50; i++)
        h2o_evloop_run(s.ctx.loop, 1); /* its socket fills: a write stays in flight */
    for (int i = 0; i < 40000; i++)
        frame(&pings, 0x6, 0, 0, "pingpong", 8);
    send_for(fd, &pings, &poff, 300); /* h2o stops reading at 512 KiB of answers */
    assert_int_equal(h2guard_stats(s.g).rewraps, 0);
    for (int round = 0; round < 100 && (poff < pings.n || round < 5); round++) {
        assert_false(pump(fd, &in, H2GUARD_SWEEP_MS / 10));
        send_for(fd, &pings, &poff, 10);
    }
    assert_false(pump(fd, &in, 3 * H2GUARD_SWEEP_MS));
    assert_int_equal(poff, pings.n);
    assert_true(h2guard_stats(s.g).rewraps >= 1);
    w.n = 0;
    for (uint32_t i = 8; i < 1008; i++) {
        headers(&w, 2 * i + 1);
        rst(&w, 2 * i + 1);
    }
    off = 0;
    send_for(fd, &w, &off, 1000);
    assert_true(pump(fd, &in, 2000));
    seen_t seen = parse_server(&in, 0);
    assert_int_equal(seen.goaways, 1);
    assert_int_equal(seen.goaway_error, 0xb);
    assert_int_equal(h2guard_stats(s.g).floods, 1);
    assert_true(s.served <= 8 + 101);
    close(fd);
    server_dispose(&s);
}

/* Prior knowledge split over reads (the accept waits for the whole preface). */
static void test_preface_in_pieces(void **state)
{
    (void)state;
    static server_t s;
    static buf_t w, in;
    server_init(&s);
    int fd = connect_client(&s);
    w.n = in.n = 0;
    client_start(&w);
    headers(&w, 1);
    for (size_t off = 0; off < w.n; off += 5) {
        buf_t *piece = &in; /* reuse as scratch: nothing read yet */
        piece->n = 0;
        put(piece, w.b + off, w.n - off < 5 ? w.n - off : 5);
        send_all(fd, piece);
        for (int i = 0; i < 3; i++)
            h2o_evloop_run(g_srv->ctx.loop, 1);
    }
    in.n = 0;
    assert_false(pump(fd, &in, 50));
    seen_t seen = parse_server(&in, 0);
    assert_int_equal(seen.responses, 1);
    assert_int_equal(s.served, 1);
    close(fd);
    server_dispose(&s);
}

/* With upgrade_to_http2 off (as the gateway sets it), Upgrade: h2c gets HTTP/1.1. */
static void test_no_h2c_upgrade(void **state)
{
    (void)state;
    static server_t s;
    static buf_t w, in;
    server_init(&s);
    int fd = connect_client(&s);
    w.n = in.n = 0;
    const char *up = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                     "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    put(&w, up, strlen(up));
    send_all(fd, &w);
    (void)pump(fd, &in, 50); /* h2o closes after answering a request asking to upgrade */
    assert_true(in.n > 15 && memcmp(in.b, "HTTP/1.1 200 OK", 15) == 0);
    close(fd);
    server_dispose(&s);
}

/* HTTP/1.1 is passed through untouched (and the guard lets go of it). */
static void test_http1_untouched(void **state)
{
    (void)state;
    static server_t s;
    static buf_t w, in;
    server_init(&s);
    int fd = connect_client(&s);
    w.n = in.n = 0;
    for (int i = 0; i < 3; i++)
        put(&w, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    send_all(fd, &w);
    assert_false(pump(fd, &in, 50));
    int oks = 0;
    for (const uint8_t *p = in.b; (p = memmem(p, in.n - (size_t)(p - in.b), "200 OK", 6)); p++)
        oks++;
    assert_int_equal(oks, 3);
    close(fd);
    server_dispose(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_in_any_chunking),
        cmocka_unit_test(test_not_http2),
        cmocka_unit_test(test_padding_and_payloads_are_skipped),
        cmocka_unit_test(test_trailers_and_priority),
        cmocka_unit_test(test_flood_trips_at_the_crossing_frame),
        cmocka_unit_test(test_cancelling_some_of_many_is_no_flood),
        cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_resync_maybe_preface),
        cmocka_unit_test(test_trigger_frames),
        cmocka_unit_test(test_flood_gets_goaway_and_close),
        cmocka_unit_test(test_some_resets_keep_the_connection),
        cmocka_unit_test(test_guard_is_back_after_backpressure),
        cmocka_unit_test(test_preface_in_pieces),
        cmocka_unit_test(test_no_h2c_upgrade),
        cmocka_unit_test(test_http1_untouched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
