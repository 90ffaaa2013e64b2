/*
 * engine_loop.c - the engine's main loop: group commit over a ROUTER.
 *
 * DESIGN
 * ------
 * One thread, one database connection. The loop sleeps in zmq_poll on the
 * intake socket and the signal pipe. When requests arrive it takes every
 * request already waiting (up to engine.batch_max) without blocking,
 * validates each, answers the bad ones at once, and writes all valid intakes
 * in one transaction. Only after COMMIT does it reply to each sender. While a
 * batch is being written, new requests queue up in the socket and form the
 * next batch: the busier the engine, the bigger the batches, so throughput
 * is not bound by the commit rate (as with PostgreSQL's own group commit).
 *
 * When the database is away every request gets a temporary "unavailable"
 * error (clients resend with the same key) and the loop reconnects with
 * backoff; nothing is half-written because each batch is one transaction.
 * SIGTERM stops taking new batches once the waiting requests have been
 * answered; SIGHUP reloads the config, keeping the old one if the new is bad.
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
#include "ref.h"

/* engine_intake_limits - the intake limits from the config */
void engine_intake_limits(const struct engine *e, struct tw_intake_limits *lim)
{
    lim->max_subject = (size_t)e->cfg->max_subject;
    lim->max_body = (size_t)e->cfg->max_body;
    lim->max_attachments = (size_t)e->cfg->max_attachments;
    lim->max_attachment = (size_t)e->cfg->max_attachment;
    lim->categories = &e->cfg->categories;
}

/* engine_db_ready - connect and migrate when down, at the backoff's pace */
int engine_db_ready(struct engine *e)
{
    if (tw_db_is_up(e->db) && e->migrated)
        return 1;
    tw_time now = tw_clock_mono();
    if (now < e->next_connect)
        return 0;
    int st = tw_db_connect(e->db);
    if (st == TW_OK) {
        int applied = 0;
        st = tw_db_migrate(e->db, &applied);
        if (st == TW_OK) {
            e->migrated = 1;
            tw_backoff_reset(&e->reconnect);
            tw_info("database: connected, schema version %d",
                    tw_db_schema_version(e->db));
            return 1;
        }
        if (st == TW_PERMFAIL)
            tw_error("database: migrations failed; fix the schema and "
                     "restart the engine");
        tw_db_disconnect(e->db);
    }
    e->migrated = 0;
    int64_t delay = tw_backoff_next(&e->reconnect);
    e->next_connect = now + delay;
    tw_warn("database: unavailable; next attempt in %lld ms",
            (long long)(delay / TW_MSEC));
    return 0;
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
    json_t *f =
        json_pack("{s:s, s:s, s:I, s:s, s:I}", "engine", "tawasul-engine",
                  "version", ENGINE_VERSION, "pid", (json_int_t)getpid(),
                  "database", tw_db_is_up(e->db) && e->migrated ? "up" : "down",
                  "cases_created", (json_int_t)e->cases_created);
    json_t *r = tw_bus_reply_ok(key, f);
    tw_bus_server_reply(e->bus, req, r);
    json_decref(r);
    json_decref(f);
}

/* reply_item - answer one intake with its outcome */
static void reply_item(struct engine *e, struct engine_item *it)
{
    json_t *r;
    if (it->err != TW_E_NONE) {
        r = tw_bus_reply_error(it->in.key, it->err, "%s", it->msg);
    } else {
        char rec[TW_TIME_ISO_MAX], due[TW_TIME_ISO_MAX];
        json_t *f = json_pack("{s:s, s:b, s:s, s:s, s:b}", "case", it->ref,
                              "created", it->created, "received_at",
                              tw_time_iso(it->received_at, 1, rec),
                              "sla_due_at", tw_time_iso(it->due_at, 1, due),
                              "verified", it->verified);
        r = tw_bus_reply_ok(it->in.key, f);
        json_decref(f);
    }
    tw_bus_server_reply(e->bus, it->req, r);
    json_decref(r);
}

