/*
 * sla.c - deadlines from a policy, a calendar, a start time and pauses.
 *
 * DESIGN
 * ------
 * The promise is made to people, so "14 days" in calendar mode means the
 * same wall-clock time fourteen calendar days later in the calendar's zone,
 * not 14 * 86400 seconds: across a daylight-saving change the two differ by
 * an hour. The rest below a day, and every pause, is elapsed time.
 *
 * In business mode a target becomes an amount of working time (whole days
 * are whole working days) and the calendar counts it out
 * (tw_calendar_work_add), gap by gap between the pauses. Pauses are first
 * put in order, clipped to the start and merged, so callers may pass the
 * audit trail's intervals as they come.
 *
 * Every function here is pure: no clock, no globals, no allocation for up
 * to PAUSES_ON_STACK pauses. The sweeper calls them per case, the reports
 * per row.
 */
#include "sla.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "mem.h"

#define PAUSES_ON_STACK 16

/* tw_sla_policy_default - the policy's two weeks */
void tw_sla_policy_default(struct tw_sla_policy *p)
{
    p->mode = TW_SLA_CALENDAR;
    p->decision_within = 14 * TW_DAY;
    p->first_response_within = TW_DAY;
    p->first_response_business = 1;
    p->warn_before = 3 * TW_DAY;
    p->warn_before_pct = 0;
}

/* tw_sla_due_at - RECEIVED plus the policy's whole calendar days in the
 * process's zone, then the remainder as elapsed microseconds */
tw_time tw_sla_due_at(const struct tw_sla_policy *p, tw_time received)
{
    int64_t days = p->decision_within / TW_DAY;
    int64_t rest = p->decision_within % TW_DAY;

    if (days > INT_MAX)
        days = INT_MAX;
    if (days < INT_MIN)
        days = INT_MIN;
    return tw_time_add_days(received, (int)days) + rest;
}

/* tw_sla_work_day - one working day's working time */
int64_t tw_sla_work_day(const struct tw_calendar *cal)
{
    int64_t m = cal->work_end - cal->work_start;
    return m > 0 ? m * TW_MIN : 0;
}

/* Pauses in order, from START on, merged; an open one ends at NEVER. */
struct pauses {
    struct tw_interval *v;
    size_t n;
    struct tw_interval stack[PAUSES_ON_STACK];
};

/* pauses_prepare - copy, clip to [START, ...), sort and merge IN */
static void pauses_prepare(struct pauses *ps, const struct tw_interval *in,
                           size_t n, tw_time start)
{
    ps->v = n <= PAUSES_ON_STACK ? ps->stack : tw_malloc(n * sizeof *ps->v);
    ps->n = 0;
    for (size_t i = 0; i < n; i++) {
        struct tw_interval x = in[i];
        if (x.to == 0)
            x.to = TW_TIME_NEVER;
        if (x.from < start)
            x.from = start;
        if (x.to <= x.from)
            continue;
        size_t j = ps->n++; /* insertion sort: a case has a few pauses */
        while (j > 0 && ps->v[j - 1].from > x.from) {
            ps->v[j] = ps->v[j - 1];
            j--;
        }
        ps->v[j] = x;
    }
    size_t m = 0;
    for (size_t i = 0; i < ps->n; i++) {
        if (m > 0 && ps->v[i].from <= ps->v[m - 1].to) {
            if (ps->v[i].to > ps->v[m - 1].to)
                ps->v[m - 1].to = ps->v[i].to;
        } else {
            ps->v[m++] = ps->v[i];
        }
    }
    ps->n = m;
}

static void pauses_release(struct pauses *ps)
{
    if (ps->v != ps->stack)
        free(ps->v);
}

/* work_amount - TARGET as working time: whole days are working days */
static int64_t work_amount(const struct tw_calendar *cal, int64_t target)
{
    int64_t days = target / TW_DAY, rest = target % TW_DAY;
    int64_t day = tw_sla_work_day(cal);
    if (target > 0 && day == 0)
        return INT64_MAX; /* no working time: never reached */
    if (day > 0 && days > (INT64_MAX - rest) / day)
        return INT64_MAX;
    return days * day + rest;
}

/* business_deadline - when WORK of working time has been counted from
 * START, skipping the pauses */
static tw_time business_deadline(const struct tw_calendar *cal, tw_time start,
                                 int64_t work, const struct pauses *ps)
{
    tw_time t = start;
    if (work <= 0)
        return start;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->v[i].from > t) {
            tw_time at;
            work -= tw_calendar_work_until(cal, t, ps->v[i].from, work, &at);
            if (at != TW_TIME_NEVER)
                return at;
        }
        if (ps->v[i].to == TW_TIME_NEVER)
            return TW_TIME_NEVER;
        if (ps->v[i].to > t)
            t = ps->v[i].to;
    }
    return tw_calendar_work_add(cal, t, work);
}

