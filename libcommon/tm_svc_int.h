/* tm_svc's internals, shared by tm_svc.c (queue, workers, lifecycle), tm_svc_reply.c (replies
 * and their way onto NATS) and tm_svc_idem.c (Idempotency-Key): not for services. */
#ifndef TM_SVC_INT_H
#define TM_SVC_INT_H

#include "tm_nats_reader.h"
#include "tm_svc.h"

/* A reply in the form it travels: status, body bytes and headers (Content-Type included). */
typedef struct {
    int status;
    char *body;
    size_t len;
    json_t *hdrs;
} svc_wire_t;

/* tm_svc_reply.c */
void svc_reply_reset(tm_svc_reply_t *rep);
void svc_run_after_txn(tm_svc_reply_t *rep);
void svc_to_wire(tm_svc_reply_t *rep, svc_wire_t *w);
void svc_wire_dispose(svc_wire_t *w);
void svc_send_wire(tm_nats_reader_t *reader, natsMsg *req, const svc_wire_t *w,
                   const char *request_id);
void svc_send_problem_now(tm_nats_reader_t *reader, natsMsg *msg, int status, const char *detail);

/* tm_svc.c */
void svc_unwind_txn(tm_pg_t *pg, int keep_depth, const char *subject);
void svc_run_handler(tm_svc_worker_t *w, const tm_svc_route_t *route, const tm_svc_req_t *req,
                     tm_svc_reply_t *rep, int keep_depth);

/* tm_svc_idem.c: its statements are prepared next to the service's own */
extern const tm_pg_stmt_t svc_idem_stmts[];
extern const size_t svc_idem_nstmts;
void svc_run_idempotent(tm_svc_worker_t *w, const tm_svc_route_t *route, const tm_svc_req_t *req,
                        tm_svc_reply_t *rep, svc_wire_t *wire);

#endif
