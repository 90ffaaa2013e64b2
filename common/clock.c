/*
 * clock.c - time as the business sees it: instants, the site's zone,
 * ISO 8601 text, calendar-day arithmetic, durations and backoff.
 *
 * DESIGN
 * ------
 * An instant is int64 microseconds since the epoch; everything else is a
 * view of it. The site's zone is the process's TZ (set once with
 * tw_clock_set_zone at start-up), so the C library's localtime_r/mktime do
 * the zone rules and we never carry our own tables. UTC conversions go
 * through timegm. Calendar arithmetic ("14 days later") is done on the
 * broken-down local time with tm_isdst = -1 and handed back to mktime, so
 * the wall-clock time survives a daylight-saving change in between.
 *
 * Parsing is strict and hand-written: a config value or an API field that
 * is almost a date is an error, never a guess.
 */
#define _DEFAULT_SOURCE /* timegm, tm_gmtoff */
#include "clock.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "error.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"

/* The zone set by tw_clock_set_zone; empty until then. */
static char clock_zone[128];

/* from_timespec - a timespec as microseconds */
static tw_time from_timespec(const struct timespec *ts)
{
    return (tw_time)ts->tv_sec * TW_SEC + ts->tv_nsec / 1000;
}

/* tw_clock_now - the current wall-clock time (follows faketime) */
tw_time tw_clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return from_timespec(&ts);
}

/* tw_clock_mono - a monotonic time in microseconds, for timeouts only */
tw_time tw_clock_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return from_timespec(&ts);
}

/* zone_file_ok - whether PATH is a regular file holding compiled zone data
 * (zoneinfo also holds zone.tab, tzdata.zi and the like, which are not) */
static int zone_file_ok(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    char magic[4];
    size_t n = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    return n == sizeof magic && memcmp(magic, "TZif", 4) == 0;
}

/* tw_clock_set_zone - use the IANA zone NAME for local time. The name must
 * be relative, without "..", and name a compiled zone file in zoneinfo. */
int tw_clock_set_zone(const char *name)
{
    if (!name || !*name || name[0] == '/' || strstr(name, "..") ||
        strlen(name) >= sizeof clock_zone)
        return TW_PERMFAIL;
    char path[sizeof ZONEINFO_DIR + sizeof clock_zone + 1];
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    if (!zone_file_ok(path))
        return TW_PERMFAIL;
    /* Touch the environment only for a real change: a reload of the same
     * zone must not setenv() under other threads reading it (libpq does). */
    if (strcmp(name, clock_zone) == 0)
        return TW_OK;
    if (setenv("TZ", name, 1) != 0)
        return TW_PERMFAIL;
    tzset();
    snprintf(clock_zone, sizeof clock_zone, "%s", name);
    return TW_OK;
}

/* tw_clock_zone - the zone in use: the one set, else $TZ, else "localtime"
 * (the system's default zone); static storage */
const char *tw_clock_zone(void)
{
    if (!clock_zone[0]) {
        const char *tz = getenv("TZ");
        snprintf(clock_zone, sizeof clock_zone, "%s",
                 tz && *tz ? tz : "localtime");
    }
    return clock_zone;
}

/* split - T as whole seconds (rounded down) and the microseconds left */
static void split(tw_time t, time_t *sec, long *usec)
{
    int64_t s = t / TW_SEC, u = t % TW_SEC;
    if (u < 0) {
        u += TW_SEC;
        s--;
    }
    *sec = (time_t)s;
    *usec = (long)u;
}

/* format_tm - write TM, the microseconds and the zone suffix ZONE into BUF */
static char *format_tm(const struct tm *tm, long usec, int with_usec,
                       const char *zone, char *buf)
{
    int n = snprintf(buf, TW_TIME_ISO_MAX, "%04d-%02d-%02dT%02d:%02d:%02d",
                     tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday,
                     tm->tm_hour, tm->tm_min, tm->tm_sec);
    if (n < 0 || n >= TW_TIME_ISO_MAX)
        n = 0;
    if (with_usec)
        n += snprintf(buf + n, TW_TIME_ISO_MAX - (size_t)n, ".%06ld", usec);
    snprintf(buf + n, TW_TIME_ISO_MAX - (size_t)n, "%s", zone);
    return buf;
}

