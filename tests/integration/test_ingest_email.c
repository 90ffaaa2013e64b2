/*
 * test_ingest_email - members' mail into cases through the real
 * tawasul-ingest-email, engine and PostgreSQL: the MTA pipe and a Maildir,
 * Arabic subjects and bodies, attachments, replies threading by
 * In-Reply-To and by subject tag (and a stranger's tag making a new case),
 * reopening, loops dropped, a bounce marking the outbox row failed, and
 * oversized mail quarantined and reprocessed.
 */
#include "ingest_util.h"

struct fx {
    struct th t;
    pid_t daemon;
    char spool[300];
};

static int setup(void **state)
{
    struct fx *f = tw_calloc(1, sizeof *f);
    th_setup(&f->t, "ingest", INGEST_YAML);
    th_migrate(&f->t);
    th_exec(&f->t, "INSERT INTO members (member_no, name, email, phone, lang)"
                   " VALUES ('1001', 'عبدالله الدوسري', 'Abdullah@Example.org',"
                   " '+966501234567', 'ar')");
    th_engine_start(&f->t);
    snprintf(f->spool, sizeof f->spool, "%s/spool", f->t.dir);
    const char *none[] = {NULL};
    f->daemon = ingest_spawn(&f->t, "ingest.log", none);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->daemon)
        ingest_stop(f->daemon, SIGTERM);
    th_teardown(&f->t);
    free(f);
    return 0;
}

/* pipe_in - feed fixture NAME to --pipe; its exit status */
static int pipe_in(struct fx *f, const char *name)
{
    char rel[200];
    snprintf(rel, sizeof rel, "mail/%s", name);
    return th_cli(&f->t, NULL, NULL, "tawasul-ingest-email --pipe < '%s'",
                  th_fixture(rel));
}

/* pipe_text - feed TEXT to --pipe */
static int pipe_text(struct fx *f, const char *text)
{
    char path[400];
    snprintf(path, sizeof path, "%s/msg.eml", f->t.dir);
    FILE *fp = fopen(path, "wb");
    fputs(text, fp);
    fclose(fp);
    return th_cli(&f->t, NULL, NULL, "tawasul-ingest-email --pipe < '%s'",
                  path);
}

/* case_of - the ref of the case whose first message has MESSAGE_ID */
static char *case_of(struct fx *f, const char *message_id)
{
    return th_value(&f->t,
                    "SELECT c.ref FROM cases c JOIN messages m ON"
                    " m.case_id = c.id WHERE m.message_id = '%s'",
                    message_id);
}

static void pipe_makes_cases_with_arabic_decoded(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"win1256.eml",           "iso88596.eml",
                           "html_only.eml",         "alternative.eml",
                           "attachment_arabic.eml", "no_message_id.eml"};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(pipe_in(f, names[i]), 0);
    /* The same mail delivered twice (no Message-ID even) is one case. */
    assert_int_equal(pipe_in(f, "no_message_id.eml"), 0);
    assert_int_equal(pipe_in(f, "win1256.eml"), 0);
    assert_int_equal(wait_count(&f->t, 6, 15000,
                                "SELECT count(*) FROM cases WHERE"
                                " channel = 'email'"),
                     6);
    for (int i = 0; i < 100 && count_files(f->spool) != 0; i++)
        th_sleep_ms(50);
    char path[400];
    snprintf(path, sizeof path, "%s/new", f->spool);
    assert_int_equal(count_files(path), 0);

    /* windows-1256 body, B-encoded subject, matched to the member */
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases c JOIN messages m"
                              " ON m.case_id = c.id WHERE c.subject ="
                              " 'طلب تحديث بيانات العضوية' AND c.verified"
                              " AND m.body LIKE '%%أرجو تحديث بيانات عضويتي%%'"
                              " AND m.message_id = 'win1256.1@example.org'"
                              " AND m.from_addr = 'abdullah@example.org'"),
                     1);
    /* ISO-8859-6, Q-encoded subject, an unknown sender: unverified */
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases c JOIN messages m"
                              " ON m.case_id = c.id WHERE c.subject ="
                              " 'استفسار عن الأرباح' AND NOT c.verified"
                              " AND c.contact->>'name' = 'Sara'"
                              " AND m.body LIKE '%%أرباح المساهمين%%'"),
                     1);
    /* HTML only: readable text */
    char *body = th_value(&f->t, "SELECT body FROM messages WHERE"
                                 " message_id = 'html.1@example.net'");
    assert_non_null(body);
    assert_non_null(strstr(body, "أود الاستفسار عن خدمة التوصيل & الخصومات."));
    assert_null(strchr(body, '<'));
    free(body);
    /* attachments with their Arabic names, bytes in the database */
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM attachments a JOIN"
                              " messages m ON m.id = a.message_id JOIN blobs"
                              " b ON b.sha256 = a.sha256 WHERE m.message_id"
                              " = 'att.1@example.org' AND ((a.filename ="
                              " 'كشف حساب.pdf' AND a.mime_type ="
                              " 'application/pdf' AND a.size = 1040) OR"
                              " (a.filename = 'صورة الهوية.png' AND"
                              " a.mime_type = 'image/png'))"),
                     2);
    /* the acknowledgement goes to the member's registered address */
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM outbox o JOIN messages m"
                              " ON m.case_id = o.case_id WHERE m.message_id"
                              " = 'win1256.1@example.org' AND o.template ="
                              " 'acknowledgement' AND o.recipient ="
                              " 'Abdullah@Example.org'"),
                     1);
}

