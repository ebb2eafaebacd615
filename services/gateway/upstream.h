/* gw_upstream: the gateway's NATS side. Each loop thread has its own request connection
 * driven by the loop itself (gw_natsloop: no NATS reader or delivery thread between a reply
 * and its loop) with one wildcard inbox subscription, "_INBOX.<gateway id>.<thread>.*" (a
 * reply's last subject token is the pending id), named to services by the Tm-Reply-To
 * header; the request's own reply subject, "...<thread>.nr.<id>", only gets nats-server's
 * no-responders status, on an asynchronous subscription (see server.h). A second connection listens
 * to TM_SUBJ_AUTH_REVOKED and fills the deny set. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>
#include "server.h"
#include "tm_error.h"

/* Connect and subscribe (main thread, before the loop threads run). Logs why on error. */
int gw_upstream_start(gw_server_t *s) TM_WUR;
/* Close the connections (main thread, after the loops stopped taking requests, while they
 * still run). NULL-safe on partially started servers. */
void gw_upstream_stop(gw_server_t *s);
/* Publish msg's subject with reply "<inbox prefix><id>" (loop thread). msg stays owned by
 * the caller. Returns 0, TM_ERR_UNAVAILABLE (not connected) or TM_ERR_NATS. */
int gw_upstream_publish(gw_thread_t *t, natsMsg *msg) TM_WUR;
/* subject == prefix + decimal id: sets *id. */
bool gw_upstream_parse_id(const char *subject, const char *prefix, uint64_t *id);
/* Every loop's request connection is up. */
bool gw_upstream_connected(gw_server_t *s);

#endif
