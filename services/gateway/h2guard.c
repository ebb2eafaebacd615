/* h2guard: see h2guard.h. The h2o side leans on these facts of libh2o 2.2.5 (Debian's
 * build, which has the 2.2.6 write back-pressure):
 *  - the evloop sets sock->bytes_read to the bytes the read that invokes the read
 *    callback appended to sock->input (decrypted bytes for TLS): the input's tail;
 *  - the HTTP/2 parser consumes whole frames only (and the 24-byte preface whole), so
 *    what it leaves in sock->input starts at a frame boundary, and the start of a frame
 *    whose header is still being read is still in the buffer;
 *  - h2o_http2_accept sets its read callback and parses what is already in the input;
 *    later h2o sets it again only when reading resumes after write back-pressure (the
 *    sweep then puts the guard back in front), or after an h2c Upgrade (turned off by the
 *    gateway: globalconf http1.upgrade_to_http2 = 0, so "PRI *" over HTTP/1 is refused
 *    too and HTTP/2 starts only here). */
#include "h2guard.h"

#include <h2o/http1.h>
#include <h2o/http2.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_util.h"

/* ---- the frame scanner ---- */

enum { ST_PREFACE, ST_MAYBE_PREFACE, ST_HEADER, ST_PAYLOAD, ST_NOT_H2, ST_DONE };

#define FRAME_HEADER          9
#define TYPE_HEADERS          0x1
#define TYPE_PRIORITY         0x2
#define TYPE_RST_STREAM       0x3
#define ERR_ENHANCE_YOUR_CALM 0xb
#define MAX_STREAM_ID         0x7fffffffu

static const uint8_t PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(PREFACE) - 1)

void h2guard_scan_init(h2guard_scan_t *sc, const h2guard_limits_t *lim, bool expect_preface,
                       int64_t now_ms)
{
    memset(sc, 0, sizeof(*sc));
    sc->lim = *lim;
    if (sc->lim.window_ms == 0)
        sc->lim.window_ms = 1;
    sc->state = expect_preface ? ST_PREFACE : ST_MAYBE_PREFACE;
    sc->win_start_ms = now_ms;
}

void h2guard_scan_resync(h2guard_scan_t *sc)
{
    if (sc->state == ST_NOT_H2 || sc->state == ST_DONE)
        return;
    sc->state = ST_MAYBE_PREFACE;
    sc->have = 0;
    sc->skip = 0;
}

/* Moves the window on to now_ms: the current counts become the previous ones (or both
 * empty after two windows). */
static void roll(h2guard_scan_t *sc, int64_t now_ms)
{
    int64_t w = sc->lim.window_ms, gone = now_ms - sc->win_start_ms;
    if (gone < w)
        return;
    if (gone >= 2 * w) {
        sc->resets[1] = sc->opens[1] = 0;
    } else {
        sc->resets[1] = sc->resets[0];
        sc->opens[1] = sc->opens[0];
    }
    sc->resets[0] = sc->opens[0] = 0;
    sc->win_start_ms += (gone / w) * w;
}

/* The previous window counts in proportion to how much of it the sliding window covers. */
static uint32_t estimate(const h2guard_scan_t *sc, const uint32_t *counts, int64_t now_ms)
{
    int64_t w = sc->lim.window_ms, into = now_ms - sc->win_start_ms;
    if (into < 0)
        into = 0;
    if (into >= w)
        return counts[0];
    return counts[0] + (uint32_t)(((uint64_t)counts[1] * (uint64_t)(w - into)) / (uint64_t)w);
}

void h2guard_scan_rates(const h2guard_scan_t *sc, int64_t now_ms, uint32_t *resets, uint32_t *opens)
{
    h2guard_scan_t copy = *sc;
    roll(&copy, now_ms);
    *resets = estimate(&copy, copy.resets, now_ms);
    *opens = estimate(&copy, copy.opens, now_ms);
}

static bool over_budget(h2guard_scan_t *sc, int64_t now_ms)
{
    uint32_t resets, opens;
    h2guard_scan_rates(sc, now_ms, &resets, &opens);
    return resets > sc->lim.max_resets && (uint64_t)resets * 2 > (uint64_t)opens;
}

static uint32_t get24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t get31(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) &
           MAX_STREAM_ID;
}

