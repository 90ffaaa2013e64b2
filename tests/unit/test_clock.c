/*
 * test_clock.c - time as people see it: ISO text in and out in the site's
 * zone, calendar days across daylight saving, durations as written in the
 * config file, and backoff that grows but never past its ceiling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"

/* 2026-11-25T15:20:44Z */
#define T0 (INT64_C(1795620044) * TW_SEC)

/* set_zone - switch the site's zone or fail the test */
static void set_zone(const char *name)
{
    assert_int_equal(tw_clock_set_zone(name), TW_OK);
    assert_string_equal(tw_clock_zone(), name);
}

/* parse - parse S, failing the test if it does not parse */
static tw_time parse(const char *s)
{
    tw_time t = 0;
    if (tw_time_parse(s, &t) != TW_OK)
        fail_msg("did not parse: \"%s\"", s);
    return t;
}

static void test_now_moves(void **state)
{
    (void)state;
    tw_time a = tw_clock_now(), m = tw_clock_mono();
    assert_true(a > INT64_C(1700000000) * TW_SEC);
    assert_true(tw_clock_mono() >= m);
}

static void test_zone_rejects_unknown(void **state)
{
    (void)state;
    set_zone("Asia/Riyadh");
    assert_int_equal(tw_clock_set_zone("Mars/Olympus_Mons"), TW_PERMFAIL);
    assert_int_equal(tw_clock_set_zone("../../etc/passwd"), TW_PERMFAIL);
    assert_int_equal(tw_clock_set_zone("/etc/localtime"), TW_PERMFAIL);
    assert_int_equal(tw_clock_set_zone(""), TW_PERMFAIL);
    assert_int_equal(tw_clock_set_zone("zone.tab"), TW_PERMFAIL);
    assert_int_equal(tw_clock_set_zone("Asia"), TW_PERMFAIL);
    /* a refused zone leaves the old one in use */
    assert_string_equal(tw_clock_zone(), "Asia/Riyadh");
}

static void test_iso_riyadh(void **state)
{
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    set_zone("Asia/Riyadh");
    assert_string_equal(tw_time_iso(T0, 0, buf), "2026-11-25T18:20:44+03:00");
    assert_string_equal(tw_time_iso(T0 + 123456, 1, buf),
                        "2026-11-25T18:20:44.123456+03:00");
    assert_string_equal(tw_time_iso(T0 + 5, 1, buf),
                        "2026-11-25T18:20:44.000005+03:00");
    assert_string_equal(tw_time_iso_utc(T0 + 123456, 1, buf),
                        "2026-11-25T15:20:44.123456Z");
    assert_string_equal(tw_time_iso_utc(T0, 0, buf), "2026-11-25T15:20:44Z");
    /* before the epoch the microseconds still count forward */
    assert_string_equal(tw_time_iso_utc(-1, 1, buf),
                        "1969-12-31T23:59:59.999999Z");
}

static void test_iso_utc_zone_has_offset(void **state)
{
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    set_zone("UTC");
    assert_string_equal(tw_time_iso(T0, 0, buf), "2026-11-25T15:20:44+00:00");
    set_zone("America/St_Johns"); /* -03:30 in November */
    assert_string_equal(tw_time_iso(T0, 0, buf), "2026-11-25T11:50:44-03:30");
}

static void test_parse_forms(void **state)
{
    (void)state;
    set_zone("Asia/Riyadh");
    assert_true(parse("2026-11-25T18:20:44+03:00") == T0);
    assert_true(parse("2026-11-25 18:20:44+03:00") == T0);
    assert_true(parse("2026-11-25T18:20:44+0300") == T0);
    assert_true(parse("2026-11-25T18:20:44+03") == T0);
    assert_true(parse("2026-11-25T15:20:44Z") == T0);
    assert_true(parse("2026-11-25T10:50:44-04:30") == T0);
    assert_true(parse("2026-11-25T15:20Z") == T0 - 44 * TW_SEC);
    assert_true(parse("2026-11-25T15:20:44.5Z") == T0 + 500000);
    assert_true(parse("2026-11-25T15:20:44.123456Z") == T0 + 123456);
    /* more than six digits: truncated, not rounded */
    assert_true(parse("2026-11-25T15:20:44.1234569Z") == T0 + 123456);
    /* no zone: the site's */
    assert_true(parse("2026-11-25T18:20:44") == T0);
    assert_true(parse("2026-11-25") == INT64_C(1795554000) * TW_SEC);
    assert_true(parse("2028-02-29") > 0); /* a leap day */
}

