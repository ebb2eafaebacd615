/* gw_limits: see gw_limits.h. Loop-thread functions never block: the rate limiter's critical
 * sections are a hash lookup and some arithmetic. */
#include "gw_limits.h"

#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include "ratelimit.h"
#include "tm_query.h"
#include "tm_metrics.h"
#include "tm_util.h"

typedef enum { POLICY_USER = 0, POLICY_IP, POLICY_AUTH, NPOLICIES } policy_t;

static gw_rate_policy_t g_policies[NPOLICIES];
static tm_counter_t *g_limited[NPOLICIES];
static tm_counter_t *g_refused_conns;
static tm_gauge_t *g_conns;

static void set_policy(policy_t i, const char *name, int64_t rps, int64_t burst)
{
    g_policies[i] = (gw_rate_policy_t){.name = name, .rps = (double)rps, .burst = (double)burst};
    char labels[64];
    snprintf(labels, sizeof(labels), "policy=\"%s\"", name);
    g_limited[i] =
        tm_metrics_counter("tm_http_rate_limited_total", "requests refused with 429", labels);
}

void gw_limits_configure(gw_server_t *s)
{
    const gw_config_t *cfg = s->cfg;
    s->globalconf.http1.req_timeout = GW_REQ_TIMEOUT_MS;
    s->globalconf.http2.idle_timeout = GW_H2_IDLE_TIMEOUT_MS;
    s->globalconf.http2.max_concurrent_requests_per_connection = GW_H2_MAX_STREAMS;
    set_policy(POLICY_USER, "user", cfg->rate_user_rps, cfg->rate_user_burst);
    set_policy(POLICY_IP, "ip", cfg->rate_ip_rps, cfg->rate_ip_burst);
    set_policy(POLICY_AUTH, "auth", cfg->rate_auth_rps, cfg->rate_auth_burst);
    s->ratelimit = gw_ratelimit_new(GW_RATE_MAX_KEYS);
    g_refused_conns = tm_metrics_counter("tm_http_connections_refused_total",
                                         "client connections closed over TM_MAX_CONNECTIONS", "");
    g_conns = tm_metrics_gauge("tm_http_connections", "open client connections", "");
    /* tm_nats creates this on the first reconnect: show it as 0 from the start */
    (void)tm_metrics_counter("tm_nats_reconnects_total", "NATS reconnections", NULL);
}

void gw_limits_dispose(gw_server_t *s)
{
    gw_ratelimit_free(s->ratelimit);
    s->ratelimit = NULL;
}

static void on_conn_close(void *data)
{
    gw_server_t *s = data;
    atomic_fetch_sub(&s->connections, 1);
    tm_gauge_add(g_conns, -1);
}

bool gw_limits_accept(gw_server_t *s, h2o_socket_t *sock)
{
    size_t n = atomic_fetch_add(&s->connections, 1) + 1;
    if (n > (size_t)s->cfg->max_connections) {
        atomic_fetch_sub(&s->connections, 1);
        tm_counter_add(g_refused_conns, 1);
        h2o_socket_close(sock);
        return false;
    }
    tm_gauge_add(g_conns, 1);
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = s;
    return true;
}

/* HTTP/2 needs lowercase names; HTTP/1.1 shows the given spelling. */
static void add_header(h2o_req_t *req, const char *name, const char *value)
{
    size_t n = strlen(name);
    h2o_iovec_t orig = h2o_strdup(&req->pool, name, n), lower = h2o_strdup(&req->pool, name, n);
    for (size_t i = 0; i < n; i++)
        lower.base[i] = (char)tolower((unsigned char)lower.base[i]);
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, lower.base, n, 1, orig.base, v.base,
                          v.len);
}

bool gw_limits_refuse_request(h2o_req_t *req, const gw_http_log_t *lg)
{
    size_t bytes = 0;
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("TRACE")) ||
        h2o_memis(req->method.base, req->method.len, H2O_STRLIT("CONNECT"))) {
        gw_http_send_problem(req, lg, 405, "method not allowed");
        return true;
    }
    if (req->path.len > GW_MAX_TARGET ||
        (req->query_at != SIZE_MAX && req->path.len - req->query_at - 1 > TM_QUERY_MAX)) {
        gw_http_send_problem(req, lg, 414, "request target too long");
        return true;
    }
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    if (req->headers.size > GW_MAX_HEADERS || bytes > GW_MAX_HEADER_BYTES) {
        gw_http_send_problem(req, lg, 431, "too many or too large request headers");
        return true;
    }
    return false;
}

static policy_t policy_for(const gw_route_t *r)
{
    if (r->auth)
        return POLICY_USER;
    if (strcmp(r->pattern, "/api/v1/auth/login") == 0 ||
        strcmp(r->pattern, "/api/v1/auth/register") == 0 ||
        strcmp(r->pattern, "/api/v1/auth/refresh") == 0)
        return POLICY_AUTH;
    return POLICY_IP;
}

static void client_ip(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    out[0] = '\0';
    if (len > 0 && cap >= NI_MAXHOST)
        h2o_socket_getnumerichost((struct sockaddr *)&ss, len, out);
}

static long ceil_s(double x)
{
    long n = (long)x;
    return (double)n < x ? n + 1 : n;
}

static void send_429(h2o_req_t *req, const gw_http_log_t *lg, const gw_rate_policy_t *p,
                     const gw_rate_result_t *res)
{
    char v[128];
    long retry = ceil_s(res->retry_after_s);
    long window = ceil_s(p->burst / p->rps);
    retry = retry < 1 ? 1 : retry;
    snprintf(v, sizeof(v), "%ld", retry);
    add_header(req, "Retry-After", v);
    snprintf(v, sizeof(v), "\"%s\";q=%.0f;w=%ld", p->name, p->burst, window < 1 ? 1 : window);
    add_header(req, "RateLimit-Policy", v);
    snprintf(v, sizeof(v), "\"%s\";r=0;t=%ld", p->name, retry);
    add_header(req, "RateLimit", v);
    gw_http_send_problem(req, lg, 429, "rate limit exceeded: retry later");
}

bool gw_limits_refuse_rate(gw_thread_t *t, h2o_req_t *req, const gw_route_t *r,
                           const gw_jwt_claims_t *claims, const gw_http_log_t *lg)
{
    char key[NI_MAXHOST + 8];
    policy_t pi = policy_for(r);
    const gw_rate_policy_t *p = &g_policies[pi];
    /* probes are never limited; /ws authenticates itself and has its own caps (ws_hub) */
    if (r->local == GW_LOCAL_HEALTHZ || r->local == GW_LOCAL_READYZ || p->rps <= 0 ||
        strcmp(r->pattern, "/ws") == 0)
        return false;
    if (pi == POLICY_USER && claims != NULL) {
        snprintf(key, sizeof(key), "u:%s", claims->sub);
    } else {
        key[0] = pi == POLICY_AUTH ? 'a' : 'i';
        key[1] = ':';
        client_ip(req, key + 2, sizeof(key) - 2);
    }
    gw_rate_result_t res =
        gw_ratelimit_take(t->server->ratelimit, key, strlen(key), p, tm_now_us());
    if (res.allowed)
        return false;
    tm_counter_add(g_limited[pi], 1);
    send_429(req, lg, p, &res);
    return true;
}
