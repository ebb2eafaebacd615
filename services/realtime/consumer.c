/* rt_consumer: see consumer.h. */
#include "consumer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "deliver.h"
#include "evtext.h"
#include "rules.h"
#include "tm_events.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"

#define FETCH_TIMEOUT_MS 1000
#define LAG_REFRESH_MS   3000
#define RETRY_MS         500
#define NAK_DELAY_MS     1000
/* How long an event delivered to a tm-realtime that died before acknowledging it waits to
 * be redelivered: the room's history has a hole (resume stops at it) until then. Applying
 * an event takes milliseconds, and a redelivery is harmless (idempotent by event id). */
#define ACK_WAIT_S 5

struct rt_consumer {
    const rt_config_t *cfg;
    pthread_t thread;
    atomic_bool stop;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    tm_pg_t *pg;
    int64_t lag_at_ms;
    tm_counter_t *ok, *invalid, *failed;
    tm_gauge_t *lag;
};

/* One event's outcome after the transaction, for publishing. */
typedef struct {
    tm_event_t ev;
    const char *task_id;
    char *data;      /* ev.data as JSON text: serialised once, for every text that holds it */
    json_t *notices; /* [{user_id, op}] */
} work_t;

static void sleep_ms(rt_consumer_t *c, int64_t ms)
{
    for (int64_t t = 0; t < ms && !atomic_load(&c->stop); t += 50)
        usleep(50 * 1000);
}

static void drop_sub(rt_consumer_t *c)
{
    natsSubscription_Destroy(c->sub);
    c->sub = NULL;
}

/* A durable created with another AckWait (an older release) is updated first: binding to
 * it with a different one fails (nats.c checks the configuration). */
static void align_ack_wait(rt_consumer_t *c, int64_t ack_wait_ns)
{
    jsConsumerInfo *ci = NULL, *updated = NULL;
    jsErrCode jerr = 0;
    if (js_GetConsumerInfo(&ci, c->js, TM_STREAM_EVENTS, c->cfg->consumer, NULL, &jerr) != NATS_OK)
        return; /* not there yet: js_PullSubscribe creates it */
    if (ci->Config->AckWait != ack_wait_ns) {
        jsConsumerConfig cfg = *ci->Config; /* borrows ci's strings until the update */
        cfg.AckWait = ack_wait_ns;
        if (js_UpdateConsumer(&updated, c->js, TM_STREAM_EVENTS, &cfg, NULL, &jerr) == NATS_OK)
            TM_INFO("realtime: consumer %s ack wait set to %lld s", c->cfg->consumer,
                    (long long)(ack_wait_ns / 1000000000));
        else
            TM_WARN("realtime: consumer %s ack wait not updated (%d)", c->cfg->consumer, (int)jerr);
        jsConsumerInfo_Destroy(updated);
    }
    jsConsumerInfo_Destroy(ci);
}

static int subscribe(rt_consumer_t *c)
{
    if (!c->js && natsConnection_JetStream(&c->js, c->nc, NULL) != NATS_OK)
        return TM_ERR_NATS;
    int rc = tm_events_ensure_stream(c->js, 0);
    if (rc != TM_OK)
        return rc;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = TM_STREAM_EVENTS;
    so.Config.Durable = c->cfg->consumer;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = c->cfg->max_ack_pending;
    so.Config.AckWait = (int64_t)ACK_WAIT_S * 1000 * 1000 * 1000;
    align_ack_wait(c, so.Config.AckWait);
    jsErrCode jerr = 0;
    natsStatus s =
        js_PullSubscribe(&c->sub, c->js, TM_SUBJ_EVT_ALL, c->cfg->consumer, NULL, &so, &jerr);
    if (s != NATS_OK) {
        TM_WARN("realtime: pull subscribe failed: %s (%d)", natsStatus_GetText(s), (int)jerr);
        c->sub = NULL;
        return TM_ERR_NATS;
    }
    TM_INFO("realtime: consuming %s as durable %s", TM_STREAM_EVENTS, c->cfg->consumer);
    return TM_OK;
}

static void refresh_lag(rt_consumer_t *c)
{
    int64_t now = tm_now_ms();
    if (now - c->lag_at_ms < LAG_REFRESH_MS)
        return;
    c->lag_at_ms = now;
    int64_t pending = 0;
    int rc = tm_events_consumer_lag(c->js, c->cfg->consumer, &pending);
    if (rc == TM_OK) {
        tm_gauge_set(c->lag, pending);
    } else if (rc == TM_ERR_NOT_FOUND) {
        TM_WARN("realtime: consumer %s vanished; re-creating it", c->cfg->consumer);
        drop_sub(c);
    }
}

