/* rt_sweeper: see sweeper.h. Work inside the lock only reads and deletes rows; everything
 * is published after COMMIT so a delivery never announces a rolled-back change. */
#include "sweeper.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "deliver.h"
#include "presence.h"
#include "tm_json.h"
#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_nats.h"
#include "tm_util.h"

struct rt_sweeper {
    const rt_config_t *cfg;
    pthread_t thread;
    atomic_bool stop;
    natsConnection *nc;
    tm_pg_t *pg;
    int64_t pruned_at_ms;
    tm_gauge_t *conns;
    /* Prune work left from the last plan, done a batch per transaction after the pass. */
    json_t *prune_rooms; /* [[workspace_id, last seq to drop], ...] */
    size_t prune_next;   /* the next of prune_rooms */
    bool prune_age;      /* rows past TM_RT_HISTORY_AGE may be left */
    tm_counter_t *pruned;
    tm_gauge_t *prune_max;
};

/* Bounds of one sweep's pruning: batches per pass (the rest waits for the next pass, so
 * presence expiry and head beacons keep their period) and the pause after each batch. */
#define PRUNE_PASS_BATCHES 50
#define PRUNE_PAUSE_MIN_US 5000
#define PRUNE_PAUSE_MAX_US 200000

/* Most rows one prune statement deleted in this process (tm_rt_prune_batch_max_rows). */
static _Atomic int64_t prune_max_rows;

/* What one pass publishes after its commit. */
typedef struct {
    json_t *offline; /* [user_id] */
    json_t *heads;   /* [{op:"head", room, seq}] */
    json_t *anns;    /* [announcement op] */
} pass_t;

static int exec1(tm_pg_t *pg, const char *stmt, int n, const char *const *p, PGresult **r)
{
    *r = NULL;
    return tm_pg_exec(pg, stmt, n, p, r, NULL);
}

static void refresh_gauge(rt_sweeper_t *s)
{
    PGresult *r;
    if (exec1(s->pg, "conn_total", 0, NULL, &r) == TM_OK)
        tm_gauge_set(s->conns, strtoll(PQgetvalue(r, 0, 0), NULL, 10));
    PQclear(r);
}

/* Expire one user's stale connections under the user's lock; true if none is left. */
static int expire_user(rt_sweeper_t *s, const char *uid, const char *timeout, bool *offline)
{
    PGresult *r;
    *offline = false;
    int rc = exec1(s->pg, "user_lock", 1, (const char *[]){uid}, &r);
    PQclear(r);
    if (rc != TM_OK)
        return rc;
    if ((rc = exec1(s->pg, "sweep_user_delete", 2, (const char *[]){uid, timeout}, &r)) != TM_OK)
        return rc;
    bool deleted = atoi(PQcmdTuples(r)) > 0;
    PQclear(r);
    if ((rc = exec1(s->pg, "conn_count", 1, (const char *[]){uid}, &r)) != TM_OK)
        return rc;
    *offline = deleted && strtoll(PQgetvalue(r, 0, 0), NULL, 10) == 0;
    PQclear(r);
    return TM_OK;
}

static int expire(rt_sweeper_t *s, pass_t *p)
{
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%lld", (long long)s->cfg->presence_timeout_ms);
    PGresult *users;
    int rc = exec1(s->pg, "sweep_users", 1, (const char *[]){timeout}, &users);
    for (int i = 0; rc == TM_OK && i < PQntuples(users); i++) {
        bool offline;
        rc = expire_user(s, PQgetvalue(users, i, 0), timeout, &offline);
        if (rc == TM_OK && offline)
            json_array_append_new(p->offline, json_string(PQgetvalue(users, i, 0)));
    }
    PQclear(users);
    return rc;
}

static int heads(rt_sweeper_t *s, pass_t *p)
{
    char window[24];
    snprintf(window, sizeof window, "%lld", (long long)s->cfg->head_window_ms);
    PGresult *r;
    int rc = exec1(s->pg, "heads", 1, (const char *[]){window}, &r);
    for (int i = 0; rc == TM_OK && i < PQntuples(r); i++)
        json_array_append_new(
            p->heads, json_pack("{s:s, s:s, s:I}", "op", "head", "room", PQgetvalue(r, i, 0), "seq",
                                (json_int_t)strtoll(PQgetvalue(r, i, 1), NULL, 10)));
    PQclear(r);
    return rc;
}

static int due_announcements(rt_sweeper_t *s, pass_t *p)
{
    PGresult *r;
    int rc = exec1(s->pg, "ann_due", 0, NULL, &r);
    for (int i = 0; rc == TM_OK && i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 6)[0] == 't')
            json_array_append_new(p->anns, rt_op_announcement(r, i));
    }
    PQclear(r);
    return rc;
}

