/* gw_server: see server.h. Every loop, context, queue and listener is set up on the main
 * thread before NATS is connected and the threads start, so a NATS reply can never reach
 * a receiver that does not exist yet. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "cache_http.h"
#include "http.h"
#include "gw_limits.h"
#include "h2guard.h"
#include "openapi.h"
#include "routes.h"
#include "tm_log.h"
#include "tm_util.h"
#include "upstream.h"
#include "ws_hub.h"

#define LISTEN_BACKLOG 1024
#define DRAIN_POLL_US  20000
#define DRAIN_GRACE_MS 500

static gw_server_t *g_servers; /* keeps stopped servers reachable until exit */
/* The HTTP/2 rapid-reset guard of each loop thread, by thread index (one server per
 * process; created in setup_thread, on the main thread, before the loops run). */
static h2guard_t **g_h2guards;

static int bind_listener(const char *host, int port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char portstr[8];
    int fd = -1, on = 1;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0 || res == NULL)
        return -1;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static SSL_CTX *tls_context(const gw_config_t *cfg)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        tm_logf(TM_LOG_ERROR, NULL, "TM_TLS_CERT: cannot load '%s'", cfg->tls_cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tm_logf(TM_LOG_ERROR, NULL,
                "TM_TLS_KEY: cannot load '%s' or it does not match the certificate", cfg->tls_key);
        goto fail;
    }
    h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* One connection from the listener's queue; false when it is empty (non-blocking). */
static bool accept_one(gw_thread_t *t, h2o_socket_t *listener)
{
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return false;
    if (gw_limits_accept(t->server, sock))
        h2guard_accept(g_h2guards[t->index], &t->accept_ctx, sock);
    return true;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err == NULL)
        (void)accept_one(listener->data, listener);
}

static void on_control(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    (void)messages; /* only wake-ups are sent; the flags say what to do */
}

/* Every loop's h2o_multithread queues (t->queue and the one h2o_context_init makes) are
 * created here on the main thread, and h2o 2.2.5 binds a socket's input buffers to the
 * creating thread's thread-local h2o_socket_buffer_prototype: all loop threads then read
 * their queue pipes into buffers from the MAIN thread's recycle list, which has no lock.
 * Loops woken at the same moment (a WebSocket delivery is posted to every loop) popped
 * the same buffer; one gave it back (and free()d it) while another read() into it:
 * heap-use-after-free in h2o's read on a loop thread, "free(): corrupted unsorted
 * chunks" in release builds. A recycle cap of 0 makes those buffers plain malloc/free,
 * so the list is never touched. Main thread, before any socket exists on it (the admin
 * listener's queue, made on this thread later, is covered too). */
static void unshare_main_thread_buffers(void)
{
    h2o_mem_recycle_t *r = &h2o_socket_buffer_prototype.allocator;
    r->max = 0;
    while (r->cnt > 0)
        free(h2o_mem_alloc_recycle(r, 0));
}

