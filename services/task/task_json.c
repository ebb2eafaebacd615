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
