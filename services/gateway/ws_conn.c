/* ws_conn: see ws_conn.h. Socket I/O, handshake, frames and the connection's lifetime;
 * what the ops mean for tm-realtime is in ws_session.c. */
#include "ws_conn.h"

#include <errno.h>
#include <h2o/http1.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "tm_log.h"
#include "tm_util.h"
#include "ws_session.h"

#define QUERY_TOKEN  "access_token="
#define QUERY_DEVICE "device="

static void close_now(ws_conn_t *c, const char *why);
static void flush(ws_conn_t *c);

/* ---- handshake -------------------------------------------------------------------------- */

static ws_str_t header(h2o_req_t *req, const h2o_token_t *token)
{
    ws_str_t v = {NULL, 0};
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i >= 0) {
        v.base = req->headers.entries[i].value.base;
        v.len = req->headers.entries[i].value.len;
    }
    return v;
}

static ws_str_t header_str(h2o_req_t *req, const char *name)
{
    ws_str_t v = {NULL, 0};
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i >= 0) {
        v.base = req->headers.entries[i].value.base;
        v.len = req->headers.entries[i].value.len;
    }
    return v;
}

/* The value of query parameter name (with '='), or NULL; *len its length. */
static const char *query_param(h2o_req_t *req, const char *name, size_t *len)
{
    if (req->query_at == SIZE_MAX)
        return NULL;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t n = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) >= n && memcmp(q, name, n) == 0) {
            *len = (size_t)(stop - q) - n;
            return q + n;
        }
        q = stop + 1;
    }
    return NULL;
}

/* The access token from "Authorization: Bearer" or ?access_token=, copied to the pool. */
static const char *find_token(h2o_req_t *req, size_t *len)
{
    ws_str_t a = header(req, H2O_TOKEN_AUTHORIZATION);
    const char *tok = NULL;
    if (a.base != NULL && a.len > 7 && strncasecmp(a.base, "Bearer ", 7) == 0) {
        tok = a.base + 7;
        *len = a.len - 7;
        while (*len > 0 && *tok == ' ')
            tok++, (*len)--;
    } else {
        tok = query_param(req, QUERY_TOKEN, len);
    }
    if (tok == NULL || *len == 0 || *len > GW_JWT_MAX_TOKEN)
        return NULL;
    return h2o_strdup(&req->pool, tok, *len).base;
}

static int verify(gw_thread_t *t, const char *tok, size_t len, gw_jwt_claims_t *claims,
                  const char **why)
{
    int64_t now = tm_wall_ms() / 1000;
    if (gw_jwt_cache_verify(t->jwt_cache, t->server->verifier, tok, len, now, claims, why) != TM_OK)
        return TM_ERR_AUTH;
    if (gw_jwt_deny_has(t->server->deny, claims->sid, now)) {
        *why = "session revoked";
        return TM_ERR_AUTH;
    }
    return TM_OK;
}

static void refuse(h2o_req_t *req, const gw_http_log_t *lg, int status, const char *detail)
{
    if (status == 426)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-version"), 0,
                              "Sec-WebSocket-Version", H2O_STRLIT("13"));
    if (status == 401)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                       H2O_STRLIT("Bearer error=\"invalid_token\""));
    if (status == 429 || status == 503)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("5"));
    gw_http_send_problem(req, lg, status, detail);
}

