/* relay: see relay.h. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tm_events.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_subjects.h"
#include "tm_util.h"

/* Arbitrary constant shared by every tm-task replica: the cluster-wide relay lock. */
#define RELAY_LOCK_KEY   7402110301LL
#define RELAY_RETRY_MS   1000
#define CLEANUP_EVERY_MS (3600 * 1000)

struct relay {
    relay_config_t cfg;
    char *nats_url;
    char *pg_conninfo;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool active;
    int wake_pipe[2];    /* non-blocking: relay_stop's and relay_kick's wake-ups */
    atomic_bool kicked;  /* a kick byte is in the pipe or its rows are being fetched */
    int64_t batch_at_ms; /* start of the last batch (coalescing) */
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *kick_sub; /* TM_SUBJ_RELAY_KICK while active */
    pthread_mutex_t ack_mu;     /* the batch in flight, shared with on_pub_ack */
    PGresult *ack_res;          /* its rows (event id in column 0); NULL between batches */
    int ack_n, ack_next;
    bool *acked; /* cfg.batch entries */
    PGconn *pg;
    bool stream_ok;
    int64_t last_cleanup_ms;
    tm_gauge_t *m_active;
    tm_gauge_t *m_backlog;
    tm_counter_t *m_published;
    tm_counter_t *m_errors;
};

/* Prepared on the relay's connection when it becomes active (parsed once, not per batch). */
/* Plain columns: row_msg writes each event envelope (tm_events.h) around the payload text, so
 * the relay neither parses nor re-serialises the payload, and Postgres builds no JSON object
 * per row (json_build_object here cost ~5 us more per row, pgbench over 500-row batches). */
enum { COL_EVENT_ID, COL_WORKSPACE_ID, COL_TYPE, COL_SEQ, COL_ACTOR_ID, COL_CREATED_AT, COL_DATA };
static const char *FETCH_SQL =
    "SELECT event_id::text, workspace_id::text, type, seq::text, actor_id::text,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), payload::text"
    " FROM task.outbox WHERE published_at IS NULL ORDER BY relay_id LIMIT $1";
static const char *MARK_SQL =
    "UPDATE task.outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])";
/* created_at <= published_at: the created_at bound lets the BRIN index (migration 032) find
 * the old rows without changing which rows go. */
static const char *CLEANUP_SQL =
    "DELETE FROM task.outbox WHERE created_at < now() - make_interval(secs => $1::double precision)"
    " AND published_at < now() - make_interval(secs => $1::double precision)";

/* The relay relay_kick() wakes: the one started last in this process. g_kick_mu keeps
 * relay_stop() from freeing it under a kick. */
static pthread_mutex_t g_kick_mu = PTHREAD_MUTEX_INITIALIZER;
static relay_t *g_relay;

static void wake(relay_t *r)
{
    /* One byte per batch at most: later kicks find the flag set until the relay clears it
     * just before its next fetch, which then sees their rows (committed before the kick). */
    if (!atomic_exchange(&r->kicked, true) && write(r->wake_pipe[1], "k", 1) < 0) {
        /* EAGAIN: the pipe already holds wake-ups */
    }
}

void relay_kick(void)
{
    pthread_mutex_lock(&g_kick_mu);
    if (g_relay)
        wake(g_relay);
    pthread_mutex_unlock(&g_kick_mu);
}

