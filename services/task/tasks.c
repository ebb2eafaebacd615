/* tasks: task create/get/update/replace/delete/complete, the statement and route tables,
 * and the helpers shared by the other task API files (see tasks.h). */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "outbox.h"
#include "relay.h"
#include "task_json.h"
#include "tm_log.h"
#include "tm_query.h"
#include "tm_subjects.h"
#include "tm_util.h"

#define TASK_FIELDS_SQL                                                                            \
    "title = $3, description = $4, status = $5, priority = $6::smallint, "                         \
    "labels = ARRAY(SELECT jsonb_array_elements_text($7::jsonb)), assignee_id = $8::uuid, "        \
    "due_at = $9::timestamptz, estimate_minutes = $10::integer, "
#define ATTACH_META_SQL                                                                            \
    "jsonb_build_object('id', a.id, 'task_id', a.task_id, 'filename', a.filename, "                \
    "'size', a.size, 'sha256', a.sha256, 'content_type', a.content_type, "                         \
    "'created_by', a.created_by, 'created_at', task_ts_json(a.created_at))::text"
#define TIME_ENTRY_SQL                                                                             \
    "jsonb_build_object('id', e.id, 'task_id', e.task_id, 'user_id', e.user_id, "                  \
    "'minutes', e.minutes, 'started_at', task_ts_json(e.started_at), 'note', e.note, "             \
    "'created_at', task_ts_json(e.created_at))::text"

/* The NOTIFY of outbox.h's outbox_append: a one-row subquery joined in runs it once. */
#define NOTIFY_JOIN ", (SELECT pg_notify('tm_outbox', '')) AS n"
#define OUTBOX_APPEND_SQL(join)                                                                    \
    "WITH s AS (UPDATE workspaces SET event_seq = event_seq + 1 WHERE id = $1::uuid "              \
    "RETURNING event_seq) "                                                                        \
    "INSERT INTO outbox (event_id, workspace_id, seq, type, payload, actor_id) "                   \
    "SELECT $2::uuid, $1::uuid, s.event_seq, $3, $4::jsonb, $5::uuid FROM s" join " RETURNING seq"
/* The create, authorised in the same statement: the caller must be an owner or editor of the
 * workspace and the assignee (if any) a member, else nothing is written and no row returns
 * (task_create then asks why). */
#define TASK_INSERT_EMIT_SQL(join)                                                                 \
    "WITH ins AS (INSERT INTO tasks AS t (id, workspace_id, title, description, status, "          \
    "priority, labels, assignee_id, due_at, estimate_minutes, created_by, completed_at) "          \
    "SELECT $1::uuid, $2::uuid, $3, $4, $5::text, $6::smallint, "                                  \
    "ARRAY(SELECT jsonb_array_elements_text($7::jsonb)), $8::uuid, $9::timestamptz, "              \
    "$10::integer, $11::uuid, CASE WHEN $5::text = 'done' THEN now() END "                         \
    "WHERE EXISTS (SELECT 1 FROM members m WHERE m.workspace_id = $2::uuid "                       \
    "AND m.user_id = $11::uuid AND m.role IN ('owner', 'editor')) "                                \
    "AND ($8::uuid IS NULL OR EXISTS (SELECT 1 FROM members a WHERE a.workspace_id = $2::uuid "    \
    "AND a.user_id = $8::uuid)) "                                                                  \
    "RETURNING task_to_json(t) AS j), "                                                            \
    "s AS (UPDATE workspaces SET event_seq = event_seq + 1 WHERE id = $2::uuid "                   \
    "AND EXISTS (SELECT 1 FROM ins) RETURNING event_seq) "                                         \
    "INSERT INTO outbox (event_id, workspace_id, seq, type, payload, actor_id) "                   \
    "SELECT $12::uuid, $2::uuid, s.event_seq, 'task.created', ins.j, $11::uuid "                   \
    "FROM ins LEFT JOIN s ON true" join " RETURNING payload::text"

