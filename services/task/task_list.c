/* task_list: GET /api/v1/tasks (tm.v1.task.list) with filters, sorts and keyset cursors.
 *
 * The query is built from fixed fragments only (every value is a bound parameter; sort
 * expressions come from a whitelist), ordered by (sort key, id) so that a cursor names an
 * exact position: rows inserted concurrently never shift a page. The sort expressions match
 * the indexes of migrations/030_list_indexes.sql, which also carry the status and priority
 * filters, so that a filtered page reads about a page of table rows.
 *
 * Cost per 50-row page (it is the hot read of every client): one statement, the caller's
 * membership checked inside it; plain column values in binary format, the JSON written
 * here (task_json_append_binary); a generic plan prepared once per worker. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cursor.h"
#include "task_json.h"
#include "tasks.h"
#include "tm_log.h"
#include "tm_nats.h"
#include "tm_query.h"
#include "tm_util.h"

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT     200
#define LIST_MAX_PARAMS    16
#define LIST_SQL_MAX       2048
#define RANK_EXPR          "ts_rank(t.search, websearch_to_tsquery('english', $%d))"

typedef struct {
    char workspace_id[40], status[16], priority[4], assignee[40], label[64];
    char due_before[40], due_after[40], overdue[8], q[512], sort[16], limit[12];
    char cursor[CURSOR_TOKEN_MAX];
    tm_json_errors_t errs;
} list_query_t;

typedef struct {
    const char *name;
    size_t off, cap;
} qparam_t;

#define QP(f)                                                                                      \
    {                                                                                              \
#f, offsetof(list_query_t, f), sizeof(((list_query_t *)0)->f)                              \
    }
static const qparam_t qparams[] = {
    QP(workspace_id), QP(status),  QP(priority), QP(assignee), QP(label), QP(due_before),
    QP(due_after),    QP(overdue), QP(q),        QP(sort),     QP(limit), QP(cursor),
};

typedef struct {
    const char *name;
    const char *expr;     /* ORDER BY expression (matches an index) */
    const char *key_cast; /* cast of the cursor key parameter */
    bool desc;
    cursor_key_kind_t kind;
} sort_t;

static const sort_t sorts[] = {
    {"created_at", "t.created_at", "timestamptz", false, CURSOR_KEY_TIME},
    {"-created_at", "t.created_at", "timestamptz", true, CURSOR_KEY_TIME},
    {"updated_at", "t.updated_at", "timestamptz", false, CURSOR_KEY_TIME},
    {"-updated_at", "t.updated_at", "timestamptz", true, CURSOR_KEY_TIME},
    {"due_at", "coalesce(t.due_at, 'infinity'::timestamptz)", "timestamptz", false,
     CURSOR_KEY_TIME},
    {"-due_at", "coalesce(t.due_at, '-infinity'::timestamptz)", "timestamptz", true,
     CURSOR_KEY_TIME},
    {"priority", "t.priority", "integer", false, CURSOR_KEY_INT},
    {"-priority", "t.priority", "integer", true, CURSOR_KEY_INT},
    {"rank", NULL, "real", true, CURSOR_KEY_REAL}, /* expression built with q's $n */
};

static int take_param(const char *key, const char *value, void *arg)
{
    list_query_t *lq = arg;
    for (size_t i = 0; i < sizeof qparams / sizeof qparams[0]; i++) {
        if (strcmp(qparams[i].name, key) != 0)
            continue;
        if (strlen(value) >= qparams[i].cap)
            tm_json_errors_add(&lq->errs, key, "is too long");
        else
            memcpy((char *)lq + qparams[i].off, value, strlen(value) + 1);
        return 0;
    }
    tm_json_errors_add(&lq->errs, key, "unknown query parameter");
    return 0;
}

static const sort_t *find_sort(const char *name)
{
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (strcmp(sorts[i].name, name) == 0)
            return &sorts[i];
    return NULL;
}

static bool is_time(const char *s)
{
    int64_t ms;
    return tm_parse_rfc3339(s, &ms) == TM_OK;
}

