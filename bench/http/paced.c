/*
 * paced: an open-loop (fixed-rate) HTTP/1.1 load generator for bench/http.
 *
 * wrk is closed-loop: a connection sends its next request only when the previous reply has
 * arrived, so a slow server is offered less load and its stalls are hidden (coordinated
 * omission), and with C connections at N req/s the mean latency is C/N by Little's law
 * whatever the server does. paced offers a fixed rate instead: request i is due at
 * t0 + i/R, goes out on the first idle keep-alive connection at or after that time, and its
 * latency runs from the due time to the end of its reply, so time spent waiting for a free
 * connection counts.
 *
 * One thread, epoll, non-blocking sockets, one request in flight per connection (no
 * pipelining), libc only. See usage() and bench/http/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S   1000000000ull
#define NS_PER_MS  1000000ull
#define HEAD_MAX   16384 /* status line and headers of a reply */
#define LINE_MAX_  256   /* a chunk-size or trailer line */
#define REQ_MAX    16384
#define PATH_MAX_  2048
#define HK_NS      (10 * NS_PER_MS) /* period of timeout checks, reconnects and late drops */
#define RETRY_NS   (10 * NS_PER_MS) /* back-off after a failed connect */
#define MAX_CONNS  10000
#define MAX_EVENTS 256
#define TIMER_TAG  UINT32_MAX

/* Log-linear histogram of microseconds: 1 us buckets below 1.024 ms, then 128 buckets per
 * octave (a bucket is at most 0.78% of its value wide) up to 2^26 us = 67 s. */
#define HIST_LINEAR   1024
#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_OCTAVES  16
#define HIST_BUCKETS  (HIST_LINEAR + HIST_OCTAVES * HIST_SUB)

typedef struct {
    uint64_t count[HIST_BUCKETS];
    uint64_t total;
    uint64_t max_ns;
} hist_t;

typedef enum {
    P_HEAD,
    P_LENGTH,
    P_CHUNK_SIZE,
    P_CHUNK_DATA,
    P_CHUNK_END,
    P_TRAILER,
    P_UNTIL_CLOSE,
    P_DONE
} pstate_t;

typedef struct {
    pstate_t st;
    int status;
    bool close;    /* the server closes the connection after this reply */
    uint64_t left; /* bytes left of a Content-Length body or of the current chunk */
    size_t head_len, line_len;
    char head[HEAD_MAX];
    char line[LINE_MAX_];
} parser_t;

typedef enum { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY } cstate_t;

/* One measured request at or over the -S threshold, kept in memory during the run (writing
 * it at once would add the generator's own stalls) and written to -L's file at the end. */
typedef struct {
    uint64_t due_ns, sent_ns, done_ns; /* CLOCK_MONOTONIC, as perf -k CLOCK_MONOTONIC uses */
    uint32_t conn;
    int status; /* 0: no reply (timeout, late, socket error) */
} slow_t;

#define SLOW_MAX 100000

typedef struct {
    int fd;
    cstate_t st;
    bool queued;   /* in the idle ring */
    bool measured; /* the request in flight was due after the warm-up */
    bool want_out; /* EPOLLOUT registered: connect or a partial write pending */
    uint64_t due_ns, sent_ns, retry_ns, connect_ns, idle_ns;
    size_t req_len, req_off;
    char req[REQ_MAX];
    parser_t p;
} conn_t;

typedef struct {
    /* options */
    int nconn;
    double rate, duration_s, warmup_s, timeout_s, late_ms;
    char host[256], port[16];
    const char *path;
    char **paths;
    size_t npaths;
    char user_headers[REQ_MAX / 2];
    size_t user_headers_len;
    bool user_host;
    char headers[REQ_MAX / 2 + 512]; /* Host, user headers, the empty line: fits in REQ_MAX */
    size_t headers_len;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    /* state */
    int ep, tfd;
    conn_t *conns;
    uint32_t *ring; /* idle connections, oldest first, so that all connections get used */
    size_t ring_head, ring_len;
    int idle, busy;
    uint64_t t0, t_measure, t_end, next, total, timer_at, hk_at, late_ns, timeout_ns, rng;
    /* results: requests due after the warm-up only */
    hist_t lat, lag; /* lag: due time to send when a connection was idle at the due time */
    uint64_t sent, queued, replies, non2xx, sock_errors, connect_errors, timeouts, late, reopens;
    uint64_t in_window;   /* replies, whenever due, completed between t_measure and t_end */
    uint64_t replies_all; /* warm-up included: what the server did while paced ran */
    /* -S / -L: the requests at or over slow_ns, for correlation with what ran at the time */
    uint64_t slow_ns, slow_count, mono_to_real_ns;
    const char *slow_file;
    slow_t *slow;
    size_t nslow;
} run_t;

