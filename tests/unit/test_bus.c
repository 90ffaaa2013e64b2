/*
 * test_bus.c - the bus against a real ROUTER over ipc://, client and server
 * driven from one thread: each step polls the client a little, then serves
 * whatever the server has received. What is checked is what a sender
 * notices: every request ends in exactly one reply, a lost or refused
 * request is sent again with the same key, and giving up says why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "log.h"

#define NKEYS 300

struct fixture {
    void *zctx;
    char dir[64];
    char intake[128];
    char events[128];
    /* Sockets a test registers here are closed by teardown even when an
     * assertion ends the test early (else zmq_ctx_term would wait). */
    struct tw_bus_client *c;
    struct tw_bus_server *s;
};

/* What the client's callback saw. */
struct got {
    int calls;
    json_t *last; /* copy of the last reply */
    char last_key[64];
    int per_key[NKEYS];
    struct tw_bus_client *resubmit; /* for the re-entrancy test */
    int chain;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tw-bus-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->intake, sizeof f->intake, "ipc://%s/intake", f->dir);
    snprintf(f->events, sizeof f->events, "ipc://%s/events", f->dir);
    f->zctx = zmq_ctx_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tw_bus_client_destroy(&f->c);
    tw_bus_server_destroy(&f->s);
    zmq_ctx_term(f->zctx);
    char path[128];
    snprintf(path, sizeof path, "%s/intake", f->dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/events", f->dir);
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void on_reply(void *arg, const char *key, const json_t *reply)
{
    struct got *g = arg;
    g->calls++;
    json_decref(g->last);
    g->last = json_deep_copy(reply);
    snprintf(g->last_key, sizeof g->last_key, "%s", key);
    assert_string_equal(key, json_string_value(json_object_get(reply, "key")));
    int i;
    if (sscanf(key, "w:%d", &i) == 1 && i >= 0 && i < NKEYS)
        g->per_key[i]++;
    if (g->resubmit && g->chain < 5) {
        /* The callback may submit, even under the key just finished. */
        g->chain++;
        json_t *cmd =
            json_pack("{s:i,s:s,s:s}", "v", 1, "op", "note", "key", key);
        assert_int_equal(tw_bus_client_submit(g->resubmit, cmd, NULL, 0),
                         TW_OK);
    }
}

static json_t *command(const char *key)
{
    return json_pack("{s:i,s:s,s:s}", "v", 1, "op", "intake", "key", key);
}

/* req_key - the key of a received request (borrowed from J) */
static const char *req_key(const struct tw_bus_request *r, json_t **j)
{
    *j = json_loadb(r->command, r->command_len, 0, NULL);
    assert_non_null(*j);
    return json_string_value(json_object_get(*j, "key"));
}

/* answer - reply ok to R with {"n": nparts} */
static void answer(struct tw_bus_server *s, const struct tw_bus_request *r)
{
    json_t *j;
    const char *key = req_key(r, &j);
    json_t *fields =
        json_pack("{s:s,s:i}", "case", "AW-2026-000001", "n", (int)r->nparts);
    json_t *reply = tw_bus_reply_ok(key, fields);
    assert_int_equal(tw_bus_server_reply(s, r, reply), TW_OK);
    json_decref(reply);
    json_decref(fields);
    json_decref(j);
}

static void test_reply_builders(void **state)
{
    (void)state;
    json_t *f = json_pack("{s:s,s:b,s:b}", "case", "AW-2026-000123", "created",
                          1, "ok", 0);
    json_t *r = tw_bus_reply_ok("web:1", f);
    char *s = json_dumps(r, JSON_COMPACT);
    assert_string_equal(s, "{\"v\":1,\"key\":\"web:1\",\"ok\":true,"
                           "\"case\":\"AW-2026-000123\",\"created\":true}");
    free(s);
    json_decref(r);
    json_decref(f);

    r = tw_bus_reply_error(NULL, TW_E_UNAVAILABLE, "database %s", "down");
    s = json_dumps(r, JSON_COMPACT);
    assert_string_equal(s, "{\"v\":1,\"key\":null,\"ok\":false,"
                           "\"error\":\"unavailable\",\"retry\":true,"
                           "\"message\":\"database down\"}");
    free(s);
    json_decref(r);

    /* Bytes that are not UTF-8 cannot break the reply. */
    r = tw_bus_reply_error("k", TW_E_INVALID, "bad %s", "\xff\xfe");
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "message")),
                        "bad ??");
    assert_true(json_is_false(json_object_get(r, "retry")));
    json_decref(r);
}

