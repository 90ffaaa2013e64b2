/*
 * test_sla.c - the two-week promise: due fourteen calendar days after
 * receipt at the same local time, whatever daylight saving does between.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "clock.h"
#include "error.h"
#include "sla.h"

/* at - parse S or fail the test */
static tw_time at(const char *s)
{
    tw_time t = 0;
    if (tw_time_parse(s, &t) != TW_OK)
        fail_msg("did not parse: \"%s\"", s);
    return t;
}

static void test_default_is_two_weeks(void **state)
{
    struct tw_sla_policy p;
    (void)state;
    tw_sla_policy_default(&p);
    assert_true(p.decision_within == 14 * TW_DAY);
}

static void test_riyadh_exactly_fourteen_days(void **state)
{
    struct tw_sla_policy p;
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    assert_int_equal(tw_clock_set_zone("Asia/Riyadh"), TW_OK);
    tw_sla_policy_default(&p);
    tw_time received = at("2026-11-25T18:20:44.123456+03:00");
    tw_time due = tw_sla_due_at(&p, received);
    assert_true(due - received == 14 * TW_DAY);
    assert_string_equal(tw_time_iso(due, 1, buf),
                        "2026-12-09T18:20:44.123456+03:00");
}

static void test_berlin_keeps_local_time_across_dst(void **state)
{
    struct tw_sla_policy p;
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    assert_int_equal(tw_clock_set_zone("Europe/Berlin"), TW_OK);
    tw_sla_policy_default(&p);
    /* received in winter time, due in summer time: one hour less elapses */
    tw_time received = at("2026-03-20T10:00:00+01:00");
    tw_time due = tw_sla_due_at(&p, received);
    assert_string_equal(tw_time_iso(due, 0, buf), "2026-04-03T10:00:00+02:00");
    assert_true(due - received == 14 * TW_DAY - TW_HOUR);
    /* and the other way in October */
    received = at("2026-10-20T09:30:00+02:00");
    due = tw_sla_due_at(&p, received);
    assert_string_equal(tw_time_iso(due, 0, buf), "2026-11-03T09:30:00+01:00");
    assert_true(due - received == 14 * TW_DAY + TW_HOUR);
}

static void test_remainder_is_elapsed_time(void **state)
{
    struct tw_sla_policy p = {.decision_within = 36 * TW_HOUR};
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    assert_int_equal(tw_clock_set_zone("Europe/Berlin"), TW_OK);
    /* one calendar day (23 hours that Sunday), then twelve real hours */
    tw_time received = at("2026-03-28T12:00:00+01:00");
    tw_time due = tw_sla_due_at(&p, received);
    assert_string_equal(tw_time_iso(due, 0, buf), "2026-03-30T00:00:00+02:00");
    /* less than a day is plain elapsed time */
    p.decision_within = 90 * TW_MIN;
    assert_true(tw_sla_due_at(&p, received) == received + 90 * TW_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_two_weeks),
        cmocka_unit_test(test_riyadh_exactly_fourteen_days),
        cmocka_unit_test(test_berlin_keeps_local_time_across_dst),
        cmocka_unit_test(test_remainder_is_elapsed_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