static run_t R_;

/* ---- time and histogram ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static size_t hist_index(uint64_t us)
{
    if (us < HIST_LINEAR)
        return (size_t)us;
    unsigned k = 63u - (unsigned)__builtin_clzll(us); /* us in [2^k, 2^(k+1)), k >= 10 */
    if (k >= 10 + HIST_OCTAVES)
        return HIST_BUCKETS - 1;
    uint64_t sub = (us >> (k - HIST_SUB_BITS)) - HIST_SUB;
    return HIST_LINEAR + (k - 10) * HIST_SUB + (size_t)sub;
}

/* Midpoint of bucket I in ns. */
static uint64_t hist_mid_ns(size_t i)
{
    if (i < HIST_LINEAR)
        return (uint64_t)i * 1000 + 500;
    size_t o = (i - HIST_LINEAR) / HIST_SUB, s = (i - HIST_LINEAR) % HIST_SUB;
    uint64_t width = 1ull << (10 + o - HIST_SUB_BITS);
    return ((HIST_SUB + s) * width + width / 2) * 1000;
}

static void hist_add(hist_t *h, uint64_t ns)
{
    h->count[hist_index(ns / 1000)]++;
    h->total++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* Value at percentile Q (0 < Q <= 100) in ms: the bucket holding rank ceil(Q% of the count),
 * capped at the exact maximum. */
static double hist_pct_ms(const hist_t *h, double q)
{
    if (h->total == 0)
        return 0;
    double want = q / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want, seen = 0;
    if ((double)rank < want || rank == 0)
        rank++;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            uint64_t v = hist_mid_ns(i);
            return (double)(v < h->max_ns ? v : h->max_ns) / 1e6;
        }
    }
    return (double)h->max_ns / 1e6;
}

/* ---- reply parser (status line, Content-Length, chunked, read-until-close) ---- */

static void parser_reset(parser_t *p)
{
    p->st = P_HEAD;
    p->status = 0;
    p->close = false;
    p->left = 0;
    p->head_len = 0;
    p->line_len = 0;
}

/* The value of header line LINE (LEN bytes) if its name is NAME, else NULL. */
static const char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    return v;
}

static bool has_token(const char *v, const char *end, const char *tok)
{
    size_t n = strlen(tok);
    for (; v + n <= end; v++)
        if (strncasecmp(v, tok, n) == 0)
            return true;
    return false;
}

static int parse_length(const char *v, const char *end, uint64_t *out)
{
    uint64_t n = 0;
    const char *s = v;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (n > (1ull << 40))
            return -1;
        n = n * 10 + (uint64_t)(*s - '0');
    }
    *out = n;
    return s == v ? -1 : 0;
}

static int frame_body(parser_t *p, bool chunked, bool has_len, uint64_t len)
{
    if (p->status == 101)
        return -1;         /* never asked for an upgrade */
    if (p->status < 200) { /* interim reply: the real one follows */
        parser_reset(p);
        return 0;
    }
    if (p->status == 204 || p->status == 304)
        p->st = P_DONE;
    else if (chunked)
        p->st = P_CHUNK_SIZE;
    else if (has_len) {
        p->left = len;
        p->st = len ? P_LENGTH : P_DONE;
    } else {
        p->st = P_UNTIL_CLOSE;
        p->close = true;
    }
    return 0;
}

/* Parses the status line and headers in p->head[0, LEN) and sets how the body is framed. */
static int parse_head(parser_t *p, size_t len)
{
    const char *h = p->head, *end = h + len, *line;
    if (len < 12 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (h[i] < '0' || h[i] > '9')
            return -1;
    p->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    bool http10 = h[7] == '0', keep_alive = false, chunked = false, has_len = false;
    uint64_t clen = 0;
    for (line = (const char *)memchr(h, '\n', len) + 1; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line)), *v;
        size_t ll = (size_t)(eol - line);
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        if ((v = header_value(line, ll, "content-length")) != NULL) {
            if (parse_length(v, line + ll, &clen) < 0)
                return -1;
            has_len = true;
        } else if ((v = header_value(line, ll, "transfer-encoding")) != NULL) {
            chunked = has_token(v, line + ll, "chunked");
        } else if ((v = header_value(line, ll, "connection")) != NULL) {
            p->close = p->close || has_token(v, line + ll, "close");
            keep_alive = keep_alive || has_token(v, line + ll, "keep-alive");
        }
        line = eol + 1;
    }
    if (http10 && !keep_alive)
        p->close = true;
    return frame_body(p, chunked, has_len, clen);
}