/* ---- one event: transaction ---- */

static const char *or_null(const char *s)
{
    return s && *s ? s : NULL;
}

/* The event's room history row, queued in rows (the text of a JSON array, its closing
 * bracket left out) for the next flush_history. */
static void queue_history(rt_text_t *rows, const work_t *wk)
{
    const tm_event_t *ev = &wk->ev;
    rt_text_lit(rows, rows->len == 0 ? "[{\"w\":" : ",{\"w\":");
    rt_text_str(rows, ev->workspace_id);
    rt_text_lit(rows, ",\"s\":");
    rt_text_int(rows, ev->seq);
    rt_text_lit(rows, ",\"e\":");
    rt_text_str(rows, ev->event_id);
    rt_text_lit(rows, ",\"t\":");
    rt_text_str(rows, ev->type);
    rt_text_lit(rows, ",\"d\":");
    rt_text_lit(rows, wk->data);
    rt_text_lit(rows, ",\"c\":");
    rt_text_str(rows, ev->created_at);
    rt_text_lit(rows, ",\"k\":");
    rt_text_str(rows, wk->task_id);
    rt_text_lit(rows, ",\"a\":");
    rt_text_str(rows, or_null(ev->actor_id));
    rt_text_raw(rows, "}", 1);
}

/* Insert the queued history rows in one statement (ev_insert_many): the statement's
 * fixed cost (bind, executor start, the four indexes opened, arbiter setup) is paid once
 * per batch instead of once per event. */
static int flush_history(tm_pg_t *pg, rt_text_t *rows)
{
    if (rows->len == 0)
        return TM_OK;
    rt_text_raw(rows, "]", 1);
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "ev_insert_many", 1, (const char *[]){rows->p}, &r, NULL);
    PQclear(r);
    rt_text_reset(rows);
    return rc;
}

static int project_membership(tm_pg_t *pg, const tm_event_t *ev)
{
    const char *uid, *role;
    int change = rt_rules_membership(ev, &uid, &role);
    if (change == 0)
        return TM_OK;
    PGresult *r = NULL;
    int rc = change > 0 ? tm_pg_exec(pg, "mem_upsert", 3,
                                     (const char *[]){ev->workspace_id, uid, role}, &r, NULL)
                        : tm_pg_exec(pg, "mem_delete", 2, (const char *[]){ev->workspace_id, uid},
                                     &r, NULL);
    PQclear(r);
    return rc;
}

/* Does the event's notification rule read the task's previous event (prev_assignee)? */
static bool reads_history(const work_t *wk)
{
    return wk->task_id && strcmp(wk->ev.type, "task.updated") == 0;
}

static int prev_assignee(tm_pg_t *pg, const work_t *wk, char out[37], bool *known)
{
    *known = false;
    if (!reads_history(wk))
        return TM_OK;
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", (long long)wk->ev.seq);
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "ev_prev_assignee", 2, (const char *[]){wk->task_id, seq}, &r, NULL);
    if (rc == TM_OK && PQntuples(r) > 0) {
        *known = true;
        snprintf(out, 37, "%s", PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return rc;
}

static int insert_notice(tm_pg_t *pg, const tm_event_t *ev, const char *task_id,
                         const rt_notice_t *n, json_t *out)
{
    json_t *d =
        json_pack("{s:s, s:s, s:o}", "workspace_id", ev->workspace_id, "event_id", ev->event_id,
                  "actor_id", ev->actor_id[0] ? json_string(ev->actor_id) : json_null());
    if (task_id)
        json_object_set_new(d, "task_id", json_string(task_id));
    char *data = tm_json_dumps(d, NULL);
    json_decref(d);
    const char *p[] = {n->user_id, n->type, n->title, n->body, data, ev->event_id};
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "ntf_insert", 6, p, &r, NULL);
    free(data);
    if (rc == TM_OK && PQntuples(r) > 0) {
        json_t *op = rt_view_notification(r, 0);
        json_object_set_new(op, "op", json_string("notification"));
        json_array_append_new(out, json_pack("{s:s, s:o}", "user_id", n->user_id, "op", op));
    }
    PQclear(r);
    return rc;
}

