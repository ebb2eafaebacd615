/* ws_session: see ws_session.h. */
#include "ws_session.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"
#include "upstream.h"

#define RESUME_PAGE     500
#define HEARTBEAT_CHUNK 2000

typedef void (*rt_done_fn)(ws_conn_t *c, int status, json_t *body, void *arg);

/* One sub-request in flight; the connection is referenced until it ends. */
typedef struct {
    ws_conn_t *conn;
    rt_done_fn done;
    char room[WS_ROOM_MAX + 1];
    uint32_t gen;
    bool is_connect;
} rt_call_t;

static void on_connected(ws_conn_t *c, int status, json_t *body, void *arg);

/* ---- NATS messages ------------------------------------------------------------------------ */

static natsMsg *new_msg(ws_conn_t *c, const char *subject, const char *reply, json_t *body)
{
    natsMsg *m = NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    char rid[37], deadline[24];
    gw_thread_t *t = c->local->thread;
    if (text == NULL || natsMsg_Create(&m, subject, reply, text, (int)strlen(text)) != NATS_OK) {
        free(text);
        return NULL;
    }
    free(text);
    tm_uuid_v4(rid);
    snprintf(deadline, sizeof(deadline), "%" PRId64,
             tm_wall_ms() + t->server->cfg->request_timeout_ms);
    natsMsgHeader_Set(m, TM_HDR_REQUEST_ID, rid);
    natsMsgHeader_Set(m, TM_HDR_USER_ID, c->user);
    natsMsgHeader_Set(m, TM_HDR_USER_ROLE, gw_role_name(c->role));
    natsMsgHeader_Set(m, TM_HDR_SESSION_ID, c->sid);
    natsMsgHeader_Set(m, TM_HDR_DEADLINE, deadline);
    return m;
}

/* Publish without a reply. body is consumed. */
static void publish(ws_conn_t *c, const char *subject, json_t *body)
{
    natsMsg *m = new_msg(c, subject, NULL, body);
    json_decref(body);
    if (m == NULL || gw_upstream_publish(c->local->thread, m) != TM_OK)
        TM_DEBUG("websocket %s: %s not published", c->id, subject);
    tm_nats_msg_free(m);
}

static void on_rt_reply(gw_pending_t *p, natsMsg *msg)
{
    rt_call_t *call = p->ctx;
    ws_conn_t *c = call->conn;
    int status = 0;
    json_t *body = NULL;
    const char *st = NULL;
    if (msg != NULL && natsMsg_IsNoResponders(msg)) {
        status = 503;
    } else if (msg != NULL) {
        status = 500;
        if (natsMsgHeader_Get(msg, TM_HDR_STATUS, &st) == NATS_OK && st != NULL)
            status = atoi(st);
        body = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
    }
    if (call->is_connect) {
        c->connect_pending = false;
        if (c->state == WS_ST_CLOSED && c->connected)
            ws_session_disconnect(c); /* the socket closed while connect was in flight */
    }
    if (c->state == WS_ST_OPEN)
        call->done(c, status, body, call);
    json_decref(body);
    free(call);
    ws_conn_unref(c);
}

/* Send a request whose reply goes to done(c, status, body, call) on this thread; status
 * 0 means no answer in time. body is consumed. When nothing could be sent, done runs
 * at once with status 503. */
static void rt_request(ws_conn_t *c, const char *subject, json_t *body, rt_done_fn done,
                       const char *room, uint32_t gen)
{
    gw_thread_t *t = c->local->thread;
    char reply[96];
    rt_call_t *call = tm_xcalloc(1, sizeof(*call));
    call->conn = c;
    call->done = done;
    call->gen = gen;
    snprintf(call->room, sizeof(call->room), "%s", room ? room : "");
    call->is_connect = done == on_connected;
    c->pending_refs++;
    gw_pending_t *p =
        gw_pending_add(&t->pending, t->ctx.loop, &t->req_timeout, NULL, on_rt_reply, call);
    if (p == NULL) {
        json_decref(body);
        if (call->is_connect)
            c->connect_pending = false;
        done(c, 503, NULL, call);
        free(call);
        ws_conn_unref(c);
        return;
    }
    snprintf(reply, sizeof(reply), "%s%" PRIu64, t->inbox_prefix, p->id);
    natsMsg *m = new_msg(c, subject, reply, body);
    json_decref(body);
    int rc = m ? gw_upstream_publish(t, m) : TM_ERR_NATS;
    tm_nats_msg_free(m);
    if (rc != TM_OK)
        gw_pending_complete(&t->pending, p->id, NULL); /* done(status 0) now */
}