static void setup_thread(gw_server_t *s, gw_thread_t *t, int index, int fd)
{
    t->server = s;
    t->index = index;
    h2o_context_init(&t->ctx, h2o_evloop_create(), &s->globalconf);
    t->queue = h2o_multithread_create_queue(t->ctx.loop);
    h2o_multithread_register_receiver(t->queue, &t->replies, gw_http_on_replies);
    h2o_multithread_register_receiver(t->queue, &t->control, on_control);
    h2o_timeout_init(t->ctx.loop, &t->req_timeout, (uint64_t)s->cfg->request_timeout_ms);
    h2o_timeout_init(t->ctx.loop, &t->health_timeout, GW_HEALTH_TIMEOUT_MS);
    gw_pending_table_init(&t->pending, (size_t)s->cfg->max_inflight);
    t->jwt_cache = gw_jwt_cache_new(GW_JWT_CACHE_SIZE);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = s->globalconf.hosts;
    t->accept_ctx.ssl_ctx = s->ssl_ctx;
    g_h2guards[index] = h2guard_new(&t->ctx, &(h2guard_limits_t){.window_ms = H2GUARD_WINDOW_MS,
                                                                 .max_resets = H2GUARD_MAX_RESETS});
    t->listen_fd = fd;
    t->listener = h2o_evloop_socket_create(t->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    h2o_socket_read_start(t->listener, on_accept);
}

static void close_listener(gw_thread_t *t)
{
    if (t->listener == NULL)
        return;
    /* Closing resets what is still queued (unless net.ipv4.tcp_migrate_req moves it to
     * another gateway on the port): take it first, served as the drain serves the rest. */
    for (int n = 0; n < LISTEN_BACKLOG && accept_one(t, t->listener); n++) {
    }
    h2o_socket_read_stop(t->listener);
    h2o_socket_close(t->listener);
    t->listener = NULL;
}

static void *thread_main(void *arg)
{
    gw_thread_t *t = arg;
    while (!atomic_load(&t->stop)) {
        h2o_evloop_run(t->ctx.loop, INT32_MAX);
        if (t->ws != NULL)
            ws_local_after_pass(t->ws);
        if (atomic_load(&t->close_listener)) {
            close_listener(t);
            atomic_store(&t->listener_closed, true);
        }
        if (atomic_exchange(&t->shutdown_conns, false))
            h2o_context_request_shutdown(&t->ctx);
    }
    h2o_evloop_run(t->ctx.loop, 0); /* replies queued before NATS closed */
    gw_pending_table_dispose(&t->pending);
    gw_jwt_cache_free(t->jwt_cache);
    t->jwt_cache = NULL;
    atomic_store(&t->finished, true);
    /* Park rather than return: h2o keeps freed pool chunks and socket buffers in
     * thread-local recycle lists that no API empties, and the process exits next. */
    for (;;)
        pause();
    return NULL;
}

static int bind_all(gw_server_t *s, int *fds)
{
    for (int i = 0; i < s->nthreads; i++) {
        fds[i] = bind_listener(s->cfg->http_host, (int)s->cfg->http_port);
        if (fds[i] < 0) {
            tm_logf(TM_LOG_ERROR, NULL, "TM_HTTP_PORT: cannot listen on %s:%d: %s",
                    s->cfg->http_host, (int)s->cfg->http_port, strerror(errno));
            while (i-- > 0)
                close(fds[i]);
            return TM_ERR_IO;
        }
    }
    return TM_OK;
}

static int init_shared(gw_server_t *s, const gw_config_t *cfg)
{
    char err[256] = "";
    gw_jwt_config_t jc = gw_config_jwt(cfg);
    s->cfg = cfg;
    s->started_ms = tm_now_ms();
    s->nthreads = (int)cfg->threads;
    unsigned char rnd[8];
    tm_random_bytes(rnd, sizeof(rnd));
    tm_hex_encode(rnd, sizeof(rnd), s->gateway_id);
    s->verifier = gw_jwt_verifier_new(&jc, err, sizeof(err));
    if (s->verifier == NULL) {
        tm_logf(TM_LOG_ERROR, NULL, "%s: %s",
                cfg->jwt_alg == GW_JWT_ES256 ? "TM_JWT_PUBLIC_KEY_FILE" : "TM_JWT_SECRET", err);
        return TM_ERR_INVALID;
    }
    s->deny = gw_jwt_deny_new(GW_DENY_CAP);
    s->openapi = gw_openapi_render(TM_VERSION, &s->openapi_len);
    if (cfg->tls_cert != NULL && *cfg->tls_cert != '\0' && (s->ssl_ctx = tls_context(cfg)) == NULL)
        return TM_ERR_INVALID;
    h2o_config_init(&s->globalconf);
    s->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("tm-gateway"));
    s->globalconf.max_request_entity_size = gw_routes_max_body();
    /* HTTP/2 starts only in h2guard_accept (prior knowledge or ALPN h2), where the
     * rapid-reset guard sees every byte: no h2c Upgrade (RFC 9113 deprecates it), and no
     * switch from HTTP/1 on "PRI *" (both hang on this flag in h2o 2.2.5) */
    s->globalconf.http1.upgrade_to_http2 = 0;
    s->hostconf =
        h2o_config_register_host(&s->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    gw_limits_configure(s);
    gw_cache_http_init(s);
    gw_http_register(s);
    return TM_OK;
}

gw_server_t *gw_server_start(const gw_config_t *cfg)
{
    gw_server_t *s = tm_xcalloc(1, sizeof(*s));
    int *fds = NULL;
    if (init_shared(s, cfg) != TM_OK)
        goto fail;
    fds = tm_xcalloc((size_t)s->nthreads, sizeof(*fds));
    if (bind_all(s, fds) != TM_OK)
        goto fail;
    s->threads = tm_xcalloc((size_t)s->nthreads, sizeof(*s->threads));
    g_h2guards = tm_xcalloc((size_t)s->nthreads, sizeof(*g_h2guards));
    unshare_main_thread_buffers();
    for (int i = 0; i < s->nthreads; i++)
        setup_thread(s, &s->threads[i], i, fds[i]);
    if (gw_upstream_start(s) != TM_OK || ws_hub_start(s) != TM_OK ||
        gw_cache_http_subscribe(s) != TM_OK)
        goto fail_threads;
    for (int i = 0; i < s->nthreads; i++)
        pthread_create(&s->threads[i].tid, NULL, thread_main, &s->threads[i]);
    tm_logf(TM_LOG_INFO, NULL, "listening on %s:%d (%s, %d threads, gateway %s)", cfg->http_host,
            (int)cfg->http_port, s->ssl_ctx ? "https h2+http/1.1" : "http h2c+http/1.1",
            s->nthreads, s->gateway_id);
    free(fds);
    return s;
fail_threads:
    gw_upstream_stop(s);
fail:
    free(fds);
    /* the process exits on this path; the loops are left to the OS */
    return NULL;
}

bool gw_server_ready(gw_server_t *s)
{
    return !atomic_load(&s->draining) && gw_upstream_connected(s);
}

static size_t total_inflight(gw_server_t *s)
{
    size_t n = 0;
    for (int i = 0; i < s->nthreads; i++)
        n += atomic_load(&s->threads[i].inflight);
    return n;
}

static bool listeners_closed(gw_server_t *s)
{
    for (int i = 0; i < s->nthreads; i++)
        if (!atomic_load(&s->threads[i].listener_closed))
            return false;
    return true;
}

static void wake_all(gw_server_t *s)
{
    for (int i = 0; i < s->nthreads; i++)
        h2o_multithread_send_message(&s->threads[i].control, NULL);
}

void gw_server_stop(gw_server_t *s)
{
    if (s == NULL)
        return;
    /* Stop accepting before answering "Connection: close": a keep-alive client told so
     * reconnects at once, and a connection that lands in a listener's queue just before it
     * closes is reset by the kernel (ECONNRESET) instead of going to the next gateway. */
    for (int i = 0; i < s->nthreads; i++)
        atomic_store(&s->threads[i].close_listener, true);
    wake_all(s);
    int64_t until = tm_now_ms() + s->cfg->drain_timeout_ms;
    while (!listeners_closed(s) && tm_now_ms() < until)
        usleep(1000);
    atomic_store(&s->draining, true);
    int64_t grace_end = tm_now_ms() + DRAIN_GRACE_MS;
    while (total_inflight(s) > 0 && tm_now_ms() < until)
        usleep(DRAIN_POLL_US);
    /* Answers given while draining say Connection: close (gw_http_send). h2o's shutdown
     * closes idle HTTP/1.1 connections at once, resetting one whose next request is
     * already on the wire: give keep-alive clients a moment to get their last answer
     * first, then shut down (GOAWAY for HTTP/2) and wait for what came in meanwhile. */
    while (tm_now_ms() < until && tm_now_ms() < grace_end)
        usleep(DRAIN_POLL_US);
    for (int i = 0; i < s->nthreads; i++)
        atomic_store(&s->threads[i].shutdown_conns, true);
    wake_all(s);
    while (total_inflight(s) > 0 && tm_now_ms() < until)
        usleep(DRAIN_POLL_US);
    tm_logf(TM_LOG_INFO, NULL, "drained; %zu requests still in flight", total_inflight(s));
    ws_hub_stop(s, until); /* close every WebSocket with 1001, then its NATS connection */
    gw_cache_http_unsubscribe(s);
    gw_upstream_stop(s); /* no NATS thread posts to a loop after this */
    for (int i = 0; i < s->nthreads; i++)
        atomic_store(&s->threads[i].stop, true);
    wake_all(s);
    for (int i = 0; i < s->nthreads; i++)
        while (!atomic_load(&s->threads[i].finished))
            usleep(1000);
    /* Contexts with open client connections cannot be disposed safely in h2o 2.2; the
     * process exits right after this. */
    gw_jwt_verifier_free(s->verifier);
    gw_jwt_deny_free(s->deny);
    free(s->openapi);
    if (s->ssl_ctx)
        SSL_CTX_free(s->ssl_ctx);
    g_servers = s;
}
