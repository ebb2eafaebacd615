/* ai_cache: per-user answer cache (serialised JSON replies), bounded and expiring.
 *
 * An entry is keyed by (user_id, key) and remembers the user's projection generation at the
 * time it was stored: a lookup with another generation misses (another replica's consumer
 * changed the user's data), and ai_cache_invalidate_user() drops a user's entries at once
 * (this process's consumer). At most `capacity` entries: the least recently used goes.
 * Thread-safe (one mutex). capacity 0 or ttl 0 disables the cache. */
#ifndef AI_CACHE_H
#define AI_CACHE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ai_cache ai_cache_t;

ai_cache_t *ai_cache_new(size_t capacity, int64_t ttl_ms);
void ai_cache_free(ai_cache_t *c);
/* A new reference to a copy of the stored value (caller decrefs), or NULL on a miss.
 * now_ms: monotonic ms. */
json_t *ai_cache_get(ai_cache_t *c, const char *user_id, const char *key, int64_t gen,
                     int64_t now_ms);
/* Store a copy of value (borrowed). Replaces an entry with the same (user, key). */
void ai_cache_put(ai_cache_t *c, const char *user_id, const char *key, int64_t gen,
                  const json_t *value, int64_t now_ms);
/* Drop every entry of user_id; returns how many. */
size_t ai_cache_invalidate_user(ai_cache_t *c, const char *user_id);
size_t ai_cache_size(ai_cache_t *c);

#endif
