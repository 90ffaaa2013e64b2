/*
 * ingest.h - private interface between tawasul-ingest-email's parts:
 *   main.c              tawasul-ingest-email: --pipe, else exec the daemon
 *   daemon_main.c       tawasul-ingest-email-daemon
 *   ingest_config.c     the config table and the mode options
 *   ingest_pipe.c       --pipe
 *   ingest_run.c        the daemon loop, --reprocess
 *   ingest_deliver.c    items to the engine: parse, loop checks, commands,
 *                       acknowledging the source after the engine's ack
 *   ingest_store.c      reading input under a cap; spool and quarantine
 *   ingest_imap.c       the IMAP fetcher (libcurl)
 *   mail_parse.c        the parser (GMime), shared with the benchmark
 */
#ifndef INGEST_H
#define INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "error.h"
#include "spool.h"

enum ingest_mode {
    INGEST_DRAIN = 0, /* no source: deliver what is in the spool */
    INGEST_PIPE,
    INGEST_MAILDIR,
    INGEST_IMAP,
    INGEST_REPROCESS,
};

/* The service's settings (main.c has the table); the fields after the
 * table's come from the command line and survive reloads. */
struct ingest_config {
    char *spool;
    int64_t max_message;
    int64_t quarantine_max;
    int64_t max_body;
    int64_t max_subject;
    int64_t max_attachments;
    int64_t max_attachment;
    struct tw_strlist fallback_charsets;
    char *x_loop;
    struct tw_strlist drop_precedence;
    int64_t throttle_count;
    int64_t throttle_window;
    int64_t scan_interval;
    int64_t inflight_max;
    int64_t drain_timeout;
    char *imap_url;
    char *imap_username;
    char *imap_password;
    char *imap_processed;
    int64_t imap_interval;
    int64_t imap_batch;
    /* from the command line */
    enum ingest_mode mode;
    const char *maildir;
    const char *reprocess; /* a quarantined item's name, or "" for all */
};

/* The config table and the one config struct (ingest_config.c). */
extern const struct tw_cfg_key ingest_keys[];
extern struct ingest_config ingest_config;
/* ingest_take_modes - move --pipe, --maildir DIR, --imap, --reprocess X
 * from ARGV into ingest_config; the new argc, or -1 after a usage error */
int ingest_take_modes(int argc, char **argv);

/* ingest_run - the daemon and reprocess (handed to tw_daemon_main) */
int ingest_run(struct tw_daemon *d);
/* ingest_run_pipe - --pipe (ingest_pipe.c) */
int ingest_run_pipe(struct tw_daemon *d);

/* --- ingest_store.c -------------------------------------------------- */

/* A message being read from a source: in memory up to a cap, then spilled
 * whole into a quarantine file (it is kept, never cut). */
struct ingest_sink;

/* ingest_sink_new - a sink for SP keeping MAX bytes in memory and at most
 * HARD bytes in all (0: no hard cap) */
struct ingest_sink *ingest_sink_new(struct tw_spool *sp, size_t max,
                                    size_t hard);
/* ingest_sink_add - append N bytes; TW_PERMFAIL past the hard cap,
 * TW_TEMPFAIL if the spill file cannot be written */
int ingest_sink_add(struct ingest_sink *s, const void *p, size_t n);
/* ingest_sink_spilled - whether the message went over MAX */
int ingest_sink_spilled(const struct ingest_sink *s);
/* ingest_sink_size - bytes taken so far */
size_t ingest_sink_size(const struct ingest_sink *s);
/* ingest_sink_commit - store the message durably: into the spool's new/
 * when it fit in memory, else into its failed/ with a reason. NAME
 * (TW_SPOOL_NAME_MAX, may be NULL) gets the item's name. TW_OK once it is
 * on disk; the sink is freed either way. */
__attribute__((warn_unused_result)) int
ingest_sink_commit(struct ingest_sink **s, char *name);
/* ingest_sink_destroy - give up: remove any spill file; NULL-safe */
void ingest_sink_destroy(struct ingest_sink **s);