/* The room subscription a reply is for, or NULL when it is gone or was re-requested. */
static ws_sub_t *call_sub(ws_conn_t *c, const rt_call_t *call)
{
    ws_sub_t *s = ws_conn_find_room(c, call->room);
    return s != NULL && s->gen == call->gen ? s : NULL;
}

/* ---- connect, disconnect, heartbeat ------------------------------------------------------- */

static void on_connected(ws_conn_t *c, int status, json_t *body, void *arg)
{
    (void)arg;
    size_t i;
    json_t *a;
    if (status != 200) {
        TM_DEBUG("websocket %s: rt.connect answered %d", c->id, status);
        return;
    }
    json_array_foreach(json_object_get(body, "announcements"), i, a)
    {
        if (!json_is_object(a) || c->state != WS_ST_OPEN)
            continue;
        json_t *o = json_deep_copy(a);
        json_object_set_new(o, "op", json_string("announcement"));
        ws_conn_send_json(c, o);
        json_decref(o);
    }
}

void ws_session_connect(ws_conn_t *c)
{
    gw_server_t *s = c->local->thread->server;
    json_t *body = json_pack("{s:s, s:s, s:s}", "conn_id", c->id, "gateway_id", s->gateway_id,
                             "device", c->device);
    c->connected = true;
    c->connect_pending = true;
    rt_request(c, TM_SUBJ_RT_CONNECT, body, on_connected, NULL, 0);
}

void ws_session_disconnect(ws_conn_t *c)
{
    gw_server_t *s = c->local->thread->server;
    c->connected = false;
    publish(c, TM_SUBJ_RT_DISCONNECT,
            json_pack("{s:s, s:s}", "conn_id", c->id, "gateway_id", s->gateway_id));
}

static void publish_heartbeat(ws_local_t *l, json_t *conns)
{
    natsMsg *m = NULL;
    json_t *body =
        json_pack("{s:s, s:o}", "gateway_id", l->thread->server->gateway_id, "conns", conns);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text != NULL &&
        natsMsg_Create(&m, TM_SUBJ_RT_HEARTBEAT, NULL, text, (int)strlen(text)) == NATS_OK &&
        gw_upstream_publish(l->thread, m) != TM_OK)
        TM_DEBUG("websocket heartbeat not published");
    tm_nats_msg_free(m);
    free(text);
}

void ws_session_heartbeat(ws_local_t *l)
{
    json_t *conns = json_array();
    for (h2o_linklist_t *n = l->conns.next; n != &l->conns; n = n->next) {
        ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, link, n);
        json_array_append_new(conns, json_string(c->id));
        if (json_array_size(conns) == HEARTBEAT_CHUNK) {
            publish_heartbeat(l, conns);
            conns = json_array();
        }
    }
    if (json_array_size(conns) > 0)
        publish_heartbeat(l, conns);
    else
        json_decref(conns);
}

/* ---- room ordering -------------------------------------------------------------------------- */

static void request_resume(ws_sub_t *s);

/* Resume again after WS_RESUME_RETRY_MS; deliveries stay held meanwhile. */
static void retry_resume_later(ws_sub_t *s)
{
    ws_local_t *l = s->conn->local;
    s->state = WS_SUB_RESUMING;
    s->gen = ++s->conn->next_gen; /* an answer still in flight is stale now */
    if (!h2o_linklist_is_linked(&s->retry_link))
        h2o_linklist_insert(&l->retryq, &s->retry_link);
    if (!h2o_timeout_is_linked(&l->retry_entry))
        h2o_timeout_link(l->thread->ctx.loop, &l->retry_timer, &l->retry_entry);
}

