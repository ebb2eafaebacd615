/* gw_cache: hits, misses, TTL, tag invalidation (including one that lands while the
 * request is in flight), version monotony, LRU eviction within the byte budget, and
 * concurrent use from several threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cache.h"

static gw_cache_item_t item(const char *body, int64_t version)
{
    gw_cache_item_t it = {.body = body, .len = strlen(body), .version = version};
    snprintf(it.etag, sizeof(it.etag), "\"%lld\"", (long long)version);
    snprintf(it.ctype, sizeof(it.ctype), "application/json");
    return it;
}

static bool get(gw_cache_t *c, const char *key, int64_t now, char *out, size_t cap)
{
    gw_cache_item_t it;
    if (!gw_cache_lookup(c, key, strlen(key), now, &it))
        return false;
    snprintf(out, cap, "%.*s", (int)it.len, it.body);
    free((char *)it.body);
    return true;
}

static void test_hit_miss_ttl(void **state)
{
    (void)state;
    gw_cache_t *c = gw_cache_new(1 << 20, 1000);
    char buf[64];
    uint32_t tags[1] = {gw_cache_tag("w:a", 3)};
    gw_cache_item_t it = item("{\"v\":1}", 1);
    assert_false(get(c, "k", 0, buf, sizeof(buf)));
    assert_true(gw_cache_store(c, "k", 1, &it, tags, 1, gw_cache_epoch(c), 0));
    assert_true(get(c, "k", 999, buf, sizeof(buf)));
    assert_string_equal(buf, "{\"v\":1}");
    assert_false(get(c, "k", 1000, buf, sizeof(buf))); /* expired */
    gw_cache_stats_t st;
    gw_cache_stats(c, 0, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 0);
    gw_cache_free(c);
}

static void test_invalidation(void **state)
{
    (void)state;
    gw_cache_t *c = gw_cache_new(1 << 20, 60000);
    char buf[64];
    uint32_t wa = gw_cache_tag("w:a", 3), wb = gw_cache_tag("w:b", 3);
    gw_cache_item_t it = item("x", 1);
    assert_true(gw_cache_store(c, "ka", 2, &it, &wa, 1, gw_cache_epoch(c), 0));
    assert_true(gw_cache_store(c, "kb", 2, &it, &wb, 1, gw_cache_epoch(c), 0));
    gw_cache_invalidate(c, wa);
    assert_false(get(c, "ka", 1, buf, sizeof(buf)));
    assert_true(get(c, "kb", 1, buf, sizeof(buf)));
    /* a read that started before an invalidation of its tag must not be stored */
    uint64_t started = gw_cache_epoch(c);
    gw_cache_invalidate(c, wb);
    assert_false(gw_cache_store(c, "kb", 2, &it, &wb, 1, started, 2));
    assert_false(get(c, "kb", 2, buf, sizeof(buf)));
    /* ... and one that started after it is */
    assert_true(gw_cache_store(c, "kb", 2, &it, &wb, 1, gw_cache_epoch(c), 2));
    gw_cache_clear(c);
    assert_false(get(c, "kb", 3, buf, sizeof(buf)));
    assert_false(gw_cache_store(c, "kb", 2, &it, &wb, 1, started, 3));
    gw_cache_free(c);
}

static void test_version_never_goes_back(void **state)
{
    (void)state;
    gw_cache_t *c = gw_cache_new(1 << 20, 60000);
    char buf[64];
    uint32_t t = gw_cache_tag("t:1", 3);
    gw_cache_item_t v2 = item("v2", 2), v1 = item("v1", 1), v3 = item("v3", 3);
    uint64_t e = gw_cache_epoch(c);
    assert_true(gw_cache_store(c, "k", 1, &v2, &t, 1, e, 0));
    assert_false(gw_cache_store(c, "k", 1, &v1, &t, 1, e, 0));
    assert_true(get(c, "k", 0, buf, sizeof(buf)));
    assert_string_equal(buf, "v2");
    assert_true(gw_cache_store(c, "k", 1, &v3, &t, 1, e, 0));
    assert_true(get(c, "k", 0, buf, sizeof(buf)));
    assert_string_equal(buf, "v3");
    gw_cache_free(c);
}

static void test_lru_within_budget(void **state)
{
    (void)state;
    size_t budget = 64 * 1024;
    gw_cache_t *c = gw_cache_new(budget, 60000);
    char key[32], body[1024];
    memset(body, 'b', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    gw_cache_item_t it = item(body, 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        gw_cache_store(c, key, strlen(key), &it, NULL, 0, gw_cache_epoch(c), 0);
    }
    gw_cache_stats_t st;
    gw_cache_stats(c, 0, &st);
    assert_true(st.bytes <= budget);
    assert_true(st.entries > 0 && st.entries < 2000);
    assert_true(st.evictions >= 2000 - st.entries);
    char buf[8];
    assert_true(get(c, "key-1999", 0, buf, sizeof(buf))); /* the newest survives */
    assert_false(get(c, "key-0", 0, buf, sizeof(buf)));
    /* an entry larger than a stripe is refused */
    gw_cache_t *tiny = gw_cache_new(GW_CACHE_STRIPES * 100, 60000);
    assert_false(gw_cache_store(tiny, "k", 1, &it, NULL, 0, gw_cache_epoch(tiny), 0));
    gw_cache_free(tiny);
    gw_cache_free(c);
}

static gw_cache_t *g_shared;

static void *hammer(void *arg)
{
    int id = (int)(intptr_t)arg;
    char key[32], buf[64];
    gw_cache_item_t it = item("{\"x\":1}", 1);
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", (i * 7 + id) % 500);
        uint32_t tag = gw_cache_tag(key, strlen(key));
        if (i % 10 == 0)
            gw_cache_invalidate(g_shared, tag);
        else if (!get(g_shared, key, i, buf, sizeof(buf)))
            gw_cache_store(g_shared, key, strlen(key), &it, &tag, 1, gw_cache_epoch(g_shared), i);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    g_shared = gw_cache_new(256 * 1024, 1000000);
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    gw_cache_stats_t st;
    gw_cache_stats(g_shared, 0, &st);
    assert_true(st.hits + st.misses == 4 * 18000);
    assert_true(st.bytes <= 256 * 1024);
    gw_cache_free(g_shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_miss_ttl),
        cmocka_unit_test(test_invalidation),
        cmocka_unit_test(test_version_never_goes_back),
        cmocka_unit_test(test_lru_within_budget),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
