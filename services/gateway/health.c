/* gw_health: see health.h. Three sub-requests share one heap aggregate; the aggregate
 * answers when the last of them ends (reply or 1 s deadline) if the client is still
 * there, and is freed then. */
#include "health.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"
#include "upstream.h"

#define NSERVICES 3

static const char *const names[NSERVICES] = {"task", "realtime", "ai"};
static const char *const subjects[NSERVICES] = {TM_SUBJ_TASK_HEALTH, TM_SUBJ_REALTIME_HEALTH,
                                                TM_SUBJ_AI_HEALTH};

typedef struct health {
    gw_thread_t *thread;
    h2o_req_t *req;       /* NULL once the client is gone */
    struct health **slot; /* in the request's pool: clears req when h2o frees it */
    gw_http_log_t log;
    int remaining;
    json_t *services;
    bool all_up;
} health_t;

typedef struct {
    health_t *h;
    int service;
} sub_t;

static void on_req_gone(void *arg)
{
    health_t **slot = arg;
    if (*slot != NULL)
        (*slot)->req = NULL;
}

static json_t *gateway_status(gw_thread_t *t)
{
    gw_server_t *s = t->server;
    return json_pack("{s:b, s:s, s:i, s:b, s:I}", "up", 1, "version", TM_VERSION, "threads",
                     s->nthreads, "nats", gw_upstream_connected(s), "uptime_s",
                     (json_int_t)((tm_now_ms() - s->started_ms) / 1000));
}

static void answer(health_t *h)
{
    json_object_set_new(h->services, "gateway", gateway_status(h->thread));
    json_t *body =
        json_pack("{s:s, s:O}", "status", h->all_up ? "ok" : "degraded", "services", h->services);
    char *text = json_dumps(body, JSON_COMPACT);
    gw_http_send(h->req, &h->log, h->all_up ? 200 : 503, "application/json", text, strlen(text));
    free(text);
    json_decref(body);
}

static json_t *service_status(natsMsg *msg)
{
    json_t *reply = NULL;
    if (msg != NULL && !natsMsg_IsNoResponders(msg))
        reply = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, NULL);
    json_t *out = json_is_object(reply) ? json_deep_copy(reply) : json_object();
    json_object_set_new(out, "up", json_boolean(json_is_object(reply)));
    if (msg == NULL)
        json_object_set_new(out, "error", json_string("timeout"));
    else if (!json_is_object(reply))
        json_object_set_new(out, "error", json_string("no responders"));
    json_decref(reply);
    return out;
}

static void on_sub_done(gw_pending_t *p, natsMsg *msg)
{
    sub_t *sub = p->ctx;
    health_t *h = sub->h;
    json_t *st = service_status(msg);
    h->all_up = h->all_up && json_is_true(json_object_get(st, "up"));
    json_object_set_new(h->services, names[sub->service], st);
    free(sub);
    atomic_store(&h->thread->inflight, h->thread->pending.count);
    if (--h->remaining > 0)
        return;
    if (h->req != NULL && !atomic_load(&h->thread->stop)) {
        *h->slot = NULL;
        answer(h);
    } else {
        gw_http_log_gone(&h->log);
    }
    json_decref(h->services);
    free(h);
}

static void ask(health_t *h, int i)
{
    gw_thread_t *t = h->thread;
    char reply[96];
    natsMsg *m = NULL;
    sub_t *sub = tm_xcalloc(1, sizeof(*sub));
    sub->h = h;
    sub->service = i;
    gw_pending_t *p =
        gw_pending_add(&t->pending, t->ctx.loop, &t->health_timeout, NULL, on_sub_done, sub);
    if (p == NULL) { /* table full: count it as down at once */
        free(sub);
        json_object_set_new(h->services, names[i],
                            json_pack("{s:b, s:s}", "up", 0, "error", "busy"));
        h->all_up = false;
        h->remaining--;
        return;
    }
    atomic_store(&t->inflight, t->pending.count);
    snprintf(reply, sizeof(reply), "%s%" PRIu64, t->inbox_prefix, p->id);
    if (natsMsg_Create(&m, subjects[i], reply, "{}", 2) != NATS_OK ||
        gw_upstream_publish(t, m) != TM_OK)
        gw_pending_complete(&t->pending, p->id, NULL);
    tm_nats_msg_free(m);
}

void gw_health_handle(gw_thread_t *t, h2o_req_t *req, const gw_http_log_t *lg)
{
    health_t *h = tm_xcalloc(1, sizeof(*h));
    h->thread = t;
    h->req = req;
    h->log = *lg;
    h->services = json_object();
    h->all_up = true;
    h->remaining = NSERVICES + 1; /* +1 holds the aggregate while the asks are sent */
    health_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_req_gone);
    *slot = h;
    h->slot = slot;
    for (int i = 0; i < NSERVICES; i++)
        ask(h, i);
    /* drop the hold; if every ask already ended, this answers */
    if (--h->remaining == 0) {
        if (h->req != NULL) {
            *slot = NULL;
            answer(h);
        }
        json_decref(h->services);
        free(h);
    }
}
