/* Unit tests for ws_frame: RFC 6455 handshake, parser and encoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ws_frame.h"
#include "ws_test_util.h"

#define FIN 0x80

static ws_str_t S(const char *s)
{
    return (ws_str_t){s, s ? strlen(s) : 0};
}

static ws_handshake_req_t good_req(void)
{
    return (ws_handshake_req_t){S("GET"), S("websocket"), S("Upgrade"), S("13"),
                                S("dGhlIHNhbXBsZSBub25jZQ==")};
}

static void test_accept_rfc_vector(void **state)
{
    (void)state;
    char out[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_handshake_accept("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    /* RFC 6455 section 1.3 (the value verified with Python hashlib as well) */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char long_key[80];
    memset(long_key, 'A', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    assert_int_equal(ws_handshake_accept(long_key, out), TM_ERR_INVALID);
}

static void test_handshake_check(void **state)
{
    (void)state;
    ws_handshake_req_t r = good_req();
    assert_int_equal(ws_handshake_check(&r), WS_HS_OK);
    assert_int_equal(ws_handshake_status(WS_HS_OK), 101);
    r.connection = S("keep-alive, Upgrade");
    r.upgrade = S("WebSocket");
    assert_int_equal(ws_handshake_check(&r), WS_HS_OK);
    r.version = S(" 13 ");
    assert_int_equal(ws_handshake_check(&r), WS_HS_OK);

    r = good_req();
    r.method = S("POST");
    assert_int_equal(ws_handshake_check(&r), WS_HS_BAD_METHOD);
    assert_int_equal(ws_handshake_status(WS_HS_BAD_METHOD), 405);
    r = good_req();
    r.upgrade = S(NULL);
    assert_int_equal(ws_handshake_check(&r), WS_HS_NOT_UPGRADE);
    r = good_req();
    r.upgrade = S("websockets");
    assert_int_equal(ws_handshake_check(&r), WS_HS_NOT_UPGRADE);
    r = good_req();
    r.connection = S("keep-alive");
    assert_int_equal(ws_handshake_check(&r), WS_HS_NOT_UPGRADE);

    const char *bad_versions[] = {"12", "8", "013", "13, 8", "", "14", NULL};
    for (int i = 0; i < 7; i++) {
        r = good_req();
        r.version = S(bad_versions[i]);
        assert_int_equal(ws_handshake_check(&r), WS_HS_BAD_VERSION);
    }
    assert_int_equal(ws_handshake_status(WS_HS_BAD_VERSION), 426);
    assert_non_null(strstr(ws_handshake_reason(WS_HS_BAD_VERSION), "13"));

    const char *bad_keys[] = {NULL,
                              "",
                              "dGhlIHNhbXBsZSBub25jZQ",
                              "dGhlIHNhbXBsZSBub25jZQ=",
                              "dGhlIHNhbXBsZSBub25jZQ===",
                              "dGhlIHNhbXBsZSBub25j!Q==",
                              "dGhlIHNhbXBsZSBub25jZSE=",
                              "dGhlIHNhbXBsZSBub25jZQ==AAAA"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        r = good_req();
        r.key = S(bad_keys[i]);
        assert_int_equal(ws_handshake_check(&r), WS_HS_BAD_KEY);
    }
    assert_int_equal(ws_handshake_status(WS_HS_BAD_KEY), 400);
}

/* RFC 6455 5.7: a single-frame masked text message "Hello". */
static void test_rfc_masked_hello(void **state)
{
    (void)state;
    const uint8_t frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_parser_t p;
    ws_parser_init(&p, 0);
    wst_log_t log = {0};
    assert_int_equal(wst_run(&p, frame, sizeof frame, 0, &log), 1);
    assert_int_equal(log.ev[0].type, WS_EV_MESSAGE);
    assert_int_equal(log.ev[0].opcode, WS_OPCODE_TEXT);
    assert_int_equal(log.ev[0].len, 5);
    assert_memory_equal(log.ev[0].data, "Hello", 5);
    /* the call that returned WS_EV_NONE freed the message: nothing held when idle */
    assert_null(p.buf);
    assert_null(p.ctl);
    assert_true(sizeof(ws_parser_t) <= 64);
    wst_log_free(&log);
    ws_parser_dispose(&p);
}

