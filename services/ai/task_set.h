/* ai_task_set: a user's tasks as the engine reads them (ai_task_t + ai_task_meta_t arrays),
 * owning their strings: each task's strings live in one allocation of its own (its blob),
 * so that one task can be replaced or dropped without touching the others (the in-memory
 * task sets of tsets.h keep a set for minutes and apply changes to it).
 *
 * Order: most recently updated first (updated_at descending), as the projection loads it;
 * the engine's answers depend on that order (the first overdue tasks are proposed first).
 * A set is used by one thread at a time (tsets.h guards the shared ones). Allocation
 * failure aborts (tm_xmalloc). */
#ifndef AI_TASK_SET_H
#define AI_TASK_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ai_task.h"

/* A UUID as 16 bytes, to compare without reading the text. */
typedef struct {
    uint64_t hi, lo;
} ai_uuid_key_t;

/* The key of a canonical UUID text (any case); false (key zeroed) when s is not one. */
bool ai_uuid_key(const char *s, ai_uuid_key_t *key);
static inline bool ai_uuid_key_eq(ai_uuid_key_t a, ai_uuid_key_t b)
{
    return a.hi == b.hi && a.lo == b.lo;
}

/* Extra per-task fields the engine's ai_task_t does not carry. Owned by the set. */
typedef struct {
    const char *workspace_id;
    const char *status;
    const char *created_by;  /* may be "" */
    const char *assignee_id; /* may be "" */
    bool done, archived;     /* status is "done" / "archived" (set by ai_task_set_add) */
    /* the task's and the workspace's ids as 16 bytes (ai_uuid_key; zeros when not a UUID),
     * compared in place: the strings live in each task's own allocation */
    ai_uuid_key_t id_key, ws_key;
} ai_task_meta_t;

typedef struct {
    size_t n, cap;
    ai_task_t *tasks;
    ai_task_meta_t *meta;
    char **blobs; /* blobs[i] holds every string tasks[i] and meta[i] point to */
    size_t bytes; /* heap bytes held: arrays and blobs (the task sets' memory cap) */
} ai_task_set_t;

/* One task's values as decoded from a row; strings are copied by ai_task_set_add (lengths
 * given, not NUL-terminated necessarily); labels[0..n_labels) with label_lens. */
typedef struct {
    const char *id, *workspace_id, *created_by, *assignee_id; /* NUL-terminated, may be "" */
    const ai_uuid_key_t *id_key, *ws_key;     /* the ids' keys when known (else parsed from text) */
    const char *title, *description, *status; /* description may be NULL */
    size_t title_len, description_len, status_len;
    const char *const *labels;
    const size_t *label_lens;
    size_t n_labels;
    int priority;
    int64_t created_at, updated_at, due_at, completed_at;
    int32_t estimate_minutes, logged_minutes;
} ai_task_fields_t;

void ai_task_set_init(ai_task_set_t *set);
/* Frees every blob and the arrays; set is empty (and reusable) afterwards. NULL ok. */
void ai_task_set_dispose(ai_task_set_t *set);
/* Room for n tasks in all (a load knows its row count: no doubling slack). */
void ai_task_set_reserve(ai_task_set_t *set, size_t n);
/* Append a copy of f (one blob; the title's keywords are computed once, here). */
void ai_task_set_add(ai_task_set_t *set, const ai_task_fields_t *f);

/* Changes to a user's tasks since a generation (ai_projection_changes). */
typedef struct {
    int64_t entries;    /* change-log entries found in the asked range */
    size_t n_ids;       /* tasks changed: ids[0..n_ids) */
    ai_uuid_key_t *ids; /* sorted (after ai_task_changes_seal) */
    ai_task_set_t live; /* current rows of those that still belong to the user */
} ai_task_changes_t;

void ai_task_changes_init(ai_task_changes_t *ch);
void ai_task_changes_dispose(ai_task_changes_t *ch);
/* Record that task id changed (the caller adds its row to ch->live when it is live);
 * ai_task_changes_seal sorts ids before use. */
void ai_task_changes_add_id(ai_task_changes_t *ch, const char *id);
void ai_task_changes_seal(ai_task_changes_t *ch);

/* Apply ch to set (sorted by updated_at descending): every changed task is dropped, the
 * live rows are merged in by updated_at (on a tie before the older entry), then the oldest
 * are dropped beyond max. One pass over set plus a sort of the changes. ch->live is emptied
 * (its blobs move into set). */
void ai_task_set_apply(ai_task_set_t *set, ai_task_changes_t *ch, size_t max);
/* Index of task id in set, or -1 (a linear scan over the keys). */
long ai_task_set_find(const ai_task_set_t *set, const char *id);

#endif