static void test_parse_no_zone_follows_site(void **state)
{
    (void)state;
    set_zone("UTC");
    assert_true(parse("2026-11-25T15:20:44") == T0);
    set_zone("Europe/Berlin"); /* +01:00 in November */
    assert_true(parse("2026-11-25T16:20:44") == T0);
    /* +02:00 in summer */
    assert_true(parse("2026-07-01T12:00") == parse("2026-07-01T10:00Z"));
}

static void test_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "2026",
        "2026-11",
        "26-11-25",
        "2026-1-25",
        "2026-13-01",
        "2026-00-10",
        "2026-02-29", /* not a leap year */
        "2026-04-31",
        "2026-11-00",
        "2026-11-25T",
        "2026-11-25T18",
        "2026-11-25T24:00",
        "2026-11-25T18:60",
        "2026-11-25T18:20:60",
        "2026-11-25T18:20:44.",
        "2026-11-25T18:20:44.x",
        "2026-11-25T18:20:44+3",
        "2026-11-25T18:20:44+03:0",
        "2026-11-25T18:20:44+24:00",
        "2026-11-25T18:20:44+03:60",
        "2026-11-25T18:20:44+03:00x",
        "2026-11-25T18:20:44 ",
        "2026-11-25T18:20:44z",
        "2026-11-25Z",
        "2026-11-25X18:20",
        " 2026-11-25",
        "2026/11/25",
    };
    tw_time t = 42;
    (void)state;
    set_zone("Asia/Riyadh");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tw_time_parse(bad[i], &t) != TW_PERMFAIL)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_true(t == 42); /* untouched on failure */
    assert_int_equal(tw_time_parse(NULL, &t), TW_PERMFAIL);
}

static void test_round_trips(void **state)
{
    static const char *const zones[] = {"Asia/Riyadh", "UTC", "Europe/Berlin"};
    static const tw_time times[] = {
        T0,
        T0 + 999999,
        INT64_C(1774746000) * TW_SEC + 1, /* 2026-03-29T01:00Z: Berlin +2 */
        INT64_C(1792893600) * TW_SEC,     /* 2026-10-25T02:00Z */
        0,
        -1,
        INT64_C(253402128000) * TW_SEC, /* 9999-12-30T00:00Z */
    };
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        set_zone(zones[z]);
        for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
            assert_true(parse(tw_time_iso(times[i], 1, buf)) == times[i]);
            assert_true(parse(tw_time_iso_utc(times[i], 1, buf)) == times[i]);
            tw_time whole = times[i] - ((times[i] % TW_SEC) + TW_SEC) % TW_SEC;
            assert_true(parse(tw_time_iso(times[i], 0, buf)) == whole);
        }
    }
}

static void test_local_year(void **state)
{
    tw_time t = INT64_C(1798750800) * TW_SEC; /* 2026-12-31T21:00Z */
    (void)state;
    set_zone("Asia/Riyadh");
    assert_int_equal(tw_time_local_year(t - 1), 2026);
    assert_int_equal(tw_time_local_year(t), 2027); /* midnight in Riyadh */
    set_zone("UTC");
    assert_int_equal(tw_time_local_year(t), 2026);
}

static void test_add_days_riyadh(void **state)
{
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    set_zone("Asia/Riyadh");
    assert_true(tw_time_add_days(T0 + 7, 14) == T0 + 14 * TW_DAY + 7);
    assert_true(tw_time_add_days(T0, -30) == T0 - 30 * TW_DAY);
    assert_true(tw_time_add_days(T0, 0) == T0);
    assert_string_equal(tw_time_iso(tw_time_add_days(T0, 37), 0, buf),
                        "2027-01-01T18:20:44+03:00");
}

static void test_add_days_across_dst(void **state)
{
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    set_zone("Europe/Berlin");
    /* clocks go forward on 2026-03-29: that day has 23 hours */
    tw_time sat = parse("2026-03-28T12:00:00.25+01:00");
    tw_time sun = tw_time_add_days(sat, 1);
    assert_string_equal(tw_time_iso(sun, 1, buf),
                        "2026-03-29T12:00:00.250000+02:00");
    assert_true(sun - sat == 23 * TW_HOUR);
    /* and back on 2026-10-25: 25 hours */
    tw_time oct = parse("2026-10-24T12:00+02:00");
    tw_time after = tw_time_add_days(oct, 1);
    assert_string_equal(tw_time_iso(after, 0, buf),
                        "2026-10-25T12:00:00+01:00");
    assert_true(after - oct == 25 * TW_HOUR);
    /* and backwards over the same change */
    assert_true(tw_time_add_days(sun, -1) == sat);
}

