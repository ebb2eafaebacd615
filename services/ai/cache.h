/* ai_cache: per-user answer cache of this process (serialised JSON replies), bounded and
 * expiring, so that a cached answer costs one in-memory lookup.
 *
 * Correctness rests on two things:
 *  - this process's TM_EVENTS consumer drops a user's entries (ai_cache_invalidate_user)
 *    before and after it commits a change to that user's projection;
 *  - every entry remembers the user's projection generation (ai.user_state, bumped in the
 *    same transaction as the change) it was computed at. The consumer is a durable shared
 *    by the replicas, so an event may be applied by another replica: an entry is served
 *    without a look at Postgres only for `recheck_ms` after its generation was last
 *    confirmed; later, ai_cache_get() answers AI_CACHE_CHECK and the caller confirms the
 *    generation (ai_cache_confirm). Another replica's change is therefore seen within
 *    recheck_ms; this replica's own at once.
 * Early refresh, so that hits never all fall back to workers at once: from 3/4 of
 * recheck_ms after the last confirmation, ai_cache_get_fast() sends one caller (per entry,
 * again after recheck_ms / 8 if that one never confirmed) to a worker, whose ai_cache_get()
 * then answers AI_CACHE_CHECK; every other caller keeps getting the confirmed entry. Without
 * that, each entry's confirmation lapsed every recheck_ms and every request arriving until
 * one worker had asked Postgres went to a worker and asked Postgres too (under CPU
 * contention that round trip, and so that burst, grows).
 * A reply computed while an invalidation ran (ai_cache_epoch() moved between the read of
 * the generation and the put) is stored unconfirmed: its first hit checks the generation.
 * At most `capacity` entries: the least recently used goes. Thread-safe (one mutex).
 * capacity 0 or ttl 0 disables the cache (invalidations still reach the listener). */
#ifndef AI_CACHE_H
#define AI_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long a confirmed generation is trusted without asking Postgres again. */
#define AI_CACHE_RECHECK_MS 1000

typedef struct ai_cache ai_cache_t;

typedef enum {
    AI_CACHE_MISS = 0, /* nothing usable */
    AI_CACHE_HIT,      /* *text: a copy of the stored reply (caller frees) */
    AI_CACHE_CHECK,    /* *gen: the entry's generation, to confirm with ai_cache_confirm() */
} ai_cache_result_t;

/* recheck_ms 0: every hit is a CHECK. */
ai_cache_t *ai_cache_new(size_t capacity, int64_t ttl_ms, int64_t recheck_ms);
void ai_cache_free(ai_cache_t *c);
bool ai_cache_enabled(const ai_cache_t *c);
/* now_ms: monotonic ms. */
ai_cache_result_t ai_cache_get(ai_cache_t *c, const char *user_id, const char *key, int64_t now_ms,
                               char **text, int64_t *gen);
/* The reader thread's lookup (no Postgres there): true with *text (caller frees) for an
 * entry confirmed within recheck_ms. False for anything else, and for the one caller sent
 * to refresh the confirmation early (see above): that caller must go to a worker. */
bool ai_cache_get_fast(ai_cache_t *c, const char *user_id, const char *key, int64_t now_ms,
                       char **text);
/* The user's current generation is gen: a copy of the entry's text when the entry has that
 * generation (it counts as confirmed at now_ms), else NULL (the entry is dropped). */
char *ai_cache_confirm(ai_cache_t *c, const char *user_id, const char *key, int64_t gen,
                       int64_t now_ms);
/* Bumped by every invalidation: read it before the generation a reply is computed at. */
uint64_t ai_cache_epoch(ai_cache_t *c);
/* Store a copy of text, computed at generation gen with epoch read before gen. Replaces an
 * entry with the same (user, key). */
void ai_cache_put(ai_cache_t *c, const char *user_id, const char *key, int64_t gen, uint64_t epoch,
                  const char *text, int64_t now_ms);
/* Drop every entry of user_id, then tell the listener; returns how many entries. */
size_t ai_cache_invalidate_user(ai_cache_t *c, const char *user_id);
/* Called (outside the cache's lock) by every ai_cache_invalidate_user: the consumer's one
 * signal that a user's projection changes also reaches the in-memory task sets (tsets.h).
 * Set once, before any invalidation (main thread, before the consumer starts). */
typedef void (*ai_cache_listener_fn)(const char *user_id, void *arg);
void ai_cache_set_listener(ai_cache_t *c, ai_cache_listener_fn fn, void *arg);
size_t ai_cache_size(ai_cache_t *c);

#endif
