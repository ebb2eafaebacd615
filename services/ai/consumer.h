/* ai_consumer: the durable pull consumer on TM_EVENTS that builds the ai projection.
 *
 * One thread with its own NATS connection and its own tm_pg_t. Each fetched batch (up to 64
 * messages) is decoded (tm_event_decode) and applied with one statement in one transaction
 * (ai_projection_apply_batch), and acked after its COMMIT. A message that cannot be decoded
 * or carries bad data is logged and acked (never redelivered forever). When the batch
 * fails, its events are applied one by one (ai_projection_apply; up to 32 share a
 * transaction, each event's own is a savepoint in it): a Postgres failure there naks that
 * event and the rest of the batch (the events before it still commit) and the thread backs
 * off.
 * Every user whose data changed has its cached answers dropped (ai_cache). */
#ifndef AI_CONSUMER_H
#define AI_CONSUMER_H

#include <stdint.h>

#include "cache.h"
#include "tm_error.h"

typedef struct ai_consumer ai_consumer_t;

/* Start the thread. Strings are copied; cache is borrowed (outlives the consumer).
 * processed_keep_ms: processed_events rows older than this are deleted, at start and hourly,
 * in batches between fetches (tm_ai_processed_pruned_total).
 * Returns NULL after logging why (only on thread creation failure: connection problems
 * are retried inside the thread). */
ai_consumer_t *ai_consumer_start(const char *nats_url, const char *pg_conninfo, const char *durable,
                                 int64_t processed_keep_ms, ai_cache_t *cache);
/* Stop and join (at most one fetch wait, ~1 s). NULL ok. */
void ai_consumer_stop(ai_consumer_t *c);

#endif