/* calendar_deadline - START plus TARGET's whole calendar days and its
 * rest, then every pause that begins before the deadline so far */
static tw_time calendar_deadline(const struct tw_calendar *cal, tw_time start,
                                 int64_t target, const struct pauses *ps)
{
    if (target <= 0)
        return start;
    int64_t days = target / TW_DAY, rest = target % TW_DAY;
    if (days > INT_MAX / 2)
        return TW_TIME_NEVER;
    tw_time due = tw_calendar_add_days(cal, start, (int)days) + rest;
    for (size_t i = 0; i < ps->n && ps->v[i].from < due; i++) {
        if (ps->v[i].to == TW_TIME_NEVER ||
            due > TW_TIME_NEVER - (ps->v[i].to - ps->v[i].from))
            return TW_TIME_NEVER;
        due += ps->v[i].to - ps->v[i].from;
    }
    return due;
}

/* deadline - the deadline of TARGET in MODE, pauses prepared */
static tw_time deadline(enum tw_sla_mode mode, const struct tw_calendar *cal,
                        tw_time start, int64_t target, const struct pauses *ps)
{
    if (mode == TW_SLA_BUSINESS)
        return business_deadline(cal, start, work_amount(cal, target), ps);
    return calendar_deadline(cal, start, target, ps);
}

/* tw_sla_deadline - see sla.h */
tw_time tw_sla_deadline(const struct tw_sla_policy *p,
                        const struct tw_calendar *cal, tw_time start,
                        int64_t target, const struct tw_interval *pauses,
                        size_t npauses)
{
    struct pauses ps;
    pauses_prepare(&ps, pauses, npauses, start);
    tw_time due = deadline(p->mode, cal, start, target, &ps);
    pauses_release(&ps);
    return due;
}

/* less_pct - X less PCT percent of it, without overflow */
static int64_t less_pct(int64_t x, int pct)
{
    return x - (x / 100 * pct + x % 100 * pct / 100);
}

/* tw_sla_warn_at - the deadline of the target less the warning */
tw_time tw_sla_warn_at(const struct tw_sla_policy *p,
                       const struct tw_calendar *cal, tw_time start,
                       const struct tw_interval *pauses, size_t npauses)
{
    struct pauses ps;
    tw_time at;
    int pct = p->warn_before_pct;

    pauses_prepare(&ps, pauses, npauses, start);
    if (p->mode == TW_SLA_BUSINESS) {
        int64_t work = work_amount(cal, p->decision_within);
        if (pct > 0 && pct < 100)
            work = less_pct(work, pct);
        else
            work -= work_amount(cal, p->warn_before);
        at = business_deadline(cal, start, work, &ps);
    } else {
        int64_t target = p->decision_within;
        if (pct > 0 && pct < 100)
            target = less_pct(target, pct);
        else
            target -= p->warn_before;
        at = calendar_deadline(cal, start, target, &ps);
    }
    pauses_release(&ps);
    return at;
}

/* tw_sla_first_response_due - the first-response deadline */
tw_time tw_sla_first_response_due(const struct tw_sla_policy *p,
                                  const struct tw_calendar *cal, tw_time start,
                                  const struct tw_interval *pauses,
                                  size_t npauses)
{
    struct pauses ps;
    pauses_prepare(&ps, pauses, npauses, start);
    tw_time due =
        deadline(p->first_response_business ? TW_SLA_BUSINESS : p->mode, cal,
                 start, p->first_response_within, &ps);
    pauses_release(&ps);
    return due;
}

/* counted - the time counted in [A, B) in MODE (A <= B) */
static int64_t counted(enum tw_sla_mode mode, const struct tw_calendar *cal,
                       tw_time a, tw_time b)
{
    if (b <= a)
        return 0;
    return mode == TW_SLA_BUSINESS ? tw_calendar_work_between(cal, a, b)
                                   : b - a;
}

/* tw_sla_elapsed - the time counted between A and B outside the pauses */
int64_t tw_sla_elapsed(const struct tw_sla_policy *p,
                       const struct tw_calendar *cal, tw_time a, tw_time b,
                       const struct tw_interval *pauses, size_t npauses)
{
    struct pauses ps;
    int64_t sum = 0;

    if (b < a)
        return -tw_sla_elapsed(p, cal, b, a, pauses, npauses);
    pauses_prepare(&ps, pauses, npauses, a);
    tw_time t = a;
    for (size_t i = 0; i < ps.n && ps.v[i].from < b; i++) {
        sum += counted(p->mode, cal, t, ps.v[i].from);
        if (ps.v[i].to > t)
            t = ps.v[i].to;
    }
    sum += counted(p->mode, cal, t, b);
    pauses_release(&ps);
    return sum;
}

