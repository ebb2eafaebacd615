/* Unit tests: access token signing. Tokens are verified here with OpenSSL and the public
 * key (libjwt 1.10.2's jwt_decode refuses any "typ" other than "JWT", so it cannot read
 * at+jwt tokens), and the header and claims are parsed with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include "jwt_sign.h"
#include "tm_util.h"

#define SUB "11111111-2222-4333-8444-555555555555"
#define SID "66666666-7777-4888-9999-aaaaaaaaaaaa"

typedef struct {
    char *priv;
    char *pub;
} keys_t;

static char *bio_string(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = tm_xstrndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

typedef struct {
    json_t *head;
    json_t *claims;
} decoded_t;

static json_t *b64_json(const char *s, size_t n)
{
    char buf[2048];
    long len = tm_b64url_decode(s, n, buf, sizeof buf);
    if (len < 0)
        return NULL;
    return json_loadb(buf, (size_t)len, 0, NULL);
}

static bool verify_sig(const char *alg, const char *key, const char *in, size_t n,
                       const unsigned char *sig, size_t siglen)
{
    if (strcmp(alg, "HS256") == 0) {
        unsigned char mac[32];
        unsigned int ml = 0;
        HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)in, n, mac, &ml);
        return siglen == 32 && memcmp(mac, sig, 32) == 0;
    }
    if (siglen != 64)
        return false;
    BIO *b = BIO_new_mem_buf(key, -1);
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = pk && dl > 0 && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, der, (size_t)dl, (const unsigned char *)in, n) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pk);
    return ok;
}

/* 0 and *d filled when tok verifies with key under alg; -1 otherwise. */
static int decode(const char *tok, const char *alg, const char *key, decoded_t *d)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2)
        return -1;
    unsigned char sig[128];
    long sl = tm_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof sig);
    if (sl < 0 || !verify_sig(alg, key, tok, (size_t)(d2 - tok), sig, (size_t)sl))
        return -1;
    d->head = b64_json(tok, (size_t)(d1 - tok));
    d->claims = b64_json(d1 + 1, (size_t)(d2 - d1 - 1));
    return d->head && d->claims ? 0 : -1;
}

static void decoded_dispose(decoded_t *d)
{
    json_decref(d->head);
    json_decref(d->claims);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static int setup(void **state)
{
    keys_t *k = tm_xcalloc(1, sizeof *k);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    if (!pk)
        return -1;
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b1, pk, NULL, NULL, 0, NULL, NULL);
    PEM_write_bio_PUBKEY(b2, pk);
    k->priv = bio_string(b1);
    k->pub = bio_string(b2);
    EVP_PKEY_free(pk);
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    keys_t *k = *state;
    free(k->priv);
    free(k->pub);
    free(k);
    return 0;
}

static void test_es256_claims_and_header(void **state)
{
    keys_t *k = *state;
    const char *why = NULL;
    jwt_signer_t *s = jwt_signer_new(JWT_SIGNER_ES256, k->priv, strlen(k->priv), "taskmesh",
                                     "taskmesh-api", 900, &why);
    assert_non_null(s);
    char *tok = NULL;
    assert_int_equal(jwt_signer_access(s, SUB, "moderator", SID, 1700000000, &tok), 0);
    decoded_t d;
    assert_int_equal(decode(tok, "ES256", k->pub, &d), 0);
    assert_string_equal(str(d.head, "alg"), "ES256");
    assert_string_equal(str(d.head, "typ"), "at+jwt");
    assert_int_equal(json_object_size(d.head), 2);
    assert_string_equal(str(d.claims, "iss"), "taskmesh");
    assert_string_equal(str(d.claims, "aud"), "taskmesh-api");
    assert_string_equal(str(d.claims, "sub"), SUB);
    assert_string_equal(str(d.claims, "role"), "moderator");
    assert_string_equal(str(d.claims, "sid"), SID);
    assert_int_equal(num(d.claims, "iat"), 1700000000);
    assert_int_equal(num(d.claims, "nbf"), 1700000000);
    assert_int_equal(num(d.claims, "exp"), 1700000900);
    assert_true(tm_is_uuid(str(d.claims, "jti")));
    assert_int_equal(json_object_size(d.claims), 9);
    decoded_dispose(&d);
    free(tok);
    jwt_signer_free(s);
}

