/* tm_nats: hardened NATS connections, call headers, blocking JSON requests. */
#include "tm_nats.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_json.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_util.h"

#define RECONNECT_BUF_BYTES (8 * 1024 * 1024)
#define MAX_REPLY_BODY      (16 * 1024 * 1024)

static _Atomic uint64_t g_epoch;

uint64_t tm_nats_epoch(void)
{
    return atomic_load_explicit(&g_epoch, memory_order_acquire);
}

static tm_counter_t *reconnects_metric(void)
{
    return tm_metrics_counter("tm_nats_reconnects_total", "NATS reconnections", NULL);
}

static tm_gauge_t *connected_metric(void)
{
    return tm_metrics_gauge("tm_nats_connected", "1 while the NATS connection is up", NULL);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    atomic_fetch_add_explicit(&g_epoch, 1, memory_order_acq_rel);
    tm_gauge_set(connected_metric(), 0);
    const char *why = NULL;
    natsStatus s = natsConnection_GetLastError(nc, &why);
    TM_WARN("nats disconnected (%s)", s != NATS_OK && why && *why ? why : "closed");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    atomic_fetch_add_explicit(&g_epoch, 1, memory_order_acq_rel);
    tm_counter_add(reconnects_metric(), 1);
    tm_gauge_set(connected_metric(), 1);
    TM_INFO("nats reconnected");
}

/* Called once when a connection that failed at start-up finally connects. */
static void on_connected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    tm_gauge_set(connected_metric(), 1);
    TM_INFO("nats connected");
}

static void on_closed(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    tm_gauge_set(connected_metric(), 0);
    TM_INFO("nats connection closed");
}

static natsStatus set_options(natsOptions *o, const char *url, const tm_nats_opts_t *opts)
{
    int64_t wait = opts && opts->reconnect_wait_ms > 0 ? opts->reconnect_wait_ms : 250;
    natsStatus s = natsOptions_SetURL(o, url);
    if (s == NATS_OK && opts && opts->name)
        s = natsOptions_SetName(o, opts->name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, wait);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(o, wait / 2 > 0 ? wait / 2 : 1, wait);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(o, 1000);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(o, RECONNECT_BUF_BYTES);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(o, true, on_connected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetFailRequestsOnDisconnect(o, true);
    if (s == NATS_OK && opts && opts->send_asap)
        s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK && opts && opts->global_delivery)
        s = natsOptions_UseGlobalMessageDelivery(o, true);
    if (s == NATS_OK && opts && opts->ev_attach)
        s = natsOptions_SetEventLoop(o, opts->ev_loop, opts->ev_attach, opts->ev_read,
                                     opts->ev_write, opts->ev_detach);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(o, on_closed, NULL);
    return s;
}

int tm_nats_connect(const char *url, const tm_nats_opts_t *opts, natsConnection **out)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    *out = NULL;
    if (!url || !*url)
        return TM_ERR_INVALID;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = set_options(o, url, opts);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    /* With RetryOnFailedConnect the connection object exists and keeps trying. */
    if (s == NATS_NOT_YET_CONNECTED) {
        TM_WARN("nats not reachable yet at start, retrying in the background");
        *out = nc;
        return TM_OK;
    }
    if (s != NATS_OK) {
        TM_ERROR("nats connect failed: %s", natsStatus_GetText(s));
        natsConnection_Destroy(nc);
        return TM_ERR_NATS;
    }
    tm_gauge_set(connected_metric(), 1);
    *out = nc;
    return TM_OK;
}

/* Exported by libnats (what its garbage collector calls), not declared in nats.h. */
extern void natsMsg_free(void *object);

void tm_nats_msg_free(natsMsg *msg)
{
    natsMsg_free(msg);
}

const char *tm_nats_reply_subject(natsMsg *req)
{
    const char *to = NULL;
    if (natsMsgHeader_Get(req, TM_HDR_REPLY_TO, &to) == NATS_OK && to != NULL &&
        strncmp(to, "_INBOX.", 7) == 0 && strlen(to) < 256 && !strpbrk(to, " \t\r\n*>"))
        return to;
    return natsMsg_GetReply(req);
}

static natsStatus set_if(natsMsg *msg, const char *name, const char *value)
{
    if (!value || !*value)
        return NATS_OK;
    return natsMsgHeader_Set(msg, name, value);
}

