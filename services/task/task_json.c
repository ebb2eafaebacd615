/* task_json: task body validation and row decoding (see task_json.h). */
#include "task_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tm_util.h"

#define STATUS_CHOICES "todo|in_progress|done|archived"

/* Server-owned fields: listed in the tables as TM_JF_ANY so that they are not reported as
 * unknown, then refused with their own reason. */
#define RO(n)                                                                                      \
    {                                                                                              \
        .name = n, .kind = TM_JF_ANY, .nullable = true                                             \
    }
#define WRITABLE(title_required)                                                                   \
    {.name = "title", .kind = TM_JF_STRING, .required = title_required, .min = 1, .max = 500},     \
        {.name = "description", .kind = TM_JF_STRING, .nullable = true, .max = 20000},             \
        {.name = "status", .kind = TM_JF_STRING, .choices = STATUS_CHOICES},                       \
        {.name = "priority", .kind = TM_JF_INT, .min = 1, .max = 4},                               \
        {.name = "labels", .kind = TM_JF_STRING_ARRAY, .min = 1, .max = 50, .max_items = 20},      \
        {.name = "assignee_id", .kind = TM_JF_UUID, .nullable = true},                             \
        {.name = "due_at", .kind = TM_JF_TIME, .nullable = true},                                  \
        {.name = "estimate_minutes",                                                               \
         .kind = TM_JF_INT,                                                                        \
         .nullable = true,                                                                         \
         .min = 0,                                                                                 \
         .max = 100000},                                                                           \
        RO("id"), RO("created_by"), RO("version"), RO("completed_at"), RO("created_at"),           \
        RO("updated_at"), RO("time_spent_minutes")

static const tm_json_field_t create_fields[] = {
    {.name = "workspace_id", .kind = TM_JF_UUID, .required = true},
    WRITABLE(true),
};
static const tm_json_field_t update_fields[] = {RO("workspace_id"), WRITABLE(false)};
static const tm_json_field_t replace_fields[] = {RO("workspace_id"), WRITABLE(true)};

static const char *const writable_names[TASK_NFIELDS] = {
    "title",  "description", "status", "priority",
    "labels", "assignee_id", "due_at", "estimate_minutes",
};
static const char *const readonly_names[] = {
    "id", "created_by", "version", "completed_at", "created_at", "updated_at", "time_spent_minutes",
};

int task_json_check(const json_t *body, task_body_kind_t kind, tm_json_errors_t *errs)
{
    const tm_json_field_t *fields = create_fields;
    size_t n = sizeof create_fields / sizeof create_fields[0];
    if (kind == TASK_BODY_UPDATE) {
        fields = update_fields;
        n = sizeof update_fields / sizeof update_fields[0];
    } else if (kind == TASK_BODY_REPLACE) {
        fields = replace_fields;
        n = sizeof replace_fields / sizeof replace_fields[0];
    }
    int before = errs->count;
    int rc = tm_json_check(body, fields, n, errs);
    if (!json_is_object(body))
        return rc;
    for (size_t i = 0; i < sizeof readonly_names / sizeof readonly_names[0]; i++)
        if (tm_json_has(body, readonly_names[i]))
            tm_json_errors_add(errs, readonly_names[i], "read-only field");
    if (kind != TASK_BODY_CREATE && tm_json_has(body, "workspace_id"))
        tm_json_errors_add(errs, "workspace_id", "read-only field");
    return errs->count == before ? TM_OK : TM_ERR_INVALID;
}

static json_t *defaults(void)
{
    return json_pack("{s:s, s:n, s:s, s:i, s:[], s:n, s:n, s:n}", "title", "", "description",
                     "status", "todo", "priority", TASK_DEFAULT_PRIORITY, "labels", "assignee_id",
                     "due_at", "estimate_minutes");
}

json_t *task_json_merge(const json_t *base, const json_t *body)
{
    json_t *full = json_object();
    json_t *def = defaults();
    for (size_t i = 0; i < TASK_NFIELDS; i++) {
        const char *name = writable_names[i];
        json_t *v = json_object_get(body, name);
        if (!v && base)
            v = json_object_get(base, name);
        if (!v)
            v = json_object_get(def, name);
        json_object_set(full, name, v ? v : json_null());
    }
    json_decref(def);
    return full;
}