static int check_handshake(h2o_req_t *req, const gw_http_log_t *lg)
{
    if (req->version != 0x101) {
        refuse(req, lg, 426, "WebSocket needs HTTP/1.1 (no RFC 8441)");
        return TM_ERR_INVALID;
    }
    ws_handshake_req_t hs = {
        .method = {req->method.base, req->method.len},
        .upgrade = header(req, H2O_TOKEN_UPGRADE),
        .connection = header(req, H2O_TOKEN_CONNECTION),
        .version = header_str(req, "sec-websocket-version"),
        .key = header_str(req, "sec-websocket-key"),
    };
    if (hs.upgrade.base == NULL && req->upgrade.base != NULL)
        hs.upgrade = (ws_str_t){req->upgrade.base, req->upgrade.len};
    ws_hs_result_t r = ws_handshake_check(&hs);
    if (r != WS_HS_OK) {
        refuse(req, lg, ws_handshake_status(r), ws_handshake_reason(r));
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

static void copy_device(h2o_req_t *req, ws_conn_t *c)
{
    size_t n = 0;
    const char *d = query_param(req, QUERY_DEVICE, &n);
    size_t o = 0;
    for (size_t i = 0; d != NULL && i < n && o < WS_DEVICE_MAX; i++) {
        char ch = d[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.')
            c->device[o++] = ch;
    }
    c->device[o] = '\0';
    if (o == 0)
        strcpy(c->device, "web");
}

static ws_conn_t *conn_new(gw_thread_t *t, h2o_req_t *req, const gw_jwt_claims_t *claims)
{
    ws_local_t *l = t->ws;
    ws_conn_t *c = tm_xcalloc(1, sizeof(*c));
    c->local = l;
    snprintf(c->id, sizeof(c->id), "%s-%d-%" PRIu64, t->server->gateway_id, t->index,
             ++l->next_conn);
    memcpy(c->user, claims->sub, sizeof(c->user));
    memcpy(c->sid, claims->sid, sizeof(c->sid));
    c->role = claims->role;
    c->exp_s = claims->exp;
    copy_device(req, c);
    ws_parser_init(&c->parser, (size_t)t->server->cfg->ws_max_message);
    c->tokens_ms = tm_now_ms();
    c->tokens_mt = t->server->cfg->ws_ops_per_sec * 2 * 1000;
    c->last_rx_ms = c->tokens_ms;
    c->timer.cb = ws_conn_on_tick;
    c->acquired = true;
    return c;
}

static void on_upgraded(void *user_data, h2o_socket_t *sock, size_t reqsize);

void ws_conn_upgrade(gw_thread_t *t, h2o_req_t *req, const gw_http_log_t *lg)
{
    gw_jwt_claims_t claims;
    const char *why = "missing bearer token";
    char accept[WS_ACCEPT_LEN + 1], key[65];
    size_t tlen = 0;
    if (check_handshake(req, lg) != TM_OK)
        return;
    const char *tok = find_token(req, &tlen);
    if (tok == NULL || verify(t, tok, tlen, &claims, &why) != TM_OK) {
        refuse(req, lg, 401, why);
        return;
    }
    ws_str_t k = header_str(req, "sec-websocket-key");
    snprintf(key, sizeof(key), "%.*s", (int)(k.len < 64 ? k.len : 64), k.base);
    if (ws_handshake_accept(key, accept) != TM_OK) {
        refuse(req, lg, 400, "bad Sec-WebSocket-Key");
        return;
    }
    int rc = t->ws->draining ? TM_ERR_UNAVAILABLE : ws_hub_acquire(t->server->ws_hub, claims.sub);
    if (rc != TM_OK) {
        refuse(req, lg, rc == TM_ERR_LIMIT ? 429 : 503,
               rc == TM_ERR_LIMIT ? "too many WebSockets for this user"
                                  : "WebSocket capacity reached");
        return;
    }
    ws_conn_t *c = conn_new(t, req, &claims);
    const char *kv[] = {"method", "GET",      "path", lg->path, "status", "101",
                        "user",   claims.sub, "conn", c->id,    NULL};
    tm_log_kv(TM_LOG_INFO, lg->request_id, "http", kv);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL, H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0,
                          "Sec-WebSocket-Accept",
                          h2o_strdup(&req->pool, accept, WS_ACCEPT_LEN).base, WS_ACCEPT_LEN);
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, c);
}

/* ---- sending ------------------------------------------------------------------------------ */

static void on_written(h2o_socket_t *sock, const char *err)
{
    ws_conn_t *c = sock->data;
    uint32_t n = c->writing;
    for (uint32_t i = 0; i < n; i++)
        ws_shared_frame_unref(ws_queue_pop(&c->q));
    c->writing = 0;
    tm_counter_add(ws_metrics.sent, n);
    if (err != NULL) {
        close_now(c, err);
        return;
    }
    /* Once the close frame is out the socket stays open, its input discarded, until the
     * peer closes (on_read) or WS_CLOSE_WAIT_MS pass: closing with unread input would
     * send an RST that can destroy what the peer has not read yet. */
    if (c->q.len > 0) /* queued during the write: they leave together, now */
        flush(c);
}

/* The first n queued frames as iovecs. */
static uint32_t gather(const ws_conn_t *c, struct iovec *iov)
{
    uint32_t n = c->q.len < WS_WRITE_BATCH ? c->q.len : WS_WRITE_BATCH;
    for (uint32_t i = 0; i < n; i++) {
        ws_shared_frame_t *f = ws_queue_at(&c->q, i);
        iov[i] = (struct iovec){.iov_base = f->bytes, .iov_len = f->len};
    }
    return n;
}

/* Try the write now with sendmsg: when the socket takes it all (the usual case) no h2o
 * write request, completion callback or VFS write path (writev: fsnotify, f_pos) is
 * paid per write; TLS sockets always go through h2o. Returns the bytes written, 0 when
 * the socket took nothing or failed (h2o's write then reports the error). */
static size_t send_now(ws_conn_t *c, const struct iovec *iov, uint32_t n)
{
    if (c->sock->ssl != NULL)
        return 0;
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
    ssize_t w;
    tm_counter_add(ws_metrics.writes, 1);
    while ((w = sendmsg(h2o_socket_get_fd(c->sock), &m, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 &&
           errno == EINTR)
        ;
    return w > 0 ? (size_t)w : 0;
}

/* Drop the frames wholly covered by `written` bytes from the queue; the rest of iov[n]
 * (the first one advanced past what was written) stays in iov, its count returned. */
static uint32_t consume_written(ws_conn_t *c, struct iovec *iov, uint32_t n, size_t written)
{
    uint32_t done = 0;
    while (done < n && written >= iov[done].iov_len) {
        written -= iov[done].iov_len;
        ws_shared_frame_unref(ws_queue_pop(&c->q));
        done++;
    }
    tm_counter_add(ws_metrics.sent, done);
    if (done < n) {
        iov[done].iov_base = (uint8_t *)iov[done].iov_base + written;
        iov[done].iov_len -= written;
    }
    memmove(iov, iov + done, (n - done) * sizeof(*iov));
    return n - done;
}

/* Write the queued frames (up to WS_WRITE_BATCH per system call) unless a write is in
 * progress; what the socket does not take at once goes to h2o, which writes it when the
 * socket is writable and calls on_written. */
static void flush(ws_conn_t *c)
{
    struct iovec iov[WS_WRITE_BATCH];
    h2o_iovec_t rest[WS_WRITE_BATCH];
    if (h2o_linklist_is_linked(&c->flush_link))
        h2o_linklist_unlink(&c->flush_link);
    while (c->writing == 0 && c->sock != NULL && c->q.len > 0) {
        uint32_t n = gather(c, iov);
        uint32_t left = consume_written(c, iov, n, send_now(c, iov, n));
        if (left == 0)
            continue;
        for (uint32_t i = 0; i < left; i++)
            rest[i] = h2o_iovec_init(iov[i].iov_base, iov[i].iov_len);
        c->writing = left;
        tm_counter_add(ws_metrics.writes, 1); /* h2o's first writev (more if partial) */
        h2o_socket_write(c->sock, rest, left, on_written);
    }
}

void ws_local_flush(ws_local_t *l)
{
    uint32_t budget = (uint32_t)l->thread->server->cfg->ws_flush_sockets;
    if (h2o_timeout_is_linked(&l->flush_entry))
        h2o_timeout_unlink(&l->flush_entry);
    while (!h2o_linklist_is_empty(&l->flushq) && budget-- > 0)
        flush(H2O_STRUCT_FROM_MEMBER(ws_conn_t, flush_link, l->flushq.next));
    l->flush_more = !h2o_linklist_is_empty(&l->flushq);
    if (l->flush_more)
        tm_counter_add(ws_metrics.flush_deferred, 1);
}

/* Write at the end of this loop pass, with whatever else is queued for c by then. A write
 * in progress needs nothing: its completion writes what was queued meanwhile. */
static void schedule_flush(ws_conn_t *c)
{
    ws_local_t *l = c->local;
    if (c->writing > 0 || c->sock == NULL || h2o_linklist_is_linked(&c->flush_link))
        return;
    h2o_linklist_insert(&l->flushq, &c->flush_link);
    if (!h2o_timeout_is_linked(&l->flush_entry))
        h2o_timeout_link(l->thread->ctx.loop, &l->flush_timer, &l->flush_entry);
}

static void enqueue(ws_conn_t *c, ws_shared_frame_t *f)
{
    ws_queue_push(&c->q, ws_shared_frame_ref(f));
    schedule_flush(c);
}

void ws_conn_send(ws_conn_t *c, ws_shared_frame_t *f)
{
    if (c->state != WS_ST_OPEN || f == NULL)
        return;
    if (c->q.bytes + f->len > (size_t)c->local->thread->server->cfg->ws_send_queue_bytes) {
        tm_counter_add(ws_metrics.dropped_slow, 1);
        ws_conn_close(c, WS_CLOSE_TRY_AGAIN, "send queue full");
        return;
    }
    enqueue(c, f);
}

void ws_conn_send_text(ws_conn_t *c, const char *text, size_t len)
{
    if (c->state != WS_ST_OPEN)
        return;
    ws_shared_frame_t *f = ws_shared_frame_new(WS_OPCODE_TEXT, text, len);
    ws_conn_send(c, f);
    ws_shared_frame_unref(f);
}

void ws_conn_send_json(ws_conn_t *c, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    if (text != NULL)
        ws_conn_send_text(c, text, strlen(text));
    free(text);
}

void ws_conn_send_error(ws_conn_t *c, const char *code, const char *message, const char *op,
                        bool strike)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "op", "error", "code", code, "message", message);
    if (op != NULL && *op != '\0')
        json_object_set_new(o, "failed_op", json_string(op));
    ws_conn_send_json(c, o);
    json_decref(o);
    if (strike && ws_ops_strike(&c->strikes, tm_now_ms()))
        ws_conn_close(c, WS_CLOSE_POLICY, "too many refused ops");
}

/* ---- closing ------------------------------------------------------------------------------ */

static void drop_unsent(ws_conn_t *c)
{
    while (c->q.len > c->writing)
        ws_shared_frame_unref(ws_queue_pop_back(&c->q));
}

void ws_conn_close(ws_conn_t *c, unsigned code, const char *reason)
{
    if (c->state != WS_ST_OPEN)
        return;
    c->state = WS_ST_CLOSING;
    ws_metrics_closed(code);
    if (code == WS_CLOSE_TRY_AGAIN) /* a slow client: what it did not read is lost anyway */
        drop_unsent(c);
    uint8_t frame[WS_CLOSE_FRAME_MAX];
    size_t n = ws_encode_close(code, reason, frame); /* 2 header bytes, then the body */
    ws_shared_frame_t *f = ws_shared_frame_new(WS_OPCODE_CLOSE, frame + 2, n - 2);
    h2o_timeout_unlink(&c->timer);
    h2o_timeout_link(c->local->thread->ctx.loop, &c->local->closing, &c->timer);
    if (c->sock == NULL) {
        ws_shared_frame_unref(f);
        close_now(c, "close requested without socket");
        return;
    }
    ws_queue_push(&c->q, f); /* the queue's reference */
    schedule_flush(c);
}

static void drop_rooms(ws_conn_t *c)
{
    while (c->nrooms > 0)
        ws_conn_drop_room(c, c->rooms[c->nrooms - 1]);
    if (c->user_sub != NULL) {
        ws_local_chan_remove(c->local, c->user_sub);
        free(c->user_sub);
        c->user_sub = NULL;
    }
    free(c->rooms);
    c->rooms = NULL;
    c->caprooms = 0;
}

static void close_now(ws_conn_t *c, const char *why)
{
    if (c->state == WS_ST_CLOSED)
        return;
    TM_DEBUG("websocket %s: closed (%s, state %d)", c->id, why, c->state);
    if (c->state == WS_ST_OPEN)
        ws_metrics_closed(1006); /* abnormal: the peer went away without a close */
    c->state = WS_ST_CLOSED;
    if (c->sock != NULL) {
        h2o_socket_close(c->sock); /* a write in progress is abandoned with the socket */
        c->sock = NULL;
    }
    c->writing = 0;
    ws_queue_clear(&c->q);
    if (h2o_linklist_is_linked(&c->flush_link))
        h2o_linklist_unlink(&c->flush_link);
    ws_parser_dispose(&c->parser);
    h2o_timeout_unlink(&c->timer);
    drop_rooms(c);
    ws_local_conn_remove(c->local, c);
    if (c->connected && !c->connect_pending)
        ws_session_disconnect(c);
    if (c->acquired)
        ws_hub_release(c->local->thread->server->ws_hub, c->user);
    c->acquired = false;
    if (c->pending_refs == 0)
        free(c);
}

void ws_conn_unref(ws_conn_t *c)
{
    if (--c->pending_refs == 0 && c->state == WS_ST_CLOSED)
        free(c);
}

/* ---- rooms --------------------------------------------------------------------------------- */

ws_sub_t *ws_conn_find_room(ws_conn_t *c, const char *room)
{
    for (uint32_t i = 0; i < c->nrooms; i++)
        if (strcmp(c->rooms[i]->room, room) == 0)
            return c->rooms[i];
    return NULL;
}

int ws_conn_add_room(ws_conn_t *c, ws_sub_t *s)
{
    if (c->nrooms == WS_MAX_ROOMS)
        return TM_ERR_LIMIT;
    if (c->nrooms == c->caprooms) {
        c->caprooms = c->caprooms ? c->caprooms * 2 : 2;
        c->rooms = tm_xrealloc(c->rooms, c->caprooms * sizeof(*c->rooms));
    }
    c->rooms[c->nrooms++] = s;
    return TM_OK;
}

void ws_conn_drop_room(ws_conn_t *c, ws_sub_t *s)
{
    for (uint32_t i = 0; i < c->nrooms; i++)
        if (c->rooms[i] == s) {
            c->rooms[i] = c->rooms[--c->nrooms];
            break;
        }
    ws_local_chan_remove(c->local, s);
    if (h2o_linklist_is_linked(&s->retry_link))
        h2o_linklist_unlink(&s->retry_link);
    for (uint32_t i = 0; i < s->nheld; i++)
        ws_shared_frame_unref(s->held[i].frame);
    free(s->held);
    free(s);
}

void ws_conn_deliver(ws_sub_t *s, const ws_delivery_t *d)
{
    ws_conn_t *c = s->conn;
    if (c->state != WS_ST_OPEN)
        return;
    if (d->exclude_user[0] != '\0' && strcmp(d->exclude_user, c->user) == 0)
        return;
    if (s->state == WS_SUB_USER || (d->kind != WS_DK_EVENT && d->kind != WS_DK_HEAD)) {
        ws_conn_send(c, d->frame);
        return;
    }
    ws_session_deliver(s, d);
}

void ws_conn_deliver_all(ws_local_t *l, const ws_delivery_t *d)
{
    h2o_linklist_t *node = l->conns.next;
    while (node != &l->conns) {
        ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, link, node);
        node = node->next;
        ws_conn_send(c, d->frame);
    }
}

