/* time_entries: POST/GET /api/v1/tasks/{id}/time-entries (tm.v1.task.time.log / .list).
 * Logging time adds to the task's time_spent_minutes and bumps its version in the same
 * transaction, with a task.updated event carrying the new task state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "task_json.h"
#include "tasks.h"
#include "tm_query.h"
#include "tm_util.h"

#define TIME_LIST_DEFAULT 100
#define TIME_LIST_MAX     500

static const tm_json_field_t log_fields[] = {
    {.name = "minutes", .kind = TM_JF_INT, .required = true, .min = 1, .max = 1440},
    {.name = "started_at", .kind = TM_JF_TIME, .nullable = true},
    {.name = "note", .kind = TM_JF_STRING, .nullable = true, .max = 1000},
};

int time_entries_insert(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *task_id,
                        int64_t minutes, const char *started_at, const char *note,
                        json_t **entry_out)
{
    char id[37], mins[24];
    tm_uuid_v4(id);
    snprintf(mins, sizeof mins, "%lld", (long long)minutes);
    const char *params[6] = {id, task_id, req->call.user_id, mins, started_at, note};
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "time_insert", 6, params, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (entry_out)
        *entry_out = task_json_from_result(r, 0, 0);
    PQclear(r);
    return entry_out && !*entry_out ? TM_ERR_INTERNAL : TM_OK;
}

/* Add minutes to the locked task; *task_out is the new state. */
static int add_time(tm_svc_worker_t *w, const char *task_id, int64_t minutes, json_t **task_out)
{
    char mins[24];
    snprintf(mins, sizeof mins, "%lld", (long long)minutes);
    const char *params[2] = {task_id, mins};
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "task_add_time", 2, params, &r, NULL);
    if (rc != TM_OK)
        return rc;
    *task_out = task_json_from_result(r, 0, 0);
    PQclear(r);
    return *task_out ? TM_OK : TM_ERR_INTERNAL;
}

int time_entries_log(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    if (tm_svc_check_body(req, rep, log_fields, sizeof log_fields / sizeof log_fields[0]) != TM_OK)
        return 0;
    int64_t minutes = tm_json_int(req->json, "minutes", 0);
    task_ref_t t = {0};
    json_t *entry = NULL, *task = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    if ((rc = tasks_load(w, req, rep, true, TASK_PERM_WRITE, &t)) != TM_OK ||
        (rc = time_entries_insert(w, req, t.id, minutes, tm_json_str(req->json, "started_at", NULL),
                                  tm_json_str(req->json, "note", NULL), &entry)) != TM_OK ||
        (rc = add_time(w, t.id, minutes, &task)) != TM_OK)
        goto fail;
    rc = tasks_emit_commit(w, req, t.workspace_id, "task.updated", task);
    tasks_ref_dispose(&t);
    json_decref(task);
    if (rc != TM_OK) {
        json_decref(entry);
        return rc;
    }
    tm_svc_reply_json(rep, 201, entry);
    return 0;
fail:
    tasks_ref_dispose(&t);
    json_decref(entry);
    json_decref(task);
    return tasks_finish_error(w, true, rc);
}

int time_entries_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    char lim[12];
    long v = tm_query_get(tm_query_string(req->msg), "limit", lim, sizeof lim);
    long limit = TIME_LIST_DEFAULT;
    if (v >= 0) {
        char *end = NULL;
        limit = strtol(lim, &end, 10);
        if (v == 0 || *end || limit < 1) {
            tm_svc_reply_problem(rep, req, 400, "validation", "limit must be 1..%d", TIME_LIST_MAX);
            return 0;
        }
        limit = limit > TIME_LIST_MAX ? TIME_LIST_MAX : limit;
    } else if (v == -2) {
        tm_svc_reply_problem(rep, req, 400, "validation", "limit is malformed");
        return 0;
    }
    task_ref_t t;
    int rc = tasks_load(w, req, rep, false, TASK_PERM_READ, &t);
    if (rc != TM_OK)
        return tasks_finish_error(w, false, rc);
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *params[2] = {t.id, lim};
    PGresult *r = NULL;
    rc = tm_pg_exec(w->pg, "time_list", 2, params, &r, NULL);
    if (rc == TM_OK) {
        json_t *data = json_array();
        for (int i = 0; i < PQntuples(r); i++) {
            json_t *e = task_json_from_result(r, i, 0);
            if (e)
                json_array_append_new(data, e);
        }
        PQclear(r);
        tm_svc_reply_json(rep, 200,
                          json_pack("{s:o, s:I}", "data", data, "time_spent_minutes",
                                    (json_int_t)tm_json_int(t.task, "time_spent_minutes", 0)));
    }
    tasks_ref_dispose(&t);
    return rc;
}