bool task_json_is_archive_only(const json_t *body)
{
    const char *status = tm_json_str(body, "status", NULL);
    return json_object_size(body) == 1 && status && strcmp(status, "archived") == 0;
}

/* Integer field as text into buf, or NULL when absent/null. */
static const char *int_param(const json_t *full, const char *name, char *buf, size_t cap)
{
    const json_t *v = json_object_get(full, name);
    if (!json_is_integer(v))
        return NULL;
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    return buf;
}

void task_params_init(task_params_t *p, const json_t *full)
{
    memset(p, 0, sizeof *p);
    const json_t *labels = json_object_get(full, "labels");
    p->labels = json_is_array(labels) ? tm_json_dumps(labels, NULL) : tm_xstrdup("[]");
    p->v[0] = tm_json_str(full, "title", "");
    p->v[1] = tm_json_str(full, "description", NULL);
    p->v[2] = tm_json_str(full, "status", "todo");
    p->v[3] = int_param(full, "priority", p->priority, sizeof p->priority);
    p->v[4] = p->labels;
    p->v[5] = tm_json_str(full, "assignee_id", NULL);
    p->v[6] = tm_json_str(full, "due_at", NULL);
    p->v[7] = int_param(full, "estimate_minutes", p->estimate, sizeof p->estimate);
}

void task_params_dispose(task_params_t *p)
{
    free(p->labels);
    p->labels = NULL;
}

json_t *task_json_from_result(const PGresult *r, int row, int col)
{
    if (row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col))
        return NULL;
    const char *s = PQgetvalue(r, row, col);
    json_t *v = json_loadb(s, (size_t)PQgetlength(r, row, col), 0, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- task_to_json's object from binary column values (TASK_BIN_COLUMNS_SQL) ---- */

enum {
    C_ID,
    C_WS,
    C_TITLE,
    C_DESC,
    C_STATUS,
    C_PRIO,
    C_LABELS,
    C_ASSIGNEE,
    C_DUE,
    C_EST,
    C_CREATED_BY,
    C_CREATED_AT,
    C_UPDATED_AT,
    C_COMPLETED_AT,
    C_SPENT,
    C_VERSION
};

/* Keys in jsonb's output order (shorter first, then bytewise), as task_to_json's text has;
 * each written as its ready-made member prefix: comma (but for the first), "key", colon. */
#define KEY(k, first) (first ? "{\"" k "\":" : ",\"" k "\":"), sizeof "{\"" k "\":" - 1
static const struct {
    const char *prefix;
    size_t plen;
    int col;
} task_cols[TASK_COLUMNS_NUM] = {
    {KEY("id", 1), C_ID},
    {KEY("title", 0), C_TITLE},
    {KEY("due_at", 0), C_DUE},
    {KEY("labels", 0), C_LABELS},
    {KEY("status", 0), C_STATUS},
    {KEY("version", 0), C_VERSION},
    {KEY("priority", 0), C_PRIO},
    {KEY("created_at", 0), C_CREATED_AT},
    {KEY("created_by", 0), C_CREATED_BY},
    {KEY("updated_at", 0), C_UPDATED_AT},
    {KEY("assignee_id", 0), C_ASSIGNEE},
    {KEY("description", 0), C_DESC},
    {KEY("completed_at", 0), C_COMPLETED_AT},
    {KEY("workspace_id", 0), C_WS},
    {KEY("estimate_minutes", 0), C_EST},
    {KEY("time_spent_minutes", 0), C_SPENT},
};
#undef KEY

bool task_buf_reserve(task_buf_t *b, size_t n)
{
    size_t need;
    if (!tm_size_add(b->len, n, &need))
        return false;
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (!tm_size_mul(cap, 2, &cap))
            return false;
    }
    b->p = tm_xrealloc(b->p, cap);
    b->cap = cap;
    return true;
}

