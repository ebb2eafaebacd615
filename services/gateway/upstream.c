/* gw_upstream: see upstream.h. */
#include "upstream.h"

#include <stdlib.h>
#include <string.h>
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"

#define INBOX_PENDING_MSGS  65536
#define INBOX_PENDING_BYTES (256 * 1024 * 1024)

/* NATS thread: hand the reply to the loop that owns its pending id. */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_thread_t *t = closure;
    const char *subject = natsMsg_GetSubject(msg);
    size_t plen = strlen(t->inbox_prefix);
    char *end = NULL;
    if (strncmp(subject, t->inbox_prefix, plen) != 0) {
        natsMsg_Destroy(msg);
        return;
    }
    uint64_t id = strtoull(subject + plen, &end, 10);
    if (end == subject + plen || *end != '\0') {
        natsMsg_Destroy(msg);
        return;
    }
    gw_reply_msg_t *m = tm_xcalloc(1, sizeof(*m));
    m->id = id;
    m->msg = msg;
    h2o_multithread_send_message(&t->replies, &m->super);
}

static void on_revoked(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_server_t *s = closure;
    int rc = gw_jwt_deny_add_json(s->deny, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                                  tm_wall_ms() / 1000);
    if (rc != TM_OK)
        tm_logf(TM_LOG_ERROR, NULL, "revocation not applied: %s", tm_strerror(rc));
    natsMsg_Destroy(msg);
}

static int subscribe_inbox(gw_server_t *s, gw_thread_t *t)
{
    char subject[80];
    snprintf(t->inbox_prefix, sizeof(t->inbox_prefix), "_INBOX.%s.%d.", s->gateway_id, t->index);
    snprintf(subject, sizeof(subject), "%s*", t->inbox_prefix);
    if (natsConnection_Subscribe(&t->inbox_sub, s->nc, subject, on_reply, t) != NATS_OK ||
        natsSubscription_SetPendingLimits(t->inbox_sub, INBOX_PENDING_MSGS, INBOX_PENDING_BYTES) !=
            NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", subject, nats_GetLastError(NULL));
        return TM_ERR_NATS;
    }
    return TM_OK;
}

int gw_upstream_start(gw_server_t *s)
{
    tm_nats_opts_t req_opts = {.send_asap = true, .name = "tm-gateway"};
    tm_nats_opts_t evt_opts = {.send_asap = false, .name = "tm-gateway-events"};
    int rc = tm_nats_connect(s->cfg->nats_url, &req_opts, &s->nc);
    if (rc == TM_OK)
        rc = tm_nats_connect(s->cfg->nats_url, &evt_opts, &s->nc_events);
    if (rc != TM_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "TM_NATS_URL: cannot connect: %s", tm_strerror(rc));
        return rc;
    }
    for (int i = 0; i < s->nthreads && rc == TM_OK; i++)
        rc = subscribe_inbox(s, &s->threads[i]);
    if (rc == TM_OK && natsConnection_Subscribe(&s->revoked_sub, s->nc_events, TM_SUBJ_AUTH_REVOKED,
                                                on_revoked, s) != NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", TM_SUBJ_AUTH_REVOKED,
                nats_GetLastError(NULL));
        rc = TM_ERR_NATS;
    }
    if (rc == TM_OK) {
        natsConnection_Flush(s->nc);
        natsConnection_Flush(s->nc_events);
    }
    return rc;
}

void gw_upstream_stop(gw_server_t *s)
{
    for (int i = 0; s->threads != NULL && i < s->nthreads; i++) {
        if (s->threads[i].inbox_sub != NULL) {
            natsSubscription_Unsubscribe(s->threads[i].inbox_sub);
            natsSubscription_Destroy(s->threads[i].inbox_sub);
            s->threads[i].inbox_sub = NULL;
        }
    }
    if (s->revoked_sub != NULL) {
        natsSubscription_Unsubscribe(s->revoked_sub);
        natsSubscription_Destroy(s->revoked_sub);
        s->revoked_sub = NULL;
    }
    if (s->nc != NULL) {
        natsConnection_Close(s->nc);
        natsConnection_Destroy(s->nc);
        s->nc = NULL;
    }
    if (s->nc_events != NULL) {
        natsConnection_Close(s->nc_events);
        natsConnection_Destroy(s->nc_events);
        s->nc_events = NULL;
    }
}

bool gw_upstream_connected(gw_server_t *s)
{
    return s->nc != NULL && natsConnection_Status(s->nc) == NATS_CONN_STATUS_CONNECTED;
}

int gw_upstream_publish(gw_thread_t *t, natsMsg *msg)
{
    if (!gw_upstream_connected(t->server))
        return TM_ERR_UNAVAILABLE;
    return natsConnection_PublishMsg(t->server->nc, msg) == NATS_OK ? TM_OK : TM_ERR_NATS;
}