static void expect_error(const uint8_t *buf, size_t len, size_t max, uint16_t code)
{
    for (size_t step = 0; step <= 1; step++) {
        ws_parser_t p;
        ws_parser_init(&p, max);
        wst_log_t log = {0};
        int n = wst_run(&p, buf, len, step, &log);
        assert_true(n >= 1);
        assert_int_equal(log.ev[n - 1].type, WS_EV_ERROR);
        assert_int_equal(log.ev[n - 1].code, code);
        /* a failed parser keeps failing and holds no buffers */
        size_t used = 99;
        ws_event_t ev;
        assert_int_equal(ws_parser_next(&p, buf, len, &used, &ev), WS_EV_ERROR);
        assert_int_equal(used, 0);
        assert_int_equal(ev.close_code, code);
        assert_non_null(ev.reason);
        assert_null(p.buf);
        wst_log_free(&log);
        ws_parser_dispose(&p);
    }
}

static void test_unmasked_and_header_violations(void **state)
{
    (void)state;
    uint8_t b[64];
    expect_error(b, wst_frame(b, FIN | WS_OPCODE_TEXT, "hi", 2, NULL), 0, 1002);
    expect_error(b, wst_cframe(b, FIN | 0x40 | WS_OPCODE_TEXT, "hi", 2), 0, 1002); /* RSV1 */
    expect_error(b, wst_cframe(b, FIN | 0x20 | WS_OPCODE_TEXT, "hi", 2), 0, 1002); /* RSV2 */
    expect_error(b, wst_cframe(b, FIN | 0x10 | WS_OPCODE_TEXT, "hi", 2), 0, 1002); /* RSV3 */
    const uint8_t bad_ops[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof bad_ops; i++)
        expect_error(b, wst_cframe(b, FIN | bad_ops[i], "x", 1), 0, 1002);
    /* control frames: at most 125 bytes, never fragmented */
    uint8_t big[200] = {0};
    uint8_t f[260];
    expect_error(f, wst_cframe(f, FIN | WS_OPCODE_PING, big, 126), 0, 1002);
    expect_error(b, wst_cframe(b, WS_OPCODE_PING, "x", 1), 0, 1002);
    expect_error(b, wst_cframe(b, WS_OPCODE_CLOSE, NULL, 0), 0, 1002);
    /* 64-bit length with the most significant bit set */
    const uint8_t msb[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    expect_error(msb, sizeof msb, 0, 1002);
}

static void check_length(size_t len)
{
    uint8_t *payload = malloc(len + 1);
    uint8_t *frame = malloc(len + WS_MAX_HEADER);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    size_t flen = wst_cframe(frame, FIN | WS_OPCODE_BINARY, payload, len);
    size_t hdr = len < 126 ? 6 : len <= 0xffff ? 8 : 14;
    assert_int_equal(flen, hdr + len);
    ws_parser_t p;
    ws_parser_init(&p, 1 << 20);
    wst_log_t log = {0};
    for (size_t step = 0; step < 3; step++) {
        size_t steps[] = {0, 7, 4096};
        wst_run(&p, frame, flen, steps[step], &log);
    }
    assert_int_equal(log.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(log.ev[i].type, WS_EV_MESSAGE);
        assert_int_equal(log.ev[i].opcode, WS_OPCODE_BINARY);
        assert_int_equal(log.ev[i].len, len);
        assert_memory_equal(log.ev[i].data, payload, len);
    }
    wst_log_free(&log);
    ws_parser_dispose(&p);
    free(payload);
    free(frame);
}

static void test_all_lengths(void **state)
{
    (void)state;
    const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 100000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        check_length(lens[i]);
}

static void test_fragmentation_with_ping(void **state)
{
    (void)state;
    uint8_t s[256];
    size_t n = 0;
    n += wst_cframe(s + n, WS_OPCODE_TEXT, "Hel", 3);
    n += wst_cframe(s + n, FIN | WS_OPCODE_PING, "p1", 2);
    n += wst_cframe(s + n, WS_OPCODE_CONT, "", 0);
    n += wst_cframe(s + n, FIN | WS_OPCODE_PONG, NULL, 0);
    n += wst_cframe(s + n, FIN | WS_OPCODE_CONT, "lo", 2);
    n += wst_cframe(s + n, FIN | WS_OPCODE_BINARY, "\x00\xff", 2);
    for (size_t step = 0; step <= 3; step++) {
        ws_parser_t p;
        ws_parser_init(&p, 0);
        wst_log_t log = {0};
        assert_int_equal(wst_run(&p, s, n, step, &log), 4);
        assert_int_equal(log.ev[0].type, WS_EV_PING);
        assert_int_equal(log.ev[0].len, 2);
        assert_memory_equal(log.ev[0].data, "p1", 2);
        assert_int_equal(log.ev[1].type, WS_EV_PONG);
        assert_int_equal(log.ev[1].len, 0);
        assert_int_equal(log.ev[2].type, WS_EV_MESSAGE);
        assert_int_equal(log.ev[2].opcode, WS_OPCODE_TEXT);
        assert_string_equal((char *)log.ev[2].data, "Hello");
        assert_int_equal(log.ev[3].opcode, WS_OPCODE_BINARY);
        assert_memory_equal(log.ev[3].data, "\x00\xff", 2);
        wst_log_free(&log);
        ws_parser_dispose(&p);
    }
}

static void test_fragmentation_violations(void **state)
{
    (void)state;
    uint8_t s[128];
    size_t n = wst_cframe(s, FIN | WS_OPCODE_CONT, "x", 1);
    expect_error(s, n, 0, 1002);
    n = wst_cframe(s, WS_OPCODE_TEXT, "a", 1);
    n += wst_cframe(s + n, FIN | WS_OPCODE_TEXT, "b", 1);
    expect_error(s, n, 0, 1002);
    n = wst_cframe(s, WS_OPCODE_BINARY, "a", 1);
    n += wst_cframe(s + n, WS_OPCODE_BINARY, "b", 1);
    expect_error(s, n, 0, 1002);
    /* a complete message, then a continuation: no message is open any more */
    n = wst_cframe(s, FIN | WS_OPCODE_TEXT, "a", 1);
    n += wst_cframe(s + n, FIN | WS_OPCODE_CONT, "b", 1);
    expect_error(s, n, 0, 1002);
}

static uint16_t close_result(uint16_t code, const char *reason, size_t rlen, wst_log_t *log)
{
    uint8_t body[130], f[140];
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    memcpy(body + 2, reason, rlen);
    ws_parser_t p;
    ws_parser_init(&p, 0);
    wst_run(&p, f, wst_cframe(f, FIN | WS_OPCODE_CLOSE, body, rlen + 2), 1, log);
    ws_parser_dispose(&p);
    assert_int_equal(log->n, 1);
    return log->ev[0].type == WS_EV_CLOSE ? log->ev[0].code : (uint16_t)(10000 + log->ev[0].code);
}

static void test_close_codes(void **state)
{
    (void)state;
    const uint16_t ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                           1012, 1013, 1014, 3000, 3999, 4000, 4001, 4999};
    const uint16_t bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        wst_log_t log = {0};
        assert_int_equal(close_result(ok[i], "bye", 3, &log), ok[i]);
        assert_int_equal(log.ev[0].len, 3);
        assert_memory_equal(log.ev[0].data, "bye", 3);
        assert_true(ws_close_code_valid(ok[i]));
        wst_log_free(&log);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wst_log_t log = {0};
        assert_int_equal(close_result(bad[i], "", 0, &log), 10000 + 1002);
        assert_false(ws_close_code_valid(bad[i]));
        wst_log_free(&log);
    }
    wst_log_t log = {0};
    assert_int_equal(close_result(1000, "\xce\xba\xcf\x8c", 4, &log), 1000);
    wst_log_free(&log);
    assert_int_equal(close_result(1000, "\xc0\xaf", 2, &log), 10000 + 1007);
    wst_log_free(&log);
    assert_int_equal(close_result(1000, "ok\xed\xa0\x80", 5, &log), 10000 + 1007);
    wst_log_free(&log);
}

