/*
 * test_calendar.c - the business calendar: the zone's offsets as the C
 * library knows them (read by the calendar from zoneinfo, checked here
 * against localtime_r over two centuries), local dates, calendar days across
 * daylight saving, weekend and hours from config text, holidays, and
 * holiday files in iCalendar form.
 */
#define _DEFAULT_SOURCE /* tm_gmtoff, timegm */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "clock.h"
#include "error.h"

/* A fixed seed, so a failure can be replayed; TW_SEED overrides it. */
static unsigned long long rng_state;

static unsigned long long rng(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng_state >> 33;
}

static unsigned long long seed(void)
{
    const char *s = getenv("TW_SEED");
    return s ? strtoull(s, NULL, 10) : 20261125ULL;
}

/* day_of - the local date of Y-M-D computed the plain way, via timegm */
static int32_t day_of(int y, int m, int d)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    return (int32_t)(timegm(&tm) / 86400);
}

/* A list of N writable copies of the strings (tw_strlist holds char *),
 * each list in slots of its own. */
static char list_text[32][64];
static char *list_ptr[32];
static size_t list_used;

static struct tw_strlist list(size_t n, const char *const *v)
{
    if (list_used + n > 32)
        list_used = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(list_text[list_used + i], sizeof list_text[0], "%s", v[i]);
        list_ptr[list_used + i] = list_text[list_used + i];
    }
    struct tw_strlist l = {n, list_ptr + list_used};
    list_used += n;
    return l;
}

static void test_init_and_defaults(void **state)
{
    struct tw_calendar c;
    (void)state;
    assert_int_equal(tw_calendar_init(&c, NULL), TW_OK);
    assert_string_equal(c.tz, "Asia/Riyadh");
    assert_int_equal(c.weekend, TW_WEEKDAY_BIT(5) | TW_WEEKDAY_BIT(6));
    assert_int_equal(c.work_start, 480);
    assert_int_equal(c.work_end, 960);
    assert_int_equal(c.nholidays, 0);
    assert_int_equal(tw_calendar_offset(&c, 0), 3 * 3600);
    tw_calendar_free(&c);
    tw_calendar_free(&c); /* twice is harmless */

    assert_int_equal(tw_calendar_init(&c, "Mars/Olympus_Mons"), TW_PERMFAIL);
    tw_calendar_free(&c);
    assert_int_equal(tw_calendar_init(&c, "../../etc/passwd"), TW_PERMFAIL);
    assert_int_equal(tw_calendar_init(&c, "zone.tab"), TW_PERMFAIL);
    assert_int_equal(tw_calendar_init(&c, "Asia"), TW_PERMFAIL);
    assert_int_equal(tw_calendar_init(&c, ""), TW_PERMFAIL);
}

/* The calendar's offsets, dates and calendar-day arithmetic against the C
 * library in the same zone, over 1900..2150 (past 2037 the zone file's
 * footer rule takes over), with the process zone switched to match. */
/* same_wall_time - whether A and B read the same on a local clock: a time
 * in the hour repeated when daylight saving ends is either, and mktime's
 * pick between them depends on what it was last asked */
static int same_wall_time(tw_time a, tw_time b)
{
    time_t sa = (time_t)(a / TW_SEC), sb = (time_t)(b / TW_SEC);
    struct tm ta, tb;
    localtime_r(&sa, &ta);
    localtime_r(&sb, &tb);
    return ta.tm_year == tb.tm_year && ta.tm_yday == tb.tm_yday &&
           ta.tm_hour == tb.tm_hour && ta.tm_min == tb.tm_min &&
           ta.tm_sec == tb.tm_sec;
}