static int notify(tm_pg_t *pg, work_t *wk)
{
    char prev[37] = "";
    bool known;
    int rc = prev_assignee(pg, wk, prev, &known);
    if (rc != TM_OK)
        return rc;
    rt_notice_t ns[RT_RULES_MAX];
    size_t n = rt_rules_notices(&wk->ev, known ? prev : NULL, ns, RT_RULES_MAX);
    for (size_t i = 0; i < n && rc == TM_OK; i++)
        rc = insert_notice(pg, &wk->ev, wk->task_id, &ns[i], wk->notices);
    return rc;
}

/* One event's writes, inside the caller's transaction; its history row is queued in rows.
 * An event whose rule reads the history first flushes the rows queued before it, so that
 * it sees the earlier events of its batch as it did when each was inserted on its own. */
static int apply_one(rt_consumer_t *c, work_t *wk, rt_text_t *rows)
{
    int rc = reads_history(wk) ? flush_history(c->pg, rows) : TM_OK;
    if (rc == TM_OK)
        rc = notify(c->pg, wk);
    if (rc == TM_OK) {
        queue_history(rows, wk);
        rc = project_membership(c->pg, &wk->ev);
    }
    return rc;
}

/* Events [from, to) of a batch in one transaction: one COMMIT (one WAL flush) for them all.
 * Later events see earlier ones (prev_assignee reads the history the batch just wrote). */
static int apply_range(rt_consumer_t *c, work_t *wk, int from, int to)
{
    int rc = tm_pg_ensure(c->pg);
    if (rc == TM_OK)
        rc = tm_pg_begin(c->pg);
    if (rc != TM_OK)
        return rc;
    rt_text_t rows = {0};
    for (int i = from; i < to && rc == TM_OK; i++)
        if (wk[i].ev.event_id[0])
            rc = apply_one(c, &wk[i], &rows);
    if (rc == TM_OK)
        rc = flush_history(c->pg, &rows);
    rt_text_free(&rows);
    if (rc != TM_OK) {
        tm_pg_rollback(c->pg);
        return rc;
    }
    return tm_pg_commit(c->pg, NULL);
}

/* ---- one event: deliveries ---- */

/* The event's op to one room: the text of rt_op_event's object, data spliced in. */
static void publish_op(rt_consumer_t *c, const work_t *wk, const char *room, rt_text_t *op)
{
    const tm_event_t *ev = &wk->ev;
    rt_text_reset(op);
    rt_text_op_event(op, room, ev->seq, ev->type, wk->data, ev->event_id, ev->created_at);
    rt_deliver_room_text(c->nc, room, op->p, op->len);
}

static void publish(rt_consumer_t *c, const work_t *wk)
{
    char room[64];
    rt_text_t op = {0};
    snprintf(room, sizeof room, "workspace:%s", wk->ev.workspace_id);
    publish_op(c, wk, room, &op);
    if (wk->task_id) {
        snprintf(room, sizeof room, "task:%s", wk->task_id);
        publish_op(c, wk, room, &op);
    }
    rt_text_free(&op);
    size_t i;
    json_t *n;
    json_array_foreach(wk->notices, i, n)
        rt_deliver_user(c->nc, tm_json_str(n, "user_id", ""), json_object_get(n, "op"));
}

/* Decode m into wk; a bad event is logged, counted and acked here (wk stays empty). */
static void decode(rt_consumer_t *c, natsMsg *m, work_t *wk)
{
    memset(wk, 0, sizeof *wk);
    tm_json_errors_t errs = {0};
    if (tm_event_decode(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &wk->ev, &errs) !=
        TM_OK) {
        tm_log_kv(TM_LOG_WARN, NULL, "realtime: bad event dropped",
                  (const char *[]){"subject", natsMsg_GetSubject(m), "field",
                                   errs.count ? errs.e[0].field : "", "reason",
                                   errs.count ? errs.e[0].reason : "", NULL});
        tm_counter_add(c->invalid, 1);
        natsMsg_Ack(m, NULL);
        memset(wk, 0, sizeof *wk);
        return;
    }
    wk->task_id = rt_rules_task_id(&wk->ev);
    wk->data = tm_json_dumps(wk->ev.data ? wk->ev.data : json_null(), NULL);
    wk->notices = json_array();
}

