/* Integration: the two write paths of tm-ai's projection (services/ai/projection.c) on a real
 * Postgres. One stream of events, with what a stream carries besides plain creates (create,
 * update and delete of one task in a row, stale versions, an equal version, an update after
 * the delete, a delete before the create, a replay of an applied event id with other data,
 * an id first seen with bad data then with good, bad data, member churn, events of no
 * interest), goes event by event (ai_projection_apply) into one schema, and in batches of
 * several sizes (ai_projection_apply_batch: one statement per batch, migration 005) into
 * others, each migrated from services/ai/migrations. Every batch size must leave what the
 * event-by-event path leaves: the same task rows (every column), members and processed event
 * ids, the same events found bad, the same users told, the same users bumped and (user, task)
 * pairs in the change log, one log entry per generation, and the same reads
 * (ai_projection_load, ai_projection_changes). Replaying the stream changes nothing, and a
 * batch Postgres refuses applies nothing. Needs TM_TEST_PG_URL only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>

#include "itest.h"
#include "itest_daemon.h"
#include "projection.h"
#include "task_set.h"

#ifndef TM_AI_MIGRATIONS
#error "TM_AI_MIGRATIONS must be defined by CMake"
#endif

#define MAX_EVENTS 40
#define NUSERS     4
#define NTASKS     5
#define T0_MS      1767225600000LL /* 2026-01-01T00:00:00Z */

static itest_db_t g_db;
static char W[37], U[NUSERS][37], T[NTASKS][37];
static tm_event_t g_ev[MAX_EVENTS];
static size_t g_n;
static size_t g_t2_created; /* t2's create, whose time is t2's created_at */

/* ---- the stream ---- */

static void iso(int64_t ms, char out[40])
{
    tm_format_rfc3339_ms(ms, out, 40);
}

/* Append an event (event_id NULL: a fresh one); data is taken over. Returns its index. */
static size_t add(const char *type, const char *actor, json_t *data, const char *event_id)
{
    assert_true(g_n < MAX_EVENTS);
    tm_event_t *ev = &g_ev[g_n];
    memset(ev, 0, sizeof *ev);
    if (event_id)
        snprintf(ev->event_id, sizeof ev->event_id, "%s", event_id);
    else
        tm_uuid_v4(ev->event_id);
    snprintf(ev->workspace_id, sizeof ev->workspace_id, "%s", W);
    ev->seq = (int64_t)g_n + 1;
    snprintf(ev->type, sizeof ev->type, "%s", type);
    snprintf(ev->actor_id, sizeof ev->actor_id, "%s", actor ? actor : "");
    iso(T0_MS + (int64_t)g_n * 60000, ev->created_at); /* each event its own time */
    ev->data = data;
    return g_n++;
}

/* A task's data at version v: created and updated from v unless told otherwise. */
static json_t *task(int t, int v, const char *title, const char *creator, const char *assignee)
{
    char c[40], u[40];
    iso(T0_MS - 86400000LL + v, c);
    iso(T0_MS + v * 1000LL, u);
    json_t *d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:[s], s:s, s:s, s:i}", "id", T[t],
                          "workspace_id", W, "title", title, "status", "todo", "version",
                          (json_int_t)v, "priority", 1 + v % 4, "labels", "l", "created_at", c,
                          "updated_at", u, "estimate_minutes", 10 * v);
    json_object_set_new(d, "created_by", creator ? json_string(creator) : json_null());
    json_object_set_new(d, "assignee_id", assignee ? json_string(assignee) : json_null());
    return d;
}

static json_t *member(int u, const char *role)
{
    json_t *d = json_pack("{s:s, s:s}", "workspace_id", W, "user_id", U[u]);
    if (role)
        json_object_set_new(d, "role", json_string(role));
    return d;
}

static json_t *id_only(int t)
{
    return json_pack("{s:s}", "id", T[t]);
}

