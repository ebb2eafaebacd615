/* tm_util: allocation wrappers, clocks, RFC 3339, random ids, encodings. */
#include "tm_util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void oom(size_t n)
{
    /* stderr is unbuffered, so this message needs no further allocation. */
    fprintf(stderr, "taskmesh: out of memory allocating %zu bytes, aborting\n", n);
    abort();
}

void *tm_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *tm_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *tm_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *tm_xstrdup(const char *s)
{
    return tm_xstrndup(s, strlen(s));
}

char *tm_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = tm_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *tm_xasprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        fprintf(stderr, "taskmesh: bad format string '%s', aborting\n", fmt);
        abort();
    }
    char *s = tm_xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

bool tm_size_add(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

bool tm_size_mul(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tm_now_ms(void)
{
    return clock_us(CLOCK_MONOTONIC) / 1000;
}
int64_t tm_now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}
int64_t tm_wall_ms(void)
{
    return clock_us(CLOCK_REALTIME) / 1000;
}

void tm_format_rfc3339_ms(int64_t wall_ms, char *buf, size_t len)
{
    /* Floor division so that times before 1970 keep a positive millisecond part. */
    int64_t secs = wall_ms / 1000, ms = wall_ms % 1000;
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

/* Reads exactly n digits at *p; -1 if any is not a digit. */
static int read_digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* "YYYY-MM-DDTHH:MM:SS" into tm, with every field range-checked. */
static int parse_datetime(const char **p, struct tm *tm)
{
    int y = read_digits(p, 4);
    if (y < 0 || !expect(p, '-'))
        return TM_ERR_INVALID;
    int mo = read_digits(p, 2);
    if (mo < 1 || mo > 12 || !expect(p, '-'))
        return TM_ERR_INVALID;
    int d = read_digits(p, 2);
    if (d < 1 || d > days_in_month(y, mo))
        return TM_ERR_INVALID;
    if (**p != 'T' && **p != 't')
        return TM_ERR_INVALID;
    (*p)++;
    int h = read_digits(p, 2);
    if (h < 0 || h > 23 || !expect(p, ':'))
        return TM_ERR_INVALID;
    int mi = read_digits(p, 2);
    if (mi < 0 || mi > 59 || !expect(p, ':'))
        return TM_ERR_INVALID;
    int s = read_digits(p, 2);
    if (s < 0 || s > 59)
        return TM_ERR_INVALID;
    *tm = (struct tm){.tm_year = y - 1900,
                      .tm_mon = mo - 1,
                      .tm_mday = d,
                      .tm_hour = h,
                      .tm_min = mi,
                      .tm_sec = s};
    return TM_OK;
}

/* Optional ".fff..." -> milliseconds (extra digits truncated). */
static int parse_fraction(const char **p, int *ms)
{
    *ms = 0;
    if (**p != '.')
        return TM_OK;
    (*p)++;
    int ndigits = 0;
    while (**p >= '0' && **p <= '9') {
        if (ndigits < 3)
            *ms = *ms * 10 + (**p - '0');
        ndigits++;
        (*p)++;
    }
    if (ndigits == 0 || ndigits > 9)
        return TM_ERR_INVALID;
    for (int i = ndigits; i < 3; i++)
        *ms *= 10;
    return TM_OK;
}

/* "Z" or "+hh:mm"/"-hh:mm" -> offset in seconds east of UTC. */
static int parse_offset(const char **p, int *off_s)
{
    char c = **p;
    (*p)++;
    if (c == 'Z' || c == 'z') {
        *off_s = 0;
        return TM_OK;
    }
    if (c != '+' && c != '-')
        return TM_ERR_INVALID;
    int h = read_digits(p, 2);
    if (h < 0 || h > 23 || !expect(p, ':'))
        return TM_ERR_INVALID;
    int m = read_digits(p, 2);
    if (m < 0 || m > 59)
        return TM_ERR_INVALID;
    *off_s = (h * 60 + m) * 60 * (c == '-' ? -1 : 1);
    return TM_OK;
}

int tm_parse_rfc3339(const char *s, int64_t *out_ms)
{
    if (!s)
        return TM_ERR_INVALID;
    const char *p = s;
    struct tm tm;
    int ms, off_s;
    if (parse_datetime(&p, &tm) != TM_OK || parse_fraction(&p, &ms) != TM_OK ||
        parse_offset(&p, &off_s) != TM_OK || *p != '\0')
        return TM_ERR_INVALID;
    time_t t = timegm(&tm);
    *out_ms = ((int64_t)t - off_s) * 1000 + ms;
    return TM_OK;
}

void tm_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "taskmesh: getrandom failed: %s, aborting\n", strerror(errno));
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

/* uuids come from a per-thread pool of getrandom() output refilled 4 KiB at a time: one
 * system call per 256 ids instead of one per id (the gateway makes one per request). The
 * bytes are the kernel CSPRNG's either way; a forked child refills rather than repeat
 * its parent's (getpid() would cost the system call saved: a fork counter instead). */
#define UUID_POOL 4096

static _Atomic unsigned g_forks;
static pthread_once_t g_fork_hook = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
    atomic_fetch_add(&g_forks, 1);
}

static void hook_forks(void)
{
    pthread_atfork(NULL, NULL, count_fork);
}

static void pooled_random(unsigned char *out, size_t n)
{
    static __thread unsigned char pool[UUID_POOL];
    static __thread size_t left;
    static __thread unsigned forks;
    pthread_once(&g_fork_hook, hook_forks);
    unsigned now = atomic_load(&g_forks);
    if (left < n || forks != now) {
        tm_random_bytes(pool, sizeof pool);
        left = sizeof pool;
        forks = now;
    }
    memcpy(out, pool + sizeof pool - left, n);
    memset(pool + sizeof pool - left, 0, n); /* used bytes do not stay behind */
    left -= n;
}

void tm_uuid_v4(char out[37])
{
    unsigned char b[16];
    pooled_random(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool tm_is_uuid(const char *s)
{
    if (!s)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return s[36] == '\0';
}

size_t tm_hex_len(size_t n)
{
    return n * 2;
}

size_t tm_hex_encode(const void *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t tm_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t tm_b64url_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url_chars[v >> 18 & 63];
        out[o++] = b64url_chars[v >> 12 & 63];
        out[o++] = b64url_chars[v >> 6 & 63];
        out[o++] = b64url_chars[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64url_chars[v >> 18 & 63];
        out[o++] = b64url_chars[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64url_chars[v >> 18 & 63];
        out[o++] = b64url_chars[v >> 12 & 63];
        out[o++] = b64url_chars[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long tm_b64url_decode(const char *in, size_t n, void *out, size_t cap)
{
    if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return -1;
    unsigned char *o = out;
    size_t olen = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[olen++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, so every input has exactly one encoding. */
    if (acc != 0)
        return -1;
    return (long)olen;
}

void tm_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        fprintf(stderr, "taskmesh: EVP_Digest(sha256) failed, aborting\n");
        abort();
    }
    tm_hex_encode(md, 32, out);
}

bool tm_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= x[i] ^ y[i];
    return diff == 0;
}
