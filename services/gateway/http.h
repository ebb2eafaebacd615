/* gw_http: the gateway's request handler (loop threads): request id, CORS, route table,
 * bearer auth, limits, forwarding over NATS and mapping the reply back to HTTP, the
 * gateway's own endpoints, access log and metrics. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <h2o.h>
#include "server.h"

#define GW_LOG_PATH_MAX 512

/* What the access log and the metrics need about one request. */
typedef struct {
    int route; /* index into gw_routes, or -1 */
    char method[12];
    char path[GW_LOG_PATH_MAX]; /* with the access_token query value masked */
    char request_id[65];
    char user[37];
    int64_t start_us;
} gw_http_log_t;

/* Register the handler on the server's host config (main thread, before threads start);
 * also creates the metrics. */
void gw_http_register(gw_server_t *s);
/* Receiver callback for gw_reply_msg_t (loop thread). */
void gw_http_on_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Shared with health.c: send a JSON (or other) body and log the request. body is copied. */
void gw_http_send(h2o_req_t *req, const gw_http_log_t *lg, int status, const char *ctype,
                  const char *body, size_t len);
void gw_http_send_problem(h2o_req_t *req, const gw_http_log_t *lg, int status, const char *detail);
/* Log a request whose client went away before its answer. */
void gw_http_log_gone(const gw_http_log_t *lg);

#endif
