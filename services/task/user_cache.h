/* user_cache: the GET /api/v1/me body of users read recently, so that route needs no
 * Postgres round trip — which was most of its cost: the backend's ~65 us of CPU, and in
 * tm-task the sleep and wake-up around the query (perf: a third of tm-task's CPU on /me).
 *
 * Kept in step with task.users by:
 *  - user_cache_drop() once every write to a user's row has ended its transaction, on this
 *    replica and, through a TM_SUBJ_USER_CHANGED broadcast, on every other (users.c);
 *  - a generation bumped by every drop: a body read from Postgres is only stored when no drop
 *    happened since its read began (the read may have raced a write on another replica);
 *  - the NATS epoch (tm_nats_epoch): entries stored before a disconnect or a reconnect are
 *    not served (a broadcast may have been missed meanwhile);
 *  - a TTL bounding what none of that sees: a replica that dies between its COMMIT and its
 *    broadcast, `tm-task promote` run against the database directly.
 *
 * Direct-mapped (each id hashes to one slot; a newer id takes the slot), so memory is
 * bounded by entries x (slot + body <= USER_CACHE_MAX_BODY). Thread-safe. */
#ifndef TASK_USER_CACHE_H
#define TASK_USER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USER_CACHE_MAX_BODY 1024

typedef struct user_cache user_cache_t;

/* NULL when entries == 0 (cache off); every function accepts NULL. */
user_cache_t *user_cache_new(size_t entries, int64_t ttl_ms);
void user_cache_free(user_cache_t *c);

/* Taken before the read whose result may be stored. */
typedef struct {
    uint64_t gen;
    uint64_t epoch;
} user_cache_ticket_t;
user_cache_ticket_t user_cache_ticket(user_cache_t *c);

/* A malloc'd copy of id's body into *body / *len; false on a miss (absent, expired, from an
 * older NATS epoch). now_ms: monotonic. */
bool user_cache_get(user_cache_t *c, const char *id, int64_t now_ms, char **body, size_t *len);
/* Store a copy of body for id unless a drop happened or the NATS epoch moved since t was
 * taken, or body is larger than USER_CACHE_MAX_BODY. */
void user_cache_put(user_cache_t *c, const char *id, const char *body, size_t len,
                    user_cache_ticket_t t, int64_t now_ms);
/* Forget id, and make reads begun before this call unstorable. */
void user_cache_drop(user_cache_t *c, const char *id);

/* Counters for metrics and tests. */
typedef struct {
    uint64_t hits, misses, stores, drops;
} user_cache_stats_t;
user_cache_stats_t user_cache_stats(user_cache_t *c);

#endif
