/*
 * test_cli.c - the staff command line `tawasul` end to end: the real binary
 * against a fresh database in the test cluster and, where it writes, the
 * real tawasul-engine on private ipc:// endpoints.
 *
 * What a staff member would notice is what is asserted: exit statuses, the
 * exact lines that name a rejected CSV row, the case reference printed, and
 * what `case show --json` says afterwards (status, member, the two-week due
 * date to the microsecond, attachment bytes by size and sha256).
 *
 * Fixtures (tests/fixtures/members/):
 *   valid.csv - UTF-8 BOM, CRLF and LF rows, Arabic names, a quoted name
 *               with a comma, one with doubled quotes, one with a line
 *               break inside quotes (lines 7-8), a blank line (6), a phone
 *               in Arabic-Indic digits, "AR" in capitals: 6 members.
 *   bad.csv   - columns in another order; one row of each kind of mistake:
 *               line 3 member_no, 4 empty name, 5 email, 6 phone, 7 lang,
 *               8 duplicate of line 2, 9 too few fields, 10 not UTF-8,
 *               11 text after a closing quote, 13 a quote never closed;
 *               lines 2 and 12 are good.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "clock.h"
#include "db.h"
#include "harness.h"
#include "mem.h"

/* The engine suite's shared state: one database, members, engine. */
static struct th engine_th;

/* count_lines - the number of lines in S */
static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (*s == '\n')
            n++;
    return n;
}

/* chomp - S without its trailing newline (in place) */
static char *chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* write_file - create PATH with LEN bytes of DATA */
static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* has_position - whether TEXT holds "NAME:<line>:<column>:" */
static int has_position(const char *text, const char *name)
{
    const char *p = text;
    while ((p = strstr(p, name)) != NULL) {
        p += strlen(name);
        int line = 0, col = 0, used = 0;
        if (sscanf(p, ":%d:%d:%n", &line, &col, &used) == 2 && used > 0 &&
            line > 0 && col > 0)
            return 1;
    }
    return 0;
}

/* parse_time - an ISO 8601 field of OBJ as tw_time */
static tw_time parse_time(const json_t *obj, const char *field)
{
    const char *s = json_string_value(json_object_get(obj, field));
    assert_non_null(s);
    tw_time t = 0;
    assert_int_equal(tw_time_parse(s, &t), 0);
    return t;
}

/* show_json - `tawasul case show REF --json`, parsed */
static json_t *show_json(struct th *t, const char *ref)
{
    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err, "tawasul case show %s --json", ref);
    if (rc != 0)
        fail_msg("case show %s: exit %d: %s", ref, rc, err);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j)
        fail_msg("case show --json printed no JSON (%s): %s", jerr.text, out);
    free(out);
    free(err);
    return j;
}

/* log_quiet - run `tawasul case VERB --quiet ARGS` and return the ref */
static char *log_quiet(struct th *t, const char *verb, const char *args)
{
    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err, "tawasul case %s --quiet %s", verb, args);
    if (rc != 0)
        fail_msg("case %s: exit %d: %s", verb, rc, err);
    chomp(out);
    assert_int_equal(strncmp(out, "AW-", 3), 0);
    assert_int_equal(strlen(out), strlen("AW-2026-000001"));
    free(err);
    return out;
}

/* --- without the engine -------------------------------------------------- */

/* schema_version - the newest embedded migration (each issue adds its own,
 * so the tests do not name a number) */
static int schema_version(void)
{
    return tw_migrations[tw_migrations_count - 1].version;
}

static void test_migrate(void **state)
{
    (void)state;
    struct th t;
    char *out = NULL, *err = NULL;
    th_setup(&t, "cli-migrate", NULL);

    char want[128];
    assert_int_equal(th_cli(&t, &out, &err, "tawasul db migrate"), 0);
    snprintf(want, sizeof want,
             "database migrated: schema version %d (%zu applied)\n",
             schema_version(), tw_migrations_count);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.members"), 0);
    free(out);
    free(err);

    /* Again: nothing to do, same version. */
    assert_int_equal(th_cli(&t, &out, &err, "tawasul db migrate"), 0);
    snprintf(want, sizeof want,
             "database migrated: schema version %d (0 applied)\n",
             schema_version());
    assert_string_equal(out, want);
    free(out);
    free(err);
    th_teardown(&t);
}