static long feed_head(parser_t *p, const char *buf, size_t n)
{
    size_t old = p->head_len, take = HEAD_MAX - old;
    if (take > n)
        take = n;
    memcpy(p->head + old, buf, take);
    p->head_len += take;
    size_t from = old >= 3 ? old - 3 : 0;
    const char *e = memmem(p->head + from, p->head_len - from, "\r\n\r\n", 4);
    if (e == NULL)
        return p->head_len == HEAD_MAX ? -1 : (long)take;
    size_t head_end = (size_t)(e - p->head) + 4;
    if (parse_head(p, head_end) < 0)
        return -1;
    return (long)(head_end - old);
}

static long feed_counted(parser_t *p, size_t n)
{
    uint64_t take = p->left < n ? p->left : n;
    p->left -= take;
    if (p->left == 0)
        p->st = p->st == P_LENGTH ? P_DONE : P_CHUNK_END;
    return (long)take;
}

/* A chunk-size line, the CRLF after a chunk, or a trailer line, without its line end. */
static int on_line(parser_t *p)
{
    const char *l = p->line;
    size_t len = p->line_len, i = 0;
    uint64_t size = 0;
    p->line_len = 0;
    if (p->st == P_CHUNK_END) {
        p->st = P_CHUNK_SIZE;
        return len == 0 ? 0 : -1;
    }
    if (p->st == P_TRAILER) {
        if (len == 0)
            p->st = P_DONE;
        return 0;
    }
    for (; i < len && size < (1ull << 40); i++) {
        char c = l[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            break;
        size = size * 16 + (uint64_t)d;
    }
    if (i == 0 || (i < len && l[i] != ';' && l[i] != ' ' && l[i] != '\t'))
        return -1;
    p->left = size;
    p->st = size ? P_CHUNK_DATA : P_TRAILER;
    return 0;
}

static long feed_line(parser_t *p, const char *buf, size_t n)
{
    const char *nl = memchr(buf, '\n', n);
    size_t take = nl ? (size_t)(nl - buf) + 1 : n;
    if (p->line_len + take > LINE_MAX_)
        return -1;
    memcpy(p->line + p->line_len, buf, take);
    p->line_len += take;
    if (nl == NULL)
        return (long)take;
    p->line_len--;
    if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
        p->line_len--;
    return on_line(p) < 0 ? -1 : (long)take;
}

/* Feeds N bytes of a reply: returns how many it used (p->st is P_DONE once the reply is
 * complete; the rest belongs to no request) or -1 if the reply is malformed. */
static long parser_feed(parser_t *p, const char *buf, size_t n)
{
    size_t used = 0;
    while (used < n && p->st != P_DONE) {
        long r;
        switch (p->st) {
        case P_HEAD:
            r = feed_head(p, buf + used, n - used);
            break;
        case P_LENGTH:
        case P_CHUNK_DATA:
            r = feed_counted(p, n - used);
            break;
        case P_UNTIL_CLOSE:
            r = (long)(n - used);
            break;
        default:
            r = feed_line(p, buf + used, n - used);
            break;
        }
        if (r < 0)
            return -1;
        used += (size_t)r;
    }
    return (long)used;
}

/* ---- connections ---- */

static uint64_t due_ns(const run_t *r, uint64_t i)
{
    return r->t0 + (uint64_t)((double)i * 1e9 / r->rate);
}

static void ring_push(run_t *r, conn_t *c)
{
    if (c->queued)
        return;
    c->queued = true;
    r->ring[(r->ring_head + r->ring_len++) % (size_t)r->nconn] = (uint32_t)(c - r->conns);
}

/* The idle connection that has waited longest, or NULL. */
static conn_t *ring_pop(run_t *r)
{
    while (r->ring_len > 0) {
        conn_t *c = &r->conns[r->ring[r->ring_head]];
        r->ring_head = (r->ring_head + 1) % (size_t)r->nconn;
        r->ring_len--;
        c->queued = false;
        if (c->st == C_IDLE)
            return c;
    }
    return NULL;
}

static void epoll_set(run_t *r, conn_t *c, int op, bool out)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0u),
                             .data.u32 = (uint32_t)(c - r->conns)};
    c->want_out = out;
    if (epoll_ctl(r->ep, op, c->fd, &ev) < 0) {
        perror("paced: epoll_ctl");
        exit(1);
    }
}

