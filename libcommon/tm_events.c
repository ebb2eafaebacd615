/* tm_events: see tm_events.h. */
#include "tm_events.h"

#include <stdio.h>
#include <string.h>

#include "tm_subjects.h"
#include "tm_util.h"

#define EVENT_MAX_BYTES (1024 * 1024)

int tm_events_consumer_lag(jsCtx *js, const char *durable, int64_t *pending)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, js, TM_STREAM_EVENTS, durable, NULL, &jerr);
    if (s != NATS_OK)
        return s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr ? TM_ERR_NOT_FOUND
                                                                    : TM_ERR_NATS;
    *pending = (int64_t)ci->NumPending;
    jsConsumerInfo_Destroy(ci);
    return TM_OK;
}

int tm_events_ensure_stream(jsCtx *js, int64_t max_age_ms)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, TM_STREAM_EVENTS, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return TM_OK;
    }
    if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
        return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS ? TM_ERR_UNAVAILABLE : TM_ERR_NATS;

    const char *subjects[] = {TM_SUBJ_EVT_ALL};
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = TM_STREAM_EVENTS;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Duplicates = (int64_t)10 * 60 * 1000 * 1000 * 1000; /* ns */
    cfg.MaxAge = max_age_ms > 0 ? max_age_ms * 1000 * 1000 : 0;
    s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return TM_OK;
    }
    /* Another replica may have created it between our look-up and our add. */
    if (jerr == JSStreamNameExistErr)
        return TM_OK;
    return TM_ERR_NATS;
}

json_t *tm_event_envelope(const char *event_id, const char *workspace_id, int64_t seq,
                          const char *type, const char *actor_id, const char *created_at,
                          json_t *data)
{
    json_t *ev = json_object();
    json_object_set_new(ev, "event_id", json_string(event_id));
    json_object_set_new(ev, "workspace_id", json_string(workspace_id));
    json_object_set_new(ev, "seq", json_integer(seq));
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "actor_id",
                        actor_id && actor_id[0] ? json_string(actor_id) : json_null());
    json_object_set_new(ev, "created_at", json_string(created_at));
    json_object_set(ev, "data", data ? data : json_null());
    return ev;
}

static const tm_json_field_t envelope_fields[] = {
    {.name = "event_id", .kind = TM_JF_UUID, .required = true},
    {.name = "workspace_id", .kind = TM_JF_UUID, .required = true},
    {.name = "seq", .kind = TM_JF_INT, .required = true, .min = 1, .max = INT64_MAX},
    {.name = "type", .kind = TM_JF_STRING, .required = true, .min = 1, .max = TM_EVENT_TYPE_MAX},
    {.name = "actor_id", .kind = TM_JF_UUID, .nullable = true},
    {.name = "created_at", .kind = TM_JF_TIME, .required = true},
    {.name = "data", .kind = TM_JF_ANY, .required = true, .nullable = true},
};

static bool type_is_safe(const char *t)
{
    /* The type becomes a subject token: letters, digits, '.', '_' only. */
    for (const char *p = t; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_'))
            return false;
    }
    return t[0] != '\0';
}

int tm_event_decode(const char *buf, size_t len, tm_event_t *ev, tm_json_errors_t *errs)
{
    tm_json_errors_t local;
    if (!errs)
        errs = &local;
    memset(errs, 0, sizeof(*errs));
    memset(ev, 0, sizeof(*ev));
    tm_json_limits_t lim = {.max_bytes = EVENT_MAX_BYTES};
    json_t *root = NULL;
    int rc = tm_json_parse(buf, len, &lim, &root, errs);
    if (rc != TM_OK)
        return rc;
    rc = tm_json_check(root, envelope_fields, sizeof(envelope_fields) / sizeof(envelope_fields[0]),
                       errs);
    if (rc != TM_OK)
        goto out_root;
    const char *type = tm_json_str(root, "type", "");
    if (!type_is_safe(type)) {
        tm_json_errors_add(errs, "type", "must be lowercase letters, digits, '.' or '_'");
        rc = TM_ERR_INVALID;
        goto out_root;
    }
    snprintf(ev->event_id, sizeof(ev->event_id), "%s", tm_json_str(root, "event_id", ""));
    snprintf(ev->workspace_id, sizeof(ev->workspace_id), "%s",
             tm_json_str(root, "workspace_id", ""));
    ev->seq = tm_json_int(root, "seq", 0);
    snprintf(ev->type, sizeof(ev->type), "%s", type);
    snprintf(ev->actor_id, sizeof(ev->actor_id), "%s", tm_json_str(root, "actor_id", ""));
    snprintf(ev->created_at, sizeof(ev->created_at), "%s", tm_json_str(root, "created_at", ""));
    ev->data = json_incref(json_object_get(root, "data"));
out_root:
    json_decref(root);
    return rc;
}

void tm_event_dispose(tm_event_t *ev)
{
    if (!ev)
        return;
    json_decref(ev->data);
    ev->data = NULL;
}

int tm_event_subject(const char *workspace_id, const char *type, char *out, size_t cap)
{
    if (!tm_is_uuid(workspace_id) || !type_is_safe(type))
        return TM_ERR_INVALID;
    int n = snprintf(out, cap, TM_SUBJ_EVT_FMT, workspace_id, type);
    return n > 0 && (size_t)n < cap ? TM_OK : TM_ERR_LIMIT;
}
