/* itest_daemon: see itest_daemon.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "itest.h"
#include "itest_daemon.h"

#define MAX_PROCS    16
#define MAX_DBS      8
#define MAX_KEYS     8
#define MAX_ENV      128
#define STOP_WAIT_MS 20000

extern char **environ;

/* What cleanup must undo; main thread only (the signal handler reads procs[] only). */
static volatile pid_t g_procs[MAX_PROCS];
static char g_dbs[MAX_DBS][64];
static char g_keys[MAX_KEYS][128];
static bool g_installed;

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (g_procs[i] > 0)
            kill(g_procs[i], SIGTERM);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_cleanup(void)
{
    if (g_installed)
        return;
    g_installed = true;
    atexit(itest_cleanup_all);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], on_fatal_signal);
}

static void record_proc(pid_t pid)
{
    install_cleanup();
    for (int i = 0; i < MAX_PROCS; i++)
        if (g_procs[i] <= 0) {
            g_procs[i] = pid;
            return;
        }
    fail_msg("itest: more than %d processes", MAX_PROCS);
}

static void forget_proc(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (g_procs[i] == pid)
            g_procs[i] = 0;
}

static void record_name(char *base, size_t n, size_t width, const char *name)
{
    install_cleanup();
    for (size_t i = 0; i < n; i++)
        if (base[i * width] == '\0') {
            snprintf(base + i * width, width, "%s", name);
            return;
        }
    fail_msg("itest: too many recorded names");
}

static void forget_name(char *base, size_t n, size_t width, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(base + i * width, name) == 0)
            base[i * width] = '\0';
}

/* ---- Postgres ---- */

void itest_conninfo_with_db(const char *base, const char *db, char *out, size_t cap)
{
    PQconninfoOption *opts = PQconninfoParse(base, NULL);
    assert_non_null(opts);
    size_t n = 0;
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = strcmp(o->keyword, "dbname") == 0 ? db : o->val;
        if (v && *v)
            n += (size_t)snprintf(out + n, cap - n, "%s='%s' ", o->keyword, v);
        assert_true(n < cap);
    }
    PQconninfoFree(opts);
}

void itest_sql(const char *conninfo, const char *sql)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
        PQfinish(c);
        fail_msg("connect: %s", msg);
    }
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok)
        fail_msg("%s: %s", sql, msg);
}

void itest_query1(const char *conninfo, const char *sql, char *out, size_t cap)
{
    PGconn *c = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok)
        snprintf(out, cap, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    if (!ok)
        fail_msg("query failed: %s", sql);
}

void itest_db_create(itest_db_t *db, const char *prefix)
{
    memset(db, 0, sizeof *db);
    itest_unique(prefix, db->name, sizeof db->name);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    itest_sql(itest_env("TM_TEST_PG_URL"), sql);
    record_name((char *)g_dbs, MAX_DBS, sizeof g_dbs[0], db->name);
    itest_conninfo_with_db(itest_env("TM_TEST_PG_URL"), db->name, db->conninfo,
                           sizeof db->conninfo);
}

/* Drop without cmocka asserts (also used from atexit). */
static bool drop_db(const char *name)
{
    const char *url = getenv("TM_TEST_PG_URL");
    if (!name[0] || !url)
        return true;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "itest: %s failed: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok;
}

void itest_db_drop(itest_db_t *db)
{
    if (!db->name[0])
        return;
    assert_true(drop_db(db->name));
    forget_name((char *)g_dbs, MAX_DBS, sizeof g_dbs[0], db->name);
    db->name[0] = '\0';
}

void itest_ec_key(const char *path)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
             "-out '%s' 2>/dev/null",
             path);
    record_name((char *)g_keys, MAX_KEYS, sizeof g_keys[0], path);
    assert_int_equal(system(cmd), 0);
}

/* ---- processes ---- */

pid_t itest_spawn(char *const argv[], char *const extra_env[], const char *log_path)
{
    char *envp[MAX_ENV];
    size_t n = 0;
    for (char **e = environ; *e && n < MAX_ENV / 2; e++)
        if (itest_env_inherited(*e))
            envp[n++] = *e;
    for (size_t i = 0; extra_env && extra_env[i] && n < MAX_ENV - 1; i++)
        envp[n++] = extra_env[i];
    envp[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = argv[0][0] == '/' ? posix_spawn(&pid, argv[0], &fa, NULL, argv, envp)
                               : posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("posix_spawn %s: %s", argv[0], strerror(rc));
    record_proc(pid);
    return pid;
}

int itest_run(char *const argv[], char *const extra_env[], const char *log_path)
{
    pid_t pid = itest_spawn(argv, extra_env, log_path);
    int st = -1;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    forget_proc(pid);
    return st;
}

bool itest_wait_ready(int admin_port, pid_t pid, int64_t timeout_ms)
{
    char buf[2048];
    int64_t end = tm_now_ms() + timeout_ms;
    while (tm_now_ms() < end) {
        if (itest_http(admin_port, "GET", "/readyz", buf, sizeof buf) == 200)
            return true;
        int st;
        if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "itest: pid %d exited (status %d) before ready\n", (int)pid, st);
            forget_proc(pid);
            return false;
        }
        usleep(100 * 1000);
    }
    return false;
}

