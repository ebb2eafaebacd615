/* ai_parse: see parse.h for the rules. A phrase is a run of tokens; matchers look at
 * token i (and following ones) without changing state, so the same matchers can be used
 * to peek ("is the next word parsed?"), then apply() commits what one matched. */
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"
#include "tz.h"

#define MAX_TOKENS 256
#define KEY_MAX    24

enum { F_NONE, F_DUE, F_PRIO, F_LABEL, F_REC, F_EST };
static const char *const FIELD_NAMES[] = {"",       "due_at",     "priority",
                                          "labels", "recurrence", "estimate_minutes"};

typedef struct {
    size_t b0, b1;     /* bytes of the whole token */
    size_t bk1;        /* byte end of the key part (trailing punctuation excluded) */
    size_t c0, c1;     /* code points of the key part */
    char key[KEY_MAX]; /* lowercase ASCII copy of the key part; "" if too long */
    bool used;
} tok_t;

typedef struct {
    size_t n;
    int field;
    int priority, est;
    char rec[32];
    bool set_anchor, set_date, set_time, set_soft, set_abs;
    int64_t anchor, date, abs_ms;
    int minute, soft_minute;
} match_t;

typedef struct {
    const char *text;
    tok_t t[MAX_TOKENS];
    size_t nt;
    int64_t now_ms, today;
    int today_wd, today_y, today_m;
    ai_tz_t tz;
    bool has_date, has_time, has_soft, has_abs, has_anchor;
    int64_t date, abs_ms, anchor;
    int minute, soft_minute;
    ai_parse_result_t *out;
} ctx_t;

typedef size_t (*matcher_fn)(const ctx_t *c, size_t i, match_t *m);