/* The escape of control character c as Postgres's escape_json writes it (\n, \u001f...). */
static char *put_control(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    static const char short_form[] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
    *o++ = '\\';
    if (c < sizeof short_form && short_form[c]) {
        *o++ = short_form[c];
        return o;
    }
    memcpy(o, "u00", 3);
    o[3] = hex[c >> 4];
    o[4] = hex[c & 15];
    return o + 5;
}

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* Room was reserved by the caller: 6 bytes per input byte at most, plus the quotes. Runs of
 * bytes that need no escape (nearly all of them) are copied whole. */
static void put_json_string(task_buf_t *b, const char *s, size_t len)
{
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < len;) {
        size_t run = i;
        while (run < len && !needs_escape((unsigned char)s[run]))
            run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        if (run == len)
            break;
        unsigned char c = (unsigned char)s[run];
        if (c < 0x20) {
            o = put_control(o, c);
        } else {
            *o++ = '\\';
            *o++ = (char)c;
        }
        i = run + 1;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

static void put_raw(task_buf_t *b, const char *s, size_t n)
{
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Type OIDs of Postgres's built-in types (fixed in its catalog, pg_type.dat). */
#define OID_INT8        20
#define OID_INT2        21
#define OID_INT4        23
#define OID_TEXT        25
#define OID_FLOAT4      700
#define OID_TEXT_ARRAY  1009
#define OID_TIMESTAMPTZ 1184
#define OID_UUID        2950

/* Postgres's timestamps: microseconds since 2000-01-01 00:00 UTC, the infinities at the
 * ends of int64 (DT_NOBEGIN, DT_NOEND). */
#define PG_EPOCH_DAYS 10957 /* 1970-01-01 .. 2000-01-01 */
#define USECS_PER_DAY INT64_C(86400000000)

static const unsigned bin_oids[TASK_COLUMNS_NUM] = {
    [C_ID] = OID_UUID,
    [C_WS] = OID_UUID,
    [C_TITLE] = OID_TEXT,
    [C_DESC] = OID_TEXT,
    [C_STATUS] = OID_TEXT,
    [C_PRIO] = OID_INT2,
    [C_LABELS] = OID_TEXT_ARRAY,
    [C_ASSIGNEE] = OID_UUID,
    [C_DUE] = OID_TIMESTAMPTZ,
    [C_EST] = OID_INT4,
    [C_CREATED_BY] = OID_UUID,
    [C_CREATED_AT] = OID_TIMESTAMPTZ,
    [C_UPDATED_AT] = OID_TIMESTAMPTZ,
    [C_COMPLETED_AT] = OID_TIMESTAMPTZ,
    [C_SPENT] = OID_INT8,
    [C_VERSION] = OID_INT8,
};

bool task_json_binary_ok(const PGresult *r, int col)
{
    if (col < 0 || col + TASK_COLUMNS_NUM > PQnfields(r))
        return false;
    for (int i = 0; i < TASK_COLUMNS_NUM; i++)
        if (PQfformat(r, col + i) != 1 || PQftype(r, col + i) != bin_oids[i])
            return false;
    return true;
}

/* Big-endian signed integer of n (2, 4 or 8) bytes. */
static int64_t be_int(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n < 8 && (v >> (8 * n - 1)) != 0)
        v |= ~UINT64_C(0) << (8 * n); /* sign-extend */
    return (int64_t)v;
}

/* v in decimal with at least width digits. */
static char *put_uint(char *o, uint64_t v, int width)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *o++ = tmp[--n];
    return o;
}

static char *put_int(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return put_uint(o, 0 - (uint64_t)v, 1);
    }
    return put_uint(o, (uint64_t)v, 1);
}

/* Proleptic Gregorian date of a day count from 1970-01-01 (year 0 is 1 BC, as in
 * Postgres's j2date); H. Hinnant's civil_from_days. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.<MS or US>"Z"') of a finite
 * timestamp: frac is 3 (MS, truncated) or 6 (US) digits. YYYY is at least 4 digits of the
 * year counted as to_char counts it (1 BC -> 0001). At most TASK_TS_TEXT_MAX - 1 bytes. */
