/* ai_task_set and ai_tsets (services/ai/task_set.c, tsets.c) against a fake projection:
 * a set keeps its order when changes are merged in; the store serves a user's set from
 * memory within the recheck window, sees a local invalidation at once and another
 * replica's change only after the window, catches up from the change log (and loads anew
 * when the log cannot tell), guards a confirmation racing an invalidation, stays under
 * its memory cap, and survives readers and writers on several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "projection.h"
#include "suggest_rules.h"
#include "task_set.h"
#include "tsets.h"

#define UA     "00000000-0000-4000-8000-00000000000a"
#define UB     "00000000-0000-4000-8000-00000000000b"
#define RECHK  1000
#define NTASKS 64

/* ---- the fake projection: one table of tasks, per-user generations and change rings ---- */

typedef struct {
    char id[37], owner[37], title[64];
    int64_t updated_at;
    bool deleted, used;
} ftask_t;

typedef struct {
    int64_t gen;
    int64_t ring_gen[AI_CHANGE_RING];
    char ring_task[AI_CHANGE_RING][37];
} fuser_t;

typedef struct {
    pthread_mutex_t mu;
    ftask_t tasks[NTASKS];
    fuser_t users[2];
    int gens, loads, changes;
    void (*on_gen)(void); /* runs inside gen(): a race injected between its read and use */
} fake_t;

static fake_t F;

static fuser_t *fuser(const char *user)
{
    return &F.users[strcmp(user, UB) == 0];
}

static int f_gen(void *ctx, const char *user, int64_t *gen)
{
    (void)ctx;
    pthread_mutex_lock(&F.mu);
    F.gens++;
    *gen = fuser(user)->gen;
    pthread_mutex_unlock(&F.mu);
    if (F.on_gen)
        F.on_gen();
    return 0;
}

static void add_fields(ai_task_set_t *set, const ftask_t *t)
{
    ai_task_fields_t f = {.id = t->id,
                          .workspace_id = "w",
                          .created_by = t->owner,
                          .assignee_id = "",
                          .title = t->title,
                          .title_len = strlen(t->title),
                          .status = "todo",
                          .status_len = 4,
                          .created_at = 1,
                          .updated_at = t->updated_at};
    ai_task_set_add(set, &f);
}

static int by_updated_desc(const void *a, const void *b)
{
    const ftask_t *x = *(const ftask_t *const *)a, *y = *(const ftask_t *const *)b;
    return (x->updated_at < y->updated_at) - (x->updated_at > y->updated_at);
}

static int f_load(void *ctx, const char *user, int64_t max, ai_task_set_t *set)
{
    (void)ctx;
    const ftask_t *mine[NTASKS];
    size_t n = 0;
    ai_task_set_init(set);
    pthread_mutex_lock(&F.mu);
    F.loads++;
    for (size_t i = 0; i < NTASKS; i++)
        if (F.tasks[i].used && !F.tasks[i].deleted && strcmp(F.tasks[i].owner, user) == 0)
            mine[n++] = &F.tasks[i];
    qsort(mine, n, sizeof *mine, by_updated_desc);
    for (size_t i = 0; i < n && (int64_t)i < max; i++)
        add_fields(set, mine[i]);
    pthread_mutex_unlock(&F.mu);
    return 0;
}

static ftask_t *ftask(const char *id)
{
    for (size_t i = 0; i < NTASKS; i++)
        if (F.tasks[i].used && strcmp(F.tasks[i].id, id) == 0)
            return &F.tasks[i];
    return NULL;
}

static int f_changes(void *ctx, const char *user, int64_t since, int64_t upto,
                     ai_task_changes_t *ch)
{
    (void)ctx;
    ai_task_changes_init(ch);
    pthread_mutex_lock(&F.mu);
    F.changes++;
    fuser_t *u = fuser(user);
    for (int s = 0; s < AI_CHANGE_RING; s++) {
        if (u->ring_gen[s] <= since || u->ring_gen[s] > upto)
            continue;
        ch->entries++;
        ai_uuid_key_t key;
        bool seen = false;
        assert_true(ai_uuid_key(u->ring_task[s], &key));
        for (size_t k = 0; k < ch->n_ids; k++)
            seen = seen || ai_uuid_key_eq(ch->ids[k], key);
        if (seen)
            continue;
        ai_task_changes_add_id(ch, u->ring_task[s]);
        const ftask_t *t = ftask(u->ring_task[s]);
        if (t && !t->deleted && strcmp(t->owner, user) == 0)
            add_fields(&ch->live, t);
    }
    pthread_mutex_unlock(&F.mu);
    ai_task_changes_seal(ch);
    return 0;
}

