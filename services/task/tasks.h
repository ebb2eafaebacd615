/* tasks: the task API of tm-task (subjects tm.v1.task.* and tm.v1.workspace.changes).
 *
 * main.c concatenates tasks_routes / tasks_stmts with the identity tables. Every handler
 * runs on a tm_svc worker thread with that worker's tm_pg_t; every write is one
 * transaction holding the change and its outbox row (outbox_append), and the reply is
 * built only after COMMIT. Authorisation: access_workspace_role() per request; a task the
 * caller may not see answers 404. The contract is proto/subjects/task.md.
 *
 * The helpers below are shared by tasks.c, task_list.c, time_entries.c, attachments.c and
 * changes.c only. */
#ifndef TASK_TASKS_H
#define TASK_TASKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "access.h"
#include "tm_pg.h"
#include "tm_svc.h"

extern const tm_svc_route_t tasks_routes[];
extern const size_t tasks_nroutes;
extern const tm_pg_stmt_t tasks_stmts[];
extern const size_t tasks_nstmts;

/* ---- internal to the task API ---- */

typedef enum {
    TASK_PERM_READ,     /* viewer+, or a global moderator/admin */
    TASK_PERM_WRITE,    /* editor+ */
    TASK_PERM_MODERATE, /* editor+, or a global moderator/admin (archive, delete) */
} task_perm_t;

/* A task loaded for a request. task is owned (json_decref via tasks_ref_dispose). */
typedef struct {
    char id[37];
    char workspace_id[37];
    int64_t version;
    json_t *task;
} task_ref_t;

/* True if the caller's global role is moderator or admin. */
bool tasks_is_moderator(const tm_svc_req_t *req);
/* Check perm on workspace_id. 0 if allowed; otherwise fills rep (401 without Tm-User-Id,
 * 404 when the caller may not even read, 403 when it may read but not do this) and returns
 * TM_ERR_AUTH, TM_ERR_NOT_FOUND or TM_ERR_FORBIDDEN. Other errors (TM_ERR_PG...) are returned with
 * rep untouched. */
int tasks_authorize(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                    const char *workspace_id, task_perm_t perm) TM_WUR;
/* Load the task named by path parameter "id" (lock: SELECT ... FOR UPDATE, inside the
 * caller's transaction) and authorise perm. Same error convention as tasks_authorize;
 * a malformed or unknown id is 404. */
int tasks_load(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep, bool lock,
               task_perm_t perm, task_ref_t *out) TM_WUR;
void tasks_ref_dispose(task_ref_t *t);
/* Set the ETag header "\"<version>\"" from a task object. */
void tasks_set_etag(tm_svc_reply_t *rep, const json_t *task);
/* Finish a handler that failed: roll back an open transaction level when in_txn, and
 * return 0 if rep already holds the problem (AUTH/NOT_FOUND/FORBIDDEN/INVALID/CONFLICT are
 * only returned by helpers that fill rep) or err for the harness to map. */
int tasks_finish_error(tm_svc_worker_t *w, bool in_txn, int err);
/* Append an outbox event for task (payload) then COMMIT. On failure rolls back. */
int tasks_emit_commit(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *workspace_id,
                      const char *type, const json_t *payload) TM_WUR;

/* Handlers in the other files. */
int task_list_handle(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int time_entries_log(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int time_entries_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int attachments_put(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int attachments_get(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int attachments_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int attachments_delete(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int changes_handle(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* Insert a time entry of minutes for task_id by the caller (inside a transaction). */
int time_entries_insert(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *task_id,
                        int64_t minutes, const char *started_at, const char *note,
                        json_t **entry_out) TM_WUR;

#endif
