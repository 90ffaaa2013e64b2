/*
 * test_notifier - tawasul-notifier against a real PostgreSQL, the real
 * engine and a real SMTP server (deploy/local/smtp-sink, aiosmtpd).
 * What arrived is read back by Python's email package with the default
 * policy (tests/integration/mail-inspect), a parser independent of GMime.
 *
 * Cases are made through the engine, so acknowledgement rows are the
 * engine's own; rows for the other templates are inserted with the params
 * of the outbox contract.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

#define SECRET    "0123456789abcdef0123456789abcdef-test-secret"
#define SUBJECT   "طلب دعم لرسوم الدراسة"
#define MANAGER   "manager@coop.example"
#define BATCH     50
#define KILL_ROWS 400

struct nt {
    struct th t;
    int port;
    char maildir[320];
    char sink_log[320];
    char notifier_log[320];
    pid_t sink;
    pid_t notifier;
};

/* free_port - a TCP port nobody listens on right now */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        fail_msg("free_port: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

/* port_open - whether something accepts connections on PORT */
static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* spawn - run ARGV with stdout and stderr appended to LOG; the pid */
static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        setenv("TAWASUL_SITE_SECRET", SECRET, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* stop - signal PID and reap it */
static void stop(pid_t *pid, int sig)
{
    if (*pid <= 0)
        return;
    kill(*pid, sig);
    int status;
    waitpid(*pid, &status, 0);
    *pid = 0;
}

/* sink_start - the SMTP server, rejecting REJECT (may be NULL), waiting
 * DELAY_MS per message; returns once it accepts connections */
static void sink_start(struct nt *n, const char *reject, int delay_ms)
{
    char script[400], port[16], delay[16];
    snprintf(script, sizeof script, "%s/deploy/local/smtp-sink",
             getenv("TW_SOURCE"));
    snprintf(port, sizeof port, "%d", n->port);
    snprintf(delay, sizeof delay, "%d", delay_ms);
    char *argv[] = {(char *)"/usr/bin/python3",
                    script,
                    (char *)"--port",
                    port,
                    (char *)"--maildir",
                    n->maildir,
                    (char *)"--delay-ms",
                    delay,
                    reject ? (char *)"--reject" : NULL,
                    (char *)reject,
                    NULL};
    n->sink = spawn(argv, n->sink_log);
    for (int i = 0; i < 200; i++) {
        if (port_open(n->port))
            return;
        int status;
        if (waitpid(n->sink, &status, WNOHANG) == n->sink) {
            n->sink = 0;
            fail_msg("smtp-sink exited at start-up; see %s", n->sink_log);
        }
        th_sleep_ms(50);
    }
    fail_msg("smtp-sink did not listen on %d within 10 s", n->port);
}

/* notifier_start - build/bin/tawasul-notifier with the test config */
static void notifier_start(struct nt *n)
{
    char bin[400];
    snprintf(bin, sizeof bin, "%s/tawasul-notifier", getenv("TW_BIN"));
    char *argv[] = {bin, (char *)"-c", n->t.config, NULL};
    n->notifier = spawn(argv, n->notifier_log);
}

static struct nt *nt_new(const char *name, const char *digest_at)
{
    struct nt *n = tw_calloc(1, sizeof *n);
    n->port = free_port();
    char *extra = tw_asprintf(
        "notifier:\n  batch_max: %d\n  poll_interval: 300ms\n  lease: 3s\n"
        "  retry: [1s, 1s, 2s]\n  give_up: 1h\n  digest_at: \"%s\"\n"
        "smtp:\n  host: 127.0.0.1\n  port: %d\n  starttls: none\n"
        "  timeout: 10s\n  from: tawasul@coop.example\n"
        "  reply_to: cases@coop.example\n",
        BATCH, digest_at, n->port);
    th_setup(&n->t, name, extra);
    free(extra);
    snprintf(n->maildir, sizeof n->maildir, "%s/maildir", n->t.dir);
    snprintf(n->sink_log, sizeof n->sink_log, "%s/sink.log", n->t.dir);
    snprintf(n->notifier_log, sizeof n->notifier_log, "%s/notifier.log",
             n->t.dir);
    th_migrate(&n->t);
    th_exec(&n->t,
            "INSERT INTO members (member_no, name, email, phone, lang) VALUES"
            " ('1001', 'عبدالله الدوسري', 'abdullah@example.org', NULL, 'ar'),"
            " ('1002', 'Sara Ahmed', 'sara@example.org', NULL, 'en'),"
            " ('1003', 'خالد العتيبي', 'bad@example.org', NULL, 'ar'),"
            " ('1004', 'منيرة القحطاني', NULL, '+966503333333', 'ar')");
    th_exec(&n->t, "INSERT INTO staff (username, display_name, email, role)"
                   " VALUES ('mgr', 'نورة المدير', '" MANAGER "', 'manager'),"
                   " ('agent1', 'Agent One', NULL, 'agent')");
    th_engine_start(&n->t);
    return n;
}

static int teardown(void **state)
{
    struct nt *n = *state;
    if (!n)
        return 0;
    stop(&n->notifier, SIGTERM);
    stop(&n->sink, SIGTERM);
    th_teardown(&n->t);
    free(n);
    return 0;
}

/* intake - a case for member NUMBER through the engine; its ref (new) */
static char *intake(struct nt *n, const char *key, const char *number,
                    const char *received_at, const char *msgid)
{
    json_t *cmd = th_intake(key, SUBJECT);
    json_object_set_new(cmd, "member", json_pack("{s:s}", "number", number));
    json_object_set_new(cmd, "received_at", json_string(received_at));
    if (msgid) {
        json_object_set_new(cmd, "channel", json_string("email"));
        json_object_set_new(cmd, "message",
                            json_pack("{s:s, s:s}", "from",
                                      "member@example.org", "message_id",
                                      msgid));
    }
    json_t *r = th_call(&n->t, cmd, 10000);
    if (!json_is_true(json_object_get(r, "ok")))
        fail_msg("intake failed: %s", json_dumps(r, 0));
    char *ref = tw_strdup(json_string_value(json_object_get(r, "case")));
    json_decref(r);
    return ref;
}

/* wait_count - poll SQL until it counts WANT (at most MS); the last count */
static long wait_count(struct nt *n, long want, int ms, const char *sql)
{
    long got = -1;
    for (int waited = 0; waited <= ms; waited += 100) {
        got = th_count(&n->t, "%s", sql);
        if (got == want)
            return got;
        th_sleep_ms(100);
    }
    return got;
}

/* inspect - what arrived, parsed by Python's email package: an array */
static json_t *inspect(struct nt *n)
{
    char *out = NULL, *err = NULL;
    int rc = th_cli(&n->t, &out, &err,
                    "/usr/bin/python3 '%s/tests/integration/mail-inspect' '%s'",
                    getenv("TW_SOURCE"), n->maildir);
    if (rc != 0)
        fail_msg("mail-inspect failed (%d): %s", rc, err);
    json_t *all = json_array();
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j)
            fail_msg("mail-inspect printed bad JSON: %s", e.text);
        json_array_append_new(all, j);
    }
    free(out);
    free(err);
    return all;
}

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const json_t *part(const json_t *msg, int i)
{
    return json_array_get(json_object_get(msg, "parts"), (size_t)i);
}

