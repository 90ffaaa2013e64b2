/*
 * cli_db.c - the verbs that look after the installation: `db migrate`,
 * `status` and `config check`.
 *
 * `status` asks both halves of the system whether they are there: the
 * engine over the bus (any answer at all means it is up; a "ping" it does
 * not know still comes back as an error reply) and PostgreSQL with one
 * connection attempt.
 *
 * `config check` is the one place that knows every program reads the same
 * file: it checks the sections the CLI reads itself, then runs each sibling
 * binary named tawasul-* next to this one with `--check-config -c FILE`, so
 * each program judges its own sections with its own tables and nobody keeps
 * a second copy of them. A sibling that hangs is killed after a while.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "bus.h"
#include "command.h"
#include "error.h"
#include "mem.h"

#define MIGRATE_WAIT  (10 * TW_SEC) /* for the database to come up */
#define PING_GIVE_UP  (3 * TW_SEC)
#define CHECK_TIMEOUT (15 * TW_SEC) /* for one sibling's --check-config */
#define CHECK_OUT_MAX (64 * 1024)   /* bytes of a sibling's output kept */
#define SIBLINGS_MAX  64

/* no_options - parse a verb that takes only --help; returns -1 to go on,
 * else the exit status. *NEXT gets the index of the first operand. */
static int no_options(const struct cli_verb *v, int argc, char **argv,
                      int *next)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        return rc;
    }
    *next = optind;
    return -1;
}

/* cli_db_migrate - apply the schema's missing migrations */
int cli_db_migrate(struct cli *c, const struct cli_verb *v, int argc,
                   char **argv)
{
    struct tw_db *db = NULL;
    int next = 0;
    int rc = no_options(v, argc, argv, &next);
    if (rc >= 0)
        return rc;
    if (next < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[next]);
    if ((rc = cli_ready(c)) != 0)
        return rc;
    if ((rc = cli_db_open(c, MIGRATE_WAIT, &db)) != 0)
        return rc;

    int applied = 0;
    cli_log_mute(c);
    int st = tw_db_migrate(db, &applied);
    int version = st == TW_OK ? tw_db_schema_version(db) : -1;
    cli_log_unmute(c);
    if (st != TW_OK || version < 0) {
        if (st != TW_PERMFAIL)
            rc = cli_fail(EX_TEMPFAIL,
                          "the migration did not finish: %s (try again; "
                          "nothing half-applied is kept)",
                          cli_db_reason(db));
        else
            rc = cli_fail(EX_SOFTWARE, "a migration failed: %s",
                          cli_db_reason(db));
        goto out;
    }
    printf("database migrated: schema version %d (%d applied)\n", version,
           applied);
out:
    tw_db_destroy(&db);
    return rc;
}

/* ping_engine - whether the engine answers on bus.intake within a few
 * seconds; *PID gets the answering engine's process id (0 if unknown) */
static int ping_engine(struct cli *c, long *pid)
{
    int up = 0;
    *pid = 0;
    void *zctx = zmq_ctx_new();
    char *key = tw_key_new("ping");
    json_t *cmd =
        json_pack("{s:i, s:s, s:s}", "v", 1, "op", "ping", "key", key);
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = c->base.bus_request_timeout < PING_GIVE_UP
                    ? c->base.bus_request_timeout
                    : PING_GIVE_UP;
    o.backoff_max = c->base.bus_backoff_max;
    o.give_up = PING_GIVE_UP;
    cli_log_mute(c);
    json_t *reply = tw_bus_call(zctx, c->base.bus_intake, &o, cmd, NULL, 0);
    cli_log_unmute(c);
    /* Any answer the engine wrote itself, even "unknown_op", means it is
     * up; only the client's own give-up says "timeout". */
    if (reply) {
        const char *err = json_string_value(json_object_get(reply, "error"));
        up = !err || strcmp(err, "timeout") != 0;
        *pid = (long)json_integer_value(json_object_get(reply, "pid"));
    }
    json_decref(reply);
    free(key);
    zmq_ctx_term(zctx);
    return up;
}

/* cli_status - is the engine answering, is the database reachable */
int cli_status(struct cli *c, const struct cli_verb *v, int argc, char **argv)
{
    int next = 0;
    int rc = no_options(v, argc, argv, &next);
    if (rc >= 0)
        return rc;
    if (next < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[next]);
    if ((rc = cli_ready(c)) != 0)
        return rc;

    long pid;
    int engine_up = ping_engine(c, &pid);
    if (engine_up && pid > 0)
        printf("engine:   up (%s, pid %ld)\n", c->base.bus_intake, pid);
    else
        printf("engine:   %s (%s)\n", engine_up ? "up" : "not answering",
               c->base.bus_intake);
    fflush(stdout);

    struct tw_db *db = tw_db_new(c->base.database_url, "tawasul");
    tw_db_set_connect_timeout(db, c->base.database_connect_timeout);
    cli_log_mute(c);
    int db_up = tw_db_connect(db) == TW_OK;
    int version = db_up ? tw_db_schema_version(db) : -1;
    cli_log_unmute(c);
    if (db_up && version >= 0)
        printf("database: up (schema version %d)\n", version);
    else
        printf("database: unreachable: %s\n", cli_db_reason(db));
    tw_db_destroy(&db);

    db_up = db_up && version >= 0;
    if (!engine_up && !db_up)
        return cli_fail(EX_UNAVAILABLE,
                        "neither the engine nor the database answers: is "
                        "the stack running? (deploy/local/tawasul-local "
                        "status)");
    if (!engine_up)
        return cli_fail(EX_UNAVAILABLE,
                        "the engine is not answering at %s: is "
                        "tawasul-engine running? (deploy/local/tawasul-local "
                        "status)",
                        c->base.bus_intake);
    if (!db_up)
        return cli_fail(EX_UNAVAILABLE,
                        "the database is unreachable: is PostgreSQL "
                        "running? (deploy/local/tawasul-local status)");
    if (version == 0)
        printf("database has no schema yet: run `tawasul db migrate`\n");
    return 0;
}

