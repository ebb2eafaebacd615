/* ws_hub: see ws_hub.h. */
#include "ws_hub.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_util.h"
#include "ws_conn.h"
#include "ws_session.h"

#define HUB_BUCKETS           4096 /* power of two */
#define LOCAL_BUCKETS         1024 /* power of two */
#define DELIVER_PREFIX        "tm.v1.deliver."
#define DELIVER_PENDING_MSGS  65536
#define DELIVER_PENDING_BYTES (64 * 1024 * 1024)
#define STOP_MIN_MS           2000

/* A subject this gateway needs (or a user it counts), gateway-wide. */
typedef struct hub_entry {
    char key[WS_KEY_MAX + 1];
    natsSubscription *sub;
    uint64_t threads; /* bit i: loop thread i has the channel */
    uint32_t users;   /* open sockets of this user ("user.<id>" only) */
    struct hub_entry *next;
} hub_entry_t;

struct ws_hub {
    gw_server_t *server;
    natsConnection *nc;
    pthread_mutex_t lock;
    hub_entry_t *buckets[HUB_BUCKETS];
    size_t conns;  /* under lock */
    bool draining; /* under lock */
    ws_shared_frame_t *ping;
};

ws_metrics_t ws_metrics;
static const unsigned known_codes[] = {1000, 1001, 1002, 1003, 1007, 1008,
                                       1009, 1011, 1013, 4001, 4003};
#define NCODES (sizeof(known_codes) / sizeof(known_codes[0]))
static tm_counter_t *closed_by_code[NCODES];

static size_t hash_key(const char *k)
{
    size_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

static void metrics_init(void)
{
    ws_metrics.connections = tm_metrics_gauge("tm_ws_connections", "open WebSockets", "");
    ws_metrics.sent =
        tm_metrics_counter("tm_ws_messages_sent_total", "frames written to WebSockets", "");
    ws_metrics.writes = tm_metrics_counter(
        "tm_ws_writes_total",
        "system calls that wrote WebSocket frames (several frames each under load)", "");
    ws_metrics.flush_deferred = tm_metrics_counter(
        "tm_ws_flush_deferred_total",
        "loop passes that wrote TM_WS_FLUSH_SOCKETS sockets and left the rest for the next pass",
        "");
    ws_metrics.dropped_slow = tm_metrics_counter(
        "tm_ws_dropped_slow_total", "WebSockets closed because their send queue was full", "");
    for (size_t i = 0; i < NCODES; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "code=\"%u\"", known_codes[i]);
        closed_by_code[i] =
            tm_metrics_counter("tm_ws_closed_total", "WebSockets closed by close code", labels);
    }
    ws_metrics.closed_other = tm_metrics_counter(
        "tm_ws_closed_total", "WebSockets closed by close code", "code=\"other\"");
}

void ws_metrics_closed(unsigned code)
{
    for (size_t i = 0; i < NCODES; i++)
        if (known_codes[i] == code) {
            tm_counter_add(closed_by_code[i], 1);
            return;
        }
    tm_counter_add(ws_metrics.closed_other, 1);
}

/* ---- hub entries (caller holds h->lock) ----------------------------------------------- */

