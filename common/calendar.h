/*
 * calendar.h - the business calendar: the site's zone, weekend days,
 * working hours and holidays.
 *
 * A calendar answers "is this a working day?" and "which local date is this
 * instant?" without touching the process's TZ: tw_calendar_init reads the
 * zone's compiled rules (zoneinfo) itself and keeps its UTC offset changes
 * in a table, so one process may hold calendars for several zones and the
 * deadline code never calls localtime_r. Once built (init, then the
 * add/parse calls), a calendar is read-only: share it between threads.
 *
 * Days are local dates counted as days since 1970-01-01 (int32_t), as
 * PostgreSQL's date is a day count; weekday 0 is Sunday.
 */
#ifndef TW_CALENDAR_H
#define TW_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"

#define TW_CAL_DEFAULT_ZONE "Asia/Riyadh"

/* "Never": the deadline of a clock that is paused for good, the end of an
 * unbounded span. */
#define TW_TIME_NEVER INT64_MAX

/* bit d of tw_calendar.weekend: weekday d (0 = Sunday .. 6 = Saturday) */
#define TW_WEEKDAY_BIT(d) (1u << (d))

struct tw_calendar {
    char tz[64];      /* IANA zone, default "Asia/Riyadh" */
    unsigned weekend; /* bit d = weekday d is weekend; default Fri+Sat */
    int work_start, work_end; /* minutes after local midnight, business mode;
                                 default 480..960 (08:00-16:00) */
    int32_t *holidays;        /* sorted local dates, days since 1970-01-01;
                                 owned */
    size_t nholidays;

    /* private: the zone's offsets. Offset off[k] (seconds east of UTC)
     * holds from trans_at[k-1] (seconds since the epoch) up to trans_at[k];
     * off[0] before the first change, off[ntrans] after the last.
     * trans_day[k] is the first local date trans_at[k] can touch
     * (non-decreasing), so a run of days before it has one offset. */
    int64_t *trans_at;
    int32_t *trans_day;
    int32_t *off;
    size_t ntrans;
};

/* tw_calendar_init - C with the defaults (Friday and Saturday off, 08:00 to
 * 16:00, no holidays) in zone TZ (NULL: Asia/Riyadh). TW_PERMFAIL if the
 * zone is unknown; C is then empty but safe to free. */
__attribute__((warn_unused_result)) int tw_calendar_init(struct tw_calendar *c,
                                                         const char *tz);

/* tw_calendar_add_holiday - make local date DAY a holiday (kept sorted, a
 * second add of the same day does nothing); TW_OK */
int tw_calendar_add_holiday(struct tw_calendar *c, int32_t day);

/* tw_calendar_parse_weekend - set the weekend from day names ("friday",
 * "Sat", "الجمعة", "السبت"; case-insensitive); an empty list means no
 * weekend. TW_PERMFAIL with a message in ERR on an unknown name. */
__attribute__((warn_unused_result)) int
tw_calendar_parse_weekend(struct tw_calendar *c, const struct tw_strlist *days,
                          char *err, size_t errsz);

/* tw_calendar_parse_hours - set working hours from "08:00-16:00" (end may
 * be "24:00"; start before end). TW_PERMFAIL with a message in ERR. */
__attribute__((warn_unused_result)) int
tw_calendar_parse_hours(struct tw_calendar *c, const char *hours, char *err,
                        size_t errsz);

/* tw_calendar_free - free what C owns; C may be initialised again */
void tw_calendar_free(struct tw_calendar *c);

/* tw_calendar_build - the whole calendar from config values, each NULL for
 * its default: zone TZ, WEEKEND day names, HOURS "08:00-16:00", HOLIDAYS
 * as "YYYY-MM-DD" (anything after the date, e.g. " Eid al-Fitr", is a
 * name and ignored). On failure C is freed and ERR says which value. */
__attribute__((warn_unused_result)) int
tw_calendar_build(struct tw_calendar *c, const char *tz,
                  const struct tw_strlist *weekend, const char *hours,
                  const struct tw_strlist *holidays, char *err, size_t errsz);

