/* rt_consumer: the TM_EVENTS consumer thread of tm-realtime.
 *
 * A durable pull consumer (cfg->consumer, AckExplicit, MaxAckPending capped) shared by every
 * replica. Per fetched batch, in one transaction on the thread's own Postgres connection
 * (one COMMIT for the batch): for each event, store it in room history (idempotent by
 * event_id), update the membership projection, create the notifications; COMMIT; then
 * publish each event's deliveries on the thread's own NATS connection and ack it. A bad
 * event is logged, counted and acked. When the batch's transaction fails, its events are
 * applied one transaction each, as far as they go; a database failure naks the rest of the
 * batch for redelivery. NATS and Postgres restarts are survived (the consumer is
 * re-created when it vanished). Metrics: tm_rt_events_total{result}, tm_rt_consumer_lag. */
#ifndef RT_CONSUMER_H
#define RT_CONSUMER_H

#include "config.h"

typedef struct rt_consumer rt_consumer_t;

/* Start the thread (connections are made on it, with retries). cfg and schema must outlive
 * the consumer. NULL only if the thread cannot start. */
rt_consumer_t *rt_consumer_start(const rt_config_t *cfg, const char *schema);
/* Stop and join (within about one fetch timeout), close connections, free. NULL ok. */
void rt_consumer_stop(rt_consumer_t *c);

#endif
