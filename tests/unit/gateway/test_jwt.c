/* gw_jwt battery: tokens are built here (libjwt for well-formed ones, a hand signer for
 * shapes libjwt cannot produce) against a P-256 key generated at test time. Exactly the
 * valid tokens must be accepted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jwt.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jwt_verify.h"
#include "tm_util.h"

#define SUB "6f1c2a8e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
#define SID "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

typedef struct {
    char *priv_pem, *pub_pem; /* signing key */
    char *other_priv_pem;     /* a key the verifier does not know */
    EVP_PKEY *priv;
    gw_jwt_verifier_t *v;
    int64_t now;
} fixture_t;

static char *bio_string(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *s = tm_xstrndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

static EVP_PKEY *gen_key(char **priv_pem, char **pub_pem)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    *priv_pem = bio_string(b);
    if (pub_pem) {
        b = BIO_new(BIO_s_mem());
        assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
        *pub_pem = bio_string(b);
    }
    return k;
}

static int setup(void **state)
{
    fixture_t *f = tm_xcalloc(1, sizeof(*f));
    char err[128] = "";
    f->priv = gen_key(&f->priv_pem, &f->pub_pem);
    EVP_PKEY_free(gen_key(&f->other_priv_pem, NULL));
    gw_jwt_config_t cfg = {.alg = GW_JWT_ES256,
                           .public_key_pem = f->pub_pem,
                           .issuer = "taskmesh",
                           .audience = "taskmesh-api",
                           .leeway_s = 30};
    f->v = gw_jwt_verifier_new(&cfg, err, sizeof(err));
    assert_non_null(f->v);
    f->now = (int64_t)time(NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    gw_jwt_verifier_free(f->v);
    EVP_PKEY_free(f->priv);
    free(f->priv_pem);
    free(f->pub_pem);
    free(f->other_priv_pem);
    free(f);
    return 0;
}

/* Standard claims as JSON with exp/iat/nbf relative to now. */
static char *claims(const fixture_t *f, long exp_off)
{
    return tm_xasprintf("{\"iss\":\"taskmesh\",\"aud\":\"taskmesh-api\",\"sub\":\"" SUB
                        "\",\"role\":\"admin\",\"sid\":\"" SID "\",\"iat\":%lld,\"nbf\":%lld,"
                        "\"exp\":%lld,\"jti\":\"j-1\"}",
                        (long long)f->now - 5, (long long)f->now - 5,
                        (long long)(f->now + exp_off));
}

#define AT_ES256 "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}"

/* libjwt 1.10.2 always writes typ "JWT" (jwt_add_header("typ") is overwritten), so
 * tokens with typ at+jwt are signed by hand below; libjwt signs the typ-JWT tokens and
 * checks (jwt_decode) that the hand signer's ES256 signatures are standard. */
static char *libjwt_token(jwt_alg_t alg, const char *key, const char *claims_json)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims_json), 0);
    assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, key ? (int)strlen(key) : 0),
                     0);
    char *tok = jwt_encode_str(jwt);
    assert_non_null(tok);
    jwt_free(jwt);
    char *copy = tm_xstrdup(tok);
    free(tok);
    return copy;
}

/* Hand-built HS256 token (secret = key) or alg-none token (key NULL: empty signature). */
static char *hmac_token(const char *key, const char *hdr, const char *payload)
{
    size_t hl = strlen(hdr), pl = strlen(payload);
    char *buf = tm_xmalloc(tm_b64url_len(hl) + tm_b64url_len(pl) + tm_b64url_len(32) + 3);
    size_t n = tm_b64url_encode(hdr, hl, buf);
    buf[n++] = '.';
    n += tm_b64url_encode(payload, pl, buf + n);
    buf[n++] = '.';
    buf[n] = '\0';
    if (key) {
        unsigned char mac[32];
        unsigned int maclen = 0;
        assert_non_null(
            HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)buf, n - 1, mac, &maclen));
        tm_b64url_encode(mac, maclen, buf + n);
    }
    return buf;
}

