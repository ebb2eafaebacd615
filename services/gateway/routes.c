/* gw_routes: see routes.h. Adding an HTTP route means adding one line below. */
#include "routes.h"

#include <stdio.h>
#include <string.h>
#include "tm_subjects.h"

#define KB64 GW_BODY_LIMIT_DEFAULT
#define MB5  GW_BODY_LIMIT_ATTACHMENT
#define U    GW_ROLE_USER
#define M    GW_ROLE_MODERATOR
#define A    GW_ROLE_ADMIN
#define NONE GW_BODY_NONE, 0
#define JSON GW_BODY_JSON, KB64
#define RAW  GW_BODY_RAW, MB5

/* Literal routes come before parameterised ones with the same prefix. */
const gw_route_t gw_routes[] = {
    /* auth */
    {"POST", "/api/v1/auth/register", TM_SUBJ_AUTH_REGISTER, false, U, JSON, 0,
     "Create an account"},
    {"POST", "/api/v1/auth/login", TM_SUBJ_AUTH_LOGIN, false, U, JSON, 0,
     "Log in: access and refresh tokens"},
    {"POST", "/api/v1/auth/refresh", TM_SUBJ_AUTH_REFRESH, false, U, JSON, 0,
     "Rotate a refresh token"},
    {"POST", "/api/v1/auth/logout", TM_SUBJ_AUTH_LOGOUT, true, U, JSON, 0,
     "End the current session"},
    {"GET", "/api/v1/me", TM_SUBJ_AUTH_ME, true, U, NONE, 0, "The caller's user"},
    {"GET", "/api/v1/me/sessions", TM_SUBJ_AUTH_SESSIONS, true, U, NONE, 0,
     "The caller's sessions"},
    {"DELETE", "/api/v1/me/sessions/{id}", TM_SUBJ_AUTH_REVOKE, true, U, NONE, 0,
     "Revoke a session"},
    /* workspaces */
    {"GET", "/api/v1/workspaces", TM_SUBJ_WS_LIST, true, U, NONE, 0, "List workspaces"},
    {"POST", "/api/v1/workspaces", TM_SUBJ_WS_CREATE, true, U, JSON, 0, "Create a workspace"},
    {"GET", "/api/v1/workspaces/{id}", TM_SUBJ_WS_GET, true, U, NONE, 0, "Get a workspace"},
    {"GET", "/api/v1/workspaces/{id}/members", TM_SUBJ_WS_MEMBERS, true, U, NONE, 0,
     "List members"},
    {"POST", "/api/v1/workspaces/{id}/members", TM_SUBJ_WS_ADD_MEMBER, true, U, JSON, 0,
     "Add a member"},
    {"DELETE", "/api/v1/workspaces/{id}/members/{user}", TM_SUBJ_WS_REMOVE_MEMBER, true, U, NONE, 0,
     "Remove a member"},
    {"GET", "/api/v1/workspaces/{id}/changes", TM_SUBJ_WS_CHANGES, true, U, NONE, 0,
     "Events since a sequence number"},
    {"GET", "/api/v1/workspaces/{id}/presence", TM_SUBJ_RT_PRESENCE, true, U, NONE, 0,
     "Who is online"},
    /* tasks */
    {"GET", "/api/v1/tasks", TM_SUBJ_TASK_LIST, true, U, NONE, 0, "List and search tasks"},
    {"POST", "/api/v1/tasks", TM_SUBJ_TASK_CREATE, true, U, JSON, 0, "Create a task"},
    {"GET", "/api/v1/tasks/{id}", TM_SUBJ_TASK_GET, true, U, NONE, 0, "Get a task"},
    {"PATCH", "/api/v1/tasks/{id}", TM_SUBJ_TASK_UPDATE, true, U, JSON, 0,
     "Update fields of a task"},
    {"PUT", "/api/v1/tasks/{id}", TM_SUBJ_TASK_REPLACE, true, U, JSON, 0, "Replace a task"},
    {"DELETE", "/api/v1/tasks/{id}", TM_SUBJ_TASK_DELETE, true, U, NONE, 0, "Delete a task"},
    {"POST", "/api/v1/tasks/{id}/complete", TM_SUBJ_TASK_COMPLETE, true, U, JSON, 0,
     "Complete a task"},
    {"GET", "/api/v1/tasks/{id}/time-entries", TM_SUBJ_TASK_TIME_LIST, true, U, NONE, 0,
     "List time entries"},
    {"POST", "/api/v1/tasks/{id}/time-entries", TM_SUBJ_TASK_TIME_LOG, true, U, JSON, 0,
     "Log time"},
    {"GET", "/api/v1/tasks/{id}/attachments", TM_SUBJ_TASK_ATTACH_LIST, true, U, NONE, 0,
     "List attachments"},
    {"POST", "/api/v1/tasks/{id}/attachments", TM_SUBJ_TASK_ATTACH_PUT, true, U, RAW, 0,
     "Upload an attachment (raw body, ?filename=)"},
    {"GET", "/api/v1/tasks/{id}/attachments/{aid}", TM_SUBJ_TASK_ATTACH_GET, true, U, NONE, 0,
     "Download an attachment"},
    {"DELETE", "/api/v1/tasks/{id}/attachments/{aid}", TM_SUBJ_TASK_ATTACH_DELETE, true, U, NONE, 0,
     "Delete an attachment"},
    /* notifications */
    {"GET", "/api/v1/notifications", TM_SUBJ_RT_NOTIFICATIONS, true, U, NONE, 0,
     "List notifications"},
    {"POST", "/api/v1/notifications/read-all", TM_SUBJ_RT_READ_ALL, true, U, JSON, 0,
     "Mark every notification read"},
    {"POST", "/api/v1/notifications/{id}/read", TM_SUBJ_RT_READ, true, U, JSON, 0,
     "Mark a notification read"},
    /* ai */
    {"POST", "/api/v1/ai/suggestions", TM_SUBJ_AI_SUGGEST, true, U, JSON, 0,
     "Ask for task suggestions"},
    {"POST", "/api/v1/ai/suggestions/{id}/accept", TM_SUBJ_AI_ACCEPT, true, U, JSON, 0,
     "Accept a suggestion"},
    {"POST", "/api/v1/ai/suggestions/{id}/reject", TM_SUBJ_AI_REJECT, true, U, JSON, 0,
     "Reject a suggestion"},
    {"GET", "/api/v1/ai/insights", TM_SUBJ_AI_INSIGHTS, true, U, NONE, 0, "Productivity insights"},
    {"GET", "/api/v1/ai/recommendations", TM_SUBJ_AI_RECOMMEND, true, U, NONE, 0,
     "What to do next"},
    {"POST", "/api/v1/ai/parse", TM_SUBJ_AI_PARSE, true, U, JSON, 0, "Parse a quick-add sentence"},
    /* admin */
    {"POST", "/api/v1/admin/announcements", TM_SUBJ_RT_ANNOUNCE, true, A, JSON, 0,
     "Broadcast an announcement"},
    {"GET", "/api/v1/admin/users", TM_SUBJ_ADMIN_USERS, true, M, NONE, 0, "List users"},
    {"PATCH", "/api/v1/admin/users/{id}", TM_SUBJ_ADMIN_USER_UPDATE, true, A, JSON, 0,
     "Change a user's role or status"},
    {"GET", "/api/v1/admin/cache", NULL, true, A, NONE, GW_LOCAL_CACHE,
     "Response cache figures of this gateway"},
    {"DELETE", "/api/v1/admin/cache", NULL, true, A, NONE, GW_LOCAL_CACHE,
     "Empty the response cache of this gateway"},
    /* operations (answered by the gateway) */
    {"GET", "/healthz", NULL, false, U, NONE, GW_LOCAL_HEALTHZ, "Liveness of this gateway"},
    {"GET", "/readyz", NULL, false, U, NONE, GW_LOCAL_READYZ, "Readiness of this gateway"},
    {"GET", "/api/v1/health", NULL, false, U, NONE, GW_LOCAL_HEALTH, "Health of every service"},
    {"GET", "/api/v1/openapi.json", NULL, false, U, NONE, GW_LOCAL_OPENAPI, "This document"},
    {"GET", "/ws", NULL, false, U, NONE, GW_LOCAL_WS,
     "WebSocket (proto/websocket.md); token in Authorization or ?access_token="},
};
const size_t gw_nroutes = sizeof(gw_routes) / sizeof(gw_routes[0]);

