/* gw_http: see http.h. Everything here runs on a loop thread and never blocks. */
#include "http.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "cache_http.h"
#include "health.h"
#include "gw_limits.h"
#include "gw_stats.h"
#include "routes.h"
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_problem.h"
#include "tm_query.h"
#include "tm_util.h"
#include "upstream.h"
#include "ws_conn.h"

#define IDEM_KEY_MAX   128
#define REQUEST_ID_MAX 64
#define NMETHODS       8
#define NSTATUS        600

static const char *const method_names[NMETHODS] = {"GET",    "POST",    "PUT",  "PATCH",
                                                   "DELETE", "OPTIONS", "HEAD", "OTHER"};
static const char *const cors_allow_headers =
    "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-Id";
static const char *const cors_expose_headers =
    "ETag, Location, Retry-After, X-Request-Id, Idempotent-Replayed";

/* [route or gw_nroutes + method][status] -> counter, created on first use. */
static tm_counter_t *(*g_counters)[NSTATUS];
static tm_histogram_t **g_latency;
static gw_server_t *g_server;

/* A forwarded request waiting for its reply (heap: it may outlive the h2o request). */
typedef struct {
    gw_http_log_t log;
    gw_thread_t *thread;
    const gw_route_t *route;
    bool conditional_get; /* GET with If-None-Match */
    bool not_sent;        /* publishing failed: answer 503 */
    char if_none_match[256];
    gw_cache_ticket_t cache;
} gw_fwd_t;

static gw_thread_t *thread_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(gw_thread_t, ctx, req->conn->ctx);
}

static int method_index(const char *m)
{
    for (int i = 0; i < NMETHODS - 1; i++)
        if (strcmp(m, method_names[i]) == 0)
            return i;
    return NMETHODS - 1;
}

static tm_counter_t *counter_for(const gw_http_log_t *lg, int status)
{
    size_t row = lg->route >= 0 ? (size_t)lg->route : gw_nroutes + (size_t)method_index(lg->method);
    tm_counter_t *c = __atomic_load_n(&g_counters[row][status], __ATOMIC_ACQUIRE);
    if (c == NULL) {
        char labels[256];
        const char *route = lg->route >= 0 ? gw_routes[lg->route].pattern : "unmatched";
        const char *method =
            lg->route >= 0 ? gw_routes[lg->route].method : method_names[method_index(lg->method)];
        snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", route, method,
                 status);
        c = tm_metrics_counter("tm_http_requests_total",
                               "HTTP requests by route, method and status", labels);
        __atomic_store_n(&g_counters[row][status], c, __ATOMIC_RELEASE);
    }
    return c;
}

static void account(const gw_http_log_t *lg, int status, size_t bytes)
{
    int64_t us = tm_now_us() - lg->start_us;
    char st[8], by[24], ms[32];
    if (status < 100 || status >= NSTATUS)
        status = 599;
    tm_counter_add(counter_for(lg, status), 1);
    if (lg->route >= 0)
        tm_histogram_observe(g_latency[lg->route], (double)us / 1e6);
    gw_stats_observe(lg->route, status, (double)us / 1e6);
    if (!tm_log_enabled(TM_LOG_INFO))
        return;
    snprintf(st, sizeof(st), "%d", status);
    snprintf(by, sizeof(by), "%zu", bytes);
    snprintf(ms, sizeof(ms), "%.3f", (double)us / 1000.0);
    const char *kv[] = {"method", lg->method,   "path", lg->path, "status", st,  "bytes",
                        by,       "latency_ms", ms,     "user",   lg->user, NULL};
    tm_log_kv(TM_LOG_INFO, lg->request_id, "http", kv);
}

void gw_http_log_gone(const gw_http_log_t *lg)
{
    account(lg, 499, 0);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    default:
        return tm_problem_title(status);
    }
}

void gw_http_send(h2o_req_t *req, const gw_http_log_t *lg, int status, const char *ctype,
                  const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&req->pool, body ? body : "", len);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    if (atomic_load(&g_server->draining)) /* zero-downtime restarts: clients reconnect elsewhere */
        req->http1_is_persistent = 0;
    if (ctype != NULL)
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, ctype, strlen(ctype),
                       1);
    account(lg, status, len);
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