const tm_pg_stmt_t tasks_stmts[] = {
    {"outbox_append", OUTBOX_APPEND_SQL(NOTIFY_JOIN), 5},
    {"outbox_append_quiet", OUTBOX_APPEND_SQL(""), 5},
    /* Insert + outbox event in one statement, so that without an open transaction it
     * commits on its own: one round trip, and the workspace row lock (event_seq) is held
     * only while the statement finishes and its commit is flushed. A vanished workspace
     * leaves seq NULL: the NOT NULL check fails the whole statement (it stands for the
     * foreign key that migration 032 dropped: create_row answers 404). The _notify form is for
     * a create inside tm_svc's idempotency transaction (see outbox.h). */
    {"task_insert_emit", TASK_INSERT_EMIT_SQL(""), 12},
    {"task_insert_emit_notify", TASK_INSERT_EMIT_SQL(NOTIFY_JOIN), 12},
    /* task_get / task_get_lock plus the caller's role ($2, may be NULL): one round trip
     * where tasks_load would otherwise ask access_member_role next. */
    {"task_get_role",
     "SELECT t.workspace_id::text, t.version, task_to_json(t)::text, (SELECT m.role FROM "
     "members m WHERE m.workspace_id = t.workspace_id AND m.user_id = $2::uuid) FROM tasks t "
     "WHERE t.id = $1::uuid",
     2},
    /* GET: the task's plain columns in binary (TASK_BIN_COLUMNS_SQL, written as JSON in C,
     * no task_to_json in Postgres nor json parse/dump here) plus the caller's role. */
    {"task_get_bin",
     "SELECT " TASK_BIN_COLUMNS_SQL(
         "t") ", (SELECT m.role::text FROM members m "
              "WHERE m.workspace_id = t.workspace_id AND m.user_id = $2::uuid) FROM tasks t "
              "WHERE t.id = $1::uuid",
     2},
    {"task_get_lock_role",
     "SELECT t.workspace_id::text, t.version, task_to_json(t)::text, (SELECT m.role FROM "
     "members m WHERE m.workspace_id = t.workspace_id AND m.user_id = $2::uuid) FROM tasks t "
     "WHERE t.id = $1::uuid FOR UPDATE OF t",
     2},
    {"task_update",
     "UPDATE tasks t SET " TASK_FIELDS_SQL
     "completed_at = CASE WHEN $5::text = 'done' THEN coalesce(t.completed_at, now()) END, "
     "version = t.version + 1, updated_at = now() "
     "WHERE t.id = $1::uuid AND t.version = $2::bigint RETURNING task_to_json(t)::text",
     10},
    {"task_delete", "DELETE FROM tasks WHERE id = $1::uuid AND version = $2::bigint", 2},
    {"task_complete",
     "UPDATE tasks t SET status = 'done', completed_at = coalesce(t.completed_at, now()), "
     "time_spent_minutes = t.time_spent_minutes + coalesce($3::integer, 0), "
     "version = t.version + 1, updated_at = now() "
     "WHERE t.id = $1::uuid AND t.version = $2::bigint RETURNING task_to_json(t)::text",
     3},
    {"task_add_time",
     "UPDATE tasks t SET time_spent_minutes = t.time_spent_minutes + $2::integer, "
     "version = t.version + 1, updated_at = now() WHERE t.id = $1::uuid "
     "RETURNING task_to_json(t)::text",
     2},
    {"time_insert",
     "INSERT INTO time_entries AS e (id, task_id, user_id, minutes, started_at, note) "
     "VALUES ($1::uuid, $2::uuid, $3::uuid, $4::integer, $5::timestamptz, $6) "
     "RETURNING " TIME_ENTRY_SQL,
     6},
    {"time_list",
     "SELECT " TIME_ENTRY_SQL " FROM time_entries e WHERE e.task_id = $1::uuid "
     "ORDER BY e.created_at DESC, e.id DESC LIMIT $2::integer",
     2},
    {"attach_count", "SELECT count(*) FROM attachments WHERE task_id = $1::uuid", 1},
    {"attach_insert",
     "INSERT INTO attachments AS a (id, task_id, filename, content_type, size, sha256, data, "
     "created_by) VALUES ($1::uuid, $2::uuid, $3, $4, $5::bigint, $6, $7::bytea, $8::uuid) "
     "RETURNING " ATTACH_META_SQL,
     8},
    {"attach_list",
     "SELECT " ATTACH_META_SQL " FROM attachments a WHERE a.task_id = $1::uuid "
     "ORDER BY a.created_at, a.id LIMIT 1000",
     1},
    {"attach_get",
     "SELECT a.filename, a.content_type, a.data FROM attachments a "
     "WHERE a.task_id = $1::uuid AND a.id = $2::uuid",
     2},
    {"attach_delete",
     "DELETE FROM attachments a WHERE a.task_id = $1::uuid AND a.id = $2::uuid "
     "RETURNING " ATTACH_META_SQL,
     2},
    {"ws_changes",
     "SELECT jsonb_build_object('seq', o.seq, 'event_id', o.event_id, 'type', o.type, "
     "'workspace_id', o.workspace_id, 'actor_id', o.actor_id, "
     "'created_at', task_ts_json(o.created_at), 'data', o.payload)::text "
     "FROM outbox o WHERE o.workspace_id = $1::uuid AND o.seq > $2::bigint "
     "ORDER BY o.seq LIMIT $3::integer",
     3},
};
const size_t tasks_nstmts = sizeof tasks_stmts / sizeof tasks_stmts[0];