static void test_import(void **state)
{
    (void)state;
    struct th t;
    char *out = NULL, *err = NULL, *v = NULL;
    char path[2400];
    th_setup(&t, "cli-import", NULL);
    th_migrate(&t);
    char valid[512], bad[512];
    snprintf(valid, sizeof valid, "%s", th_fixture("members/valid.csv"));
    snprintf(bad, sizeof bad, "%s", th_fixture("members/bad.csv"));

    /* The good file: six members, nothing rejected. */
    assert_int_equal(
        th_cli(&t, &out, &err, "tawasul members import '%s'", valid), 0);
    char want[2400];
    snprintf(want, sizeof want,
             "%s: 6 inserted, 0 updated, 0 unchanged, 0 rejected\n", valid);
    assert_string_equal(out, want);
    assert_string_equal(err, "");
    free(out);
    free(err);
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.members"), 6);
    v = th_value(&t, "SELECT name FROM tawasul.members WHERE member_no = "
                     "'M-1002'");
    assert_string_equal(v, "الشمري, فاطمة بنت سعد");
    free(v);
    v = th_value(&t, "SELECT name FROM tawasul.members WHERE member_no = "
                     "'M-1004'");
    assert_string_equal(v, "نورة \"أم خالد\" القحطاني");
    free(v);
    v = th_value(&t, "SELECT name FROM tawasul.members WHERE member_no = "
                     "'M-1005'");
    assert_string_equal(v, "عبدالله العتيبي"); /* line break -> space */
    free(v);
    v = th_value(&t, "SELECT phone || ' ' || lang FROM tawasul.members"
                     " WHERE member_no = 'M-1001'");
    assert_string_equal(v, "+966501234567 ar");
    free(v);
    v = th_value(&t, "SELECT phone || ' ' || lang FROM tawasul.members"
                     " WHERE member_no = '1006'");
    assert_string_equal(v, "0501234570 ar"); /* Arabic-Indic digits, "AR" */
    free(v);
    v = th_value(&t, "SELECT lang FROM tawasul.members WHERE member_no = "
                     "'M-1002'");
    assert_string_equal(v, "ar"); /* empty lang -> ar */
    free(v);
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.members"
                                  " WHERE member_no = 'M-1004' AND email IS "
                                  "NULL"),
                     1);

    /* The same file again changes nothing. */
    assert_int_equal(
        th_cli(&t, &out, &err, "tawasul members import '%s'", valid), 0);
    snprintf(want, sizeof want,
             "%s: 0 inserted, 0 updated, 6 unchanged, 0 rejected\n", valid);
    assert_string_equal(out, want);
    free(out);
    free(err);

    /* One changed row is updated; the others stay as they are. */
    snprintf(path, sizeof path, "%s/changed.csv", t.dir);
    const char changed[] =
        "member_no,name,email,phone,lang\n"
        "M-1003,Sara Al-Otaibi,sara.otaibi@example.com,,en\n"
        "M-1001,أحمد بن علي الزهراني,ahmed@example.org,+966501234567,ar\n";
    write_file(path, changed, sizeof changed - 1);
    assert_int_equal(th_cli(&t, &out, &err,
                            "tawasul members import "
                            "changed.csv"),
                     0);
    assert_string_equal(out, "changed.csv: 0 inserted, 1 updated, 1 "
                             "unchanged, 0 rejected\n");
    free(out);
    free(err);
    v = th_value(&t, "SELECT email FROM tawasul.members WHERE member_no = "
                     "'M-1003'");
    assert_string_equal(v, "sara.otaibi@example.com");
    free(v);

    /* --dry-run counts but saves nothing. */
    const char newer[] = "member_no,name,email,phone,lang\n"
                         "M-2000,New Member,,,en\n";
    snprintf(path, sizeof path, "%s/new.csv", t.dir);
    write_file(path, newer, sizeof newer - 1);
    assert_int_equal(
        th_cli(&t, &out, &err, "tawasul members import new.csv --dry-run"), 0);
    assert_non_null(strstr(out, "new.csv: 1 inserted, 0 updated, 0 "
                                "unchanged, 0 rejected"));
    assert_non_null(strstr(out, "dry run"));
    free(out);
    free(err);
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.members"), 6);

    /* The bad file: each mistake by its line; the good rows still land. */
    assert_int_equal(th_cli(&t, &out, &err, "tawasul members import '%s'", bad),
                     65);
    snprintf(want, sizeof want,
             "%s: 2 inserted, 0 updated, 0 unchanged, 10 rejected\n", bad);
    assert_string_equal(out, want);
    static const struct {
        int line;
        const char *why;
    } rejects[] = {
        {3, "member_no: \"-bad\" is not a member number"},
        {4, "name: required"},
        {5, "email: \"not-an-email\" is not a valid address"},
        {6, "phone: \"12ab\" is not a phone number"},
        {7, "lang: \"fr\" must be ar or en"},
        {8, "duplicate of line 2"},
        {9, "expected 5 fields (member_no,name,email,phone,lang), found 3"},
        {10, "name: not valid UTF-8"},
        {11, "field 3 has text after its closing quote"},
        {13, "a quoted field is never closed"},
    };
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        snprintf(want, sizeof want, "%s:%d: rejected: %s", bad, rejects[i].line,
                 rejects[i].why);
        if (!strstr(err, want))
            fail_msg("missing \"%s\" in:\n%s", want, err);
    }
    assert_int_equal(count_lines(err), 10);
    snprintf(want, sizeof want, "%s:2:", bad);
    assert_null(strstr(err, want));
    snprintf(want, sizeof want, "%s:12:", bad);
    assert_null(strstr(err, want));
    free(out);
    free(err);
    assert_int_equal(th_count(&t, "SELECT count(*) FROM tawasul.members"
                                  " WHERE member_no IN ('B-1', 'B-9')"),
                     2);
    v = th_value(&t, "SELECT name || '|' || lang FROM tawasul.members"
                     " WHERE member_no = 'B-9'");
    assert_string_equal(v, "Last, Good|en");
    free(v);

    /* A field over the 4 KB cap rejects its row; reading goes on. */
    size_t big = 5000;
    char *huge = tw_malloc(big + 200);
    int n = snprintf(huge, 200, "member_no,name,email,phone,lang\nL-1,");
    memset(huge + n, 'x', big);
    n += (int)big;
    n += snprintf(huge + n, 100, ",,,ar\nL-2,Fine,,,ar\n");
    snprintf(path, sizeof path, "%s/long.csv", t.dir);
    write_file(path, huge, (size_t)n);
    free(huge);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul members import long.csv"),
                     65);
    assert_string_equal(out, "long.csv: 1 inserted, 0 updated, 0 unchanged, "
                             "1 rejected\n");
    assert_string_equal(
        err, "long.csv:2: rejected: field 2 is longer than 4096 bytes\n");
    free(out);
    free(err);

    /* A header that does not name the columns: one line, nothing saved. */
    const char header[] = "member_no,name,mail,phone\nH-1,Name,,,\n";
    snprintf(path, sizeof path, "%s/header.csv", t.dir);
    write_file(path, header, sizeof header - 1);
    assert_int_equal(
        th_cli(&t, &out, &err, "tawasul members import header.csv"), 65);
    assert_int_equal(count_lines(err), 1);
    assert_int_equal(strncmp(err, "tawasul: header.csv:1:", 22), 0);
    assert_non_null(strstr(err, "member_no,name,email,phone,lang"));
    assert_non_null(strstr(err, "unknown: \"mail\""));
    assert_non_null(strstr(err, "missing: email, lang"));
    free(out);
    free(err);

    /* A file that is not there. */
    assert_int_equal(
        th_cli(&t, &out, &err, "tawasul members import nowhere.csv"), 66);
    assert_string_equal(err,
                        "tawasul: nowhere.csv: No such file or directory\n");
    free(out);
    free(err);

    /* members list --json shows the register. */
    assert_int_equal(th_cli(&t, &out, &err, "tawasul members list --json"), 0);
    json_t *list = json_loads(out, 0, NULL);
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 9); /* 6 + B-1, B-9, L-2 */
    json_t *first = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(first, "member_no")),
                        "1006");
    assert_string_equal(json_string_value(json_object_get(first, "name")),
                        "خالد المطيري");
    json_decref(list);
    free(out);
    free(err);
    th_teardown(&t);
}

