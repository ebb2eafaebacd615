/* tm_nats: NATS connections with hardened reconnect settings, the taskmesh message headers,
 * and a blocking request helper for service-to-service calls and tests.
 *
 * Headers every request carries (proto/README.md):
 *   Tm-Request-Id, Tm-User-Id, Tm-User-Role, Tm-Session-Id, Idempotency-Key,
 *   Tm-Deadline (wall clock ms since the epoch; a service drops a request past it).
 * Every reply carries Tm-Status (the HTTP status as decimal text) and a JSON body (a
 * resource or an RFC 9457 problem), or raw bytes with Content-Type for attachments. */
#ifndef TM_NATS_H
#define TM_NATS_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>
#include "tm_error.h"

#define TM_HDR_REQUEST_ID   "Tm-Request-Id"
#define TM_HDR_USER_ID      "Tm-User-Id"
#define TM_HDR_USER_ROLE    "Tm-User-Role"
#define TM_HDR_SESSION_ID   "Tm-Session-Id"
#define TM_HDR_IDEM_KEY     "Idempotency-Key"
#define TM_HDR_DEADLINE     "Tm-Deadline"
#define TM_HDR_STATUS       "Tm-Status"
#define TM_HDR_CONTENT_TYPE "Content-Type"
/* Reply: "private, max-age=<s>": the gateway may keep this answer for the caller that long
 * (on the routes that take hints; see proto/README.md). */
#define TM_HDR_CACHE "Tm-Cache"
/* Where the reply goes when present (an "_INBOX." subject); the message's own reply subject
 * then only receives nats-server's no-responders status (see proto/README.md). */
#define TM_HDR_REPLY_TO "Tm-Reply-To"

/* Who is calling, carried as headers. Empty strings mean absent. */
typedef struct {
    char request_id[65];
    char user_id[37];
    char role[16]; /* user | moderator | admin */
    char session_id[37];
    char idem_key[129];
    int64_t deadline_ms; /* wall clock ms; 0 = none */
} tm_call_t;

typedef struct {
    bool send_asap;            /* true for request/reply connections (see dependencies.md) */
    int64_t reconnect_wait_ms; /* 0 -> 250 */
    const char *name;          /* connection name shown by the server */
    bool global_delivery;      /* async subscriptions share nats.c's delivery thread pool instead
                                * of one thread each (many subscriptions on one connection) */
    /* Event-loop mode (natsOptions_SetEventLoop) when ev_attach is set: no reader thread;
     * the caller's loop polls the socket and calls natsConnection_ProcessReadEvent /
     * ProcessWriteEvent. ev_loop is passed to ev_attach as its loop argument. */
    void *ev_loop;
    natsEvLoop_Attach ev_attach;
    natsEvLoop_ReadAddRemove ev_read;
    natsEvLoop_WriteAddRemove ev_write;
    natsEvLoop_Detach ev_detach;
} tm_nats_opts_t;

/* Connect to url (comma-separated list allowed) with: unlimited reconnects, jittered wait,
 * 1 s pings with 2 outstanding, reconnect buffer, retry on failed connect, failed requests
 * on disconnect. Logs disconnect/reconnect events and counts them in metrics
 * (tm_nats_reconnects_total). Caller owns *out (natsConnection_Destroy). */
int tm_nats_connect(const char *url, const tm_nats_opts_t *opts, natsConnection **out) TM_WUR;

/* Bumped whenever a connection made by tm_nats_connect in this process disconnects or
 * reconnects. Core-NATS messages sent meanwhile may have been missed: state kept in step by
 * such broadcasts (caches invalidated by them) and stamped with an older epoch is suspect. */
uint64_t tm_nats_epoch(void);

/* Set the tm_call_t headers on msg (skips empty ones). */
int tm_nats_set_call_headers(natsMsg *msg, const tm_call_t *call) TM_WUR;
/* Read the tm_call_t headers of msg into call (missing -> empty / 0). Over-long values
 * are treated as absent. */
void tm_nats_get_call_headers(natsMsg *msg, tm_call_t *call);

/* The subject a reply to req goes to: its Tm-Reply-To header when that names an inbox,
 * else its reply subject (NULL if none). Borrowed from req. */
const char *tm_nats_reply_subject(natsMsg *req);

/* Frees a core-NATS message (received from a subscription or made with natsMsg_Create) on the
 * calling thread. natsMsg_Destroy hands every such message to nats.c's garbage-collector
 * thread instead: a lock, often a wake-up, and a free into another thread's malloc arena per
 * message — measured as the gateway's largest cost after its own loop. Not for JetStream
 * messages (nats.c may still hold those): use natsMsg_Destroy there. NULL is a no-op. */
void tm_nats_msg_free(natsMsg *msg);

/* Blocking request: publish body (JSON, may be NULL = empty) with call's headers to subject
 * and wait at most timeout_ms. On a reply sets *status from Tm-Status (500 if missing) and
 * *reply to the parsed body (NULL if empty or not JSON; caller decrefs).
 * Returns 0, TM_ERR_TIMEOUT, TM_ERR_UNAVAILABLE (no responders) or TM_ERR_NATS.
 * Never call it on an event-loop thread. */
int tm_nats_request_json(natsConnection *nc, const char *subject, const tm_call_t *call,
                         const json_t *body, int64_t timeout_ms, int *status,
                         json_t **reply) TM_WUR;

#endif
