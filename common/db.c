/*
 * db.c - PostgreSQL through libpq.
 *
 * DESIGN
 * ------
 * One struct tw_db wraps one PGconn and a flag saying whether it is usable.
 * Every query goes through tw_db_query_bin, which classifies a failure once:
 * a broken connection (PQstatus bad, SQLSTATE class 08), serialization
 * failure, deadlock, admin shutdown or resource exhaustion is TW_TEMPFAIL and
 * marks the handle down so the owner reconnects; everything else is
 * TW_PERMFAIL. The failure is logged here, with its SQLSTATE, and callers only
 * propagate the status.
 *
 * Migrations run under a session advisory lock so two engines starting at
 * once never apply the same file twice; each file is applied and recorded in
 * one transaction, so a crash leaves the schema at a recorded version.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"
#include "mem.h"

/* Statements prepared on the current connection, by their SQL's address
 * (the SQL of a prepared query is a string constant of the caller's). */
#define PREPARED_MAX 32

struct tw_db {
    char *conninfo;
    char *who;
    char connect_timeout[16];
    const char *prepared[PREPARED_MAX];
    int nprepared;
    PGconn *conn;
    int up;
    char sqlstate[6];
    char error[512];
};

/* Any 64-bit number will do; this one spells "tawasul" in ASCII. */
#define MIGRATE_LOCK_KEY "1952544609"

static void notice_quiet(void *arg, const char *message)
{
    (void)arg;
    tw_debug("database notice: %s", message);
}

/* tw_db_new - a handle for CONNINFO; not connected yet */
struct tw_db *tw_db_new(const char *conninfo, const char *who)
{
    struct tw_db *db = tw_calloc(1, sizeof *db);
    db->conninfo = tw_strdup(conninfo);
    db->who = tw_strdup(who ? who : "tawasul");
    return db;
}

/* tw_db_destroy - close and free; NULL-safe */
void tw_db_destroy(struct tw_db **dbp)
{
    if (!dbp || !*dbp)
        return;
    struct tw_db *db = *dbp;
    if (db->conn)
        PQfinish(db->conn);
    free(db->conninfo);
    free(db->who);
    free(db);
    *dbp = NULL;
}

/* set_error - remember the last failure, flattened to one line */
static void set_error(struct tw_db *db, const char *state, const char *msg)
{
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
    snprintf(db->error, sizeof db->error, "%s", msg ? msg : "unknown error");
    for (char *p = db->error; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t n = strlen(db->error);
    while (n && db->error[n - 1] == ' ')
        db->error[--n] = '\0';
}

/* tw_db_connect - one connection attempt */
int tw_db_connect(struct tw_db *db)
{
    if (db->conn && db->up && PQstatus(db->conn) == CONNECTION_OK)
        return TW_OK;
    if (db->conn)
        PQfinish(db->conn);
    db->up = 0;

    /* The conninfo is expanded first; the later keys override it. */
    const char *keys[] = {"dbname", "application_name", "client_encoding",
                          db->connect_timeout[0] ? "connect_timeout" : NULL,
                          NULL};
    const char *vals[] = {db->conninfo, db->who, "UTF8", db->connect_timeout,
                          NULL};
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(db->conn);
        /* A malformed conninfo or refused login will not fix itself. */
        int perm = strstr(msg, "invalid connection option") ||
                   strstr(msg, "missing \"=\"") || strstr(msg, "invalid URI") ||
                   strstr(msg, "password authentication failed");
        set_error(db, "08006", msg);
        tw_warn("database: cannot connect: %s", db->error);
        PQfinish(db->conn);
        db->conn = NULL;
        return perm ? TW_PERMFAIL : TW_TEMPFAIL;
    }
    PQsetNoticeProcessor(db->conn, notice_quiet, NULL);
    PGresult *r = PQexec(db->conn, "SET search_path = tawasul, public");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        set_error(db, "08006", PQerrorMessage(db->conn));
        PQfinish(db->conn);
        db->conn = NULL;
        return TW_TEMPFAIL;
    }
    db->up = 1;
    db->nprepared = 0; /* a new session knows no statements */
    db->sqlstate[0] = '\0';
    db->error[0] = '\0';
    return TW_OK;
}