/* ---- receiving ----------------------------------------------------------------------------- */

static bool take_token(ws_conn_t *c)
{
    const gw_config_t *cfg = c->local->thread->server->cfg;
    int64_t now = tm_now_ms(), burst = cfg->ws_ops_per_sec * 2 * 1000;
    c->tokens_mt += (now - c->tokens_ms) * cfg->ws_ops_per_sec;
    c->tokens_ms = now;
    if (c->tokens_mt > burst)
        c->tokens_mt = burst;
    if (c->tokens_mt < 1000)
        return false;
    c->tokens_mt -= 1000;
    return true;
}

static void op_auth(ws_conn_t *c, const ws_op_t *op)
{
    gw_jwt_claims_t claims;
    const char *why = NULL;
    gw_thread_t *t = c->local->thread;
    if (verify(t, op->token, strlen(op->token), &claims, &why) != TM_OK ||
        strcmp(claims.sub, c->user) != 0) {
        ws_conn_close(c, WS_CLOSE_POLICY, why ? why : "token of another user");
        return;
    }
    c->exp_s = claims.exp;
    memcpy(c->sid, claims.sid, sizeof(c->sid));
    c->role = claims.role;
    json_t *o = json_pack("{s:s, s:I}", "op", "authenticated", "exp", (json_int_t)claims.exp);
    ws_conn_send_json(c, o);
    json_decref(o);
}

