/* tm_problem: RFC 9457 problem details. */
#include "tm_problem.h"

#include <stdio.h>
#include "tm_error.h"

typedef struct {
    int status;
    const char *title;
    const char *slug;
} status_info_t;

static const status_info_t statuses[] = {
    {400, "Bad Request", "bad-request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not-found"},
    {405, "Method Not Allowed", "method-not-allowed"},
    {406, "Not Acceptable", "not-acceptable"},
    {408, "Request Timeout", "timeout"},
    {409, "Conflict", "conflict"},
    {410, "Gone", "gone"},
    {411, "Length Required", "length-required"},
    {412, "Precondition Failed", "precondition-failed"},
    {413, "Content Too Large", "payload-too-large"},
    {414, "URI Too Long", "uri-too-long"},
    {415, "Unsupported Media Type", "unsupported-media-type"},
    {422, "Unprocessable Content", "unprocessable"},
    {428, "Precondition Required", "precondition-required"},
    {429, "Too Many Requests", "rate-limited"},
    {431, "Request Header Fields Too Large", "headers-too-large"},
    {500, "Internal Server Error", "internal"},
    {501, "Not Implemented", "not-implemented"},
    {502, "Bad Gateway", "bad-gateway"},
    {503, "Service Unavailable", "unavailable"},
    {504, "Gateway Timeout", "timeout"},
};

static const status_info_t *find_status(int status)
{
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        if (statuses[i].status == status)
            return &statuses[i];
    return NULL;
}

const char *tm_problem_title(int status)
{
    const status_info_t *s = find_status(status);
    return s ? s->title : "Error";
}

const char *tm_problem_slug(int status)
{
    const status_info_t *s = find_status(status);
    if (s)
        return s->slug;
    return status >= 500 ? "internal" : "bad-request";
}

json_t *tm_problem_new(int status, const char *slug, const char *detail, const char *instance)
{
    char type[96];
    snprintf(type, sizeof type, "/problems/%s", slug ? slug : tm_problem_slug(status));
    json_t *p = json_object();
    if (!p)
        return NULL;
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(tm_problem_title(status)));
    json_object_set_new(p, "status", json_integer(status));
    if (detail)
        json_object_set_new(p, "detail", json_string(detail));
    if (instance)
        json_object_set_new(p, "instance", json_string(instance));
    return p;
}

void tm_problem_add_error(json_t *problem, const char *field, const char *reason)
{
    json_t *arr = json_object_get(problem, "errors");
    if (!json_is_array(arr)) {
        arr = json_array();
        if (!arr || json_object_set_new(problem, "errors", arr) != 0)
            return;
    }
    json_t *e = json_object();
    if (!e)
        return;
    json_object_set_new(e, "field", json_string(field ? field : ""));
    json_object_set_new(e, "reason", json_string(reason ? reason : ""));
    json_array_append_new(arr, e);
}

json_t *tm_problem_from_errors(int status, const tm_json_errors_t *errs, const char *instance)
{
    int total = errs ? errs->count : 0;
    int stored = total < TM_JSON_MAX_ERRORS ? total : TM_JSON_MAX_ERRORS;
    char detail[96];
    if (total == 1)
        snprintf(detail, sizeof detail, "The request has 1 invalid field.");
    else if (total > stored)
        snprintf(detail, sizeof detail, "The request has %d invalid fields (first %d listed).",
                 total, stored);
    else
        snprintf(detail, sizeof detail, "The request has %d invalid fields.", total);
    json_t *p = tm_problem_new(status ? status : 400, "validation", detail, instance);
    if (!p)
        return NULL;
    for (int i = 0; i < stored; i++)
        tm_problem_add_error(p, errs->e[i].field, errs->e[i].reason);
    if (!json_object_get(p, "errors"))
        json_object_set_new(p, "errors", json_array());
    return p;
}

int tm_problem_status_for(int err)
{
    switch (err) {
    case TM_OK:
        return 200;
    case TM_ERR_INVALID:
        return 400;
    case TM_ERR_NOT_FOUND:
        return 404;
    case TM_ERR_CONFLICT:
        return 409;
    case TM_ERR_TIMEOUT:
        return 504;
    case TM_ERR_LIMIT:
        return 413;
    case TM_ERR_UNAVAILABLE:
        return 503;
    case TM_ERR_AUTH:
        return 401;
    case TM_ERR_FORBIDDEN:
        return 403;
    default:
        return 500;
    }
}
