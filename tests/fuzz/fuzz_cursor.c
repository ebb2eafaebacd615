/* Fuzz target: the task list's pagination cursor (services/task/cursor.c).
 * The input is decoded as a cursor for each sort kind.
 * Checks: a decoded cursor has NUL-terminated fields of the expected sort and a key valid for
 * its kind; it re-encodes (within CURSOR_TOKEN_MAX) and decodes back to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cursor.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static const struct {
    const char *sort;
    cursor_key_kind_t kind;
} SORTS[] = {
    {"created_at", CURSOR_KEY_TIME}, {"-created_at", CURSOR_KEY_TIME}, {"due_at", CURSOR_KEY_TIME},
    {"priority", CURSOR_KEY_INT},    {"-priority", CURSOR_KEY_INT},    {"rank", CURSOR_KEY_REAL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = malloc(size + 1);
    CHECK(tok != NULL);
    memcpy(tok, data, size);
    tok[size] = '\0';
    for (size_t i = 0; i < sizeof SORTS / sizeof SORTS[0]; i++) {
        cursor_t c;
        memset(&c, 0x5a, sizeof c);
        if (cursor_decode(tok, SORTS[i].sort, SORTS[i].kind, &c) != TM_OK)
            continue;
        CHECK(memchr(c.sort, '\0', sizeof c.sort) && memchr(c.key, '\0', sizeof c.key) &&
              memchr(c.id, '\0', sizeof c.id));
        CHECK(strcmp(c.sort, SORTS[i].sort) == 0);
        CHECK(cursor_key_valid(SORTS[i].kind, c.key));
        char out[CURSOR_TOKEN_MAX];
        CHECK(cursor_encode(&c, out, sizeof out) == TM_OK);
        CHECK(strlen(out) < CURSOR_TOKEN_MAX);
        cursor_t back;
        CHECK(cursor_decode(out, SORTS[i].sort, SORTS[i].kind, &back) == TM_OK);
        CHECK(strcmp(back.key, c.key) == 0 && strcmp(back.id, c.id) == 0);
    }
    free(tok);
    return 0;
}