static bool param_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static bool param_ok(const char *s, size_t n)
{
    if (n == 0 || n > GW_PARAM_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!param_char(s[i]))
            return false;
    return true;
}

/* Does path[plen] match pattern? Params are collected into params. */
static bool path_matches(const char *pattern, const char *path, size_t plen, gw_params_t *params)
{
    const char *pp = pattern, *end = path + plen;
    params->n = 0;
    while (*pp != '\0') {
        if (*pp != '/' || path >= end || *path != '/')
            return false;
        pp++, path++;
        size_t pseg = strcspn(pp, "/");
        const char *slash = memchr(path, '/', (size_t)(end - path));
        size_t seg = slash ? (size_t)(slash - path) : (size_t)(end - path);
        if (pp[0] == '{') {
            if (!param_ok(path, seg) || params->n == GW_MAX_PARAMS)
                return false;
            params->p[params->n].name = pp + 1;
            params->p[params->n].name_len = pseg - 2;
            params->p[params->n].value = path;
            params->p[params->n++].len = seg;
        } else if (seg != pseg || memcmp(pp, path, seg) != 0) {
            return false;
        }
        pp += pseg;
        path += seg;
    }
    return path == end;
}

static void allow_append(char *allow, size_t cap, const char *method)
{
    size_t len = strlen(allow);
    if (strstr(allow, method) != NULL) /* method names are not substrings of each other */
        return;
    snprintf(allow + len, cap - len, "%s%s", len ? ", " : "", method);
}

gw_match_t gw_routes_match(const char *method, size_t mlen, const char *path, size_t plen,
                           const gw_route_t **route, gw_params_t *params, char *allow, size_t cap)
{
    gw_params_t scratch;
    bool path_known = false;
    if (cap > 0)
        allow[0] = '\0';
    for (size_t i = 0; i < gw_nroutes; i++) {
        const gw_route_t *r = &gw_routes[i];
        if (!path_matches(r->pattern, path, plen, &scratch))
            continue;
        if (strlen(r->method) == mlen && memcmp(r->method, method, mlen) == 0) {
            *route = r;
            *params = scratch;
            return GW_MATCH_OK;
        }
        path_known = true;
        if (cap > 0)
            allow_append(allow, cap, r->method);
    }
    return path_known ? GW_MATCH_BAD_METHOD : GW_MATCH_NOT_FOUND;
}

size_t gw_routes_max_body(void)
{
    size_t max = 0;
    for (size_t i = 0; i < gw_nroutes; i++)
        if (gw_routes[i].body_limit > max)
            max = gw_routes[i].body_limit;
    return max;
}
