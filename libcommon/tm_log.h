/* tm_log: one JSON object per line on stdout:
 *   {"ts":"...","level":"info","svc":"task","msg":"...","request_id":"...", ...fields}
 * The level is checked before anything is formatted. Thread-safe (one write(2) per line).
 * Repeated error/warn lines with the same msg are rate-limited (at most
 * TM_LOG_BURST per TM_LOG_WINDOW_MS per msg; a later line says how many were suppressed). */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    TM_LOG_DEBUG = 0,
    TM_LOG_INFO,
    TM_LOG_WARN,
    TM_LOG_ERROR,
    TM_LOG_OFF
} tm_log_level_t;

#define TM_LOG_BURST     10
#define TM_LOG_WINDOW_MS 10000

/* Process-wide set-up; call once at start before threads. svc is copied.
 * Lines go to fd 1 unless tm_log_set_fd() changes it (tests). */
void tm_log_init(const char *svc, tm_log_level_t level);
void tm_log_set_fd(int fd);
/* "debug"/"info"/"warn"/"error"/"off" -> level; -1 if unknown. */
int tm_log_level_parse(const char *s);
bool tm_log_enabled(tm_log_level_t level);

/* Log a line. request_id may be NULL. kv is NULL or a NULL-terminated list of
 * key, value string pairs added as string fields: (const char *[]){"user", id, NULL}.
 * Values are JSON-escaped. */
void tm_log_kv(tm_log_level_t level, const char *request_id, const char *msg,
               const char *const *kv);
/* Like tm_log_kv with no kv pairs, plus one field `key` whose value is the raw JSON text
 * `json` (the caller guarantees it is one valid JSON value), e.g. the config object. */
void tm_log_json(tm_log_level_t level, const char *request_id, const char *msg, const char *key,
                 const char *json);
/* printf-style message, no extra fields. */
void tm_logf(tm_log_level_t level, const char *request_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TM_DEBUG(...)                                                                              \
    do {                                                                                           \
        if (tm_log_enabled(TM_LOG_DEBUG))                                                          \
            tm_logf(TM_LOG_DEBUG, NULL, __VA_ARGS__);                                              \
    } while (0)
#define TM_INFO(...)  tm_logf(TM_LOG_INFO, NULL, __VA_ARGS__)
#define TM_WARN(...)  tm_logf(TM_LOG_WARN, NULL, __VA_ARGS__)
#define TM_ERROR(...) tm_logf(TM_LOG_ERROR, NULL, __VA_ARGS__)

#endif
