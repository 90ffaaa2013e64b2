/*
 * engine.h - private interface between the engine's loop and its handlers.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "command.h"
#include "config.h"
#include "daemon.h"
#include "db.h"
#include "sla.h"

#define ENGINE_VERSION "0.1.0"

/* The engine's own settings (services/engine/main.c has the table). */
struct engine_config {
    int64_t sla_decision_within; /* usec */
    struct tw_strlist categories;
    int64_t max_subject;
    int64_t max_body;
    int64_t max_attachments;
    int64_t max_attachment;
    int64_t batch_max;
};

/* The engine's state: one per process. */
struct engine {
    struct tw_daemon *daemon;
    const struct tw_base_config *base;
    struct engine_config *cfg;
    void *zctx;
    struct tw_db *db;
    struct tw_bus_server *bus;
    struct tw_backoff reconnect;
    tw_time next_connect; /* monotonic time of the next attempt when down */
    int migrated;         /* migrations applied on this connection's db */
    uint64_t cases_created;
    uint64_t batches;
};

/* One intake in a batch, with its outcome. */
struct engine_item {
    struct tw_bus_request *req; /* owned by the loop */
    struct tw_intake in;
    tw_time received_at;
    tw_time due_at;
    struct engine_item *dup_of; /* same key earlier in the batch */
    /* outcome */
    int done;
    int created;
    int verified;
    char ref[32];
    enum tw_errcode err; /* TW_E_NONE on success */
    char msg[TW_MSG_MAX];
};

/* engine_run - the service loop (handed to tw_daemon_main) */
int engine_run(struct tw_daemon *d);

/* engine_db_ready - whether the database is connected and migrated; tries to
 * reconnect when the backoff allows */
int engine_db_ready(struct engine *e);

/* engine_intake_limits - the intake limits from the config */
void engine_intake_limits(const struct engine *e, struct tw_intake_limits *lim);

/* engine_intake_batch - write the N parsed intakes in as few transactions as
 * possible (one when all goes well) and fill each item's outcome. Commits
 * before returning; nothing is replied here. */
void engine_intake_batch(struct engine *e, struct engine_item *items, size_t n);

#endif