static void set_idle(run_t *r, conn_t *c)
{
    c->st = C_IDLE;
    c->idle_ns = now_ns();
    r->idle++;
    ring_push(r, c);
}

static void count_connect_error(run_t *r, uint64_t now)
{
    if (now >= r->t_measure)
        r->connect_errors++;
}

static void conn_open(run_t *r, conn_t *c, uint64_t now)
{
    int one = 1;
    c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("paced: socket");
        exit(1);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->connect_ns = now;
    if (connect(c->fd, (struct sockaddr *)&r->addr, r->addrlen) == 0) {
        epoll_set(r, c, EPOLL_CTL_ADD, false);
        set_idle(r, c);
    } else if (errno == EINPROGRESS) {
        c->st = C_CONNECTING;
        epoll_set(r, c, EPOLL_CTL_ADD, true);
    } else {
        close(c->fd);
        c->fd = -1;
        c->st = C_DOWN;
        c->retry_ns = now + RETRY_NS;
        count_connect_error(r, now);
    }
}

/* Closes C (the caller has counted what happened to its request in flight, if any) and opens
 * a new connection now, or after RETRY_NS when this one never got connected. */
static void conn_restart(run_t *r, conn_t *c, uint64_t now)
{
    bool never_connected = c->st == C_CONNECTING;
    if (c->st == C_BUSY)
        r->busy--;
    if (c->st == C_IDLE)
        r->idle--;
    close(c->fd);
    c->fd = -1;
    c->st = C_DOWN;
    r->reopens++;
    if (never_connected)
        c->retry_ns = now + RETRY_NS;
    else
        conn_open(r, c, now);
}

static void request_failed(run_t *r, conn_t *c, uint64_t now)
{
    if (c->measured)
        r->sock_errors++;
    conn_restart(r, c, now);
}

/* Sends what is left of C's request; false if that failed and C was reopened. */
static bool conn_write(run_t *r, conn_t *c, uint64_t now)
{
    while (c->req_off < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->req_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                epoll_set(r, c, EPOLL_CTL_MOD, true);
            return true;
        } else {
            request_failed(r, c, now);
            return false;
        }
    }
    if (c->want_out)
        epoll_set(r, c, EPOLL_CTL_MOD, false);
    return true;
}

static const char *pick_path(run_t *r)
{
    if (r->npaths == 0)
        return r->path;
    r->rng ^= r->rng << 13; /* xorshift64 */
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->paths[r->rng % r->npaths];
}

static void send_request(run_t *r, conn_t *c, uint64_t due, uint64_t now)
{
    const char *path = pick_path(r);
    size_t plen = strlen(path);
    memcpy(c->req, "GET ", 4);
    memcpy(c->req + 4, path, plen);
    memcpy(c->req + 4 + plen, " HTTP/1.1\r\n", 11);
    memcpy(c->req + 15 + plen, r->headers, r->headers_len);
    c->req_len = 15 + plen + r->headers_len;
    c->req_off = 0;
    c->due_ns = due;
    c->sent_ns = now;
    c->measured = due >= r->t_measure;
    parser_reset(&c->p);
    c->st = C_BUSY;
    r->idle--;
    r->busy++;
    if (c->measured) {
        r->sent++;
        if (c->idle_ns <= due) /* the delay is the generator's own (it ran late) */
            hist_add(&r->lag, now - due);
        else /* every connection was busy at the due time */
            r->queued++;
    }
    (void)conn_write(r, c, now);
}

static void slow_note(run_t *r, uint64_t due, uint64_t sent, uint64_t now, uint32_t conn,
                      int status)
{
    if (r->slow_ns == 0 || now - due < r->slow_ns)
        return;
    r->slow_count++;
    if (r->slow != NULL && r->nslow < SLOW_MAX)
        r->slow[r->nslow++] = (slow_t){due, sent, now, conn, status};
}

