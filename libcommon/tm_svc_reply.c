/* tm_svc replies: the helpers handlers fill a reply with, and the reply's way onto NATS. */
#include "tm_svc_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tm_log.h"
#include "tm_problem.h"
#include "tm_util.h"

/* ---- reply helpers (public) ---- */

static void clear_body(tm_svc_reply_t *rep)
{
    json_decref(rep->json);
    rep->json = NULL;
    free(rep->raw);
    rep->raw = NULL;
    rep->raw_len = 0;
}

void svc_reply_reset(tm_svc_reply_t *rep)
{
    clear_body(rep);
    for (int i = 0; i < rep->nheaders; i++) {
        free(rep->headers[i].name);
        free(rep->headers[i].value);
    }
    memset(rep, 0, sizeof *rep);
}

void tm_svc_reply_json(tm_svc_reply_t *rep, int status, json_t *body)
{
    clear_body(rep);
    rep->status = status;
    rep->json = body;
}

void tm_svc_reply_json_text(tm_svc_reply_t *rep, int status, char *text, size_t len)
{
    clear_body(rep);
    rep->status = status;
    rep->raw = text;
    rep->raw_len = len;
    tm_svc_reply_header(rep, TM_HDR_CONTENT_TYPE,
                        status >= 400 ? TM_PROBLEM_MEDIA_TYPE : "application/json");
}

void tm_svc_after_txn(tm_svc_reply_t *rep, void (*fn)(void *arg), void *arg)
{
    free(rep->after_arg);
    rep->after_txn = fn;
    rep->after_arg = arg;
}

/* Also after a svc_reply_reset of an error path: running it needlessly is harmless, losing it
 * (a handler that committed, then failed) is not. */
void svc_run_after_txn(tm_svc_reply_t *rep)
{
    if (!rep->after_txn)
        return;
    rep->after_txn(rep->after_arg);
    free(rep->after_arg);
    rep->after_arg = NULL;
    rep->after_txn = NULL;
}

void tm_svc_reply_problem(tm_svc_reply_t *rep, const tm_svc_req_t *req, int status,
                          const char *slug, const char *fmt, ...)
{
    char detail[512];
    detail[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    const char *rid = req && req->call.request_id[0] ? req->call.request_id : NULL;
    tm_svc_reply_json(rep, status, tm_problem_new(status, slug, detail[0] ? detail : NULL, rid));
}

void tm_svc_reply_invalid(tm_svc_reply_t *rep, const tm_svc_req_t *req,
                          const tm_json_errors_t *errs)
{
    const char *rid = req && req->call.request_id[0] ? req->call.request_id : NULL;
    tm_svc_reply_json(rep, 400, tm_problem_from_errors(400, errs, rid));
}

void tm_svc_reply_header(tm_svc_reply_t *rep, const char *name, const char *value)
{
    for (int i = 0; i < rep->nheaders; i++) {
        if (strcasecmp(rep->headers[i].name, name) == 0) {
            free(rep->headers[i].value);
            rep->headers[i].value = tm_xstrdup(value);
            return;
        }
    }
    if (rep->nheaders >= TM_SVC_MAX_REPLY_HEADERS) {
        TM_WARN("svc: reply header %s dropped (more than %d)", name, TM_SVC_MAX_REPLY_HEADERS);
        return;
    }
    rep->headers[rep->nheaders].name = tm_xstrdup(name);
    rep->headers[rep->nheaders].value = tm_xstrdup(value);
    rep->nheaders++;
}

int tm_svc_check_body(const tm_svc_req_t *req, tm_svc_reply_t *rep, const tm_json_field_t *fields,
                      size_t n)
{
    tm_json_errors_t errs;
    memset(&errs, 0, sizeof errs);
    json_t *empty = req->json ? NULL : json_object();
    int rc = tm_json_check(req->json ? req->json : empty, fields, n, &errs);
    json_decref(empty);
    if (rc == TM_OK)
        return TM_OK;
    tm_svc_reply_invalid(rep, req, &errs);
    return TM_ERR_INVALID;
}

/* ---- sending ---- */

void svc_wire_dispose(svc_wire_t *w)
{
    free(w->body);
    json_decref(w->hdrs);
    memset(w, 0, sizeof *w);
}

/* Moves rep's body into w and computes the headers that go on the wire. */
void svc_to_wire(tm_svc_reply_t *rep, svc_wire_t *w)
{
    memset(w, 0, sizeof *w);
    w->status = rep->status > 0 ? rep->status : 200;
    w->hdrs = json_object();
    const char *ctype = NULL;
    if (rep->json) {
        w->body = tm_json_dumps(rep->json, &w->len);
        ctype = w->status >= 400 ? TM_PROBLEM_MEDIA_TYPE : "application/json";
    } else if (rep->raw) {
        w->body = rep->raw;
        w->len = rep->raw_len;
        rep->raw = NULL;
        ctype = "application/octet-stream";
    }
    if (ctype)
        json_object_set_new(w->hdrs, TM_HDR_CONTENT_TYPE, json_string(ctype));
    for (int i = 0; i < rep->nheaders; i++)
        json_object_set_new(w->hdrs, rep->headers[i].name, json_string(rep->headers[i].value));
}

void svc_send_wire(tm_nats_reader_t *reader, natsMsg *req, const svc_wire_t *w,
                   const char *request_id)
{
    const char *to = tm_nats_reply_subject(req);
    if (!to || !*to)
        return;
    if (w->len > INT32_MAX)
        return;
    natsMsg *out = NULL;
    natsStatus s = natsMsg_Create(&out, to, NULL, w->body, (int)w->len);
    char st[16];
    snprintf(st, sizeof st, "%d", w->status);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(out, TM_HDR_STATUS, st);
    if (s == NATS_OK && request_id && *request_id)
        s = natsMsgHeader_Set(out, TM_HDR_REQUEST_ID, request_id);
    const char *name;
    json_t *val;
    json_object_foreach(w->hdrs, name, val)
    {
        if (s == NATS_OK && json_is_string(val))
            s = natsMsgHeader_Set(out, name, json_string_value(val));
    }
    if (s == NATS_OK)
        s = tm_nats_reader_publish(reader, out);
    if (s != NATS_OK)
        TM_WARN("svc: reply not sent: %s", natsStatus_GetText(s));
    tm_nats_msg_free(out);
}

/* A problem reply sent straight from the reader thread (queue full, draining). */
void svc_send_problem_now(tm_nats_reader_t *reader, natsMsg *msg, int status, const char *detail)
{
    tm_call_t call;
    tm_nats_get_call_headers(msg, &call);
    tm_svc_reply_t rep;
    memset(&rep, 0, sizeof rep);
    tm_svc_reply_json(
        &rep, status,
        tm_problem_new(status, NULL, detail, call.request_id[0] ? call.request_id : NULL));
    if (status == 503)
        tm_svc_reply_header(&rep, "Retry-After", "1");
    svc_wire_t w;
    svc_to_wire(&rep, &w);
    svc_send_wire(reader, msg, &w, call.request_id);
    svc_wire_dispose(&w);
    svc_reply_reset(&rep);
}