/* ---- input checks and tokens ---- */

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF); counts chars. */
static bool utf8_valid(const unsigned char *s, size_t *chars)
{
    size_t n = 0;
    while (*s) {
        unsigned c = *s;
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || (len == 2 && c < 0xC2))
            return false;
        unsigned cp = len == 1 ? c : c & (0xFF >> (len + 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        s += len;
        n++;
    }
    *chars = n;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_trail_punct(char c)
{
    return c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '?';
}

static void make_key(const ctx_t *c, tok_t *t)
{
    size_t len = t->bk1 - t->b0;
    t->key[0] = '\0';
    if (len >= KEY_MAX)
        return;
    for (size_t k = 0; k < len; k++) {
        char ch = c->text[t->b0 + k];
        t->key[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    t->key[len] = '\0';
}

static void tokenize(ctx_t *c)
{
    size_t b = 0, ch = 0;
    const char *s = c->text;
    while (s[b] && c->nt < MAX_TOKENS) {
        if (is_space(s[b])) {
            b++, ch++;
            continue;
        }
        tok_t *t = &c->t[c->nt++];
        t->b0 = b;
        t->c0 = ch;
        while (s[b] && !is_space(s[b])) {
            if (((unsigned char)s[b] & 0xC0) != 0x80)
                ch++;
            b++;
        }
        t->b1 = t->bk1 = b;
        t->c1 = ch;
        /* Keep a lone punctuation token ("!1" keeps its leading '!'). */
        while (t->bk1 > t->b0 + 1 && is_trail_punct(s[t->bk1 - 1]))
            t->bk1--, t->c1--;
        make_key(c, t);
    }
}

static const char *key(const ctx_t *c, size_t i)
{
    return (i < c->nt && !c->t[i].used) ? c->t[i].key : "";
}

static bool keq(const ctx_t *c, size_t i, const char *s)
{
    return strcmp(key(c, i), s) == 0;
}

/* ---- word tables ---- */

static int word_index(const char *const *words, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(words[i], k) == 0)
            return (int)i;
    return -1;
}

static const char *const DAY_NAMES[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                         "friday", "saturday", "sunday"};
static const char *const DAY_PLURALS[7] = {"mondays", "tuesdays",  "wednesdays", "thursdays",
                                           "fridays", "saturdays", "sundays"};

static int day_of(const char *k)
{
    return word_index(DAY_NAMES, 7, k);
}

static int month_of(const char *k)
{
    static const char *const full[12] = {"january",   "february", "march",    "april",
                                         "may",       "june",     "july",     "august",
                                         "september", "october",  "november", "december"};
    static const char *const abbr[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    int m = word_index(full, 12, k);
    if (m < 0)
        m = word_index(abbr, 12, k);
    if (m < 0 && strcmp(k, "sept") == 0)
        m = 8;
    return m < 0 ? 0 : m + 1;
}

enum { U_NONE, U_MIN, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_YEAR };

static int unit_of(const char *k)
{
    static const struct {
        const char *w;
        int u;
    } units[] = {{"m", U_MIN},       {"min", U_MIN},    {"mins", U_MIN},    {"minute", U_MIN},
                 {"minutes", U_MIN}, {"h", U_HOUR},     {"hr", U_HOUR},     {"hrs", U_HOUR},
                 {"hour", U_HOUR},   {"hours", U_HOUR}, {"day", U_DAY},     {"days", U_DAY},
                 {"week", U_WEEK},   {"weeks", U_WEEK}, {"month", U_MONTH}, {"months", U_MONTH},
                 {"year", U_YEAR},   {"years", U_YEAR}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(units[i].w, k) == 0)
            return units[i].u;
    return U_NONE;
}

/* Reads 1..4 digits at *s into *v; advances *s. */
static bool read_num(const char **s, int *v)
{
    int n = 0, x = 0;
    while (**s >= '0' && **s <= '9' && n < 5) {
        x = x * 10 + (**s - '0');
        (*s)++, n++;
    }
    *v = x;
    return n >= 1 && n <= 4;
}

static bool whole_num(const char *k, int *v)
{
    return read_num(&k, v) && *k == '\0';
}

/* "a"/"an" count as 1 ("in an hour"). */
static bool count_word(const char *k, int *v)
{
    if (strcmp(k, "a") == 0 || strcmp(k, "an") == 0) {
        *v = 1;
        return true;
    }
    return whole_num(k, v) && *v >= 1;
}

/* "3", "3rd", "21st" -> 1..31. */
static bool ordinal_day(const char *k, int *d)
{
    if (!read_num(&k, d) || *d < 1 || *d > 31)
        return false;
    return *k == '\0' || strcmp(k, "st") == 0 || strcmp(k, "nd") == 0 || strcmp(k, "rd") == 0 ||
           strcmp(k, "th") == 0;
}

/* ---- dates ---- */

static int64_t upcoming_weekday(const ctx_t *c, int wd)
{
    return c->today + (wd - c->today_wd + 7) % 7;
}

static int64_t add_months(int64_t days, int n)
{
    int y, m, d;
    ai_civil_from_days(days, &y, &m, &d);
    int total = y * 12 + (m - 1) + n;
    y = total / 12;
    m = total % 12 + 1;
    int dim = ai_days_in_month(y, m);
    return ai_days_from_civil(y, m, d > dim ? dim : d);
}

/* y == 0: this year, or next year when the date is already past. */
static bool resolve_ymd(const ctx_t *c, int y, int m, int d, int64_t *out)
{
    bool guess = y == 0;
    if (guess)
        y = c->today_y;
    if (m < 1 || m > 12 || d < 1 || y < 1970 || y > 9999)
        return false;
    if (guess && ai_days_from_civil(y, m, d > ai_days_in_month(y, m) ? 1 : d) < c->today)
        y++;
    if (d > ai_days_in_month(y, m))
        return false;
    *out = ai_days_from_civil(y, m, d);
    return true;
}

static size_t set_date(match_t *m, size_t n, int64_t days)
{
    m->set_date = true;
    m->date = days;
    return n;
}

/* 2026-12-03, 12/03, 12/03/2026 */
static size_t numeric_date(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    int a, b, y = 0;
    int64_t days;
    if (read_num(&k, &y) && *k == '-' && (k++, read_num(&k, &a)) && *k == '-' &&
        (k++, read_num(&k, &b)) && *k == '\0')
        return resolve_ymd(c, y, a, b, &days) && y >= 1000 ? set_date(m, 1, days) : 0;
    k = key(c, i);
    y = 0;
    if (!read_num(&k, &a) || *k++ != '/' || !read_num(&k, &b))
        return 0;
    if (*k == '/' && (k++, !read_num(&k, &y) || y < 1000))
        return 0;
    if (*k != '\0')
        return 0;
    return resolve_ymd(c, y, a, b, &days) ? set_date(m, 1, days) : 0;
}

static bool year_word(const ctx_t *c, size_t i, int *y)
{
    return whole_num(key(c, i), y) && *y >= 1970 && *y <= 9999;
}

/* "Dec 3", "December 3rd, 2026", "3 Dec", "3rd of December 2026" */
static size_t named_date(const ctx_t *c, size_t i, match_t *m)
{
    int mon = month_of(key(c, i)), d, y = 0;
    size_t n;
    if (mon && ordinal_day(key(c, i + 1), &d)) {
        n = 2;
    } else if (ordinal_day(key(c, i), &d)) {
        size_t j = keq(c, i + 1, "of") ? i + 2 : i + 1;
        if (!(mon = month_of(key(c, j))))
            return 0;
        n = j - i + 1;
    } else {
        return 0;
    }
    if (year_word(c, i + n, &y))
        n++;
    int64_t days;
    return resolve_ymd(c, y, mon, d, &days) ? set_date(m, n, days) : 0;
}

static size_t any_matches(const ctx_t *c, size_t i);

/* A leading weekday/daypart word followed by ordinary text is part of the title. */
static bool soft_is_title(const ctx_t *c, size_t i)
{
    return i == 0 && c->nt > 1 && any_matches(c, 1) == 0;
}

static size_t relative_date(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    int wd;
    if (strcmp(k, "next") == 0) {
        int64_t monday = c->today - c->today_wd + 7;
        if (keq(c, i + 1, "week"))
            return set_date(m, 2, monday);
        if (keq(c, i + 1, "month"))
            return set_date(m, 2, add_months(ai_days_from_civil(c->today_y, c->today_m, 1), 1));
        if ((wd = day_of(key(c, i + 1))) >= 0)
            return set_date(m, 2, monday + wd);
        return 0;
    }
    if (strcmp(k, "this") == 0) {
        if ((wd = day_of(key(c, i + 1))) >= 0)
            return set_date(m, 2, upcoming_weekday(c, wd));
        if (keq(c, i + 1, "weekend"))
            return set_date(m, 2, c->today_wd == 6 ? c->today : upcoming_weekday(c, 5));
        return 0;
    }
    if ((wd = day_of(k)) >= 0 && !soft_is_title(c, i))
        return set_date(m, 1, upcoming_weekday(c, wd));
    return 0;
}

static size_t set_offset(const ctx_t *c, match_t *m, size_t n, int count, int unit)
{
    if (unit == U_MIN || unit == U_HOUR) {
        if (c->has_date || c->has_time || count > 100000)
            return 0;
        m->set_abs = true;
        m->abs_ms = c->now_ms + (int64_t)count * AI_MS_PER_MIN * (unit == U_HOUR ? 60 : 1);
        return n;
    }
    if (unit == U_DAY || unit == U_WEEK)
        return count <= 3660 ? set_date(m, n, c->today + (int64_t)count * (unit == U_WEEK ? 7 : 1))
                             : 0;
    if (unit == U_MONTH || unit == U_YEAR)
        return count <= 1200
                   ? set_date(m, n, add_months(c->today, unit == U_YEAR ? count * 12 : count))
                   : 0;
    return 0;
}

/* "in 3 days", "in an hour", "2 weeks from now" */
static size_t offset_date(const ctx_t *c, size_t i, match_t *m)
{
    int count, unit;
    if (keq(c, i, "in") && count_word(key(c, i + 1), &count) &&
        (unit = unit_of(key(c, i + 2))) != U_NONE)
        return set_offset(c, m, 3, count, unit);
    if (count_word(key(c, i), &count) && (unit = unit_of(key(c, i + 1))) != U_NONE &&
        keq(c, i + 2, "from") && keq(c, i + 3, "now"))
        return set_offset(c, m, 4, count, unit);
    return 0;
}

static size_t date_core(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    size_t n;
    if (c->has_date || c->has_abs)
        return 0;
    if (strcmp(k, "today") == 0)
        return set_date(m, 1, c->today);
    if (strcmp(k, "tomorrow") == 0 || strcmp(k, "tmrw") == 0 || strcmp(k, "tmr") == 0)
        return set_date(m, 1, c->today + 1);
    if (strcmp(k, "tonight") == 0) {
        m->set_soft = true;
        m->soft_minute = 20 * 60;
        return set_date(m, 1, c->today);
    }
    if ((n = relative_date(c, i, m)) || (n = offset_date(c, i, m)) || (n = numeric_date(c, i, m)) ||
        (n = named_date(c, i, m)))
        return n;
    return 0;
}

/* ---- times ---- */

static size_t set_time(match_t *m, size_t n, int minute)
{
    m->set_time = true;
    m->minute = minute;
    return n;
}

static bool is_soft_daypart(const char *k)
{
    return !strcmp(k, "morning") || !strcmp(k, "afternoon") || !strcmp(k, "evening");
}

static int daypart_of(const char *k)
{
    static const struct {
        const char *w;
        int minute;
    } parts[] = {{"morning", 540}, {"afternoon", 840}, {"evening", 1080}, {"noon", 720},
                 {"midday", 720},  {"midnight", 1440}, {"eod", 1020}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strcmp(parts[i].w, k) == 0)
            return parts[i].minute;
    return -1;
}

static int ampm_of(const char *s)
{
    return !strcmp(s, "am") ? 1 : !strcmp(s, "pm") ? 2 : 0;
}

/* "5pm", "5:30pm", "17:00", "5" + next "pm"; a bare hour only after "at". */
static bool parse_clock(const char *k, const char *next, bool after_at, int *minute, size_t *extra)
{
    int h, mm = 0;
    const char *p;
    *extra = 0;
    if (!read_num(&k, &h) || h > 23)
        return false;
    bool colon = *k == ':';
    if (colon && (p = ++k, !read_num(&k, &mm) || k - p != 2 || mm > 59))
        return false;
    int ap = ampm_of(k);
    if (*k && !ap)
        return false;
    if (!*k && (ap = ampm_of(next)) != 0)
        *extra = 1;
    if (ap) {
        if (h < 1 || h > 12)
            return false;
        *minute = (h % 12 + (ap == 2 ? 12 : 0)) * 60 + mm;
        return true;
    }
    if (!colon && !after_at)
        return false;
    if (!colon && h >= 1 && h <= 7)
        h += 12;
    *minute = h * 60 + mm;
    return true;
}

static size_t time_core(const ctx_t *c, size_t i, match_t *m, bool after_at)
{
    const char *k = key(c, i);
    int v;
    size_t extra;
    if (c->has_time || c->has_abs)
        return 0;
    if (!strcmp(k, "this") && is_soft_daypart(key(c, i + 1)) && !c->has_date) {
        set_date(m, 0, c->today);
        return set_time(m, 2, daypart_of(key(c, i + 1)));
    }
    if (!strcmp(k, "in") && keq(c, i + 1, "the") && is_soft_daypart(key(c, i + 2)))
        return set_time(m, 3, daypart_of(key(c, i + 2)));
    if (!strcmp(k, "end") && keq(c, i + 1, "of") && keq(c, i + 2, "day"))
        return set_time(m, 3, 1020);
    if ((v = daypart_of(k)) >= 0)
        return is_soft_daypart(k) && soft_is_title(c, i) ? 0 : set_time(m, 1, v);
    if (parse_clock(k, key(c, i + 1), after_at, &v, &extra))
        return set_time(m, 1 + extra, v);
    return 0;
}

/* ---- matchers ---- */

static size_t m_when(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    size_t n;
    m->field = F_DUE;
    if (!strcmp(k, "on") || !strcmp(k, "by") || !strcmp(k, "due") || !strcmp(k, "at")) {
        bool at = strcmp(k, "at") == 0;
        n = at ? 0 : date_core(c, i + 1, m);
        if (!n)
            n = time_core(c, i + 1, m, at);
        return n ? n + 1 : 0;
    }
    if ((n = date_core(c, i, m)))
        return n;
    return time_core(c, i, m, false);
}

static size_t m_priority(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    if (c->out->priority || (k[0] != 'p' && k[0] != '!') || k[1] < '1' || k[1] > '4' || k[2])
        return 0;
    m->field = F_PRIO;
    m->priority = k[1] - '0';
    return 1;
}

static size_t m_label(const ctx_t *c, size_t i, match_t *m)
{
    if (i >= c->nt || c->t[i].used || c->out->n_labels >= AI_PARSE_MAX_LABELS)
        return 0;
    const tok_t *t = &c->t[i];
    const unsigned char *s = (const unsigned char *)c->text + t->b0;
    size_t chars = t->c1 - t->c0, bytes = t->bk1 - t->b0;
    if (s[0] != '#' || chars < 2 || chars - 1 > AI_PARSE_LABEL_CHARS)
        return 0;
    bool letter = (s[1] >= 'a' && s[1] <= 'z') || (s[1] >= 'A' && s[1] <= 'Z') || s[1] >= 0x80;
    if (!letter || memchr(s + 1, '#', bytes - 1))
        return 0;
    m->field = F_LABEL;
    return 1;
}

static bool parse_duration(const char *s, int *out)
{
    int total = 0, v;
    if (!*s)
        return false;
    while (*s) {
        char unit[12];
        size_t n = 0;
        if (!read_num(&s, &v))
            return false;
        while (*s >= 'a' && *s <= 'z' && n < sizeof unit - 1)
            unit[n++] = *s++;
        unit[n] = '\0';
        int u = unit_of(unit);
        if (u != U_MIN && u != U_HOUR)
            return false;
        total += u == U_HOUR ? v * 60 : v;
    }
    if (total < 1 || total > AI_PARSE_MAX_ESTIMATE)
        return false;
    *out = total;
    return true;
}

static size_t m_estimate(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    int v, u;
    if (c->out->estimate_minutes)
        return 0;
    m->field = F_EST;
    if (k[0] == '~')
        return parse_duration(k + 1, &m->est) ? 1 : 0;
    if (strcmp(k, "for") != 0)
        return 0;
    if (parse_duration(key(c, i + 1), &m->est))
        return 2;
    if (!whole_num(key(c, i + 1), &v) || ((u = unit_of(key(c, i + 2))) != U_MIN && u != U_HOUR))
        return 0;
    m->est = u == U_HOUR ? v * 60 : v;
    return m->est >= 1 && m->est <= AI_PARSE_MAX_ESTIMATE ? 3 : 0;
}

static size_t set_rec(match_t *m, size_t n, const char *rec)
{
    snprintf(m->rec, sizeof m->rec, "%s", rec);
    return n;
}

static size_t rec_unit(match_t *m, size_t n, int count, int unit)
{
    static const char *const simple[] = {"daily", "weekly", "monthly", "yearly"};
    static const char *const plural[] = {"days", "weeks", "months", "years"};
    if (count == 1)
        return set_rec(m, n, simple[unit - U_DAY]);
    snprintf(m->rec, sizeof m->rec, "every %d %s", count, plural[unit - U_DAY]);
    return n;
}

static size_t rec_every(const ctx_t *c, size_t i, match_t *m)
{
    const char *k = key(c, i);
    int wd, count, unit;
    if (!strcmp(k, "weekday") || !strcmp(k, "weekdays")) {
        m->set_anchor = true;
        m->anchor = c->today_wd < 5 ? c->today : upcoming_weekday(c, 0);
        return set_rec(m, 2, "weekdays");
    }
    if ((wd = day_of(k)) >= 0 || (wd = word_index(DAY_PLURALS, 7, k)) >= 0) {
        m->set_anchor = true;
        m->anchor = upcoming_weekday(c, wd);
        snprintf(m->rec, sizeof m->rec, "weekly:%s", DAY_NAMES[wd]);
        return 2;
    }
    if ((unit = unit_of(k)) >= U_DAY)
        return rec_unit(m, 2, 1, unit);
    if (!strcmp(k, "other") && (unit = unit_of(key(c, i + 1))) >= U_DAY)
        return rec_unit(m, 3, 2, unit);
    if (whole_num(k, &count) && count >= 1 && count <= 999 &&
        (unit = unit_of(key(c, i + 1))) >= U_DAY)
        return rec_unit(m, 3, count, unit);
    return 0;
}

static size_t m_recur(const ctx_t *c, size_t i, match_t *m)
{
    static const struct {
        const char *w, *rec;
    } words[] = {{"daily", "daily"},     {"everyday", "daily"}, {"weekly", "weekly"},
                 {"monthly", "monthly"}, {"yearly", "yearly"},  {"annually", "yearly"}};
    const char *k = key(c, i);
    if (c->out->recurrence[0])
        return 0;
    m->field = F_REC;
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        if (!strcmp(k, words[w].w))
            return set_rec(m, 1, words[w].rec);
    if (strcmp(k, "every") != 0 && strcmp(k, "each") != 0)
        return 0;
    return rec_every(c, i + 1, m);
}

/* ---- driver ---- */

static const matcher_fn MATCHERS[] = {m_priority, m_label, m_estimate, m_recur, m_when};
#define N_MATCHERS (sizeof MATCHERS / sizeof MATCHERS[0])

static size_t try_all(const ctx_t *c, size_t i, match_t *m)
{
    for (size_t k = 0; k < N_MATCHERS; k++) {
        memset(m, 0, sizeof *m);
        size_t n = MATCHERS[k](c, i, m);
        if (n > 0 && i + n <= c->nt)
            return m->n = n;
    }
    return 0;
}

static size_t any_matches(const ctx_t *c, size_t i)
{
    match_t m;
    return try_all(c, i, &m);
}

static void apply_label(ctx_t *c, size_t i)
{
    const tok_t *t = &c->t[i];
    ai_parse_result_t *r = c->out;
    size_t len = t->bk1 - t->b0 - 1;
    char buf[sizeof r->labels[0]];
    memcpy(buf, c->text + t->b0 + 1, len);
    buf[len] = '\0';
    for (size_t k = 0; k < r->n_labels; k++)
        if (strcmp(r->labels[k], buf) == 0)
            return;
    memcpy(r->labels[r->n_labels++], buf, len + 1);
}

static void apply_when(ctx_t *c, const match_t *m)
{
    if (m->set_date)
        c->has_date = true, c->date = m->date;
    if (m->set_time)
        c->has_time = true, c->minute = m->minute;
    if (m->set_soft)
        c->has_soft = true, c->soft_minute = m->soft_minute;
    if (m->set_abs)
        c->has_abs = true, c->abs_ms = m->abs_ms;
}

static void apply(ctx_t *c, size_t i, const match_t *m)
{
    ai_parse_result_t *r = c->out;
    if (m->field == F_DUE)
        apply_when(c, m);
    else if (m->field == F_PRIO)
        r->priority = m->priority;
    else if (m->field == F_EST)
        r->estimate_minutes = m->est;
    else if (m->field == F_LABEL)
        apply_label(c, i);
    if (m->field == F_REC) {
        snprintf(r->recurrence, sizeof r->recurrence, "%s", m->rec);
        if (m->set_anchor)
            c->has_anchor = true, c->anchor = m->anchor;
    }
    if (r->n_spans < AI_PARSE_MAX_SPANS)
        r->spans[r->n_spans++] =
            (ai_parse_span_t){FIELD_NAMES[m->field], c->t[i].c0, c->t[i + m->n - 1].c1};
    for (size_t k = i; k < i + m->n; k++)
        c->t[k].used = true;
}

static void run(ctx_t *c)
{
    for (size_t i = 0; i < c->nt;) {
        match_t m;
        if (!c->t[i].used && try_all(c, i, &m)) {
            apply(c, i, &m);
            i += m.n;
        } else {
            i++;
        }
    }
}

static int resolve_due(ctx_t *c)
{
    ai_parse_result_t *r = c->out;
    if (c->has_abs) {
        r->has_due = true;
        r->due_at = c->abs_ms;
        return TM_OK;
    }
    if (!c->has_date && c->has_anchor)
        c->has_date = true, c->date = c->anchor;
    if (!c->has_date && !c->has_time)
        return TM_OK;
    if (!c->has_time && c->has_soft)
        c->has_time = true, c->minute = c->soft_minute;
    r->has_due = true;
    if (!c->has_time) {
        r->all_day = true;
        return ai_tz_from_local(&c->tz, c->date, 23 * 60 + 59, &r->due_at);
    }
    if (c->has_date)
        return ai_tz_from_local(&c->tz, c->date, c->minute, &r->due_at);
    int rc = ai_tz_from_local(&c->tz, c->today, c->minute, &r->due_at);
    if (rc == TM_OK && r->due_at <= c->now_ms)
        rc = ai_tz_from_local(&c->tz, c->today + 1, c->minute, &r->due_at);
    return rc;
}

/* Input is at most 500 chars (<= 2000 bytes), so the title always fits. */
static void build_title(ctx_t *c)
{
    char *dst = c->out->title;
    size_t len = 0;
    for (size_t i = 0; i < c->nt; i++) {
        const tok_t *t = &c->t[i];
        if (t->used)
            continue;
        if (len > 0)
            dst[len++] = ' ';
        memcpy(dst + len, c->text + t->b0, t->b1 - t->b0);
        len += t->b1 - t->b0;
    }
    dst[len] = '\0';
}

static int init_ctx(ctx_t *c, const char *text, const char *timezone, int64_t now_ms)
{
    ai_local_t now;
    int rc = ai_tz_init(&c->tz, timezone);
    if (rc == TM_OK)
        rc = ai_tz_to_local(&c->tz, now_ms, &now);
    if (rc != TM_OK)
        return rc;
    c->text = text;
    c->now_ms = now_ms;
    c->today = ai_days_from_civil(now.year, now.month, now.day);
    c->today_wd = now.weekday;
    c->today_y = now.year;
    c->today_m = now.month;
    return TM_OK;
}

int ai_parse(const char *text, const char *timezone, int64_t now_ms, ai_parse_result_t *out)
{
    size_t chars;
    if (!text || !out)
        return TM_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (!utf8_valid((const unsigned char *)text, &chars))
        return TM_ERR_INVALID;
    if (chars > AI_PARSE_MAX_CHARS)
        return TM_ERR_LIMIT;
    ctx_t *c = tm_xcalloc(1, sizeof *c);
    c->out = out;
    int rc = init_ctx(c, text, timezone, now_ms);
    if (rc != TM_OK)
        goto free_ctx;
    tokenize(c);
    run(c);
    rc = resolve_due(c);
    if (rc == TM_OK)
        build_title(c);
free_ctx:
    free(c);
    return rc;
}

json_t *ai_parse_to_json(const ai_parse_result_t *r)
{
    char when[40];
    json_t *labels = json_array(), *spans = json_array();
    for (size_t i = 0; i < r->n_labels; i++)
        json_array_append_new(labels, json_string(r->labels[i]));
    for (size_t i = 0; i < r->n_spans; i++)
        json_array_append_new(spans, json_pack("{s:s, s:I, s:I}", "field", r->spans[i].field,
                                               "start", (json_int_t)r->spans[i].start, "end",
                                               (json_int_t)r->spans[i].end));
    if (r->has_due)
        tm_format_rfc3339_ms(r->due_at, when, sizeof when);
    return json_pack(
        "{s:s, s:o, s:b, s:o, s:o, s:o, s:o, s:o}", "title", r->title, "due_at",
        r->has_due ? json_string(when) : json_null(), "all_day", r->all_day, "priority",
        r->priority ? json_integer(r->priority) : json_null(), "labels", labels, "recurrence",
        r->recurrence[0] ? json_string(r->recurrence) : json_null(), "estimate_minutes",
        r->estimate_minutes ? json_integer(r->estimate_minutes) : json_null(), "spans", spans);
}
