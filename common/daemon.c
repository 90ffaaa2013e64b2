/*
 * daemon.c - the start-up sequence every service shares, and its signals.
 *
 * DESIGN
 * ------
 * tw_daemon_main is a fixed sequence (PgBouncer's main): options, config,
 * logging, time zone, signals, then the service's run(). Anything wrong
 * before run() is fatal with a sysexits code: 64 for a bad command line, 78
 * for bad config (every problem in the file is printed, one per line, as
 * "file:line:column: message", so one edit fixes them all).
 *
 * Signals become events: the handlers only write the signal number to a
 * non-blocking self-pipe, and run() sees the pipe readable in its poll and
 * calls tw_daemon_signals. A reload loads into fresh copies and swaps them
 * in only when the whole file is good; the service's struct is overwritten
 * in place so pointers to it stay valid, while strings in it from the old
 * load are freed (borrowers must not keep them across a reload).
 *
 * The context is the one allowed global: there is one daemon per process.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "clock.h"
#include "error.h"
#include "log.h"
#include "mem.h"

struct tw_daemon {
    const struct tw_service *svc;
    struct tw_base_config base;
    char *config_path; /* NULL: running on defaults and environment */
    int verbose;       /* -v given: debug logging whatever the config says */
    int sig_pipe[2];
    int stopping;
};

static struct tw_daemon daemon_ctx = {.sig_pipe = {-1, -1}};

/* make_tables - the base table over BASE and the service's over CONFIG;
 * returns how many */
static size_t make_tables(const struct tw_service *svc,
                          struct tw_base_config *base, void *config,
                          struct tw_cfg_table tables[3])
{
    tables[0].keys = tw_base_config_keys;
    tables[0].base = base;
    if (!svc->keys)
        return 1;
    tables[1].keys = svc->keys;
    tables[1].base = config;
    if (!svc->more_keys)
        return 2;
    tables[2].keys = svc->more_keys;
    tables[2].base = config ? (char *)config + svc->more_offset : NULL;
    return 3;
}

/* usage - the one-line synopsis */
static void usage(FILE *fp, const char *name)
{
    fprintf(fp, "usage: %s [-c FILE] [-v] [--check-config] [-h]\n", name);
}

/* help - --help: synopsis, options and every config key the service reads */
static void help(const struct tw_service *svc)
{
    struct tw_cfg_table tables[3];
    size_t n = make_tables(svc, NULL, NULL, tables);

    printf("%s - %s\n\n", svc->name, svc->summary ? svc->summary : "");
    usage(stdout, svc->name);
    printf("\n"
           "  -c, --config FILE  configuration file (default: "
           "$TAWASUL_CONFIG,\n"
           "                     else /etc/tawasul/tawasul.yaml)\n"
           "  -v, --verbose      log at debug level\n"
           "      --check-config check the configuration, then exit\n"
           "  -h, --help         show this help\n"
           "\nconfiguration keys:\n");
    tw_config_describe(tables, n, stdout);
}

/* on_signal - the handler: only note which signal came */
static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(daemon_ctx.sig_pipe[1], &b, 1);
    (void)w; /* a full pipe already holds a wake-up */
    errno = saved;
}

/* setup_signals - the self-pipe and the handlers; TW_PERMFAIL with errno */
static int setup_signals(struct tw_daemon *d)
{
    struct sigaction sa;

    if (pipe(d->sig_pipe) != 0)
        return TW_PERMFAIL;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(d->sig_pipe[i], F_GETFL);
        if (fl < 0 || fcntl(d->sig_pipe[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(d->sig_pipe[i], F_SETFD, FD_CLOEXEC) != 0)
            return TW_PERMFAIL;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGHUP, &sa, NULL) != 0)
        return TW_PERMFAIL;
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    if (sigaction(SIGPIPE, &sa, NULL) != 0)
        return TW_PERMFAIL;
    return TW_OK;
}

/* close_signals - put the handlers back and close the pipe */
static void close_signals(struct tw_daemon *d)
{
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    for (int i = 0; i < 2; i++) {
        if (d->sig_pipe[i] >= 0)
            close(d->sig_pipe[i]);
        d->sig_pipe[i] = -1;
    }
}

/* apply_log_level - debug with -v, else the configured level */
static void apply_log_level(const struct tw_daemon *d)
{
    int level = tw_log_level_parse(d->base.log_level);
    if (d->verbose || level < 0)
        level = d->verbose ? TW_LOG_DEBUG : TW_LOG_INFO;
    tw_log_set_level((enum tw_log_level)level);
}