/* A complete frame header: count it. True if it crossed the budget. */
static bool on_frame_header(h2guard_scan_t *sc, int64_t now_ms)
{
    uint32_t len = get24(sc->hdr), sid = get31(sc->hdr + 5);
    uint8_t type = sc->hdr[3];
    sc->frames++;
    sc->skip = len;
    sc->state = len > 0 ? ST_PAYLOAD : ST_HEADER;
    sc->have = 0;
    if (sid > sc->max_seen)
        sc->max_seen = sid;
    if (type == TYPE_HEADERS && (sid & 1) && sid > sc->max_opened) {
        sc->max_opened = sid;
        roll(sc, now_ms);
        sc->opens[0]++;
        sc->total_opens++;
    } else if (type == TYPE_RST_STREAM) {
        roll(sc, now_ms);
        sc->resets[0]++;
        sc->total_resets++;
        return over_budget(sc, now_ms);
    }
    return false;
}

/* Matches the preface. Returns the bytes used; on a mismatch sets *mismatch and leaves
 * the state to the caller. */
static size_t match_preface(h2guard_scan_t *sc, const uint8_t *p, size_t n, bool *mismatch)
{
    size_t want = PREFACE_LEN - sc->have, take = n < want ? n : want;
    for (size_t i = 0; i < take; i++) {
        if (p[i] != PREFACE[sc->have + i]) {
            *mismatch = true;
            return i;
        }
    }
    sc->have += (uint32_t)take;
    if (sc->have == PREFACE_LEN) {
        sc->state = ST_HEADER;
        sc->have = 0;
    }
    return take;
}

static h2guard_verdict_t feed(h2guard_scan_t *sc, const uint8_t *data, size_t len, int64_t now_ms,
                              ptrdiff_t *cut);

/* A mismatch while matching: not HTTP/2 when a preface was required; otherwise the bytes
 * matched so far were the start of a frame after all (h2o refuses a frame that long). */
static void preface_mismatch(h2guard_scan_t *sc, int64_t now_ms)
{
    ptrdiff_t unused;
    size_t matched = sc->have;
    if (sc->state == ST_PREFACE) {
        sc->state = ST_NOT_H2;
        return;
    }
    sc->state = ST_HEADER;
    sc->have = 0;
    (void)feed(sc, PREFACE, matched, now_ms, &unused);
}

static h2guard_verdict_t feed(h2guard_scan_t *sc, const uint8_t *data, size_t len, int64_t now_ms,
                              ptrdiff_t *cut)
{
    size_t i = 0;
    while (i < len) {
        switch (sc->state) {
        case ST_NOT_H2:
            return H2G_NOT_H2;
        case ST_DONE:
            return H2G_DONE;
        case ST_PREFACE:
        case ST_MAYBE_PREFACE: {
            bool mismatch = false;
            i += match_preface(sc, data + i, len - i, &mismatch);
            if (mismatch)
                preface_mismatch(sc, now_ms);
            break;
        }
        case ST_HEADER: {
            size_t take = FRAME_HEADER - sc->have;
            if (take > len - i)
                take = len - i;
            memcpy(sc->hdr + sc->have, data + i, take);
            sc->have += (uint32_t)take;
            i += take;
            if (sc->have == FRAME_HEADER && on_frame_header(sc, now_ms)) {
                sc->state = ST_DONE;
                *cut = (ptrdiff_t)i - FRAME_HEADER;
                return H2G_TRIP;
            }
            break;
        }
        case ST_PAYLOAD: {
            size_t take = sc->skip < len - i ? sc->skip : len - i;
            sc->skip -= (uint32_t)take;
            i += take;
            if (sc->skip == 0)
                sc->state = ST_HEADER;
            break;
        }
        }
    }
    if (sc->state == ST_NOT_H2)
        return H2G_NOT_H2;
    return sc->state == ST_DONE ? H2G_DONE : H2G_OK;
}

h2guard_verdict_t h2guard_scan_feed(h2guard_scan_t *sc, const uint8_t *data, size_t len,
                                    int64_t now_ms, ptrdiff_t *cut)
{
    *cut = 0;
    if (len == 0 && (sc->state == ST_NOT_H2 || sc->state == ST_DONE))
        return sc->state == ST_NOT_H2 ? H2G_NOT_H2 : H2G_DONE;
    return feed(sc, data, len, now_ms, cut);
}

