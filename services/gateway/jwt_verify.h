/* gw_jwt: access-token verification for the gateway (a pure module: no I/O, no NATS).
 *
 * A token is accepted only if: it is at most GW_JWT_MAX_TOKEN bytes of exactly three
 * base64url segments; its header (parsed with duplicate keys rejected) has alg equal to the
 * configured one, typ "at+jwt" and no "crit"; kid/jku/x5u are ignored (keys are pinned,
 * never fetched); the signature verifies with the pre-parsed key (ES256: raw r||s, HS256:
 * HMAC); and the claims pass: exp (integer, > now - leeway), nbf (if present, <= now +
 * leeway), iat (integer, <= now + leeway), iss and aud equal to the configured ones (aud may
 * be an array containing it), sub and sid UUIDs, role user|moderator|admin, jti a string.
 *
 * gw_jwt_verifier_t is immutable after gw_jwt_verifier_new and may be shared by threads.
 * gw_jwt_cache_t belongs to one thread. gw_jwt_deny_t is shared (internally locked). */
#ifndef GW_JWT_VERIFY_H
#define GW_JWT_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

#define GW_JWT_MAX_TOKEN 8192

typedef enum { GW_JWT_ES256 = 0, GW_JWT_HS256 = 1 } gw_jwt_alg_t;
typedef enum { GW_ROLE_USER = 0, GW_ROLE_MODERATOR = 1, GW_ROLE_ADMIN = 2 } gw_role_t;

typedef struct {
    gw_jwt_alg_t alg;
    const char *public_key_pem; /* ES256: SubjectPublicKeyInfo PEM text */
    const char *secret;         /* HS256: at least 32 bytes */
    size_t secret_len;
    const char *issuer;
    const char *audience;
    int64_t leeway_s;
} gw_jwt_config_t;

typedef struct {
    char sub[37];
    char sid[37];
    char jti[65];
    gw_role_t role;
    int64_t exp; /* unix seconds */
} gw_jwt_claims_t;

typedef struct gw_jwt_verifier gw_jwt_verifier_t;
typedef struct gw_jwt_cache gw_jwt_cache_t;
typedef struct gw_jwt_deny gw_jwt_deny_t;

/* Parse the key and copy the config. Returns NULL with a reason in err (no secrets). */
gw_jwt_verifier_t *gw_jwt_verifier_new(const gw_jwt_config_t *cfg, char *err, size_t errlen);
void gw_jwt_verifier_free(gw_jwt_verifier_t *v);

/* Verify token[len] at unix time now_s. 0 with *out filled, or TM_ERR_AUTH (why, a static
 * string, in *why when why is not NULL). Any thread. */
int gw_jwt_verify(const gw_jwt_verifier_t *v, const char *token, size_t len, int64_t now_s,
                  gw_jwt_claims_t *out, const char **why) TM_WUR;

/* A bounded cache sha256(token) -> claims, valid until exp (cap rounded up to a power of
 * two; a colliding entry is replaced). One thread only. */
gw_jwt_cache_t *gw_jwt_cache_new(size_t cap);
void gw_jwt_cache_free(gw_jwt_cache_t *c);
/* Cached gw_jwt_verify: a hit re-checks exp only. Same returns as gw_jwt_verify. */
int gw_jwt_cache_verify(gw_jwt_cache_t *c, const gw_jwt_verifier_t *v, const char *token,
                        size_t len, int64_t now_s, gw_jwt_claims_t *out, const char **why) TM_WUR;
size_t gw_jwt_cache_hits(const gw_jwt_cache_t *c);

/* Revoked session ids, each kept until its exp; at most cap entries (expired ones are
 * pruned first; when still full the add fails with TM_ERR_LIMIT). Any thread. */
gw_jwt_deny_t *gw_jwt_deny_new(size_t cap);
void gw_jwt_deny_free(gw_jwt_deny_t *d);
int gw_jwt_deny_add(gw_jwt_deny_t *d, const char *sid, int64_t exp_s, int64_t now_s) TM_WUR;
/* Add from a TM_SUBJ_AUTH_REVOKED body {"sid":"<uuid>","exp":<unix s>}. */
int gw_jwt_deny_add_json(gw_jwt_deny_t *d, const char *body, size_t len, int64_t now_s) TM_WUR;
bool gw_jwt_deny_has(gw_jwt_deny_t *d, const char *sid, int64_t now_s);

/* "user"/"moderator"/"admin" <-> gw_role_t; parse returns -1 when unknown. */
int gw_role_parse(const char *s);
const char *gw_role_name(gw_role_t r);

#endif
