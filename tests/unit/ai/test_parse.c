/* Unit tests for ai_parse (services/ai/parse.c): a table of phrases with every field and
 * every span checked, plus the error cases. now = 2026-11-25T10:00:00Z (a Wednesday). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "tm_util.h"

typedef struct {
    const char *tz, *text, *title, *due; /* due: RFC 3339 or NULL */
    int all_day, priority;
    const char *labels, *rec; /* "a,b" / "" */
    int est;
    const char *spans; /* "D9:17 P22:24": D due, P priority, L labels, R rec, E est */
} row_t;

#define U  "UTC"
#define NY "America/New_York"
#define BE "Europe/Berlin"

static const row_t ROWS[] = {
    {U, "Call Bob tomorrow 5pm p1 #work ~30m every monday", "Call Bob", "2026-11-26T17:00:00Z", 0,
     1, "work", "weekly:monday", 30, "D9:17 D18:21 P22:24 L25:30 E31:35 R36:48"},
    {U, "Buy milk", "Buy milk", NULL, 0, 0, "", "", 0, ""},
    {U, "Buy milk today", "Buy milk", "2026-11-25T23:59:00Z", 1, 0, "", "", 0, "D9:14"},
    {U, "Pay rent tomorrow", "Pay rent", "2026-11-26T23:59:00Z", 1, 0, "", "", 0, "D9:17"},
    {U, "Submit report by friday", "Submit report", "2026-11-27T23:59:00Z", 1, 0, "", "", 0,
     "D14:23"},
    {U, "Standup at 9", "Standup", "2026-11-26T09:00:00Z", 0, 0, "", "", 0, "D8:12"},
    {U, "Standup at 5", "Standup", "2026-11-25T17:00:00Z", 0, 0, "", "", 0, "D8:12"},
    {U, "Lunch at noon", "Lunch", "2026-11-25T12:00:00Z", 0, 0, "", "", 0, "D6:13"},
    {U, "Call mom 9am", "Call mom", "2026-11-26T09:00:00Z", 0, 0, "", "", 0, "D9:12"},
    {U, "Call mom 5:30pm", "Call mom", "2026-11-25T17:30:00Z", 0, 0, "", "", 0, "D9:15"},
    {U, "Deploy 17:00", "Deploy", "2026-11-25T17:00:00Z", 0, 0, "", "", 0, "D7:12"},
    {U, "Deploy at 8:00 today", "Deploy", "2026-11-25T08:00:00Z", 0, 0, "", "", 0, "D7:14 D15:20"},
    {U, "Review PR next friday", "Review PR", "2026-12-04T23:59:00Z", 1, 0, "", "", 0, "D10:21"},
    {U, "Plan sprint next week", "Plan sprint", "2026-11-30T23:59:00Z", 1, 0, "", "", 0, "D12:21"},
    {U, "Renew passport next month", "Renew passport", "2026-12-01T23:59:00Z", 1, 0, "", "", 0,
     "D15:25"},
    {U, "Dentist on monday", "Dentist", "2026-11-30T23:59:00Z", 1, 0, "", "", 0, "D8:17"},
    {U, "Dentist monday 3pm", "Dentist", "2026-11-30T15:00:00Z", 0, 0, "", "", 0, "D8:14 D15:18"},
    {U, "Monday meeting notes", "Monday meeting notes", NULL, 0, 0, "", "", 0, ""},
    {U, "Monday 9am standup", "standup", "2026-11-30T09:00:00Z", 0, 0, "", "", 0, "D0:6 D7:10"},
    {U, "Wednesday", "", "2026-11-25T23:59:00Z", 1, 0, "", "", 0, "D0:9"},
    {U, "Morning run", "Morning run", NULL, 0, 0, "", "", 0, ""},
    {U, "Run tomorrow morning", "Run", "2026-11-26T09:00:00Z", 0, 0, "", "", 0, "D4:12 D13:20"},
    {U, "Read book tonight", "Read book", "2026-11-25T20:00:00Z", 0, 0, "", "", 0, "D10:17"},
    {U, "Read book tonight at 10pm", "Read book", "2026-11-25T22:00:00Z", 0, 0, "", "", 0,
     "D10:17 D18:25"},
    {U, "Ship it in 2 hours", "Ship it", "2026-11-25T12:00:00Z", 0, 0, "", "", 0, "D8:18"},
    {U, "Ship it in 30 minutes", "Ship it", "2026-11-25T10:30:00Z", 0, 0, "", "", 0, "D8:21"},
    {U, "Email in an hour", "Email", "2026-11-25T11:00:00Z", 0, 0, "", "", 0, "D6:16"},
    {U, "Follow up in 3 days", "Follow up", "2026-11-28T23:59:00Z", 1, 0, "", "", 0, "D10:19"},
    {U, "Follow up in a week", "Follow up", "2026-12-02T23:59:00Z", 1, 0, "", "", 0, "D10:19"},
    {U, "Ping Ann 2 days from now", "Ping Ann", "2026-11-27T23:59:00Z", 1, 0, "", "", 0, "D9:24"},
    {U, "Taxes 2026-12-03", "Taxes", "2026-12-03T23:59:00Z", 1, 0, "", "", 0, "D6:16"},
    {U, "Taxes 12/03", "Taxes", "2026-12-03T23:59:00Z", 1, 0, "", "", 0, "D6:11"},
    {U, "Taxes 12/03/2027 10am", "Taxes", "2027-12-03T10:00:00Z", 0, 0, "", "", 0, "D6:16 D17:21"},
    {U, "Taxes 2/30", "Taxes 2/30", NULL, 0, 0, "", "", 0, ""},
    {U, "Party Dec 3", "Party", "2026-12-03T23:59:00Z", 1, 0, "", "", 0, "D6:11"},
    {U, "Party 3 Dec", "Party", "2026-12-03T23:59:00Z", 1, 0, "", "", 0, "D6:11"},
    {U, "Party December 3rd", "Party", "2026-12-03T23:59:00Z", 1, 0, "", "", 0, "D6:18"},
    {U, "Party 3rd of December", "Party", "2026-12-03T23:59:00Z", 1, 0, "", "", 0, "D6:21"},
    {U, "Party on Dec 3, 2027 at 7pm", "Party", "2027-12-03T19:00:00Z", 0, 0, "", "", 0,
     "D6:20 D21:27"},
    {U, "Birthday Jan 5", "Birthday", "2027-01-05T23:59:00Z", 1, 0, "", "", 0, "D9:14"},
    {U, "Gym every day", "Gym", NULL, 0, 0, "", "daily", 0, "R4:13"},
    {U, "Gym daily 7am", "Gym", "2026-11-26T07:00:00Z", 0, 0, "", "daily", 0, "R4:9 D10:13"},
    {U, "Team sync every weekday 10:30", "Team sync", "2026-11-25T10:30:00Z", 0, 0, "", "weekdays",
     0, "R10:23 D24:29"},
    {U, "Water plants every other week", "Water plants", NULL, 0, 0, "", "every 2 weeks", 0,
     "R13:29"},
    {U, "Backup every 3 days", "Backup", NULL, 0, 0, "", "every 3 days", 0, "R7:19"},
    {U, "Report every month", "Report", NULL, 0, 0, "", "monthly", 0, "R7:18"},
    {U, "Yoga every friday", "Yoga", "2026-11-27T23:59:00Z", 1, 0, "", "weekly:friday", 0, "R5:17"},
    {U, "Fix bug #123 p2", "Fix bug #123", NULL, 0, 2, "", "", 0, "P13:15"},
    {U, "Fix bug !1 #backend #urgent #backend", "Fix bug", NULL, 0, 1, "backend,urgent", "", 0,
     "P8:10 L11:19 L20:27 L28:36"},
    {U, "Write spec ~2h", "Write spec", NULL, 0, 0, "", "", 120, "E11:14"},
    {U, "Write spec ~1h30m", "Write spec", NULL, 0, 0, "", "", 90, "E11:17"},
    {U, "Write spec for 45 minutes", "Write spec", NULL, 0, 0, "", "", 45, "E11:25"},
    {U, "Write spec for 2h", "Write spec", NULL, 0, 0, "", "", 120, "E11:17"},
    {U, "Dinner for two", "Dinner for two", NULL, 0, 0, "", "", 0, ""},
    {U, "Lunch at Joe's", "Lunch at Joe's", NULL, 0, 0, "", "", 0, ""},
    {U, "Call Bob p1 p2", "Call Bob p2", NULL, 0, 1, "", "", 0, "P9:11"},
    {U, "Finish deck by eod", "Finish deck", "2026-11-25T17:00:00Z", 0, 0, "", "", 0, "D12:18"},
    {U, "Finish deck end of day", "Finish deck", "2026-11-25T17:00:00Z", 0, 0, "", "", 0, "D12:22"},
    {U, "Sleep at midnight", "Sleep", "2026-11-26T00:00:00Z", 0, 0, "", "", 0, "D6:17"},
    {U, "Submit form, tomorrow.", "Submit form,", "2026-11-26T23:59:00Z", 1, 0, "", "", 0,
     "D13:21"},
    {U, "Café  meeting tomorrow #équipe", "Café meeting", "2026-11-26T23:59:00Z", 1, 0, "équipe",
     "", 0, "D14:22 L23:30"},
    {U, "Weekend trip this weekend", "Weekend trip", "2026-11-28T23:59:00Z", 1, 0, "", "", 0,
     "D13:25"},
    {U, "Call Bob tomorrow at 9 p3", "Call Bob", "2026-11-26T09:00:00Z", 0, 3, "", "", 0,
     "D9:17 D18:22 P23:25"},
    {U, "Alarm 12am", "Alarm", "2026-11-26T00:00:00Z", 0, 0, "", "", 0, "D6:10"},
    {U, "Call 5 pm", "Call", "2026-11-25T17:00:00Z", 0, 0, "", "", 0, "D5:9"},
    {U, "PAY RENT TOMORROW P1", "PAY RENT", "2026-11-26T23:59:00Z", 1, 1, "", "", 0,
     "D9:17 P18:20"},
    {U, "Buy 3 apples", "Buy 3 apples", NULL, 0, 0, "", "", 0, ""},
    {U, "Call at 25", "Call at 25", NULL, 0, 0, "", "", 0, ""},
    {U, "Call in 2 hours tomorrow", "Call tomorrow", "2026-11-25T12:00:00Z", 0, 0, "", "", 0,
     "D5:15"},
    {NY, "Call Bob tomorrow 5pm", "Call Bob", "2026-11-26T22:00:00Z", 0, 0, "", "", 0,
     "D9:17 D18:21"},
    {NY, "Call Bob 9am", "Call Bob", "2026-11-25T14:00:00Z", 0, 0, "", "", 0, "D9:12"},
    {NY, "Call Bob 4am", "Call Bob", "2026-11-26T09:00:00Z", 0, 0, "", "", 0, "D9:12"},
    {NY, "Taxes 2027-03-14 9am", "Taxes", "2027-03-14T13:00:00Z", 0, 0, "", "", 0, "D6:16 D17:20"},
    {NY, "Taxes 2027-03-13 9am", "Taxes", "2027-03-13T14:00:00Z", 0, 0, "", "", 0, "D6:16 D17:20"},
    {NY, "Gap 2027-03-14 2:30am", "Gap", "2027-03-14T07:30:00Z", 0, 0, "", "", 0, "D4:14 D15:21"},
    {NY, "Taxes 2027-03-15", "Taxes", "2027-03-16T03:59:00Z", 1, 0, "", "", 0, "D6:16"},
    {NY, "Report today", "Report", "2026-11-26T04:59:00Z", 1, 0, "", "", 0, "D7:12"},
    {NY, "Wrap up tonight", "Wrap up", "2026-11-26T01:00:00Z", 0, 0, "", "", 0, "D8:15"},
    {BE, "Call Bob 10am", "Call Bob", "2026-11-26T09:00:00Z", 0, 0, "", "", 0, "D9:13"},
    {BE, "Call Bob noon", "Call Bob", "2026-11-25T11:00:00Z", 0, 0, "", "", 0, "D9:13"},
    {BE, "Meeting 2027-03-28 10:00", "Meeting", "2027-03-28T08:00:00Z", 0, 0, "", "", 0,
     "D8:18 D19:24"},
    {BE, "Meeting 2027-03-27 10:00", "Meeting", "2027-03-27T09:00:00Z", 0, 0, "", "", 0,
     "D8:18 D19:24"},
    {BE, "Gym every monday 7am", "Gym", "2026-11-30T06:00:00Z", 0, 0, "", "weekly:monday", 0,
     "R4:16 D17:20"},
    {"+02:00", "Call 5pm", "Call", "2026-11-25T15:00:00Z", 0, 0, "", "", 0, "D5:8"},
    {"-05:30", "Call tomorrow 8am", "Call", "2026-11-26T13:30:00Z", 0, 0, "", "", 0,
     "D5:13 D14:17"},
};