/* tw_calendar_weekday - the weekday of local date DAY, 0 = Sunday */
int tw_calendar_weekday(int32_t day);

/* tw_calendar_is_holiday - whether DAY is in C's holiday list */
int tw_calendar_is_holiday(const struct tw_calendar *c, int32_t day);

/* tw_calendar_is_working_day - neither weekend nor holiday */
int tw_calendar_is_working_day(const struct tw_calendar *c, int32_t day);

/* tw_calendar_offset - C's UTC offset at T, in seconds east of UTC */
int32_t tw_calendar_offset(const struct tw_calendar *c, tw_time t);

/* tw_calendar_local_day - the local date of T in C's zone */
int32_t tw_calendar_local_day(const struct tw_calendar *c, tw_time t);

/* tw_calendar_local_minute - the local wall-clock minute of T after its
 * local midnight (0..1439) */
int tw_calendar_local_minute(const struct tw_calendar *c, tw_time t);

/* tw_calendar_at - the first instant of local date DAY at minute
 * MINUTE (0..1440) of it: the earliest instant whose local time is at or
 * after that wall-clock time (a time skipped by a daylight-saving change
 * starts when the change happens) */
tw_time tw_calendar_at(const struct tw_calendar *c, int32_t day, int minute);

/* tw_calendar_add_days - T plus N calendar days in C's zone: the same
 * wall-clock time N days later, as tw_time_add_days does in the process's
 * zone (a time skipped by a daylight-saving change moves forward by the
 * change, as mktime does) */
tw_time tw_calendar_add_days(const struct tw_calendar *c, tw_time t, int n);

/* tw_calendar_work_between - the working time in [A, B) (business hours
 * of working days), usec; 0 when B <= A */
int64_t tw_calendar_work_between(const struct tw_calendar *c, tw_time a,
                                 tw_time b);

/* tw_calendar_work_add - the first instant T >= A with NEED usec of working
 * time in [A, T); A when NEED <= 0; TW_TIME_NEVER when the calendar has no
 * working time (or not before the year 9999) */
tw_time tw_calendar_work_add(const struct tw_calendar *c, tw_time a,
                             int64_t need);

/* tw_calendar_work_until - count working time from A towards B, stopping
 * once NEED is reached: returns the time counted (NEED when reached) and
 * sets *AT to the instant NEED was reached, or TW_TIME_NEVER if B came
 * first. One walk does what work_between then work_add would. */
int64_t tw_calendar_work_until(const struct tw_calendar *c, tw_time a,
                               tw_time b, int64_t need, tw_time *at);

/* tw_date_parse - "2026-12-06" into days since 1970-01-01; TW_PERMFAIL if
 * malformed or not a real date */
__attribute__((warn_unused_result)) int tw_date_parse(const char *s,
                                                      int32_t *day);
/* tw_date_from_ymd - the day count of Y-M-D (no range check) */
int32_t tw_date_from_ymd(int y, int m, int d);
/* tw_date_format - DAY as "YYYY-MM-DD" into BUF (at least 16 bytes);
 * years outside 0000-9999 are clamped to them */
char *tw_date_format(int32_t day, char *buf);

/* tw_ics_holidays - the all-day events of an iCalendar text (RFC 5545):
 * for each day of each VEVENT (DTSTART;VALUE=DATE or a date-time's date;
 * DTEND exclusive, else one day; folded lines, LF or CRLF) calls
 * FN(ARG, day, summary) - summary unescaped, "" when missing, borrowed for
 * the call. A non-zero return from FN stops the parse and is returned.
 * TW_PERMFAIL with "line N: ..." in ERR on a malformed file. */
__attribute__((warn_unused_result)) int
tw_ics_holidays(const char *text, size_t len,
                int (*fn)(void *arg, int32_t day, const char *name), void *arg,
                char *err, size_t errsz);

#endif