static void test_config_check(void **state)
{
    (void)state;
    struct th t;
    char *out = NULL, *err = NULL;
    char path[2400];
    th_setup(&t, "cli-config", "cli:\n  timeout: 3s\n");

    assert_int_equal(th_cli(&t, &out, &err, "tawasul config check"), 0);
    assert_non_null(strstr(out, "tawasul: ok\n"));
    char engine[2400];
    snprintf(engine, sizeof engine, "%s/tawasul-engine", getenv("TW_BIN"));
    FILE *probe = fopen(engine, "rb");
    if (probe) {
        fclose(probe);
        assert_non_null(strstr(out, "tawasul-engine: ok\n"));
    }
    assert_string_equal(err, "");
    free(out);
    free(err);

    /* A misspelt key: 78, and the line names the file, line and column. */
    snprintf(path, sizeof path, "%s/bad.yaml", t.dir);
    const char yaml[] = "site:\n  timezone: Asia/Riyadh\n"
                        "bus:\n  intake: \"ipc:///tmp/nowhere\"\n"
                        "  windw: 5\n"
                        "cli:\n  timeout: 3s\n";
    write_file(path, yaml, sizeof yaml - 1);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul config check '%s'", path),
                     78);
    assert_true(has_position(err, "bad.yaml"));
    assert_non_null(strstr(err, "tawasul: "));
    assert_null(strstr(out, "tawasul: ok"));
    free(out);
    free(err);

    /* An out-of-range value of the CLI's own section. */
    const char range[] = "cli:\n  timeout: 1h\n";
    write_file(path, range, sizeof range - 1);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul config check '%s'", path),
                     78);
    assert_true(has_position(err, "bad.yaml"));
    free(out);
    free(err);

    /* And the same bad file stops any other command with 78. */
    assert_int_equal(th_cli(&t, &out, &err, "tawasul -c '%s' case list", path),
                     78);
    assert_true(has_position(err, "bad.yaml"));
    free(out);
    free(err);

    /* An explicit config file that is not there. */
    assert_int_equal(
        th_cli(&t, &out, &err, "tawasul -c '%s/none.yaml' status", t.dir), 78);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "none.yaml: No such file or directory"));
    free(out);
    free(err);
    th_teardown(&t);
}

