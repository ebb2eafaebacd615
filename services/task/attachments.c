/* attachments: /api/v1/tasks/{id}/attachments[/{aid}] (tm.v1.task.attach.*).
 * Upload is the raw request body (<= 5 MiB, capped by the route's max_body) with its
 * Content-Type header and ?filename= (forwarded in Tm-Query); its SHA-256 is stored.
 * Download replies with the raw bytes, Content-Type and a sanitised
 * Content-Disposition. Events: attachment.created / attachment.deleted (metadata). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "task_json.h"
#include "tasks.h"
#include "tm_nats.h"
#include "tm_query.h"
#include "tm_util.h"

#define ATTACH_MAX_BYTES    (5 * 1024 * 1024)
#define ATTACH_MAX_PER_TASK 100
#define FILENAME_MAX_CHARS  255
#define CTYPE_MAX           127
#define DEFAULT_CTYPE       "application/octet-stream"

/* Keep [A-Za-z0-9._- ]; anything else (quotes, slashes, control and non-ASCII bytes)
 * becomes '_'. Leading dots are dropped so no name is hidden or relative. */
static void sanitize_filename(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < cap && o < FILENAME_MAX_CHARS; p++) {
        unsigned char c = (unsigned char)*p;
        if (o == 0 && c == '.')
            continue;
        out[o++] = (isalnum(c) || c == '.' || c == '_' || c == '-' || c == ' ') && c < 0x80
                       ? (char)c
                       : '_';
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, cap, "attachment");
}

/* type "/" subtype with optional parameters, printable ASCII without quotes/backslashes. */
static bool ctype_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CTYPE_MAX || !strchr(s, '/'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static const char *msg_header(natsMsg *m, const char *name)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, name, &v) == NATS_OK ? v : NULL;
}

/* 400/413 into rep unless the upload's metadata is acceptable. */
static int check_upload(const tm_svc_req_t *req, tm_svc_reply_t *rep, char *fname, size_t fcap,
                        const char **ctype)
{
    char raw[1024];
    long n = tm_query_get(tm_query_string(req->msg), "filename", raw, sizeof raw);
    tm_json_errors_t errs = {0};
    if (n == -2 || (n >= 0 && tm_json_utf8_len(raw) > FILENAME_MAX_CHARS))
        tm_json_errors_add(&errs, "filename", "must be at most %d characters", FILENAME_MAX_CHARS);
    sanitize_filename(n > 0 ? raw : "", fname, fcap);
    const char *ct = msg_header(req->msg, TM_HDR_CONTENT_TYPE);
    *ctype = ct && *ct ? ct : DEFAULT_CTYPE;
    if (!ctype_valid(*ctype))
        tm_json_errors_add(&errs, "content_type", "must be a media type of at most %d chars",
                           CTYPE_MAX);
    if (req->body_len > ATTACH_MAX_BYTES) {
        tm_svc_reply_problem(rep, req, 413, NULL, "attachments are at most %d bytes",
                             ATTACH_MAX_BYTES);
        return TM_ERR_LIMIT;
    }
    if (errs.count > 0) {
        tm_svc_reply_invalid(rep, req, &errs);
        return TM_ERR_INVALID;
    }
    return TM_OK;
}

/* 409 into rep when the task already holds ATTACH_MAX_PER_TASK attachments. */
static int check_count(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep,
                       const char *task_id)
{
    PGresult *r = NULL;
    int rc = tm_pg_exec(w->pg, "attach_count", 1, &task_id, &r, NULL);
    if (rc != TM_OK)
        return rc;
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (n < ATTACH_MAX_PER_TASK)
        return TM_OK;
    tm_svc_reply_problem(rep, req, 409, "too-many-attachments",
                         "a task holds at most %d attachments", ATTACH_MAX_PER_TASK);
    return TM_ERR_CONFLICT;
}

static int insert(tm_svc_worker_t *w, const tm_svc_req_t *req, const char *task_id,
                  const char *fname, const char *ctype, json_t **meta)
{
    char id[37], size[24], sha[65];
    tm_uuid_v4(id);
    snprintf(size, sizeof size, "%zu", req->body_len);
    tm_sha256_hex(req->body, req->body_len, sha);
    const char *params[8] = {
        id, task_id, fname, ctype, size, sha, req->body_len ? req->body : "", req->call.user_id};
    int lengths[8] = {0, 0, 0, 0, 0, 0, (int)req->body_len, 0};
    int formats[8] = {0, 0, 0, 0, 0, 0, 1, 0};
    PGresult *r = NULL;
    int rc = tm_pg_exec_bin(w->pg, "attach_insert", 8, params, lengths, formats, 0, &r, NULL);
    if (rc != TM_OK)
        return rc;
    *meta = task_json_from_result(r, 0, 0);
    PQclear(r);
    return *meta ? TM_OK : TM_ERR_INTERNAL;
}