static void build_stream(void)
{
    tm_uuid_v4(W);
    for (int i = 0; i < NUSERS; i++)
        tm_uuid_v4(U[i]);
    for (int i = 0; i < NTASKS; i++)
        tm_uuid_v4(T[i]);
    add("workspace.created", U[0], json_pack("{s:s, s:s}", "id", W, "name", "w"), NULL);
    add("member.added", U[0], member(1, "editor"), NULL);
    add("task.created", U[0], task(0, 1, "t0 v1", NULL, U[1]), NULL); /* creator: the actor */
    size_t upd = add("task.updated", U[0], task(0, 2, "t0 v2", U[0], U[2]), NULL);
    add("task.updated", U[0], task(0, 1, "t0 stale", U[0], U[3]), NULL);
    json_t *bad_id = task(0, 7, "bad id", U[0], NULL);
    json_object_set_new(bad_id, "id", json_string("not-a-uuid"));
    add("task.updated", U[0], bad_id, NULL);
    add("task.created", U[0], task(1, 1, "t1 v1", U[0], NULL), NULL);
    add("task.deleted", U[0], id_only(1), NULL);
    add("task.updated", U[0], task(1, 2, "t1 after delete", U[0], U[3]), NULL);
    add("task.updated", U[0], task(0, 9, "t0 replayed id", U[0], U[3]), g_ev[upd].event_id);
    add("member.updated", U[0], member(1, "owner"), NULL);
    add("member.removed", U[0], member(1, NULL), NULL);
    add("member.added", U[0], member(3, "viewer"), NULL);
    add("member.updated", U[0], member(3, "editor"), NULL);
    add("task.deleted", U[3], id_only(2), NULL); /* before its create: nothing to delete */
    json_t *t2 = task(2, 1, "t2 v1", U[3], NULL);
    json_object_del(t2, "created_at"); /* the event's time, kept by later updates */
    json_object_del(t2, "updated_at");
    g_t2_created = add("task.created", U[3], t2, NULL);
    json_t *done = task(0, 3, "t0 done", U[0], U[2]);
    json_object_set_new(done, "status", json_string("done"));
    json_object_set_new(done, "completed_at", json_string("2026-01-01T10:00:00Z"));
    json_object_set_new(done, "time_spent_minutes", json_integer(45));
    add("task.completed", U[0], done, NULL);
    add("task.updated", U[0], json_null(), NULL);                           /* bad: no data */
    add("task.updated", U[0], task(0, 3, "t0 v3 again", U[0], NULL), NULL); /* equal version */
    add("task.created", U[2], task(3, 5, "t3 v5", U[2], NULL), NULL);
    add("task.updated", U[2], task(3, 4, "t3 stale", U[2], U[0]), NULL);
    add("task.updated", U[2], task(3, 6, "t3 v6", NULL, U[3]), NULL); /* created_by kept */
    add("member.added", U[0], member(2, NULL), NULL);                 /* bad: no role */
    char reused[37];
    tm_uuid_v4(reused);
    json_t *bad_first = task(4, 1, "bad first", U[1], NULL);
    json_object_set_new(bad_first, "workspace_id", json_integer(5));
    add("task.created", U[1], bad_first, reused);
    add("task.created", U[1], task(4, 1, "t4 v1", U[1], U[0]), reused); /* same id, good */
    json_t *t2b = task(2, 2, "t2 v2", U[3], U[1]);
    json_object_del(t2b, "created_at");
    add("task.updated", U[3], t2b, NULL);
    add("task.deleted", U[2], id_only(3), NULL);
    add("task.deleted", U[2], id_only(3), NULL);
    add("task.updated", U[3], task(0, 4, "t0 new creator", U[3], U[1]), NULL);
    add("comment.added", U[0], json_pack("{s:s}", "text", "hello"), NULL);
    add("member.added", U[0], member(1, "editor"), NULL);
    add("task.assigned", U[0], task(4, 2, "t4 v2", U[1], U[2]), NULL);
    add("task.updated", U[0], task(4, 3, "t4 v3", U[1], U[2]), NULL); /* then deleted */
    add("task.deleted", U[0], id_only(4), NULL);
}

/* ---- schemas and connections ---- */

static tm_pg_t *open_schema(const char *schema)
{
    int applied = 0;
    assert_int_equal(tm_pg_migrate(g_db.conninfo, schema, TM_AI_MIGRATIONS, &applied), 0);
    assert_true(applied >= 5);
    tm_pg_t *pg = tm_pg_new(g_db.conninfo, schema, ai_projection_stmts, ai_projection_nstmts);
    assert_int_equal(tm_pg_ensure(pg), 0);
    return pg;
}

static long count(const char *sql)
{
    char out[64];
    itest_query1(g_db.conninfo, sql, out, sizeof out);
    return strtol(out, NULL, 10);
}

