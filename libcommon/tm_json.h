/* tm_json: strict decoding on jansson, the same for every decoder in every service.
 *
 * tm_json_parse() refuses bodies over limits->max_bytes, nesting deeper than
 * limits->max_depth (32 by default), duplicate keys, and non-object roots.
 * tm_json_check() validates an object against a field table: unknown fields are errors
 * (no mass assignment), required fields must be present, types and ranges are checked,
 * and every problem is collected (not just the first) so a reply can name each field. */
#ifndef TM_JSON_H
#define TM_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

#define TM_JSON_MAX_DEPTH  32
#define TM_JSON_MAX_ERRORS 16

typedef struct {
    size_t max_bytes;  /* 0 -> 64 KiB */
    int max_depth;     /* 0 -> TM_JSON_MAX_DEPTH */
    size_t max_string; /* longest string in bytes anywhere in the document; 0 -> 1 MiB */
} tm_json_limits_t;

typedef struct {
    char field[64];   /* JSON pointer-ish name: "title", "labels[3]", "" for the body */
    char reason[128]; /* "must be at most 500 characters" */
} tm_json_error_t;

typedef struct {
    int count; /* may exceed TM_JSON_MAX_ERRORS; only the first are stored */
    tm_json_error_t e[TM_JSON_MAX_ERRORS];
} tm_json_errors_t;

typedef enum {
    TM_JF_STRING, /* min/max: length in characters (UTF-8 code points) */
    TM_JF_INT,    /* min/max: value range; floats and strings rejected */
    TM_JF_BOOL,
    TM_JF_NUMBER,       /* int or real; min/max as range */
    TM_JF_TIME,         /* RFC 3339 string */
    TM_JF_UUID,         /* canonical UUID string */
    TM_JF_STRING_ARRAY, /* min/max: element length in chars; max_items: array length */
    TM_JF_ARRAY,        /* any array; max_items */
    TM_JF_OBJECT,       /* any object (checked by the caller) */
    TM_JF_ANY,
} tm_json_kind_t;

typedef struct {
    const char *name;
    tm_json_kind_t kind;
    bool required;
    bool nullable;       /* JSON null accepted (means "clear" on updates) */
    int64_t min, max;    /* see kinds; min == max == 0 means unbounded */
    size_t max_items;    /* arrays; 0 -> unbounded */
    const char *choices; /* strings: '|'-separated allowed values, or NULL */
} tm_json_field_t;

void tm_json_errors_add(tm_json_errors_t *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse buf[len] into a new object (*out, caller owns: json_decref). NULL limits -> defaults.
 * On failure returns TM_ERR_INVALID or TM_ERR_LIMIT and adds one error to errs. */
int tm_json_parse(const char *buf, size_t len, const tm_json_limits_t *limits, json_t **out,
                  tm_json_errors_t *errs) TM_WUR;
/* Check obj against fields[n]; 0 if clean, else TM_ERR_INVALID with errs filled. */
int tm_json_check(const json_t *obj, const tm_json_field_t *fields, size_t n,
                  tm_json_errors_t *errs) TM_WUR;
/* Depth of a value (scalar 0, {} or [] 1, ...). */
int tm_json_depth(const json_t *v);
/* Number of UTF-8 code points in s (s is valid UTF-8, as jansson guarantees). */
size_t tm_json_utf8_len(const char *s);

/* Typed getters for already-checked objects. Absent or null -> def / NULL / false. */
const char *tm_json_str(const json_t *obj, const char *name, const char *def);
int64_t tm_json_int(const json_t *obj, const char *name, int64_t def);
bool tm_json_bool(const json_t *obj, const char *name, bool def);
bool tm_json_has(const json_t *obj, const char *name);     /* present, even if null */
bool tm_json_is_null(const json_t *obj, const char *name); /* present and null */

/* Serialise compactly into a heap string (caller frees); aborts on OOM. */
char *tm_json_dumps(const json_t *v, size_t *len);

#endif
