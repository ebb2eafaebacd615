/* tm_nats_reader: see tm_nats_reader.h.
 *
 * nats.c calls the event-loop callbacks with its connection lock held, from whichever thread
 * is at work (the reader, a publisher, its timer thread for pings, its reconnect thread for
 * attach, the closer). They only record what changed and wake the reader through an
 * eventfd; they never call back into nats.c. */
#include "tm_nats_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "tm_log.h"
#include "tm_util.h"

#define POLL_TICK_MS 1000

struct tm_nats_reader {
    tm_nats_reader_fn after_read;
    void *ctx;
    natsConnection *nc;
    pthread_t thread;
    bool started;
    int wake_fd;
    pthread_mutex_t mu;
    int pending_fd; /* (mu) dup of a socket nats.c attached, not polled yet; -1 if none */
    bool drop;      /* (mu) nats.c stopped using the socket the reader polls */
    atomic_bool write_wanted;
    atomic_bool stopping;
    /* Serialises flushes: nats.c's ProcessWriteEvent on an empty buffer sends 0 bytes, takes
     * that for a closed connection and reconnects; under this lock write_wanted means the
     * buffer holds bytes (only ProcessWriteEvent empties it, and clears write_wanted then). */
    pthread_mutex_t flush_mu;
};

/* Set while this thread publishes through tm_nats_reader_publish, which writes right after:
 * nats.c's "write wanted" then needs no wake-up of the reader. */
static __thread bool tls_writes_itself;
/* Set on the reader thread while after_read runs: what it publishes is written by the
 * flush that follows after_read, so a burst of answers leaves in one write. */
static __thread bool tls_in_after_read;

static void wake(tm_nats_reader_t *r)
{
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        TM_WARN("nats reader: cannot wake: %s", strerror(errno));
}

/* --- nats.c callbacks (connection lock held; any thread) --- */

static natsStatus ev_attach(void **user, void *loop, natsConnection *nc, natsSock fd)
{
    (void)nc;
    tm_nats_reader_t *r = loop;
    *user = r;
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* ours to poll and close */
    if (dupfd < 0)
        return NATS_SYS_ERROR;
    pthread_mutex_lock(&r->mu);
    if (r->pending_fd >= 0)
        close(r->pending_fd);
    r->pending_fd = dupfd;
    pthread_mutex_unlock(&r->mu);
    wake(r);
    return NATS_OK;
}

/* A drop is of the socket attached last: nats.c attaches again only after it. */
static void drop_socket(tm_nats_reader_t *r)
{
    pthread_mutex_lock(&r->mu);
    if (r->pending_fd >= 0)
        close(r->pending_fd);
    r->pending_fd = -1;
    r->drop = true;
    pthread_mutex_unlock(&r->mu);
    atomic_store(&r->write_wanted, false);
    wake(r);
}

/* nats.c only removes read polling right before it closes the socket. */
static natsStatus ev_read(void *user, bool add)
{
    if (!add)
        drop_socket(user);
    return NATS_OK;
}

static natsStatus ev_write(void *user, bool add)
{
    tm_nats_reader_t *r = user;
    atomic_store(&r->write_wanted, add);
    if (add && !tls_writes_itself)
        wake(r);
    return NATS_OK;
}

static natsStatus ev_detach(void *user)
{
    drop_socket(user);
    return NATS_OK;
}

/* --- the reader thread --- */

/* Adopts a socket change; returns the descriptor to poll (-1: none). */
static int apply_changes(tm_nats_reader_t *r, int fd)
{
    pthread_mutex_lock(&r->mu);
    if (r->drop && fd >= 0) {
        close(fd);
        fd = -1;
    }
    if (r->pending_fd >= 0) {
        if (fd >= 0)
            close(fd);
        fd = r->pending_fd;
    }
    r->pending_fd = -1;
    r->drop = false;
    pthread_mutex_unlock(&r->mu);
    return fd;
}

