/* Unit: user_cache — hits, misses, TTL, drops, the read/drop race guard, slot replacement,
 * size bounds, and concurrent use (run under TSan/ASan builds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "user_cache.h"

#define A "11111111-1111-4111-8111-111111111111"
#define B "22222222-2222-4222-8222-222222222222"

static char *get(user_cache_t *c, const char *id, int64_t now)
{
    char *body = NULL;
    size_t len = 0;
    if (!user_cache_get(c, id, now, &body, &len))
        return NULL;
    char *s = malloc(len + 1);
    memcpy(s, body, len);
    s[len] = '\0';
    free(body);
    return s;
}

static void put(user_cache_t *c, const char *id, const char *body, int64_t now)
{
    user_cache_put(c, id, body, strlen(body), user_cache_ticket(c), now);
}

static void test_off_when_zero(void **state)
{
    (void)state;
    assert_null(user_cache_new(0, 1000));
    assert_null(user_cache_new(16, 0));
    put(NULL, A, "{}", 0); /* every call accepts NULL */
    assert_null(get(NULL, A, 0));
    user_cache_drop(NULL, A);
}

static void test_hit_miss_ttl(void **state)
{
    (void)state;
    user_cache_t *c = user_cache_new(64, 1000);
    assert_null(get(c, A, 0));
    put(c, A, "{\"id\":\"a\"}", 100);
    char *s = get(c, A, 500);
    assert_string_equal(s, "{\"id\":\"a\"}");
    free(s);
    assert_null(get(c, B, 500));
    assert_null(get(c, A, 1100)); /* expired at 100 + 1000 */
    user_cache_stats_t st = user_cache_stats(c);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.stores, 1);
    user_cache_free(c);
}

static void test_drop(void **state)
{
    (void)state;
    user_cache_t *c = user_cache_new(64, 10000);
    put(c, A, "{\"role\":\"user\"}", 0);
    put(c, B, "{\"role\":\"user\"}", 0);
    user_cache_drop(c, A);
    assert_null(get(c, A, 1));
    char *s = get(c, B, 1); /* only A is forgotten */
    assert_non_null(s);
    free(s);
    user_cache_free(c);
}

/* A read that began before a drop (of any user) must not be stored: it may hold the row as
 * it was before the change the drop announces. */
static void test_read_racing_a_drop_is_not_stored(void **state)
{
    (void)state;
    user_cache_t *c = user_cache_new(64, 10000);
    user_cache_ticket_t t = user_cache_ticket(c);
    user_cache_drop(c, A); /* the change lands while "Postgres" is being read */
    user_cache_put(c, A, "{\"role\":\"old\"}", 14, t, 0);
    assert_null(get(c, A, 1));
    t = user_cache_ticket(c); /* a read begun after the drop is stored */
    user_cache_put(c, A, "{\"role\":\"new\"}", 14, t, 0);
    char *s = get(c, A, 1);
    assert_string_equal(s, "{\"role\":\"new\"}");
    free(s);
    user_cache_free(c);
}

/* One slot: a second id takes it, the first misses; the newest body replaces the old. */
static void test_slot_replacement_and_bounds(void **state)
{
    (void)state;
    user_cache_t *c = user_cache_new(1, 10000);
    put(c, A, "{\"n\":1}", 0);
    put(c, B, "{\"n\":2}", 0);
    assert_null(get(c, A, 1));
    char *s = get(c, B, 1);
    assert_string_equal(s, "{\"n\":2}");
    free(s);
    char big[USER_CACHE_MAX_BODY + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    put(c, A, big, 0); /* too large: not stored, B stays */
    assert_null(get(c, A, 1));
    s = get(c, B, 1);
    assert_non_null(s);
    free(s);
    char longid[80];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    put(c, longid, "{}", 0);
    assert_null(get(c, longid, 1));
    user_cache_drop(c, longid);
    user_cache_free(c);
}

#define THREADS 4
#define ROUNDS  20000

typedef struct {
    user_cache_t *c;
    int n;
    int bad;
} worker_t;

/* Every body stored for an id names that id: a reader must never see another id's body. */
static void *worker(void *arg)
{
    worker_t *w = arg;
    char id[40], body[64];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(id, sizeof id, "%08d-0000-4000-8000-%012d", (i * 7 + w->n) % 97, w->n);
        snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
        if (i % 3 == 0)
            put(w->c, id, body, 0);
        else if (i % 11 == 0)
            user_cache_drop(w->c, id);
        char *s = get(w->c, id, 1);
        if (s && strcmp(s, body) != 0)
            w->bad++;
        free(s);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    user_cache_t *c = user_cache_new(32, 10000);
    pthread_t t[THREADS];
    worker_t w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){c, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    user_cache_stats_t st = user_cache_stats(c);
    assert_true(st.hits > 0);
    assert_true(st.drops > 0);
    user_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_when_zero),
        cmocka_unit_test(test_hit_miss_ttl),
        cmocka_unit_test(test_drop),
        cmocka_unit_test(test_read_racing_a_drop_is_not_stored),
        cmocka_unit_test(test_slot_replacement_and_bounds),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