static void replies_thread_and_strangers_do_not(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pipe_in(f, "win1256.eml"), 0);
    assert_int_equal(wait_count(&f->t, 1, 15000,
                                "SELECT count(*) FROM messages WHERE"
                                " message_id = 'win1256.1@example.org'"),
                     1);
    char *ref = case_of(f, "win1256.1@example.org");
    assert_non_null(ref);

    /* By In-Reply-To: a message on the case, the quote trimmed, the
     * original kept as an attachment. */
    assert_int_equal(pipe_in(f, "reply_in_reply_to.eml"), 0);
    assert_int_equal(wait_count(&f->t, 2, 15000,
                                "SELECT count(*) FROM messages m JOIN cases c"
                                " ON c.id = m.case_id WHERE c.ref = (SELECT"
                                " c2.ref FROM cases c2 JOIN messages m2 ON"
                                " m2.case_id = c2.id WHERE m2.message_id ="
                                " 'win1256.1@example.org')"),
                     2);
    char *body = th_value(&f->t, "SELECT body FROM messages WHERE"
                                 " message_id = 'reply.1@example.org'");
    assert_string_equal(body, "أرفقت رقم الجوال الجديد: 0501234567");
    free(body);
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM attachments a JOIN"
                                     " messages m ON m.id = a.message_id WHERE"
                                     " m.message_id = 'reply.1@example.org' AND"
                                     " a.filename = 'original-message.txt'"),
                     1);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM case_events e JOIN cases"
                              " c ON c.id = e.case_id WHERE c.ref = '%s' AND"
                              " e.kind = 'message.received'",
                              ref),
                     1);
    /* the sender is told the reply reached the case */
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM outbox o JOIN cases c ON"
                              " c.id = o.case_id WHERE c.ref = '%s' AND"
                              " o.template = 'reply_received' AND"
                              " o.recipient IS NOT NULL AND"
                              " o.params->>'ref' = c.ref AND"
                              " o.params->>'received_at' IS NOT NULL",
                              ref),
                     1);
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM cases WHERE"
                                     " channel = 'email'"),
                     1);

    /* By subject tag: from the member, threaded; from a stranger, a new
     * case (a stranger cannot write into someone's case). */
    char text[2048];
    snprintf(text, sizeof text,
             "From: Abdullah@Example.org\nTo: m@coop.example\n"
             "Subject: Re: [%s] متابعة\nMessage-ID: <tag.member.9@x>\n"
             "Content-Type: text/plain; charset=utf-8\n\nمتابعة للطلب\n",
             ref);
    assert_int_equal(pipe_text(f, text), 0);
    snprintf(text, sizeof text,
             "From: stranger@example.com\nTo: m@coop.example\n"
             "Subject: Re: [%s] متابعة\nMessage-ID: <tag.stranger.9@x>\n"
             "Content-Type: text/plain; charset=utf-8\n\nلست صاحب الطلب\n",
             ref);
    assert_int_equal(pipe_text(f, text), 0);
    assert_int_equal(wait_count(&f->t, 2, 15000,
                                "SELECT count(*) FROM messages WHERE"
                                " message_id IN ('tag.member.9@x',"
                                " 'tag.stranger.9@x')"),
                     2);
    char *m_ref = case_of(f, "tag.member.9@x");
    char *s_ref = case_of(f, "tag.stranger.9@x");
    assert_string_equal(m_ref, ref);
    assert_string_not_equal(s_ref, ref);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases WHERE ref = '%s'"
                              " AND NOT verified",
                              s_ref),
                     1);
    free(m_ref);
    free(s_ref);

    /* A reply to mail we sent (outbox.sent_message_id) threads too. */
    th_exec(&f->t,
            "INSERT INTO outbox (case_id, event, recipient, template,"
            " created_at, next_attempt_at, status, sent_message_id)"
            " SELECT id, 'case.created', 'abdullah@example.org',"
            " 'acknowledgement', now(), now(), 'sent', 'ours.1@tawasul.invalid'"
            " FROM cases WHERE ref = '%s'",
            ref);
    assert_int_equal(
        pipe_text(f, "From: abdullah@example.org\nTo: m@coop.example\n"
                     "Subject: Re: شكرا\nMessage-ID: <to-ours.1@x>\n"
                     "In-Reply-To: <ours.1@tawasul.invalid>\n"
                     "Content-Type: text/plain; charset=utf-8\n\nتمام\n"),
        0);
    assert_int_equal(wait_count(&f->t, 1, 15000,
                                "SELECT count(*) FROM messages WHERE"
                                " message_id = 'to-ours.1@x'"),
                     1);
    char *o_ref = case_of(f, "to-ours.1@x");
    assert_string_equal(o_ref, ref);
    free(o_ref);
    free(ref);
}

