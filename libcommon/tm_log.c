/* tm_log: JSON lines, built in one buffer and written with one write(2). */
#include "tm_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tm_util.h"

/* Caps that bound the size of any one line. */
#define LOG_VALUE_MAX 8192 /* input bytes per string value; longer ones are cut */
#define LOG_KV_MAX    32   /* key/value pairs per line */
#define LOG_STACK_BUF 2048
#define LOG_SLOTS     256 /* rate-limit table size (power of two) */
#define LOG_PROBE     8

static char g_svc[64] = "taskmesh";
static atomic_int g_level = TM_LOG_INFO;
static atomic_int g_fd = 1;

/* Seam for tests (which #include this file) to move time forward. */
static int64_t (*clock_ms)(void) = tm_now_ms;

typedef struct {
    uint64_t hash; /* 0 = free */
    int64_t window_start;
    int count;           /* lines seen in the current window */
    uint64_t suppressed; /* lines dropped and not yet reported */
} rate_slot_t;

static pthread_mutex_t g_rate_lock = PTHREAD_MUTEX_INITIALIZER;
static rate_slot_t g_rate[LOG_SLOTS];

typedef struct {
    char *p;
    size_t len, cap;
    bool heap;
} linebuf_t;

void tm_log_init(const char *svc, tm_log_level_t level)
{
    size_t n = strnlen(svc ? svc : "", sizeof g_svc - 1);
    memcpy(g_svc, svc ? svc : "", n);
    g_svc[n] = '\0';
    atomic_store(&g_level, (int)level);
}

void tm_log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

int tm_log_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

bool tm_log_enabled(tm_log_level_t level)
{
    return level < TM_LOG_OFF && (int)level >= atomic_load(&g_level);
}

static void lb_reserve(linebuf_t *b, size_t extra)
{
    size_t need;
    if (!tm_size_add(b->len, extra, &need) || !tm_size_add(need, 1, &need))
        need = SIZE_MAX;
    if (need <= b->cap)
        return;
    size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
    if (b->heap) {
        b->p = tm_xrealloc(b->p, cap);
    } else {
        char *p = tm_xmalloc(cap);
        memcpy(p, b->p, b->len);
        b->p = p;
        b->heap = true;
    }
    b->cap = cap;
}

static void lb_put(linebuf_t *b, const char *s, size_t n)
{
    lb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void lb_puts(linebuf_t *b, const char *s)
{
    lb_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
    return overlong || surrogate || cp > 0x10ffff ? 0 : len;
}

static void put_escaped_char(linebuf_t *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[7] = {'\\', 0};
    switch (c) {
    case '"':
        esc[1] = '"';
        break;
    case '\\':
        esc[1] = '\\';
        break;
    case '\b':
        esc[1] = 'b';
        break;
    case '\f':
        esc[1] = 'f';
        break;
    case '\n':
        esc[1] = 'n';
        break;
    case '\r':
        esc[1] = 'r';
        break;
    case '\t':
        esc[1] = 't';
        break;
    default:
        if (c >= 0x20) {
            lb_put(b, (const char *)&c, 1);
            return;
        }
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        lb_put(b, esc, 6);
        return;
    }
    lb_put(b, esc, 2);
}

/* A JSON string literal; invalid UTF-8 bytes become U+FFFD, input cut at LOG_VALUE_MAX. */
static void lb_put_string(linebuf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t n = strnlen((const char *)p, LOG_VALUE_MAX);
    lb_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            lb_puts(b, "\xef\xbf\xbd");
            i++;
        } else if (k == 1) {
            put_escaped_char(b, p[i++]);
        } else {
            lb_put(b, (const char *)p + i, k);
            i += k;
        }
    }
    lb_put(b, "\"", 1);
}

static void lb_put_field(linebuf_t *b, const char *key, const char *value)
{
    lb_put(b, ",", 1);
    lb_put_string(b, key);
    lb_put(b, ":", 1);
    lb_put_string(b, value);
}