/* Field-by-field checks of the filters; every problem is named. */
static void validate(list_query_t *lq)
{
    tm_json_errors_t *e = &lq->errs;
    if (lq->workspace_id[0] && !tm_is_uuid(lq->workspace_id))
        tm_json_errors_add(e, "workspace_id", "must be a UUID");
    if (lq->status[0] && strcmp(lq->status, "todo") && strcmp(lq->status, "in_progress") &&
        strcmp(lq->status, "done") && strcmp(lq->status, "archived"))
        tm_json_errors_add(e, "status", "must be one of: todo, in_progress, done, archived");
    if (lq->priority[0] &&
        (strlen(lq->priority) != 1 || lq->priority[0] < '1' || lq->priority[0] > '4'))
        tm_json_errors_add(e, "priority", "must be between 1 and 4");
    if (lq->assignee[0] && strcmp(lq->assignee, "me") && !tm_is_uuid(lq->assignee))
        tm_json_errors_add(e, "assignee", "must be a UUID or \"me\"");
    if (lq->label[0] && tm_json_utf8_len(lq->label) > 50)
        tm_json_errors_add(e, "label", "must be at most 50 characters");
    if (lq->due_before[0] && !is_time(lq->due_before))
        tm_json_errors_add(e, "due_before", "must be an RFC 3339 timestamp");
    if (lq->due_after[0] && !is_time(lq->due_after))
        tm_json_errors_add(e, "due_after", "must be an RFC 3339 timestamp");
    if (lq->overdue[0] && strcmp(lq->overdue, "true") && strcmp(lq->overdue, "false"))
        tm_json_errors_add(e, "overdue", "must be true or false");
    if (lq->sort[0] && (!find_sort(lq->sort) || strcmp(lq->sort, "rank") == 0))
        tm_json_errors_add(e, "sort",
                           "must be one of: due_at, -due_at, priority, -priority, created_at, "
                           "-created_at, updated_at, -updated_at");
    if (lq->limit[0]) {
        char *end = NULL;
        long long v = strtoll(lq->limit, &end, 10);
        if (!end || *end || end == lq->limit || v < 1)
            tm_json_errors_add(e, "limit", "must be an integer between 1 and %d", LIST_MAX_LIMIT);
    }
}

typedef struct {
    char sql[LIST_SQL_MAX];
    size_t len;
    const char *params[LIST_MAX_PARAMS];
    int n;
    bool overflow;
} qb_t;

static void qb_add(qb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void qb_add(qb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->sql + b->len, sizeof b->sql - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof b->sql - b->len)
        b->overflow = true;
    else
        b->len += (size_t)n;
}

/* Bind value and return its $n. */
static int qb_param(qb_t *b, const char *value)
{
    if (b->n >= LIST_MAX_PARAMS) {
        b->overflow = true;
        return 1;
    }
    b->params[b->n++] = value;
    return b->n;
}

/* Filters of the inner query. The workspace condition is either the one workspace asked
 * for or the lateral member row m (see build). */
static void add_filters(qb_t *b, const list_query_t *lq, const char *me)
{
    if (lq->workspace_id[0])
        qb_add(b, " WHERE t.workspace_id = $%d::uuid", qb_param(b, lq->workspace_id));
    else
        qb_add(b, " WHERE t.workspace_id = m.workspace_id");
    if (lq->status[0])
        qb_add(b, " AND t.status = $%d", qb_param(b, lq->status));
    if (lq->priority[0])
        qb_add(b, " AND t.priority = $%d::smallint", qb_param(b, lq->priority));
    if (lq->assignee[0])
        qb_add(b, " AND t.assignee_id = $%d::uuid",
               qb_param(b, strcmp(lq->assignee, "me") == 0 ? me : lq->assignee));
    if (lq->label[0])
        qb_add(b, " AND t.labels @> ARRAY[$%d::text]", qb_param(b, lq->label));
    if (lq->due_before[0])
        qb_add(b, " AND t.due_at < $%d::timestamptz", qb_param(b, lq->due_before));
    if (lq->due_after[0])
        qb_add(b, " AND t.due_at > $%d::timestamptz", qb_param(b, lq->due_after));
    if (strcmp(lq->overdue, "true") == 0)
        qb_add(b, " AND t.due_at < now() AND t.status NOT IN ('done', 'archived')");
}