int attachments_put(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    char fname[FILENAME_MAX_CHARS + 1];
    const char *ctype = NULL;
    if (check_upload(req, rep, fname, sizeof fname, &ctype) != TM_OK)
        return 0;
    task_ref_t t = {0};
    json_t *meta = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    if ((rc = tasks_load(w, req, rep, true, TASK_PERM_WRITE, &t)) != TM_OK ||
        (rc = check_count(w, req, rep, t.id)) != TM_OK ||
        (rc = insert(w, req, t.id, fname, ctype, &meta)) != TM_OK)
        goto fail;
    rc = tasks_emit_commit(w, req, t.workspace_id, "attachment.created", meta);
    tasks_ref_dispose(&t);
    if (rc != TM_OK) {
        json_decref(meta);
        return rc;
    }
    tm_svc_reply_json(rep, 201, meta);
    return 0;
fail:
    tasks_ref_dispose(&t);
    json_decref(meta);
    return tasks_finish_error(w, true, rc);
}

/* The attachment id path parameter, or 404 into rep. */
static const char *attachment_id(const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *aid = tm_query_param(req->msg, "aid");
    if (aid && tm_is_uuid(aid))
        return aid;
    tm_svc_reply_problem(rep, req, 404, NULL, "no such attachment");
    return NULL;
}

int attachments_get(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *aid = attachment_id(req, rep);
    if (!aid)
        return 0;
    task_ref_t t;
    int rc = tasks_load(w, req, rep, false, TASK_PERM_READ, &t);
    if (rc != TM_OK)
        return tasks_finish_error(w, false, rc);
    const char *params[2] = {t.id, aid};
    PGresult *r = NULL;
    /* Binary results: data arrives as raw bytes; text columns as their bytes (+ NUL). */
    rc = tm_pg_exec_bin(w->pg, "attach_get", 2, params, NULL, NULL, 1, &r, NULL);
    tasks_ref_dispose(&t);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        tm_svc_reply_problem(rep, req, 404, NULL, "no such attachment");
        return 0;
    }
    char fname[FILENAME_MAX_CHARS + 1];
    sanitize_filename(PQgetvalue(r, 0, 0), fname, sizeof fname);
    char *disp = tm_xasprintf("attachment; filename=\"%s\"", fname);
    size_t len = (size_t)PQgetlength(r, 0, 2);
    rep->status = 200;
    rep->raw = tm_xmalloc(len ? len : 1);
    memcpy(rep->raw, PQgetvalue(r, 0, 2), len);
    rep->raw_len = len;
    tm_svc_reply_header(rep, TM_HDR_CONTENT_TYPE, PQgetvalue(r, 0, 1));
    tm_svc_reply_header(rep, "Content-Disposition", disp);
    tm_svc_reply_header(rep, "X-Content-Type-Options", "nosniff");
    free(disp);
    PQclear(r);
    return 0;
}

int attachments_list(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    task_ref_t t;
    int rc = tasks_load(w, req, rep, false, TASK_PERM_READ, &t);
    if (rc != TM_OK)
        return tasks_finish_error(w, false, rc);
    PGresult *r = NULL;
    const char *id = t.id;
    rc = tm_pg_exec(w->pg, "attach_list", 1, &id, &r, NULL);
    tasks_ref_dispose(&t);
    if (rc != TM_OK)
        return rc;
    json_t *data = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *m = task_json_from_result(r, i, 0);
        if (m)
            json_array_append_new(data, m);
    }
    PQclear(r);
    tm_svc_reply_json(rep, 200, json_pack("{s:o, s:n}", "data", data, "next_cursor"));
    return 0;
}

int attachments_delete(tm_svc_worker_t *w, const tm_svc_req_t *req, tm_svc_reply_t *rep)
{
    const char *aid = attachment_id(req, rep);
    if (!aid)
        return 0;
    task_ref_t t = {0};
    PGresult *r = NULL;
    int rc = tm_pg_begin(w->pg);
    if (rc != TM_OK)
        return rc;
    if ((rc = tasks_load(w, req, rep, true, TASK_PERM_WRITE, &t)) != TM_OK)
        goto fail;
    const char *params[2] = {t.id, aid};
    if ((rc = tm_pg_exec(w->pg, "attach_delete", 2, params, &r, NULL)) != TM_OK)
        goto fail;
    json_t *meta = task_json_from_result(r, 0, 0);
    PQclear(r);
    if (!meta) {
        tm_svc_reply_problem(rep, req, 404, NULL, "no such attachment");
        rc = TM_ERR_NOT_FOUND;
        goto fail;
    }
    rc = tasks_emit_commit(w, req, t.workspace_id, "attachment.deleted", meta);
    json_decref(meta);
    tasks_ref_dispose(&t);
    if (rc != TM_OK)
        return rc;
    rep->status = 204;
    return 0;
fail:
    tasks_ref_dispose(&t);
    return tasks_finish_error(w, true, rc);
}