static void reply_done(run_t *r, conn_t *c, uint64_t now)
{
    r->replies_all++;
    if (now >= r->t_measure && now < r->t_end)
        r->in_window++;
    if (c->measured) {
        hist_add(&r->lat, now - c->due_ns);
        slow_note(r, c->due_ns, c->sent_ns, now, (uint32_t)(c - r->conns), c->p.status);
        r->replies++;
        if (c->p.status < 200 || c->p.status > 299)
            r->non2xx++;
    }
    if (c->p.close) {
        conn_restart(r, c, now);
        return;
    }
    r->busy--;
    set_idle(r, c);
}

/* Reads what C has; a reply completes here, which is when its latency is taken. */
static void on_readable(run_t *r, conn_t *c)
{
    static char buf[65536];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        uint64_t now = now_ns();
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0 && c->st == C_BUSY && c->p.st == P_UNTIL_CLOSE) {
            reply_done(r, c, now);
            return;
        }
        if (n <= 0 || c->st != C_BUSY) { /* closed, reset, or bytes nobody asked for */
            if (c->st == C_BUSY)
                request_failed(r, c, now);
            else
                conn_restart(r, c, now);
            return;
        }
        long used = parser_feed(&c->p, buf, (size_t)n);
        if (used < 0 || (c->p.st == P_DONE && used < n)) {
            request_failed(r, c, now);
            return;
        }
        if (c->p.st == P_DONE) { /* no pipelining: nothing more is due on this connection */
            reply_done(r, c, now);
            return;
        }
    }
}

static void on_connected(run_t *r, conn_t *c, uint64_t now)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        count_connect_error(r, now);
        conn_restart(r, c, now);
        return;
    }
    epoll_set(r, c, EPOLL_CTL_MOD, false);
    set_idle(r, c);
}

static void on_event(run_t *r, conn_t *c, uint32_t events)
{
    if (c->st == C_CONNECTING) {
        on_connected(r, c, now_ns());
        return;
    }
    if (c->st == C_BUSY && c->want_out && (events & EPOLLOUT) && !conn_write(r, c, now_ns()))
        return; /* the events were those of the socket just closed */
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(r, c);
}

/* ---- schedule ---- */

/* Requests that could not be sent within the late bound are given up; they enter the
 * histogram at the time they had waited, so dropping them cannot make percentiles look
 * better than they were. */
static void give_up(run_t *r, uint64_t due, uint64_t now)
{
    if (due < r->t_measure)
        return;
    r->late++;
    hist_add(&r->lat, now - due);
    slow_note(r, due, 0, now, UINT32_MAX, 0);
}

static void dispatch(run_t *r, uint64_t now)
{
    while (r->next < r->total) {
        uint64_t due = due_ns(r, r->next);
        if (due > now)
            return;
        if (now - due > r->late_ns) {
            give_up(r, due, now);
            r->next++;
            continue;
        }
        conn_t *c = ring_pop(r);
        if (c == NULL)
            return;
        r->next++;
        send_request(r, c, due, now);
    }
}

static void housekeeping(run_t *r, uint64_t now)
{
    for (int i = 0; i < r->nconn; i++) {
        conn_t *c = &r->conns[i];
        if (c->st == C_BUSY && now - c->sent_ns > r->timeout_ns) {
            if (c->measured) {
                r->timeouts++;
                hist_add(&r->lat, now - c->due_ns);
                slow_note(r, c->due_ns, c->sent_ns, now, (uint32_t)i, 0);
            }
            conn_restart(r, c, now);
        } else if (c->st == C_CONNECTING && now - c->connect_ns > r->timeout_ns) {
            count_connect_error(r, now);
            conn_restart(r, c, now);
        } else if (c->st == C_DOWN && now >= c->retry_ns) {
            conn_open(r, c, now);
        }
    }
    r->hk_at = now + HK_NS;
}

/* Wakes the loop at the next due time (only when a connection is free to send it) or at the
 * next housekeeping, whichever is first. */
static void arm_timer(run_t *r)
{
    uint64_t at = r->hk_at;
    if (r->t0 != 0 && r->next < r->total && r->idle > 0) {
        uint64_t d = due_ns(r, r->next);
        if (d < at)
            at = d;
    }
    if (at == r->timer_at)
        return;
    struct itimerspec its = {
        .it_value = {.tv_sec = (time_t)(at / NS_PER_S), .tv_nsec = (long)(at % NS_PER_S)}};
    if (timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        perror("paced: timerfd_settime");
        exit(1);
    }
    r->timer_at = at;
}