static void ack_is_arabic_rtl_threaded_and_recorded(void **state)
{
    struct nt *n = nt_new("notify_ack", "");
    *state = n;
    sink_start(n, NULL, 0);
    notifier_start(n);
    char *ref = intake(n, "test:ack", "1001", "2026-11-22T10:00:00+03:00",
                       "m1@members.example");
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'sent'"),
                     1);
    json_t *all = inspect(n);
    assert_int_equal(json_array_size(all), 1);
    const json_t *m = json_array_get(all, 0);
    char *want = tw_asprintf("[%s] استلمنا طلبك: %s", ref, SUBJECT);
    assert_string_equal(str(m, "subject"), want);
    free(want);
    assert_string_equal(str(m, "envelope_to"), "abdullah@example.org");
    assert_string_equal(str(m, "multipart"), "multipart/alternative");
    assert_string_equal(str(part(m, 0), "type"), "text/plain");
    assert_string_equal(str(part(m, 0), "charset"), "utf-8");
    assert_non_null(strstr(str(part(m, 0), "text"), "الأحد ٦ ديسمبر ٢٠٢٦"));
    assert_non_null(strstr(str(part(m, 0), "text"), ref));
    assert_non_null(strstr(str(part(m, 0), "text"), "/status/"));
    assert_string_equal(str(part(m, 1), "type"), "text/html");
    assert_string_equal(str(part(m, 1), "charset"), "utf-8");
    assert_string_equal(str(part(m, 1), "html_dir"), "rtl");
    assert_string_equal(str(part(m, 1), "html_lang"), "ar");
    assert_string_equal(str(m, "auto_submitted"), "auto-generated");
    assert_string_equal(str(m, "x_loop"), "tawasul@tawasul.invalid");
    /* it answers the member's own email */
    assert_string_equal(str(m, "in_reply_to"), "<m1@members.example>");
    /* the Message-ID is the one stored, on the outbox row and as the
     * case's outgoing message, so a reply threads back */
    char *stored = th_value(&n->t, "SELECT '<' || sent_message_id || '>'"
                                   " FROM outbox WHERE status = 'sent'");
    assert_string_equal(str(m, "message_id"), stored);
    assert_non_null(strstr(stored, "@tawasul.invalid>"));
    assert_int_equal(th_count(&n->t,
                              "SELECT count(*) FROM messages m JOIN cases c"
                              " ON c.id = m.case_id WHERE c.ref = '%s' AND"
                              " m.direction = 'out' AND '<' || m.message_id"
                              " || '>' = '%s'",
                              ref, stored),
                     1);

    /* A follow-up (the committee's decision) threads under the ack. */
    th_exec(&n->t,
            "INSERT INTO outbox (case_id, event, recipient, lang, template,"
            " params, created_at, next_attempt_at) SELECT id, 'case.status',"
            " 'abdullah@example.org', 'ar', 'accepted', jsonb_build_object("
            "'ref', ref, 'subject', subject, 'name', 'عبدالله الدوسري',"
            " 'decided_at', '2026-12-01T09:00:00+03:00'), now(), now()"
            " FROM cases WHERE ref = '%s'",
            ref);
    assert_int_equal(wait_count(n, 2, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'sent'"),
                     2);
    json_decref(all);
    all = inspect(n);
    assert_int_equal(json_array_size(all), 2);
    const json_t *f = json_array_get(all, 1);
    want = tw_asprintf("[%s] تمت الموافقة على طلبك", ref);
    assert_string_equal(str(f, "subject"), want);
    free(want);
    assert_string_equal(str(f, "in_reply_to"), stored);
    assert_non_null(strstr(str(f, "references"), "<m1@members.example>"));
    assert_non_null(strstr(str(f, "references"), stored));
    assert_non_null(strstr(str(part(f, 0), "text"), "الثلاثاء ١ ديسمبر ٢٠٢٦"));

    /* An English-speaking member gets English, left to right. */
    char *ref2 =
        intake(n, "test:ack-en", "1002", "2026-11-22T10:00:00+03:00", NULL);
    assert_int_equal(wait_count(n, 3, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'sent'"),
                     3);
    json_decref(all);
    all = inspect(n);
    const json_t *e = json_array_get(all, 2);
    want = tw_asprintf("[%s] We have received your request: %s", ref2, SUBJECT);
    assert_string_equal(str(e, "subject"), want);
    free(want);
    assert_non_null(strstr(str(part(e, 0), "text"), "Sunday 6 December 2026"));
    assert_string_equal(str(part(e, 1), "html_dir"), "ltr");
    assert_string_equal(str(e, "in_reply_to"), "");

    /* `tawasul outbox show` prints the message as sent */
    char *out = NULL;
    char *id = th_value(&n->t, "SELECT min(id) FROM outbox");
    assert_int_equal(th_cli(&n->t, &out, NULL, "tawasul outbox show %s", id),
                     0);
    assert_non_null(strstr(out, "استلمنا طلبك"));
    assert_non_null(strstr(out, "الأحد ٦ ديسمبر ٢٠٢٦"));
    assert_non_null(strstr(out, "Status:     sent"));
    free(out);
    free(id);
    free(stored);
    free(ref);
    free(ref2);
    json_decref(all);
}

static void rejected_and_unreachable_are_failed_and_alerted(void **state)
{
    struct nt *n = nt_new("notify_fail", "");
    *state = n;
    sink_start(n, "bad@example.org", 0);
    notifier_start(n);
    char *bad =
        intake(n, "test:bad", "1003", "2026-11-22T10:00:00+03:00", NULL);
    char *phone =
        intake(n, "test:phone", "1004", "2026-11-22T10:00:00+03:00", NULL);
    /* 550: failed, a case event, the managers' alert, which is sent */
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " template = 'delivery_failed' AND"
                                " status = 'sent'"),
                     1);
    assert_int_equal(th_count(&n->t,
                              "SELECT count(*) FROM outbox o JOIN cases c ON"
                              " c.id = o.case_id WHERE c.ref = '%s' AND"
                              " o.template = 'acknowledgement' AND"
                              " o.status = 'failed' AND o.last_error LIKE"
                              " '550%%'",
                              bad),
                     1);
    assert_int_equal(th_count(&n->t,
                              "SELECT count(*) FROM case_events e JOIN cases"
                              " c ON c.id = e.case_id WHERE c.ref = '%s' AND"
                              " e.kind = 'mail.failed' AND e.detail->>"
                              "'recipient' = 'bad@example.org'",
                              bad),
                     1);
    assert_int_equal(th_count(&n->t,
                              "SELECT count(*) FROM outbox WHERE template ="
                              " 'delivery_failed' AND recipient = '" MANAGER
                              "' AND params->>'ref' = '%s'",
                              bad),
                     1);
    /* no address: failed, and staff are told to phone */
    assert_int_equal(wait_count(n, 1, 5000,
                                "SELECT count(*) FROM case_events WHERE"
                                " kind = 'mail.unreachable'"),
                     1);
    assert_int_equal(th_count(&n->t,
                              "SELECT count(*) FROM outbox o JOIN cases c ON"
                              " c.id = o.case_id WHERE c.ref = '%s' AND"
                              " o.status = 'failed' AND o.recipient IS NULL",
                              phone),
                     1);
    json_t *all = inspect(n);
    assert_int_equal(json_array_size(all), 1);
    const json_t *a = json_array_get(all, 0);
    assert_string_equal(str(a, "envelope_to"), MANAGER);
    char *want = tw_asprintf("[%s] تعذّر إرسال بريد إلى العضو", bad);
    assert_string_equal(str(a, "subject"), want);
    free(want);
    assert_non_null(strstr(str(part(a, 0), "text"), "bad@example.org"));

    /* The CLI lists the failures, shows why, and queues one again. */
    char *out = NULL, *err = NULL;
    assert_int_equal(
        th_cli(&n->t, &out, NULL, "tawasul outbox list --status failed"), 0);
    assert_non_null(strstr(out, bad));
    assert_non_null(strstr(out, phone));
    assert_non_null(strstr(out, "(no email)"));
    free(out);
    char *id = th_value(&n->t,
                        "SELECT o.id FROM outbox o JOIN cases c ON c.id ="
                        " o.case_id WHERE c.ref = '%s' AND o.template ="
                        " 'acknowledgement'",
                        bad);
    assert_int_equal(th_cli(&n->t, &out, NULL, "tawasul outbox show %s", id),
                     0);
    assert_non_null(strstr(out, "Last error: 550"));
    assert_non_null(strstr(out, "استلمنا طلبك"));
    free(out);
    assert_int_equal(
        th_cli(&n->t, &out, NULL, "tawasul outbox list --case %s --json", bad),
        0);
    json_t *list = json_loads(out, 0, NULL);
    assert_non_null(list);
    assert_true(json_array_size(list) >= 2);
    json_decref(list);
    free(out);
    assert_int_equal(th_cli(&n->t, &out, NULL, "tawasul outbox retry %s", id),
                     0);
    free(out);
    /* still 550: failed again, alerted again */
    assert_int_equal(wait_count(n, 2, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " template = 'delivery_failed'"),
                     2);
    char *sent = th_value(&n->t, "SELECT min(id) FROM outbox WHERE"
                                 " status = 'sent'");
    assert_int_equal(th_cli(&n->t, NULL, &err, "tawasul outbox retry %s", sent),
                     65);
    assert_non_null(strstr(err, "is sent"));
    free(err);
    /* an address with a line break never reaches the SMTP dialogue */
    th_exec(&n->t,
            "INSERT INTO outbox (case_id, event, recipient, lang, template,"
            " params, created_at, next_attempt_at) SELECT id, 'sla.warning',"
            " E'x@example.org\\r\\nRCPT TO:<evil@example.org>', 'ar',"
            " 'sla_warning', jsonb_build_object('ref', ref, 'subject',"
            " subject, 'name', NULL, 'sla_due_at', sla_due_at, 'remaining',"
            " '2d', 'assignee', NULL), now(), now() FROM cases WHERE"
            " ref = '%s'",
            bad);
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " template = 'sla_warning' AND status ="
                                " 'failed' AND last_error LIKE 'not an"
                                " email address%'"),
                     1);
    free(sent);
    free(id);
    free(bad);
    free(phone);
    json_decref(all);
}

