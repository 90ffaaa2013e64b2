/*
 * engine.h - private interface between the engine's parts:
 *   main.c           the config table and the call into the daemon skeleton
 *   engine_loop.c    the bus side: receive, validate, batch, reply, publish
 *   engine_writer.c  the database side: a thread that writes batches
 *   engine_intake.c  how one batch of intakes is written
 *   engine_ops.c     the other ops: table, helpers, how each is run
 *   engine_note.c    ... and one file per op handler
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "command.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "engine_ops.h"
#include "policy.h"
#include "ref.h"
#include "sla.h"

#define ENGINE_VERSION     "0.1.0"
#define ENGINE_BATCH_LIMIT 10000 /* the top of engine.batch_max's range */

/* The engine's own settings (services/engine/main.c has the table). */
struct engine_config {
    struct tw_policy_config sla; /* sla.* and calendar.* (policy.h) */
    struct tw_strlist categories;
    int64_t max_subject;
    int64_t max_body;
    int64_t max_attachments;
    int64_t max_attachment;
    int64_t batch_max;
    int64_t reopen_within; /* usec: a reply reopens a resolved case */
};

/* How an email intake threaded onto an existing case (engine_thread.c). */
struct engine_thread {
    int threaded;            /* a message on an existing case, not a case */
    int added;               /* ... added now (not a resend): publish it */
    int reopened;            /* ... which it reopened */
    int deferred;            /* waits for a case made earlier in its batch */
    char linked[TW_REF_MAX]; /* a new case for a reply to this old one */
};

/* One intake in a batch, with its outcome. */
struct engine_item {
    struct tw_bus_request *req; /* borrowed from the batch */
    struct tw_intake in;
    tw_time received_at;
    tw_time due_at;             /* from the deadline function, when taken */
    tw_time warn_at;            /* ... and the warning time */
    int year;                   /* of received_at, in the site's zone */
    struct engine_item *dup_of; /* same key earlier in the batch */
    /* outcome */
    int done;
    int created;
    int verified;
    char ref[TW_REF_MAX];
    enum tw_errcode err; /* TW_E_NONE on success */
    char msg[TW_MSG_MAX];
    struct engine_thread thread; /* email threading (engine_thread.c) */
};

/* One op other than intake (engine_ops.h), with its outcome. */
struct engine_op_item {
    struct tw_bus_request *req; /* borrowed from the batch */
    const struct engine_op *op;
    json_t *cmd;     /* the command (a reference) */
    const char *key; /* borrowed from cmd */
    tw_time now;     /* when the bus side took it */
    /* outcome */
    json_t *reply;  /* ok reply's fields */
    json_t *events; /* to publish: [{"topic", "data"}] */
    int outbox_rows;
    enum tw_errcode err; /* TW_E_NONE on success */
    char msg[TW_MSG_MAX];
};

/* A batch travels from the bus side to the writer and back whole. Everything
 * the writer needs is in it; the config it points to is not reloaded while
 * a batch is with the writer (engine_loop.c). */
struct engine_batch {
    struct engine_item *items; /* intakes: ENGINE_BATCH_LIMIT slots */
    size_t n;
    struct engine_op_item *ops; /* other ops, run after the intakes */
    size_t nops;
    struct tw_bus_request **reqs; /* every request taken, freed after reply */
    size_t nreq;
    char ref_prefix[16];
    const struct tw_base_config *base;
    const struct engine_config *cfg;
    const struct tw_policy *policy; /* SLA settings; stable like cfg */
    /* the SLA sweep (engine_sla.c), run after the batch's ops */
    int sweep;            /* asked for by the bus side */
    json_t *sweep_events; /* [{"topic","data"}] to publish */
    int sweep_outbox;     /* outbox rows the sweep wrote */
    int holidays_changed; /* the holidays table differs: rebuild policy */
    int32_t *holidays;    /* ... to these (owned), nholidays of them */
    size_t nholidays;
};

/* The database side: owned by the writer thread once started. */
struct engine_writer {
    char *conninfo;
    int64_t connect_timeout;
    int64_t reconnect_max;
    struct tw_db *db;
    int migrated;
    struct tw_backoff reconnect;
    tw_time next_connect; /* monotonic time of the next attempt when down */
    atomic_int db_up;     /* read by the bus side for health checks */
    atomic_ulong cases_created;
    int32_t *holidays; /* the holidays table as last read (sweeps) */
    size_t nholidays;
    int holidays_read; /* read at least once */
    void *zctx;
    void *pipe; /* PAIR to the bus side: batches in, finished batches out */
};

/* engine_run - the service loop (handed to tw_daemon_main) */
int engine_run(struct tw_daemon *d);

/* engine_writer_start - connect the writer's end of the pipe and start its
 * thread; the first connection attempt is made before returning, so a
 * database that is up is announced up. TW_OK or TW_PERMFAIL. */
int engine_writer_start(struct engine_writer *w, const char *pipe_endpoint);
/* engine_writer_stop - ask the thread to finish and wait for it */
void engine_writer_stop(struct engine_writer *w, void *bus_pipe);

/* engine_writer_ready - whether the database is connected and migrated;
 * tries to reconnect when the backoff allows (writer thread only) */
int engine_writer_ready(struct engine_writer *w);

/* engine_intake_batch - write the batch's intakes in as few transactions as
 * possible (one when all goes well) and fill each item's outcome. Commits
 * before returning; nothing is replied here (writer thread only). */
void engine_intake_batch(struct engine_writer *w, struct engine_batch *b);

/* engine_sla_sweep_batch - the batch's SLA round: the holidays table,
 * recompute when the stored deadlines came from other settings, then
 * warnings and breaches (writer thread only; engine_sla.c) */
void engine_sla_sweep_batch(struct engine_writer *w, struct engine_batch *b);

/* engine_ops_run - run the batch's ops, each in a transaction of its own,
 * after its intakes, and fill each op's outcome (writer thread only) */
void engine_ops_run(struct engine_writer *w, struct engine_batch *b);

/* engine_thread_batch - thread the batch's email replies (engine_thread.c):
 * each intake whose message matches a stored Message-ID, or whose subject
 * tag names a case of the sender's, becomes a message on that case (done,
 * threaded). PASS 0 runs before new cases are written and defers replies
 * to mail in the same batch; PASS 1 runs after, for those. TW_OK or a
 * failure (the batch is rolled back). */
int engine_thread_batch(struct engine_writer *w, const struct engine_batch *b,
                        struct engine_item *items, size_t n, tw_time now,
                        int pass);
/* engine_store_attachments - the attachments of IT's message MSG_ID
 * (engine_intake.c) */
int engine_store_attachments(struct engine_writer *w,
                             const struct engine_item *it, const char *msg_id);

#endif
