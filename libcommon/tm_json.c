/* tm_json: strict parsing and field-table validation on top of jansson. */
#include "tm_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define DEFAULT_MAX_BYTES  (64 * 1024)
#define DEFAULT_MAX_STRING (1024 * 1024)

void tm_json_errors_add(tm_json_errors_t *errs, const char *field, const char *fmt, ...)
{
    if (!errs)
        return;
    if (errs->count >= 0 && errs->count < TM_JSON_MAX_ERRORS) {
        tm_json_error_t *e = &errs->e[errs->count];
        snprintf(e->field, sizeof e->field, "%s", field ? field : "");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->reason, sizeof e->reason, fmt, ap);
        va_end(ap);
    }
    if (errs->count < INT32_MAX)
        errs->count++;
}

typedef enum { WALK_OK, WALK_TOO_DEEP, WALK_STRING_TOO_LONG } walk_rc_t;

/* One pass over the tree: nesting depth (stops descending past max_depth, so recursion is
 * bounded) and the longest string or key. */
static walk_rc_t walk(const json_t *v, int depth, int max_depth, size_t max_string)
{
    if (json_is_string(v))
        return json_string_length(v) > max_string ? WALK_STRING_TOO_LONG : WALK_OK;
    if (!json_is_object(v) && !json_is_array(v))
        return WALK_OK;
    if (depth + 1 > max_depth)
        return WALK_TOO_DEEP;
    walk_rc_t rc = WALK_OK;
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if ((rc = walk(item, depth + 1, max_depth, max_string)) != WALK_OK)
                return rc;
        }
        return WALK_OK;
    }
    const char *key;
    json_t *item;
    json_object_foreach((json_t *)v, key, item)
    {
        if (strlen(key) > max_string)
            return WALK_STRING_TOO_LONG;
        if ((rc = walk(item, depth + 1, max_depth, max_string)) != WALK_OK)
            return rc;
    }
    return WALK_OK;
}

int tm_json_parse(const char *buf, size_t len, const tm_json_limits_t *limits, json_t **out,
                  tm_json_errors_t *errs)
{
    size_t max_bytes = limits && limits->max_bytes ? limits->max_bytes : DEFAULT_MAX_BYTES;
    int max_depth = limits && limits->max_depth > 0 ? limits->max_depth : TM_JSON_MAX_DEPTH;
    size_t max_string = limits && limits->max_string ? limits->max_string : DEFAULT_MAX_STRING;
    *out = NULL;
    if (len > max_bytes) {
        tm_json_errors_add(errs, "", "body must be at most %zu bytes", max_bytes);
        return TM_ERR_LIMIT;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        tm_json_errors_add(errs, "", "invalid JSON: %.80s (line %d, column %d)", jerr.text,
                           jerr.line, jerr.column);
        return TM_ERR_INVALID;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        tm_json_errors_add(errs, "", "body must be a JSON object");
        return TM_ERR_INVALID;
    }
    walk_rc_t w = walk(root, 0, max_depth, max_string);
    if (w != WALK_OK) {
        json_decref(root);
        if (w == WALK_TOO_DEEP)
            tm_json_errors_add(errs, "", "nesting must be at most %d levels deep", max_depth);
        else
            tm_json_errors_add(errs, "", "strings must be at most %zu bytes", max_string);
        return TM_ERR_LIMIT;
    }
    *out = root;
    return TM_OK;
}

int tm_json_depth(const json_t *v)
{
    int max = 0;
    size_t i;
    const char *key;
    json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            int d = tm_json_depth(item);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, item)
        {
            int d = tm_json_depth(item);
            max = d > max ? d : max;
        }
        return max + 1;
    }
    return 0;
}

size_t tm_json_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static const tm_json_field_t *find_field(const tm_json_field_t *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static bool in_choices(const char *choices, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, s, n) == 0)
            return true;
        p += len;
        if (*p == '|')
            p++;
    }
    return false;
}