static void test_close_bodies(void **state)
{
    (void)state;
    uint8_t f[64];
    /* empty close: code 1005 reported, never sent */
    ws_parser_t p;
    ws_parser_init(&p, 0);
    wst_log_t log = {0};
    size_t n = wst_cframe(f, FIN | WS_OPCODE_CLOSE, NULL, 0);
    uint8_t tail[32];
    size_t tn = wst_cframe(tail, FIN | WS_OPCODE_TEXT, "ignored", 7);
    memcpy(f + n, tail, tn);
    assert_int_equal(wst_run(&p, f, n + tn, 0, &log), 1);
    assert_int_equal(log.ev[0].type, WS_EV_CLOSE);
    assert_int_equal(log.ev[0].code, WS_CLOSE_NO_STATUS);
    /* input after a close is consumed and ignored */
    size_t used = 0;
    ws_event_t ev;
    assert_int_equal(ws_parser_next(&p, tail, tn, &used, &ev), WS_EV_NONE);
    assert_int_equal(used, tn);
    assert_null(p.ctl);
    wst_log_free(&log);
    ws_parser_dispose(&p);
    /* one-byte close body */
    expect_error(f, wst_cframe(f, FIN | WS_OPCODE_CLOSE, "\x03", 1), 0, 1002);
}

