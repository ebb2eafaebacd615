/* tm_config: TM_* environment variables -> a daemon's config struct. */
#include "tm_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "tm_log.h"
#include "tm_util.h"

int tm_config_parse_int(const char *s, int64_t *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return TM_ERR_INVALID;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return TM_ERR_INVALID;
    *out = (int64_t)v;
    return TM_OK;
}

int tm_config_parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; s && i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return TM_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return TM_OK;
        }
    }
    return TM_ERR_INVALID;
}

typedef struct {
    const char *suffix;
    int64_t mult;
} unit_t;

/* A non-negative decimal number followed by one of units[] (or nothing: bare_mult). */
static int parse_with_unit(const char *s, const unit_t *units, size_t nunits, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return TM_ERR_INVALID;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0)
        return TM_ERR_INVALID;
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(end, units[i].suffix) != 0)
            continue;
        int64_t r;
        if (__builtin_mul_overflow((int64_t)v, units[i].mult, &r))
            return TM_ERR_INVALID;
        *out = r;
        return TM_OK;
    }
    return TM_ERR_INVALID;
}

int tm_config_parse_duration_ms(const char *s, int64_t *out)
{
    static const unit_t units[] = {
        {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000},
    };
    return parse_with_unit(s, units, sizeof units / sizeof *units, out);
}

int tm_config_parse_bytes(const char *s, int64_t *out)
{
    static const unit_t units[] = {
        {"", 1},
        {"B", 1},
        {"KiB", 1LL << 10},
        {"MiB", 1LL << 20},
        {"GiB", 1LL << 30},
        {"K", 1LL << 10},
        {"M", 1LL << 20},
        {"G", 1LL << 30},
    };
    return parse_with_unit(s, units, sizeof units / sizeof *units, out);
}

/* Index of s in a '|'-separated choices list, or -1. */
static int enum_index(const char *choices, const char *s)
{
    size_t n = strlen(s);
    int idx = 0;
    for (const char *p = choices; p && *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return idx;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* The idx-th choice into buf (for logging the effective value). */
static const char *enum_name(const char *choices, int idx, char *buf, size_t cap)
{
    const char *p = choices ? choices : "";
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        p = p ? p + 1 : NULL;
    }
    if (!p)
        p = "";
    size_t len = strcspn(p, "|");
    snprintf(buf, cap, "%.*s", (int)len, p);
    return buf;
}

static int fail(const tm_config_var_t *v, const char *raw, char *err, size_t errlen,
                const char *why)
{
    if (v->secret || !raw)
        snprintf(err, errlen, "%s: %s", v->name, why);
    else
        snprintf(err, errlen, "%s: %s (got '%.64s%s')", v->name, why, raw,
                 strlen(raw) > 64 ? "..." : "");
    return TM_ERR_INVALID;
}

static bool has_bounds(const tm_config_var_t *v)
{
    return v->min != 0 || v->max != 0;
}

static int check_bounds(const tm_config_var_t *v, int64_t x, int64_t min, int64_t max,
                        const char *raw, char *err, size_t errlen)
{
    if (x >= min && x <= max)
        return TM_OK;
    char why[96];
    snprintf(why, sizeof why, "must be between %" PRId64 " and %" PRId64, min, max);
    return fail(v, raw, err, errlen, why);
}

/* Parses an INT/PORT/DURATION/BYTES value and checks its bounds. */
static int load_number(const tm_config_var_t *v, const char *raw, char *err, size_t errlen)
{
    int64_t x = 0;
    int rc;
    const char *what;
    switch (v->type) {
    case TM_CFG_DURATION_MS:
        rc = tm_config_parse_duration_ms(raw, &x);
        what = "not a duration (e.g. 250ms, 5s, 2m, 1h)";
        break;
    case TM_CFG_BYTES:
        rc = tm_config_parse_bytes(raw, &x);
        what = "not a size (e.g. 512B, 64KiB, 5MiB, 1GiB)";
        break;
    default:
        rc = tm_config_parse_int(raw, &x);
        what = "not an integer";
        break;
    }
    if (rc != TM_OK)
        return fail(v, raw, err, errlen, what);
    if (v->type == TM_CFG_PORT)
        rc = check_bounds(v, x, 1, 65535, raw, err, errlen);
    else if (has_bounds(v))
        rc = check_bounds(v, x, v->min, v->max, raw, err, errlen);
    if (rc == TM_OK)
        *(int64_t *)v->target = x;
    return rc;
}

static int load_enum(const tm_config_var_t *v, const char *raw, char *err, size_t errlen)
{
    int idx = enum_index(v->choices, raw);
    if (idx < 0) {
        char why[160] = "must be one of: ";
        size_t o = strlen(why);
        for (const char *p = v->choices ? v->choices : ""; *p && o + 3 < sizeof why; p++) {
            if (*p == '|') {
                why[o++] = ',';
                why[o++] = ' ';
            } else {
                why[o++] = *p;
            }
        }
        why[o] = '\0';
        return fail(v, raw, err, errlen, why);
    }
    *(int *)v->target = idx;
    return TM_OK;
}

/* Value absent and no default: strings become "", numbers 0, enums the first choice. */
static void load_zero(const tm_config_var_t *v)
{
    switch (v->type) {
    case TM_CFG_STRING:
        *(char **)v->target = tm_xstrdup("");
        break;
    case TM_CFG_BOOL:
        *(bool *)v->target = false;
        break;
    case TM_CFG_ENUM:
        *(int *)v->target = 0;
        break;
    default:
        *(int64_t *)v->target = 0;
        break;
    }
}

static int load_one(const tm_config_var_t *v, char *err, size_t errlen)
{
    const char *raw = getenv(v->name);
    if (!raw || !*raw) {
        if (v->required)
            return fail(v, NULL, err, errlen, "required but not set");
        raw = v->defval;
    }
    if (!raw) {
        load_zero(v);
        return TM_OK;
    }
    switch (v->type) {
    case TM_CFG_STRING:
        *(char **)v->target = tm_xstrdup(raw);
        return TM_OK;
    case TM_CFG_BOOL:
        if (tm_config_parse_bool(raw, (bool *)v->target) != TM_OK)
            return fail(v, raw, err, errlen, "not a boolean (true/false/1/0/yes/no/on/off)");
        return TM_OK;
    case TM_CFG_ENUM:
        return load_enum(v, raw, err, errlen);
    default:
        return load_number(v, raw, err, errlen);
    }
}

int tm_config_load(const tm_config_var_t *vars, size_t n, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type == TM_CFG_STRING)
            *(char **)vars[i].target = NULL;
        int rc = load_one(&vars[i], err, errlen);
        if (rc != TM_OK) {
            tm_config_free(vars, i);
            return rc;
        }
    }
    return TM_OK;
}

