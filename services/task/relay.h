/* relay: the outbox relay of tm-task. Publishes committed outbox rows to JetStream
 * (stream TM_EVENTS, subject tm.v1.evt.<workspace_id>.<type>, Nats-Msg-Id = event id) in
 * per-workspace seq order and marks them published after the ack.
 *
 * One relay is active per cluster: each tm-task replica runs a relay thread that holds a
 * session-level Postgres advisory lock while active; the others poll for the lock every
 * second, so a replica takes over within about a second of the holder's connection dying.
 * Woken by LISTEN/NOTIFY (channel tm_outbox, fired by a trigger on insert) with a periodic
 * sweep. A NATS outage delays events, never drops them: rows stay unpublished until acked.
 * Published rows older than the retention are deleted hourly (the change feed reads them). */
#ifndef TASK_RELAY_H
#define TASK_RELAY_H

#include <stdbool.h>
#include <stdint.h>

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

#endif