static const int64_t NOW = 1795600800000LL; /* 2026-11-25T10:00:00Z */

static void join_labels(const ai_parse_result_t *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_labels && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", r->labels[i]);
}

static void join_spans(const ai_parse_result_t *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->n_spans && len < cap; i++) {
        const char *f = r->spans[i].field;
        char code = !strcmp(f, "due_at")       ? 'D'
                    : !strcmp(f, "priority")   ? 'P'
                    : !strcmp(f, "labels")     ? 'L'
                    : !strcmp(f, "recurrence") ? 'R'
                                               : 'E';
        len += (size_t)snprintf(buf + len, cap - len, "%s%c%zu:%zu", i ? " " : "", code,
                                r->spans[i].start, r->spans[i].end);
    }
}

static int check_row(const row_t *row)
{
    ai_parse_result_t r;
    char labels[512], spans[512];
    int bad = 0;
    if (ai_parse(row->text, row->tz, NOW, &r) != TM_OK) {
        print_error("[%s] %s: parse failed\n", row->tz, row->text);
        return 1;
    }
    join_labels(&r, labels, sizeof labels);
    join_spans(&r, spans, sizeof spans);
    int64_t want = 0;
    if (row->due && tm_parse_rfc3339(row->due, &want) != TM_OK)
        return 1;
    bad |= strcmp(r.title, row->title) != 0;
    bad |= r.has_due != (row->due != NULL) || (row->due && r.due_at != want);
    bad |= r.all_day != (bool)row->all_day || r.priority != row->priority;
    bad |= strcmp(labels, row->labels) != 0 || strcmp(r.recurrence, row->rec) != 0;
    bad |= r.estimate_minutes != row->est || strcmp(spans, row->spans) != 0;
    if (bad) {
        char got[40] = "none";
        if (r.has_due)
            tm_format_rfc3339_ms(r.due_at, got, sizeof got);
        print_error("[%s] \"%s\": title=\"%s\" due=%s all_day=%d prio=%d labels=%s rec=%s est=%d "
                    "spans=\"%s\"\n",
                    row->tz, row->text, r.title, got, r.all_day, r.priority, labels, r.recurrence,
                    r.estimate_minutes, spans);
    }
    return bad;
}

