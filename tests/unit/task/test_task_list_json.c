/* Unit tests for the task list's binary rows (services/task/task_json.c): results in
 * Postgres's binary format are built with libpq's PQmakeEmptyPGresult / PQsetvalue, and the
 * JSON written from them is checked against what Postgres itself writes. The expected times
 * are Postgres 15's own output for the same microsecond values (task_ts_json/task_ts_key of
 * migrations/011_tasks.sql, queried once: SET TimeZone='UTC'; SELECT ((extract(epoch from ts)
 * - 946684800) * 1000000)::bigint, task_ts_json(ts), task_ts_key(ts) ...). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../../services/task/task_json.c"
#include "cursor.h"

enum {
    UUID = 2950,
    TEXT = 25,
    INT2 = 21,
    INT4 = 23,
    INT8 = 20,
    TSTZ = 1184,
    TEXTS = 1009,
    FLOAT4 = 700
};

/* The column types of TASK_BIN_COLUMNS_SQL, then a sort key of type key_oid. */
static const unsigned col_types[TASK_COLUMNS_NUM] = {UUID,  UUID, TEXT, TEXT, TEXT, INT2,
                                                     TEXTS, UUID, TSTZ, INT4, UUID, TSTZ,
                                                     TSTZ,  TSTZ, INT8, INT8};

static PGresult *make_result(unsigned key_oid, int format)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    PGresAttDesc at[TASK_COLUMNS_NUM + 1];
    memset(at, 0, sizeof at);
    for (int i = 0; i <= TASK_COLUMNS_NUM; i++) {
        at[i].name = (char *)"c";
        at[i].format = format;
        at[i].typid = i < TASK_COLUMNS_NUM ? col_types[i] : key_oid;
        at[i].typlen = -1;
        at[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(r, TASK_COLUMNS_NUM + 1, at), 1);
    return r;
}

static void be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static void set_bytes(PGresult *r, int row, int col, const void *v, int len)
{
    assert_int_equal(PQsetvalue(r, row, col, (char *)v, len), 1);
}

static void set_null(PGresult *r, int row, int col)
{
    assert_int_equal(PQsetvalue(r, row, col, NULL, -1), 1);
}

static void set_int(PGresult *r, int row, int col, int64_t v, int n)
{
    unsigned char b[8];
    be(b, (uint64_t)v, n);
    set_bytes(r, row, col, b, n);
}

static void set_text(PGresult *r, int row, int col, const char *s)
{
    set_bytes(r, row, col, s, (int)strlen(s));
}

static void set_uuid(PGresult *r, int row, int col, unsigned char fill)
{
    unsigned char u[16];
    for (int i = 0; i < 16; i++)
        u[i] = (unsigned char)(fill + i);
    set_bytes(r, row, col, u, 16);
}

/* A binary one-dimensional text[] of n strings (NULL entries are SQL NULL). */
static void set_labels(PGresult *r, int row, int col, const char *const *v, int n)
{
    unsigned char buf[512];
    size_t at = 0;
    be(buf, n ? 1 : 0, 4);
    be(buf + 4, 0, 4);
    be(buf + 8, TEXT, 4);
    at = 12;
    if (n) {
        be(buf + 12, (uint64_t)n, 4);
        be(buf + 16, 1, 4);
        at = 20;
    }
    for (int i = 0; i < n; i++) {
        int len = v[i] ? (int)strlen(v[i]) : -1;
        be(buf + at, (uint64_t)(int64_t)len, 4);
        at += 4;
        if (len > 0) {
            memcpy(buf + at, v[i], (size_t)len);
            at += (size_t)len;
        }
    }
    set_bytes(r, row, col, buf, (int)at);
}

