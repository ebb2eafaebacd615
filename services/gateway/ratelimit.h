/* gw_ratelimit: token buckets keyed by a string ("u:<user id>", "i:<client ip>"), one
 * table per gateway process (limits are per gateway replica).
 *
 * A bucket holds up to burst tokens and gains rps tokens per second; a request takes one.
 * The table is split into stripes, each with a mutex, a hash table and an LRU list, and
 * holds at most max_keys buckets in all: when a stripe is full its least recently used
 * bucket is dropped (a dropped bucket comes back full, which only matters for keys idle
 * long enough to be the oldest). Thread-safe; every call is a short critical section. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_ratelimit gw_ratelimit_t;

typedef struct {
    const char *name; /* policy name for RateLimit / RateLimit-Policy ("user") */
    double rps;       /* tokens per second, > 0 */
    double burst;     /* bucket size, >= 1 */
} gw_rate_policy_t;

typedef struct {
    bool allowed;
    double remaining;     /* tokens left after this request */
    double retry_after_s; /* when refused: seconds until one token is back */
    double reset_s;       /* seconds until the bucket is full again */
} gw_rate_result_t;

/* New table of at most max_keys buckets (split over 16 stripes). */
gw_ratelimit_t *gw_ratelimit_new(size_t max_keys);
void gw_ratelimit_free(gw_ratelimit_t *rl);

/* Take one token from key's bucket under policy p at time now_us (monotonic). */
gw_rate_result_t gw_ratelimit_take(gw_ratelimit_t *rl, const char *key, size_t klen,
                                   const gw_rate_policy_t *p, int64_t now_us);
/* Buckets held now. */
size_t gw_ratelimit_size(gw_ratelimit_t *rl);

#endif
