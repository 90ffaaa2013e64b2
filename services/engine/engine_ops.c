/*
 * engine_ops.c - the table of ops and how the writer runs them (see
 * engine_ops.h for the contract a handler follows).
 */
#include "engine_ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "ref.h"

/* Every op the engine serves besides intake and ping. */
static const struct engine_op ops[] = {
    {"note", engine_op_note, 1},
    {"transition", engine_op_transition, 1},
    {"assign", engine_op_assign, 1},
    {"attest", engine_op_attest, 1},
    {"decide", engine_op_decide, 1},
    {"sla_sweep", engine_op_sla_sweep, 1},
    {"sla_recompute", engine_op_sla_recompute, 1},
    {"survey", engine_op_survey, 0},
    {"bounce", engine_op_bounce, 0},
    {NULL, NULL, 0},
};

/* engine_op_find - see engine_ops.h */
const struct engine_op *engine_op_find(const char *name)
{
    for (const struct engine_op *o = ops; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* engine_op_fail - see engine_ops.h */
int engine_op_fail(struct engine_op_ctx *c, enum tw_errcode code,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->code = code;
    return TW_PERMFAIL;
}

/* engine_op_event - see engine_ops.h */
void engine_op_event(struct engine_op_ctx *c, const char *topic, json_t *data)
{
    json_array_append_new(c->events,
                          json_pack("{s:s, s:o}", "topic", topic, "data",
                                    data ? data : json_object()));
}

/* engine_op_fields - see engine_ops.h */
int engine_op_fields(struct engine_op_ctx *c, const char *const *allowed)
{
    static const char *const envelope[] = {"v", "op", "key", "actor", NULL};
    const char *name;
    json_t *value;
    json_object_foreach(c->cmd, name, value)
    {
        (void)value;
        if (tw_name_in(envelope, name) || tw_name_in(allowed, name))
            continue;
        return engine_op_fail(c, TW_E_INVALID, "%s: unknown field", name);
    }
    return TW_OK;
}

/* engine_op_str - see engine_ops.h */
const char *engine_op_str(struct engine_op_ctx *c, const char *name,
                          int required)
{
    json_t *v = json_object_get(c->cmd, name);
    if (!v || json_is_null(v)) {
        if (required && c->code == TW_E_NONE)
            engine_op_fail(c, TW_E_INVALID, "%s: required", name);
        return NULL;
    }
    if (!json_is_string(v)) {
        if (c->code == TW_E_NONE)
            engine_op_fail(c, TW_E_INVALID, "%s: must be a string", name);
        return NULL;
    }
    const char *s = json_string_value(v);
    if (required && !*s && c->code == TW_E_NONE)
        engine_op_fail(c, TW_E_INVALID, "%s: must not be empty", name);
    return s;
}

static const char sql_lock_case[] =
    "SELECT id, ref, status, coalesce(member_id, 0), kind"
    " FROM tawasul.cases WHERE ref = $1 FOR UPDATE";

/* engine_op_lock_case - see engine_ops.h */
int engine_op_lock_case(struct engine_op_ctx *c, const char *ref,
                        struct engine_case *out)
{
    char norm[TW_REF_MAX];
    int year;
    long number;
    memset(out, 0, sizeof *out);
    snprintf(norm, sizeof norm, "%s", ref ? ref : "");
    if (!ref || strlen(ref) >= sizeof norm ||
        !tw_case_ref_parse(norm, 1, &year, &number))
        return engine_op_fail(c, TW_E_INVALID,
                              "case: \"%.40s\" is not a case reference "
                              "(PREFIX-YYYY-NNNNNN)",
                              ref ? ref : "");
    int st;
    const char *params[] = {norm};
    PGresult *r =
        tw_db_query_prepared(c->db, &st, sql_lock_case, 1, params, NULL, NULL);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return engine_op_fail(c, TW_E_NOT_FOUND, "case %s: no such case", norm);
    }
    out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(out->ref, sizeof out->ref, "%s", PQgetvalue(r, 0, 1));
    snprintf(out->status, sizeof out->status, "%s", PQgetvalue(r, 0, 2));
    out->member_id = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    snprintf(out->kind, sizeof out->kind, "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    c->case_id = out->id;
    return TW_OK;
}

static const char sql_find_key[] =
    "SELECT op, reply::text FROM tawasul.op_keys WHERE key = $1";
static const char sql_store_key[] =
    "INSERT INTO tawasul.op_keys (key, op, actor, case_id, at, reply)"
    " VALUES ($1, $2, $3, nullif($4, '0')::bigint, $5, $6::jsonb)";

/* find_key - a reply stored for IT's key: 1 (IT filled), 0, or a failure */
static int find_key(struct tw_db *db, struct engine_op_item *it)
{
    int st;
    const char *params[] = {it->key};
    PGresult *r =
        tw_db_query_prepared(db, &st, sql_find_key, 1, params, NULL, NULL);
    if (!r)
        return st;
    int found = PQntuples(r) == 1;
    if (found) {
        if (strcmp(PQgetvalue(r, 0, 0), it->op->name) != 0) {
            snprintf(it->msg, sizeof it->msg,
                     "key: already used for a \"%s\" op", PQgetvalue(r, 0, 0));
            it->err = TW_E_CONFLICT;
        } else {
            json_decref(it->reply);
            it->reply = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
            if (!it->reply)
                it->reply = json_object();
            json_object_set_new(it->reply, "repeated", json_true());
        }
    }
    PQclear(r);
    return found;
}

/* store_key - record IT's key and reply in the op's transaction */
static int store_key(struct tw_db *db, const struct engine_op_item *it,
                     const char *actor, long long case_id)
{
    char *reply = json_dumps(it->reply, JSON_COMPACT);
    char ids[24], at[TW_TIME_ISO_MAX];
    snprintf(ids, sizeof ids, "%lld", case_id);
    const char *params[] = {
        it->key, it->op->name, actor, ids, tw_db_time_param(it->now, at),
        reply};
    int st = tw_db_exec(db, sql_store_key, 6, params);
    free(reply);
    return st;
}

/* run_one - one op in one transaction */
static void run_one(struct engine_writer *w, const struct engine_batch *b,
                    struct engine_op_item *it)
{
    struct engine_op_ctx c = {
        .db = w->db,
        .base = b->base,
        .cfg = b->cfg,
        .cmd = it->cmd,
        .parts = it->req->parts + 1,
        .nparts = it->req->nparts > 0 ? it->req->nparts - 1 : 0,
        .op = it->op->name,
        .key = it->key,
        .now = it->now,
        .reply = json_object(),
        .events = json_array(),
        .policy = b->policy,
    };
    json_t *actor = json_object_get(it->cmd, "actor");
    c.actor = json_is_string(actor) ? json_string_value(actor) : NULL;

    int st = tw_db_begin(w->db);
    int found = 0;
    if (st == TW_OK) {
        found = find_key(w->db, it);
        if (found < 0)
            st = found;
    }
    if (st == TW_OK && !found && it->err == TW_E_NONE) {
        st = it->op->fn(&c);
        if (st == TW_OK) {
            json_decref(it->reply);
            it->reply = json_incref(c.reply);
            st = store_key(w->db, it, c.actor, c.case_id);
            if (st == TW_PERMFAIL)
                engine_op_fail(&c, TW_E_CONFLICT, "%s",
                               "key: stored by another op at the same time");
        }
    }
    if (st == TW_OK && it->err == TW_E_NONE)
        st = tw_db_commit(w->db);
    if (st != TW_OK || it->err != TW_E_NONE)
        tw_db_rollback(w->db);

    if (st == TW_OK && it->err == TW_E_NONE && !found) {
        json_decref(it->events);
        it->events = json_incref(c.events);
        it->outbox_rows = c.outbox_rows;
    } else if (st == TW_PERMFAIL) {
        it->err = c.code != TW_E_NONE ? c.code : TW_E_INVALID;
        if (c.code != TW_E_NONE)
            snprintf(it->msg, sizeof it->msg, "%s", c.msg);
        else
            snprintf(it->msg, sizeof it->msg, "rejected by the database: %s",
                     tw_db_error(w->db));
    } else if (st == TW_TEMPFAIL) {
        it->err = TW_E_UNAVAILABLE;
        snprintf(it->msg, sizeof it->msg, "%s",
                 "the database is unavailable; try again");
    }
    json_decref(c.reply);
    json_decref(c.events);
}

/* engine_ops_run - see engine.h */
void engine_ops_run(struct engine_writer *w, struct engine_batch *b)
{
    for (size_t i = 0; i < b->nops; i++) {
        struct engine_op_item *it = &b->ops[i];
        if (it->err != TW_E_NONE)
            continue;
        run_one(w, b, it);
        if (it->err == TW_E_UNAVAILABLE && !tw_db_is_up(w->db)) {
            /* The connection is gone: the rest cannot run either. */
            for (size_t j = i + 1; j < b->nops; j++)
                if (b->ops[j].err == TW_E_NONE) {
                    b->ops[j].err = TW_E_UNAVAILABLE;
                    snprintf(b->ops[j].msg, sizeof b->ops[j].msg, "%s",
                             "the database is unavailable; try again");
                }
            break;
        }
    }
}