/* Rows of `what` (a select list over table) in one schema and not the other, both ways. */
static long differ(const char *a, const char *b, const char *what, const char *table)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM ((SELECT %3$s FROM %1$s.%4$s EXCEPT SELECT %3$s FROM "
             "%2$s.%4$s) UNION ALL (SELECT %3$s FROM %2$s.%4$s EXCEPT SELECT %3$s FROM "
             "%1$s.%4$s)) x",
             a, b, what, table);
    return count(sql);
}

/* Users told to drop answers, as a set. */
typedef struct {
    size_t n;
    char ids[16][37];
} user_set_t;

static void tell(user_set_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return;
    assert_true(s->n < 16);
    snprintf(s->ids[s->n++], 37, "%s", id);
}

static bool told(const user_set_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return true;
    return false;
}

static void before_commit_one(const ai_touched_t *t, void *arg)
{
    for (size_t i = 0; i < t->n; i++)
        tell(arg, t->ids[i]);
}

static void before_commit_batch(const ai_users_t *u, void *arg)
{
    for (size_t i = 0; i < u->n; i++)
        tell(arg, u->ids[i]);
}

/* ---- the two paths ---- */

/* What each event touched on the event-by-event path (the reference for every batch). */
static ai_touched_t g_touched[MAX_EVENTS];
/* What apply_batches expects each event to touch: g_touched, or g_nothing for a replay. */
static const ai_touched_t g_nothing[MAX_EVENTS];
static const ai_touched_t *g_expect = g_touched;

static void apply_one_by_one(tm_pg_t *pg, bool *bad, user_set_t *users)
{
    for (size_t i = 0; i < g_n; i++) {
        int rc = ai_projection_apply(pg, &g_ev[i], &g_touched[i], before_commit_one, users);
        assert_true(rc == TM_OK || rc == TM_ERR_INVALID);
        bad[i] = rc == TM_ERR_INVALID;
    }
}

/* The users events [from, from + n) touched one by one, and how many distinct tasks each
 * (a batch bumps a user's generation once per distinct task it changed for them). */
static void expect_batch(size_t from, size_t n, user_set_t *users, int64_t *per_user)
{
    for (int u = 0; u < NUSERS; u++) {
        char seen[MAX_EVENTS][37];
        size_t nseen = 0;
        for (size_t i = from; i < from + n; i++)
            for (size_t k = 0; k < g_expect[i].n; k++) {
                if (strcmp(g_expect[i].ids[k], U[u]) != 0)
                    continue;
                tell(users, U[u]);
                bool dup = false;
                for (size_t j = 0; j < nseen; j++)
                    dup = dup || strcmp(seen[j], g_expect[i].task_id) == 0;
                if (!dup)
                    snprintf(seen[nseen++], 37, "%s", g_expect[i].task_id);
            }
        per_user[u] += (int64_t)nseen;
    }
}

/* The stream in batches of size events: each batch tells (before its commit, and returns)
 * the users its events touch one by one. Returns how many users the batches reported;
 * gens_want[u] adds up the generations U[u] should have gained. */
static size_t apply_batches(tm_pg_t *pg, size_t size, bool *bad, user_set_t *users,
                            int64_t *gens_want)
{
    size_t reported = 0;
    for (size_t from = 0; from < g_n; from += size) {
        size_t n = from + size < g_n ? size : g_n - from;
        const tm_event_t *evs[MAX_EVENTS];
        for (size_t i = 0; i < n; i++)
            evs[i] = &g_ev[from + i];
        user_set_t before = {0};
        ai_users_t u;
        assert_int_equal(
            ai_projection_apply_batch(pg, evs, n, bad + from, &u, before_commit_batch, &before), 0);
        user_set_t want = {0};
        expect_batch(from, n, &want, gens_want);
        assert_int_equal(before.n, u.n); /* told before the commit, each once */
        assert_int_equal(want.n, u.n);
        for (size_t i = 0; i < u.n; i++) {
            assert_true(told(&before, u.ids[i]));
            assert_true(told(&want, u.ids[i]));
            tell(users, u.ids[i]);
        }
        reported += u.n;
        ai_users_dispose(&u);
    }
    return reported;
}

/* ---- checks ---- */

