/* cursor: the opaque keyset-pagination cursor of GET /api/v1/tasks.
 *
 * A cursor names the last row of a page: the sort it belongs to, that row's sort key (as
 * Postgres text: RFC 3339 UTC with microseconds, an integer or a real) and its id. It is
 * base64url(sort "|" key "|" id "|" check) where check is 16 hex chars of SHA-256 over
 * the rest, so any edit is detected and answered 400. Cursors are not secret: the list
 * query applies the caller's authorisation whatever the cursor says.
 * Pure functions, any thread. */
#ifndef TASK_CURSOR_H
#define TASK_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include "tm_error.h"

#define CURSOR_SORT_MAX 16
#define CURSOR_KEY_MAX  40
/* Longest token cursor_encode() can produce, with its NUL. */
#define CURSOR_TOKEN_MAX 160

typedef enum { CURSOR_KEY_TIME, CURSOR_KEY_INT, CURSOR_KEY_REAL } cursor_key_kind_t;

typedef struct {
    char sort[CURSOR_SORT_MAX]; /* "created_at", "-priority", "rank", ... */
    char key[CURSOR_KEY_MAX];
    char id[37];
} cursor_t;

/* True if key is a well-formed key of that kind ("infinity" counts as a time). */
bool cursor_key_valid(cursor_key_kind_t kind, const char *key);

/* Encode c into out (cap >= CURSOR_TOKEN_MAX). Returns TM_ERR_INVALID if a field is
 * malformed (so a bad row never yields a cursor that would later be refused). */
int cursor_encode(const cursor_t *c, char *out, size_t cap) TM_WUR;

/* Decode token into out and check it belongs to sort `expect_sort` with a key of `kind`.
 * TM_ERR_INVALID for anything malformed, tampered with, or from another sort. */
int cursor_decode(const char *token, const char *expect_sort, cursor_key_kind_t kind,
                  cursor_t *out) TM_WUR;

#endif
