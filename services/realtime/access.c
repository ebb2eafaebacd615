/* rt_access: see access.h. */
#include "access.h"

#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_query.h"
#include "tm_subjects.h"
#include "tm_util.h"

/* Ask tm-task about one resource (Tm-Param-id = id) as the caller. *status gets Tm-Status;
 * *body the parsed reply when wanted (caller decrefs). */
static int ask_task(tm_svc_worker_t *w, const tm_call_t *call, const char *subject, const char *id,
                    int *status, json_t **body)
{
    rt_ctx_t *ctx = w->user;
    natsMsg *req = NULL, *rep = NULL;
    *status = 0;
    if (natsMsg_Create(&req, subject, NULL, NULL, 0) != NATS_OK)
        return TM_ERR_NATS;
    tm_call_t c = *call;
    c.idem_key[0] = '\0';
    int64_t deadline = tm_wall_ms() + ctx->cfg->task_timeout_ms;
    if (!c.deadline_ms || c.deadline_ms > deadline)
        c.deadline_ms = deadline;
    int rc = tm_nats_set_call_headers(req, &c);
    if (rc == TM_OK && natsMsgHeader_Set(req, TM_HDR_PARAM_PREFIX "id", id) != NATS_OK)
        rc = TM_ERR_NATS;
    natsStatus s = rc == TM_OK
                       ? natsConnection_RequestMsg(&rep, w->nc, req, ctx->cfg->task_timeout_ms)
                       : NATS_ERR;
    tm_nats_msg_free(req);
    if (rc != TM_OK)
        return rc;
    if (s != NATS_OK || natsMsg_IsNoResponders(rep)) {
        tm_nats_msg_free(rep);
        TM_WARN("realtime: membership look-up at tm-task failed: %s", natsStatus_GetText(s));
        return TM_ERR_UNAVAILABLE;
    }
    const char *st = NULL;
    *status = natsMsgHeader_Get(rep, TM_HDR_STATUS, &st) == NATS_OK ? atoi(st) : 500;
    if (body)
        *body = json_loadb(natsMsg_GetData(rep), (size_t)natsMsg_GetDataLength(rep), 0, NULL);
    tm_nats_msg_free(rep);
    return TM_OK;
}

static int status_to_access(int status)
{
    if (status == 200)
        return TM_OK;
    if (status == 404 || status == 403 || status == 400 || status == 401)
        return TM_ERR_NOT_FOUND;
    return TM_ERR_UNAVAILABLE;
}

int rt_access_workspace(tm_svc_worker_t *w, const tm_call_t *call, const char *ws_id)
{
    if (!tm_is_uuid(call->user_id))
        return TM_ERR_NOT_FOUND;
    PGresult *r = NULL;
    const char *p[] = {ws_id, call->user_id};
    int rc = tm_pg_exec(w->pg, "mem_check", 2, p, &r, NULL);
    if (rc != TM_OK)
        return rc;
    bool member = PQntuples(r) > 0;
    PQclear(r);
    if (member)
        return TM_OK;
    int status;
    if ((rc = ask_task(w, call, TM_SUBJ_WS_GET, ws_id, &status, NULL)) != TM_OK)
        return rc;
    return status_to_access(status);
}

static int task_room(tm_svc_worker_t *w, const tm_call_t *call, const rt_room_t *room,
                     char ws_out[37])
{
    PGresult *r = NULL;
    const char *p[] = {room->id};
    int rc = tm_pg_exec(w->pg, "room_task_ws", 1, p, &r, NULL);
    if (rc != TM_OK)
        return rc;
    bool known = PQntuples(r) > 0;
    if (known)
        snprintf(ws_out, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (known)
        return rt_access_workspace(w, call, ws_out);
    int status;
    json_t *task = NULL;
    if ((rc = ask_task(w, call, TM_SUBJ_TASK_GET, room->id, &status, &task)) != TM_OK)
        return rc;
    const char *ws = tm_json_str(task, "workspace_id", NULL);
    rc = status_to_access(status);
    if (rc == TM_OK && (!ws || !tm_is_uuid(ws)))
        rc = TM_ERR_NOT_FOUND;
    if (rc == TM_OK)
        snprintf(ws_out, 37, "%s", ws);
    json_decref(task);
    return rc;
}

int rt_access_room(tm_svc_worker_t *w, const tm_call_t *call, const rt_room_t *room,
                   char ws_out[37])
{
    ws_out[0] = '\0';
    if (!tm_is_uuid(call->user_id))
        return TM_ERR_NOT_FOUND;
    if (room->kind == RT_ROOM_TASK)
        return task_room(w, call, room, ws_out);
    snprintf(ws_out, 37, "%s", room->id);
    return rt_access_workspace(w, call, room->id);
}
