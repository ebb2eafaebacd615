/* Integration: the built tm-realtime binary (path from CMake): bad configuration, and a
 * full start -> ready -> health -> SIGTERM -> exit 0 cycle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "itest.h"
#include "tm_subjects.h"

#ifndef TM_REALTIME_BIN
#error "TM_REALTIME_BIN must be defined by CMake"
#endif

#define DAEMON_ADMIN_PORT itest_port(ITEST_PORT_DAEMON)

extern char **environ;

/* Starts the daemon with extra environment entries; its stderr goes to err_fd's pipe. */
static pid_t spawn_daemon(char *const *extra_env, int *err_fd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    char *envp[64];
    size_t n = 0;
    for (char **e = environ; *e && n < 40; e++)
        if (itest_env_inherited(*e))
            envp[n++] = *e;
    for (size_t i = 0; extra_env[i] && n < 63; i++)
        envp[n++] = extra_env[i];
    envp[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    pid_t pid = -1;
    char *argv[] = {TM_REALTIME_BIN, NULL};
    assert_int_equal(posix_spawn(&pid, TM_REALTIME_BIN, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    *err_fd = p[0];
    return pid;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    return got;
}

static char env_nats[512], env_pg[512];

static int setup(void **state)
{
    (void)state;
    snprintf(env_nats, sizeof env_nats, "TM_NATS_URL=%s", itest_env("TM_TEST_NATS_URL"));
    snprintf(env_pg, sizeof env_pg, "TM_PG_URL=%s", itest_env("TM_TEST_PG_URL"));
    return 0;
}

static void test_bad_admin_port_exits_naming_variable(void **state)
{
    (void)state;
    char *extra[] = {env_nats, env_pg, "TM_ADMIN_PORT=abc", NULL};
    int fd;
    pid_t pid = spawn_daemon(extra, &fd);
    char err[4096];
    read_all(fd, err, sizeof err);
    close(fd);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_non_null(strstr(err, "TM_ADMIN_PORT"));
}

static void test_missing_required_variable(void **state)
{
    (void)state;
    char *extra[] = {env_nats, NULL};
    int fd;
    pid_t pid = spawn_daemon(extra, &fd);
    char err[4096];
    read_all(fd, err, sizeof err);
    close(fd);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_non_null(strstr(err, "TM_PG_URL"));
}

static void test_starts_serves_health_and_stops_on_sigterm(void **state)
{
    (void)state;
    char port[32];
    snprintf(port, sizeof port, "TM_ADMIN_PORT=%d", DAEMON_ADMIN_PORT);
    char *extra[] = {env_nats, env_pg, port, "TM_WORKERS=2", "TM_DRAIN_TIMEOUT=2s", NULL};
    static char buf[16384];
    if (itest_http(DAEMON_ADMIN_PORT, "GET", "/healthz", buf, sizeof buf) != -1)
        fail_msg("port %d is in use by another process; cannot test the daemon", DAEMON_ADMIN_PORT);
    int fd;
    pid_t pid = spawn_daemon(extra, &fd);
    int status = -1;
    for (int i = 0; i < 100 && status != 200; i++) {
        usleep(100 * 1000);
        status = itest_http(DAEMON_ADMIN_PORT, "GET", "/readyz", buf, sizeof buf);
    }
    assert_int_equal(status, 200);

    natsConnection *nc = NULL;
    tm_nats_opts_t o = {.send_asap = true};
    assert_int_equal(tm_nats_connect(itest_env("TM_TEST_NATS_URL"), &o, &nc), TM_OK);
    int st = 0;
    json_t *reply = NULL;
    assert_int_equal(
        tm_nats_request_json(nc, TM_SUBJ_REALTIME_HEALTH, NULL, NULL, 2000, &st, &reply), TM_OK);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(reply, "service")), "realtime");
    json_decref(reply);
    natsConnection_Destroy(nc);

    assert_int_equal(kill(pid, SIGTERM), 0);
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    read_all(fd, buf, sizeof buf);
    close(fd);
    if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)
        fprintf(stderr, "tm-realtime stderr:\n%s\n", buf);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    assert_int_equal(itest_http(DAEMON_ADMIN_PORT, "GET", "/healthz", buf, sizeof buf), -1);
}

int main(void)
{
    tm_log_init("itest", TM_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_admin_port_exits_naming_variable),
        cmocka_unit_test(test_missing_required_variable),
        cmocka_unit_test(test_starts_serves_health_and_stops_on_sigterm),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    nats_Close();
    return rc;
}
