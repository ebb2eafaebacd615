/* task_list: GET /api/v1/tasks (tm.v1.task.list) with filters, sorts and keyset cursors.
 *
 * The query is built from fixed fragments only (every value is a bound parameter; sort
 * expressions come from a whitelist), ordered by (sort key, id) so that a cursor names an
 * exact position: rows inserted concurrently never shift a page. The sort expressions match
 * the indexes of migrations/011_tasks.sql. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cursor.h"
#include "task_json.h"
#include "tasks.h"
#include "tm_log.h"
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

/* Build the statement. One workspace: a plain index-ordered scan. Every workspace of the
 * caller: a LATERAL scan per membership (each one index-ordered and limited to a page),
 * merged and cut to a page, so the cost follows the page size, not the task count. */
static void build(qb_t *b, const list_query_t *lq, const char *me, const sort_t *s,
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
    qb_add(b, "SELECT task_to_json(x.t)::text, %s, x.sid::text FROM ",
           s->kind == CURSOR_KEY_TIME ? "task_ts_key(x.sk)" : "x.sk::text");
    if (lateral)
        qb_add(b,
               "(SELECT workspace_id FROM members WHERE user_id = $%d::uuid) m "
               "CROSS JOIN LATERAL ",
               qb_param(b, me));
    qb_add(b, "(SELECT t, %s AS sk, t.id AS sid FROM tasks t", expr);
    add_filters(b, lq, me);
    if (qn)
        qb_add(b, " AND t.search @@ websearch_to_tsquery('english', $%d)", qn);
    if (cur) {
        int k = qb_param(b, cur->key), id = qb_param(b, cur->id);
        qb_add(b, " AND (%s, t.id) %s ($%d::%s, $%d::uuid)", expr, s->desc ? "<" : ">", k,
               s->key_cast, id);
    }
    qb_add(b, " ORDER BY %s %s, t.id %s LIMIT %ld) x", expr, dir, dir, limit + 1);
    qb_add(b, " ORDER BY x.sk %s, x.sid %s LIMIT %ld", dir, dir, limit + 1);
}

/* Rows -> {data, next_cursor}; the extra (limit+1)th row only says there is more. */
static int page_reply(PGresult *r, const sort_t *s, long limit, bool clamped, tm_svc_reply_t *rep)
{
    json_t *data = json_array();
    int rows = PQntuples(r);
    for (int i = 0; i < rows && i < limit; i++) {
        json_t *t = task_json_from_result(r, i, 0);
        if (!t) {
            json_decref(data);
            return TM_ERR_INTERNAL;
        }
        json_array_append_new(data, t);
    }
    json_t *next = json_null();
    if (rows > limit) {
        cursor_t c = {0};
        snprintf(c.sort, sizeof c.sort, "%s", s->name);
        snprintf(c.key, sizeof c.key, "%s", PQgetvalue(r, (int)limit - 1, 1));
        snprintf(c.id, sizeof c.id, "%s", PQgetvalue(r, (int)limit - 1, 2));
        char tok[CURSOR_TOKEN_MAX];
        if (cursor_encode(&c, tok, sizeof tok) != TM_OK) {
            json_decref(data);
            return TM_ERR_INTERNAL;
        }
        next = json_string(tok);
    }
    json_t *body = json_pack("{s:o, s:o}", "data", data, "next_cursor", next);
    if (clamped) {
        json_object_set_new(body, "limit_clamped", json_true());
        tm_svc_reply_header(rep, "X-Limit-Clamped", "true");
    }
    tm_svc_reply_json(rep, 200, body);
    return TM_OK;
}

static int run(tm_svc_worker_t *w, const qb_t *b, PGresult **out)
{
    int rc = tm_pg_ensure(w->pg);
    if (rc != TM_OK)
        return rc;
    PGresult *r = PQexecParams(tm_pg_conn(w->pg), b->sql, b->n, NULL, b->params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        TM_ERROR("task list query failed: %s", PQresultErrorField(r, PG_DIAG_SQLSTATE)
                                                   ? PQresultErrorField(r, PG_DIAG_SQLSTATE)
                                                   : "?");
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
    if (lq->workspace_id[0] &&
        (rc = tasks_authorize(w, req, rep, lq->workspace_id, TASK_PERM_READ)) != TM_OK)
        goto done;
    build(b, lq, req->call.user_id, s, lq->cursor[0] ? &cur : NULL, limit);
    if (b->overflow) {
        rc = TM_ERR_INTERNAL;
        goto done;
    }
    if ((rc = run(w, b, &r)) == TM_OK)
        rc = page_reply(r, s, limit, clamped, rep);
done:
    PQclear(r);
    free(lq);
    free(b);
    return tasks_finish_error(w, false, rc);
}
