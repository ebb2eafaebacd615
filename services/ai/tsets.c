/* ai_tsets: see tsets.h. A chained hash table + LRU list under one mutex; the sets
 * themselves under per-entry reader-writer locks, so a long computation for one user never
 * holds the table. */
#include "tsets.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "projection.h"
#include "tm_error.h"
#include "tm_metrics.h"
#include "tm_util.h"

#define EPOCH_STRIPES 64 /* invalidation counters, by user hash: unrelated users rarely share */

typedef struct entry {
    struct entry *next_hash, *prev_lru, *next_lru; /* head = most recent */
    char user[37];
    uint64_t hash;
    size_t refs;          /* mu: readers and refreshers holding it */
    bool linked;          /* mu: in the table; unlinked ones go at their last release */
    int64_t confirmed_ms; /* mu: when gen was last confirmed; INT64_MIN: never */
    int64_t known_gen;    /* mu: gen as of the last refresh (a check needs no write lock) */
    int64_t used_ms;      /* mu: the last acquire (ai_tsets_confirm_due keeps these fresh) */
    bool checking;        /* mu: ai_tsets_confirm_due's check of it is in flight */
    int64_t checking_ms;  /* mu: when that check started */
    size_t bytes;         /* mu: what s->bytes counts for it */
    pthread_rwlock_t lock;
    int64_t gen;       /* lock: the generation set is current at; -1: not loaded */
    ai_task_set_t set; /* lock */
} entry_t;

struct ai_tsets {
    pthread_mutex_t mu;
    size_t max_bytes, nbuckets;
    int64_t max_tasks, recheck_ms;
    ai_tsets_source_t src;
    uint64_t epoch[EPOCH_STRIPES];
    entry_t **buckets;
    entry_t *head, *tail;
    ai_tsets_stats_t st;
    tm_counter_t *m_hit, *m_check, *m_delta, *m_load, *m_evicted;
    tm_gauge_t *m_bytes, *m_users;
};

/* ---- the projection as the source ---- */

static int pg_gen(void *ctx, const char *user, int64_t *gen)
{
    return ai_projection_gen(ctx, user, gen);
}

static int pg_load(void *ctx, const char *user, int64_t max, ai_task_set_t *set)
{
    return ai_projection_load(ctx, user, max, set);
}

static int pg_changes(void *ctx, const char *user, int64_t since, int64_t upto,
                      ai_task_changes_t *ch)
{
    return ai_projection_changes(ctx, user, since, upto, ch);
}

const ai_tsets_source_t ai_tsets_pg_source = {pg_gen, pg_load, pg_changes};

/* ---- table ---- */

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void metrics_init(ai_tsets_t *s)
{
    const char *n = "tm_ai_taskset_total", *h = "in-memory task set uses, by how they were served";
    s->m_hit = tm_metrics_counter(n, h, "result=\"hit\"");
    s->m_check = tm_metrics_counter(n, h, "result=\"check\"");
    s->m_delta = tm_metrics_counter(n, h, "result=\"delta\"");
    s->m_load = tm_metrics_counter(n, h, "result=\"load\"");
    s->m_evicted = tm_metrics_counter("tm_ai_taskset_evictions_total",
                                      "task sets dropped for TM_AI_TASKSET_BYTES", NULL);
    s->m_bytes = tm_metrics_gauge("tm_ai_taskset_bytes", "memory held by task sets", NULL);
    s->m_users = tm_metrics_gauge("tm_ai_taskset_users", "users with a task set in memory", NULL);
}

ai_tsets_t *ai_tsets_new(size_t max_bytes, int64_t max_tasks, int64_t recheck_ms,
                         const ai_tsets_source_t *src)
{
    ai_tsets_t *s = tm_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->max_bytes = max_bytes;
    s->max_tasks = max_tasks;
    s->recheck_ms = recheck_ms;
    s->src = *src;
    s->nbuckets = 256; /* about one user per 16 KiB of the cap: short chains */
    while (s->nbuckets < max_bytes / 16384 && s->nbuckets < (1u << 16))
        s->nbuckets <<= 1;
    s->buckets = tm_xcalloc(s->nbuckets, sizeof *s->buckets);
    metrics_init(s);
    return s;
}

