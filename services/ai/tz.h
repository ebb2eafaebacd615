/* ai_tz: time zones and civil-date arithmetic for the rule-based AI engine.
 *
 * A zone is "UTC" (also "Z", "Etc/UTC"), a fixed offset "+02:00"/"-0530", or an IANA name
 * that exists under /usr/share/zoneinfo (or $TZDIR). IANA conversions go through the C
 * library (localtime_r/mktime with TZ set) under one process-wide mutex, because
 * setenv("TZ")+tzset is process-global and not thread-safe. Consequence: this module owns
 * the process's TZ variable; other code must use gmtime_r/timegm (taskmesh does).
 * All functions may be called from any thread. */
#ifndef AI_TZ_H
#define AI_TZ_H

#include <stdbool.h>
#include <stdint.h>
#include "tm_error.h"

#define AI_TZ_NAME_MAX 64
#define AI_MS_PER_MIN  60000LL
#define AI_MS_PER_DAY  86400000LL

typedef struct {
    bool fixed;                /* UTC or a fixed offset */
    int offset_s;              /* fixed: seconds east of UTC */
    char name[AI_TZ_NAME_MAX]; /* IANA name when !fixed */
} ai_tz_t;

/* Civil (proleptic Gregorian) local date and time; minute_of_day 0..1439. */
typedef struct {
    int year, month, day; /* month 1..12, day 1..31 */
    int minute_of_day;
    int second;  /* 0..60 */
    int weekday; /* 0 = Monday .. 6 = Sunday */
} ai_local_t;

/* Resolve a zone name into tz. TM_ERR_INVALID for NULL/empty/unknown/malformed names. */
int ai_tz_init(ai_tz_t *tz, const char *name) TM_WUR;
/* UTC ms -> local civil time in tz. TM_ERR_INVALID if the C library cannot convert. */
int ai_tz_to_local(const ai_tz_t *tz, int64_t utc_ms, ai_local_t *out) TM_WUR;
/* Memo of one zone's UTC offsets by UTC hour, for many conversions in a row (one request):
 * an IANA conversion takes the process-wide lock, and a user's completions cluster in a
 * few hours. An hour is memoised only when the offset at its first and its last second
 * agree (a zone changes offset at most once in an hour), so answers equal ai_tz_to_local's.
 * One thread at a time; init before use. */
#define AI_TZ_MEMO_SLOTS 64
typedef struct {
    int64_t hour[AI_TZ_MEMO_SLOTS];   /* UTC hour number, INT64_MIN: empty */
    int32_t offset[AI_TZ_MEMO_SLOTS]; /* seconds east of UTC; INT32_MIN: changes in the hour */
} ai_tz_memo_t;

void ai_tz_memo_init(ai_tz_memo_t *memo);
/* ai_tz_to_local through memo. */
int ai_tz_to_local_memo(const ai_tz_t *tz, ai_tz_memo_t *memo, int64_t utc_ms,
                        ai_local_t *out) TM_WUR;

/* utc_ms in tz as a local day number (days since 1970-01-01), minute of day and weekday:
 * ai_tz_to_local_memo without the civil date (an answer counting completions by local day
 * needs no year/month/day). */
int ai_tz_local_day(const ai_tz_t *tz, ai_tz_memo_t *memo, int64_t utc_ms, int64_t *day,
                    int *minute_of_day, int *weekday) TM_WUR;

/* Local civil date (days since 1970-01-01) + minute of day (0..1440; 1440 = next midnight)
 * -> UTC ms. Times in a DST gap move forward by the gap (C library mktime with
 * tm_isdst = -1); ambiguous times (DST end) take whichever offset mktime picks. */
int ai_tz_from_local(const ai_tz_t *tz, int64_t days, int minute_of_day, int64_t *out_ms) TM_WUR;

/* Pure date arithmetic. */
int64_t ai_days_from_civil(int y, int m, int d);
void ai_civil_from_days(int64_t days, int *y, int *m, int *d);
int ai_weekday_of_days(int64_t days); /* 0 = Monday */
int ai_days_in_month(int y, int m);
/* Floor division of ms into days (negative times round down). */
int64_t ai_floor_div(int64_t a, int64_t b);

#endif
