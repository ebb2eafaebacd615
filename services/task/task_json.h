/* task_json: strict validation of task request bodies, and task rows -> JSON.
 *
 * Field tables (tm_json) reject unknown fields, and the server-owned fields (id,
 * created_by, version, completed_at, created_at, updated_at, time_spent_minutes, and
 * workspace_id on update/replace) are refused as "read-only field". Every limit is a
 * named problem: title 1..500 chars, description <= 20,000, labels <= 20 items of 1..50
 * chars, priority 1..4 (1 highest, default 4), estimate_minutes 0..100,000.
 *
 * A "full" task object holds every writable field (title, description, status, priority,
 * labels, assignee_id, due_at, estimate_minutes): create and replace start from the
 * defaults, update from the current task, and the body is laid over it (null clears).
 * Pure functions, any thread; errors as stated per function. */
#ifndef TASK_JSON_H
#define TASK_JSON_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include "tm_error.h"
#include "tm_json.h"

#define TASK_DEFAULT_PRIORITY 4
#define TASK_NFIELDS          8 /* writable fields, in the order of task_params_t.v */

typedef enum { TASK_BODY_CREATE, TASK_BODY_UPDATE, TASK_BODY_REPLACE } task_body_kind_t;

/* Validate a request body of that kind; 0 or TM_ERR_INVALID with errs filled. */
int task_json_check(const json_t *body, task_body_kind_t kind, tm_json_errors_t *errs) TM_WUR;

/* New full object: base (the current task, or NULL for the defaults) with every writable
 * field of body laid over it. Caller owns the result. */
json_t *task_json_merge(const json_t *base, const json_t *body);

/* True if body (already checked) asks for nothing but {"status":"archived"}. */
bool task_json_is_archive_only(const json_t *body);

/* SQL text parameters for the writable fields of a full object, in this order: title,
 * description, status, priority, labels (JSON array text), assignee_id, due_at,
 * estimate_minutes. NULL entries are SQL NULL. Strings borrow from `full`, which must
 * outlive the params; task_params_dispose frees the rest. */
typedef struct {
    const char *v[TASK_NFIELDS];
    char priority[24];
    char estimate[24];
    char *labels;
} task_params_t;
void task_params_init(task_params_t *p, const json_t *full);
void task_params_dispose(task_params_t *p);

/* Parse the JSON text of column col of row (task_to_json(t)::text). NULL if SQL NULL or
 * not a JSON object. Caller owns the result. */
json_t *task_json_from_result(const PGresult *r, int row, int col);

/* The columns of task_to_json (migrations/011_tasks.sql) as plain SQL values, for row
 * alias A: selecting these and building the object here costs Postgres ~2 us a row
 * instead of ~20 us for jsonb_build_object (measured on a 50-row list page). */
#define TASK_COLUMNS_NUM 16
#define TASK_COLUMNS_SQL(A)                                                                        \
    A ".id::text, " A ".workspace_id::text, " A ".title, " A ".description, " A ".status, " A      \
      ".priority, to_json(" A ".labels)::text, " A ".assignee_id::text, task_ts_json(" A           \
      ".due_at), " A ".estimate_minutes, " A ".created_by::text, task_ts_json(" A ".created_at), " \
      "task_ts_json(" A ".updated_at), task_ts_json(" A ".completed_at), " A                       \
      ".time_spent_minutes, " A ".version"

/* A growing text buffer (owned: free(p)). */
typedef struct {
    char *p;
    size_t len, cap;
} task_buf_t;

/* Make room for n more bytes; false on size overflow. */
bool task_buf_reserve(task_buf_t *b, size_t n);

/* Append to b the JSON text of the task in the TASK_COLUMNS_NUM columns of row starting
 * at col: the object task_to_json gives (same keys, types and key order), written
 * directly rather than through jansson (50 jansson objects cost more than the query).
 * TM_ERR_INTERNAL if a column is missing or a number is malformed (b unchanged). */
int task_json_append_columns(task_buf_t *b, const PGresult *r, int row, int col);

#endif