/* Rows of one workspace only for its members ($me's row in members): checked once per
 * statement (an InitPlan, the scan does not start for anyone else), so that the page needs
 * no separate authorisation query. An empty page then asks tasks_authorize why. */
static void add_member_gate(qb_t *b, const list_query_t *lq, const char *me)
{
    int ws = qb_param(b, lq->workspace_id), user = qb_param(b, me);
    qb_add(b,
           " AND EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = $%d::uuid"
           " AND m.user_id = $%d::uuid)",
           ws, user);
}

/* Build the statement: the task's TASK_BIN_COLUMNS_SQL columns, then the sort key. One
 * workspace: a plain index-ordered scan (gated by membership unless gate is false). Every
 * workspace of the caller: a LATERAL scan per membership (each one index-ordered and
 * limited to a page), merged and cut to a page, so the cost follows the page size, not the
 * task count. */
static void build(qb_t *b, const list_query_t *lq, const char *me, bool gate, const sort_t *s,
                  const cursor_t *cur, long limit)
{
    char rank[96];
    int qn = lq->q[0] ? qb_param(b, lq->q) : 0;
    const char *expr = s->expr;
    if (!expr) {
        snprintf(rank, sizeof rank, RANK_EXPR, qn);
        expr = rank;
    }
    const char *dir = s->desc ? "DESC" : "ASC";
    bool lateral = !lq->workspace_id[0];
    if (lateral)
        qb_add(b,
               "SELECT x.* FROM (SELECT workspace_id FROM members WHERE user_id = $%d::uuid) m "
               "CROSS JOIN LATERAL (",
               qb_param(b, me));
    qb_add(b, "SELECT " TASK_BIN_COLUMNS_SQL("t") ", %s AS sk FROM tasks t", expr);
    add_filters(b, lq, me);
    if (gate && !lateral)
        add_member_gate(b, lq, me);
    if (qn)
        qb_add(b, " AND t.search @@ websearch_to_tsquery('english', $%d)", qn);
    if (cur) {
        int k = qb_param(b, cur->key), id = qb_param(b, cur->id);
        qb_add(b, " AND (%s, t.id) %s ($%d::%s, $%d::uuid)", expr, s->desc ? "<" : ">", k,
               s->key_cast, id);
    }
    qb_add(b, " ORDER BY %s %s, t.id %s LIMIT %ld", expr, dir, dir, limit + 1);
    if (lateral)
        qb_add(b, ") x ORDER BY x.sk %s, x.id %s LIMIT %ld", dir, dir, limit + 1);
}

#define COL_ID  0                /* the task's id: the first of TASK_BIN_COLUMNS_SQL */
#define COL_KEY TASK_COLUMNS_NUM /* the sort key follows the task's columns */

/* Cursor token of the last row of the page ("" when there is no next page). */
static int next_token(PGresult *r, const sort_t *s, long limit, char tok[CURSOR_TOKEN_MAX])
{
    tok[0] = '\0';
    if (PQntuples(r) <= limit)
        return TM_OK;
    cursor_t c = {0};
    snprintf(c.sort, sizeof c.sort, "%s", s->name);
    int rc = task_json_binary_key(r, (int)limit - 1, COL_KEY, c.key, sizeof c.key);
    if (rc == TM_OK)
        rc = task_json_binary_key(r, (int)limit - 1, COL_ID, c.id, sizeof c.id);
    return rc == TM_OK ? cursor_encode(&c, tok, CURSOR_TOKEN_MAX) : rc;
}

