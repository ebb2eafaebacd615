/* rt_rules: which notifications one TM_EVENTS event creates, and which rooms it goes to.
 * Pure functions over a decoded event, any thread.
 *
 * Notifications:
 *   task.created / task.updated with assignee_id set and != actor_id, and (for updates) the
 *     assignee changed from the previous event of the task (prev_assignee; NULL = unknown,
 *     which counts as changed)                 -> "task.assigned" for the assignee
 *   task.completed of a task whose created_by != actor_id -> "task.completed" for created_by
 *   member.added where user_id != actor_id     -> "workspace.added" for the added user
 *   (workspace.created never notifies: the creator added themselves.) */
#ifndef RT_RULES_H
#define RT_RULES_H

#include <jansson.h>
#include <stddef.h>
#include "tm_events.h"

#define RT_RULES_MAX 4
#define RT_TITLE_MAX 200 /* bytes, cut on a UTF-8 boundary */

typedef struct {
    char user_id[37];
    char type[32];
    char title[64];
    char body[RT_TITLE_MAX + 1];
} rt_notice_t;

/* Fill out[0..cap) and return how many notifications ev creates (<= RT_RULES_MAX). */
size_t rt_rules_notices(const tm_event_t *ev, const char *prev_assignee, rt_notice_t *out,
                        size_t cap);
/* The task an event belongs to (task.*: data.id; others: data.task_id), or NULL. The
 * pointer borrows from ev->data. */
const char *rt_rules_task_id(const tm_event_t *ev);
/* Membership change of an event: +1 upsert (user_id, role), -1 remove, 0 none. For
 * workspace.created the member is data.user_id, else data.created_by / data.owner_id. */
int rt_rules_membership(const tm_event_t *ev, const char **user_id, const char **role);
/* Copy at most max bytes of s into out (max + 1 bytes) without cutting a UTF-8 sequence. */
void rt_rules_utf8_cut(const char *s, char *out, size_t max);

#endif
