/* ai_breaker: a circuit breaker for the LLM provider.
 *
 * closed --(failures consecutive failures)--> open --(cooldown elapsed)--> half_open:
 * exactly one probe call is let through; its success closes the breaker, its failure
 * opens it again for another cooldown. Time is passed in (ms, any monotonic clock) so the
 * state machine is testable. Thread-safe (one mutex); no allocation after init. */
#ifndef AI_BREAKER_H
#define AI_BREAKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    AI_BREAKER_CLOSED = 0,
    AI_BREAKER_OPEN = 1,
    AI_BREAKER_HALF_OPEN = 2
} ai_breaker_state_t;

typedef struct {
    pthread_mutex_t mu;
    int threshold;
    int64_t cooldown_ms;
    ai_breaker_state_t state;
    int failures; /* consecutive, while closed */
    int64_t opened_at_ms;
    bool probe_in_flight; /* half_open: the one probe is out */
} ai_breaker_t;

void ai_breaker_init(ai_breaker_t *b, int threshold, int64_t cooldown_ms);
void ai_breaker_dispose(ai_breaker_t *b);
/* May a call go out now? true also marks the half-open probe as taken. Every true must be
 * followed by exactly one ai_breaker_record. */
bool ai_breaker_allow(ai_breaker_t *b, int64_t now_ms);
/* Report the outcome of an allowed call. */
void ai_breaker_record(ai_breaker_t *b, bool ok, int64_t now_ms);
ai_breaker_state_t ai_breaker_state(ai_breaker_t *b);
/* "closed" | "open" | "half_open" (static). */
const char *ai_breaker_state_name(ai_breaker_state_t s);

#endif
