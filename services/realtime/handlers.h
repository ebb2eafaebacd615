/* rt handlers: one function per tm.v1.rt.* subject (contract: proto/subjects/realtime.md).
 * They run on the harness's worker threads; w->user is the rt_ctx_t. Each returns 0 with
 * rep filled, or a tm_err_t the harness turns into a problem reply. */
#ifndef RT_HANDLERS_H
#define RT_HANDLERS_H

#include "tm_svc.h"

/* rooms.c */
int rt_h_subscribe(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_resume(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_typing(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* presence.c */
int rt_h_connect(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_disconnect(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_heartbeat(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_presence(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
/* notify.c */
int rt_h_notifications(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_read(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_read_all(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);
int rt_h_announce(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep);

/* 401 problem unless the request carries a user id (a uuid). true when it does. */
bool rt_h_need_user(const tm_svc_req_t *req, tm_svc_reply_t *rep);

#endif
