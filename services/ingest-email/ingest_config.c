/*
 * ingest_config.c - tawasul-ingest-email's config table and command line,
 * shared by its two programs: the light front (main.c: --pipe) and the
 * daemon (daemon_main.c: Maildir, IMAP, the spool's delivery, reprocess).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ingest.h"

struct ingest_config ingest_config;

#define KE(key, type, field, def, min, max, env, help)                         \
    {                                                                          \
        key, type, offsetof(struct ingest_config, field), def, min, max, env,  \
            NULL, help                                                         \
    }
#define K(key, type, field, def, min, max, help)                               \
    KE(key, type, field, def, min, max, NULL, help)

const struct tw_cfg_key ingest_keys[] = {
    K("ingest_email.spool", TW_CFG_STRING, spool, "/var/spool/tawasul/email", 0,
      1024, "spool folder (new/ waiting, failed/ quarantine)"),
    K("ingest_email.max_message", TW_CFG_SIZE, max_message, "25MB", 1024,
      INT64_C(1) << 30, "larger mail is quarantined, not parsed"),
    K("ingest_email.quarantine_max", TW_CFG_SIZE, quarantine_max, "100MB", 1024,
      INT64_C(1) << 32, "larger mail is refused (the MTA bounces it)"),
    K("ingest_email.max_body", TW_CFG_SIZE, max_body, "256KB", 1024, 64 << 20,
      "longest text body"),
    K("ingest_email.max_subject", TW_CFG_INT, max_subject, "500", 20, 4000,
      "longer subjects are cut (bytes)"),
    K("ingest_email.max_attachments", TW_CFG_INT, max_attachments, "20", 0,
      1000, "attachments per message"),
    K("ingest_email.max_attachment", TW_CFG_SIZE, max_attachment, "10MB", 1024,
      INT64_C(1) << 30, "largest attachment"),
    K("ingest_email.fallback_charsets", TW_CFG_STRLIST, fallback_charsets,
      "utf-8, windows-1256", 0, 64,
      "charsets tried for text that is not what it claims"),
    K("ingest_email.x_loop", TW_CFG_STRING, x_loop, "", 0, 200,
      "our X-Loop stamp; empty: tawasul@<site.mail_domain>"),
    K("ingest_email.drop_precedence", TW_CFG_STRLIST, drop_precedence,
      "bulk, junk, list", 0, 64, "Precedence values dropped as loops"),
    K("ingest_email.throttle_count", TW_CFG_INT, throttle_count, "20", 1,
      100000, "messages one sender may send per throttle_window"),
    K("ingest_email.throttle_window", TW_CFG_DURATION, throttle_window, "1h",
      TW_SEC, 7 * TW_DAY, "the throttle's window"),
    K("ingest_email.scan_interval", TW_CFG_DURATION, scan_interval, "2s",
      10 * TW_MSEC, TW_HOUR, "rescan of the spool and Maildir"),
    K("ingest_email.inflight_max", TW_CFG_SIZE, inflight_max, "8MB", 65536,
      INT64_C(1) << 30, "bytes of requests waiting for the engine"),
    K("ingest_email.drain_timeout", TW_CFG_DURATION, drain_timeout, "10s", 0,
      TW_HOUR, "on stop, how long to wait for the engine's answers"),
    KE("ingest_email.imap.url", TW_CFG_STRING, imap_url,
       "imap://127.0.0.1/INBOX", 0, 1024, "TAWASUL_IMAP_URL",
       "mailbox to poll (imaps:// for TLS)"),
    KE("ingest_email.imap.username", TW_CFG_STRING, imap_username, "", 0, 256,
       "TAWASUL_IMAP_USERNAME", "IMAP login"),
    KE("ingest_email.imap.password", TW_CFG_STRING, imap_password, "", 0, 256,
       "TAWASUL_IMAP_PASSWORD", "IMAP password (keep it in the environment)"),
    K("ingest_email.imap.processed", TW_CFG_STRING, imap_processed, "Processed",
      0, 200, "folder taken mail moves to; empty: flag deleted and expunge"),
    K("ingest_email.imap.interval", TW_CFG_DURATION, imap_interval, "30s",
      TW_SEC / 10, TW_DAY, "time between polls"),
    K("ingest_email.imap.batch", TW_CFG_INT, imap_batch, "200", 1, 100000,
      "messages fetched per poll at most"),
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
};

/* ingest_take_modes - remove the mode options from ARGV into CONFIG; returns
 * the new argc, or -1 after printing a usage error */
int ingest_take_modes(int argc, char **argv)
{
    int out = 1, modes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--pipe") == 0) {
            ingest_config.mode = INGEST_PIPE;
            modes++;
        } else if (strcmp(a, "--imap") == 0) {
            ingest_config.mode = INGEST_IMAP;
            modes++;
        } else if (strcmp(a, "--maildir") == 0 ||
                   strcmp(a, "--reprocess") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tawasul-ingest-email: %s needs a value\n", a);
                return -1;
            }
            if (a[2] == 'm') {
                ingest_config.mode = INGEST_MAILDIR;
                ingest_config.maildir = argv[++i];
            } else {
                ingest_config.mode = INGEST_REPROCESS;
                ingest_config.reprocess = argv[++i];
                if (strcmp(ingest_config.reprocess, "--all") == 0)
                    ingest_config.reprocess = "";
            }
            modes++;
        } else {
            argv[out++] = argv[i];
        }
    }
    if (modes > 1) {
        fprintf(stderr, "tawasul-ingest-email: choose one of --pipe, "
                        "--maildir DIR, --imap, --reprocess\n");
        return -1;
    }
    argv[out] = NULL;
    return out;
}