/* ---- shared helpers ---- */

bool tasks_is_moderator(const tm_svc_req_t *req)
{
    return strcmp(req->call.role, "moderator") == 0 || strcmp(req->call.role, "admin") == 0;
}

/* The permission check of tasks_authorize for a role already known. */
static int authorize_role(const tm_svc_req_t *req, tm_svc_reply_t *rep, ws_role_t role,
                          task_perm_t perm)
{
    if (!req->call.user_id[0]) {
        tm_svc_reply_problem(rep, req, 401, NULL, "authentication required");
        return TM_ERR_AUTH;
    }
    bool mod = tasks_is_moderator(req);
    bool can_read = role >= WS_ROLE_VIEWER || mod;
    bool allowed = perm == TASK_PERM_READ    ? can_read
                   : perm == TASK_PERM_WRITE ? role >= WS_ROLE_EDITOR
                                             : role >= WS_ROLE_EDITOR || mod;
    if (allowed)
        return TM_OK;
    if (!can_read) {
        tm_svc_reply_problem(rep, req, 404, NULL, "not found");
        return TM_ERR_NOT_FOUND;
    }
    tm_svc_reply_problem(rep, req, 403, NULL, "your role does not allow this");
    return TM_ERR_FORBIDDEN;
}

int tasks_authorize(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                    const char *workspace_id, task_perm_t perm)
{
    ws_role_t role = WS_ROLE_NONE;
    if (!req->call.user_id[0])
        return authorize_role(req, rep, role, perm);
    int rc = access_workspace_role(w->pg, workspace_id, req->call.user_id, &role);
    if (rc != TM_OK)
        return rc;
    return authorize_role(req, rep, role, perm);
}

int tasks_load(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep, bool lock,
               task_perm_t perm, task_ref_t *out)
{
    memset(out, 0, sizeof *out);
    const char *id = tm_query_param(req->msg, "id");
    if (!id || !tm_is_uuid(id)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such task");
        return TM_ERR_NOT_FOUND;
    }
    const char *uid = tm_is_uuid(req->call.user_id) ? req->call.user_id : NULL;
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, lock ? "task_get_lock_role" : "task_get_role", 2,
                        (const char *[]){id, uid}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        tm_svc_reply_problem(rep, req, 404, NULL, "no such task");
        return TM_ERR_NOT_FOUND;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->workspace_id, sizeof out->workspace_id, "%s", PQgetvalue(r, 0, 0));
    out->version = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->task = task_json_from_result(r, 0, 2);
    ws_role_t role = PQgetisnull(r, 0, 3) ? WS_ROLE_NONE : access_role_parse(PQgetvalue(r, 0, 3));
    PQclear(r);
    if (!out->task)
        return TM_ERR_INTERNAL;
    rc = authorize_role(req, rep, role, perm);
    if (rc != TM_OK)
        tasks_ref_dispose(out);
    return rc;
}

void tasks_ref_dispose(task_ref_t *t)
{
    json_decref(t->task);
    t->task = NULL;
}

void tasks_set_etag(tm_svc_reply_t *rep, const json_t *task)
{
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"", (long long)tm_json_int(task, "version", 0));
    tm_svc_reply_header(rep, "ETag", etag);
}

