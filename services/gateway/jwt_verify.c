/* gw_jwt: see jwt_verify.h. Signatures are checked with OpenSSL on a key parsed once at
 * start (libjwt re-parses the PEM per call: ~1k ES256 verifies/s). */
#include "jwt_verify.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "tm_util.h"

#define SEGMENT_MAX 4096 /* decoded header or payload */

struct gw_jwt_verifier {
    gw_jwt_alg_t alg;
    EVP_PKEY *pkey;
    unsigned char *secret;
    size_t secret_len;
    char *issuer;
    char *audience;
    int64_t leeway_s;
};

typedef struct {
    unsigned char key[32];
    bool used;
    gw_jwt_claims_t claims;
} cache_entry_t;

struct gw_jwt_cache {
    cache_entry_t *entries;
    size_t mask;
    size_t hits;
};

typedef struct {
    char sid[37];
    int64_t exp;
} deny_entry_t;

struct gw_jwt_deny {
    pthread_mutex_t lock;
    deny_entry_t *entries;
    size_t count, cap;
};

static const char *const role_names[] = {"user", "moderator", "admin"};

int gw_role_parse(const char *s)
{
    for (int i = 0; s != NULL && i < 3; i++)
        if (strcmp(s, role_names[i]) == 0)
            return i;
    return -1;
}

const char *gw_role_name(gw_role_t r)
{
    return (unsigned)r < 3 ? role_names[r] : "user";
}

