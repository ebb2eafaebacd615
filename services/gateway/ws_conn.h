/* ws_conn: one WebSocket client of tm-gateway (proto/websocket.md).
 *
 * h2o performs only the HTTP/1.1 upgrade (h2o_http1_upgrade); from then on the raw
 * h2o_socket_t is read with ws_frame's parser (all input consumed at once, so an idle
 * socket holds no read buffer) and written from a bounded queue of ws_shared_frame_t
 * references (a broadcast is encoded once and shared). Writes are coalesced: a frame
 * queued on an idle socket is not written at once but at the end of the loop pass
 * (ws_local_flush; a later pass when more than TM_WS_FLUSH_SOCKETS sockets wait), so
 * every frame queued for one socket by then (a batch of
 * deliveries, a resume's replay) leaves in one system call (sendmsg; what the socket does
 * not take goes to h2o's writev when it is writable), and frames queued while a write is
 * in progress leave together when it completes: at most one write per message, fewer
 * under load. Kernel TCP work per write is ~90% of the CPU of a fan-out on loopback
 * (docs/benchmarks.md), so writes are what to save.
 * Over TM_WS_SEND_QUEUE_BYTES the socket is closed with 1013.
 *
 * Client ops (ws_ops.c) become tm-realtime sub-requests (ws_session.c). Room state per
 * socket (ws_sub_t): last seq delivered, deliveries held while a subscribe or resume is
 * in flight, duplicates dropped, gaps resumed.
 *
 * Memory: a ws_conn_t belongs to its loop thread. It is freed when the socket is closed
 * AND no sub-request still refers to it (pending_refs == 0). Every function here runs on
 * the owning loop thread. */
#ifndef WS_CONN_H
#define WS_CONN_H

#include <h2o.h>
#include <jansson.h>
#include "http.h"
#include "jwt_verify.h"
#include "server.h"
#include "ws_frame.h"
#include "ws_hub.h"
#include "ws_ops.h"

#define WS_MAX_ROOMS       64  /* rooms per socket ("too_many_rooms" beyond; heap array) */
#define WS_HELD_MAX        512 /* deliveries held per room during subscribe/resume */
#define WS_RESUME_RETRY_MS 250 /* pause before asking again about a hole not filled yet */
#define WS_WRITE_BATCH     64  /* frames per writev */
#define WS_DEVICE_MAX      64

typedef enum { WS_SUB_PENDING = 0, WS_SUB_RESUMING, WS_SUB_LIVE, WS_SUB_USER } ws_sub_state_t;

typedef struct {
    ws_shared_frame_t *frame;
    int64_t seq;
} ws_held_t;

struct ws_sub {
    ws_conn_t *conn;
    ws_chan_t *chan;
    uint32_t index;            /* in chan->subs */
    uint32_t gen;              /* id of the sub-request in flight (stale replies are ignored) */
    uint8_t state;             /* ws_sub_state_t */
    bool client_resume;        /* the running resume was asked by the client: say "recovered" */
    bool announced;            /* "subscribed" was sent */
    bool held_overflow;        /* held deliveries were dropped: resume again when done */
    bool stalled;              /* the last resume answer brought nothing new: retry after a pause */
    h2o_linklist_t retry_link; /* in ws_local_t.retryq while waiting to resume again */
    char room[WS_ROOM_MAX + 1];
    int64_t last_seq; /* last seq sent to the client; -1 unknown */
    ws_held_t *held;
    uint32_t nheld, capheld;
};

typedef enum { WS_ST_OPEN = 0, WS_ST_CLOSING, WS_ST_CLOSED } ws_conn_state_t;