static void test_table(void **state)
{
    (void)state;
    size_t n = sizeof ROWS / sizeof ROWS[0], failed = 0;
    assert_true(n >= 60);
    for (size_t i = 0; i < n; i++)
        failed += (size_t)check_row(&ROWS[i]);
    print_message("%zu phrases, %zu failed\n", n, failed);
    assert_int_equal(failed, 0);
}

static void test_errors(void **state)
{
    (void)state;
    ai_parse_result_t r;
    char big[600];
    assert_int_equal(ai_parse("x", "Mars/Base", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("x", "../etc/passwd", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("x", "+25:00", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("x", "", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("x", NULL, NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse(NULL, "UTC", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("bad \xC3\x28 utf8", "UTC", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("overlong \xC0\xAF", "UTC", NOW, &r), TM_ERR_INVALID);
    assert_int_equal(ai_parse("surrogate \xED\xA0\x80", "UTC", NOW, &r), TM_ERR_INVALID);
    memset(big, 'a', 500);
    big[500] = '\0';
    assert_int_equal(ai_parse(big, "UTC", NOW, &r), TM_OK);
    assert_int_equal(strlen(r.title), 500);
    memset(big, 'a', 501);
    big[501] = '\0';
    assert_int_equal(ai_parse(big, "UTC", NOW, &r), TM_ERR_LIMIT);
}

static void test_label_limits(void **state)
{
    (void)state;
    ai_parse_result_t r;
    char text[500];
    size_t len = 0;
    for (int i = 0; i < 22; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "#l%d ", i);
    assert_int_equal(ai_parse(text, "UTC", NOW, &r), TM_OK);
    assert_int_equal(r.n_labels, 20);
    assert_string_equal(r.title, "#l20 #l21");
    /* 51 characters after '#' is not a label. */
    memset(text, 'a', sizeof text);
    memcpy(text, "x #", 3);
    text[3 + 50] = '\0';
    assert_int_equal(ai_parse(text, "UTC", NOW, &r), TM_OK);
    assert_int_equal(r.n_labels, 1);
    assert_int_equal(strlen(r.labels[0]), 50);
    text[3 + 50] = 'a';
    text[3 + 51] = '\0';
    assert_int_equal(ai_parse(text, "UTC", NOW, &r), TM_OK);
    assert_int_equal(r.n_labels, 0);
}

static void test_json(void **state)
{
    (void)state;
    ai_parse_result_t r;
    assert_int_equal(ai_parse("Call Bob tomorrow 5pm p1 #work", "UTC", NOW, &r), TM_OK);
    json_t *j = ai_parse_to_json(&r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "due_at")),
                        "2026-11-26T17:00:00.000Z");
    assert_int_equal(json_integer_value(json_object_get(j, "priority")), 1);
    assert_true(json_is_null(json_object_get(j, "recurrence")));
    assert_int_equal(json_array_size(json_object_get(j, "spans")), 4);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_label_limits),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
