/*
 * test_lifecycle - staff move cases through the status machine from the
 * CLI, as a staff member would: the two paths of the policy, role checks,
 * forbidden moves named with the allowed next steps, the committee gate,
 * the SLA clock pausing while the member owes information, and what the
 * member is emailed (outbox rows the notifier renders).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static const char config[] = "sla:\n"
                             "  sweep_every: 200ms\n"
                             "  categories:\n"
                             "    support:\n"
                             "      committee_requires: [member, income]\n"
                             "      calendar: business\n"
                             "calendar:\n"
                             "  holidays: [\"2026-12-02 National Day\"]\n";

static struct th T;

static int setup(void **state)
{
    (void)state;
    th_setup(&T, "lifecycle", config);
    th_migrate(&T);
    th_exec(&T, "INSERT INTO tawasul.members (member_no, name, email, phone)"
                " VALUES ('M-1001', 'Amal', 'amal@example.org',"
                " '+966500000001')");
    th_engine_start(&T);
    char *out = NULL, *err = NULL;
    static const char *const staff[] = {
        "staff add huda --name Huda --role agent --email huda@example.org",
        "staff add rami --name Rami --role researcher",
        "staff add salem --name Salem --role committee",
        "staff add mona --name Mona --role manager --email mona@example.org",
    };
    for (size_t i = 0; i < 4; i++) {
        if (th_cli(&T, &out, &err, "tawasul %s", staff[i]) != 0)
            fail_msg("%s: %s", staff[i], err);
        free(out);
        free(err);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_teardown(&T);
    return 0;
}

/* run - a CLI line as USER; returns the exit status, output in *OUT */
static int run(char **out, char **err, const char *user, const char *line)
{
    return th_cli(&T, out, err, "tawasul --as %s %s", user, line);
}

/* ok - run and fail the test unless it exits 0 */
static void ok(const char *user, const char *line)
{
    char *out = NULL, *err = NULL;
    int rc = run(&out, &err, user, line);
    if (rc != 0)
        fail_msg("%s: exit %d: %s", line, rc, err);
    free(out);
    free(err);
}

/* refused - run, expect exit RC and WORDS in the one error line */
static void refused(const char *user, const char *line, int rc,
                    const char *words)
{
    char *out = NULL, *err = NULL;
    int got = run(&out, &err, user, line);
    if (got != rc || !strstr(err, words))
        fail_msg("%s: exit %d (want %d): \"%s\" lacks \"%s\"", line, got, rc,
                 err, words);
    free(out);
    free(err);
}

/* new_case - log a call as huda; the ref into REF */
static void new_case(const char *category, char *ref, size_t size)
{
    char *out = NULL, *err = NULL;
    char line[256];
    snprintf(line, sizeof line,
             "case log-call --member M-1001 --category %s --subject 'طلب دعم'"
             " --body x --quiet",
             category);
    assert_int_equal(run(&out, &err, "huda", line), 0);
    snprintf(ref, size, "%.*s", (int)strcspn(out, "\n"), out);
    free(out);
    free(err);
}

/* status - REF's status in the database (static buffer) */
static const char *status(const char *ref)
{
    static char buf[32];
    char *s =
        th_value(&T, "SELECT status FROM tawasul.cases WHERE ref = '%s'", ref);
    snprintf(buf, sizeof buf, "%s", s ? s : "?");
    free(s);
    return buf;
}

/* outbox - how many rows with TEMPLATE for REF */
static long outbox(const char *ref, const char *template)
{
    return th_count(&T,
                    "SELECT count(*) FROM tawasul.outbox o JOIN tawasul.cases"
                    " c ON c.id = o.case_id WHERE c.ref = '%s'"
                    " AND o.template = '%s'",
                    ref, template);
}

