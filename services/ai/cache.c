/* ai_cache: chained hash table + LRU list under one mutex, and a second chaining of the
 * same entries by user so that an invalidation touches only that user's chain (it used to
 * walk every entry under the lock, holding up the reader thread's hits behind it). Values are kept
 * as JSON text so no jansson object is shared between threads (jansson refcounts are not atomic),
 * and a hit is sent as it is stored. */
#include "cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_util.h"

typedef struct entry {
    struct entry *next_hash;
    struct entry *next_user;           /* chain of ubuckets[uhash] */
    struct entry *prev_lru, *next_lru; /* head = most recent */
    char user_id[37];
    char *key;
    uint64_t hash, uhash;
    int64_t gen;
    int64_t expires_ms;
    int64_t confirmed_ms; /* INT64_MIN: never confirmed */
    int64_t refresh_ms;   /* when a fast caller was sent to refresh it; INT64_MIN: none since */
    char *text;
} entry_t;

struct ai_cache {
    pthread_mutex_t mu;
    size_t capacity, size, nbuckets;
    int64_t ttl_ms, recheck_ms;
    uint64_t epoch;
    entry_t **buckets, **ubuckets; /* by (user, key); by user */
    entry_t *head, *tail;
    ai_cache_listener_fn listener;
    void *listener_arg;
};

