/* workspaces: workspace create/list/get and membership (members.c) for tm-task.
 * Handlers run on worker threads with the worker's tm_pg_t. Every change writes its
 * outbox event (outbox_append) in the same transaction. A caller who is not a member gets
 * 404 for everything in a workspace; a member without the needed role gets 403. */
#ifndef TASK_WORKSPACES_H
#define TASK_WORKSPACES_H

#include "access.h"
#include "tm_svc.h"

int workspaces_create(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int workspaces_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int workspaces_get(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int members_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int members_add(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int members_remove(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);

/* The caller's role in the workspace named by Tm-Param-id; on NONE fills rep with 404 and
 * returns NONE. *ws_id receives the (validated) id. */
int workspaces_caller_role(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                           const char **ws_id, ws_role_t *role) TM_WUR;
/* Append an outbox event {workspace_id, user_id, role} (inside the caller's transaction). */
int workspaces_event(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *ws_id,
                     const char *type, const char *user_id, const char *role) TM_WUR;

extern const tm_svc_route_t workspaces_routes[];
extern const size_t workspaces_nroutes;
extern const tm_pg_stmt_t workspaces_stmts[];
extern const size_t workspaces_nstmts;

#endif