void tm_config_free(const tm_config_var_t *vars, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (vars[i].type != TM_CFG_STRING)
            continue;
        free(*(char **)vars[i].target);
        *(char **)vars[i].target = NULL;
    }
}

static json_t *effective_value(const tm_config_var_t *v)
{
    char buf[128];
    switch (v->type) {
    case TM_CFG_STRING: {
        const char *s = *(char **)v->target;
        if (v->secret)
            return json_string(s && *s ? "***" : "");
        return json_string(s ? s : "");
    }
    case TM_CFG_BOOL:
        return v->secret ? json_string("***") : json_boolean(*(bool *)v->target);
    case TM_CFG_ENUM:
        if (v->secret)
            return json_string("***");
        return json_string(enum_name(v->choices, *(int *)v->target, buf, sizeof buf));
    default:
        return v->secret ? json_string("***") : json_integer(*(int64_t *)v->target);
    }
}

void tm_config_log(const tm_config_var_t *vars, size_t n)
{
    if (!tm_log_enabled(TM_LOG_INFO))
        return;
    json_t *obj = json_object();
    if (!obj)
        return;
    for (size_t i = 0; i < n; i++) {
        json_t *val = effective_value(&vars[i]);
        if (val)
            json_object_set_new(obj, vars[i].name, val);
    }
    char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text)
        tm_log_json(TM_LOG_INFO, NULL, "effective configuration", "config", text);
    free(text);
    json_decref(obj);
}

static const char *type_name(tm_config_type_t t)
{
    switch (t) {
    case TM_CFG_STRING:
        return "string";
    case TM_CFG_INT:
        return "int";
    case TM_CFG_BOOL:
        return "bool";
    case TM_CFG_ENUM:
        return "enum";
    case TM_CFG_PORT:
        return "port";
    case TM_CFG_DURATION_MS:
        return "duration";
    case TM_CFG_BYTES:
        return "bytes";
    }
    return "?";
}

void tm_config_print_help(const tm_config_var_t *vars, size_t n)
{
    printf("Environment variables:\n");
    for (size_t i = 0; i < n; i++) {
        const tm_config_var_t *v = &vars[i];
        printf("  %-28s %-8s", v->name, type_name(v->type));
        if (v->required)
            printf(" (required)");
        else if (v->defval && *v->defval)
            printf(" [default %s]", v->secret ? "***" : v->defval);
        if (v->type == TM_CFG_ENUM && v->choices)
            printf(" {%s}", v->choices);
        printf("\n      %s\n", v->help ? v->help : "");
    }
}
