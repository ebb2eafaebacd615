/* tm_util: allocation wrappers (abort on OOM), time, random ids, encodings.
 * All functions are thread-safe. */
#ifndef TM_UTIL_H
#define TM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

/* Allocation that never returns NULL: out-of-memory prints a message and aborts.
 * Returned memory is owned by the caller (free()). */
void *tm_xmalloc(size_t n);
void *tm_xcalloc(size_t n, size_t size);
void *tm_xrealloc(void *p, size_t n);
char *tm_xstrdup(const char *s);
char *tm_xstrndup(const char *s, size_t n);
/* printf into a new heap string. */
char *tm_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* size_t addition/multiplication with overflow check: false on overflow. */
bool tm_size_add(size_t a, size_t b, size_t *out);
bool tm_size_mul(size_t a, size_t b, size_t *out);

/* Clocks. */
int64_t tm_now_ms(void);  /* CLOCK_MONOTONIC in ms */
int64_t tm_now_us(void);  /* CLOCK_MONOTONIC in us */
int64_t tm_wall_ms(void); /* CLOCK_REALTIME, ms since the epoch */
/* RFC 3339 UTC with milliseconds, "2026-11-25T21:56:43.123Z", into buf (>= 32 bytes). */
void tm_format_rfc3339_ms(int64_t wall_ms, char *buf, size_t len);
/* Parse RFC 3339 (with Z or +hh:mm offset, optional fraction) into ms since the epoch. */
int tm_parse_rfc3339(const char *s, int64_t *out_ms) TM_WUR;

/* Cryptographically random bytes (getrandom). Aborts if the kernel cannot supply them. */
void tm_random_bytes(void *buf, size_t n);
/* Random UUID v4 as 36 lowercase chars + NUL into out[37], from a per-thread pool of
 * getrandom() bytes: for identifiers, not for secrets (use tm_random_bytes). */
void tm_uuid_v4(char out[37]);
/* True if s is a canonical 36-char UUID (any version, case-insensitive). */
bool tm_is_uuid(const char *s);

/* Hex and base64url (no padding). Encoders write a NUL-terminated string and return its
 * length; out must hold tm_hex_len(n)/tm_b64url_len(n) + 1 bytes. Decoders return the
 * decoded length or -1 on bad input or when out (cap bytes) is too small. */
size_t tm_hex_len(size_t n);
size_t tm_hex_encode(const void *in, size_t n, char *out);
size_t tm_b64url_len(size_t n);
size_t tm_b64url_encode(const void *in, size_t n, char *out);
long tm_b64url_decode(const char *in, size_t n, void *out, size_t cap);

/* SHA-256 of data as 64 lowercase hex chars + NUL. */
void tm_sha256_hex(const void *data, size_t n, char out[65]);
/* Constant-time comparison of two equal-length buffers. */
bool tm_ct_equal(const void *a, const void *b, size_t n);

#endif
