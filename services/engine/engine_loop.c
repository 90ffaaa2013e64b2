/*
 * engine_loop.c - the engine's bus side: group commit over a ROUTER.
 *
 * DESIGN
 * ------
 * The loop sleeps in zmq_poll on the intake socket, the signal pipe and the
 * pipe to the writer thread (engine_writer.c). Requests are taken as they
 * arrive, without blocking: each is parsed and validated at once; a bad one
 * is answered at once with a permanent error and nothing is written; a good
 * intake gets its received time and due date and joins the batch being
 * collected. Whenever the writer is idle, the collected batch goes to it
 * whole. When the writer hands a batch back - committed, or refused as a
 * whole - every sender gets its reply and case.created is published.
 *
 * So while PostgreSQL commits one batch, the next one collects: the busier
 * the engine, the bigger the batches, and the commit rate is not the ceiling
 * (PostgreSQL's own group commit, one level up). A full collecting batch
 * stops the loop from reading the socket, which pushes back on the clients
 * through ZeroMQ's queues.
 *
 * The SLA sweep rides the same pipe: every sla.sweep_every the next batch
 * (an empty one if nothing is collecting) carries a sweep flag, and the
 * writer runs one bounded round (sla.sweep_limit cases) after the batch's
 * intakes and ops (engine_sla.c). So the sweep needs no thread, connection
 * or lock of its own here, never runs while a config reload swaps the
 * settings it reads, and holds intake up for one round at most.
 *
 * SIGTERM: stop taking requests, let the writer finish the batch it has,
 * write what was collected, answer whatever is already waiting in the
 * socket, then stop the writer and leave. SIGHUP reloads the config,
 * keeping the old one if the new one is bad.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

#define WRITER_PIPE "inproc://tawasul-engine-writer"

/* The bus side's state. */
struct engine {
    struct tw_daemon *daemon;
    const struct tw_base_config *base;
    const struct engine_config *cfg;
    struct tw_bus_server *bus;
    struct engine_writer writer;
    void *pipe;                   /* PAIR to the writer */
    struct engine_batch *collect; /* being filled */
    struct engine_batch *writing; /* with the writer, or NULL */
    struct engine_batch *spare;   /* recycled */
    unsigned long long batches;
    int reload_pending;       /* SIGHUP came while the writer held a batch */
    struct tw_policy *policy; /* SLA settings (config + holidays table) */
    int32_t *holidays;        /* the holidays table, as the writer read it */
    size_t nholidays;
    tw_time next_sweep; /* monotonic */
};

/* build_policy - the SLA settings from the config and the holidays table;
 * keeps the old ones (and says why) when the new ones are bad */
static int build_policy(struct engine *e)
{
    struct tw_policy *p = NULL;
    char err[512];
    if (tw_policy_build(&e->cfg->sla, e->base->site_timezone, e->holidays,
                        e->nholidays, &p, err, sizeof err) != TW_OK) {
        tw_error("SLA settings: %s%s", err,
                 e->policy ? "; keeping the old ones" : "");
        return TW_PERMFAIL;
    }
    tw_policy_destroy(&e->policy);
    e->policy = p;
    tw_info("SLA settings: %s (fingerprint %.12s)", tw_policy_summary(p),
            tw_policy_fingerprint(p));
    return TW_OK;
}

/* batch_new - an empty batch with room for the largest batch_max */
static struct engine_batch *batch_new(void)
{
    struct engine_batch *b = tw_calloc(1, sizeof *b);
    b->items = tw_calloc(ENGINE_BATCH_LIMIT, sizeof *b->items);
    b->ops = tw_calloc(ENGINE_BATCH_LIMIT, sizeof *b->ops);
    b->reqs = tw_calloc(ENGINE_BATCH_LIMIT, sizeof *b->reqs);
    return b;
}

