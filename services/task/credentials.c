/* credentials: pure helpers for emails, refresh tokens and global roles. */
#include "credentials.h"

#include <ctype.h>
#include <string.h>
#include "tm_util.h"

static bool email_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '@' && c != '"' && c != '(' && c != ')' && c != ',' &&
           c != ':' && c != ';' && c != '<' && c != '>' && c != '[' && c != ']' && c != '\\';
}

/* local@domain with a dot in the domain, labels non-empty, no odd characters. */
static bool email_shape_ok(const char *s, size_t n)
{
    const char *at = memchr(s, '@', n);
    if (!at || at == s || (size_t)(at - s) > 64)
        return false;
    const char *dom = at + 1;
    size_t dn = n - (size_t)(dom - s);
    if (dn < 3 || dom[0] == '.' || dom[dn - 1] == '.' || !memchr(dom, '.', dn))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s + i == at)
            continue;
        if (!email_char_ok((unsigned char)s[i]))
            return false;
        if (s + i > at && s[i] == '.' && s[i + 1] == '.')
            return false;
    }
    return true;
}

int cred_email_normalize(const char *in, char *out, size_t cap)
{
    if (!in)
        return TM_ERR_INVALID;
    while (*in && isspace((unsigned char)*in))
        in++;
    size_t n = strlen(in);
    while (n > 0 && isspace((unsigned char)in[n - 1]))
        n--;
    if (n == 0 || n > CRED_EMAIL_MAX || n + 1 > cap)
        return TM_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
    return email_shape_ok(out, n) ? TM_OK : TM_ERR_INVALID;
}

void cred_refresh_new(char tok[CRED_REFRESH_CHARS + 1], char hash_hex[65])
{
    unsigned char raw[32];
    tm_random_bytes(raw, sizeof raw);
    tm_b64url_encode(raw, sizeof raw, tok);
    tm_sha256_hex(tok, CRED_REFRESH_CHARS, hash_hex);
    memset(raw, 0, sizeof raw);
}

bool cred_refresh_hash(const char *tok, char hash_hex[65])
{
    if (!tok || strlen(tok) != CRED_REFRESH_CHARS)
        return false;
    for (size_t i = 0; i < CRED_REFRESH_CHARS; i++) {
        unsigned char c = (unsigned char)tok[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
    }
    tm_sha256_hex(tok, CRED_REFRESH_CHARS, hash_hex);
    return true;
}

int cred_role_rank(const char *role)
{
    if (!role)
        return 0;
    if (strcmp(role, "user") == 0)
        return 1;
    if (strcmp(role, "moderator") == 0)
        return 2;
    if (strcmp(role, "admin") == 0)
        return 3;
    return 0;
}
