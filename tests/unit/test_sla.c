/*
 * test_sla.c - the two-week promise and the one deadline function.
 *
 * Calendar mode: due fourteen calendar days after receipt at the same local
 * time, whatever daylight saving does between, plus paused time. Business
 * mode: only working time counts. tw_sla_deadline, tw_sla_warn_at and
 * tw_sla_elapsed are checked against a deliberately simple reference
 * written here - it steps minute by minute and asks localtime_r (the C
 * library, in the process zone set to the calendar's) whether each minute
 * counts - on thousands of random cases with a fixed seed (TW_SEED replays
 * one, TW_SLA_CASES sets how many), then on named cases a person can check
 * by hand.
 */
#define _DEFAULT_SOURCE /* timegm */
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

/* ---- the reference: minute by minute, through the C library ---------- */

/* A fixed seed, so a failure can be replayed; TW_SEED overrides it. */
static unsigned long long rng_state, rng_seed;

static unsigned long long rng(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng_state >> 33;
}

/* pick - a number in [0, n) */
static int64_t pick(int64_t n)
{
    return n > 0 ? (int64_t)(rng() % (unsigned long long)n) : 0;
}

/* ref_counts - whether the minute from T is working time: asks localtime_r
 * (process zone = the calendar's) for the weekday, date and wall clock */
static int ref_counts(const struct tw_calendar *c, tw_time t)
{
    time_t sec = (time_t)(t / TW_SEC);
    struct tm tm;
    localtime_r(&sec, &tm);
    if (c->weekend & (1u << tm.tm_wday))
        return 0;
    struct tm d = {
        .tm_year = tm.tm_year, .tm_mon = tm.tm_mon, .tm_mday = tm.tm_mday};
    int32_t day = (int32_t)(timegm(&d) / 86400);
    for (size_t i = 0; i < c->nholidays; i++)
        if (c->holidays[i] == day)
            return 0;
    int m = tm.tm_hour * 60 + tm.tm_min;
    return m >= c->work_start && m < c->work_end;
}

/* ref_paused - whether T lies in one of the pauses */
static int ref_paused(const struct tw_interval *p, size_t n, tw_time t)
{
    for (size_t i = 0; i < n; i++)
        if (t >= p[i].from && (p[i].to == 0 || t < p[i].to))
            return 1;
    return 0;
}

#define REF_LIMIT (800 * TW_DAY)

/* ref_business - the first instant WORK of unpaused working minutes has
 * passed since START */
static tw_time ref_business(const struct tw_calendar *c, tw_time start,
                            int64_t work, const struct tw_interval *p, size_t n)
{
    int64_t got = 0;
    if (work <= 0)
        return start;
    for (tw_time t = start; t < start + REF_LIMIT; t += TW_MIN) {
        if (ref_paused(p, n, t) || !ref_counts(c, t))
            continue;
        if (got + TW_MIN >= work)
            return t + (work - got);
        got += TW_MIN;
    }
    return TW_TIME_NEVER;
}

/* ref_calendar - TARGET's whole days by mktime (tw_time_add_days), its rest
 * as time, then minute by minute past the pauses */
static tw_time ref_calendar(tw_time start, int64_t target,
                            const struct tw_interval *p, size_t n)
{
    if (target <= 0)
        return start;
    int64_t left = tw_time_add_days(start, (int)(target / TW_DAY)) +
                   target % TW_DAY - start;
    for (tw_time t = start; t < start + REF_LIMIT; t += TW_MIN) {
        if (ref_paused(p, n, t))
            continue;
        if (left <= TW_MIN)
            return t + left;
        left -= TW_MIN;
    }
    return TW_TIME_NEVER;
}

/* ref_work - TARGET as working time: whole days are working days */
static int64_t ref_work(const struct tw_calendar *c, int64_t target)
{
    return target / TW_DAY * (c->work_end - c->work_start) * TW_MIN +
           target % TW_DAY;
}

static tw_time ref_deadline(const struct tw_sla_policy *pol,
                            const struct tw_calendar *c, tw_time start,
                            int64_t target, const struct tw_interval *p,
                            size_t n)
{
    if (pol->mode == TW_SLA_BUSINESS)
        return ref_business(c, start, ref_work(c, target), p, n);
    return ref_calendar(start, target, p, n);
}

