/*
 * test_ingest_crash - 1,000 messages flow from a Maildir and the pipe while
 * tawasul-ingest-email and then tawasul-engine are killed with SIGKILL in
 * the middle of their batches. Afterwards every message is exactly one
 * case or one message on a case: none lost, none twice.
 */
#include "ingest_util.h"

#define TOTAL   1000
#define PARENTS 700 /* the rest are replies to these */
#define PIPED   100 /* of the parents, fed through --pipe */

static int setup(void **state)
{
    struct th *t = tw_calloc(1, sizeof *t);
    th_setup(t, "icrash", INGEST_YAML);
    th_migrate(t);
    th_exec(t, "INSERT INTO members (member_no, name, email, lang) VALUES"
               " ('1001', 'عبدالله الدوسري', 'abdullah@example.org', 'ar')");
    th_engine_start(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct th *t = *state;
    th_teardown(t);
    free(t);
    return 0;
}

/* message - the text of message I */
static int message(char *buf, size_t size, int i)
{
    if (i < PARENTS)
        return snprintf(buf, size,
                        "From: member%d@example.org\nTo: m@coop.example\n"
                        "Subject: =?utf-8?B?2LfZhNioINix2YLZhQ==?= %d\n"
                        "Message-ID: <crash.%d@example.org>\n"
                        "Content-Type: text/plain; charset=utf-8\n\n"
                        "نص الطلب رقم %d\n",
                        i % 50, i, i, i);
    int parent = i % PARENTS;
    return snprintf(
        buf, size,
        "From: member%d@example.org\nTo: m@coop.example\n"
        "Subject: Re: reply %d\nMessage-ID: <crash.%d@example.org>\n"
        "In-Reply-To: <crash.%d@example.org>\n"
        "Content-Type: text/plain; charset=utf-8\n\nرد %d\n",
        parent % 50, i, i, parent, i);
}

static const char set_sql[] = "message_id LIKE 'crash.%%@example.org'";

/* done_count - messages of the set stored */
static long done_count(struct th *t)
{
    return th_count(t, "SELECT count(*) FROM messages WHERE %s", set_sql);
}

/* wait_for - until at least N of the set are stored (at most 60 s) */
static void wait_for(struct th *t, long n)
{
    for (int i = 0; i < 6000 && done_count(t) < n; i++)
        th_sleep_ms(10);
}

static void kill_ingest_and_engine_mid_batch(void **state)
{
    struct th *t = *state;
    char md[400];
    snprintf(md, sizeof md, "%s/Maildir", t->dir);
    make_maildir(md);
    /* Parents first (the Maildir's names sort by time), replies after. */
    char buf[1024], name[64];
    for (int i = 0; i < TOTAL; i++) {
        if (i >= PARENTS - PIPED && i < PARENTS)
            continue; /* piped below */
        int len = message(buf, sizeof buf, i);
        snprintf(name, sizeof name, "17%08d.M%dP1.crash", i, i);
        deliver_file(md, name, buf, (size_t)len);
    }
    /* The pipe spools its share first, the daemons take it all at once. */
    for (int i = PARENTS - PIPED; i < PARENTS; i++) {
        char path[500];
        int len = message(buf, sizeof buf, i);
        snprintf(path, sizeof path, "%s/p.eml", t->dir);
        FILE *f = fopen(path, "wb");
        fwrite(buf, 1, (size_t)len, f);
        fclose(f);
        assert_int_equal(
            th_cli(t, NULL, NULL, "tawasul-ingest-email --pipe < p.eml"), 0);
    }

    const char *args[] = {"--maildir", md, NULL};
    pid_t ingest = ingest_spawn(t, "ingest1.log", args);
    /* a second daemon delivers what the pipe spools, killed below too */
    const char *none[] = {NULL};
    pid_t drain = ingest_spawn(t, "drain1.log", none);
    wait_for(t, 150);
    assert_int_equal(ingest_stop(ingest, SIGKILL), 128 + SIGKILL);
    assert_int_equal(ingest_stop(drain, SIGKILL), 128 + SIGKILL);
    long at_kill = done_count(t);
    ingest = ingest_spawn(t, "ingest2.log", args);
    drain = ingest_spawn(t, "drain2.log", none);

    wait_for(t, at_kill + 200);
    assert_int_equal(th_engine_stop(t, SIGKILL), 128 + SIGKILL);
    long at_engine_kill = done_count(t);
    fprintf(stderr, "stored when the ingest was killed: %ld, the engine: %ld\n",
            at_kill, at_engine_kill);
    assert_true(at_kill < TOTAL); /* the kills came mid-flow */
    th_sleep_ms(300);
    th_engine_start(t);

    assert_int_equal(wait_count(t, TOTAL, 60000,
                                "SELECT count(*) FROM messages WHERE message_id"
                                " LIKE 'crash.%@example.org'"),
                     TOTAL);
    th_sleep_ms(500);
    /* exactly once each */
    assert_int_equal(th_count(t,
                              "SELECT count(DISTINCT message_id) FROM messages"
                              " WHERE %s",
                              set_sql),
                     TOTAL);
    assert_int_equal(done_count(t), TOTAL);
    /* each is a case's first message or a message threaded onto a case */
    long cases = th_count(t,
                          "SELECT count(*) FROM cases c WHERE EXISTS (SELECT 1"
                          " FROM messages m WHERE m.case_id = c.id AND %s)",
                          set_sql);
    long threaded = th_count(t,
                             "SELECT count(*) FROM messages WHERE %s AND"
                             " intake_key IS NOT NULL",
                             set_sql);
    assert_int_equal(cases + threaded, TOTAL);
    assert_true(threaded > 0);
    assert_int_equal(th_count(t, "SELECT count(*) FROM case_events WHERE"
                                 " kind = 'created'"),
                     cases);
    /* the sources are empty: Maildir new/ and the spool */
    char path[500];
    snprintf(path, sizeof path, "%s/new", md);
    for (int i = 0; i < 100 && count_files(path) != 0; i++)
        th_sleep_ms(50);
    assert_int_equal(count_files(path), 0);
    snprintf(path, sizeof path, "%s/cur", md);
    assert_int_equal(count_files(path), TOTAL - PIPED);
    snprintf(path, sizeof path, "%s/spool/new", t->dir);
    for (int i = 0; i < 100 && count_files(path) != 0; i++)
        th_sleep_ms(50);
    assert_int_equal(count_files(path), 0);
    snprintf(path, sizeof path, "%s/spool/failed", t->dir);
    assert_int_equal(count_files(path), 0);
    assert_int_equal(ingest_stop(ingest, SIGTERM), 0);
    assert_int_equal(ingest_stop(drain, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kill_ingest_and_engine_mid_batch, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
