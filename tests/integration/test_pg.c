/* Integration: tm_pg migrations under concurrency, nested transactions, reconnect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <sys/wait.h>

#include "itest.h"
#include "tm_pg.h"

static const char *pg_url;
static char schema[64];
static char dir[128];

static PGconn *admin_conn(void)
{
    PGconn *c = PQconnectdb(pg_url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    return c;
}

static long scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static int setup(void **state)
{
    (void)state;
    pg_url = itest_env("TM_TEST_PG_URL");
    itest_unique("it_pg", schema, sizeof schema);
    snprintf(dir, sizeof dir, "/tmp/%s", schema);
    mkdir(dir, 0755);
    itest_write(dir, "001_first.sql", "CREATE TABLE items (id serial PRIMARY KEY, v int);");
    /* The sleep widens the window in which two runners would both apply it. */
    itest_write(dir, "002_second.sql",
                "SELECT pg_sleep(0.3); CREATE TABLE other (id int); INSERT INTO other VALUES (1);");
    itest_write(dir, "010_tenth.sql", "ALTER TABLE other ADD COLUMN note text;");
    itest_write(dir, "README", "not a migration");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PGconn *c = PQconnectdb(pg_url);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_migrate_concurrently_applies_once(void **state)
{
    (void)state;
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        kids[i] = fork();
        assert_true(kids[i] >= 0);
        if (kids[i] == 0) {
            int applied = -1;
            int rc = tm_pg_migrate(pg_url, schema, dir, &applied);
            _exit(rc == TM_OK ? applied : 100);
        }
    }
    int total = 0;
    for (int i = 0; i < 2; i++) {
        int st = 0;
        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
        assert_true(WIFEXITED(st));
        assert_true(WEXITSTATUS(st) <= 3);
        total += WEXITSTATUS(st);
    }
    assert_int_equal(total, 3);
    PGconn *c = admin_conn();
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.schema_migrations", schema);
    assert_int_equal(scalar(c, sql), 3);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.other", schema);
    assert_int_equal(scalar(c, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT string_agg(name, ',' ORDER BY version) FROM %s.schema_migrations", schema);
    PGresult *r = PQexec(c, sql);
    assert_string_equal(PQgetvalue(r, 0, 0), "001_first.sql,002_second.sql,010_tenth.sql");
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'"
             " AND table_name = 'idempotency_keys'",
             schema);
    assert_int_equal(scalar(c, sql), 1);
    PQfinish(c);

    int applied = -1;
    assert_int_equal(tm_pg_migrate(pg_url, schema, dir, &applied), TM_OK);
    assert_int_equal(applied, 0);
}

static void test_migrate_refuses_renamed_file(void **state)
{
    (void)state;
    char other[160];
    snprintf(other, sizeof other, "%s/renamed", dir);
    mkdir(other, 0755);
    itest_write(other, "001_renamed.sql", "SELECT 1;");
    int applied = -1;
    assert_int_equal(tm_pg_migrate(pg_url, schema, other, &applied), TM_ERR_CONFLICT);
    assert_int_equal(applied, 0);
}

