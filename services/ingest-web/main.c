/*
 * main.c - tawasul-ingest-web: the member portal and its JSON API.
 *
 * Members file requests, look up their case and rate the service from a
 * browser, in Arabic (the default) or English. Every submission is spooled
 * to disk before anything else, then sent to the engine over the bus; the
 * member's page waits a moment for the engine's reply and never for longer.
 * Status pages read PostgreSQL views directly. The server is in
 * web_server.c; see web.h for the parts.
 */
#include <stddef.h>

#include "daemon.h"
#include "web.h"

static struct web_config config;

#define K(key, type, field, def, min, max, help)                               \
    {                                                                          \
        key, type, offsetof(struct web_config, field), def, min, max, NULL,    \
            NULL, help                                                         \
    }
#define SEC  INT64_C(1000000)
#define HOUR (3600 * SEC)

static const struct tw_cfg_key web_keys[] = {
    K("ingest_web.listen", TW_CFG_STRING, listen, "127.0.0.1", 0, 64,
      "address the portal listens on (IPv4 or IPv6)"),
    K("ingest_web.port", TW_CFG_INT, port, "8080", 1, 65535,
      "TCP port the portal listens on"),
    K("ingest_web.threads", TW_CFG_INT, threads, "4", 1, 64,
      "request threads (each may hold one database connection)"),
    K("ingest_web.spool", TW_CFG_STRING, spool, "/var/spool/tawasul/web", 0, 0,
      "folder where submissions wait until the engine has them"),
    K("ingest_web.reply_wait", TW_CFG_DURATION, reply_wait, "3s",
      100 * INT64_C(1000), 60 * SEC,
      "how long a member's page waits for the engine's reply"),
    K("ingest_web.drain_interval", TW_CFG_DURATION, drain_interval, "5s",
      100 * INT64_C(1000), 3600 * SEC,
      "how often spooled submissions are re-sent while the engine is away"),
    K("ingest_web.max_pending", TW_CFG_INT, max_pending, "1000", 1, 100000,
      "submissions held in memory for the bus at once (the rest wait on "
      "disk)"),
    K("ingest_web.max_request", TW_CFG_SIZE, max_request, "12MB", 4096,
      INT64_C(1) << 30, "largest HTTP request body (413 above it)"),
    K("ingest_web.max_subject", TW_CFG_INT, max_subject, "200", 20, 4000,
      "longest subject, bytes"),
    K("ingest_web.max_body", TW_CFG_SIZE, max_body, "20KB", 256, 64 << 20,
      "longest description"),
    K("ingest_web.max_attachments", TW_CFG_INT, max_attachments, "5", 0, 16,
      "files per request"),
    K("ingest_web.max_attachment", TW_CFG_SIZE, max_attachment, "5MB", 1024,
      INT64_C(1) << 30, "largest file"),
    K("ingest_web.attachment_types", TW_CFG_STRLIST, attachment_types, NULL, 0,
      0, "MIME types members may attach"),
    K("ingest_web.categories", TW_CFG_STRLIST, categories, NULL, 0, 0,
      "categories offered: \"name|Arabic label|English label\""),
    K("ingest_web.attest_categories", TW_CFG_STRLIST, attest_categories, NULL,
      0, 0, "categories whose requests go to the committee (attestation)"),
    K("ingest_web.submit_limit", TW_CFG_INT, submit_limit, "20", 1, 100000000,
      "submissions one address may make per submit_window"),
    K("ingest_web.submit_window", TW_CFG_DURATION, submit_window, "1h", SEC,
      7 * 24 * HOUR, "window of submit_limit"),
    K("ingest_web.lookup_limit", TW_CFG_INT, lookup_limit, "60", 1, 100000000,
      "status and survey look-ups one address may make per lookup_window"),
    K("ingest_web.lookup_window", TW_CFG_DURATION, lookup_window, "10m", SEC,
      7 * 24 * HOUR, "window of lookup_limit"),
    K("ingest_web.decision_within", TW_CFG_DURATION, decision_within, "14d",
      HOUR, 365 * 24 * HOUR,
      "the promise shown while the engine has not yet answered (keep equal "
      "to sla.decision_within)"),
    K("ingest_web.real_ip_header", TW_CFG_STRING, real_ip_header, "", 0, 64,
      "behind a proxy: the header it puts the client's address in (its last "
      "entry is used for rate limits); empty: the peer's address"),
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const struct tw_service svc = {
        .name = "tawasul-ingest-web",
        .summary = "member portal: request form, status, survey and JSON API",
        .keys = web_keys,
        .config = &config,
        .config_size = sizeof config,
        .run = web_run,
    };
    return tw_daemon_main(argc, argv, &svc);
}
