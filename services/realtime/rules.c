/* rt_rules: see rules.h. */
#include "rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tm_json.h"
#include "tm_util.h"

void rt_rules_utf8_cut(const char *s, char *out, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        /* back off continuation bytes so the last sequence is whole */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static bool is_type(const tm_event_t *ev, const char *t)
{
    return strcmp(ev->type, t) == 0;
}

const char *rt_rules_task_id(const tm_event_t *ev)
{
    const char *id = strncmp(ev->type, "task.", 5) == 0 ? tm_json_str(ev->data, "id", NULL)
                                                        : tm_json_str(ev->data, "task_id", NULL);
    return id && tm_is_uuid(id) ? id : NULL;
}

int rt_rules_membership(const tm_event_t *ev, const char **user_id, const char **role)
{
    *user_id = tm_json_str(ev->data, "user_id", NULL);
    *role = tm_json_str(ev->data, "role", NULL);
    if (is_type(ev, "workspace.created")) {
        if (!*user_id)
            *user_id = tm_json_str(ev->data, "created_by", tm_json_str(ev->data, "owner_id", NULL));
        if (!*role)
            *role = "owner";
    }
    if (!*user_id || !tm_is_uuid(*user_id))
        return 0;
    if (is_type(ev, "member.removed"))
        return -1;
    if (!*role)
        return 0;
    return is_type(ev, "workspace.created") || is_type(ev, "member.added") ||
                   is_type(ev, "member.updated")
               ? 1
               : 0;
}

static size_t add(rt_notice_t *out, size_t n, size_t cap, const char *user, const char *type,
                  const char *title, const char *body)
{
    if (n >= cap || !user || !tm_is_uuid(user))
        return n;
    rt_notice_t *o = &out[n];
    memset(o, 0, sizeof *o);
    snprintf(o->user_id, sizeof o->user_id, "%s", user);
    snprintf(o->type, sizeof o->type, "%s", type);
    snprintf(o->title, sizeof o->title, "%s", title);
    rt_rules_utf8_cut(body ? body : "", o->body, RT_TITLE_MAX);
    return n + 1;
}

static bool differs(const char *a, const char *b)
{
    return !b || strcasecmp(a, b) != 0;
}

size_t rt_rules_notices(const tm_event_t *ev, const char *prev_assignee, rt_notice_t *out,
                        size_t cap)
{
    size_t n = 0;
    const char *actor = ev->actor_id;
    const char *title = tm_json_str(ev->data, "title", "");
    if (is_type(ev, "task.created") || is_type(ev, "task.updated")) {
        const char *a = tm_json_str(ev->data, "assignee_id", NULL);
        bool changed = is_type(ev, "task.created") || !prev_assignee || !a ||
                       strcasecmp(a, prev_assignee) != 0;
        if (a && changed && differs(a, actor))
            n = add(out, n, cap, a, "task.assigned", "Task assigned to you", title);
    } else if (is_type(ev, "task.completed")) {
        const char *c = tm_json_str(ev->data, "created_by", NULL);
        if (c && differs(c, actor))
            n = add(out, n, cap, c, "task.completed", "Your task was completed", title);
    } else if (is_type(ev, "member.added")) {
        const char *u = tm_json_str(ev->data, "user_id", NULL);
        if (u && differs(u, actor))
            n = add(out, n, cap, u, "workspace.added", "You were added to a workspace",
                    tm_json_str(ev->data, "workspace_name", ""));
    }
    return n;
}