static void replies_reopen_or_link_resolved_cases(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        pipe_text(f, "From: abdullah@example.org\nTo: m@coop.example\n"
                     "Subject: طلب أول\nMessage-ID: <first.r@x>\n\nنص\n"),
        0);
    assert_int_equal(
        pipe_text(f, "From: abdullah@example.org\nTo: m@coop.example\n"
                     "Subject: طلب قديم\nMessage-ID: <old.r@x>\n\nنص\n"),
        0);
    assert_int_equal(wait_count(&f->t, 2, 15000,
                                "SELECT count(*) FROM messages WHERE"
                                " message_id IN ('first.r@x', 'old.r@x')"),
                     2);
    /* One resolved yesterday, one closed 40 days ago. */
    th_exec(&f->t,
            "UPDATE cases SET status = 'resolved' WHERE id = (SELECT case_id"
            " FROM messages WHERE message_id = 'first.r@x');"
            "INSERT INTO case_events (case_id, at, actor, kind, from_status,"
            " to_status) SELECT case_id, now() - interval '1 day', 'sara',"
            " 'transition', 'new', 'resolved' FROM messages WHERE message_id"
            " = 'first.r@x';"
            "UPDATE cases SET status = 'closed', closed_at = now() - interval"
            " '40 days' WHERE id = (SELECT case_id FROM messages WHERE"
            " message_id = 'old.r@x');"
            "INSERT INTO case_events (case_id, at, actor, kind, from_status,"
            " to_status) SELECT case_id, now() - interval '40 days', 'sara',"
            " 'transition', 'resolved', 'closed' FROM messages WHERE"
            " message_id = 'old.r@x'");
    assert_int_equal(
        pipe_text(f, "From: abdullah@example.org\nTo: m@coop.example\n"
                     "Subject: Re: طلب أول\nMessage-ID: <re.first@x>\n"
                     "In-Reply-To: <first.r@x>\n\nلم تحل المشكلة\n"),
        0);
    assert_int_equal(
        pipe_text(f, "From: abdullah@example.org\nTo: m@coop.example\n"
                     "Subject: Re: طلب قديم\nMessage-ID: <re.old@x>\n"
                     "In-Reply-To: <old.r@x>\n\nعودة بعد مدة\n"),
        0);
    assert_int_equal(wait_count(&f->t, 2, 15000,
                                "SELECT count(*) FROM messages WHERE"
                                " message_id IN ('re.first@x', 're.old@x')"),
                     2);
    /* within the window: the same case, back to new, with an email */
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases c JOIN messages m"
                              " ON m.case_id = c.id WHERE m.message_id IN"
                              " ('first.r@x', 're.first@x') AND c.status ="
                              " 'new'"),
                     2);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM case_events e JOIN"
                              " messages m ON m.case_id = e.case_id WHERE"
                              " m.message_id = 'first.r@x' AND e.kind ="
                              " 'status' AND e.from_status = 'resolved'"
                              " AND e.to_status = 'new'"
                              " AND e.actor = 'intake:email'"
                              " AND e.detail->>'message_id' = 're.first@x'"),
                     1);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM outbox o JOIN messages m"
                              " ON m.case_id = o.case_id WHERE m.message_id"
                              " = 'first.r@x' AND o.template = 'reopened'"
                              " AND o.params->>'reason' <> ''"),
                     1);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM outbox o JOIN messages m"
                              " ON m.case_id = o.case_id WHERE m.message_id"
                              " = 'first.r@x' AND o.template ="
                              " 'reply_received'"),
                     0);
    /* after the window: a new case that names the old one */
    char *old_ref = case_of(f, "old.r@x");
    char *new_ref = case_of(f, "re.old@x");
    assert_string_not_equal(old_ref, new_ref);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases WHERE ref = '%s'"
                              " AND contact->>'linked_case' = '%s'",
                              new_ref, old_ref),
                     1);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases WHERE ref = '%s'"
                              " AND status = 'closed'",
                              old_ref),
                     1);
    free(old_ref);
    free(new_ref);
}

