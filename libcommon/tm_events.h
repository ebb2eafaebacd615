/* tm_events: the TM_EVENTS JetStream stream and the event envelope every consumer decodes.
 *
 * Envelope (JSON, one per message on tm.v1.evt.<workspace_id>.<type>, Nats-Msg-Id = event_id):
 *   {"event_id":uuid, "workspace_id":uuid, "seq":n>=1, "type":"task.created",
 *    "actor_id":uuid|null, "created_at":RFC 3339, "data":{...}}
 * Thread-safe; no global state. */
#ifndef TM_EVENTS_H
#define TM_EVENTS_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdint.h>
#include "tm_error.h"
#include "tm_json.h"

#define TM_EVENT_TYPE_MAX 48

typedef struct {
    char event_id[37];
    char workspace_id[37];
    int64_t seq;
    char type[TM_EVENT_TYPE_MAX + 1];
    char actor_id[37]; /* "" when null */
    char created_at[40];
    json_t *data; /* owned reference (tm_event_dispose) */
} tm_event_t;

/* Create the stream if it does not exist (file storage, subjects tm.v1.evt.>, a 10 min
 * duplicate window, max age max_age_ms (0 = keep)); an existing stream is left as it is.
 * Returns 0 or TM_ERR_NATS / TM_ERR_UNAVAILABLE. Blocking: not for event loops. */
int tm_events_ensure_stream(jsCtx *js, int64_t max_age_ms) TM_WUR;
/* The durable consumer's lag: stream messages not delivered to it yet. Returns 0,
 * TM_ERR_NOT_FOUND (no such consumer) or TM_ERR_NATS. Blocking: not for event loops. */
int tm_events_consumer_lag(jsCtx *js, const char *durable, int64_t *pending) TM_WUR;

/* Build the envelope (caller owns). data is borrowed (a reference is taken). */
json_t *tm_event_envelope(const char *event_id, const char *workspace_id, int64_t seq,
                          const char *type, const char *actor_id, const char *created_at,
                          json_t *data);
/* Strict decode of an envelope; unknown fields rejected. On success the caller must call
 * tm_event_dispose. Returns 0, TM_ERR_INVALID or TM_ERR_LIMIT (errs filled when non-NULL). */
int tm_event_decode(const char *buf, size_t len, tm_event_t *ev, tm_json_errors_t *errs) TM_WUR;
void tm_event_dispose(tm_event_t *ev);
/* The subject of an event: tm.v1.evt.<workspace_id>.<type> into out (cap >= 128). */
int tm_event_subject(const char *workspace_id, const char *type, char *out, size_t cap) TM_WUR;

#endif
