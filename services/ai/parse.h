/* ai_parse: the quick-add parser ("Call Bob tomorrow 5pm p1 #work ~30m every monday").
 *
 * Words are whitespace-separated tokens, matched case-insensitively; trailing ",.;:!?" on a
 * token is ignored for matching. Each recognised phrase is removed from the title and
 * reported as a span [start, end) in CHARACTER (code point) offsets into the input. A field
 * is taken from its first occurrence; a later repeat stays in the title.
 *
 * Rules (documented contract, tested in tests/unit/ai/test_parse.c):
 *  - priority: "p1".."p4" or "!1".."!4"; 1 is the highest. Absent -> 0.
 *  - labels: "#word", the word starting with a letter (so "#123" stays in the title),
 *    1..50 characters, at most 20 labels, duplicates dropped.
 *  - estimate: "~30m", "~2h", "~1h30m", "~90min", "for 45 minutes", "for 2h"; 1..10080 min.
 *  - recurrence (normalised): "daily", "weekly", "monthly", "yearly", "weekdays",
 *    "weekly:monday".."weekly:sunday", "every N days|weeks|months|years" (N >= 2,
 *    also from "every other week"). Day-anchored rules (weekly:<day>, weekdays) set the
 *    due date to their first occurrence on or after today when no date was given.
 *  - dates: today, tonight (today 20:00 unless a time is given), tomorrow/tmrw,
 *    weekday names (the next such day, today included), "this friday" (same),
 *    "next friday" (that day in next Monday-based week), "next week" (its Monday),
 *    "next month" (its 1st), "in N days|weeks|months", "N days from now",
 *    2026-12-03, 12/03 and 12/03/2026 (US month/day), "Dec 3", "December 3rd", "3 Dec",
 *    "3rd of December", each with an optional year; without a year a date already past
 *    means next year. Optional lead words "on", "by", "due".
 *  - a bare weekday or daypart word as the FIRST word, followed by a word that is not
 *    itself parsed, is title text ("Monday meeting notes", "Morning run").
 *  - times: 5pm, 5 pm, 5:30pm, 12am (00:00), 12pm (12:00), 17:00 (24-hour), "at 9";
 *    after "at" a bare hour 1..7 means the afternoon (13..19), 8..23 is literal, 0 is 00:00.
 *    noon/midday 12:00, midnight = 00:00 at the END of the day, morning 9:00,
 *    afternoon 14:00, evening 18:00, eod / "end of day" 17:00. Lead words "at", "by".
 *  - "in N minutes|hours" (also "in an hour") is an exact instant: now + N.
 *  - resolution: a time without a date is today, rolled to tomorrow when it is not after
 *    now; a date with a time is taken as is (even if past); a date without a time is
 *    all-day: due_at = 23:59 local that day and all_day = true.
 *  - the title is the remaining words joined by single spaces (may be empty).
 */
#ifndef AI_PARSE_H
#define AI_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

#define AI_PARSE_MAX_CHARS    500
#define AI_PARSE_MAX_LABELS   20
#define AI_PARSE_LABEL_CHARS  50
#define AI_PARSE_MAX_SPANS    64
#define AI_PARSE_MAX_ESTIMATE 10080

typedef struct {
    const char
        *field; /* static: "due_at", "priority", "labels", "recurrence", "estimate_minutes" */
    size_t start, end; /* code point offsets, end exclusive */
} ai_parse_span_t;

typedef struct {
    char title[AI_PARSE_MAX_CHARS * 4 + 1];
    bool has_due;
    bool all_day;
    int64_t due_at; /* ms since the epoch (UTC) when has_due */
    int priority;   /* 0 none, 1..4 */
    size_t n_labels;
    char labels[AI_PARSE_MAX_LABELS][AI_PARSE_LABEL_CHARS * 4 + 1];
    char recurrence[32];  /* "" when none */
    int estimate_minutes; /* 0 none */
    size_t n_spans;       /* ordered by start */
    ai_parse_span_t spans[AI_PARSE_MAX_SPANS];
} ai_parse_result_t;

/* Parse text (NUL-terminated UTF-8) as typed by a user in `timezone` at now_ms.
 * out is caller-owned and fully overwritten. Any thread.
 * Errors: TM_ERR_INVALID (NULL text, invalid UTF-8, unknown timezone),
 *         TM_ERR_LIMIT (more than AI_PARSE_MAX_CHARS characters). */
int ai_parse(const char *text, const char *timezone, int64_t now_ms, ai_parse_result_t *out) TM_WUR;

/* The reply object {title, due_at (RFC 3339 or null), all_day, priority (or null), labels,
 * recurrence (or null), estimate_minutes (or null), spans: [{field, start, end}]}.
 * New reference owned by the caller. */
json_t *ai_parse_to_json(const ai_parse_result_t *r);

#endif
