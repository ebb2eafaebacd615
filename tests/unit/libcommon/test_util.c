/* Unit tests for tm_util. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tm_util.h"

static void test_b64url_round_trip(void **state)
{
    (void)state;
    unsigned char in[64], out[64];
    char enc[128];
    for (size_t n = 0; n <= sizeof in; n++) {
        tm_random_bytes(in, n);
        size_t elen = tm_b64url_encode(in, n, enc);
        assert_int_equal(elen, tm_b64url_len(n));
        assert_int_equal(strlen(enc), elen);
        assert_null(strpbrk(enc, "+/="));
        long dlen = tm_b64url_decode(enc, elen, out, sizeof out);
        assert_int_equal(dlen, (long)n);
        assert_memory_equal(in, out, n);
    }
}

static void test_b64url_vectors(void **state)
{
    (void)state;
    char enc[16];
    unsigned char out[8];
    tm_b64url_encode("\xfb\xff", 2, enc);
    assert_string_equal(enc, "-_8");
    tm_b64url_encode("foobar", 6, enc);
    assert_string_equal(enc, "Zm9vYmFy");
    tm_b64url_encode("fo", 2, enc);
    assert_string_equal(enc, "Zm8");
    assert_int_equal(tm_b64url_decode("Zm8", 3, out, sizeof out), 2);
    assert_memory_equal(out, "fo", 2);
    assert_int_equal(tm_b64url_decode("Zm8=", 4, out, sizeof out), -1); /* padding */
    assert_int_equal(tm_b64url_decode("Zm+v", 4, out, sizeof out), -1); /* not url alphabet */
    assert_int_equal(tm_b64url_decode("Z", 1, out, sizeof out), -1);    /* impossible length */
    assert_int_equal(tm_b64url_decode("Zm9", 3, out, sizeof out), -1);  /* non-zero tail bits */
    assert_int_equal(tm_b64url_decode("Zm9vYmFy", 8, out, 5), -1);      /* cap too small */
}

static void test_hex(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(tm_hex_encode("\x00\xab\xff", 3, out), 6);
    assert_string_equal(out, "00abff");
    assert_int_equal(tm_hex_len(3), 6);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    tm_uuid_v4(a);
    tm_uuid_v4(b);
    assert_int_equal(strlen(a), 36);
    assert_true(tm_is_uuid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    for (const char *p = a; *p; p++)
        assert_true(*p == '-' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    assert_true(tm_is_uuid("123E4567-E89B-12D3-A456-426614174000"));
    assert_false(tm_is_uuid("123e4567e89b12d3a456426614174000"));
    assert_false(tm_is_uuid("123e4567-e89b-12d3-a456-42661417400"));
    assert_false(tm_is_uuid("123e4567-e89b-12d3-a456-4266141740000"));
    assert_false(tm_is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(tm_is_uuid(NULL));
}

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The pooled ids stay unique across many refills of the pool. */
static void test_uuid_many_unique(void **state)
{
    (void)state;
    enum { N = 5000 };
    char(*ids)[37] = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) {
        tm_uuid_v4(ids[i]);
        assert_true(tm_is_uuid(ids[i]));
    }
    qsort(ids, N, sizeof *ids, cmp_uuid);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

/* A child forked with a half-used pool does not hand out its parent's next ids. */
static void test_uuid_after_fork(void **state)
{
    (void)state;
    char first[37], mine[37], theirs[37] = "";
    tm_uuid_v4(first); /* the pool is filled and partly used */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[37];
        tm_uuid_v4(id);
        _exit(write(fd[1], id, sizeof id) == (ssize_t)sizeof id ? 0 : 1);
    }
    tm_uuid_v4(mine);
    assert_int_equal(read(fd[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    close(fd[0]);
    close(fd[1]);
    assert_true(tm_is_uuid(theirs));
    assert_string_not_equal(mine, theirs);
}

static void test_sha256(void **state)
{
    (void)state;
    char out[65];
    tm_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    tm_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_rfc3339_round_trip(void **state)
{
    (void)state;
    char buf[32];
    int64_t ms;
    const int64_t samples[] = {
        0, 1, 999, 1000, 1764107803123LL, 951782400000LL /* 2000-02-29 */, -1, 4102444799999LL};
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        tm_format_rfc3339_ms(samples[i], buf, sizeof buf);
        assert_int_equal(tm_parse_rfc3339(buf, &ms), TM_OK);
        assert_int_equal(ms, samples[i]);
    }
    tm_format_rfc3339_ms(1764107803123LL, buf, sizeof buf);
    assert_string_equal(buf, "2025-11-25T21:56:43.123Z");
    tm_format_rfc3339_ms(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
}

static void test_rfc3339_parse_forms(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(tm_parse_rfc3339("2025-11-25T21:56:43Z", &ms), TM_OK);
    assert_int_equal(ms, 1764107803000LL);
    assert_int_equal(tm_parse_rfc3339("2025-11-25T22:56:43.5+01:00", &ms), TM_OK);
    assert_int_equal(ms, 1764107803500LL);
    assert_int_equal(tm_parse_rfc3339("2025-11-25T16:26:43.123456789-05:30", &ms), TM_OK);
    assert_int_equal(ms, 1764107803123LL);
    assert_int_equal(tm_parse_rfc3339("2024-02-29t00:00:00z", &ms), TM_OK);
}

static void test_rfc3339_rejects(void **state)
{
    (void)state;
    int64_t ms = 42;
    const char *bad[] = {
        "",
        "2025-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-00-01T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-01-01T24:00:00Z",
        "2025-01-01T00:60:00Z",
        "2025-01-01T00:00:60Z",
        "2025-01-01T00:00:00",
        "2025-01-01 00:00:00Z",
        "2025-01-01T00:00:00.Z",
        "2025-01-01T00:00:00Zjunk",
        "2025-1-01T00:00:00Z",
        "2025-01-01T00:00:00+0100",
        "2025-01-01T00:00:00+24:00",
        "2025-01-01T00:00:00.1234567890Z",
        "x025-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (tm_parse_rfc3339(bad[i], &ms) != TM_ERR_INVALID)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(ms, 42);
    assert_int_equal(tm_parse_rfc3339(NULL, &ms), TM_ERR_INVALID);
}

static void test_misc(void **state)
{
    (void)state;
    size_t r;
    assert_true(tm_size_add(1, 2, &r));
    assert_int_equal(r, 3);
    assert_false(tm_size_add(SIZE_MAX, 1, &r));
    assert_false(tm_size_mul(SIZE_MAX / 2 + 1, 2, &r));
    assert_true(tm_ct_equal("abcd", "abcd", 4));
    assert_false(tm_ct_equal("abcd", "abce", 4));
    char *s = tm_xasprintf("%s-%d", "x", 42);
    assert_string_equal(s, "x-42");
    free(s);
    s = tm_xstrndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    int64_t a = tm_now_ms(), b = tm_now_ms();
    assert_true(b >= a);
    assert_true(tm_wall_ms() > 1700000000000LL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_round_trip),
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_uuid_many_unique),
        cmocka_unit_test(test_uuid_after_fork),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_rfc3339_round_trip),
        cmocka_unit_test(test_rfc3339_parse_forms),
        cmocka_unit_test(test_rfc3339_rejects),
        cmocka_unit_test(test_misc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
