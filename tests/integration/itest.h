/* itest: helpers shared by the integration tests (real nats-server and Postgres).
 * Header-only on purpose: each test binary includes it once. */
#ifndef ITEST_H
#define ITEST_H

#include <arpa/inet.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "tm_log.h"
#include "tm_nats.h"
#include "tm_util.h"

/* The servers come from the environment; a missing one is a test failure, not a skip. */
static __attribute__((unused)) const char *itest_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr,
                "FAIL: %s is not set. Integration tests need a running nats-server "
                "(JetStream on) and Postgres 15: export TM_TEST_NATS_URL and "
                "TM_TEST_PG_URL (scripts/test.sh does this).\n",
                name);
        exit(1);
    }
    return v;
}

/* Listener ports of the integration tests on 127.0.0.1: TM_TEST_PORT_BASE (default 9210)
 * plus one of the offsets below. Tests run one at a time (RUN_SERIAL), so ports only need to
 * differ inside one test; the base moves them all for people sharing a machine. */
enum {
    ITEST_PORT_TASK = 0,     /* tm-task started by a test */
    ITEST_PORT_AI = 1,       /* tm-ai */
    ITEST_PORT_FAKE_LLM = 2, /* tests/e2e/lib/fake_llm.mjs */
    ITEST_PORT_RT1 = 3,      /* in-process tm-realtime replicas */
    ITEST_PORT_RT2 = 4,
    ITEST_PORT_DAEMON = 5, /* the tm-realtime binary of test_daemon */
    ITEST_PORT_SVC = 6,    /* tm_svc / tm_admin of test_svc */
    ITEST_PORT_SVC2 = 7,
    ITEST_PORT_TASK2 = 8, /* a second tm-task replica on the first one's database */
};

static __attribute__((unused)) int itest_port(int offset)
{
    const char *b = getenv("TM_TEST_PORT_BASE");
    int base = b && *b ? atoi(b) : 9210;
    if (base < 1024 || base > 32000) {
        fprintf(stderr, "FAIL: TM_TEST_PORT_BASE=%s is not a port in 1024..32000\n", b);
        exit(1);
    }
    return base + offset;
}

/* A name unique to this process, for schemas and subjects. */
static __attribute__((unused)) void itest_unique(const char *prefix, char *out, size_t cap)
{
    unsigned char r[4];
    char hex[9];
    tm_random_bytes(r, sizeof r);
    tm_hex_encode(r, sizeof r, hex);
    snprintf(out, cap, "%s_%d_%s", prefix, (int)getpid(), hex);
}

static __attribute__((unused)) void itest_write(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

/* One NATS request with optional idempotency key / deadline; returns the reply message
 * (caller destroys) or NULL on timeout / error. */
static __attribute__((unused)) natsMsg *itest_request(natsConnection *nc, const char *subject,
                                                      const char *body, const char *idem_key,
                                                      int64_t deadline_ms, int64_t timeout_ms)
{
    natsMsg *req = NULL, *rep = NULL;
    if (natsMsg_Create(&req, subject, NULL, body, body ? (int)strlen(body) : 0) != NATS_OK)
        return NULL;
    tm_call_t call;
    memset(&call, 0, sizeof call);
    snprintf(call.request_id, sizeof call.request_id, "it-req");
    snprintf(call.user_id, sizeof call.user_id, "00000000-0000-4000-8000-000000000001");
    if (idem_key)
        snprintf(call.idem_key, sizeof call.idem_key, "%s", idem_key);
    call.deadline_ms = deadline_ms;
    if (tm_nats_set_call_headers(req, &call) != TM_OK)
        abort();
    natsStatus s = natsConnection_RequestMsg(&rep, nc, req, timeout_ms);
    natsMsg_Destroy(req);
    return s == NATS_OK ? rep : NULL;
}

static __attribute__((unused)) int itest_status(natsMsg *m)
{
    const char *v = NULL;
    if (!m || natsMsgHeader_Get(m, TM_HDR_STATUS, &v) != NATS_OK)
        return -1;
    return atoi(v);
}

static __attribute__((unused)) const char *itest_header(natsMsg *m, const char *name)
{
    const char *v = NULL;
    if (!m || natsMsgHeader_Get(m, name, &v) != NATS_OK)
        return NULL;
    return v;
}

/* Plain HTTP/1.1 request to 127.0.0.1:port; fills the whole response into out (NUL
 * terminated) and returns the status code, or -1. */
static __attribute__((unused)) int itest_http(int port, const char *method, const char *path,
                                              char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5}; /* a listener that never answers must not hang us */
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(fd, out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(fd);
    int status = -1;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* What a spawned daemon inherits from the test's environment: the sanitizer options and
 * the basics, never a TM_* variable (each test sets those it means). An allowlist rather than
 * "all but TM_*" so that a large CI environment cannot crowd the sanitizer options out. */
static inline bool itest_env_inherited(const char *e)
{
    static const char *const keep[] = {
        "ASAN_OPTIONS=", "LSAN_OPTIONS=", "UBSAN_OPTIONS=", "PATH=", "HOME=",
        "LANG=",         "TZ=",           "TZDIR="};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strncmp(e, keep[i], strlen(keep[i])) == 0)
            return true;
    return false;
}

#endif
