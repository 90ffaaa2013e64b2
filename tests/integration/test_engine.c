/*
 * test_engine - the engine's intake against a real PostgreSQL over real
 * ZeroMQ sockets: what is written, idempotency, bad input, concurrency,
 * crashes and a database that goes away.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "mem.h"

#define EXTRA                                                                  \
    "cases:\n  categories: [membership, support]\n"                            \
    "  max_attachment: 2KB\n  max_attachments: 3\n"

static int setup(void **state)
{
    struct th *t = tw_calloc(1, sizeof *t);
    th_setup(t, "engine", EXTRA);
    th_migrate(t);
    th_exec(t, "INSERT INTO members (member_no, name, email, phone, lang)"
               " VALUES ('1001', 'عبدالله الدوسري', 'Abdullah@Example.org',"
               " '+966501234567', 'ar'),"
               " ('1002', 'Sara Ahmed', 'sara@example.org', '+966502222222',"
               " 'en')");
    th_engine_start(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct th *t = *state;
    if (!t)
        return 0;
    th_teardown(t);
    free(t);
    return 0;
}

/* reply_str - a string member of a reply, "" if absent */
static const char *reply_str(const json_t *r, const char *name)
{
    const char *s = json_string_value(json_object_get(r, name));
    return s ? s : "";
}

static void intake_writes_case_event_message_and_outbox(void **state)
{
    struct th *t = *state;
    json_t *cmd = th_intake("test:one", "طلب تحديث بيانات العضوية");
    json_object_set_new(cmd, "member", json_pack("{s:s}", "number", "1001"));
    json_object_set_new(cmd, "category", json_string("membership"));
    json_t *r = th_call(t, cmd, 10000);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(r, "created")));
    assert_true(json_is_true(json_object_get(r, "verified")));
    const char *ref = reply_str(r, "case");
    assert_int_equal(strlen(ref), 14);
    assert_memory_equal(ref, "AW-", 3);

    tw_time rec, due;
    assert_int_equal(tw_time_parse(reply_str(r, "received_at"), &rec), 0);
    assert_int_equal(tw_time_parse(reply_str(r, "sla_due_at"), &due), 0);
    assert_true(due - rec == 14 * TW_DAY);

    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM cases WHERE ref = '%s'"
                              " AND status = 'new' AND channel = 'phone'"
                              " AND verified AND member_id = (SELECT id"
                              " FROM members WHERE member_no = '1001')"
                              " AND sla_due_at - received_at = '14 days'",
                              ref),
                     1);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM case_events e JOIN"
                              " cases c ON c.id = e.case_id WHERE"
                              " c.ref = '%s' AND e.kind = 'created' AND"
                              " e.to_status = 'new'",
                              ref),
                     1);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM messages m JOIN cases"
                              " c ON c.id = m.case_id WHERE c.ref = '%s'"
                              " AND m.direction = 'in' AND m.body LIKE"
                              " 'اتصل%%'",
                              ref),
                     1);
    /* The acknowledgement goes to the register's address, in Arabic. */
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM outbox o JOIN cases c"
                              " ON c.id = o.case_id WHERE c.ref = '%s' AND"
                              " o.template = 'acknowledgement' AND"
                              " o.status = 'pending' AND o.lang = 'ar' AND"
                              " o.recipient = 'Abdullah@Example.org' AND"
                              " o.params->>'ref' = '%s'",
                              ref, ref),
                     1);
    json_decref(r);
}

static void same_key_twice_is_one_case(void **state)
{
    struct th *t = *state;
    json_t *r1 = th_call(t, th_intake("test:twice", "first"), 10000);
    json_t *r2 = th_call(t, th_intake("test:twice", "first"), 10000);
    assert_true(json_is_true(json_object_get(r1, "created")));
    assert_true(json_is_true(json_object_get(r2, "ok")));
    assert_true(json_is_false(json_object_get(r2, "created")));
    assert_string_equal(reply_str(r1, "case"), reply_str(r2, "case"));
    assert_string_equal(reply_str(r1, "sla_due_at"),
                        reply_str(r2, "sla_due_at"));
    assert_int_equal(th_count(t, "SELECT count(*) FROM cases WHERE intake_key ="
                                 " 'test:twice'"),
                     1);
    assert_int_equal(th_count(t, "SELECT count(*) FROM outbox o JOIN cases c"
                                 " ON c.id = o.case_id WHERE c.intake_key ="
                                 " 'test:twice'"),
                     1);
    json_decref(r1);
    json_decref(r2);
}