/* Appends the literal text s to b. */
static bool put(task_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (!task_buf_reserve(b, n))
        return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

/* Rows -> {data, next_cursor}; the extra (limit+1)th row only says there is more. The
 * body is written as text from the binary columns (task_json_append_binary): a 50-row
 * page through jansson objects cost tm-task more CPU than Postgres spent on the query. */
static int page_reply(PGresult *r, const sort_t *s, long limit, bool clamped, tm_svc_reply_t *rep)
{
    char tok[CURSOR_TOKEN_MAX];
    if (next_token(r, s, limit, tok) != TM_OK)
        return TM_ERR_INTERNAL;
    int rows = PQntuples(r) < limit ? PQntuples(r) : (int)limit;
    task_buf_t b = {0};
    /* a seeded 50-row page is ~25 KB: one allocation instead of a doubling series */
    bool ok = task_buf_reserve(&b, 256 + (size_t)rows * 640) && put(&b, "{\"data\":[") &&
              task_json_append_binary_rows(&b, r, rows, 0) == TM_OK;
    ok = ok && put(&b, "],\"next_cursor\":") && put(&b, tok[0] ? "\"" : "null") && put(&b, tok) &&
         put(&b, tok[0] ? "\"" : "") && put(&b, clamped ? ",\"limit_clamped\":true}" : "}");
    if (!ok) {
        free(b.p);
        return TM_ERR_INTERNAL;
    }
    if (clamped)
        tm_svc_reply_header(rep, "X-Limit-Clamped", "true");
    tm_svc_reply_json(rep, 200, NULL); /* status; the body is raw JSON text */
    rep->raw = b.p;
    rep->raw_len = b.len;
    tm_svc_reply_header(rep, TM_HDR_CONTENT_TYPE, "application/json");
    return TM_OK;
}

/* Prepared list statements of the calling worker thread (each worker owns one connection):
 * the query's shape varies with the filters, but a worker sees few shapes, and planning
 * cost Postgres about as much as running a 50-row page. Entries belong to one backend
 * (conn + pid): a new connection, or Postgres saying a statement is gone, starts the
 * cache over. Fixed arrays: nothing to free when the thread ends. */
#define STMT_CACHE_SLOTS 16

typedef struct {
    const PGconn *conn;
    int backend_pid;
    unsigned gen; /* in the names, so that a cache started over never meets old ones */
    bool generic; /* the session runs with plan_cache_mode = force_generic_plan */
    int n;
    char sql[STMT_CACHE_SLOTS][LIST_SQL_MAX];
} stmt_cache_t;

static _Thread_local stmt_cache_t stmt_cache;

static void stmt_name(int slot, char name[32])
{
    snprintf(name, 32, "task_list_%u_%d", stmt_cache.gen, slot);
}

/* The prepared statement's slot for sql (preparing it if there is room), or -1. */
static int stmt_slot(PGconn *conn, const qb_t *b)
{
    stmt_cache_t *c = &stmt_cache;
    if (c->conn != conn || c->backend_pid != PQbackendPID(conn)) {
        c->conn = conn;
        c->backend_pid = PQbackendPID(conn);
        c->gen++;
        c->generic = false;
        c->n = 0;
    }
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->sql[i], b->sql) == 0)
            return i;
    if (c->n >= STMT_CACHE_SLOTS || b->len >= LIST_SQL_MAX)
        return -1;
    char name[32];
    stmt_name(c->n, name);
    PGresult *r = PQprepare(conn, name, b->sql, b->n, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return -1;
    memcpy(c->sql[c->n], b->sql, b->len + 1);
    return c->n++;
}

/* Postgres keeps re-planning these statements (a custom plan per run, with every SQL
 * function inlined anew: ~0.3 ms of a 0.8 ms page) although the plan never changes: an
 * index-ordered scan of one workspace. Generic plans are switched on for the session
 * (every other tm-task statement is a key lookup, where a generic plan is the plan) and
 * off again for the one query that needs custom plans: full-text search (q). */
