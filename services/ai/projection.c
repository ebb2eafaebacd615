/* ai_projection: see projection.h. */
#include "projection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_log.h"
#include "tm_util.h"

#define RING_(n) #n
#define RING1(n) RING_(n)
#define RING     RING1(AI_CHANGE_RING)

/* proj_load's columns, in the order of the LC_* indexes below. */
#define LOAD_COLS                                                                                  \
    "id, workspace_id, title, description, status, priority, labels, created_by, assignee_id, "    \
    "created_at, updated_at, due_at, completed_at, estimate_minutes, time_spent_minutes"
enum {
    LC_ID,
    LC_WORKSPACE,
    LC_TITLE,
    LC_DESCRIPTION,
    LC_STATUS,
    LC_PRIORITY,
    LC_LABELS,
    LC_CREATED_BY,
    LC_ASSIGNEE,
    LC_CREATED_AT,
    LC_UPDATED_AT,
    LC_DUE_AT,
    LC_COMPLETED_AT,
    LC_ESTIMATE,
    LC_SPENT,
    LC_COUNT
};

const tm_pg_stmt_t ai_projection_stmts[] = {
    /* the consumer's retention of processed_events (migration 006): one bounded batch */
    {"proj_prune_seen",
     "DELETE FROM processed_events WHERE event_id IN (SELECT event_id FROM processed_events "
     "WHERE processed_at < now() - $1::bigint * interval '1 millisecond' LIMIT $2::int)",
     2},
    {"proj_seen",
     "INSERT INTO processed_events (event_id) VALUES ($1) "
     "ON CONFLICT DO NOTHING RETURNING 1",
     1},
    {"proj_owners",
     "SELECT COALESCE(created_by::text, ''), COALESCE(assignee_id::text, '') "
     "FROM tasks WHERE id = $1 FOR UPDATE",
     1},
    {"proj_upsert",
     "INSERT INTO tasks (id, workspace_id, title, description, status, priority, labels, "
     "assignee_id, created_by, due_at, estimate_minutes, time_spent_minutes, created_at, "
     "updated_at, completed_at, version) VALUES ($1, $2, $3, $4, $5, $6::int, "
     "ARRAY(SELECT jsonb_array_elements_text($7::jsonb)), $8, $9, $10, $11::int, "
     "COALESCE($12::int, 0), $13, $14, $15, $16::bigint) "
     "ON CONFLICT (id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, "
     "title = EXCLUDED.title, description = EXCLUDED.description, status = EXCLUDED.status, "
     "priority = EXCLUDED.priority, labels = EXCLUDED.labels, "
     "assignee_id = EXCLUDED.assignee_id, "
     "created_by = COALESCE(EXCLUDED.created_by, tasks.created_by), due_at = EXCLUDED.due_at, "
     "estimate_minutes = EXCLUDED.estimate_minutes, "
     "time_spent_minutes = EXCLUDED.time_spent_minutes, updated_at = EXCLUDED.updated_at, "
     "completed_at = EXCLUDED.completed_at, version = EXCLUDED.version "
     "WHERE tasks.version <= EXCLUDED.version AND NOT tasks.deleted RETURNING 1",
     16},
    {"proj_delete",
     "UPDATE tasks SET deleted = true WHERE id = $1 AND NOT deleted "
     "RETURNING COALESCE(created_by::text, ''), COALESCE(assignee_id::text, '')",
     1},
    {"proj_member_put",
     "INSERT INTO members (workspace_id, user_id, role) VALUES ($1, $2, $3) "
     "ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role",
     3},
    {"proj_member_del", "DELETE FROM members WHERE workspace_id = $1 AND user_id = $2", 2},
    /* the bump and its change-log slot in one statement (see migration 004) */
    {"proj_bump",
     "WITH b AS (INSERT INTO user_state (user_id, gen) VALUES ($1, 1) ON CONFLICT (user_id) "
     "DO UPDATE SET gen = user_state.gen + 1, updated_at = now() RETURNING gen) "
     "INSERT INTO user_changes (user_id, slot, gen, task_id) SELECT $1, (gen % " RING ")::int, "
     "gen, $2 FROM b ON CONFLICT (user_id, slot) DO UPDATE SET gen = EXCLUDED.gen, "
     "task_id = EXCLUDED.task_id",
     2},
    /* a whole batch (ai_projection_apply_batch): its changed users, one per row */
    {"proj_apply_events", "SELECT u FROM apply_events($1::jsonb) AS u", 1},
    {"proj_gen", "SELECT gen FROM user_state WHERE user_id = $1", 1},
    /* Plain columns, read in binary (ai_projection_load): no per-row expressions or text
     * conversions in Postgres, no number parsing here. Two index-ordered branches
     * (tasks_created_live, tasks_assignee_live) merged, so the top rows are read without a
     * sort; an OR of the two columns was a scan and a sort of all the user's rows. */
    {"proj_load",
     "(SELECT " LOAD_COLS " FROM tasks WHERE created_by = $1 AND NOT deleted "
     "ORDER BY updated_at DESC LIMIT $2) UNION ALL (SELECT " LOAD_COLS " FROM tasks "
     "WHERE assignee_id = $1 AND created_by IS DISTINCT FROM $1 AND NOT deleted "
     "ORDER BY updated_at DESC LIMIT $2) ORDER BY updated_at DESC LIMIT $2",
     2},
    /* The current rows of the tasks logged in generations ($2, $3], with the number of log
     * entries found (fewer than $3 - $2: the ring was overwritten) and the deleted flag. */
    {"proj_changes",
     "WITH c AS (SELECT task_id FROM user_changes WHERE user_id = $1 AND gen > $2 AND "
     "gen <= $3) SELECT (SELECT count(*) FROM c), " LOAD_COLS ", deleted FROM tasks "
     "WHERE id IN (SELECT task_id FROM c)",
     3},
};
const size_t ai_projection_nstmts = sizeof ai_projection_stmts / sizeof ai_projection_stmts[0];