static void smtp_down_waits_then_delivers(void **state)
{
    struct nt *n = nt_new("notify_down", "");
    *state = n;
    notifier_start(n); /* no SMTP server yet */
    char *ref =
        intake(n, "test:down", "1001", "2026-11-22T10:00:00+03:00", NULL);
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'pending' AND attempts >= 2 AND"
                                " last_error IS NOT NULL AND"
                                " next_attempt_at > created_at"),
                     1);
    assert_int_equal(th_count(&n->t, "SELECT count(*) FROM outbox WHERE"
                                     " status IN ('sent', 'failed')"),
                     0);
    /* A row written longer ago than notifier.give_up (1h here) is given
     * up at its next temporary failure: failed, case event, alert. */
    th_exec(&n->t,
            "INSERT INTO outbox (case_id, event, recipient, lang, template,"
            " params, created_at, next_attempt_at) SELECT id, 'case.message',"
            " 'abdullah@example.org', 'ar', 'reply_received',"
            " jsonb_build_object('ref', ref, 'subject', subject, 'name',"
            " NULL, 'received_at', '2026-11-23T08:00:00+03:00'),"
            " now() - interval '2 hours', now() FROM cases WHERE ref = '%s'",
            ref);
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " template = 'reply_received' AND"
                                " status = 'failed' AND last_error LIKE"
                                " 'gave up after 1 attempt in%'"),
                     1);
    assert_int_equal(th_count(&n->t, "SELECT count(*) FROM case_events WHERE"
                                     " kind = 'mail.failed'"),
                     1);
    sink_start(n, NULL, 0);
    /* the ack, and the managers' alert about the one given up */
    assert_int_equal(wait_count(n, 2, 20000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'sent'"),
                     2);
    json_t *all = inspect(n);
    assert_int_equal(json_array_size(all), 2);
    int acks = 0, alerts = 0;
    for (size_t i = 0; i < 2; i++) {
        const json_t *m = json_array_get(all, i);
        assert_non_null(strstr(str(m, "subject"), ref));
        acks += strcmp(str(m, "envelope_to"), "abdullah@example.org") == 0;
        alerts += strcmp(str(m, "envelope_to"), MANAGER) == 0;
    }
    assert_int_equal(acks, 1);
    assert_int_equal(alerts, 1);
    json_decref(all);
    free(ref);
}