static void test_usage(void **state)
{
    (void)state;
    struct th t;
    char *out = NULL, *err = NULL;
    th_setup(&t, "cli-usage", NULL);

    assert_int_equal(th_cli(&t, &out, &err, "tawasul"), 64);
    assert_int_equal(strncmp(err, "tawasul: ", 9), 0);
    free(out);
    free(err);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul case frobnicate"), 64);
    assert_int_equal(strncmp(err, "tawasul: unknown command", 24), 0);
    free(out);
    free(err);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul case list --bogus"), 64);
    assert_int_equal(strncmp(err, "tawasul: unknown option --bogus\n", 32), 0);
    assert_non_null(strstr(err, "usage: tawasul case list"));
    free(out);
    free(err);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul case show --help"), 0);
    assert_non_null(strstr(out, "usage: tawasul case show REF"));
    free(out);
    free(err);
    assert_int_equal(th_cli(&t, &out, &err, "tawasul --version"), 0);
    assert_int_equal(strncmp(out, "tawasul ", 8), 0);
    free(out);
    free(err);
    th_teardown(&t);
}

/* --- with the engine ----------------------------------------------------- */

static int engine_setup(void **state)
{
    (void)state;
    char *out = NULL, *err = NULL;
    th_setup(&engine_th, "cli-engine", "cli:\n  timeout: 3s\n");
    th_migrate(&engine_th);
    int rc = th_cli(&engine_th, &out, &err, "tawasul members import '%s'",
                    th_fixture("members/valid.csv"));
    if (rc != 0)
        fail_msg("import: exit %d: %s", rc, err);
    free(out);
    free(err);
    th_engine_start(&engine_th);
    return 0;
}

static int engine_teardown(void **state)
{
    (void)state;
    th_teardown(&engine_th);
    return 0;
}

