/* tm_pg: per-thread Postgres connection with reconnect, prepared statements and
 * nested transactions, and the migration runner. */
#include "tm_pg.h"

#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tm_log.h"
#include "tm_util.h"

#define CONNECT_TIMEOUT_S    "3"
#define STATEMENT_TIMEOUT_MS 5000

struct tm_pg {
    char *conninfo;
    char *schema;
    const tm_pg_stmt_t *stmts;
    size_t nstmts;
    PGconn *conn;
    int depth;
    /* A failed commit already closed its level; the caller's customary rollback that
     * follows must not close the level above it. */
    bool commit_failed;
};

tm_pg_t *tm_pg_new(const char *conninfo, const char *schema, const tm_pg_stmt_t *stmts,
                   size_t nstmts)
{
    if (!conninfo)
        return NULL;
    tm_pg_t *pg = tm_xcalloc(1, sizeof *pg);
    pg->conninfo = tm_xstrdup(conninfo);
    pg->schema = schema ? tm_xstrdup(schema) : NULL;
    pg->stmts = stmts;
    pg->nstmts = nstmts;
    return pg;
}

void tm_pg_free(tm_pg_t *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    free(pg->conninfo);
    free(pg->schema);
    free(pg);
}

PGconn *tm_pg_conn(tm_pg_t *pg)
{
    return pg ? pg->conn : NULL;
}

bool tm_pg_is_up(tm_pg_t *pg)
{
    return pg && pg->conn && PQstatus(pg->conn) == CONNECTION_OK;
}

int tm_pg_txn_depth(const tm_pg_t *pg)
{
    return pg ? pg->depth : 0;
}

/* Connect with a bounded connect timeout; conninfo may be a URI or key=value list. */
/* Server notices ("already exists, skipping") would otherwise go to stderr unformatted. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    TM_DEBUG("postgres notice: %s", message);
}

static PGconn *connect_raw(const char *conninfo)
{
    const char *keys[] = {"dbname", "connect_timeout", NULL};
    const char *vals[] = {conninfo, CONNECT_TIMEOUT_S, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, on_notice, NULL);
        return c;
    }
    TM_WARN("postgres connect failed: %s", c ? PQerrorMessage(c) : "out of memory");
    PQfinish(c);
    return NULL;
}

static int exec_cmd(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? TM_OK : TM_ERR_PG;
    if (rc != TM_OK)
        TM_WARN("postgres: %s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

static int setup_session(tm_pg_t *pg)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SET statement_timeout = %d", STATEMENT_TIMEOUT_MS);
    if (exec_cmd(pg->conn, sql) != TM_OK)
        return TM_ERR_PG;
    if (!pg->schema)
        return TM_OK;
    char *ident = PQescapeIdentifier(pg->conn, pg->schema, strlen(pg->schema));
    if (!ident)
        return TM_ERR_PG;
    char *set = tm_xasprintf("SET search_path TO %s, public", ident);
    PQfreemem(ident);
    int rc = exec_cmd(pg->conn, set);
    free(set);
    return rc;
}

static int prepare_all(tm_pg_t *pg)
{
    for (size_t i = 0; i < pg->nstmts; i++) {
        const tm_pg_stmt_t *s = &pg->stmts[i];
        PGresult *r = PQprepare(pg->conn, s->name, s->sql, s->nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            TM_ERROR("postgres: cannot prepare statement %s: %s", s->name, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok)
            return TM_ERR_PG;
    }
    return TM_OK;
}

int tm_pg_ensure(tm_pg_t *pg)
{
    if (!pg)
        return TM_ERR_INVALID;
    if (tm_pg_is_up(pg))
        return TM_OK;
    if (pg->conn) {
        TM_WARN("postgres connection lost, reconnecting");
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    pg->depth = 0;
    pg->commit_failed = false;
    pg->conn = connect_raw(pg->conninfo);
    if (!pg->conn)
        return TM_ERR_UNAVAILABLE;
    int rc = setup_session(pg);
    if (rc == TM_OK)
        rc = prepare_all(pg);
    if (rc != TM_OK) {
        PQfinish(pg->conn);
        pg->conn = NULL;
    }
    return rc;
}

static void copy_sqlstate(PGresult *r, PGconn *c, char *sqlstate)
{
    if (!sqlstate)
        return;
    const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!ss && PQstatus(c) != CONNECTION_OK)
        ss = "08006";
    snprintf(sqlstate, 6, "%s", ss ? ss : "XX000");
}

static bool result_ok(PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Reports a failed statement; decides between a query error and a lost connection. */
static int fail(tm_pg_t *pg, PGresult *r, char *sqlstate)
{
    copy_sqlstate(r, pg->conn, sqlstate);
    bool lost = PQstatus(pg->conn) != CONNECTION_OK;
    if (lost)
        TM_WARN("postgres connection broken: %s", PQerrorMessage(pg->conn));
    else
        TM_DEBUG("postgres: %s", PQresultErrorMessage(r));
    PQclear(r);
    return lost ? TM_ERR_UNAVAILABLE : TM_ERR_PG;
}