/* publish_created - the case.created hint for live views and notifiers */
static void publish_created(struct engine *e, const struct engine_item *it)
{
    char rec[TW_TIME_ISO_MAX], due[TW_TIME_ISO_MAX];
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "case", it->ref, "channel",
                  it->in.channel, "kind", it->in.kind, "verified", it->verified,
                  "received_at", tw_time_iso(it->received_at, 1, rec),
                  "sla_due_at", tw_time_iso(it->due_at, 1, due));
    tw_bus_publish(e->bus, "case.created", ev);
    json_decref(ev);
}

/* take_request - validate one request; returns 1 if it joined the batch
 * (as ITEM), 0 if it was answered already */
static int take_request(struct engine *e, struct tw_bus_request *req,
                        struct engine_item *item)
{
    json_t *json = NULL;
    const char *op = NULL, *key = NULL;
    enum tw_errcode code = TW_E_NONE;
    char msg[TW_MSG_MAX];

    if (tw_command_parse(req->command, req->command_len, &json, &op, &key,
                         &code, msg) != TW_OK) {
        tw_warn("%s: rejected: %s: %s", key ? key : "-", tw_errcode_name(code),
                msg);
        reply_error(e, req, key, code, msg);
        json_decref(json);
        return 0;
    }
    if (strcmp(op, "ping") == 0) {
        reply_ping(e, req, key);
        json_decref(json);
        return 0;
    }
    if (strcmp(op, "intake") != 0) {
        snprintf(msg, sizeof msg, "op \"%s\" is not served by this engine", op);
        reply_error(e, req, key, TW_E_UNKNOWN_OP, msg);
        json_decref(json);
        return 0;
    }
    struct tw_intake_limits lim;
    engine_intake_limits(e, &lim);
    memset(item, 0, sizeof *item);
    if (tw_intake_parse(json, req->parts, req->nparts, &lim, &item->in, &code,
                        msg) != TW_OK) {
        tw_warn("%s: rejected: %s: %s", key, tw_errcode_name(code), msg);
        reply_error(e, req, key, code, msg);
        json_decref(json);
        tw_intake_clear(&item->in);
        return 0;
    }
    json_decref(json); /* the intake holds its own reference */
    item->req = req;
    return 1;
}

/* run_batch - write the batch, then reply to every sender and publish */
static void run_batch(struct engine *e, struct engine_item *items, size_t n)
{
    if (!engine_db_ready(e)) {
        for (size_t i = 0; i < n; i++) {
            items[i].err = TW_E_UNAVAILABLE;
            snprintf(items[i].msg, sizeof items[i].msg,
                     "the database is unavailable; try again");
        }
    } else {
        engine_intake_batch(e, items, n);
    }
    int created = 0;
    for (size_t i = 0; i < n; i++) {
        reply_item(e, &items[i]);
        if (items[i].err == TW_E_NONE && items[i].created) {
            publish_created(e, &items[i]);
            created++;
        }
    }
    if (created) {
        /* New acknowledgement rows wait in the outbox. */
        json_t *hint = json_pack("{s:i}", "rows", created);
        tw_bus_publish(e->bus, "outbox.ready", hint);
        json_decref(hint);
    }
    e->batches++;
}

/* serve_waiting - take every waiting request (one batch at most) and answer
 * it; returns how many requests were taken */
static size_t serve_waiting(struct engine *e, struct engine_item *items,
                            struct tw_bus_request **reqs)
{
    size_t max = (size_t)e->cfg->batch_max, nreq = 0, nitems = 0;
    struct tw_bus_request *req;
    while (nreq < max && tw_bus_server_recv(e->bus, &req) == TW_OK) {
        reqs[nreq++] = req;
        if (take_request(e, req, &items[nitems]))
            nitems++;
    }
    if (nitems)
        run_batch(e, items, nitems);
    for (size_t i = 0; i < nitems; i++)
        tw_intake_clear(&items[i].in);
    for (size_t i = 0; i < nreq; i++)
        tw_bus_request_destroy(&reqs[i]);
    return nreq;
}

