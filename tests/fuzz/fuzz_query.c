/* Fuzz target: query-string helpers of tm_query.h.
 * Input: "<name>\n<query string>". Checks: decoded values fit and are NUL-terminated, the
 * lookup agrees with a decode of the same text, and visiting every pair terminates. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tm_query.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int visit(const char *key, const char *value, void *arg)
{
    size_t *pairs = arg;
    CHECK(key != NULL && value != NULL);
    CHECK(strlen(key) < TM_QUERY_MAX && strlen(value) < TM_QUERY_MAX);
    (*pairs)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *q = strchr(text, '\n');
    const char *name = text;
    if (q != NULL)
        *q++ = '\0';
    else
        q = text;

    char out[256];
    long n = tm_query_decode(q, strlen(q), out, sizeof out);
    CHECK(n >= -1 && n < (long)sizeof out);
    if (n >= 0)
        CHECK(out[n] == '\0' && (long)strlen(out) == n);

    long v = tm_query_get(q, name, out, sizeof out);
    CHECK(v >= -2 && v < (long)sizeof out);
    if (v >= 0)
        CHECK((long)strlen(out) == v);

    size_t pairs = 0;
    int rc = tm_query_each(q, visit, &pairs);
    CHECK(rc == 0 || rc == TM_ERR_INVALID || rc == TM_ERR_LIMIT);
    CHECK(pairs <= 64);
    free(text);
    return 0;
}
