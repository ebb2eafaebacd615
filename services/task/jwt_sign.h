/* jwt_signer: signs tm-task's access tokens (OpenSSL; verified with libjwt in the tests).
 *   header {"alg":"ES256"|"HS256","typ":"at+jwt"}
 *   claims {iss, aud, sub, role, sid, iat, nbf (= iat), exp (= iat + ttl), jti}
 * libjwt 1.10.2 cannot sign these: jwt_encode always rewrites "typ" to "JWT". So the token
 * is assembled here and signed with OpenSSL (ES256: ECDSA P-256 + SHA-256, signature as
 * raw R||S per RFC 7518 §3.4; HS256: HMAC-SHA-256). The key is parsed once
 * (jwt_signer_new); the signer is then immutable and may be used from any thread. */
#ifndef TASK_JWT_SIGN_H
#define TASK_JWT_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

typedef struct jwt_signer jwt_signer_t;

typedef enum { JWT_SIGNER_ES256 = 0, JWT_SIGNER_HS256 = 1 } jwt_signer_alg_t;

/* key: the PEM private key (ES256) or the HMAC secret (HS256), copied. ttl_s > 0.
 * Signs a probe token so a bad key fails here, not on the first login. NULL on failure
 * (*why set to a static reason). */
jwt_signer_t *jwt_signer_new(jwt_signer_alg_t alg, const void *key, size_t keylen,
                             const char *issuer, const char *audience, int64_t ttl_s,
                             const char **why);
/* Read a PEM file (<= 16 KiB) into a new buffer (*out, caller frees). */
int jwt_signer_read_file(const char *path, char **out, size_t *len) TM_WUR;
void jwt_signer_free(jwt_signer_t *s);
int64_t jwt_signer_ttl(const jwt_signer_t *s);

/* Sign an access token for (sub, role, sid) issued at now_s (unix seconds).
 * *out is a new string (caller frees). Returns 0 or TM_ERR_INTERNAL. */
int jwt_signer_access(const jwt_signer_t *s, const char *sub, const char *role, const char *sid,
                      int64_t now_s, char **out) TM_WUR;

#endif