/* ---- config text ------------------------------------------------------- */

/* word_is - whether the LEN bytes at W are one of the '|'-separated
 * words of CHOICES (case-insensitive) */
static int word_is(const char *w, size_t len, const char *choices)
{
    while (*choices) {
        size_t l = strcspn(choices, "|");
        if (l == len && strncasecmp(w, choices, len) == 0)
            return 1;
        choices += l + (choices[l] == '|');
    }
    return 0;
}

/* next_word - the next run of letters at *S; its length, 0 at the end */
static size_t next_word(const char **s, const char **w)
{
    while (**s == ' ' || **s == '\t')
        (*s)++;
    *w = *s;
    while (isalpha((unsigned char)**s))
        (*s)++;
    return (size_t)(*s - *w);
}

/* tw_sla_parse_duration - "14d", "14 days", "1 business day" */
int tw_sla_parse_duration(const char *s, int64_t *out, int *business)
{
    int64_t n = 0, unit;
    int biz = 0;
    const char *w;
    size_t len;

    if (!s)
        return TW_PERMFAIL;
    while (*s == ' ')
        s++;
    if (tw_duration_parse(s, out) == TW_OK) {
        if (business)
            *business = 0;
        return *out > 0 ? TW_OK : TW_PERMFAIL;
    }
    if (!isdigit((unsigned char)*s))
        return TW_PERMFAIL;
    for (; isdigit((unsigned char)*s); s++) {
        if (n > 1000000)
            return TW_PERMFAIL;
        n = n * 10 + (*s - '0');
    }
    len = next_word(&s, &w);
    if (word_is(w, len, "business|working|work")) {
        biz = 1;
        len = next_word(&s, &w);
    }
    if (word_is(w, len, "day|days|d"))
        unit = TW_DAY;
    else if (word_is(w, len, "week|weeks|w"))
        unit = 7 * TW_DAY;
    else if (word_is(w, len, "hour|hours|h"))
        unit = TW_HOUR;
    else if (word_is(w, len, "minute|minutes|min|mins|m"))
        unit = TW_MIN;
    else
        return TW_PERMFAIL;
    while (*s == ' ')
        s++;
    if (*s || n == 0)
        return TW_PERMFAIL;
    *out = n * unit;
    if (business)
        *business = biz;
    return TW_OK;
}

/* tw_sla_parse_warn - a duration or "N%" */
int tw_sla_parse_warn(struct tw_sla_policy *p, const char *s)
{
    int64_t d;
    if (!s)
        return TW_PERMFAIL;
    size_t len = strlen(s);
    if (len >= 2 && len <= 3 && s[len - 1] == '%') {
        int pct = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            if (!isdigit((unsigned char)s[i]))
                return TW_PERMFAIL;
            pct = pct * 10 + (s[i] - '0');
        }
        if (pct < 1 || pct > 99)
            return TW_PERMFAIL;
        p->warn_before_pct = pct;
        return TW_OK;
    }
    if (tw_sla_parse_duration(s, &d, NULL) != TW_OK)
        return TW_PERMFAIL;
    p->warn_before = d;
    p->warn_before_pct = 0;
    return TW_OK;
}

/* tw_sla_policy_parse - P's fields from config text */
int tw_sla_policy_parse(struct tw_sla_policy *p, const char *mode,
                        const char *decision, const char *first_response,
                        const char *warn, char *err, size_t errsz)
{
    struct tw_sla_policy n = *p;
    int biz;

    if (mode) {
        if (strcmp(mode, "calendar") == 0)
            n.mode = TW_SLA_CALENDAR;
        else if (strcmp(mode, "business") == 0)
            n.mode = TW_SLA_BUSINESS;
        else {
            snprintf(err, errsz,
                     "calendar \"%s\": must be calendar or business", mode);
            return TW_PERMFAIL;
        }
    }
    if (decision &&
        tw_sla_parse_duration(decision, &n.decision_within, &biz) != TW_OK) {
        snprintf(err, errsz,
                 "decision_within \"%s\": bad duration (use e.g. 14d, "
                 "14 days, 36h)",
                 decision);
        return TW_PERMFAIL;
    }
    if (first_response) {
        if (tw_sla_parse_duration(first_response, &n.first_response_within,
                                  &biz) != TW_OK) {
            snprintf(err, errsz,
                     "first_response_within \"%s\": bad duration (use e.g. "
                     "1 business day, 8h)",
                     first_response);
            return TW_PERMFAIL;
        }
        n.first_response_business = biz;
    }
    if (warn && tw_sla_parse_warn(&n, warn) != TW_OK) {
        snprintf(err, errsz,
                 "warn_before \"%s\": use a duration (3d) or a percentage "
                 "of the target (25%%)",
                 warn);
        return TW_PERMFAIL;
    }
    *p = n;
    return TW_OK;
}