/* reload - apply a new config from SIGHUP */
static void reload(struct engine *e)
{
    char intake[512], events[512];
    snprintf(intake, sizeof intake, "%s", e->base->bus_intake);
    snprintf(events, sizeof events, "%s", e->base->bus_events);
    if (tw_daemon_reload(e->daemon) != TW_OK)
        return;
    e->base = tw_daemon_base(e->daemon);
    e->cfg = tw_daemon_config(e->daemon);
    if (strcmp(intake, e->base->bus_intake) != 0 ||
        strcmp(events, e->base->bus_events) != 0)
        tw_warn("bus endpoints changed: restart the engine to use them");
    tw_info("configuration reloaded");
}

/* engine_run - start-up sequence, then the loop */
int engine_run(struct tw_daemon *d)
{
    struct engine e = {0};
    int rc = EX_OK;
    e.daemon = d;
    e.base = tw_daemon_base(d);
    e.cfg = tw_daemon_config(d);

    if (!tw_ref_prefix_valid(e.base->site_ref_prefix)) {
        tw_error("site.ref_prefix \"%s\" must be 1 to 8 capital letters",
                 e.base->site_ref_prefix);
        return EX_CONFIG;
    }
    e.db = tw_db_new(e.base->database_url, "tawasul-engine");
    tw_db_set_connect_timeout(e.db, e.base->database_connect_timeout);
    tw_backoff_init(&e.reconnect, 200 * TW_MSEC,
                    e.base->database_reconnect_max);
    /* Try the database first so a ready engine is announced ready; a
     * database that is away is not fatal: requests get "unavailable". */
    engine_db_ready(&e);

    e.zctx = zmq_ctx_new();
    e.bus = tw_bus_server_new(e.zctx, e.base->bus_intake, e.base->bus_events,
                              (size_t)e.base->bus_max_request);
    if (!e.bus) {
        rc = EX_UNAVAILABLE;
        goto out;
    }
    tw_info("ready: intake=%s events=%s batch_max=%lld", e.base->bus_intake,
            e.base->bus_events, (long long)e.cfg->batch_max);

    /* Sized for the largest batch; batch_max can only change on reload,
     * so the arrays are sized for the limit of the key's range. */
    size_t cap = 10000;
    struct engine_item *items = tw_calloc(cap, sizeof *items);
    struct tw_bus_request **reqs = tw_calloc(cap, sizeof *reqs);

    for (;;) {
        zmq_pollitem_t pi[2] = {
            {tw_bus_server_socket(e.bus), 0, ZMQ_POLLIN, 0},
            {NULL, tw_daemon_signal_fd(d), ZMQ_POLLIN, 0},
        };
        long timeout = -1;
        if (!tw_db_is_up(e.db) || !e.migrated) {
            int64_t wait = e.next_connect - tw_clock_mono();
            timeout = wait > 0 ? (long)(wait / TW_MSEC) + 1 : 0;
        }
        if (zmq_poll(pi, 2, timeout) < 0 && errno != EINTR) {
            tw_error("zmq_poll: %s", zmq_strerror(errno));
            rc = EX_SOFTWARE;
            break;
        }
        int sig = tw_daemon_signals(d);
        if (sig & TW_SIG_RELOAD)
            reload(&e);
        if (sig & TW_SIG_STOP || tw_daemon_stopping(d)) {
            /* Drain: answer what is already waiting, then leave. */
            for (int round = 0; round < 20; round++)
                if (serve_waiting(&e, items, reqs) == 0)
                    break;
            tw_info("stopping: %llu cases created in %llu batches",
                    (unsigned long long)e.cases_created,
                    (unsigned long long)e.batches);
            break;
        }
        if (!tw_db_is_up(e.db) || !e.migrated)
            engine_db_ready(&e);
        if (pi[0].revents & ZMQ_POLLIN)
            serve_waiting(&e, items, reqs);
    }
    free(items);
    free(reqs);
out:
    tw_bus_server_destroy(&e.bus);
    if (e.zctx)
        zmq_ctx_term(e.zctx);
    tw_db_destroy(&e.db);
    return rc;
}
