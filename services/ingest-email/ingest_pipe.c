/*
 * ingest_pipe.c - --pipe: one message from an MTA into the spool.
 *
 * It reads stdin into the spool and exits: 0 once the message (or, when
 * oversized, its quarantined copy) is on disk, 75 when it could not be
 * stored, so the MTA keeps it and tries again; 65 when it is over
 * quarantine_max, so the MTA bounces it to the sender rather than it being
 * lost. It does not parse or talk to the engine - the daemon does - so an
 * MTA is never held up by the engine, and the process stays light.
 */
#include "ingest.h"

#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"

/* ingest_run_pipe - stdin into the spool */
int ingest_run_pipe(struct tw_daemon *d)
{
    const struct ingest_config *cfg = tw_daemon_config(d);
    struct tw_spool *sp = tw_spool_open(cfg->spool);
    if (!sp) {
        fprintf(stderr,
                "tawasul-ingest-email: cannot open the spool %s; "
                "try again later\n",
                cfg->spool);
        return EX_TEMPFAIL;
    }
    struct ingest_sink *s = ingest_sink_new(sp, (size_t)cfg->max_message,
                                            (size_t)cfg->quarantine_max);
    int rc = ingest_read_fd(s, STDIN_FILENO);
    int status = EX_OK;
    char name[TW_SPOOL_NAME_MAX];
    if (rc == TW_PERMFAIL) {
        fprintf(stderr,
                "tawasul-ingest-email: message too large (over %lld "
                "bytes)\n",
                (long long)cfg->quarantine_max);
        ingest_sink_destroy(&s);
        status = EX_DATAERR;
    } else if (rc != TW_OK) {
        ingest_sink_destroy(&s);
        status = EX_TEMPFAIL;
    } else if (ingest_sink_commit(&s, name) != TW_OK) {
        status = EX_TEMPFAIL;
    } else {
        tw_debug("%s: spooled", name);
    }
    tw_spool_close(&sp);
    return status;
}
