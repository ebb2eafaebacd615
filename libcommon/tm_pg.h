/* tm_pg: one Postgres connection per worker thread, with reconnect and prepared statements,
 * and the migration runner.
 *
 * A tm_pg_t belongs to one thread. Statements are registered once (tm_pg_prepare_all) and
 * re-prepared transparently after a reconnect. Every query runs with statement_timeout.
 * Errors: TM_ERR_PG (query failed: *sqlstate set when given), TM_ERR_UNAVAILABLE
 * (connection down and reconnect failed). */
#ifndef TM_PG_H
#define TM_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include "tm_error.h"

typedef struct {
    const char *name; /* statement name, e.g. "user_by_email" */
    const char *sql;  /* with $1.. placeholders */
    int nparams;
} tm_pg_stmt_t;

typedef struct tm_pg tm_pg_t;

/* New connection object; connects lazily (first use) or now with tm_pg_ensure.
 * conninfo is copied. schema sets search_path. stmts must outlive the object. */
tm_pg_t *tm_pg_new(const char *conninfo, const char *schema, const tm_pg_stmt_t *stmts,
                   size_t nstmts);
void tm_pg_free(tm_pg_t *pg);
/* Connect (or reconnect) if needed and prepare all statements. */
int tm_pg_ensure(tm_pg_t *pg) TM_WUR;
bool tm_pg_is_up(tm_pg_t *pg);
PGconn *tm_pg_conn(tm_pg_t *pg);

/* Execute prepared statement `name` with text params (NULL entry = SQL NULL).
 * *out receives the result (caller PQclear) on success. On failure returns TM_ERR_PG with
 * sqlstate (6 chars + NUL) copied into sqlstate when non-NULL. One reconnect+retry is done
 * if the connection was found broken before the statement ran, outside a transaction. */
int tm_pg_exec(tm_pg_t *pg, const char *name, int nparams, const char *const *params,
               PGresult **out, char *sqlstate) TM_WUR;
/* Same for binary-safe params (lengths/formats as PQexecPrepared). */
int tm_pg_exec_bin(tm_pg_t *pg, const char *name, int nparams, const char *const *params,
                   const int *lengths, const int *formats, int result_format, PGresult **out,
                   char *sqlstate) TM_WUR;
/* Plain SQL without params (BEGIN, COMMIT, ROLLBACK, SET ...). */
int tm_pg_exec_sql(tm_pg_t *pg, const char *sql, char *sqlstate) TM_WUR;
/* Transactions nest: the outermost begin/commit/rollback issue BEGIN/COMMIT/ROLLBACK, inner
 * ones SAVEPOINT/RELEASE/ROLLBACK TO SAVEPOINT. tm_pg_txn_depth() tells the depth. */
int tm_pg_begin(tm_pg_t *pg) TM_WUR;
int tm_pg_commit(tm_pg_t *pg, char *sqlstate) TM_WUR;
void tm_pg_rollback(tm_pg_t *pg);
int tm_pg_txn_depth(const tm_pg_t *pg);

/* Apply services/<svc>/migrations/NNN_name.sql files in dir, in numeric order, each in its
 * own transaction, under pg_advisory_lock(hash of schema), recording each in
 * <schema>.schema_migrations(version, name, applied_at). Creates the schema if missing.
 * Safe when several replicas start at once. *applied = how many were applied now. */
int tm_pg_migrate(const char *conninfo, const char *schema, const char *dir, int *applied) TM_WUR;

#endif