static void check_zone_against_libc(const char *zone)
{
    struct tw_calendar c;
    rng_state = seed();
    assert_int_equal(tw_calendar_init(&c, zone), TW_OK);
    assert_int_equal(tw_clock_set_zone(zone), TW_OK);
    for (int i = 0; i < 20000; i++) {
        int64_t lo = -2208988800LL, span = 5900000000LL; /* 1900..2157 */
        time_t sec = (time_t)(lo + (int64_t)(rng() % (uint64_t)span));
        if (i % 2)
            sec = (time_t)(1577836800LL + (int64_t)(rng() % 631152000ULL));
        struct tm tm;
        assert_non_null(localtime_r(&sec, &tm));
        tw_time t = (tw_time)sec * TW_SEC;
        if (tw_calendar_offset(&c, t) != tm.tm_gmtoff)
            fail_msg("%s: offset at %lld: %d, libc %ld (seed %llu)", zone,
                     (long long)sec, tw_calendar_offset(&c, t), tm.tm_gmtoff,
                     seed());
        assert_int_equal(tw_calendar_local_day(&c, t),
                         day_of(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday));
        assert_int_equal(tw_calendar_local_minute(&c, t),
                         tm.tm_hour * 60 + tm.tm_min);
        /* whole calendar days from 2000 on, as tw_time_add_days does */
        if (sec > 946684800 && sec < 4102444800LL) {
            int n = (int)(rng() % 40);
            tw_time want = tw_time_add_days(t, n);
            tw_time got = tw_calendar_add_days(&c, t, n);
            if (want != got && !same_wall_time(want, got))
                fail_msg("%s: %lld + %d days: %lld, libc %lld (seed %llu)",
                         zone, (long long)sec, n, (long long)(got / TW_SEC),
                         (long long)(want / TW_SEC), seed());
        }
    }
    tw_calendar_free(&c);
}

static void test_zones_match_libc(void **state)
{
    static const char *const zones[] = {
        "Asia/Riyadh",      "Europe/Berlin", "America/New_York",
        "Australia/Sydney", "Asia/Tehran",   "Europe/Dublin",
        "America/Santiago", "UTC",           "Asia/Kolkata",
    };
    (void)state;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        check_zone_against_libc(zones[i]);
}

/* The calendar does not need the process zone: Riyadh's and Berlin's
 * local dates while the process runs in UTC. */
static void test_independent_of_process_zone(void **state)
{
    struct tw_calendar r, b;
    tw_time t;
    (void)state;
    assert_int_equal(tw_clock_set_zone("UTC"), TW_OK);
    assert_int_equal(tw_calendar_init(&r, "Asia/Riyadh"), TW_OK);
    assert_int_equal(tw_calendar_init(&b, "Europe/Berlin"), TW_OK);
    assert_int_equal(tw_time_parse("2026-11-25T22:30:00Z", &t), TW_OK);
    assert_int_equal(tw_calendar_local_day(&r, t), day_of(2026, 11, 26));
    assert_int_equal(tw_calendar_local_minute(&r, t), 90);
    assert_int_equal(tw_calendar_local_day(&b, t), day_of(2026, 11, 25));
    assert_int_equal(tw_calendar_local_minute(&b, t), 23 * 60 + 30);
    /* Berlin, last Sunday of March 2026: 02:00 does not exist */
    int32_t d = day_of(2026, 3, 29);
    tw_time two, three;
    assert_int_equal(tw_time_parse("2026-03-29T01:00:00Z", &two), TW_OK);
    assert_true(tw_calendar_at(&b, d, 150) == two); /* 02:30: the change */
    assert_int_equal(tw_time_parse("2026-03-29T01:30:00Z", &three), TW_OK);
    assert_true(tw_calendar_at(&b, d, 210) == three); /* 03:30 CEST */
    assert_true(tw_calendar_at(&r, d, 480) ==
                (tw_time)d * TW_DAY + 5 * TW_HOUR);
    tw_calendar_free(&r);
    tw_calendar_free(&b);
}