/* tw_daemon_main - options, config, logging, zone, signals, then run() */
int tw_daemon_main(int argc, char **argv, const struct tw_service *svc)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"verbose", no_argument, NULL, 'v'},
        {"check-config", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct tw_daemon *d = &daemon_ctx;
    struct tw_cfg_table tables[3];
    const char *opt_config = NULL;
    char *errors = NULL;
    int check = 0, on_defaults = 0, c, rc;
    size_t n;

    d->svc = svc;
    d->verbose = 0;
    d->stopping = 0;
    tw_log_init(svc->name, TW_LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt_config = optarg;
            break;
        case 'v':
            d->verbose++;
            break;
        case 'C':
            check = 1;
            break;
        case 'h':
            help(svc);
            return 0;
        default:
            usage(stderr, svc->name);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", svc->name,
                argv[optind]);
        usage(stderr, svc->name);
        return EX_USAGE;
    }

    /* Only the built-in default path may be missing: a file named by -c or
     * $TAWASUL_CONFIG that cannot be read is a mistake to report. */
    const char *path = opt_config ? opt_config : tw_config_default_path();
    const char *env = getenv("TAWASUL_CONFIG");
    if (!opt_config && !(env && *env) && access(path, F_OK) != 0 &&
        errno == ENOENT)
        on_defaults = 1;
    else
        d->config_path = tw_strdup(path);

    n = make_tables(svc, &d->base, svc->config, tables);
    if (tw_config_load(d->config_path, tables, n, &errors) != TW_OK) {
        fprintf(stderr, "%s\n", errors);
        rc = EX_CONFIG;
        goto out;
    }
    if (tw_clock_set_zone(d->base.site_timezone) != TW_OK) {
        fprintf(stderr, "%s: \"site.timezone\": unknown time zone \"%s\"\n",
                on_defaults ? "defaults" : d->config_path,
                d->base.site_timezone);
        rc = EX_CONFIG;
        goto out;
    }
    if (on_defaults)
        tw_warn("no config file at %s: running on defaults", path);
    if (svc->check && (rc = svc->check(d)) != 0)
        goto out;
    if (check) {
        printf("%s: ok\n", on_defaults ? "defaults" : d->config_path);
        rc = 0;
        goto out;
    }
    apply_log_level(d);
    if (setup_signals(d) != TW_OK) {
        tw_error("cannot set up signal handling: %s", strerror(errno));
        rc = EX_OSERR;
        goto out;
    }
    tw_debug("starting: config=%s zone=%s",
             on_defaults ? "(defaults)" : d->config_path, tw_clock_zone());
    rc = svc->run(d);
out:
    close_signals(d);
    tw_config_free(tables, n);
    free(errors);
    free(d->config_path);
    d->config_path = NULL;
    return rc;
}

/* tw_daemon_base - the shared config (borrowed, valid until a reload) */
const struct tw_base_config *tw_daemon_base(const struct tw_daemon *d)
{
    return &d->base;
}

/* tw_daemon_config - the service's config struct (borrowed) */
void *tw_daemon_config(const struct tw_daemon *d)
{
    return d->svc->config;
}

/* tw_daemon_config_path - the file the config came from; NULL when running
 * on defaults (which is also what tw_config_load takes for "no file") */
const char *tw_daemon_config_path(const struct tw_daemon *d)
{
    return d->config_path;
}

/* tw_daemon_signal_fd - readable when a signal has arrived */
int tw_daemon_signal_fd(const struct tw_daemon *d)
{
    return d->sig_pipe[0];
}

/* tw_daemon_signals - drain the pipe into TW_SIG_* flags */
int tw_daemon_signals(struct tw_daemon *d)
{
    unsigned char buf[64];
    int flags = 0;

    for (;;) {
        ssize_t r = read(d->sig_pipe[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == SIGTERM || buf[i] == SIGINT)
                flags |= TW_SIG_STOP;
            else if (buf[i] == SIGHUP)
                flags |= TW_SIG_RELOAD;
        }
    }
    if (flags & TW_SIG_STOP)
        d->stopping = 1;
    return flags;
}

/* tw_daemon_stopping - whether a stop has been requested */
int tw_daemon_stopping(const struct tw_daemon *d)
{
    return d->stopping;
}

/* log_errors - each line of ERRORS as an error log line */
static void log_errors(char *errors)
{
    char *save = NULL;
    for (char *line = strtok_r(errors, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        tw_error("config reload: %s", line);
}

/* tw_daemon_reload - load into copies; swap them in only if all is good.
 * The service's struct is first copied so that fields outside its table
 * survive; the table's fields are all rewritten by the load. */
int tw_daemon_reload(struct tw_daemon *d)
{
    const struct tw_service *svc = d->svc;
    struct tw_base_config base;
    struct tw_cfg_table tables[3], old[3];
    void *config = NULL;
    char *errors = NULL;
    int rc = TW_PERMFAIL;

    memset(&base, 0, sizeof base);
    if (svc->keys) {
        config = tw_malloc(svc->config_size);
        memcpy(config, svc->config, svc->config_size);
    }
    size_t n = make_tables(svc, &base, config, tables);
    if (tw_config_load(d->config_path, tables, n, &errors) != TW_OK) {
        log_errors(errors);
        goto fail;
    }
    if (strcmp(base.site_timezone, d->base.site_timezone) != 0 &&
        tw_clock_set_zone(base.site_timezone) != TW_OK) {
        tw_error("config reload: \"site.timezone\": unknown time zone \"%s\"",
                 base.site_timezone);
        goto fail;
    }
    make_tables(svc, &d->base, svc->config, old);
    tw_config_free(old, n);
    d->base = base;
    if (config)
        memcpy(svc->config, config, svc->config_size);
    apply_log_level(d);
    tw_info("config reloaded from %s",
            d->config_path ? d->config_path : "defaults");
    rc = TW_OK;
    goto out;
fail:
    tw_error("config reload failed: keeping the old config");
    tw_config_free(tables, n);
out:
    free(config);
    free(errors);
    return rc;
}