static void test_es256_wrong_key_fails(void **state)
{
    keys_t *k = *state;
    const char *why = NULL;
    jwt_signer_t *s =
        jwt_signer_new(JWT_SIGNER_ES256, k->priv, strlen(k->priv), "i", "a", 60, &why);
    assert_non_null(s);
    char *tok = NULL;
    assert_int_equal(jwt_signer_access(s, SUB, "user", SID, 1700000000, &tok), 0);
    EVP_PKEY *other = EVP_EC_gen("P-256");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, other);
    char *pub = bio_string(b);
    EVP_PKEY_free(other);
    decoded_t d;
    assert_int_equal(decode(tok, "ES256", k->pub, &d), 0); /* control: the right key works */
    decoded_dispose(&d);
    assert_int_equal(decode(tok, "ES256", pub, &d), -1);
    /* tampering with the payload breaks the signature */
    char *dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    assert_int_equal(decode(tok, "ES256", k->pub, &d), -1);
    free(pub);
    free(tok);
    jwt_signer_free(s);
}

static void test_jti_unique(void **state)
{
    keys_t *k = *state;
    const char *why = NULL;
    jwt_signer_t *s =
        jwt_signer_new(JWT_SIGNER_ES256, k->priv, strlen(k->priv), "i", "a", 60, &why);
    char *t1 = NULL, *t2 = NULL;
    assert_int_equal(jwt_signer_access(s, SUB, "user", SID, 1, &t1), 0);
    assert_int_equal(jwt_signer_access(s, SUB, "user", SID, 1, &t2), 0);
    assert_string_not_equal(t1, t2);
    free(t1);
    free(t2);
    jwt_signer_free(s);
}

static void test_hs256(void **state)
{
    (void)state;
    const char *secret = "0123456789abcdef0123456789abcdef";
    const char *why = NULL;
    jwt_signer_t *s = jwt_signer_new(JWT_SIGNER_HS256, secret, strlen(secret), "taskmesh",
                                     "taskmesh-api", 60, &why);
    assert_non_null(s);
    char *tok = NULL;
    assert_int_equal(jwt_signer_access(s, SUB, "admin", SID, 1000, &tok), 0);
    decoded_t d;
    assert_int_equal(decode(tok, "HS256", secret, &d), 0);
    assert_string_equal(str(d.head, "alg"), "HS256");
    assert_string_equal(str(d.head, "typ"), "at+jwt");
    assert_int_equal(num(d.claims, "exp"), 1060);
    assert_string_equal(str(d.claims, "role"), "admin");
    decoded_dispose(&d);
    assert_int_equal(decode(tok, "HS256", "another-secret-another-secret-xx", &d), -1);
    free(tok);
    jwt_signer_free(s);
}

static void test_bad_key_refused_at_start(void **state)
{
    (void)state;
    const char *why = NULL;
    const char *junk = "-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----\n";
    assert_null(jwt_signer_new(JWT_SIGNER_ES256, junk, strlen(junk), "i", "a", 60, &why));
    assert_non_null(why);
    why = NULL;
    assert_null(jwt_signer_new(JWT_SIGNER_ES256, "", 0, "i", "a", 60, &why));
    assert_non_null(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es256_claims_and_header),
        cmocka_unit_test(test_es256_wrong_key_fails),
        cmocka_unit_test(test_jti_unique),
        cmocka_unit_test(test_hs256),
        cmocka_unit_test(test_bad_key_refused_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