/* batch_reset - empty B for reuse, freeing its requests */
static void batch_reset(struct engine_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        tw_intake_clear(&b->items[i].in);
    for (size_t i = 0; i < b->nops; i++) {
        json_decref(b->ops[i].cmd);
        json_decref(b->ops[i].reply);
        json_decref(b->ops[i].events);
    }
    for (size_t i = 0; i < b->nreq; i++)
        tw_bus_request_destroy(&b->reqs[i]);
    json_decref(b->sweep_events);
    b->sweep_events = NULL;
    b->sweep = 0;
    b->sweep_outbox = 0;
    free(b->holidays);
    b->holidays = NULL;
    b->nholidays = 0;
    b->holidays_changed = 0;
    memset(b->items, 0, b->n * sizeof *b->items);
    memset(b->ops, 0, b->nops * sizeof *b->ops);
    b->n = 0;
    b->nops = 0;
    b->nreq = 0;
}

/* batch_destroy - free a batch and whatever it still holds */
static void batch_destroy(struct engine_batch **bp)
{
    struct engine_batch *b = *bp;
    if (!b)
        return;
    batch_reset(b);
    free(b->items);
    free(b->ops);
    free(b->reqs);
    free(b);
    *bp = NULL;
}

/* reply_error - answer REQ with an error; KEY may be NULL */
static void reply_error(struct engine *e, const struct tw_bus_request *req,
                        const char *key, enum tw_errcode code, const char *msg)
{
    json_t *r = tw_bus_reply_error(key, code, "%s", msg);
    tw_bus_server_reply(e->bus, req, r);
    json_decref(r);
}

/* reply_ping - answer a health check without touching the database */
static void reply_ping(struct engine *e, const struct tw_bus_request *req,
                       const char *key)
{
    json_t *f = json_pack(
        "{s:s, s:s, s:I, s:s, s:I}", "engine", "tawasul-engine", "version",
        ENGINE_VERSION, "pid", (json_int_t)getpid(), "database",
        atomic_load(&e->writer.db_up) ? "up" : "down", "cases_created",
        (json_int_t)atomic_load(&e->writer.cases_created));
    json_t *r = tw_bus_reply_ok(key, f);
    tw_bus_server_reply(e->bus, req, r);
    json_decref(r);
    json_decref(f);
}

/* thread_reply_fields - a threaded intake's reply fields (engine_thread.c's
 * outcome): "threaded", "reopened", "linked_case" */
static void thread_reply_fields(const struct engine_item *it, json_t *f)
{
    if (it->thread.threaded)
        json_object_set_new(f, "threaded", json_true());
    if (it->thread.reopened)
        json_object_set_new(f, "reopened", json_true());
    if (it->thread.linked[0])
        json_object_set_new(f, "linked_case", json_string(it->thread.linked));
}

/* publish_thread - a message added to a case (and its reopening) */
static void publish_thread(struct engine *e, const struct engine_item *it)
{
    tw_info("%s: message received key=%s%s", it->ref, it->in.key,
            it->thread.reopened ? " (case reopened)" : "");
    json_t *ev = json_pack("{s:s, s:s, s:s?, s:b}", "case", it->ref, "channel",
                           it->in.channel, "message_id", it->in.msg_id,
                           "reopened", it->thread.reopened);
    tw_bus_publish(e->bus, "case.message", ev);
    json_decref(ev);
    if (it->thread.reopened) {
        ev = json_pack("{s:s, s:s}", "case", it->ref, "status", "new");
        tw_bus_publish(e->bus, "case.status", ev);
        json_decref(ev);
    }
}