/* print_prefixed - each non-empty line of TEXT on FP as "NAME: line",
 * unless the line already starts with NAME */
static void print_prefixed(FILE *fp, const char *name, const char *text)
{
    size_t nl = strlen(name);
    while (*text) {
        size_t n = strcspn(text, "\n");
        if (n) {
            if (strncmp(text, name, nl) == 0 &&
                (text[nl] == ':' || text[nl] == '['))
                fprintf(fp, "%.*s\n", (int)n, text);
            else
                fprintf(fp, "%s: %.*s\n", name, (int)n, text);
        }
        text += n;
        if (*text == '\n')
            text++;
    }
}

/* check_self - check the sections the CLI itself reads */
static int check_self(struct cli *c, const char *path)
{
    char *errors = NULL;
    int rc = cli_load_tables(c, path, &errors);
    if (rc == 0 && tw_clock_set_zone(c->base.site_timezone) != TW_OK) {
        errors = tw_asprintf("%s: site.timezone: unknown time zone \"%s\" "
                             "(an IANA name such as Asia/Riyadh)",
                             path, c->base.site_timezone);
        rc = EX_CONFIG;
    }
    tw_config_free(c->tables, 3);
    if (rc == 0) {
        printf("tawasul: ok\n");
    } else if (errors && *errors) {
        print_prefixed(stderr, "tawasul", errors);
    } else {
        fprintf(stderr, "tawasul: %s: the configuration is not valid\n", path);
    }
    free(errors);
    return rc == 0;
}

/* run_check - run PROG --check-config -c PATH, its output into OUT; returns
 * the exit status, 124 when it had to be killed, 127 if it did not start */
static int run_check(const char *prog, const char *path, struct tw_buf *out)
{
    int fds[2];
    if (pipe(fds) != 0)
        return 127;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 127;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(prog, prog, "--check-config", "-c", path, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    tw_time deadline = tw_clock_mono() + CHECK_TIMEOUT;
    int killed = 0;
    for (;;) {
        int64_t left = deadline - tw_clock_mono();
        if (left <= 0) {
            kill(pid, SIGKILL);
            killed = 1;
            break;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int n = poll(&pfd, 1, (int)(left / TW_MSEC) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        char chunk[4096];
        ssize_t r = read(fds[0], chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (out->len < CHECK_OUT_MAX &&
            tw_buf_add(out, chunk, (size_t)r) != TW_OK)
            break;
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (killed)
        return 124;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* check_sibling - run one sibling's check; whether it passed */
static int check_sibling(const char *dir, const char *name, const char *path)
{
    char *prog = tw_asprintf("%s/%s", dir, name);
    struct tw_buf out;
    tw_buf_init(&out, CHECK_OUT_MAX + 4096);
    int status = run_check(prog, path, &out);
    int ok = status == 0;
    if (ok) {
        printf("%s: ok\n", name);
    } else {
        print_prefixed(stderr, name, tw_buf_str(&out));
        if (status == 124)
            fprintf(stderr, "%s: did not finish checking within %llds\n", name,
                    (long long)(CHECK_TIMEOUT / TW_SEC));
        else if (status == 127)
            fprintf(stderr, "%s: could not be run\n", name);
        else if (status != EX_CONFIG)
            fprintf(stderr, "%s: check failed (exit status %d)\n", name,
                    status);
    }
    tw_buf_free(&out);
    free(prog);
    return ok;
}

/* compare_names - qsort order for file names */
static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* check_siblings - every tawasul-* binary next to this one; how many
 * failed (-1 if the folder could not be read) */
static int check_siblings(const char *path)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    const char *dir = self[0] ? self : "/";

    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char *names[SIBLINGS_MAX];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < SIBLINGS_MAX) {
        if (strncmp(e->d_name, "tawasul-", 8) != 0)
            continue;
        char *full = tw_asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        int exe = stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
                  access(full, X_OK) == 0;
        free(full);
        if (exe)
            names[count++] = tw_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], compare_names);

    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        fflush(stdout);
        if (!check_sibling(dir, names[i], path))
            failed++;
        free(names[i]);
    }
    return failed;
}

/* cli_config_check - check FILE for the CLI and every sibling program */
int cli_config_check(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv)
{
    int next = 0;
    int rc = no_options(v, argc, argv, &next);
    if (rc >= 0)
        return rc;
    if (argc - next > 1)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[next + 1]);
    const char *path = next < argc ? argv[next] : c->config_path;
    if (!path)
        path = tw_config_default_path();
    if (access(path, R_OK) != 0)
        return cli_fail(EX_CONFIG, "%s: %s", path, strerror(errno));

    int ok = check_self(c, path);
    fflush(stdout);
    int failed = check_siblings(path);
    if (failed < 0)
        return cli_fail(EX_SOFTWARE,
                        "cannot find the other Tawasul programs next to "
                        "this one (/proc/self/exe)");
    return ok && failed == 0 ? 0 : EX_CONFIG;
}