/* An idle connection has nothing to read: anything readable is the server closing it (a
 * restart, pg_terminate_backend, a killed postmaster). Noticing it here, with one poll,
 * turns a failed request after a Postgres restart into a transparent reconnect. */
static void probe_idle(tm_pg_t *pg)
{
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK)
        return;
    struct pollfd p = {.fd = PQsocket(pg->conn), .events = POLLIN};
    if (poll(&p, 1, 0) > 0)
        (void)PQconsumeInput(pg->conn);
}

static int ready_for_statement(tm_pg_t *pg, char *sqlstate)
{
    if (pg->depth == 0) {
        probe_idle(pg);
        int rc = tm_pg_ensure(pg);
        if (rc == TM_OK)
            return TM_OK;
        if (sqlstate)
            snprintf(sqlstate, 6, rc == TM_ERR_UNAVAILABLE ? "08006" : "XX000");
        return rc;
    }
    if (tm_pg_is_up(pg))
        return TM_OK;
    if (sqlstate)
        snprintf(sqlstate, 6, "08006");
    return TM_ERR_UNAVAILABLE;
}

int tm_pg_exec_bin(tm_pg_t *pg, const char *name, int nparams, const char *const *params,
                   const int *lengths, const int *formats, int result_format, PGresult **out,
                   char *sqlstate)
{
    if (out)
        *out = NULL;
    pg->commit_failed = false;
    for (int attempt = 0;; attempt++) {
        int rc = ready_for_statement(pg, sqlstate);
        if (rc != TM_OK)
            return rc;
        PGresult *r =
            PQexecPrepared(pg->conn, name, nparams, params, lengths, formats, result_format);
        if (result_ok(r)) {
            if (out)
                *out = r;
            else
                PQclear(r);
            return TM_OK;
        }
        bool lost = PQstatus(pg->conn) != CONNECTION_OK;
        if (lost && pg->depth == 0 && attempt == 0) {
            PQclear(r);
            continue;
        }
        return fail(pg, r, sqlstate);
    }
}

int tm_pg_exec(tm_pg_t *pg, const char *name, int nparams, const char *const *params,
               PGresult **out, char *sqlstate)
{
    return tm_pg_exec_bin(pg, name, nparams, params, NULL, NULL, 0, out, sqlstate);
}

static int exec_sql_raw(tm_pg_t *pg, const char *sql, char *sqlstate)
{
    int rc = ready_for_statement(pg, sqlstate);
    if (rc != TM_OK)
        return rc;
    PGresult *r = PQexec(pg->conn, sql);
    if (!result_ok(r) && pg->depth == 0 && PQstatus(pg->conn) != CONNECTION_OK) {
        /* Outside a transaction nothing ran: reconnect and try once more (BEGIN, SET). */
        PQclear(r);
        if ((rc = ready_for_statement(pg, sqlstate)) != TM_OK)
            return rc;
        r = PQexec(pg->conn, sql);
    }
    if (!result_ok(r))
        return fail(pg, r, sqlstate);
    PQclear(r);
    return TM_OK;
}

int tm_pg_exec_sql(tm_pg_t *pg, const char *sql, char *sqlstate)
{
    pg->commit_failed = false;
    return exec_sql_raw(pg, sql, sqlstate);
}

int tm_pg_begin(tm_pg_t *pg)
{
    char sql[48];
    pg->commit_failed = false;
    if (pg->depth == 0)
        snprintf(sql, sizeof sql, "BEGIN");
    else
        snprintf(sql, sizeof sql, "SAVEPOINT tm_sp_%d", pg->depth);
    int rc = exec_sql_raw(pg, sql, NULL);
    if (rc == TM_OK)
        pg->depth++;
    return rc;
}

/* COMMIT of an aborted transaction "succeeds" with tag ROLLBACK: report it as a failure. */
static int commit_outer(tm_pg_t *pg, char *sqlstate)
{
    PGresult *r = PQexec(pg->conn, "COMMIT");
    pg->depth = 0;
    if (!result_ok(r))
        return fail(pg, r, sqlstate);
    bool rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    if (rolled_back) {
        if (sqlstate)
            snprintf(sqlstate, 6, "25P02");
        return TM_ERR_PG;
    }
    return TM_OK;
}