/* reply_item - answer one intake with its outcome; publish a new case */
static void reply_item(struct engine *e, struct engine_item *it)
{
    json_t *r;
    if (it->err != TW_E_NONE) {
        r = tw_bus_reply_error(it->in.key, it->err, "%s", it->msg);
        tw_bus_server_reply(e->bus, it->req, r);
        json_decref(r);
        return;
    }
    char rec[TW_TIME_ISO_MAX], due[TW_TIME_ISO_MAX];
    tw_time_iso(it->received_at, 1, rec);
    tw_time_iso(it->due_at, 1, due);
    json_t *f = json_pack("{s:s, s:b, s:s, s:s, s:b}", "case", it->ref,
                          "created", it->created, "received_at", rec,
                          "sla_due_at", due, "verified", it->verified);
    thread_reply_fields(it, f);
    r = tw_bus_reply_ok(it->in.key, f);
    json_decref(f);
    tw_bus_server_reply(e->bus, it->req, r);
    json_decref(r);
    if (it->thread.added)
        publish_thread(e, it);
    if (!it->created)
        return;
    tw_info("%s: case created channel=%s key=%s verified=%s due=%s", it->ref,
            it->in.channel, it->in.key, it->verified ? "yes" : "no", due);
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "case", it->ref, "channel",
                  it->in.channel, "kind", it->in.kind, "verified", it->verified,
                  "received_at", rec, "sla_due_at", due);
    tw_bus_publish(e->bus, "case.created", ev);
    json_decref(ev);
}

/* reply_op - answer one op with its outcome; publish what it queued */
static void reply_op(struct engine *e, struct engine_op_item *it)
{
    json_t *r;
    if (it->err != TW_E_NONE) {
        tw_warn("%s: %s refused: %s: %s", it->key, it->op->name,
                tw_errcode_name(it->err), it->msg);
        r = tw_bus_reply_error(it->key, it->err, "%s", it->msg);
        tw_bus_server_reply(e->bus, it->req, r);
        json_decref(r);
        return;
    }
    r = tw_bus_reply_ok(it->key, it->reply);
    tw_bus_server_reply(e->bus, it->req, r);
    json_decref(r);
    size_t i;
    json_t *ev;
    json_array_foreach(it->events, i, ev)
    {
        tw_bus_publish(e->bus, json_string_value(json_object_get(ev, "topic")),
                       json_object_get(ev, "data"));
    }
}

/* take_op - an op other than intake joins the collecting batch; the
 * handler validates its fields in the writer */
static void take_op(struct engine *e, struct tw_bus_request *req,
                    const struct engine_op *op, json_t *json, const char *key)
{
    if (op->needs_actor) {
        json_t *a = json_object_get(json, "actor");
        if (!json_is_string(a) || !*json_string_value(a)) {
            reply_error(e, req, key, TW_E_INVALID,
                        "actor: required (the staff member acting)");
            return;
        }
    }
    struct engine_op_item *it = &e->collect->ops[e->collect->nops++];
    memset(it, 0, sizeof *it);
    it->req = req;
    it->op = op;
    it->cmd = json_incref(json);
    it->key = key; /* borrowed from cmd */
    it->now = tw_clock_now();
}

/* take_intake - validate an intake into the collecting batch; 1 if it
 * joined, 0 if it was answered already */
static int take_intake(struct engine *e, struct tw_bus_request *req,
                       json_t *json, const char *key)
{
    struct engine_batch *b = e->collect;
    struct engine_item *it = &b->items[b->n];
    struct tw_intake_limits lim = {
        .max_subject = (size_t)e->cfg->max_subject,
        .max_body = (size_t)e->cfg->max_body,
        .max_attachments = (size_t)e->cfg->max_attachments,
        .max_attachment = (size_t)e->cfg->max_attachment,
        .categories = &e->cfg->categories,
    };
    enum tw_errcode code = TW_E_NONE;
    char msg[TW_MSG_MAX];
    memset(it, 0, sizeof *it);
    if (tw_intake_parse(json, req->parts, req->nparts, &lim, &it->in, &code,
                        msg) != TW_OK) {
        tw_warn("%s: rejected: %s: %s", key, tw_errcode_name(code), msg);
        reply_error(e, req, key, code, msg);
        tw_intake_clear(&it->in);
        return 0;
    }
    /* The clock is read here, once per request, and the due date computed
     * by the one SLA function; the writer only stores them. */
    tw_time now = tw_clock_now();
    it->received_at = it->in.received_at ? it->in.received_at : now;
    if (it->received_at > now + 5 * TW_MIN) {
        tw_warn("%s: rejected: received_at in the future", key);
        reply_error(e, req, key, TW_E_INVALID, "received_at: is in the future");
        tw_intake_clear(&it->in);
        return 0;
    }
    tw_policy_deadlines(e->policy, it->in.category, it->received_at, NULL, 0,
                        &it->due_at, &it->warn_at);
    it->year = tw_time_local_year(it->received_at);
    it->req = req;
    b->n++;
    return 1;
}