/* waitpid with a deadline; -1 when still running after ms. */
static int wait_ms(pid_t pid, int64_t ms, int *status)
{
    int64_t end = tm_now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return r == pid ? 0 : -1;
        if (tm_now_ms() >= end)
            return -1;
        usleep(20 * 1000);
    }
}

int itest_stop(pid_t *pid)
{
    if (!pid || *pid <= 0)
        return -1;
    int st = -1;
    kill(*pid, SIGTERM);
    if (wait_ms(*pid, STOP_WAIT_MS, &st) != 0) {
        fprintf(stderr, "itest: pid %d ignored SIGTERM for %d ms: SIGKILL\n", (int)*pid,
                STOP_WAIT_MS);
        kill(*pid, SIGKILL);
        waitpid(*pid, &st, 0);
        st = -1;
    }
    forget_proc(*pid);
    *pid = -1;
    return st;
}

bool itest_exited_clean(int status)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- tm-task ---- */

void itest_task_prepare(itest_task_t *t, int admin_port)
{
    memset(t, 0, sizeof *t);
    t->pid = -1;
    t->admin_port = admin_port;
    itest_db_create(&t->db, "itask");
    snprintf(t->keyfile, sizeof t->keyfile, "/tmp/%s.pem", t->db.name);
    snprintf(t->log, sizeof t->log, "/tmp/itest_task_%d.log", admin_port);
    itest_ec_key(t->keyfile);
}

void itest_task_spawn(itest_task_t *t, const char *bin, char *const extra_env[])
{
    static char e_nats[512], e_pg[1100], e_key[160], e_port[32];
    snprintf(e_nats, sizeof e_nats, "TM_NATS_URL=%s", itest_env("TM_TEST_NATS_URL"));
    snprintf(e_pg, sizeof e_pg, "TM_PG_URL=%s", t->db.conninfo);
    snprintf(e_key, sizeof e_key, "TM_JWT_PRIVATE_KEY_FILE=%s", t->keyfile);
    snprintf(e_port, sizeof e_port, "TM_ADMIN_PORT=%d", t->admin_port);
    char *env[MAX_ENV / 2] = {
        e_nats, e_pg, e_key, e_port, "TM_ARGON2_M_KIB=8192", "TM_ARGON2_T=1", "TM_LOG_LEVEL=warn"};
    size_t n = 7;
    for (size_t i = 0; extra_env && extra_env[i] && n < MAX_ENV / 2 - 1; i++)
        env[n++] = extra_env[i];
    env[n] = NULL;
    char *argv[] = {(char *)bin, NULL};
    t->pid = itest_spawn(argv, env, t->log);
    if (!itest_wait_ready(t->admin_port, t->pid, ITEST_READY_TIMEOUT_MS))
        fail_msg("tm-task not ready on admin port %d (log: %s)", t->admin_port, t->log);
}

void itest_task_start(itest_task_t *t, const char *bin, int admin_port, char *const extra_env[])
{
    itest_task_prepare(t, admin_port);
    itest_task_spawn(t, bin, extra_env);
}

bool itest_task_stop(itest_task_t *t)
{
    bool running = t->pid > 0;
    int st = itest_stop(&t->pid);
    bool clean = running && itest_exited_clean(st);
    if (running && !clean)
        fprintf(stderr, "itest: tm-task did not exit cleanly (status %d, log: %s)\n", st, t->log);
    if (t->db.name[0] && drop_db(t->db.name)) {
        forget_name((char *)g_dbs, MAX_DBS, sizeof g_dbs[0], t->db.name);
        t->db.name[0] = '\0';
    }
    if (t->keyfile[0]) {
        unlink(t->keyfile);
        forget_name((char *)g_keys, MAX_KEYS, sizeof g_keys[0], t->keyfile);
        t->keyfile[0] = '\0';
    }
    return clean;
}

void itest_cleanup_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        pid_t p = g_procs[i];
        if (p > 0)
            itest_stop(&p);
        g_procs[i] = 0;
    }
    for (int i = 0; i < MAX_DBS; i++)
        if (g_dbs[i][0] && drop_db(g_dbs[i]))
            g_dbs[i][0] = '\0';
    for (int i = 0; i < MAX_KEYS; i++)
        if (g_keys[i][0]) {
            unlink(g_keys[i]);
            g_keys[i][0] = '\0';
        }
}