int tasks_finish_error(tm_svc_worker_t *w, bool in_txn, int err)
{
    if (in_txn)
        tm_pg_rollback(w->pg);
    switch (err) {
    case TM_ERR_AUTH:
    case TM_ERR_NOT_FOUND:
    case TM_ERR_FORBIDDEN:
    case TM_ERR_INVALID:
    case TM_ERR_CONFLICT:
        return 0; /* rep holds the problem */
    default:
        return err;
    }
}

int tasks_emit_commit(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *workspace_id,
                      const char *type, const json_t *payload)
{
    /* Deeper, tm_svc's idempotency transaction commits later: NOTIFY then (outbox.h). */
    bool own_commit = tm_pg_txn_depth(w->pg) == 1;
    int rc =
        own_commit
            ? outbox_append_quiet(w->pg, workspace_id, type, req->call.user_id, payload, NULL, NULL)
            : outbox_append(w->pg, workspace_id, type, req->call.user_id, payload, NULL, NULL);
    if (rc == TM_ERR_NOT_FOUND)
        rc = TM_ERR_INTERNAL; /* the workspace vanished under a task we hold locked */
    if (rc == TM_OK)
        rc = tm_pg_commit(w->pg, NULL);
    else
        tm_pg_rollback(w->pg);
    if (rc == TM_OK && own_commit)
        relay_kick();
    return rc;
}

/* ---- ETag preconditions ---- */

/* Does an If-Match / If-None-Match list ("*", "\"3\"", "W/\"3\", \"4\"") name version? */
static bool etag_list_matches(const char *list, int64_t version)
{
    char want[32];
    int n = snprintf(want, sizeof want, "\"%lld\"", (long long)version);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == (size_t)n && strncmp(p, want, len) == 0)
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

static const char *header(const tm_svc_req_t *req, const char *name)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(req->msg, name, &v) != NATS_OK)
        return NULL;
    return v;
}

/* 412 into rep when If-Match is present and does not name the current version. */
static int check_if_match(const tm_svc_req_t *req, tm_svc_reply_t *rep, int64_t version)
{
    const char *im = header(req, TM_HDR_IF_MATCH);
    if (!im || etag_list_matches(im, version))
        return TM_OK;
    tm_svc_reply_problem(rep, req, 412, "precondition-failed",
                         "the task has changed: current version is %lld", (long long)version);
    return TM_ERR_CONFLICT;
}

/* ---- handlers ---- */

/* 400 unless assignee_id (when set) is a member of the workspace. */
static int check_assignee(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                          const char *workspace_id, const json_t *full)
{
    const char *assignee = tm_json_str(full, "assignee_id", NULL);
    if (!assignee)
        return TM_OK;
    ws_role_t role = WS_ROLE_NONE;
    int rc = access_workspace_role(w->pg, workspace_id, assignee, &role);
    if (rc != TM_OK)
        return rc;
    if (role != WS_ROLE_NONE)
        return TM_OK;
    tm_json_errors_t errs = {0};
    tm_json_errors_add(&errs, "assignee_id", "must be a member of the workspace");
    tm_svc_reply_invalid(rep, req, &errs);
    return TM_ERR_INVALID;
}

static int check_body(const tm_svc_req_t *req, tm_svc_reply_t *rep, const json_t *body,
                      task_body_kind_t kind)
{
    tm_json_errors_t errs = {0};
    json_t *empty = body ? NULL : json_object();
    int rc = task_json_check(body ? body : empty, kind, &errs);
    json_decref(empty);
    if (rc != TM_OK)
        tm_svc_reply_invalid(rep, req, &errs);
    return rc;
}

static void reply_task(tm_svc_reply_t *rep, int status, json_t *task /* stolen */)
{
    tasks_set_etag(rep, task);
    tm_svc_reply_json(rep, status, task);
}

/* One-row statement returning task JSON in column 0; 0 rows -> 412 (version moved). */
static int exec_task_row(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                         const char *stmt, int n, const char *const *params, json_t **out)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, stmt, n, params, &r, NULL);
    if (rc != TM_OK)
        return rc;
    *out = PQntuples(r) == 1 ? task_json_from_result(r, 0, 0) : NULL;
    bool none = PQntuples(r) == 0;
    PQclear(r);
    if (none) {
        tm_svc_reply_problem(rep, req, 412, "precondition-failed", "the task has changed");
        return TM_ERR_CONFLICT;
    }
    return *out ? TM_OK : TM_ERR_INTERNAL;
}