/* Hand-built ES256 token from literal header and payload JSON text. */
static char *raw_token(EVP_PKEY *key, const char *hdr, const char *payload)
{
    size_t hl = strlen(hdr), pl = strlen(payload);
    char *buf = tm_xmalloc(tm_b64url_len(hl) + tm_b64url_len(pl) + tm_b64url_len(64) + 3);
    size_t n = tm_b64url_encode(hdr, hl, buf);
    buf[n++] = '.';
    n += tm_b64url_encode(payload, pl, buf + n);
    unsigned char der[128], raw[64] = {0};
    size_t derlen = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(md, der, &derlen, (unsigned char *)buf, n), 1);
    EVP_MD_CTX_free(md);
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    assert_non_null(sig);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    buf[n++] = '.';
    tm_b64url_encode(raw, 64, buf + n);
    return buf;
}

static int verify(const fixture_t *f, const char *tok)
{
    gw_jwt_claims_t c;
    return gw_jwt_verify(f->v, tok, strlen(tok), f->now, &c, NULL);
}

static void expect(const fixture_t *f, char *tok, int want)
{
    int rc = verify(f, tok);
    if (rc != want)
        fail_msg("token %.120s: got %d want %d", tok, rc, want);
    free(tok);
}

static void test_valid_token_accepted(void **state)
{
    fixture_t *f = *state;
    char *c = claims(f, 600);
    char *tok = raw_token(f->priv, AT_ES256, c);
    gw_jwt_claims_t out;
    assert_int_equal(gw_jwt_verify(f->v, tok, strlen(tok), f->now, &out, NULL), TM_OK);
    assert_string_equal(out.sub, SUB);
    assert_string_equal(out.sid, SID);
    assert_string_equal(out.jti, "j-1");
    assert_int_equal(out.role, GW_ROLE_ADMIN);
    assert_int_equal(out.exp, f->now + 600);
    /* libjwt accepts the hand signer's signature, so it is standard ES256 (libjwt 1.10.2
     * itself refuses any typ but JWT, hence the other header here) */
    char *typ_jwt = raw_token(f->priv, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", c);
    jwt_t *decoded = NULL;
    assert_int_equal(
        jwt_decode(&decoded, typ_jwt, (unsigned char *)f->pub_pem, (int)strlen(f->pub_pem)), 0);
    jwt_free(decoded);
    typ_jwt[strlen(typ_jwt) - 5] ^= 1;
    assert_int_not_equal(
        jwt_decode(&decoded, typ_jwt, (unsigned char *)f->pub_pem, (int)strlen(f->pub_pem)), 0);
    free(typ_jwt);
    /* a libjwt token is well signed but has typ JWT: not an access token */
    expect(f, libjwt_token(JWT_ALG_ES256, f->priv_pem, c), TM_ERR_AUTH);
    free(tok);
    free(c);
}

static void test_alg_none_and_confusion(void **state)
{
    fixture_t *f = *state;
    char *c = claims(f, 600);
    expect(f, libjwt_token(JWT_ALG_NONE, NULL, c), TM_ERR_AUTH);
    expect(f, hmac_token(NULL, "{\"alg\":\"none\",\"typ\":\"at+jwt\"}", c), TM_ERR_AUTH);
    expect(f, raw_token(f->priv, "{\"alg\":\"None\",\"typ\":\"at+jwt\"}", c), TM_ERR_AUTH);
    expect(f, raw_token(f->priv, "{\"alg\":\"none\",\"typ\":\"at+jwt\"}", c), TM_ERR_AUTH);
    expect(f, hmac_token(f->pub_pem, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", c), TM_ERR_AUTH);
    EVP_PKEY *other = NULL;
    BIO *b = BIO_new_mem_buf(f->other_priv_pem, -1);
    assert_non_null(other = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL));
    BIO_free(b);
    expect(f, raw_token(other, AT_ES256, c), TM_ERR_AUTH);
    EVP_PKEY_free(other);
    expect(f, raw_token(f->priv, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", c), TM_ERR_AUTH);
    expect(f, raw_token(f->priv, "{\"alg\":\"ES256\"}", c), TM_ERR_AUTH);
    free(c);
}

static void test_signature_tampering(void **state)
{
    fixture_t *f = *state;
    char *c = claims(f, 600), *c2 = claims(f, 6000);
    char *tok = raw_token(f->priv, AT_ES256, c);
    char *other = raw_token(f->priv, AT_ES256, c2);
    char *dot = strrchr(tok, '.');
    char *stripped = tm_xstrndup(tok, (size_t)(dot - tok + 1));
    expect(f, stripped, TM_ERR_AUTH);
    char *flipped = tm_xstrdup(tok);
    size_t i = strlen(flipped) - 10;
    flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
    expect(f, flipped, TM_ERR_AUTH);
    /* header and signature of tok, payload of other (a later exp) */
    char *d1 = strchr(tok, '.'), *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
    char *tampered = tm_xasprintf("%.*s%.*s%s", (int)(d1 - tok), tok, (int)(o2 - o1), o1, dot);
    expect(f, tampered, TM_ERR_AUTH);
    free(tok);
    free(other);
    free(c);
    free(c2);
}

static void test_time_claims(void **state)
{
    fixture_t *f = *state;
    char *c = claims(f, -60);
    expect(f, raw_token(f->priv, AT_ES256, c), TM_ERR_AUTH);
    free(c);
    c = claims(f, -10); /* expired, but within the 30 s leeway */
    expect(f, raw_token(f->priv, AT_ES256, c), TM_OK);
    free(c);
    const char *hdr = "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}";
    char *p = tm_xasprintf("{\"iss\":\"taskmesh\",\"aud\":\"taskmesh-api\",\"sub\":\"" SUB
                           "\",\"role\":\"user\",\"sid\":\"" SID "\",\"iat\":%lld,\"jti\":\"x\"}",
                           (long long)f->now);
    expect(f, raw_token(f->priv, hdr, p), TM_ERR_AUTH); /* no exp */
    free(p);
    p = tm_xasprintf("{\"iss\":\"taskmesh\",\"aud\":\"taskmesh-api\",\"sub\":\"" SUB
                     "\",\"role\":\"user\",\"sid\":\"" SID
                     "\",\"iat\":%lld,\"exp\":\"%lld\",\"jti\":\"x\"}",
                     (long long)f->now, (long long)f->now + 600);
    expect(f, raw_token(f->priv, hdr, p), TM_ERR_AUTH); /* exp as string */
    free(p);
    p = tm_xasprintf("{\"iss\":\"taskmesh\",\"aud\":\"taskmesh-api\",\"sub\":\"" SUB
                     "\",\"role\":\"user\",\"sid\":\"" SID "\",\"iat\":%lld,\"nbf\":%lld,"
                     "\"exp\":%lld,\"jti\":\"x\"}",
                     (long long)f->now, (long long)f->now + 300, (long long)f->now + 600);
    expect(f, raw_token(f->priv, hdr, p), TM_ERR_AUTH); /* nbf in the future */
    free(p);
}

/* A token with one claim replaced by `repl` (a JSON fragment "k":v or "" to drop it). */
static char *variant(const fixture_t *f, const char *repl_iss, const char *repl_aud,
                     const char *repl_sub, const char *extra)
{
    char *p = tm_xasprintf("{%s%s%s\"role\":\"user\",\"sid\":\"" SID "\",\"iat\":%lld,"
                           "\"exp\":%lld,\"jti\":\"x\"%s}",
                           repl_iss, repl_aud, repl_sub, (long long)f->now, (long long)f->now + 600,
                           extra);
    char *t = raw_token(f->priv, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", p);
    free(p);
    return t;
}

static void test_identity_claims(void **state)
{
    fixture_t *f = *state;
    const char *iss = "\"iss\":\"taskmesh\",", *aud = "\"aud\":\"taskmesh-api\",";
    const char *sub = "\"sub\":\"" SUB "\",";
    expect(f, variant(f, iss, aud, sub, ""), TM_OK);
    expect(f, variant(f, iss, "\"aud\":[\"other\",\"taskmesh-api\"],", sub, ""), TM_OK);
    expect(f, variant(f, "\"iss\":\"evil\",", aud, sub, ""), TM_ERR_AUTH);
    expect(f, variant(f, "", aud, sub, ""), TM_ERR_AUTH);
    expect(f, variant(f, iss, "\"aud\":\"other\",", sub, ""), TM_ERR_AUTH);
    expect(f, variant(f, iss, "\"aud\":[\"other\"],", sub, ""), TM_ERR_AUTH);
    expect(f, variant(f, iss, "", sub, ""), TM_ERR_AUTH);
    expect(f, variant(f, iss, aud, "", ""), TM_ERR_AUTH);
    expect(f, variant(f, iss, aud, "\"sub\":\"not-a-uuid\",", ""), TM_ERR_AUTH);
    /* duplicate claims: the second sub must not win */
    expect(f, variant(f, iss, aud, sub, ",\"sub\":\"11111111-1111-4111-8111-111111111111\""),
           TM_ERR_AUTH);
    expect(f, variant(f, iss, aud, sub, ",\"role\":\"admin\""), TM_ERR_AUTH);
}

static void test_shapes(void **state)
{
    fixture_t *f = *state;
    unsigned char rnd[32];
    char opaque[64];
    tm_random_bytes(rnd, sizeof(rnd));
    tm_b64url_encode(rnd, sizeof(rnd), opaque);
    assert_int_equal(strlen(opaque), 43);
    assert_int_equal(verify(f, opaque), TM_ERR_AUTH);
    char *c = claims(f, 600);
    expect(f, raw_token(f->priv, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"crit\":[\"exp\"]}", c),
           TM_ERR_AUTH);
    expect(f, raw_token(f->priv, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"alg\":\"ES256\"}", c),
           TM_ERR_AUTH);
    char *tok = raw_token(f->priv, AT_ES256, c);
    char *two = tm_xstrndup(tok, (size_t)(strrchr(tok, '.') - tok));
    expect(f, two, TM_ERR_AUTH);
    expect(f, tm_xasprintf("%s.%s", tok, "AAAA"), TM_ERR_AUTH);
    expect(f, tm_xasprintf("%s.", tok), TM_ERR_AUTH);
    size_t big = 64 * 1024;
    char *huge = tm_xmalloc(big + 1);
    memset(huge, 'A', big);
    memcpy(huge, tok, strlen(tok));
    huge[big] = '\0';
    expect(f, huge, TM_ERR_AUTH);
    /* the ignored kid header does not change anything */
    expect(
        f,
        raw_token(
            f->priv,
            "{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":\"x\",\"jku\":\"http://127.0.0.1:1/\"}",
            c),
        TM_OK);
    free(tok);
    free(c);
}

static void test_hs256_verifier(void **state)
{
    fixture_t *f = *state;
    char err[128];
    const char *secret = "0123456789abcdef0123456789abcdef-secret";
    gw_jwt_config_t cfg = {.alg = GW_JWT_HS256,
                           .secret = secret,
                           .secret_len = strlen(secret),
                           .issuer = "taskmesh",
                           .audience = "taskmesh-api",
                           .leeway_s = 30};
    gw_jwt_config_t weak = cfg;
    weak.secret_len = 31;
    assert_null(gw_jwt_verifier_new(&weak, err, sizeof(err)));
    gw_jwt_verifier_t *v = gw_jwt_verifier_new(&cfg, err, sizeof(err));
    assert_non_null(v);
    char *c = claims(f, 600);
    const char *hs = "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}";
    char *good = hmac_token(secret, hs, c);
    char *es = raw_token(f->priv, AT_ES256, c);
    char *wrong = hmac_token("another-secret-another-secret-xx", hs, c);
    gw_jwt_claims_t out;
    assert_int_equal(gw_jwt_verify(v, good, strlen(good), f->now, &out, NULL), TM_OK);
    assert_int_equal(gw_jwt_verify(v, es, strlen(es), f->now, &out, NULL), TM_ERR_AUTH);
    assert_int_equal(gw_jwt_verify(v, wrong, strlen(wrong), f->now, &out, NULL), TM_ERR_AUTH);
    free(good);
    free(es);
    free(wrong);
    free(c);
    gw_jwt_verifier_free(v);
}

static void test_cache_and_deny(void **state)
{
    fixture_t *f = *state;
    char *c = claims(f, 100);
    char *tok = raw_token(f->priv, AT_ES256, c);
    gw_jwt_cache_t *cache = gw_jwt_cache_new(64);
    gw_jwt_claims_t out;
    assert_int_equal(gw_jwt_cache_verify(cache, f->v, tok, strlen(tok), f->now, &out, NULL), TM_OK);
    assert_int_equal(gw_jwt_cache_hits(cache), 0);
    assert_int_equal(gw_jwt_cache_verify(cache, f->v, tok, strlen(tok), f->now, &out, NULL), TM_OK);
    assert_int_equal(gw_jwt_cache_hits(cache), 1);
    assert_string_equal(out.sub, SUB);
    /* a cached token still expires */
    assert_int_equal(gw_jwt_cache_verify(cache, f->v, tok, strlen(tok), f->now + 200, &out, NULL),
                     TM_ERR_AUTH);
    /* a bad token is never cached */
    tok[strlen(tok) - 3] ^= 1;
    assert_int_equal(gw_jwt_cache_verify(cache, f->v, tok, strlen(tok), f->now, &out, NULL),
                     TM_ERR_AUTH);
    assert_int_equal(gw_jwt_cache_verify(cache, f->v, tok, strlen(tok), f->now, &out, NULL),
                     TM_ERR_AUTH);
    gw_jwt_cache_free(cache);

    gw_jwt_deny_t *d = gw_jwt_deny_new(2);
    assert_false(gw_jwt_deny_has(d, SID, f->now));
    char body[128];
    snprintf(body, sizeof(body), "{\"sid\":\"%s\",\"exp\":%lld}", SID, (long long)f->now + 50);
    assert_int_equal(gw_jwt_deny_add_json(d, body, strlen(body), f->now), TM_OK);
    assert_true(gw_jwt_deny_has(d, SID, f->now));
    assert_false(gw_jwt_deny_has(d, SUB, f->now));
    assert_false(gw_jwt_deny_has(d, SID, f->now + 51)); /* forgotten after its exp */
    assert_int_equal(gw_jwt_deny_add_json(d, "{\"sid\":1}", 9, f->now), TM_ERR_INVALID);
    assert_int_equal(gw_jwt_deny_add(d, SUB, f->now + 50, f->now), TM_OK);
    assert_int_equal(
        gw_jwt_deny_add(d, "11111111-1111-4111-8111-111111111111", f->now + 50, f->now),
        TM_ERR_LIMIT);
    /* once the old entries expired there is room again */
    assert_int_equal(
        gw_jwt_deny_add(d, "11111111-1111-4111-8111-111111111111", f->now + 500, f->now + 60),
        TM_OK);
    gw_jwt_deny_free(d);
    free(tok);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_token_accepted), cmocka_unit_test(test_alg_none_and_confusion),
        cmocka_unit_test(test_signature_tampering),  cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_identity_claims),      cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_hs256_verifier),       cmocka_unit_test(test_cache_and_deny),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