static const ai_tsets_source_t SRC = {f_gen, f_load, f_changes};

/* A change as the projection makes it: the row, then the user's generation and log slot. */
static void fake_put(const char *user, int k, const char *title, int64_t updated, bool deleted)
{
    char copy[64]; /* title may be the task's own */
    snprintf(copy, sizeof copy, "%s", title);
    pthread_mutex_lock(&F.mu);
    ftask_t *t = &F.tasks[k];
    t->used = true;
    snprintf(t->id, sizeof t->id, "00000000-0000-4000-8000-%012d", k);
    snprintf(t->owner, sizeof t->owner, "%s", user);
    memcpy(t->title, copy, sizeof copy);
    t->updated_at = updated;
    t->deleted = deleted;
    fuser_t *u = fuser(user);
    u->gen++;
    u->ring_gen[u->gen % AI_CHANGE_RING] = u->gen;
    memcpy(u->ring_task[u->gen % AI_CHANGE_RING], t->id, 37);
    pthread_mutex_unlock(&F.mu);
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    pthread_mutex_init(&F.mu, NULL);
    return 0;
}

/* The titles of user's set (at least at min_gen), most recent first, as "a,b,c". */
static char *titles_at(ai_tsets_t *s, const char *user, int64_t now, int64_t min_gen, char *out,
                       size_t cap)
{
    ai_tsets_ref_t ref;
    assert_int_equal(ai_tsets_acquire(s, NULL, user, now, min_gen, &ref), 0);
    out[0] = '\0';
    for (size_t i = 0; i < ref.set->n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? "," : "",
                 ref.set->tasks[i].title);
    ai_tsets_release(s, &ref);
    return out;
}

static char *titles(ai_tsets_t *s, const char *user, int64_t now, char *out, size_t cap)
{
    return titles_at(s, user, now, -1, out, cap);
}

/* ---- ai_task_set ---- */

