/* gw_cache: see cache.h. */
#include "cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define BUCKETS_PER_STRIPE 4096

typedef struct entry {
    struct entry *hnext;
    struct entry *prev, *next; /* LRU: head = most recent */
    uint64_t hash;
    uint64_t epoch;
    int64_t expires_ms;
    int64_t version;
    uint32_t tags[GW_CACHE_MAX_TAGS];
    int ntags;
    size_t size;
    size_t klen, blen;
    char etag[GW_CACHE_ETAG_MAX];
    char ctype[GW_CACHE_CTYPE_MAX];
    char data[]; /* key then body */
} entry_t;

typedef struct {
    pthread_mutex_t mu;
    entry_t *buckets[BUCKETS_PER_STRIPE];
    entry_t lru;
    atomic_size_t bytes, count; /* written under mu, read without it by gw_cache_size */
    size_t cap;
} stripe_t;

struct gw_cache {
    stripe_t stripes[GW_CACHE_STRIPES];
    int64_t ttl_ms;
    _Atomic uint64_t epoch;
    _Atomic uint64_t flushed; /* epoch of the last clear */
    _Atomic uint64_t tag_gen[GW_CACHE_TAG_SLOTS];
    atomic_uint_fast64_t hits, misses, evictions, invalidations, stores;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

gw_cache_t *gw_cache_new(size_t max_bytes, int64_t ttl_ms)
{
    gw_cache_t *c = tm_xcalloc(1, sizeof(*c));
    c->ttl_ms = ttl_ms;
    atomic_store(&c->epoch, 1);
    for (int i = 0; i < GW_CACHE_STRIPES; i++) {
        stripe_t *s = &c->stripes[i];
        pthread_mutex_init(&s->mu, NULL);
        s->lru.next = s->lru.prev = &s->lru;
        s->cap = max_bytes / GW_CACHE_STRIPES;
    }
    return c;
}

static void unlink_entry(stripe_t *s, entry_t *e)
{
    entry_t **pp = &s->buckets[e->hash % BUCKETS_PER_STRIPE];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->prev->next = e->next;
    e->next->prev = e->prev;
    s->bytes -= e->size;
    s->count--;
    free(e);
}

static void clear_stripe(stripe_t *s)
{
    while (s->lru.next != &s->lru)
        unlink_entry(s, s->lru.next);
}

void gw_cache_free(gw_cache_t *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < GW_CACHE_STRIPES; i++) {
        clear_stripe(&c->stripes[i]);
        pthread_mutex_destroy(&c->stripes[i].mu);
    }
    free(c);
}

uint64_t gw_cache_epoch(gw_cache_t *c)
{
    return atomic_load(&c->epoch);
}

uint32_t gw_cache_tag(const char *tag, size_t len)
{
    return (uint32_t)(hash_bytes(tag, len) % GW_CACHE_TAG_SLOTS);
}

/* Raise *slot to at least v (concurrent invalidations never lower a generation). */
static void raise_to(_Atomic uint64_t *slot, uint64_t v)
{
    uint64_t cur = atomic_load(slot);
    while (cur < v && !atomic_compare_exchange_weak(slot, &cur, v))
        ;
}

void gw_cache_invalidate(gw_cache_t *c, uint32_t tag)
{
    uint64_t g = atomic_fetch_add(&c->epoch, 1) + 1;
    raise_to(&c->tag_gen[tag % GW_CACHE_TAG_SLOTS], g);
    atomic_fetch_add(&c->invalidations, 1);
}

void gw_cache_clear(gw_cache_t *c)
{
    uint64_t g = atomic_fetch_add(&c->epoch, 1) + 1;
    raise_to(&c->flushed, g);
    for (int i = 0; i < GW_CACHE_STRIPES; i++) {
        pthread_mutex_lock(&c->stripes[i].mu);
        clear_stripe(&c->stripes[i]);
        pthread_mutex_unlock(&c->stripes[i].mu);
    }
}

/* Has anything this entry (or a reply read at epoch with these tags) depends on been
 * invalidated after epoch? */
static bool stale(gw_cache_t *c, const uint32_t *tags, int ntags, uint64_t epoch)
{
    if (atomic_load(&c->flushed) > epoch)
        return true;
    for (int i = 0; i < ntags; i++)
        if (atomic_load(&c->tag_gen[tags[i]]) > epoch)
            return true;
    return false;
}

static bool valid(gw_cache_t *c, const entry_t *e, int64_t now_ms)
{
    return now_ms < e->expires_ms && !stale(c, e->tags, e->ntags, e->epoch);
}

static stripe_t *stripe_of(gw_cache_t *c, uint64_t h)
{
    return &c->stripes[(h >> 52) % GW_CACHE_STRIPES];
}

static entry_t *find(stripe_t *s, uint64_t h, const char *key, size_t klen)
{
    for (entry_t *e = s->buckets[h % BUCKETS_PER_STRIPE]; e != NULL; e = e->hnext)
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0)
            return e;
    return NULL;
}