static void touch(ai_touched_t *t, const char *id)
{
    if (!id || !tm_is_uuid(id) || t->n >= AI_PROJ_MAX_TOUCHED)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->ids[i], id) == 0)
            return;
    snprintf(t->ids[t->n++], sizeof t->ids[0], "%s", id);
}

static int exec_rows(tm_pg_t *pg, const char *name, int n, const char *const *p, PGresult **out)
{
    return tm_pg_exec(pg, name, n, p, out, NULL);
}

/* NULL when absent or null; "" never passed as a uuid/time. */
static const char *opt_str(const json_t *d, const char *name)
{
    const json_t *v = json_object_get(d, name);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

static const char *opt_int(const json_t *d, const char *name, char *buf, size_t cap)
{
    const json_t *v = json_object_get(d, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 2000000000)
        return NULL;
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    return buf;
}

static bool task_valid(const json_t *d)
{
    const char *id = opt_str(d, "id"), *ws = opt_str(d, "workspace_id");
    const char *as = opt_str(d, "assignee_id"), *cb = opt_str(d, "created_by");
    int64_t ms;
    const char *ts[4] = {opt_str(d, "due_at"), opt_str(d, "created_at"), opt_str(d, "updated_at"),
                         opt_str(d, "completed_at")};
    for (int i = 0; i < 4; i++)
        if (ts[i] && tm_parse_rfc3339(ts[i], &ms) != TM_OK)
            return false;
    const json_t *labels = json_object_get(d, "labels");
    return id && tm_is_uuid(id) && ws && tm_is_uuid(ws) && opt_str(d, "title") &&
           opt_str(d, "status") && json_is_integer(json_object_get(d, "version")) &&
           (!as || tm_is_uuid(as)) && (!cb || tm_is_uuid(cb)) &&
           (!labels || json_is_null(labels) || json_is_array(labels));
}

static int task_owners(tm_pg_t *pg, const char *id, ai_touched_t *t)
{
    PGresult *r = NULL;
    int rc = exec_rows(pg, "proj_owners", 1, (const char *[]){id}, &r);
    if (rc == TM_OK && PQntuples(r) == 1) {
        touch(t, PQgetvalue(r, 0, 0));
        touch(t, PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

/* A task.* event's data as the projection stores it (both write paths read it here). */
typedef struct {
    const char *id, *ws, *title, *description, *status, *assignee, *created_by, *due_at;
    const char *created_at, *updated_at, *completed_at;
    const char *priority, *estimate, *spent; /* decimal text in the buffers below, or NULL */
    json_t *labels;                          /* an array, or NULL for none */
    long long version;
    char priority_buf[16], estimate_buf[16], spent_buf[16];
} task_in_t;

/* false: bad data. created_by falls back to the actor of a task.created, created_at and
 * updated_at to the event's time. */
static bool task_in(const tm_event_t *ev, task_in_t *t)
{
    const json_t *d = ev->data;
    if (!task_valid(d))
        return false;
    t->id = opt_str(d, "id");
    t->ws = opt_str(d, "workspace_id");
    t->title = opt_str(d, "title");
    t->description = opt_str(d, "description");
    t->status = opt_str(d, "status");
    t->assignee = opt_str(d, "assignee_id");
    t->created_by = opt_str(d, "created_by");
    if (!t->created_by && strcmp(ev->type, "task.created") == 0 && ev->actor_id[0])
        t->created_by = ev->actor_id;
    t->due_at = opt_str(d, "due_at");
    t->created_at = opt_str(d, "created_at") ? opt_str(d, "created_at") : ev->created_at;
    t->updated_at = opt_str(d, "updated_at") ? opt_str(d, "updated_at") : ev->created_at;
    t->completed_at = opt_str(d, "completed_at");
    t->priority = opt_int(d, "priority", t->priority_buf, sizeof t->priority_buf);
    t->estimate = opt_int(d, "estimate_minutes", t->estimate_buf, sizeof t->estimate_buf);
    t->spent = opt_int(d, "time_spent_minutes", t->spent_buf, sizeof t->spent_buf);
    json_t *lv = json_object_get(d, "labels");
    t->labels = json_is_array(lv) ? lv : NULL;
    t->version = (long long)json_integer_value(json_object_get(d, "version"));
    return true;
}

static int task_upsert(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *t)
{
    task_in_t in;
    if (!task_in(ev, &in))
        return TM_ERR_INVALID;
    snprintf(t->task_id, sizeof t->task_id, "%s", in.id);
    int rc = task_owners(pg, in.id, t);
    if (rc != TM_OK)
        return rc;
    char ver[24];
    char *labels = in.labels ? tm_json_dumps(in.labels, NULL) : tm_xstrdup("[]");
    snprintf(ver, sizeof ver, "%lld", in.version);
    const char *p[16] = {in.id,         in.ws,         in.title,        in.description,
                         in.status,     in.priority,   labels,          in.assignee,
                         in.created_by, in.due_at,     in.estimate,     in.spent,
                         in.created_at, in.updated_at, in.completed_at, ver};
    PGresult *r = NULL;
    rc = exec_rows(pg, "proj_upsert", 16, p, &r);
    free(labels);
    if (rc == TM_OK && PQntuples(r) == 1) {
        touch(t, in.created_by);
        touch(t, in.assignee);
    } else if (rc == TM_OK) {
        t->n = 0; /* stale version: nothing changed */
    }
    PQclear(r);
    return rc;
}

static int task_delete(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *t)
{
    const char *id = opt_str(ev->data, "id");
    if (!id || !tm_is_uuid(id))
        return TM_ERR_INVALID;
    snprintf(t->task_id, sizeof t->task_id, "%s", id);
    PGresult *r = NULL;
    int rc = exec_rows(pg, "proj_delete", 1, (const char *[]){id}, &r);
    if (rc == TM_OK && PQntuples(r) == 1) {
        touch(t, PQgetvalue(r, 0, 0));
        touch(t, PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

/* A member.* event's data: 1 upsert (role set), -1 removal, 0 bad data. */
static int member_in(const tm_event_t *ev, const char **ws, const char **user, const char **role)
{
    *ws = opt_str(ev->data, "workspace_id");
    *user = opt_str(ev->data, "user_id");
    *role = opt_str(ev->data, "role");
    if (!*ws || !*user || !tm_is_uuid(*ws) || !tm_is_uuid(*user))
        return 0;
    if (strcmp(ev->type, "member.removed") == 0)
        return -1;
    return *role ? 1 : 0;
}

static int member_apply(tm_pg_t *pg, const tm_event_t *ev)
{
    const char *ws, *user, *role;
    int change = member_in(ev, &ws, &user, &role);
    if (change == 0)
        return TM_ERR_INVALID;
    PGresult *r = NULL;
    int rc = change < 0 ? exec_rows(pg, "proj_member_del", 2, (const char *[]){ws, user}, &r)
                        : exec_rows(pg, "proj_member_put", 3, (const char *[]){ws, user, role}, &r);
    PQclear(r);
    return rc;
}

static int dispatch(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *t)
{
    if (!json_is_object(ev->data))
        return TM_ERR_INVALID;
    if (strcmp(ev->type, "task.deleted") == 0)
        return task_delete(pg, ev, t);
    if (strncmp(ev->type, "task.", 5) == 0)
        return task_upsert(pg, ev, t);
    if (strncmp(ev->type, "member.", 7) == 0)
        return member_apply(pg, ev);
    return TM_OK; /* other event types carry nothing for the projection */
}

static bool first_time(tm_pg_t *pg, const char *event_id, int *rc)
{
    PGresult *r = NULL;
    *rc = exec_rows(pg, "proj_seen", 1, (const char *[]){event_id}, &r);
    bool fresh = *rc == TM_OK && PQntuples(r) == 1;
    PQclear(r);
    return fresh;
}

static int bump_all(tm_pg_t *pg, const ai_touched_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        PGresult *r = NULL;
        int rc = exec_rows(pg, "proj_bump", 2, (const char *[]){t->ids[i], t->task_id}, &r);
        PQclear(r);
        if (rc != TM_OK)
            return rc;
    }
    return TM_OK;
}

int ai_projection_apply(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *touched,
                        ai_proj_touched_fn before_commit, void *arg)
{
    memset(touched, 0, sizeof *touched);
    int rc = tm_pg_begin(pg);
    if (rc != TM_OK)
        return rc;
    if (!first_time(pg, ev->event_id, &rc)) {
        if (rc != TM_OK)
            goto rollback;
        tm_pg_rollback(pg);
        return TM_OK; /* already applied */
    }
    if ((rc = dispatch(pg, ev, touched)) != TM_OK || (rc = bump_all(pg, touched)) != TM_OK)
        goto rollback;
    if (before_commit && touched->n > 0)
        before_commit(touched, arg);
    if ((rc = tm_pg_commit(pg, NULL)) != TM_OK)
        memset(touched, 0, sizeof *touched);
    return rc;
rollback:
    tm_pg_rollback(pg);
    memset(touched, 0, sizeof *touched);
    return rc;
}

/* ---- a batch in one statement (apply_events, migration 005) ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *int_or_null(const char *decimal)
{
    return decimal ? json_integer(strtoll(decimal, NULL, 10)) : json_null();
}

/* apply_events' fields of a task upsert, as task_upsert binds them to proj_upsert. */
static json_t *upsert_row(const task_in_t *in)
{
    json_t *row =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "k", "u", "id", in->id, "ws", in->ws, "title",
                  in->title, "status", in->status, "version", (json_int_t)in->version);
    json_object_set_new(row, "descr", str_or_null(in->description));
    json_object_set_new(row, "prio", int_or_null(in->priority));
    json_object_set_new(row, "labels", in->labels ? json_incref(in->labels) : json_array());
    json_object_set_new(row, "assignee", str_or_null(in->assignee));
    json_object_set_new(row, "creator", str_or_null(in->created_by));
    json_object_set_new(row, "due", str_or_null(in->due_at));
    json_object_set_new(row, "est", int_or_null(in->estimate));
    json_object_set_new(row, "spent", int_or_null(in->spent));
    json_object_set_new(row, "created", json_string(in->created_at));
    json_object_set_new(row, "updated", json_string(in->updated_at));
    json_object_set_new(row, "completed", str_or_null(in->completed_at));
    return row;
}

/* The event's element of apply_events' batch, or NULL when its data is bad (the same
 * checks as the per-event path: dispatch). */
static json_t *batch_row(const tm_event_t *ev)
{
    if (!json_is_object(ev->data))
        return NULL;
    if (strcmp(ev->type, "task.deleted") == 0) {
        const char *id = opt_str(ev->data, "id");
        return id && tm_is_uuid(id) ? json_pack("{s:s, s:s}", "k", "d", "id", id) : NULL;
    }
    if (strncmp(ev->type, "task.", 5) == 0) {
        task_in_t in;
        return task_in(ev, &in) ? upsert_row(&in) : NULL;
    }
    if (strncmp(ev->type, "member.", 7) == 0) {
        const char *ws, *user, *role;
        int change = member_in(ev, &ws, &user, &role);
        if (change == 0)
            return NULL;
        json_t *row =
            json_pack("{s:s, s:s, s:s}", "k", change < 0 ? "r" : "m", "ws", ws, "member", user);
        if (change > 0)
            json_object_set_new(row, "role", json_string(role));
        return row;
    }
    return json_pack("{s:s}", "k", "n");
}

void ai_users_dispose(ai_users_t *u)
{
    if (!u)
        return;
    free(u->ids);
    memset(u, 0, sizeof *u);
}

static void users_from(PGresult *r, ai_users_t *u)
{
    int rows = PQntuples(r);
    u->ids = rows > 0 ? tm_xcalloc((size_t)rows, sizeof *u->ids) : NULL;
    for (int i = 0; i < rows; i++)
        if (tm_is_uuid(PQgetvalue(r, i, 0)))
            snprintf(u->ids[u->n++], sizeof u->ids[0], "%s", PQgetvalue(r, i, 0));
}

/* rows in one transaction: apply_events, before_commit with its users, COMMIT. */
static int apply_rows(tm_pg_t *pg, const json_t *rows, ai_users_t *users,
                      ai_proj_users_fn before_commit, void *arg)
{
    int rc = tm_pg_begin(pg);
    if (rc != TM_OK)
        return rc;
    char *text = tm_json_dumps(rows, NULL);
    PGresult *r = NULL;
    rc = exec_rows(pg, "proj_apply_events", 1, (const char *[]){text}, &r);
    free(text);
    if (rc == TM_OK)
        users_from(r, users);
    PQclear(r);
    if (rc != TM_OK) {
        tm_pg_rollback(pg);
        return rc;
    }
    if (before_commit && users->n > 0)
        before_commit(users, arg);
    return tm_pg_commit(pg, NULL);
}

int ai_projection_apply_batch(tm_pg_t *pg, const tm_event_t *const *evs, size_t n, bool *bad,
                              ai_users_t *users, ai_proj_users_fn before_commit, void *arg)
{
    memset(users, 0, sizeof *users);
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *row = batch_row(evs[i]);
        bad[i] = row == NULL;
        if (!row)
            continue;
        json_object_set_new(row, "o", json_integer((json_int_t)i));
        json_object_set_new(row, "e", json_string(evs[i]->event_id));
        json_array_append_new(rows, row);
    }
    int rc = json_array_size(rows) > 0 ? apply_rows(pg, rows, users, before_commit, arg) : TM_OK;
    json_decref(rows);
    if (rc != TM_OK)
        ai_users_dispose(users);
    return rc;
}

static int64_t col_i64(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- proj_load's binary rows (network byte order, as the types' send functions write) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

#define PG_EPOCH_MS 946684800000LL /* 2000-01-01T00:00:00Z, the zero of binary timestamps */
#define UUID_TEXT   37

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const unsigned char *bin_value(PGresult *r, int row, int col, int want_len)
{
    if (PQgetisnull(r, row, col) || (want_len > 0 && PQgetlength(r, row, col) != want_len))
        return NULL;
    return (const unsigned char *)PQgetvalue(r, row, col);
}

static int32_t bin_i32(PGresult *r, int row, int col)
{
    const unsigned char *p = bin_value(r, row, col, 4);
    return p ? (int32_t)be32(p) : 0;
}

/* timestamptz (microseconds since 2000-01-01 UTC) -> ms since the epoch, rounded; NULL -> 0. */
static int64_t bin_ms(PGresult *r, int row, int col)
{
    const unsigned char *p = bin_value(r, row, col, 8);
    if (!p)
        return 0;
    int64_t us = (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
    return floor_div(us + 500, 1000) + PG_EPOCH_MS;
}

/* uuid (16 bytes) -> canonical text in out (UUID_TEXT bytes); NULL -> "". */
static void bin_uuid(PGresult *r, int row, int col, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = bin_value(r, row, col, 16);
    size_t k = 0;
    for (int i = 0; p && i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[p[i] >> 4];
        out[k++] = hex[p[i] & 15];
    }
    out[k] = '\0';
}

/* The non-null elements of a one-dimensional text[] in binary form: header (ndim, has-nulls,
 * element type, then length and lower bound of the dimension), then length-prefixed
 * elements (-1 = NULL). Anything else reads as empty. */
typedef struct {
    const unsigned char *p, *end;
    uint32_t left;
} label_iter_t;

static void labels_begin(label_iter_t *it, PGresult *r, int row, int col)
{
    int len = PQgetisnull(r, row, col) ? 0 : PQgetlength(r, row, col);
    it->p = (const unsigned char *)PQgetvalue(r, row, col);
    it->end = it->p + len;
    it->left = 0;
    if (len >= 20 && be32(it->p) == 1) {
        it->left = be32(it->p + 12);
        it->p += 20;
    }
}

static bool labels_next(label_iter_t *it, const char **s, size_t *n)
{
    while (it->left > 0 && it->end - it->p >= 4) {
        it->left--;
        int32_t l = (int32_t)be32(it->p);
        it->p += 4;
        if (l < 0)
            continue;
        if (it->end - it->p < l)
            break;
        *s = (const char *)it->p;
        *n = (size_t)l;
        it->p += l;
        return true;
    }
    it->left = 0;
    return false;
}

#define MAX_ROW_LABELS 64 /* labels kept per task (tm-task allows fewer) */

/* uuid (16 bytes, big-endian) -> its key, as ai_uuid_key reads the text; NULL -> zeros. */
static void bin_key(PGresult *r, int row, int col, ai_uuid_key_t *key)
{
    const unsigned char *p = bin_value(r, row, col, 16);
    *key = p ? (ai_uuid_key_t){(uint64_t)be32(p) << 32 | be32(p + 4),
                               (uint64_t)be32(p + 8) << 32 | be32(p + 12)}
             : (ai_uuid_key_t){0, 0};
}

/* Row `row` of r, whose LOAD_COLS start at column c0, into f; ids text goes to idbuf, their
 * keys to keys. */
static void row_fields(PGresult *r, int row, int c0, ai_task_fields_t *f, char idbuf[4][UUID_TEXT],
                       ai_uuid_key_t keys[2], const char **labels, size_t *label_lens)
{
    memset(f, 0, sizeof *f);
    bin_key(r, row, c0 + LC_ID, &keys[0]);
    bin_key(r, row, c0 + LC_WORKSPACE, &keys[1]);
    f->id_key = &keys[0];
    f->ws_key = &keys[1];
    bin_uuid(r, row, c0 + LC_ID, idbuf[0]);
    bin_uuid(r, row, c0 + LC_WORKSPACE, idbuf[1]);
    bin_uuid(r, row, c0 + LC_CREATED_BY, idbuf[2]);
    bin_uuid(r, row, c0 + LC_ASSIGNEE, idbuf[3]);
    f->id = idbuf[0];
    f->workspace_id = idbuf[1];
    f->created_by = idbuf[2];
    f->assignee_id = idbuf[3];
    /* text columns come NUL-terminated from libpq in binary results too */
    f->title = PQgetvalue(r, row, c0 + LC_TITLE);
    f->title_len = (size_t)PQgetlength(r, row, c0 + LC_TITLE);
    if (!PQgetisnull(r, row, c0 + LC_DESCRIPTION)) {
        f->description = PQgetvalue(r, row, c0 + LC_DESCRIPTION);
        f->description_len = (size_t)PQgetlength(r, row, c0 + LC_DESCRIPTION);
    }
    f->status = PQgetvalue(r, row, c0 + LC_STATUS);
    f->status_len = (size_t)PQgetlength(r, row, c0 + LC_STATUS);
    f->priority = bin_i32(r, row, c0 + LC_PRIORITY);
    f->created_at = bin_ms(r, row, c0 + LC_CREATED_AT);
    f->updated_at = bin_ms(r, row, c0 + LC_UPDATED_AT);
    f->due_at = bin_ms(r, row, c0 + LC_DUE_AT);
    /* a done task without completed_at counts as completed when it was last updated */
    f->completed_at = strcmp(f->status, "done") != 0 ? 0
                      : PQgetisnull(r, row, c0 + LC_COMPLETED_AT)
                          ? f->updated_at
                          : bin_ms(r, row, c0 + LC_COMPLETED_AT);
    f->estimate_minutes = bin_i32(r, row, c0 + LC_ESTIMATE);
    f->logged_minutes = bin_i32(r, row, c0 + LC_SPENT);
    label_iter_t it;
    labels_begin(&it, r, row, c0 + LC_LABELS);
    while (f->n_labels < MAX_ROW_LABELS &&
           labels_next(&it, &labels[f->n_labels], &label_lens[f->n_labels]))
        f->n_labels++;
    f->labels = labels;
    f->label_lens = label_lens;
}

static void add_row(ai_task_set_t *set, PGresult *r, int row, int c0)
{
    ai_task_fields_t f;
    char ids[4][UUID_TEXT];
    ai_uuid_key_t keys[2];
    const char *labels[MAX_ROW_LABELS];
    size_t lens[MAX_ROW_LABELS];
    row_fields(r, row, c0, &f, ids, keys, labels, lens);
    ai_task_set_add(set, &f);
}

int ai_projection_load(tm_pg_t *pg, const char *user_id, int64_t max, ai_task_set_t *set)
{
    ai_task_set_init(set);
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)max);
    PGresult *r = NULL;
    int rc =
        tm_pg_exec_bin(pg, "proj_load", 2, (const char *[]){user_id, lim}, NULL, NULL, 1, &r, NULL);
    if (rc == TM_OK && PQnfields(r) != LC_COUNT)
        rc = TM_ERR_INTERNAL;
    if (rc == TM_OK)
        ai_task_set_reserve(set, (size_t)PQntuples(r));
    for (int i = 0; rc == TM_OK && i < PQntuples(r); i++)
        add_row(set, r, i, 0);
    PQclear(r);
    return rc;
}

/* proj_changes: column 0 the entry count, then LOAD_COLS, then deleted. */
#define CH_BASE    1
#define CH_DELETED (CH_BASE + LC_COUNT)

static bool row_is_users(PGresult *r, int row, const char *user_id)
{
    char cb[UUID_TEXT], as[UUID_TEXT];
    const unsigned char *del = bin_value(r, row, CH_DELETED, 1);
    bin_uuid(r, row, CH_BASE + LC_CREATED_BY, cb);
    bin_uuid(r, row, CH_BASE + LC_ASSIGNEE, as);
    return del && !*del && (strcmp(cb, user_id) == 0 || strcmp(as, user_id) == 0);
}

int ai_projection_changes(tm_pg_t *pg, const char *user_id, int64_t since, int64_t upto,
                          ai_task_changes_t *ch)
{
    ai_task_changes_init(ch);
    char a[24], b[24];
    snprintf(a, sizeof a, "%lld", (long long)since);
    snprintf(b, sizeof b, "%lld", (long long)upto);
    PGresult *r = NULL;
    int rc = tm_pg_exec_bin(pg, "proj_changes", 3, (const char *[]){user_id, a, b}, NULL, NULL, 1,
                            &r, NULL);
    if (rc == TM_OK && PQnfields(r) != CH_DELETED + 1)
        rc = TM_ERR_INTERNAL;
    for (int i = 0; rc == TM_OK && i < PQntuples(r); i++) {
        const unsigned char *n = bin_value(r, i, 0, 8);
        char id[UUID_TEXT];
        ch->entries = n ? (int64_t)((uint64_t)be32(n) << 32 | be32(n + 4)) : 0;
        bin_uuid(r, i, CH_BASE + LC_ID, id);
        ai_task_changes_add_id(ch, id);
        if (row_is_users(r, i, user_id))
            add_row(&ch->live, r, i, CH_BASE);
    }
    ai_task_changes_seal(ch);
    PQclear(r);
    return rc;
}

int ai_projection_gen(tm_pg_t *pg, const char *user_id, int64_t *gen)
{
    PGresult *r = NULL;
    *gen = 0;
    int rc = exec_rows(pg, "proj_gen", 1, (const char *[]){user_id}, &r);
    if (rc == TM_OK && PQntuples(r) == 1)
        *gen = col_i64(r, 0, 0);
    PQclear(r);
    return rc;
}