/* Plan a prune (inside the locked pass, every TM_RT_PRUNE_INTERVAL): the workspaces over
 * TM_RT_HISTORY_EVENTS and how far to cut each. Deleting happens after the pass, in batches:
 * one statement deleting thousands of rows wrote a burst of WAL (full pages after a
 * checkpoint) that every other commit then waited for, and held its backend for a second
 * (issue #6). A cut stays right later: seq only grows, so "max - keep" only moves up. */
static int prune_plan(rt_sweeper_t *s)
{
    int64_t now = tm_now_ms();
    if (now - s->pruned_at_ms < s->cfg->prune_interval_ms)
        return TM_OK;
    s->pruned_at_ms = now;
    char keep[24];
    snprintf(keep, sizeof keep, "%lld", (long long)s->cfg->history_events);
    PGresult *r;
    int rc = exec1(s->pg, "prune_rooms", 1, (const char *[]){keep}, &r);
    if (rc == TM_OK) {
        json_array_clear(s->prune_rooms);
        s->prune_next = 0;
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(s->prune_rooms,
                                  json_pack("[s, s]", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)));
        s->prune_age = true;
    }
    PQclear(r);
    return rc;
}

/* Inside one transaction: the lock, then each duty. *locked=false: another replica has it. */
static int locked_pass(rt_sweeper_t *s, pass_t *p, bool *locked)
{
    PGresult *r;
    int rc = exec1(s->pg, "sweep_lock", 0, NULL, &r);
    *locked = rc == TM_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (rc != TM_OK || !*locked)
        return rc;
    rc = expire(s, p);
    if (rc == TM_OK)
        rc = heads(s, p);
    if (rc == TM_OK)
        rc = due_announcements(s, p);
    if (rc == TM_OK)
        rc = prune_plan(s);
    return rc;
}

static void publish(rt_sweeper_t *s, const pass_t *p)
{
    size_t i;
    json_t *v;
    json_array_foreach(p->offline, i, v)
    {
        if (rt_presence_publish(s->nc, s->pg, json_string_value(v), false) != TM_OK)
            TM_WARN("realtime: presence offline not published");
    }
    json_array_foreach(p->heads, i, v) rt_deliver_room(s->nc, tm_json_str(v, "room", ""), v, NULL);
    json_array_foreach(p->anns, i, v) rt_deliver_all(s->nc, v);
}

static void note_batch(rt_sweeper_t *s, int64_t rows)
{
    tm_counter_add(s->pruned, (uint64_t)rows);
    int64_t max = atomic_load(&prune_max_rows);
    while (rows > max && !atomic_compare_exchange_weak(&prune_max_rows, &max, rows))
        ;
    tm_gauge_set(s->prune_max, atomic_load(&prune_max_rows));
}

/* One prune statement in its own transaction, under the sweep lock (only the replica that
 * sweeps prunes). *rows: deleted; -1 when another replica holds the lock. */
