/*
 * sla.h - the one place that turns a policy, a calendar, a start time and
 * the pauses into deadlines.
 *
 * The policy's promise is a decision within two weeks of receipt. The
 * engine, the sweeper and the reports all call these pure functions, so they
 * can never disagree about when a case is due.
 *
 * Two ways to count (tw_sla_policy.mode):
 * - calendar: whole days of a duration are calendar days in the calendar's
 *   zone (the same wall-clock time N days later, whatever daylight saving
 *   does between), the rest is elapsed time; paused time is then added.
 * - business: only working time counts - working days (not weekend, not a
 *   holiday) between work_start and work_end local time. A duration's whole
 *   days are whole working days (1d = work_end - work_start of working
 *   time), its hours and minutes working time: "14d" with 08:00-16:00 is
 *   112 working hours, "36h" is 36 working hours. A start outside working
 *   hours counts from the next working minute; pauses remove the working
 *   time they cover.
 * A deadline is the first instant at which the target has been counted.
 */
#ifndef TW_SLA_H
#define TW_SLA_H

#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "clock.h"

enum tw_sla_mode { TW_SLA_CALENDAR, TW_SLA_BUSINESS };

struct tw_sla_policy {
    enum tw_sla_mode mode;         /* default calendar */
    int64_t decision_within;       /* usec, default 14d */
    int64_t first_response_within; /* usec, default 1d (one business day) */
    int64_t warn_before;           /* usec, default 3d; used when
                                      warn_before_pct == 0 */
    int warn_before_pct;           /* 1..99: warn when this % of the target
                                      remains; 0: use warn_before */
    int first_response_business;   /* first_response_within was written in
                                      business days ("1 business day"):
                                      count it in business mode whatever
                                      mode says; default 1 */
};

/* A pause of the clock (awaiting_member): [from, to); to == 0: still
 * paused. Pauses may come in any order and overlap; what lies before the
 * start is ignored. */
struct tw_interval {
    tw_time from, to;
};

/* tw_sla_policy_default - the policy's two weeks: calendar mode, decision
 * within 14d, first response within 1 business day, warn 3d before */
void tw_sla_policy_default(struct tw_sla_policy *p);

/* tw_sla_policy_parse - set P's fields from config text, each NULL to keep
 * what P has: MODE "calendar"|"business", DECISION and FIRST_RESPONSE
 * durations (tw_sla_parse_duration), WARN a duration or "N%".
 * TW_PERMFAIL with a message naming the value in ERR. */
__attribute__((warn_unused_result)) int
tw_sla_policy_parse(struct tw_sla_policy *p, const char *mode,
                    const char *decision, const char *first_response,
                    const char *warn, char *err, size_t errsz);

/* tw_sla_parse_duration - "14d", "36h", "1d12h" (tw_duration_parse), or
 * words: "14 days", "36 hours", "90 minutes", "1 business day", "3 working
 * days", "2 business hours". *BUSINESS (may be NULL) is set to 1 when the
 * text says business/working, else 0. TW_PERMFAIL if malformed, zero or
 * negative. */
__attribute__((warn_unused_result)) int
tw_sla_parse_duration(const char *s, int64_t *out, int *business);

/* tw_sla_parse_warn - "3d" (any tw_sla_parse_duration text) into
 * P->warn_before with warn_before_pct 0, or "25%" (1..99) into
 * P->warn_before_pct. TW_PERMFAIL if malformed. */
__attribute__((warn_unused_result)) int
tw_sla_parse_warn(struct tw_sla_policy *p, const char *s);

/* tw_sla_deadline - when TARGET (usec) has been counted from START, not
 * counting the PAUSES, per P's mode and CAL. A pause still open (to == 0)
 * lasts for ever: TW_TIME_NEVER unless the target is reached before it
 * began (then that earlier instant). TARGET <= 0: START. Also
 * TW_TIME_NEVER in business mode when the calendar has no working time. */
tw_time tw_sla_deadline(const struct tw_sla_policy *p,
                        const struct tw_calendar *cal, tw_time start,
                        int64_t target, const struct tw_interval *pauses,
                        size_t npauses);

/* tw_sla_warn_at - when a warning is due: the instant at which only
 * warn_before (in the mode's units: business days in business mode), or
 * warn_before_pct % of decision_within, remains - i.e. the deadline of
 * the target less that. START when the warning is as long as the target. */
tw_time tw_sla_warn_at(const struct tw_sla_policy *p,
                       const struct tw_calendar *cal, tw_time start,
                       const struct tw_interval *pauses, size_t npauses);

/* tw_sla_first_response_due - the deadline of first_response_within,
 * counted in business mode when first_response_business says so */
tw_time tw_sla_first_response_due(const struct tw_sla_policy *p,
                                  const struct tw_calendar *cal, tw_time start,
                                  const struct tw_interval *pauses,
                                  size_t npauses);

/* tw_sla_elapsed - the time counted between A and B, excluding the pauses:
 * working time in business mode, wall time in calendar mode, in usec
 * (negative when B is before A: "time remaining" of a breached case). An
 * open pause excludes everything after its start. Business time to decision in
 * minutes is tw_sla_elapsed(...) / TW_MIN. */
int64_t tw_sla_elapsed(const struct tw_sla_policy *p,
                       const struct tw_calendar *cal, tw_time a, tw_time b,
                       const struct tw_interval *pauses, size_t npauses);

/* tw_sla_work_day - the working time of one full working day in CAL's
 * hours (work_end - work_start), usec: what "1d" means in business mode */
int64_t tw_sla_work_day(const struct tw_calendar *cal);

/* tw_sla_due_at - calendar-mode deadline of decision_within from RECEIVED
 * in the process's zone (tw_clock_set_zone), no pauses: kept for callers
 * without a calendar; tw_sla_deadline is the general form. */
tw_time tw_sla_due_at(const struct tw_sla_policy *p, tw_time received);

#endif
