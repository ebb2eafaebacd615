/* user_cache: see user_cache.h. */
#include "user_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tm_nats.h"
#include "tm_util.h"

#define ID_CAP   40 /* a uuid's 36 characters and the NUL */
#define NSTRIPES 64 /* locks; slot i is guarded by stripe i % NSTRIPES */

typedef struct {
    char id[ID_CAP]; /* "" = empty */
    char *body;
    size_t len, cap;
    int64_t expires_ms;
    uint64_t epoch;
} slot_t;

struct user_cache {
    slot_t *slots;
    size_t n;
    int64_t ttl_ms;
    _Atomic uint64_t gen;
    _Atomic uint64_t hits, misses, stores, drops;
    pthread_mutex_t stripes[NSTRIPES];
};

user_cache_t *user_cache_new(size_t entries, int64_t ttl_ms)
{
    if (entries == 0 || ttl_ms <= 0)
        return NULL;
    user_cache_t *c = tm_xcalloc(1, sizeof *c);
    c->slots = tm_xcalloc(entries, sizeof *c->slots);
    c->n = entries;
    c->ttl_ms = ttl_ms;
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_init(&c->stripes[i], NULL);
    return c;
}

void user_cache_free(user_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->slots[i].body);
    for (int i = 0; i < NSTRIPES; i++)
        pthread_mutex_destroy(&c->stripes[i]);
    free(c->slots);
    free(c);
}

/* FNV-1a over the id. */
static size_t slot_of(const user_cache_t *c, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % c->n);
}

static pthread_mutex_t *stripe_of(user_cache_t *c, size_t slot)
{
    return &c->stripes[slot % NSTRIPES];
}

user_cache_ticket_t user_cache_ticket(user_cache_t *c)
{
    user_cache_ticket_t t = {0, tm_nats_epoch()};
    if (c)
        t.gen = atomic_load_explicit(&c->gen, memory_order_acquire);
    return t;
}

static bool slot_serves(const slot_t *s, const char *id, int64_t now_ms)
{
    return strcmp(s->id, id) == 0 && now_ms < s->expires_ms && s->epoch == tm_nats_epoch();
}

bool user_cache_get(user_cache_t *c, const char *id, int64_t now_ms, char **body, size_t *len)
{
    if (!c || strlen(id) >= ID_CAP)
        return false;
    size_t i = slot_of(c, id);
    pthread_mutex_t *mu = stripe_of(c, i);
    pthread_mutex_lock(mu);
    const slot_t *s = &c->slots[i];
    bool hit = slot_serves(s, id, now_ms);
    if (hit) {
        *body = tm_xmalloc(s->len ? s->len : 1);
        memcpy(*body, s->body, s->len);
        *len = s->len;
    }
    pthread_mutex_unlock(mu);
    atomic_fetch_add_explicit(hit ? &c->hits : &c->misses, 1, memory_order_relaxed);
    return hit;
}

static void slot_store(slot_t *s, const char *id, const char *body, size_t len,
                       const user_cache_t *c, user_cache_ticket_t t, int64_t now_ms)
{
    if (s->cap < len) {
        free(s->body);
        s->body = tm_xmalloc(len);
        s->cap = len;
    }
    memcpy(s->body, body, len);
    s->len = len;
    strcpy(s->id, id);
    s->expires_ms = now_ms + c->ttl_ms;
    s->epoch = t.epoch;
}

void user_cache_put(user_cache_t *c, const char *id, const char *body, size_t len,
                    user_cache_ticket_t t, int64_t now_ms)
{
    if (!c || len == 0 || len > USER_CACHE_MAX_BODY || strlen(id) >= ID_CAP)
        return;
    size_t i = slot_of(c, id);
    pthread_mutex_t *mu = stripe_of(c, i);
    pthread_mutex_lock(mu);
    /* Checked under the slot's lock: a drop bumps gen before it takes this lock to clear
     * the slot, so either this sees the new gen or the drop clears what is stored here. */
    bool fresh =
        atomic_load_explicit(&c->gen, memory_order_acquire) == t.gen && tm_nats_epoch() == t.epoch;
    if (fresh)
        slot_store(&c->slots[i], id, body, len, c, t, now_ms);
    pthread_mutex_unlock(mu);
    if (fresh)
        atomic_fetch_add_explicit(&c->stores, 1, memory_order_relaxed);
}

void user_cache_drop(user_cache_t *c, const char *id)
{
    if (!c)
        return;
    atomic_fetch_add_explicit(&c->gen, 1, memory_order_acq_rel);
    atomic_fetch_add_explicit(&c->drops, 1, memory_order_relaxed);
    if (strlen(id) >= ID_CAP)
        return;
    size_t i = slot_of(c, id);
    pthread_mutex_t *mu = stripe_of(c, i);
    pthread_mutex_lock(mu);
    if (strcmp(c->slots[i].id, id) == 0)
        c->slots[i].id[0] = '\0';
    pthread_mutex_unlock(mu);
}

user_cache_stats_t user_cache_stats(user_cache_t *c)
{
    user_cache_stats_t s = {0, 0, 0, 0};
    if (!c)
        return s;
    s.hits = atomic_load(&c->hits);
    s.misses = atomic_load(&c->misses);
    s.stores = atomic_load(&c->stores);
    s.drops = atomic_load(&c->drops);
    return s;
}