/* show_json - `case show REF --json` parsed */
static json_t *show_json(const char *ref)
{
    char *out = NULL, *err = NULL, line[128];
    snprintf(line, sizeof line, "case show %s --json", ref);
    assert_int_equal(run(&out, &err, "huda", line), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    free(out);
    free(err);
    return j;
}

/* new -> in_committee -> accepted -> in_service -> resolved -> closed */
static void test_accepted_path(void **state)
{
    (void)state;
    char ref[32], line[256];
    new_case("support", ref, sizeof ref);

    /* The gate: the required item and the attestation first. */
    snprintf(line, sizeof line, "case submit %s", ref);
    refused("huda", line, 65, "missing income");
    snprintf(line, sizeof line, "case submit %s --field income=3000", ref);
    refused("huda", line, 65, "attestation is not recorded");
    assert_string_equal(status(ref), "new");

    snprintf(line, sizeof line, "case attest %s signed_letter", ref);
    ok("huda", line);
    snprintf(line, sizeof line, "case submit %s --field income=3000", ref);
    ok("huda", line);
    assert_string_equal(status(ref), "in_committee");

    /* Only the committee decides. */
    snprintf(line, sizeof line, "case decide %s --accept", ref);
    refused("huda", line, 77, "huda (agent) may not decide");
    ok("salem", line);
    assert_string_equal(status(ref), "accepted");
    assert_int_equal(outbox(ref, "accepted"), 1);
    assert_int_equal(
        th_count(&T,
                 "SELECT count(*) FROM tawasul.cases WHERE ref = '%s' AND"
                 " decision = 'accepted' AND decided_at IS NOT NULL AND"
                 " sla_stopped_at IS NOT NULL AND decision_minutes >= 0",
                 ref),
        1);

    snprintf(line, sizeof line, "case start-service %s", ref);
    ok("huda", line);
    snprintf(line, sizeof line, "case resolve %s", ref);
    ok("huda", line);
    assert_int_equal(outbox(ref, "service_completed"), 1);
    snprintf(line, sizeof line, "case close %s", ref);
    ok("huda", line);
    assert_string_equal(status(ref), "closed");

    /* A closed case cannot be resumed; the error names the way out. */
    snprintf(line, sizeof line, "case resume %s", ref);
    refused("huda", line, 65, "is closed: it cannot go to new");
    refused("huda", line, 65, "reopen");

    json_t *j = show_json(ref);
    assert_string_equal(json_string_value(json_object_get(j, "sla_state")),
                        "met");
    json_decref(j);
    /* Every move is in the audit trail, with its actor. */
    assert_int_equal(th_count(&T,
                              "SELECT count(*) FROM tawasul.case_events e"
                              " JOIN tawasul.cases c ON c.id = e.case_id"
                              " WHERE c.ref = '%s' AND e.kind = 'status'",
                              ref),
                     5);
}

/* new -> awaiting_member (paused) -> new -> in_committee -> rejected */
static void test_rejected_path(void **state)
{
    (void)state;
    char ref[32], line[256];
    new_case("support", ref, sizeof ref);

    snprintf(line, sizeof line, "case request-info %s", ref);
    refused("huda", line, 64, "--missing");
    snprintf(line, sizeof line,
             "case request-info %s --missing 'صورة الهوية' --missing"
             " 'Salary certificate' --message 'Please reply by email'",
             ref);
    ok("huda", line);
    assert_string_equal(status(ref), "awaiting_member");
    json_t *j = show_json(ref);
    assert_string_equal(json_string_value(json_object_get(j, "sla_state")),
                        "paused");
    json_decref(j);
    char *missing = th_value(
        &T,
        "SELECT o.params->'missing'->>1 FROM tawasul.outbox o JOIN"
        " tawasul.cases c ON c.id = o.case_id WHERE c.ref = '%s' AND"
        " o.template = 'info_requested' AND o.recipient = 'amal@example.org'",
        ref);
    assert_non_null(missing);
    assert_string_equal(missing, "Salary certificate");
    free(missing);
    /* Asking the member is the first response. */
    assert_int_equal(th_count(&T,
                              "SELECT count(*) FROM tawasul.cases WHERE ref ="
                              " '%s' AND first_response_at IS NOT NULL",
                              ref),
                     1);

    snprintf(line, sizeof line, "case resume %s", ref);
    ok("huda", line);
    assert_int_equal(th_count(&T,
                              "SELECT count(*) FROM tawasul.sla_pauses p JOIN"
                              " tawasul.cases c ON c.id = p.case_id WHERE"
                              " c.ref = '%s' AND p.to_at IS NOT NULL AND"
                              " c.sla_paused_since IS NULL",
                              ref),
                     1);

    /* A researcher's case is the researcher's to move. */
    snprintf(line, sizeof line, "case refer %s", ref);
    ok("huda", line);
    assert_int_equal(outbox(ref, "referred"), 1);
    snprintf(line, sizeof line, "case attest %s verbal_phone", ref);
    ok("huda", line);
    snprintf(line, sizeof line, "case submit %s --field income=1200", ref);
    refused("huda", line, 77, "may not move case");
    ok("rami", line);
    assert_string_equal(status(ref), "in_committee");

    snprintf(line, sizeof line, "case decide %s --reject", ref);
    refused("salem", line, 64, "--reason");
    snprintf(line, sizeof line,
             "case decide %s --reject --reason 'Income above the limit'", ref);
    ok("salem", line);
    assert_string_equal(status(ref), "rejected");
    char *reason =
        th_value(&T,
                 "SELECT o.params->>'reason' FROM tawasul.outbox o JOIN"
                 " tawasul.cases c ON c.id = o.case_id WHERE c.ref = '%s'"
                 " AND o.template = 'rejected'",
                 ref);
    assert_non_null(reason);
    assert_string_equal(reason, "Income above the limit");
    free(reason);
}

/* Roles and impossible moves, each refused by name with nothing written */
static void test_refusals(void **state)
{
    (void)state;
    char ref[32], line[256];
    new_case("other", ref, sizeof ref);
    long events = th_count(&T, "SELECT count(*) FROM tawasul.case_events");

    snprintf(line, sizeof line, "case start-service %s", ref);
    refused("huda", line, 65,
            "is new: it cannot go to in_service; allowed "
            "next steps: request-info (awaiting_member)");
    snprintf(line, sizeof line, "case resolve %s", ref);
    refused("nobody", line, 77, "no active staff member");
    snprintf(line, sizeof line, "case note %s 'called back'", ref);
    ok("salem", line); /* any staff may note */
    snprintf(line, sizeof line, "case assign %s ghost", ref);
    refused("huda", line, 65, "not an active staff member");
    snprintf(line, sizeof line, "case assign %s huda", ref);
    ok("huda", line);
    assert_int_equal(th_count(&T, "SELECT count(*) FROM tawasul.case_events"),
                     events + 2); /* the note and the assignment only */

    /* A manager may do everything, even reopen a closed case. */
    snprintf(line, sizeof line, "case resolve %s", ref);
    ok("huda", line);
    snprintf(line, sizeof line, "case close %s", ref);
    ok("huda", line);
    snprintf(line, sizeof line, "case reopen %s --reason 'member wrote'", ref);
    refused("huda", line, 77, "may not move case");
    ok("mona", line);
    assert_string_equal(status(ref), "new");
    assert_int_equal(outbox(ref, "reopened"), 1);

    /* case show lists the next steps */
    json_t *j = show_json(ref);
    json_t *next = json_object_get(j, "next");
    assert_true(json_array_size(next) >= 4);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(next, 0), "verb")),
        "request-info");
    json_decref(j);

    /* Staff list */
    char *out = NULL, *err = NULL;
    assert_int_equal(run(&out, &err, "huda", "staff list"), 0);
    assert_non_null(strstr(out, "salem"));
    free(out);
    free(err);
    refused("huda", "staff add x --name X --role boss", 64, "--role");
}