static void free_entry(entry_t *e)
{
    ai_task_set_dispose(&e->set);
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

static void lru_unlink(ai_tsets_t *s, entry_t *e)
{
    if (e->prev_lru)
        e->prev_lru->next_lru = e->next_lru;
    else
        s->head = e->next_lru;
    if (e->next_lru)
        e->next_lru->prev_lru = e->prev_lru;
    else
        s->tail = e->prev_lru;
    e->prev_lru = e->next_lru = NULL;
}

static void lru_push(ai_tsets_t *s, entry_t *e)
{
    e->next_lru = s->head;
    e->prev_lru = NULL;
    if (s->head)
        s->head->prev_lru = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

static entry_t *find(ai_tsets_t *s, const char *user, uint64_t h)
{
    for (entry_t *e = s->buckets[h & (s->nbuckets - 1)]; e; e = e->next_hash)
        if (e->hash == h && strcmp(e->user, user) == 0)
            return e;
    return NULL;
}

/* Take e out of the table (caller holds mu). Returns e when nobody holds it (the caller
 * frees it after unlocking), else NULL (its last release frees it). */
static entry_t *unlink_entry(ai_tsets_t *s, entry_t *e)
{
    entry_t **pp = &s->buckets[e->hash & (s->nbuckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next_hash;
    if (*pp)
        *pp = e->next_hash;
    lru_unlink(s, e);
    e->linked = false;
    s->st.bytes -= e->bytes;
    s->st.users--;
    e->bytes = 0;
    return e->refs == 0 ? e : NULL;
}

void ai_tsets_free(ai_tsets_t *s)
{
    if (!s)
        return;
    while (s->head) {
        entry_t *e = unlink_entry(s, s->head);
        if (e)
            free_entry(e);
    }
    free(s->buckets);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static entry_t *new_entry(ai_tsets_t *s, const char *user, uint64_t h)
{
    entry_t *e = tm_xcalloc(1, sizeof *e);
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* a refresh must not wait behind an endless stream of readers of a busy user */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&e->lock, &a);
    pthread_rwlockattr_destroy(&a);
    snprintf(e->user, sizeof e->user, "%s", user);
    e->hash = h;
    e->gen = e->known_gen = -1;
    e->confirmed_ms = INT64_MIN;
    e->linked = true;
    e->bytes = sizeof *e;
    ai_task_set_init(&e->set);
    e->next_hash = s->buckets[h & (s->nbuckets - 1)];
    s->buckets[h & (s->nbuckets - 1)] = e;
    s->st.bytes += e->bytes;
    s->st.users++;
    return e;
}

static uint64_t *epoch_of(ai_tsets_t *s, uint64_t h)
{
    return &s->epoch[(h >> 7) & (EPOCH_STRIPES - 1)];
}

/* Whether e may be used without a look at Postgres (caller holds mu): confirmed within
 * recheck_ms; or, while ai_tsets_confirm_due's check of it is in flight (started within
 * the window) and no invalidation came, up to twice that. Requests then never wait for a
 * Postgres backend the CPU is slow to run (tsets.h); a local change still waits. */
static bool confirmed_for(const ai_tsets_t *s, const entry_t *e, int64_t now_ms)
{
    if (e->confirmed_ms == INT64_MIN)
        return false;
    int64_t age = now_ms - e->confirmed_ms;
    if (age < s->recheck_ms)
        return true;
    return e->checking && e->checking_ms - e->confirmed_ms < s->recheck_ms &&
           age < 2 * s->recheck_ms;
}

/* The user's entry (made if new), held (refs + 1) and most recent; *fresh when its
 * generation was confirmed within recheck_ms and is at least min_gen; *epoch: the user's
 * invalidation count. */
static entry_t *hold(ai_tsets_t *s, const char *user, int64_t now_ms, int64_t min_gen, bool *fresh,
                     uint64_t *epoch)
{
    uint64_t h = fnv(user);
    pthread_mutex_lock(&s->mu);
    entry_t *e = find(s, user, h);
    if (e)
        lru_unlink(s, e);
    else
        e = new_entry(s, user, h);
    lru_push(s, e);
    e->refs++;
    e->used_ms = now_ms;
    *fresh = confirmed_for(s, e, now_ms) && e->known_gen >= min_gen;
    *epoch = *epoch_of(s, h);
    if (*fresh)
        s->st.hits++;
    pthread_mutex_unlock(&s->mu);
    if (*fresh)
        tm_counter_add(s->m_hit, 1);
    return e;
}

static void unhold(ai_tsets_t *s, entry_t *e)
{
    pthread_mutex_lock(&s->mu);
    bool dead = --e->refs == 0 && !e->linked;
    pthread_mutex_unlock(&s->mu);
    if (dead)
        free_entry(e);
}

/* ---- refresh ---- */

/* Bring e (write-locked, older than gen) to generation gen: from the change log when it is
 * close enough and the log still holds every change, else by a whole load. Returns the
 * source's error with e unchanged. */
static int catch_up(ai_tsets_t *s, entry_t *e, void *ctx, int64_t gen, tm_counter_t **used)
{
    if (e->gen >= 0 && gen - e->gen <= AI_CHANGE_RING) {
        ai_task_changes_t ch;
        int rc = s->src.changes(ctx, e->user, e->gen, gen, &ch);
        if (rc != TM_OK)
            return rc;
        /* a set cut at max_tasks that loses a task would miss the next most recent one */
        bool cut_lost = e->set.n >= (size_t)s->max_tasks && ch.n_ids > ch.live.n;
        if (ch.entries == gen - e->gen && !cut_lost) {
            ai_task_set_apply(&e->set, &ch, (size_t)s->max_tasks);
            ai_task_changes_dispose(&ch);
            e->gen = gen;
            *used = s->m_delta;
            return TM_OK;
        }
        ai_task_changes_dispose(&ch);
    }
    ai_task_set_t fresh;
    int rc = s->src.load(ctx, e->user, s->max_tasks, &fresh);
    if (rc != TM_OK) {
        ai_task_set_dispose(&fresh);
        return rc;
    }
    ai_task_set_dispose(&e->set);
    e->set = fresh;
    e->gen = gen;
    *used = s->m_load;
    return TM_OK;
}

/* Take e out for the cap; a dead entry joins the list *dead (next_hash) to be freed after
 * unlocking. Caller holds mu. */
static void evict_one(ai_tsets_t *s, entry_t *e, entry_t **dead)
{
    s->st.evicted++;
    tm_counter_add(s->m_evicted, 1);
    entry_t *d = unlink_entry(s, e);
    if (d) {
        d->next_hash = *dead;
        *dead = d;
    }
}

/* Drop least recently used sets while over the cap; a set alone over it goes at once (its
 * reader keeps it until release). Caller holds mu; returns the entries to free. */
static entry_t *evict(ai_tsets_t *s, entry_t *e)
{
    entry_t *dead = NULL;
    if (e->linked && e->bytes > s->max_bytes)
        evict_one(s, e, &dead);
    while (s->st.bytes > s->max_bytes && s->tail && s->tail != e)
        evict_one(s, s->tail, &dead);
    return dead;
}

/* After a refresh of e to gen: account its memory, confirm it unless an invalidation of
 * the user came after `epoch` was read, and keep the store under its cap. set_bytes < 0:
 * the set did not change. */
static void settle(ai_tsets_t *s, entry_t *e, long long set_bytes, int64_t gen, uint64_t epoch,
                   int64_t now_ms, tm_counter_t *used)
{
    pthread_mutex_lock(&s->mu);
    if (e->linked && set_bytes >= 0) {
        s->st.bytes += sizeof *e + (size_t)set_bytes - e->bytes;
        e->bytes = sizeof *e + (size_t)set_bytes;
    }
    if (gen > e->known_gen)
        e->known_gen = gen;
    if (*epoch_of(s, e->hash) == epoch)
        e->confirmed_ms = now_ms;
    s->st.checks += used == s->m_check;
    s->st.deltas += used == s->m_delta;
    s->st.loads += used == s->m_load;
    entry_t *dead = evict(s, e);
    int64_t bytes = (int64_t)s->st.bytes, users = (int64_t)s->st.users;
    pthread_mutex_unlock(&s->mu);
    tm_counter_add(used, 1);
    tm_gauge_set(s->m_bytes, bytes);
    tm_gauge_set(s->m_users, users);
    while (dead) {
        entry_t *next = dead->next_hash;
        free_entry(dead);
        dead = next;
    }
}

static bool known_at(ai_tsets_t *s, entry_t *e, int64_t gen)
{
    pthread_mutex_lock(&s->mu);
    bool same = e->known_gen == gen;
    pthread_mutex_unlock(&s->mu);
    return same;
}

static int refresh(ai_tsets_t *s, entry_t *e, void *ctx, uint64_t epoch, int64_t now_ms)
{
    int64_t gen;
    int rc = s->src.gen(ctx, e->user, &gen);
    if (rc != TM_OK)
        return rc;
    tm_counter_t *used = s->m_check;
    long long bytes = -1;
    /* unchanged (the common case once a second): confirmed without waiting for readers */
    if (!known_at(s, e, gen)) {
        pthread_rwlock_wrlock(&e->lock);
        if (e->gen < gen) /* a newer set (another thread read a later gen) is kept */
            rc = catch_up(s, e, ctx, gen, &used);
        bytes = (long long)e->set.bytes;
        gen = e->gen;
        pthread_rwlock_unlock(&e->lock);
    }
    if (rc == TM_OK)
        settle(s, e, bytes, gen, epoch, now_ms, used);
    return rc;
}

/* ---- public ---- */

static int private_load(ai_tsets_t *s, void *ctx, const char *user, ai_tsets_ref_t *ref)
{
    int rc = s->src.load(ctx, user, s->max_tasks, &ref->own_);
    pthread_mutex_lock(&s->mu);
    s->st.loads++;
    pthread_mutex_unlock(&s->mu);
    tm_counter_add(s->m_load, 1);
    if (rc != TM_OK) {
        ai_task_set_dispose(&ref->own_);
        return rc;
    }
    ref->set = &ref->own_;
    return TM_OK;
}

int ai_tsets_acquire(ai_tsets_t *s, void *ctx, const char *user, int64_t now_ms, int64_t min_gen,
                     ai_tsets_ref_t *ref)
{
    memset(ref, 0, sizeof *ref);
    if (s->max_bytes == 0)
        return private_load(s, ctx, user, ref);
    bool fresh;
    uint64_t epoch;
    entry_t *e = hold(s, user, now_ms, min_gen, &fresh, &epoch);
    int rc = fresh ? TM_OK : refresh(s, e, ctx, epoch, now_ms);
    if (rc != TM_OK) {
        unhold(s, e);
        return rc;
    }
    pthread_rwlock_rdlock(&e->lock);
    ref->set = &e->set;
    ref->entry_ = e;
    return TM_OK;
}

void ai_tsets_release(ai_tsets_t *s, ai_tsets_ref_t *ref)
{
    entry_t *e = ref->entry_;
    if (e) {
        pthread_rwlock_unlock(&e->lock);
        unhold(s, e);
    } else {
        ai_task_set_dispose(&ref->own_);
    }
    memset(ref, 0, sizeof *ref);
}

void ai_tsets_invalidate_user(ai_tsets_t *s, const char *user)
{
    if (!s)
        return;
    uint64_t h = fnv(user);
    pthread_mutex_lock(&s->mu);
    (*epoch_of(s, h))++;
    entry_t *e = find(s, user, h);
    if (e)
        e->confirmed_ms = INT64_MIN;
    pthread_mutex_unlock(&s->mu);
}

void ai_tsets_on_invalidate(const char *user, void *arg)
{
    ai_tsets_invalidate_user(arg, user);
}

/* ---- confirming ahead of need ---- */

#define CONFIRM_BATCH 64 /* sets checked per call; the rest on the next */

/* Up to max entries in use within the recheck window whose confirmation is older than
 * min_age_ms (or was dropped), held, with their epochs. */
static size_t due_entries(ai_tsets_t *s, int64_t now_ms, int64_t min_age_ms, entry_t **out,
                          uint64_t *epochs, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (entry_t *e = s->head; e && n < max; e = e->next_lru) {
        if (now_ms - e->used_ms >= s->recheck_ms)
            break; /* LRU order: everything after was used even longer ago */
        if (e->checking || (e->confirmed_ms != INT64_MIN && now_ms - e->confirmed_ms < min_age_ms))
            continue;
        e->refs++;
        e->checking = true;
        e->checking_ms = now_ms;
        epochs[n] = *epoch_of(s, e->hash);
        out[n++] = e;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

int ai_tsets_confirm_due(ai_tsets_t *s, void *ctx, int64_t now_ms, int64_t min_age_ms)
{
    if (s->max_bytes == 0)
        return 0;
    entry_t *due[CONFIRM_BATCH];
    uint64_t epochs[CONFIRM_BATCH];
    size_t n = due_entries(s, now_ms, min_age_ms, due, epochs, CONFIRM_BATCH);
    int rc = TM_OK;
    for (size_t i = 0; i < n; i++) {
        if (rc == TM_OK)
            rc = refresh(s, due[i], ctx, epochs[i], now_ms);
        pthread_mutex_lock(&s->mu);
        due[i]->checking = false;
        pthread_mutex_unlock(&s->mu);
        unhold(s, due[i]);
    }
    return rc == TM_OK ? (int)n : rc;
}

struct ai_tsets_confirmer {
    ai_tsets_t *s;
    void *ctx;
    int64_t period_ms;
    atomic_bool stop;
    pthread_t thread;
};

static void *confirmer_main(void *arg)
{
    ai_tsets_confirmer_t *c = arg;
    while (!atomic_load(&c->stop)) {
        (void)ai_tsets_confirm_due(c->s, c->ctx, tm_now_ms(), c->period_ms);
        usleep((useconds_t)c->period_ms * 1000);
    }
    return NULL;
}

ai_tsets_confirmer_t *ai_tsets_confirmer_start(ai_tsets_t *s, void *ctx, int64_t period_ms)
{
    ai_tsets_confirmer_t *c = tm_xcalloc(1, sizeof *c);
    c->s = s;
    c->ctx = ctx;
    c->period_ms = period_ms > 0 ? period_ms : 1;
    if (pthread_create(&c->thread, NULL, confirmer_main, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void ai_tsets_confirmer_stop(ai_tsets_confirmer_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    free(c);
}

void ai_tsets_stats(ai_tsets_t *s, ai_tsets_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}