static void drain_pipe(relay_t *r)
{
    char buf[64];
    while (read(r->wake_pipe[0], buf, sizeof buf) > 0) {
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void standby_wait(relay_t *r, int64_t ms, bool forward);

static void drop_kick_sub(relay_t *r)
{
    if (!r->kick_sub)
        return;
    /* Drain, not Unsubscribe: once it completes no callback (which uses r) is running. */
    if (natsSubscription_Drain(r->kick_sub) == NATS_OK)
        (void)natsSubscription_WaitForDrainCompletion(r->kick_sub, 2000);
    natsSubscription_Destroy(r->kick_sub);
    r->kick_sub = NULL;
}

static void drop_pg(relay_t *r)
{
    drop_kick_sub(r);
    if (r->pg)
        PQfinish(r->pg);
    r->pg = NULL;
    if (atomic_exchange(&r->active, false)) {
        tm_gauge_set(r->m_active, 0);
        TM_INFO("relay: standing down");
    }
}

static bool exec_ok(PGconn *pg, const char *sql, ExecStatusType want)
{
    PGresult *res = PQexec(pg, sql);
    bool ok = PQresultStatus(res) == want;
    PQclear(res);
    return ok;
}

static bool prepare_all(PGconn *pg)
{
    const char *names[] = {"relay_fetch", "relay_mark", "relay_cleanup"};
    const char *sqls[] = {FETCH_SQL, MARK_SQL, CLEANUP_SQL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        PGresult *res = PQprepare(pg, names[i], sqls[i], 1, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok)
            return false;
    }
    return true;
}

/* Connect and try to take the cluster lock; true when this replica is now the relay. */
static bool try_become_active(relay_t *r)
{
    if (!r->pg) {
        r->pg = PQconnectdb(r->pg_conninfo);
        if (PQstatus(r->pg) != CONNECTION_OK) {
            drop_pg(r);
            return false;
        }
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock(%lld)", RELAY_LOCK_KEY);
    PGresult *res = PQexec(r->pg, sql);
    bool got = PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
    ExecStatusType st = PQresultStatus(res);
    PQclear(res);
    if (st != PGRES_TUPLES_OK) {
        drop_pg(r);
        return false;
    }
    if (!got)
        return false;
    if (!exec_ok(r->pg, "LISTEN tm_outbox", PGRES_COMMAND_OK) || !prepare_all(r->pg)) {
        drop_pg(r);
        return false;
    }
    atomic_store(&r->active, true);
    tm_gauge_set(r->m_active, 1);
    TM_INFO("relay: active (holds the cluster relay lock)");
    return true;
}

/* The envelope of row i as JSON text (caller frees). Every value but the payload is a uuid,
 * a number, a timestamp of to_char or a type that tm_event_subject has already checked (lower
 * case letters, digits, '.', '_'): none needs escaping. */
static char *row_envelope(PGresult *res, int i)
{
    const char *actor = PQgetisnull(res, i, COL_ACTOR_ID) ? NULL : PQgetvalue(res, i, COL_ACTOR_ID);
    return tm_xasprintf("{\"event_id\":\"%s\",\"workspace_id\":\"%s\",\"seq\":%s,\"type\":\"%s\","
                        "\"actor_id\":%s%s%s,\"created_at\":\"%s\",\"data\":%s}",
                        PQgetvalue(res, i, COL_EVENT_ID), PQgetvalue(res, i, COL_WORKSPACE_ID),
                        PQgetvalue(res, i, COL_SEQ), PQgetvalue(res, i, COL_TYPE),
                        actor ? "\"" : "", actor ? actor : "null", actor ? "\"" : "",
                        PQgetvalue(res, i, COL_CREATED_AT), PQgetvalue(res, i, COL_DATA));
}

/* The message of row i (caller destroys), or NULL when the row cannot make one. */
static natsMsg *row_msg(PGresult *res, int i)
{
    char subject[160];
    if (tm_event_subject(PQgetvalue(res, i, COL_WORKSPACE_ID), PQgetvalue(res, i, COL_TYPE),
                         subject, sizeof subject) != TM_OK)
        return NULL;
    char *env = row_envelope(res, i);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, subject, NULL, env, (int)strlen(env)) != NATS_OK)
        m = NULL;
    free(env);
    return m;
}

/* PubAck callback (nats.c's thread): record which row of the batch in flight is stored. A
 * late ack of an earlier batch either names no row of this one or a row being published
 * again, which is then stored indeed. */
static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)pae; /* a refused or failed publish: its row stays unacked and is retried */
    relay_t *r = closure;
    const char *id = NULL;
    if (pa && natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK && id) {
        pthread_mutex_lock(&r->ack_mu);
        for (int k = 0; r->ack_res && k < r->ack_n; k++) {
            int i = (r->ack_next + k) % r->ack_n; /* acks come in publish order */
            if (strcmp(PQgetvalue(r->ack_res, i, COL_EVENT_ID), id) == 0) {
                r->acked[i] = true;
                r->ack_next = i + 1;
                break;
            }
        }
        pthread_mutex_unlock(&r->ack_mu);
    }
    natsMsg_Destroy(msg);
}