static void test_set_apply_keeps_order(void **state)
{
    (void)state;
    ai_task_set_t set;
    ai_task_set_init(&set);
    for (int k = 0; k < 5; k++) {
        char title[16];
        snprintf(title, sizeof title, "t%d", k);
        fake_put(UA, k, title, 100 - k * 10, false); /* t0 newest */
    }
    assert_int_equal(f_load(NULL, UA, 100, &set), 0);
    assert_int_equal(set.n, 5);
    assert_string_equal(set.tasks[0].title, "t0");
    /* t3 renamed (newest now), t1 deleted, t9 new but older than everything */
    fake_put(UA, 3, "t3 renamed", 200, false);
    fake_put(UA, 1, "t1", 200, true);
    fake_put(UA, 9, "t9", 5, false);
    ai_task_changes_t ch;
    assert_int_equal(f_changes(NULL, UA, 5, 8, &ch), 0);
    assert_int_equal(ch.entries, 3);
    assert_int_equal(ch.n_ids, 3);
    assert_int_equal(ch.live.n, 2);
    ai_task_set_apply(&set, &ch, 100);
    ai_task_changes_dispose(&ch);
    const char *want[] = {"t3 renamed", "t0", "t2", "t4", "t9"};
    assert_int_equal(set.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(set.tasks[i].title, want[i]);
    assert_true(ai_task_set_find(&set, F.tasks[1].id) < 0);
    assert_int_equal(ai_task_set_find(&set, F.tasks[9].id), 4);
    ai_uuid_key_t k9, upper;
    assert_true(ai_uuid_key(F.tasks[9].id, &k9));
    assert_true(ai_uuid_key("00000000-0000-4000-8000-00000000000A", &upper));
    assert_true(ai_uuid_key_eq(set.meta[4].id_key, k9));
    assert_false(ai_uuid_key("00000000-0000-4000-8000-00000000000", &upper));
    assert_false(ai_uuid_key("00000000+0000-4000-8000-000000000000", &upper));
    assert_false(ai_uuid_key("00000000-0000-4000-8000-0000000000000", &upper));
    /* max: the oldest go */
    fake_put(UA, 10, "t10", 300, false);
    assert_int_equal(f_changes(NULL, UA, 8, 9, &ch), 0);
    ai_task_set_apply(&set, &ch, 3);
    ai_task_changes_dispose(&ch);
    assert_int_equal(set.n, 3);
    assert_string_equal(set.tasks[0].title, "t10");
    assert_string_equal(set.tasks[2].title, "t0");
    /* everything gone: no memory is counted any more */
    for (int k = 0; k < 11; k++)
        if (F.tasks[k].used)
            fake_put(UA, k, F.tasks[k].title, 400, true);
    assert_int_equal(f_changes(NULL, UA, 9, F.users[0].gen, &ch), 0);
    ai_task_set_apply(&set, &ch, 100);
    ai_task_changes_dispose(&ch);
    assert_int_equal(set.n, 0);
    assert_int_equal(set.bytes, 0);
    ai_task_set_dispose(&set);
}

static void test_set_strings_and_keywords(void **state)
{
    (void)state;
    const char *labels[] = {"work", "home"};
    size_t lens[] = {4, 4};
    ai_task_fields_t f = {.id = "00000000-0000-4000-8000-000000000001",
                          .workspace_id = "w1",
                          .created_by = UA,
                          .assignee_id = "",
                          .title = "Write the Quarterly REPORT with Bob! xyz",
                          .title_len = 40,
                          .description = "desc and more",
                          .description_len = 4,
                          .status = "todo",
                          .status_len = 4,
                          .labels = labels,
                          .label_lens = lens,
                          .n_labels = 2};
    ai_task_set_t set;
    ai_task_set_init(&set);
    ai_task_set_add(&set, &f);
    const ai_task_t *t = &set.tasks[0];
    assert_string_equal(t->title, f.title);
    assert_string_equal(t->description, "desc");
    assert_string_equal(set.meta[0].workspace_id, "w1");
    assert_string_equal(set.meta[0].assignee_id, "");
    assert_int_equal(t->n_labels, 2);
    assert_string_equal(t->labels[1], "home");
    /* the stored keywords are what ai_title_keywords gives: no stop word, no short word */
    char want[64];
    assert_int_equal(ai_title_keywords(f.title, want, sizeof want), 24);
    assert_memory_equal(t->keywords, "write\0quarterly\0report\0", 24);
    assert_memory_equal(want, t->keywords, 24);
    /* a list cut short keeps whole keywords and stays terminated */
    char small[12];
    assert_int_equal(ai_title_keywords(f.title, small, sizeof small), 24);
    assert_memory_equal(small, "write\0", 7);
    ai_task_set_dispose(&set);
}

/* ---- ai_tsets ---- */

static void test_hit_then_local_change(void **state)
{
    (void)state;
    char buf[256];
    fake_put(UA, 0, "a", 10, false);
    fake_put(UA, 1, "b", 20, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, RECHK, &SRC);
    assert_string_equal(titles(s, UA, 0, buf, sizeof buf), "b,a");
    assert_string_equal(titles(s, UA, 500, buf, sizeof buf), "b,a");
    assert_int_equal(F.loads, 1);
    assert_int_equal(F.gens, 1); /* the second one asked nothing */
    /* the local consumer applies a change and says so: seen by the very next acquire */
    fake_put(UA, 0, "a2", 30, false);
    ai_tsets_invalidate_user(s, UA);
    assert_string_equal(titles(s, UA, 600, buf, sizeof buf), "a2,b");
    assert_int_equal(F.loads, 1);
    assert_int_equal(F.changes, 1);
    /* an invalidation without a change costs one generation check */
    ai_tsets_invalidate_user(s, UA);
    assert_string_equal(titles(s, UA, 700, buf, sizeof buf), "a2,b");
    ai_tsets_stats_t st;
    ai_tsets_stats(s, &st);
    assert_int_equal(st.loads, 1);
    assert_int_equal(st.deltas, 1);
    assert_int_equal(st.checks, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(F.changes, 1);
    /* another user's set is separate */
    fake_put(UB, 5, "other", 1, false);
    assert_string_equal(titles(s, UB, 700, buf, sizeof buf), "other");
    ai_tsets_free(s);
}

static void test_other_replica_within_recheck(void **state)
{
    (void)state;
    char buf[256];
    fake_put(UA, 0, "a", 10, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, RECHK, &SRC);
    assert_string_equal(titles(s, UA, 1000, buf, sizeof buf), "a");
    /* another replica applied the change: nobody here was told */
    fake_put(UA, 0, "a from elsewhere", 20, false);
    assert_string_equal(titles(s, UA, 1000 + RECHK - 1, buf, sizeof buf), "a");
    assert_string_equal(titles(s, UA, 1000 + RECHK, buf, sizeof buf), "a from elsewhere");
    assert_int_equal(F.loads, 1);
    assert_int_equal(F.changes, 1);
    /* a caller that has read a newer generation (the answer cache) gets a set that new,
     * even inside the window */
    fake_put(UA, 0, "a once more", 30, false);
    assert_string_equal(titles(s, UA, 2001, buf, sizeof buf), "a from elsewhere");
    assert_string_equal(titles_at(s, UA, 2002, F.users[0].gen, buf, sizeof buf), "a once more");
    ai_tsets_free(s);
}

/* ai_tsets_confirm_due checks ahead of need what the next acquire would have checked:
 * sets used within the window and confirmed min_age ago or more, nothing else; an acquire
 * after it needs no check, and sees what another replica changed. */
static void test_confirm_ahead_of_need(void **state)
{
    (void)state;
    char buf[256];
    fake_put(UA, 0, "a", 10, false);
    fake_put(UB, 1, "b", 10, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, RECHK, &SRC);
    assert_string_equal(titles(s, UA, 1000, buf, sizeof buf), "a");
    assert_string_equal(titles(s, UB, 1000, buf, sizeof buf), "b");
    int gens = F.gens;
    /* confirmed too recently: nothing to do */
    assert_int_equal(ai_tsets_confirm_due(s, NULL, 1000 + RECHK / 4 - 1, RECHK / 4), 0);
    assert_int_equal(F.gens, gens);
    /* another replica changes UA; only UA is used again */
    fake_put(UA, 0, "a from elsewhere", 20, false);
    assert_string_equal(titles(s, UA, 1000 + RECHK / 2, buf, sizeof buf), "a");
    assert_int_equal(ai_tsets_confirm_due(s, NULL, 1000 + RECHK / 2, RECHK / 4), 2);
    assert_int_equal(F.gens, gens + 2);
    /* past the first confirmation's window, inside the new one: no check, the change seen */
    assert_string_equal(titles(s, UA, 1000 + RECHK + 1, buf, sizeof buf), "a from elsewhere");
    assert_int_equal(F.gens, gens + 2);
    assert_int_equal(F.changes, 1);
    /* UB was last used more than a window ago: no longer kept confirmed */
    assert_int_equal(ai_tsets_confirm_due(s, NULL, 1000 + RECHK + 2, RECHK / 4), 1);
    assert_int_equal(F.gens, gens + 3);
    /* a dropped confirmation (a local change) is checked at once */
    fake_put(UA, 0, "a here", 30, false);
    ai_tsets_invalidate_user(s, UA);
    assert_int_equal(ai_tsets_confirm_due(s, NULL, 1000 + RECHK + 3, RECHK / 4), 1);
    assert_string_equal(titles(s, UA, 1000 + RECHK + 4, buf, sizeof buf), "a here");
    assert_int_equal(F.gens, gens + 4);
    ai_tsets_free(s);
}

/* While ai_tsets_confirm_due's check is in flight (injected: an acquire made from inside
 * its gen()), a set just past its window is used without a check of its own, up to twice
 * the window; a set invalidated meanwhile is checked. */
static ai_tsets_t *g_flight;
static int64_t g_flight_now;
static bool g_flight_invalidate;
static int g_flight_gens; /* gen() calls the acquire made */
static char g_flight_titles[256];

static void acquire_during_check(void)
{
    F.on_gen = NULL;
    if (g_flight_invalidate)
        ai_tsets_invalidate_user(g_flight, UA);
    int before = F.gens;
    titles(g_flight, UA, g_flight_now, g_flight_titles, sizeof g_flight_titles);
    g_flight_gens = F.gens - before;
}

static void test_check_in_flight_does_not_hold_requests(void **state)
{
    (void)state;
    char buf[256];
    fake_put(UA, 0, "a", 10, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, RECHK, &SRC);
    g_flight = s;
    assert_string_equal(titles(s, UA, 1000, buf, sizeof buf), "a");
    fake_put(UA, 0, "a from elsewhere", 20, false);
    /* the check starts inside the window; the acquire comes past it, before 2 x */
    F.on_gen = acquire_during_check;
    g_flight_now = 1000 + RECHK + 10;
    assert_int_equal(ai_tsets_confirm_due(s, NULL, 1000 + RECHK / 2, RECHK / 4), 1);
    assert_int_equal(g_flight_gens, 0);
    assert_string_equal(g_flight_titles, "a");
    /* the check brought the change, confirmed as of its start */
    assert_string_equal(titles(s, UA, 1000 + RECHK + 20, buf, sizeof buf), "a from elsewhere");
    /* past 2 x the window, or after a local invalidation: the acquire checks itself */
    for (int inval = 0; inval < 2; inval++) {
        int64_t t = 1000 + RECHK / 2 + (inval + 1) * 3 * RECHK;
        assert_string_equal(titles(s, UA, t, buf, sizeof buf), "a from elsewhere");
        F.on_gen = acquire_during_check;
        g_flight_invalidate = inval == 1;
        g_flight_now = inval ? t + RECHK + 10 : t + 2 * RECHK;
        assert_int_equal(ai_tsets_confirm_due(s, NULL, t + RECHK / 2, RECHK / 4), 1);
        assert_int_equal(g_flight_gens, 1);
    }
    g_flight_invalidate = false;
    ai_tsets_free(s);
}

static void test_log_gaps_load_anew(void **state)
{
    (void)state;
    char buf[4096];
    fake_put(UA, 0, "a", 10, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, RECHK, &SRC);
    assert_string_equal(titles(s, UA, 0, buf, sizeof buf), "a");
    /* more changes than the ring holds */
    for (int i = 0; i < AI_CHANGE_RING + 1; i++)
        fake_put(UA, 1, "b", 20 + i, false);
    ai_tsets_invalidate_user(s, UA);
    assert_string_equal(titles(s, UA, 1, buf, sizeof buf), "b,a");
    assert_int_equal(F.loads, 2);
    assert_int_equal(F.changes, 0);
    /* a log that lost an entry (overwritten meanwhile): loaded anew, not half-applied */
    fake_put(UA, 2, "c", 1000, false);
    fake_put(UA, 3, "d", 1001, false);
    F.users[0].ring_gen[F.users[0].gen % AI_CHANGE_RING] = 0;
    ai_tsets_invalidate_user(s, UA);
    assert_string_equal(titles(s, UA, 2, buf, sizeof buf), "d,c,b,a");
    assert_int_equal(F.changes, 1);
    assert_int_equal(F.loads, 3);
    ai_tsets_free(s);
}

static void test_cut_set_losing_a_task_loads_anew(void **state)
{
    (void)state;
    char buf[256];
    for (int k = 0; k < 5; k++)
        fake_put(UA, k, (const char *[]){"a", "b", "c", "d", "e"}[k], 10 + k, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 3, RECHK, &SRC); /* keeps the 3 most recent */
    assert_string_equal(titles(s, UA, 0, buf, sizeof buf), "e,d,c");
    /* an old task changes: it becomes the most recent, the oldest kept one goes */
    fake_put(UA, 0, "a2", 100, false);
    ai_tsets_invalidate_user(s, UA);
    assert_string_equal(titles(s, UA, 1, buf, sizeof buf), "a2,e,d");
    assert_int_equal(F.loads, 1);
    /* a kept task is deleted: the next most recent (c) is not in memory, so load */
    fake_put(UA, 4, "e", 101, true);
    ai_tsets_invalidate_user(s, UA);
    assert_string_equal(titles(s, UA, 2, buf, sizeof buf), "a2,d,c");
    assert_int_equal(F.loads, 2);
    ai_tsets_free(s);
}

static ai_tsets_t *g_race_store;

static void invalidate_during_gen(void)
{
    ai_tsets_invalidate_user(g_race_store, UA);
}

static void test_invalidation_racing_a_refresh(void **state)
{
    (void)state;
    char buf[256];
    fake_put(UA, 0, "a", 10, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, RECHK, &SRC);
    g_race_store = s;
    /* the consumer's invalidation lands after the generation was read: the set may be
     * older than the change, so it must not count as confirmed */
    F.on_gen = invalidate_during_gen;
    assert_string_equal(titles(s, UA, 0, buf, sizeof buf), "a");
    F.on_gen = NULL;
    int gens = F.gens;
    assert_string_equal(titles(s, UA, 1, buf, sizeof buf), "a");
    assert_int_equal(F.gens, gens + 1); /* checked again, not served as confirmed */
    assert_string_equal(titles(s, UA, 2, buf, sizeof buf), "a");
    assert_int_equal(F.gens, gens + 1); /* now confirmed */
    ai_tsets_free(s);
}

static void test_memory_cap(void **state)
{
    (void)state;
    char buf[256];
    fake_put(UA, 0, "a", 10, false);
    fake_put(UB, 1, "b", 10, false);
    ai_task_set_t one;
    assert_int_equal(f_load(NULL, UA, 100, &one), 0);
    size_t per_user = one.bytes + 512; /* a set and its entry */
    ai_task_set_dispose(&one);
    /* room for one user: B's set pushes A's out */
    ai_tsets_t *s = ai_tsets_new(per_user + per_user / 2, 100, RECHK, &SRC);
    titles(s, UA, 0, buf, sizeof buf);
    titles(s, UB, 0, buf, sizeof buf);
    ai_tsets_stats_t st;
    ai_tsets_stats(s, &st);
    assert_int_equal(st.users, 1);
    assert_true(st.bytes <= per_user + per_user / 2);
    assert_int_equal(st.evicted, 1);
    assert_string_equal(titles(s, UA, 1, buf, sizeof buf), "a");
    assert_int_equal(F.loads, 4); /* the measuring load above, A, B, A again */
    ai_tsets_free(s);
    /* a cap below one set: served, never kept */
    s = ai_tsets_new(64, 100, RECHK, &SRC);
    assert_string_equal(titles(s, UA, 0, buf, sizeof buf), "a");
    assert_string_equal(titles(s, UA, 1, buf, sizeof buf), "a");
    ai_tsets_stats(s, &st);
    assert_int_equal(st.users, 0);
    assert_int_equal(st.bytes, 0);
    ai_tsets_free(s);
    /* 0: the store is off, every acquire loads */
    s = ai_tsets_new(0, 100, RECHK, &SRC);
    int loads = F.loads;
    titles(s, UA, 0, buf, sizeof buf);
    titles(s, UA, 0, buf, sizeof buf);
    assert_int_equal(F.loads, loads + 2);
    ai_tsets_free(s);
}

/* Readers on three threads while a fourth keeps changing and invalidating: every set a
 * reader sees is whole (titles match the ids it holds) and the last one is current. */
typedef struct {
    ai_tsets_t *s;
    int rounds;
    bool ok;
} worker_arg_t;

static void *reader(void *p)
{
    worker_arg_t *a = p;
    a->ok = true;
    for (int i = 0; i < a->rounds; i++) {
        ai_tsets_ref_t ref;
        if (ai_tsets_acquire(a->s, NULL, UA, i, -1, &ref) != 0) {
            a->ok = false;
            continue;
        }
        for (size_t k = 1; k < ref.set->n; k++)
            a->ok = a->ok && ref.set->tasks[k - 1].updated_at >= ref.set->tasks[k].updated_at;
        ai_tsets_release(a->s, &ref);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    for (int k = 0; k < 8; k++)
        fake_put(UA, k, "x", k, false);
    ai_tsets_t *s = ai_tsets_new(1 << 20, 100, 0, &SRC); /* recheck 0: every acquire checks */
    pthread_t th[3];
    worker_arg_t args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (worker_arg_t){s, 300, false};
        pthread_create(&th[i], NULL, reader, &args[i]);
    }
    for (int i = 0; i < 300; i++) {
        char title[16];
        snprintf(title, sizeof title, "v%d", i);
        fake_put(UA, i % 8, title, 100 + i, i % 17 == 0);
        ai_tsets_invalidate_user(s, UA);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_true(args[i].ok);
    }
    char buf[512], want[512];
    ai_task_set_t fresh;
    assert_int_equal(f_load(NULL, UA, 100, &fresh), 0);
    want[0] = '\0';
    for (size_t i = 0; i < fresh.n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? "," : "",
                 fresh.tasks[i].title);
    ai_task_set_dispose(&fresh);
    assert_string_equal(titles(s, UA, 1000, buf, sizeof buf), want);
    ai_tsets_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_set_apply_keeps_order, setup),
        cmocka_unit_test_setup(test_set_strings_and_keywords, setup),
        cmocka_unit_test_setup(test_hit_then_local_change, setup),
        cmocka_unit_test_setup(test_other_replica_within_recheck, setup),
        cmocka_unit_test_setup(test_confirm_ahead_of_need, setup),
        cmocka_unit_test_setup(test_check_in_flight_does_not_hold_requests, setup),
        cmocka_unit_test_setup(test_log_gaps_load_anew, setup),
        cmocka_unit_test_setup(test_cut_set_losing_a_task_loads_anew, setup),
        cmocka_unit_test_setup(test_invalidation_racing_a_refresh, setup),
        cmocka_unit_test_setup(test_memory_cap, setup),
        cmocka_unit_test_setup(test_threads, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