/* The create statement refused: reply why (404/403 for the caller's role, 400 for the
 * assignee). TM_OK when neither holds any more (membership changed meanwhile). */
static int create_refused(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                          const char *ws, const json_t *full)
{
    int rc = tasks_authorize(w, req, rep, ws, TASK_PERM_WRITE);
    if (rc == TM_OK)
        rc = check_assignee(w, req, rep, ws, full);
    return rc;
}

/* The create's workspace was deleted under it: the statement found no workspace row to take
 * the event seq from, and outbox.seq is NOT NULL (23502), so nothing was written. (The
 * workspace foreign key is gone, migration 032: this is the check that stands for it.) */
static bool workspace_vanished(int rc, const char *state)
{
    return rc == TM_ERR_PG && strcmp(state, "23502") == 0;
}

static int reply_no_workspace(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    tm_svc_reply_problem(rep, req, 404, NULL, "not found");
    return TM_ERR_NOT_FOUND;
}

/* Insert + outbox event + authorisation in one round trip (task_insert_emit). */
static int create_row(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                      const char *ws, const json_t *full, json_t **task, char id[37])
{
    /* Outside a transaction the statement commits itself and the relay is kicked after it;
     * inside tm_svc's idempotency transaction the NOTIFY form wakes it at that COMMIT. */
    bool own_commit = tm_pg_txn_depth(w->pg) == 0;
    task_params_t p;
    task_params_init(&p, full);
    char event_id[37];
    const char *params[12] = {id, ws};
    memcpy(&params[2], p.v, sizeof p.v);
    params[10] = req->call.user_id;
    params[11] = event_id;
    int rc = TM_OK;
    for (int attempt = 0; attempt < 2 && rc == TM_OK && !*task; attempt++) {
        tm_uuid_v4(id);
        tm_uuid_v4(event_id);
        PGresult *r = NULL;
        char state[8] = "";
        rc = tm_pg_exec(w->pg, own_commit ? "task_insert_emit" : "task_insert_emit_notify", 12,
                        params, &r, state);
        if (rc != TM_OK) {
            if (own_commit && workspace_vanished(rc, state))
                rc = reply_no_workspace(req, rep);
            break;
        }
        bool refused = PQntuples(r) != 1;
        *task = refused ? NULL : task_json_from_result(r, 0, 0);
        PQclear(r);
        if (!refused && !*task)
            rc = TM_ERR_INTERNAL;
        else if (refused)
            rc = create_refused(w, req, rep, ws, full);
    }
    task_params_dispose(&p);
    if (rc == TM_OK && !*task) {
        tm_svc_reply_problem(rep, req, 409, NULL, "the workspace changed meanwhile: retry");
        rc = TM_ERR_CONFLICT;
    }
    if (rc == TM_OK && own_commit)
        relay_kick();
    return rc;
}

static int task_create(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (check_body(req, rep, req->json, TASK_BODY_CREATE) != TM_OK)
        return 0;
    const char *ws = tm_json_str(req->json, "workspace_id", "");
    json_t *full = task_json_merge(NULL, req->json), *task = NULL;
    char id[37];
    int rc;
    if (!tm_is_uuid(req->call.user_id)) {
        rc = tasks_authorize(w, req, rep, ws, TASK_PERM_WRITE); /* 401 or 404 */
        if (rc == TM_OK)
            rc = TM_ERR_INTERNAL;
        goto fail;
    }
    if ((rc = create_row(w, req, rep, ws, full, &task, id)) != TM_OK)
        goto fail;
    char *loc = tm_xasprintf("/api/v1/tasks/%s", id);
    tm_svc_reply_header(rep, "Location", loc);
    free(loc);
    json_decref(full);
    reply_task(rep, 201, task);
    return 0;
fail:
    json_decref(full);
    json_decref(task);
    return tasks_finish_error(w, false, rc);
}

/* GET: one binary row -> the reply's JSON text, the ETag from the version column. Same
 * answers as tasks_load + reply_task (404 for a stranger, 304 on If-None-Match). */