static void rollback_level(tm_pg_t *pg)
{
    char sql[96];
    if (pg->depth <= 0)
        return;
    if (pg->depth == 1)
        snprintf(sql, sizeof sql, "ROLLBACK");
    else
        snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT tm_sp_%d; RELEASE SAVEPOINT tm_sp_%d",
                 pg->depth - 1, pg->depth - 1);
    pg->depth--;
    if (tm_pg_is_up(pg))
        (void)exec_cmd(pg->conn, sql);
}

int tm_pg_commit(tm_pg_t *pg, char *sqlstate)
{
    if (pg->depth <= 0)
        return TM_ERR_INTERNAL;
    int rc;
    if (!tm_pg_is_up(pg)) {
        pg->depth--;
        rc = TM_ERR_UNAVAILABLE;
        if (sqlstate)
            snprintf(sqlstate, 6, "08006");
    } else if (pg->depth == 1) {
        rc = commit_outer(pg, sqlstate);
    } else {
        char sql[48];
        snprintf(sql, sizeof sql, "RELEASE SAVEPOINT tm_sp_%d", pg->depth - 1);
        PGresult *r = PQexec(pg->conn, sql);
        if (result_ok(r)) {
            PQclear(r);
            pg->depth--;
            return TM_OK;
        }
        rc = fail(pg, r, sqlstate);
        rollback_level(pg);
    }
    pg->commit_failed = rc != TM_OK;
    return rc;
}

void tm_pg_rollback(tm_pg_t *pg)
{
    if (!pg)
        return;
    if (pg->commit_failed) {
        pg->commit_failed = false;
        return;
    }
    rollback_level(pg);
}

/* ---- migrations ---- */

#define MIGRATION_MAX_BYTES (4 * 1024 * 1024)
#define MIGRATION_MAX_FILES 1000

typedef struct {
    long version;
    char *file;
} migration_t;

static int exec_params(PGconn *c, const char *sql, int n, const char *const *params, PGresult **out)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (!result_ok(r)) {
        TM_ERROR("migrate: %s", PQresultErrorMessage(r));
        PQclear(r);
        return TM_ERR_PG;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return TM_OK;
}

/* The harness's own tables, created before the service's files run. The schema is created
 * only when it is missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even
 * when the schema exists, and a service role should own its schema and nothing more. */
static int bootstrap_schema(PGconn *c, const char *ident, const char *literal)
{
    char *sql = tm_xasprintf(
        "DO $tm$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %2$s) THEN"
        " CREATE SCHEMA %1$s; END IF; END $tm$;"
        "CREATE TABLE IF NOT EXISTS %1$s.schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now());"
        "CREATE TABLE IF NOT EXISTS %1$s.idempotency_keys ("
        " user_id text NOT NULL, key text NOT NULL, request_hash text NOT NULL,"
        " status integer NOT NULL, headers jsonb NOT NULL DEFAULT '{}',"
        " body bytea NOT NULL DEFAULT ''::bytea,"
        " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (user_id, key));"
        "CREATE INDEX IF NOT EXISTS idempotency_keys_created_at"
        " ON %1$s.idempotency_keys (created_at);",
        ident, literal);
    int rc = exec_cmd(c, sql);
    free(sql);
    return rc;
}

static bool parse_migration_name(const char *name, long *version)
{
    size_t n = strlen(name);
    if (n < 6 || strcmp(name + n - 4, ".sql") != 0)
        return false;
    char *end = NULL;
    long v = strtol(name, &end, 10);
    if (end == name || *end != '_' || v < 0 || v > 999999)
        return false;
    *version = v;
    return true;
}

static int by_version(const void *a, const void *b)
{
    const migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static void free_migrations(migration_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].file);
    free(m);
}

static int list_migrations(const char *dir, migration_t **out, size_t *count)
{
    struct dirent **ents = NULL;
    *out = NULL;
    *count = 0;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        TM_ERROR("migrate: cannot read directory %s", dir);
        return TM_ERR_IO;
    }
    migration_t *m = tm_xcalloc((size_t)n + 1, sizeof *m);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        long v;
        if (k < MIGRATION_MAX_FILES && parse_migration_name(ents[i]->d_name, &v)) {
            m[k].version = v;
            m[k++].file = tm_xstrdup(ents[i]->d_name);
        }
        free(ents[i]);
    }
    free(ents);
    qsort(m, k, sizeof *m, by_version);
    for (size_t i = 1; i < k; i++) {
        if (m[i].version == m[i - 1].version) {
            TM_ERROR("migrate: duplicate version in %s and %s", m[i - 1].file, m[i].file);
            free_migrations(m, k);
            return TM_ERR_INVALID;
        }
    }
    *out = m;
    *count = k;
    return TM_OK;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = tm_xmalloc(MIGRATION_MAX_BYTES + 1);
    size_t n = fread(buf, 1, MIGRATION_MAX_BYTES + 1, f);
    bool err = ferror(f) != 0;
    fclose(f);
    if (err || n > MIGRATION_MAX_BYTES) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* 1 = applied already (name matches), 0 = not applied, <0 = error. */