/* After an I/O call on this thread: why nats.c gave up the socket, if it did. */
static void log_io_error(const tm_nats_reader_t *r, const char *what)
{
    if (natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED)
        return;
    natsStatus s = NATS_OK;
    const char *text = nats_GetLastError(&s);
    if (s != NATS_OK)
        TM_WARN("nats reader: %s: %s", what, text ? text : natsStatus_GetText(s));
}

static void flush(tm_nats_reader_t *r)
{
    pthread_mutex_lock(&r->flush_mu);
    if (atomic_load(&r->write_wanted)) {
        natsConnection_ProcessWriteEvent(r->nc);
        log_io_error(r, "write");
    }
    pthread_mutex_unlock(&r->flush_mu);
}

static void *reader_main(void *arg)
{
    tm_nats_reader_t *r = arg;
    int fd = -1;
    while (!atomic_load(&r->stopping)) {
        fd = apply_changes(r, fd);
        struct pollfd p[2] = {{.fd = r->wake_fd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
        if (fd >= 0 && atomic_load(&r->write_wanted))
            p[1].events |= POLLOUT;
        if (poll(p, fd >= 0 ? 2 : 1, POLL_TICK_MS) < 0 && errno != EINTR) {
            TM_ERROR("nats reader: poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents & POLLIN) {
            uint64_t n;
            if (read(r->wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
                TM_WARN("nats reader: wake read failed");
        }
        if (fd >= 0 && (p[1].revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL))) {
            natsConnection_ProcessReadEvent(r->nc);
            log_io_error(r, "read");
            if (p[1].revents & (POLLERR | POLLHUP | POLLNVAL)) { /* until nats.c attaches anew */
                close(fd);
                fd = -1;
            }
        }
        tls_in_after_read = true;
        r->after_read(r->ctx);
        tls_in_after_read = false;
        flush(r);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* --- public --- */

tm_nats_reader_t *tm_nats_reader_new(tm_nats_reader_fn after_read, void *ctx)
{
    tm_nats_reader_t *r = tm_xcalloc(1, sizeof *r);
    r->after_read = after_read;
    r->ctx = ctx;
    r->pending_fd = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->flush_mu, NULL);
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->wake_fd < 0) {
        TM_ERROR("nats reader: eventfd: %s", strerror(errno));
        pthread_mutex_destroy(&r->mu);
        pthread_mutex_destroy(&r->flush_mu);
        free(r);
        return NULL;
    }
    return r;
}

void tm_nats_reader_opts(tm_nats_reader_t *r, tm_nats_opts_t *opts)
{
    opts->ev_loop = r;
    opts->ev_attach = ev_attach;
    opts->ev_read = ev_read;
    opts->ev_write = ev_write;
    opts->ev_detach = ev_detach;
}

int tm_nats_reader_start(tm_nats_reader_t *r, natsConnection *nc)
{
    r->nc = nc;
    if (pthread_create(&r->thread, NULL, reader_main, r) != 0)
        return TM_ERR_INTERNAL;
    r->started = true;
    return TM_OK;
}

natsStatus tm_nats_reader_publish(tm_nats_reader_t *r, natsMsg *msg)
{
    tls_writes_itself = true;
    natsStatus s = natsConnection_PublishMsg(r->nc, msg);
    tls_writes_itself = false;
    if (tls_in_after_read) /* the reader flushes once after_read returns */
        return s;
    if (atomic_load(&r->write_wanted)) {
        flush(r);
        if (atomic_load(&r->write_wanted)) /* the socket took part: the reader waits for room */
            wake(r);
    }
    return s;
}

void tm_nats_reader_stop(tm_nats_reader_t *r)
{
    if (r == NULL || !r->started)
        return;
    atomic_store(&r->stopping, true);
    wake(r);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void tm_nats_reader_free(tm_nats_reader_t *r)
{
    if (r == NULL)
        return;
    tm_nats_reader_stop(r);
    if (r->pending_fd >= 0)
        close(r->pending_fd);
    close(r->wake_fd);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->flush_mu);
    free(r);
}