static void test_dates(void **state)
{
    int32_t d;
    char buf[16];
    (void)state;
    assert_int_equal(tw_date_parse("1970-01-01", &d), TW_OK);
    assert_int_equal(d, 0);
    assert_int_equal(tw_date_parse("2026-12-06", &d), TW_OK);
    assert_int_equal(d, day_of(2026, 12, 6));
    assert_string_equal(tw_date_format(d, buf), "2026-12-06");
    assert_int_equal(tw_calendar_weekday(d), 0); /* a Sunday */
    assert_int_equal(tw_date_parse("1969-12-31", &d), TW_OK);
    assert_int_equal(d, -1);
    assert_int_equal(tw_calendar_weekday(d), 3);
    assert_int_equal(tw_date_parse("2028-02-29", &d), TW_OK);
    assert_int_equal(tw_date_parse("2026-02-29", &d), TW_PERMFAIL);
    assert_int_equal(tw_date_parse("2026-13-01", &d), TW_PERMFAIL);
    assert_int_equal(tw_date_parse("2026-12-6", &d), TW_PERMFAIL);
    assert_int_equal(tw_date_parse("2026-12-06x", &d), TW_PERMFAIL);
    assert_int_equal(tw_date_parse("", &d), TW_PERMFAIL);
    assert_int_equal(tw_date_parse(NULL, &d), TW_PERMFAIL);
    for (int32_t x = -800000; x < 800000; x += 997)
        assert_int_equal(tw_date_parse(tw_date_format(x, buf), &d) == TW_OK &&
                             d == x,
                         x > -719162); /* years before 1 do not parse */
}

static void test_holidays_sorted_once(void **state)
{
    struct tw_calendar c;
    (void)state;
    assert_int_equal(tw_calendar_init(&c, NULL), TW_OK);
    int32_t days[] = {20500, 20400, 20600, 20400, 20450, 20600, 20300};
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++)
        assert_int_equal(tw_calendar_add_holiday(&c, days[i]), TW_OK);
    assert_int_equal(c.nholidays, 5);
    for (size_t i = 1; i < c.nholidays; i++)
        assert_true(c.holidays[i - 1] < c.holidays[i]);
    assert_true(tw_calendar_is_holiday(&c, 20450));
    assert_false(tw_calendar_is_holiday(&c, 20451));
    /* 2026-12-06 is a Sunday, 2026-12-04 a Friday */
    int32_t sun = day_of(2026, 12, 6), fri = day_of(2026, 12, 4);
    assert_true(tw_calendar_is_working_day(&c, sun));
    assert_false(tw_calendar_is_working_day(&c, fri));
    assert_false(tw_calendar_is_working_day(&c, fri + 1));
    tw_calendar_add_holiday(&c, sun);
    assert_false(tw_calendar_is_working_day(&c, sun));
    tw_calendar_free(&c);
}

static void test_weekend_and_hours_from_text(void **state)
{
    struct tw_calendar c;
    char err[200];
    static const char *const en[] = {"Saturday", " sunday "},
                             *const ar[] = {"الجمعة", "السبت"},
                             *const bad[] = {"friday", "caturday"},
                             *const all[] = {"sun", "mon", "tue", "wed",
                                             "thu", "fri", "sat"};
    struct tw_strlist l = list(2, en);
    (void)state;
    assert_int_equal(tw_calendar_init(&c, NULL), TW_OK);
    assert_int_equal(tw_calendar_parse_weekend(&c, &l, err, sizeof err), TW_OK);
    assert_int_equal(c.weekend, TW_WEEKDAY_BIT(6) | TW_WEEKDAY_BIT(0));
    l = list(2, ar);
    assert_int_equal(tw_calendar_parse_weekend(&c, &l, err, sizeof err), TW_OK);
    assert_int_equal(c.weekend, TW_WEEKDAY_BIT(5) | TW_WEEKDAY_BIT(6));
    l = list(2, bad);
    assert_int_equal(tw_calendar_parse_weekend(&c, &l, err, sizeof err),
                     TW_PERMFAIL);
    assert_non_null(strstr(err, "caturday"));
    assert_int_equal(c.weekend, TW_WEEKDAY_BIT(5) | TW_WEEKDAY_BIT(6));
    l = list(7, all);
    assert_int_equal(tw_calendar_parse_weekend(&c, &l, err, sizeof err),
                     TW_PERMFAIL);

    assert_int_equal(
        tw_calendar_parse_hours(&c, "07:30-15:30", err, sizeof err), TW_OK);
    assert_int_equal(c.work_start, 450);
    assert_int_equal(c.work_end, 930);
    assert_int_equal(
        tw_calendar_parse_hours(&c, "00:00 - 24:00", err, sizeof err), TW_OK);
    assert_int_equal(c.work_end, 1440);
    static const char *const bads[] = {
        "16:00-08:00", "8:00-16:00",   "08:00-16:60", "08:00-24:30",
        "08:00",       "08:00-16:00x", "09:00-09:00", ""};
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        assert_int_equal(tw_calendar_parse_hours(&c, bads[i], err, sizeof err),
                         TW_PERMFAIL);
        assert_non_null(strstr(err, "HH:MM-HH:MM"));
    }
    assert_int_equal(c.work_start, 0); /* unchanged by the bad ones */
    tw_calendar_free(&c);
}