static hub_entry_t **entry_slot(ws_hub_t *h, const char *key)
{
    hub_entry_t **pp = &h->buckets[hash_key(key) & (HUB_BUCKETS - 1)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

static hub_entry_t *entry_get(ws_hub_t *h, const char *key)
{
    hub_entry_t **pp = entry_slot(h, key);
    if (*pp == NULL) {
        *pp = tm_xcalloc(1, sizeof(**pp));
        snprintf((*pp)->key, sizeof((*pp)->key), "%s", key);
    }
    return *pp;
}

/* Free the entry when nothing needs it any more. Unsubscribing here is safe: a message
 * already on its way finds no entry (or no thread bit) and is dropped. */
static void entry_maybe_free(ws_hub_t *h, const char *key)
{
    hub_entry_t **pp = entry_slot(h, key), *e = *pp;
    if (e == NULL || e->threads != 0 || e->users != 0)
        return;
    if (e->sub != NULL) {
        natsSubscription_Unsubscribe(e->sub);
        natsSubscription_Destroy(e->sub);
    }
    *pp = e->next;
    free(e);
}

/* ---- NATS thread: one delivery -> one shared frame -> each interested loop ----------- */

static void classify(const char *data, size_t len, ws_delivery_t *proto)
{
    json_error_t jerr;
    json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *op = json_string_value(json_object_get(o, "op"));
    json_t *seq = json_object_get(o, "seq");
    proto->seq = -1;
    if (op != NULL && json_is_integer(seq) && json_integer_value(seq) >= 0) {
        if (strcmp(op, "event") == 0)
            proto->kind = WS_DK_EVENT;
        else if (strcmp(op, "head") == 0)
            proto->kind = WS_DK_HEAD;
        if (proto->kind != WS_DK_OTHER)
            proto->seq = json_integer_value(seq);
    }
    json_decref(o);
}

static void post(ws_hub_t *h, uint64_t threads, const ws_delivery_t *proto)
{
    for (int i = 0; i < h->server->nthreads; i++) {
        if (!(threads & (UINT64_C(1) << i)))
            continue;
        ws_delivery_t *d = tm_xcalloc(1, sizeof(*d));
        memcpy(d->key, proto->key, sizeof(d->key));
        d->kind = proto->kind;
        d->seq = proto->seq;
        memcpy(d->exclude_user, proto->exclude_user, sizeof(d->exclude_user));
        d->frame = proto->frame ? ws_shared_frame_ref(proto->frame) : NULL;
        h2o_multithread_send_message(&h->server->threads[i].ws->receiver, &d->super);
    }
}

static void on_deliver(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    ws_hub_t *h = closure;
    const char *subject = natsMsg_GetSubject(msg), *excl = NULL;
    ws_delivery_t proto = {.seq = -1};
    uint64_t threads = 0;
    if (strncmp(subject, DELIVER_PREFIX, strlen(DELIVER_PREFIX)) != 0 ||
        strlen(subject + strlen(DELIVER_PREFIX)) > WS_KEY_MAX)
        goto done;
    strcpy(proto.key, subject + strlen(DELIVER_PREFIX));
    pthread_mutex_lock(&h->lock);
    hub_entry_t *e = *entry_slot(h, proto.key);
    threads = e ? e->threads : 0;
    pthread_mutex_unlock(&h->lock);
    if (threads == 0)
        goto done;
    const char *data = natsMsg_GetData(msg);
    size_t len = (size_t)natsMsg_GetDataLength(msg);
    classify(data, len, &proto);
    if (natsMsgHeader_Get(msg, "Tm-Exclude-User", &excl) == NATS_OK && excl != NULL)
        snprintf(proto.exclude_user, sizeof(proto.exclude_user), "%s", excl);
    if (proto.kind != WS_DK_HEAD)
        proto.frame = ws_shared_frame_new(WS_OPCODE_TEXT, data, len);
    post(h, threads, &proto);
    ws_shared_frame_unref(proto.frame);
done:
    tm_nats_msg_free(msg);
}

/* Loop thread: this thread needs (join) or no longer needs (leave) key. */
static void hub_join(ws_hub_t *h, const char *key, int thread)
{
    char subject[sizeof(DELIVER_PREFIX) + WS_KEY_MAX];
    pthread_mutex_lock(&h->lock);
    hub_entry_t *e = entry_get(h, key);
    e->threads |= UINT64_C(1) << thread;
    if (e->sub == NULL) {
        snprintf(subject, sizeof(subject), DELIVER_PREFIX "%s", key);
        if (natsConnection_Subscribe(&e->sub, h->nc, subject, on_deliver, h) != NATS_OK) {
            tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", subject, nats_GetLastError(NULL));
            e->sub = NULL;
        } else {
            natsSubscription_SetPendingLimits(e->sub, DELIVER_PENDING_MSGS, DELIVER_PENDING_BYTES);
        }
    }
    pthread_mutex_unlock(&h->lock);
}

static void hub_leave(ws_hub_t *h, const char *key, int thread)
{
    pthread_mutex_lock(&h->lock);
    hub_entry_t *e = *entry_slot(h, key);
    if (e != NULL) {
        e->threads &= ~(UINT64_C(1) << thread);
        entry_maybe_free(h, key);
    }
    pthread_mutex_unlock(&h->lock);
}

int ws_hub_acquire(ws_hub_t *h, const char *user_id)
{
    char key[WS_KEY_MAX + 1];
    const gw_config_t *cfg = h->server->cfg;
    int rc = TM_OK;
    snprintf(key, sizeof(key), "user.%s", user_id);
    pthread_mutex_lock(&h->lock);
    if (h->draining || h->conns >= (size_t)cfg->ws_max_connections) {
        rc = TM_ERR_UNAVAILABLE;
    } else {
        hub_entry_t *e = entry_get(h, key);
        if (e->users >= (uint32_t)cfg->ws_max_per_user) {
            rc = TM_ERR_LIMIT;
            entry_maybe_free(h, key);
        } else {
            e->users++;
            h->conns++;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void ws_hub_release(ws_hub_t *h, const char *user_id)
{
    char key[WS_KEY_MAX + 1];
    snprintf(key, sizeof(key), "user.%s", user_id);
    pthread_mutex_lock(&h->lock);
    hub_entry_t *e = *entry_slot(h, key);
    if (e != NULL && e->users > 0) {
        e->users--;
        h->conns--;
        entry_maybe_free(h, key);
    }
    pthread_mutex_unlock(&h->lock);
}

ws_shared_frame_t *ws_hub_ping_frame(ws_hub_t *h)
{
    return h->ping;
}

/* ---- loop thread side ----------------------------------------------------------------- */

static ws_chan_t **chan_slot(ws_local_t *l, const char *key)
{
    ws_chan_t **pp = &l->buckets[hash_key(key) & l->bucket_mask];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

ws_chan_t *ws_local_chan(ws_local_t *l, const char *key, bool create)
{
    ws_chan_t **pp = chan_slot(l, key);
    if (*pp != NULL || !create)
        return *pp;
    ws_chan_t *c = tm_xcalloc(1, sizeof(*c));
    snprintf(c->key, sizeof(c->key), "%s", key);
    *pp = c;
    hub_join(l->hub, key, l->thread->index);
    return c;
}

void ws_local_chan_add(ws_local_t *l, ws_chan_t *c, ws_sub_t *s)
{
    (void)l;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->subs = tm_xrealloc(c->subs, c->cap * sizeof(*c->subs));
    }
    s->chan = c;
    s->index = c->n;
    c->subs[c->n++] = s;
}

/* The last subscription left: forget the channel and tell the hub. */
static void chan_free(ws_local_t *l, ws_chan_t *c)
{
    ws_chan_t **pp = chan_slot(l, c->key);
    *pp = c->next;
    hub_leave(l->hub, c->key, l->thread->index);
    free(c->subs);
    free(c);
}

void ws_local_chan_remove(ws_local_t *l, ws_sub_t *s)
{
    ws_chan_t *c = s->chan;
    if (c == NULL)
        return;
    c->subs[s->index] = c->subs[--c->n];
    c->subs[s->index]->index = s->index;
    s->chan = NULL;
    if (c->n == 0 && !c->walking)
        chan_free(l, c);
}

void ws_local_conn_add(ws_local_t *l, ws_conn_t *c)
{
    h2o_linklist_insert(&l->conns, &c->link);
    if (l->nconns++ == 0)
        hub_join(l->hub, "all", l->thread->index);
    tm_gauge_add(ws_metrics.connections, 1);
}

void ws_local_conn_remove(ws_local_t *l, ws_conn_t *c)
{
    if (!h2o_linklist_is_linked(&c->link))
        return;
    h2o_linklist_unlink(&c->link);
    if (--l->nconns == 0)
        hub_leave(l->hub, "all", l->thread->index);
    tm_gauge_add(ws_metrics.connections, -1);
}

static void drain_local(ws_local_t *l)
{
    l->draining = true;
    /* ws_conn_close may unlink the socket (when it is closed at once): walk by next */
    h2o_linklist_t *node = l->conns.next;
    while (node != &l->conns) {
        ws_conn_t *c = H2O_STRUCT_FROM_MEMBER(ws_conn_t, link, node);
        node = node->next;
        ws_conn_close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
    }
}

static void dispatch(ws_local_t *l, const ws_delivery_t *d)
{
    if (strcmp(d->key, "all") == 0) {
        ws_conn_deliver_all(l, d);
        return;
    }
    ws_chan_t *c = ws_local_chan(l, d->key, false);
    if (c == NULL)
        return;
    /* A delivery may drop a subscription (a refused resume) or close its socket: the
     * last one swaps into the freed slot, so walk from the end; the channel stays
     * allocated until the walk is over even if it empties. */
    c->walking = true;
    for (uint32_t i = c->n; i > 0; i--) {
        if (i <= c->n)
            ws_conn_deliver(c->subs[i - 1], d);
    }
    c->walking = false;
    if (c->n == 0)
        chan_free(l, c);
}

static void on_deliveries(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    ws_local_t *l = H2O_STRUCT_FROM_MEMBER(ws_local_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        ws_delivery_t *d = H2O_STRUCT_FROM_MEMBER(ws_delivery_t, super.link, messages->next);
        h2o_linklist_unlink(&d->super.link);
        if (d->drain)
            drain_local(l);
        else
            dispatch(l, d);
        ws_shared_frame_unref(d->frame);
        free(d);
    }
    ws_local_flush(l); /* one write per socket for the whole batch */
}

void ws_local_after_pass(ws_local_t *l)
{
    if (!l->flush_more)
        return;
    l->flush_more = false;
    /* linked outside h2o_timeout_run: it runs in the next pass, after that pass's I/O */
    if (!h2o_timeout_is_linked(&l->flush_entry) && !h2o_linklist_is_empty(&l->flushq))
        h2o_timeout_link(l->thread->ctx.loop, &l->flush_timer, &l->flush_entry);
}

static void on_flush_timer(h2o_timeout_entry_t *entry)
{
    ws_local_flush(H2O_STRUCT_FROM_MEMBER(ws_local_t, flush_entry, entry));
}

static void on_heartbeat(h2o_timeout_entry_t *entry)
{
    ws_local_t *l = H2O_STRUCT_FROM_MEMBER(ws_local_t, heartbeat_entry, entry);
    if (l->nconns > 0)
        ws_session_heartbeat(l);
    h2o_timeout_link(l->thread->ctx.loop, &l->heartbeat, &l->heartbeat_entry);
}

static ws_local_t *local_new(ws_hub_t *h, gw_thread_t *t)
{
    ws_local_t *l = tm_xcalloc(1, sizeof(*l));
    l->thread = t;
    l->hub = h;
    h2o_linklist_init_anchor(&l->conns);
    l->bucket_mask = LOCAL_BUCKETS - 1;
    l->buckets = tm_xcalloc(LOCAL_BUCKETS, sizeof(*l->buckets));
    h2o_multithread_register_receiver(t->queue, &l->receiver, on_deliveries);
    h2o_timeout_init(t->ctx.loop, &l->tick, (uint64_t)h->server->cfg->ws_idle_timeout_ms / 2);
    h2o_timeout_init(t->ctx.loop, &l->closing, WS_CLOSE_WAIT_MS);
    h2o_linklist_init_anchor(&l->flushq);
    h2o_timeout_init(t->ctx.loop, &l->flush_timer, 0);
    l->flush_entry.cb = on_flush_timer;
    h2o_timeout_init(t->ctx.loop, &l->heartbeat, WS_HEARTBEAT_MS);
    l->heartbeat_entry.cb = on_heartbeat;
    h2o_timeout_link(t->ctx.loop, &l->heartbeat, &l->heartbeat_entry);
    h2o_linklist_init_anchor(&l->retryq);
    h2o_timeout_init(t->ctx.loop, &l->retry_timer, WS_RESUME_RETRY_MS);
    l->retry_entry.cb = ws_session_on_retry;
    return l;
}

int ws_hub_start(gw_server_t *s)
{
    tm_nats_opts_t opts = {.send_asap = false, .name = "tm-gateway-ws", .global_delivery = true};
    ws_hub_t *h = tm_xcalloc(1, sizeof(*h));
    h->server = s;
    pthread_mutex_init(&h->lock, NULL);
    h->ping = ws_shared_frame_new(WS_OPCODE_PING, NULL, 0);
    if (s->nthreads > 64) {
        tm_logf(TM_LOG_ERROR, NULL, "TM_GATEWAY_THREADS: at most 64 with WebSockets");
        return TM_ERR_INVALID;
    }
    int rc = tm_nats_connect(s->cfg->nats_url, &opts, &h->nc);
    if (rc != TM_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "TM_NATS_URL: WebSocket connection: %s", tm_strerror(rc));
        return rc;
    }
    metrics_init();
    for (int i = 0; i < s->nthreads; i++)
        s->threads[i].ws = local_new(h, &s->threads[i]);
    s->ws_hub = h;
    return TM_OK;
}

void ws_hub_stop(gw_server_t *s, int64_t until_ms)
{
    ws_hub_t *h = s ? s->ws_hub : NULL;
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->draining = true;
    pthread_mutex_unlock(&h->lock);
    for (int i = 0; i < s->nthreads; i++) {
        ws_delivery_t *d = tm_xcalloc(1, sizeof(*d));
        d->drain = true;
        h2o_multithread_send_message(&s->threads[i].ws->receiver, &d->super);
    }
    if (until_ms < tm_now_ms() + STOP_MIN_MS)
        until_ms = tm_now_ms() + STOP_MIN_MS;
    size_t left = 1;
    while (tm_now_ms() < until_ms) {
        pthread_mutex_lock(&h->lock);
        left = h->conns;
        pthread_mutex_unlock(&h->lock);
        if (left == 0)
            break;
        usleep(10000);
    }
    tm_logf(TM_LOG_INFO, NULL, "websockets drained; %zu still open", left);
    natsConnection_Close(h->nc);
    natsConnection_Destroy(h->nc);
    h->nc = NULL;
}