static tw_time ref_warn_at(const struct tw_sla_policy *pol,
                           const struct tw_calendar *c, tw_time start,
                           const struct tw_interval *p, size_t n)
{
    int pct = pol->warn_before_pct;
    if (pol->mode == TW_SLA_BUSINESS) {
        int64_t w = ref_work(c, pol->decision_within);
        w -= pct ? w * pct / 100 : ref_work(c, pol->warn_before);
        return ref_business(c, start, w, p, n);
    }
    int64_t t = pol->decision_within;
    t -= pct ? t * pct / 100 : pol->warn_before;
    return ref_calendar(start, t, p, n);
}

/* ref_elapsed - the counted minutes in [A, B) */
static int64_t ref_elapsed(const struct tw_sla_policy *pol,
                           const struct tw_calendar *c, tw_time a, tw_time b,
                           const struct tw_interval *p, size_t n)
{
    int64_t sum = 0;
    if (b < a)
        return -ref_elapsed(pol, c, b, a, p, n);
    for (tw_time t = a; t < b; t += TW_MIN)
        if (!ref_paused(p, n, t) &&
            (pol->mode == TW_SLA_CALENDAR || ref_counts(c, t)))
            sum += TW_MIN;
    return sum;
}

/* ---- random cases ------------------------------------------------------- */

struct rcase {
    struct tw_sla_policy pol;
    tw_time start;
    int64_t target;
    struct tw_interval pauses[4];
    size_t npauses;
};

/* describe - one case as text, for a failure message */
static void describe(const struct tw_calendar *c, const struct rcase *k, int i,
                     char *out, size_t size)
{
    char a[TW_TIME_ISO_MAX], b[TW_TIME_ISO_MAX], d[32];
    int n = snprintf(
        out, size,
        "seed %llu case %d: %s %s weekend=%#x hours=%d-%d "
        "holidays=%zu start=%s target=%s pct=%d pauses:",
        rng_seed, i, c->tz,
        k->pol.mode == TW_SLA_BUSINESS ? "business" : "calendar", c->weekend,
        c->work_start, c->work_end, c->nholidays, tw_time_iso(k->start, 0, a),
        tw_duration_format(k->target, d, sizeof d), k->pol.warn_before_pct);
    for (size_t j = 0; j < k->npauses && n > 0 && (size_t)n < size; j++)
        n += snprintf(out + n, size - (size_t)n, " [%s, %s)",
                      tw_time_iso(k->pauses[j].from, 0, a),
                      k->pauses[j].to ? tw_time_iso(k->pauses[j].to, 0, b)
                                      : "open");
}

/* random_calendar - CAL in ZONE with random hours and holiday blocks */
static void random_calendar(struct tw_calendar *c, const char *zone,
                            unsigned weekend, tw_time from)
{
    assert_int_equal(tw_calendar_init(c, zone), TW_OK);
    assert_int_equal(tw_clock_set_zone(zone), TW_OK);
    c->weekend = weekend;
    if (pick(4) == 0) /* any weekend but a whole week */
        c->weekend = (unsigned)pick(127);
    if (pick(2)) {
        c->work_start = 360 + (int)pick(49) * 5; /* 06:00..10:00 */
        c->work_end = c->work_start + 60 + (int)pick(109) * 5;
    }
    int32_t day0 = (int32_t)(from / TW_DAY);
    for (int i = 0; i < 14; i++) {
        int32_t d = day0 + (int32_t)pick(700);
        for (int j = (int)pick(5); j >= 0; j--)
            assert_int_equal(tw_calendar_add_holiday(c, d + j), TW_OK);
    }
}

/* random_case - a start biased to weekends, holidays and after hours */
static void random_case(const struct tw_calendar *c, tw_time from,
                        struct rcase *k)
{
    static const int64_t targets[] = {14 * TW_DAY, TW_DAY,
                                      3 * TW_DAY,  36 * TW_HOUR,
                                      90 * TW_MIN, TW_DAY + 12 * TW_HOUR};
    memset(k, 0, sizeof *k);
    tw_sla_policy_default(&k->pol);
    k->pol.mode = pick(2) ? TW_SLA_BUSINESS : TW_SLA_CALENDAR;
    k->target = pick(4) ? targets[pick(6)] : (1 + pick(20 * 24 * 60)) * TW_MIN;
    k->pol.decision_within = k->target;
    k->pol.warn_before_pct = pick(2) ? 1 + (int)pick(99) : 0;
    k->pol.warn_before = (1 + pick(5 * 24 * 60)) * TW_MIN;

