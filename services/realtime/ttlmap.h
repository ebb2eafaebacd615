/* rt_ttlmap: a bounded, thread-safe map of short string keys to expiry times, for the
 * typing throttle (user+room -> next allowed time) and the membership cache of typing.
 * Capacity is fixed at creation; when full, expired entries are evicted and, failing that,
 * the whole map is cleared (a throttle that forgets is harmless; it never grows).
 * Any thread (one mutex). */
#ifndef RT_TTLMAP_H
#define RT_TTLMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_TTLMAP_KEY_MAX 96

typedef struct rt_ttlmap rt_ttlmap_t;

/* cap >= 1 entries. Never NULL (aborts on OOM). */
rt_ttlmap_t *rt_ttlmap_new(size_t cap);
void rt_ttlmap_free(rt_ttlmap_t *m);
/* Throttle: true (and the key is set to expire at now_ms + ttl_ms) if key was absent or
 * expired; false while an earlier take is still live. Keys longer than
 * RT_TTLMAP_KEY_MAX - 1 are refused (false). */
bool rt_ttlmap_take(rt_ttlmap_t *m, const char *key, int64_t now_ms, int64_t ttl_ms);
/* Cache: true if key is present and not expired at now_ms. */
bool rt_ttlmap_live(rt_ttlmap_t *m, const char *key, int64_t now_ms);
/* Cache: set key to expire at now_ms + ttl_ms. */
void rt_ttlmap_put(rt_ttlmap_t *m, const char *key, int64_t now_ms, int64_t ttl_ms);
size_t rt_ttlmap_size(rt_ttlmap_t *m);

#endif
