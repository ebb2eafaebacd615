/* gw_limits: the gateway's edge limits, on top of what h2o 2.2.5 enforces.
 *
 *  - h2o settings: HTTP/1 request timeout (headers and body must arrive within
 *    GW_REQ_TIMEOUT_MS of the request's start, else the connection is closed), HTTP/2 idle
 *    timeout and GW_H2_MAX_STREAMS concurrent streams per connection.
 *  - a cap on open client connections per gateway (TM_MAX_CONNECTIONS): beyond it a new
 *    connection is closed at once, before any byte is read.
 *  - per request: at most GW_MAX_HEADERS headers and GW_MAX_HEADER_BYTES of header names
 *    and values (431), a request target of at most GW_MAX_TARGET bytes (414), no TRACE or
 *    CONNECT (405).
 *  - token-bucket rate limits (ratelimit.h): per user on authenticated routes
 *    (TM_RATE_USER_*), per client IP on unauthenticated ones (TM_RATE_IP_*), and tighter
 *    per client IP on login/register/refresh (TM_RATE_AUTH_*). Refused requests get a 429
 *    problem with Retry-After, RateLimit and RateLimit-Policy
 *    (draft-ietf-httpapi-ratelimit-headers). The operational routes (/healthz, /readyz)
 *    and the WebSocket upgrade (/ws, capped by ws_hub) are not limited. Limits are per
 *    gateway replica.
 *
 * HTTP/2 rapid reset (CVE-2023-44487): h2o 2.2.5 offers no hook on RST_STREAM; h2guard.h
 * scans every HTTP/2 connection's frames ahead of h2o and ends a flood with GOAWAY
 * ENHANCE_YOUR_CALM. Besides: GW_H2_MAX_STREAMS open streams per connection, and every
 * request that reaches the handler (a reset one included) takes a rate-limit token before
 * any NATS work. */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

#include <h2o.h>
#include "http.h"
#include "routes.h"
#include "server.h"

#define GW_REQ_TIMEOUT_MS     10000
#define GW_H2_IDLE_TIMEOUT_MS 10000
#define GW_H2_MAX_STREAMS     100
#define GW_MAX_HEADERS        64
#define GW_MAX_HEADER_BYTES   (16 * 1024)
#define GW_MAX_TARGET         8192
#define GW_RATE_MAX_KEYS      131072

/* Apply the h2o settings to s->globalconf and create the rate limiter (main thread,
 * before the loops start). */
void gw_limits_configure(gw_server_t *s);
/* Free what configure made (after the loops stopped). */
void gw_limits_dispose(gw_server_t *s);
/* A new client socket (loop thread): false when over TM_MAX_CONNECTIONS (then closed). */
bool gw_limits_accept(gw_server_t *s, h2o_socket_t *sock);
/* Header, target and method checks. True if the request was answered (refused). */
bool gw_limits_refuse_request(h2o_req_t *req, const gw_http_log_t *lg);
/* Rate limit for route r (claims NULL on unauthenticated routes). True if answered 429. */
bool gw_limits_refuse_rate(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r,
                           const gw_jwt_claims_t *claims, const gw_http_log_t *lg);

#endif
