/* gw_natsloop: see natsloop.h.
 *
 * nats.c calls the four event-loop callbacks with its connection lock held, from whichever
 * thread is at work: the loop thread (publishes, reads), its timer thread (pings), its
 * reconnect thread (attach after a reconnect) or the main thread (close). On the loop
 * thread they act at once; elsewhere they record what changed under nl->mu and wake the
 * loop, which applies it (apply_changes). They never call back into nats.c. */
#include "natsloop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_util.h"

#define INBOX_PENDING_MSGS  65536
#define INBOX_PENDING_BYTES (256 * 1024 * 1024)
#define STOP_WAIT_MS        1000

struct gw_natsloop {
    h2o_loop_t *loop;
    h2o_multithread_receiver_t wake;
    h2o_multithread_message_t wake_msg; /* the one wake-up message, queued at most once */
    atomic_bool wake_queued;
    pthread_mutex_t mu;
    int pending_fd;           /* (mu) dup of a socket nats.c attached, not polled yet; -1 if none */
    bool drop;                /* (mu) nats.c stopped polling the socket the loop polls */
    atomic_bool write_wanted; /* nats.c has buffered bytes for the socket */
    atomic_bool stopping;     /* gw_natsloop_stop began: nats.c is ignored from now on */
    atomic_bool released;     /* the loop polls no socket of this connection any more */
    atomic_bool loop_seen;    /* the loop thread has run one of our callbacks */
    /* loop thread only */
    h2o_socket_t *sock;
    bool notify_pending; /* h2o_socket_notify_write armed */
    h2o_timeout_t flush_timeout;
    h2o_timeout_entry_t flush_entry;
    /* set at start */
    natsConnection *nc;
    natsSubscription *sub;
    gw_natsloop_msg_fn fn;
    void *ctx;
};

/* The loop this thread runs, once one of our loop-side callbacks has run on it. */
static __thread h2o_loop_t *tls_loop;

static bool on_loop(const gw_natsloop_t *nl)
{
    return tls_loop == nl->loop;
}

static void enter_loop(gw_natsloop_t *nl)
{
    tls_loop = nl->loop;
    atomic_store(&nl->loop_seen, true);
}

static void close_sock(gw_natsloop_t *nl)
{
    if (nl->sock == NULL)
        return;
    h2o_socket_close(nl->sock); /* closes our dup only */
    nl->sock = NULL;
    nl->notify_pending = false;
}

static void flush(gw_natsloop_t *nl);

static void on_writable(h2o_socket_t *sock, const char *err)
{
    gw_natsloop_t *nl = sock->data;
    (void)err; /* a broken socket shows up as a read error; nats.c handles it */
    nl->notify_pending = false;
    flush(nl);
}

/* Loop thread: hand nats.c's buffered bytes to the socket; if they did not all fit, wait
 * until it is writable again. */
static void flush(gw_natsloop_t *nl)
{
    if (atomic_load(&nl->stopping) || nl->sock == NULL || !atomic_load(&nl->write_wanted))
        return;
    natsConnection_ProcessWriteEvent(nl->nc);
    if (atomic_load(&nl->write_wanted) && nl->sock != NULL && !nl->notify_pending) {
        nl->notify_pending = true;
        h2o_socket_notify_write(nl->sock, on_writable);
    }
}

static void on_flush_timeout(h2o_timeout_entry_t *entry)
{
    gw_natsloop_t *nl = H2O_STRUCT_FROM_MEMBER(gw_natsloop_t, flush_entry, entry);
    flush(nl);
}