static void members_matched_by_number_email_phone(void **state)
{
    struct th *t = *state;
    struct {
        const char *key, *field, *value, *expect;
    } cases[] = {
        {"test:m-num", "number", "1002", "1002"},
        {"test:m-mail", "email", "abdullah@EXAMPLE.org", "1001"},
        {"test:m-phone", "phone", "+966 50 222 2222", "1002"},
        {"test:m-none", "phone", "+966509999999", NULL},
        {"test:m-unknown-number", "number", "9999", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *cmd = th_intake(cases[i].key, "match");
        json_object_set_new(cmd, "member",
                            json_pack("{s:s}", cases[i].field, cases[i].value));
        json_t *r = th_call(t, cmd, 10000);
        assert_true(json_is_true(json_object_get(r, "ok")));
        assert_int_equal(json_is_true(json_object_get(r, "verified")),
                         cases[i].expect != NULL);
        char *got = th_value(t,
                             "SELECT m.member_no FROM cases c LEFT JOIN"
                             " members m ON m.id = c.member_id WHERE"
                             " c.intake_key = '%s'",
                             cases[i].key);
        if (cases[i].expect)
            assert_string_equal(got, cases[i].expect);
        else
            assert_null(got);
        free(got);
        json_decref(r);
    }
    /* What an unknown caller said about themselves is kept for staff. */
    assert_int_equal(th_count(t, "SELECT count(*) FROM cases WHERE"
                                 " intake_key = 'test:m-none' AND NOT"
                                 " verified AND contact->>'phone' ="
                                 " '+966509999999'"),
                     1);
}

/* send_raw - a request exactly as given, straight onto a DEALER */
static json_t *send_raw(struct th *t, const char *text, const void *att,
                        size_t att_len)
{
    void *s = zmq_socket(t->zctx, ZMQ_DEALER);
    int zero = 0, timeout = 10000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    assert_int_equal(zmq_connect(s, t->intake), 0);
    zmq_send(s, text, strlen(text), att ? ZMQ_SNDMORE : 0);
    if (att)
        zmq_send(s, att, att_len, 0);
    char buf[4096];
    int n = zmq_recv(s, buf, sizeof buf - 1, 0);
    zmq_close(s);
    assert_true(n > 0);
    buf[n] = '\0';
    json_t *r = json_loads(buf, 0, NULL);
    assert_non_null(r);
    return r;
}

static void bad_input_is_refused_and_nothing_written(void **state)
{
    struct th *t = *state;
    long cases_before = th_count(t, "SELECT count(*) FROM cases");
    long msgs_before = th_count(t, "SELECT count(*) FROM messages");
    char big[4096];
    memset(big, 'x', sizeof big);
    struct {
        const char *text, *error, *mentions;
        const void *att;
        size_t att_len;
    } bad[] = {
        {"{not json", "bad_json", NULL, NULL, 0},
        {"[1,2]", "bad_json", NULL, NULL, 0},
        {"{\"v\":2,\"op\":\"intake\",\"key\":\"k:v2\"}", "bad_version", NULL,
         NULL, 0},
        {"{\"v\":1,\"op\":\"launch\",\"key\":\"k:op\"}", "unknown_op", NULL,
         NULL, 0},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:nosubj\","
         "\"channel\":\"phone\"}",
         "invalid", "subject", NULL, 0},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:chan\","
         "\"channel\":\"fax\",\"subject\":\"s\"}",
         "invalid", "channel", NULL, 0},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:cat\","
         "\"channel\":\"phone\",\"subject\":\"s\",\"category\":\"x\"}",
         "invalid", "category", NULL, 0},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:big\","
         "\"channel\":\"letter\",\"subject\":\"s\","
         "\"attachments\":[{\"name\":\"scan.pdf\"}]}",
         "too_large", "scan.pdf", big, sizeof big},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:count\","
         "\"channel\":\"letter\",\"subject\":\"s\","
         "\"attachments\":[{\"name\":\"a.pdf\"},{\"name\":\"b.pdf\"}]}",
         "invalid", "attachments", "x", 1},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:future\","
         "\"channel\":\"phone\",\"subject\":\"s\","
         "\"received_at\":\"2099-01-01T00:00:00+03:00\"}",
         "invalid", "received_at", NULL, 0},
        {"{\"v\":1,\"op\":\"intake\",\"key\":\"k:attest\","
         "\"channel\":\"web\",\"subject\":\"s\","
         "\"attestation\":\"winked\"}",
         "invalid", "attestation", NULL, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *r = send_raw(t, bad[i].text, bad[i].att, bad[i].att_len);
        assert_true(json_is_false(json_object_get(r, "ok")));
        assert_string_equal(reply_str(r, "error"), bad[i].error);
        assert_true(json_is_false(json_object_get(r, "retry")));
        if (bad[i].mentions)
            assert_non_null(strstr(reply_str(r, "message"), bad[i].mentions));
        json_decref(r);
    }
    assert_int_equal(th_count(t, "SELECT count(*) FROM cases"), cases_before);
    assert_int_equal(th_count(t, "SELECT count(*) FROM messages"), msgs_before);
}

