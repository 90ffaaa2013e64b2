/*
 * test_ingest_imap - tawasul-ingest-email --imap against a real dovecot
 * started by the test (its own config, passwd-file user and Maildir):
 * mail in the mailbox becomes cases with Arabic decoded, is moved to the
 * processed folder, and is taken once even when fetched again.
 */
#include "ingest_util.h"

#include <sys/types.h>

struct fx {
    struct th t;
    pid_t dovecot;
    int port;
    char home[400];
};

/* write_file - PATH with TEXT */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        fail_msg("%s: cannot write", path);
}

/* start_dovecot - a private dovecot on F->port with user tw/secret */
static void start_dovecot(struct fx *f)
{
    char conf[400], path[2600], text[4000];
    const char *d = f->t.dir;
    if (chmod(d, 0755) != 0)
        fail_msg("chmod %s: %s", d, strerror(errno));
    snprintf(f->home, sizeof f->home, "%s/home/tw", d);
    snprintf(path, sizeof path,
             "mkdir -p '%s/run' '%s/Maildir/new' '%s/Maildir/cur'"
             " '%s/Maildir/tmp' && chown -R 65534:65534 '%s/home'",
             d, f->home, f->home, f->home, d);
    if (system(path) != 0)
        fail_msg("cannot make the mail home");
    snprintf(path, sizeof path, "%s/passwd", d);
    write_file(path, "tw:{PLAIN}secret::::::\n");
    snprintf(
        text, sizeof text,
        "base_dir = %s/run\nlog_path = %s/dovecot.log\n"
        "state_dir = %s/run/state\nprotocols = imap\n"
        "listen = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\n"
        "auth_mechanisms = plain login\nmail_location = maildir:~/Maildir\n"
        "passdb {\n  driver = passwd-file\n"
        "  args = scheme=PLAIN username_format=%%u %s/passwd\n}\n"
        "userdb {\n  driver = static\n"
        "  args = uid=65534 gid=65534 home=%s/home/%%u\n}\n"
        "service imap-login {\n  chroot =\n"
        "  inet_listener imap {\n    address = 127.0.0.1\n"
        "    port = %d\n  }\n  inet_listener imaps {\n    port = 0\n"
        "  }\n}\nservice anvil {\n  chroot =\n}\n",
        d, d, d, d, d, f->port);
    snprintf(conf, sizeof conf, "%s/dovecot.conf", d);
    write_file(conf, text);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp("dovecot", "dovecot", "-F", "-c", conf, (char *)NULL);
        _exit(127);
    }
    f->dovecot = pid;
    /* ready when a login works */
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path,
                 "curl -s -m 2 --user tw:secret imap://127.0.0.1:%d/INBOX"
                 " -X NOOP >/dev/null 2>&1",
                 f->port);
        if (system(path) == 0)
            return;
        th_sleep_ms(100);
    }
    fail_msg("dovecot did not start (see %s/dovecot.log)", d);
}

static int setup(void **state)
{
    if (geteuid() != 0) {
        *state = NULL;
        return 0;
    }
    struct fx *f = tw_calloc(1, sizeof *f);
    f->port = 20000 + (int)(getpid() % 20000);
    char extra[600];
    snprintf(extra, sizeof extra,
             INGEST_YAML "  imap:\n    url: \"imap://127.0.0.1:%d/INBOX\"\n"
                         "    username: tw\n    password: secret\n"
                         "    interval: 300ms\n    batch: 3\n",
             f->port);
    th_setup(&f->t, "imap", extra);
    th_migrate(&f->t);
    th_engine_start(&f->t);
    start_dovecot(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (!f)
        return 0;
    if (f->dovecot) {
        kill(f->dovecot, SIGTERM);
        waitpid(f->dovecot, NULL, 0);
    }
    th_teardown(&f->t);
    free(f);
    return 0;
}

/* put_mail - fixture NAME straight into the mailbox's new/ (unseen) */
static void put_mail(struct fx *f, const char *name, const char *as)
{
    size_t len;
    char *data = read_fixture(name, &len);
    char md[500], cmd[800];
    snprintf(md, sizeof md, "%s/Maildir", f->home);
    deliver_file(md, as, data, len);
    free(data);
    snprintf(cmd, sizeof cmd, "chown 65534:65534 '%s/new/%s'", md, as);
    if (system(cmd) != 0)
        fail_msg("chown failed");
}

static void imap_mail_becomes_cases_and_moves(void **state)
{
    struct fx *f = *state;
    if (!f)
        skip();
    const char *names[] = {"win1256.eml", "iso88596.eml", "html_only.eml",
                           "attachment_arabic.eml", "auto_reply.eml"};
    for (size_t i = 0; i < 5; i++) {
        char as[64];
        snprintf(as, sizeof as, "17000000%02zu.M1P1.test", i);
        put_mail(f, names[i], as);
    }
    const char *args[] = {"--imap", NULL};
    pid_t pid = ingest_spawn(&f->t, "imap.log", args);
    assert_int_equal(wait_count(&f->t, 4, 20000,
                                "SELECT count(*) FROM cases WHERE"
                                " channel = 'email'"),
                     4);
    assert_int_equal(th_count(&f->t,
                              "SELECT count(*) FROM cases c JOIN messages m"
                              " ON m.case_id = c.id WHERE c.subject ="
                              " 'طلب تحديث بيانات العضوية' AND m.body LIKE"
                              " '%%أرجو تحديث بيانات عضويتي%%'"),
                     1);
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM attachments WHERE"
                                     " filename = 'كشف حساب.pdf'"),
                     1);
    /* the mailbox is empty; the processed folder holds all five */
    char path[600];
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "%s/Maildir/.Processed/cur", f->home);
        long moved = count_files(path);
        snprintf(path, sizeof path, "%s/Maildir/.Processed/new", f->home);
        moved += count_files(path);
        if (moved == 5)
            break;
        th_sleep_ms(100);
    }
    snprintf(path, sizeof path, "%s/Maildir/cur", f->home);
    long left = count_files(path);
    snprintf(path, sizeof path, "%s/Maildir/new", f->home);
    left += count_files(path);
    assert_int_equal(left, 0);

    /* The same mail again (a crash before the move would do this): no
     * second case. */
    put_mail(f, "win1256.eml", "1700000099.M1P1.test");
    put_mail(f, "alternative.eml", "1700000098.M1P1.test");
    assert_int_equal(wait_count(&f->t, 5, 20000,
                                "SELECT count(*) FROM cases WHERE"
                                " channel = 'email'"),
                     5);
    th_sleep_ms(1000);
    assert_int_equal(th_count(&f->t, "SELECT count(*) FROM cases WHERE"
                                     " channel = 'email'"),
                     5);
    assert_int_equal(ingest_stop(pid, SIGTERM), 0);
}

static void wrong_password_is_reported(void **state)
{
    struct fx *f = *state;
    if (!f)
        skip();
    char *out = NULL, *err = NULL;
    int rc = th_cli(&f->t, &out, &err,
                    "TAWASUL_IMAP_PASSWORD=wrong timeout 3"
                    " tawasul-ingest-email --imap -c tawasul.yaml; echo $?");
    assert_non_null(strstr(err, "login denied"));
    (void)rc;
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(imap_mail_becomes_cases_and_moves,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_password_is_reported, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