static void killed_mid_batch_loses_nothing(void **state)
{
    struct nt *n = nt_new("notify_kill", "");
    *state = n;
    /* The case's own ack cannot be sent (no address); the rows below are
     * what counts. */
    char *ref =
        intake(n, "test:kill", "1004", "2026-11-22T10:00:00+03:00", NULL);
    th_exec(&n->t,
            "INSERT INTO outbox (case_id, event, recipient, lang, template,"
            " params, created_at, next_attempt_at) SELECT c.id, 'test',"
            " 'm' || g || '@example.org', 'ar', 'referred',"
            " jsonb_build_object('ref', c.ref, 'subject', c.subject,"
            " 'name', NULL), now(), now() FROM cases c,"
            " generate_series(1, %d) g WHERE c.ref = '%s'",
            KILL_ROWS, ref);
    sink_start(n, NULL, 4); /* slow enough that a batch takes a while */
    notifier_start(n);
    long sent = wait_count(n, -1, 30000,
                           "SELECT CASE WHEN count(*) >= 120 THEN -1 ELSE 0"
                           " END FROM outbox WHERE status = 'sent'");
    assert_int_equal(sent, -1);
    stop(&n->notifier, SIGKILL);
    long sending = th_count(&n->t, "SELECT count(*) FROM outbox WHERE"
                                   " status = 'sending'");
    assert_true(sending <= BATCH);
    notifier_start(n);
    assert_int_equal(wait_count(n, KILL_ROWS, 60000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'sent' AND template = 'referred'"),
                     KILL_ROWS);
    json_t *all = inspect(n);
    size_t total = json_array_size(all);
    /* every row arrived; only rows in flight at the kill more than once */
    long distinct = 0;
    for (size_t i = 0; i < total; i++) {
        const char *mid = str(json_array_get(all, i), "message_id");
        int first = 1;
        for (size_t k = 0; k < i && first; k++)
            first = strcmp(mid, str(json_array_get(all, k), "message_id")) != 0;
        distinct += first;
    }
    assert_int_equal(distinct, KILL_ROWS);
    assert_true(total - (size_t)distinct <= (size_t)sending);
    assert_true(total - (size_t)distinct <= BATCH);
    fprintf(stderr,
            "killed with %ld rows in flight; %zu messages for %d rows\n",
            sending, total, KILL_ROWS);
    /* and each stored Message-ID is one that arrived */
    assert_int_equal(th_count(&n->t,
                              "SELECT count(DISTINCT sent_message_id) FROM"
                              " outbox WHERE template = 'referred'"),
                     KILL_ROWS);
    json_decref(all);
    free(ref);
}

static void digest_goes_once_a_day(void **state)
{
    struct nt *n = nt_new("notify_digest", "00:00");
    *state = n;
    /* a case received three weeks ago is past its decision date */
    char old[TW_TIME_ISO_MAX];
    tw_time_iso(tw_clock_now() - 21 * TW_DAY, 0, old);
    char *late = intake(n, "test:late", "1004", old, NULL);
    sink_start(n, NULL, 0);
    notifier_start(n);
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE template"
                                " = 'daily_digest' AND status = 'sent'"),
                     1);
    json_t *all = inspect(n);
    assert_int_equal(json_array_size(all), 1);
    const json_t *d = json_array_get(all, 0);
    assert_string_equal(str(d, "envelope_to"), MANAGER);
    assert_non_null(strstr(str(d, "subject"), "الملخص اليومي"));
    assert_non_null(strstr(str(part(d, 0), "text"), late));
    assert_non_null(strstr(str(part(d, 0), "text"), "غير مسندة"));
    /* a restart the same day sends no second digest */
    stop(&n->notifier, SIGTERM);
    notifier_start(n);
    th_sleep_ms(1500);
    assert_int_equal(th_count(&n->t, "SELECT count(*) FROM outbox WHERE"
                                     " template = 'daily_digest'"),
                     1);
    assert_int_equal(th_count(&n->t, "SELECT count(*) FROM notifier_digests"),
                     1);
    json_decref(all);
    free(late);
}

