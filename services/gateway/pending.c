/* gw_pending: see pending.h. */
#include "pending.h"

#include <stdlib.h>
#include "tm_util.h"

void gw_pending_table_init(gw_pending_table_t *t, size_t cap)
{
    size_t n = 64;
    while (n < cap * 2 && n < ((size_t)1 << 22))
        n <<= 1;
    t->buckets = tm_xcalloc(n, sizeof(*t->buckets));
    t->mask = n - 1;
    t->count = 0;
    t->cap = cap;
    t->next_id = 1;
}

static void unlink_entry(gw_pending_t *p)
{
    gw_pending_table_t *t = p->table;
    gw_pending_t **slot = &t->buckets[p->id & t->mask];
    while (*slot != p)
        slot = &(*slot)->next;
    *slot = p->next;
    t->count--;
    if (h2o_timeout_is_linked(&p->timeout))
        h2o_timeout_unlink(&p->timeout);
    if (p->guard != NULL)
        p->guard->p = NULL;
}

void gw_pending_table_dispose(gw_pending_table_t *t)
{
    for (size_t i = 0; t->buckets != NULL && i <= t->mask; i++) {
        while (t->buckets[i] != NULL) {
            gw_pending_t *p = t->buckets[i];
            unlink_entry(p);
            p->req = NULL; /* the loop is gone: end it as abandoned */
            p->done(p, NULL);
            free(p);
        }
    }
    free(t->buckets);
    t->buckets = NULL;
}

static void finish(gw_pending_t *p, natsMsg *msg)
{
    unlink_entry(p);
    p->done(p, msg);
    free(p);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    gw_pending_t *p = H2O_STRUCT_FROM_MEMBER(gw_pending_t, timeout, entry);
    finish(p, NULL);
}

/* h2o frees the request (client gone, or response done): forget it. */
static void on_guard_dispose(void *arg)
{
    gw_pending_guard_t *g = arg;
    if (g->p != NULL) {
        g->p->req = NULL;
        g->p->guard = NULL;
    }
}

gw_pending_t *gw_pending_add(gw_pending_table_t *t, h2o_loop_t *loop, h2o_timeout_t *timeout,
                             h2o_req_t *req, gw_pending_done_fn done, void *ctx)
{
    if (t->count >= t->cap)
        return NULL;
    gw_pending_t *p = tm_xcalloc(1, sizeof(*p));
    p->id = t->next_id++;
    p->req = req;
    p->done = done;
    p->ctx = ctx;
    p->table = t;
    p->timeout.cb = on_timeout;
    if (req != NULL) {
        p->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*p->guard), on_guard_dispose);
        p->guard->p = p;
    }
    gw_pending_t **slot = &t->buckets[p->id & t->mask];
    p->next = *slot;
    *slot = p;
    t->count++;
    h2o_timeout_link(loop, timeout, &p->timeout);
    return p;
}

bool gw_pending_complete(gw_pending_table_t *t, uint64_t id, natsMsg *msg)
{
    for (gw_pending_t *p = t->buckets[id & t->mask]; p != NULL; p = p->next) {
        if (p->id == id) {
            finish(p, msg);
            return true;
        }
    }
    return false;
}