/* Row 0: every field set, with escapes; row 1: every nullable field NULL. */
static PGresult *two_rows(void)
{
    PGresult *r = make_result(TSTZ, 1);
    static const char *const labels[] = {"a\"b", "c\\d", "\xc3\xbc", NULL};
    set_uuid(r, 0, C_ID, 0x10);
    set_uuid(r, 0, C_WS, 0xa0);
    set_text(r, 0, C_TITLE, "q\"t \\ n\nt\tc\x01 \x1f\x7f \xf0\x9f\x98\x80");
    set_text(r, 0, C_DESC, "\r\b\f");
    set_text(r, 0, C_STATUS, "todo");
    set_int(r, 0, C_PRIO, 2, 2);
    set_labels(r, 0, C_LABELS, labels, 4);
    set_uuid(r, 0, C_ASSIGNEE, 0xf0);
    set_int(r, 0, C_DUE, INT64_C(-63082283400000000), 8); /* 0001-12-31 23:30 BC */
    set_int(r, 0, C_EST, -7, 4);
    set_uuid(r, 0, C_CREATED_BY, 0x00);
    set_int(r, 0, C_CREATED_AT, INT64_C(848979572758762), 8);
    set_int(r, 0, C_UPDATED_AT, -1, 8);
    set_int(r, 0, C_COMPLETED_AT, INT64_C(252455616000500000), 8); /* year 10000 */
    set_int(r, 0, C_SPENT, INT64_C(9007199254740993), 8);
    set_int(r, 0, C_VERSION, 1, 8);
    set_int(r, 0, TASK_COLUMNS_NUM, INT64_C(848979572758762), 8);

    set_uuid(r, 1, C_ID, 0x20);
    set_uuid(r, 1, C_WS, 0xa0);
    set_text(r, 1, C_TITLE, "t");
    set_null(r, 1, C_DESC);
    set_text(r, 1, C_STATUS, "done");
    set_int(r, 1, C_PRIO, 4, 2);
    set_labels(r, 1, C_LABELS, NULL, 0);
    set_null(r, 1, C_ASSIGNEE);
    set_int(r, 1, C_DUE, INT64_MAX, 8); /* infinity: to_char gives NULL */
    set_null(r, 1, C_EST);
    set_uuid(r, 1, C_CREATED_BY, 0x00);
    set_int(r, 1, C_CREATED_AT, 0, 8);
    set_int(r, 1, C_UPDATED_AT, INT64_C(252455615999999999), 8);
    set_null(r, 1, C_COMPLETED_AT);
    set_int(r, 1, C_SPENT, 0, 8);
    set_int(r, 1, C_VERSION, INT64_C(-9223372036854775807) - 1, 8);
    set_int(r, 1, TASK_COLUMNS_NUM, INT64_MAX, 8);
    return r;
}

static const char row0[] =
    "{\"id\":\"10111213-1415-1617-1819-1a1b1c1d1e1f\","
    "\"title\":\"q\\\"t \\\\ n\\nt\\tc\\u0001 \\u001f\x7f \xf0\x9f\x98\x80\","
    "\"due_at\":\"0001-12-31T23:30:00.000Z\","
    "\"labels\":[\"a\\\"b\",\"c\\\\d\",\"\xc3\xbc\",null],"
    "\"status\":\"todo\",\"version\":1,\"priority\":2,"
    "\"created_at\":\"2026-11-26T03:39:32.758Z\","
    "\"created_by\":\"00010203-0405-0607-0809-0a0b0c0d0e0f\","
    "\"updated_at\":\"1999-12-31T23:59:59.999Z\","
    "\"assignee_id\":\"f0f1f2f3-f4f5-f6f7-f8f9-fafbfcfdfeff\","
    "\"description\":\"\\r\\b\\f\","
    "\"completed_at\":\"10000-01-01T00:00:00.500Z\","
    "\"workspace_id\":\"a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf\","
    "\"estimate_minutes\":-7,\"time_spent_minutes\":9007199254740993}";
static const char row1[] =
    "{\"id\":\"20212223-2425-2627-2829-2a2b2c2d2e2f\",\"title\":\"t\",\"due_at\":null,"
    "\"labels\":[],\"status\":\"done\",\"version\":-9223372036854775808,\"priority\":4,"
    "\"created_at\":\"2000-01-01T00:00:00.000Z\","
    "\"created_by\":\"00010203-0405-0607-0809-0a0b0c0d0e0f\","
    "\"updated_at\":\"9999-12-31T23:59:59.999Z\",\"assignee_id\":null,\"description\":null,"
    "\"completed_at\":null,\"workspace_id\":\"a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf\","
    "\"estimate_minutes\":null,\"time_spent_minutes\":0}";