    tw_time t = from + pick(600 * 24 * 60) * TW_MIN;
    int32_t day = tw_calendar_local_day(c, t);
    switch (pick(5)) {
    case 0: /* on a weekend day */
        while (!(c->weekend & (1u << tw_calendar_weekday(day))))
            day++;
        t = tw_calendar_at(c, day, (int)pick(1440));
        break;
    case 1: /* on a holiday */
        if (c->nholidays)
            day = c->holidays[pick((int64_t)c->nholidays)];
        t = tw_calendar_at(c, day, (int)pick(1440));
        break;
    case 2: /* after hours */
        t = tw_calendar_at(c, day, c->work_end + (int)pick(1440 - c->work_end));
        break;
    default:
        break;
    }
    k->start = t;

    k->npauses = (size_t)pick(4);
    for (size_t i = 0; i < k->npauses; i++) {
        tw_time f = k->start + (pick(22 * 24 * 60) - 2 * 24 * 60) * TW_MIN;
        if (i == 0 && c->nholidays && pick(2)) {
            /* across one of the next holidays */
            size_t h = 0;
            while (h + 1 < c->nholidays &&
                   c->holidays[h] < tw_calendar_local_day(c, k->start))
                h++;
            h += (size_t)pick(3);
            if (h >= c->nholidays)
                h = c->nholidays - 1;
            f = tw_calendar_at(c, c->holidays[h], 0) -
                pick(3 * 24 * 60) * TW_MIN;
        }
        k->pauses[i].from = f;
        k->pauses[i].to = pick(10) ? f + (1 + pick(10 * 24 * 60)) * TW_MIN : 0;
    }
}

static void check_random_cases(const char *zone, unsigned weekend, int ncases)
{
    struct tw_calendar c;
    char what[1024];
    tw_time from;
    assert_int_equal(tw_time_parse("2026-01-01T00:00:00Z", &from), TW_OK);

    for (int i = 0; i < ncases; i++) {
        struct rcase k;
        if (i % 50 == 0) {
            if (i)
                tw_calendar_free(&c);
            random_calendar(&c, zone, weekend, from);
        }
        random_case(&c, from, &k);
        tw_time got =
            tw_sla_deadline(&k.pol, &c, k.start, k.target, k.pauses, k.npauses);
        tw_time want =
            ref_deadline(&k.pol, &c, k.start, k.target, k.pauses, k.npauses);
        if (got != want) {
            char g[TW_TIME_ISO_MAX], w[TW_TIME_ISO_MAX];
            describe(&c, &k, i, what, sizeof what);
            fail_msg("deadline %s, reference %s\n%s",
                     got == TW_TIME_NEVER ? "never" : tw_time_iso(got, 1, g),
                     want == TW_TIME_NEVER ? "never" : tw_time_iso(want, 1, w),
                     what);
        }
        got = tw_sla_warn_at(&k.pol, &c, k.start, k.pauses, k.npauses);
        want = ref_warn_at(&k.pol, &c, k.start, k.pauses, k.npauses);
        if (got != want) {
            char g[TW_TIME_ISO_MAX], w[TW_TIME_ISO_MAX];
            describe(&c, &k, i, what, sizeof what);
            fail_msg("warn_at %s, reference %s\n%s",
                     got == TW_TIME_NEVER ? "never" : tw_time_iso(got, 1, g),
                     want == TW_TIME_NEVER ? "never" : tw_time_iso(want, 1, w),
                     what);
        }
        tw_time a = k.start + (pick(12 * 24 * 60) - 24 * 60) * TW_MIN;
        tw_time b = a + (pick(26 * 24 * 60) - 2 * 24 * 60) * TW_MIN;
        int64_t eg = tw_sla_elapsed(&k.pol, &c, a, b, k.pauses, k.npauses);
        int64_t ew = ref_elapsed(&k.pol, &c, a, b, k.pauses, k.npauses);
        if (eg != ew) {
            char x[TW_TIME_ISO_MAX], y[TW_TIME_ISO_MAX];
            describe(&c, &k, i, what, sizeof what);
            fail_msg("elapsed %s..%s: %lld min, reference %lld min\n%s",
                     tw_time_iso(a, 0, x), tw_time_iso(b, 0, y),
                     (long long)(eg / TW_MIN), (long long)(ew / TW_MIN), what);
        }
    }
    tw_calendar_free(&c);
}

