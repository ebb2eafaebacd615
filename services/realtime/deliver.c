/* rt_deliver: see deliver.h. */
#include "deliver.h"

#include <stdio.h>
#include <string.h>

#include "ctx.h"
#include "tm_json.h"
#include "tm_nats.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_subjects.h"
#include "tm_util.h"

static int publish_body(natsConnection *nc, const char *subject, const char *body, size_t len,
                        const char *exclude_user)
{
    natsMsg *m = NULL;
    natsStatus s = NATS_OK;
    if (len > INT32_MAX)
        s = NATS_INVALID_ARG;
    else if (!exclude_user || !*exclude_user) /* no header: no message object to build */
        s = natsConnection_Publish(nc, subject, body, (int)len);
    else if ((s = natsMsg_Create(&m, subject, NULL, body, (int)len)) == NATS_OK &&
             (s = natsMsgHeader_Set(m, RT_HDR_EXCLUDE_USER, exclude_user)) == NATS_OK)
        s = natsConnection_PublishMsg(nc, m);
    tm_nats_msg_free(m);
    static tm_counter_t *sent, *failed;
    if (!sent) {
        sent =
            tm_metrics_counter("tm_rt_deliveries_total", "deliveries published", "result=\"ok\"");
        failed = tm_metrics_counter("tm_rt_deliveries_total", "deliveries published",
                                    "result=\"error\"");
    }
    tm_counter_add(s == NATS_OK ? sent : failed, 1);
    if (s != NATS_OK) {
        TM_WARN("realtime: delivery not published: %s", natsStatus_GetText(s));
        return TM_ERR_NATS;
    }
    return TM_OK;
}

static int publish(natsConnection *nc, const char *subject, const json_t *op,
                   const char *exclude_user)
{
    size_t len = 0;
    char *body = tm_json_dumps(op, &len);
    int rc = publish_body(nc, subject, body, len, exclude_user);
    free(body);
    return rc;
}

int rt_deliver_room_text(natsConnection *nc, const char *room, const char *body, size_t len)
{
    char subject[128];
    snprintf(subject, sizeof subject, TM_SUBJ_DELIVER_ROOM_FMT, room);
    return publish_body(nc, subject, body, len, NULL);
}

int rt_deliver_room(natsConnection *nc, const char *room, const json_t *op,
                    const char *exclude_user)
{
    char subject[128];
    snprintf(subject, sizeof subject, TM_SUBJ_DELIVER_ROOM_FMT, room);
    return publish(nc, subject, op, exclude_user);
}

int rt_deliver_user(natsConnection *nc, const char *user_id, const json_t *op)
{
    char subject[128];
    snprintf(subject, sizeof subject, TM_SUBJ_DELIVER_USER_FMT, user_id);
    return publish(nc, subject, op, NULL);
}

int rt_deliver_all(natsConnection *nc, const json_t *op)
{
    return publish(nc, TM_SUBJ_DELIVER_ALL, op, NULL);
}

json_t *rt_op_event(const char *room, int64_t seq, const char *type, json_t *data,
                    const char *event_id, const char *created_at)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:O, s:s, s:s}", "op", "event", "room", room, "seq",
                     (json_int_t)seq, "type", type, "data", data ? data : json_null(), "event_id",
                     event_id, "created_at", created_at);
}

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

json_t *rt_view_notification(const PGresult *r, int row)
{
    json_t *data = json_loads(PQgetvalue(r, row, 4), 0, NULL);
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", text_or_null(r, row, 0), "type",
                     text_or_null(r, row, 1), "title", text_or_null(r, row, 2), "body",
                     text_or_null(r, row, 3), "data", data ? data : json_object(), "created_at",
                     text_or_null(r, row, 5), "read_at", text_or_null(r, row, 6));
}

json_t *rt_view_announcement(const PGresult *r, int row)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "id", text_or_null(r, row, 0), "message",
                     text_or_null(r, row, 1), "level", text_or_null(r, row, 2), "starts_at",
                     text_or_null(r, row, 3), "ends_at", text_or_null(r, row, 4), "created_at",
                     text_or_null(r, row, 5));
}

json_t *rt_op_announcement(const PGresult *r, int row)
{
    json_t *op = rt_view_announcement(r, row);
    json_object_set_new(op, "op", json_string("announcement"));
    return op;
}