static void test_log_call_member(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err,
                    "tawasul --as officer1 case log-call --member M-1001"
                    " --subject 'استفسار عن الأرباح' --body 'سأل عن موعد "
                    "صرف الأرباح' --kind inquiry");
    if (rc != 0)
        fail_msg("log-call: exit %d: %s", rc, err);
    /* "AW-2026-000001: phone call logged; decision due by 2026-12-09 18:20
     * +03:00" */
    assert_int_equal(count_lines(out), 1);
    char ref[32] = "", date[16] = "", hm[8] = "", off[8] = "";
    assert_int_equal(sscanf(out,
                            "%31[^:]: phone call logged; decision due by "
                            "%15s %7s %7s",
                            ref, date, hm, off),
                     4);
    assert_string_equal(off, "+03:00");
    assert_string_equal(err, "");

    json_t *c = show_json(t, ref);
    assert_string_equal(json_string_value(json_object_get(c, "ref")), ref);
    assert_string_equal(json_string_value(json_object_get(c, "status")), "new");
    assert_string_equal(json_string_value(json_object_get(c, "channel")),
                        "phone");
    assert_string_equal(json_string_value(json_object_get(c, "kind")),
                        "inquiry");
    assert_string_equal(json_string_value(json_object_get(c, "subject")),
                        "استفسار عن الأرباح");
    assert_true(json_is_true(json_object_get(c, "verified")));
    json_t *m = json_object_get(c, "member");
    assert_string_equal(json_string_value(json_object_get(m, "number")),
                        "M-1001");
    assert_string_equal(json_string_value(json_object_get(m, "name")),
                        "أحمد بن علي الزهراني");
    assert_string_equal(json_string_value(json_object_get(c, "created_by")),
                        "officer1");
    tw_time received = parse_time(c, "received_at");
    tw_time due = parse_time(c, "sla_due_at");
    assert_int_equal(due - received, 14 * TW_DAY);
    /* ISO 8601 in the site's zone, with microseconds. */
    const char *iso = json_string_value(json_object_get(c, "received_at"));
    assert_int_equal(strlen(iso), strlen("2026-11-25T18:20:44.123456+03:00"));
    assert_string_equal(iso + strlen(iso) - 6, "+03:00");
    /* The human date printed is the same due date. */
    char human[64], iso_due[TW_TIME_ISO_MAX];
    assert_int_equal(tw_clock_set_zone("Asia/Riyadh"), 0);
    tw_time_iso(due, 0, iso_due);
    snprintf(human, sizeof human, "%.10s %.5s", iso_due, iso_due + 11);
    char printed[64];
    snprintf(printed, sizeof printed, "%s %s", date, hm);
    assert_string_equal(printed, human);

    json_t *events = json_object_get(c, "events");
    assert_true(json_array_size(events) >= 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(events, 0), "to")),
        "new");
    json_t *msgs = json_object_get(c, "messages");
    assert_int_equal(json_array_size(msgs), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(msgs, 0), "body")),
        "سأل عن موعد صرف الأرباح");
    json_decref(c);

    /* The human form names the member and the due date. */
    free(out);
    free(err);
    assert_int_equal(th_cli(t, &out, &err, "tawasul case show %s", ref), 0);
    assert_non_null(strstr(out, ref));
    assert_non_null(strstr(out, "M-1001"));
    assert_non_null(strstr(out, "decision due"));
    assert_non_null(strstr(out, "left"));
    /* References are found whatever their case. */
    for (char *p = ref; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    free(out);
    free(err);
    assert_int_equal(th_cli(t, &out, &err, "tawasul case show %s", ref), 0);
    free(out);
    free(err);
}

static void test_log_body_from_stdin(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *ref = log_quiet(t, "log-visit",
                          "--email fatima@example.org --subject 'Visit' "
                          "< /dev/null");
    json_t *c = show_json(t, ref);
    assert_string_equal(json_string_value(json_object_get(c, "channel")),
                        "walk_in");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(c, "member"), "number")),
                        "M-1002"); /* matched by email */
    json_decref(c);
    free(ref);

    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err,
                    "printf 'السطر الأول\\nthe second line\\n' | tawasul "
                    "case log-call --member M-1003 --subject 'Notes' --quiet");
    if (rc != 0)
        fail_msg("log-call with stdin: exit %d: %s", rc, err);
    chomp(out);
    c = show_json(t, out);
    json_t *msg = json_array_get(json_object_get(c, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(msg, "body")),
                        "السطر الأول\nthe second line\n");
    json_decref(c);
    free(out);
    free(err);

    /* --body - reads standard input too. */
    rc = th_cli(t, &out, &err,
                "echo 'from a pipe' | tawasul case log-call --member M-1003 "
                "--subject 'Notes' --body - --quiet");
    assert_int_equal(rc, 0);
    c = show_json(t, chomp(out));
    msg = json_array_get(json_object_get(c, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(msg, "body")),
                        "from a pipe\n");
    json_decref(c);
    free(out);
    free(err);
}

