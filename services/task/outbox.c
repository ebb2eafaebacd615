/* outbox: append one event to task.outbox inside the caller's transaction (see outbox.h).
 * The statement "outbox_append" is registered in tasks_stmts: it bumps the workspace's
 * event_seq (the row lock serialises writers of one workspace until COMMIT, which keeps
 * the sequence gapless and in commit order) and inserts the row in one round trip. */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>
#include "tm_json.h"
#include "tm_util.h"

int outbox_append(tm_pg_t *pg, const char *workspace_id, const char *type, const char *actor_id,
                  const json_t *payload, int64_t *seq_out, char event_id_out[37])
{
    char event_id[37];
    tm_uuid_v4(event_id);
    char *body = tm_json_dumps(payload, NULL);
    const char *params[5] = {workspace_id, event_id, type, body,
                             actor_id && *actor_id ? actor_id : NULL};
    PGresult *r = NULL;
    int rc = tm_pg_exec(pg, "outbox_append", 5, params, &r, NULL);
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
