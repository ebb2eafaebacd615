/* cursor: opaque, checksummed keyset cursors (see cursor.h). */
#include "cursor.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define CHECK_LEN   16
#define CHECK_SALT  "tm-cursor-v1|"
#define PAYLOAD_MAX (CURSOR_SORT_MAX + CURSOR_KEY_MAX + 37 + CHECK_LEN + 4)

/* "2026-01-02T03:04:05.123456Z": the exact text task_ts_key() produces. */
static bool time_key_valid(const char *k)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (strcmp(k, "infinity") == 0 || strcmp(k, "-infinity") == 0)
        return true;
    if (strlen(k) != sizeof pattern - 1)
        return false;
    for (size_t i = 0; pattern[i]; i++) {
        bool ok = pattern[i] == 'd' ? isdigit((unsigned char)k[i]) != 0 : k[i] == pattern[i];
        if (!ok)
            return false;
    }
    return true;
}

static bool int_key_valid(const char *k)
{
    const char *p = *k == '-' ? k + 1 : k;
    size_t n = strlen(p);
    if (n == 0 || n > 18)
        return false;
    return strspn(p, "0123456789") == n;
}

static bool real_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 32 || strspn(k, "0123456789.eE+-") != n)
        return false;
    char *end = NULL;
    double d = strtod(k, &end);
    return end && *end == '\0' && isfinite(d);
}

bool cursor_key_valid(cursor_key_kind_t kind, const char *key)
{
    switch (kind) {
    case CURSOR_KEY_TIME:
        return time_key_valid(key);
    case CURSOR_KEY_INT:
        return int_key_valid(key);
    case CURSOR_KEY_REAL:
        return real_key_valid(key);
    }
    return false;
}

static bool sort_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < CURSOR_SORT_MAX && strspn(s, "-_abcdefghijklmnopqrstuvwxyz") == n;
}

/* First CHECK_LEN hex chars of SHA-256(salt || body[n]). */
static void checksum(const char *body, size_t n, char out[CHECK_LEN + 1])
{
    char buf[sizeof CHECK_SALT + PAYLOAD_MAX];
    size_t salt = sizeof CHECK_SALT - 1;
    memcpy(buf, CHECK_SALT, salt);
    memcpy(buf + salt, body, n);
    char hex[65];
    tm_sha256_hex(buf, salt + n, hex);
    memcpy(out, hex, CHECK_LEN);
    out[CHECK_LEN] = '\0';
}

int cursor_encode(const cursor_t *c, char *out, size_t cap)
{
    if (!sort_valid(c->sort) || !tm_is_uuid(c->id) || strchr(c->key, '|') || strlen(c->key) == 0 ||
        strlen(c->key) >= CURSOR_KEY_MAX)
        return TM_ERR_INVALID;
    char body[PAYLOAD_MAX];
    int n = snprintf(body, sizeof body, "%s|%s|%s|", c->sort, c->key, c->id);
    if (n < 0 || (size_t)n + CHECK_LEN >= sizeof body)
        return TM_ERR_INVALID;
    checksum(body, (size_t)n - 1, body + n);
    size_t len = (size_t)n + CHECK_LEN;
    if (tm_b64url_len(len) + 1 > cap)
        return TM_ERR_LIMIT;
    tm_b64url_encode(body, len, out);
    return TM_OK;
}

/* Split body at '|' into exactly four fields (modifies body). */
static bool split4(char *body, char *f[4])
{
    char *p = body;
    for (int i = 0; i < 4; i++) {
        f[i] = p;
        char *bar = strchr(p, '|');
        if (i < 3) {
            if (!bar)
                return false;
            *bar = '\0';
            p = bar + 1;
        } else if (bar) {
            return false;
        }
    }
    return true;
}

int cursor_decode(const char *token, const char *expect_sort, cursor_key_kind_t kind, cursor_t *out)
{
    size_t tlen = strlen(token);
    if (tlen == 0 || tlen >= CURSOR_TOKEN_MAX)
        return TM_ERR_INVALID;
    char body[PAYLOAD_MAX + 1];
    long n = tm_b64url_decode(token, tlen, body, sizeof body - 1);
    if (n <= CHECK_LEN + 1 || memchr(body, '\0', (size_t)n))
        return TM_ERR_INVALID;
    body[n] = '\0';
    char want[CHECK_LEN + 1];
    checksum(body, (size_t)n - CHECK_LEN - 1, want);
    if (!tm_ct_equal(want, body + n - CHECK_LEN, CHECK_LEN))
        return TM_ERR_INVALID;
    char *f[4];
    if (!split4(body, f) || strcmp(f[0], expect_sort) != 0 || !tm_is_uuid(f[2]) ||
        strlen(f[1]) >= CURSOR_KEY_MAX || !cursor_key_valid(kind, f[1]))
        return TM_ERR_INVALID;
    snprintf(out->sort, sizeof out->sort, "%s", f[0]);
    snprintf(out->key, sizeof out->key, "%s", f[1]);
    snprintf(out->id, sizeof out->id, "%s", f[2]);
    return TM_OK;
}
