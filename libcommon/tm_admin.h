/* tm_admin: the admin HTTP listener every daemon has (TM_ADMIN_PORT):
 *   GET /healthz  200 {"status":"ok"} while the process runs
 *   GET /readyz   200 when ready_fn says ready, else 503 with the failing checks
 *   GET /metrics  tm_metrics_render() as text/plain; version=0.0.4
 * Runs its own h2o event loop on its own thread. */
#ifndef TM_ADMIN_H
#define TM_ADMIN_H

#include <jansson.h>
#include <stdbool.h>
#include "tm_error.h"

/* Called on the admin thread; fill checks (an object: {"nats":true,"postgres":false,...})
 * and return whether the daemon is ready. Must not block for long (cache the states). */
typedef bool (*tm_admin_ready_fn)(void *ctx, json_t *checks);

typedef struct tm_admin tm_admin_t;

/* Bind 127.0.0.1/0.0.0.0:port (host NULL -> 0.0.0.0) and start the thread. */
tm_admin_t *tm_admin_start(const char *host, int port, tm_admin_ready_fn ready, void *ctx);
/* Make /readyz answer 503 {"draining":true} from now on. Any thread. */
void tm_admin_set_draining(tm_admin_t *a);
/* Stop the thread and free. NULL ok. */
void tm_admin_stop(tm_admin_t *a);

#endif