/* find - the message in ALL whose subject is SUBJECT, or fail */
static const json_t *find(const json_t *all, const char *subject)
{
    size_t i;
    const json_t *m;
    json_array_foreach(all, i, m)
    {
        if (strcmp(str(m, "subject"), subject) == 0)
            return m;
    }
    fail_msg("no message with subject \"%s\" arrived", subject);
    return NULL;
}

/* The end to end: staff move a case with the CLI, the engine writes
 * the rows, the notifier sends the member each step, threaded after the
 * acknowledgement. */
static void lifecycle_steps_from_the_cli_reach_the_member(void **state)
{
    struct nt *n = nt_new("notify_steps", "");
    *state = n;
    th_exec(&n->t, "INSERT INTO staff (username, display_name, role) VALUES"
                   " ('huda', 'هدى', 'agent'), ('lajna', 'اللجنة',"
                   " 'committee')");
    sink_start(n, NULL, 0);
    notifier_start(n);
    char *ref =
        intake(n, "test:steps", "1001", "2026-11-22T10:00:00+03:00", NULL);
    /* each step: the verb and its arguments after the ref */
    const char *steps[] = {
        "--as huda case request-info %s --missing 'صورة الهوية'",
        "--as huda case resume %s",
        "--as huda case attest %s verbal_phone",
        "--as huda case submit %s",
        "--as lajna case decide %s --reject --reason 'الدخل أعلى من الحد'",
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char *err = NULL;
        const char *at = strstr(steps[i], "%s");
        int rc = th_cli(&n->t, NULL, &err, "tawasul %.*s%s%s",
                        (int)(at - steps[i]), steps[i], ref, at + 2);
        if (rc != 0)
            fail_msg("step %zu failed (%d): %s", i, rc, err);
        free(err);
    }
    /* acknowledgement, information requested, decision: three emails */
    char *sql = tw_asprintf("SELECT count(*) FROM outbox o JOIN cases c ON"
                            " c.id = o.case_id WHERE c.ref = '%s' AND"
                            " o.status = 'sent'",
                            ref);
    assert_int_equal(wait_count(n, 3, 15000, sql), 3);
    free(sql);
    json_t *all = inspect(n);
    char *subject =
        tw_asprintf("[%s] نحتاج منك بعض المعلومات لاستكمال طلبك", ref);
    const json_t *info = find(all, subject);
    free(subject);
    assert_non_null(strstr(str(part(info, 0), "text"), "صورة الهوية"));
    subject = tw_asprintf("[%s] قرار لجنة البحث في طلبك", ref);
    const json_t *no = find(all, subject);
    free(subject);
    assert_string_equal(str(no, "envelope_to"), "abdullah@example.org");
    assert_non_null(strstr(str(part(no, 0), "text"), "الدخل أعلى من الحد"));
    assert_non_null(strstr(str(part(no, 1), "text"), "dir=\"rtl\""));
    /* threaded under the acknowledgement the member already has */
    char *ack = th_value(&n->t,
                         "SELECT '<' || o.sent_message_id || '>' FROM outbox o"
                         " JOIN cases c ON c.id = o.case_id WHERE c.ref ="
                         " '%s' AND o.template = 'acknowledgement'",
                         ref);
    assert_non_null(ack);
    assert_non_null(strstr(str(no, "references"), ack));
    free(ack);
    json_decref(all);
    free(ref);
}

