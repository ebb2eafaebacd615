/* jwt_signer: compact JWS access tokens signed with a key parsed once at start. */
#include "jwt_sign.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define KEY_FILE_MAX (16 * 1024)
#define ES256_PART   32

struct jwt_signer {
    jwt_signer_alg_t alg;
    EVP_PKEY *pkey;        /* ES256 */
    unsigned char *secret; /* HS256 */
    size_t secret_len;
    char *issuer;
    char *audience;
    int64_t ttl_s;
};

int jwt_signer_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return TM_ERR_IO;
    char *buf = tm_xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n == 0 || n > KEY_FILE_MAX) {
        free(buf);
        return err ? TM_ERR_IO : TM_ERR_LIMIT;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return TM_OK;
}

/* A P-256 private key from PEM, or NULL. */
static EVP_PKEY *parse_p256(const void *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return NULL;
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    if (pk && (!EVP_PKEY_is_a(pk, "EC") || EVP_PKEY_get_bits(pk) != 256)) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    return pk;
}

static int load_key(jwt_signer_t *s, const void *key, size_t keylen)
{
    if (s->alg == JWT_SIGNER_ES256) {
        s->pkey = parse_p256(key, keylen);
        return s->pkey ? TM_OK : TM_ERR_INVALID;
    }
    s->secret = tm_xmalloc(keylen);
    memcpy(s->secret, key, keylen);
    s->secret_len = keylen;
    return TM_OK;
}

jwt_signer_t *jwt_signer_new(jwt_signer_alg_t alg, const void *key, size_t keylen,
                             const char *issuer, const char *audience, int64_t ttl_s,
                             const char **why)
{
    if (!key || keylen == 0 || keylen > KEY_FILE_MAX || ttl_s <= 0) {
        *why = "missing key or bad ttl";
        return NULL;
    }
    jwt_signer_t *s = tm_xcalloc(1, sizeof *s);
    s->alg = alg;
    s->issuer = tm_xstrdup(issuer);
    s->audience = tm_xstrdup(audience);
    s->ttl_s = ttl_s;
    char *probe = NULL;
    if (load_key(s, key, keylen) != TM_OK ||
        jwt_signer_access(s, "00000000-0000-0000-0000-000000000000", "user",
                          "00000000-0000-0000-0000-000000000000", 0, &probe) != TM_OK) {
        *why = "the key cannot sign (not a PEM EC P-256 private key?)";
        jwt_signer_free(s);
        return NULL;
    }
    free(probe);
    return s;
}

void jwt_signer_free(jwt_signer_t *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->pkey);
    if (s->secret) {
        memset(s->secret, 0, s->secret_len);
        free(s->secret);
    }
    free(s->issuer);
    free(s->audience);
    free(s);
}

int64_t jwt_signer_ttl(const jwt_signer_t *s)
{
    return s->ttl_s;
}

/* DER ECDSA signature -> raw R||S (64 bytes). */
static int der_to_raw(const unsigned char *der, size_t len, unsigned char raw[2 * ES256_PART])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
    if (!sig)
        return TM_ERR_INTERNAL;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, ES256_PART) == ES256_PART &&
             BN_bn2binpad(s, raw + ES256_PART, ES256_PART) == ES256_PART;
    ECDSA_SIG_free(sig);
    return ok ? TM_OK : TM_ERR_INTERNAL;
}

static int sign_es256(EVP_PKEY *pk, const char *in, size_t n, unsigned char out[64])
{
    unsigned char der[80];
    size_t dlen = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
             EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)in, n) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? der_to_raw(der, dlen, out) : TM_ERR_INTERNAL;
}

/* signature of in[n] into sig; *siglen set. */
static int sign(const jwt_signer_t *s, const char *in, size_t n, unsigned char sig[64],
                size_t *siglen)
{
    if (s->alg == JWT_SIGNER_ES256) {
        *siglen = 2 * ES256_PART;
        return sign_es256(s->pkey, in, n, sig);
    }
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), s->secret, (int)s->secret_len, (const unsigned char *)in, n, sig, &len))
        return TM_ERR_INTERNAL;
    *siglen = len;
    return TM_OK;
}

static json_t *claims(const jwt_signer_t *s, const char *sub, const char *role, const char *sid,
                      int64_t now_s)
{
    char jti[37];
    tm_uuid_v4(jti);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "iss", s->issuer, "aud",
                     s->audience, "sub", sub, "role", role, "sid", sid, "iat", (json_int_t)now_s,
                     "nbf", (json_int_t)now_s, "exp", (json_int_t)(now_s + s->ttl_s), "jti", jti);
}

/* "b64url(head).b64url(body)." with room for the signature; NULL on failure. */
static char *signing_input(json_t *head, json_t *body, size_t *n)
{
    char *h = json_dumps(head, JSON_COMPACT), *b = json_dumps(body, JSON_COMPACT);
    char *tok = NULL;
    if (!h || !b)
        goto free_json;
    size_t hl = strlen(h), bl = strlen(b);
    size_t cap = tm_b64url_len(hl) + tm_b64url_len(bl) + tm_b64url_len(64) + 3;
    tok = tm_xmalloc(cap);
    *n = tm_b64url_encode(h, hl, tok);
    tok[(*n)++] = '.';
    *n += tm_b64url_encode(b, bl, tok + *n);
free_json:
    free(h);
    free(b);
    return tok;
}

int jwt_signer_access(const jwt_signer_t *s, const char *sub, const char *role, const char *sid,
                      int64_t now_s, char **out)
{
    json_t *head = json_pack("{s:s, s:s}", "alg", s->alg == JWT_SIGNER_ES256 ? "ES256" : "HS256",
                             "typ", "at+jwt");
    json_t *body = claims(s, sub, role, sid, now_s);
    size_t n = 0;
    char *tok = head && body ? signing_input(head, body, &n) : NULL;
    json_decref(head);
    json_decref(body);
    unsigned char sig[64];
    size_t siglen = 0;
    if (!tok || sign(s, tok, n, sig, &siglen) != TM_OK) {
        free(tok);
        return TM_ERR_INTERNAL;
    }
    tok[n++] = '.';
    tm_b64url_encode(sig, siglen, tok + n);
    *out = tok;
    return TM_OK;
}