/* cases - how many random cases per zone (TW_SLA_CASES, default N) */
static int cases(int n)
{
    const char *s = getenv("TW_SLA_CASES");
    const char *seed = getenv("TW_SEED");
    rng_seed = seed ? strtoull(seed, NULL, 10) : 20261125ULL;
    rng_state = rng_seed;
    return s ? atoi(s) : n;
}

static void test_random_riyadh(void **state)
{
    (void)state;
    check_random_cases("Asia/Riyadh", TW_WEEKDAY_BIT(5) | TW_WEEKDAY_BIT(6),
                       cases(2000));
}

/* Berlin: daylight saving inside the spans, a Saturday-Sunday weekend */
static void test_random_berlin(void **state)
{
    (void)state;
    check_random_cases("Europe/Berlin", TW_WEEKDAY_BIT(6) | TW_WEEKDAY_BIT(0),
                       cases(1000));
}

/* New York: daylight saving changes on other dates, a Saturday-Sunday
 * weekend */
static void test_random_new_york(void **state)
{
    (void)state;
    check_random_cases("America/New_York",
                       TW_WEEKDAY_BIT(6) | TW_WEEKDAY_BIT(0), cases(400));
}

/* ---- named cases -------------------------------------------------------- */

/* riyadh - the default calendar, with the process zone elsewhere to show
 * the calendar does not need it */
static void riyadh(struct tw_calendar *c)
{
    assert_int_equal(tw_clock_set_zone("UTC"), TW_OK);
    assert_int_equal(tw_calendar_init(c, "Asia/Riyadh"), TW_OK);
}

/* iso - T in Riyadh time */
static const char *iso(tw_time t, char *buf)
{
    if (t == TW_TIME_NEVER)
        return "never";
    assert_int_equal(tw_clock_set_zone("Asia/Riyadh"), TW_OK);
    tw_time_iso(t, 0, buf);
    assert_int_equal(tw_clock_set_zone("UTC"), TW_OK);
    return buf;
}

static struct tw_sla_policy business(void)
{
    struct tw_sla_policy p;
    tw_sla_policy_default(&p);
    p.mode = TW_SLA_BUSINESS;
    return p;
}

static void test_thursday_afternoon_business(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p = business();
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    riyadh(&c);
    tw_time thu = at("2026-11-26T15:00:00+03:00");
    /* one hour on Thursday, then the weekend (Friday, Saturday) */
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, thu, TW_HOUR, NULL, 0), buf),
        "2026-11-26T16:00:00+03:00");
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, thu, 2 * TW_HOUR, NULL, 0), buf),
        "2026-11-29T09:00:00+03:00");
    /* one business day: the same time on the next working day */
    assert_string_equal(iso(tw_sla_deadline(&p, &c, thu, TW_DAY, NULL, 0), buf),
                        "2026-11-29T15:00:00+03:00");
    assert_string_equal(
        iso(tw_sla_first_response_due(&p, &c, thu, NULL, 0), buf),
        "2026-11-29T15:00:00+03:00");
    /* fourteen working days: three weekends between */
    tw_time due = tw_sla_deadline(&p, &c, thu, 14 * TW_DAY, NULL, 0);
    assert_string_equal(iso(due, buf), "2026-12-16T15:00:00+03:00");
    assert_true(tw_sla_elapsed(&p, &c, thu, due, NULL, 0) == 112 * TW_HOUR);
    /* the same in calendar mode: plain fourteen days */
    p.mode = TW_SLA_CALENDAR;
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, thu, 14 * TW_DAY, NULL, 0), buf),
        "2026-12-10T15:00:00+03:00");
    tw_calendar_free(&c);
}

static void test_start_outside_hours(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p = business();
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    riyadh(&c);
    /* Thursday evening, Friday noon, Sunday at dawn: all count from Sunday
     * 08:00 */
    static const char *const starts[] = {"2026-11-26T17:00:00+03:00",
                                         "2026-11-27T12:00:00+03:00",
                                         "2026-11-29T05:30:00+03:00"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(
            iso(tw_sla_deadline(&p, &c, at(starts[i]), TW_HOUR, NULL, 0), buf),
            "2026-11-29T09:00:00+03:00");
    /* a holiday on Sunday moves it to Monday */
    int32_t sun;
    assert_int_equal(tw_date_parse("2026-11-29", &sun), TW_OK);
    tw_calendar_add_holiday(&c, sun);
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, at(starts[0]), TW_HOUR, NULL, 0), buf),
        "2026-11-30T09:00:00+03:00");
    tw_calendar_free(&c);
}

