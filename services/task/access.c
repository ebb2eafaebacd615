/* access: the caller's role in a workspace, from task.members. */
#include "access.h"

#include <string.h>
#include "tm_util.h"

int access_workspace_role(tm_pg_t *pg, const char *workspace_id, const char *user_id,
                          ws_role_t *out)
{
    *out = WS_ROLE_NONE;
    /* Not-a-UUID can never be a member; skip the query (and its cast error). */
    if (!workspace_id || !user_id || !tm_is_uuid(workspace_id) || !tm_is_uuid(user_id))
        return TM_OK;
    PGresult *r = NULL;
    int rc =
        tm_pg_exec(pg, "access_member_role", 2, (const char *[]){workspace_id, user_id}, &r, NULL);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) == 1)
        *out = access_role_parse(PQgetvalue(r, 0, 0));
    PQclear(r);
    return TM_OK;
}

const char *access_role_name(ws_role_t r)
{
    switch (r) {
    case WS_ROLE_OWNER:
        return "owner";
    case WS_ROLE_EDITOR:
        return "editor";
    case WS_ROLE_VIEWER:
        return "viewer";
    default:
        return "none";
    }
}

ws_role_t access_role_parse(const char *s)
{
    if (!s)
        return WS_ROLE_NONE;
    if (strcmp(s, "owner") == 0)
        return WS_ROLE_OWNER;
    if (strcmp(s, "editor") == 0)
        return WS_ROLE_EDITOR;
    if (strcmp(s, "viewer") == 0)
        return WS_ROLE_VIEWER;
    return WS_ROLE_NONE;
}