struct ws_conn {
    h2o_linklist_t link; /* ws_local_t.conns */
    ws_local_t *local;
    h2o_socket_t *sock;
    ws_parser_t parser;
    h2o_timeout_entry_t timer;
    /* send queue; its first `writing` frames are in the socket's current write */
    ws_queue_t q;
    uint32_t writing;
    h2o_linklist_t flush_link; /* in ws_local_t.flushq: frames wait for the end of the pass */
    /* identity */
    char id[48];
    char user[37];
    char sid[37];
    char device[WS_DEVICE_MAX + 1];
    gw_role_t role;
    int64_t exp_s;
    /* liveness and limits */
    int64_t last_rx_ms;
    int64_t partial_since_ms; /* a frame or message is half received since; 0 if not */
    int64_t tokens_mt;        /* ops token bucket, in thousandths of an op */
    int64_t tokens_ms;
    ws_ops_strikes_t strikes;
    ws_sub_t *user_sub;
    ws_sub_t **rooms; /* heap array: most sockets have one room, inline slots cost 0.5 KiB */
    uint32_t nrooms, caprooms;
    uint32_t pending_refs; /* sub-requests that still point here */
    uint32_t next_gen;
    uint8_t state;        /* ws_conn_state_t */
    bool connected;       /* tm.v1.rt.connect was published: disconnect at the end */
    bool connect_pending; /* its reply has not come: disconnect only after it (or the
                           * two may be handled out of order by tm-realtime workers) */
    bool acquired;        /* holds a ws_hub_acquire */
};

/* GET /ws (http.c): check the handshake and the token, take the caps, upgrade. Answers
 * the request itself (101, or 400/401/405/426/429/503 with a problem). */
void ws_conn_upgrade(gw_thread_t *t, h2o_req_t *req, const gw_http_log_t *lg);

/* Queue a frame (takes its own reference); it is written by the next ws_local_flush (or
 * when the write in progress completes). Over the queue cap the socket is closed with
 * 1013. Ignored unless the socket is open. */
void ws_conn_send(ws_conn_t *c, ws_shared_frame_t *f);
/* Queue a text frame copied from text[len] / the compact JSON of o. */
void ws_conn_send_text(ws_conn_t *c, const char *text, size_t len);
void ws_conn_send_json(ws_conn_t *c, json_t *o);
/* Send an error op. Counts a strike when strike is true (1008 over the limit). */
void ws_conn_send_error(ws_conn_t *c, const char *code, const char *message, const char *op,
                        bool strike);
/* Start a close handshake with code (queue a close frame, drop what was not yet being
 * written, close the TCP connection when written or after WS_CLOSE_WAIT_MS). */
void ws_conn_close(ws_conn_t *c, unsigned code, const char *reason);
/* A sub-request finished: drop its reference; frees a closed connection. */
void ws_conn_unref(ws_conn_t *c);

/* Deliveries (ws_hub.c): to one subscription / to every socket of the thread. */
void ws_conn_deliver(ws_sub_t *s, const ws_delivery_t *d);
void ws_conn_deliver_all(ws_local_t *l, const ws_delivery_t *d);

/* Timer callbacks (ws_hub.c sets up the timeouts). */
void ws_conn_on_tick(h2o_timeout_entry_t *entry);

/* Write what the sockets of l queued since their last flush (one write per socket), at
 * most TM_WS_FLUSH_SOCKETS of them, oldest first; the rest wait for the next loop pass
 * (ws_local_after_pass), which reads the loop's input first: a broadcast to 10,000 sockets
 * (~120 ms of writes) neither holds HTTP requests and NATS replies of the same loop for
 * its whole length, nor the next broadcast, whose frames then join the ones still queued
 * (one write for both). ws_hub.c calls it after each batch of deliveries; a zero-delay
 * timer calls it at the end of any loop pass that queued frames. */
void ws_local_flush(ws_local_t *l);

/* Add a room subscription to c's list (TM_ERR_LIMIT at WS_MAX_ROOMS). */
int ws_conn_add_room(ws_conn_t *c, ws_sub_t *s) TM_WUR;
/* Remove a room subscription (leaves the channel, frees held deliveries). */
void ws_conn_drop_room(ws_conn_t *c, ws_sub_t *s);
ws_sub_t *ws_conn_find_room(ws_conn_t *c, const char *room);

#endif