static void test_log_attach(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char path[2400];
    unsigned char data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    snprintf(path, sizeof path, "%s/scan.PDF", t->dir);
    write_file(path, data, sizeof data);
    const char note[] = "ملاحظة\n";
    snprintf(path, sizeof path, "%s/note.txt", t->dir);
    write_file(path, note, sizeof note - 1);

    char *ref = log_quiet(t, "log-letter",
                          "--member 1006 --subject 'Letter with a scan'"
                          " --body 'see scan' --category membership"
                          " --attach scan.PDF --attach ./note.txt");
    json_t *c = show_json(t, ref);
    assert_string_equal(json_string_value(json_object_get(c, "channel")),
                        "letter");
    assert_string_equal(json_string_value(json_object_get(c, "category")),
                        "membership");
    json_t *msg = json_array_get(json_object_get(c, "messages"), 0);
    json_t *atts = json_object_get(msg, "attachments");
    assert_int_equal(json_array_size(atts), 2);

    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    json_t *a = json_array_get(atts, 0);
    assert_string_equal(json_string_value(json_object_get(a, "name")),
                        "scan.PDF");
    assert_string_equal(json_string_value(json_object_get(a, "type")),
                        "application/pdf");
    assert_int_equal(json_integer_value(json_object_get(a, "size")),
                     sizeof data);
    crypto_hash_sha256(hash, data, sizeof data);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    assert_string_equal(json_string_value(json_object_get(a, "sha256")), hex);

    a = json_array_get(atts, 1);
    assert_string_equal(json_string_value(json_object_get(a, "name")),
                        "note.txt");
    assert_string_equal(json_string_value(json_object_get(a, "type")),
                        "text/plain");
    assert_int_equal(json_integer_value(json_object_get(a, "size")),
                     sizeof note - 1);
    crypto_hash_sha256(hash, (const unsigned char *)note, sizeof note - 1);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    assert_string_equal(json_string_value(json_object_get(a, "sha256")), hex);
    json_decref(c);
    free(ref);

    /* A file that is not there: 66, one line, nothing sent. */
    long before = th_count(t, "SELECT count(*) FROM tawasul.cases");
    char *out = NULL, *err = NULL;
    assert_int_equal(th_cli(t, &out, &err,
                            "tawasul case log-letter --member 1006"
                            " --subject S --body B --attach missing.pdf"),
                     66);
    assert_string_equal(err,
                        "tawasul: missing.pdf: No such file or directory\n");
    assert_int_equal(th_count(t, "SELECT count(*) FROM tawasul.cases"), before);
    free(out);
    free(err);
}

static void test_log_unknown_caller(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    int rc = th_cli(t, &out, &err,
                    "tawasul case log-call --phone '059 999 9999' --name "
                    "'سالم' --subject 'Who am I' --body ''");
    if (rc != 0)
        fail_msg("log-call: exit %d: %s", rc, err);
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, ": phone call logged; decision due by "));
    assert_non_null(strstr(out, ": no member matched: the case is marked "
                                "unverified; check the caller's details\n"));
    char ref[32] = "";
    assert_int_equal(sscanf(out, "%31[^:]:", ref), 1);
    json_t *c = show_json(t, ref);
    assert_true(json_is_false(json_object_get(c, "verified")));
    assert_true(json_is_null(json_object_get(c, "member")));
    json_t *contact = json_object_get(c, "contact");
    assert_true(json_is_object(contact));
    assert_string_equal(json_string_value(json_object_get(contact, "phone")),
                        "0599999999");
    json_decref(c);
    free(out);
    free(err);

    /* --json gives the engine's answer; TAWASUL_ACTOR names the actor. */
    rc = th_cli(t, &out, &err,
                "TAWASUL_ACTOR=clerk.two tawasul case log-call --phone "
                "0599999998 --subject X --json");
    assert_int_equal(rc, 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_non_null(json_string_value(json_object_get(j, "ref")));
    assert_true(json_is_true(json_object_get(j, "created")));
    assert_true(json_is_false(json_object_get(j, "verified")));
    assert_int_equal(parse_time(j, "sla_due_at") - parse_time(j, "received_at"),
                     14 * TW_DAY);
    char *by = th_value(t,
                        "SELECT created_by FROM tawasul.cases WHERE ref = "
                        "'%s'",
                        json_string_value(json_object_get(j, "ref")));
    assert_string_equal(by, "clerk.two");
    free(by);
    json_decref(j);
    free(out);
    free(err);
}

