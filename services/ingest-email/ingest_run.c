/*
 * ingest_run.c - the three ways in, the delivering daemon, and reprocess.
 *
 * DESIGN
 * ------
 * (--pipe is ingest_pipe.c.) The daemon (no option, --maildir DIR, --imap) is
 * one loop: rescan the spool and the Maildir when inotify says something
 * arrived (or on the scan interval, which also catches what inotify cannot
 * see), poll the IMAP mailbox on its interval, hand queued items to the
 * deliverer and let the bus client wait for answers. SIGTERM stops taking new
 * items and waits up to drain_timeout for the answers still owed; anything
 * unanswered stays on disk for the next start. Signals are checked between
 * short waits.
 *
 * --reprocess NAME|--all delivers quarantined items from failed/ itself
 * (out of a running daemon's way), printing one line per item; what the
 * engine takes leaves the quarantine, the rest stays with a fresh reason.
 */
#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sysexits.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "mail_parse.h"
#include "mem.h"

/* watch - an inotify descriptor on the spool's and the Maildir's new/ (-1
 * when inotify is unavailable: the scan interval still finds everything) */
static int watch(const char *spool, const char *maildir)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/new", spool);
    if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
        tw_warn("%s: cannot watch: %s", path, strerror(errno));
    if (maildir) {
        snprintf(path, sizeof path, "%s/new", maildir);
        if (inotify_add_watch(fd, path, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
            tw_warn("%s: cannot watch: %s", path, strerror(errno));
    }
    return fd;
}

/* drain_fd - read everything waiting on FD; 1 if anything was there */
static int drain_fd(int fd)
{
    char buf[4096];
    int any = 0;
    while (fd >= 0 && read(fd, buf, sizeof buf) > 0)
        any = 1;
    return any;
}

/* check_maildir - DIR must have new/ and cur/ */
static int check_maildir(const char *dir)
{
    char path[4200];
    const char *subs[] = {"new", "cur", "tmp"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        DIR *d = opendir(path);
        if (!d) {
            tw_error("%s: not a Maildir: %s: %s", dir, path, strerror(errno));
            return TW_PERMFAIL;
        }
        closedir(d);
    }
    return TW_OK;
}

/* log_counters - what the run did */
static void log_counters(const struct ingest_deliver *dl, const char *when)
{
    const struct ingest_counters *n = ingest_deliver_counters(dl);
    tw_info("%s: taken=%lu created=%lu threaded=%lu repeated=%lu "
            "bounces=%lu dropped=%lu throttled=%lu quarantined=%lu",
            when, n->taken, n->created, n->threaded, n->existing, n->bounces,
            n->dropped, n->throttled, n->quarantined);
}

/* run_daemon - the loop */
static int run_daemon(struct tw_daemon *d, struct ingest_config *cfg)
{
    const struct tw_base_config *base = tw_daemon_base(d);
    int rc = EX_OK, wfd = -1;
    struct ingest_imap *imap = NULL;
    struct ingest_deliver *dl = NULL;
    void *zctx = NULL;
    struct tw_spool *sp = NULL;

    if (cfg->mode == INGEST_MAILDIR && check_maildir(cfg->maildir) != TW_OK)
        return EX_NOINPUT;
    sp = tw_spool_open(cfg->spool);
    if (!sp)
        return EX_CANTCREAT;
    mail_init();
    zctx = zmq_ctx_new();
    dl = ingest_deliver_new(zctx, base, cfg, sp,
                            cfg->mode == INGEST_MAILDIR ? cfg->maildir : NULL);
    if (!dl) {
        rc = EX_UNAVAILABLE;
        goto out;
    }
    if (cfg->mode == INGEST_IMAP && !(imap = ingest_imap_new(cfg))) {
        rc = EX_CONFIG;
        goto out;
    }
    wfd = watch(cfg->spool, cfg->mode == INGEST_MAILDIR ? cfg->maildir : NULL);
    tw_info("ready: spool=%s source=%s engine=%s", cfg->spool,
            cfg->mode == INGEST_MAILDIR ? cfg->maildir
            : imap                      ? cfg->imap_url
                                        : "spool only",
            base->bus_intake);

    tw_time next_scan = 0, next_imap = 0, stop_by = 0;
    int scan_now = 1;
    for (;;) {
        int sig = tw_daemon_signals(d);
        if (sig & TW_SIG_RELOAD) /* structs replaced in place; bad: kept */
            (void)tw_daemon_reload(d);
        tw_time now = tw_clock_mono();
        if (tw_daemon_stopping(d)) {
            if (!stop_by) {
                stop_by = now + cfg->drain_timeout;
                tw_info("stopping: waiting up to %llds for %zu answers",
                        (long long)(cfg->drain_timeout / TW_SEC),
                        ingest_deliver_pending(dl) -
                            ingest_deliver_backlog(dl));
            }
            if (ingest_deliver_pending(dl) == ingest_deliver_backlog(dl) ||
                now >= stop_by)
                break;
            ingest_deliver_poll(dl, 50 * TW_MSEC);
            continue;
        }
        if (drain_fd(wfd) && ingest_deliver_backlog(dl) < 1000)
            scan_now = 1;
        if (scan_now || now >= next_scan) {
            ingest_deliver_scan(dl);
            next_scan = now + cfg->scan_interval;
            scan_now = 0;
        }
        if (imap && now >= next_imap) {
            long got = ingest_imap_poll(imap, sp);
            next_imap = now + (got == cfg->imap_batch ? 0 : cfg->imap_interval);
            if (got > 0)
                scan_now = 1;
        }
        ingest_deliver_pump(dl);
        if (ingest_deliver_pending(dl) > 0) {
            ingest_deliver_poll(dl, 20 * TW_MSEC);
            continue;
        }
        /* Idle: sleep until a signal, an arrival or the next timer. */
        tw_time until = next_scan;
        if (imap && next_imap < until)
            until = next_imap;
        int64_t wait = until - tw_clock_mono();
        struct pollfd pf[2] = {{tw_daemon_signal_fd(d), POLLIN, 0},
                               {wfd, POLLIN, 0}};
        if (wait > 0)
            poll(pf, wfd >= 0 ? 2 : 1, (int)(wait / TW_MSEC) + 1);
    }
    log_counters(dl, "stopped");
out:
    if (wfd >= 0)
        close(wfd);
    ingest_imap_destroy(&imap);
    ingest_deliver_destroy(&dl);
    if (zctx)
        zmq_ctx_term(zctx);
    tw_spool_close(&sp);
    return rc;
}

/* print_outcome - reprocess: one line per item */
static void print_outcome(void *arg, const char *item, const char *outcome)
{
    int *failed = arg;
    printf("%s: %s\n", item, outcome);
    if (strncmp(outcome, "quarantined", 11) == 0 ||
        strncmp(outcome, "left", 4) == 0)
        (*failed)++;
}

/* run_reprocess - quarantined items back through delivery */
static int run_reprocess(struct tw_daemon *d, struct ingest_config *cfg)
{
    const struct tw_base_config *base = tw_daemon_base(d);
    struct tw_spool *sp = tw_spool_open(cfg->spool);
    if (!sp)
        return EX_CANTCREAT;
    char path[4200];
    snprintf(path, sizeof path, "%s/failed", cfg->spool);
    DIR *dir = opendir(path);
    if (!dir) {
        tw_spool_close(&sp);
        return EX_NOINPUT;
    }
    const char *want = cfg->reprocess;
    const char *slash = strrchr(want, '/');
    if (slash)
        want = slash + 1;
    mail_init();
    void *zctx = zmq_ctx_new();
    struct ingest_deliver *dl = ingest_deliver_new(zctx, base, cfg, sp, NULL);
    int failed = 0, rc = EX_OK;
    long moved = 0;
    if (!dl) {
        closedir(dir);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    ingest_deliver_report(dl, print_outcome, &failed);
    ingest_deliver_throttle(dl, 0);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' ||
            (len > 7 && strcmp(e->d_name + len - 7, ".reason") == 0))
            continue;
        if (*want && strcmp(e->d_name, want) != 0)
            continue;
        /* Delivered from failed/ itself, so a running daemon never
         * takes the same item at the same time. */
        ingest_deliver_add_failed(dl, e->d_name);
        moved++;
    }
    closedir(dir);
    if (moved == 0) {
        fprintf(stderr,
                "tawasul-ingest-email: %s%s is not in the quarantine "
                "(%s)\n",
                *want ? want : "nothing", *want ? "" : " waits", path);
        rc = *want ? EX_NOINPUT : EX_OK;
        goto out;
    }
    tw_time stop_by = tw_clock_mono() + 30 * TW_SEC;
    while (ingest_deliver_pending(dl) > 0 && tw_clock_mono() < stop_by &&
           !(tw_daemon_signals(d), tw_daemon_stopping(d))) {
        ingest_deliver_pump(dl);
        ingest_deliver_poll(dl, 50 * TW_MSEC);
    }
    if (ingest_deliver_pending(dl) > 0) {
        printf("%zu item(s) left in the spool: the engine did not answer; "
               "the daemon will deliver them\n",
               ingest_deliver_pending(dl));
        rc = EX_TEMPFAIL;
    } else if (failed) {
        rc = EX_DATAERR;
    }
out:
    ingest_deliver_destroy(&dl);
    zmq_ctx_term(zctx);
    tw_spool_close(&sp);
    return rc;
}

/* ingest_run - pick the mode */
int ingest_run(struct tw_daemon *d)
{
    struct ingest_config *cfg = tw_daemon_config(d);
    switch (cfg->mode) {
    case INGEST_PIPE:
        return ingest_run_pipe(d);
    case INGEST_REPROCESS:
        return run_reprocess(d, cfg);
    default:
        return run_daemon(d, cfg);
    }
}
