/*
 * clock.h - time as the business sees it.
 *
 * Time is an int64 count of microseconds since the Unix epoch (tw_time),
 * the precision PostgreSQL's timestamptz keeps. It is read from the
 * service's clock (CLOCK_REALTIME, so faketime moves it) and handed to SQL
 * as a parameter: no business rule uses SQL now() (DESIGN.md "Data").
 * Wall-clock rendering uses the site's time zone (config site.timezone,
 * default Asia/Riyadh), set once with tw_clock_set_zone().
 * Durations are written as in config: "14d", "36h", "90m", "45s", "1d12h".
 */
#ifndef TW_CLOCK_H
#define TW_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t tw_time;

#define TW_USEC INT64_C(1)
#define TW_MSEC INT64_C(1000)
#define TW_SEC  INT64_C(1000000)
#define TW_MIN  (60 * TW_SEC)
#define TW_HOUR (60 * TW_MIN)
#define TW_DAY  (24 * TW_HOUR)

/* Enough for "2026-11-25T18:20:44.123456+03:00" and a NUL. */
#define TW_TIME_ISO_MAX 40

/* tw_clock_now - the current wall-clock time (follows faketime) */
tw_time tw_clock_now(void);
/* tw_clock_mono - a monotonic time in microseconds, for timeouts only */
tw_time tw_clock_mono(void);

/* tw_clock_set_zone - use the IANA zone NAME (e.g. "Asia/Riyadh") for local
 * time; TW_PERMFAIL if the zone is unknown on this system */
__attribute__((warn_unused_result)) int tw_clock_set_zone(const char *name);
/* tw_clock_zone - the zone in use (borrowed, static) */
const char *tw_clock_zone(void);

/* tw_time_iso - write T as ISO 8601 local time with offset into BUF
 * (at least TW_TIME_ISO_MAX bytes): "2026-11-25T18:20:44+03:00", with
 * ".123456" before the offset when WITH_USEC is non-zero. Returns BUF. */
char *tw_time_iso(tw_time t, int with_usec, char *buf);
/* tw_time_iso_utc - the same in UTC with a "Z" suffix */
char *tw_time_iso_utc(tw_time t, int with_usec, char *buf);
/* tw_time_parse - parse ISO 8601 "YYYY-MM-DD[T ]hh:mm[:ss[.frac]]" followed by
 * "Z", "+hh:mm", "+hhmm" or "+hh"; a date alone ("YYYY-MM-DD") or a time
 * without zone is taken as local time in the site's zone.
 * TW_PERMFAIL on any malformed or out-of-range input. */
__attribute__((warn_unused_result)) int tw_time_parse(const char *s,
                                                      tw_time *out);

/* tw_time_local_year - the calendar year of T in the site's zone */
int tw_time_local_year(tw_time t);
/* tw_time_add_days - T plus N calendar days in the site's zone: the same
 * wall-clock time N days later, whatever daylight-saving does between */
tw_time tw_time_add_days(tw_time t, int n);

/* tw_duration_parse - parse "14d", "36h", "90m", "45s", "250ms", "1d12h"
 * or a bare number of seconds into microseconds; TW_PERMFAIL if malformed
 * or negative or overflowing */
__attribute__((warn_unused_result)) int tw_duration_parse(const char *s,
                                                          int64_t *out);
/* tw_duration_format - write D as the shortest such text ("14d", "1d12h",
 * "250ms") into BUF of SIZE bytes; returns BUF */
char *tw_duration_format(int64_t d, char *buf, size_t size);

/* Exponential backoff with jitter, for reconnects and resends. */
struct tw_backoff {
    int64_t initial; /* first delay, microseconds */
    int64_t max;     /* ceiling, microseconds */
    int64_t current; /* 0 until the first tw_backoff_next() */
};
/* tw_backoff_init - start at INITIAL, double up to MAX */
void tw_backoff_init(struct tw_backoff *b, int64_t initial, int64_t max);
/* tw_backoff_next - the next delay (current, then doubled), with up to 25%
 * random jitter subtracted so that many clients do not retry in step */
int64_t tw_backoff_next(struct tw_backoff *b);
/* tw_backoff_reset - after a success, start again from INITIAL */
void tw_backoff_reset(struct tw_backoff *b);

#endif
