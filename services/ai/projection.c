/* ai_projection: see projection.h. */
#include "projection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_log.h"
#include "tm_util.h"

#define MS(x) "(extract(epoch FROM " x ") * 1000)::bigint"

const tm_pg_stmt_t ai_projection_stmts[] = {
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
    {"proj_bump",
     "INSERT INTO user_state (user_id, gen) VALUES ($1, 1) ON CONFLICT (user_id) "
     "DO UPDATE SET gen = user_state.gen + 1, updated_at = now()",
     1},
    {"proj_gen", "SELECT gen FROM user_state WHERE user_id = $1", 1},
    {"proj_load",
     "SELECT id::text, workspace_id::text, title, description, status, COALESCE(priority, 0), "
     "array_to_json(labels)::text, COALESCE(created_by::text, ''), "
     "COALESCE(assignee_id::text, ''), " MS("created_at") ", " MS(
         "updated_at") ", "
                       "COALESCE(" MS("due_at") ", 0), CASE WHEN status = 'done' THEN COALESCE(" MS(
                           "completed_at") ", " MS("updated_at") ") ELSE 0 END, "
                                                                 "COALESCE(estimate_minutes, 0), "
                                                                 "time_spent_minutes FROM tasks "
                                                                 "WHERE NOT deleted AND "
                                                                 "(created_by = $1 OR assignee_id "
                                                                 "= $1) "
                                                                 "ORDER BY updated_at DESC LIMIT "
                                                                 "$2",
     2},
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

static int task_upsert(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *t)
{
    const json_t *d = ev->data;
    if (!task_valid(d))
        return TM_ERR_INVALID;
    const char *id = opt_str(d, "id");
    int rc = task_owners(pg, id, t);
    if (rc != TM_OK)
        return rc;
    char pri[16], est[16], spent[16], ver[24];
    const json_t *lv = json_object_get(d, "labels");
    char *labels = json_is_array(lv) ? tm_json_dumps(lv, NULL) : tm_xstrdup("[]");
    const char *cb = opt_str(d, "created_by");
    if (!cb && strcmp(ev->type, "task.created") == 0 && ev->actor_id[0])
        cb = ev->actor_id;
    const char *created = opt_str(d, "created_at") ? opt_str(d, "created_at") : ev->created_at;
    const char *updated = opt_str(d, "updated_at") ? opt_str(d, "updated_at") : ev->created_at;
    snprintf(ver, sizeof ver, "%lld", (long long)json_integer_value(json_object_get(d, "version")));
    const char *p[16] = {id,
                         opt_str(d, "workspace_id"),
                         opt_str(d, "title"),
                         opt_str(d, "description"),
                         opt_str(d, "status"),
                         opt_int(d, "priority", pri, sizeof pri),
                         labels,
                         opt_str(d, "assignee_id"),
                         cb,
                         opt_str(d, "due_at"),
                         opt_int(d, "estimate_minutes", est, sizeof est),
                         opt_int(d, "time_spent_minutes", spent, sizeof spent),
                         created,
                         updated,
                         opt_str(d, "completed_at"),
                         ver};
    PGresult *r = NULL;
    rc = exec_rows(pg, "proj_upsert", 16, p, &r);
    free(labels);
    if (rc == TM_OK && PQntuples(r) == 1) {
        touch(t, cb);
        touch(t, opt_str(d, "assignee_id"));
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
    PGresult *r = NULL;
    int rc = exec_rows(pg, "proj_delete", 1, (const char *[]){id}, &r);
    if (rc == TM_OK && PQntuples(r) == 1) {
        touch(t, PQgetvalue(r, 0, 0));
        touch(t, PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return rc;
}

static int member_apply(tm_pg_t *pg, const tm_event_t *ev)
{
    const char *ws = opt_str(ev->data, "workspace_id"), *user = opt_str(ev->data, "user_id");
    const char *role = opt_str(ev->data, "role");
    if (!ws || !user || !tm_is_uuid(ws) || !tm_is_uuid(user))
        return TM_ERR_INVALID;
    PGresult *r = NULL;
    int rc;
    if (strcmp(ev->type, "member.removed") == 0)
        rc = exec_rows(pg, "proj_member_del", 2, (const char *[]){ws, user}, &r);
    else if (role)
        rc = exec_rows(pg, "proj_member_put", 3, (const char *[]){ws, user, role}, &r);
    else
        rc = TM_ERR_INVALID;
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
        int rc = exec_rows(pg, "proj_bump", 1, (const char *[]){t->ids[i]}, &r);
        PQclear(r);
        if (rc != TM_OK)
            return rc;
    }
    return TM_OK;
}

int ai_projection_apply(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *touched)
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
    if ((rc = tm_pg_commit(pg, NULL)) != TM_OK)
        memset(touched, 0, sizeof *touched);
    return rc;
rollback:
    tm_pg_rollback(pg);
    memset(touched, 0, sizeof *touched);
    return rc;
}

static int64_t col_i64(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void fill_task(ai_task_set_t *s, PGresult *r, int i)
{
    ai_task_t *t = &s->tasks[i];
    ai_task_meta_t *m = &s->meta[i];
    t->id = PQgetvalue(r, i, 0);
    m->workspace_id = PQgetvalue(r, i, 1);
    t->title = PQgetvalue(r, i, 2);
    t->description = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
    m->status = PQgetvalue(r, i, 4);
    t->priority = (int)col_i64(r, i, 5);
    m->created_by = PQgetvalue(r, i, 7);
    m->assignee_id = PQgetvalue(r, i, 8);
    t->created_at = col_i64(r, i, 9);
    t->updated_at = col_i64(r, i, 10);
    t->due_at = col_i64(r, i, 11);
    t->completed_at = col_i64(r, i, 12);
    t->estimate_minutes = (int32_t)col_i64(r, i, 13);
    t->logged_minutes = (int32_t)col_i64(r, i, 14);
    json_t *labels = json_loads(PQgetvalue(r, i, 6), 0, NULL);
    s->labels[i] = json_is_array(labels) ? labels : NULL;
    if (!s->labels[i])
        json_decref(labels);
}

/* Label pointers go into one flat array; each task points at its slice. */
static void link_labels(ai_task_set_t *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n; i++)
        total += s->labels[i] ? json_array_size(s->labels[i]) : 0;
    s->label_ptrs = tm_xcalloc(total + 1, sizeof *s->label_ptrs);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        s->tasks[i].labels = s->label_ptrs + k;
        size_t j;
        json_t *v;
        if (!s->labels[i])
            continue;
        json_array_foreach(s->labels[i], j, v) if (json_is_string(v)) s->label_ptrs[k++] =
            json_string_value(v);
        s->tasks[i].n_labels = (size_t)(s->label_ptrs + k - s->tasks[i].labels);
    }
}

int ai_projection_load(tm_pg_t *pg, const char *user_id, int64_t max, ai_task_set_t *set)
{
    memset(set, 0, sizeof *set);
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", (long long)max);
    PGresult *r = NULL;
    int rc = exec_rows(pg, "proj_load", 2, (const char *[]){user_id, lim}, &r);
    if (rc != TM_OK)
        return rc;
    set->res = r;
    set->n = (size_t)PQntuples(r);
    set->tasks = tm_xcalloc(set->n + 1, sizeof *set->tasks);
    set->meta = tm_xcalloc(set->n + 1, sizeof *set->meta);
    set->labels = tm_xcalloc(set->n + 1, sizeof *set->labels);
    for (size_t i = 0; i < set->n; i++)
        fill_task(set, r, (int)i);
    link_labels(set);
    return TM_OK;
}

void ai_task_set_dispose(ai_task_set_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; set->labels && i < set->n; i++)
        json_decref(set->labels[i]);
    free(set->labels);
    free(set->label_ptrs);
    free(set->tasks);
    free(set->meta);
    PQclear(set->res);
    memset(set, 0, sizeof *set);
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