static void attestation_with_the_request_is_recorded(void **state)
{
    struct th *t = *state;
    json_t *cmd = th_intake("test:attested", "attested on the web");
    json_object_set_new(cmd, "channel", json_string("web"));
    json_object_set_new(cmd, "attestation", json_string("web_checkbox"));
    json_t *r = th_call(t, cmd, 10000);
    assert_true(json_is_true(json_object_get(r, "ok")));
    char ref[32];
    snprintf(ref, sizeof ref, "%s", reply_str(r, "case"));
    json_decref(r);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM cases WHERE ref = '%s'"
                              " AND attested_at = received_at"
                              " AND attestation->>'how' = 'web_checkbox'"
                              " AND attestation->>'by' = 'intake:web'",
                              ref),
                     1);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM case_events e JOIN cases c"
                              " ON c.id = e.case_id WHERE c.ref = '%s' AND"
                              " e.kind = 'created' AND"
                              " e.detail->>'attestation' = 'web_checkbox'",
                              ref),
                     1);
    /* without one, nothing is attested */
    r = th_call(t, th_intake("test:not-attested", "no checkbox"), 10000);
    assert_int_equal(th_count(t,
                              "SELECT count(*) FROM cases WHERE ref = '%s'"
                              " AND attested_at IS NULL",
                              reply_str(r, "case")),
                     1);
    json_decref(r);
}

static void attachments_are_stored_with_their_hash(void **state)
{
    struct th *t = *state;
    json_t *cmd = th_intake("test:att", "خطاب مع مرفق");
    json_object_set_new(cmd, "channel", json_string("letter"));
    json_object_set_new(cmd, "attachments",
                        json_pack("[{s:s, s:s}]", "name", "خطاب.pdf", "type",
                                  "application/pdf"));
    const char data[] = "%PDF-1.4 scanned letter";
    struct tw_bus_part part = {data, sizeof data - 1};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.give_up = 10 * TW_SEC;
    json_t *r = tw_bus_call(t->zctx, t->intake, &o, cmd, &part, 1);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    /* sha256 of the bytes, as sha256sum would print it */
    assert_int_equal(
        th_count(t,
                 "SELECT count(*) FROM attachments a JOIN blobs b USING"
                 " (sha256) WHERE a.filename = 'خطاب.pdf' AND a.size = %zu"
                 " AND b.data = convert_to('%s', 'UTF8') AND a.sha256 ="
                 " encode(sha256(convert_to('%s', 'UTF8')), 'hex')",
                 sizeof data - 1, data, data),
        1);
    json_decref(r);
}

/* struct sink - collects replies from several clients */
struct sink {
    int done, ok, created;
    char refs[400][32];
};

static void collect(void *arg, const char *key, const json_t *reply)
{
    (void)key;
    struct sink *s = arg;
    if (json_is_true(json_object_get(reply, "ok"))) {
        s->ok++;
        if (json_is_true(json_object_get(reply, "created")))
            s->created++;
        if (s->done < 400)
            snprintf(s->refs[s->done], sizeof s->refs[0], "%s",
                     reply_str(reply, "case"));
    } else {
        print_message("error reply: %s\n", reply_str(reply, "message"));
    }
    s->done++;
}