static int task_get(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *id = tm_query_param(req->msg, "id");
    if (!id || !tm_is_uuid(id)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such task");
        return 0;
    }
    const char *uid = tm_is_uuid(req->call.user_id) ? req->call.user_id : NULL;
    PGresult *r = NULL;
    int rc = tm_pg_exec_bin(w->pg, "task_get_bin", 2, (const char *[]){id, uid}, NULL, NULL, 1, &r,
                            NULL);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        tm_svc_reply_problem(rep, req, 404, NULL, "no such task");
        return 0;
    }
    ws_role_t role = PQgetisnull(r, 0, TASK_COLUMNS_NUM)
                         ? WS_ROLE_NONE
                         : access_role_parse(PQgetvalue(r, 0, TASK_COLUMNS_NUM));
    char version[TASK_KEY_TEXT_MAX];
    task_buf_t b = {0};
    rc = authorize_role(req, rep, role, TASK_PERM_READ);
    if (rc == TM_OK &&
        (task_json_binary_key(r, 0, TASK_COLUMNS_NUM - 1, version, sizeof version) != TM_OK ||
         task_json_append_binary(&b, r, 0, 0) != TM_OK))
        rc = TM_ERR_INTERNAL;
    PQclear(r);
    if (rc != TM_OK) {
        free(b.p);
        return tasks_finish_error(w, false, rc);
    }
    char etag[TASK_KEY_TEXT_MAX + 2];
    snprintf(etag, sizeof etag, "\"%s\"", version);
    tm_svc_reply_header(rep, "ETag", etag);
    const char *inm = header(req, TM_HDR_IF_NONE_MATCH);
    if (inm && etag_list_matches(inm, strtoll(version, NULL, 10))) {
        free(b.p);
        rep->status = 304;
        return 0;
    }
    tm_svc_reply_json(rep, 200, NULL); /* status; the body is raw JSON text */
    rep->raw = b.p;
    rep->raw_len = b.len;
    tm_svc_reply_header(rep, TM_HDR_CONTENT_TYPE, "application/json");
    return 0;
}

/* The status change an update makes, as the event type it emits. */
static const char *update_event(const json_t *before, const json_t *after)
{
    const char *was = tm_json_str(before, "status", "");
    const char *now = tm_json_str(after, "status", "");
    return strcmp(now, "done") == 0 && strcmp(was, "done") != 0 ? "task.completed" : "task.updated";
}

/* PATCH (replace=false) and PUT (replace=true): lock, check If-Match, lay the body over
 * the current task (or the defaults), write with version = the locked version. */
static int task_write(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                      bool replace)
{
    task_body_kind_t kind = replace ? TASK_BODY_REPLACE : TASK_BODY_UPDATE;
    if (check_body(req, rep, req->json, kind) != TM_OK)
        return 0;
    json_t *body = req->json ? json_incref(req->json) : json_object();
    task_perm_t perm =
        !replace && task_json_is_archive_only(body) ? TASK_PERM_MODERATE : TASK_PERM_WRITE;
    task_ref_t t = {0};
    json_t *full = NULL, *task = NULL;
    task_params_t p = {0};
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        goto done_nobegin;
    if ((rc = tasks_load(w, req, rep, true, perm, &t)) != TM_OK ||
        (rc = check_if_match(req, rep, t.version)) != TM_OK)
        goto fail;
    full = task_json_merge(replace ? NULL : t.task, body);
    if (tm_json_has(body, "assignee_id") &&
        (rc = check_assignee(w, req, rep, t.workspace_id, full)) != TM_OK)
        goto fail;
    char ver[24];
    snprintf(ver, sizeof ver, "%lld", (long long)t.version);
    task_params_init(&p, full);
    const char *params[10] = {t.id, ver};
    memcpy(&params[2], p.v, sizeof p.v);
    if ((rc = exec_task_row(w, req, rep, "task_update", 10, params, &task)) != TM_OK)
        goto fail;
    rc = tasks_emit_commit(w, req, t.workspace_id, update_event(t.task, task), task);
    if (rc != TM_OK)
        goto done_nobegin;
    reply_task(rep, 200, task);
    task = NULL;
    goto done_nobegin;
fail:
    tm_pg_rollback(w->pg);
done_nobegin:
    task_params_dispose(&p);
    tasks_ref_dispose(&t);
    json_decref(full);
    json_decref(task);
    json_decref(body);
    return tasks_finish_error(w, false, rc);
}

static int task_update(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    return task_write(w, req, rep, false);
}

static int task_replace(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    return task_write(w, req, rep, true);
}

