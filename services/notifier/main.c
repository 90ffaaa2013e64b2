/*
 * main.c - tawasul-notifier: the outbox, delivered as email.
 *
 * It claims the outbox rows the engine wrote (FOR UPDATE SKIP LOCKED, so
 * several notifiers can run), renders each from config/templates/<lang>/,
 * builds the MIME message with GMime and sends a batch over one SMTP session
 * with libesmtp, then records what happened. The loop is notifier_loop.c.
 */
#include <stddef.h>

#include "daemon.h"
#include "notifier.h"

static struct notifier_config config;

#define K(key, type, field, def, min, max, env, choices, help)                 \
    {                                                                          \
        key, type, offsetof(struct notifier_config, field), def, min, max,     \
            env, choices, help                                                 \
    }

static const struct tw_cfg_key notifier_keys[] = {
    K("notifier.batch_max", TW_CFG_INT, batch_max, "100", 1, 5000, NULL, NULL,
      "rows claimed and sent over one SMTP session at most"),
    K("notifier.poll_interval", TW_CFG_DURATION, poll_interval, "30s",
      100 * TW_MSEC, TW_HOUR, NULL, NULL,
      "rescan the outbox this often even without outbox.ready events"),
    K("notifier.lease", TW_CFG_DURATION, lease, "10m", TW_SEC, TW_DAY, NULL,
      NULL,
      "a claimed row left in 'sending' this long (notifier killed) is "
      "tried again"),
    K("notifier.retry", TW_CFG_STRLIST, retry, "1m, 5m, 30m, 2h, 6h", 0, 0,
      NULL, NULL, "pauses after each temporary failure; the last one repeats"),
    K("notifier.give_up", TW_CFG_DURATION, give_up, "48h", TW_MIN, 30 * TW_DAY,
      NULL, NULL,
      "a row still failing this long after it was written is failed"),
    K("notifier.digest_at", TW_CFG_STRING, digest_at, "07:30", 0, 5, NULL, NULL,
      "local time HH:MM of the managers' daily digest; empty: none"),
    K("notifier.staff_lang", TW_CFG_ENUM, staff_lang, "ar", 0, 0, NULL, "ar|en",
      "language of the mail to staff (alerts, digest)"),
    K("notifier.from_name", TW_CFG_STRING, from_name, "", 0, 200, NULL, NULL,
      "display name in From; empty: site.name"),
    K("notifier.x_loop", TW_CFG_STRING, x_loop, "", 0, 200, NULL, NULL,
      "our X-Loop stamp; empty: tawasul@<site.mail_domain>"),
    K("templates.dir", TW_CFG_STRING, templates_dir, TW_TEMPLATES_DIR_DEFAULT,
      0, 0, "TAWASUL_TEMPLATES", NULL,
      "folder holding ar/ and en/ templates; relative to the config file"),
    K("smtp.host", TW_CFG_STRING, smtp_host, "127.0.0.1", 0, 255, NULL, NULL,
      "the mail server we hand messages to"),
    K("smtp.port", TW_CFG_INT, smtp_port, "25", 1, 65535, NULL, NULL,
      "its port"),
    K("smtp.starttls", TW_CFG_ENUM, smtp_starttls, "optional", 0, 0, NULL,
      "none|optional|required", "STARTTLS: never, when offered, or insist"),
    K("smtp.user", TW_CFG_STRING, smtp_user, "", 0, 255, "TAWASUL_SMTP_USER",
      NULL, "AUTH user name; empty: no AUTH"),
    K("smtp.password", TW_CFG_STRING, smtp_password, "", 0, 255,
      "TAWASUL_SMTP_PASSWORD", NULL,
      "AUTH password (keep it in TAWASUL_SMTP_PASSWORD)"),
    K("smtp.timeout", TW_CFG_DURATION, smtp_timeout, "60s", TW_SEC, 10 * TW_MIN,
      NULL, NULL, "longest wait for one server response"),
    K("smtp.from", TW_CFG_STRING, smtp_from, "no-reply@tawasul.invalid", 3, 255,
      NULL, NULL, "envelope sender and From address"),
    K("smtp.reply_to", TW_CFG_STRING, smtp_reply_to, "", 0, 255, NULL, NULL,
      "Reply-To: where members' replies go (the intake mailbox); empty: "
      "none"),
    K("smtp.helo", TW_CFG_STRING, smtp_helo, "", 0, 255, NULL, NULL,
      "name we give in EHLO; empty: this host's name"),
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const struct tw_service svc = {
        .name = "tawasul-notifier",
        .summary = "sends the outbox as email: Arabic-first, threaded, "
                   "retried until delivered or clearly failed",
        .keys = notifier_keys,
        .config = &config,
        .config_size = sizeof config,
        .run = notifier_run,
        .check = notifier_check,
    };
    return tw_daemon_main(argc, argv, &svc);
}
