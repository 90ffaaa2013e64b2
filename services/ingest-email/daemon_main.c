/*
 * daemon_main.c - tawasul-ingest-email-daemon: the email intake's daemon
 * (--maildir DIR, --imap, the spool's delivery) and --reprocess. Started by
 * tawasul-ingest-email, which keeps --pipe to itself (main.c); run directly
 * it takes the same options.
 */
#include <sysexits.h>

#include "daemon.h"
#include "ingest.h"

int main(int argc, char **argv)
{
    static const struct tw_service svc = {
        .name = "tawasul-ingest-email",
        .summary = "members' email into cases: --pipe (from an MTA), "
                   "--maildir DIR, --imap; no option: deliver the spool",
        .keys = ingest_keys,
        .config = &ingest_config,
        .config_size = sizeof ingest_config,
        .run = ingest_run,
    };
    argc = ingest_take_modes(argc, argv);
    if (argc < 0)
        return EX_USAGE;
    return tw_daemon_main(argc, argv, &svc);
}
