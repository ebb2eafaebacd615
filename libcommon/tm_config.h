/* tm_config: one table of TM_* environment variables per daemon, validated at start.
 *
 * Each daemon declares a static table of tm_config_var_t pointing into its own config
 * struct; tm_config_load() fills the struct from the environment (or the defaults), and
 * returns an error with a message naming the variable on the first bad or missing value.
 * Values are rejected, never clamped. After load the struct is read-only (any thread). */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tm_error.h"

typedef enum {
    TM_CFG_STRING, /* char ** (heap copy, owned by the config; freed by tm_config_free) */
    TM_CFG_INT,    /* int64_t *, bounds [min, max] */
    TM_CFG_BOOL,   /* bool *: true/false/1/0/yes/no/on/off */
    TM_CFG_ENUM,   /* int *: index into choices (a '|'-separated list, e.g. "none|openai|azure") */
    TM_CFG_PORT,   /* int64_t *, 1..65535 */
    TM_CFG_DURATION_MS, /* int64_t * in ms: "250ms", "5s", "2m", "1h" or a bare number of ms */
    TM_CFG_BYTES,       /* int64_t *: "64KiB", "5MiB", "1GiB", or a bare number of bytes */
} tm_config_type_t;

typedef struct {
    const char *name; /* "TM_HTTP_PORT" */
    tm_config_type_t type;
    void *target;        /* where the parsed value goes; type per tm_config_type_t */
    const char *defval;  /* default as text; NULL with required=false -> empty/zero */
    int64_t min, max;    /* bounds for INT/DURATION/BYTES (ignored when min == max == 0) */
    bool required;       /* missing (unset or empty) is an error */
    bool secret;         /* masked as "***" in tm_config_log */
    const char *choices; /* for TM_CFG_ENUM */
    const char *help;    /* one line for the README and --help */
} tm_config_var_t;

/* Fill each target from getenv(name) or defval. On error returns TM_ERR_INVALID and writes
 * "TM_X: why (got 'value')" into err (secret values are not echoed). */
int tm_config_load(const tm_config_var_t *vars, size_t n, char *err, size_t errlen) TM_WUR;
/* Log the effective configuration as one info line, secrets masked. */
void tm_config_log(const tm_config_var_t *vars, size_t n);
/* Free the strings tm_config_load allocated. */
void tm_config_free(const tm_config_var_t *vars, size_t n);
/* Print name, type, default and help of every variable (for --help). */
void tm_config_print_help(const tm_config_var_t *vars, size_t n);

/* Standalone parsers, exposed for tests and reuse: 0 or TM_ERR_INVALID. */
int tm_config_parse_int(const char *s, int64_t *out) TM_WUR;
int tm_config_parse_bool(const char *s, bool *out) TM_WUR;
int tm_config_parse_duration_ms(const char *s, int64_t *out) TM_WUR;
int tm_config_parse_bytes(const char *s, int64_t *out) TM_WUR;

#endif
