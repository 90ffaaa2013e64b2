/*
 * main.c - tawasul-ingest-email: members' mail into cases.
 *
 * Three ways in, one parser (DESIGN.md "Email intake"):
 *   --pipe          one message on stdin, as an MTA delivers it: spooled
 *                   durably, then exit 0 (75 only when it cannot be kept);
 *   --maildir DIR   a daemon taking mail from DIR/new, moving it to cur/;
 *   --imap          a daemon polling the ingest_email.imap mailbox.
 * Without a source it is the daemon that delivers the spool (what --pipe
 * left). --reprocess NAME|--all puts quarantined mail through again (the
 * CLI's `tawasul mail reprocess` runs it).
 *
 * An MTA starts one --pipe process per message, so this program is kept
 * light: it links only what spooling needs (config, log, spool) and does
 * --pipe itself. For everything else it execs tawasul-ingest-email-daemon
 * from its own folder (same pid, same arguments), which carries GMime,
 * libcurl and ZeroMQ - loading those costs more CPU than spooling a mail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "daemon.h"
#include "ingest.h"
#include "mem.h"

/* exec_daemon - become tawasul-ingest-email-daemon with ARGV */
static int exec_daemon(char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char *prog = tw_asprintf("%s/tawasul-ingest-email-daemon", self);
            argv[0] = prog;
            execv(prog, argv);
            fprintf(stderr, "tawasul-ingest-email: cannot run %s: %s\n", prog,
                    strerror(errno));
            free(prog);
            return EX_UNAVAILABLE;
        }
    }
    fprintf(stderr, "tawasul-ingest-email: cannot find its own folder\n");
    return EX_OSERR;
}

int main(int argc, char **argv)
{
    static const struct tw_service svc = {
        .name = "tawasul-ingest-email",
        .summary = "members' email into cases: --pipe (from an MTA), "
                   "--maildir DIR, --imap; no option: deliver the spool",
        .keys = ingest_keys,
        .config = &ingest_config,
        .config_size = sizeof ingest_config,
        .run = ingest_run_pipe,
    };
    int pipe_mode = 0;
    for (int i = 1; i < argc; i++)
        pipe_mode |= strcmp(argv[i], "--pipe") == 0;
    if (!pipe_mode)
        return exec_daemon(argv);
    argc = ingest_take_modes(argc, argv);
    if (argc < 0)
        return EX_USAGE;
    return tw_daemon_main(argc, argv, &svc);
}