static void loops_are_dropped_and_bounces_recorded(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pipe_in(f, "win1256.eml"), 0);
    assert_int_equal(wait_count(&f->t, 1, 15000,
                                "SELECT count(*) FROM messages WHERE"
                                " message_id = 'win1256.1@example.org'"),
                     1);
    th_exec(&f->t,
            "INSERT INTO outbox (case_id, event, recipient, template,"
            " created_at, next_attempt_at, status, sent_message_id)"
            " SELECT case_id, 'case.created', 'nobody@example.org',"
            " 'acknowledgement', now(), now(), 'sent',"
            " 'out.ack.1@tawasul.invalid' FROM messages WHERE message_id ="
            " 'win1256.1@example.org'");
    const char *loops[] = {"auto_reply.eml", "precedence_bulk.eml",
                           "x_loop.eml", "dsn_bounce.eml"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pipe_in(f, loops[i]), 0);
    assert_int_equal(wait_count(&f->t, 1, 15000,
                                "SELECT count(*) FROM outbox WHERE"
                                " sent_message_id = 'out.ack.1@tawasul.invalid'"
                                " AND status = 'failed' AND last_error LIKE"
                                " '%5.1.1%'"),
                     1);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM case_events e JOIN"
                              " messages m ON m.case_id = e.case_id WHERE"
                              " m.message_id = 'win1256.1@example.org' AND"
                              " e.kind = 'mail.bounced' AND"
                              " e.detail->>'recipient' = 'nobody@example.org'"),
                     1);
    char path[400];
    snprintf(path, sizeof path, "%s/new", f->spool);
    for (int i = 0; i < 100 && count_files(path) != 0; i++)
        th_sleep_ms(50);
    assert_int_equal(count_files(path), 0);
    /* no case from any of them */
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM cases"), 1);
    snprintf(path, sizeof path, "%s/failed", f->spool);
    assert_int_equal(count_files(path), 0);
}