static void test_migrate_failed_file_is_not_recorded(void **state)
{
    (void)state;
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad", dir);
    mkdir(bad, 0755);
    char bad_schema[80];
    snprintf(bad_schema, sizeof bad_schema, "%s_b", schema);
    itest_write(bad, "001_ok.sql", "CREATE TABLE a (id int);");
    itest_write(bad, "002_broken.sql", "CREATE TABLE b (id int); SELEC oops;");
    int applied = -1;
    assert_int_equal(tm_pg_migrate(pg_url, bad_schema, bad, &applied), TM_ERR_PG);
    assert_int_equal(applied, 1);
    PGconn *c = admin_conn();
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.schema_migrations", bad_schema);
    assert_int_equal(scalar(c, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'"
             " AND table_name = 'b'",
             bad_schema);
    assert_int_equal(scalar(c, sql), 0);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", bad_schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

static const tm_pg_stmt_t stmts[] = {
    {"ins", "INSERT INTO items (v) VALUES ($1::int)", 1},
    {"sum", "SELECT coalesce(sum(v), 0)::text, count(*)::text FROM items", 0},
    {"del", "DELETE FROM items", 0},
    {"pid", "SELECT pg_backend_pid()", 0},
};

static void ins(tm_pg_t *pg, const char *v)
{
    const char *p[] = {v};
    assert_int_equal(tm_pg_exec(pg, "ins", 1, p, NULL, NULL), TM_OK);
}

static long sum(tm_pg_t *pg)
{
    PGresult *r = NULL;
    assert_int_equal(tm_pg_exec(pg, "sum", 0, NULL, &r, NULL), TM_OK);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void test_nested_transactions(void **state)
{
    (void)state;
    tm_pg_t *pg = tm_pg_new(pg_url, schema, stmts, 4);
    assert_int_equal(tm_pg_exec(pg, "del", 0, NULL, NULL, NULL), TM_OK);
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    ins(pg, "1");
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    assert_int_equal(tm_pg_txn_depth(pg), 2);
    ins(pg, "10");
    tm_pg_rollback(pg); /* undoes 10 only */
    assert_int_equal(tm_pg_txn_depth(pg), 1);
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    ins(pg, "100");
    char ss[6] = "";
    /* A failing statement in a savepoint does not spoil the outer transaction. */
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    assert_int_equal(tm_pg_exec_sql(pg, "SELECT 1/0", ss), TM_ERR_PG);
    assert_string_equal(ss, "22012");
    tm_pg_rollback(pg);
    assert_int_equal(tm_pg_commit(pg, NULL), TM_OK);
    assert_int_equal(tm_pg_commit(pg, NULL), TM_OK);
    assert_int_equal(tm_pg_txn_depth(pg), 0);
    assert_int_equal(sum(pg), 101);

    /* Commit of an aborted transaction is reported and leaves nothing behind. */
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    ins(pg, "1000");
    assert_int_equal(tm_pg_exec_sql(pg, "SELECT 1/0", NULL), TM_ERR_PG);
    assert_int_equal(tm_pg_commit(pg, ss), TM_ERR_PG);
    assert_string_equal(ss, "25P02");
    tm_pg_rollback(pg); /* customary after a failed commit: must be harmless */
    assert_int_equal(tm_pg_txn_depth(pg), 0);
    assert_int_equal(sum(pg), 101);

    /* A rolled-back outer transaction drops its committed savepoints. */
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    assert_int_equal(tm_pg_begin(pg), TM_OK);
    ins(pg, "5");
    assert_int_equal(tm_pg_commit(pg, NULL), TM_OK);
    tm_pg_rollback(pg);
    assert_int_equal(sum(pg), 101);
    tm_pg_free(pg);
}

static void test_reconnects_after_backend_killed(void **state)
{
    (void)state;
    tm_pg_t *pg = tm_pg_new(pg_url, schema, stmts, 4);
    assert_int_equal(tm_pg_ensure(pg), TM_OK);
    PGresult *r = NULL;
    assert_int_equal(tm_pg_exec(pg, "pid", 0, NULL, &r, NULL), TM_OK);
    char pid[16];
    snprintf(pid, sizeof pid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PGconn *c = admin_conn();
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", pid);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    usleep(100 * 1000);
    assert_int_equal(tm_pg_exec(pg, "pid", 0, NULL, &r, NULL), TM_OK);
    assert_string_not_equal(PQgetvalue(r, 0, 0), pid);
    PQclear(r);
    assert_true(tm_pg_is_up(pg));
    tm_pg_free(pg);
}

static void test_unreachable_server_is_unavailable(void **state)
{
    (void)state;
    tm_pg_t *pg = tm_pg_new("postgresql://nobody@127.0.0.1:1/none", "x", NULL, 0);
    char ss[6] = "";
    assert_int_equal(tm_pg_exec_sql(pg, "SELECT 1", ss), TM_ERR_UNAVAILABLE);
    assert_false(tm_pg_is_up(pg));
    tm_pg_free(pg);
}

int main(void)
{
    tm_log_init("itest", TM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_concurrently_applies_once),
        cmocka_unit_test(test_migrate_refuses_renamed_file),
        cmocka_unit_test(test_migrate_failed_file_is_not_recorded),
        cmocka_unit_test(test_nested_transactions),
        cmocka_unit_test(test_reconnects_after_backend_killed),
        cmocka_unit_test(test_unreachable_server_is_unavailable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
