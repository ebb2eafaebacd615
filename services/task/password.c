/* password: argon2id via libargon2 and a small deny list of common passwords. */
#include "password.h"

#include <argon2.h>
#include <string.h>
#include <strings.h>
#include "tm_util.h"

#define SALT_LEN 16
#define HASH_LEN 32

/* The most common passwords of at least PASSWORD_MIN_CHARS characters (public breach
 * lists); shorter ones are already refused by the length rule. Compared case-insensitively. */
static const char *const common[] = {
    "1234567890",      "12345678910",      "123456789a",   "1234567890a",  "0123456789",
    "0987654321",      "1111111111",       "0000000000",   "1234512345",   "1122334455",
    "1q2w3e4r5t",      "1q2w3e4r5t6y",     "q1w2e3r4t5",   "qwertyuiop",   "qwertyuiop1",
    "qwerty1234",      "qwerty12345",      "qwerty123456", "1qaz2wsx3edc", "zaq12wsxcde3",
    "asdfghjkl1",      "asdfghjkl;",       "zxcvbnm123",   "password12",   "password123",
    "password1234",    "password!!",       "password01",   "passw0rd12",   "p@ssw0rd12",
    "p@ssword123",     "password12345",    "iloveyou12",   "iloveyou123",  "iloveyou1234",
    "letmein123",      "letmein1234",      "welcome123",   "welcome1234",  "welcome2024",
    "welcome2025",     "welcome2026",      "changeme123",  "changeme1234", "trustno1234",
    "football123",     "baseball123",      "basketball",   "basketball1",  "superman123",
    "batman1234",      "princess12",       "princess123",  "sunshine123",  "starwars123",
    "dragon1234",      "monkey1234",       "master1234",   "shadow1234",   "michael123",
    "jennifer12",      "jordan2323",       "liverpool1",   "chelsea123",   "arsenal123",
    "manchester",      "manchester1",      "computer12",   "computer123",  "internet12",
    "administrator",   "admin12345",       "admin123456",  "adminadmin",   "rootroot12",
    "testtest12",      "test123456",       "qazwsxedc1",   "qazwsxedcrfv", "1qazxsw23edc",
    "abcdefghij",      "abcdefg123",       "abc1234567",   "abcd123456",   "aaaaaaaaaa",
    "a1b2c3d4e5",      "secret1234",       "mypassword",   "mypassword1",  "yourpassword",
    "thisisapassword", "passwordpassword", "taskmesh123",  "taskmesh1234", "summer2024",
    "summer2025",      "winter2024",       "winter2025",   "spring2025",   "autumn2025",
    "11223344556",     "9876543210",       "7777777777",   "5555555555",   "1234567891",
};

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

const char *password_policy_check(const char *pw)
{
    if (!pw)
        return "is required";
    if (strlen(pw) > PASSWORD_MAX_BYTES)
        return "must be at most 256 bytes";
    if (utf8_chars(pw) < PASSWORD_MIN_CHARS)
        return "must be at least 10 characters";
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        if (strcasecmp(pw, common[i]) == 0)
            return "is too common";
    return NULL;
}

int password_hash(const password_params_t *p, const char *pw, char *out, size_t cap)
{
    unsigned char salt[SALT_LEN];
    tm_random_bytes(salt, sizeof salt);
    size_t need = argon2_encodedlen(p->t_cost, p->m_kib, p->lanes, SALT_LEN, HASH_LEN, Argon2_id);
    if (need > cap)
        return TM_ERR_LIMIT;
    int rc = argon2id_hash_encoded(p->t_cost, p->m_kib, p->lanes, pw, strlen(pw), salt, SALT_LEN,
                                   HASH_LEN, out, cap);
    return rc == ARGON2_OK ? TM_OK : TM_ERR_INTERNAL;
}

bool password_verify(const char *encoded, const char *pw)
{
    if (!encoded || !pw || strncmp(encoded, "$argon2id$", 10) != 0)
        return false;
    return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}