static int add_holiday(void *arg, int32_t day, const char *name)
{
    (void)name;
    return tw_calendar_add_holiday(arg, day);
}

static void test_pause_over_eid(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p = business();
    char buf[TW_TIME_ISO_MAX], err[200];
    (void)state;
    riyadh(&c);
    /* the holidays from the fixture: Eid al-Adha is 26..30 May 2026 */
    const char *dir = getenv("TW_FIXTURES");
    char path[512], text[8192];
    snprintf(path, sizeof path, "%s/holidays/sa-2026.ics",
             dir ? dir : "tests/fixtures");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s (run from ctest, or set TW_FIXTURES)", path);
    size_t len = fread(text, 1, sizeof text, fp);
    fclose(fp);
    assert_int_equal(
        tw_ics_holidays(text, len, add_holiday, &c, err, sizeof err), TW_OK);
    assert_int_equal(c.nholidays, 11);

    /* received Sunday 10:00; the member is asked for a document on Monday
     * at noon and answers after Eid, on Sunday 31 May at 09:00 */
    tw_time start = at("2026-05-24T10:00:00+03:00");
    struct tw_interval pause = {at("2026-05-25T12:00:00+03:00"),
                                at("2026-05-31T09:00:00+03:00")};
    /* 10 working hours before the pause, 102 after: 7 on the Sunday, then
     * eleven days and seven hours */
    tw_time due = tw_sla_deadline(&p, &c, start, 14 * TW_DAY, &pause, 1);
    assert_string_equal(iso(due, buf), "2026-06-16T15:00:00+03:00");
    assert_true(tw_sla_elapsed(&p, &c, start, due, &pause, 1) == 112 * TW_HOUR);
    /* without the pause the Eid days still do not count: 14 hours before
     * Eid, then twelve working days from Sunday 31 May and two hours */
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, start, 14 * TW_DAY, NULL, 0), buf),
        "2026-06-16T10:00:00+03:00");
    /* calendar mode: fourteen days plus the 5d21h paused */
    p.mode = TW_SLA_CALENDAR;
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, start, 14 * TW_DAY, &pause, 1), buf),
        "2026-06-13T07:00:00+03:00");
    /* while the member has not answered, the clock is stopped */
    pause.to = 0;
    assert_true(tw_sla_deadline(&p, &c, start, 14 * TW_DAY, &pause, 1) ==
                TW_TIME_NEVER);
    p.mode = TW_SLA_BUSINESS;
    assert_true(tw_sla_deadline(&p, &c, start, 14 * TW_DAY, &pause, 1) ==
                TW_TIME_NEVER);
    /* but a deadline that fell before the pause began stays */
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, start, 10 * TW_HOUR, &pause, 1), buf),
        "2026-05-25T12:00:00+03:00");
    /* time remaining while paused: what was left when the pause began */
    assert_true(tw_sla_elapsed(&p, &c, start, at("2026-06-01T00:00:00+03:00"),
                               &pause, 1) == 10 * TW_HOUR);
    tw_calendar_free(&c);
}

static void test_reopened_two_pauses(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p;
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    riyadh(&c);
    tw_sla_policy_default(&p);
    tw_time start = at("2026-11-01T09:00:00+03:00");
    /* two pauses, given newest first as an audit query might */
    struct tw_interval pauses[] = {
        {at("2026-11-10T12:00:00+03:00"), at("2026-11-11T00:00:00+03:00")},
        {at("2026-11-03T09:00:00+03:00"), at("2026-11-05T09:00:00+03:00")},
    };
    tw_time due = tw_sla_deadline(&p, &c, start, 14 * TW_DAY, pauses, 2);
    assert_string_equal(iso(due, buf), "2026-11-17T21:00:00+03:00");
    assert_true(tw_sla_elapsed(&p, &c, start, due, pauses, 2) == 14 * TW_DAY);
    /* a pause after the deadline changes nothing */
    struct tw_interval late[] = {
        pauses[0],
        pauses[1],
        {at("2026-11-20T09:00:00+03:00"), 0},
    };
    assert_true(tw_sla_deadline(&p, &c, start, 14 * TW_DAY, late, 3) == due);
    /* overlapping pauses count once */
    struct tw_interval overlap[] = {
        pauses[1],
        {at("2026-11-04T09:00:00+03:00"), at("2026-11-05T09:00:00+03:00")},
        {at("2026-10-20T09:00:00+03:00"), at("2026-10-25T09:00:00+03:00")},
    };
    assert_string_equal(
        iso(tw_sla_deadline(&p, &c, start, 14 * TW_DAY, overlap, 3), buf),
        "2026-11-17T09:00:00+03:00");
    tw_calendar_free(&c);
}

