/*
 * main.c - tawasul-engine: the only writer of case state.
 *
 * It binds the intake ROUTER and the events PUB, validates every command,
 * writes cases with their audit event, message, attachments and
 * acknowledgement email in one transaction per batch, and answers only after
 * COMMIT. The loop is in engine_loop.c, intake in engine_intake.c.
 */
#include <stddef.h>

#include "daemon.h"
#include "engine.h"

static struct engine_config config;

#define K(key, type, field, def, min, max, help)                               \
    {                                                                          \
        key, type, offsetof(struct engine_config, field), def, min, max, NULL, \
            NULL, help                                                         \
    }

static const struct tw_cfg_key engine_keys[] = {
    K("cases.categories", TW_CFG_STRLIST, categories, NULL, 0, 0,
      "allowed categories; empty: any"),
    K("cases.max_subject", TW_CFG_INT, max_subject, "500", 20, 4000,
      "longest subject, bytes"),
    K("cases.max_body", TW_CFG_SIZE, max_body, "256KB", 1024, 64 << 20,
      "longest body text"),
    K("cases.max_attachments", TW_CFG_INT, max_attachments, "20", 0, 1000,
      "attachments per message"),
    K("cases.max_attachment", TW_CFG_SIZE, max_attachment, "10MB", 1024,
      INT64_C(1) << 30, "largest attachment"),
    K("engine.batch_max", TW_CFG_INT, batch_max, "500", 1, 10000,
      "intakes committed together at most"),
    K("cases.reopen_within", TW_CFG_DURATION, reopen_within, "30d", 0,
      3650 * 86400 * INT64_C(1000000),
      "an email reply this soon after a case is resolved or closed reopens "
      "it; later, it opens a new case linked to the old one"),
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    static const struct tw_service svc = {
        .name = "tawasul-engine",
        .summary = "case engine: takes commands from the bus, keeps cases, "
                   "their audit trail and the SLA in PostgreSQL",
        .keys = engine_keys,
        .config = &config,
        .config_size = sizeof config,
        .run = engine_run,
        .more_keys = tw_policy_config_keys, /* sla.*, calendar.* */
        .more_offset = offsetof(struct engine_config, sla),
    };
    return tw_daemon_main(argc, argv, &svc);
}
