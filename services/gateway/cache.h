/* gw_cache: the gateway's in-memory response cache (one per gateway process).
 *
 * One store shared by every loop thread, split into GW_CACHE_STRIPES stripes, each with
 * its own mutex, hash table, LRU list and 1/GW_CACHE_STRIPES of the byte budget
 * (TM_CACHE_BYTES). Shared rather than per thread: a hit on one thread serves the others,
 * memory is counted once, and an invalidation is one atomic store instead of a fan-out
 * to every loop.
 *
 * Invalidation uses tags and generations, not scans. A tag ("w:<workspace>",
 * "t:<task>", "u:<user>") hashes to one of GW_CACHE_TAG_SLOTS slots holding the value of
 * a global counter at the slot's last invalidation. A reader takes gw_cache_epoch() when
 * its request starts and stores its reply with that epoch; an entry is valid while every
 * tag slot it carries is <= its epoch. So an invalidation that happens after a request
 * started makes that request's reply unstorable (checked under the stripe lock when
 * storing), and makes older entries invisible at once on every thread. Two tags sharing a
 * slot only cost extra misses. Invalid entries are freed lazily (on lookup, eviction or
 * gw_cache_stats). Entries also expire after TM_CACHE_TTL. For the same key a store never
 * replaces a valid entry with a lower version (a reader never sees a task go back).
 *
 * All functions are thread-safe and never block for long (short critical sections). */
#ifndef GW_CACHE_H
#define GW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CACHE_STRIPES   16
#define GW_CACHE_TAG_SLOTS 65536
#define GW_CACHE_MAX_TAGS  8
#define GW_CACHE_ENTRY_MAX (1024 * 1024)
#define GW_CACHE_ETAG_MAX  96
#define GW_CACHE_CTYPE_MAX 64

typedef struct gw_cache gw_cache_t;

/* What gw_cache_store keeps and gw_cache_lookup gives back. */
typedef struct {
    const char *body; /* lookup: malloc'd copy, caller frees */
    size_t len;
    char etag[GW_CACHE_ETAG_MAX]; /* "" when the reply had none */
    char ctype[GW_CACHE_CTYPE_MAX];
    int64_t version; /* resource version, or 0 */
    int64_t ttl_ms;  /* store: a shorter life than the cache's TTL (a service's max-age), or 0 */
} gw_cache_item_t;

typedef struct {
    uint64_t entries, bytes, hits, misses, evictions, invalidations, stores;
} gw_cache_stats_t;

/* New cache of at most max_bytes (0 disables storing), entries living ttl_ms. */
gw_cache_t *gw_cache_new(size_t max_bytes, int64_t ttl_ms);
/* Free everything. No other thread may use the cache. NULL ok. */
void gw_cache_free(gw_cache_t *c);

/* The current invalidation epoch: take it before a request is forwarded. */
uint64_t gw_cache_epoch(gw_cache_t *c);
/* The slot of a tag ("w:<id>"). */
uint32_t gw_cache_tag(const char *tag, size_t len);
/* Invalidate every entry carrying tag (and its slot siblings). Counted in invalidations. */
void gw_cache_invalidate(gw_cache_t *c, uint32_t tag);
/* Drop every entry. */
void gw_cache_clear(gw_cache_t *c);

/* Copy the valid entry for key into *out (out->body malloc'd). Counts a hit or a miss.
 * False when absent, expired or invalidated. */
bool gw_cache_lookup(gw_cache_t *c, const char *key, size_t klen, int64_t now_ms,
                     gw_cache_item_t *out);
/* Store item (copied) under key with tags[ntags], as read by a request that started at
 * epoch. Returns false (and stores nothing) when a tag was invalidated since epoch, a
 * valid entry with a higher version exists, it does not fit, or storing is disabled. */
bool gw_cache_store(gw_cache_t *c, const char *key, size_t klen, const gw_cache_item_t *item,
                    const uint32_t *tags, int ntags, uint64_t epoch, int64_t now_ms);

/* Entries and bytes held now, including invalid entries not yet dropped. Lock-free. */
void gw_cache_size(gw_cache_t *c, uint64_t *entries, uint64_t *bytes);
/* Figures; drops invalid entries first so that entries/bytes are exact. */
void gw_cache_stats(gw_cache_t *c, int64_t now_ms, gw_cache_stats_t *out);

#endif
