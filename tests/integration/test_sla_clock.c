/*
 * test_sla_clock - the SLA sweeper against the real engine:
 * - two engines sweeping one database record each warning and each breach
 *   exactly once;
 * - end to end under libfaketime (the engine and the CLI both run with a
 *   shifted clock read from a file, so the test moves time without
 *   restarting anything): a case logged now is warned at +12 days and
 *   breached at +15, with the assignee's and the managers' emails, and
 *   `sla report` shows it breached; a case paused 5 days while the member
 *   owed information falls due 5 days later.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

/* wait_count - poll SQL until it gives WANT (at most MS); the last value */
static long wait_count(struct th *t, long want, int ms, const char *sql)
{
    long n = -1;
    for (int waited = 0; waited <= ms; waited += 100) {
        n = th_count(t, "%s", sql);
        if (n == want)
            break;
        th_sleep_ms(100);
    }
    return n;
}

/* write_config - T's config pointing at DB's database (a second engine) */
static void write_config(struct th *t, const struct th *db, const char *extra)
{
    FILE *f = fopen(t->config, "w");
    assert_non_null(f);
    fprintf(f,
            "site:\n  timezone: Asia/Riyadh\n  ref_prefix: AW\n"
            "database:\n  url: \"%s\"\n  reconnect_max: 1s\n"
            "bus:\n  intake: \"%s\"\n  events: \"%s\"\n"
            "  request_timeout: 1s\n  backoff_max: 500ms\n"
            "log:\n  level: info\n%s",
            db->conninfo, t->intake, t->events, extra);
    fclose(f);
}

static const char sweep_config[] = "sla:\n"
                                   "  sweep_every: 100ms\n"
                                   "  sweep_limit: 7\n";

/* Two engines, 300 overdue cases: every warning and breach once. */
static void test_two_engines(void **state)
{
    (void)state;
    struct th a, b;
    th_setup(&a, "sla_two_a", sweep_config);
    th_setup(&b, "sla_two_b", sweep_config);
    th_migrate(&a);
    write_config(&b, &a, sweep_config);
    th_exec(&a, "INSERT INTO tawasul.staff (username, display_name, role,"
                " email) VALUES ('mona', 'Mona', 'manager', 'mona@x.org'),"
                " ('ali', 'Ali', 'admin', 'ali@x.org'),"
                " ('huda', 'Huda', 'agent', NULL)");
    /* 1-150 received 20 days ago: past their due time; 151-300 received
     * 12 days ago: past their warning time only */
    th_exec(&a, "INSERT INTO tawasul.cases (ref, intake_key, channel,"
                " subject, received_at, sla_due_at, sla_warn_at, updated_at)"
                " SELECT 'AW-2026-' || lpad(i::text, 6, '0'), 'k' || i,"
                " 'web', 'case ' || i, r, r + interval '14 days',"
                " r + interval '11 days', now() FROM generate_series(1, 300) i,"
                " LATERAL (SELECT now() - CASE WHEN i <= 150 THEN"
                " interval '20 days' ELSE interval '12 days' END AS r) x");
    th_engine_start(&a);
    th_engine_start(&b);
    assert_int_equal(wait_count(&a, 150, 60000,
                                "SELECT count(*) FROM tawasul.cases"
                                " WHERE sla_breached_at IS NOT NULL"),
                     150);
    assert_int_equal(wait_count(&a, 150, 60000,
                                "SELECT count(*) FROM tawasul.cases"
                                " WHERE sla_warned_at IS NOT NULL AND"
                                " sla_breached_at IS NULL"),
                     150);
    th_sleep_ms(500); /* a few more rounds from both */
    /* Each case's warning and breach recorded at most once (a case found
     * already past due is breached; whether it was warned first depends on
     * which round saw it), every breach and every due warning exactly once. */
    assert_int_equal(th_count(&a,
                              "SELECT count(*) FROM (SELECT case_id FROM"
                              " tawasul.case_events WHERE kind LIKE 'sla.%%'"
                              " GROUP BY case_id, kind HAVING count(*) <> 1)"
                              " x"),
                     0);
    assert_int_equal(th_count(&a, "SELECT count(*) FROM tawasul.case_events"
                                  " WHERE kind = 'sla.breached'"),
                     150);
    long warned = th_count(&a, "SELECT count(*) FROM tawasul.case_events"
                               " WHERE kind = 'sla.warning'");
    assert_true(warned >= 150 && warned <= 300);
    /* breach: one email per manager/admin with an address; warning: no
     * assignee, so the managers */
    assert_int_equal(th_count(&a, "SELECT count(*) FROM tawasul.outbox WHERE"
                                  " template = 'sla_breach'"),
                     300);
    assert_int_equal(th_count(&a, "SELECT count(*) FROM tawasul.outbox WHERE"
                                  " template = 'sla_warning'"),
                     2 * warned);
    th_teardown(&b);
    th_teardown(&a);
}

/* --- under faketime ------------------------------------------------------ */

static char clock_file[400];

/* shift - move every faked clock to OFFSET ("+12d") from real time */
static void shift(const char *offset)
{
    FILE *f = fopen(clock_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", offset);
    fclose(f);
}

/* cli_ok - a CLI line as huda; its output (caller frees) */
static char *cli_ok(struct th *t, const char *line)
{
    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err, "tawasul --as huda %s", line);
    if (rc != 0)
        fail_msg("%s: exit %d: %s", line, rc, err);
    free(err);
    return out;
}

