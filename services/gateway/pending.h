/* gw_pending: forwarded requests waiting for their NATS reply, one table per loop thread.
 *
 * An entry is created on its loop thread when the request is published, and ends exactly
 * once on that thread: by its reply (gw_pending_complete) or its deadline (the timeout
 * callback). The client may go away first: a guard object linked to the request's pool
 * (h2o_mem_alloc_shared with a dispose callback) clears entry->req when h2o frees the
 * request, so the entry then only waits for its end and its reply is dropped. All
 * functions run on the owning loop thread only. */
#ifndef GW_PENDING_H
#define GW_PENDING_H

#include <h2o.h>
#include <nats/nats.h>
#include <stdint.h>

typedef struct gw_pending gw_pending_t;

/* Called once when the entry ends: msg is the reply, or NULL on timeout. p->req is NULL
 * if the client went away. The callback must not free p. */
typedef void (*gw_pending_done_fn)(gw_pending_t *p, natsMsg *msg);

typedef struct gw_pending_guard {
    gw_pending_t *p;
} gw_pending_guard_t;

struct gw_pending {
    uint64_t id;
    h2o_req_t *req; /* NULL once the client is gone (or for sub-requests) */
    gw_pending_guard_t *guard;
    h2o_timeout_entry_t timeout;
    gw_pending_done_fn done;
    void *ctx; /* for done */
    struct gw_pending_table *table;
    gw_pending_t *next; /* hash chain */
};

typedef struct gw_pending_table {
    gw_pending_t **buckets;
    size_t mask;
    size_t count;
    size_t cap; /* TM_MAX_INFLIGHT */
    uint64_t next_id;
} gw_pending_table_t;

void gw_pending_table_init(gw_pending_table_t *t, size_t cap);
/* Ends the remaining entries as abandoned (done(p, NULL) with p->req NULL) and frees
 * them; only after the loop stopped. */
void gw_pending_table_dispose(gw_pending_table_t *t);

/* New entry (req may be NULL for sub-requests) linked to timeout. Returns NULL when the
 * table holds cap entries. */
gw_pending_t *gw_pending_add(gw_pending_table_t *t, h2o_loop_t *loop, h2o_timeout_t *timeout,
                             h2o_req_t *req, gw_pending_done_fn done, void *ctx);
/* Deliver a reply for id: calls done(p, msg) and frees p. Unknown id (late, or duplicate
 * health replies) -> returns false and does nothing. msg stays owned by the caller. */
bool gw_pending_complete(gw_pending_table_t *t, uint64_t id, natsMsg *msg);

#endif
