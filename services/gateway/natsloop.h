/* gw_natsloop: a NATS connection driven by one h2o loop thread (nats.c event-loop mode).
 *
 * Why: with nats.c's own threads, every forwarded request cost the gateway two thread
 * hand-offs (NATS reader -> subscription delivery thread -> loop thread) and lock
 * contention between the loop, reader and delivery threads on the connection: a third of
 * the gateway's CPU went to context switches (docs/benchmarks.md, HTTP 1). Here the loop
 * thread itself reads the socket when epoll says it is readable, takes the replies from a
 * synchronous subscription and hands them to a callback on the same thread; publishes made
 * during one loop iteration leave in one write at the end of it.
 *
 * nats.c may still call in from its own threads (pings, reconnects, close): those calls
 * only set flags and wake the loop through an h2o_multithread receiver. The loop polls a
 * dup() of nats.c's socket, so closing it never races with nats.c closing (or reusing) its
 * descriptor. */
#ifndef GW_NATSLOOP_H
#define GW_NATSLOOP_H

#include <h2o.h>
#include <nats/nats.h>
#include <stdbool.h>
#include "tm_error.h"

typedef struct gw_natsloop gw_natsloop_t;

/* A message of the subscription, on the loop thread; the callee owns msg. */
typedef void (*gw_natsloop_msg_fn)(void *ctx, natsMsg *msg);

/* Main thread, before the loop thread runs: registers a receiver on queue (the loop's). */
gw_natsloop_t *gw_natsloop_new(h2o_loop_t *loop, h2o_multithread_queue_t *queue);
/* Connect (reconnecting forever, like tm_nats_connect) and subscribe to subject (a
 * wildcard inbox); fn gets every message on the loop thread. Main thread, before the loop
 * runs: the SUB goes out on the loop's first iteration, ahead of any publish. */
int gw_natsloop_start(gw_natsloop_t *nl, const char *url, const char *name, const char *subject,
                      gw_natsloop_msg_fn fn, void *ctx) TM_WUR;
/* Publish (loop thread; thread-safe, but other threads delay the write by a wake-up). */
int gw_natsloop_publish(gw_natsloop_t *nl, natsMsg *msg) TM_WUR;
bool gw_natsloop_connected(gw_natsloop_t *nl);
/* The connection (for extra subscriptions; their callbacks run on nats.c's threads). */
natsConnection *gw_natsloop_conn(gw_natsloop_t *nl);
/* Main thread, while the loop still runs (or never ran): the loop lets go of the socket,
 * then the connection is closed (not destroyed: other threads may still ask whether it is
 * connected). nl and the connection stay allocated until the process exits. NULL-safe. */
void gw_natsloop_stop(gw_natsloop_t *nl);

#endif