static void test_build_from_config_values(void **state)
{
    struct tw_calendar c;
    char err[200];
    static const char *const we[] = {"saturday", "sunday"},
                             *const hol[] = {"2026-12-24 Christmas Eve",
                                             "2026-12-25", "2026-12-24"},
                             *const badhol[] = {"2026-12-32"};
    struct tw_strlist w, h, bh;
    (void)state;
    w = list(2, we);
    h = list(3, hol);
    assert_int_equal(tw_calendar_build(&c, "Europe/Berlin", &w, "09:00-17:00",
                                       &h, err, sizeof err),
                     TW_OK);
    assert_string_equal(c.tz, "Europe/Berlin");
    assert_int_equal(c.nholidays, 2);
    assert_int_equal(c.work_start, 540);
    assert_false(tw_calendar_is_working_day(&c, day_of(2026, 12, 25)));
    assert_true(tw_calendar_is_working_day(&c, day_of(2026, 12, 23)));
    tw_calendar_free(&c);

    assert_int_equal(
        tw_calendar_build(&c, NULL, NULL, NULL, NULL, err, sizeof err), TW_OK);
    assert_string_equal(c.tz, "Asia/Riyadh");
    tw_calendar_free(&c);
    assert_int_equal(tw_calendar_build(&c, "Nowhere/Town", NULL, NULL, NULL,
                                       err, sizeof err),
                     TW_PERMFAIL);
    assert_non_null(strstr(err, "Nowhere/Town"));
    bh = list(1, badhol);
    assert_int_equal(
        tw_calendar_build(&c, NULL, NULL, NULL, &bh, err, sizeof err),
        TW_PERMFAIL);
    assert_non_null(strstr(err, "2026-12-32"));
    assert_null(c.holidays);
    assert_int_equal(
        tw_calendar_build(&c, NULL, NULL, "9-5", NULL, err, sizeof err),
        TW_PERMFAIL);
}

/* ---- iCalendar ---------------------------------------------------------- */

struct got {
    int n;
    int32_t day[64];
    char name[64][256];
};

static int collect(void *arg, int32_t day, const char *name)
{
    struct got *g = arg;
    if (g->n >= 64)
        return -7;
    g->day[g->n] = day;
    snprintf(g->name[g->n], sizeof g->name[0], "%s", name);
    g->n++;
    return 0;
}

/* slurp - a fixture's bytes (caller frees) */
static char *slurp(const char *name, size_t *len)
{
    const char *dir = getenv("TW_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/holidays/%s", dir ? dir : "tests/fixtures",
             name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s (run from ctest, or set TW_FIXTURES)", path);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 16, fp);
    fclose(fp);
    return buf;
}

static void test_ics_fixture(void **state)
{
    struct got g = {0};
    char err[200] = "";
    size_t len;
    char *text = slurp("sa-2026.ics", &len);
    (void)state;
    int rc = tw_ics_holidays(text, len, collect, &g, err, sizeof err);
    if (rc != TW_OK)
        fail_msg("%s", err);
    /* Eid al-Fitr: 19..22 March (DTEND exclusive) */
    assert_int_equal(g.n, 4 + 5 + 1 + 1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(g.day[i], day_of(2026, 3, 19) + i);
        assert_string_equal(g.name[i],
                            "عيد الفطر - Eid al-Fitr holiday, four days");
    }
    /* Eid al-Adha: DURATION P5D, a folded SUMMARY, an alarm inside */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(g.day[4 + i], day_of(2026, 5, 26) + i);
        assert_string_equal(g.name[4 + i],
                            "Eid al-Adha holiday (Day of Arafah and the three "
                            "days of Tashreeq)");
    }
    /* no DTEND: one day; a parameter on SUMMARY */
    assert_int_equal(g.day[9], day_of(2026, 2, 22));
    assert_string_equal(g.name[9], "يوم التأسيس");
    assert_int_equal(g.day[10], day_of(2026, 9, 23));
    free(text);
}

