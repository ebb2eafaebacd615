/* relay: see relay.h. */
#include "relay.h"

#include <errno.h>
#include <libpq-fe.h>
#include <nats/nats.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tm_events.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
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
    int wake_pipe[2];
    natsConnection *nc;
    jsCtx *js;
    PGconn *pg;
    bool stream_ok;
    int64_t last_cleanup_ms;
    tm_gauge_t *m_active;
    tm_gauge_t *m_backlog;
    tm_counter_t *m_published;
    tm_counter_t *m_errors;
};

static const char *FETCH_SQL =
    "SELECT event_id::text, workspace_id::text, seq, type, COALESCE(actor_id::text, ''),"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    " payload::text"
    " FROM task.outbox WHERE published_at IS NULL ORDER BY relay_id LIMIT $1";
static const char *MARK_SQL =
    "UPDATE task.outbox SET published_at = now() WHERE event_id = ANY($1::uuid[])";
static const char *CLEANUP_SQL = "DELETE FROM task.outbox WHERE published_at < now() - "
                                 "make_interval(secs => $1::double precision)";

/* Sleep up to ms, returning early when relay_stop() writes to the wake pipe. */
static void nap(relay_t *r, int64_t ms)
{
    struct pollfd p = {.fd = r->wake_pipe[0], .events = POLLIN};
    (void)poll(&p, 1, (int)ms);
}

static void drop_pg(relay_t *r)
{
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
    if (!exec_ok(r->pg, "LISTEN tm_outbox", PGRES_COMMAND_OK)) {
        drop_pg(r);
        return false;
    }
    atomic_store(&r->active, true);
    tm_gauge_set(r->m_active, 1);
    TM_INFO("relay: active (holds the cluster relay lock)");
    return true;
}

static int publish_row(relay_t *r, PGresult *res, int i)
{
    const char *event_id = PQgetvalue(res, i, 0);
    const char *ws = PQgetvalue(res, i, 1);
    const char *type = PQgetvalue(res, i, 3);
    char subject[160];
    if (tm_event_subject(ws, type, subject, sizeof(subject)) != TM_OK)
        return TM_ERR_INVALID;
    json_error_t jerr;
    json_t *data = json_loads(PQgetvalue(res, i, 6), 0, &jerr);
    json_t *env = tm_event_envelope(event_id, ws, strtoll(PQgetvalue(res, i, 2), NULL, 10), type,
                                    PQgetvalue(res, i, 4), PQgetvalue(res, i, 5), data);
    json_decref(data);
    size_t len = 0;
    char *body = tm_json_dumps(env, &len);
    json_decref(env);

    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = event_id;
    po.MaxWait = r->cfg.publish_timeout_ms;
    jsPubAck *ack = NULL;
    jsErrCode jec = 0;
    natsStatus s = js_Publish(&ack, r->js, subject, body, (int)len, &po, &jec);
    free(body);
    jsPubAck_Destroy(ack);
    return s == NATS_OK ? TM_OK : TM_ERR_NATS;
}

static void mark_published(relay_t *r, char *ids)
{
    const char *params[1] = {ids};
    PGresult *res = PQexecParams(r->pg, MARK_SQL, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        /* The events are in the stream; they will be published again and deduplicated by
         * Nats-Msg-Id within the duplicate window, so nothing is lost or doubled. */
        tm_log_kv(TM_LOG_WARN, NULL, "relay: could not mark events published",
                  (const char *[]){"error", PQerrorMessage(r->pg), NULL});
    }
    PQclear(res);
}

/* Publish one batch in order, stopping at the first failed publish so that a workspace's
 * events never overtake each other. *published and *fetched say how far it got.
 * Returns TM_OK, TM_ERR_PG (connection trouble) or TM_ERR_NATS (a publish failed). */
