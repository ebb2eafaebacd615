/* tm_svc idempotency: a request with an Idempotency-Key runs in one transaction with the key;
 * the same key and body replay the stored answer (24 h), another body gets 422, the same key
 * in flight 409. */
#include "tm_svc_int.h"

#include <stdlib.h>
#include <string.h>

#include "tm_util.h"

#define HDR_REPLAYED "Idempotent-Replayed"

/* Prepared next to the service's own statements on every worker connection; worker 0 runs
 * tm_svc_idem_prune every 10 minutes (tm_svc.c, maybe_prune). */
const tm_pg_stmt_t svc_idem_stmts[] = {
    {"tm_svc_idem_lock", "SELECT pg_try_advisory_xact_lock(hashtext($1), hashtext($2))", 2},
    {"tm_svc_idem_expire",
     "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2"
     " AND created_at <= now() - interval '24 hours'",
     2},
    {"tm_svc_idem_get",
     "SELECT request_hash, status, headers::text, body FROM idempotency_keys"
     " WHERE user_id = $1 AND key = $2",
     2},
    {"tm_svc_idem_put",
     "INSERT INTO idempotency_keys (user_id, key, request_hash, status, headers, body)"
     " VALUES ($1, $2, $3, $4::integer, $5::jsonb, $6::bytea)",
     6},
    {"tm_svc_idem_prune",
     "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys"
     " WHERE created_at < now() - interval '24 hours' LIMIT 1000)",
     0},
};
const size_t svc_idem_nstmts = sizeof svc_idem_stmts / sizeof svc_idem_stmts[0];

static char *request_hash(const tm_svc_req_t *req, char out[65])
{
    size_t sl = strlen(req->subject), n;
    if (!tm_size_add(sl + 1, req->body_len, &n))
        return NULL;
    char *buf = tm_xmalloc(n > 0 ? n : 1);
    memcpy(buf, req->subject, sl + 1);
    if (req->body_len)
        memcpy(buf + sl + 1, req->body, req->body_len);
    tm_sha256_hex(buf, n, out);
    free(buf);
    return out;
}

/* Fills rep with the stored answer; the caller adds Idempotent-Replayed. */
static void replay_stored(PGresult *r, tm_svc_reply_t *rep)
{
    svc_reply_reset(rep);
    rep->status = atoi(PQgetvalue(r, 0, 1));
    json_t *h = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
    const char *name;
    json_t *val;
    json_object_foreach(h, name, val)
    {
        if (json_is_string(val))
            tm_svc_reply_header(rep, name, json_string_value(val));
    }
    json_decref(h);
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 3), &len);
    rep->raw = tm_xmalloc(len > 0 ? len : 1);
    if (raw && len)
        memcpy(rep->raw, raw, len);
    rep->raw_len = raw ? len : 0;
    PQfreemem(raw);
}

/* Looks the key up inside the open transaction: 1 = replayed/answered, 0 = run handler. */
static int idem_lookup(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *hash,
                       tm_svc_reply_t *rep)
{
    const char *p[] = {req->call.user_id, req->call.idem_key};
    PGresult *r = NULL;
    if (tm_pg_exec(w->pg, "tm_svc_idem_lock", 2, p, &r, NULL) != TM_OK)
        return -1;
    bool locked = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!locked) {
        tm_svc_reply_problem(rep, req, 409, "idempotency-in-flight",
                             "a request with this Idempotency-Key is still in progress");
        return 1;
    }
    if (tm_pg_exec(w->pg, "tm_svc_idem_expire", 2, p, NULL, NULL) != TM_OK ||
        tm_pg_exec(w->pg, "tm_svc_idem_get", 2, p, &r, NULL) != TM_OK)
        return -1;
    int found = PQntuples(r) == 1;
    if (found && strcmp(PQgetvalue(r, 0, 0), hash) == 0) {
        replay_stored(r, rep);
        tm_svc_reply_header(rep, HDR_REPLAYED, "true");
    } else if (found) {
        tm_svc_reply_problem(rep, req, 422, "idempotency-key-reuse",
                             "this Idempotency-Key was used with a different request");
    }
    PQclear(r);
    return found;
}

static int idem_store(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *hash,
                      const svc_wire_t *wire)
{
    char st[16];
    snprintf(st, sizeof st, "%d", wire->status);
    char *hdrs = json_dumps(wire->hdrs, JSON_COMPACT);
    if (!hdrs || wire->len > INT32_MAX) {
        free(hdrs);
        return TM_ERR_INTERNAL;
    }
    const char *p[] = {req->call.user_id,           req->call.idem_key, hash, st, hdrs,
                       wire->body ? wire->body : ""};
    int lengths[] = {0, 0, 0, 0, 0, (int)wire->len};
    int formats[] = {0, 0, 0, 0, 0, 1};
    int rc = tm_pg_exec_bin(w->pg, "tm_svc_idem_put", 6, p, lengths, formats, 0, NULL, NULL);
    free(hdrs);
    return rc;
}

/* The handler runs inside one transaction with the key: a reply < 500 commits with it. */
void svc_run_idempotent(tm_svc_worker_t *w, const tm_svc_route_t *route, const tm_svc_req_t *req,
                        tm_svc_reply_t *rep, svc_wire_t *wire)
{
    char hash[65];
    if (!request_hash(req, hash) || tm_pg_begin(w->pg) != TM_OK)
        goto unavailable;
    int found = idem_lookup(w, req, hash, rep);
    if (found != 0) {
        tm_pg_rollback(w->pg);
        if (found < 0)
            goto unavailable;
        svc_to_wire(rep, wire);
        return;
    }
    svc_run_handler(w, route, req, rep, 1);
    svc_to_wire(rep, wire);
    if (wire->status >= 500) {
        tm_pg_rollback(w->pg);
        return;
    }
    if (idem_store(w, req, hash, wire) != TM_OK || tm_pg_commit(w->pg, NULL) != TM_OK) {
        tm_pg_rollback(w->pg);
        svc_wire_dispose(wire);
        goto unavailable;
    }
    return;
unavailable:
    svc_unwind_txn(w->pg, 0, route->subject);
    svc_reply_reset(rep);
    tm_svc_reply_problem(rep, req, 503, NULL, "storage unavailable, retry later");
    svc_to_wire(rep, wire);
}
