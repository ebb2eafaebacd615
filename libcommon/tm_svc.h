/* tm_svc: the service harness shared by tm-task, tm-realtime and tm-ai.
 *
 * A service declares routes (subject -> handler). tm_svc_start() connects to NATS and
 * Postgres, applies the service's migrations, subscribes every route subject with the queue
 * group named after the service (so replicas share the load), and runs N worker threads,
 * each with its own tm_pg_t. Messages go through one bounded queue (cap -> 503 reply).
 * A request whose Tm-Deadline has passed is dropped without work. A handler that returns an
 * error gets a problem reply built from the error code; a handler never takes the process
 * down. cfg->health_subject is answered by every replica (plain subscription) with
 * {service, version, uptime_s, nats, postgres, workers, queued, inflight}.
 *
 * Threads: handlers run on worker threads; everything else is internal. */
#ifndef TM_SVC_H
#define TM_SVC_H

#include <jansson.h>
#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"
#include "tm_json.h"
#include "tm_nats.h"
#include "tm_pg.h"

typedef struct tm_svc tm_svc_t;

/* One worker thread's context. */
typedef struct {
    tm_svc_t *svc;
    int index;          /* 0..workers-1 */
    tm_pg_t *pg;        /* this worker's connection (NULL if the service has no schema) */
    natsConnection *nc; /* the service's request/reply connection (shared, thread-safe) */
    void *user;         /* set by worker_init, freed by worker_dispose */
} tm_svc_worker_t;

/* A request as the handler sees it. Everything is borrowed for the handler's duration. */
typedef struct {
    natsMsg *msg;
    const char *subject;
    const char *body; /* raw body bytes (not NUL-terminated for raw routes) */
    size_t body_len;
    json_t *json;   /* parsed object for JSON routes; NULL when the body was empty */
    tm_call_t call; /* Tm-Request-Id, Tm-User-Id, ... */
} tm_svc_req_t;

#define TM_SVC_MAX_REPLY_HEADERS 8

/* What the handler fills. Either json (owned; decref'd by the harness) or raw bytes
 * (raw is owned and free()d by the harness). status defaults to 200. */
typedef struct {
    int status;
    json_t *json;
    char *raw;
    size_t raw_len;
    int nheaders;
    struct {
        char *name;
        char *value;
    } headers[TM_SVC_MAX_REPLY_HEADERS]; /* owned copies */
    void (*after_txn)(void *arg);        /* see tm_svc_after_txn */
    void *after_arg;
} tm_svc_reply_t;

typedef int (*tm_svc_handler_fn)(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);

typedef struct {
    const char *subject; /* exact subject, e.g. TM_SUBJ_AUTH_LOGIN */
    tm_svc_handler_fn fn;
    bool raw_body;   /* do not parse the body as JSON */
    size_t max_body; /* 0 -> 64 KiB; larger bodies get 413 */
    bool idempotent; /* mutation: honours Idempotency-Key (see below) */
    /* Optional: answer from memory on the NATS reader thread, before the request is queued
     * for a worker — saves the hand-off (a wake-up, a context switch) when the answer is at
     * hand. Must not block or touch Postgres; returns false (rep untouched) to queue the
     * request as usual. req->json is parsed as for the handler; not called for requests
     * with an Idempotency-Key, a body over max_body or one that is not valid JSON (the
     * worker answers those). */
    bool (*fast)(const tm_svc_req_t *req, tm_svc_reply_t *rep);
} tm_svc_route_t;

/* Idempotency (routes with idempotent=true and a request carrying Idempotency-Key, for
 * services with a schema): the harness opens a transaction, takes
 * pg_try_advisory_xact_lock(user, key) (busy -> 409 "in flight"), looks the key up in
 * <schema>.idempotency_keys (created by the harness): same request hash -> the stored reply
 * is replayed with header Idempotent-Replayed: true; other hash -> 422. Otherwise the
 * handler runs INSIDE that transaction (its tm_pg_begin/commit become savepoints), and a
 * reply < 500 is stored with the key before the one COMMIT; a 5xx rolls everything back.
 * Keys expire after 24 h. So a handler writes exactly as it would without a key. */

