/* tm_query: decoding, lookup, iteration and the forwarded headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include "tm_query.h"

static void test_decode(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(tm_query_decode("a%20b+c", 7, out, sizeof(out)), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(tm_query_decode("%C3%A9", 6, out, sizeof(out)), 2);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(tm_query_decode("", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* malformed escapes */
    assert_int_equal(tm_query_decode("%", 1, out, sizeof(out)), -1);
    assert_int_equal(tm_query_decode("%4", 2, out, sizeof(out)), -1);
    assert_int_equal(tm_query_decode("ab%4", 4, out, sizeof(out)), -1);
    assert_int_equal(tm_query_decode("%zz", 3, out, sizeof(out)), -1);
    assert_int_equal(tm_query_decode("%G1", 3, out, sizeof(out)), -1);
    assert_int_equal(tm_query_decode("a%00b", 5, out, sizeof(out)), -1);
    /* only n bytes are read, even if src continues */
    assert_int_equal(tm_query_decode("abc%41", 3, out, sizeof(out)), 3);
    assert_string_equal(out, "abc");
    /* overflow: 16 chars do not fit in 16 bytes with the NUL */
    assert_int_equal(tm_query_decode("0123456789abcdef", 16, out, sizeof(out)), -1);
    assert_int_equal(tm_query_decode("0123456789abcde", 15, out, sizeof(out)), 15);
}

static void test_get(void **state)
{
    (void)state;
    char out[32];
    const char *q = "since=42&q=hello+world&empty=&bare&x=%2&name%20x=v&since=7";
    assert_int_equal(tm_query_get(q, "since", out, sizeof(out)), 2);
    assert_string_equal(out, "42");
    assert_int_equal(tm_query_get(q, "q", out, sizeof(out)), 11);
    assert_string_equal(out, "hello world");
    assert_int_equal(tm_query_get(q, "empty", out, sizeof(out)), 0);
    assert_int_equal(tm_query_get(q, "bare", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    assert_int_equal(tm_query_get(q, "x", out, sizeof(out)), -2);
    assert_int_equal(tm_query_get(q, "name x", out, sizeof(out)), 1);
    assert_int_equal(tm_query_get(q, "missing", out, sizeof(out)), -1);
    assert_int_equal(tm_query_get(NULL, "since", out, sizeof(out)), -1);
    assert_int_equal(tm_query_get("q=toolongvalue", "q", out, 4), -2);
    assert_int_equal(tm_query_get("&&a=1&&", "a", out, sizeof(out)), 1);
}

typedef struct {
    int n;
    char seen[256];
} visit_t;

static int visit(const char *k, const char *v, void *arg)
{
    visit_t *vt = arg;
    size_t len = strlen(vt->seen);
    snprintf(vt->seen + len, sizeof(vt->seen) - len, "[%s=%s]", k, v);
    return ++vt->n == 99 ? 5 : 0;
}

static void test_each(void **state)
{
    (void)state;
    visit_t vt = {0};
    assert_int_equal(tm_query_each("a=1&b=x%2By&c", visit, &vt), 0);
    assert_string_equal(vt.seen, "[a=1][b=x+y][c=]");
    memset(&vt, 0, sizeof(vt));
    assert_int_equal(tm_query_each("a=1&b=%G0", visit, &vt), TM_ERR_INVALID);
    assert_int_equal(vt.n, 1);
    memset(&vt, 0, sizeof(vt));
    assert_int_equal(tm_query_each("=1", visit, &vt), TM_ERR_INVALID);
    assert_int_equal(tm_query_each(NULL, visit, &vt), 0);
    assert_int_equal(tm_query_each("", visit, &vt), 0);
    char big[1024] = "";
    for (int i = 0; i < 65; i++)
        strcat(big, "k=v&");
    memset(&vt, 0, sizeof(vt));
    assert_int_equal(tm_query_each(big, visit, &vt), TM_ERR_LIMIT);
    big[strlen(big) - 4] = '\0'; /* exactly 64 pairs are fine */
    memset(&vt, 0, sizeof(vt));
    assert_int_equal(tm_query_each(big, visit, &vt), 0);
    assert_int_equal(vt.n, 64);
    /* a non-zero return from fn stops the walk and is returned */
    char many[2048] = "";
    for (int i = 0; i < 60; i++)
        strcat(many, "k=v&");
    vt.n = 90;
    assert_int_equal(tm_query_each(many, visit, &vt), 5);
    assert_int_equal(vt.n, 99);
}

static void test_msg_headers(void **state)
{
    (void)state;
    natsMsg *m = NULL;
    assert_int_equal(nats_Open(-1), NATS_OK);
    assert_int_equal(natsMsg_Create(&m, "s", NULL, "", 0), NATS_OK);
    assert_string_equal(tm_query_string(m), "");
    assert_null(tm_query_param(m, "id"));
    assert_int_equal(natsMsgHeader_Set(m, "Tm-Param-id", "abc"), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(m, "Tm-Query", "since=4"), NATS_OK);
    assert_string_equal(tm_query_param(m, "id"), "abc");
    assert_null(tm_query_param(m, "aid"));
    assert_string_equal(tm_query_string(m), "since=4");
    assert_string_equal(tm_query_string(NULL), "");
    natsMsg_Destroy(m);
    nats_Close();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_each),
        cmocka_unit_test(test_msg_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