/* log_case - a logged call; the ref into REF */
static void log_case(struct th *t, char *ref, size_t size)
{
    char *out = cli_ok(t, "case log-call --member M-1 --category other"
                          " --subject 'clock' --body x --quiet");
    snprintf(ref, size, "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
}

static void test_faketime(void **state)
{
    (void)state;
    if (access(FAKETIME_LIB, R_OK) != 0)
        skip();
    struct th t;
    th_setup(&t, "sla_fake", "sla:\n  sweep_every: 200ms\n");
    th_migrate(&t);
    snprintf(clock_file, sizeof clock_file, "%s/faketime", t.dir);
    shift("+0d");
    /* Children (the engine, the CLI) run on the shifted clock; monotonic
     * time stays real so timeouts behave. */
    const char *asan = getenv("ASAN_OPTIONS");
    char asan_opts[512];
    snprintf(asan_opts, sizeof asan_opts, "%s%sverify_asan_link_order=0",
             asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan_opts, 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", clock_file, 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    th_exec(&t, "INSERT INTO tawasul.members (member_no, name, email)"
                " VALUES ('M-1', 'Amal', 'amal@x.org')");
    th_exec(&t, "INSERT INTO tawasul.staff (username, display_name, role,"
                " email) VALUES ('mona', 'Mona', 'manager', 'mona@x.org'),"
                " ('huda', 'Huda', 'agent', 'huda@x.org')");
    th_engine_start(&t);

    char a[32], b[32], line[128];
    log_case(&t, a, sizeof a);
    log_case(&t, b, sizeof b);
    snprintf(line, sizeof line, "case assign %s huda", a);
    free(cli_ok(&t, line));

    /* B: the member owes information from day 1 to day 6. */
    shift("+1d");
    snprintf(line, sizeof line, "case request-info %s --missing ID", b);
    free(cli_ok(&t, line));
    shift("+6d");
    snprintf(line, sizeof line, "case resume %s", b);
    free(cli_ok(&t, line));
    long secs = th_count(&t,
                         "SELECT extract(epoch FROM sla_due_at - received_at)"
                         "::bigint FROM tawasul.cases WHERE ref = '%s'",
                         b);
    assert_true(secs >= 19 * 86400 && secs < 19 * 86400 + 120);

    /* Day 12: A is warned (3 days before), once, and huda is told. */
    shift("+12d");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tawasul.case_events e JOIN tawasul.cases c"
             " ON c.id = e.case_id WHERE c.ref = '%s' AND e.kind ="
             " 'sla.warning'",
             a);
    assert_int_equal(wait_count(&t, 1, 15000, sql), 1);
    assert_int_equal(th_count(&t,
                              "SELECT count(*) FROM tawasul.outbox WHERE"
                              " template = 'sla_warning' AND recipient ="
                              " 'huda@x.org' AND params->>'ref' = '%s'",
                              a),
                     1);
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.case_events"
                                  " WHERE kind = 'sla.breached'"),
                     0);

    /* Day 15: A is breached, once; the manager is told. B is not. */
    shift("+15d");
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tawasul.case_events e JOIN tawasul.cases c"
             " ON c.id = e.case_id WHERE c.ref = '%s' AND e.kind ="
             " 'sla.breached'",
             a);
    assert_int_equal(wait_count(&t, 1, 15000, sql), 1);
    th_sleep_ms(800); /* more sweeps: nothing fires twice */
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.case_events"
                                  " WHERE kind IN ('sla.breached',"
                                  " 'sla.warning')"),
                     2);
    assert_int_equal(th_count(&t,
                              "SELECT count(*) FROM tawasul.outbox WHERE"
                              " template = 'sla_breach' AND recipient ="
                              " 'mona@x.org' AND params->>'ref' = '%s'",
                              a),
                     1);

    /* The report, as of the shifted now. */
    char *out = cli_ok(&t, "sla report --format json");
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    size_t i;
    json_t *row;
    int seen_a = 0, seen_b = 0;
    json_array_foreach(json_object_get(j, "open"), i, row)
    {
        const char *ref = json_string_value(json_object_get(row, "ref"));
        const char *st = json_string_value(json_object_get(row, "sla_state"));
        if (ref && strcmp(ref, a) == 0) {
            assert_string_equal(st, "breached");
            seen_a = 1;
        }
        if (ref && strcmp(ref, b) == 0) {
            assert_string_equal(st, "on_track"); /* due day 19, warn day 16 */
            seen_b = 1;
        }
    }
    assert_true(seen_a && seen_b);
    json_decref(j);

    /* As of day 13 (--at), A was at risk; the breach list has A. */
    char iso[TW_TIME_ISO_MAX];
    snprintf(line, sizeof line, "sla report --format json --at %s",
             tw_time_iso(tw_clock_now() + 13 * TW_DAY, 0, iso));
    out = cli_ok(&t, line);
    j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    seen_a = 0;
    json_array_foreach(json_object_get(j, "open"), i, row)
    {
        const char *ref = json_string_value(json_object_get(row, "ref"));
        if (ref && strcmp(ref, a) == 0) {
            assert_string_equal(
                json_string_value(json_object_get(row, "sla_state")),
                "at_risk");
            seen_a = 1;
        }
    }
    assert_true(seen_a);
    json_decref(j);
    out = cli_ok(&t, "sla breaches --format json");
    assert_non_null(strstr(out, a));
    assert_null(strstr(out, b));
    free(out);
    out = cli_ok(&t, "sla report");
    assert_non_null(strstr(out, "breached 1"));
    free(out);

    /* case show agrees */
    snprintf(line, sizeof line, "case show %s --json", b);
    out = cli_ok(&t, line);
    j = json_loads(out, 0, NULL);
    free(out);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sla_state")),
                        "on_track");
    const char *paused =
        json_string_value(json_object_get(j, "sla_paused_total"));
    assert_non_null(paused);
    assert_true(strncmp(paused, "5d", 2) == 0);
    json_decref(j);

    unsetenv("LD_PRELOAD");
    th_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_engines),
        cmocka_unit_test(test_faketime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