static void template_typo_fails_config_check(void **state)
{
    struct nt *n = nt_new("notify_check", "");
    *state = n;
    char *out = NULL, *err = NULL;
    assert_int_equal(th_cli(&n->t, &out, &err, "tawasul config check"), 0);
    assert_non_null(strstr(out, "tawasul-notifier: ok"));
    free(out);
    free(err);
    assert_int_equal(th_cli(&n->t, NULL, NULL,
                            "cp -r '%s/config/templates' tpl && sed -i"
                            " 's/{{subject}}/{{subjcet}}/' tpl/en/rejected.txt",
                            getenv("TW_SOURCE")),
                     0);
    assert_int_equal(th_cli(&n->t, &out, &err,
                            "TAWASUL_TEMPLATES=\"$PWD/tpl\" tawasul config"
                            " check"),
                     78);
    assert_non_null(strstr(err, "tawasul-notifier"));
    assert_non_null(strstr(err, "en/rejected.txt:"));
    assert_non_null(strstr(err, "unknown placeholder {{subjcet}}"));
    free(out);
    free(err);
    /* and the notifier refuses to start on it */
    assert_int_equal(th_cli(&n->t, NULL, &err,
                            "TAWASUL_TEMPLATES=\"$PWD/tpl\" tawasul-notifier"),
                     78);
    assert_non_null(strstr(err, "{{subjcet}}"));
    free(err);

    /* A running notifier told to reload the broken templates (SIGHUP)
     * keeps the good ones and goes on sending. */
    sink_start(n, NULL, 0);
    notifier_start(n);
    th_sleep_ms(500);
    assert_int_equal(th_cli(&n->t, NULL, NULL,
                            "sed -i 's|^  dir: .*config/templates\"$|  dir: "
                            "\"'\"$PWD\"'/tpl\"|' tawasul.yaml && grep -q"
                            " '/tpl\"$' tawasul.yaml"),
                     0);
    kill(n->notifier, SIGHUP);
    th_sleep_ms(500);
    char *ref =
        intake(n, "test:hup", "1002", "2026-11-22T10:00:00+03:00", NULL);
    assert_int_equal(wait_count(n, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " status = 'sent'"),
                     1);
    assert_int_equal(th_cli(&n->t, &out, NULL, "cat notifier.log"), 0);
    assert_non_null(strstr(out, "keeping the old templates"));
    free(out);
    free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(ack_is_arabic_rtl_threaded_and_recorded,
                                  teardown),
        cmocka_unit_test_teardown(
            rejected_and_unreachable_are_failed_and_alerted, teardown),
        cmocka_unit_test_teardown(smtp_down_waits_then_delivers, teardown),
        cmocka_unit_test_teardown(killed_mid_batch_loses_nothing, teardown),
        cmocka_unit_test_teardown(digest_goes_once_a_day, teardown),
        cmocka_unit_test_teardown(template_typo_fails_config_check, teardown),
        cmocka_unit_test_teardown(lifecycle_steps_from_the_cli_reach_the_member,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
