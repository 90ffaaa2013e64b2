/*
 * harness.c - fresh database, private config and a real engine per test.
 * See harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "buf.h"
#include "mem.h"

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: run the tests through ctest", name);
    return v;
}

/* admin_exec - run SQL on the cluster's postgres database */
static void admin_exec(const char *sql)
{
    char conninfo[512];
    snprintf(conninfo, sizeof conninfo, "host=%s user=postgres dbname=postgres",
             env_or_fail("TW_TEST_PGHOST"));
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot reach the test cluster: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

void th_setup(struct th *t, const char *name, const char *extra_yaml)
{
    memset(t, 0, sizeof *t);
    const char *host = env_or_fail("TW_TEST_PGHOST");
    snprintf(t->dir, sizeof t->dir, "/tmp/tw-%s-XXXXXX", name);
    if (!mkdtemp(t->dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(t->dbname, sizeof t->dbname, "tw_%s_%ld", name, (long)getpid());
    for (char *p = t->dbname; *p; p++)
        if (*p == '-')
            *p = '_';
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", t->dbname);
    admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", t->dbname);
    admin_exec(sql);
    snprintf(t->conninfo, sizeof t->conninfo, "host=%s user=postgres dbname=%s",
             host, t->dbname);
    t->pg = PQconnectdb(t->conninfo);
    if (PQstatus(t->pg) != CONNECTION_OK)
        fail_msg("connect %s: %s", t->dbname, PQerrorMessage(t->pg));
    PQclear(PQexec(t->pg, "SET search_path = tawasul, public"));

    snprintf(t->intake, sizeof t->intake, "ipc://%s/intake", t->dir);
    snprintf(t->events, sizeof t->events, "ipc://%s/events", t->dir);
    snprintf(t->config, sizeof t->config, "%s/tawasul.yaml", t->dir);
    snprintf(t->engine_log, sizeof t->engine_log, "%s/engine.log", t->dir);
    FILE *f = fopen(t->config, "w");
    if (!f)
        fail_msg("%s: %s", t->config, strerror(errno));
    fprintf(f,
            "site:\n  timezone: Asia/Riyadh\n  ref_prefix: AW\n"
            "database:\n  url: \"%s\"\n  reconnect_max: 1s\n"
            "bus:\n  intake: \"%s\"\n  events: \"%s\"\n"
            "  request_timeout: 1s\n  backoff_max: 500ms\n"
            "log:\n  level: info\n"
            "templates:\n  dir: \"%s/config/templates\"\n%s",
            t->conninfo, t->intake, t->events, env_or_fail("TW_SOURCE"),
            extra_yaml ? extra_yaml : "");
    fclose(f);
    t->zctx = zmq_ctx_new();
}

void th_teardown(struct th *t)
{
    if (t->engine)
        th_engine_stop(t, SIGTERM);
    if (t->zctx)
        zmq_ctx_term(t->zctx);
    t->zctx = NULL;
    if (t->pg)
        PQfinish(t->pg);
    t->pg = NULL;
    if (t->dbname[0]) {
        char sql[256];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)",
                 t->dbname);
        admin_exec(sql);
    }
    if (t->dir[0] && !getenv("TW_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "harness: could not remove %s\n", t->dir);
    }
}

void th_migrate(struct th *t)
{
    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err, "tawasul db migrate");
    if (rc != 0)
        fail_msg("tawasul db migrate failed (%d): %s%s", rc, out, err);
    free(out);
    free(err);
}

void th_engine_start(struct th *t)
{
    const char *bin = env_or_fail("TW_BIN");
    char path[400];
    snprintf(path, sizeof path, "%s/tawasul-engine", bin);
    char sock[300];
    snprintf(sock, sizeof sock, "%s/intake", t->dir);
    unlink(sock);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(t->engine_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execl(path, path, "-c", t->config, (char *)NULL);
        _exit(127);
    }
    t->engine = pid;
    for (int i = 0; i < 400; i++) {
        struct stat st;
        if (stat(sock, &st) == 0)
            return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            t->engine = 0;
            fail_msg("tawasul-engine exited at start-up (status %d); see %s",
                     status, t->engine_log);
        }
        usleep(50 * 1000);
    }
    fail_msg("tawasul-engine did not bind %s within 20 s", sock);
}

int th_engine_stop(struct th *t, int sig)
{
    if (!t->engine)
        return -1;
    kill(t->engine, sig);
    int status = 0;
    for (int i = 0; i < 300; i++) {
        if (waitpid(t->engine, &status, WNOHANG) == t->engine) {
            t->engine = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        }
        usleep(50 * 1000);
    }
    kill(t->engine, SIGKILL);
    waitpid(t->engine, &status, 0);
    t->engine = 0;
    fail_msg("tawasul-engine did not stop within 15 s of signal %d", sig);
    return -1;
}

static PGresult *vquery(struct th *t, const char *fmt, va_list ap)
{
    char *sql = NULL;
    if (vasprintf(&sql, fmt, ap) < 0)
        fail_msg("out of memory");
    PGresult *r = PQexec(t->pg, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(t->pg));
    free(sql);
    return r;
}

long th_count(struct th *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = vquery(t, fmt, ap);
    va_end(ap);
    if (PQntuples(r) != 1)
        fail_msg("expected one row, got %d", PQntuples(r));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

char *th_value(struct th *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PGresult *r = vquery(t, fmt, ap);
    va_end(ap);
    char *v = NULL;
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = tw_strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

void th_exec(struct th *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    PQclear(vquery(t, fmt, ap));
    va_end(ap);
}

/* slurp - read a whole file into a new string */
static char *slurp(const char *path)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    FILE *f = fopen(path, "r");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            if (tw_buf_add(&b, chunk, n) != 0)
                break;
        fclose(f);
    }
    return tw_buf_take(&b, NULL);
}

int th_cli(struct th *t, char **out, char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    if (vasprintf(&cmd, fmt, ap) < 0)
        fail_msg("out of memory");
    va_end(ap);
    char outp[400], errp[400];
    snprintf(outp, sizeof outp, "%s/cli.out", t->dir);
    snprintf(errp, sizeof errp, "%s/cli.err", t->dir);
    char *full =
        tw_asprintf("cd '%s' && export TAWASUL_CONFIG='%s' "
                    "PATH='%s':\"$PATH\" && { %s\n} >'%s' 2>'%s' "
                    "</dev/null",
                    t->dir, t->config, env_or_fail("TW_BIN"), cmd, outp, errp);
    int status = system(full);
    free(full);
    free(cmd);
    if (out)
        *out = slurp(outp);
    if (err)
        *err = slurp(errp);
    if (status == -1)
        fail_msg("system: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

json_t *th_intake(const char *key, const char *subject)
{
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "v", 1, "op",
                     "intake", "key", key, "channel", "phone", "kind",
                     "request", "subject", subject, "body",
                     "اتصل العضو يسأل عن طلبه");
}

json_t *th_call(struct th *t, json_t *command, int give_up_ms)
{
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = 1000 * 1000;
    o.backoff_max = 300 * 1000;
    o.give_up = (int64_t)give_up_ms * 1000;
    json_t *reply = tw_bus_call(t->zctx, t->intake, &o, command, NULL, 0);
    if (!reply)
        fail_msg("tw_bus_call could not send");
    return reply;
}

const char *th_fixture(const char *rel)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", env_or_fail("TW_FIXTURES"), rel);
    return path;
}

void th_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
