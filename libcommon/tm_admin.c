/* tm_admin: /healthz, /readyz and /metrics on an h2o evloop running on its own thread. */
#include "tm_admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tm_log.h"
#include "tm_metrics.h"
#include "tm_util.h"

/* The loop wakes at least this often to notice a stop request. */
#define LOOP_TICK_MS 50

typedef struct {
    h2o_handler_t super;
    tm_admin_t *admin;
} admin_handler_t;

struct tm_admin {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool draining;
    tm_admin_ready_fn ready;
    void *ready_ctx;
};

static int send_body(h2o_req_t *req, int status, const char *reason, const char *type,
                     const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = reason;
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, body, len);
    return 0;
}

static int send_json(h2o_req_t *req, int status, const char *reason, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!s)
        return send_body(req, 500, "Internal Server Error", "text/plain", "", 0);
    int rc = send_body(req, status, reason, "application/json", s, strlen(s));
    free(s);
    return rc;
}

static int serve_readyz(tm_admin_t *a, h2o_req_t *req)
{
    if (atomic_load(&a->draining))
        return send_json(req, 503, "Service Unavailable",
                         json_pack("{s:b,s:b}", "ready", 0, "draining", 1));
    json_t *checks = json_object();
    bool ok = a->ready ? a->ready(a->ready_ctx, checks) : true;
    json_t *body = json_pack("{s:b,s:o}", "ready", ok, "checks", checks);
    return send_json(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", body);
}

static int serve_metrics(h2o_req_t *req)
{
    size_t len = 0;
    char *text = tm_metrics_render(&len);
    int rc =
        send_body(req, 200, "OK", "text/plain; version=0.0.4", text ? text : "", text ? len : 0);
    free(text);
    return rc;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    tm_admin_t *a = ((admin_handler_t *)self)->admin;
    const h2o_iovec_t p = req->path_normalized;
    /* Probes and scrapers are infrequent: closing after each reply keeps no idle keep-alive
     * connection around, which h2o 2.2.5 cannot dispose of at shutdown. */
    req->http1_is_persistent = 0;
    bool known = h2o_memis(p.base, p.len, H2O_STRLIT("/healthz")) ||
                 h2o_memis(p.base, p.len, H2O_STRLIT("/readyz")) ||
                 h2o_memis(p.base, p.len, H2O_STRLIT("/metrics"));
    if (!known)
        return send_body(req, 404, "Not Found", "text/plain", H2O_STRLIT("not found\n"));
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, H2O_STRLIT("GET"));
        return send_body(req, 405, "Method Not Allowed", "text/plain",
                         H2O_STRLIT("method not allowed\n"));
    }
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/healthz")))
        return send_body(req, 200, "OK", "application/json", H2O_STRLIT("{\"status\":\"ok\"}"));
    if (h2o_memis(p.base, p.len, H2O_STRLIT("/readyz")))
        return serve_readyz(a, req);
    return serve_metrics(req);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err)
        return;
    tm_admin_t *a = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock)
        h2o_accept(&a->accept_ctx, sock);
}

static int open_listener(const char *host, int port)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host ? host : "0.0.0.0", &addr.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void setup_h2o(tm_admin_t *a)
{
    h2o_config_init(&a->config);
    h2o_hostconf_t *host =
        h2o_config_register_host(&a->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    admin_handler_t *h = (admin_handler_t *)h2o_create_handler(path, sizeof *h);
    h->super.on_req = on_req;
    h->admin = a;
    a->loop = h2o_evloop_create();
    h2o_context_init(&a->ctx, a->loop, &a->config);
    a->accept_ctx.ctx = &a->ctx;
    a->accept_ctx.hosts = a->config.hosts;
}

static bool has_connections(tm_admin_t *a)
{
    return !h2o_linklist_is_empty(&a->ctx.http1._conns) ||
           !h2o_linklist_is_empty(&a->ctx.http2._conns);
}

/* Closes run a loop turn late (h2o 2.2): turn the loop after each close so that the
 * sockets and the context's queue are freed before the loop is destroyed. A connection
 * still open after a short grace (a client that connected and sent nothing) would make
 * h2o_context_dispose abort on its linked timeout, so then the loop is left to the exiting
 * process instead. */
static void teardown(tm_admin_t *a)
{
    h2o_socket_read_stop(a->listener);
    h2o_socket_close(a->listener);
    h2o_evloop_run(a->loop, 0);
    int64_t deadline = tm_now_ms() + 1000;
    while (has_connections(a) && tm_now_ms() < deadline)
        h2o_evloop_run(a->loop, 10);
    if (has_connections(a)) {
        TM_WARN("admin: connections still open at shutdown; leaving them to the process exit");
        return;
    }
    h2o_context_dispose(&a->ctx);
    h2o_evloop_run(a->loop, 0);
    h2o_config_dispose(&a->config);
    h2o_evloop_destroy(a->loop);
}

static void *run(void *arg)
{
    tm_admin_t *a = arg;
    while (!atomic_load(&a->stop))
        h2o_evloop_run(a->loop, LOOP_TICK_MS);
    teardown(a);
    return NULL;
}

tm_admin_t *tm_admin_start(const char *host, int port, tm_admin_ready_fn ready, void *ctx)
{
    int fd = open_listener(host, port);
    if (fd < 0) {
        TM_ERROR("admin: cannot listen on %s:%d: %s", host ? host : "0.0.0.0", port,
                 strerror(errno));
        return NULL;
    }
    tm_admin_t *a = tm_xcalloc(1, sizeof *a);
    a->ready = ready;
    a->ready_ctx = ctx;
    setup_h2o(a);
    a->listener = h2o_evloop_socket_create(a->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    a->listener->data = a;
    h2o_socket_read_start(a->listener, on_accept);
    if (pthread_create(&a->thread, NULL, run, a) != 0) {
        TM_ERROR("admin: cannot start thread");
        teardown(a);
        free(a);
        return NULL;
    }
    TM_INFO("admin listening on %s:%d", host ? host : "0.0.0.0", port);
    return a;
}

void tm_admin_set_draining(tm_admin_t *a)
{
    if (a)
        atomic_store(&a->draining, true);
}

void tm_admin_stop(tm_admin_t *a)
{
    if (!a)
        return;
    atomic_store(&a->stop, true);
    pthread_join(a->thread, NULL);
    free(a);
}