/* ingest_read_fd - read FD to its end into a sink; TW_OK, TW_PERMFAIL over
 * the hard cap, TW_TEMPFAIL on a read or write error */
int ingest_read_fd(struct ingest_sink *s, int fd);

/* ingest_quarantine_file - copy the file at PATH into the spool's failed/
 * with REASON beside it (durably), then remove PATH. TW_OK or a failure. */
__attribute__((warn_unused_result)) int
ingest_quarantine_file(struct tw_spool *sp, const char *path,
                       const char *reason);

/* --- ingest_deliver.c ------------------------------------------------ */

/* Items (spool entries or Maildir files) on their way to the engine. */
struct ingest_deliver;

/* What happened to the items, for the log at exit. */
struct ingest_counters {
    unsigned long taken, created, threaded, existing, bounces, dropped,
        throttled, quarantined;
};

/* Called with each item's final outcome when set (reprocess prints them). */
typedef void (*ingest_report_fn)(void *arg, const char *item,
                                 const char *outcome);

/* ingest_deliver_new - a deliverer for SP (and MAILDIR's new/ when not
 * NULL) talking to BASE's engine; NULL on failure (logged) */
struct ingest_deliver *ingest_deliver_new(void *zctx,
                                          const struct tw_base_config *base,
                                          const struct ingest_config *cfg,
                                          struct tw_spool *sp,
                                          const char *maildir);
/* ingest_deliver_destroy - NULL-safe; unanswered items stay in their
 * source for the next run; nulls *D */
void ingest_deliver_destroy(struct ingest_deliver **d);
/* ingest_deliver_report - call FN for each item's outcome */
void ingest_deliver_report(struct ingest_deliver *d, ingest_report_fn fn,
                           void *arg);
/* ingest_deliver_throttle - turn the per-sender throttle on or off */
void ingest_deliver_throttle(struct ingest_deliver *d, int on);
/* ingest_deliver_add_spool - queue spool item NAME unless already known */
void ingest_deliver_add_spool(struct ingest_deliver *d, const char *name);
/* ingest_deliver_add_failed - queue quarantined NAME (reprocess): it is
 * delivered from failed/ and removed from there once the engine has it */
void ingest_deliver_add_failed(struct ingest_deliver *d, const char *name);
/* ingest_deliver_scan - queue what waits in the spool's new/ and the
 * Maildir's new/; returns how many were new */
long ingest_deliver_scan(struct ingest_deliver *d);
/* ingest_deliver_backlog - items queued but not yet sent */
size_t ingest_deliver_backlog(const struct ingest_deliver *d);
/* ingest_deliver_pending - items queued or waiting for the engine */
size_t ingest_deliver_pending(const struct ingest_deliver *d);
/* ingest_deliver_pump - read, parse and send queued items while the window
 * has room */
void ingest_deliver_pump(struct ingest_deliver *d);
/* ingest_deliver_poll - wait up to TIMEOUT usec for the engine's answers
 * and act on them */
void ingest_deliver_poll(struct ingest_deliver *d, int64_t timeout);
/* ingest_deliver_counters - the counts so far (borrowed) */
const struct ingest_counters *
ingest_deliver_counters(const struct ingest_deliver *d);

/* ingest_quarantine_reason - replace quarantined NAME's reason file */
__attribute__((warn_unused_result)) int
ingest_quarantine_reason(struct tw_spool *sp, const char *name,
                         const char *reason);

/* --- ingest_imap.c --------------------------------------------------- */

struct ingest_imap;

/* ingest_imap_new - a fetcher for CFG's mailbox; NULL on failure (logged) */
struct ingest_imap *ingest_imap_new(const struct ingest_config *cfg);
/* ingest_imap_destroy - NULL-safe; nulls *IM */
void ingest_imap_destroy(struct ingest_imap **im);
/* ingest_imap_poll - fetch up to imap.batch messages into SP, moving each
 * to the processed folder (or flagging it deleted) once spooled; returns
 * how many were spooled, or -1 when the server could not be used */
long ingest_imap_poll(struct ingest_imap *im, struct tw_spool *sp);

#endif