/* "a|b|c" -> "a, b, c" into buf. */
static const char *choices_list(const char *choices, char *buf, size_t cap)
{
    size_t o = 0;
    for (const char *p = choices; *p && o + 3 < cap; p++) {
        if (*p == '|') {
            buf[o++] = ',';
            buf[o++] = ' ';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* A string value against the length bounds (code points) and choices of f. */
static void check_string(const json_t *v, const tm_json_field_t *f, const char *name,
                         tm_json_errors_t *errs)
{
    if (!json_is_string(v)) {
        tm_json_errors_add(errs, name, "must be a string");
        return;
    }
    const char *s = json_string_value(v);
    size_t len = tm_json_utf8_len(s);
    if (f->min > 0 && len < (uint64_t)f->min)
        tm_json_errors_add(errs, name, "must be at least %lld characters", (long long)f->min);
    else if (f->max > 0 && len > (uint64_t)f->max)
        tm_json_errors_add(errs, name, "must be at most %lld characters", (long long)f->max);
    else if (f->choices && !in_choices(f->choices, s)) {
        char buf[100];
        tm_json_errors_add(errs, name, "must be one of: %s",
                           choices_list(f->choices, buf, sizeof buf));
    }
}

static bool has_range(const tm_json_field_t *f)
{
    return f->min != 0 || f->max != 0;
}

static void check_int(const json_t *v, const tm_json_field_t *f, tm_json_errors_t *errs)
{
    if (!json_is_integer(v)) {
        tm_json_errors_add(errs, f->name, "must be an integer");
        return;
    }
    json_int_t x = json_integer_value(v);
    if (has_range(f) && (x < f->min || x > f->max))
        tm_json_errors_add(errs, f->name, "must be between %lld and %lld", (long long)f->min,
                           (long long)f->max);
}

static void check_number(const json_t *v, const tm_json_field_t *f, tm_json_errors_t *errs)
{
    if (!json_is_number(v)) {
        tm_json_errors_add(errs, f->name, "must be a number");
        return;
    }
    double x = json_number_value(v);
    if (has_range(f) && (x < (double)f->min || x > (double)f->max))
        tm_json_errors_add(errs, f->name, "must be between %lld and %lld", (long long)f->min,
                           (long long)f->max);
}

static bool check_array_shape(const json_t *v, const tm_json_field_t *f, tm_json_errors_t *errs)
{
    if (!json_is_array(v)) {
        tm_json_errors_add(errs, f->name, "must be an array");
        return false;
    }
    if (f->max_items > 0 && json_array_size(v) > f->max_items) {
        tm_json_errors_add(errs, f->name, "must have at most %zu items", f->max_items);
        return false;
    }
    return true;
}

static void check_string_array(const json_t *v, const tm_json_field_t *f, tm_json_errors_t *errs)
{
    if (!check_array_shape(v, f, errs))
        return;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        char name[64];
        snprintf(name, sizeof name, "%.40s[%zu]", f->name, i);
        check_string(item, f, name, errs);
    }
}

static void check_value(const json_t *v, const tm_json_field_t *f, tm_json_errors_t *errs)
{
    int64_t ms;
    switch (f->kind) {
    case TM_JF_STRING:
        check_string(v, f, f->name, errs);
        break;
    case TM_JF_INT:
        check_int(v, f, errs);
        break;
    case TM_JF_NUMBER:
        check_number(v, f, errs);
        break;
    case TM_JF_BOOL:
        if (!json_is_boolean(v))
            tm_json_errors_add(errs, f->name, "must be a boolean");
        break;
    case TM_JF_TIME:
        if (!json_is_string(v) || tm_parse_rfc3339(json_string_value(v), &ms) != TM_OK)
            tm_json_errors_add(errs, f->name, "must be an RFC 3339 timestamp");
        break;
    case TM_JF_UUID:
        if (!json_is_string(v) || !tm_is_uuid(json_string_value(v)))
            tm_json_errors_add(errs, f->name, "must be a UUID");
        break;
    case TM_JF_STRING_ARRAY:
        check_string_array(v, f, errs);
        break;
    case TM_JF_ARRAY:
        check_array_shape(v, f, errs);
        break;
    case TM_JF_OBJECT:
        if (!json_is_object(v))
            tm_json_errors_add(errs, f->name, "must be an object");
        break;
    case TM_JF_ANY:
        break;
    }
}

int tm_json_check(const json_t *obj, const tm_json_field_t *fields, size_t n,
                  tm_json_errors_t *errs)
{
    int before = errs->count;
    if (!json_is_object(obj)) {
        tm_json_errors_add(errs, "", "body must be a JSON object");
        return TM_ERR_INVALID;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!find_field(fields, n, key))
            tm_json_errors_add(errs, key, "unknown field");
    }
    for (size_t i = 0; i < n; i++) {
        const tm_json_field_t *f = &fields[i];
        v = json_object_get(obj, f->name);
        if (!v) {
            if (f->required)
                tm_json_errors_add(errs, f->name, "is required");
        } else if (json_is_null(v)) {
            if (!f->nullable)
                tm_json_errors_add(errs, f->name, "must not be null");
        } else {
            check_value(v, f, errs);
        }
    }
    return errs->count == before ? TM_OK : TM_ERR_INVALID;
}

const char *tm_json_str(const json_t *obj, const char *name, const char *def)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? json_string_value(v) : def;
}

int64_t tm_json_int(const json_t *obj, const char *name, int64_t def)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

bool tm_json_bool(const json_t *obj, const char *name, bool def)
{
    const json_t *v = json_object_get(obj, name);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

bool tm_json_has(const json_t *obj, const char *name)
{
    return json_object_get(obj, name) != NULL;
}

bool tm_json_is_null(const json_t *obj, const char *name)
{
    return json_is_null(json_object_get(obj, name));
}

char *tm_json_dumps(const json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        fprintf(stderr, "taskmesh: json_dumps failed (out of memory), aborting\n");
        abort();
    }
    if (len)
        *len = strlen(s);
    return s;
}
