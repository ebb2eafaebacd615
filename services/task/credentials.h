/* credentials: pure helpers of tm-task's identity code — email normalisation, refresh
 * token generation and hashing, global role ranks. No I/O; any thread. */
#ifndef TASK_CREDENTIALS_H
#define TASK_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>
#include "tm_error.h"

#define CRED_EMAIL_MAX     254
#define CRED_REFRESH_CHARS 43 /* 32 random bytes, base64url without padding */

/* Trim, lowercase (ASCII) and validate an email into out (cap >= CRED_EMAIL_MAX + 1).
 * Returns 0 or TM_ERR_INVALID (empty, too long, not local@domain.tld, spaces/controls). */
int cred_email_normalize(const char *in, char *out, size_t cap) TM_WUR;
/* A new refresh token (43 chars + NUL) and the hex of its sha256 (64 + NUL). */
void cred_refresh_new(char tok[CRED_REFRESH_CHARS + 1], char hash_hex[65]);
/* sha256 hex of a presented token; false if it does not have the token's shape. */
bool cred_refresh_hash(const char *tok, char hash_hex[65]);
/* Global role rank: user 1, moderator 2, admin 3, anything else 0. */
int cred_role_rank(const char *role);

#endif
