/* tm_nats_reader: one thread of ours reads a NATS connection in nats.c's event-loop mode.
 *
 * With nats.c's own threads a request reaches a service's worker through two hand-offs
 * (nats.c's reader thread -> the subscription's delivery thread -> the worker). Here the
 * reader thread polls the socket, lets nats.c parse what arrived into the connection's
 * synchronous subscriptions, and then calls after_read, which moves those messages to the
 * workers: one hand-off. Writes leave on the thread that publishes (tm_nats_reader_publish)
 * or, for everything else nats.c buffers (pings, other publishes), on the reader thread.
 *
 * Use: r = tm_nats_reader_new(fn, ctx); tm_nats_reader_opts(r, &opts); tm_nats_connect(...,
 * &opts, &nc); tm_nats_reader_start(r, nc); ... natsConnection_Close(nc);
 * tm_nats_reader_stop(r); natsConnection_Destroy(nc); tm_nats_reader_free(r). */
#ifndef TM_NATS_READER_H
#define TM_NATS_READER_H

#include "tm_nats.h"

typedef struct tm_nats_reader tm_nats_reader_t;

/* Runs on the reader thread after each read: drain synchronous subscriptions here
 * (natsSubscription_NextMsg with timeout 0). */
typedef void (*tm_nats_reader_fn)(void *ctx);

tm_nats_reader_t *tm_nats_reader_new(tm_nats_reader_fn after_read, void *ctx);

/* Fills the event-loop fields of opts (for tm_nats_connect). */
void tm_nats_reader_opts(tm_nats_reader_t *r, tm_nats_opts_t *opts);

/* Starts the thread for nc (connected or still trying with the options above). */
int tm_nats_reader_start(tm_nats_reader_t *r, natsConnection *nc) TM_WUR;

/* Publishes msg and writes it to the socket from the calling thread (any thread); from
 * within after_read, the write is the one the reader makes right after it returns (what
 * after_read publishes for a burst of messages leaves together). */
natsStatus tm_nats_reader_publish(tm_nats_reader_t *r, natsMsg *msg);

/* Ends the thread; call after natsConnection_Close. NULL is a no-op. */
void tm_nats_reader_stop(tm_nats_reader_t *r);
void tm_nats_reader_free(tm_nats_reader_t *r);

#endif