/* A core-NATS broadcast every replica obeys (a plain subscription, no queue group), handled
 * on the NATS reader thread before the requests read with it: a request that reaches this
 * replica after the notice (the server sends both down one connection, in order) sees its
 * effect — which an async subscription, delivered on a thread of its own, cannot promise.
 * fn gets the config's arg; it must be quick and must not block. */
typedef struct {
    const char *subject;
    void (*fn)(const char *data, int len, void *arg);
} tm_svc_notice_t;

typedef struct {
    const char *name;           /* "task": queue group and log svc */
    const char *health_subject; /* TM_SUBJ_TASK_HEALTH, ... (plain subscription) */
    const char *nats_url;
    const char *pg_conninfo;    /* NULL -> no Postgres */
    const char *schema;         /* "task" */
    const char *migrations_dir; /* NULL -> none */
    int workers;                /* >= 1 */
    int queue_cap;              /* max queued requests before 503 */
    int64_t drain_timeout_ms;
    int admin_port; /* 0 -> no admin listener */
    const tm_pg_stmt_t *stmts;
    size_t nstmts; /* prepared on every worker connection */
    const tm_svc_route_t *routes;
    size_t nroutes;
    const tm_svc_notice_t *notices; /* optional */
    size_t nnotices;
    /* Optional per-worker set-up/tear-down (on the worker thread). */
    int (*worker_init)(tm_svc_worker_t *w, void *arg);
    void (*worker_dispose)(tm_svc_worker_t *w, void *arg);
    void *arg;
    /* Optional extra fields for the health reply (called on a NATS thread). */
    void (*health_extra)(json_t *out, void *arg);
} tm_svc_config_t;

/* Create, connect, migrate, subscribe, start workers. cfg (and the tables it points to)
 * must outlive the service. Returns NULL after logging why. */
tm_svc_t *tm_svc_start(const tm_svc_config_t *cfg);
/* Stop taking work (unsubscribe, /readyz 503), finish queued and running requests within
 * drain_timeout_ms, drain NATS, close Postgres, join workers, free. NULL ok. */
void tm_svc_stop(tm_svc_t *svc);
natsConnection *tm_svc_nats(tm_svc_t *svc);
const tm_svc_config_t *tm_svc_config(tm_svc_t *svc);

/* Reply helpers (usable from handlers). They replace what rep held. */
void tm_svc_reply_json(tm_svc_reply_t *rep, int status, json_t *body /* stolen */);
/* Problem reply: status, slug (NULL -> by status), detail (printf), instance = request id. */
void tm_svc_reply_problem(tm_svc_reply_t *rep, const tm_svc_req_t *req, int status,
                          const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 400 validation problem listing errs. */
void tm_svc_reply_invalid(tm_svc_reply_t *rep, const tm_svc_req_t *req,
                          const tm_json_errors_t *errs);
void tm_svc_reply_header(tm_svc_reply_t *rep, const char *name, const char *value);
/* JSON reply from text the handler wrote itself (stolen, free()d; Content-Type
 * application/json, or problem+json for status >= 400). */
void tm_svc_reply_json_text(tm_svc_reply_t *rep, int status, char *text, size_t len);
/* Run fn(arg) once the request's transaction has ended — after the harness's own COMMIT or
 * ROLLBACK when it wraps the handler (Idempotency-Key), committed or not — and before the
 * reply is sent. For what must follow a COMMIT (telling other replicas to drop what they
 * cached): a handler's own tm_pg_commit is only a savepoint inside the harness's
 * transaction. arg is free()d after the call. One per reply: a second call replaces the
 * first (whose arg is freed unrun). */
void tm_svc_after_txn(tm_svc_reply_t *rep, void (*fn)(void *arg), void *arg);

/* Convenience: parse-check the request JSON against fields; on failure fills rep with the
 * 400 problem and returns TM_ERR_INVALID (the handler then returns 0). A missing body is
 * treated as {}. */
int tm_svc_check_body(const tm_svc_req_t *req, tm_svc_reply_t *rep, const tm_json_field_t *fields,
                      size_t n) TM_WUR;

#endif