static int prune_batch(rt_sweeper_t *s, const char *stmt, int n, const char *const *p,
                       int64_t *rows)
{
    *rows = -1;
    PGresult *r = NULL;
    int rc = tm_pg_begin(s->pg);
    if (rc == TM_OK)
        rc = exec1(s->pg, "sweep_lock", 0, NULL, &r);
    bool locked = rc == TM_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (rc == TM_OK && locked) {
        rc = exec1(s->pg, stmt, n, p, &r);
        if (rc == TM_OK)
            *rows = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    if (rc == TM_OK && locked)
        rc = tm_pg_commit(s->pg, NULL);
    else
        tm_pg_rollback(s->pg);
    if (rc != TM_OK)
        *rows = -1;
    else if (*rows >= 0)
        note_batch(s, *rows);
    return rc;
}

/* The next batch of the plan: *rows deleted (-1: lock lost); *more false once none is left. */
static int prune_step(rt_sweeper_t *s, int64_t *rows, bool *more)
{
    char batch[24], age[24];
    snprintf(batch, sizeof batch, "%lld", (long long)s->cfg->prune_batch);
    int rc = TM_OK;
    *rows = 0;
    if (s->prune_next < json_array_size(s->prune_rooms)) {
        json_t *room = json_array_get(s->prune_rooms, s->prune_next);
        const char *p[] = {json_string_value(json_array_get(room, 0)),
                           json_string_value(json_array_get(room, 1)), batch};
        rc = prune_batch(s, "prune_count_batch", 3, p, rows);
        if (rc == TM_OK && *rows >= 0 && *rows < s->cfg->prune_batch)
            s->prune_next++;
    } else if (s->prune_age) {
        snprintf(age, sizeof age, "%lld", (long long)s->cfg->history_age_ms);
        rc = prune_batch(s, "prune_age_batch", 2, (const char *[]){age, batch}, rows);
        if (rc == TM_OK && *rows >= 0 && *rows < s->cfg->prune_batch)
            s->prune_age = false;
    }
    *more = s->prune_next < json_array_size(s->prune_rooms) || s->prune_age;
    return rc;
}

static void prune_forget(rt_sweeper_t *s)
{
    json_array_clear(s->prune_rooms);
    s->prune_next = 0;
    s->prune_age = false;
}

/* The planned deletes, a batch per transaction, each followed by a pause as long as it took
 * (at least PRUNE_PAUSE_MIN_US): pruning takes at most about half of a CPU and of the WAL
 * writer, however much is due. Up to PRUNE_PASS_BATCHES now, and no longer than half a sweep
 * interval (presence expiry, head beacons and announcements keep their period): the rest on
 * the next passes. */
static void prune_some(rt_sweeper_t *s)
{
    bool more = s->prune_next < json_array_size(s->prune_rooms) || s->prune_age;
    int64_t until = tm_now_us() + s->cfg->sweep_interval_ms * 500;
    for (int i = 0; more && i < PRUNE_PASS_BATCHES && !atomic_load(&s->stop) && tm_now_us() < until;
         i++) {
        int64_t t0 = tm_now_us(), rows;
        int rc = prune_step(s, &rows, &more);
        if (rc != TM_OK || rows < 0) { /* failed, or another replica sweeps now: it prunes */
            if (rc != TM_OK)
                TM_WARN("realtime: prune failed: %s", tm_strerror(rc));
            prune_forget(s);
            return;
        }
        int64_t pause = tm_now_us() - t0;
        pause = pause < PRUNE_PAUSE_MIN_US ? PRUNE_PAUSE_MIN_US : pause;
        if (more)
            usleep((useconds_t)(pause > PRUNE_PAUSE_MAX_US ? PRUNE_PAUSE_MAX_US : pause));
    }
}

static void sweep_once(rt_sweeper_t *s)
{
    if (tm_pg_ensure(s->pg) != TM_OK)
        return;
    refresh_gauge(s);
    pass_t p = {json_array(), json_array(), json_array()};
    bool locked = false;
    int rc = tm_pg_begin(s->pg);
    if (rc == TM_OK)
        rc = locked_pass(s, &p, &locked);
    if (rc == TM_OK)
        rc = tm_pg_commit(s->pg, NULL);
    else
        tm_pg_rollback(s->pg);
    if (rc == TM_OK && locked) {
        publish(s, &p);
        prune_some(s);
    } else if (rc != TM_OK)
        TM_WARN("realtime: sweep failed: %s", tm_strerror(rc));
    json_decref(p.offline);
    json_decref(p.heads);
    json_decref(p.anns);
}

static void *sweeper_main(void *arg)
{
    rt_sweeper_t *s = arg;
    while (!atomic_load(&s->stop)) {
        if (!s->nc) {
            tm_nats_opts_t o = {.name = "tm-realtime-sweeper"};
            if (tm_nats_connect(s->cfg->nats_url, &o, &s->nc) != TM_OK)
                s->nc = NULL;
        }
        if (s->nc)
            sweep_once(s);
        for (int64_t t = 0; t < s->cfg->sweep_interval_ms && !atomic_load(&s->stop); t += 50)
            usleep(50 * 1000);
    }
    return NULL;
}

rt_sweeper_t *rt_sweeper_start(const rt_config_t *cfg, const char *schema)
{
    rt_sweeper_t *s = tm_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->pg = tm_pg_new(cfg->pg_url, schema, rt_db_stmts, rt_db_nstmts);
    s->pruned_at_ms = tm_now_ms();
    s->conns =
        tm_metrics_gauge("tm_rt_connections", "live WebSocket connections (all replicas)", NULL);
    s->prune_rooms = json_array();
    s->pruned = tm_metrics_counter("tm_rt_pruned_rows_total", "room history rows pruned", NULL);
    s->prune_max =
        tm_metrics_gauge("tm_rt_prune_batch_max_rows",
                         "most rows one prune statement deleted (TM_RT_PRUNE_BATCH)", NULL);
    if (pthread_create(&s->thread, NULL, sweeper_main, s) != 0) {
        tm_pg_free(s->pg);
        json_decref(s->prune_rooms);
        free(s);
        return NULL;
    }
    return s;
}

void rt_sweeper_stop(rt_sweeper_t *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    natsConnection_Destroy(s->nc);
    tm_pg_free(s->pg);
    json_decref(s->prune_rooms);
    free(s);
}
