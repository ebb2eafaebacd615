/* ai_tsets: the in-memory task sets of this process, one per recently active user (their
 * rows of the ai.tasks projection, decoded once), so that an uncached answer costs only its
 * computation instead of loading and decoding thousands of rows per request.
 *
 * Kept in step with the projection the way ai_cache keeps answers (cache.h):
 *  - every set carries the user's projection generation (ai.user_state) it is current at;
 *  - this process's TM_EVENTS consumer marks a user's set stale before and after it commits
 *    a change to that user (ai_tsets_invalidate_user, through ai_cache's listener), so the
 *    next request sees the change;
 *  - a set is used without a look at Postgres only for recheck_ms after its generation was
 *    last confirmed, so a change applied by another replica is seen within recheck_ms -
 *    or, while ai_tsets_confirm_due's check of it is in flight, up to 2 x recheck_ms.
 * A stale set catches up from the per-user change log (ai_projection_changes: only the
 * tasks changed since its generation, merged in by updated_at); a set more than
 * AI_CHANGE_RING changes behind, or one cut at max_tasks that lost a task, is loaded anew.
 * A confirmation racing an invalidation (its epoch moved between the read of the
 * generation and the confirmation) leaves the set unconfirmed: the next request checks.
 *
 * Memory: at most max_bytes over all sets (ai_task_set_t.bytes: arrays, strings, allocator
 * overhead); least recently used users go first. A set in use when it is evicted stays
 * alive until its last reader releases it; a user whose set alone exceeds max_bytes is
 * served from a private load each time. max_bytes 0 turns the store off: every acquire
 * loads the user's tasks from Postgres into a private set (the path before the store).
 *
 * Threads: any. One mutex guards the table; each set has a reader-writer lock: readers
 * compute under it, a refresh writes under it. */
#ifndef AI_TSETS_H
#define AI_TSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "task_set.h"
#include "tm_error.h"

/* Where sets come from: the projection in tm-ai (ai_tsets_pg_source), a fake in tests.
 * ctx is the acquiring thread's own (its tm_pg_t). Each returns 0 or a TM_ERR_* code. */
typedef struct {
    int (*gen)(void *ctx, const char *user, int64_t *gen);
    int (*load)(void *ctx, const char *user, int64_t max, ai_task_set_t *set);
    int (*changes)(void *ctx, const char *user, int64_t since, int64_t upto, ai_task_changes_t *ch);
} ai_tsets_source_t;

extern const ai_tsets_source_t ai_tsets_pg_source; /* ctx: tm_pg_t * */

typedef struct ai_tsets ai_tsets_t;

/* What a reader holds between acquire and release. */
typedef struct {
    const ai_task_set_t *set; /* the user's tasks, most recently updated first */
    void *entry_;             /* internal */
    ai_task_set_t own_;       /* internal: a private load */
} ai_tsets_ref_t;

/* Counts since start (for metrics and tests). */
typedef struct {
    uint64_t hits;    /* served without a query */
    uint64_t checks;  /* generation confirmed unchanged */
    uint64_t deltas;  /* caught up from the change log */
    uint64_t loads;   /* loaded whole (first use, too far behind, store off) */
    uint64_t evicted; /* sets dropped for the memory cap */
    size_t users, bytes;
} ai_tsets_stats_t;

/* src is copied. max_tasks: tasks kept per user (the most recently updated). */
ai_tsets_t *ai_tsets_new(size_t max_bytes, int64_t max_tasks, int64_t recheck_ms,
                         const ai_tsets_source_t *src);
/* NULL ok. No reader may hold a set. */
void ai_tsets_free(ai_tsets_t *s);

/* The tasks of user (a UUID) into ref->set, current as described above; now_ms monotonic.
 * min_gen >= 0: a generation the caller has just read (the answer cache's check): a set
 * older than that is brought up to date first, so an answer stored as computed at min_gen
 * really is. 0, or the source's error (ref holds nothing then). Every 0 needs
 * ai_tsets_release. */
int ai_tsets_acquire(ai_tsets_t *s, void *ctx, const char *user, int64_t now_ms, int64_t min_gen,
                     ai_tsets_ref_t *ref) TM_WUR;
void ai_tsets_release(ai_tsets_t *s, ai_tsets_ref_t *ref);

/* The user's projection is changing or changed: the next acquire checks the generation. */
void ai_tsets_invalidate_user(ai_tsets_t *s, const char *user);
/* Signature of ai_cache's invalidation listener (arg: the ai_tsets_t). */
void ai_tsets_on_invalidate(const char *user, void *arg);

void ai_tsets_stats(ai_tsets_t *s, ai_tsets_stats_t *out);

/* Confirming ahead of need. Checks the generation of every set used within the recheck
 * window whose last confirmation is min_age_ms old or more (or was dropped), and catches it
 * up if it changed - what the next acquire would do, done beforehand on the caller's thread
 * (ctx: its own tm_pg_t). Returns the number of sets checked, or the source's error.
 * Why (issue #6): on a CPU kept busy by the services, a Postgres backend idle for the ~1 s
 * between two checks waited up to 0.5 s for the CPU once woken (perf sched); a request that
 * made the check waited with it. With the checks made here every period_ms, a request finds
 * its set confirmed; while one of these checks is in flight, a set unconfirmed for up to
 * 2 x recheck_ms is used without waiting (a change made by another replica is then seen up to
 * one check later; a local invalidation still makes the next acquire wait). */
int ai_tsets_confirm_due(ai_tsets_t *s, void *ctx, int64_t now_ms, int64_t min_age_ms);

/* A thread calling ai_tsets_confirm_due(s, ctx, now, period_ms) every period_ms; ctx is used
 * by that thread alone until stop. NULL if the thread cannot start. */
typedef struct ai_tsets_confirmer ai_tsets_confirmer_t;
ai_tsets_confirmer_t *ai_tsets_confirmer_start(ai_tsets_t *s, void *ctx, int64_t period_ms);
void ai_tsets_confirmer_stop(ai_tsets_confirmer_t *c); /* NULL ok */

#endif