static void test_ics_errors_name_the_line(void **state)
{
    struct got g = {0};
    char err[200] = "";
    size_t len;
    char *text = slurp("bad-date.ics", &len);
    (void)state;
    assert_int_equal(tw_ics_holidays(text, len, collect, &g, err, sizeof err),
                     TW_PERMFAIL);
    assert_string_equal(err, "line 8: bad date \"2026-12-07\" in DTSTART");
    free(text);

    text = slurp("truncated.ics", &len);
    assert_int_equal(tw_ics_holidays(text, len, collect, &g, err, sizeof err),
                     TW_PERMFAIL);
    assert_string_equal(err, "line 3: VEVENT never ends");
    free(text);

    static const struct {
        const char *text, *err;
    } cases[] = {
        {"hello\n", "line 1: not a content line (NAME:VALUE)"},
        {"VERSION:2.0\n", "line 1: not an iCalendar file (no BEGIN:VCALENDAR)"},
        {"", "line 1: not an iCalendar file (no BEGIN:VCALENDAR)"},
        {"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
         "END:VCALENDAR\r\n",
         "line 4: event begun at line 2 has no DTSTART"},
        {"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261206\n"
         "DTEND:20261206\nEND:VEVENT\nEND:VCALENDAR\n",
         "line 5: event ends before it starts"},
        {"BEGIN:VCALENDAR\nEND:VEVENT\nEND:VCALENDAR\n",
         "line 2: END:VEVENT without BEGIN:VEVENT"},
        {"BEGIN:VCALENDAR\nVERSION:2.0\n",
         "line 2: no END:VCALENDAR (file cut short?)"},
        {" BEGIN:VCALENDAR\n", "line 1: continuation line with nothing to "
                               "continue"},
        {"BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260230\n",
         "line 3: bad date \"20260230\" in DTSTART"},
        {"BEGIN:VCALENDAR\nEND:VCALENDAR\nBEGIN:VEVENT\n",
         "line 3: text after END:VCALENDAR"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        assert_int_equal(tw_ics_holidays(cases[i].text, strlen(cases[i].text),
                                         collect, &g, err, sizeof err),
                         TW_PERMFAIL);
        assert_string_equal(err, cases[i].err);
    }
}

static void test_ics_callback_stops(void **state)
{
    struct got g = {.n = 64};
    char err[200];
    const char *t = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261206T090000Z\n"
                    "END:VEVENT\nEND:VCALENDAR";
    (void)state;
    assert_int_equal(
        tw_ics_holidays(t, strlen(t), collect, &g, err, sizeof err), -7);
    g.n = 0;
    assert_int_equal(
        tw_ics_holidays(t, strlen(t), collect, &g, err, sizeof err), TW_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.day[0], day_of(2026, 12, 6));
    assert_string_equal(g.name[0], "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_defaults),
        cmocka_unit_test(test_zones_match_libc),
        cmocka_unit_test(test_independent_of_process_zone),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_holidays_sorted_once),
        cmocka_unit_test(test_weekend_and_hours_from_text),
        cmocka_unit_test(test_build_from_config_values),
        cmocka_unit_test(test_ics_fixture),
        cmocka_unit_test(test_ics_errors_name_the_line),
        cmocka_unit_test(test_ics_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
