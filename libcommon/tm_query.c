/* tm_query: query-string decoding and the forwarded-parameter headers (see tm_query.h). */
#include "tm_query.h"

#include <stdio.h>
#include <string.h>

#define QUERY_MAX_PAIRS 64

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long tm_query_decode(const char *src, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (out == NULL || cap == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (n - i < 3)
                return -1;
            int hi = hex_value(src[i + 1]), lo = hex_value(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (long)o;
}

/* The next "k=v" pair of q starting at *pos; false at the end. */
static bool next_pair(const char *q, size_t *pos, const char **k, size_t *klen, const char **v,
                      size_t *vlen)
{
    while (q[*pos] == '&')
        (*pos)++;
    if (q[*pos] == '\0')
        return false;
    const char *start = q + *pos;
    size_t len = strcspn(start, "&");
    const char *eq = memchr(start, '=', len);
    *k = start;
    *klen = eq ? (size_t)(eq - start) : len;
    *v = eq ? eq + 1 : start + len;
    *vlen = eq ? len - *klen - 1 : 0;
    *pos += len;
    return true;
}

long tm_query_get(const char *q, const char *name, char *out, size_t cap)
{
    const char *k, *v;
    size_t klen, vlen, pos = 0;
    char key[256];
    if (q == NULL || name == NULL)
        return -1;
    while (next_pair(q, &pos, &k, &klen, &v, &vlen)) {
        if (tm_query_decode(k, klen, key, sizeof(key)) < 0 || strcmp(key, name) != 0)
            continue;
        long n = tm_query_decode(v, vlen, out, cap);
        return n < 0 ? -2 : n;
    }
    return -1;
}

int tm_query_each(const char *q, int (*fn)(const char *key, const char *value, void *arg),
                  void *arg)
{
    static __thread char key[TM_QUERY_MAX + 1], value[TM_QUERY_MAX + 1];
    const char *k, *v;
    size_t klen, vlen, pos = 0;
    int count = 0;
    if (q == NULL)
        return TM_OK;
    while (next_pair(q, &pos, &k, &klen, &v, &vlen)) {
        if (++count > QUERY_MAX_PAIRS)
            return TM_ERR_LIMIT;
        if (klen == 0 || tm_query_decode(k, klen, key, sizeof(key)) < 0 ||
            tm_query_decode(v, vlen, value, sizeof(value)) < 0)
            return TM_ERR_INVALID;
        int rc = fn(key, value, arg);
        if (rc != 0)
            return rc;
    }
    return TM_OK;
}

const char *tm_query_param(natsMsg *msg, const char *name)
{
    char hdr[128];
    const char *value = NULL;
    if (msg == NULL || name == NULL)
        return NULL;
    int n = snprintf(hdr, sizeof(hdr), "%s%s", TM_HDR_PARAM_PREFIX, name);
    if (n < 0 || (size_t)n >= sizeof(hdr))
        return NULL;
    if (natsMsgHeader_Get(msg, hdr, &value) != NATS_OK)
        return NULL;
    return value;
}

const char *tm_query_string(natsMsg *msg)
{
    const char *value = NULL;
    if (msg == NULL || natsMsgHeader_Get(msg, TM_HDR_QUERY, &value) != NATS_OK || value == NULL)
        return "";
    return value;
}