/* take_request - parse one request and answer or collect it */
static void take_request(struct engine *e, struct tw_bus_request *req)
{
    json_t *json = NULL;
    const char *op = NULL, *key = NULL;
    enum tw_errcode code = TW_E_NONE;
    char msg[TW_MSG_MAX];

    e->collect->reqs[e->collect->nreq++] = req;
    if (tw_command_parse(req->command, req->command_len, &json, &op, &key,
                         &code, msg) != TW_OK) {
        tw_warn("%s: rejected: %s: %s", key ? key : "-", tw_errcode_name(code),
                msg);
        reply_error(e, req, key, code, msg);
    } else if (strcmp(op, "ping") == 0) {
        reply_ping(e, req, key);
    } else if (strcmp(op, "intake") == 0) {
        take_intake(e, req, json, key);
    } else if (engine_op_find(op)) {
        take_op(e, req, engine_op_find(op), json, key);
    } else {
        snprintf(msg, sizeof msg, "op \"%s\" is not served by this engine", op);
        reply_error(e, req, key, TW_E_UNKNOWN_OP, msg);
    }
    json_decref(json); /* intakes and ops hold their own reference */
}

/* batch_size - the intakes and ops in B */
static size_t batch_size(const struct engine_batch *b)
{
    return b->n + b->nops;
}

/* collect_waiting - take what is waiting in the socket, up to a full
 * batch; returns how many requests were taken */
static size_t collect_waiting(struct engine *e)
{
    size_t max = (size_t)e->cfg->batch_max, taken = 0;
    struct tw_bus_request *req;
    while (batch_size(e->collect) < max &&
           e->collect->nreq < ENGINE_BATCH_LIMIT &&
           tw_bus_server_recv(e->bus, &req) == TW_OK) {
        take_request(e, req);
        taken++;
    }
    return taken;
}

/* dispatch - hand the collected batch to the writer if it is idle */
static void dispatch(struct engine *e)
{
    if (!e->writing && tw_clock_mono() >= e->next_sweep) {
        e->collect->sweep = 1;
        e->next_sweep = tw_clock_mono() + tw_policy_sweep_every(e->policy);
    }
    if (e->writing || (batch_size(e->collect) == 0 && !e->collect->sweep))
        return;
    struct engine_batch *b = e->collect;
    snprintf(b->ref_prefix, sizeof b->ref_prefix, "%s",
             e->base->site_ref_prefix);
    b->base = e->base;
    b->cfg = e->cfg;
    b->policy = e->policy;
    if (zmq_send(e->pipe, &b, sizeof b, 0) != (int)sizeof b) {
        tw_error("cannot hand a batch to the writer: %s", zmq_strerror(errno));
        return;
    }
    e->writing = b;
    e->collect = e->spare ? e->spare : batch_new();
    e->spare = NULL;
}

static void reload(struct engine *e);