static void acks_track(relay_t *r, PGresult *res, int n)
{
    pthread_mutex_lock(&r->ack_mu);
    r->ack_res = res;
    r->ack_n = n;
    r->ack_next = 0;
    if (n > 0)
        memset(r->acked, 0, (size_t)n);
    pthread_mutex_unlock(&r->ack_mu);
}

/* Rows of the batch stored in the stream, counted from its start up to the first that is
 * not (the only ones that may be marked published). Stops the tracking. */
static int acks_prefix(relay_t *r)
{
    pthread_mutex_lock(&r->ack_mu);
    int done = 0;
    while (done < r->ack_n && r->acked[done])
        done++;
    r->ack_res = NULL;
    r->ack_n = 0;
    pthread_mutex_unlock(&r->ack_mu);
    return done;
}

/* Publish rows [0, n) without waiting for each PubAck, then wait for them all (one round
 * trip per batch instead of one per row). Each message but the first requires the one
 * before it to be the stream's last (Nats-Expected-Last-Msg-Id): when one is not stored,
 * none after it is, so a workspace's events never overtake each other even though they
 * are in flight together. Deduplication (Nats-Msg-Id) is checked before that expectation,
 * so rows stored by an earlier attempt pass again as duplicates. Returns how many rows,
 * from the first, are stored. */
static int publish_rows(relay_t *r, PGresult *res, int n)
{
    acks_track(r, res, n);
    for (int i = 0; i < n && !atomic_load(&r->stop); i++) {
        natsMsg *m = row_msg(res, i);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = PQgetvalue(res, i, COL_EVENT_ID);
        po.ExpectLastMsgId = i > 0 ? PQgetvalue(res, i - 1, COL_EVENT_ID) : NULL;
        natsStatus st = m ? js_PublishMsgAsync(r->js, &m, &po) : NATS_INVALID_ARG;
        natsMsg_Destroy(m); /* NULL once nats.c owns it */
        if (st != NATS_OK)
            break; /* the rest would be refused: retried from the first unacked row */
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = r->cfg.publish_timeout_ms;
    if (js_PublishAsyncComplete(r->js, &wait) != NATS_OK) {
        natsMsgList pending = {0};
        if (js_PublishAsyncGetPendingList(&pending, r->js) == NATS_OK)
            natsMsgList_Destroy(&pending); /* their acks, if any come, are dropped */
    }
    return acks_prefix(r);
}

static void mark_published(relay_t *r, char *ids)
{
    const char *params[1] = {ids};
    PGresult *res = PQexecPrepared(r->pg, "relay_mark", 1, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* The events are in the stream; they will be published again and deduplicated by
         * Nats-Msg-Id within the duplicate window, so nothing is lost or doubled. */
        tm_log_kv(TM_LOG_WARN, NULL, "relay: could not mark events published",
                  (const char *[]){"error", PQerrorMessage(r->pg), NULL});
    }
    PQclear(res);
}

/* Publish one batch in order, marking published only the rows up to the first one not
 * stored, so that a workspace's events never overtake each other (publish_rows).
 * *published and *fetched say how far it got.
 * Returns TM_OK, TM_ERR_PG (connection trouble) or TM_ERR_NATS (a publish failed). */
static int relay_batch(relay_t *r, int *fetched, int *published)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", r->cfg.batch);
    const char *params[1] = {limit};
    PGresult *res = PQexecPrepared(r->pg, "relay_fetch", 1, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return TM_ERR_PG;
    }
    int n = PQntuples(res);
    *fetched = n;
    int done = publish_rows(r, res, n);
    if (done < n)
        tm_counter_add(r->m_errors, 1); /* keep seq order: retry from that row next pass */
    size_t cap = (size_t)n * 38 + 3;
    char *ids = tm_xmalloc(cap);
    size_t used = 0;
    ids[used++] = '{';
    for (int i = 0; i < done; i++)
        used += (size_t)snprintf(ids + used, cap - used, "%s%s", i ? "," : "",
                                 PQgetvalue(res, i, COL_EVENT_ID));
    ids[used++] = '}';
    ids[used] = '\0';
    if (done > 0) {
        mark_published(r, ids);
        tm_counter_add(r->m_published, (uint64_t)done);
    }
    free(ids);
    tm_gauge_set(r->m_backlog, n - done);
    PQclear(res);
    *published = done;
    return done < n ? TM_ERR_NATS : TM_OK;
}