static char *put_time(char *o, int64_t us, int frac)
{
    int64_t days = us / USECS_PER_DAY, t = us % USECS_PER_DAY;
    if (t < 0) {
        t += USECS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days + PG_EPOCH_DAYS, &y, &m, &d);
    o = put_uint(o, (uint64_t)(y <= 0 ? 1 - y : y), 4);
    *o++ = '-';
    o = put_uint(o, (uint64_t)m, 2);
    *o++ = '-';
    o = put_uint(o, (uint64_t)d, 2);
    *o++ = 'T';
    int64_t secs = t / 1000000, fsec = t % 1000000;
    o = put_uint(o, (uint64_t)(secs / 3600), 2);
    *o++ = ':';
    o = put_uint(o, (uint64_t)(secs / 60 % 60), 2);
    *o++ = ':';
    o = put_uint(o, (uint64_t)(secs % 60), 2);
    *o++ = '.';
    o = put_uint(o, (uint64_t)(frac == 3 ? fsec / 1000 : fsec), frac);
    *o++ = 'Z';
    return o;
}

static bool is_infinite(int64_t us)
{
    return us == INT64_MAX || us == INT64_MIN;
}

size_t task_ts_key_text(int64_t us, char out[TASK_TS_TEXT_MAX])
{
    const char *inf = us == INT64_MAX ? "infinity" : us == INT64_MIN ? "-infinity" : NULL;
    size_t n = inf ? strlen(inf) : (size_t)(put_time(out, us, 6) - out);
    if (inf)
        memcpy(out, inf, n);
    out[n] = '\0';
    return n;
}

/* A binary text[] (ndim, has-null flag, element type, per dimension size and lower bound,
 * then per element a length, -1 for NULL, and its bytes) as to_json writes it. Only the
 * one-dimensional arrays tasks hold; false for anything else or a malformed value. */
static bool put_text_array(task_buf_t *b, const unsigned char *p, size_t len)
{
    if (len < 12 || be_int(p + 8, 4) != OID_TEXT)
        return false;
    int64_t ndim = be_int(p, 4), n = 0;
    size_t at = 12;
    if (ndim == 1 && len >= 20) {
        n = be_int(p + 12, 4);
        at = 20;
    } else if (ndim != 0) {
        return false;
    }
    b->p[b->len++] = '[';
    for (int64_t i = 0; i < n; i++) {
        if (len - at < 4)
            return false;
        int64_t elen = be_int(p + at, 4);
        at += 4;
        if (i > 0)
            b->p[b->len++] = ',';
        if (elen < 0) {
            memcpy(b->p + b->len, "null", 4);
            b->len += 4;
            continue;
        }
        if ((uint64_t)elen > len - at)
            return false;
        put_json_string(b, (const char *)p + at, (size_t)elen);
        at += (size_t)elen;
    }
    b->p[b->len++] = ']';
    return at == len;
}

/* The 36 characters of a binary uuid, as uuid_out writes them. */
static char *put_uuid(char *o, const unsigned char *p)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[p[i] >> 4];
        *o++ = hex[p[i] & 15];
    }
    return o;
}

/* One non-NULL binary value of Postgres type oid as JSON; false if malformed. Room for
 * 6 bytes per input byte was reserved (append_binary_row). */
static bool put_binary(task_buf_t *b, unsigned oid, const unsigned char *v, size_t len)
{
    switch (oid) {
    case OID_UUID:
        if (len != 16)
            return false;
        b->p[b->len++] = '"';
        b->len = (size_t)(put_uuid(b->p + b->len, v) - b->p);
        b->p[b->len++] = '"';
        return true;
    case OID_TEXT:
        put_json_string(b, (const char *)v, len);
        return true;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
        if (len != (oid == OID_INT2 ? 2u : oid == OID_INT4 ? 4u : 8u))
            return false;
        b->len = (size_t)(put_int(b->p + b->len, be_int(v, (int)len)) - b->p);
        return true;
    case OID_TIMESTAMPTZ: {
        if (len != 8)
            return false;
        int64_t us = be_int(v, 8);
        char *o = b->p + b->len;
        if (is_infinite(us)) { /* to_char gives NULL */
            memcpy(o, "null", 4);
            b->len += 4;
            return true;
        }
        *o++ = '"';
        o = put_time(o, us, 3);
        *o++ = '"';
        b->len = (size_t)(o - b->p);
        return true;
    }
    case OID_TEXT_ARRAY:
        return put_text_array(b, v, len);
    }
    return false;
}

