/* tm_problem: RFC 9457 problem details objects.
 *   {"type":"/problems/<slug>","title":"Not Found","status":404,"detail":"...",
 *    "instance":"<request id>","errors":[{"field":"title","reason":"..."}]}
 * Media type: application/problem+json. Details never carry internals (no SQL, no paths). */
#ifndef TM_PROBLEM_H
#define TM_PROBLEM_H

#include <jansson.h>
#include "tm_json.h"

#define TM_PROBLEM_MEDIA_TYPE "application/problem+json"

/* The standard reason phrase for an HTTP status ("Unprocessable Content"), or "Error". */
const char *tm_problem_title(int status);
/* The slug used in "type" for a status when the caller gives none ("not-found"). */
const char *tm_problem_slug(int status);
/* New problem object (caller owns). slug/detail/instance may be NULL. */
json_t *tm_problem_new(int status, const char *slug, const char *detail, const char *instance);
/* Append {"field","reason"} to the "errors" array (created on first use). */
void tm_problem_add_error(json_t *problem, const char *field, const char *reason);
/* 400 (or status) "validation" problem listing every error in errs. */
json_t *tm_problem_from_errors(int status, const tm_json_errors_t *errs, const char *instance);
/* Map a tm_err_t to the HTTP status a reply should carry (NOT_FOUND->404, ...). */
int tm_problem_status_for(int err);

#endif