static void test_request_reply_with_attachments(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    assert_non_null(s);
    struct got g = {0};
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, NULL, on_reply, &g);
    assert_non_null(c);
    struct tw_bus_part parts[2] = {{"hello", 5}, {"\0\1\2", 3}};
    assert_int_equal(tw_bus_client_submit(c, command("k1"), parts, 2), TW_OK);
    assert_int_equal(tw_bus_client_pending(c), 1);
    /* A second request under a key still queued is refused. */
    assert_int_equal(tw_bus_client_submit(c, command("k1"), NULL, 0),
                     TW_PERMFAIL);
    assert_int_equal(
        tw_bus_client_submit(c, json_pack("{s:i}", "v", 1), NULL, 0),
        TW_PERMFAIL);

    int served = 0;
    tw_time end = tw_clock_mono() + 5 * TW_SEC;
    while (g.calls == 0 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            assert_int_equal(r->nparts, 2);
            assert_int_equal(r->parts[0].len, 5);
            assert_memory_equal(r->parts[0].data, "hello", 5);
            assert_int_equal(r->parts[1].len, 3);
            assert_memory_equal(r->parts[1].data, "\0\1\2", 3);
            assert_int_equal(r->total_len, r->command_len + 8);
            assert_int_equal(r->command[r->command_len], '\0');
            answer(s, r);
            served++;
            tw_bus_request_destroy(&r);
            assert_null(r);
        }
    }
    assert_int_equal(g.calls, 1);
    assert_int_equal(served, 1);
    assert_string_equal(g.last_key, "k1");
    assert_true(json_is_true(json_object_get(g.last, "ok")));
    assert_int_equal(json_integer_value(json_object_get(g.last, "n")), 2);
    assert_int_equal(tw_bus_client_pending(c), 0);
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    assert_null(c);
    tw_bus_server_destroy(&s);
    assert_null(s);
}

static void test_window_out_of_order(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    struct got g = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.window = 100;
    o.timeout = 10 * TW_SEC;
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    for (int i = 0; i < NKEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "w:%d", i);
        assert_int_equal(tw_bus_client_submit(c, command(key), NULL, 0), TW_OK);
    }
    assert_int_equal(tw_bus_client_pending(c), NKEYS);

    struct tw_bus_request *held[NKEYS];
    int nheld = 0, batches = 0, finished = 0;
    tw_time end = tw_clock_mono() + 20 * TW_SEC;
    while (g.calls < NKEYS && tw_clock_mono() < end) {
        int rc = tw_bus_client_poll(c, 2 * TW_MSEC);
        assert_true(rc >= 0);
        finished += rc;
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            assert_true(nheld < 100); /* never more than the window */
            held[nheld++] = r;
        }
        if (nheld == 100 || (nheld > 0 && nheld == NKEYS - batches * 100)) {
            /* Give the client a chance to break the window, then answer
             * newest first. */
            assert_int_equal(tw_bus_client_poll(c, 20 * TW_MSEC), 0);
            assert_int_not_equal(tw_bus_server_recv(s, &r), TW_OK);
            for (int i = nheld - 1; i >= 0; i--) {
                answer(s, held[i]);
                tw_bus_request_destroy(&held[i]);
            }
            nheld = 0;
            batches++;
        }
    }
    assert_int_equal(g.calls, NKEYS);
    assert_int_equal(finished, NKEYS);
    assert_int_equal(batches, 3);
    for (int i = 0; i < NKEYS; i++)
        assert_int_equal(g.per_key[i], 1);
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

