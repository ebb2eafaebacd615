/* ai_breaker: see breaker.h. */
#include "breaker.h"

void ai_breaker_init(ai_breaker_t *b, int threshold, int64_t cooldown_ms)
{
    pthread_mutex_init(&b->mu, NULL);
    b->threshold = threshold < 1 ? 1 : threshold;
    b->cooldown_ms = cooldown_ms;
    b->state = AI_BREAKER_CLOSED;
    b->failures = 0;
    b->opened_at_ms = 0;
    b->probe_in_flight = false;
}

void ai_breaker_dispose(ai_breaker_t *b)
{
    if (b)
        pthread_mutex_destroy(&b->mu);
}

bool ai_breaker_allow(ai_breaker_t *b, int64_t now_ms)
{
    bool ok = false;
    pthread_mutex_lock(&b->mu);
    if (b->state == AI_BREAKER_OPEN && now_ms - b->opened_at_ms >= b->cooldown_ms) {
        b->state = AI_BREAKER_HALF_OPEN;
        b->probe_in_flight = false;
    }
    if (b->state == AI_BREAKER_CLOSED) {
        ok = true;
    } else if (b->state == AI_BREAKER_HALF_OPEN && !b->probe_in_flight) {
        b->probe_in_flight = true;
        ok = true;
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

static void trip(ai_breaker_t *b, int64_t now_ms)
{
    b->state = AI_BREAKER_OPEN;
    b->opened_at_ms = now_ms;
    b->probe_in_flight = false;
    b->failures = 0;
}

void ai_breaker_record(ai_breaker_t *b, bool ok, int64_t now_ms)
{
    pthread_mutex_lock(&b->mu);
    if (b->state == AI_BREAKER_HALF_OPEN) {
        if (ok) {
            b->state = AI_BREAKER_CLOSED;
            b->failures = 0;
            b->probe_in_flight = false;
        } else {
            trip(b, now_ms);
        }
    } else if (b->state == AI_BREAKER_CLOSED) {
        b->failures = ok ? 0 : b->failures + 1;
        if (b->failures >= b->threshold)
            trip(b, now_ms);
    }
    /* OPEN: a late result of a call allowed before the trip changes nothing. */
    pthread_mutex_unlock(&b->mu);
}

ai_breaker_state_t ai_breaker_state(ai_breaker_t *b)
{
    pthread_mutex_lock(&b->mu);
    ai_breaker_state_t s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

const char *ai_breaker_state_name(ai_breaker_state_t s)
{
    switch (s) {
    case AI_BREAKER_CLOSED:
        return "closed";
    case AI_BREAKER_OPEN:
        return "open";
    case AI_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "closed";
}
