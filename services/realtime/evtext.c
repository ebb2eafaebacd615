/* rt_text: see evtext.h. */
#include "evtext.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_util.h"

static void reserve(rt_text_t *t, size_t n)
{
    size_t need;
    if (!tm_size_add(t->len, n + 1, &need))
        abort();
    if (need <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < need)
        cap *= 2;
    t->p = tm_xrealloc(t->p, cap);
    t->cap = cap;
}

void rt_text_raw(rt_text_t *t, const char *s, size_t n)
{
    reserve(t, n);
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void rt_text_lit(rt_text_t *t, const char *s)
{
    rt_text_raw(t, s, strlen(s));
}

/* The escape of c, or NULL when c goes out as it is (jansson's dump_string without
 * JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH: only '"', '\\' and control characters). */
static const char *escape(unsigned char c, char buf[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        if (c >= 0x20)
            return NULL;
        snprintf(buf, 8, "\\u%04X", c);
        return buf;
    }
}

void rt_text_str(rt_text_t *t, const char *s)
{
    if (!s) {
        rt_text_raw(t, "null", 4);
        return;
    }
    rt_text_raw(t, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        char buf[8];
        const char *e = escape((unsigned char)*s, buf);
        if (!e)
            continue;
        rt_text_raw(t, run, (size_t)(s - run));
        rt_text_lit(t, e);
        run = s + 1;
    }
    rt_text_raw(t, run, (size_t)(s - run));
    rt_text_raw(t, "\"", 1);
}

void rt_text_int(rt_text_t *t, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    rt_text_raw(t, buf, (size_t)n);
}

void rt_text_reset(rt_text_t *t)
{
    t->len = 0;
    if (t->p)
        t->p[0] = '\0';
}

void rt_text_free(rt_text_t *t)
{
    free(t->p);
    *t = (rt_text_t){0};
}

void rt_text_op_event(rt_text_t *t, const char *room, int64_t seq, const char *type,
                      const char *data_json, const char *event_id, const char *created_at)
{
    rt_text_lit(t, "{\"op\":\"event\",\"room\":");
    rt_text_str(t, room);
    rt_text_lit(t, ",\"seq\":");
    rt_text_int(t, seq);
    rt_text_lit(t, ",\"type\":");
    rt_text_str(t, type);
    rt_text_lit(t, ",\"data\":");
    rt_text_lit(t, data_json ? data_json : "null");
    rt_text_lit(t, ",\"event_id\":");
    rt_text_str(t, event_id);
    rt_text_lit(t, ",\"created_at\":");
    rt_text_str(t, created_at);
    rt_text_raw(t, "}", 1);
}
