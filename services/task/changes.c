/* changes: GET /api/v1/workspaces/{id}/changes?since=&limit= (tm.v1.workspace.changes).
 * Every outbox event of the workspace after `since`, in seq order. seq is gapless and
 * assigned under the workspace row lock, so a reader never sees seq n+1 before seq n. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "task_json.h"
#include "tasks.h"
#include "tm_query.h"
#include "tm_util.h"

#define CHANGES_DEFAULT_LIMIT 100
#define CHANGES_MAX_LIMIT     1000

/* Parse query integer `name` into *out (absent: unchanged). false on a malformed value or
 * one outside [min, max]. */
static bool query_int(const char *q, const char *name, long long min, long long max, long long *out)
{
    char buf[24];
    long n = tm_query_get(q, name, buf, sizeof buf);
    if (n == -1)
        return true;
    if (n <= 0)
        return false;
    char *end = NULL;
    long long v = strtoll(buf, &end, 10);
    if (*end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static json_t *rows_to_array(PGresult *r, int max)
{
    json_t *data = json_array();
    for (int i = 0; i < PQntuples(r) && i < max; i++) {
        json_t *e = task_json_from_result(r, i, 0);
        if (e)
            json_array_append_new(data, e);
    }
    return data;
}

int changes_handle(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *q = tm_query_string(req->msg);
    const char *ws = tm_query_param(req->msg, "id");
    long long since = 0, limit = CHANGES_DEFAULT_LIMIT;
    tm_json_errors_t errs = {0};
    if (!query_int(q, "since", 0, INT64_MAX, &since))
        tm_json_errors_add(&errs, "since", "must be an integer >= 0");
    if (!query_int(q, "limit", 1, INT32_MAX, &limit))
        tm_json_errors_add(&errs, "limit", "must be an integer between 1 and %d",
                           CHANGES_MAX_LIMIT);
    if (!ws || !tm_is_uuid(ws)) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such workspace");
        return 0;
    }
    if (errs.count > 0) {
        tm_svc_reply_invalid(rep, req, &errs);
        return 0;
    }
    limit = limit > CHANGES_MAX_LIMIT ? CHANGES_MAX_LIMIT : limit;
    int rc = tasks_authorize(w, req, rep, ws, TASK_PERM_READ);
    if (rc != TM_OK)
        return tasks_finish_error(w, false, rc);
    char s_since[24], s_lim[24];
    snprintf(s_since, sizeof s_since, "%lld", since);
    snprintf(s_lim, sizeof s_lim, "%lld", limit + 1);
    const char *params[3] = {ws, s_since, s_lim};
    PGresult *r = NULL;
    if ((rc = tm_pg_exec(w->pg, "ws_changes", 3, params, &r, NULL)) != TM_OK)
        return rc;
    json_t *data = rows_to_array(r, (int)limit);
    bool more = PQntuples(r) > limit;
    PQclear(r);
    size_t n = json_array_size(data);
    json_int_t next = n ? json_integer_value(json_object_get(json_array_get(data, n - 1), "seq"))
                        : (json_int_t)since;
    tm_svc_reply_json(
        rep, 200, json_pack("{s:o, s:I, s:b}", "data", data, "next_since", next, "has_more", more));
    return 0;
}