static char *text_of(task_buf_t *b)
{
    assert_true(task_buf_reserve(b, 1));
    b->p[b->len] = '\0';
    return b->p;
}

static void test_rows_as_postgres_writes_them(void **state)
{
    (void)state;
    PGresult *r = two_rows();
    task_buf_t b = {0};
    assert_int_equal(task_json_append_binary(&b, r, 0, 0), TM_OK);
    assert_string_equal(text_of(&b), row0);
    b.len = 0;
    assert_int_equal(task_json_append_binary_rows(&b, r, 2, 0), TM_OK);
    char want[sizeof row0 + sizeof row1];
    snprintf(want, sizeof want, "%s,%s", row0, row1);
    assert_string_equal(text_of(&b), want);
    /* the text parses and says what was stored */
    json_t *v = json_loadb(b.p, strlen(row0), 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "title")),
                        "q\"t \\ n\nt\tc\x01 \x1f\x7f \xf0\x9f\x98\x80");
    json_decref(v);
    free(b.p);
    PQclear(r);
}

static void test_cursor_keys(void **state)
{
    (void)state;
    PGresult *r = two_rows();
    char key[TASK_KEY_TEXT_MAX];
    assert_int_equal(task_json_binary_key(r, 0, TASK_COLUMNS_NUM, key, sizeof key), TM_OK);
    assert_string_equal(key, "2026-11-26T03:39:32.758762Z");
    assert_true(cursor_key_valid(CURSOR_KEY_TIME, key)); /* a cursor takes it */
    assert_int_equal(task_json_binary_key(r, 1, TASK_COLUMNS_NUM, key, sizeof key), TM_OK);
    assert_string_equal(key, "infinity");
    assert_int_equal(task_json_binary_key(r, 1, C_ID, key, sizeof key), TM_OK);
    assert_string_equal(key, "20212223-2425-2627-2829-2a2b2c2d2e2f");
    assert_int_equal(task_json_binary_key(r, 0, C_PRIO, key, sizeof key), TM_OK);
    assert_string_equal(key, "2");
    assert_int_equal(task_json_binary_key(r, 0, C_EST, key, sizeof key), TM_OK);
    assert_string_equal(key, "-7");
    /* NULL, text, too small a buffer: refused */
    assert_int_equal(task_json_binary_key(r, 1, C_DESC, key, sizeof key), TM_ERR_INTERNAL);
    assert_int_equal(task_json_binary_key(r, 0, C_TITLE, key, sizeof key), TM_ERR_INTERNAL);
    assert_int_equal(task_json_binary_key(r, 0, C_ID, key, 36), TM_ERR_INTERNAL);
    PQclear(r);

    /* a real: the fewest digits that read back as the same float4, as float4out writes */
    PGresult *q = make_result(FLOAT4, 1);
    const float ranks[] = {0.18784232f, 0.09910322f, 0.1f, 1e-20f};
    const char *want[] = {"0.18784232", "0.09910322", "0.1", "1e-20"};
    for (int i = 0; i < 4; i++) {
        uint32_t bits;
        memcpy(&bits, &ranks[i], 4);
        set_int(q, i, TASK_COLUMNS_NUM, bits, 4);
        assert_int_equal(task_json_binary_key(q, i, TASK_COLUMNS_NUM, key, sizeof key), TM_OK);
        assert_string_equal(key, want[i]);
        assert_true(strtof(key, NULL) == ranks[i]);
    }
    PQclear(q);
}