static int utf8_message(const uint8_t *text, size_t len, size_t split, uint16_t *code)
{
    uint8_t s[256];
    size_t n = wst_cframe(s, WS_OPCODE_TEXT, text, split);
    n += wst_cframe(s + n, FIN | WS_OPCODE_CONT, text + split, len - split);
    int result = -1;
    for (size_t step = 0; step <= 1; step++) {
        ws_parser_t p;
        ws_parser_init(&p, 0);
        wst_log_t log = {0};
        wst_run(&p, s, n, step, &log);
        assert_int_equal(log.n, 1);
        int r = log.ev[0].type;
        if (r == WS_EV_MESSAGE)
            assert_memory_equal(log.ev[0].data, text, len);
        *code = log.ev[0].code;
        assert_true(result == -1 || result == r); /* chunking does not change the outcome */
        result = r;
        wst_log_free(&log);
        ws_parser_dispose(&p);
    }
    return result;
}

static void test_utf8_across_fragments(void **state)
{
    (void)state;
    /* "κόσμε" + U+10FFFF + U+FFFD + ASCII */
    const uint8_t good[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x8f\xbf\xbf"
                           "\xef\xbf\xbd-ok";
    size_t glen = sizeof good - 1;
    uint16_t code;
    for (size_t split = 0; split <= glen; split++)
        assert_int_equal(utf8_message(good, glen, split, &code), WS_EV_MESSAGE);
    const char *bad[] = {
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong, 3 bytes */
        "\xf0\x80\x80\xaf",     /* overlong, 4 bytes */
        "\xc1\xbf",             /* overlong */
        "\xed\xa0\x80",         /* high surrogate */
        "\xed\xbf\xbf",         /* low surrogate */
        "\xf4\x90\x80\x80",     /* > U+10FFFF */
        "\xf5\x80\x80\x80",     /* invalid lead */
        "\xff",                 /* invalid byte */
        "ab\x80",               /* lone continuation */
        "\xce",                 /* truncated at the end of the message */
        "\xe1\xbd",             /* truncated 3-byte */
        "\xce\xba\xe1\xbd\x41", /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t blen = strlen(bad[i]);
        for (size_t split = 0; split <= blen; split++) {
            assert_int_equal(utf8_message((const uint8_t *)bad[i], blen, split, &code),
                             WS_EV_ERROR);
            assert_int_equal(code, 1007);
        }
        assert_false(ws_utf8_valid((const uint8_t *)bad[i], blen));
    }
    assert_true(ws_utf8_valid(good, glen));
    /* binary messages are not checked */
    uint8_t s[32];
    ws_parser_t p;
    ws_parser_init(&p, 0);
    wst_log_t log = {0};
    wst_run(&p, s, wst_cframe(s, FIN | WS_OPCODE_BINARY, "\xff\xc0", 2), 0, &log);
    assert_int_equal(log.ev[0].type, WS_EV_MESSAGE);
    wst_log_free(&log);
    ws_parser_dispose(&p);
}

static bool logs_equal(const wst_log_t *a, const wst_log_t *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++) {
        const wst_event_t *x = &a->ev[i], *y = &b->ev[i];
        if (x->type != y->type || x->opcode != y->opcode || x->code != y->code ||
            x->len != y->len || memcmp(x->data, y->data, x->len) != 0)
            return false;
    }
    return true;
}

