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

/* ---- task_to_json's object from plain columns ---- */

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

typedef enum { K_STR, K_INT, K_JSON } col_kind_t;

/* Keys in jsonb's output order (shorter first, then bytewise), as task_to_json's text has. */
static const struct {
    const char *key;
    int col;
    col_kind_t kind;
} task_cols[TASK_COLUMNS_NUM] = {
    {"id", C_ID, K_STR},
    {"title", C_TITLE, K_STR},
    {"due_at", C_DUE, K_STR},
    {"labels", C_LABELS, K_JSON},
    {"status", C_STATUS, K_STR},
    {"version", C_VERSION, K_INT},
    {"priority", C_PRIO, K_INT},
    {"created_at", C_CREATED_AT, K_STR},
    {"created_by", C_CREATED_BY, K_STR},
    {"updated_at", C_UPDATED_AT, K_STR},
    {"assignee_id", C_ASSIGNEE, K_STR},
    {"description", C_DESC, K_STR},
    {"completed_at", C_COMPLETED_AT, K_STR},
    {"workspace_id", C_WS, K_STR},
    {"estimate_minutes", C_EST, K_INT},
    {"time_spent_minutes", C_SPENT, K_INT},
};

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

/* Room was reserved by the caller: 6 bytes per input byte at most. */
static void put_json_string(task_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

static bool is_integer_text(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Worst-case bytes of one row's object text. */
static bool row_size(const PGresult *r, int row, int col, size_t *out)
{
    size_t n = 2;
    for (int i = 0; i < TASK_COLUMNS_NUM; i++) {
        size_t v;
        if (!tm_size_mul((size_t)PQgetlength(r, row, col + i), 6, &v) ||
            !tm_size_add(n, v + strlen(task_cols[i].key) + 8, &n))
            return false;
    }
    *out = n;
    return true;
}

int task_json_append_columns(task_buf_t *b, const PGresult *r, int row, int col)
{
    size_t need;
    if (row >= PQntuples(r) || col < 0 || col + TASK_COLUMNS_NUM > PQnfields(r) ||
        !row_size(r, row, col, &need) || !task_buf_reserve(b, need))
        return TM_ERR_INTERNAL;
    size_t start = b->len;
    b->p[b->len++] = '{';
    for (int i = 0; i < TASK_COLUMNS_NUM; i++) {
        int c = col + task_cols[i].col;
        const char *v = PQgetvalue(r, row, c);
        size_t vlen = (size_t)PQgetlength(r, row, c);
        if (i > 0)
            b->p[b->len++] = ',';
        put_json_string(b, task_cols[i].key, strlen(task_cols[i].key));
        b->p[b->len++] = ':';
        if (PQgetisnull(r, row, c)) {
            memcpy(b->p + b->len, "null", 4);
            b->len += 4;
        } else if (task_cols[i].kind == K_STR) {
            put_json_string(b, v, vlen);
        } else if (task_cols[i].kind == K_INT && !is_integer_text(v)) {
            b->len = start;
            return TM_ERR_INTERNAL;
        } else { /* an integer, or JSON text from Postgres (to_json of the labels) */
            memcpy(b->p + b->len, v, vlen);
            b->len += vlen;
        }
    }
    b->p[b->len++] = '}';
    return TM_OK;
}
