/* Fuzz target: the quick-add parser (services/ai/parse.c). The first input byte picks a
 * time zone and a "now"; the rest is the sentence.
 * Checks: errors are only TM_ERR_INVALID / TM_ERR_LIMIT; a parse result has a priority in
 * 0..4, at most AI_PARSE_MAX_LABELS labels, estimate in 0..AI_PARSE_MAX_ESTIMATE, spans
 * ordered, non-empty and within the input's code points, a NUL-terminated title; and
 * ai_parse_to_json gives an object that serialises. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "parse.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static const char *const ZONES[] = {"UTC",
                                    "Europe/Berlin",
                                    "America/New_York",
                                    "Asia/Kolkata",
                                    "Australia/Lord_Howe",
                                    "Pacific/Kiritimati",
                                    "America/St_Johns",
                                    "Nowhere/Invalid"};
static const int64_t NOWS[] = {1767225600000LL, 1774746000000LL /* around a DST change */,
                               951782400000LL /* 2000-02-29 */, 4102444799000LL};

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint8_t sel = data[0];
    char *text = malloc(size);
    CHECK(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    ai_parse_result_t *r = malloc(sizeof *r);
    CHECK(r != NULL);
    int rc = ai_parse(text, ZONES[sel & 7], NOWS[(sel >> 3) & 3], r);
    if (rc != TM_OK) {
        CHECK(rc == TM_ERR_INVALID || rc == TM_ERR_LIMIT);
        goto done;
    }
    size_t cps = code_points(text);
    CHECK(cps <= AI_PARSE_MAX_CHARS);
    CHECK(r->priority >= 0 && r->priority <= 4);
    CHECK(r->n_labels <= AI_PARSE_MAX_LABELS && r->n_spans <= AI_PARSE_MAX_SPANS);
    CHECK(r->estimate_minutes >= 0 && r->estimate_minutes <= AI_PARSE_MAX_ESTIMATE);
    CHECK(memchr(r->title, '\0', sizeof r->title) != NULL);
    CHECK(memchr(r->recurrence, '\0', sizeof r->recurrence) != NULL);
    for (size_t i = 0; i < r->n_spans; i++) {
        CHECK(r->spans[i].start < r->spans[i].end && r->spans[i].end <= cps);
        CHECK(r->spans[i].field != NULL);
        if (i > 0)
            CHECK(r->spans[i - 1].start <= r->spans[i].start);
    }
    json_t *j = ai_parse_to_json(r);
    CHECK(json_is_object(j));
    char *s = json_dumps(j, 0);
    CHECK(s != NULL);
    free(s);
    json_decref(j);
done:
    free(r);
    free(text);
    return 0;
}