static void cleanup_old(relay_t *r)
{
    int64_t now = tm_now_ms();
    if (r->cfg.retention_ms <= 0 || now - r->last_cleanup_ms < CLEANUP_EVERY_MS)
        return;
    r->last_cleanup_ms = now;
    char secs[32];
    snprintf(secs, sizeof(secs), "%lld", (long long)(r->cfg.retention_ms / 1000));
    const char *params[1] = {secs};
    PQclear(PQexecPrepared(r->pg, "relay_cleanup", 1, params, NULL, NULL, 0));
}

/* Wait for a kick, a NOTIFY on the relay connection, the sweep interval, or stop; then let
 * at least RELAY_COALESCE_MS pass since the last batch started, so that under load one batch
 * carries every row committed meanwhile. */
static bool wait_for_work(relay_t *r)
{
    struct pollfd p[2] = {{.fd = PQsocket(r->pg), .events = POLLIN},
                          {.fd = r->wake_pipe[0], .events = POLLIN}};
    if (poll(p, 2, (int)r->cfg.sweep_ms) < 0 && errno != EINTR)
        return false;
    drain_pipe(r);
    if (!PQconsumeInput(r->pg))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(r->pg)) != NULL)
        PQfreemem(n);
    int64_t since = tm_now_ms() - r->batch_at_ms;
    if (since >= 0 && since < RELAY_COALESCE_MS && !atomic_load(&r->stop))
        sleep_ms(RELAY_COALESCE_MS - since);
    return PQstatus(r->pg) == CONNECTION_OK;
}

/* Kicks forwarded by standby replicas (standby_wait), for rows they committed. */
static void on_kick_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    (void)nc;
    (void)sub;
    natsMsg_Destroy(m);
    wake(arg);
}

static bool ensure_conn(relay_t *r)
{
    if (r->nc)
        return true;
    tm_nats_opts_t o = {.name = "tm-task-relay"};
    if (tm_nats_connect(r->nats_url, &o, &r->nc) != TM_OK) {
        r->nc = NULL;
        return false;
    }
    return true;
}

static bool ensure_nats(relay_t *r)
{
    if (!ensure_conn(r))
        return false;
    if (!r->js) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.AckHandler = on_pub_ack;
        jo.PublishAsync.AckHandlerClosure = r;
        jo.PublishAsync.MaxPending = r->cfg.batch;
        if (natsConnection_JetStream(&r->js, r->nc, &jo) != NATS_OK) {
            r->js = NULL;
            return false;
        }
    }
    if (!r->stream_ok)
        r->stream_ok = tm_events_ensure_stream(r->js, 0) == TM_OK;
    if (r->stream_ok && !r->kick_sub &&
        natsConnection_Subscribe(&r->kick_sub, r->nc, TM_SUBJ_RELAY_KICK, on_kick_msg, r) !=
            NATS_OK)
        r->kick_sub = NULL; /* the sweep and local kicks still work; retried next batch */
    return r->stream_ok;
}

static void run_active(relay_t *r)
{
    while (!atomic_load(&r->stop)) {
        if (!ensure_nats(r)) {
            standby_wait(r, RELAY_RETRY_MS, false);
            continue;
        }
        int fetched = 0, published = 0;
        r->batch_at_ms = tm_now_ms();
        atomic_store(&r->kicked, false); /* after the drain: a later kick writes a new byte */
        int rc = relay_batch(r, &fetched, &published);
        if (rc == TM_ERR_PG || PQstatus(r->pg) != CONNECTION_OK)
            return; /* lost Postgres: the lock went with it */
        if (rc != TM_OK) {
            sleep_ms(200); /* NATS trouble: back off, rows stay unpublished */
            continue;
        }
        if (fetched == r->cfg.batch)
            continue; /* more waiting */
        cleanup_old(r);
        if (!wait_for_work(r))
            return;
    }
}