static int task_delete(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    task_ref_t t = {0};
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    if ((rc = tasks_load(w, req, rep, true, TASK_PERM_MODERATE, &t)) != TM_OK ||
        (rc = check_if_match(req, rep, t.version)) != TM_OK)
        goto fail;
    char ver[24];
    snprintf(ver, sizeof ver, "%lld", (long long)t.version);
    const char *params[2] = {t.id, ver};
    PGresult *r = NULL;
    if ((rc = tm_pg_exec(w->pg, "task_delete", 2, params, &r, NULL)) != TM_OK)
        goto fail;
    PQclear(r);
    json_t *tomb =
        json_pack("{s:s, s:s, s:b}", "id", t.id, "workspace_id", t.workspace_id, "deleted", 1);
    rc = tasks_emit_commit(w, req, t.workspace_id, "task.deleted", tomb);
    json_decref(tomb);
    tasks_ref_dispose(&t);
    if (rc != TM_OK)
        return rc;
    rep->status = 204;
    return 0;
fail:
    tasks_ref_dispose(&t);
    return tasks_finish_error(w, true, rc);
}

static const tm_json_field_t complete_fields[] = {
    {.name = "minutes", .kind = TM_JF_INT, .nullable = true, .min = 1, .max = 1440},
};

static int task_complete(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, complete_fields, 1) != TM_OK)
        return 0;
    int64_t minutes = tm_json_int(req->json, "minutes", 0);
    task_ref_t t = {0};
    json_t *task = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    if ((rc = tasks_load(w, req, rep, true, TASK_PERM_WRITE, &t)) != TM_OK ||
        (rc = check_if_match(req, rep, t.version)) != TM_OK)
        goto fail;
    if (minutes > 0 && (rc = time_entries_insert(w, req, t.id, minutes, NULL, NULL, NULL)) != TM_OK)
        goto fail;
    char ver[24], mins[24];
    snprintf(ver, sizeof ver, "%lld", (long long)t.version);
    snprintf(mins, sizeof mins, "%lld", (long long)minutes);
    const char *params[3] = {t.id, ver, minutes > 0 ? mins : NULL};
    if ((rc = exec_task_row(w, req, rep, "task_complete", 3, params, &task)) != TM_OK)
        goto fail;
    rc = tasks_emit_commit(w, req, t.workspace_id, "task.completed", task);
    tasks_ref_dispose(&t);
    if (rc != TM_OK) {
        json_decref(task);
        return rc;
    }
    reply_task(rep, 200, task);
    return 0;
fail:
    tasks_ref_dispose(&t);
    json_decref(task);
    return tasks_finish_error(w, true, rc);
}

#define MIB (1024 * 1024)

const tm_svc_route_t tasks_routes[] = {
    {.subject = TM_SUBJ_TASK_CREATE, .fn = task_create, .idempotent = true},
    {.subject = TM_SUBJ_TASK_GET, .fn = task_get},
    {.subject = TM_SUBJ_TASK_LIST, .fn = task_list_handle},
    {.subject = TM_SUBJ_TASK_UPDATE, .fn = task_update, .idempotent = true},
    {.subject = TM_SUBJ_TASK_REPLACE, .fn = task_replace, .idempotent = true},
    {.subject = TM_SUBJ_TASK_DELETE, .fn = task_delete, .idempotent = true},
    {.subject = TM_SUBJ_TASK_COMPLETE, .fn = task_complete, .idempotent = true},
    {.subject = TM_SUBJ_TASK_TIME_LOG, .fn = time_entries_log, .idempotent = true},
    {.subject = TM_SUBJ_TASK_TIME_LIST, .fn = time_entries_list},
    {.subject = TM_SUBJ_TASK_ATTACH_PUT,
     .fn = attachments_put,
     .raw_body = true,
     .max_body = 5 * MIB,
     .idempotent = true},
    {.subject = TM_SUBJ_TASK_ATTACH_GET, .fn = attachments_get},
    {.subject = TM_SUBJ_TASK_ATTACH_LIST, .fn = attachments_list},
    {.subject = TM_SUBJ_TASK_ATTACH_DELETE, .fn = attachments_delete, .idempotent = true},
    {.subject = TM_SUBJ_WS_CHANGES, .fn = changes_handle},
};
const size_t tasks_nroutes = sizeof tasks_routes / sizeof tasks_routes[0];