static void four_clients_fifty_each_make_two_hundred_cases(void **state)
{
    struct th *t = *state;
    struct sink sink = {0};
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.window = 50;
    o.give_up = 60 * TW_SEC;
    struct tw_bus_client *c[4];
    for (int i = 0; i < 4; i++) {
        c[i] = tw_bus_client_new(t->zctx, t->intake, &o, collect, &sink);
        assert_non_null(c[i]);
        for (int j = 0; j < 50; j++) {
            char key[64];
            snprintf(key, sizeof key, "conc:%d:%d", i, j);
            assert_int_equal(tw_bus_client_submit(
                                 c[i], th_intake(key, "concurrent"), NULL, 0),
                             0);
        }
    }
    tw_time deadline = tw_clock_mono() + 60 * TW_SEC;
    while (sink.done < 200 && tw_clock_mono() < deadline)
        for (int i = 0; i < 4; i++)
            tw_bus_client_poll(c[i], 5 * TW_MSEC);
    for (int i = 0; i < 4; i++)
        tw_bus_client_destroy(&c[i]);
    assert_int_equal(sink.done, 200);
    assert_int_equal(sink.created, 200);
    assert_int_equal(th_count(t, "SELECT count(DISTINCT ref) FROM cases"
                                 " WHERE intake_key LIKE 'conc:%%'"),
                     200);
    for (int i = 0; i < 200; i++)
        for (int j = i + 1; j < 200; j++)
            assert_string_not_equal(sink.refs[i], sink.refs[j]);
}

/* stream_start - a client with 300 intakes keyed PREFIX:0..299 under way,
 * WINDOW in flight, returned once 50 are answered (into SINK) */
static struct tw_bus_client *stream_start(struct th *t, const char *prefix,
                                          int window, struct sink *sink)
{
    struct tw_bus_client_opts o;
    tw_bus_client_opts_default(&o);
    o.window = window;
    o.timeout = 500 * TW_MSEC;
    o.backoff_max = 200 * TW_MSEC;
    o.give_up = 60 * TW_SEC;
    struct tw_bus_client *c =
        tw_bus_client_new(t->zctx, t->intake, &o, collect, sink);
    assert_non_null(c);
    for (int j = 0; j < 300; j++) {
        char key[64];
        snprintf(key, sizeof key, "%s:%d", prefix, j);
        assert_int_equal(
            tw_bus_client_submit(c, th_intake(key, prefix), NULL, 0), 0);
    }
    tw_time deadline = tw_clock_mono() + 60 * TW_SEC;
    while (sink->done < 50 && tw_clock_mono() < deadline)
        tw_bus_client_poll(c, 5 * TW_MSEC);
    return c;
}

static void engine_killed_mid_stream_loses_and_duplicates_nothing(void **st)
{
    struct th *t = *st;
    struct sink sink = {0};
    struct tw_bus_client *c = stream_start(t, "kill", 10, &sink);
    tw_time deadline = tw_clock_mono() + 60 * TW_SEC;
    assert_int_equal(th_engine_stop(t, SIGKILL), 128 + SIGKILL);
    /* The client keeps resending into the void for a while... */
    for (int i = 0; i < 20; i++)
        tw_bus_client_poll(c, 20 * TW_MSEC);
    th_engine_start(t);
    while (sink.done < 300 && tw_clock_mono() < deadline)
        tw_bus_client_poll(c, 5 * TW_MSEC);
    tw_bus_client_destroy(&c);
    assert_int_equal(sink.done, 300);
    assert_int_equal(sink.ok, 300);
    assert_int_equal(th_count(t, "SELECT count(*) FROM cases WHERE"
                                 " intake_key LIKE 'kill:%%'"),
                     300);
    assert_int_equal(th_count(t, "SELECT count(*) FROM messages m JOIN cases"
                                 " c ON c.id = m.case_id WHERE c.intake_key"
                                 " LIKE 'kill:%%'"),
                     300);
    assert_int_equal(th_count(t, "SELECT count(*) FROM outbox o JOIN cases c"
                                 " ON c.id = o.case_id WHERE c.intake_key"
                                 " LIKE 'kill:%%'"),
                     300);
}

static void sigterm_mid_stream_drains_then_resumes(void **st)
{
    struct th *t = *st;
    struct sink sink = {0};
    struct tw_bus_client *c = stream_start(t, "term", 100, &sink);
    tw_time deadline = tw_clock_mono() + 60 * TW_SEC;
    /* A graceful stop answers what it took before leaving. */
    kill(t->engine, SIGTERM);
    tw_time drained = tw_clock_mono() + 2 * TW_SEC;
    while (tw_clock_mono() < drained && sink.done < 300)
        tw_bus_client_poll(c, 5 * TW_MSEC);
    assert_int_equal(th_engine_stop(t, SIGTERM), 0);
    assert_int_equal(sink.ok, sink.done); /* no error replies on the way */
    th_engine_start(t);
    while (sink.done < 300 && tw_clock_mono() < deadline)
        tw_bus_client_poll(c, 5 * TW_MSEC);
    tw_bus_client_destroy(&c);
    assert_int_equal(sink.ok, 300);
    assert_int_equal(th_count(t, "SELECT count(*) FROM cases WHERE"
                                 " intake_key LIKE 'term:%%'"),
                     300);
}