static void test_calendar_mode_fourteen_days(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p;
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    tw_sla_policy_default(&p);
    riyadh(&c);
    tw_time received = at("2026-11-25T18:20:44.123456+03:00");
    tw_time due = tw_sla_deadline(&p, &c, received, p.decision_within, NULL, 0);
    assert_true(due - received == 14 * TW_DAY);
    tw_calendar_free(&c);

    /* Berlin, process zone UTC: wall-clock days across daylight saving */
    assert_int_equal(tw_calendar_init(&c, "Europe/Berlin"), TW_OK);
    received = at("2026-03-20T10:00:00+01:00");
    due = tw_sla_deadline(&p, &c, received, 14 * TW_DAY, NULL, 0);
    assert_true(due == at("2026-04-03T10:00:00+02:00"));
    assert_true(due - received == 14 * TW_DAY - TW_HOUR);
    received = at("2026-10-20T09:30:00+02:00");
    due = tw_sla_deadline(&p, &c, received, 14 * TW_DAY, NULL, 0);
    assert_true(due == at("2026-11-03T09:30:00+01:00"));
    /* and tw_sla_due_at, in the process zone, agrees */
    assert_int_equal(tw_clock_set_zone("Europe/Berlin"), TW_OK);
    assert_true(tw_sla_due_at(&p, received) == due);
    assert_string_equal(tw_time_iso(due, 0, buf), "2026-11-03T09:30:00+01:00");
    tw_calendar_free(&c);
}

static void test_warnings(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p;
    char buf[TW_TIME_ISO_MAX];
    (void)state;
    riyadh(&c);
    tw_sla_policy_default(&p);
    tw_time sun = at("2026-11-29T08:00:00+03:00");
    /* calendar: 3 days before, or when 25% (3.5 days) remains */
    assert_string_equal(iso(tw_sla_warn_at(&p, &c, sun, NULL, 0), buf),
                        "2026-12-10T08:00:00+03:00");
    p.warn_before_pct = 25;
    assert_string_equal(iso(tw_sla_warn_at(&p, &c, sun, NULL, 0), buf),
                        "2026-12-09T20:00:00+03:00");
    /* business: 25% of 14 working days is 3.5 working days */
    p.mode = TW_SLA_BUSINESS;
    assert_string_equal(iso(tw_sla_warn_at(&p, &c, sun, NULL, 0), buf),
                        "2026-12-13T12:00:00+03:00");
    p.warn_before_pct = 0; /* 3 working days before */
    assert_string_equal(iso(tw_sla_warn_at(&p, &c, sun, NULL, 0), buf),
                        "2026-12-13T16:00:00+03:00");
    /* a warning as long as the target is due at once */
    p.warn_before = 20 * TW_DAY;
    assert_true(tw_sla_warn_at(&p, &c, sun, NULL, 0) == sun);
    tw_calendar_free(&c);
}

static void test_elapsed_business_minutes(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p = business();
    (void)state;
    riyadh(&c);
    tw_time thu = at("2026-11-26T15:00:00+03:00");
    tw_time decided = at("2026-11-29T09:00:00+03:00");
    assert_int_equal(tw_sla_elapsed(&p, &c, thu, decided, NULL, 0) / TW_MIN,
                     120);
    /* time remaining, and past the deadline a negative one */
    assert_int_equal(tw_sla_elapsed(&p, &c, decided, thu, NULL, 0) / TW_MIN,
                     -120);
    p.mode = TW_SLA_CALENDAR;
    assert_true(tw_sla_elapsed(&p, &c, thu, decided, NULL, 0) ==
                2 * TW_DAY + 18 * TW_HOUR);
    tw_calendar_free(&c);
}