static void test_log_letter_received_at(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    tw_time when = (tw_clock_now() / TW_SEC - 26 * 3600) * TW_SEC;
    char iso[TW_TIME_ISO_MAX];
    tw_time_iso_utc(when, 0, iso);
    char args[300];
    snprintf(args, sizeof args,
             "--member M-1004 --subject 'Letter of yesterday' --body x"
             " --received-at %s",
             iso);
    char *ref = log_quiet(t, "log-letter", args);
    json_t *c = show_json(t, ref);
    assert_int_equal(parse_time(c, "received_at"), when);
    assert_int_equal(parse_time(c, "sla_due_at"), when + 14 * TW_DAY);
    json_decref(c);
    free(ref);
}

static void test_log_rejected_locally(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    long before = th_count(t, "SELECT count(*) FROM tawasul.cases");

    int rc = th_cli(t, &out, &err,
                    "tawasul case log-call --member M-1001 --body 'no "
                    "subject'");
    assert_true(rc == 64 || rc == 65);
    assert_int_equal(count_lines(err), 1);
    assert_int_equal(strncmp(err, "tawasul: ", 9), 0);
    assert_non_null(strstr(err, "subject"));
    assert_string_equal(out, "");
    free(out);
    free(err);

    rc = th_cli(t, &out, &err,
                "tawasul case log-call --member M-1001 --subject S --kind "
                "praise");
    assert_int_equal(rc, 65);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "kind"));
    free(out);
    free(err);

    rc = th_cli(t, &out, &err,
                "tawasul case log-call --email 'not an address' --subject S");
    assert_int_equal(rc, 65);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "email"));
    free(out);
    free(err);

    /* Nobody to reach: staff must say who is asking. */
    rc = th_cli(t, &out, &err,
                "tawasul case log-call --subject S --body 'anonymous'");
    assert_int_equal(rc, 64);
    assert_non_null(strstr(err, "who is asking"));
    free(out);
    free(err);

    assert_int_equal(th_count(t, "SELECT count(*) FROM tawasul.cases"), before);
}

static void test_show_unknown_ref(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    assert_int_equal(th_cli(t, &out, &err, "tawasul case show AW-2026-000099"),
                     65);
    assert_string_equal(err, "tawasul: no case AW-2026-000099\n");
    assert_string_equal(out, "");
    free(out);
    free(err);
}

