/* rt_access: who may read a room. The membership projection answers first; on a miss
 * tm-task is asked with the caller's own identity (tm.v1.workspace.get for a workspace,
 * tm.v1.task.get for a task not yet in the history), so a brand-new workspace works before
 * its event arrives. Worker threads only (blocking Postgres and NATS requests). */
#ifndef RT_ACCESS_H
#define RT_ACCESS_H

#include "room.h"
#include "tm_svc.h"

/* TM_OK when call->user_id may read room; ws_out (37 bytes) gets the room's workspace.
 * TM_ERR_NOT_FOUND when not (or no such room), TM_ERR_UNAVAILABLE when tm-task did not
 * answer in time, TM_ERR_PG / TM_ERR_UNAVAILABLE on a database failure. */
int rt_access_room(tm_svc_worker_t *w, const tm_call_t *call, const rt_room_t *room,
                   char ws_out[37]) TM_WUR;
/* Membership of a workspace only (same sources). */
int rt_access_workspace(tm_svc_worker_t *w, const tm_call_t *call, const char *ws_id) TM_WUR;

#endif