/* Wait up to ms (for the lock, or for NATS), returning early on stop. Kicks that arrive
 * meanwhile are forwarded to the active relay when forward is set, at most one per
 * RELAY_COALESCE_MS: their rows are committed and the active relay is elsewhere. */
static void standby_wait(relay_t *r, int64_t ms, bool forward)
{
    int64_t deadline = tm_now_ms() + ms;
    for (int64_t left = ms; left > 0 && !atomic_load(&r->stop); left = deadline - tm_now_ms()) {
        struct pollfd p = {.fd = r->wake_pipe[0], .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        drain_pipe(r);
        atomic_store(&r->kicked, false);
        if (!forward || atomic_load(&r->stop) || !ensure_conn(r))
            continue;
        if (natsConnection_Publish(r->nc, TM_SUBJ_RELAY_KICK, NULL, 0) != NATS_OK)
            tm_counter_add(r->m_errors, 1);
        sleep_ms(RELAY_COALESCE_MS);
    }
}

static void *relay_main(void *arg)
{
    relay_t *r = arg;
    while (!atomic_load(&r->stop)) {
        if (try_become_active(r))
            run_active(r);
        drop_pg(r);
        if (!atomic_load(&r->stop))
            standby_wait(r, RELAY_RETRY_MS, true);
    }
    drop_pg(r);
    return NULL;
}

relay_t *relay_start(const relay_config_t *cfg)
{
    relay_t *r = tm_xcalloc(1, sizeof(*r));
    r->cfg = *cfg;
    r->nats_url = tm_xstrdup(cfg->nats_url);
    r->pg_conninfo = tm_xstrdup(cfg->pg_conninfo);
    if (r->cfg.sweep_ms <= 0)
        r->cfg.sweep_ms = 1000;
    if (r->cfg.batch <= 0)
        r->cfg.batch = 500;
    if (r->cfg.publish_timeout_ms <= 0)
        r->cfg.publish_timeout_ms = 2000;
    r->last_cleanup_ms = tm_now_ms();
    r->acked = tm_xcalloc((size_t)r->cfg.batch, sizeof *r->acked);
    pthread_mutex_init(&r->ack_mu, NULL);
    r->m_active = tm_metrics_gauge("tm_relay_active", "1 while this replica relays the outbox", "");
    r->m_backlog =
        tm_metrics_gauge("tm_relay_backlog", "Unpublished rows seen in the last batch", "");
    r->m_published = tm_metrics_counter("tm_relay_published_total", "Events published", "");
    r->m_errors = tm_metrics_counter("tm_relay_publish_errors_total", "Failed publishes", "");
    if (pipe(r->wake_pipe) != 0)
        goto err_free;
    for (int i = 0; i < 2; i++)
        (void)fcntl(r->wake_pipe[i], F_SETFL, fcntl(r->wake_pipe[i], F_GETFL) | O_NONBLOCK);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
        goto err_pipe;
    pthread_mutex_lock(&g_kick_mu);
    g_relay = r;
    pthread_mutex_unlock(&g_kick_mu);
    return r;
err_pipe:
    close(r->wake_pipe[0]);
    close(r->wake_pipe[1]);
err_free:
    pthread_mutex_destroy(&r->ack_mu);
    free(r->acked);
    free(r->nats_url);
    free(r->pg_conninfo);
    free(r);
    return NULL;
}

void relay_stop(relay_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&g_kick_mu);
    if (g_relay == r)
        g_relay = NULL;
    pthread_mutex_unlock(&g_kick_mu);
    atomic_store(&r->stop, true);
    if (write(r->wake_pipe[1], "x", 1) < 0) {
        /* the thread still sees r->stop at its next poll timeout */
    }
    pthread_join(r->thread, NULL);
    drop_kick_sub(r);
    jsCtx_Destroy(r->js);
    if (r->nc) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
    }
    close(r->wake_pipe[0]);
    close(r->wake_pipe[1]);
    pthread_mutex_destroy(&r->ack_mu);
    free(r->acked);
    free(r->nats_url);
    free(r->pg_conninfo);
    free(r);
}

bool relay_is_active(const relay_t *r)
{
    return r && atomic_load(&r->active);
}
