/* itest_daemon: the one copy of what integration tests need to run our real daemons next to
 * the real nats-server and Postgres of TM_TEST_NATS_URL / TM_TEST_PG_URL: a database of their
 * own, an ES256 key pair, posix_spawn of a built binary with a clean TM_* environment, the
 * wait for /readyz and SIGTERM + waitpid at the end.
 *
 * Compiled into each test binary that needs it (tm_integration_test SOURCES). Main thread
 * only. Errors fail the current cmocka test or fixture (cmocka asserts), never return.
 *
 * Cleanup even when an assertion fails: every process started here and every database and
 * key created here is recorded; itest_cleanup_all() (installed with atexit() on first use)
 * stops the processes that still run, then drops the databases and removes the keys. On
 * SIGTERM/SIGINT/SIGHUP the recorded processes get SIGTERM before the signal's default
 * action. Group teardowns should still stop their daemons
 * themselves (itest_task_stop) so a clean exit status can be asserted. */
#ifndef ITEST_DAEMON_H
#define ITEST_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ITEST_READY_TIMEOUT_MS 60000

/* A database created from TM_TEST_PG_URL for one test run. */
typedef struct {
    char name[64];       /* unique per run */
    char conninfo[1024]; /* TM_TEST_PG_URL with dbname = name */
} itest_db_t;

/* conninfo of base (a libpq URI or conninfo) with dbname replaced by db. */
void itest_conninfo_with_db(const char *base, const char *db, char *out, size_t cap);
/* Run one command (no result rows) on conninfo; fails the test on error. */
void itest_sql(const char *conninfo, const char *sql);
/* First column of the first row of a query as text into out ("" when no row). */
void itest_query1(const char *conninfo, const char *sql, char *out, size_t cap);

/* CREATE DATABASE <prefix>_<pid>_<hex> on TM_TEST_PG_URL; recorded for cleanup. */
void itest_db_create(itest_db_t *db, const char *prefix);
/* DROP DATABASE IF EXISTS (WITH FORCE); no-op on an empty or dropped db. */
void itest_db_drop(itest_db_t *db);

/* Write a fresh EC P-256 private key (PEM) to path with openssl; recorded for cleanup. */
void itest_ec_key(const char *path);

/* posix_spawn argv[0] (absolute path, or searched in PATH) with this process's environment
 * minus every TM_* entry, plus extra_env (NULL-terminated, may be NULL). stdout and stderr
 * go to log_path (truncated). The pid is recorded for cleanup. */
pid_t itest_spawn(char *const argv[], char *const extra_env[], const char *log_path);
/* itest_spawn, then wait for the process to end; returns the waitpid status. */
int itest_run(char *const argv[], char *const extra_env[], const char *log_path);
/* Poll GET /readyz on 127.0.0.1:admin_port until 200; false after timeout_ms or when the
 * process pid (if > 0) has exited. */
bool itest_wait_ready(int admin_port, pid_t pid, int64_t timeout_ms);
/* SIGTERM, wait up to 20 s, then SIGKILL. Returns the waitpid status (-1 when *pid <= 0);
 * sets *pid = -1. */
int itest_stop(pid_t *pid);
/* True when a waitpid status is a normal exit with code 0. */
bool itest_exited_clean(int status);

/* A real tm-task: own database, own key pair, own admin port, log file. */
typedef struct {
    pid_t pid;
    int admin_port;
    itest_db_t db;
    char keyfile[128];
    char log[160];
} itest_task_t;

/* The two halves of itest_task_start, for a test that must touch the database (for example
 * hold a lock) before the daemon runs: prepare creates the database and key only. */
void itest_task_prepare(itest_task_t *t, int admin_port);
void itest_task_spawn(itest_task_t *t, const char *bin, char *const extra_env[]);
/* Create the database and key, spawn bin with TM_NATS_URL=$TM_TEST_NATS_URL, TM_PG_URL,
 * TM_JWT_PRIVATE_KEY_FILE, TM_ADMIN_PORT, cheap Argon2 settings, TM_LOG_LEVEL=warn and
 * extra_env (may be NULL; later entries win), and wait until it is ready. */
void itest_task_start(itest_task_t *t, const char *bin, int admin_port, char *const extra_env[]);
/* Stop the daemon, drop its database, remove its key. Returns true when the daemon
 * exited with status 0 (false also when it was not running). Safe to call twice. */
bool itest_task_stop(itest_task_t *t);

/* Stop every recorded process still running, drop recorded databases, remove keys.
 * Idempotent. */
void itest_cleanup_all(void);

#endif