void ws_session_on_retry(h2o_timeout_entry_t *entry)
{
    ws_local_t *l = H2O_STRUCT_FROM_MEMBER(ws_local_t, retry_entry, entry);
    h2o_linklist_t due;
    h2o_linklist_init_anchor(&due);
    h2o_linklist_insert_list(&due, &l->retryq);
    while (!h2o_linklist_is_empty(&due)) {
        ws_sub_t *s = H2O_STRUCT_FROM_MEMBER(ws_sub_t, retry_link, due.next);
        h2o_linklist_unlink(&s->retry_link);
        if (s->conn->state == WS_ST_OPEN)
            request_resume(s); /* may drop s (refused): it is off every list by now */
    }
}

static void send_room_op(ws_conn_t *c, const char *op, const char *room, int64_t seq)
{
    json_t *o = json_pack("{s:s, s:s}", "op", op, "room", room);
    if (seq >= 0)
        json_object_set_new(o, "seq", json_integer(seq));
    ws_conn_send_json(c, o);
    json_decref(o);
}

static void hold(ws_sub_t *s, const ws_delivery_t *d)
{
    if (s->nheld == WS_HELD_MAX) {
        s->held_overflow = true; /* the resume that follows fetches them */
        return;
    }
    if (s->nheld == s->capheld) {
        s->capheld = s->capheld ? s->capheld * 2 : 8;
        s->held = tm_xrealloc(s->held, s->capheld * sizeof(*s->held));
    }
    s->held[s->nheld].frame = ws_shared_frame_ref(d->frame);
    s->held[s->nheld].seq = d->seq;
    s->nheld++;
}

/* Send what was held, in order, until a gap; a gap (or lost held deliveries) starts a
 * resume. Returns true when the subscription is live and complete. */
static bool flush_held(ws_sub_t *s)
{
    uint32_t i = 0;
    for (; i < s->nheld; i++) {
        ws_held_t *h = &s->held[i];
        if (h->seq > s->last_seq + 1 && s->last_seq >= 0)
            break;
        if (h->seq > s->last_seq) {
            ws_conn_send(s->conn, h->frame);
            s->last_seq = h->seq;
        }
        ws_shared_frame_unref(h->frame);
    }
    if (i > 0 && i < s->nheld)
        memmove(s->held, s->held + i, (s->nheld - i) * sizeof(*s->held));
    s->nheld -= i;
    if (s->nheld == 0) {
        free(s->held);
        s->held = NULL;
        s->capheld = 0;
    }
    if (s->nheld > 0 || s->held_overflow) {
        /* A hole tm-realtime cannot fill yet (an event it has not applied: see its AckWait)
         * is asked about again after a pause, not at once: without it every socket of the
         * room re-sent its resume as fast as the answers came. */
        bool pause = s->stalled && !s->held_overflow;
        s->held_overflow = false;
        s->stalled = false;
        if (pause)
            retry_resume_later(s);
        else
            request_resume(s);
        return false;
    }
    s->state = WS_SUB_LIVE;
    return true;
}

/* The subscription is caught up: flush what was held, then tell the client if it asked. */
static void finish(ws_sub_t *s)
{
    ws_conn_t *c = s->conn;
    if (!flush_held(s) || c->state != WS_ST_OPEN)
        return;
    if (s->client_resume) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "op", "recovered", "room", s->room, "ok", 1);
        ws_conn_send_json(c, o);
        json_decref(o);
        s->client_resume = false;
    }
}

