/* rt_db: the prepared statements of tm-realtime (one table, prepared on every connection:
 * the workers', the consumer's and the sweeper's). Names are the first argument of
 * tm_pg_exec. Timestamps come back as RFC 3339 UTC text with milliseconds. */
#ifndef RT_DB_H
#define RT_DB_H

#include <stddef.h>
#include "tm_pg.h"

extern const tm_pg_stmt_t rt_db_stmts[];
extern const size_t rt_db_nstmts;

#endif
