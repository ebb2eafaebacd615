/* ai_task_set: see task_set.h. */
#include "task_set.h"

#include <stdlib.h>
#include <string.h>

#include "suggest_rules.h"
#include "tm_util.h"

/* glibc's bookkeeping per allocation, counted so the cap is close to the real footprint */
#define ALLOC_OVERHEAD 16

static size_t per_task_bytes(void)
{
    return sizeof(ai_task_t) + sizeof(ai_task_meta_t) + sizeof(char *);
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool ai_uuid_key(const char *s, ai_uuid_key_t *key)
{
    uint64_t half[2] = {0, 0};
    size_t nibbles = 0;
    *key = (ai_uuid_key_t){0, 0};
    for (size_t i = 0; s && i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        int d = dash ? 0 : hex_digit(s[i]);
        if (dash ? s[i] != '-' : d < 0)
            return false;
        if (!dash) {
            half[nibbles / 16] = half[nibbles / 16] << 4 | (uint64_t)d;
            nibbles++;
        }
    }
    if (!s || nibbles != 32 || s[36] != '\0')
        return false;
    *key = (ai_uuid_key_t){half[0], half[1]};
    return true;
}

void ai_task_set_init(ai_task_set_t *set)
{
    memset(set, 0, sizeof *set);
}

void ai_task_set_dispose(ai_task_set_t *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        free(set->blobs[i]);
    free(set->tasks);
    free(set->meta);
    free(set->blobs);
    ai_task_set_init(set);
}

static void grow(ai_task_set_t *set, size_t cap)
{
    set->tasks = tm_xrealloc(set->tasks, cap * sizeof *set->tasks);
    set->meta = tm_xrealloc(set->meta, cap * sizeof *set->meta);
    set->blobs = tm_xrealloc(set->blobs, cap * sizeof *set->blobs);
    set->bytes += (cap - set->cap) * per_task_bytes();
    set->cap = cap;
}

static void reserve(ai_task_set_t *set, size_t want)
{
    if (want <= set->cap)
        return;
    size_t cap = set->cap ? set->cap : 16;
    while (cap < want)
        cap *= 2;
    grow(set, cap);
}

void ai_task_set_reserve(ai_task_set_t *set, size_t n)
{
    if (n > set->cap)
        grow(set, n);
}

/* Copy n bytes of s and a NUL at *cur; returns the copy. */
static char *put(char **cur, const char *s, size_t n)
{
    char *out = *cur;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
    *cur += n + 1;
    return out;
}

static size_t blob_size(const ai_task_fields_t *f)
{
    size_t n = sizeof(size_t) + f->n_labels * sizeof(char *) + 4 * 37 + f->status_len + 1 +
               f->title_len + 1 + (f->description ? f->description_len + 1 : 0) + f->title_len + 2;
    for (size_t k = 0; k < f->n_labels; k++)
        n += f->label_lens[k] + 1;
    return n;
}

static const char *put_id(char **cur, const char *id)
{
    size_t n = id ? strnlen(id, 36) : 0;
    return put(cur, id ? id : "", n);
}

/* One allocation: its size, the label pointers (both aligned), then every string. */
static char *build_blob(const ai_task_fields_t *f, ai_task_t *t, ai_task_meta_t *m, size_t *size)
{
    *size = blob_size(f);
    char *blob = tm_xmalloc(*size);
    memcpy(blob, size, sizeof *size);
    const char **labels = (const char **)(blob + sizeof(size_t));
    char *cur = (char *)(labels + f->n_labels);
    t->id = put_id(&cur, f->id);
    m->workspace_id = put_id(&cur, f->workspace_id);
    m->created_by = put_id(&cur, f->created_by);
    m->assignee_id = put_id(&cur, f->assignee_id);
    m->status = put(&cur, f->status, f->status_len);
    if (f->id_key)
        m->id_key = *f->id_key;
    else
        (void)ai_uuid_key(t->id, &m->id_key);
    if (f->ws_key)
        m->ws_key = *f->ws_key;
    else
        (void)ai_uuid_key(m->workspace_id, &m->ws_key);
    m->done = strcmp(m->status, "done") == 0;
    m->archived = strcmp(m->status, "archived") == 0;
    t->title = put(&cur, f->title, f->title_len);
    t->description = f->description ? put(&cur, f->description, f->description_len) : NULL;
    for (size_t k = 0; k < f->n_labels; k++)
        labels[k] = put(&cur, f->labels[k], f->label_lens[k]);
    t->labels = f->n_labels ? labels : NULL;
    t->n_labels = f->n_labels;
    t->keywords = cur;
    ai_title_keywords(t->title, cur, f->title_len + 2);
    return blob;
}

void ai_task_set_add(ai_task_set_t *set, const ai_task_fields_t *f)
{
    reserve(set, set->n + 1);
    size_t i = set->n, size;
    ai_task_t *t = &set->tasks[i];
    memset(t, 0, sizeof *t);
    set->blobs[i] = build_blob(f, t, &set->meta[i], &size);
    t->priority = f->priority;
    t->created_at = f->created_at;
    t->updated_at = f->updated_at;
    t->due_at = f->due_at;
    t->completed_at = f->completed_at;
    t->estimate_minutes = f->estimate_minutes;
    t->logged_minutes = f->logged_minutes;
    set->bytes += size + ALLOC_OVERHEAD;
    set->n++;
}

long ai_task_set_find(const ai_task_set_t *set, const char *id)
{
    ai_uuid_key_t k;
    if (ai_uuid_key(id, &k)) {
        for (size_t i = 0; i < set->n; i++)
            if (ai_uuid_key_eq(set->meta[i].id_key, k))
                return (long)i;
        return -1;
    }
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->tasks[i].id, id) == 0)
            return (long)i;
    return -1;
}

