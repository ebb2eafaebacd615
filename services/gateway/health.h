/* gw_health: GET /api/v1/health. Asks tm-task, tm-realtime and tm-ai in parallel over NATS
 * (non-blocking, GW_HEALTH_TIMEOUT_MS each) and answers
 *   {status, services:{task:{up,...reply}, realtime:{...}, ai:{...}, gateway:{up:true,...}}}
 * with 200 when every service is up, else 503. Loop thread only. */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include <h2o.h>
#include "http.h"
#include "server.h"

void gw_health_handle(gw_thread_t *t, h2o_req_t *req, const gw_http_log_t *lg);

#endif