/* After the COMMIT of [from, to): deliveries, then acks. */
static void finish_range(rt_consumer_t *c, natsMsgList *list, work_t *wk, int from, int to)
{
    for (int i = from; i < to; i++) {
        if (!wk[i].ev.event_id[0])
            continue;
        publish(c, &wk[i]);
        natsMsg_Ack(list->Msgs[i], NULL);
        tm_counter_add(c->ok, 1);
    }
}

/* The batch in one transaction; when that fails, event by event (each in its own
 * transaction, the events before a failing one acked), so one event Postgres refuses holds
 * back only itself and what follows it. Returns how many events are done (acked). */
static int apply_batch(rt_consumer_t *c, natsMsgList *list, work_t *wk)
{
    int n = list->Count;
    if (apply_range(c, wk, 0, n) == TM_OK) {
        finish_range(c, list, wk, 0, n);
        return n;
    }
    int i = 0;
    for (; i < n; i++) {
        int rc = apply_range(c, wk, i, i + 1);
        if (rc != TM_OK) {
            tm_counter_add(c->failed, 1);
            TM_WARN("realtime: event %s not stored: %s", wk[i].ev.event_id, tm_strerror(rc));
            break;
        }
        finish_range(c, list, wk, i, i + 1);
    }
    return i;
}

static void run_batch(rt_consumer_t *c, natsMsgList *list)
{
    work_t *wk = tm_xcalloc((size_t)list->Count, sizeof *wk);
    for (int i = 0; i < list->Count; i++)
        decode(c, list->Msgs[i], &wk[i]);
    int done = apply_batch(c, list, wk);
    for (int i = done; i < list->Count; i++)
        if (wk[i].ev.event_id[0])
            natsMsg_NakWithDelay(list->Msgs[i], NAK_DELAY_MS, NULL);
    for (int i = 0; i < list->Count; i++) {
        json_decref(wk[i].notices);
        free(wk[i].data);
        tm_event_dispose(&wk[i].ev);
    }
    free(wk);
    if (done < list->Count)
        sleep_ms(c, RETRY_MS);
}

static void fetch_once(rt_consumer_t *c)
{
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s =
        natsSubscription_Fetch(&list, c->sub, (int)c->cfg->fetch_batch, FETCH_TIMEOUT_MS, &jerr);
    if (s == NATS_OK)
        run_batch(c, &list);
    natsMsgList_Destroy(&list);
    if (s == NATS_OK || s == NATS_TIMEOUT)
        return;
    TM_WARN("realtime: fetch failed: %s (%d)", natsStatus_GetText(s), (int)jerr);
    if (s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr || s == NATS_INVALID_SUBSCRIPTION ||
        s == NATS_CONNECTION_CLOSED)
        drop_sub(c);
    sleep_ms(c, RETRY_MS);
}

static void *consumer_main(void *arg)
{
    rt_consumer_t *c = arg;
    while (!atomic_load(&c->stop)) {
        if (!c->nc) {
            tm_nats_opts_t o = {.send_asap = false, .name = "tm-realtime-consumer"};
            if (tm_nats_connect(c->cfg->nats_url, &o, &c->nc) != TM_OK) {
                c->nc = NULL;
                sleep_ms(c, RETRY_MS);
                continue;
            }
        }
        if (!c->sub && subscribe(c) != TM_OK) {
            sleep_ms(c, RETRY_MS);
            continue;
        }
        refresh_lag(c);
        if (c->sub)
            fetch_once(c);
    }
    return NULL;
}

rt_consumer_t *rt_consumer_start(const rt_config_t *cfg, const char *schema)
{
    rt_consumer_t *c = tm_xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->pg = tm_pg_new(cfg->pg_url, schema, rt_db_stmts, rt_db_nstmts);
    const char *h = "TM_EVENTS events handled by tm-realtime";
    c->ok = tm_metrics_counter("tm_rt_events_total", h, "result=\"ok\"");
    c->invalid = tm_metrics_counter("tm_rt_events_total", h, "result=\"invalid\"");
    c->failed = tm_metrics_counter("tm_rt_events_total", h, "result=\"retry\"");
    c->lag =
        tm_metrics_gauge("tm_rt_consumer_lag", "events not yet delivered to the consumer", NULL);
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        tm_pg_free(c->pg);
        free(c);
        return NULL;
    }
    return c;
}

void rt_consumer_stop(rt_consumer_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    drop_sub(c);
    jsCtx_Destroy(c->js);
    natsConnection_Destroy(c->nc);
    tm_pg_free(c->pg);
    free(c);
}
