/*
 * db.h - PostgreSQL through libpq: connect with backoff, parameterized
 * queries only, transactions, and the schema's migrations.
 *
 * A struct tw_db owns one connection and knows whether it is usable. Every
 * failure is classified: connection trouble, serialization failures,
 * deadlocks and server shutdown are TW_TEMPFAIL (try again, the caller may
 * reconnect); everything else (constraint violations, bad SQL) is
 * TW_PERMFAIL. Errors are logged once here with the SQLSTATE; callers just
 * propagate the status.
 *
 * Migrations are the SQL files in common/migrations/, embedded at build time,
 * applied in version order under an advisory lock and recorded in
 * tawasul.schema_migrations, each in its own transaction.
 */
#ifndef TW_DB_H
#define TW_DB_H

#include <stddef.h>
#include <libpq-fe.h>

#include "clock.h"

struct tw_db;

/* tw_db_new - a handle for CONNINFO (copied); not connected yet. WHO names
 * the connection in logs and pg_stat_activity (application_name). */
struct tw_db *tw_db_new(const char *conninfo, const char *who);
/* tw_db_destroy - close and free; NULL-safe; sets *DB to NULL */
void tw_db_destroy(struct tw_db **db);

/* tw_db_set_connect_timeout - limit each connection attempt (usec; 0: the
 * conninfo's or libpq's default) */
void tw_db_set_connect_timeout(struct tw_db *db, int64_t timeout);

/* tw_db_connect - one connection attempt; TW_OK, TW_TEMPFAIL (server
 * unreachable) or TW_PERMFAIL (bad conninfo, authentication refused) */
__attribute__((warn_unused_result)) int tw_db_connect(struct tw_db *db);
/* tw_db_connect_wait - attempt with exponential backoff (up to MAX_DELAY
 * between tries) until connected or WAIT microseconds have passed */
__attribute__((warn_unused_result)) int
tw_db_connect_wait(struct tw_db *db, int64_t wait, int64_t max_delay);
/* tw_db_is_up - whether the connection is believed usable */
int tw_db_is_up(const struct tw_db *db);
/* tw_db_disconnect - drop the connection (it is reopened by tw_db_connect) */
void tw_db_disconnect(struct tw_db *db);
/* tw_db_conn - the libpq connection (borrowed; NULL when down) */
PGconn *tw_db_conn(struct tw_db *db);

/* tw_db_query - run SQL with N text parameters (NULL entries are SQL NULL).
 * Returns the result (caller PQclear()s it) with status TUPLES_OK or
 * COMMAND_OK, or NULL with *STATUS set to TW_TEMPFAIL/TW_PERMFAIL. On a
 * connection failure the handle is marked down. */
PGresult *tw_db_query(struct tw_db *db, int *status, const char *sql, int n,
                      const char *const *values);
/* tw_db_query_bin - as tw_db_query, with LENGTHS and FORMATS per parameter
 * (format 1 = binary, e.g. bytea) */
PGresult *tw_db_query_bin(struct tw_db *db, int *status, const char *sql, int n,
                          const char *const *values, const int *lengths,
                          const int *formats);
/* tw_db_query_prepared - as tw_db_query_bin for a statement run often: it
 * is prepared once per connection (SQL must be a string that lives as long
 * as the handle, e.g. a constant; it is known by its address) and executed
 * as a prepared statement after that, which spares parsing and planning */
PGresult *tw_db_query_prepared(struct tw_db *db, int *status, const char *sql,
                               int n, const char *const *values,
                               const int *lengths, const int *formats);
/* tw_db_exec - run SQL whose result is not needed; TW_OK or a failure */
__attribute__((warn_unused_result)) int
tw_db_exec(struct tw_db *db, const char *sql, int n, const char *const *values);

/* Transactions: plain statements, so a failed one must be rolled back. */
__attribute__((warn_unused_result)) int tw_db_begin(struct tw_db *db);
__attribute__((warn_unused_result)) int tw_db_commit(struct tw_db *db);
/* tw_db_rollback - roll back if a transaction is open; harmless otherwise */
void tw_db_rollback(struct tw_db *db);

/* tw_db_sqlstate - the SQLSTATE of the last failure ("" if none; borrowed) */
const char *tw_db_sqlstate(const struct tw_db *db);
/* tw_db_error - the last failure's message, one line (borrowed) */
const char *tw_db_error(const struct tw_db *db);

/* One embedded migration (generated from common/migrations/). */
struct tw_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct tw_migration tw_migrations[];
extern const size_t tw_migrations_count;

/* tw_db_migrate - apply the missing migrations in order under an advisory
 * lock; *APPLIED (may be NULL) gets how many were applied now. */
__attribute__((warn_unused_result)) int tw_db_migrate(struct tw_db *db,
                                                      int *applied);
/* tw_db_schema_version - highest applied migration, 0 if none, -1 on error */
int tw_db_schema_version(struct tw_db *db);

/* tw_db_time_param - format T as a timestamptz parameter into BUF (at least
 * TW_TIME_ISO_MAX bytes); returns BUF */
char *tw_db_time_param(tw_time t, char *buf);

#endif