/* tw_time_iso - T as local time in the site's zone with a numeric offset */
char *tw_time_iso(tw_time t, int with_usec, char *buf)
{
    time_t sec;
    long usec;
    struct tm tm;
    split(t, &sec, &usec);
    if (!localtime_r(&sec, &tm)) {
        snprintf(buf, TW_TIME_ISO_MAX, "invalid-time");
        return buf;
    }
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    char zone[16];
    snprintf(zone, sizeof zone, "%c%02ld:%02ld", sign, off / 3600 % 100,
             off % 3600 / 60);
    return format_tm(&tm, usec, with_usec, zone, buf);
}

/* tw_time_iso_utc - T in UTC with a "Z" suffix */
char *tw_time_iso_utc(tw_time t, int with_usec, char *buf)
{
    time_t sec;
    long usec;
    struct tm tm;
    split(t, &sec, &usec);
    if (!gmtime_r(&sec, &tm)) {
        snprintf(buf, TW_TIME_ISO_MAX, "invalid-time");
        return buf;
    }
    return format_tm(&tm, usec, with_usec, "Z", buf);
}

/* digits - read exactly N decimal digits at *S into *V, advancing *S */
static int digits(const char **s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return TW_PERMFAIL;
        x = x * 10 + (c - '0');
    }
    *s += n;
    *v = x;
    return TW_OK;
}

/* days_in_month - the length of month MON (1-12) of YEAR */
static int days_in_month(int year, int mon)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days[mon - 1] + (mon == 2 && leap);
}

/* parse_zone - "Z", "+hh:mm", "+hhmm" or "+hh" at S (the whole rest) into
 * seconds east of UTC */
static int parse_zone(const char *s, long *off)
{
    int hh, mm = 0;
    if (s[0] == 'Z' && s[1] == '\0') {
        *off = 0;
        return TW_OK;
    }
    if (s[0] != '+' && s[0] != '-')
        return TW_PERMFAIL;
    int neg = s[0] == '-';
    s++;
    if (digits(&s, 2, &hh) != TW_OK)
        return TW_PERMFAIL;
    if (*s == ':')
        s++;
    if (*s && digits(&s, 2, &mm) != TW_OK)
        return TW_PERMFAIL;
    if (*s || hh > 23 || mm > 59)
        return TW_PERMFAIL;
    *off = (neg ? -1L : 1L) * (hh * 3600L + mm * 60L);
    return TW_OK;
}

/* tw_time_parse - strict ISO 8601 date-time (see clock.h) into *OUT */
int tw_time_parse(const char *s, tw_time *out)
{
    struct tm tm = {0};
    int year, mon, day, hour = 0, min = 0, sec = 0;
    long usec = 0, off = 0;
    int has_zone = 0;

    if (!s || digits(&s, 4, &year) != TW_OK || *s++ != '-' ||
        digits(&s, 2, &mon) != TW_OK || *s++ != '-' ||
        digits(&s, 2, &day) != TW_OK)
        return TW_PERMFAIL;
    if (year < 1 || mon < 1 || mon > 12 || day < 1 ||
        day > days_in_month(year, mon))
        return TW_PERMFAIL;
    if (*s) {
        if (*s != 'T' && *s != ' ')
            return TW_PERMFAIL;
        s++;
        if (digits(&s, 2, &hour) != TW_OK || *s++ != ':' ||
            digits(&s, 2, &min) != TW_OK)
            return TW_PERMFAIL;
        if (*s == ':') {
            s++;
            if (digits(&s, 2, &sec) != TW_OK)
                return TW_PERMFAIL;
            if (*s == '.') {
                int n = 0;
                for (s++; *s >= '0' && *s <= '9'; s++, n++)
                    if (n < 6)
                        usec = usec * 10 + (*s - '0');
                if (n == 0)
                    return TW_PERMFAIL;
                for (; n < 6; n++)
                    usec *= 10;
            }
        }
        if (hour > 23 || min > 59 || sec > 59)
            return TW_PERMFAIL;
        if (*s) {
            if (parse_zone(s, &off) != TW_OK)
                return TW_PERMFAIL;
            has_zone = 1;
        }
    }

    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t;
    if (has_zone) {
        t = timegm(&tm);
        t -= off;
    } else {
        tm.tm_isdst = -1;
        t = mktime(&tm);
        /* -1 is also one second before the epoch, a real local time */
        if (t == (time_t)-1 && year != 1969 && year != 1970)
            return TW_PERMFAIL;
    }
    *out = (tw_time)t * TW_SEC + usec;
    return TW_OK;
}

/* tw_time_local_year - the calendar year of T in the site's zone */
int tw_time_local_year(tw_time t)
{
    time_t sec;
    long usec;
    struct tm tm;
    split(t, &sec, &usec);
    if (!localtime_r(&sec, &tm))
        return 0;
    return tm.tm_year + 1900;
}

