/*
 * daemon.h - the skeleton every long-running service hands itself to.
 *
 * A service's main() fills a struct tw_service (name, summary, its config
 * table and struct, and a run function) and calls tw_daemon_main(), which
 * parses "-c FILE", "-v", "--check-config" and "--help", loads the shared and
 * the service's config (fatal with file:line:column on error, EX_CONFIG),
 * sets up logging and the site's time zone, installs signal handlers, and
 * calls run().
 *
 * Signal handlers only write the signal number to a pipe (PgBouncer's way:
 * no work in handlers). run() polls tw_daemon_signal_fd() with its other
 * sockets (zmq_poll accepts plain fds) and calls tw_daemon_signals(), which
 * returns what arrived as flags. SIGTERM/SIGINT ask for a graceful drain;
 * SIGHUP asks for a reload, which tw_daemon_reload() performs, keeping the
 * old config when the new file is bad.
 */
#ifndef TW_DAEMON_H
#define TW_DAEMON_H

#include "config.h"

struct tw_daemon;

struct tw_service {
    const char *name;              /* "tawasul-engine": log prefix and --help */
    const char *summary;           /* one line for --help */
    const struct tw_cfg_key *keys; /* the service's own table, or NULL */
    void *config;                  /* the struct KEYS fills */
    size_t config_size;            /* sizeof that struct (for reload) */
    /* a shared table (e.g. tw_policy_config_keys) filling the struct at
     * CONFIG + more_offset, or NULL */
    const struct tw_cfg_key *more_keys;
    size_t more_offset;
    /* run - the service's loop; returns the process exit status */
    int (*run)(struct tw_daemon *d);
    /* check - optional: judge what the config names beyond its keys (files
     * it points to, lists of durations); called after the config loaded,
     * for --check-config and before run(). Prints each problem on stderr
     * as "file:line: message" and returns 0 or an exit status (EX_CONFIG). */
    int (*check)(struct tw_daemon *d);
};

enum {
    TW_SIG_STOP = 1 << 0,   /* SIGTERM or SIGINT: drain and exit */
    TW_SIG_RELOAD = 1 << 1, /* SIGHUP: reload config */
};

/* tw_daemon_main - run SVC as a daemon process; returns the exit status */
int tw_daemon_main(int argc, char **argv, const struct tw_service *svc);

/* tw_daemon_base - the shared config (borrowed, valid until a reload) */
const struct tw_base_config *tw_daemon_base(const struct tw_daemon *d);
/* tw_daemon_config - the service's config struct (borrowed, as above) */
void *tw_daemon_config(const struct tw_daemon *d);
/* tw_daemon_config_path - the file the config came from (borrowed) */
const char *tw_daemon_config_path(const struct tw_daemon *d);
/* tw_daemon_signal_fd - readable when a signal has arrived */
int tw_daemon_signal_fd(const struct tw_daemon *d);
/* tw_daemon_signals - drain the signal pipe; TW_SIG_* flags seen since last
 * call (also remembers a stop request: see tw_daemon_stopping) */
int tw_daemon_signals(struct tw_daemon *d);
/* tw_daemon_stopping - whether a stop has been requested */
int tw_daemon_stopping(const struct tw_daemon *d);
/* tw_daemon_reload - re-read the config file; on success the structs are
 * replaced and TW_OK returned; on failure the errors are logged, the old
 * config stays and TW_PERMFAIL is returned */
int tw_daemon_reload(struct tw_daemon *d);

#endif