void ws_session_deliver(ws_sub_t *s, const ws_delivery_t *d)
{
    if (s->state != WS_SUB_LIVE) {
        if (d->kind == WS_DK_EVENT)
            hold(s, d);
        return;
    }
    if (d->kind == WS_DK_HEAD) {
        if (d->seq > s->last_seq)
            request_resume(s);
        return;
    }
    if (d->seq <= s->last_seq)
        return; /* duplicate */
    if (d->seq == s->last_seq + 1 || s->last_seq < 0) {
        ws_conn_send(s->conn, d->frame);
        s->last_seq = d->seq;
        return;
    }
    hold(s, d); /* gap: fetch the missing range first */
    request_resume(s);
}

/* ---- subscribe ------------------------------------------------------------------------------ */

static void refused(ws_conn_t *c, ws_sub_t *s, int status, const char *op)
{
    bool denied = status == 404 || status == 403;
    ws_conn_send_error(c, denied ? "forbidden" : "unavailable",
                       denied ? "no such room, or not yours"
                              : "tm-realtime did not answer, retry later",
                       op, false);
    ws_conn_drop_room(c, s);
}

static void on_subscribed(ws_conn_t *c, int status, json_t *body, void *arg)
{
    ws_sub_t *s = call_sub(c, arg);
    json_t *head = json_object_get(body, "head_seq");
    if (s == NULL)
        return;
    if (status != 200 || !json_is_integer(head)) {
        refused(c, s, status, "subscribe");
        return;
    }
    s->last_seq = json_integer_value(head);
    s->announced = true;
    send_room_op(c, "subscribed", s->room, s->last_seq);
    finish(s);
}

static void on_resumed(ws_conn_t *c, int status, json_t *body, void *arg);

static void request_resume(ws_sub_t *s)
{
    ws_conn_t *c = s->conn;
    s->state = WS_SUB_RESUMING;
    s->gen = ++c->next_gen;
    json_t *body = json_pack("{s:s, s:I, s:i}", "room", s->room, "since",
                             (json_int_t)(s->last_seq < 0 ? 0 : s->last_seq), "limit", RESUME_PAGE);
    rt_request(c, TM_SUBJ_RT_RESUME, body, on_resumed, s->room, s->gen);
}

static void resume_failed(ws_conn_t *c, ws_sub_t *s, int status)
{
    if (status == 404 || status == 403 || !s->announced) {
        refused(c, s, status, "resume");
        return;
    }
    /* tm-realtime is away: do not leave a silent gap; the client catches up over REST up
     * to head_seq, and live events continue right after it: with the held ones, those
     * start at the first held seq, which is then what head_seq must lead to. */
    int64_t head = s->last_seq;
    if (s->nheld > 0 && s->held[0].seq - 1 > head)
        head = s->held[0].seq - 1;
    json_t *o = json_pack("{s:s, s:s, s:b, s:I}", "op", "recovered", "room", s->room, "ok", 0,
                          "head_seq", (json_int_t)head);
    ws_conn_send_json(c, o);
    json_decref(o);
    s->client_resume = false;
    s->held_overflow = false;
    s->last_seq = -1; /* deliver whatever comes next */
    finish(s);
}

static void resume_gone(ws_conn_t *c, ws_sub_t *s, json_t *body)
{
    json_t *head = json_object_get(body, "head_seq");
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:O, s:O}", "op", "recovered", "room", s->room, "ok", 0, "oldest_seq",
        json_object_get(body, "oldest_seq") ? json_object_get(body, "oldest_seq") : json_null(),
        "head_seq", head ? head : json_null());
    ws_conn_send_json(c, o);
    json_decref(o);
    s->client_resume = false;
    if (json_is_integer(head) && json_integer_value(head) > s->last_seq)
        s->last_seq = json_integer_value(head);
    finish(s);
}

static void replay(ws_conn_t *c, ws_sub_t *s, json_t *events)
{
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        json_t *seq = json_object_get(e, "seq");
        if (!json_is_integer(seq) || json_integer_value(seq) <= s->last_seq)
            continue;
        ws_conn_send_json(c, e);
        s->last_seq = json_integer_value(seq);
        if (c->state != WS_ST_OPEN)
            return;
    }
}

