/*
 * cli_mail.c - `tawasul mail reprocess FILE|--all`: quarantined mail again.
 *
 * Mail that tawasul-ingest-email could not take (too large, unparseable, a
 * sender over the throttle, refused by the engine) waits whole in the
 * quarantine - the ingest spool's failed/ folder, each with NAME.reason.
 * Once the cause is fixed (a limit raised, the engine upgraded), this
 * command puts it through again. The ingest service owns its config section
 * and its parser, so the command runs the tawasul-ingest-email next to this
 * program with --reprocess and the same config file, and passes on its
 * output (one line per message: the case it made, or why it is still
 * quarantined) and its exit status.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "mem.h"

/* sibling - the path of NAME next to this program (caller frees) */
static char *sibling(const char *name)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return tw_asprintf("%s/%s", self, name);
}

/* cli_mail_reprocess - run tawasul-ingest-email --reprocess */
int cli_mail_reprocess(struct cli *c, const struct cli_verb *v, int argc,
                       char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return cli_help(v);
    if (argc != 2)
        return cli_usage_error(v, "give one quarantined FILE, or --all");
    const char *what = argv[1];
    if (what[0] == '-' && strcmp(what, "--all") != 0)
        return cli_usage_error(v, "unknown option %s", what);
    int rc = cli_ready(c);
    if (rc)
        return rc;
    char *prog = sibling("tawasul-ingest-email");
    if (!prog || access(prog, X_OK) != 0) {
        free(prog);
        return cli_fail(EX_UNAVAILABLE,
                        "tawasul-ingest-email is not installed next to this "
                        "program");
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        free(prog);
        return cli_fail(EX_OSERR, "cannot start tawasul-ingest-email: %s",
                        strerror(errno));
    }
    if (pid == 0) {
        if (c->path)
            execl(prog, prog, "-c", c->path, "--reprocess", what, (char *)NULL);
        else
            execl(prog, prog, "--reprocess", what, (char *)NULL);
        _exit(127);
    }
    free(prog);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return cli_fail(EX_OSERR, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(status))
        return cli_fail(EX_SOFTWARE, "tawasul-ingest-email died (signal %d)",
                        WTERMSIG(status));
    return WEXITSTATUS(status);
}
