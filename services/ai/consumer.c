/* ai_consumer: see consumer.h. */
#include "consumer.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edge.h"
#include "projection.h"
#include "tm_events.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_util.h"

/* Messages per fetch, applied with one statement (ai_projection_apply_batch). Each user's
 * change ring (AI_CHANGE_RING slots) must hold a batch's changes of that user: keep it below. */
#define FETCH_BATCH 64
/* Events per transaction on the one-by-one path. Each event's own transaction is a savepoint
 * inside it, and past 64 subtransactions (PGPROC_MAX_CACHED_SUBXIDS) every snapshot in the
 * cluster gets slower. */
#define TXN_EVENTS      32
#define FETCH_WAIT_MS   1000
#define BACKOFF_MAX_MS  5000
#define ACK_WAIT_MS     30000
#define EVENTS_SUBJECTS "tm.v1.evt.>"
_Static_assert(FETCH_BATCH < AI_CHANGE_RING, "a batch's changes of a user must fit the ring");

/* processed_events retention: rows per DELETE (one between two fetches) and the pause once
 * a DELETE found fewer (nothing more is due before then). */
#define PRUNE_BATCH       1000
#define PRUNE_INTERVAL_MS 3600000

struct ai_consumer {
    pthread_t thread;
    atomic_bool stop;
    char *nats_url, *pg_conninfo, *durable;
    ai_cache_t *cache;
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    tm_pg_t *pg;
    tm_counter_t *applied, *bad, *retried, *pruned;
    tm_gauge_t *lag;
    int64_t lag_at_ms;
    int64_t processed_keep_ms; /* TM_AI_PROCESSED_RETENTION */
    int64_t prune_due_ms;      /* 0 at start: the first batch right away */
};

#define LAG_REFRESH_MS 3000

static void refresh_lag(ai_consumer_t *c)
{
    int64_t now = tm_now_ms(), pending = 0;
    if (now - c->lag_at_ms < LAG_REFRESH_MS)
        return;
    c->lag_at_ms = now;
    if (tm_events_consumer_lag(c->js, c->durable, &pending) == TM_OK)
        tm_gauge_set(c->lag, pending);
}

static void nap(ai_consumer_t *c, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&c->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void drop_sub(ai_consumer_t *c)
{
    if (c->sub)
        natsSubscription_Destroy(c->sub);
    c->sub = NULL;
}

static int subscribe(ai_consumer_t *c)
{
    if (!c->nc) {
        tm_nats_opts_t o = {.name = "tm-ai-consumer"};
        if (tm_nats_connect(c->nats_url, &o, &c->nc) != TM_OK)
            return TM_ERR_UNAVAILABLE;
    }
    if (!c->js && natsConnection_JetStream(&c->js, c->nc, NULL) != NATS_OK)
        return TM_ERR_NATS;
    if (tm_events_ensure_stream(c->js, 0) != TM_OK)
        return TM_ERR_UNAVAILABLE;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.Durable = c->durable;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = (int64_t)ACK_WAIT_MS * 1000000;
    so.Config.MaxDeliver = -1;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&c->sub, c->js, EVENTS_SUBJECTS, c->durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        TM_WARN("consumer: pull subscribe failed: %s (%d)", natsStatus_GetText(s), (int)jerr);
        return TM_ERR_NATS;
    }
    TM_INFO("consumer: durable '%s' on TM_EVENTS ready", c->durable);
    return TM_OK;
}

static void drop_answers(const ai_touched_t *touched, void *arg)
{
    ai_consumer_t *c = arg;
    for (size_t i = 0; i < touched->n; i++)
        ai_cache_invalidate_user(c->cache, touched->ids[i]);
}

static void drop_user_answers(const ai_users_t *users, void *arg)
{
    ai_consumer_t *c = arg;
    for (size_t i = 0; i < users->n; i++)
        ai_cache_invalidate_user(c->cache, users->ids[i]);
}

/* After a COMMIT: tell the gateways to drop their copies of these users' answers too. */
static void broadcast_dropped(ai_consumer_t *c, const char *const *ids, size_t n)
{
    if (n > 0)
        ai_edge_dropped(c->nc, ids, n);
}

/* One fetched message: decoded is false for one that could not be (logged and counted
 * once here; it is acked with the others and changes nothing). */
typedef struct {
    tm_event_t ev;
    bool decoded;
} work_t;

static void decode(ai_consumer_t *c, natsMsg *m, work_t *w)
{
    tm_json_errors_t errs = {0};
    const char *data = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    w->decoded =
        tm_event_decode(data ? data : "", len > 0 ? (size_t)len : 0, &w->ev, &errs) == TM_OK;
    if (w->decoded)
        return;
    tm_log_kv(TM_LOG_WARN, NULL, "consumer: undecodable event dropped",
              (const char *[]){"subject", natsMsg_GetSubject(m), "field",
                               errs.count ? errs.e[0].field : "", "reason",
                               errs.count ? errs.e[0].reason : "", NULL});
    tm_counter_add(c->bad, 1);
}