static uint8_t *put_frame_header(uint8_t *p, uint32_t len, uint8_t type, uint32_t sid)
{
    *p++ = (uint8_t)(len >> 16);
    *p++ = (uint8_t)(len >> 8);
    *p++ = (uint8_t)len;
    *p++ = type;
    *p++ = 0; /* flags */
    *p++ = (uint8_t)(sid >> 24);
    *p++ = (uint8_t)(sid >> 16);
    *p++ = (uint8_t)(sid >> 8);
    *p++ = (uint8_t)sid;
    return p;
}

size_t h2guard_trigger_frames(const h2guard_scan_t *sc, unsigned nprio, uint8_t *out, size_t cap)
{
    if (cap < (size_t)nprio * (FRAME_HEADER + 5) + FRAME_HEADER + 4)
        return 0;
    uint8_t *p = out;
    uint64_t id = (uint64_t)(sc->max_seen > sc->max_opened ? sc->max_seen : sc->max_opened) + 1;
    if ((id & 1) == 0)
        id++;
    /* idle client streams given a priority: h2o counts them against
     * max_streams_for_priority and answers one too many with ENHANCE_YOUR_CALM */
    for (unsigned k = 0; k < nprio && id <= MAX_STREAM_ID; k++, id += 2) {
        p = put_frame_header(p, 5, TYPE_PRIORITY, (uint32_t)id);
        memset(p, 0, 4); /* depends on stream 0, not exclusive */
        p[4] = 15;       /* weight 16 */
        p += 5;
    }
    /* RST_STREAM on stream 0 is a connection error (PROTOCOL_ERROR) whatever came before */
    p = put_frame_header(p, 4, TYPE_RST_STREAM, 0);
    p[0] = p[1] = p[2] = 0;
    p[3] = ERR_ENHANCE_YOUR_CALM;
    p += 4;
    return (size_t)(p - out);
}

/* ---- h2o side ---- */

#define MAX_PRIO_FRAMES 64
#define TRIGGER_CAP     (MAX_PRIO_FRAMES * (FRAME_HEADER + 5) + FRAME_HEADER + 4)

struct h2guard {
    h2o_context_t *ctx;
    h2guard_limits_t lim;
    unsigned nprio;
    h2o_linklist_t conns; /* conn_guard_t of this loop's HTTP/2 connections */
    h2o_timeout_t sweep;
    h2o_timeout_entry_t sweep_entry;
    h2o_timeout_t linger; /* H2GUARD_LINGER_MS */
    unsigned lingering;   /* sockets draining after a GOAWAY */
    tm_counter_t *floods_metric;
    h2guard_stats_t stats;
};

/* One guarded connection. Reached from the socket through on_close.data (its on_close
 * hook chains the one it replaced), so no table is needed. */
typedef struct {
    h2guard_t *g;
    h2o_socket_t *sock;
    h2o_linklist_t link; /* in g->conns */
    h2o_socket_cb inner; /* h2o's read callback */
    void (*close_cb)(void *);
    void *close_data;
    h2guard_scan_t scan;
    int linger_fd; /* a dup of the socket's fd once answered, -1 before */
    bool in_read;  /* inside h2o's callback: a close then only marks it */
    bool closed;
} conn_guard_t;

static void linger(h2guard_t *g, int fd);

static void guarded_read(h2o_socket_t *sock, const char *err);

static int64_t loop_now(const h2guard_t *g)
{
    return (int64_t)h2o_now(g->ctx->loop);
}

static void on_guarded_close(void *data)
{
    conn_guard_t *cg = data;
    void (*cb)(void *) = cg->close_cb;
    void *cb_data = cg->close_data;
    if (cg->linger_fd >= 0 && cg->g != NULL)
        linger(cg->g, cg->linger_fd);
    else if (cg->linger_fd >= 0)
        close(cg->linger_fd);
    if (h2o_linklist_is_linked(&cg->link))
        h2o_linklist_unlink(&cg->link);
    cg->closed = true;
    if (!cg->in_read)
        free(cg);
    if (cb != NULL)
        cb(cb_data);
}