static void on_resumed(ws_conn_t *c, int status, json_t *body, void *arg)
{
    ws_sub_t *s = call_sub(c, arg);
    json_t *head = json_object_get(body, "head_seq"), *events = json_object_get(body, "events");
    if (s == NULL)
        return;
    if (status != 200) {
        resume_failed(c, s, status);
        return;
    }
    if (!s->announced) {
        s->announced = true;
        send_room_op(c, "subscribed", s->room,
                     json_is_integer(head) ? json_integer_value(head) : -1);
    }
    if (!json_is_true(json_object_get(body, "ok"))) {
        resume_gone(c, s, body);
        return;
    }
    int64_t before = s->last_seq;
    replay(c, s, events);
    if (c->state != WS_ST_OPEN)
        return;
    if (json_is_true(json_object_get(body, "has_more")) && s->last_seq > before) {
        request_resume(s);
        return;
    }
    s->stalled = s->last_seq == before;
    finish(s);
}

/* ---- client ops ----------------------------------------------------------------------------- */

static ws_sub_t *add_room(ws_conn_t *c, const char *room)
{
    char key[WS_KEY_MAX + 1];
    ws_sub_t *s = tm_xcalloc(1, sizeof(*s));
    if (ws_conn_add_room(c, s) != TM_OK) {
        free(s);
        ws_conn_send_error(c, "too_many_rooms", "too many rooms on one connection", "subscribe",
                           false);
        return NULL;
    }
    s->conn = c;
    s->state = WS_SUB_PENDING;
    s->last_seq = -1;
    snprintf(s->room, sizeof(s->room), "%s", room);
    snprintf(key, sizeof(key), "room.%s", room);
    ws_local_chan_add(c->local, ws_local_chan(c->local, key, true), s);
    return s;
}

static void op_subscribe(ws_conn_t *c, const ws_op_t *op)
{
    ws_sub_t *s = ws_conn_find_room(c, op->room);
    if (s != NULL) {
        if (s->announced)
            send_room_op(c, "subscribed", s->room, s->last_seq);
        return;
    }
    if ((s = add_room(c, op->room)) == NULL)
        return;
    s->gen = ++c->next_gen;
    rt_request(c, TM_SUBJ_RT_SUBSCRIBE, json_pack("{s:s}", "room", s->room), on_subscribed, s->room,
               s->gen);
}

static void op_resume(ws_conn_t *c, const ws_op_t *op)
{
    ws_sub_t *s = ws_conn_find_room(c, op->room);
    if (s != NULL && s->state != WS_SUB_LIVE) {
        ws_conn_send_error(c, "invalid_op", "a subscribe or resume of this room is in progress",
                           "resume", true);
        return;
    }
    if (s == NULL && (s = add_room(c, op->room)) == NULL)
        return;
    s->client_resume = true;
    s->last_seq = op->since;
    request_resume(s);
}

static void op_unsubscribe(ws_conn_t *c, const ws_op_t *op)
{
    ws_sub_t *s = ws_conn_find_room(c, op->room);
    if (s != NULL)
        ws_conn_drop_room(c, s);
    send_room_op(c, "unsubscribed", op->room, -1);
}

static void op_typing(ws_conn_t *c, const ws_op_t *op)
{
    json_t *body = json_pack("{s:s}", "room", op->room);
    if (op->task_id[0] != '\0')
        json_object_set_new(body, "task_id", json_string(op->task_id));
    publish(c, TM_SUBJ_RT_TYPING, body);
}

void ws_session_op(ws_conn_t *c, const ws_op_t *op)
{
    switch (op->kind) {
    case WS_OP_SUBSCRIBE:
        op_subscribe(c, op);
        break;
    case WS_OP_UNSUBSCRIBE:
        op_unsubscribe(c, op);
        break;
    case WS_OP_RESUME:
        op_resume(c, op);
        break;
    case WS_OP_TYPING:
        op_typing(c, op);
        break;
    default:
        break;
    }
}