static void test_duration_parse(void **state)
{
    static const struct {
        const char *text;
        int64_t usec;
    } good[] = {
        {"14d", 14 * TW_DAY},
        {"36h", 36 * TW_HOUR},
        {"90m", 90 * TW_MIN},
        {"45s", 45 * TW_SEC},
        {"250ms", 250 * TW_MSEC},
        {"1d12h", 36 * TW_HOUR},
        {"1h30m15s", TW_HOUR + 30 * TW_MIN + 15 * TW_SEC},
        {"1m500ms", TW_MIN + 500 * TW_MSEC},
        {"1ms500us", 1500},
        {"30", 30 * TW_SEC},
        {"0", 0},
        {"0s", 0},
        {"007m", 7 * TW_MIN},
    };
    static const char *const bad[] = {
        "",
        "-5s",
        "+5s",
        "14x",
        "d",
        "1.5h",
        "5 s",
        " 5s",
        "5s ",
        "1d12",
        "12h1d",
        "1h1h",
        "1m1m",
        "ms",
        "1mss",
        "1S",
        "1 d",
        "1d-1h",
        "1sm",
        "9223372036854775807s", /* overflows in microseconds */
        "99999999999999999999", /* overflows as a number */
        "106751992d",           /* just past INT64_MAX microseconds */
        "106751991d5h",
    };
    int64_t v;
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        v = -1;
        if (tw_duration_parse(good[i].text, &v) != TW_OK)
            fail_msg("rejected \"%s\"", good[i].text);
        assert_true(v == good[i].usec);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tw_duration_parse(bad[i], &v) != TW_PERMFAIL)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(tw_duration_parse(NULL, &v), TW_PERMFAIL);
    assert_int_equal(tw_duration_parse("106751991d4h", &v), TW_OK);
}

static void test_duration_format(void **state)
{
    static const struct {
        int64_t usec;
        const char *text;
    } cases[] = {
        {14 * TW_DAY, "14d"},     {36 * TW_HOUR, "1d12h"},
        {90 * TW_MIN, "1h30m"},   {45 * TW_SEC, "45s"},
        {250 * TW_MSEC, "250ms"}, {0, "0s"},
        {1500, "1ms500us"},       {TW_DAY + TW_SEC, "1d1s"},
        {-90 * TW_SEC, "-1m30s"},
    };
    char buf[64];
    int64_t back;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(tw_duration_format(cases[i].usec, buf, sizeof buf),
                            cases[i].text);
        if (cases[i].usec >= 0) {
            assert_int_equal(tw_duration_parse(buf, &back), TW_OK);
            assert_true(back == cases[i].usec);
        }
    }
    /* every formatted value reads back */
    for (int64_t d = 1; d < INT64_MAX / 7; d = d * 7 + 3) {
        tw_duration_format(d, buf, sizeof buf);
        assert_int_equal(tw_duration_parse(buf, &back), TW_OK);
        assert_true(back == d);
    }
    /* truncated to the buffer, always terminated */
    assert_string_equal(tw_duration_format(36 * TW_HOUR, buf, 4), "1d1");
    assert_true(tw_duration_format(INT64_MIN, buf, sizeof buf) == buf);
}

static void test_backoff(void **state)
{
    struct tw_backoff b;
    int64_t nominal = 100 * TW_MSEC, prev_max = 0;
    (void)state;
    tw_backoff_init(&b, 100 * TW_MSEC, 2 * TW_SEC);
    for (int i = 0; i < 12; i++) {
        int64_t d = tw_backoff_next(&b);
        /* at most 25% below the nominal delay, never above it or the max */
        assert_true(d <= nominal);
        assert_true(d >= nominal - nominal / 4);
        assert_true(d <= 2 * TW_SEC);
        assert_true(nominal >= prev_max); /* grows, then stays */
        prev_max = nominal;
        nominal = nominal * 2 > 2 * TW_SEC ? 2 * TW_SEC : nominal * 2;
    }
    tw_backoff_reset(&b);
    int64_t d = tw_backoff_next(&b);
    assert_true(d <= 100 * TW_MSEC && d >= 75 * TW_MSEC);

    /* jitter varies between calls */
    int differ = 0;
    int64_t first = -1;
    for (int i = 0; i < 20; i++) {
        tw_backoff_init(&b, TW_SEC, TW_SEC);
        d = tw_backoff_next(&b);
        if (first < 0)
            first = d;
        differ |= d != first;
    }
    assert_true(differ);

    /* a ceiling below the start wins */
    tw_backoff_init(&b, 5 * TW_SEC, TW_SEC);
    assert_true(tw_backoff_next(&b) <= TW_SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_moves),
        cmocka_unit_test(test_zone_rejects_unknown),
        cmocka_unit_test(test_iso_riyadh),
        cmocka_unit_test(test_iso_utc_zone_has_offset),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_no_zone_follows_site),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_local_year),
        cmocka_unit_test(test_add_days_riyadh),
        cmocka_unit_test(test_add_days_across_dst),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