/* What the event-by-event path must have left (the reference itself is checked). */
static void check_reference(const char *s)
{
    char sql[512];
#define EXPECT(n, fmt, ...)                                                                        \
    do {                                                                                           \
        snprintf(sql, sizeof sql, fmt, __VA_ARGS__);                                               \
        assert_int_equal(count(sql), n);                                                           \
    } while (0)
    EXPECT(1,
           "SELECT count(*) FROM %s.tasks WHERE id = '%s' AND title = 't0 new creator' AND "
           "created_by = '%s' AND assignee_id = '%s' AND version = 4 AND NOT deleted",
           s, T[0], U[3], U[1]);
    EXPECT(1, "SELECT count(*) FROM %s.tasks WHERE id = '%s' AND title = 't1 v1' AND deleted", s,
           T[1]);
    EXPECT(1,
           "SELECT count(*) FROM %s.tasks WHERE id = '%s' AND version = 2 AND created_at = "
           "'%s' AND assignee_id = '%s'",
           s, T[2], g_ev[g_t2_created].created_at, U[1]);
    EXPECT(1,
           "SELECT count(*) FROM %s.tasks WHERE id = '%s' AND title = 't3 v6' AND created_by "
           "= '%s' AND deleted",
           s, T[3], U[2]);
    EXPECT(1, "SELECT count(*) FROM %s.tasks WHERE id = '%s' AND title = 't4 v3' AND deleted", s,
           T[4]);
    EXPECT(1, "SELECT count(*) FROM %s.members WHERE user_id = '%s' AND role = 'editor'", s, U[1]);
    EXPECT(0, "SELECT count(*) FROM %s.members WHERE user_id = '%s'", s, U[2]);
#undef EXPECT
}

/* Each user's log holds one entry per generation, 1..gen (fewer than 256 here). */
static void check_ring(const char *s)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM %1$s.user_state s WHERE s.gen <> (SELECT count(DISTINCT "
             "c.gen) FROM %1$s.user_changes c WHERE c.user_id = s.user_id AND c.gen BETWEEN 1 "
             "AND s.gen) OR s.gen <> (SELECT count(*) FROM %1$s.user_changes c WHERE c.user_id = "
             "s.user_id)",
             s);
    assert_int_equal(count(sql), 0);
}

static void check_same_tables(const char *ref, const char *s)
{
    assert_int_equal(differ(ref, s, "*", "tasks"), 0);
    assert_int_equal(differ(ref, s, "*", "members"), 0);
    assert_int_equal(differ(ref, s, "event_id", "processed_events"), 0);
    assert_int_equal(differ(ref, s, "user_id", "user_state"), 0);
    assert_int_equal(differ(ref, s, "DISTINCT user_id, task_id", "user_changes"), 0);
    check_ring(s);
}

static void check_same_set(const ai_task_set_t *a, const ai_task_set_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        long k = ai_task_set_find(b, a->tasks[i].id);
        assert_true(k >= 0);
        assert_string_equal(a->tasks[i].title, b->tasks[k].title);
        assert_string_equal(a->meta[i].status, b->meta[k].status);
        assert_int_equal(a->tasks[i].updated_at, b->tasks[k].updated_at);
    }
}

/* The reads handlers use: the same tasks per user, and the change log from 0 gives them. */
static void check_reads(tm_pg_t *ref, tm_pg_t *pg)
{
    for (int u = 0; u < NUSERS; u++) {
        ai_task_set_t a, b;
        assert_int_equal(ai_projection_load(ref, U[u], 100, &a), 0);
        assert_int_equal(ai_projection_load(pg, U[u], 100, &b), 0);
        check_same_set(&a, &b);
        int64_t gen = 0;
        assert_int_equal(ai_projection_gen(pg, U[u], &gen), 0);
        assert_true(gen > 0);
        ai_task_changes_t ch;
        assert_int_equal(ai_projection_changes(pg, U[u], 0, gen, &ch), 0);
        assert_int_equal(ch.entries, gen);
        check_same_set(&b, &ch.live);
        ai_task_changes_dispose(&ch);
        ai_task_set_dispose(&a);
        ai_task_set_dispose(&b);
    }
}

/* U[u]'s generation in schema s. */
static int64_t gen_of(const char *s, int u)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COALESCE(max(gen), 0) FROM %s.user_state WHERE user_id = '%s'", s, U[u]);
    return count(sql);
}

static long gens(const char *s)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COALESCE(sum(gen), 0) FROM %s.user_state", s);
    return count(sql);
}