static void log_bad(ai_consumer_t *c, const tm_event_t *ev)
{
    tm_log_kv(TM_LOG_WARN, NULL, "consumer: event with bad data dropped",
              (const char *[]){"event_id", ev->event_id, "type", ev->type, NULL});
    tm_counter_add(c->bad, 1);
}

/* ---- the batch in one statement ---- */

/* The decoded events of list in one transaction (ai_projection_apply_batch); acks them all
 * after its COMMIT. false: nothing applied or acked (the caller goes event by event). */
static bool apply_batch(ai_consumer_t *c, natsMsgList *list, work_t *wk)
{
    const tm_event_t *evs[FETCH_BATCH];
    bool bad[FETCH_BATCH];
    size_t n = 0;
    for (int i = 0; i < list->Count && n < FETCH_BATCH; i++)
        if (wk[i].decoded)
            evs[n++] = &wk[i].ev;
    ai_users_t users;
    /* answers are dropped before the commit and after it: none computed from the old data
     * survives once the change is visible (see cache.h) */
    int rc = ai_projection_apply_batch(c->pg, evs, n, bad, &users, drop_user_answers, c);
    if (rc != TM_OK) {
        TM_WARN("consumer: batch of %zu events not applied (%s): one by one", n, tm_strerror(rc));
        return false;
    }
    drop_user_answers(&users, c);
    const char **ids = tm_xcalloc(users.n > 0 ? users.n : 1, sizeof *ids);
    for (size_t i = 0; i < users.n; i++)
        ids[i] = users.ids[i];
    broadcast_dropped(c, ids, users.n);
    free(ids);
    ai_users_dispose(&users);
    for (size_t k = 0; k < n; k++) {
        if (bad[k])
            log_bad(c, evs[k]);
        else
            tm_counter_add(c->applied, 1);
    }
    for (int i = 0; i < list->Count; i++)
        natsMsg_Ack(list->Msgs[i], NULL);
    return true;
}

/* ---- one by one, when the batch fails: an event Postgres refuses holds back only itself
 * and what follows it ---- */

/* Apply w inside the caller's transaction (ai_projection_apply's own transaction is then a
 * savepoint). 0: ack it once that transaction commits (applied, duplicate, or dropped as
 * bad); otherwise leave it for redelivery (its savepoint is rolled back). */
static int handle(ai_consumer_t *c, work_t *w, ai_touched_t *touched)
{
    memset(touched, 0, sizeof *touched);
    if (!w->decoded)
        return TM_OK;
    int rc = ai_projection_apply(c->pg, &w->ev, touched, drop_answers, c);
    if (rc == TM_ERR_INVALID) {
        log_bad(c, &w->ev);
        memset(touched, 0, sizeof *touched);
        rc = TM_OK;
    } else if (rc == TM_OK) {
        tm_counter_add(c->applied, 1);
    }
    return rc;
}

/* Messages [from, to) of list in one transaction (one COMMIT, one WAL flush, for them all),
 * stopping at the first that must be retried. Acks what the COMMIT made durable and returns
 * how many that is (0 when the transaction failed). */
static int apply_chunk(ai_consumer_t *c, natsMsgList *list, work_t *wk, int from, int to)
{
    ai_touched_t touched[TXN_EVENTS];
    if (tm_pg_begin(c->pg) != TM_OK)
        return 0;
    int n = 0;
    while (from + n < to && handle(c, &wk[from + n], &touched[n]) == TM_OK)
        n++;
    if (tm_pg_commit(c->pg, NULL) != TM_OK)
        return 0;
    const char *ids[TXN_EVENTS * AI_PROJ_MAX_TOUCHED];
    size_t nids = 0;
    for (int i = 0; i < n; i++) {
        drop_answers(&touched[i], c);
        for (size_t k = 0; k < touched[i].n; k++)
            ids[nids++] = touched[i].ids[k];
        natsMsg_Ack(list->Msgs[from + i], NULL);
    }
    broadcast_dropped(c, ids, nids);
    return n;
}

/* Returns how many messages from the start of list are done (acked). */
static int apply_one_by_one(ai_consumer_t *c, natsMsgList *list, work_t *wk)
{
    int done = 0;
    while (done < list->Count) {
        int to = done + TXN_EVENTS < list->Count ? done + TXN_EVENTS : list->Count;
        int n = apply_chunk(c, list, wk, done, to);
        done += n;
        if (done < to)
            break;
    }
    return done;
}

