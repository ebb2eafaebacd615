/* gw_server: the gateway's loop threads, listeners and shared state.
 *
 * N loop threads, each with its own h2o_context_t, evloop, SO_REUSEPORT listener, pending
 * table, token cache and NATS inbox. Shared state (config, verifier, deny set, NATS
 * connection, metrics) is immutable or thread-safe. Created and stopped on the main
 * thread. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <h2o.h>
#include <nats/nats.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include "config.h"
#include "jwt_verify.h"
#include "pending.h"
#include "tm_metrics.h"

#define GW_HEALTH_TIMEOUT_MS 1000
#define GW_JWT_CACHE_SIZE    4096
#define GW_DENY_CAP          65536

typedef struct gw_server gw_server_t;

typedef struct gw_thread {
    h2o_context_t ctx;
    gw_server_t *server;
    int index;
    pthread_t tid;
    int listen_fd;
    h2o_socket_t *listener;
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t replies; /* gw_reply_msg_t from NATS threads */
    h2o_multithread_receiver_t control; /* wake-ups from the main thread */
    h2o_timeout_t req_timeout;
    h2o_timeout_t health_timeout;
    gw_pending_table_t pending;
    gw_jwt_cache_t *jwt_cache;
    struct gw_natsloop *nats; /* this loop's request connection and reply inbox */
    /* A request's NATS reply subject is "<inbox_prefix><id>" ("_INBOX.<gateway>.<index>.nr."):
     * only nats-server's no-responders status goes there. Services reply to its
     * Tm-Reply-To header, "<reply_prefix><id>", read by the loop itself (upstream.c). */
    char inbox_prefix[80];
    char reply_prefix[64]; /* "_INBOX.<gateway id>.<index>." */
    natsSubscription *nr_sub;
    atomic_size_t inflight; /* requests being served (read by the main thread) */
    atomic_bool close_listener;
    atomic_bool listener_closed; /* set by the thread once its listening socket is closed */
    atomic_bool shutdown_conns;  /* h2o_context_request_shutdown once (set after the drain grace) */
    atomic_bool stop;
    atomic_bool finished; /* set by the thread once it cleaned up (it then parks) */
    struct ws_local *ws;  /* this thread's WebSockets (ws_hub.h) */
} gw_thread_t;

/* A NATS reply handed to a loop thread (calloc'd: h2o requires a zeroed link). */
typedef struct {
    h2o_multithread_message_t super;
    uint64_t id;
    natsMsg *msg;
} gw_reply_msg_t;

struct gw_server {
    const gw_config_t *cfg;
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    SSL_CTX *ssl_ctx;
    gw_jwt_verifier_t *verifier;
    gw_jwt_deny_t *deny;
    natsConnection *nc_events; /* revocations (requests use each loop's gw_natsloop) */
    natsSubscription *revoked_sub;
    char gateway_id[17];
    int nthreads;
    gw_thread_t *threads;
    char *openapi;
    size_t openapi_len;
    atomic_bool draining;
    tm_gauge_t *inflight_gauge;
    int64_t started_ms;
    struct ws_hub *ws_hub; /* WebSocket deliveries and caps (ws_hub.h) */
    /* cache_http.c / gw_limits.c */
    struct gw_cache *cache;         /* shared by the loops (thread-safe) */
    struct gw_ratelimit *ratelimit; /* shared by the loops (thread-safe) */
    natsSubscription *events_sub;   /* tm.v1.evt.> on nc_events: cache invalidation */
    natsSubscription *ai_sub;       /* tm.v1.ai.dropped on nc_events: cache invalidation */
    atomic_size_t connections;      /* open client connections (TM_MAX_CONNECTIONS) */
};

/* Bind the listeners, connect NATS, start the threads. Returns NULL after logging why. */
gw_server_t *gw_server_start(const gw_config_t *cfg);
/* Drain (close listeners, readyz 503, wait for in-flight up to TM_DRAIN_TIMEOUT), stop
 * the threads, close NATS, free. NULL ok. */
void gw_server_stop(gw_server_t *s);
/* True while ready: not draining and NATS connected. Any thread. */
bool gw_server_ready(gw_server_t *s);

#endif