static void oversize_is_quarantined_then_reprocessed(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pipe_in(f, "oversize.eml"), 0);
    assert_int_equal(pipe_in(f, "garbage.eml"), 0);
    char failed[400];
    snprintf(failed, sizeof failed, "%s/failed", f->spool);
    for (int i = 0; i < 100 && count_files(failed) != 2; i++)
        th_sleep_ms(50);
    assert_int_equal(count_files(failed), 2);
    char *out = NULL, *err = NULL;
    th_cli(&f->t, &out, NULL, "cat spool/failed/*.reason");
    assert_non_null(strstr(out, "too large"));
    assert_non_null(strstr(out, "not a mail message"));
    free(out);
    /* With the same limits it stays in the quarantine, and says why. */
    int rc = th_cli(&f->t, &out, &err, "tawasul mail reprocess --all");
    if (!strstr(out, "quarantined: too large"))
        fprintf(stderr, "reprocess said: %s%s\n", out, err);
    assert_int_equal(rc, 65);
    assert_non_null(strstr(out, "quarantined: too large"));
    free(out);
    free(err);
    assert_int_equal(count_files(failed), 2);
    /* With a larger limit it makes its case. */
    rc = th_cli(&f->t, &out, &err,
                "sed 's/max_message: 4KB/max_message: 1MB/' tawasul.yaml >"
                " big.yaml && tawasul -c big.yaml mail reprocess"
                " \"$(basename \"$(grep -l 'too large' spool/failed/*.reason"
                " | sed 's/.reason$//')\")\"");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "case created"));
    free(out);
    free(err);
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM messages WHERE"
                                     " message_id = 'big.1@example.com'"),
                     1);
    assert_int_equal(count_files(failed), 1);
}

static void maildir_delivers_and_moves_to_cur(void **state)
{
    struct fx *f = *state;
    char md[400], path[500];
    snprintf(md, sizeof md, "%s/Maildir", f->t.dir);
    make_maildir(md);
    const char *names[] = {"win1256.eml", "iso88596.eml", "oversize.eml",
                           "auto_reply.eml"};
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        char *data = read_fixture(names[i], &len);
        char nm[64];
        snprintf(nm, sizeof nm, "1700000000.M%zuP1.test", i);
        deliver_file(md, nm, data, len);
        free(data);
    }
    const char *args[] = {"--maildir", md, NULL};
    pid_t pid = ingest_spawn(&f->t, "maildir.log", args);
    assert_int_equal(wait_count(&f->t, 2, 15000,
                                "SELECT count(*) FROM cases WHERE"
                                " channel = 'email'"),
                     2);
    snprintf(path, sizeof path, "%s/new", md);
    for (int i = 0; i < 100 && count_files(path) != 0; i++)
        th_sleep_ms(50);
    assert_int_equal(count_files(path), 0);
    snprintf(path, sizeof path, "%s/cur", md);
    assert_int_equal(count_files(path), 3); /* the oversize one is not */
    snprintf(path, sizeof path, "%s/failed", f->spool);
    assert_int_equal(count_files(path), 1);
    /* one more while it runs */
    size_t len;
    char *data = read_fixture("html_only.eml", &len);
    deliver_file(md, "1700000001.M9P1.test", data, len);
    free(data);
    assert_int_equal(wait_count(&f->t, 3, 15000,
                                "SELECT count(*) FROM cases WHERE"
                                " channel = 'email'"),
                     3);
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM cases WHERE"
                                     " subject = 'استفسار عن الأرباح'"),
                     1);
    assert_int_equal(ingest_stop(pid, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pipe_makes_cases_with_arabic_decoded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(replies_thread_and_strangers_do_not,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(replies_reopen_or_link_resolved_cases,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(loops_are_dropped_and_bounces_recorded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            oversize_is_quarantined_then_reprocessed, setup, teardown),
        cmocka_unit_test_setup_teardown(maildir_delivers_and_moves_to_cur,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