/* Returns false when Postgres failed (the caller backs off). */
static bool fetch_once(ai_consumer_t *c)
{
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    natsStatus s = natsSubscription_Fetch(&list, c->sub, FETCH_BATCH, FETCH_WAIT_MS, &jerr);
    if (s == NATS_TIMEOUT)
        return true;
    if (s != NATS_OK) {
        TM_WARN("consumer: fetch failed: %s", natsStatus_GetText(s));
        nap(c, 500);
        return true;
    }
    work_t *wk = tm_xcalloc(list.Count > 0 ? (size_t)list.Count : 1, sizeof *wk);
    for (int i = 0; i < list.Count; i++)
        decode(c, list.Msgs[i], &wk[i]);
    int done = apply_batch(c, &list, wk) ? list.Count : apply_one_by_one(c, &list, wk);
    /* keep order: leave the first failed message and the rest of the batch for redelivery */
    for (int i = done; i < list.Count; i++) {
        natsMsg_Nak(list.Msgs[i], NULL);
        tm_counter_add(c->retried, 1);
    }
    for (int i = 0; i < list.Count; i++)
        tm_event_dispose(&wk[i].ev);
    free(wk);
    bool ok = done == list.Count;
    natsMsgList_Destroy(&list);
    return ok;
}

/* One bounded DELETE of processed_events rows past the retention, when one is due: a full
 * batch leaves the next due at once (next loop turn, after a fetch), a short one means
 * nothing more is due for an hour. Replicas may prune at the same time: a row is deleted
 * once, the other DELETE skips it. */
static void prune_processed(ai_consumer_t *c)
{
    int64_t now = tm_now_ms();
    if (now < c->prune_due_ms)
        return;
    char keep[24], batch[16];
    snprintf(keep, sizeof keep, "%lld", (long long)c->processed_keep_ms);
    snprintf(batch, sizeof batch, "%d", PRUNE_BATCH);
    PGresult *r = NULL;
    int rc = tm_pg_exec(c->pg, "proj_prune_seen", 2, (const char *[]){keep, batch}, &r, NULL);
    long rows = rc == TM_OK ? strtol(PQcmdTuples(r), NULL, 10) : 0;
    PQclear(r);
    if (rc != TM_OK)
        TM_WARN("consumer: processed_events prune failed: %s", tm_strerror(rc));
    tm_counter_add(c->pruned, (uint64_t)(rows > 0 ? rows : 0));
    c->prune_due_ms = rc == TM_OK && rows >= PRUNE_BATCH ? now : now + PRUNE_INTERVAL_MS;
}

static void *consumer_main(void *arg)
{
    ai_consumer_t *c = arg;
    int64_t backoff = 250;
    while (!atomic_load(&c->stop)) {
        if (!c->sub && subscribe(c) != TM_OK) {
            nap(c, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        if (tm_pg_ensure(c->pg) != TM_OK || !fetch_once(c)) {
            nap(c, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = 250;
        refresh_lag(c);
        prune_processed(c);
    }
    return NULL;
}

ai_consumer_t *ai_consumer_start(const char *nats_url, const char *pg_conninfo, const char *durable,
                                 int64_t processed_keep_ms, ai_cache_t *cache)
{
    ai_consumer_t *c = tm_xcalloc(1, sizeof *c);
    c->processed_keep_ms = processed_keep_ms;
    c->nats_url = tm_xstrdup(nats_url);
    c->pg_conninfo = tm_xstrdup(pg_conninfo);
    c->durable = tm_xstrdup(durable);
    c->cache = cache;
    c->pg = tm_pg_new(pg_conninfo, "ai", ai_projection_stmts, ai_projection_nstmts);
    c->applied = tm_metrics_counter("tm_ai_events_total", "TM_EVENTS messages handled",
                                    "result=\"applied\"");
    c->bad = tm_metrics_counter("tm_ai_events_total", "TM_EVENTS messages handled",
                                "result=\"dropped\"");
    c->retried = tm_metrics_counter("tm_ai_events_total", "TM_EVENTS messages handled",
                                    "result=\"retried\"");
    c->lag =
        tm_metrics_gauge("tm_ai_consumer_lag", "events not yet delivered to the consumer", NULL);
    c->pruned =
        tm_metrics_counter("tm_ai_processed_pruned_total",
                           "processed_events rows past TM_AI_PROCESSED_RETENTION deleted", NULL);
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0) {
        TM_ERROR("consumer: cannot start thread");
        tm_pg_free(c->pg);
        free(c->nats_url);
        free(c->pg_conninfo);
        free(c->durable);
        free(c);
        return NULL;
    }
    return c;
}

void ai_consumer_stop(ai_consumer_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    drop_sub(c);
    if (c->js)
        jsCtx_Destroy(c->js);
    if (c->nc)
        natsConnection_Destroy(c->nc);
    tm_pg_free(c->pg);
    free(c->nats_url);
    free(c->pg_conninfo);
    free(c->durable);
    free(c);
}