void gw_http_send_problem(h2o_req_t *req, const gw_http_log_t *lg, int status, const char *detail)
{
    json_t *p = tm_problem_new(status, NULL, detail, lg->request_id);
    char *text = json_dumps(p, JSON_COMPACT);
    gw_http_send(req, lg, status, TM_PROBLEM_MEDIA_TYPE, text ? text : "{}",
                 text ? strlen(text) : 2);
    free(text);
    json_decref(p);
}

/* HTTP/2 needs lowercase names; HTTP/1.1 shows the original spelling. */
static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t n = strlen(name);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_iovec_t orig = h2o_strdup(&req->pool, name, n);
    h2o_iovec_t lower = h2o_strdup(&req->pool, name, n);
    for (size_t i = 0; i < n; i++)
        lower.base[i] = (char)tolower((unsigned char)lower.base[i]);
    h2o_add_header_by_str(&req->pool, &req->res.headers, lower.base, n, 1, orig.base, v.base,
                          v.len);
}

/* The header value as a NUL-terminated pool string, or NULL. */
static const char *req_header(h2o_req_t *req, const char *name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (len)
        *len = v.len;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

static bool valid_request_id(const char *s, size_t n)
{
    if (n == 0 || n > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

/* Query parameters whose values are logged as they are; every other value (access_token,
 * or a token a client put where it does not belong) is logged as "***". */
static bool loggable_param(const char *key, size_t n)
{
    static const char *const safe[] = {
        "workspace_id", "status",    "priority", "assignee", "label",
        "due_before",   "due_after", "overdue",  "q",        "sort",
        "limit",        "cursor",    "since",    "unread",   "filename"};
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        if (strlen(safe[i]) == n && memcmp(safe[i], key, n) == 0)
            return true;
    return false;
}

static void append(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    size_t room = cap - 1 - *o;
    n = n < room ? n : room;
    memcpy(out + *o, s, n);
    *o += n;
}

/* Copy path[n] into out (cap bytes, NUL-terminated, cut if longer), masking every query
 * value that is not known to be harmless. */
static void mask_path(const char *path, size_t n, char *out, size_t cap)
{
    const char *q = memchr(path, '?', n);
    size_t o = 0, plen = q ? (size_t)(q - path) + 1 : n;
    append(out, cap, &o, path, plen);
    for (const char *p = q ? q + 1 : path + n, *end = path + n; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t klen = (size_t)((eq ? eq : stop) - p);
        if (!eq || loggable_param(p, klen)) {
            append(out, cap, &o, p, (size_t)(stop - p));
        } else {
            append(out, cap, &o, p, klen + 1);
            append(out, cap, &o, "***", 3);
        }
        if (amp)
            append(out, cap, &o, "&", 1);
        p = amp ? amp + 1 : end;
    }
    out[o] = '\0';
}

static void init_log(h2o_req_t *req, gw_http_log_t *lg)
{
    size_t n = 0;
    const char *rid = req_header(req, "x-request-id", &n);
    memset(lg, 0, offsetof(gw_http_log_t, path));
    lg->route = -1;
    lg->start_us = tm_now_us();
    lg->user[0] = '\0';
    snprintf(lg->method, sizeof(lg->method), "%.*s", (int)req->method.len, req->method.base);
    mask_path(req->path.base, req->path.len, lg->path, sizeof(lg->path));
    if (rid != NULL && valid_request_id(rid, n))
        memcpy(lg->request_id, rid, n + 1);
    else
        tm_uuid_v4(lg->request_id);
    add_header(req, "X-Request-Id", lg->request_id);
    /* Bodies are JSON, problem JSON or attachments: never let a browser sniff them as HTML. */
    add_header(req, "X-Content-Type-Options", "nosniff");
}

/* Access-Control-Allow-Origin for configured origins only (echoed, never '*'). */
static bool apply_cors(gw_thread_t *t, h2o_req_t *req)
{
    size_t n = 0;
    const char *origin = req_header(req, "origin", &n);
    if (origin == NULL)
        return false;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, NULL, H2O_STRLIT("Origin"));
    if (!gw_config_cors_allowed(t->server->cfg, origin, n))
        return false;
    add_header(req, "Access-Control-Allow-Origin", origin);
    add_header(req, "Access-Control-Expose-Headers", cors_expose_headers);
    return true;
}

static void handle_options(h2o_req_t *req, gw_http_log_t *lg, bool cors_ok, const char *allow)
{
    add_header(req, "Allow", allow);
    if (cors_ok && req_header(req, "access-control-request-method", NULL) != NULL) {
        add_header(req, "Access-Control-Allow-Methods", allow);
        add_header(req, "Access-Control-Allow-Headers", cors_allow_headers);
        add_header(req, "Access-Control-Max-Age", "600");
    }
    gw_http_send(req, lg, 204, NULL, "", 0);
}

/* The methods allowed on path, or NULL if the path is unknown. */
static const char *allowed_methods(h2o_req_t *req, const char *path, size_t plen)
{
    const gw_route_t *r;
    gw_params_t params;
    char *allow = h2o_mem_alloc_pool(&req->pool, 64);
    if (gw_routes_match("", 0, path, plen, &r, &params, allow, 64) != GW_MATCH_BAD_METHOD)
        return NULL;
    return allow;
}

static bool header_is(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

/* h2o 2.2.5 accepts two Content-Length headers, Content-Length with Transfer-Encoding and
 * HTTP/1.1 without Host, and keeps none of those headers in req->headers: read the raw
 * header block, which stays at the start of the socket's input until the response is
 * done, and refuse them (request smuggling). */
static const char *framing_error(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->conn->callbacks->get_socket == NULL)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->input == NULL || sock->input->bytes == NULL)
        return NULL;
    size_t n = sock->input->size < 16384 ? sock->input->size : 16384;
    const char *buf = sock->input->bytes, *end = memmem(buf, n, "\r\n\r\n", 4);
    int ncl = 0, nte = 0, nhost = 0;
    const char *line = end ? memmem(buf, (size_t)(end - buf), "\r\n", 2) : NULL;
    while (line != NULL && line < end) {
        line += 2;
        const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t len = eol ? (size_t)(eol - line) : 0;
        ncl += header_is(line, len, "content-length");
        nte += header_is(line, len, "transfer-encoding");
        nhost += header_is(line, len, "host");
        line = eol;
    }
    if (ncl > 1)
        return "more than one Content-Length";
    if (ncl > 0 && nte > 0)
        return "Content-Length with Transfer-Encoding";
    if (end != NULL && req->version == 0x101 && nhost != 1)
        return "HTTP/1.1 needs exactly one Host";
    return NULL;
}

static void handle_local(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r, gw_http_log_t *lg)
{
    gw_server_t *s = t->server;
    switch (r->local) {
    case GW_LOCAL_HEALTHZ:
        gw_http_send(req, lg, 200, "application/json", H2O_STRLIT("{\"status\":\"ok\"}"));
        return;
    case GW_LOCAL_READYZ:
        if (gw_server_ready(s))
            gw_http_send(req, lg, 200, "application/json", H2O_STRLIT("{\"status\":\"ready\"}"));
        else
            gw_http_send(req, lg, 503, "application/json",
                         H2O_STRLIT("{\"status\":\"not ready\"}"));
        return;
    case GW_LOCAL_OPENAPI:
        gw_http_send(req, lg, 200, "application/json", s->openapi, s->openapi_len);
        return;
    case GW_LOCAL_HEALTH:
        gw_health_handle(t, req, lg);
        return;
    case GW_LOCAL_CACHE:
        gw_cache_http_admin(t, req, lg);
        return;
    case GW_LOCAL_WS:
        ws_conn_upgrade(t, req, lg);
        return;
    case GW_LOCAL_NONE:
        break;
    }
    gw_http_send_problem(req, lg, 500, "route misconfigured");
}

/* Verify the bearer token. 0 with claims, or an error already answered. */
static int authenticate(gw_thread_t *t, h2o_req_t *req, gw_http_log_t *lg, gw_jwt_claims_t *c)
{
    size_t n = 0;
    const char *why = "missing bearer token";
    const char *auth = req_header(req, "authorization", &n);
    int64_t now = tm_wall_ms() / 1000;
    if (auth != NULL && n > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *tok = auth + 7;
        while (*tok == ' ')
            tok++;
        if (gw_jwt_cache_verify(t->jwt_cache, t->server->verifier, tok, strlen(tok), now, c,
                                &why) == TM_OK) {
            if (!gw_jwt_deny_has(t->server->deny, c->sid, now))
                return TM_OK;
            why = "session revoked";
        }
    }
    add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    gw_http_send_problem(req, lg, 401, why);
    return TM_ERR_AUTH;
}

static bool content_type_is_json(h2o_req_t *req)
{
    size_t n = 0;
    const char *ct = req_header(req, "content-type", &n);
    if (ct == NULL || n < 16 || strncasecmp(ct, "application/json", 16) != 0)
        return false;
    return n == 16 || ct[16] == ';' || ct[16] == ' ';
}

/* Body, Content-Type and Idempotency-Key checks. 0 or an error already answered. */
static int check_body(h2o_req_t *req, const gw_route_t *r, gw_http_log_t *lg)
{
    size_t n = 0;
    const char *cl = req_header(req, "content-length", NULL);
    size_t limit = r->body_limit ? r->body_limit : GW_BODY_LIMIT_DEFAULT;
    const char *key = req_header(req, "idempotency-key", &n);
    if ((cl != NULL && strtoull(cl, NULL, 10) > limit) || req->entity.len > limit) {
        gw_http_send_problem(req, lg, 413, "request body too large");
        return TM_ERR_LIMIT;
    }
    if (r->body == GW_BODY_JSON && req->entity.len > 0 && !content_type_is_json(req)) {
        gw_http_send_problem(req, lg, 415, "Content-Type must be application/json");
        return TM_ERR_INVALID;
    }
    for (size_t i = 0; key != NULL && i < n; i++)
        if (!isprint((unsigned char)key[i]))
            n = IDEM_KEY_MAX + 1;
    if (key != NULL && (n == 0 || n > IDEM_KEY_MAX)) {
        gw_http_send_problem(req, lg, 400, "Idempotency-Key must be 1..128 printable characters");
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

static void set_hdr(natsMsg *m, const char *name, const char *value)
{
    if (value != NULL && *value != '\0')
        natsMsgHeader_Set(m, name, value);
}

static void copy_req_header(natsMsg *m, h2o_req_t *req, const char *lname, const char *name)
{
    set_hdr(m, name, req_header(req, lname, NULL));
}

static void client_ip(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    out[0] = '\0';
    if (len > 0 && cap >= NI_MAXHOST)
        h2o_socket_getnumerichost((struct sockaddr *)&ss, len, out);
}

/* The NATS request for a forwarded route, with every header of tm_query.h / tm_nats.h. */
static natsMsg *build_msg(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r,
                          const gw_params_t *params, const gw_jwt_claims_t *c,
                          const gw_http_log_t *lg, uint64_t id)
{
    char reply[96], buf[NI_MAXHOST + 8];
    natsMsg *m = NULL;
    snprintf(reply, sizeof(reply), "%s%" PRIu64, t->inbox_prefix, id);
    size_t blen = r->body == GW_BODY_NONE ? 0 : req->entity.len;
    if (natsMsg_Create(&m, r->subject, reply, blen ? req->entity.base : NULL, (int)blen) != NATS_OK)
        return NULL;
    set_hdr(m, TM_HDR_REQUEST_ID, lg->request_id);
    if (c != NULL) {
        set_hdr(m, TM_HDR_USER_ID, c->sub);
        set_hdr(m, TM_HDR_USER_ROLE, gw_role_name(c->role));
        set_hdr(m, TM_HDR_SESSION_ID, c->sid);
    }
    snprintf(buf, sizeof(buf), "%" PRId64, tm_wall_ms() + t->server->cfg->request_timeout_ms);
    set_hdr(m, TM_HDR_DEADLINE, buf);
    client_ip(req, buf, sizeof(buf));
    set_hdr(m, TM_HDR_CLIENT_IP, buf);
    for (int i = 0; i < params->n; i++) {
        char name[80], value[GW_PARAM_MAX + 1];
        snprintf(name, sizeof(name), "%s%.*s", TM_HDR_PARAM_PREFIX, (int)params->p[i].name_len,
                 params->p[i].name);
        snprintf(value, sizeof(value), "%.*s", (int)params->p[i].len, params->p[i].value);
        set_hdr(m, name, value);
    }
    if (req->query_at != SIZE_MAX)
        set_hdr(m, TM_HDR_QUERY,
                h2o_strdup(&req->pool, req->path.base + req->query_at + 1,
                           req->path.len - req->query_at - 1)
                    .base);
    copy_req_header(m, req, "if-match", TM_HDR_IF_MATCH);
    copy_req_header(m, req, "if-none-match", TM_HDR_IF_NONE_MATCH);
    copy_req_header(m, req, "idempotency-key", TM_HDR_IDEM_KEY);
    if (r->body == GW_BODY_RAW)
        copy_req_header(m, req, "content-type", TM_HDR_CONTENT_TYPE);
    return m;
}

static void update_inflight(gw_thread_t *t, int delta)
{
    atomic_store(&t->inflight, t->pending.count);
    tm_gauge_add(t->server->inflight_gauge, delta);
}

static const char *const reply_headers[] = {
    "ETag",          "Location",   "Content-Disposition", "Idempotent-Replayed",
    "Cache-Control", "Retry-After"};

static void send_reply(gw_fwd_t *f, h2o_req_t *req, natsMsg *msg)
{
    const char *st = NULL, *ctype = NULL, *etag = NULL;
    int status = 500;
    if (natsMsgHeader_Get(msg, TM_HDR_STATUS, &st) == NATS_OK && st != NULL) {
        int v = atoi(st);
        status = v >= 100 && v <= 599 ? v : 500;
    }
    for (size_t i = 0; i < sizeof(reply_headers) / sizeof(reply_headers[0]); i++) {
        const char *v = NULL;
        if (natsMsgHeader_Get(msg, reply_headers[i], &v) == NATS_OK && v != NULL && *v != '\0')
            add_header(req, reply_headers[i], v);
    }
    natsMsgHeader_Get(msg, "ETag", &etag);
    if (natsMsgHeader_Get(msg, TM_HDR_CONTENT_TYPE, &ctype) != NATS_OK || ctype == NULL)
        ctype = status >= 400 ? TM_PROBLEM_MEDIA_TYPE : "application/json";
    if (f->conditional_get && status == 200 && etag != NULL &&
        strcmp(etag, f->if_none_match) == 0) {
        gw_http_send(req, &f->log, 304, NULL, "", 0);
        return;
    }
    gw_http_send(req, &f->log, status, ctype, natsMsg_GetData(msg),
                 (size_t)natsMsg_GetDataLength(msg));
}

static void on_forward_done(gw_pending_t *p, natsMsg *msg)
{
    gw_fwd_t *f = p->ctx;
    update_inflight(f->thread, -1);
    gw_cache_http_end(f->thread, p->req, &f->cache, f->not_sent ? NULL : msg);
    if (p->req == NULL)
        gw_http_log_gone(&f->log);
    else if (f->not_sent)
        gw_http_send_problem(p->req, &f->log, 503, "the message bus is unavailable");
    else if (msg == NULL)
        gw_http_send_problem(p->req, &f->log, 504, "the service did not answer in time");
    else if (natsMsg_IsNoResponders(msg))
        gw_http_send_problem(p->req, &f->log, 503, "no service is available for this request");
    else
        send_reply(f, p->req, msg);
    free(f);
}

static void forward(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r, const gw_params_t *params,
                    const gw_jwt_claims_t *c, gw_http_log_t *lg)
{
    if (req->query_at != SIZE_MAX && req->path.len - req->query_at - 1 > TM_QUERY_MAX) {
        gw_http_send_problem(req, lg, 414, "query string too long");
        return;
    }
    gw_fwd_t *f = tm_xcalloc(1, sizeof(*f));
    f->log = *lg;
    f->thread = t;
    f->route = r;
    const char *inm = req_header(req, "if-none-match", NULL);
    if (inm != NULL && strcmp(r->method, "GET") == 0 && strlen(inm) < sizeof(f->if_none_match)) {
        f->conditional_get = true;
        strcpy(f->if_none_match, inm);
    }
    if (gw_cache_http_begin(t, req, r, params, c, lg, &f->cache)) { /* answered from the cache */
        free(f);
        return;
    }
    gw_pending_t *p =
        gw_pending_add(&t->pending, t->ctx.loop, &t->req_timeout, req, on_forward_done, f);
    if (p == NULL) {
        gw_cache_http_dispose(&f->cache);
        free(f);
        add_header(req, "Retry-After", "1");
        gw_http_send_problem(req, lg, 503, "too many requests in flight");
        return;
    }
    update_inflight(t, 1);
    natsMsg *m = build_msg(t, req, r, params, c, lg, p->id);
    int rc = m ? gw_upstream_publish(t, m) : TM_ERR_NATS;
    tm_nats_msg_free(m);
    if (rc != TM_OK) { /* answer now */
        f->not_sent = true;
        gw_pending_complete(&t->pending, p->id, NULL);
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    gw_thread_t *t = thread_of(req);
    gw_http_log_t lg;
    const gw_route_t *r = NULL;
    gw_params_t params;
    gw_jwt_claims_t claims;
    char allow[64];
    init_log(req, &lg);
    bool cors_ok = apply_cors(t, req);
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *why = framing_error(req);
    if (why != NULL) {
        gw_http_send_problem(req, &lg, 400, why);
        return 0;
    }
    if (gw_limits_refuse_request(req, &lg))
        return 0;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("OPTIONS"))) {
        const char *methods = allowed_methods(req, req->path.base, plen);
        if (methods == NULL)
            gw_http_send_problem(req, &lg, 404, "no such resource");
        else
            handle_options(req, &lg, cors_ok, methods);
        return 0;
    }
    switch (gw_routes_match(req->method.base, req->method.len, req->path.base, plen, &r, &params,
                            allow, sizeof(allow))) {
    case GW_MATCH_NOT_FOUND:
        gw_http_send_problem(req, &lg, 404, "no such resource");
        return 0;
    case GW_MATCH_BAD_METHOD:
        add_header(req, "Allow", allow);
        gw_http_send_problem(req, &lg, 405, "method not allowed on this resource");
        return 0;
    case GW_MATCH_OK:
        break;
    }
    lg.route = (int)(r - gw_routes);
    if (!r->auth && gw_limits_refuse_rate(t, req, r, NULL, &lg))
        return 0;
    if (r->local != GW_LOCAL_NONE && !r->auth) {
        handle_local(t, req, r, &lg);
        return 0;
    }
    if (r->auth) {
        if (authenticate(t, req, &lg, &claims) != TM_OK)
            return 0;
        memcpy(lg.user, claims.sub, sizeof(lg.user));
        if (claims.role < r->min_role) {
            gw_http_send_problem(req, &lg, 403, "your role does not allow this");
            return 0;
        }
        if (gw_limits_refuse_rate(t, req, r, &claims, &lg))
            return 0;
        if (r->local != GW_LOCAL_NONE) { /* admin routes answered by the gateway */
            handle_local(t, req, r, &lg);
            return 0;
        }
    }
    if (check_body(req, r, &lg) != TM_OK)
        return 0;
    forward(t, req, r, &params, r->auth ? &claims : NULL, &lg);
    return 0;
}

void gw_http_on_replies(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    gw_thread_t *t = H2O_STRUCT_FROM_MEMBER(gw_thread_t, replies, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        gw_reply_msg_t *m = H2O_STRUCT_FROM_MEMBER(gw_reply_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        gw_pending_complete(&t->pending, m->id, m->msg); /* false: late reply, dropped */
        tm_nats_msg_free(m->msg);
        free(m);
    }
}

void gw_http_register(gw_server_t *s)
{
    h2o_pathconf_t *path = h2o_config_register_path(s->hostconf, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = on_req;
    g_server = s;
    g_counters = tm_xcalloc(gw_nroutes + NMETHODS, sizeof(*g_counters));
    g_latency = tm_xcalloc(gw_nroutes, sizeof(*g_latency));
    for (size_t i = 0; i < gw_nroutes; i++) {
        char labels[160];
        snprintf(labels, sizeof(labels), "route=\"%s\"", gw_routes[i].pattern);
        g_latency[i] = tm_metrics_histogram("tm_http_request_seconds",
                                            "HTTP request latency by route", labels, NULL, 0);
    }
    s->inflight_gauge =
        tm_metrics_gauge("tm_http_inflight", "forwarded requests waiting for a reply", "");
}