static size_t build_stream(uint8_t *s, int variant)
{
    uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    size_t n = 0;
    n += wst_cframe(s + n, FIN | WS_OPCODE_TEXT, "{\"op\":\"ping\"}", 13);
    n += wst_cframe(s + n, WS_OPCODE_BINARY, big, 300);
    n += wst_cframe(s + n, FIN | WS_OPCODE_PING, "abc", 3);
    n += wst_cframe(s + n, WS_OPCODE_CONT, big + 300, 65536);
    n += wst_cframe(s + n, FIN | WS_OPCODE_CONT, big + 65836, 10);
    n += wst_cframe(s + n, FIN | WS_OPCODE_TEXT, "\xe2\x82\xac", 3);
    if (variant == 1)
        n += wst_cframe(s + n, FIN | WS_OPCODE_TEXT, "\xe2\x82", 2);
    if (variant == 2)
        n += wst_cframe(s + n, FIN | WS_OPCODE_CLOSE,
                        "\x03\xe8"
                        "done",
                        6);
    n += wst_cframe(s + n, FIN | WS_OPCODE_PONG, "z", 1);
    return n;
}

static void test_byte_at_a_time_equals_whole(void **state)
{
    (void)state;
    uint8_t *s = malloc(80000);
    const int expected_n[] = {5, 5, 5};
    const ws_event_type_t last[] = {WS_EV_PONG, WS_EV_ERROR, WS_EV_CLOSE};
    for (int variant = 0; variant < 3; variant++) {
        size_t n = build_stream(s, variant);
        wst_log_t whole = {0};
        ws_parser_t p;
        ws_parser_init(&p, 1 << 20);
        wst_run(&p, s, n, 0, &whole);
        ws_parser_dispose(&p);
        assert_int_equal(whole.n, expected_n[variant]);
        assert_int_equal(whole.ev[whole.n - 1].type, last[variant]);
        assert_int_equal(whole.ev[2].len, 300 + 65536 + 10);
        const size_t steps[] = {1, 2, 3, 13, 1000};
        for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            wst_log_t part = {0};
            ws_parser_init(&p, 1 << 20);
            wst_run(&p, s, n, steps[k], &part);
            ws_parser_dispose(&p);
            assert_true(logs_equal(&whole, &part));
            wst_log_free(&part);
        }
        wst_log_free(&whole);
    }
    free(s);
}

static void test_oversize(void **state)
{
    (void)state;
    uint8_t payload[1200] = {0}, s[2600];
    /* exactly the cap is fine, one more byte is 1009 (before reading the payload) */
    ws_parser_t p;
    ws_parser_init(&p, 1000);
    wst_log_t log = {0};
    wst_run(&p, s, wst_cframe(s, FIN | WS_OPCODE_BINARY, payload, 1000), 0, &log);
    assert_int_equal(log.ev[0].type, WS_EV_MESSAGE);
    wst_log_free(&log);
    ws_parser_dispose(&p);
    size_t n = wst_cframe(s, FIN | WS_OPCODE_BINARY, payload, 1001);
    expect_error(s, 8, 1000, 1009); /* the header alone is enough */
    expect_error(s, n, 1000, 1009);
    /* the cap is on the whole message, not each fragment */
    n = wst_cframe(s, WS_OPCODE_TEXT, payload, 600);
    n += wst_cframe(s + n, FIN | WS_OPCODE_CONT, payload, 600);
    expect_error(s, n, 1000, 1009);
    /* default cap 64 KiB */
    uint8_t *big = calloc(1, 70000);
    n = wst_cframe(big, FIN | WS_OPCODE_BINARY, NULL, 65537);
    expect_error(big, n, 0, 1009);
    free(big);
}

static int count_cb(const ws_event_t *ev, void *arg)
{
    int *count = arg;
    (*count)++;
    return ev->type == WS_EV_PING ? 1 : 0;
}