/* tw_db_connect_wait - connect with backoff until WAIT has passed */
int tw_db_connect_wait(struct tw_db *db, int64_t wait, int64_t max_delay)
{
    struct tw_backoff b;
    tw_backoff_init(&b, 100 * TW_MSEC, max_delay > 0 ? max_delay : TW_SEC);
    tw_time deadline = tw_clock_mono() + wait;
    for (;;) {
        int st = tw_db_connect(db);
        if (st != TW_TEMPFAIL)
            return st;
        int64_t delay = tw_backoff_next(&b);
        tw_time now = tw_clock_mono();
        if (now >= deadline)
            return TW_TEMPFAIL;
        if (now + delay > deadline)
            delay = deadline - now;
        struct timespec ts = {(time_t)(delay / TW_SEC),
                              (long)(delay % TW_SEC) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* tw_db_set_connect_timeout - limit each connection attempt to TIMEOUT */
void tw_db_set_connect_timeout(struct tw_db *db, int64_t timeout)
{
    int64_t s = timeout / TW_SEC;
    if (timeout > 0 && s < 2)
        s = 2; /* libpq's smallest meaningful value */
    if (timeout <= 0)
        db->connect_timeout[0] = '\0';
    else
        snprintf(db->connect_timeout, sizeof db->connect_timeout, "%lld",
                 (long long)s);
}

int tw_db_is_up(const struct tw_db *db)
{
    return db->up;
}

void tw_db_disconnect(struct tw_db *db)
{
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
    db->up = 0;
}

PGconn *tw_db_conn(struct tw_db *db)
{
    return db->up ? db->conn : NULL;
}

/* is_temporary - whether a failure with SQLSTATE may pass by itself */
static int is_temporary(const char *state)
{
    return strncmp(state, "08", 2) == 0 ||  /* connection exception */
           strcmp(state, "40001") == 0 ||   /* serialization failure */
           strcmp(state, "40P01") == 0 ||   /* deadlock detected */
           strncmp(state, "53", 2) == 0 ||  /* insufficient resources */
           strncmp(state, "57P", 3) == 0 || /* admin/crash shutdown */
           strcmp(state, "55P03") == 0;     /* lock not available */
}

/* check_result - keep R if it succeeded, else classify and log the failure,
 * free R and return NULL */
static PGresult *check_result(struct tw_db *db, PGresult *r, int *status)
{
    ExecStatusType rs = PQresultStatus(r);
    if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) {
        *status = TW_OK;
        return r;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorMessage(r) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        set_error(db, "08006", msg);
        db->up = 0;
        *status = TW_TEMPFAIL;
        tw_warn("database: connection lost: %s", db->error);
    } else {
        set_error(db, state ? state : "XX000", msg);
        *status = is_temporary(db->sqlstate) ? TW_TEMPFAIL : TW_PERMFAIL;
        if (*status == TW_TEMPFAIL && strncmp(db->sqlstate, "57P", 3) == 0)
            db->up = 0;
        tw_log(*status == TW_TEMPFAIL ? TW_LOG_WARN : TW_LOG_ERROR,
               "database: %s: %s", db->sqlstate, db->error);
    }
    PQclear(r);
    return NULL;
}

/* not_connected - the failure of a query on a handle that is down */
static PGresult *not_connected(struct tw_db *db, int *status)
{
    set_error(db, "08003", "not connected to the database");
    *status = TW_TEMPFAIL;
    return NULL;
}

/* tw_db_query_bin - run SQL with parameters; see db.h */
PGresult *tw_db_query_bin(struct tw_db *db, int *status, const char *sql, int n,
                          const char *const *values, const int *lengths,
                          const int *formats)
{
    int dummy;
    if (!status)
        status = &dummy;
    if (!db->up || !db->conn)
        return not_connected(db, status);
    return check_result(
        db, PQexecParams(db->conn, sql, n, NULL, values, lengths, formats, 0),
        status);
}

/* tw_db_query_prepared - as tw_db_query_bin, preparing SQL once per
 * connection and executing the prepared statement after that */
PGresult *tw_db_query_prepared(struct tw_db *db, int *status, const char *sql,
                               int n, const char *const *values,
                               const int *lengths, const int *formats)
{
    int dummy;
    if (!status)
        status = &dummy;
    if (!db->up || !db->conn)
        return not_connected(db, status);
    int slot = -1;
    for (int i = 0; i < db->nprepared; i++)
        if (db->prepared[i] == sql)
            slot = i;
    char name[16];
    if (slot < 0) {
        if (db->nprepared == PREPARED_MAX) /* a caller bug, but harmless */
            return tw_db_query_bin(db, status, sql, n, values, lengths,
                                   formats);
        slot = db->nprepared;
        snprintf(name, sizeof name, "tw_%d", slot);
        PGresult *r =
            check_result(db, PQprepare(db->conn, name, sql, n, NULL), status);
        if (!r)
            return NULL;
        PQclear(r);
        db->prepared[db->nprepared++] = sql;
    }
    snprintf(name, sizeof name, "tw_%d", slot);
    return check_result(
        db, PQexecPrepared(db->conn, name, n, values, lengths, formats, 0),
        status);
}

PGresult *tw_db_query(struct tw_db *db, int *status, const char *sql, int n,
                      const char *const *values)
{
    return tw_db_query_bin(db, status, sql, n, values, NULL, NULL);
}

int tw_db_exec(struct tw_db *db, const char *sql, int n,
               const char *const *values)
{
    int st;
    PGresult *r = tw_db_query(db, &st, sql, n, values);
    PQclear(r);
    return st;
}

int tw_db_begin(struct tw_db *db)
{
    return tw_db_exec(db, "BEGIN", 0, NULL);
}

int tw_db_commit(struct tw_db *db)
{
    return tw_db_exec(db, "COMMIT", 0, NULL);
}

void tw_db_rollback(struct tw_db *db)
{
    if (!db->up || !db->conn)
        return;
    if (PQtransactionStatus(db->conn) == PQTRANS_IDLE)
        return;
    PGresult *r = PQexec(db->conn, "ROLLBACK");
    PQclear(r);
    if (PQstatus(db->conn) != CONNECTION_OK)
        db->up = 0;
}

const char *tw_db_sqlstate(const struct tw_db *db)
{
    return db->sqlstate;
}

const char *tw_db_error(const struct tw_db *db)
{
    return db->error;
}

/* tw_db_schema_version - highest applied migration, 0 if none */
int tw_db_schema_version(struct tw_db *db)
{
    int st;
    PGresult *r = tw_db_query(
        db, &st,
        "SELECT CASE WHEN to_regclass('tawasul.schema_migrations') IS NULL"
        " THEN 0 ELSE (SELECT coalesce(max(version), 0)"
        " FROM tawasul.schema_migrations) END",
        0, NULL);
    if (!r)
        return -1;
    int v = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* apply_one - apply migration M and record it, in one transaction */
static int apply_one(struct tw_db *db, const struct tw_migration *m)
{
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[] = {version, m->name};
    int st = tw_db_begin(db);
    if (st != TW_OK)
        return st;
    /* A multi-statement file needs the simple query protocol. */
    PGresult *r = PQexec(db->conn, m->sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        set_error(db, state ? state : "XX000", PQresultErrorMessage(r));
        tw_error("database: migration %04d_%s failed: %s", m->version, m->name,
                 db->error);
        PQclear(r);
        tw_db_rollback(db);
        return PQstatus(db->conn) == CONNECTION_OK ? TW_PERMFAIL : TW_TEMPFAIL;
    }
    PQclear(r);
    st = tw_db_exec(db,
                    "INSERT INTO tawasul.schema_migrations (version, name)"
                    " VALUES ($1, $2)",
                    2, params);
    if (st == TW_OK)
        st = tw_db_commit(db);
    if (st != TW_OK) {
        tw_db_rollback(db);
        return st;
    }
    tw_info("database: applied migration %04d_%s", m->version, m->name);
    return TW_OK;
}

/* tw_db_migrate - apply the missing migrations in order */
int tw_db_migrate(struct tw_db *db, int *applied)
{
    int count = 0;
    int st = tw_db_exec(db, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0,
                        NULL);
    if (st != TW_OK)
        return st;
    st = tw_db_exec(db, "CREATE SCHEMA IF NOT EXISTS tawasul", 0, NULL);
    if (st == TW_OK)
        st = tw_db_exec(db,
                        "CREATE TABLE IF NOT EXISTS tawasul.schema_migrations ("
                        " version integer PRIMARY KEY,"
                        " name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())",
                        0, NULL);
    int current = st == TW_OK ? tw_db_schema_version(db) : -1;
    if (current < 0) {
        st = st == TW_OK ? TW_TEMPFAIL : st;
        goto out;
    }
    for (size_t i = 0; i < tw_migrations_count; i++) {
        if (tw_migrations[i].version <= current)
            continue;
        st = apply_one(db, &tw_migrations[i]);
        if (st != TW_OK)
            goto out;
        count++;
    }
    if (tw_migrations_count &&
        current > tw_migrations[tw_migrations_count - 1].version)
        tw_warn("database: schema version %d is newer than this program "
                "knows (%d); running anyway",
                current, tw_migrations[tw_migrations_count - 1].version);
out:
    if (tw_db_is_up(db)) {
        /* Reset search_path the migration files may have changed. */
        int st2 = tw_db_exec(
            db, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL);
        if (st2 == TW_OK)
            st2 = tw_db_exec(db, "SET search_path = tawasul, public", 0, NULL);
        (void)st2;
    }
    if (applied)
        *applied = count;
    return st;
}

/* tw_db_time_param - T as a timestamptz parameter */
char *tw_db_time_param(tw_time t, char *buf)
{
    return tw_time_iso_utc(t, 1, buf);
}
