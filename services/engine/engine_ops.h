/*
 * engine_ops.h - the engine's ops other than intake: one handler each.
 *
 * An op is a bus command that changes an existing case (transition, assign,
 * note, decide, attest, survey, bounce...). The bus side checks the envelope
 * and that the op is known, and puts the command into the batch; the writer
 * thread runs each op in a transaction of its own (engine_ops_run):
 *
 *   BEGIN
 *   a stored reply for this key?  yes: answer it again ("repeated": true)
 *   handler(ctx)                  the op's effect, its case_events rows and
 *                                 any outbox rows, all in this transaction
 *   INSERT INTO op_keys (key, reply)
 *   COMMIT                        only then the reply and the events
 *
 * So a resent key never applies an op twice, and what an op changes, its
 * audit trail and the emails it causes commit together or not at all.
 *
 * A handler reads the command from ctx->cmd, uses ctx->now as the time (never
 * SQL now()), adds reply fields to ctx->reply, queues events with
 * engine_op_event and counts its outbox rows in ctx->outbox_rows. It returns
 * TW_OK; engine_op_fail(ctx, code, ...) for a refusal (TW_PERMFAIL: rolled
 * back, the client is told CODE and why); or TW_TEMPFAIL when the database
 * failed (rolled back, answered "unavailable", the client resends).
 *
 * To add an op: a handler in a file of its own, declared below, one line in
 * the table in engine_ops.c, and its name in common/command.c's list.
 */
#ifndef ENGINE_OPS_H
#define ENGINE_OPS_H

#include <jansson.h>

#include "bus.h"
#include "command.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "error.h"

struct engine_config;

/* What a handler gets and gives. */
struct engine_op_ctx {
    struct tw_db *db;                  /* a transaction is open */
    const struct tw_base_config *base; /* site settings (secret, zone...) */
    const struct engine_config *cfg;   /* stable for the op's duration */
    json_t *cmd;                       /* the whole command (borrowed) */
    const struct tw_bus_part *parts;   /* attachment frames (borrowed) */
    size_t nparts;
    const char *op, *key;
    const char *actor; /* the command's "actor", NULL if absent */
    tw_time now;       /* the engine's clock for this op */
    json_t *reply;     /* fields for the ok reply: add to it */
    json_t *events;    /* [{"topic":..., "data":{...}}], after COMMIT */
    int outbox_rows;   /* outbox rows written: outbox.ready is published */
    long long case_id; /* the case the op acted on, 0 if none (op_keys) */
    const struct tw_policy *policy; /* SLA settings and calendar */
    enum tw_errcode code;
    char msg[TW_MSG_MAX];
};

typedef int (*engine_op_fn)(struct engine_op_ctx *c);

struct engine_op {
    const char *name;
    engine_op_fn fn;
    int needs_actor; /* staff ops: refused without "actor" */
};

/* engine_op_find - the op named NAME, or NULL */
const struct engine_op *engine_op_find(const char *name);

/* engine_op_fail - refuse the op with CODE and a message; TW_PERMFAIL */
__attribute__((format(printf, 3, 4))) int
engine_op_fail(struct engine_op_ctx *c, enum tw_errcode code, const char *fmt,
               ...);

/* engine_op_event - publish TOPIC with DATA (reference stolen) once the
 * op has committed */
void engine_op_event(struct engine_op_ctx *c, const char *topic, json_t *data);

/* engine_op_fields - refuse the op (invalid) if the command has a field
 * not in ALLOWED (NULL-terminated; v, op, key and actor always are), so a
 * typo never silently drops data; TW_OK or TW_PERMFAIL */
int engine_op_fields(struct engine_op_ctx *c, const char *const *allowed);

/* engine_op_str - the command's string field NAME, NULL when absent. A
 * present non-string, or an absent or empty REQUIRED one, refuses the op:
 * after reading the fields, return TW_PERMFAIL if c->code is set. */
const char *engine_op_str(struct engine_op_ctx *c, const char *name,
                          int required);

/* A case as ops see it, locked for the op's transaction. */
struct engine_case {
    long long id;
    char ref[24];
    char status[24];
    long long member_id; /* 0 when unverified */
    char kind[16];
};

/* engine_op_lock_case - find the case REF (FOR UPDATE) into OUT and set
 * c->case_id; TW_OK, TW_PERMFAIL (not_found) or TW_TEMPFAIL */
int engine_op_lock_case(struct engine_op_ctx *c, const char *ref,
                        struct engine_case *out);

/* A staff member as ops see them. */
struct engine_staff {
    long long id;
    char username[40];
    unsigned role; /* TW_ROLE_* bit (lifecycle.h) */
};

/* engine_op_staff - the acting staff member (c->actor), active, into OUT;
 * refuses the op (forbidden) if unknown, inactive or none of ROLES
 * (managers and admins always pass) */
int engine_op_staff(struct engine_op_ctx *c, unsigned roles,
                    struct engine_staff *out);

/* The handlers, one file each. */
int engine_op_note(struct engine_op_ctx *c); /* engine_note.c */
/* engine_lifecycle.c: the status machine's ops */
int engine_op_transition(struct engine_op_ctx *c);
int engine_op_assign(struct engine_op_ctx *c);
int engine_op_attest(struct engine_op_ctx *c);
int engine_op_decide(struct engine_op_ctx *c);
/* engine_sla.c: the sweeper and recompute by hand */
int engine_op_sla_sweep(struct engine_op_ctx *c);
int engine_op_sla_recompute(struct engine_op_ctx *c);
/* engine_lifecycle_reopen - a member's reply reopens the resolved or
 * closed case REF: the same move as a staff reopen (the stopped clock time
 * becomes a pause, event, "reopened" email), made by C's actor inside the
 * caller's transaction (engine_thread.c) */
int engine_lifecycle_reopen(struct engine_op_ctx *c, const char *ref,
                            const char *reason, const char *message_id);
/* engine_survey.c: a member rates the service */
int engine_op_survey(struct engine_op_ctx *c);
/* engine_mail.c: a delivery report on mail we sent */
int engine_op_bounce(struct engine_op_ctx *c);

#endif
