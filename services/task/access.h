/* access: workspace membership and roles, the one authorisation check of tm-task
 * (contract; implemented in access.c).
 * A workspace the caller is not a member of is reported as WS_ROLE_NONE, and handlers answer
 * 404 for it (never 403: no existence leak). Global moderators and admins may read and
 * archive/delete any task (handlers check the Tm-User-Role header for that). */
#ifndef TASK_ACCESS_H
#define TASK_ACCESS_H

#include "tm_pg.h"

typedef enum {
    WS_ROLE_NONE = 0,
    WS_ROLE_VIEWER = 1,
    WS_ROLE_EDITOR = 2,
    WS_ROLE_OWNER = 3
} ws_role_t;

/* The caller's role in the workspace (NONE if not a member or no such workspace). */
int access_workspace_role(tm_pg_t *pg, const char *workspace_id, const char *user_id,
                          ws_role_t *out) TM_WUR;
/* "owner"/"editor"/"viewer" <-> ws_role_t; parse returns WS_ROLE_NONE for anything else. */
const char *access_role_name(ws_role_t r);
ws_role_t access_role_parse(const char *s);

#endif
