/* ws_hub: where WebSocket deliveries come from and which sockets they go to.
 *
 * Two levels:
 * - ws_hub_t (one per gateway, gw_server_t.ws_hub): its own NATS connection (global
 *   delivery pool, so thousands of subscriptions cost no threads) holding one
 *   subscription per channel "tm.v1.deliver.<key>" (key "room.<room>", "user.<id>" or
 *   "all") while at least one loop thread needs it, a bit per thread saying which ones do,
 *   the per-user and per-gateway connection counts (the caps), and the metrics. A
 *   delivery is parsed and encoded into ONE ws_shared_frame_t on the NATS thread, then
 *   posted (calloc'd ws_delivery_t, h2o_multithread) to each interested loop thread.
 *   Internally locked: any thread.
 * - ws_local_t (one per loop thread, gw_thread_t.ws): the thread's sockets, its channels
 *   (key -> the subscriptions of local sockets), timers (pings/idle/deadlines, heartbeat).
 *   Loop thread only, except ws_local_new (main thread, before the loops run).
 *
 * Lifecycle: ws_hub_start after gw_upstream_start (main thread, loops not yet running);
 * ws_hub_stop during the drain: every socket is closed with 1001, then the hub's NATS
 * connection is closed. */
#ifndef WS_HUB_H
#define WS_HUB_H

#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>
#include "server.h"
#include "tm_error.h"
#include "tm_metrics.h"
#include "ws_frame.h"

#define WS_KEY_MAX       64 /* "room.workspace:<uuid>" is 51 */
#define WS_HEARTBEAT_MS  10000
#define WS_CLOSE_WAIT_MS 3000 /* a close frame that cannot be written in this time: drop */

typedef struct ws_hub ws_hub_t;
typedef struct ws_conn ws_conn_t;
typedef struct ws_sub ws_sub_t;

/* Kind of a delivery, from its body's "op". */
typedef enum { WS_DK_OTHER = 0, WS_DK_EVENT, WS_DK_HEAD } ws_dkind_t;

/* One delivery posted to one loop thread; the frame is shared by every thread it went to. */
typedef struct {
    h2o_multithread_message_t super; /* calloc'd: h2o needs a zeroed link */
    char key[WS_KEY_MAX + 1];
    ws_shared_frame_t *frame; /* one reference owned by this message; NULL for head */
    uint8_t kind;             /* ws_dkind_t */
    bool drain;               /* not a delivery: close every socket with 1001 */
    int64_t seq;              /* event/head; -1 otherwise */
    char exclude_user[37];    /* Tm-Exclude-User, "" if none */
} ws_delivery_t;

/* A channel of one loop thread: the local subscriptions to one deliver subject. */
typedef struct ws_chan {
    char key[WS_KEY_MAX + 1];
    ws_sub_t **subs;
    uint32_t n, cap;
    bool walking;         /* a delivery walks subs: freed after the walk, not during it */
    struct ws_chan *next; /* hash chain */
} ws_chan_t;

typedef struct ws_local {
    gw_thread_t *thread;
    ws_hub_t *hub;
    h2o_multithread_receiver_t receiver; /* ws_delivery_t */
    h2o_linklist_t conns;                /* ws_conn_t.link */
    size_t nconns;
    ws_chan_t **buckets;
    size_t bucket_mask;
    h2o_timeout_t tick;        /* per socket, every idle/2: ping, idle, deadlines */
    h2o_timeout_t closing;     /* per closing socket: WS_CLOSE_WAIT_MS */
    h2o_linklist_t flushq;     /* ws_conn_t.flush_link: frames queued, not yet written */
    h2o_timeout_t flush_timer; /* 0 ms: runs at the end of the loop pass that queued */
    h2o_timeout_entry_t flush_entry;
    bool flush_more; /* flushq left for the next pass (ws_local_after_pass) */
    h2o_timeout_t heartbeat;
    h2o_timeout_entry_t heartbeat_entry;
    h2o_linklist_t retryq;     /* ws_sub_t.retry_link: resumes waiting WS_RESUME_RETRY_MS */
    h2o_timeout_t retry_timer; /* WS_RESUME_RETRY_MS */
    h2o_timeout_entry_t retry_entry;
    uint64_t next_conn;
    bool draining;
} ws_local_t;

/* Metrics (process-wide; created by ws_hub_start). */
typedef struct {
    tm_gauge_t *connections;
    tm_counter_t *sent;
    tm_counter_t *writes;         /* system calls that wrote frames (sent / writes: coalescing) */
    tm_counter_t *flush_deferred; /* flushes that left sockets for the next loop pass */
    tm_counter_t *dropped_slow;
    tm_counter_t *closed_other;
} ws_metrics_t;
extern ws_metrics_t ws_metrics;
/* tm_ws_closed_total{code} for code. Any thread. */
void ws_metrics_closed(unsigned code);

/* After each loop pass (server.c's thread loop): the sockets ws_local_flush (ws_conn.h) left
 * are written in the next pass, which polls without waiting and reads its input first. */
void ws_local_after_pass(ws_local_t *l);

/* Create the hub, its NATS connection and every thread's ws_local_t. Logs why on error. */
int ws_hub_start(gw_server_t *s) TM_WUR;
/* Close every socket with 1001 (waiting at most until max(until_ms, now + 2 s), monotonic
 * ms), then the hub's NATS connection. Main thread. NULL-safe. */
void ws_hub_stop(gw_server_t *s, int64_t until_ms);

/* Per-gateway and per-user caps. acquire returns TM_OK, or TM_ERR_LIMIT (per-user cap)
 * or TM_ERR_UNAVAILABLE (gateway cap or draining). Each TM_OK needs one release. Any
 * thread. */
int ws_hub_acquire(ws_hub_t *h, const char *user_id) TM_WUR;
void ws_hub_release(ws_hub_t *h, const char *user_id);

/* The shared ping frame (never freed). */
ws_shared_frame_t *ws_hub_ping_frame(ws_hub_t *h);

/* ---- per thread (loop thread of l) ------------------------------------------------- */

/* The channel for key, created (and the hub subscribed for this thread) when create is
 * true and it did not exist. NULL if absent (create false). */
ws_chan_t *ws_local_chan(ws_local_t *l, const char *key, bool create);
/* Add / remove a subscription to a channel; the last removal frees the channel and tells
 * the hub this thread no longer needs the subject. */
void ws_local_chan_add(ws_local_t *l, ws_chan_t *c, ws_sub_t *s);
void ws_local_chan_remove(ws_local_t *l, ws_sub_t *s);
/* Register / unregister a socket in the thread's list ("all" deliveries, heartbeat). */
void ws_local_conn_add(ws_local_t *l, ws_conn_t *c);
void ws_local_conn_remove(ws_local_t *l, ws_conn_t *c);

#endif
