/* rt_deliver: the server ops tm-realtime publishes to gateways (core NATS) and the JSON
 * shapes they share with replies. The message body IS the op the gateway writes to sockets.
 * Publishing functions are thread-safe (natsConnection is), return 0 or TM_ERR_NATS, and
 * borrow every argument. */
#ifndef RT_DELIVER_H
#define RT_DELIVER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>
#include "tm_error.h"

/* tm.v1.deliver.room.<room>; exclude_user (NULL = none) goes in header Tm-Exclude-User. */
int rt_deliver_room(natsConnection *nc, const char *room, const json_t *op,
                    const char *exclude_user);
/* The same with the op as JSON text (body[len]), e.g. from rt_text_op_event. */
int rt_deliver_room_text(natsConnection *nc, const char *room, const char *body, size_t len);
int rt_deliver_user(natsConnection *nc, const char *user_id, const json_t *op);
int rt_deliver_all(natsConnection *nc, const json_t *op);

/* {op:"event", room, seq, type, data, event_id, created_at}; data borrowed (ref taken). */
json_t *rt_op_event(const char *room, int64_t seq, const char *type, json_t *data,
                    const char *event_id, const char *created_at);
/* A notification from a row of NTF_COLS (id, type, title, body, data, created_at, read_at). */
json_t *rt_view_notification(const PGresult *r, int row);
/* An announcement from a row of ANN_COLS (id, message, level, starts_at, ends_at,
 * created_at). */
json_t *rt_view_announcement(const PGresult *r, int row);
/* The same with op:"announcement" added (the tm.v1.deliver.all body). */
json_t *rt_op_announcement(const PGresult *r, int row);

#endif
