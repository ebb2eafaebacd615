/* rt_ttlmap: open addressing with linear probing over a power-of-two table sized twice the
 * capacity, so a probe always ends on an empty slot. Deletion happens only by a full
 * rebuild (evict), which keeps the probing invariant simple. */
#include "ttlmap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tm_util.h"

typedef struct {
    char key[RT_TTLMAP_KEY_MAX];
    int64_t expires_ms;
    bool used;
} slot_t;

struct rt_ttlmap {
    pthread_mutex_t mu;
    slot_t *slots;
    size_t nslots; /* power of two, >= 2 * cap */
    size_t cap;
    size_t count;
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

rt_ttlmap_t *rt_ttlmap_new(size_t cap)
{
    rt_ttlmap_t *m = tm_xcalloc(1, sizeof *m);
    m->cap = cap ? cap : 1;
    m->nslots = 2;
    while (m->nslots < m->cap * 2)
        m->nslots *= 2;
    m->slots = tm_xcalloc(m->nslots, sizeof *m->slots);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void rt_ttlmap_free(rt_ttlmap_t *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m->slots);
    free(m);
}

static slot_t *find(rt_ttlmap_t *m, const char *key)
{
    size_t mask = m->nslots - 1;
    for (size_t i = hash_key(key) & mask;; i = (i + 1) & mask) {
        if (!m->slots[i].used || strcmp(m->slots[i].key, key) == 0)
            return &m->slots[i];
    }
}

/* Drop expired entries (rebuild); if none expired, drop everything. */
static void evict(rt_ttlmap_t *m, int64_t now_ms)
{
    slot_t *old = m->slots;
    m->slots = tm_xcalloc(m->nslots, sizeof *m->slots);
    m->count = 0;
    for (size_t i = 0; i < m->nslots; i++) {
        if (old[i].used && old[i].expires_ms > now_ms) {
            *find(m, old[i].key) = old[i];
            m->count++;
        }
    }
    free(old);
    if (m->count >= m->cap) {
        memset(m->slots, 0, m->nslots * sizeof *m->slots);
        m->count = 0;
    }
}

static void set_locked(rt_ttlmap_t *m, const char *key, int64_t now_ms, int64_t ttl_ms)
{
    slot_t *s = find(m, key);
    if (!s->used) {
        if (m->count >= m->cap) {
            evict(m, now_ms);
            s = find(m, key);
        }
        s->used = true;
        strcpy(s->key, key);
        m->count++;
    }
    s->expires_ms = now_ms + ttl_ms;
}

bool rt_ttlmap_take(rt_ttlmap_t *m, const char *key, int64_t now_ms, int64_t ttl_ms)
{
    if (strlen(key) >= RT_TTLMAP_KEY_MAX)
        return false;
    pthread_mutex_lock(&m->mu);
    slot_t *s = find(m, key);
    bool ok = !s->used || s->expires_ms <= now_ms;
    if (ok)
        set_locked(m, key, now_ms, ttl_ms);
    pthread_mutex_unlock(&m->mu);
    return ok;
}

bool rt_ttlmap_live(rt_ttlmap_t *m, const char *key, int64_t now_ms)
{
    if (strlen(key) >= RT_TTLMAP_KEY_MAX)
        return false;
    pthread_mutex_lock(&m->mu);
    slot_t *s = find(m, key);
    bool live = s->used && s->expires_ms > now_ms;
    pthread_mutex_unlock(&m->mu);
    return live;
}

void rt_ttlmap_put(rt_ttlmap_t *m, const char *key, int64_t now_ms, int64_t ttl_ms)
{
    if (strlen(key) >= RT_TTLMAP_KEY_MAX)
        return;
    pthread_mutex_lock(&m->mu);
    set_locked(m, key, now_ms, ttl_ms);
    pthread_mutex_unlock(&m->mu);
}

size_t rt_ttlmap_size(rt_ttlmap_t *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->count;
    pthread_mutex_unlock(&m->mu);
    return n;
}