static void test_no_working_time_is_never(void **state)
{
    struct tw_calendar c;
    struct tw_sla_policy p = business();
    (void)state;
    riyadh(&c);
    c.work_end = c.work_start;
    tw_time t = at("2026-11-26T15:00:00+03:00");
    assert_true(tw_sla_deadline(&p, &c, t, TW_DAY, NULL, 0) == TW_TIME_NEVER);
    assert_true(tw_sla_deadline(&p, &c, t, 0, NULL, 0) == t);
    assert_int_equal(tw_sla_elapsed(&p, &c, t, t + 30 * TW_DAY, NULL, 0), 0);
    tw_calendar_free(&c);
}

static void test_parse_policy_text(void **state)
{
    struct tw_sla_policy p;
    int64_t d;
    int biz = -1;
    char err[200];
    (void)state;
    assert_int_equal(tw_sla_parse_duration("14d", &d, &biz), TW_OK);
    assert_true(d == 14 * TW_DAY && biz == 0);
    assert_int_equal(tw_sla_parse_duration("1 business day", &d, &biz), TW_OK);
    assert_true(d == TW_DAY && biz == 1);
    assert_int_equal(tw_sla_parse_duration("3 Working Days", &d, &biz), TW_OK);
    assert_true(d == 3 * TW_DAY && biz == 1);
    assert_int_equal(tw_sla_parse_duration("36 hours", &d, &biz), TW_OK);
    assert_true(d == 36 * TW_HOUR && biz == 0);
    assert_int_equal(tw_sla_parse_duration("2 weeks", &d, NULL), TW_OK);
    assert_true(d == 14 * TW_DAY);
    static const char *const bad[] = {
        "",           "0d",  "business day", "1 fortnight",
        "1 business", "-3d", "1 day later"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(tw_sla_parse_duration(bad[i], &d, NULL), TW_PERMFAIL);

    tw_sla_policy_default(&p);
    assert_true(p.mode == TW_SLA_CALENDAR && p.decision_within == 14 * TW_DAY &&
                p.first_response_within == TW_DAY &&
                p.first_response_business && p.warn_before == 3 * TW_DAY &&
                p.warn_before_pct == 0);
    assert_int_equal(tw_sla_parse_warn(&p, "25%"), TW_OK);
    assert_int_equal(p.warn_before_pct, 25);
    assert_int_equal(tw_sla_parse_warn(&p, "2d"), TW_OK);
    assert_true(p.warn_before == 2 * TW_DAY && p.warn_before_pct == 0);
    assert_int_equal(tw_sla_parse_warn(&p, "100%"), TW_PERMFAIL);
    assert_int_equal(tw_sla_parse_warn(&p, "0%"), TW_PERMFAIL);
    assert_int_equal(tw_sla_parse_warn(&p, "x%"), TW_PERMFAIL);

    assert_int_equal(tw_sla_policy_parse(&p, "business", "10d", "4h", "20%",
                                         err, sizeof err),
                     TW_OK);
    assert_true(p.mode == TW_SLA_BUSINESS && p.decision_within == 10 * TW_DAY &&
                p.first_response_within == 4 * TW_HOUR &&
                !p.first_response_business && p.warn_before_pct == 20);
    assert_int_equal(
        tw_sla_policy_parse(&p, "lunar", NULL, NULL, NULL, err, sizeof err),
        TW_PERMFAIL);
    assert_non_null(strstr(err, "lunar"));
    assert_int_equal(
        tw_sla_policy_parse(&p, NULL, NULL, NULL, "soon", err, sizeof err),
        TW_PERMFAIL);
    assert_non_null(strstr(err, "warn_before"));
    assert_true(p.mode == TW_SLA_BUSINESS); /* unchanged by a failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_two_weeks),
        cmocka_unit_test(test_riyadh_exactly_fourteen_days),
        cmocka_unit_test(test_berlin_keeps_local_time_across_dst),
        cmocka_unit_test(test_remainder_is_elapsed_time),
        cmocka_unit_test(test_thursday_afternoon_business),
        cmocka_unit_test(test_start_outside_hours),
        cmocka_unit_test(test_pause_over_eid),
        cmocka_unit_test(test_reopened_two_pauses),
        cmocka_unit_test(test_calendar_mode_fourteen_days),
        cmocka_unit_test(test_warnings),
        cmocka_unit_test(test_elapsed_business_minutes),
        cmocka_unit_test(test_no_working_time_is_never),
        cmocka_unit_test(test_parse_policy_text),
        cmocka_unit_test(test_random_riyadh),
        cmocka_unit_test(test_random_berlin),
        cmocka_unit_test(test_random_new_york),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