static int relay_batch(relay_t *r, int *fetched, int *published)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", r->cfg.batch);
    const char *params[1] = {limit};
    PGresult *res = PQexecParams(r->pg, FETCH_SQL, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return TM_ERR_PG;
    }
    int n = PQntuples(res);
    *fetched = n;
    size_t cap = (size_t)n * 38 + 3;
    char *ids = tm_xmalloc(cap);
    size_t used = 0;
    ids[used++] = '{';
    int done = 0;
    for (int i = 0; i < n && !atomic_load(&r->stop); i++) {
        if (publish_row(r, res, i) != TM_OK) {
            tm_counter_add(r->m_errors, 1);
            break; /* keep seq order: retry from this row on the next pass */
        }
        used += (size_t)snprintf(ids + used, cap - used, "%s%s", done ? "," : "",
                                 PQgetvalue(res, i, 0));
        done++;
    }
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
    PQclear(PQexecParams(r->pg, CLEANUP_SQL, 1, NULL, params, NULL, NULL, 0));
}

/* Wait for a NOTIFY on the relay connection, the sweep interval, or stop. */
static bool wait_for_work(relay_t *r)
{
    struct pollfd p[2] = {{.fd = PQsocket(r->pg), .events = POLLIN},
                          {.fd = r->wake_pipe[0], .events = POLLIN}};
    if (poll(p, 2, (int)r->cfg.sweep_ms) < 0 && errno != EINTR)
        return false;
    if (!PQconsumeInput(r->pg))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(r->pg)) != NULL)
        PQfreemem(n);
    return PQstatus(r->pg) == CONNECTION_OK;
}

static bool ensure_nats(relay_t *r)
{
    if (!r->nc) {
        tm_nats_opts_t o = {.name = "tm-task-relay"};
        if (tm_nats_connect(r->nats_url, &o, &r->nc) != TM_OK)
            return false;
    }
    if (!r->js && natsConnection_JetStream(&r->js, r->nc, NULL) != NATS_OK)
        return false;
    if (!r->stream_ok)
        r->stream_ok = tm_events_ensure_stream(r->js, 0) == TM_OK;
    return r->stream_ok;
}

static void run_active(relay_t *r)
{
    while (!atomic_load(&r->stop)) {
        if (!ensure_nats(r)) {
            nap(r, RELAY_RETRY_MS);
            continue;
        }
        int fetched = 0, published = 0;
        int rc = relay_batch(r, &fetched, &published);
        if (rc == TM_ERR_PG || PQstatus(r->pg) != CONNECTION_OK)
            return; /* lost Postgres: the lock went with it */
        if (rc != TM_OK) {
            nap(r, 200); /* NATS trouble: back off, rows stay unpublished */
            continue;
        }
        if (fetched == r->cfg.batch)
            continue; /* more waiting */
        cleanup_old(r);
        if (!wait_for_work(r))
            return;
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
            nap(r, RELAY_RETRY_MS);
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
    r->m_active = tm_metrics_gauge("tm_relay_active", "1 while this replica relays the outbox", "");
    r->m_backlog =
        tm_metrics_gauge("tm_relay_backlog", "Unpublished rows seen in the last batch", "");
    r->m_published = tm_metrics_counter("tm_relay_published_total", "Events published", "");
    r->m_errors = tm_metrics_counter("tm_relay_publish_errors_total", "Failed publishes", "");
    if (pipe(r->wake_pipe) != 0)
        goto err_free;
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0)
        goto err_pipe;
    return r;
err_pipe:
    close(r->wake_pipe[0]);
    close(r->wake_pipe[1]);
err_free:
    free(r->nats_url);
    free(r->pg_conninfo);
    free(r);
    return NULL;
}

void relay_stop(relay_t *r)
{
    if (!r)
        return;
    atomic_store(&r->stop, true);
    if (write(r->wake_pipe[1], "x", 1) < 0) {
        /* the thread still sees r->stop at its next poll timeout */
    }
    pthread_join(r->thread, NULL);
    jsCtx_Destroy(r->js);
    if (r->nc) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
    }
    close(r->wake_pipe[0]);
    close(r->wake_pipe[1]);
    free(r->nats_url);
    free(r->pg_conninfo);
    free(r);
}

bool relay_is_active(const relay_t *r)
{
    return r && atomic_load(&r->active);
}
