/* ai_projection: the ai schema's view of TM_EVENTS, and the per-user reads handlers use.
 *
 * Writes (consumer thread): ai_projection_apply() applies one decoded event inside one
 * transaction, idempotent by event id (processed_events) and by task version (an older
 * version never overwrites a newer one), and reports the users whose data changed so the
 * caller can drop their cached answers; ai_projection_apply_batch() does the same for a
 * batch of events with one statement (migration 005). Each change bumps the user's generation and
 * logs the task in the user's change log (ai.user_changes), in the same transaction. Reads (worker
 * threads): a user's tasks are the tasks they created or are assigned to, never anyone else's.
 * Every function takes the calling thread's own tm_pg_t (prepared with ai_projection_stmts). */
#ifndef AI_PROJECTION_H
#define AI_PROJECTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ai_task.h"
#include "task_set.h"
#include "tm_events.h"
#include "tm_pg.h"

#define AI_PROJ_MAX_TOUCHED 4
/* Slots of the per-user change log (ai.user_changes): changes a task set can catch up on. */
#define AI_CHANGE_RING 256

extern const tm_pg_stmt_t ai_projection_stmts[];
extern const size_t ai_projection_nstmts;

typedef struct {
    size_t n;
    char ids[AI_PROJ_MAX_TOUCHED][37];
    char task_id[37]; /* the task the event changed ("" for other events) */
} ai_touched_t;

/* Called inside the transaction once the touched users are known, just before COMMIT (so a
 * cache can drop their answers before the change becomes visible, and again after). */
typedef void (*ai_proj_touched_fn)(const ai_touched_t *touched, void *arg);

/* Apply ev. Returns 0 (applied, duplicate or irrelevant: ack it), TM_ERR_INVALID (bad
 * data: log and ack), TM_ERR_PG / TM_ERR_UNAVAILABLE (retry later: do not ack).
 * touched receives the users whose projection changed. before_commit may be NULL. */
int ai_projection_apply(tm_pg_t *pg, const tm_event_t *ev, ai_touched_t *touched,
                        ai_proj_touched_fn before_commit, void *arg) TM_WUR;

/* The users a batch changed (ai_projection_apply_batch); the caller disposes it. */
typedef struct {
    size_t n;
    char (*ids)[37];
} ai_users_t;
void ai_users_dispose(ai_users_t *u);
typedef void (*ai_proj_users_fn)(const ai_users_t *users, void *arg);

/* Apply evs[0..n) (decoded, in stream order) in one transaction with one statement, with
 * the effect of ai_projection_apply on each in turn: an event id applied before (or earlier
 * in evs) changes nothing, later events of a task or member win as the version guard lets
 * them, bumps and change-log entries as the per-event path makes (one generation per
 * changed task and user). bad[i] (n entries) is set for an event with bad data: it is
 * neither applied nor recorded (log and ack it, as for TM_ERR_INVALID). users receives the
 * users whose projection changed (before_commit, which may be NULL, gets them just before
 * COMMIT). Returns 0, or TM_ERR_PG / TM_ERR_UNAVAILABLE: nothing applied (rolled back),
 * users empty; the caller may then apply the events one by one to find the one at fault. */
int ai_projection_apply_batch(tm_pg_t *pg, const tm_event_t *const *evs, size_t n, bool *bad,
                              ai_users_t *users, ai_proj_users_fn before_commit, void *arg) TM_WUR;

/* Load at most max of user_id's tasks (not deleted), most recently updated first, into set
 * (initialised here; the caller disposes it). */
int ai_projection_load(tm_pg_t *pg, const char *user_id, int64_t max, ai_task_set_t *set) TM_WUR;
/* The tasks of user_id changed in generations (since, upto], from the change log (migration
 * 004): ch->entries counts the log entries found (upto - since when the log still holds
 * them all), ch->ids the distinct tasks, ch->live the current rows of those still the
 * user's and not deleted. ch is initialised here; the caller disposes it. */
int ai_projection_changes(tm_pg_t *pg, const char *user_id, int64_t since, int64_t upto,
                          ai_task_changes_t *ch) TM_WUR;
/* The user's projection generation (0 when never touched). */
int ai_projection_gen(tm_pg_t *pg, const char *user_id, int64_t *gen) TM_WUR;

#endif
