/* password: argon2id hashing and the password policy of tm-task.
 * Pure functions, any thread. Hashing is slow by design (tens of ms): call it on worker
 * threads only, never on an event loop. */
#ifndef TASK_PASSWORD_H
#define TASK_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

#define PASSWORD_MIN_CHARS 10
#define PASSWORD_MAX_BYTES 256
#define PASSWORD_HASH_MAX  256

typedef struct {
    uint32_t t_cost; /* iterations */
    uint32_t m_kib;  /* memory */
    uint32_t lanes;
} password_params_t;

/* NULL if pw is acceptable, else a static reason ("must be at least 10 characters", "is
 * too common"). Length counts UTF-8 code points; the byte length is capped too. */
const char *password_policy_check(const char *pw);
/* argon2id encoded hash ($argon2id$v=19$m=...) with a 16-byte random salt into out[cap].
 * Returns 0, TM_ERR_LIMIT (out too small) or TM_ERR_INTERNAL. */
int password_hash(const password_params_t *p, const char *pw, char *out, size_t cap) TM_WUR;
/* True if pw matches encoded (any argon2id parameters). False on malformed hashes. */
bool password_verify(const char *encoded, const char *pw);

#endif
