/* relay: the outbox relay of tm-task. Publishes committed outbox rows to JetStream
 * (stream TM_EVENTS, subject tm.v1.evt.<workspace_id>.<type>, Nats-Msg-Id = event id) in
 * per-workspace seq order and marks them published after the ack.
 *
 * One relay is active per cluster: each tm-task replica runs a relay thread that holds a
 * session-level Postgres advisory lock while active; the others poll for the lock every
 * second, so a replica takes over within about a second of the holder's connection dying.
 *
 * Woken three ways, with a periodic sweep behind them all:
 *  - relay_kick() after a COMMIT in this process (the task write paths): no NOTIFY on the
 *    hot path, because a NOTIFY takes a database-wide lock from pre-commit until after the
 *    WAL flush (PreCommit_Notify), so every notifying COMMIT in the cluster queues behind
 *    the last one and none can share a WAL flush;
 *  - a message on TM_SUBJ_RELAY_KICK: a standby replica forwards its own kicks there;
 *  - LISTEN tm_outbox, for writers that still NOTIFY (outbox_append, see outbox.h).
 * Batches start at most every RELAY_COALESCE_MS under load (one fetch, one mark and one
 * commit for many rows); an idle relay publishes a lone event at once.
 * A NATS outage delays events, never drops them: rows stay unpublished until acked.
 * Published rows older than the retention are deleted hourly (the change feed reads them). */
#ifndef TASK_RELAY_H
#define TASK_RELAY_H

#include <stdbool.h>
#include <stdint.h>

/* Shortest gap between two batch starts while events keep coming. */
#define RELAY_COALESCE_MS 2

typedef struct {
    const char *nats_url;
    const char *pg_conninfo;
    int64_t sweep_ms;     /* periodic sweep without a NOTIFY */
    int batch;            /* rows per fetch */
    int64_t retention_ms; /* keep published rows this long (0 = forever) */
    int64_t publish_timeout_ms;
} relay_config_t;

typedef struct relay relay_t;

/* Start the relay thread; cfg strings are copied. NULL on thread start failure. */
relay_t *relay_start(const relay_config_t *cfg);
/* Stop and join (releases the lock by closing the connection). NULL ok. */
void relay_stop(relay_t *r);
/* True while this replica holds the relay lock. Any thread. */
bool relay_is_active(const relay_t *r);
/* Wake the relay of this process: call after a COMMIT that wrote outbox rows. Any thread;
 * never blocks (a flag and a byte on a pipe, coalesced); no-op without a running relay.
 * A standby relay forwards the kick over NATS to the active one. */
void relay_kick(void);

#endif
