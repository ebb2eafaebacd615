/* Unit tests for ai_urgency (services/ai/urgency.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>

#include "urgency.h"

#define DAY 86400000LL
static const int64_t NOW = 1795600800000LL; /* 2026-11-25T10:00:00Z */

static ai_task_t base(void)
{
    return (ai_task_t){.title = "t",
                       .priority = 2,
                       .created_at = NOW - 14 * DAY,
                       .due_at = NOW + DAY,
                       .estimate_minutes = 30};
}

static double score(ai_task_t t)
{
    return ai_urgency(&t, NOW, NULL, NULL);
}

static void test_exact_values(void **state)
{
    (void)state;
    ai_task_t t = base();
    ai_urgency_parts_t p;
    double s = ai_urgency(&t, NOW, NULL, &p);
    /* Hand-computed from the formulas in urgency.h with the default weights. */
    assert_float_equal(p.priority, 3.0, 1e-9);
    assert_float_equal(p.due, 4.623246911586909, 1e-9);
    assert_float_equal(p.age, 0.6321205588285577, 1e-9);
    assert_float_equal(p.quick_win, 0.5, 1e-9);
    assert_float_equal(s, 8.755367470415466, 1e-9);
    assert_float_equal(p.total, s, 1e-12);
    t.due_at = NOW - 2 * DAY;
    ai_urgency(&t, NOW, NULL, &p);
    assert_float_equal(p.due, 5.6213067673117845, 1e-9);
}

static void test_more_overdue_is_higher(void **state)
{
    (void)state;
    ai_task_t t = base();
    double prev = -1;
    /* From two weeks out to a month overdue, urgency never drops. */
    for (int64_t d = 14 * 24; d >= -30 * 24; d -= 6) {
        t.due_at = NOW + d * 3600000LL;
        double s = score(t);
        assert_true(s >= prev);
        prev = s;
    }
    t.due_at = NOW - DAY;
    double one = score(t);
    t.due_at = NOW - 10 * DAY;
    assert_true(score(t) > one);
    t.due_at = NOW + 1000 * DAY;
    double far = score(t);
    t.due_at = 0;
    assert_true(far > score(t) - 1e-9);
}

static void test_priority_order(void **state)
{
    (void)state;
    ai_task_t t = base();
    double s[5];
    for (int p = 0; p <= 4; p++) {
        t.priority = p;
        s[p] = score(t);
    }
    assert_true(s[1] > s[2] && s[2] > s[3] && s[3] > s[4] && s[4] > s[0]);
}

static void test_age_and_quick_win(void **state)
{
    (void)state;
    ai_task_t t = base();
    double young, old;
    t.created_at = NOW - DAY;
    young = score(t);
    t.created_at = NOW - 60 * DAY;
    old = score(t);
    assert_true(old > young);
    t = base();
    double prev = 1e9;
    for (int est = 5; est <= 200; est += 5) {
        t.estimate_minutes = est;
        double s = score(t);
        assert_true(s <= prev);
        prev = s;
    }
    t.estimate_minutes = 15;
    double quick = score(t);
    t.estimate_minutes = 600;
    assert_true(quick > score(t));
}

static void test_completed_and_weights(void **state)
{
    (void)state;
    ai_task_t t = base();
    ai_urgency_parts_t p;
    t.completed_at = NOW;
    assert_float_equal(ai_urgency(&t, NOW, NULL, &p), 0.0, 0);
    t.completed_at = 0;
    ai_weights_t w;
    ai_urgency_defaults(&w);
    w.due = 0;
    ai_urgency(&t, NOW, &w, &p);
    assert_float_equal(p.due, 0.0, 0);
    assert_float_equal(p.total, p.priority + p.age + p.quick_win, 1e-12);
}

static void test_rank(void **state)
{
    (void)state;
    ai_task_t tasks[4] = {base(), base(), base(), base()};
    tasks[0].priority = 4;
    tasks[1].due_at = NOW - 3 * DAY;
    tasks[2].completed_at = NOW;
    size_t order[4];
    ai_urgency_rank(tasks, 4, NOW, NULL, order);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(order[2], 0);
    assert_int_equal(order[3], 2);
}

static bool odd_index(size_t i, void *arg)
{
    (void)arg;
    return i % 2 == 1;
}

/* The top k by one pass (with its bound that skips scoring) is the head of the full
 * ranking, over random tasks: due dates both sides of now, ties of equal tasks, every k. */
static void test_top_k_matches_rank(void **state)
{
    (void)state;
    enum { N = 400 };
    static ai_task_t t[N];
    static size_t all[N], top[N], odd[N];
    const int64_t now = 1795600800000LL, hour = 3600000LL;
    srand(3);
    for (size_t i = 0; i < N; i++)
        t[i] = (ai_task_t){.priority = rand() % 5,
                           .created_at = now - (rand() % 2000) * hour,
                           .due_at = rand() % 3 ? now + (rand() % 800 - 300) * hour : 0,
                           .estimate_minutes = rand() % 2 ? 15 * (rand() % 12) : 0,
                           .completed_at = rand() % 7 == 0 ? now - hour : 0};
    for (size_t i = 0; i < 40; i++)
        t[N - 1 - i] = t[i]; /* equal scores: the earlier index ranks first */
    ai_urgency_rank(t, N, now, NULL, all);
    for (size_t k = 1; k <= 60; k++) {
        assert_int_equal(ai_urgency_top(t, N, NULL, NULL, now, NULL, k, top), k);
        for (size_t i = 0; i < k; i++)
            assert_int_equal(top[i], all[i]);
    }
    /* a pick keeps the order among the picked */
    size_t n = ai_urgency_top(t, N, odd_index, NULL, now, NULL, N, odd), j = 0;
    assert_int_equal(n, N / 2);
    for (size_t i = 0; i < N; i++)
        if (all[i] % 2 == 1)
            assert_int_equal(odd[j++], all[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_values),          cmocka_unit_test(test_more_overdue_is_higher),
        cmocka_unit_test(test_priority_order),        cmocka_unit_test(test_age_and_quick_win),
        cmocka_unit_test(test_completed_and_weights), cmocka_unit_test(test_rank),
        cmocka_unit_test(test_top_k_matches_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