/* A holiday added from the CLI moves a business-mode case's due time at
 * the engine's next sweep; an iCalendar file imports many. */
static void test_holidays(void **state)
{
    (void)state;
    char ref[32], *out = NULL, *err = NULL;
    new_case("support", ref, sizeof ref); /* business mode */
    char *before = th_value(&T,
                            "SELECT sla_due_at::text FROM tawasul.cases"
                            " WHERE ref = '%s'",
                            ref);
    assert_non_null(before);
    /* the first working day after today */
    char *day = th_value(&T, "SELECT min(d)::date::text FROM"
                             " generate_series(current_date + 1,"
                             " current_date + 7, '1 day') d"
                             " WHERE extract(dow FROM d) NOT IN (5, 6)");
    char line[256];
    snprintf(line, sizeof line, "holidays add %s 'Test Day'", day);
    ok("mona", line);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM tawasul.cases WHERE ref = '%s' AND"
             " sla_due_at > '%s'",
             ref, before);
    long moved = 0;
    for (int i = 0; i < 100 && !moved; i++) {
        moved = th_count(&T, "%s", sql);
        if (!moved)
            th_sleep_ms(100);
    }
    assert_int_equal(moved, 1);
    free(before);

    assert_int_equal(
        run(&out, &err, "mona",
            "holidays import /dev/stdin <<'ICS'\n"
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20270320\n"
            "DTEND;VALUE=DATE:20270323\nSUMMARY:Eid al-Fitr\nEND:VEVENT\n"
            "END:VCALENDAR\nICS"),
        0);
    assert_non_null(strstr(out, "3 holidays imported"));
    free(out);
    free(err);
    assert_int_equal(run(&out, &err, "mona", "holidays list"), 0);
    assert_non_null(strstr(out, "2027-03-21  Eid al-Fitr"));
    assert_non_null(strstr(out, day));
    free(out);
    free(err);
    free(day);

    /* sla recompute: managers only */
    refused("huda", "sla recompute", 77, "may not sla_recompute");
    ok("mona", "sla recompute");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_path),
        cmocka_unit_test(test_rejected_path),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_holidays),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
