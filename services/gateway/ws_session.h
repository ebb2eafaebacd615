/* ws_session: what a WebSocket does with tm-realtime (rt-contract, proto/websocket.md).
 *
 * connect / disconnect / heartbeat, the client ops subscribe, unsubscribe, resume and
 * typing, and the per-room ordering of deliveries: a subscription holds live deliveries
 * while its subscribe or resume sub-request runs, sends replayed events, then the held
 * ones with seq > last, drops seq <= last, and resumes the missing range on a gap
 * (seq > last + 1) or when a "head" delivery says the room is further than last.
 * Sub-requests go through the thread's pending table (req = NULL) and never block.
 * Loop thread of the connection only. */
#ifndef WS_SESSION_H
#define WS_SESSION_H

#include "ws_conn.h"

/* Publish tm.v1.rt.connect (request) and forward the announcements of its reply. */
void ws_session_connect(ws_conn_t *c);
/* Publish tm.v1.rt.disconnect (no reply). */
void ws_session_disconnect(ws_conn_t *c);
/* Publish tm.v1.rt.heartbeat for this thread's sockets (chunks of up to 2,000 ids). */
void ws_session_heartbeat(ws_local_t *l);
/* Handle subscribe, unsubscribe, resume or typing. */
void ws_session_op(ws_conn_t *c, const ws_op_t *op);
/* A room delivery for s (ordering, gaps, holding). */
void ws_session_deliver(ws_sub_t *s, const ws_delivery_t *d);
/* The per-thread resume retry timer (ws_local_t.retry_entry). */
void ws_session_on_retry(h2o_timeout_entry_t *entry);

#endif
