/* ai_task: the task record the rule-based engine reads (urgency, insights, suggestions).
 * Pure data: every pointer is borrowed from the caller, who keeps it alive for the call.
 * Times are ms since the epoch (UTC); 0 means "not set". */
#ifndef AI_TASK_H
#define AI_TASK_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *id;            /* task UUID or NULL */
    const char *title;         /* UTF-8, never NULL in valid input */
    const char *description;   /* may be NULL */
    const char *const *labels; /* n_labels strings */
    size_t n_labels;
    int priority; /* 1 (highest) .. 4, 0 = none */
    int64_t created_at;
    int64_t updated_at; /* last change, 0 -> created_at */
    int64_t due_at;
    int64_t completed_at;     /* 0 = open */
    int32_t estimate_minutes; /* 0 = none */
    int32_t logged_minutes;   /* time tracked, 0 = none */
    /* the title's keywords as ai_title_keywords writes them ("w1\0w2\0\0"), computed once
     * when the task is loaded; NULL: worked out from the title when needed */
    const char *keywords;
} ai_task_t;

#endif