/* tw_time_add_days - the same local wall-clock time N days later; a time
 * that does not exist on that day (in a spring-forward gap) moves forward
 * the way mktime normalises it */
tw_time tw_time_add_days(tw_time t, int n)
{
    time_t sec;
    long usec;
    struct tm tm;
    split(t, &sec, &usec);
    if (!localtime_r(&sec, &tm))
        return t + (tw_time)n * TW_DAY;
    tm.tm_mday += n;
    tm.tm_isdst = -1;
    time_t r = mktime(&tm);
    return (tw_time)r * TW_SEC + usec;
}

/* Duration units, longest first: parse requires them in this order. */
static const struct {
    const char *name;
    int64_t usec;
} units[] = {
    {"d", TW_DAY}, {"h", TW_HOUR},  {"m", TW_MIN},
    {"s", TW_SEC}, {"ms", TW_MSEC}, {"us", TW_USEC},
};
#define N_UNITS (sizeof units / sizeof units[0])

/* match_unit - the index of the unit at S (the longest name that matches
 * and is followed by a digit or the end), or -1 */
static int match_unit(const char *s, size_t *len)
{
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < N_UNITS; i++) {
        size_t l = strlen(units[i].name);
        if (strncmp(s, units[i].name, l) == 0 && l > best_len &&
            (s[l] == '\0' || (s[l] >= '0' && s[l] <= '9'))) {
            best = (int)i;
            best_len = l;
        }
    }
    *len = best_len;
    return best;
}

/* tw_duration_parse - "1d12h", "250ms", "90" (seconds) into microseconds.
 * Units: d h m s ms us, each at most once and longest first. */
int tw_duration_parse(const char *s, int64_t *out)
{
    int64_t total = 0;
    int last = -1;

    if (!s || !*s)
        return TW_PERMFAIL;
    while (*s) {
        if (*s < '0' || *s > '9')
            return TW_PERMFAIL;
        int64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > (INT64_MAX - (*s - '0')) / 10)
                return TW_PERMFAIL;
            v = v * 10 + (*s - '0');
        }
        size_t len;
        int u;
        if (*s == '\0' && last < 0)
            u = 3; /* a bare number is seconds */
        else if ((u = match_unit(s, &len)) < 0 || u <= last)
            return TW_PERMFAIL;
        else
            s += len;
        if (v > INT64_MAX / units[u].usec ||
            total > INT64_MAX - v * units[u].usec)
            return TW_PERMFAIL;
        total += v * units[u].usec;
        last = u;
    }
    *out = total;
    return TW_OK;
}

/* tw_duration_format - D as its units from days down ("1d12h", "1h30m",
 * "250ms", "0s"), which tw_duration_parse reads back; "-" before a
 * negative one. Truncated to fit SIZE (> 0). */
char *tw_duration_format(int64_t d, char *buf, size_t size)
{
    size_t n = 0;
    uint64_t left = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;

    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (d < 0)
        n += (size_t)snprintf(buf, size, "-");
    if (left == 0)
        snprintf(buf + n, size - n, "0s");
    for (size_t i = 0; i < N_UNITS && left > 0 && n < size; i++) {
        uint64_t q = left / (uint64_t)units[i].usec;
        if (q == 0)
            continue;
        left -= q * (uint64_t)units[i].usec;
        int w = snprintf(buf + n, size - n, "%llu%s", (unsigned long long)q,
                         units[i].name);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    return buf;
}

/* tw_backoff_init - start at INITIAL, double up to MAX */
void tw_backoff_init(struct tw_backoff *b, int64_t initial, int64_t max)
{
    b->initial = initial > 0 ? initial : 1;
    b->max = max > 0 ? max : b->initial;
    b->current = 0;
}

/* tw_backoff_next - the current delay (never above max) less a random
 * jitter of up to a quarter of it; the next one doubles */
int64_t tw_backoff_next(struct tw_backoff *b)
{
    if (b->current <= 0)
        b->current = b->initial;
    int64_t delay = b->current < b->max ? b->current : b->max;
    b->current = delay > b->max / 2 ? b->max : delay * 2;

    uint64_t span = (uint64_t)(delay / 4);
    if (span > 0) {
        uint64_t r;
        randombytes_buf(&r, sizeof r);
        delay -= (int64_t)(r % (span + 1));
    }
    return delay;
}

/* tw_backoff_reset - after a success, start again from INITIAL */
void tw_backoff_reset(struct tw_backoff *b)
{
    b->current = 0;
}