/* finish - the writer handed a batch back: reply to everyone in it */
static void finish(struct engine *e)
{
    struct engine_batch *b = NULL;
    if (zmq_recv(e->pipe, &b, sizeof b, 0) != (int)sizeof b || !b)
        return;
    /* Keep the database busy: the next batch goes before the replies. A
     * reload waits for this moment, when the writer holds no config. */
    e->writing = NULL;
    if (b->holidays_changed) {
        /* The holidays table changed: new settings (the next sweep then
         * finds the fingerprint changed and recomputes open cases). */
        free(e->holidays);
        e->holidays = b->holidays;
        e->nholidays = b->nholidays;
        b->holidays = NULL;
        b->nholidays = 0;
        if (build_policy(e) == TW_OK)
            e->next_sweep = 0;
    }
    if (e->reload_pending)
        reload(e);
    dispatch(e);
    int created = 0;
    for (size_t i = 0; i < b->n; i++) {
        reply_item(e, &b->items[i]);
        created += b->items[i].err == TW_E_NONE &&
                   (b->items[i].created || b->items[i].thread.reopened ||
                    b->items[i].thread.added);
    }
    for (size_t i = 0; i < b->nops; i++) {
        reply_op(e, &b->ops[i]);
        if (b->ops[i].err == TW_E_NONE)
            created += b->ops[i].outbox_rows;
    }
    size_t i;
    json_t *ev;
    json_array_foreach(b->sweep_events, i, ev)
    {
        tw_bus_publish(e->bus, json_string_value(json_object_get(ev, "topic")),
                       json_object_get(ev, "data"));
    }
    created += b->sweep_outbox;
    if (created) {
        /* New rows wait in the outbox. */
        json_t *hint = json_pack("{s:i}", "rows", created);
        tw_bus_publish(e->bus, "outbox.ready", hint);
        json_decref(hint);
    }
    batch_reset(b);
    e->batches++;
    if (!e->spare)
        e->spare = b;
    else
        batch_destroy(&b);
}

/* drain - on stop: finish the batch being written, write what was
 * collected, answer what is already waiting (a bounded number of rounds) */
static void drain(struct engine *e)
{
    for (int round = 0; round < 20; round++) {
        if (e->writing)
            finish(e); /* blocks until the writer hands it back */
        collect_waiting(e);
        /* Requests answered at once (bad ones, pings) sit in the
         * collecting batch until it is reset. */
        if (batch_size(e->collect) == 0) {
            batch_reset(e->collect);
            if (round > 0)
                break;
            continue;
        }
        dispatch(e);
    }
    if (e->writing)
        finish(e);
}

/* reload - apply a new config from SIGHUP (only while the writer holds no
 * batch, whose config pointers it reads) */
static void reload(struct engine *e)
{
    e->reload_pending = 0;
    char intake[512], events[512];
    snprintf(intake, sizeof intake, "%s", e->base->bus_intake);
    snprintf(events, sizeof events, "%s", e->base->bus_events);
    if (tw_daemon_reload(e->daemon) != TW_OK)
        return;
    e->base = tw_daemon_base(e->daemon);
    e->cfg = tw_daemon_config(e->daemon);
    if (build_policy(e) == TW_OK)
        e->next_sweep = 0; /* settings may differ: check them now */
    if (!tw_ref_prefix_valid(e->base->site_ref_prefix))
        tw_error("site.ref_prefix \"%s\" must be 1 to 8 capital letters; "
                 "restart with a valid one",
                 e->base->site_ref_prefix);
    if (strcmp(intake, e->base->bus_intake) != 0 ||
        strcmp(events, e->base->bus_events) != 0)
        tw_warn("bus endpoints changed: restart the engine to use them");
    tw_info("configuration reloaded");
}