static uint64_t hash_msg(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

/* Picks the slot for h: its own, else a free or the oldest one in the probe window. */
static rate_slot_t *rate_slot(uint64_t h)
{
    rate_slot_t *victim = NULL;
    for (size_t i = 0; i < LOG_PROBE; i++) {
        rate_slot_t *s = &g_rate[(h + i) & (LOG_SLOTS - 1)];
        if (s->hash == h)
            return s;
        if (victim && victim->hash == 0)
            continue;
        if (!victim || s->hash == 0 || s->window_start < victim->window_start)
            victim = s;
    }
    *victim = (rate_slot_t){.hash = h};
    return victim;
}

/* False if the line must be dropped; else *report = lines suppressed before it. */
static bool rate_allow(const char *msg, uint64_t *report)
{
    int64_t now = clock_ms();
    bool allow;
    *report = 0;
    pthread_mutex_lock(&g_rate_lock);
    rate_slot_t *s = rate_slot(hash_msg(msg));
    if (s->count == 0 || now - s->window_start >= TM_LOG_WINDOW_MS) {
        s->window_start = now;
        s->count = 0;
    }
    allow = s->count < TM_LOG_BURST;
    if (allow) {
        s->count++;
        *report = s->suppressed;
        s->suppressed = 0;
    } else {
        s->suppressed++;
    }
    pthread_mutex_unlock(&g_rate_lock);
    return allow;
}

static bool is_reserved(const char *key)
{
    static const char *reserved[] = {"ts", "level", "svc", "msg", "request_id", "suppressed"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(key, reserved[i]) == 0)
            return true;
    return false;
}

/* Serialises writers: without it, lines longer than PIPE_BUF on a pipe, or any lines on a
 * file not opened O_APPEND (where some kernels race on the file offset), can interleave. */
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

static void write_all(const char *p, size_t n)
{
    int fd = atomic_load(&g_fd);
    pthread_mutex_lock(&g_write_lock);
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere left to report a logging failure */
        p += w;
        n -= (size_t)w;
    }
    pthread_mutex_unlock(&g_write_lock);
}

typedef struct {
    const char *const *kv; /* string pairs */
    const char *raw_key;   /* plus one raw JSON field, or NULL */
    const char *raw_json;
} log_fields_t;

static void emit(tm_log_level_t level, const char *request_id, const char *msg,
                 const log_fields_t *f, uint64_t suppressed)
{
    const char *const *kv = f->kv;
    static const char *names[] = {"debug", "info", "warn", "error"};
    char stack[LOG_STACK_BUF];
    linebuf_t b = {.p = stack, .cap = sizeof stack};
    char ts[32];
    tm_format_rfc3339_ms(tm_wall_ms(), ts, sizeof ts);
    lb_puts(&b, "{\"ts\":\"");
    lb_puts(&b, ts);
    lb_puts(&b, "\"");
    lb_put_field(&b, "level", names[level]);
    lb_put_field(&b, "svc", g_svc);
    lb_put_field(&b, "msg", msg);
    if (request_id)
        lb_put_field(&b, "request_id", request_id);
    if (suppressed > 0) {
        char num[40];
        int n = snprintf(num, sizeof num, ",\"suppressed\":%llu", (unsigned long long)suppressed);
        lb_put(&b, num, (size_t)n);
    }
    for (size_t i = 0; kv && i < LOG_KV_MAX && kv[2 * i] && kv[2 * i + 1]; i++)
        if (!is_reserved(kv[2 * i]))
            lb_put_field(&b, kv[2 * i], kv[2 * i + 1]);
    if (f->raw_key && f->raw_json && !is_reserved(f->raw_key)) {
        lb_put(&b, ",", 1);
        lb_put_string(&b, f->raw_key);
        lb_put(&b, ":", 1);
        lb_puts(&b, f->raw_json);
    }
    lb_put(&b, "}\n", 2);
    write_all(b.p, b.len);
    if (b.heap)
        free(b.p);
}

static void log_fields(tm_log_level_t level, const char *request_id, const char *msg,
                       const log_fields_t *f)
{
    uint64_t suppressed = 0;
    if (!tm_log_enabled(level))
        return;
    if (!msg)
        msg = "";
    if (level >= TM_LOG_WARN && !rate_allow(msg, &suppressed))
        return;
    emit(level, request_id, msg, f, suppressed);
}

void tm_log_kv(tm_log_level_t level, const char *request_id, const char *msg, const char *const *kv)
{
    log_fields(level, request_id, msg, &(log_fields_t){.kv = kv});
}

void tm_log_json(tm_log_level_t level, const char *request_id, const char *msg, const char *key,
                 const char *json)
{
    log_fields(level, request_id, msg, &(log_fields_t){.raw_key = key, .raw_json = json});
}

void tm_logf(tm_log_level_t level, const char *request_id, const char *fmt, ...)
{
    if (!tm_log_enabled(level))
        return;
    char stack[1024];
    char *msg = stack;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof stack) {
        size_t len = n < LOG_VALUE_MAX ? (size_t)n + 1 : LOG_VALUE_MAX + 1;
        msg = tm_xmalloc(len);
        vsnprintf(msg, len, fmt, ap2);
    } else if (n < 0) {
        stack[0] = '\0';
    }
    va_end(ap2);
    tm_log_kv(level, request_id, msg, NULL);
    if (msg != stack)
        free(msg);
}