static void test_case_list(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    char *ref = log_quiet(t, "log-call",
                          "--member M-1005 --subject 'A subject that is much "
                          "longer than forty characters, to be cut' --body "
                          "x");
    assert_int_equal(th_cli(t, &out, &err, "tawasul case list --json"), 0);
    json_t *list = json_loads(out, 0, NULL);
    assert_true(json_is_array(list));
    long cases = th_count(t, "SELECT count(*) FROM tawasul.cases");
    assert_int_equal(json_array_size(list), cases);
    int found = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        char *want = th_value(t,
                              "SELECT ref FROM tawasul.cases ORDER BY "
                              "received_at DESC, id DESC OFFSET %zu",
                              i);
        assert_string_equal(json_string_value(json_object_get(e, "ref")), want);
        free(want);
        if (strcmp(json_string_value(json_object_get(e, "ref")), ref) == 0) {
            found = 1;
            assert_string_equal(
                json_string_value(json_object_get(e, "member_number")),
                "M-1005");
            assert_string_equal(json_string_value(json_object_get(e, "status")),
                                "new");
            assert_true(json_is_true(json_object_get(e, "verified")));
            assert_int_equal(parse_time(e, "sla_due_at") -
                                 parse_time(e, "received_at"),
                             14 * TW_DAY);
        }
    }
    assert_true(found);
    json_decref(list);
    free(out);
    free(err);

    /* The table: a header, one row per case, the subject cut short. */
    assert_int_equal(th_cli(t, &out, &err, "tawasul case list --status new"),
                     0);
    assert_int_equal(strncmp(out, "REF", 3), 0);
    assert_non_null(strstr(out, ref));
    assert_non_null(strstr(out, "unverified"));
    assert_non_null(strstr(out, "A subject that is much longer than fort…"));
    assert_int_equal(count_lines(out), cases + 1);
    free(out);
    free(err);

    assert_int_equal(
        th_cli(t, &out, &err, "tawasul case list --limit 1 --json"), 0);
    list = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    free(out);
    free(err);

    assert_int_equal(th_cli(t, &out, &err, "tawasul case list --status closed"),
                     0);
    assert_string_equal(out, "no cases with status closed\n");
    free(out);
    free(err);
    assert_int_equal(th_cli(t, &out, &err, "tawasul case list --status bogus"),
                     64);
    free(out);
    free(err);
    free(ref);
}

static void test_status(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    assert_int_equal(th_cli(t, &out, &err, "tawasul status"), 0);
    char want[2400];
    snprintf(want, sizeof want, "engine:   up (%s, pid %ld)\n", t->intake,
             (long)t->engine);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "database: up (schema version %d)\n",
             schema_version());
    assert_non_null(strstr(out, want));
    free(out);
    free(err);
}

/* Last: stops the engine. */
static void test_engine_stopped(void **state)
{
    (void)state;
    struct th *t = &engine_th;
    char *out = NULL, *err = NULL;
    th_engine_stop(t, SIGTERM);
    long before = th_count(t, "SELECT count(*) FROM tawasul.cases");

    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = th_cli(t, &out, &err,
                    "tawasul case log-call --member M-1001 --subject "
                    "'Nobody home' --body x");
    clock_gettime(CLOCK_MONOTONIC, &b);
    double took =
        (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_int_equal(rc, 69);
    char want[2400];
    snprintf(want, sizeof want,
             "tawasul: the engine did not answer at %s within 3s: is "
             "tawasul-engine running? (deploy/local/tawasul-local status)\n",
             t->intake);
    assert_string_equal(err, want);
    assert_string_equal(out, "");
    assert_true(took >= 2.5 && took < 8.0); /* cli.timeout is 3s */
    assert_int_equal(th_count(t, "SELECT count(*) FROM tawasul.cases"), before);
    free(out);
    free(err);

    /* status says so too, and exits 69. */
    assert_int_equal(th_cli(t, &out, &err, "tawasul status"), 69);
    snprintf(want, sizeof want, "engine:   not answering (%s)\n", t->intake);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want, "database: up (schema version %d)\n",
             schema_version());
    assert_non_null(strstr(out, want));
    assert_int_equal(count_lines(err), 1);
    free(out);
    free(err);

    /* Reads do not need the engine. */
    assert_int_equal(th_cli(t, &out, &err, "tawasul case list --json"), 0);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_migrate),
        cmocka_unit_test(test_import),
        cmocka_unit_test(test_config_check),
        cmocka_unit_test(test_usage),
    };
    const struct CMUnitTest with_engine[] = {
        cmocka_unit_test(test_log_call_member),
        cmocka_unit_test(test_log_body_from_stdin),
        cmocka_unit_test(test_log_attach),
        cmocka_unit_test(test_log_unknown_caller),
        cmocka_unit_test(test_log_letter_received_at),
        cmocka_unit_test(test_log_rejected_locally),
        cmocka_unit_test(test_show_unknown_ref),
        cmocka_unit_test(test_case_list),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_engine_stopped),
    };
    int failed = cmocka_run_group_tests_name("cli", plain, NULL, NULL);
    failed += cmocka_run_group_tests_name("cli with engine", with_engine,
                                          engine_setup, engine_teardown);
    return failed;
}