/* engine_run - start-up sequence, then the loop */
int engine_run(struct tw_daemon *d)
{
    struct engine e = {0};
    int rc = EX_OK, writer_started = 0;
    void *zctx = NULL;
    e.daemon = d;
    e.base = tw_daemon_base(d);
    e.cfg = tw_daemon_config(d);
    if (!tw_ref_prefix_valid(e.base->site_ref_prefix)) {
        tw_error("site.ref_prefix \"%s\" must be 1 to 8 capital letters",
                 e.base->site_ref_prefix);
        return EX_CONFIG;
    }
    if (build_policy(&e) != TW_OK)
        return EX_CONFIG;

    zctx = zmq_ctx_new();
    e.pipe = zmq_socket(zctx, ZMQ_PAIR);
    if (!e.pipe || zmq_bind(e.pipe, WRITER_PIPE) != 0) {
        tw_error("cannot bind %s: %s", WRITER_PIPE, zmq_strerror(errno));
        rc = EX_SOFTWARE;
        goto out;
    }
    e.writer.conninfo = e.base->database_url;
    e.writer.connect_timeout = e.base->database_connect_timeout;
    e.writer.reconnect_max = e.base->database_reconnect_max;
    e.writer.zctx = zctx;
    if (engine_writer_start(&e.writer, WRITER_PIPE) != TW_OK) {
        rc = EX_SOFTWARE;
        goto out;
    }
    writer_started = 1;

    e.bus = tw_bus_server_new(zctx, e.base->bus_intake, e.base->bus_events,
                              (size_t)e.base->bus_max_request);
    if (!e.bus) {
        rc = EX_UNAVAILABLE;
        goto out;
    }
    e.collect = batch_new();
    tw_info("ready: intake=%s events=%s batch_max=%lld", e.base->bus_intake,
            e.base->bus_events, (long long)e.cfg->batch_max);

    for (;;) {
        /* A full collecting batch waits for the writer: stop reading. */
        int room = batch_size(e.collect) < (size_t)e.cfg->batch_max &&
                   e.collect->nreq < ENGINE_BATCH_LIMIT;
        zmq_pollitem_t pi[3] = {
            {e.pipe, 0, ZMQ_POLLIN, 0},
            {NULL, tw_daemon_signal_fd(d), ZMQ_POLLIN, 0},
            {tw_bus_server_socket(e.bus), 0, ZMQ_POLLIN, 0},
        };
        long wait = -1;
        if (!e.writing) {
            int64_t until = e.next_sweep - tw_clock_mono();
            wait = until > 0 ? (long)(until / TW_MSEC) + 1 : 0;
        }
        if (zmq_poll(pi, room ? 3 : 2, wait) < 0 && errno != EINTR) {
            tw_error("zmq_poll: %s", zmq_strerror(errno));
            rc = EX_SOFTWARE;
            break;
        }
        int sig = tw_daemon_signals(d);
        /* The writer reads the config a batch points to: reload only
         * while it holds none. */
        if (sig & TW_SIG_RELOAD)
            e.reload_pending = 1;
        if (e.reload_pending && !e.writing)
            reload(&e);
        if (sig & TW_SIG_STOP || tw_daemon_stopping(d)) {
            drain(&e);
            tw_info("stopping: %lu cases created in %llu batches",
                    (unsigned long)atomic_load(&e.writer.cases_created),
                    e.batches);
            break;
        }
        if (pi[0].revents & ZMQ_POLLIN)
            finish(&e);
        if (room && (pi[2].revents & ZMQ_POLLIN))
            collect_waiting(&e);
        if (batch_size(e.collect) == 0 && e.collect->nreq > 0)
            batch_reset(e.collect); /* only answered requests: free them */
        dispatch(&e);
    }
out:
    if (writer_started)
        engine_writer_stop(&e.writer, e.pipe);
    batch_destroy(&e.collect);
    batch_destroy(&e.spare);
    batch_destroy(&e.writing);
    tw_bus_server_destroy(&e.bus);
    if (e.pipe)
        zmq_close(e.pipe);
    if (zctx)
        zmq_ctx_term(zctx);
    tw_policy_destroy(&e.policy);
    free(e.holidays);
    return rc;
}