/* Make room for n more bytes: the common case, room enough, without a call. */
static bool room(task_buf_t *b, size_t n)
{
    return b->cap - b->len >= n || task_buf_reserve(b, n);
}

/* One row's object from binary columns whose types task_json_binary_ok checked. Each value
 * takes at most 6 bytes per byte of its binary form (escaped text, a text[]'s elements) or
 * 48 bytes (uuid, number, time, null). */
static int append_binary_row(task_buf_t *b, const PGresult *r, int row, int col)
{
    size_t start = b->len;
    for (int i = 0; i < TASK_COLUMNS_NUM; i++) {
        int c = col + task_cols[i].col;
        size_t need;
        if (!tm_size_mul((size_t)PQgetlength(r, row, c), 6, &need) ||
            !room(b, need + task_cols[i].plen + 48 + 1)) {
            b->len = start;
            return TM_ERR_INTERNAL;
        }
        put_raw(b, task_cols[i].prefix, task_cols[i].plen);
        if (PQgetisnull(r, row, c)) {
            put_raw(b, "null", 4);
        } else if (!put_binary(b, bin_oids[task_cols[i].col],
                               (const unsigned char *)PQgetvalue(r, row, c),
                               (size_t)PQgetlength(r, row, c))) {
            b->len = start;
            return TM_ERR_INTERNAL;
        }
    }
    b->p[b->len++] = '}'; /* room: the + 1 above */
    return TM_OK;
}

int task_json_append_binary(task_buf_t *b, const PGresult *r, int row, int col)
{
    if (row < 0 || row >= PQntuples(r) || !task_json_binary_ok(r, col))
        return TM_ERR_INTERNAL;
    return append_binary_row(b, r, row, col);
}

int task_json_append_binary_rows(task_buf_t *b, const PGresult *r, int nrows, int col)
{
    if (nrows < 0 || nrows > PQntuples(r) || (nrows > 0 && !task_json_binary_ok(r, col)))
        return TM_ERR_INTERNAL;
    size_t start = b->len;
    for (int i = 0; i < nrows; i++) {
        bool ok = i == 0 || room(b, 1);
        if (ok && i > 0)
            b->p[b->len++] = ',';
        if (!ok || append_binary_row(b, r, i, col) != TM_OK) {
            b->len = start;
            return TM_ERR_INTERNAL;
        }
    }
    return TM_OK;
}

int task_json_binary_key(const PGresult *r, int row, int col, char *out, size_t cap)
{
    if (row >= PQntuples(r) || col >= PQnfields(r) || PQfformat(r, col) != 1 ||
        PQgetisnull(r, row, col) || cap < TASK_KEY_TEXT_MAX)
        return TM_ERR_INTERNAL;
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int len = PQgetlength(r, row, col);
    unsigned oid = PQftype(r, col);
    if (oid == OID_TIMESTAMPTZ && len == 8) {
        char t[TASK_TS_TEXT_MAX];
        size_t n = task_ts_key_text(be_int(v, 8), t);
        if (n >= cap)
            return TM_ERR_INTERNAL;
        memcpy(out, t, n + 1);
    } else if ((oid == OID_INT2 && len == 2) || (oid == OID_INT4 && len == 4) ||
               (oid == OID_INT8 && len == 8)) {
        *put_int(out, be_int(v, len)) = '\0';
    } else if (oid == OID_UUID && len == 16) {
        *put_uuid(out, v) = '\0';
    } else if (oid == OID_FLOAT4 && len == 4) {
        uint32_t bits = (uint32_t)be_int(v, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        /* the fewest digits that read back as the same float4 (as float4out writes it);
         * 9 always do */
        for (int digits = 6; digits <= 9; digits++) {
            snprintf(out, cap, "%.*g", digits, (double)f);
            if (strtof(out, NULL) == f)
                break;
        }
    } else {
        return TM_ERR_INTERNAL;
    }
    return TM_OK;
}