/* ---- changes ---- */

void ai_task_changes_init(ai_task_changes_t *ch)
{
    memset(ch, 0, sizeof *ch);
    ai_task_set_init(&ch->live);
}

void ai_task_changes_dispose(ai_task_changes_t *ch)
{
    if (!ch)
        return;
    free(ch->ids);
    ai_task_set_dispose(&ch->live);
    ai_task_changes_init(ch);
}

void ai_task_changes_add_id(ai_task_changes_t *ch, const char *id)
{
    ch->ids = tm_xrealloc(ch->ids, (ch->n_ids + 1) * sizeof *ch->ids);
    (void)ai_uuid_key(id, &ch->ids[ch->n_ids++]);
}

static int cmp_key(const void *a, const void *b)
{
    const ai_uuid_key_t *x = a, *y = b;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

void ai_task_changes_seal(ai_task_changes_t *ch)
{
    if (ch->n_ids > 1)
        qsort(ch->ids, ch->n_ids, sizeof *ch->ids, cmp_key);
}

static bool changed(const ai_task_changes_t *ch, const ai_uuid_key_t *key)
{
    return ch->n_ids && bsearch(key, ch->ids, ch->n_ids, sizeof *ch->ids, cmp_key) != NULL;
}

/* Move entry `from` of src to entry `to` of dst (blob ownership moves too). */
static void move_task(ai_task_set_t *dst, size_t to, ai_task_set_t *src, size_t from)
{
    dst->tasks[to] = src->tasks[from];
    dst->meta[to] = src->meta[from];
    dst->blobs[to] = src->blobs[from];
}

/* The memory of one blob, as ai_task_set_add counted it (its size is its first word). */
static size_t blob_bytes(const char *blob)
{
    size_t size;
    memcpy(&size, blob, sizeof size);
    return size + ALLOC_OVERHEAD;
}

static void drop_task(ai_task_set_t *set, size_t i)
{
    set->bytes -= blob_bytes(set->blobs[i]);
    free(set->blobs[i]);
}

/* Drop every task of set that ch names, keeping the order of the rest. */
static void drop_changed(ai_task_set_t *set, const ai_task_changes_t *ch)
{
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (changed(ch, &set->meta[i].id_key))
            drop_task(set, i);
        else
            move_task(set, k++, set, i);
    }
    set->n = k;
}

static int newer_first(const void *a, const void *b)
{
    const ai_task_t *x = a, *y = b;
    return (x->updated_at < y->updated_at) - (x->updated_at > y->updated_at);
}

/* Sort live by updated_at descending, moving meta and blobs along (k is small). */
static void sort_live(ai_task_set_t *live)
{
    size_t n = live->n;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && newer_first(&live->tasks[j - 1], &live->tasks[j]) > 0; j--) {
            ai_task_t t = live->tasks[j];
            ai_task_meta_t m = live->meta[j];
            char *b = live->blobs[j];
            move_task(live, j, live, j - 1);
            live->tasks[j - 1] = t;
            live->meta[j - 1] = m;
            live->blobs[j - 1] = b;
        }
}

void ai_task_set_apply(ai_task_set_t *set, ai_task_changes_t *ch, size_t max)
{
    drop_changed(set, ch);
    ai_task_set_t *live = &ch->live, out;
    sort_live(live);
    ai_task_set_init(&out);
    ai_task_set_reserve(&out, set->n + live->n);
    size_t a = 0, b = 0, k = 0;
    while (a < set->n || b < live->n) {
        bool take_live =
            b < live->n && (a == set->n || live->tasks[b].updated_at >= set->tasks[a].updated_at);
        if (take_live)
            move_task(&out, k++, live, b++);
        else
            move_task(&out, k++, set, a++);
    }
    out.n = k;
    out.bytes += set->bytes + live->bytes - (set->cap + live->cap) * per_task_bytes();
    live->n = set->n = 0; /* their blobs moved to out */
    ai_task_set_dispose(live);
    ai_task_set_dispose(set);
    *set = out;
    while (set->n > max)
        drop_task(set, --set->n);
}