static void handle_events(run_t *r)
{
    struct epoll_event ev[MAX_EVENTS];
    int n = epoll_wait(r->ep, ev, MAX_EVENTS, -1);
    if (n < 0 && errno != EINTR) {
        perror("paced: epoll_wait");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        if (ev[i].data.u32 == TIMER_TAG) {
            uint64_t ticks;
            if (read(r->tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                perror("paced: timerfd read");
            r->timer_at = 0;
        } else {
            on_event(r, &r->conns[ev[i].data.u32], ev[i].events);
        }
    }
}

/* Opens every connection and waits (at most 3 s) for them before the clock starts, so that
 * connection set-up does not count as latency. */
static void connect_all(run_t *r)
{
    uint64_t now = now_ns(), until = now + 3 * NS_PER_S;
    r->t_measure = UINT64_MAX; /* connect errors before the start are not counted */
    for (int i = 0; i < r->nconn; i++)
        conn_open(r, &r->conns[i], now);
    while (r->idle < r->nconn && (now = now_ns()) < until) {
        if (now >= r->hk_at)
            housekeeping(r, now);
        arm_timer(r);
        handle_events(r);
    }
    if (r->idle == 0) {
        fprintf(stderr, "paced: could not connect to %s:%s\n", r->host, r->port);
        exit(1);
    }
}

static void run_schedule(run_t *r)
{
    r->t0 = now_ns();
    r->t_measure = r->t0 + (uint64_t)(r->warmup_s * 1e9);
    r->t_end = r->t_measure + (uint64_t)(r->duration_s * 1e9);
    uint64_t end = due_ns(r, r->total) + r->late_ns + r->timeout_ns + NS_PER_S;
    for (;;) {
        uint64_t now = now_ns();
        if ((r->next >= r->total && r->busy == 0) || now >= end)
            break;
        if (now >= r->hk_at)
            housekeeping(r, now);
        dispatch(r, now);
        arm_timer(r);
        handle_events(r);
    }
    uint64_t now = now_ns(); /* only after the safety bound: count what is left */
    for (; r->next < r->total; r->next++)
        give_up(r, due_ns(r, r->next), now);
    for (int i = 0; i < r->nconn; i++)
        if (r->conns[i].st == C_BUSY && r->conns[i].measured)
            r->timeouts++;
}

/* ---- options and report ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: paced -c CONNS -R REQ_PER_S -d SECONDS [-w WARMUP_S] [-H 'Name: value']...\n"
            "             [-s PATHS_FILE] [-t TIMEOUT_S] [-l LATE_MS] [-S SLOW_MS -L FILE]\n"
            "             http://HOST:PORT[/PATH]\n"
            "Offers REQ_PER_S GET requests per second (request i due at t0 + i/R) over CONNS\n"
            "keep-alive connections, one request in flight per connection; latency is measured\n"
            "from each request's due time to the end of its reply. -s: one path per line, one\n"
            "picked at random per request (else the URL's path). -t: reply timeout (default\n"
            "10 s). -l: a request not sent LATE_MS after its due time because every connection\n"
            "is busy is given up and counted as late (default 1000). -S/-L: every measured\n"
            "request whose latency is >= SLOW_MS is written to FILE at the end, one line each:\n"
            "due, sent and done times (CLOCK_MONOTONIC s, as perf -k CLOCK_MONOTONIC; sent 0\n"
            "when never sent), the due time as UTC wall clock, latency and queueing ms,\n"
            "connection, HTTP status (0: none).\n");
    exit(2);
}

static double parse_num(const char *s, const char *what, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || (*end != '\0' && strcmp(end, "s") != 0) || !(v >= lo && v <= hi)) {
        fprintf(stderr, "paced: bad %s '%s' (want %g..%g)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static void add_header(run_t *r, const char *h)
{
    size_t n = strlen(h);
    if (strchr(h, ':') == NULL || strpbrk(h, "\r\n") != NULL ||
        r->user_headers_len + n + 2 >= sizeof r->user_headers) {
        fprintf(stderr, "paced: bad or too long header '%s'\n", h);
        exit(2);
    }
    memcpy(r->user_headers + r->user_headers_len, h, n);
    memcpy(r->user_headers + r->user_headers_len + n, "\r\n", 2);
    r->user_headers_len += n + 2;
    r->user_host = r->user_host || strncasecmp(h, "host:", 5) == 0;
}

static void load_paths(run_t *r, const char *file)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t n;
    if (f == NULL) {
        perror(file);
        exit(2);
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (line[0] != '/' || n >= PATH_MAX_ || strpbrk(line, " \t") != NULL) {
            fprintf(stderr, "paced: %s: not a path: '%s'\n", file, line);
            exit(2);
        }
        if (r->npaths == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            r->paths = realloc(r->paths, alloc * sizeof *r->paths);
        }
        if (r->paths == NULL || (r->paths[r->npaths++] = strdup(line)) == NULL)
            abort();
    }
    free(line);
    fclose(f);
    if (r->npaths == 0) {
        fprintf(stderr, "paced: %s: no paths\n", file);
        exit(2);
    }
}

static void parse_url(run_t *r, const char *url)
{
    const char *h = url + 7, *slash, *colon;
    if (strncmp(url, "http://", 7) != 0)
        usage();
    slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    colon = memchr(h, ':', hl);
    size_t namel = colon ? (size_t)(colon - h) : hl;
    size_t portl = colon ? hl - namel - 1 : 2;
    if (namel == 0 || namel >= sizeof r->host || portl == 0 || portl >= sizeof r->port)
        usage();
    memcpy(r->host, h, namel);
    memcpy(r->port, colon ? colon + 1 : "80", portl);
    r->path = slash ? slash : "/";
    if (strlen(r->path) >= PATH_MAX_ || strpbrk(r->path, " \t\r\n") != NULL)
        usage();
}

static void resolve(run_t *r)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(r->host, r->port, &hints, &ai);
    if (rc != 0) {
        fprintf(stderr, "paced: %s:%s: %s\n", r->host, r->port, gai_strerror(rc));
        exit(2);
    }
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static void parse_args(run_t *r, int argc, char **argv)
{
    int o;
    r->timeout_s = 10;
    r->late_ms = 1000;
    while ((o = getopt(argc, argv, "c:R:d:w:H:s:t:l:S:L:")) != -1) {
        switch (o) {
        case 'c':
            r->nconn = (int)parse_num(optarg, "-c", 1, MAX_CONNS);
            break;
        case 'R':
            r->rate = parse_num(optarg, "-R", 0.001, 1e7);
            break;
        case 'd':
            r->duration_s = parse_num(optarg, "-d", 0.001, 86400);
            break;
        case 'w':
            r->warmup_s = parse_num(optarg, "-w", 0, 86400);
            break;
        case 'H':
            add_header(r, optarg);
            break;
        case 's':
            load_paths(r, optarg);
            break;
        case 't':
            r->timeout_s = parse_num(optarg, "-t", 0.001, 3600);
            break;
        case 'l':
            r->late_ms = parse_num(optarg, "-l", 1, 3600e3);
            break;
        case 'S':
            r->slow_ns = (uint64_t)(parse_num(optarg, "-S", 0.001, 3600e3) * 1e6);
            break;
        case 'L':
            r->slow_file = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc - 1 || r->nconn == 0 || r->rate == 0 || r->duration_s == 0 ||
        (r->slow_ns != 0) != (r->slow_file != NULL))
        usage();
    parse_url(r, argv[optind]);
    int n = r->user_host
                ? 0
                : snprintf(r->headers, sizeof r->headers, "Host: %s:%s\r\n", r->host, r->port);
    memcpy(r->headers + n, r->user_headers, r->user_headers_len);
    memcpy(r->headers + n + r->user_headers_len, "\r\n", 2);
    r->headers_len = (size_t)n + r->user_headers_len + 2;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void report(const run_t *r, double wall_s, double cpu_s, const char *url)
{
    const hist_t *l = &r->lat, *g = &r->lag;
    unsigned long long errors = r->non2xx + r->sock_errors + r->connect_errors + r->timeouts;
    double achieved = (double)r->in_window / r->duration_s; /* the server's pace, not ours */
    printf("paced %s: %d connections, offered %.0f req/s for %g s after a %g s warm-up\n", url,
           r->nconn, r->rate, r->duration_s, r->warmup_s);
    printf("  sent %llu, replies %llu (non-2xx %llu); socket errors %llu, connect errors %llu, "
           "timeouts %llu, late %llu (not sent within %g ms)\n",
           (unsigned long long)r->sent, (unsigned long long)r->replies,
           (unsigned long long)r->non2xx, (unsigned long long)r->sock_errors,
           (unsigned long long)r->connect_errors, (unsigned long long)r->timeouts,
           (unsigned long long)r->late, r->late_ms);
    printf("  achieved %.1f req/s; client CPU %.0f%% of one core; connections reopened %llu\n",
           achieved, 100 * cpu_s / wall_s, (unsigned long long)r->reopens);
    printf("  latency from the due time, ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
           hist_pct_ms(l, 50), hist_pct_ms(l, 90), hist_pct_ms(l, 99), hist_pct_ms(l, 99.9),
           (double)l->max_ns / 1e6);
    printf("  sent late by the generator itself, ms: p50 %.3f  p99 %.3f  max %.3f; sent after "
           "waiting for a free connection: %llu\n",
           hist_pct_ms(g, 50), hist_pct_ms(g, 99), (double)g->max_ns / 1e6,
           (unsigned long long)r->queued);
    printf("paced: rate=%.0f achieved=%.1f p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f "
           "errors=%llu late=%llu count=%llu total=%llu\n",
           r->rate, achieved, hist_pct_ms(l, 50), hist_pct_ms(l, 90), hist_pct_ms(l, 99),
           hist_pct_ms(l, 99.9), (double)l->max_ns / 1e6, errors, (unsigned long long)r->late,
           (unsigned long long)r->replies, (unsigned long long)r->replies_all);
}

static void fmt_real(const run_t *r, uint64_t mono_ns, char *buf, size_t cap)
{
    uint64_t real = mono_ns + r->mono_to_real_ns;
    time_t sec = (time_t)(real / NS_PER_S);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, cap, "%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%06llu", (unsigned long long)(real % NS_PER_S / 1000));
}