int tm_nats_set_call_headers(natsMsg *msg, const tm_call_t *call)
{
    if (!call)
        return TM_OK;
    natsStatus s = set_if(msg, TM_HDR_REQUEST_ID, call->request_id);
    if (s == NATS_OK)
        s = set_if(msg, TM_HDR_USER_ID, call->user_id);
    if (s == NATS_OK)
        s = set_if(msg, TM_HDR_USER_ROLE, call->role);
    if (s == NATS_OK)
        s = set_if(msg, TM_HDR_SESSION_ID, call->session_id);
    if (s == NATS_OK)
        s = set_if(msg, TM_HDR_IDEM_KEY, call->idem_key);
    if (s == NATS_OK && call->deadline_ms > 0) {
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)call->deadline_ms);
        s = natsMsgHeader_Set(msg, TM_HDR_DEADLINE, buf);
    }
    return s == NATS_OK ? TM_OK : TM_ERR_NATS;
}

static void get_into(natsMsg *msg, const char *name, char *dst, size_t cap)
{
    const char *v = NULL;
    dst[0] = '\0';
    if (natsMsgHeader_Get(msg, name, &v) != NATS_OK || !v)
        return;
    size_t n = strlen(v);
    if (n >= cap)
        return;
    memcpy(dst, v, n + 1);
}

void tm_nats_get_call_headers(natsMsg *msg, tm_call_t *call)
{
    memset(call, 0, sizeof *call);
    get_into(msg, TM_HDR_REQUEST_ID, call->request_id, sizeof call->request_id);
    get_into(msg, TM_HDR_USER_ID, call->user_id, sizeof call->user_id);
    get_into(msg, TM_HDR_USER_ROLE, call->role, sizeof call->role);
    get_into(msg, TM_HDR_SESSION_ID, call->session_id, sizeof call->session_id);
    get_into(msg, TM_HDR_IDEM_KEY, call->idem_key, sizeof call->idem_key);
    char dl[24];
    get_into(msg, TM_HDR_DEADLINE, dl, sizeof dl);
    if (dl[0]) {
        char *end = NULL;
        long long v = strtoll(dl, &end, 10);
        if (end && *end == '\0' && v > 0)
            call->deadline_ms = v;
    }
}

static int status_of(natsMsg *m)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, TM_HDR_STATUS, &v) != NATS_OK || !v)
        return 500;
    char *end = NULL;
    long st = strtol(v, &end, 10);
    if (!end || *end != '\0' || st < 100 || st > 599)
        return 500;
    return (int)st;
}

static int build_request(const char *subject, const tm_call_t *call, const json_t *body,
                         natsMsg **out)
{
    char *data = NULL;
    size_t len = 0;
    if (body)
        data = tm_json_dumps(body, &len);
    if (len > INT32_MAX) {
        free(data);
        return TM_ERR_LIMIT;
    }
    natsStatus s = natsMsg_Create(out, subject, NULL, data, (int)len);
    free(data);
    if (s != NATS_OK)
        return TM_ERR_NATS;
    if (body)
        s = natsMsgHeader_Set(*out, TM_HDR_CONTENT_TYPE, "application/json");
    if (s != NATS_OK || tm_nats_set_call_headers(*out, call) != TM_OK) {
        tm_nats_msg_free(*out);
        *out = NULL;
        return TM_ERR_NATS;
    }
    return TM_OK;
}

static json_t *parse_reply(natsMsg *m)
{
    int len = natsMsg_GetDataLength(m);
    if (len <= 0 || len > MAX_REPLY_BODY)
        return NULL;
    json_t *v = json_loadb(natsMsg_GetData(m), (size_t)len, 0, NULL);
    return v;
}

int tm_nats_request_json(natsConnection *nc, const char *subject, const tm_call_t *call,
                         const json_t *body, int64_t timeout_ms, int *status, json_t **reply)
{
    natsMsg *req = NULL, *rep = NULL;
    *status = 0;
    *reply = NULL;
    int rc = build_request(subject, call, body, &req);
    if (rc != TM_OK)
        return rc;
    natsStatus s = natsConnection_RequestMsg(&rep, nc, req, timeout_ms);
    tm_nats_msg_free(req);
    if (s == NATS_TIMEOUT)
        return TM_ERR_TIMEOUT;
    if (s == NATS_NO_RESPONDERS)
        return TM_ERR_UNAVAILABLE;
    if (s != NATS_OK)
        return TM_ERR_NATS;
    if (natsMsg_IsNoResponders(rep)) {
        tm_nats_msg_free(rep);
        return TM_ERR_UNAVAILABLE;
    }
    *status = status_of(rep);
    *reply = parse_reply(rep);
    tm_nats_msg_free(rep);
    return TM_OK;
}