static uint64_t fnv_more(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static uint64_t fnv_user(const char *user_id)
{
    return fnv_more(1469598103934665603ULL, user_id);
}

static uint64_t fnv(const char *a, const char *b)
{
    return fnv_more((fnv_user(a) ^ '|') * 1099511628211ULL, b);
}

ai_cache_t *ai_cache_new(size_t capacity, int64_t ttl_ms, int64_t recheck_ms)
{
    ai_cache_t *c = tm_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->capacity = capacity;
    c->ttl_ms = ttl_ms;
    c->recheck_ms = recheck_ms;
    c->nbuckets = 64;
    while (c->nbuckets < capacity && c->nbuckets < (1u << 20))
        c->nbuckets <<= 1;
    c->buckets = tm_xcalloc(c->nbuckets, sizeof *c->buckets);
    c->ubuckets = tm_xcalloc(c->nbuckets, sizeof *c->ubuckets);
    return c;
}

static void lru_unlink(ai_cache_t *c, entry_t *e)
{
    if (e->prev_lru)
        e->prev_lru->next_lru = e->next_lru;
    else
        c->head = e->next_lru;
    if (e->next_lru)
        e->next_lru->prev_lru = e->prev_lru;
    else
        c->tail = e->prev_lru;
    e->prev_lru = e->next_lru = NULL;
}

static void lru_push(ai_cache_t *c, entry_t *e)
{
    e->next_lru = c->head;
    e->prev_lru = NULL;
    if (c->head)
        c->head->prev_lru = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(ai_cache_t *c, entry_t *e)
{
    entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next_hash;
    if (*pp)
        *pp = e->next_hash;
    pp = &c->ubuckets[e->uhash & (c->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next_user;
    if (*pp)
        *pp = e->next_user;
    lru_unlink(c, e);
    free(e->key);
    free(e->text);
    free(e);
    c->size--;
}

static entry_t *find(ai_cache_t *c, const char *user_id, const char *key, uint64_t h)
{
    for (entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->next_hash)
        if (e->hash == h && strcmp(e->user_id, user_id) == 0 && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

void ai_cache_free(ai_cache_t *c)
{
    if (!c)
        return;
    while (c->head)
        remove_entry(c, c->head);
    free(c->buckets);
    free(c->ubuckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

bool ai_cache_enabled(const ai_cache_t *c)
{
    return c && c->capacity > 0 && c->ttl_ms > 0;
}

/* The live entry of (user_id, key), or NULL (an expired one is dropped). Caller holds mu. */
static entry_t *live(ai_cache_t *c, const char *user_id, const char *key, int64_t now_ms)
{
    entry_t *e = find(c, user_id, key, fnv(user_id, key));
    if (e && e->expires_ms <= now_ms) {
        remove_entry(c, e);
        return NULL;
    }
    if (e) {
        lru_unlink(c, e);
        lru_push(c, e);
    }
    return e;
}

static bool confirmed_recently(const ai_cache_t *c, const entry_t *e, int64_t now_ms)
{
    return e->confirmed_ms != INT64_MIN && now_ms - e->confirmed_ms < c->recheck_ms;
}

/* Confirmed, but in the last quarter of its recheck window: time to confirm it again ahead
 * of need (two retries, recheck_ms / 8 apart, fit before the window ends). */
static bool refresh_due(const ai_cache_t *c, const entry_t *e, int64_t now_ms)
{
    return now_ms - e->confirmed_ms >= c->recheck_ms - c->recheck_ms / 4;
}

ai_cache_result_t ai_cache_get(ai_cache_t *c, const char *user_id, const char *key, int64_t now_ms,
                               char **text, int64_t *gen)
{
    *text = NULL;
    *gen = 0;
    if (!ai_cache_enabled(c))
        return AI_CACHE_MISS;
    ai_cache_result_t res = AI_CACHE_MISS;
    pthread_mutex_lock(&c->mu);
    entry_t *e = live(c, user_id, key, now_ms);
    /* a fast caller was sent here to refresh the entry: this worker asks Postgres */
    bool trusted = e && confirmed_recently(c, e, now_ms) &&
                   !(e->refresh_ms != INT64_MIN && refresh_due(c, e, now_ms));
    if (trusted) {
        *text = tm_xstrdup(e->text);
        res = AI_CACHE_HIT;
    } else if (e) {
        *gen = e->gen;
        res = AI_CACHE_CHECK;
    }
    pthread_mutex_unlock(&c->mu);
    return res;
}

bool ai_cache_get_fast(ai_cache_t *c, const char *user_id, const char *key, int64_t now_ms,
                       char **text)
{
    *text = NULL;
    if (!ai_cache_enabled(c))
        return false;
    pthread_mutex_lock(&c->mu);
    entry_t *e = live(c, user_id, key, now_ms);
    bool hit = e && confirmed_recently(c, e, now_ms);
    if (hit && refresh_due(c, e, now_ms) &&
        (e->refresh_ms == INT64_MIN || now_ms - e->refresh_ms >= c->recheck_ms / 8)) {
        e->refresh_ms = now_ms; /* this caller refreshes; the others keep the entry */
        hit = false;
    }
    if (hit)
        *text = tm_xstrdup(e->text);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

char *ai_cache_confirm(ai_cache_t *c, const char *user_id, const char *key, int64_t gen,
                       int64_t now_ms)
{
    if (!ai_cache_enabled(c))
        return NULL;
    char *text = NULL;
    pthread_mutex_lock(&c->mu);
    entry_t *e = live(c, user_id, key, now_ms);
    if (e && e->gen != gen) {
        remove_entry(c, e);
    } else if (e) {
        e->confirmed_ms = now_ms;
        e->refresh_ms = INT64_MIN;
        text = tm_xstrdup(e->text);
    }
    pthread_mutex_unlock(&c->mu);
    return text;
}

uint64_t ai_cache_epoch(ai_cache_t *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->mu);
    uint64_t e = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return e;
}

void ai_cache_put(ai_cache_t *c, const char *user_id, const char *key, int64_t gen, uint64_t epoch,
                  const char *text, int64_t now_ms)
{
    if (!ai_cache_enabled(c) || strlen(user_id) > 36)
        return;
    char *copy = tm_xstrdup(text);
    uint64_t h = fnv(user_id, key);
    pthread_mutex_lock(&c->mu);
    entry_t *e = find(c, user_id, key, h);
    if (e)
        remove_entry(c, e);
    while (c->size >= c->capacity && c->tail)
        remove_entry(c, c->tail);
    e = tm_xcalloc(1, sizeof *e);
    snprintf(e->user_id, sizeof e->user_id, "%s", user_id);
    e->key = tm_xstrdup(key);
    e->hash = h;
    e->gen = gen;
    e->expires_ms = now_ms + c->ttl_ms;
    /* an invalidation since gen was read: the data may be newer or older than gen says */
    e->confirmed_ms = epoch == c->epoch ? now_ms : INT64_MIN;
    e->refresh_ms = INT64_MIN;
    e->text = copy;
    size_t b = h & (c->nbuckets - 1);
    e->next_hash = c->buckets[b];
    c->buckets[b] = e;
    e->uhash = fnv_user(e->user_id);
    b = e->uhash & (c->nbuckets - 1);
    e->next_user = c->ubuckets[b];
    c->ubuckets[b] = e;
    lru_push(c, e);
    c->size++;
    pthread_mutex_unlock(&c->mu);
}

size_t ai_cache_invalidate_user(ai_cache_t *c, const char *user_id)
{
    if (!c)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    c->epoch++;
    uint64_t uh = fnv_user(user_id);
    for (entry_t *e = c->ubuckets[uh & (c->nbuckets - 1)], *next; e; e = next) {
        next = e->next_user;
        if (e->uhash == uh && strcmp(e->user_id, user_id) == 0) {
            remove_entry(c, e);
            n++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (c->listener)
        c->listener(user_id, c->listener_arg);
    return n;
}

void ai_cache_set_listener(ai_cache_t *c, ai_cache_listener_fn fn, void *arg)
{
    c->listener = fn;
    c->listener_arg = arg;
}

size_t ai_cache_size(ai_cache_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->size;
    pthread_mutex_unlock(&c->mu);
    return n;
}
