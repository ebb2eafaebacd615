/* outbox: append one event to task.outbox inside the caller's transaction (see outbox.h).
 * The statements "outbox_append" and "outbox_append_quiet" are registered in tasks_stmts:
 * they bump the workspace's event_seq (the row lock serialises writers of one workspace
 * until COMMIT, which keeps the sequence gapless and in commit order) and insert the row in
 * one round trip; the first also NOTIFYs the relay. */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>
#include "tm_json.h"
#include "tm_util.h"

static int append(tm_pg_t *pg, const char *stmt, const char *workspace_id, const char *type,
                  const char *actor_id, const json_t *payload, int64_t *seq_out,
                  char event_id_out[37])
{
    char event_id[37];
    tm_uuid_v4(event_id);
    char *body = tm_json_dumps(payload, NULL);
    const char *params[5] = {workspace_id, event_id, type, body,
                             actor_id && *actor_id ? actor_id : NULL};
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, stmt, 5, params, &r, NULL);
    free(body);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return TM_ERR_NOT_FOUND; /* no such workspace */
    }
    if (seq_out)
        *seq_out = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (event_id_out)
        memcpy(event_id_out, event_id, 37);
    PQclear(r);
    return TM_OK;
}

int outbox_append(tm_pg_t *pg, const char *workspace_id, const char *type, const char *actor_id,
                  const json_t *payload, int64_t *seq_out, char event_id_out[37])
{
    return append(pg, "outbox_append", workspace_id, type, actor_id, payload, seq_out,
                  event_id_out);
}

int outbox_append_quiet(tm_pg_t *pg, const char *workspace_id, const char *type,
                        const char *actor_id, const json_t *payload, int64_t *seq_out,
                        char event_id_out[37])
{
    return append(pg, "outbox_append_quiet", workspace_id, type, actor_id, payload, seq_out,
                  event_id_out);
}