static int migration_state(PGconn *c, const char *ident, const migration_t *m)
{
    char ver[24];
    snprintf(ver, sizeof ver, "%ld", m->version);
    const char *params[] = {ver};
    char *sql = tm_xasprintf("SELECT name FROM %s.schema_migrations WHERE version = $1", ident);
    PGresult *r = NULL;
    int rc = exec_params(c, sql, 1, params, &r);
    free(sql);
    if (rc != TM_OK)
        return rc;
    if (PQntuples(r) == 0)
        rc = 0;
    else if (strcmp(PQgetvalue(r, 0, 0), m->file) == 0)
        rc = 1;
    else {
        TM_ERROR("migrate: version %ld was applied as %s, but the file is %s", m->version,
                 PQgetvalue(r, 0, 0), m->file);
        rc = TM_ERR_CONFLICT;
    }
    PQclear(r);
    return rc;
}

static int apply_one(PGconn *c, const char *ident, const char *dir, const migration_t *m)
{
    char *path = tm_xasprintf("%s/%s", dir, m->file);
    char *body = read_file(path);
    free(path);
    if (!body) {
        TM_ERROR("migrate: cannot read %s/%s", dir, m->file);
        return TM_ERR_IO;
    }
    char ver[24];
    snprintf(ver, sizeof ver, "%ld", m->version);
    const char *params[] = {ver, m->file};
    char *pre = tm_xasprintf("BEGIN; SET LOCAL search_path TO %s, public", ident);
    char *ins =
        tm_xasprintf("INSERT INTO %s.schema_migrations (version, name) VALUES ($1, $2)", ident);
    int rc = exec_cmd(c, pre);
    if (rc == TM_OK)
        rc = exec_cmd(c, body);
    if (rc == TM_OK)
        rc = exec_params(c, ins, 2, params, NULL);
    if (rc == TM_OK)
        rc = exec_cmd(c, "COMMIT");
    if (rc != TM_OK) {
        TM_ERROR("migrate: %s failed", m->file);
        (void)exec_cmd(c, "ROLLBACK");
    } else {
        TM_INFO("migrate: applied %s", m->file);
    }
    free(pre);
    free(ins);
    free(body);
    return rc;
}

static int apply_all(PGconn *c, const char *ident, const char *dir, int *applied)
{
    migration_t *m = NULL;
    size_t n = 0;
    int rc = list_migrations(dir, &m, &n);
    for (size_t i = 0; rc == TM_OK && i < n; i++) {
        int st = migration_state(c, ident, &m[i]);
        if (st < 0)
            rc = st;
        else if (st == 0 && (rc = apply_one(c, ident, dir, &m[i])) == TM_OK)
            (*applied)++;
    }
    free_migrations(m, n);
    return rc;
}

static int lock_schema(PGconn *c, const char *schema, bool lock)
{
    char *key = tm_xasprintf("tm_migrate:%s", schema);
    const char *params[] = {key};
    int rc = exec_params(c,
                         lock ? "SELECT pg_advisory_lock(hashtext($1))"
                              : "SELECT pg_advisory_unlock(hashtext($1))",
                         1, params, NULL);
    free(key);
    return rc;
}

int tm_pg_migrate(const char *conninfo, const char *schema, const char *dir, int *applied)
{
    *applied = 0;
    if (!conninfo || !schema || !*schema)
        return TM_ERR_INVALID;
    PGconn *c = connect_raw(conninfo);
    if (!c)
        return TM_ERR_UNAVAILABLE;
    char *ident = PQescapeIdentifier(c, schema, strlen(schema));
    char *literal = PQescapeLiteral(c, schema, strlen(schema));
    int rc = ident && literal ? lock_schema(c, schema, true) : TM_ERR_PG;
    if (rc == TM_OK) {
        rc = bootstrap_schema(c, ident, literal);
        if (rc == TM_OK && dir)
            rc = apply_all(c, ident, dir, applied);
        if (PQstatus(c) == CONNECTION_OK)
            (void)lock_schema(c, schema, false);
    }
    if (rc != TM_OK && PQstatus(c) != CONNECTION_OK)
        rc = TM_ERR_UNAVAILABLE;
    PQfreemem(ident);
    PQfreemem(literal);
    PQfinish(c);
    return rc;
}
