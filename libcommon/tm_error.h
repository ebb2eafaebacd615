/* tm_error: the one error enum of taskmesh.
 * Actions return TM_OK (0) or a negative tm_err_t. tm_strerror() never returns NULL. */
#ifndef TM_ERROR_H
#define TM_ERROR_H

#define TM_WUR __attribute__((warn_unused_result))

typedef enum {
    TM_OK = 0,
    TM_ERR_NOMEM = -1,        /* allocation failed (normally aborts in tm_xmalloc) */
    TM_ERR_INVALID = -2,      /* bad input: value, syntax, shape */
    TM_ERR_NOT_FOUND = -3,    /* no such thing (or not visible to the caller) */
    TM_ERR_CONFLICT = -4,     /* state conflict: duplicate, version mismatch */
    TM_ERR_TIMEOUT = -5,      /* deadline passed */
    TM_ERR_IO = -6,           /* system call failed */
    TM_ERR_NATS = -7,         /* NATS client error */
    TM_ERR_PG = -8,           /* Postgres error */
    TM_ERR_LIMIT = -9,        /* a size, depth or count cap was hit */
    TM_ERR_UNAVAILABLE = -10, /* dependency down, queue full, draining */
    TM_ERR_AUTH = -11,        /* authentication failed */
    TM_ERR_FORBIDDEN = -12,   /* authenticated but not allowed */
    TM_ERR_INTERNAL = -13,    /* bug or unexpected state */
} tm_err_t;

/* Static, human-readable name of an error code ("invalid input", ...). Any thread. */
const char *tm_strerror(int err);

#endif