static void write_slow(const run_t *r)
{
    if (r->slow_file == NULL)
        return;
    FILE *f = fopen(r->slow_file, "w");
    if (f == NULL) {
        perror(r->slow_file);
        return;
    }
    fprintf(f, "# due_s sent_s done_s due_utc latency_ms queued_ms conn status\n");
    for (size_t i = 0; i < r->nslow; i++) {
        const slow_t *s = &r->slow[i];
        char utc[32];
        fmt_real(r, s->due_ns, utc, sizeof utc);
        fprintf(f, "%.6f %.6f %.6f %s %.3f %.3f %d %d\n", (double)s->due_ns / 1e9,
                (double)s->sent_ns / 1e9, (double)s->done_ns / 1e9, utc,
                (double)(s->done_ns - s->due_ns) / 1e6,
                s->sent_ns ? (double)(s->sent_ns - s->due_ns) / 1e6 : 0.0,
                s->conn == UINT32_MAX ? -1 : (int)s->conn, s->status);
    }
    fclose(f);
    printf("  slow (>= %g ms): %llu requests, %zu written to %s\n", (double)r->slow_ns / 1e6,
           (unsigned long long)r->slow_count, r->nslow, r->slow_file);
}

static void setup(run_t *r)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TIMER_TAG};
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL); /* default 50 us slack would delay every send */
    resolve(r);
    r->conns = calloc((size_t)r->nconn, sizeof *r->conns);
    r->ring = calloc((size_t)r->nconn, sizeof *r->ring);
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (r->conns == NULL || r->ring == NULL || r->ep < 0 || r->tfd < 0 ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, r->tfd, &ev) < 0) {
        perror("paced: setup");
        exit(1);
    }
    for (int i = 0; i < r->nconn; i++)
        r->conns[i].fd = -1;
    double total = (r->warmup_s + r->duration_s) * r->rate; /* i is due iff i/R < w + d */
    r->total = (uint64_t)total;
    if ((double)r->total < total)
        r->total++;
    r->late_ns = (uint64_t)(r->late_ms * 1e6);
    r->timeout_ns = (uint64_t)(r->timeout_s * 1e9);
    r->rng = (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
    if (r->slow_ns != 0) {
        struct timespec real;
        uint64_t mono = now_ns();
        clock_gettime(CLOCK_REALTIME, &real);
        r->mono_to_real_ns = (uint64_t)real.tv_sec * NS_PER_S + (uint64_t)real.tv_nsec - mono;
        r->slow = calloc(SLOW_MAX, sizeof *r->slow);
    }
}

int main(int argc, char **argv)
{
    run_t *r = &R_;
    parse_args(r, argc, argv);
    setup(r);
    connect_all(r);
    double cpu0 = cpu_seconds();
    uint64_t t_start = now_ns();
    run_schedule(r);
    double wall = (double)(now_ns() - t_start) / 1e9;
    report(r, wall, cpu_seconds() - cpu0, argv[argc - 1]);
    write_slow(r);
    return r->replies > 0 ? 0 : 1;
}
