/* Fuzz target: tm_json_parse + tm_json_check with a task-like field table.
 * Checks: accepted documents are objects within the depth limit; check results are
 * consistent (OK <=> no errors); a re-serialised document parses back equal. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include "tm_json.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static const tm_json_field_t task_fields[] = {
    {"workspace_id", TM_JF_UUID, true, false, 0, 0, 0, NULL},
    {"title", TM_JF_STRING, true, false, 1, 500, 0, NULL},
    {"description", TM_JF_STRING, false, true, 0, 20000, 0, NULL},
    {"priority", TM_JF_INT, false, false, 1, 4, 0, NULL},
    {"status", TM_JF_STRING, false, false, 0, 0, 0, "todo|in_progress|done|archived"},
    {"labels", TM_JF_STRING_ARRAY, false, false, 1, 50, 20, NULL},
    {"assignee_id", TM_JF_UUID, false, true, 0, 0, 0, NULL},
    {"due_at", TM_JF_TIME, false, true, 0, 0, 0, NULL},
    {"estimate_minutes", TM_JF_INT, false, true, 0, 100000, 0, NULL},
    {"done", TM_JF_BOOL, false, false, 0, 0, 0, NULL},
    {"score", TM_JF_NUMBER, false, false, -100, 100, 0, NULL},
    {"meta", TM_JF_OBJECT, false, true, 0, 0, 0, NULL},
    {"links", TM_JF_ARRAY, false, false, 0, 0, 5, NULL},
    {"extra", TM_JF_ANY, false, true, 0, 0, 0, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const tm_json_limits_t limits = {.max_bytes = 16384, .max_depth = 8, .max_string = 4096};
    tm_json_errors_t errs = {0};
    json_t *obj = NULL;
    int rc = tm_json_parse((const char *)data, size, &limits, &obj, &errs);
    if (rc != TM_OK) {
        CHECK(obj == NULL && errs.count >= 1);
        return 0;
    }
    CHECK(json_is_object(obj) && tm_json_depth(obj) <= 8);
    tm_json_errors_t cerrs = {0};
    rc = tm_json_check(obj, task_fields, sizeof task_fields / sizeof task_fields[0], &cerrs);
    CHECK((rc == TM_OK) == (cerrs.count == 0));
    if (rc == TM_OK) {
        CHECK(tm_json_str(obj, "title", NULL) != NULL);
        int64_t p = tm_json_int(obj, "priority", 1);
        CHECK(p >= 1 && p <= 4);
    }
    size_t len = 0;
    char *s = tm_json_dumps(obj, &len);
    json_t *back = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(back != NULL && json_equal(back, obj));
    json_decref(back);
    free(s);
    json_decref(obj);
    return 0;
}