static void test_feed_callback(void **state)
{
    (void)state;
    uint8_t s[64];
    size_t n = wst_cframe(s, FIN | WS_OPCODE_TEXT, "a", 1);
    size_t ping_end = n + wst_cframe(s + n, FIN | WS_OPCODE_PING, NULL, 0);
    n = ping_end + wst_cframe(s + ping_end, FIN | WS_OPCODE_TEXT, "b", 1);
    ws_parser_t p;
    ws_parser_init(&p, 0);
    int count = 0;
    assert_int_equal(ws_parser_feed(&p, s, n, count_cb, &count), ping_end);
    assert_int_equal(count, 2);
    assert_int_equal(ws_parser_feed(&p, s + ping_end, n - ping_end, count_cb, &count),
                     n - ping_end);
    assert_int_equal(count, 3);
    assert_null(p.buf);
    ws_parser_dispose(&p);
}

static void test_encode_frame(void **state)
{
    (void)state;
    uint8_t h[WS_MAX_HEADER];
    assert_int_equal(ws_encode_frame(WS_OPCODE_TEXT, NULL, 0, h), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0);
    assert_int_equal(ws_encode_frame(WS_OPCODE_TEXT, NULL, 125, h), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(ws_encode_frame(WS_OPCODE_BINARY, NULL, 126, h), 4);
    assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(ws_encode_frame(WS_OPCODE_TEXT, NULL, 65535, h), 4);
    assert_memory_equal(h, "\x81\x7e\xff\xff", 4);
    assert_int_equal(ws_encode_frame(WS_OPCODE_TEXT, NULL, 65536, h), 10);
    assert_memory_equal(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_int_equal(ws_encode_frame(WS_OPCODE_PONG, NULL, 3, h), 2);
    assert_int_equal(h[0], 0x8a);
}

static void test_encode_close(void **state)
{
    (void)state;
    uint8_t f[WS_CLOSE_FRAME_MAX];
    assert_int_equal(ws_encode_close(1001, "going away", f), 14);
    assert_memory_equal(f, "\x88\x0c\x03\xe9going away", 14);
    assert_int_equal(ws_encode_close(0, "ignored", f), 2);
    assert_memory_equal(f, "\x88\x00", 2);
    assert_int_equal(ws_encode_close(1008, NULL, f), 4);
    /* 100 x "é" is 200 bytes: cut to at most 123 on a character boundary */
    char reason[201];
    for (int i = 0; i < 100; i++)
        memcpy(reason + 2 * i, "\xc3\xa9", 2);
    reason[200] = 0;
    size_t n = ws_encode_close(1011, reason, f);
    assert_int_equal(f[1], n - 2);
    assert_true(f[1] <= 125);
    assert_int_equal(n, 2 + 2 + 122);
    assert_true(ws_utf8_valid(f + 4, n - 4));
}

static void test_shared_frame(void **state)
{
    (void)state;
    ws_shared_frame_t *f = ws_shared_frame_new(WS_OPCODE_TEXT, "hello", 5);
    assert_int_equal(f->len, 7);
    assert_int_equal(f->header_len, 2);
    assert_memory_equal(f->bytes, "\x81\x05hello", 7);
    assert_ptr_equal(ws_shared_frame_ref(f), f);
    ws_shared_frame_ref(f);
    assert_int_equal(atomic_load(&f->refs), 3);
    ws_shared_frame_unref(f);
    ws_shared_frame_unref(f);
    assert_int_equal(atomic_load(&f->refs), 1);
    ws_shared_frame_unref(f); /* frees (ASan would report a leak otherwise) */
    ws_shared_frame_unref(NULL);

    ws_shared_frame_t *g = ws_shared_frame_new(WS_OPCODE_BINARY, NULL, 70000);
    assert_int_equal(g->header_len, 10);
    assert_int_equal(g->len, 70010);
    memset(ws_shared_frame_payload(g), 'x', 70000);
    assert_int_equal(g->bytes[70009], 'x');
    ws_shared_frame_unref(g);
    assert_null(ws_shared_frame_new(WS_OPCODE_BINARY, NULL, SIZE_MAX - 4));
}

/* Frames whose payload is their number, so that order can be checked after the fact. */
static ws_shared_frame_t *numbered(int i)
{
    char text[16];
    int n = snprintf(text, sizeof(text), "%d", i);
    return ws_shared_frame_new(WS_OPCODE_TEXT, text, (size_t)n);
}

static int number_of(const ws_shared_frame_t *f)
{
    char text[16] = {0};
    memcpy(text, f->bytes + f->header_len, f->len - f->header_len);
    return atoi(text);
}

static void test_queue_fifo_across_growth(void **state)
{
    (void)state;
    ws_queue_t q = {0};
    size_t bytes = 0;
    int next_in = 0, next_out = 0;
    /* wrap the inline ring first (push 3, pop 2), then grow it to the heap while it wraps */
    for (; next_in < 3; next_in++)
        ws_queue_push(&q, numbered(next_in));
    for (; next_out < 2; next_out++) {
        ws_shared_frame_t *f = ws_queue_pop(&q);
        assert_int_equal(number_of(f), next_out);
        ws_shared_frame_unref(f);
    }
    for (; next_in < 40; next_in++) {
        ws_shared_frame_t *f = numbered(next_in);
        bytes += f->len;
        ws_queue_push(&q, f);
    }
    assert_non_null(q.heap); /* 38 frames do not fit the inline slots */
    assert_int_equal(q.len, 38);
    assert_int_equal(q.bytes, bytes + ws_queue_at(&q, 0)->len);
    for (uint32_t i = 0; i < q.len; i++)
        assert_int_equal(number_of(ws_queue_at(&q, i)), next_out + (int)i);
    while (q.len > 0) {
        ws_shared_frame_t *f = ws_queue_pop(&q);
        assert_int_equal(number_of(f), next_out++);
        ws_shared_frame_unref(f);
    }
    assert_int_equal(next_out, 40);
    assert_int_equal(q.bytes, 0);
    assert_null(q.heap); /* an empty queue gives its heap ring back */
    assert_null(ws_queue_pop(&q));
    assert_null(ws_queue_pop_back(&q));
}

static void test_queue_refs_and_clear(void **state)
{
    (void)state;
    ws_queue_t q = {0};
    ws_shared_frame_t *shared = ws_shared_frame_new(WS_OPCODE_TEXT, "broadcast", 9);
    /* the same frame queued many times: one reference per slot, none taken by the queue */
    for (int i = 0; i < 10; i++)
        ws_queue_push(&q, ws_shared_frame_ref(shared));
    assert_int_equal(atomic_load(&shared->refs), 11);
    assert_int_equal(q.bytes, 10 * shared->len);
    ws_shared_frame_t *last = ws_queue_pop_back(&q);
    assert_ptr_equal(last, shared);
    ws_shared_frame_unref(last);
    assert_int_equal(q.len, 9);
    ws_queue_clear(&q);
    assert_int_equal(atomic_load(&shared->refs), 1);
    assert_int_equal(q.len, 0);
    assert_int_equal(q.bytes, 0);
    assert_null(q.heap);
    /* reusable after clear, inline again */
    ws_queue_push(&q, ws_shared_frame_ref(shared));
    assert_null(q.heap);
    assert_ptr_equal(ws_queue_at(&q, 0), shared);
    ws_queue_clear(&q);
    ws_shared_frame_unref(shared);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_rfc_vector),
        cmocka_unit_test(test_handshake_check),
        cmocka_unit_test(test_rfc_masked_hello),
        cmocka_unit_test(test_unmasked_and_header_violations),
        cmocka_unit_test(test_all_lengths),
        cmocka_unit_test(test_fragmentation_with_ping),
        cmocka_unit_test(test_fragmentation_violations),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_bodies),
        cmocka_unit_test(test_utf8_across_fragments),
        cmocka_unit_test(test_byte_at_a_time_equals_whole),
        cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_feed_callback),
        cmocka_unit_test(test_encode_frame),
        cmocka_unit_test(test_encode_close),
        cmocka_unit_test(test_shared_frame),
        cmocka_unit_test(test_queue_fifo_across_growth),
        cmocka_unit_test(test_queue_refs_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
