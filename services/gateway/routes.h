/* gw_routes: THE table of the gateway's HTTP routes and the matcher over it.
 *
 * A pattern is literal segments and {param} segments ("/api/v1/tasks/{id}"); a param
 * matches [A-Za-z0-9_-]{1,64}. Forwarded routes name a NATS subject (proto/tm_subjects.h);
 * local routes are answered by the gateway itself. The table is static and read-only:
 * any thread. The OpenAPI document (openapi.c) is generated from it. */
#ifndef GW_ROUTES_H
#define GW_ROUTES_H

#include <stdbool.h>
#include <stddef.h>
#include "jwt_verify.h"

#define GW_MAX_PARAMS            4
#define GW_PARAM_MAX             64
#define GW_BODY_LIMIT_DEFAULT    (64 * 1024)
#define GW_BODY_LIMIT_ATTACHMENT (5 * 1024 * 1024)

typedef enum { GW_BODY_NONE = 0, GW_BODY_JSON, GW_BODY_RAW } gw_body_t;

typedef enum {
    GW_LOCAL_NONE = 0, /* forwarded over NATS */
    GW_LOCAL_HEALTHZ,
    GW_LOCAL_READYZ,
    GW_LOCAL_HEALTH, /* /api/v1/health: asks every service */
    GW_LOCAL_OPENAPI,
    GW_LOCAL_CACHE, /* GET|DELETE /api/v1/admin/cache (cache_http.c), after auth */
    GW_LOCAL_WS,    /* GET /ws: WebSocket upgrade (ws_conn.c) */
} gw_local_t;

typedef struct {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/tasks/{id}/attachments/{aid}" */
    const char *subject; /* NATS subject; NULL for local routes */
    bool auth;           /* bearer token required */
    gw_role_t min_role;  /* global role needed (with auth) */
    gw_body_t body;
    size_t body_limit; /* bytes; 0 for GW_BODY_NONE */
    gw_local_t local;
    const char *summary; /* one line for the OpenAPI document */
} gw_route_t;

typedef struct {
    int n;
    struct {
        const char *name; /* points into the pattern; name_len bytes */
        size_t name_len;
        const char *value; /* points into the request path; len bytes */
        size_t len;
    } p[GW_MAX_PARAMS];
} gw_params_t;

typedef enum { GW_MATCH_OK = 0, GW_MATCH_NOT_FOUND, GW_MATCH_BAD_METHOD } gw_match_t;

extern const gw_route_t gw_routes[];
extern const size_t gw_nroutes;

/* Match method + path (no query). On GW_MATCH_OK *route and *params are set (params point
 * into the table and into path). On GW_MATCH_BAD_METHOD allow (cap bytes) receives the
 * methods of the matching path, "GET, POST". */
gw_match_t gw_routes_match(const char *method, size_t mlen, const char *path, size_t plen,
                           const gw_route_t **route, gw_params_t *params, char *allow, size_t cap);

/* The largest body_limit of the table (for h2o's max_request_entity_size). */
size_t gw_routes_max_body(void);

#endif