static conn_guard_t *attach(h2guard_t *g, h2o_socket_t *sock)
{
    conn_guard_t *cg = tm_xcalloc(1, sizeof(*cg));
    cg->g = g;
    cg->sock = sock;
    cg->close_cb = sock->on_close.cb;
    cg->close_data = sock->on_close.data;
    sock->on_close.cb = on_guarded_close;
    sock->on_close.data = cg;
    cg->linger_fd = -1;
    h2o_linklist_insert(&g->conns, &cg->link);
    h2guard_scan_init(&cg->scan, &g->lim, true, loop_now(g));
    return cg;
}

/* Puts guarded_read in front of whatever read callback h2o set (none: reading stopped;
 * the sweep looks again later). */
static void wrap(conn_guard_t *cg)
{
    h2o_socket_t *sock = cg->sock;
    if (sock->_cb.read != NULL && sock->_cb.read != guarded_read) {
        cg->inner = sock->_cb.read;
        sock->_cb.read = guarded_read;
    }
}

static void log_flood(conn_guard_t *cg)
{
    struct sockaddr_storage ss;
    char host[NI_MAXHOST] = "?", resets[24], opens[24];
    socklen_t len = h2o_socket_getpeername(cg->sock, (struct sockaddr *)&ss);
    if (len == 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(host, sizeof(host), "?");
    uint32_t r, o;
    h2guard_scan_rates(&cg->scan, loop_now(cg->g), &r, &o);
    snprintf(resets, sizeof(resets), "%u", r);
    snprintf(opens, sizeof(opens), "%u", o);
    tm_log_kv(TM_LOG_WARN, NULL, "http2 rapid reset: connection closed with GOAWAY",
              (const char *[]){"peer", host, "resets_per_window", resets, "streams_per_window",
                               opens, NULL});
}

/* Cuts the input at `at` (a frame boundary) and appends the frames that make h2o send
 * GOAWAY and close: the frames before the cut are still handled. */
static void answer_flood(conn_guard_t *cg, size_t at)
{
    uint8_t frames[TRIGGER_CAP];
    size_t n = h2guard_trigger_frames(&cg->scan, cg->g->nprio, frames, sizeof(frames));
    cg->sock->input->size = at;
    h2o_iovec_t room = h2o_buffer_reserve(&cg->sock->input, n);
    if (room.base == NULL)
        return; /* out of memory: h2o's own read then fails and closes */
    memcpy(room.base, frames, n);
    cg->sock->input->size += n;
    /* h2o closes right after writing the GOAWAY; a client still sending would then get a
     * reset, and may lose the GOAWAY with it: keep the connection for a lingering close */
    cg->linger_fd = fcntl(h2o_socket_get_fd(cg->sock), F_DUPFD_CLOEXEC, 0);
    h2o_linklist_unlink(&cg->link); /* closing: the sweep has nothing more to do with it */
    cg->g->stats.floods++;
    tm_counter_add(cg->g->floods_metric, 1);
    log_flood(cg);
}

/* Scans the last n bytes of the input (the ones h2o has not seen yet). */
static void inspect(conn_guard_t *cg, size_t n)
{
    h2o_buffer_t *in = cg->sock->input;
    if (n > in->size)
        n = in->size;
    if (n == 0)
        return;
    size_t start = in->size - n;
    ptrdiff_t cut = 0;
    h2guard_verdict_t v =
        h2guard_scan_feed(&cg->scan, (const uint8_t *)in->bytes + start, n, loop_now(cg->g), &cut);
    if (v == H2G_TRIP) {
        ptrdiff_t at = (ptrdiff_t)start + cut;
        answer_flood(cg, at < 0 ? 0 : (size_t)at);
    } else if (v == H2G_DONE) {
        in->size = start; /* the connection is closing: h2o gets nothing more */
    }
    /* H2G_NOT_H2 (no preface after all): h2o refuses the connection itself */
}

static void guarded_read(h2o_socket_t *sock, const char *err)
{
    /* the wrapper is installed only together with the on_close hook */
    conn_guard_t *cg = sock->on_close.data;
    if (cg->g != NULL)
        inspect(cg, sock->bytes_read);
    cg->in_read = true;
    cg->inner(sock, err);
    cg->in_read = false;
    if (cg->closed)
        free(cg);
}

/* ---- lingering close after a GOAWAY ---- */

/* The client's socket after h2o closed its own descriptor: our send side is shut (a FIN
 * after the GOAWAY) and what the client still sends is read and dropped, until it closes
 * or H2GUARD_LINGER_MS pass. */
typedef struct {
    h2guard_t *g;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout;
} linger_t;

static void linger_end(linger_t *l)
{
    h2o_timeout_unlink(&l->timeout);
    l->g->lingering--;
    h2o_socket_close(l->sock);
    free(l);
}

static void linger_read(h2o_socket_t *sock, const char *err)
{
    linger_t *l = sock->data;
    if (err != NULL) {
        linger_end(l);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

static void linger_timeout(h2o_timeout_entry_t *entry)
{
    linger_end(H2O_STRUCT_FROM_MEMBER(linger_t, timeout, entry));
}

static void linger(h2guard_t *g, int fd)
{
    if (shutdown(fd, SHUT_WR) != 0 || g->lingering >= H2GUARD_MAX_LINGER) {
        close(fd);
        return;
    }
    linger_t *l = tm_xcalloc(1, sizeof(*l));
    l->g = g;
    l->sock = h2o_evloop_socket_create(g->ctx->loop, fd, 0);
    l->sock->data = l;
    l->timeout.cb = linger_timeout;
    g->lingering++;
    h2o_timeout_link(g->ctx->loop, &g->linger, &l->timeout);
    h2o_socket_read_start(l->sock, linger_read);
}

/* h2o replaced guarded_read (reading resumed after write back-pressure): guard again
 * from what it left unparsed, which starts at a frame boundary. */
static void on_sweep(h2o_timeout_entry_t *entry)
{
    h2guard_t *g = H2O_STRUCT_FROM_MEMBER(h2guard_t, sweep_entry, entry);
    for (h2o_linklist_t *n = g->conns.next; n != &g->conns; n = n->next) {
        conn_guard_t *cg = H2O_STRUCT_FROM_MEMBER(conn_guard_t, link, n);
        h2o_socket_cb cb = cg->sock->_cb.read;
        if (cb == NULL || cb == guarded_read)
            continue;
        g->stats.rewraps++;
        h2guard_scan_resync(&cg->scan);
        wrap(cg);
        inspect(cg, cg->sock->input->size);
    }
    h2o_timeout_link(g->ctx->loop, &g->sweep, &g->sweep_entry);
}

h2guard_t *h2guard_new(h2o_context_t *ctx, const h2guard_limits_t *lim)
{
    h2guard_t *g = tm_xcalloc(1, sizeof(*g));
    g->ctx = ctx;
    g->lim = *lim;
    h2o_linklist_init_anchor(&g->conns);
    size_t prio = ctx->globalconf->http2.max_streams_for_priority + 1;
    g->nprio = prio <= MAX_PRIO_FRAMES ? (unsigned)prio : 0; /* 0: RST_STREAM 0 alone */
    g->floods_metric =
        tm_metrics_counter("tm_gateway_h2_rapid_reset_total",
                           "HTTP/2 connections closed with GOAWAY for a rapid-reset flood", NULL);
    h2o_timeout_init(ctx->loop, &g->sweep, H2GUARD_SWEEP_MS);
    h2o_timeout_init(ctx->loop, &g->linger, H2GUARD_LINGER_MS);
    g->sweep_entry.cb = on_sweep;
    h2o_timeout_link(ctx->loop, &g->sweep, &g->sweep_entry);
    return g;
}

void h2guard_free(h2guard_t *g)
{
    if (g == NULL)
        return;
    h2o_timeout_unlink(&g->sweep_entry);
    h2o_timeout_dispose(g->ctx->loop, &g->sweep);
    while (!h2o_linklist_is_empty(&g->linger._entries))
        linger_timeout(H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, g->linger._entries.next));
    h2o_timeout_dispose(g->ctx->loop, &g->linger);
    while (!h2o_linklist_is_empty(&g->conns)) {
        conn_guard_t *cg = H2O_STRUCT_FROM_MEMBER(conn_guard_t, link, g->conns.next);
        h2o_linklist_unlink(&cg->link); /* the socket keeps it until it closes, unguarded */
        cg->g = NULL;
    }
    free(g);
}

h2guard_stats_t h2guard_stats(const h2guard_t *g)
{
    h2guard_stats_t st = g->stats;
    st.lingering = g->lingering;
    return st;
}

/* ---- accept: HTTP/2 is recognised before h2o sees a byte ---- */

/* A socket being accepted: TLS handshake, or (cleartext) the first bytes. Bounded by
 * ctx->handshake_timeout like h2o's own accept. */
typedef struct {
    h2guard_t *g;
    h2o_accept_ctx_t *actx;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout;
    struct timeval connected_at;
} pending_accept_t;

static void on_accept_timeout(h2o_timeout_entry_t *entry)
{
    pending_accept_t *a = H2O_STRUCT_FROM_MEMBER(pending_accept_t, timeout, entry);
    h2o_socket_t *sock = a->sock;
    sock->data = NULL;
    free(a);
    h2o_socket_close(sock);
}

static pending_accept_t *take_pending(h2o_socket_t *sock)
{
    pending_accept_t *a = sock->data;
    sock->data = NULL;
    h2o_timeout_unlink(&a->timeout);
    return a;
}

/* HTTP/2 from its first byte: the guard scans what came with the accept (h2o_http2_accept
 * parses it at once), then sits in front of h2o's read callback. */
static void accept_h2(h2guard_t *g, h2o_accept_ctx_t *actx, h2o_socket_t *sock, struct timeval at)
{
    conn_guard_t *cg = attach(g, sock);
    inspect(cg, sock->input->size);
    cg->in_read = true;
    h2o_http2_accept(actx, sock, at);
    cg->in_read = false;
    if (cg->closed) {
        free(cg);
        return;
    }
    wrap(cg);
}

static bool alpn_is_h2(h2o_socket_t *sock)
{
    h2o_iovec_t proto = h2o_socket_ssl_get_selected_protocol(sock);
    for (const h2o_iovec_t *p = h2o_http2_alpn_protocols; p->len != 0; p++)
        if (proto.len == p->len && memcmp(proto.base, p->base, p->len) == 0)
            return true;
    return false;
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    pending_accept_t *a = take_pending(sock);
    h2guard_t *g = a->g;
    h2o_accept_ctx_t *actx = a->actx;
    struct timeval at = a->connected_at;
    free(a);
    if (err != NULL)
        h2o_socket_close(sock);
    else if (alpn_is_h2(sock))
        accept_h2(g, actx, sock, at);
    else
        h2o_http1_accept(actx, sock, at);
}

/* Cleartext: the client preface makes it HTTP/2 (prior knowledge), anything else goes to
 * h2o's HTTP/1 with the bytes read so far. */
static void on_first_bytes(h2o_socket_t *sock, const char *err)
{
    pending_accept_t *a = sock->data;
    size_t n = sock->input->size < PREFACE_LEN ? sock->input->size : PREFACE_LEN;
    bool maybe_h2 = memcmp(sock->input->bytes, PREFACE, n) == 0;
    if (err == NULL && maybe_h2 && n < PREFACE_LEN)
        return; /* wait for the rest of the preface */
    a = take_pending(sock);
    h2guard_t *g = a->g;
    h2o_accept_ctx_t *actx = a->actx;
    struct timeval at = a->connected_at;
    free(a);
    h2o_socket_read_stop(sock);
    if (err != NULL)
        h2o_socket_close(sock);
    else if (maybe_h2)
        accept_h2(g, actx, sock, at);
    else
        h2o_http1_accept(actx, sock, at);
}

void h2guard_accept(h2guard_t *g, h2o_accept_ctx_t *actx, h2o_socket_t *sock)
{
    if (actx->expect_proxy_line) {
        h2o_accept(actx, sock); /* not used by the gateway: unguarded */
        return;
    }
    pending_accept_t *a = tm_xcalloc(1, sizeof(*a));
    a->g = g;
    a->actx = actx;
    a->sock = sock;
    a->connected_at = *h2o_get_timestamp(actx->ctx, NULL, NULL);
    a->timeout.cb = on_accept_timeout;
    h2o_timeout_link(actx->ctx->loop, &actx->ctx->handshake_timeout, &a->timeout);
    sock->data = a;
    if (actx->ssl_ctx != NULL)
        h2o_socket_ssl_handshake(sock, actx->ssl_ctx, NULL, on_handshake);
    else
        h2o_socket_read_start(sock, on_first_bytes);
}