/* Loop thread: every message waiting in the subscription, to the callback. */
static void deliver(gw_natsloop_t *nl)
{
    int n = 0;
    if (nl->sub == NULL || natsSubscription_GetPending(nl->sub, &n, NULL) != NATS_OK)
        return;
    for (; n > 0; n--) {
        natsMsg *msg = NULL;
        natsStatus st = natsSubscription_NextMsg(&msg, nl->sub, 0);
        if (st == NATS_SLOW_CONSUMER) /* reported once, the messages are still there */
            st = natsSubscription_NextMsg(&msg, nl->sub, 0);
        if (st != NATS_OK)
            break;
        nl->fn(nl->ctx, msg);
    }
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    gw_natsloop_t *nl = sock->data;
    (void)err; /* DONT_READ sockets are only notified; nats.c reads and sees errors */
    enter_loop(nl);
    if (atomic_load(&nl->stopping))
        return;
    /* may call read(false) -> close_sock: sock must not be used after this */
    natsConnection_ProcessReadEvent(nl->nc);
    deliver(nl);
    flush(nl); /* PONGs, and anything published by the callback */
}

/* Loop thread: adopt what nats.c changed from other threads. */
static void apply_changes(gw_natsloop_t *nl)
{
    pthread_mutex_lock(&nl->mu);
    int fd = nl->pending_fd;
    bool drop = nl->drop;
    nl->pending_fd = -1;
    nl->drop = false;
    pthread_mutex_unlock(&nl->mu);
    if (drop || fd >= 0)
        close_sock(nl);
    if (fd >= 0) {
        nl->sock = h2o_evloop_socket_create(nl->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        nl->sock->data = nl;
        h2o_socket_read_start(nl->sock, on_readable);
    }
}

static void on_wake(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    gw_natsloop_t *nl = H2O_STRUCT_FROM_MEMBER(gw_natsloop_t, wake, receiver);
    while (!h2o_linklist_is_empty(messages)) /* only wake_msg; nl's fields say what changed */
        h2o_linklist_unlink(messages->next);
    atomic_store(&nl->wake_queued, false); /* before reading: a later change wakes again */
    enter_loop(nl);
    if (atomic_load(&nl->stopping)) {
        close_sock(nl);
        atomic_store(&nl->released, true);
        return;
    }
    apply_changes(nl);
    deliver(nl); /* messages parsed while the socket changed hands */
    flush(nl);
}

/* A NULL message would only wake the loop, not call on_wake (h2o 2.2.5 multithread.c). */
static void wake(gw_natsloop_t *nl)
{
    if (!atomic_exchange(&nl->wake_queued, true))
        h2o_multithread_send_message(&nl->wake, &nl->wake_msg);
}

/* --- nats.c callbacks (connection lock held; any thread) --- */

/* Record a new socket (fd >= 0, a dup) or the end of the current one (drop), replacing a
 * socket attached and not yet seen by the loop; the loop applies it now or when woken. */
static void set_socket_change(gw_natsloop_t *nl, int fd, bool drop)
{
    pthread_mutex_lock(&nl->mu);
    if (nl->pending_fd >= 0)
        close(nl->pending_fd);
    nl->pending_fd = fd;
    if (drop)
        nl->drop = true;
    pthread_mutex_unlock(&nl->mu);
    if (on_loop(nl))
        apply_changes(nl);
    else
        wake(nl);
}

static natsStatus ev_attach(void **user, void *loop, natsConnection *nc, natsSock fd)
{
    (void)nc;
    gw_natsloop_t *nl = loop;
    *user = nl;
    if (atomic_load(&nl->stopping))
        return NATS_OK;
    int dupfd = dup(fd);
    if (dupfd < 0)
        return NATS_SYS_ERROR;
    set_socket_change(nl, dupfd, false);
    return NATS_OK;
}

/* nats.c only removes read polling right before it closes the socket. */
static natsStatus ev_read(void *user, bool add)
{
    gw_natsloop_t *nl = user;
    if (add || atomic_load(&nl->stopping))
        return NATS_OK;
    set_socket_change(nl, -1, true);
    return NATS_OK;
}

static natsStatus ev_write(void *user, bool add)
{
    gw_natsloop_t *nl = user;
    atomic_store(&nl->write_wanted, add);
    if (!add || atomic_load(&nl->stopping))
        return NATS_OK;
    if (!on_loop(nl))
        wake(nl);
    else if (!h2o_timeout_is_linked(&nl->flush_entry))
        h2o_timeout_link(nl->loop, &nl->flush_timeout, &nl->flush_entry); /* end of iteration */
    return NATS_OK;
}

static natsStatus ev_detach(void *user)
{
    gw_natsloop_t *nl = user;
    if (!atomic_load(&nl->stopping))
        (void)ev_read(user, false);
    return NATS_OK;
}

/* --- public --- */

gw_natsloop_t *gw_natsloop_new(h2o_loop_t *loop, h2o_multithread_queue_t *queue)
{
    gw_natsloop_t *nl = tm_xcalloc(1, sizeof(*nl));
    nl->loop = loop;
    nl->pending_fd = -1;
    pthread_mutex_init(&nl->mu, NULL);
    h2o_multithread_register_receiver(queue, &nl->wake, on_wake);
    h2o_timeout_init(loop, &nl->flush_timeout, 0);
    nl->flush_entry.cb = on_flush_timeout;
    return nl;
}

int gw_natsloop_start(gw_natsloop_t *nl, const char *url, const char *name, const char *subject,
                      gw_natsloop_msg_fn fn, void *ctx)
{
    nl->fn = fn;
    nl->ctx = ctx;
    tm_nats_opts_t opts = {
        .send_asap = true, /* no flusher thread: bytes are written by the loop */
        .name = name,
        .ev_loop = nl,
        .ev_attach = ev_attach,
        .ev_read = ev_read,
        .ev_write = ev_write,
        .ev_detach = ev_detach,
    };
    int rc = tm_nats_connect(url, &opts, &nl->nc);
    if (rc != TM_OK)
        return rc;
    if (natsConnection_SubscribeSync(&nl->sub, nl->nc, subject) != NATS_OK ||
        natsSubscription_SetPendingLimits(nl->sub, INBOX_PENDING_MSGS, INBOX_PENDING_BYTES) !=
            NATS_OK) {
        tm_logf(TM_LOG_ERROR, NULL, "subscribe %s: %s", subject, nats_GetLastError(NULL));
        return TM_ERR_NATS;
    }
    return TM_OK;
}

int gw_natsloop_publish(gw_natsloop_t *nl, natsMsg *msg)
{
    if (!gw_natsloop_connected(nl))
        return TM_ERR_UNAVAILABLE;
    return natsConnection_PublishMsg(nl->nc, msg) == NATS_OK ? TM_OK : TM_ERR_NATS;
}

bool gw_natsloop_connected(gw_natsloop_t *nl)
{
    return nl != NULL && !atomic_load(&nl->stopping) && nl->nc != NULL &&
           natsConnection_Status(nl->nc) == NATS_CONN_STATUS_CONNECTED;
}

natsConnection *gw_natsloop_conn(gw_natsloop_t *nl)
{
    return nl->nc;
}

void gw_natsloop_stop(gw_natsloop_t *nl)
{
    if (nl == NULL)
        return;
    atomic_store(&nl->stopping, true);
    if (atomic_load(&nl->loop_seen)) {
        wake(nl);
        int64_t until = tm_now_ms() + STOP_WAIT_MS;
        while (!atomic_load(&nl->released) && tm_now_ms() < until)
            usleep(1000);
    } /* else the loop never ran, so it never polled a socket */
    /* Closed, not destroyed: another thread may still ask for the status (readiness
     * probes); the objects stay reachable from nl until the process exits. */
    if (nl->nc != NULL)
        natsConnection_Close(nl->nc);
    pthread_mutex_lock(&nl->mu);
    if (nl->pending_fd >= 0)
        close(nl->pending_fd);
    nl->pending_fd = -1;
    pthread_mutex_unlock(&nl->mu);
}