static void test_dropped_request_resent(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    struct got g = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = 200 * TW_MSEC;
    o.backoff_min = 10 * TW_MSEC;
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    assert_int_equal(tw_bus_client_submit(c, command("w:7"), NULL, 0), TW_OK);

    int seen = 0;
    tw_time start = tw_clock_mono(), answered_at = 0;
    tw_time end = start + 5 * TW_SEC;
    /* Keep going a while after the answer: no second callback. */
    while (tw_clock_mono() < end &&
           (!answered_at || tw_clock_mono() < answered_at + 500 * TW_MSEC)) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            json_t *j;
            assert_string_equal(req_key(r, &j), "w:7");
            json_decref(j);
            if (++seen >= 2) {
                answer(s, r);
                answered_at = tw_clock_mono();
            }
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(seen, 2);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.per_key[7], 1);
    assert_true(answered_at - start >= 200 * TW_MSEC);
    assert_true(json_is_true(json_object_get(g.last, "ok")));
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

/* A busy engine that answers others is alive: a request it lost is sent
 * again on its own after a few timeouts, and the others are not resent. */
static void test_lost_request_while_engine_answers(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s = f->s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    struct got g = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = 100 * TW_MSEC;
    o.backoff_min = 10 * TW_MSEC;
    struct tw_bus_client *c = f->c =
        tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    assert_int_equal(tw_bus_client_submit(c, command("w:0"), NULL, 0), TW_OK);

    int seen[NKEYS] = {0}, next = 1;
    tw_time start = tw_clock_mono(), first = 0, again = 0;
    while (tw_clock_mono() < start + 3 * TW_SEC && g.per_key[0] == 0) {
        /* Another request every 10 ms keeps the engine visibly alive. */
        if (next < NKEYS &&
            tw_clock_mono() >= start + (tw_time)next * 10 * TW_MSEC) {
            char key[16];
            snprintf(key, sizeof key, "w:%d", next++);
            assert_int_equal(tw_bus_client_submit(c, command(key), NULL, 0),
                             TW_OK);
        }
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            json_t *j;
            int i = -1;
            sscanf(req_key(r, &j), "w:%d", &i);
            json_decref(j);
            assert_true(i >= 0 && i < NKEYS);
            if (++seen[i] == 1 && i == 0)
                first = tw_clock_mono(); /* the engine "loses" it */
            else {
                if (i == 0)
                    again = tw_clock_mono();
                answer(s, r);
            }
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(seen[0], 2);
    assert_int_equal(g.per_key[0], 1);
    /* Not after one timeout (the engine was answering), but after a few. */
    assert_true(again - first >= 3 * o.timeout);
    for (int i = 1; i < next; i++)
        assert_true(seen[i] <= 1); /* nothing else was sent twice */
    json_decref(g.last);
    tw_bus_client_destroy(&f->c);
    tw_bus_server_destroy(&f->s);
}

static void test_retry_reply_resent(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    struct got g = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.backoff_min = 20 * TW_MSEC;
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    assert_int_equal(tw_bus_client_submit(c, command("w:3"), NULL, 0), TW_OK);

    int seen = 0;
    tw_time end = tw_clock_mono() + 5 * TW_SEC;
    while (g.calls == 0 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            json_t *j;
            const char *key = req_key(r, &j);
            if (++seen < 3) {
                json_t *e = tw_bus_reply_error(key, TW_E_UNAVAILABLE,
                                               "database unavailable");
                assert_int_equal(tw_bus_server_reply(s, r, e), TW_OK);
                json_decref(e);
            } else {
                answer(s, r);
            }
            json_decref(j);
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(seen, 3);
    assert_int_equal(g.calls, 1);
    assert_true(json_is_true(json_object_get(g.last, "ok")));

    /* A permanent error is final at once. */
    assert_int_equal(tw_bus_client_submit(c, command("w:4"), NULL, 0), TW_OK);
    end = tw_clock_mono() + 5 * TW_SEC;
    while (g.calls == 1 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            json_t *j;
            json_t *e = tw_bus_reply_error(req_key(r, &j), TW_E_INVALID,
                                           "subject: required");
            assert_int_equal(tw_bus_server_reply(s, r, e), TW_OK);
            json_decref(e);
            json_decref(j);
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(g.calls, 2);
    assert_string_equal(json_string_value(json_object_get(g.last, "error")),
                        "invalid");
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

static void test_give_up(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = 100 * TW_MSEC;
    o.backoff_min = 10 * TW_MSEC;
    o.give_up = 1 * TW_SEC;
    /* No engine at all. */
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    tw_time start = tw_clock_mono();
    assert_int_equal(tw_bus_client_submit(c, command("w:1"), NULL, 0), TW_OK);
    while (g.calls == 0 && tw_clock_mono() < start + 5 * TW_SEC)
        assert_true(tw_bus_client_poll(c, 50 * TW_MSEC) >= 0);
    tw_time took = tw_clock_mono() - start;
    assert_int_equal(g.calls, 1);
    assert_true(took >= 1 * TW_SEC && took < 2 * TW_SEC);
    assert_string_equal(json_string_value(json_object_get(g.last, "error")),
                        "timeout");
    assert_true(json_is_true(json_object_get(g.last, "retry")));
    assert_string_equal(json_string_value(json_object_get(g.last, "key")),
                        "w:1");
    const char *msg = json_string_value(json_object_get(g.last, "message"));
    assert_non_null(strstr(msg, f->intake));
    assert_non_null(strstr(msg, "within 1s"));
    assert_int_equal(tw_bus_client_pending(c), 0);

    tw_bus_client_destroy(&c);

    /* An engine that keeps saying "unavailable": that is what is reported.
     * (A new client: the first one's reconnect interval has grown.) */
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    c = tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    assert_int_equal(tw_bus_client_submit(c, command("w:2"), NULL, 0), TW_OK);
    start = tw_clock_mono();
    while (g.calls == 1 && tw_clock_mono() < start + 5 * TW_SEC) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            json_t *j;
            json_t *e = tw_bus_reply_error(req_key(r, &j), TW_E_UNAVAILABLE,
                                           "database unavailable");
            assert_int_equal(tw_bus_server_reply(s, r, e), TW_OK);
            json_decref(e);
            json_decref(j);
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(g.calls, 2);
    assert_string_equal(json_string_value(json_object_get(g.last, "error")),
                        "unavailable");
    assert_string_equal(json_string_value(json_object_get(g.last, "message")),
                        "database unavailable");
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

static void test_server_started_later(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = 300 * TW_MSEC;
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, &o, on_reply, &g);
    assert_int_equal(tw_bus_client_submit(c, command("w:9"), NULL, 0), TW_OK);
    tw_time end = tw_clock_mono() + 700 * TW_MSEC;
    while (tw_clock_mono() < end)
        assert_int_equal(tw_bus_client_poll(c, 20 * TW_MSEC), 0);
    assert_int_equal(tw_bus_client_pending(c), 1);

    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    int seen = 0;
    end = tw_clock_mono() + 10 * TW_SEC;
    while (g.calls == 0 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            seen++;
            answer(s, r);
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(g.calls, 1);
    assert_int_equal(seen, 1); /* nothing was queued twice */
    assert_true(json_is_true(json_object_get(g.last, "ok")));
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

static void test_too_large(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s = tw_bus_server_new(f->zctx, f->intake, NULL, 1000);
    struct got g = {0};
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, NULL, on_reply, &g);
    static char big[1500];
    struct tw_bus_part part = {big, sizeof big};
    assert_int_equal(tw_bus_client_submit(c, command("w:5"), &part, 1), TW_OK);
    assert_int_equal(tw_bus_client_submit(c, command("w:6"), NULL, 0), TW_OK);
    int served = 0;
    tw_time end = tw_clock_mono() + 5 * TW_SEC;
    while (g.calls < 2 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            json_t *j;
            /* Only the small one reaches the engine's code. */
            assert_string_equal(req_key(r, &j), "w:6");
            json_decref(j);
            answer(s, r);
            served++;
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(g.calls, 2);
    assert_int_equal(served, 1);
    assert_int_equal(g.per_key[5], 1);
    assert_int_equal(g.per_key[6], 1);
    json_decref(g.last);
    g.last = NULL;

    /* Report the big one's reply on its own to check it. */
    assert_int_equal(tw_bus_client_submit(c, command("w:5"), &part, 1), TW_OK);
    end = tw_clock_mono() + 5 * TW_SEC;
    while (g.calls < 3 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        assert_int_equal(tw_bus_server_recv(s, &r), TW_TEMPFAIL);
    }
    assert_int_equal(g.calls, 3);
    assert_string_equal(json_string_value(json_object_get(g.last, "error")),
                        "too_large");
    assert_true(json_is_false(json_object_get(g.last, "retry")));
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

static void test_callback_resubmits(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, f->intake, NULL, 1 << 20);
    struct got g = {0};
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, NULL, on_reply, &g);
    g.resubmit = c;
    assert_int_equal(tw_bus_client_submit(c, command("w:0"), NULL, 0), TW_OK);
    tw_time end = tw_clock_mono() + 5 * TW_SEC;
    while (g.calls < 6 && tw_clock_mono() < end) {
        assert_true(tw_bus_client_poll(c, 2 * TW_MSEC) >= 0);
        struct tw_bus_request *r;
        while (tw_bus_server_recv(s, &r) == TW_OK) {
            answer(s, r);
            tw_bus_request_destroy(&r);
        }
    }
    assert_int_equal(g.calls, 6);
    assert_int_equal(g.per_key[0], 6);
    assert_int_equal(tw_bus_client_pending(c), 0);
    json_decref(g.last);
    tw_bus_client_destroy(&c);
    tw_bus_server_destroy(&s);
}

static void test_destroy_with_pending(void **state)
{
    struct fixture *f = *state;
    struct got g = {0};
    struct tw_bus_client *c =
        tw_bus_client_new(f->zctx, f->intake, NULL, on_reply, &g);
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof key, "w:%d", i);
        struct tw_bus_part p = {"x", 1};
        assert_int_equal(tw_bus_client_submit(c, command(key), &p, 1), TW_OK);
    }
    assert_int_equal(tw_bus_client_poll(c, 0), 0);
    tw_bus_client_destroy(&c);
    tw_bus_client_destroy(&c);
    assert_int_equal(g.calls, 0);
}

static void test_call_gives_up(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.timeout = 100 * TW_MSEC;
    o.give_up = 300 * TW_MSEC;
    json_t *r = tw_bus_call(f->zctx, f->intake, &o, command("cli:1"), NULL, 0);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "timeout");
    assert_string_equal(json_string_value(json_object_get(r, "key")), "cli:1");
    assert_non_null(strstr(json_string_value(json_object_get(r, "message")),
                           "within 300ms"));
    json_decref(r);
    /* No key: not sent at all. */
    assert_null(tw_bus_call(f->zctx, f->intake, &o, json_pack("{s:i}", "v", 1),
                            NULL, 0));
}

static void test_events(void **state)
{
    struct fixture *f = *state;
    struct tw_bus_server *s =
        tw_bus_server_new(f->zctx, NULL, f->events, 1 << 20);
    assert_non_null(s);
    assert_null(tw_bus_server_socket(s));
    void *sub = tw_bus_subscriber_new(f->zctx, f->events, "case.");
    assert_non_null(sub);
    char *topic = NULL;
    json_t *body = NULL;
    assert_int_equal(tw_bus_event_recv(sub, &topic, &body), TW_TEMPFAIL);

    /* Slow joiner: publish until the subscription has taken. */
    json_t *ev = json_pack("{s:s}", "case", "AW-2026-000001");
    int got = 0;
    tw_time end = tw_clock_mono() + 5 * TW_SEC;
    while (!got && tw_clock_mono() < end) {
        assert_int_equal(tw_bus_publish(s, "sla.warning", ev), TW_OK);
        assert_int_equal(tw_bus_publish(s, "case.created", ev), TW_OK);
        zmq_pollitem_t it = {.socket = sub, .events = ZMQ_POLLIN};
        zmq_poll(&it, 1, 20);
        while (tw_bus_event_recv(sub, &topic, &body) == TW_OK) {
            assert_string_equal(topic, "case.created");
            assert_string_equal(
                json_string_value(json_object_get(body, "case")),
                "AW-2026-000001");
            free(topic);
            json_decref(body);
            got++;
        }
    }
    assert_true(got > 0);
    json_decref(ev);
    zmq_close(sub);
    tw_bus_server_destroy(&s);
}

int main(void)
{
    tw_log_init("test_bus", TW_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_builders),
        cmocka_unit_test_setup_teardown(test_request_reply_with_attachments,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_out_of_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lost_request_while_engine_answers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dropped_request_resent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_retry_reply_resent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_give_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_started_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_callback_resubmits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_call_gives_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
