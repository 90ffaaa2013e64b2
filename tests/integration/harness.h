/*
 * harness.h - what every integration test needs: a fresh database in the
 * test cluster, a private config with ipc:// bus endpoints in a temporary
 * folder, the real tawasul-engine started as a child process, and a way to
 * run the real CLI and capture what it prints.
 *
 * The cluster comes from the "pg" CTest fixture (TW_TEST_PGHOST is its
 * socket folder); binaries from TW_BIN. Each test gets its own database and
 * folder, so tests run in parallel without seeing each other. Failures in the
 * harness itself fail the test (cmocka's fail_msg).
 */
#ifndef TW_HARNESS_H
#define TW_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <sys/types.h>

struct th {
    char dir[256];        /* temporary folder, removed by th_teardown */
    char dbname[64];      /* the test's own database */
    char conninfo[512];   /* libpq conninfo for it */
    char config[300];     /* path of the generated tawasul.yaml */
    char intake[300];     /* bus.intake endpoint (ipc://) */
    char events[300];     /* bus.events endpoint */
    char engine_log[300]; /* the engine's stderr */
    pid_t engine;         /* 0 when not running */
    PGconn *pg;           /* the test's own connection, for assertions */
    void *zctx;           /* a ZeroMQ context for the test's clients */
};

/* th_setup - make the folder, the database (empty, not migrated) and the
 * config (templates.dir pointing at the source tree's config/templates);
 * EXTRA_YAML (may be NULL) is appended to the config verbatim */
void th_setup(struct th *t, const char *name, const char *extra_yaml);
/* th_teardown - stop the engine, drop the database, remove the folder */
void th_teardown(struct th *t);
/* th_migrate - apply the schema to the test database */
void th_migrate(struct th *t);

/* th_engine_start - start build/bin/tawasul-engine with the test config and
 * wait until its intake socket is bound (at most 20 s) */
void th_engine_start(struct th *t);
/* th_engine_stop - send SIG, wait for exit; returns the exit status (or
 * 128+signal when killed) */
int th_engine_stop(struct th *t, int sig);

/* th_count - run SQL (one row, one integer column) on the test database */
long th_count(struct th *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* th_value - first column of the first row as a new string, NULL if no row */
char *th_value(struct th *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* th_exec - run SQL on the test database, failing the test on error */
void th_exec(struct th *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* th_cli - run a shell command line with TAWASUL_CONFIG set to the test's
 * config and TW_BIN first on PATH; *OUT (may be NULL) gets stdout, *ERR
 * (may be NULL) stderr; returns the exit status */
int th_cli(struct th *t, char **out, char **err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* th_intake - a minimal valid intake command (new reference) */
json_t *th_intake(const char *key, const char *subject);
/* th_call - send COMMAND (stolen) to the engine and wait for the final
 * reply, retrying up to GIVE_UP_MS; new reference */
json_t *th_call(struct th *t, json_t *command, int give_up_ms);

/* th_sleep_ms - pause MS milliseconds */
void th_sleep_ms(int ms);

/* th_fixture - path of a file under tests/fixtures (static buffer) */
const char *th_fixture(const char *rel);

#endif