static EVP_PKEY *parse_ec_key(const char *pem, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        snprintf(err, errlen, "not a PEM public key");
        return NULL;
    }
    if (EVP_PKEY_base_id(pkey) != EVP_PKEY_EC || EVP_PKEY_get_bits(pkey) != 256) {
        snprintf(err, errlen, "not an EC P-256 public key");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

gw_jwt_verifier_t *gw_jwt_verifier_new(const gw_jwt_config_t *cfg, char *err, size_t errlen)
{
    gw_jwt_verifier_t *v = tm_xcalloc(1, sizeof(*v));
    v->alg = cfg->alg;
    v->leeway_s = cfg->leeway_s;
    v->issuer = tm_xstrdup(cfg->issuer ? cfg->issuer : "");
    v->audience = tm_xstrdup(cfg->audience ? cfg->audience : "");
    if (cfg->alg == GW_JWT_ES256) {
        if (cfg->public_key_pem == NULL ||
            (v->pkey = parse_ec_key(cfg->public_key_pem, err, errlen)) == NULL)
            goto fail;
    } else {
        if (cfg->secret == NULL || cfg->secret_len < 32) {
            snprintf(err, errlen, "HS256 secret must be at least 32 bytes");
            goto fail;
        }
        v->secret = tm_xmalloc(cfg->secret_len);
        memcpy(v->secret, cfg->secret, cfg->secret_len);
        v->secret_len = cfg->secret_len;
    }
    return v;
fail:
    gw_jwt_verifier_free(v);
    return NULL;
}

void gw_jwt_verifier_free(gw_jwt_verifier_t *v)
{
    if (v == NULL)
        return;
    EVP_PKEY_free(v->pkey);
    if (v->secret)
        OPENSSL_cleanse(v->secret, v->secret_len);
    free(v->secret);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* Decode one base64url segment and parse it as a JSON object, duplicates rejected. */
static json_t *decode_segment(const char *s, size_t n)
{
    char buf[SEGMENT_MAX];
    if (n == 0 || n > tm_b64url_len(SEGMENT_MAX))
        return NULL;
    long len = tm_b64url_decode(s, n, buf, sizeof(buf));
    if (len <= 0)
        return NULL;
    json_t *obj = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static bool check_header(const gw_jwt_verifier_t *v, const json_t *hdr, const char **why)
{
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *typ = json_string_value(json_object_get(hdr, "typ"));
    const char *want = v->alg == GW_JWT_ES256 ? "ES256" : "HS256";
    if (alg == NULL || strcmp(alg, want) != 0)
        return *why = "unexpected alg", false;
    if (typ == NULL || strcmp(typ, "at+jwt") != 0)
        return *why = "typ must be at+jwt", false;
    if (json_object_get(hdr, "crit") != NULL)
        return *why = "unsupported crit", false;
    return true;
}

static bool verify_es256(EVP_PKEY *pkey, const char *data, size_t n, const unsigned char *sig)
{
    bool ok = false;
    unsigned char *der = NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (es == NULL || r == NULL || s == NULL || md == NULL || !ECDSA_SIG_set0(es, r, s))
        goto cleanup;
    r = s = NULL; /* owned by es now */
    int derlen = i2d_ECDSA_SIG(es, &der);
    if (derlen <= 0)
        goto cleanup;
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
         EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)data, n) == 1;
cleanup:
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

static bool verify_signature(const gw_jwt_verifier_t *v, const char *data, size_t n,
                             const char *sig64, size_t siglen)
{
    unsigned char sig[64], mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (siglen != tm_b64url_len(v->alg == GW_JWT_ES256 ? 64 : 32))
        return false;
    long len = tm_b64url_decode(sig64, siglen, sig, sizeof(sig));
    if (v->alg == GW_JWT_ES256)
        return len == 64 && verify_es256(v->pkey, data, n, sig);
    if (len != 32 ||
        HMAC(EVP_sha256(), v->secret, (int)v->secret_len, (const unsigned char *)data, n, mac,
             &maclen) == NULL ||
        maclen != 32)
        return false;
    return CRYPTO_memcmp(mac, sig, 32) == 0;
}

static bool aud_matches(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *item;
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, item) if (json_is_string(item) &&
                                         strcmp(json_string_value(item), want) == 0) return true;
    return false;
}

static bool check_times(const gw_jwt_verifier_t *v, const json_t *p, int64_t now, int64_t *exp,
                        const char **why)
{
    const json_t *jexp = json_object_get(p, "exp"), *jnbf = json_object_get(p, "nbf");
    const json_t *jiat = json_object_get(p, "iat");
    if (!json_is_integer(jexp) || !json_is_integer(jiat))
        return *why = "exp and iat must be integers", false;
    *exp = json_integer_value(jexp);
    if (*exp <= now - v->leeway_s)
        return *why = "token expired", false;
    if (json_integer_value(jiat) > now + v->leeway_s)
        return *why = "iat in the future", false;
    if (jnbf != NULL && (!json_is_integer(jnbf) || json_integer_value(jnbf) > now + v->leeway_s))
        return *why = "token not yet valid", false;
    return true;
}

static bool copy_str(const json_t *p, const char *name, char *out, size_t cap)
{
    const char *s = json_string_value(json_object_get(p, name));
    if (s == NULL || strlen(s) >= cap)
        return false;
    memcpy(out, s, strlen(s) + 1);
    return true;
}

static bool check_claims(const gw_jwt_verifier_t *v, const json_t *p, int64_t now,
                         gw_jwt_claims_t *out, const char **why)
{
    const char *iss = json_string_value(json_object_get(p, "iss"));
    int role = gw_role_parse(json_string_value(json_object_get(p, "role")));
    if (!check_times(v, p, now, &out->exp, why))
        return false;
    if (iss == NULL || strcmp(iss, v->issuer) != 0)
        return *why = "wrong issuer", false;
    if (!aud_matches(json_object_get(p, "aud"), v->audience))
        return *why = "wrong audience", false;
    if (!copy_str(p, "sub", out->sub, sizeof(out->sub)) || !tm_is_uuid(out->sub) ||
        !copy_str(p, "sid", out->sid, sizeof(out->sid)) || !tm_is_uuid(out->sid))
        return *why = "sub and sid must be UUIDs", false;
    if (role < 0)
        return *why = "unknown role", false;
    out->role = (gw_role_t)role;
    if (!copy_str(p, "jti", out->jti, sizeof(out->jti)))
        return *why = "jti missing", false;
    return true;
}

int gw_jwt_verify(const gw_jwt_verifier_t *v, const char *token, size_t len, int64_t now_s,
                  gw_jwt_claims_t *out, const char **why)
{
    const char *dummy, *d1, *d2;
    json_t *hdr = NULL, *payload = NULL;
    int rc = TM_ERR_AUTH;
    why = why ? why : &dummy;
    *why = "malformed token";
    if (len == 0 || len > GW_JWT_MAX_TOKEN || memchr(token, '\0', len) != NULL)
        return TM_ERR_AUTH;
    d1 = memchr(token, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
        return TM_ERR_AUTH;
    if ((hdr = decode_segment(token, (size_t)(d1 - token))) == NULL || !check_header(v, hdr, why))
        goto cleanup;
    if (!verify_signature(v, token, (size_t)(d2 - token), d2 + 1, len - (size_t)(d2 + 1 - token))) {
        *why = "bad signature";
        goto cleanup;
    }
    *why = "malformed claims";
    if ((payload = decode_segment(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL)
        goto cleanup;
    memset(out, 0, sizeof(*out));
    if (check_claims(v, payload, now_s, out, why))
        rc = TM_OK;
cleanup:
    json_decref(hdr);
    json_decref(payload);
    return rc;
}

gw_jwt_cache_t *gw_jwt_cache_new(size_t cap)
{
    size_t n = 16;
    while (n < cap && n < ((size_t)1 << 24))
        n <<= 1;
    gw_jwt_cache_t *c = tm_xcalloc(1, sizeof(*c));
    c->entries = tm_xcalloc(n, sizeof(*c->entries));
    c->mask = n - 1;
    return c;
}

void gw_jwt_cache_free(gw_jwt_cache_t *c)
{
    if (c == NULL)
        return;
    free(c->entries);
    free(c);
}

size_t gw_jwt_cache_hits(const gw_jwt_cache_t *c)
{
    return c->hits;
}

int gw_jwt_cache_verify(gw_jwt_cache_t *c, const gw_jwt_verifier_t *v, const char *token,
                        size_t len, int64_t now_s, gw_jwt_claims_t *out, const char **why)
{
    unsigned char key[32];
    uint64_t slot;
    if (len == 0 || len > GW_JWT_MAX_TOKEN)
        return gw_jwt_verify(v, token, len, now_s, out, why);
    if (!EVP_Digest(token, len, key, NULL, EVP_sha256(), NULL))
        return TM_ERR_AUTH;
    memcpy(&slot, key, sizeof(slot));
    cache_entry_t *e = &c->entries[slot & c->mask];
    if (e->used && memcmp(e->key, key, sizeof(key)) == 0) {
        if (e->claims.exp > now_s - v->leeway_s) {
            c->hits++;
            *out = e->claims;
            return TM_OK;
        }
        e->used = false;
    }
    int rc = gw_jwt_verify(v, token, len, now_s, out, why);
    if (rc == TM_OK) {
        memcpy(e->key, key, sizeof(key));
        e->claims = *out;
        e->used = true;
    }
    return rc;
}

gw_jwt_deny_t *gw_jwt_deny_new(size_t cap)
{
    gw_jwt_deny_t *d = tm_xcalloc(1, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    d->cap = cap ? cap : 1;
    d->entries = tm_xcalloc(d->cap, sizeof(*d->entries));
    return d;
}

void gw_jwt_deny_free(gw_jwt_deny_t *d)
{
    if (d == NULL)
        return;
    pthread_mutex_destroy(&d->lock);
    free(d->entries);
    free(d);
}

/* Drop expired entries; lock held. */
static void deny_prune(gw_jwt_deny_t *d, int64_t now_s)
{
    size_t w = 0;
    for (size_t i = 0; i < d->count; i++)
        if (d->entries[i].exp >= now_s)
            d->entries[w++] = d->entries[i];
    d->count = w;
}

int gw_jwt_deny_add(gw_jwt_deny_t *d, const char *sid, int64_t exp_s, int64_t now_s)
{
    int rc = TM_OK;
    if (!tm_is_uuid(sid))
        return TM_ERR_INVALID;
    if (exp_s < now_s)
        return TM_OK; /* every token of that session has already expired */
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->count; i++) {
        if (strcmp(d->entries[i].sid, sid) == 0) {
            if (exp_s > d->entries[i].exp)
                d->entries[i].exp = exp_s;
            goto unlock;
        }
    }
    if (d->count == d->cap)
        deny_prune(d, now_s);
    if (d->count == d->cap) {
        rc = TM_ERR_LIMIT;
        goto unlock;
    }
    memcpy(d->entries[d->count].sid, sid, 37);
    d->entries[d->count].exp = exp_s;
    __atomic_store_n(&d->count, d->count + 1, __ATOMIC_RELEASE);
unlock:
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int gw_jwt_deny_add_json(gw_jwt_deny_t *d, const char *body, size_t len, int64_t now_s)
{
    json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    const char *sid = json_string_value(json_object_get(obj, "sid"));
    json_t *exp = json_object_get(obj, "exp");
    int rc = TM_ERR_INVALID;
    if (sid != NULL && json_is_integer(exp))
        rc = gw_jwt_deny_add(d, sid, json_integer_value(exp), now_s);
    json_decref(obj);
    return rc;
}

bool gw_jwt_deny_has(gw_jwt_deny_t *d, const char *sid, int64_t now_s)
{
    bool found = false;
    if (__atomic_load_n(&d->count, __ATOMIC_ACQUIRE) == 0)
        return false; /* the common case takes no lock */
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->count && !found; i++)
        found = d->entries[i].exp >= now_s && strcmp(d->entries[i].sid, sid) == 0;
    pthread_mutex_unlock(&d->lock);
    return found;
}