static void lost_database_connection_is_temporary(void **state)
{
    struct th *t = *state;
    /* Cut the engine's connection under it, as a database restart would. */
    th_exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               " WHERE application_name = 'tawasul-engine' AND datname ="
               " current_database()");
    json_t *r = th_call(t, th_intake("test:after-cut", "after"), 20000);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(r, "created")));
    json_decref(r);
    assert_int_equal(th_count(t, "SELECT count(*) FROM cases WHERE"
                                 " intake_key = 'test:after-cut'"),
                     1);
    assert_int_not_equal(t->engine, 0);
}

static void refs_count_up_within_the_year(void **state)
{
    struct th *t = *state;
    json_t *a = th_call(t, th_intake("test:seq-a", "a"), 10000);
    json_t *b = th_call(t, th_intake("test:seq-b", "b"), 10000);
    long na = atol(reply_str(a, "case") + 8);
    long nb = atol(reply_str(b, "case") + 8);
    assert_int_equal(nb, na + 1);
    /* A letter received last year gets last year's numbering. */
    json_t *cmd = th_intake("test:seq-old", "old letter");
    json_object_set_new(cmd, "received_at",
                        json_string("2025-12-31T23:30:00+03:00"));
    json_t *c = th_call(t, cmd, 10000);
    assert_string_equal(reply_str(c, "case"), "AW-2025-000001");
    assert_string_equal(reply_str(c, "sla_due_at"),
                        "2026-01-14T23:30:00.000000+03:00");
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* append_config - add TEXT to the engine's config file */
static void append_config(struct th *t, const char *text)
{
    FILE *f = fopen(t->config, "a");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* due_days - days between receipt and due date in an intake reply */
static int64_t due_days(const json_t *r)
{
    tw_time rec = 0, due = 0;
    assert_int_equal(tw_time_parse(reply_str(r, "received_at"), &rec), 0);
    assert_int_equal(tw_time_parse(reply_str(r, "sla_due_at"), &due), 0);
    return (due - rec) / TW_DAY;
}

static void sighup_reloads_and_keeps_old_config_when_bad(void **state)
{
    struct th *t = *state;
    append_config(t, "sla:\n  decision_within: 10d\n");
    kill(t->engine, SIGHUP);
    json_t *r = NULL;
    /* The reload happens in the engine's loop: poll until it shows. */
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof key, "test:hup-%d", i);
        json_decref(r);
        r = th_call(t, th_intake(key, "after reload"), 10000);
        assert_true(json_is_true(json_object_get(r, "ok")));
        if (due_days(r) == 10)
            break;
        th_sleep_ms(100);
    }
    assert_int_equal(due_days(r), 10);
    json_decref(r);

    /* A broken file: the engine says why and goes on with what it had. */
    char good[8192];
    FILE *f = fopen(t->config, "r");
    assert_non_null(f);
    size_t len = fread(good, 1, sizeof good, f);
    fclose(f);
    append_config(t, "bogus_section: 1\n");
    kill(t->engine, SIGHUP);
    th_sleep_ms(300);
    r = th_call(t, th_intake("test:hup-bad", "after bad reload"), 10000);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(due_days(r), 10);
    json_decref(r);
    assert_int_not_equal(kill(t->engine, 0), -1);

    f = fopen(t->config, "w"); /* mend it for the tests that follow */
    assert_non_null(f);
    fwrite(good, 1, len, f);
    fclose(f);
}

static void sigterm_stops_cleanly(void **state)
{
    struct th *t = *state;
    assert_int_equal(th_engine_stop(t, SIGTERM), 0);
    th_engine_start(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intake_writes_case_event_message_and_outbox),
        cmocka_unit_test(same_key_twice_is_one_case),
        cmocka_unit_test(members_matched_by_number_email_phone),
        cmocka_unit_test(bad_input_is_refused_and_nothing_written),
        cmocka_unit_test(attestation_with_the_request_is_recorded),
        cmocka_unit_test(attachments_are_stored_with_their_hash),
        cmocka_unit_test(four_clients_fifty_each_make_two_hundred_cases),
        cmocka_unit_test(engine_killed_mid_stream_loses_and_duplicates_nothing),
        cmocka_unit_test(sigterm_mid_stream_drains_then_resumes),
        cmocka_unit_test(lost_database_connection_is_temporary),
        cmocka_unit_test(refs_count_up_within_the_year),
        cmocka_unit_test(sighup_reloads_and_keeps_old_config_when_bad),
        cmocka_unit_test(sigterm_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
