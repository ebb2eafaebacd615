/* gw_upstream: the gateway's NATS side. One request connection (send_asap) with one
 * wildcard inbox subscription per loop thread, "_INBOX.<gateway id>.<thread>.*"; a reply's
 * last subject token is the pending id, and the reply is posted to the owning loop thread
 * (the NATS callback never touches loop state). A second connection listens to
 * TM_SUBJ_AUTH_REVOKED and fills the deny set. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <nats/nats.h>
#include "server.h"
#include "tm_error.h"

/* Connect and subscribe (main thread, before the loop threads run). Logs why on error. */
int gw_upstream_start(gw_server_t *s) TM_WUR;
/* Unsubscribe and close the connections (main thread, after the loops stopped taking
 * requests). NULL-safe on partially started servers. */
void gw_upstream_stop(gw_server_t *s);
/* Publish msg's subject with reply "<inbox prefix><id>" (loop thread). msg stays owned by
 * the caller. Returns 0, TM_ERR_UNAVAILABLE (not connected) or TM_ERR_NATS. */
int gw_upstream_publish(gw_thread_t *t, natsMsg *msg) TM_WUR;
bool gw_upstream_connected(gw_server_t *s);

#endif