static void op_ping(ws_conn_t *c, const ws_op_t *op)
{
    json_t *o = json_pack("{s:s}", "op", "pong");
    if (op->has_id)
        json_object_set_new(o, "id",
                            op->id_is_int ? json_integer(op->id_int) : json_string(op->id));
    ws_conn_send_json(c, o);
    json_decref(o);
}

static void on_text(ws_conn_t *c, const char *text, size_t len)
{
    ws_op_t *op = tm_xmalloc(sizeof(*op)); /* ~4.3 KiB: not on the stack of every read */
    ws_op_error_t err;
    if (!take_token(c)) {
        ws_conn_send_error(c, "rate_limited", "too many ops, slow down", "", true);
    } else if (ws_ops_decode(text, len, op, &err) != TM_OK) {
        ws_conn_send_error(c, err.code, err.message, err.op, true);
    } else if (op->kind == WS_OP_PING) {
        op_ping(c, op);
    } else if (op->kind == WS_OP_AUTH) {
        op_auth(c, op);
    } else {
        ws_session_op(c, op);
    }
    free(op);
}

static void on_control_frame(ws_conn_t *c, const ws_event_t *ev)
{
    if (ev->type == WS_EV_PING) {
        ws_shared_frame_t *f = ws_shared_frame_new(WS_OPCODE_PONG, ev->data, ev->len);
        ws_conn_send(c, f);
        ws_shared_frame_unref(f);
    } else if (ev->type == WS_EV_CLOSE) {
        unsigned code = ev->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->close_code;
        ws_conn_close(c, code, NULL);
    } else if (ev->type == WS_EV_ERROR) {
        ws_conn_close(c, ev->close_code, ev->reason);
    }
}