/* task_ts_key's text of Postgres's own values (see the header comment). */
static void test_time_texts(void **state)
{
    (void)state;
    static const struct {
        int64_t us;
        const char *key;
    } v[] = {
        {0, "2000-01-01T00:00:00.000000Z"},
        {-1, "1999-12-31T23:59:59.999999Z"},
        {INT64_C(-63082283400000000), "0001-12-31T23:30:00.000000Z"}, /* 1 BC */
        {INT64_C(-63082281600000000), "0001-01-01T00:00:00.000000Z"},
        {INT64_C(-946684800000000), "1970-01-01T00:00:00.000000Z"},
        {INT64_C(762525296001000), "2024-02-29T12:34:56.001000Z"},
        {INT64_C(252455615999999999), "9999-12-31T23:59:59.999999Z"},
        {INT64_C(252455616000500000), "10000-01-01T00:00:00.500000Z"},
        {INT64_C(-211781865600000000), "4713-11-24T00:00:00.000000Z"}, /* 4713 BC */
        {INT64_MAX, "infinity"},
        {INT64_MIN, "-infinity"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[TASK_TS_TEXT_MAX];
        size_t n = task_ts_key_text(v[i].us, out);
        assert_string_equal(out, v[i].key);
        assert_int_equal(n, strlen(v[i].key));
    }
}

/* Another type, text format, a malformed value: TM_ERR_INTERNAL and nothing written. */
static void test_refusals(void **state)
{
    (void)state;
    task_buf_t b = {0};
    assert_true(task_buf_reserve(&b, 8));
    memcpy(b.p, "[", 1);
    b.len = 1;

    PGresult *r = two_rows();
    set_bytes(r, 0, C_ID, "\x01\x02", 2); /* a uuid of 2 bytes */
    assert_int_equal(task_json_append_binary_rows(&b, r, 2, 0), TM_ERR_INTERNAL);
    assert_int_equal(b.len, 1);
    assert_int_equal(task_json_append_binary_rows(&b, r, 3, 0), TM_ERR_INTERNAL);
    assert_int_equal(task_json_append_binary(&b, r, 2, 0), TM_ERR_INTERNAL);
    PQclear(r);

    r = two_rows();
    unsigned char bad[24] = {0};
    be(bad, 1, 4);
    be(bad + 8, TEXT, 4);
    be(bad + 12, 1, 4);
    be(bad + 20, 100, 4); /* an element longer than the value */
    set_bytes(r, 1, C_LABELS, bad, sizeof bad);
    assert_int_equal(task_json_append_binary(&b, r, 1, 0), TM_ERR_INTERNAL);
    be(bad, 2, 4); /* two dimensions */
    set_bytes(r, 1, C_LABELS, bad, sizeof bad);
    assert_int_equal(task_json_append_binary(&b, r, 1, 0), TM_ERR_INTERNAL);
    set_int(r, 1, C_PRIO, 4, 4); /* an int2 of 4 bytes */
    assert_int_equal(task_json_append_binary(&b, r, 1, 0), TM_ERR_INTERNAL);
    assert_int_equal(b.len, 1);
    assert_int_equal(task_json_append_binary(&b, r, 0, 0), TM_OK); /* row 0 is intact */
    PQclear(r);

    r = make_result(TSTZ, 0); /* text format */
    assert_false(task_json_binary_ok(r, 0));
    PQclear(r);
    r = make_result(TSTZ, 1);
    assert_true(task_json_binary_ok(r, 0));
    assert_false(task_json_binary_ok(r, 1)); /* shifted: wrong types, too few columns */
    assert_int_equal(task_json_append_binary_rows(&b, r, 0, 0), TM_OK); /* no rows: fine */
    PQclear(r);
    free(b.p);
}

/* The text path writes the same escapes (jsonb's escape_json). */
static void test_text_escapes(void **state)
{
    (void)state;
    task_buf_t b = {0};
    assert_true(task_buf_reserve(&b, 64));
    const char s[] = "a\"\\\n\t\x01\x1f\b\f\r";
    put_json_string(&b, s, sizeof s - 1);
    b.p[b.len] = '\0';
    assert_string_equal(b.p, "\"a\\\"\\\\\\n\\t\\u0001\\u001f\\b\\f\\r\"");
    free(b.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_as_postgres_writes_them),
        cmocka_unit_test(test_cursor_keys),
        cmocka_unit_test(test_time_texts),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_text_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