static void touch(stripe_t *s, entry_t *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = s->lru.next;
    e->prev = &s->lru;
    s->lru.next->prev = e;
    s->lru.next = e;
}

bool gw_cache_lookup(gw_cache_t *c, const char *key, size_t klen, int64_t now_ms,
                     gw_cache_item_t *out)
{
    uint64_t h = hash_bytes(key, klen);
    stripe_t *s = stripe_of(c, h);
    bool hit = false;
    pthread_mutex_lock(&s->mu);
    entry_t *e = find(s, h, key, klen);
    if (e != NULL && !valid(c, e, now_ms)) {
        unlink_entry(s, e);
        e = NULL;
    }
    if (e != NULL) {
        touch(s, e);
        char *body = tm_xmalloc(e->blen + 1);
        memcpy(body, e->data + e->klen, e->blen);
        body[e->blen] = '\0';
        out->body = body;
        out->len = e->blen;
        out->version = e->version;
        memcpy(out->etag, e->etag, sizeof(out->etag));
        memcpy(out->ctype, e->ctype, sizeof(out->ctype));
        hit = true;
    }
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
    return hit;
}

static void evict_for(gw_cache_t *c, stripe_t *s, size_t need)
{
    while (s->bytes + need > s->cap && s->lru.prev != &s->lru) {
        unlink_entry(s, s->lru.prev);
        atomic_fetch_add(&c->evictions, 1);
    }
}

static entry_t *new_entry(const char *key, size_t klen, const gw_cache_item_t *item, size_t size)
{
    entry_t *e = tm_xcalloc(1, size);
    e->size = size;
    e->klen = klen;
    e->blen = item->len;
    e->version = item->version;
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, item->body, item->len);
    snprintf(e->etag, sizeof(e->etag), "%s", item->etag);
    snprintf(e->ctype, sizeof(e->ctype), "%s", item->ctype);
    return e;
}

static void insert(stripe_t *s, entry_t *e)
{
    entry_t **b = &s->buckets[e->hash % BUCKETS_PER_STRIPE];
    e->hnext = *b;
    *b = e;
    e->prev = &s->lru;
    e->next = s->lru.next;
    s->lru.next->prev = e;
    s->lru.next = e;
    s->bytes += e->size;
    s->count++;
}

bool gw_cache_store(gw_cache_t *c, const char *key, size_t klen, const gw_cache_item_t *item,
                    const uint32_t *tags, int ntags, uint64_t epoch, int64_t now_ms)
{
    uint64_t h = hash_bytes(key, klen);
    stripe_t *s = stripe_of(c, h);
    size_t size = sizeof(entry_t) + klen + item->len;
    if (ntags < 0 || ntags > GW_CACHE_MAX_TAGS || item->len > GW_CACHE_ENTRY_MAX || size > s->cap)
        return false;
    bool stored = false;
    pthread_mutex_lock(&s->mu);
    entry_t *old = find(s, h, key, klen);
    if (old != NULL && valid(c, old, now_ms) && old->version > item->version)
        goto unlock;
    if (stale(c, tags, ntags, epoch)) /* invalidated while the request was in flight */
        goto unlock;
    if (old != NULL)
        unlink_entry(s, old);
    evict_for(c, s, size);
    entry_t *e = new_entry(key, klen, item, size);
    e->hash = h;
    e->epoch = epoch;
    e->expires_ms =
        now_ms + (item->ttl_ms > 0 && item->ttl_ms < c->ttl_ms ? item->ttl_ms : c->ttl_ms);
    if (ntags > 0)
        memcpy(e->tags, tags, (size_t)ntags * sizeof(*tags));
    e->ntags = ntags;
    insert(s, e);
    stored = true;
unlock:
    pthread_mutex_unlock(&s->mu);
    if (stored)
        atomic_fetch_add(&c->stores, 1);
    return stored;
}

void gw_cache_stats(gw_cache_t *c, int64_t now_ms, gw_cache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < GW_CACHE_STRIPES; i++) {
        stripe_t *s = &c->stripes[i];
        pthread_mutex_lock(&s->mu);
        for (entry_t *e = s->lru.next, *next; e != &s->lru; e = next) {
            next = e->next;
            if (!valid(c, e, now_ms))
                unlink_entry(s, e);
        }
        out->entries += s->count;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
    out->hits = atomic_load(&c->hits);
    out->misses = atomic_load(&c->misses);
    out->evictions = atomic_load(&c->evictions);
    out->invalidations = atomic_load(&c->invalidations);
    out->stores = atomic_load(&c->stores);
}

void gw_cache_size(gw_cache_t *c, uint64_t *entries, uint64_t *bytes)
{
    *entries = *bytes = 0;
    for (int i = 0; i < GW_CACHE_STRIPES; i++) {
        *entries += atomic_load(&c->stripes[i].count);
        *bytes += atomic_load(&c->stripes[i].bytes);
    }
}