static int plan_mode(PGconn *conn, bool generic)
{
    if (stmt_cache.generic == generic)
        return TM_OK;
    PGresult *r = PQexec(conn, generic ? "SET plan_cache_mode = force_generic_plan"
                                       : "SET plan_cache_mode = auto");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok)
        stmt_cache.generic = generic;
    return ok ? TM_OK : TM_ERR_PG;
}

static int run(tm_svc_worker_t *w, const qb_t *b, bool search, PGresult **out)
{
    int rc = tm_pg_ensure(w->pg);
    if (rc != TM_OK)
        return rc;
    PGconn *conn = tm_pg_conn(w->pg);
    int slot = search ? -1 : stmt_slot(conn, b);
    if ((rc = plan_mode(conn, slot >= 0)) != TM_OK)
        return rc;
    char name[32];
    stmt_name(slot, name);
    /* resultFormat 1 (binary): see TASK_BIN_COLUMNS_SQL */
    PGresult *r = slot >= 0 ? PQexecPrepared(conn, name, b->n, b->params, NULL, NULL, 1)
                            : PQexecParams(conn, b->sql, b->n, NULL, b->params, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        TM_ERROR("task list query failed: %s", state ? state : "?");
        if (state && strcmp(state, "26000") == 0)
            stmt_cache.conn = NULL; /* the statement is gone: prepare anew */
        PQclear(r);
        return TM_ERR_PG;
    }
    *out = r;
    return TM_OK;
}

int task_list_handle(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    list_query_t *lq = tm_xcalloc(1, sizeof *lq);
    qb_t *b = tm_xcalloc(1, sizeof *b);
    PGresult *r = NULL;
    int rc = tm_query_each(tm_query_string(req->msg), take_param, lq);
    if (rc != TM_OK)
        tm_json_errors_add(&lq->errs, "", "malformed query string");
    validate(lq);
    const sort_t *s = find_sort(lq->sort[0] ? lq->sort : lq->q[0] ? "rank" : "-created_at");
    cursor_t cur;
    if (lq->errs.count == 0 && lq->cursor[0] &&
        cursor_decode(lq->cursor, s->name, s->kind, &cur) != TM_OK)
        tm_json_errors_add(&lq->errs, "cursor", "is not a valid cursor for this query");
    if (!req->call.user_id[0]) {
        tm_svc_reply_problem(rep, req, 401, NULL, "authentication required");
        rc = TM_OK;
        goto done;
    }
    if (lq->errs.count > 0) {
        tm_svc_reply_invalid(rep, req, &lq->errs);
        rc = TM_OK;
        goto done;
    }
    long limit = lq->limit[0] ? strtol(lq->limit, NULL, 10) : LIST_DEFAULT_LIMIT;
    bool clamped = limit > LIST_MAX_LIMIT;
    limit = clamped ? LIST_MAX_LIMIT : limit;
    /* Moderators read every workspace; anyone else only a workspace they are a member of
     * (checked in the statement). A user id that is no UUID is nobody's member. */
    bool gate = lq->workspace_id[0] && !tasks_is_moderator(req);
    if (gate && !tm_is_uuid(req->call.user_id)) {
        rc = tasks_authorize(w, req, rep, lq->workspace_id, TASK_PERM_READ);
        goto done;
    }
    build(b, lq, req->call.user_id, gate, s, lq->cursor[0] ? &cur : NULL, limit);
    if (b->overflow) {
        rc = TM_ERR_INTERNAL;
        goto done;
    }
    if ((rc = run(w, b, lq->q[0] != '\0', &r)) != TM_OK)
        goto done;
    /* No rows: the workspace may be empty (200, []) or not the caller's (404). */
    if (gate && PQntuples(r) == 0 &&
        (rc = tasks_authorize(w, req, rep, lq->workspace_id, TASK_PERM_READ)) != TM_OK)
        goto done;
    rc = page_reply(r, s, limit, clamped, rep);
done:
    PQclear(r);
    free(lq);
    free(b);
    return tasks_finish_error(w, false, rc);
}