/* ---- tests ---- */

static int setup(void **state)
{
    (void)state;
    itest_db_create(&g_db, "iaiproj");
    build_stream();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g_n; i++)
        tm_event_dispose(&g_ev[i]);
    itest_db_drop(&g_db);
    return 0;
}

static void test_batches_equal_one_by_one(void **state)
{
    (void)state;
    tm_pg_t *ref = open_schema("ai_one");
    bool bad_ref[MAX_EVENTS];
    user_set_t told_ref = {0};
    apply_one_by_one(ref, bad_ref, &told_ref);
    check_reference("ai_one");
    check_ring("ai_one");
    static const size_t sizes[] = {1, 2, 3, 5, 8, MAX_EVENTS};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        char schema[32];
        snprintf(schema, sizeof schema, "ai_batch_%zu", sizes[k]);
        tm_pg_t *pg = open_schema(schema);
        bool bad[MAX_EVENTS];
        user_set_t users = {0};
        int64_t gens_want[NUSERS] = {0};
        size_t reported = apply_batches(pg, sizes[k], bad, &users, gens_want);
        for (int u = 0; u < NUSERS; u++)
            assert_int_equal(gen_of(schema, u), gens_want[u]);
        if (sizes[k] == 1) /* a batch of one bumps and logs exactly as the event alone */
            assert_int_equal(
                differ("ai_one", schema, "user_id, gen", "user_state") +
                    differ("ai_one", schema, "user_id, slot, gen, task_id", "user_changes"),
                0);
        for (size_t i = 0; i < g_n; i++)
            assert_int_equal(bad[i], bad_ref[i]);
        assert_int_equal(users.n, told_ref.n);
        for (size_t i = 0; i < users.n; i++)
            assert_true(told(&told_ref, users.ids[i]));
        check_same_tables("ai_one", schema);
        check_reads(ref, pg);
        /* redelivery of the whole stream: nothing changes, nobody is told */
        long before = gens(schema);
        user_set_t again = {0};
        int64_t none[NUSERS] = {0};
        g_expect = g_nothing;
        assert_int_equal(apply_batches(pg, MAX_EVENTS, bad, &again, none), 0);
        g_expect = g_touched;
        assert_int_equal(gens(schema), before);
        check_same_tables("ai_one", schema);
        assert_true(reported >= users.n);
        tm_pg_free(pg);
    }
    tm_pg_free(ref);
}

/* A batch Postgres refuses (here a trigger refuses one task) applies nothing and leaves the
 * connection usable; the events before the refused one then apply on their own. */
static void test_refused_batch_applies_nothing(void **state)
{
    (void)state;
    tm_pg_t *pg = open_schema("ai_refused");
    itest_sql(g_db.conninfo,
              "CREATE FUNCTION ai_refused.refuse() RETURNS trigger LANGUAGE plpgsql AS "
              "$$BEGIN RAISE EXCEPTION 'refused'; END$$; CREATE TRIGGER refuse BEFORE INSERT ON "
              "ai_refused.tasks FOR EACH ROW WHEN (NEW.title = 't1 v1') EXECUTE FUNCTION "
              "ai_refused.refuse()");
    const tm_event_t *evs[8];
    for (size_t i = 0; i < 8; i++)
        evs[i] = &g_ev[i]; /* t0's create and update, then t1's create (refused) */
    bool bad[8];
    ai_users_t u;
    user_set_t before = {0};
    assert_int_equal(ai_projection_apply_batch(pg, evs, 8, bad, &u, before_commit_batch, &before),
                     TM_ERR_PG);
    assert_int_equal(u.n, 0);
    assert_int_equal(count("SELECT count(*) FROM ai_refused.processed_events"), 0);
    assert_int_equal(count("SELECT count(*) FROM ai_refused.tasks"), 0);
    assert_int_equal(count("SELECT count(*) FROM ai_refused.user_state"), 0);
    assert_int_equal(ai_projection_apply_batch(pg, evs, 6, bad, &u, NULL, NULL), 0);
    assert_int_equal(u.n, 3); /* t0's creator and both its assignees */
    ai_users_dispose(&u);
    assert_int_equal(count("SELECT count(*) FROM ai_refused.tasks"), 1);
    tm_pg_free(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_equal_one_by_one),
        cmocka_unit_test(test_refused_batch_applies_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
