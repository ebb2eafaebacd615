/* outbox: the transactional outbox of tm-task (contract; implemented in outbox.c).
 *
 * outbox_append() must be called inside the transaction that writes the change. It takes
 * the next gapless per-workspace sequence number (UPDATE workspaces SET event_seq =
 * event_seq + 1 ... RETURNING, which also serialises writers of one workspace), and inserts
 * task.outbox(event_id uuid, workspace_id, seq, type, payload jsonb, actor_id, created_at,
 * published_at NULL). type is "task.created", "task.updated", "task.completed",
 * "task.deleted", "member.added", "member.removed", "member.updated", "workspace.created",...
 * payload is borrowed. The event's subject is tm.v1.evt.<workspace_id>.<type>.
 *
 * outbox_append() also NOTIFYs tm_outbox (delivered at COMMIT) to wake the relay wherever it
 * runs. outbox_append_quiet() does not: a NOTIFY holds a database-wide lock from pre-commit
 * until after the WAL flush, so notifying COMMITs never share a flush. Its caller must call
 * relay_kick() after the real COMMIT, so it suits only a caller that issues that COMMIT
 * itself: inside an outer transaction (tm_svc's idempotency one) use the NOTIFY form.
 * Returns 0, TM_ERR_NOT_FOUND (no such workspace), TM_ERR_PG or TM_ERR_UNAVAILABLE. */
#ifndef TASK_OUTBOX_H
#define TASK_OUTBOX_H

#include <jansson.h>
#include <stdint.h>
#include "tm_pg.h"

int outbox_append(tm_pg_t *pg, const char *workspace_id, const char *type, const char *actor_id,
                  const json_t *payload, int64_t *seq_out, char event_id_out[37]) TM_WUR;
int outbox_append_quiet(tm_pg_t *pg, const char *workspace_id, const char *type,
                        const char *actor_id, const json_t *payload, int64_t *seq_out,
                        char event_id_out[37]) TM_WUR;

#endif
