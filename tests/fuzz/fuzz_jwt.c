/* Fuzz target: the gateway's JWT verifier (services/gateway/jwt_verify.c) and the revocation
 * message decoder. The input is tried as a token against an ES256 and an HS256 verifier and
 * as a TM_SUBJ_AUTH_REVOKED body.
 * Checks: a verified token has well-formed claims (UUID sub/sid, known role, exp after the
 * verification time minus leeway); a refused one gives a reason; a bounded deny list stays
 * consistent. (A forged signature verifying would need a key break: not expected, but any
 * accepted token is checked all the same.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "jwt_verify.h"
#include "tm_util.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define NOW    1767225600 /* 2026-01-01 */
#define LEEWAY 30

static const char PUB_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEW3bFgn0BrJkKGnopTolwKLmeU0jn\n"
                              "yCaVFn7IBHEY7JMbF60KZLU1TDR9y6he+44p+/AMwXQeipFHD4D2eNLbig==\n"
                              "-----END PUBLIC KEY-----\n";
static const char SECRET[] = "fuzz-secret-fuzz-secret-fuzz-secret-0123";

static gw_jwt_verifier_t *es, *hs;
static gw_jwt_deny_t *deny;

static void init_once(void)
{
    char err[256];
    gw_jwt_config_t c = {.alg = GW_JWT_ES256,
                         .public_key_pem = PUB_PEM,
                         .issuer = "taskmesh",
                         .audience = "taskmesh-api",
                         .leeway_s = LEEWAY};
    es = gw_jwt_verifier_new(&c, err, sizeof err);
    gw_jwt_config_t h = {.alg = GW_JWT_HS256,
                         .secret = SECRET,
                         .secret_len = sizeof SECRET - 1,
                         .issuer = "taskmesh",
                         .audience = "taskmesh-api",
                         .leeway_s = LEEWAY};
    hs = gw_jwt_verifier_new(&h, err, sizeof err);
    deny = gw_jwt_deny_new(64);
    CHECK(es != NULL && hs != NULL && deny != NULL);
}

static void check_one(const gw_jwt_verifier_t *v, const char *tok, size_t len)
{
    gw_jwt_claims_t cl;
    memset(&cl, 0xa5, sizeof cl);
    const char *why = NULL;
    int rc = gw_jwt_verify(v, tok, len, NOW, &cl, &why);
    if (rc != TM_OK) {
        CHECK(rc == TM_ERR_AUTH && why != NULL && why[0] != '\0');
        return;
    }
    CHECK(len <= GW_JWT_MAX_TOKEN);
    CHECK(strlen(cl.sub) == 36 && strlen(cl.sid) == 36 && strlen(cl.jti) < sizeof cl.jti);
    CHECK(cl.role == GW_ROLE_USER || cl.role == GW_ROLE_MODERATOR || cl.role == GW_ROLE_ADMIN);
    CHECK(cl.exp > NOW - LEEWAY);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (es == NULL)
        init_once();
    /* exactly sized heap copy: the verifier gets (ptr, len), never a terminator */
    char *tok = malloc(size ? size : 1);
    CHECK(tok != NULL);
    memcpy(tok, data, size);
    check_one(es, tok, size);
    check_one(hs, tok, size);
    int rc = gw_jwt_deny_add_json(deny, tok, size, NOW);
    CHECK(rc == TM_OK || rc == TM_ERR_INVALID || rc == TM_ERR_LIMIT);
    free(tok);
    return 0;
}
