/* gw_ratelimit: see ratelimit.h. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define STRIPES 16
#define BUCKETS 1024
#define KEY_MAX 72

typedef struct bucket {
    struct bucket *hnext;
    struct bucket *prev, *next; /* LRU: head = most recent */
    uint64_t hash;
    double tokens;
    int64_t at_us;
    size_t klen;
    char key[KEY_MAX];
} bucket_t;

typedef struct {
    pthread_mutex_t mu;
    bucket_t *table[BUCKETS];
    bucket_t lru;
    size_t count, cap;
} stripe_t;

struct gw_ratelimit {
    stripe_t stripes[STRIPES];
};

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

gw_ratelimit_t *gw_ratelimit_new(size_t max_keys)
{
    gw_ratelimit_t *rl = tm_xcalloc(1, sizeof(*rl));
    for (int i = 0; i < STRIPES; i++) {
        stripe_t *s = &rl->stripes[i];
        pthread_mutex_init(&s->mu, NULL);
        s->lru.next = s->lru.prev = &s->lru;
        s->cap = max_keys / STRIPES > 0 ? max_keys / STRIPES : 1;
    }
    return rl;
}

static void lru_unlink(bucket_t *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static void lru_push(stripe_t *s, bucket_t *b)
{
    b->prev = &s->lru;
    b->next = s->lru.next;
    s->lru.next->prev = b;
    s->lru.next = b;
}

static void drop(stripe_t *s, bucket_t *b)
{
    bucket_t **pp = &s->table[b->hash % BUCKETS];
    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
    lru_unlink(b);
    s->count--;
    free(b);
}

void gw_ratelimit_free(gw_ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    for (int i = 0; i < STRIPES; i++) {
        while (rl->stripes[i].lru.next != &rl->stripes[i].lru)
            drop(&rl->stripes[i], rl->stripes[i].lru.next);
        pthread_mutex_destroy(&rl->stripes[i].mu);
    }
    free(rl);
}

/* The bucket for key, created full (evicting the stripe's oldest when at capacity). */
static bucket_t *get_bucket(stripe_t *s, uint64_t h, const char *key, size_t klen,
                            const gw_rate_policy_t *p, int64_t now_us)
{
    for (bucket_t *b = s->table[h % BUCKETS]; b != NULL; b = b->hnext)
        if (b->hash == h && b->klen == klen && memcmp(b->key, key, klen) == 0) {
            lru_unlink(b);
            lru_push(s, b);
            return b;
        }
    if (s->count >= s->cap)
        drop(s, s->lru.prev);
    bucket_t *b = tm_xcalloc(1, sizeof(*b));
    b->hash = h;
    b->klen = klen;
    memcpy(b->key, key, klen);
    b->tokens = p->burst;
    b->at_us = now_us;
    b->hnext = s->table[h % BUCKETS];
    s->table[h % BUCKETS] = b;
    lru_push(s, b);
    s->count++;
    return b;
}

gw_rate_result_t gw_ratelimit_take(gw_ratelimit_t *rl, const char *key, size_t klen,
                                   const gw_rate_policy_t *p, int64_t now_us)
{
    gw_rate_result_t r = {.allowed = true, .remaining = p->burst};
    if (klen > KEY_MAX)
        klen = KEY_MAX; /* keys are ids and addresses; a longer one shares its prefix */
    uint64_t h = hash_key(key, klen);
    stripe_t *s = &rl->stripes[(h >> 40) % STRIPES];
    pthread_mutex_lock(&s->mu);
    bucket_t *b = get_bucket(s, h, key, klen, p, now_us);
    if (now_us > b->at_us) {
        b->tokens += (double)(now_us - b->at_us) / 1e6 * p->rps;
        if (b->tokens > p->burst)
            b->tokens = p->burst;
        b->at_us = now_us;
    }
    r.allowed = b->tokens >= 1.0;
    if (r.allowed)
        b->tokens -= 1.0;
    r.remaining = b->tokens;
    pthread_mutex_unlock(&s->mu);
    r.retry_after_s = r.allowed ? 0 : (1.0 - r.remaining) / p->rps;
    r.reset_s = (p->burst - r.remaining) / p->rps;
    return r;
}

size_t gw_ratelimit_size(gw_ratelimit_t *rl)
{
    size_t n = 0;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_lock(&rl->stripes[i].mu);
        n += rl->stripes[i].count;
        pthread_mutex_unlock(&rl->stripes[i].mu);
    }
    return n;
}
