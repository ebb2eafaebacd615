/* rt_presence: presence transitions shared by the connect/disconnect handlers and the
 * sweeper. Blocking (Postgres + NATS publish): worker or sweeper thread only. */
#ifndef RT_PRESENCE_H
#define RT_PRESENCE_H

#include <nats/nats.h>
#include <stdbool.h>
#include "tm_pg.h"

/* Publish {op:"presence", room, user_id, online, devices} to every workspace room of
 * user_id (from the membership projection). Returns 0 or TM_ERR_PG. */
int rt_presence_publish(natsConnection *nc, tm_pg_t *pg, const char *user_id, bool online) TM_WUR;

#endif
