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
#include <stddef.h>
#include <stdint.h>
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

/* The columns of task_to_json (migrations/011_tasks.sql) as their plain values, for row
 * alias A, to be read in binary format (resultFormat 1): Postgres then runs no output
 * function at all (uuid_out, to_char, to_json...: ~250 us of a 50-row list page, when
 * jsonb_build_object cost ~20 us a row before that), and task_json_append_binary writes
 * the object from the binary values. */
#define TASK_COLUMNS_NUM 16
#define TASK_BIN_COLUMNS_SQL(A)                                                                    \
    A ".id, " A ".workspace_id, " A ".title, " A ".description, " A ".status, " A ".priority, " A  \
      ".labels, " A ".assignee_id, " A ".due_at, " A ".estimate_minutes, " A ".created_by, " A     \
      ".created_at, " A ".updated_at, " A ".completed_at, " A ".time_spent_minutes, " A ".version"

/* A growing text buffer (owned: free(p)). */
typedef struct {
    char *p;
    size_t len, cap;
} task_buf_t;

/* Make room for n more bytes; false on size overflow. */
bool task_buf_reserve(task_buf_t *b, size_t n);

/* Longest text of a timestamp written here (year 294276 with microseconds), with its NUL. */
#define TASK_TS_TEXT_MAX 40
/* Room task_json_binary_key needs: a uuid's 36 characters and the NUL (times are shorter:
 * a cursor's time key is at most 27 characters, see cursor.h). */
#define TASK_KEY_TEXT_MAX 37

/* True if the TASK_COLUMNS_NUM columns of r from col are binary with the types of
 * TASK_BIN_COLUMNS_SQL (uuid, text, smallint, text[], timestamptz, integer, bigint). */
bool task_json_binary_ok(const PGresult *r, int col);

/* Append to b the JSON text of the task in the TASK_COLUMNS_NUM binary columns
 * (TASK_BIN_COLUMNS_SQL) of row starting at col: the text task_to_json gives (keys, key
 * order, escapes, millisecond UTC times, NULL for an infinite time), written directly
 * rather than through jansson (50 jansson objects cost more than the query).
 * TM_ERR_INTERNAL if a column is missing, of another type, or malformed (b unchanged). */
int task_json_append_binary(task_buf_t *b, const PGresult *r, int row, int col);

/* The objects of rows 0..nrows-1 (nrows <= PQntuples), comma-separated, as
 * task_json_append_binary writes them; the column types are checked once. TM_ERR_INTERNAL
 * as there (b unchanged). */
int task_json_append_binary_rows(task_buf_t *b, const PGresult *r, int nrows, int col);

/* task_ts_key()'s text of a binary timestamptz value us (microseconds since 2000-01-01
 * UTC): "YYYY-MM-DDTHH:MM:SS.ffffffZ", or "infinity" / "-infinity". Returns its length. */
size_t task_ts_key_text(int64_t us, char out[TASK_TS_TEXT_MAX]);

/* The cursor key text of a binary sort-key column: task_ts_key's text for a timestamptz,
 * decimal for smallint/integer/bigint, a real in the fewest digits that read back as the
 * same float4 (float4out's text), a uuid's 36 characters. cap >= TASK_KEY_TEXT_MAX.
 * TM_ERR_INTERNAL for NULL, another type, or a time too long for cap. */
int task_json_binary_key(const PGresult *r, int row, int col, char *out, size_t cap);

#endif
