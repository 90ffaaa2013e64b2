/*
 * notifier.h - private interface between the notifier's parts:
 *   main.c            the config table, the check, the call into the skeleton
 *   notifier_loop.c   wake-ups (events, timer, signals), one batch at a time
 *   notifier_store.c  the outbox in SQL: claim, record results, alerts
 *   notifier_mime.c   a rendered message as MIME text (GMime)
 *   notifier_smtp.c   a batch over one SMTP session (libesmtp)
 *   notifier_digest.c the managers' daily digest
 */
#ifndef NOTIFIER_H
#define NOTIFIER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "template.h"

#define NOTIFIER_RETRY_MAX 32 /* entries in notifier.retry */

/* The notifier's settings: sections notifier, smtp and templates. */
struct notifier_config {
    int64_t batch_max;
    int64_t poll_interval; /* usec: rescan even without events */
    int64_t lease;         /* usec a claimed row stays ours */
    struct tw_strlist retry;
    int64_t give_up; /* usec after the row was written */
    char *digest_at; /* "HH:MM" local, "" = no digest */
    char *staff_lang;
    char *from_name;
    char *x_loop;
    char *templates_dir;
    char *smtp_host;
    int64_t smtp_port;
    char *smtp_starttls; /* none | optional | required */
    char *smtp_user;
    char *smtp_password;
    int64_t smtp_timeout;
    char *smtp_from;
    char *smtp_reply_to;
    char *smtp_helo;
};

/* Settings checked and derived once per (re)load. */
struct notifier_settings {
    int64_t retry[NOTIFIER_RETRY_MAX]; /* usec */
    size_t nretry;
    int digest_minute; /* minutes after local midnight; -1: no digest */
};

/* notifier_settings_parse - check CFG's lists and times into S; on a
 * problem prints "PATH: key: message" on stderr and returns TW_PERMFAIL */
int notifier_settings_parse(const struct notifier_config *cfg, const char *path,
                            struct notifier_settings *s);

/* One outbox row claimed for sending, with its outcome. */
enum mail_outcome {
    MAIL_PENDING = 0, /* not tried yet */
    MAIL_SENT,
    MAIL_TEMPFAIL,
    MAIL_PERMFAIL,
    MAIL_UNREACHABLE, /* no address: staff phone the member */
};

struct mail {
    long long id;
    long long case_id; /* 0: none (digest) */
    char *recipient;   /* NULL: the member has no email */
    char *lang;
    char *tmpl;
    json_t *params;
    int attempts;       /* including this one */
    tw_time created_at; /* usec */
    char *message_id;   /* ours, without <> */
    char *ref;          /* the case's ref, or NULL */
    char *parent_id;    /* Message-ID we answer, or NULL */
    char *parent_refs;  /* its References, or NULL */
    /* built */
    struct tw_rendered r;
    char *references; /* "<a> <b>", or NULL */
    char *wire;       /* the whole message, CRLF */
    /* outcome */
    enum mail_outcome outcome;
    char error[512];
};

/* mail_free - the row's strings and JSON */
void mail_free(struct mail *m);

/* --- notifier_store.c ---------------------------------------------------- */

/* store_claim - take back rows whose lease ran out, then claim up to MAX
 * due rows into *MAILS (caller frees each and the array). Returns the count
 * or a negative status. */
int store_claim(struct tw_db *db, const struct notifier_config *cfg,
                const char *mail_domain, tw_time now, struct mail **mails);
/* store_record - write every outcome in one transaction: sent rows with
 * their message, retries with backoff, failures with a case event and the
 * managers' alert. TW_OK or the failure (the rows then stay 'sending' until
 * their lease runs out and are tried again). */
int store_record(struct tw_db *db, const struct notifier_config *cfg,
                 const struct notifier_settings *set, struct mail *mails,
                 size_t n, tw_time now);
/* store_next_due - the earliest time a row will be due (pending or lease
 * end); 0 if none, -1 on failure */
tw_time store_next_due(struct tw_db *db);

/* --- notifier_mime.c ----------------------------------------------------- */

/* mime_init / mime_shutdown - GMime's global set-up */
void mime_init(void);
void mime_shutdown(void);
/* mime_build - M's rendered message as MIME text into M->wire (CRLF),
 * with headers for threading and loop protection. TW_OK or TW_PERMFAIL
 * (M->error says why). */
int mime_build(const struct notifier_config *cfg,
               const struct tw_base_config *base, struct mail *m, tw_time now);

/* --- notifier_smtp.c ----------------------------------------------------- */

/* smtp_init / smtp_shutdown - libesmtp's global set-up */
void smtp_init(void);
void smtp_shutdown(void);
/* smtp_send_batch - send every M[i] with a wire text over one session and
 * set its outcome (SENT, TEMPFAIL, PERMFAIL) and error */
void smtp_send_batch(const struct notifier_config *cfg, struct mail **m,
                     size_t n);

/* --- notifier_digest.c --------------------------------------------------- */

/* digest_today - NOW's local day's digest time, passed or not (the first
 * one to aim at after a start); 0 when there is no digest */
tw_time digest_today(const struct notifier_settings *set, tw_time now);
/* digest_next - today's digest time if NOW is before it, else tomorrow's;
 * 0 when there is no digest */
tw_time digest_next(const struct notifier_settings *set, tw_time now);
/* digest_queue - queue today's digest for the managers unless it has been
 * queued already today. TW_OK (done or already done) or a failure. */
int digest_queue(struct tw_db *db, const struct notifier_config *cfg,
                 const struct notifier_settings *set, tw_time now);

/* --- notifier_loop.c ----------------------------------------------------- */

/* notifier_run - the service loop (handed to tw_daemon_main) */
int notifier_run(struct tw_daemon *d);
/* notifier_check - the templates and lists behind the config (--check-config
 * and start-up) */
int notifier_check(struct tw_daemon *d);

#endif