static void handle_event(ws_conn_t *c, const ws_event_t *ev)
{
    if (ev->type != WS_EV_MESSAGE) {
        on_control_frame(c, ev);
        return;
    }
    if (ev->opcode == WS_OPCODE_BINARY) {
        ws_conn_close(c, WS_CLOSE_UNSUPPORTED, "binary messages are not accepted");
        return;
    }
    on_text(c, (const char *)ev->data, ev->len);
}

static bool parser_busy(const ws_parser_t *p)
{
    return p->state == WS_PS_PAYLOAD || p->hdr_len != 0 || p->msg_op != 0;
}

static void consume(ws_conn_t *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        ws_event_t ev;
        ws_event_type_t type = ws_parser_next(&c->parser, buf + off, len - off, &used, &ev);
        off += used;
        if (type == WS_EV_NONE)
            break;
        handle_event(c, &ev);
        if (c->state != WS_ST_OPEN) /* closing: the rest of the input is ignored */
            break;
    }
    if (c->state == WS_ST_OPEN && parser_busy(&c->parser)) {
        if (c->partial_since_ms == 0)
            c->partial_since_ms = tm_now_ms();
    } else {
        c->partial_since_ms = 0;
    }
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    ws_conn_t *c = sock->data;
    if (err != NULL) {
        close_now(c, err);
        return;
    }
    c->last_rx_ms = tm_now_ms();
    if (c->state == WS_ST_OPEN)
        consume(c, (const uint8_t *)sock->input->bytes, sock->input->size);
    if (c->sock != NULL) /* everything is consumed: the read buffer goes back to h2o */
        h2o_buffer_consume(&sock->input, sock->input->size);
}

