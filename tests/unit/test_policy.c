/*
 * test_policy.c - the status machine's table (common/lifecycle.c) and
 * the SLA settings per category (common/policy.c, through the config
 * loader's maps of named entries).
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

#include "clock.h"
#include "config.h"
#include "error.h"
#include "lifecycle.h"
#include "policy.h"

/* Who may move a case out of which status (DESIGN.md). */
static void test_roles(void **state)
{
    (void)state;
    const struct tw_transition *t = tw_transition_find("new", "in_committee");
    assert_non_null(t);
    assert_true(tw_transition_allowed(t, TW_ROLE_AGENT));
    assert_false(tw_transition_allowed(t, TW_ROLE_COMMITTEE));
    assert_true(tw_transition_allowed(t, TW_ROLE_MANAGER));

    t = tw_transition_find("with_researcher", "in_committee");
    assert_non_null(t);
    assert_false(tw_transition_allowed(t, TW_ROLE_AGENT));
    assert_true(tw_transition_allowed(t, TW_ROLE_RESEARCHER));

    t = tw_transition_find("in_committee", "rejected");
    assert_non_null(t);
    assert_string_equal(t->template, "rejected");
    assert_false(tw_transition_allowed(t, TW_ROLE_AGENT | TW_ROLE_RESEARCHER));
    assert_true(tw_transition_allowed(t, TW_ROLE_COMMITTEE));

    t = tw_transition_find("closed", "new");
    assert_non_null(t);
    assert_false(tw_transition_allowed(t, TW_ROLE_AGENT));
    assert_true(tw_transition_allowed(t, TW_ROLE_ADMIN));

    assert_null(tw_transition_find("new", "accepted"));
    assert_null(tw_transition_find("withdrawn", "new"));
    assert_int_equal(tw_role_parse("committee"), TW_ROLE_COMMITTEE);
    assert_int_equal(tw_role_parse("boss"), 0);
}

/* Every open status can be withdrawn; the final ones say so. */
static void test_next_steps(void **state)
{
    (void)state;
    static const char *const open[] = {
        "new",          "awaiting_member", "with_researcher",
        "in_committee", "accepted",        "in_service"};
    for (size_t i = 0; i < sizeof open / sizeof open[0]; i++) {
        assert_true(tw_status_open(open[i]));
        assert_non_null(tw_transition_find(open[i], "withdrawn"));
    }
    char buf[256];
    assert_string_equal(tw_next_steps("closed", buf, sizeof buf),
                        "reopen (new)");
    assert_string_equal(tw_next_steps("withdrawn", buf, sizeof buf), "none");
    assert_false(tw_status_open("rejected"));
    assert_false(tw_status_valid("pending"));
}

/* write_file - TEXT into a temporary file; its path (static) */
static const char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tw-test-policy-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Per-category settings override the defaults; others inherit them. */
static void test_policy_categories(void **state)
{
    (void)state;
    const char *path =
        write_file("sla:\n"
                   "  warn_before: 2d\n"
                   "  categories:\n"
                   "    support:\n"
                   "      decision_within: 10d\n"
                   "      calendar: business\n"
                   "      committee_requires: [member, income]\n"
                   "    dividends:\n"
                   "      warn_before: 25%\n"
                   "calendar:\n"
                   "  holidays: [\"2026-12-02 National Day\"]\n");
    struct tw_policy_config cfg;
    struct tw_cfg_table t = {tw_policy_config_keys, &cfg};
    char *errors = NULL;
    assert_int_equal(tw_config_load(path, &t, 1, &errors), TW_OK);
    unlink(path);
    struct tw_policy *p = NULL;
    char err[256];
    assert_int_equal(
        tw_policy_build(&cfg, "Asia/Riyadh", NULL, 0, &p, err, sizeof err),
        TW_OK);
    const struct tw_sla_policy *s = tw_policy_sla(p, "support");
    assert_true(s->decision_within == 10 * TW_DAY);
    assert_int_equal(s->mode, TW_SLA_BUSINESS);
    assert_true(s->warn_before == 2 * TW_DAY);
    s = tw_policy_sla(p, "dividends");
    assert_true(s->decision_within == 14 * TW_DAY);
    assert_int_equal(s->warn_before_pct, 25);
    s = tw_policy_sla(p, "anything");
    assert_int_equal(s->mode, TW_SLA_CALENDAR);
    size_t n;
    char *const *req = tw_policy_requires(p, "support", &n);
    assert_int_equal(n, 2);
    assert_string_equal(req[1], "income");
    assert_int_equal(tw_policy_calendar(p)->nholidays, 1);

    /* A calendar-mode case: due 14 calendar days later, warned 2 before;
     * a pause of 5 days moves both by 5 days. */
    tw_time start = 1795000000 * TW_SEC, due, warn;
    tw_policy_deadlines(p, "other", start, NULL, 0, &due, &warn);
    assert_true(due == start + 14 * TW_DAY);
    assert_true(warn == start + 12 * TW_DAY);
    struct tw_interval pause = {start + TW_DAY, start + 6 * TW_DAY};
    tw_policy_deadlines(p, "other", start, &pause, 1, &due, &warn);
    assert_true(due == start + 19 * TW_DAY);
    pause.to = 0; /* still paused: no due time yet */
    tw_policy_deadlines(p, "other", start, &pause, 1, &due, &warn);
    assert_true(due == TW_TIME_NEVER);

    /* The fingerprint follows the settings, holidays included. */
    struct tw_policy *q = NULL;
    int32_t extra = 20800;
    assert_int_equal(
        tw_policy_build(&cfg, "Asia/Riyadh", &extra, 1, &q, err, sizeof err),
        TW_OK);
    assert_string_not_equal(tw_policy_fingerprint(p), tw_policy_fingerprint(q));
    tw_policy_destroy(&q);
    assert_int_equal(
        tw_policy_build(&cfg, "Asia/Riyadh", NULL, 0, &q, err, sizeof err),
        TW_OK);
    assert_string_equal(tw_policy_fingerprint(p), tw_policy_fingerprint(q));
    tw_policy_destroy(&q);
    tw_policy_destroy(&p);
    assert_null(p);
    tw_config_free(&t, 1);
}

/* Mistakes are named with file:line:column or the key. */
static void test_policy_errors(void **state)
{
    (void)state;
    const char *path = write_file("sla:\n"
                                  "  categories:\n"
                                  "    support:\n"
                                  "      decision_in: 10d\n");
    struct tw_policy_config cfg;
    struct tw_cfg_table t = {tw_policy_config_keys, &cfg};
    char *errors = NULL;
    assert_int_equal(tw_config_load(path, &t, 1, &errors), TW_PERMFAIL);
    assert_non_null(strstr(errors, ":4:7: unknown key "
                                   "\"sla.categories.support.decision_in\""));
    free(errors);
    tw_config_free(&t, 1);
    unlink(path);

    path = write_file("sla:\n"
                      "  categories:\n"
                      "    support:\n"
                      "      warn_before: soon\n");
    assert_int_equal(tw_config_load(path, &t, 1, &errors), TW_OK);
    unlink(path);
    struct tw_policy *p = NULL;
    char err[256];
    assert_int_equal(
        tw_policy_build(&cfg, "Asia/Riyadh", NULL, 0, &p, err, sizeof err),
        TW_PERMFAIL);
    assert_non_null(strstr(err, "sla.categories.support.warn_before"));
    assert_null(p);
    tw_config_free(&t, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_next_steps),
        cmocka_unit_test(test_policy_categories),
        cmocka_unit_test(test_policy_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
