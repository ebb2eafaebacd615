/* gw_upstream: see upstream.h. */
#include "upstream.h"

#include <stdlib.h>
#include <string.h>
#include "natsloop.h"
#include "pending.h"
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"

/* Loop thread: a reply to this loop's inbox goes to the pending request it answers. */
static void on_reply(void *ctx, natsMsg *msg)
{
    gw_thread_t *t = ctx;
    uint64_t id;
    if (gw_upstream_parse_id(natsMsg_GetSubject(msg), t->reply_prefix, &id))
        gw_pending_complete(&t->pending, id, msg); /* false: late reply, dropped */
    tm_nats_msg_free(msg);
}

/* NATS thread: a no-responders status (a synchronous subscription would turn it into an
 * error without its subject), posted to the loop like replies used to be. */
static void on_no_responders(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    gw_thread_t *t = closure;
    uint64_t id;
    if (!gw_upstream_parse_id(natsMsg_GetSubject(msg), t->inbox_prefix, &id)) {
        tm_nats_msg_free(msg);
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
    tm_nats_msg_free(msg);
}

bool gw_upstream_parse_id(const char *subject, const char *prefix, uint64_t *id)
{
    size_t plen = strlen(prefix);
    char *end = NULL;
    if (strncmp(subject, prefix, plen) != 0 || subject[plen] < '0' || subject[plen] > '9')
        return false;
    *id = strtoull(subject + plen, &end, 10);
    return *end == '\0';
}

static int start_thread_nats(gw_server_t *s, gw_thread_t *t)
{
    char subject[80], nr_subject[88], name[48];
    snprintf(t->reply_prefix, sizeof(t->reply_prefix), "_INBOX.%s.%d.", s->gateway_id, t->index);
    snprintf(t->inbox_prefix, sizeof(t->inbox_prefix), "%snr.", t->reply_prefix);
    snprintf(subject, sizeof(subject), "%s*", t->reply_prefix);
    snprintf(nr_subject, sizeof(nr_subject), "%s*", t->inbox_prefix);
    snprintf(name, sizeof(name), "tm-gateway-%d", t->index);
    t->nats = gw_natsloop_new(t->ctx.loop, t->queue);
    int rc = gw_natsloop_start(t->nats, s->cfg->nats_url, name, subject, on_reply, t);
    if (rc == TM_OK && natsConnection_Subscribe(&t->nr_sub, gw_natsloop_conn(t->nats), nr_subject,
                                                on_no_responders, t) != NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", nr_subject, nats_GetLastError(NULL));
        rc = TM_ERR_NATS;
    }
    return rc;
}

int gw_upstream_start(gw_server_t *s)
{
    tm_nats_opts_t evt_opts = {.send_asap = false, .name = "tm-gateway-events"};
    int rc = tm_nats_connect(s->cfg->nats_url, &evt_opts, &s->nc_events);
    for (int i = 0; i < s->nthreads && rc == TM_OK; i++)
        rc = start_thread_nats(s, &s->threads[i]);
    if (rc != TM_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "TM_NATS_URL: cannot connect: %s", tm_strerror(rc));
        return rc;
    }
    if (natsConnection_Subscribe(&s->revoked_sub, s->nc_events, TM_SUBJ_AUTH_REVOKED, on_revoked,
                                 s) != NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", TM_SUBJ_AUTH_REVOKED,
                nats_GetLastError(NULL));
        return TM_ERR_NATS;
    }
    natsConnection_Flush(s->nc_events);
    return TM_OK;
}

void gw_upstream_stop(gw_server_t *s)
{
    for (int i = 0; s->threads != NULL && i < s->nthreads; i++) {
        if (s->threads[i].nr_sub != NULL) {
            natsSubscription_Unsubscribe(s->threads[i].nr_sub);
            natsSubscription_Destroy(s->threads[i].nr_sub);
            s->threads[i].nr_sub = NULL;
        }
        gw_natsloop_stop(s->threads[i].nats);
    }
    if (s->revoked_sub != NULL) {
        natsSubscription_Unsubscribe(s->revoked_sub);
        natsSubscription_Destroy(s->revoked_sub);
        s->revoked_sub = NULL;
    }
    if (s->nc_events != NULL) {
        natsConnection_Close(s->nc_events);
        natsConnection_Destroy(s->nc_events);
        s->nc_events = NULL;
    }
}

bool gw_upstream_connected(gw_server_t *s)
{
    if (s->threads == NULL)
        return false;
    for (int i = 0; i < s->nthreads; i++)
        if (!gw_natsloop_connected(s->threads[i].nats))
            return false;
    return true;
}

int gw_upstream_publish(gw_thread_t *t, natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    size_t plen = strlen(t->inbox_prefix);
    if (reply != NULL && strncmp(reply, t->inbox_prefix, plen) == 0) {
        char to[96];
        snprintf(to, sizeof(to), "%s%s", t->reply_prefix, reply + plen);
        if (natsMsgHeader_Set(msg, TM_HDR_REPLY_TO, to) != NATS_OK)
            return TM_ERR_NATS;
    }
    return gw_natsloop_publish(t->nats, msg);
}
