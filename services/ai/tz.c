/* ai_tz: see tz.h. */
#include "tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
/* Name currently in TZ (under tz_lock), so tzset re-reads zone files only on change. */
static char tz_current[AI_TZ_NAME_MAX];

int64_t ai_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t ai_days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = ai_floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void ai_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = ai_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int ai_weekday_of_days(int64_t days)
{
    /* 1970-01-01 was a Thursday (3 with Monday = 0). */
    int64_t w = (days + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

int ai_days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dim[m - 1] + (m == 2 && leap);
}

static bool parse_offset(const char *s, int *out_s)
{
    int sign = s[0] == '+' ? 1 : s[0] == '-' ? -1 : 0;
    unsigned h, m;
    char tail;
    if (!sign)
        return false;
    if (sscanf(s + 1, "%2u:%2u%c", &h, &m, &tail) != 2 &&
        (strlen(s) != 5 || sscanf(s + 1, "%2u%2u%c", &h, &m, &tail) != 2))
        return false;
    if (h > 14 || m > 59)
        return false;
    *out_s = sign * (int)(h * 3600 + m * 60);
    return true;
}

/* IANA names: letters, digits, '_', '-', '+', '/'; no "..", no leading '/'. */
static bool iana_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= AI_TZ_NAME_MAX || s[0] == '/' || strstr(s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '+' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

static bool zone_file_exists(const char *name)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

int ai_tz_init(ai_tz_t *tz, const char *name)
{
    memset(tz, 0, sizeof *tz);
    if (!name || !*name)
        return TM_ERR_INVALID;
    if (!strcmp(name, "UTC") || !strcmp(name, "Z") || !strcmp(name, "Etc/UTC")) {
        tz->fixed = true;
        return TM_OK;
    }
    if (name[0] == '+' || name[0] == '-') {
        tz->fixed = true;
        return parse_offset(name, &tz->offset_s) ? TM_OK : TM_ERR_INVALID;
    }
    if (!iana_name_ok(name) || !zone_file_exists(name))
        return TM_ERR_INVALID;
    snprintf(tz->name, sizeof tz->name, "%s", name);
    return TM_OK;
}

/* Caller holds tz_lock. */
static void select_zone(const char *name)
{
    if (strcmp(tz_current, name) == 0)
        return;
    setenv("TZ", name, 1);
    tzset();
    snprintf(tz_current, sizeof tz_current, "%s", name);
}

static void fill_local(const struct tm *tm, ai_local_t *out)
{
    out->year = tm->tm_year + 1900;
    out->month = tm->tm_mon + 1;
    out->day = tm->tm_mday;
    out->minute_of_day = tm->tm_hour * 60 + tm->tm_min;
    out->second = tm->tm_sec;
    out->weekday = (tm->tm_wday + 6) % 7;
}

/* Local time of utc_s shifted by offset_s, by date arithmetic alone. */
static void local_at_offset(int64_t utc_s, int32_t offset_s, ai_local_t *out)
{
    int64_t secs = utc_s + offset_s, days = ai_floor_div(secs, 86400), sod = secs - days * 86400;
    ai_civil_from_days(days, &out->year, &out->month, &out->day);
    out->minute_of_day = (int)(sod / 60);
    out->second = (int)(sod % 60);
    out->weekday = ai_weekday_of_days(days);
}

int ai_tz_to_local(const ai_tz_t *tz, int64_t utc_ms, ai_local_t *out)
{
    int64_t secs = ai_floor_div(utc_ms, 1000);
    struct tm tm;
    if (tz->fixed) { /* arithmetic: gmtime_r takes the C library's time zone lock */
        local_at_offset(secs, tz->offset_s, out);
        return TM_OK;
    }
    time_t t = (time_t)secs;
    pthread_mutex_lock(&tz_lock);
    select_zone(tz->name);
    struct tm *ok = localtime_r(&t, &tm);
    pthread_mutex_unlock(&tz_lock);
    if (!ok)
        return TM_ERR_INVALID;
    fill_local(&tm, out);
    return TM_OK;
}

void ai_tz_memo_init(ai_tz_memo_t *memo)
{
    for (int i = 0; i < AI_TZ_MEMO_SLOTS; i++) {
        memo->hour[i] = INT64_MIN;
        memo->offset[i] = INT32_MIN;
    }
}

/* Seconds east of UTC at utc_s, from one conversion. */
static int offset_at(const ai_tz_t *tz, int64_t utc_s, int32_t *offset)
{
    ai_local_t l;
    int rc = ai_tz_to_local(tz, utc_s * 1000, &l);
    if (rc == TM_OK)
        *offset = (int32_t)(ai_days_from_civil(l.year, l.month, l.day) * 86400 +
                            l.minute_of_day * 60 + l.second - utc_s);
    return rc;
}

/* The offset of tz at utc_s through memo; false when the hour holds a change (or a
 * conversion failed): the caller converts directly. */
static bool memo_offset(const ai_tz_t *tz, ai_tz_memo_t *memo, int64_t secs, int32_t *offset)
{
    if (tz->fixed) {
        *offset = tz->offset_s;
        return true;
    }
    int64_t hour = ai_floor_div(secs, 3600);
    size_t slot = (size_t)(hour & (AI_TZ_MEMO_SLOTS - 1));
    if (memo->hour[slot] != hour) {
        int32_t first, last;
        if (offset_at(tz, hour * 3600, &first) != TM_OK ||
            offset_at(tz, hour * 3600 + 3599, &last) != TM_OK)
            return false;
        memo->hour[slot] = hour;
        memo->offset[slot] = first == last ? first : INT32_MIN;
    }
    *offset = memo->offset[slot];
    return *offset != INT32_MIN;
}

int ai_tz_to_local_memo(const ai_tz_t *tz, ai_tz_memo_t *memo, int64_t utc_ms, ai_local_t *out)
{
    int64_t secs = ai_floor_div(utc_ms, 1000);
    int32_t offset;
    if (!memo_offset(tz, memo, secs, &offset))
        return ai_tz_to_local(tz, utc_ms, out);
    local_at_offset(secs, offset, out);
    return TM_OK;
}

int ai_tz_local_day(const ai_tz_t *tz, ai_tz_memo_t *memo, int64_t utc_ms, int64_t *day,
                    int *minute_of_day, int *weekday)
{
    int64_t secs = ai_floor_div(utc_ms, 1000);
    int32_t offset;
    if (memo_offset(tz, memo, secs, &offset)) {
        int64_t local = secs + offset;
        *day = ai_floor_div(local, 86400);
        *minute_of_day = (int)((local - *day * 86400) / 60);
        *weekday = ai_weekday_of_days(*day);
        return TM_OK;
    }
    ai_local_t l;
    int rc = ai_tz_to_local(tz, utc_ms, &l);
    if (rc == TM_OK) {
        *day = ai_days_from_civil(l.year, l.month, l.day);
        *minute_of_day = l.minute_of_day;
        *weekday = l.weekday;
    }
    return rc;
}

int ai_tz_from_local(const ai_tz_t *tz, int64_t days, int minute_of_day, int64_t *out_ms)
{
    if (minute_of_day < 0 || minute_of_day > 1440)
        return TM_ERR_INVALID;
    if (minute_of_day == 1440) {
        days += 1;
        minute_of_day = 0;
    }
    if (tz->fixed) {
        *out_ms = (days * 1440 + minute_of_day) * AI_MS_PER_MIN - (int64_t)tz->offset_s * 1000;
        return TM_OK;
    }
    struct tm tm = {0};
    int y, m, d;
    ai_civil_from_days(days, &y, &m, &d);
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = minute_of_day / 60;
    tm.tm_min = minute_of_day % 60;
    tm.tm_isdst = -1;
    pthread_mutex_lock(&tz_lock);
    select_zone(tz->name);
    time_t t = mktime(&tm);
    pthread_mutex_unlock(&tz_lock);
    if (t == (time_t)-1)
        return TM_ERR_INVALID;
    *out_ms = (int64_t)t * 1000;
    return TM_OK;
}