static void send_hello(ws_conn_t *c)
{
    const gw_config_t *cfg = c->local->thread->server->cfg;
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I}", "op", "hello", "connection_id", c->id,
                          "heartbeat_ms", (json_int_t)(cfg->ws_idle_timeout_ms / 2), "user_id",
                          c->user, "max_message", (json_int_t)WS_OPS_MAX_MESSAGE);
    ws_conn_send_json(c, o);
    json_decref(o);
}

static void join_user_channel(ws_conn_t *c)
{
    char key[WS_KEY_MAX + 1];
    snprintf(key, sizeof(key), "user.%s", c->user);
    c->user_sub = tm_xcalloc(1, sizeof(*c->user_sub));
    c->user_sub->conn = c;
    c->user_sub->state = WS_SUB_USER;
    ws_local_chan_add(c->local, ws_local_chan(c->local, key, true), c->user_sub);
}

static void on_upgraded(void *user_data, h2o_socket_t *sock, size_t reqsize)
{
    ws_conn_t *c = user_data;
    ws_local_t *l = c->local;
    if (sock == NULL) {
        ws_hub_release(l->thread->server->ws_hub, c->user);
        ws_parser_dispose(&c->parser);
        free(c);
        return;
    }
    c->sock = sock;
    sock->data = c;
    h2o_buffer_consume(&sock->input, reqsize);
    ws_local_conn_add(l, c);
    join_user_channel(c);
    h2o_timeout_link(l->thread->ctx.loop, &l->tick, &c->timer);
    send_hello(c);
    ws_session_connect(c);
    h2o_socket_read_start(sock, on_read);
    if (sock->input->size > 0)
        on_read(sock, NULL);
    if (l->draining)
        ws_conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* ---- timers ---------------------------------------------------------------------------------- */

/* Why the socket must be closed now (code in *code), or NULL. */
static const char *tick_verdict(ws_conn_t *c, int64_t now, unsigned *code)
{
    gw_server_t *s = c->local->thread->server;
    int64_t now_s = tm_wall_ms() / 1000;
    *code = WS_CLOSE_POLICY;
    if (c->partial_since_ms != 0 && now - c->partial_since_ms >= s->cfg->ws_idle_timeout_ms / 2)
        return "message not completed in time";
    *code = WS_CLOSE_GOING_AWAY;
    if (now - c->last_rx_ms >= s->cfg->ws_idle_timeout_ms)
        return "idle timeout";
    *code = WS_CLOSE_TOKEN_EXPIRED;
    if (now_s > c->exp_s + s->cfg->jwt_leeway_ms / 1000)
        return "access token expired";
    *code = WS_CLOSE_SESSION_REVOKED;
    if (gw_jwt_deny_has(s->deny, c->sid, now_s))
        return "session revoked";
    return NULL;
}

void ws_conn_on_tick(h2o_timeout_entry_t *entry)
{
    ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, timer, entry);
    unsigned code = 0;
    if (c->state != WS_ST_OPEN) { /* the close frame could not be written in time */
        close_now(c, "close deadline");
        return;
    }
    const char *why = tick_verdict(c, tm_now_ms(), &code);
    if (why != NULL) {
        ws_conn_close(c, code, why);
        return;
    }
    ws_conn_send(c, ws_hub_ping_frame(c->local->hub));
    if (c->state == WS_ST_OPEN)
        h2o_timeout_link(c->local->thread->ctx.loop, &c->local->tick, &c->timer);
}
