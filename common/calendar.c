/*
 * calendar.c - the business calendar: zone offsets, working days and hours,
 * holidays, and iCalendar holiday files.
 *
 * DESIGN
 * ------
 * Deadlines are computed millions of times (every open case, every sweep,
 * every report row), so the calendar never asks the C library for local
 * time. tw_calendar_init reads the zone's compiled file from zoneinfo
 * (RFC 8536 TZif: the 64-bit block and the POSIX TZ footer for the years
 * after its last listed change) into one table of UTC offset changes; local
 * time is then a binary search (or a hint check) and an addition. The
 * process's TZ is neither read nor changed, so a calendar for any zone
 * works beside tw_clock_set_zone and in any thread.
 *
 * Working time is contiguous per day: on a working local date D it is
 * [at(D, work_start), at(D, work_end)), where at() is the first instant
 * whose local wall time reaches that minute (hours that begin or end inside
 * an hour a daylight-saving change skips or repeats are read that way; no
 * real office opens at 02:30). tw_calendar_work_* walk it day
 * by day, but jump whole weeks arithmetically while no holiday and no
 * offset change lies ahead, so a two-week target costs a few days of work,
 * not fourteen.
 *
 * Holiday files are iCalendar (what every calendar application exports):
 * a deliberately small reader for all-day VEVENTs, strict about what it
 * reads and naming the line of anything it cannot.
 */
#include "calendar.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "error.h"
#include "mem.h"

#define ZONEINFO_DIR  "/usr/share/zoneinfo"
#define ZONE_FILE_MAX (1 << 20)
/* Offset changes are listed (or generated from the footer rule) up to the
 * start of this year; later ones keep the last offset. */
#define RULES_UNTIL_YEAR 2200
/* The last date a working-time walk goes to before giving up: 9999-12-31. */
#define DAY_MAX 2932896

/* floor_div, floor_mod - division rounding towards minus infinity */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* tw_date_from_ymd - days since 1970-01-01 of the proleptic Gregorian Y-M-D
 * (H. Hinnant's days_from_civil) */
int32_t tw_date_from_ymd(int y, int m, int d)
{
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ymd_from_date - the inverse of tw_date_from_ymd */
static void ymd_from_date(int32_t z, int *y, int *m, int *d)
{
    z += 719468;
    int era = (z >= 0 ? z : z - 146096) / 146097;
    int doe = z - era * 146097;
    int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return days[m - 1] + (m == 2 && is_leap(y));
}

/* tw_calendar_weekday - 1970-01-01 was a Thursday */
int tw_calendar_weekday(int32_t day)
{
    return (int)floor_mod((int64_t)day + 4, 7);
}

/* tw_date_format - DAY as YYYY-MM-DD */
char *tw_date_format(int32_t day, char *buf)
{
    int y, m, d;
    ymd_from_date(day, &y, &m, &d);
    y = y < 0 ? 0 : y > 9999 ? 9999 : y; /* outside 0000-9999: clamped */
    snprintf(buf, 16, "%04d-%02u-%02u", y, (unsigned)m % 13u,
             (unsigned)d % 32u);
    return buf;
}

/* read_digits - exactly N digits at *S into *V */
static int read_digits(const char **s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if ((*s)[i] < '0' || (*s)[i] > '9')
            return TW_PERMFAIL;
        x = x * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *v = x;
    return TW_OK;
}

/* tw_date_parse - strict YYYY-MM-DD */
int tw_date_parse(const char *s, int32_t *day)
{
    int y, m, d;
    if (!s || read_digits(&s, 4, &y) != TW_OK || *s++ != '-' ||
        read_digits(&s, 2, &m) != TW_OK || *s++ != '-' ||
        read_digits(&s, 2, &d) != TW_OK || *s)
        return TW_PERMFAIL;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return TW_PERMFAIL;
    *day = tw_date_from_ymd(y, m, d);
    return TW_OK;
}

/* ---- the zone: TZif reading ---------------------------------------- */

/* A growing list of offset changes while the zone is read. */
struct zone_build {
    int64_t *at;
    int32_t *off; /* offset from at[i] on */
    size_t n, cap;
    int32_t first; /* offset before at[0] */
};

static void zb_push(struct zone_build *z, int64_t at, int32_t off)
{
    int32_t prev = z->n ? z->off[z->n - 1] : z->first;
    if (off == prev)
        return; /* a change of name or isdst only: same offset */
    if (z->n == z->cap) {
        z->cap = z->cap ? z->cap * 2 : 64;
        z->at = tw_realloc(z->at, z->cap * sizeof *z->at);
        z->off = tw_realloc(z->off, z->cap * sizeof *z->off);
    }
    z->at[z->n] = at;
    z->off[z->n] = off;
    z->n++;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* A POSIX TZ footer's rule: "CET-1CEST,M3.5.0,M10.5.0/3". */
struct tz_rule {
    char kind; /* 'M', 'J' (1..365, no Feb 29) or 'n' (0..365) */
    int m, w, d, n;
    int32_t time; /* local seconds after midnight */
};

struct tz_footer {
    int32_t std, dst; /* seconds east of UTC */
    int has_dst;
    struct tz_rule start, end;
};

/* tz_name - skip a zone abbreviation: letters, or <...> */
static int tz_name(const char **s)
{
    const char *p = *s;
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        if (*p != '>')
            return TW_PERMFAIL;
        *s = p + 1;
        return TW_OK;
    }
    while (isalpha((unsigned char)*p))
        p++;
    if (p - *s < 3)
        return TW_PERMFAIL;
    *s = p;
    return TW_OK;
}

/* tz_hms - [+-]hh[:mm[:ss]] into seconds */
static int tz_hms(const char **s, int32_t *out)
{
    const char *p = *s;
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return TW_PERMFAIL;
    while (isdigit((unsigned char)*p) && h < 1000)
        h = h * 10 + (*p++ - '0');
    if (*p == ':') {
        p++;
        if (read_digits(&p, 2, &m) != TW_OK)
            return TW_PERMFAIL;
        if (*p == ':') {
            p++;
            if (read_digits(&p, 2, &sec) != TW_OK)
                return TW_PERMFAIL;
        }
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    *s = p;
    return TW_OK;
}

/* tz_num - a decimal number at *S */
static int tz_num(const char **s, int *v)
{
    if (!isdigit((unsigned char)**s))
        return TW_PERMFAIL;
    int x = 0;
    while (isdigit((unsigned char)**s) && x < 100000)
        x = x * 10 + (*(*s)++ - '0');
    *v = x;
    return TW_OK;
}

static int tz_rule_parse(const char **s, struct tz_rule *r)
{
    const char *p = *s;
    if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (tz_num(&p, &r->m) != TW_OK || *p++ != '.' ||
            tz_num(&p, &r->w) != TW_OK || *p++ != '.' ||
            tz_num(&p, &r->d) != TW_OK || r->m < 1 || r->m > 12 || r->w < 1 ||
            r->w > 5 || r->d > 6)
            return TW_PERMFAIL;
    } else if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (tz_num(&p, &r->n) != TW_OK || r->n < 1 || r->n > 365)
            return TW_PERMFAIL;
    } else {
        r->kind = 'n';
        if (tz_num(&p, &r->n) != TW_OK || r->n > 365)
            return TW_PERMFAIL;
    }
    r->time = 2 * 3600;
    if (*p == '/') {
        p++;
        if (tz_hms(&p, &r->time) != TW_OK)
            return TW_PERMFAIL;
    }
    *s = p;
    return TW_OK;
}

/* tz_footer_parse - a POSIX TZ string (offsets are west of UTC there) */
static int tz_footer_parse(const char *s, struct tz_footer *f)
{
    int32_t v;
    memset(f, 0, sizeof *f);
    if (tz_name(&s) != TW_OK || tz_hms(&s, &v) != TW_OK)
        return TW_PERMFAIL;
    f->std = -v;
    if (!*s)
        return TW_OK;
    if (tz_name(&s) != TW_OK)
        return TW_PERMFAIL;
    f->has_dst = 1;
    f->dst = f->std + 3600;
    if (*s && *s != ',') {
        if (tz_hms(&s, &v) != TW_OK)
            return TW_PERMFAIL;
        f->dst = -v;
    }
    if (*s++ != ',' || tz_rule_parse(&s, &f->start) != TW_OK || *s++ != ',' ||
        tz_rule_parse(&s, &f->end) != TW_OK || *s)
        return TW_PERMFAIL;
    return TW_OK;
}

/* rule_day - the local date rule R names in year Y */
static int32_t rule_day(const struct tz_rule *r, int y)
{
    if (r->kind == 'J') {
        int n = r->n;
        if (is_leap(y) && n >= 60)
            n++; /* J counts no February 29 */
        return tw_date_from_ymd(y, 1, 1) + n - 1;
    }
    if (r->kind == 'n')
        return tw_date_from_ymd(y, 1, 1) + r->n;
    int32_t first = tw_date_from_ymd(y, r->m, 1);
    int wd = tw_calendar_weekday(first);
    int day = 1 + (r->d - wd + 7) % 7 + (r->w - 1) * 7;
    while (day > month_days(y, r->m))
        day -= 7;
    return first + day - 1;
}

/* footer_extend - the footer's changes after LAST up to RULES_UNTIL_YEAR */
static void footer_extend(struct zone_build *z, const struct tz_footer *f,
                          int64_t last)
{
    if (!f->has_dst) {
        zb_push(z, last, f->std);
        return;
    }
    int y0, m, d;
    ymd_from_date((int32_t)floor_div(last, 86400), &y0, &m, &d);
    for (int y = y0; y < RULES_UNTIL_YEAR; y++) {
        /* DST starts at a local standard time, ends at a local DST time */
        int64_t s =
            (int64_t)rule_day(&f->start, y) * 86400 + f->start.time - f->std;
        int64_t e =
            (int64_t)rule_day(&f->end, y) * 86400 + f->end.time - f->dst;
        int64_t t1 = s < e ? s : e, t2 = s < e ? e : s;
        int32_t o1 = s < e ? f->dst : f->std, o2 = s < e ? f->std : f->dst;
        if (t1 > last)
            zb_push(z, t1, o1);
        if (t2 > last)
            zb_push(z, t2, o2);
    }
}

/* zone_read - the zone file's offset changes into Z */
static int zone_read(const unsigned char *buf, size_t len, struct zone_build *z)
{
    if (len < 44 || memcmp(buf, "TZif", 4) != 0)
        return TW_PERMFAIL;
    int version = buf[4];
    size_t tsize = 4, pos = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pos + 44 > len || memcmp(buf + pos, "TZif", 4) != 0)
            return TW_PERMFAIL;
        const unsigned char *h = buf + pos + 20;
        size_t isut = be32(h), isstd = be32(h + 4), leap = be32(h + 8),
               timecnt = be32(h + 12), typecnt = be32(h + 16),
               charcnt = be32(h + 20);
        if (timecnt > 100000 || typecnt == 0 || typecnt > 256 ||
            charcnt > 100000 || leap > 100000 || isut > 256 || isstd > 256)
            return TW_PERMFAIL;
        size_t body = timecnt * tsize + timecnt + typecnt * 6 + charcnt +
                      leap * (tsize + 4) + isstd + isut;
        pos += 44;
        if (pos + body > len)
            return TW_PERMFAIL;
        if (pass == 0 && version >= '2') {
            pos += body; /* the 32-bit block; use the 64-bit one */
            tsize = 8;
            continue;
        }
        const unsigned char *times = buf + pos;
        const unsigned char *idx = times + timecnt * tsize;
        const unsigned char *types = idx + timecnt;
        z->first = (int32_t)be32(types);
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < timecnt; i++) {
            int64_t at =
                tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
            if (idx[i] >= typecnt || at <= last)
                return TW_PERMFAIL;
            zb_push(z, at, (int32_t)be32(types + 6 * idx[i]));
            last = at;
        }
        pos += body;
        if (tsize == 8 && pos < len && buf[pos] == '\n') {
            const char *f0 = (const char *)buf + pos + 1;
            const char *f1 = memchr(f0, '\n', len - pos - 1);
            char foot[128];
            struct tz_footer f;
            if (f1 && f1 > f0 && (size_t)(f1 - f0) < sizeof foot) {
                memcpy(foot, f0, (size_t)(f1 - f0));
                foot[f1 - f0] = '\0';
                if (tz_footer_parse(foot, &f) == TW_OK)
                    footer_extend(z, &f, timecnt ? last : INT64_MIN / 2);
            }
        }
        break;
    }
    return TW_OK;
}

/* zone_load - read zoneinfo's file for NAME (relative, no "..") */
static int zone_load(const char *name, struct zone_build *z)
{
    char path[256];
    int rc = TW_PERMFAIL;
    if (!name || !*name || name[0] == '/' || strstr(name, "..") ||
        strlen(name) >= 64)
        return TW_PERMFAIL;
    snprintf(path, sizeof path, "%s/%s", ZONEINFO_DIR, name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > ZONE_FILE_MAX)
        return TW_PERMFAIL;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return TW_PERMFAIL;
    unsigned char *buf = tw_malloc((size_t)st.st_size + 1);
    size_t n = fread(buf, 1, (size_t)st.st_size, fp);
    fclose(fp);
    if (n == (size_t)st.st_size)
        rc = zone_read(buf, n, z);
    free(buf);
    return rc;
}

/* ---- the calendar ------------------------------------------------------ */

/* tw_calendar_init - defaults in zone TZ */
int tw_calendar_init(struct tw_calendar *c, const char *tz)
{
    struct zone_build z = {0};
    memset(c, 0, sizeof *c);
    if (!tz)
        tz = TW_CAL_DEFAULT_ZONE;
    if (zone_load(tz, &z) != TW_OK) {
        free(z.at);
        free(z.off);
        return TW_PERMFAIL;
    }
    snprintf(c->tz, sizeof c->tz, "%s", tz);
    c->weekend = TW_WEEKDAY_BIT(5) | TW_WEEKDAY_BIT(6);
    c->work_start = 8 * 60;
    c->work_end = 16 * 60;
    c->ntrans = z.n;
    c->trans_at = z.at ? z.at : tw_malloc(sizeof *c->trans_at);
    c->off = tw_malloc((z.n + 1) * sizeof *c->off);
    c->trans_day = tw_malloc((z.n + 1) * sizeof *c->trans_day);
    c->off[0] = z.first;
    for (size_t i = 0; i < z.n; i++)
        c->off[i + 1] = z.off[i];
    free(z.off);
    for (size_t i = 0; i < z.n; i++) {
        int32_t lo = c->off[i] < c->off[i + 1] ? c->off[i] : c->off[i + 1];
        int64_t d = floor_div(c->trans_at[i] + lo, 86400);
        c->trans_day[i] = d < INT32_MIN ? INT32_MIN : (int32_t)d;
    }
    for (size_t i = z.n; i-- > 1;)
        if (c->trans_day[i - 1] > c->trans_day[i])
            c->trans_day[i - 1] = c->trans_day[i];
    return TW_OK;
}

/* tw_calendar_free - free what C owns */
void tw_calendar_free(struct tw_calendar *c)
{
    free(c->holidays);
    free(c->trans_at);
    free(c->trans_day);
    free(c->off);
    memset(c, 0, sizeof *c);
}

/* lower_bound - the first index in the sorted V[N] whose value >= X */
static size_t lower_bound(const int32_t *v, size_t n, int32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* tw_calendar_add_holiday - insert DAY in order, once */
int tw_calendar_add_holiday(struct tw_calendar *c, int32_t day)
{
    size_t i = lower_bound(c->holidays, c->nholidays, day);
    if (i < c->nholidays && c->holidays[i] == day)
        return TW_OK;
    c->holidays =
        tw_realloc(c->holidays, (c->nholidays + 1) * sizeof *c->holidays);
    memmove(c->holidays + i + 1, c->holidays + i,
            (c->nholidays - i) * sizeof *c->holidays);
    c->holidays[i] = day;
    c->nholidays++;
    return TW_OK;
}

/* Day names as config and people write them; index = weekday. */
static const char *const day_names[7][5] = {
    {"sunday", "sun", "الأحد", "الاحد", NULL},
    {"monday", "mon", "الاثنين", "الإثنين", NULL},
    {"tuesday", "tue", "الثلاثاء", NULL, NULL},
    {"wednesday", "wed", "الأربعاء", "الاربعاء", NULL},
    {"thursday", "thu", "الخميس", NULL, NULL},
    {"friday", "fri", "الجمعة", "الجمعه", NULL},
    {"saturday", "sat", "السبت", NULL, NULL},
};

/* weekday_of - the weekday NAME names, or -1 */
static int weekday_of(const char *name)
{
    char low[64];
    size_t n = 0;
    while (isspace((unsigned char)*name))
        name++;
    for (; *name && n < sizeof low - 1; name++)
        low[n++] = (char)tolower((unsigned char)*name);
    while (n > 0 && isspace((unsigned char)low[n - 1]))
        n--;
    low[n] = '\0';
    for (int d = 0; d < 7; d++)
        for (int k = 0; k < 5 && day_names[d][k]; k++)
            if (strcmp(low, day_names[d][k]) == 0)
                return d;
    return -1;
}

/* tw_calendar_parse_weekend - the weekend from day names */
int tw_calendar_parse_weekend(struct tw_calendar *c,
                              const struct tw_strlist *days, char *err,
                              size_t errsz)
{
    unsigned w = 0;
    for (size_t i = 0; days && i < days->n; i++) {
        int d = weekday_of(days->v[i]);
        if (d < 0) {
            snprintf(err, errsz,
                     "unknown weekday \"%s\" (use e.g. friday, saturday)",
                     days->v[i]);
            return TW_PERMFAIL;
        }
        w |= TW_WEEKDAY_BIT(d);
    }
    if (w == 0x7f) {
        snprintf(err, errsz, "every day of the week is weekend");
        return TW_PERMFAIL;
    }
    c->weekend = w;
    return TW_OK;
}

/* hhmm - "hh:mm" at *S into minutes (24:00 allowed) */
static int hhmm(const char **s, int *min)
{
    int h, m;
    if (read_digits(s, 2, &h) != TW_OK || *(*s)++ != ':' ||
        read_digits(s, 2, &m) != TW_OK || m > 59 || h > 24 ||
        (h == 24 && m != 0))
        return TW_PERMFAIL;
    *min = h * 60 + m;
    return TW_OK;
}

/* tw_calendar_parse_hours - "08:00-16:00" */
int tw_calendar_parse_hours(struct tw_calendar *c, const char *hours, char *err,
                            size_t errsz)
{
    const char *s = hours;
    int a, b;
    if (!s)
        s = "";
    while (*s == ' ')
        s++;
    if (hhmm(&s, &a) != TW_OK)
        goto bad;
    while (*s == ' ')
        s++;
    if (*s++ != '-')
        goto bad;
    while (*s == ' ')
        s++;
    if (hhmm(&s, &b) != TW_OK)
        goto bad;
    while (*s == ' ')
        s++;
    if (*s || a >= b)
        goto bad;
    c->work_start = a;
    c->work_end = b;
    return TW_OK;
bad:
    snprintf(err, errsz,
             "bad working hours \"%s\" (use HH:MM-HH:MM, start before end, "
             "e.g. 08:00-16:00)",
             hours ? hours : "");
    return TW_PERMFAIL;
}

/* tw_calendar_build - the calendar from config values */
int tw_calendar_build(struct tw_calendar *c, const char *tz,
                      const struct tw_strlist *weekend, const char *hours,
                      const struct tw_strlist *holidays, char *err,
                      size_t errsz)
{
    if (tw_calendar_init(c, tz) != TW_OK) {
        snprintf(err, errsz, "unknown time zone \"%s\"",
                 tz ? tz : TW_CAL_DEFAULT_ZONE);
        return TW_PERMFAIL;
    }
    if ((weekend &&
         tw_calendar_parse_weekend(c, weekend, err, errsz) != TW_OK) ||
        (hours && tw_calendar_parse_hours(c, hours, err, errsz) != TW_OK))
        goto fail;
    for (size_t i = 0; holidays && i < holidays->n; i++) {
        char date[11];
        int32_t day;
        const char *h = holidays->v[i];
        snprintf(date, sizeof date, "%s", h);
        if (strlen(h) < 10 || (h[10] && h[10] != ' ' && h[10] != '\t') ||
            tw_date_parse(date, &day) != TW_OK) {
            snprintf(err, errsz, "bad holiday \"%s\" (use YYYY-MM-DD)", h);
            goto fail;
        }
        tw_calendar_add_holiday(c, day);
    }
    return TW_OK;
fail:
    tw_calendar_free(c);
    return TW_PERMFAIL;
}

/* tw_calendar_is_holiday - binary search of the holiday list */
int tw_calendar_is_holiday(const struct tw_calendar *c, int32_t day)
{
    size_t i = lower_bound(c->holidays, c->nholidays, day);
    return i < c->nholidays && c->holidays[i] == day;
}

/* tw_calendar_is_working_day - neither weekend nor holiday */
int tw_calendar_is_working_day(const struct tw_calendar *c, int32_t day)
{
    return !(c->weekend & TW_WEEKDAY_BIT(tw_calendar_weekday(day))) &&
           !tw_calendar_is_holiday(c, day);
}

/* piece_of - the index k of the offset in force at SEC: the first change
 * after SEC (off[k] holds until trans_at[k]) */
static size_t piece_of(const struct tw_calendar *c, int64_t sec)
{
    size_t lo = 0, hi = c->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->trans_at[mid] <= sec)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* tw_calendar_offset - the offset at T */
int32_t tw_calendar_offset(const struct tw_calendar *c, tw_time t)
{
    return c->off[piece_of(c, floor_div(t, TW_SEC))];
}

/* local_sec - T as local seconds since 1970-01-01 00:00 local */
static int64_t local_sec(const struct tw_calendar *c, tw_time t)
{
    int64_t sec = floor_div(t, TW_SEC);
    return sec + c->off[piece_of(c, sec)];
}

/* tw_calendar_local_day - the local date of T */
int32_t tw_calendar_local_day(const struct tw_calendar *c, tw_time t)
{
    return (int32_t)floor_div(local_sec(c, t), 86400);
}

/* tw_calendar_local_minute - the local minute of the day of T */
int tw_calendar_local_minute(const struct tw_calendar *c, tw_time t)
{
    return (int)(floor_mod(local_sec(c, t), 86400) / 60);
}

/* first_piece - the first offset piece whose local times reach LOC: pieces'
 * last local times (trans_at[k] + off[k]) grow with k */
static size_t first_piece(const struct tw_calendar *c, int64_t loc)
{
    size_t lo = 0, hi = c->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->trans_at[mid] + c->off[mid] <= loc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* utc_at_or_after - the first instant (seconds) whose local time >= LOC;
 * *HINT, a piece index from the last call, spares the search while the
 * offset does not change */
static int64_t utc_at_or_after(const struct tw_calendar *c, int64_t loc,
                               size_t *hint)
{
    size_t k = *hint;
    if (k > c->ntrans || (k < c->ntrans && c->trans_at[k] + c->off[k] <= loc) ||
        (k > 0 && c->trans_at[k - 1] + c->off[k - 1] > loc))
        k = *hint = first_piece(c, loc);
    int64_t t = loc - c->off[k];
    if (k > 0 && t < c->trans_at[k - 1])
        t = c->trans_at[k - 1]; /* LOC was skipped: the change itself */
    return t;
}

/* tw_calendar_at - the first instant of DAY at local MINUTE */
tw_time tw_calendar_at(const struct tw_calendar *c, int32_t day, int minute)
{
    size_t hint = 0;
    return utc_at_or_after(c, (int64_t)day * 86400 + minute * 60, &hint) *
           TW_SEC;
}

/* tw_calendar_add_days - the same wall-clock time N days later. A time
 * skipped by a change is read with the offset before it (so it moves
 * forward by the change, as mktime does); a repeated one is the earlier. */
tw_time tw_calendar_add_days(const struct tw_calendar *c, tw_time t, int n)
{
    int64_t sec = floor_div(t, TW_SEC), usec = t - sec * TW_SEC;
    int64_t loc = sec + c->off[piece_of(c, sec)] + (int64_t)n * 86400;
    size_t k = first_piece(c, loc);
    int64_t r = loc - c->off[k];
    if (k > 0 && r < c->trans_at[k - 1])
        r = loc - c->off[k - 1];
    return r * TW_SEC + usec;
}

/* ---- working time ------------------------------------------------------ */

/* next_change_day - the first local date an offset change at or after
 * (about) DAY can touch: days before it keep one offset */
static int32_t next_change_day(const struct tw_calendar *c, int32_t day)
{
    size_t lo = 0, hi = c->ntrans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->trans_day[mid] < (int64_t)day - 1)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->ntrans ? c->trans_day[lo] : INT32_MAX;
}

static int popcount7(unsigned w)
{
    int n = 0;
    for (int d = 0; d < 7; d++)
        n += (w >> d) & 1;
    return n;
}

/* walk - count working time from A up to B, stopping once NEED is
 * reached. Returns the time counted; *AT is the instant NEED was reached,
 * or TW_TIME_NEVER if B (or DAY_MAX) came first. */
static int64_t walk(const struct tw_calendar *c, tw_time a, tw_time b,
                    int64_t need, tw_time *at)
{
    int64_t used = 0, day_len = (int64_t)(c->work_end - c->work_start) * TW_MIN;
    unsigned workdays = ~c->weekend & 0x7fu;
    size_t hint = 0;

    *at = TW_TIME_NEVER;
    if (need <= 0) {
        *at = a;
        return 0;
    }
    if (b <= a || day_len <= 0 || workdays == 0)
        return 0;
    int64_t week = popcount7(workdays) * day_len;
    int32_t d0 = tw_calendar_local_day(c, a);
    int64_t dl = tw_calendar_local_day(c, b - 1);
    int32_t dlast = dl > DAY_MAX ? DAY_MAX : (int32_t)dl;
    size_t h = lower_bound(c->holidays, c->nholidays, d0);
    int32_t change = INT32_MIN;

    for (int32_t d = d0; d <= dlast; d++) {
        /* Whole weeks ahead with no holiday and no offset change, all
         * inside (A, B) and short of NEED: count them at once. */
        if (d > d0 && dlast - d >= 7 && need - used > week) {
            if (change < d)
                change = next_change_day(c, d);
            int32_t special = h < c->nholidays ? c->holidays[h] : INT32_MAX;
            if (change < special)
                special = change;
            int64_t k = special > d ? ((int64_t)special - d) / 7 : 0;
            int64_t kb = ((int64_t)dlast - d) / 7;
            int64_t kn = (need - used - 1) / week;
            if (kb < k)
                k = kb;
            if (kn < k)
                k = kn;
            if (k > 0) {
                used += k * week;
                d += (int32_t)(k * 7);
                if (d > dlast)
                    break;
            }
        }
        while (h < c->nholidays && c->holidays[h] < d)
            h++;
        if (!(workdays & TW_WEEKDAY_BIT(tw_calendar_weekday(d))) ||
            (h < c->nholidays && c->holidays[h] == d))
            continue;
        int64_t s =
            utc_at_or_after(c, (int64_t)d * 86400 + c->work_start * 60, &hint) *
            TW_SEC;
        int64_t e =
            utc_at_or_after(c, (int64_t)d * 86400 + c->work_end * 60, &hint) *
            TW_SEC;
        int64_t lo = s > a ? s : a, hi = e < b ? e : b;
        if (lo >= hi)
            continue;
        if (hi - lo >= need - used) {
            *at = lo + (need - used);
            return need;
        }
        used += hi - lo;
    }
    return used;
}

/* tw_calendar_work_until - walk() for callers */
int64_t tw_calendar_work_until(const struct tw_calendar *c, tw_time a,
                               tw_time b, int64_t need, tw_time *at)
{
    return walk(c, a, b, need, at);
}

/* tw_calendar_work_between - working time in [A, B) */
int64_t tw_calendar_work_between(const struct tw_calendar *c, tw_time a,
                                 tw_time b)
{
    tw_time at;
    return walk(c, a, b, INT64_MAX, &at);
}

/* tw_calendar_work_add - the instant NEED of working time after A */
tw_time tw_calendar_work_add(const struct tw_calendar *c, tw_time a,
                             int64_t need)
{
    tw_time at;
    walk(c, a, TW_TIME_NEVER, need, &at);
    return at;
}

/* ---- iCalendar holidays ------------------------------------------------ */

#define ICS_LINE_MAX 65536

struct ics_state {
    int (*fn)(void *arg, int32_t day, const char *name);
    void *arg;
    char *err;
    size_t errsz;
    int seen_calendar, ended_calendar;
    int in_event, sub; /* inside a VEVENT; depth of components inside it */
    size_t event_line;
    int has_start, has_end, dur_days;
    int32_t start, end;
    char name[256];
};

/* ics_error - "line N: ..." into the state's ERR; TW_PERMFAIL */
__attribute__((format(printf, 3, 4))) static int
ics_error(struct ics_state *st, size_t line, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(st->err, st->errsz, "line %zu: %s", line, msg);
    return TW_PERMFAIL;
}

/* ics_date - "YYYYMMDD" or a date-time "YYYYMMDDThhmmss[Z]": its date */
static int ics_date(const char *v, int32_t *day)
{
    int y, m, d;
    const char *s = v;
    if (read_digits(&s, 4, &y) != TW_OK || read_digits(&s, 2, &m) != TW_OK ||
        read_digits(&s, 2, &d) != TW_OK)
        return TW_PERMFAIL;
    if (*s && *s != 'T')
        return TW_PERMFAIL;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return TW_PERMFAIL;
    *day = tw_date_from_ymd(y, m, d);
    return TW_OK;
}

/* ics_duration_days - whole days of "P3D", "P1W", "P1DT12H" */
static int ics_duration_days(const char *v, int *days)
{
    int n = 0;
    if (*v == '+')
        v++;
    if (*v++ != 'P' || !isdigit((unsigned char)*v))
        return TW_PERMFAIL;
    while (isdigit((unsigned char)*v) && n < 10000)
        n = n * 10 + (*v++ - '0');
    if (*v == 'W')
        n *= 7;
    else if (*v != 'D')
        return TW_PERMFAIL;
    *days = n;
    return TW_OK;
}

/* ics_unescape - a TEXT value with \, \; \\ \n undone, into DST (cut at a
 * character boundary to fit) */
static void ics_unescape(const char *v, char *dst, size_t size)
{
    size_t n = 0;
    for (; *v && n + 1 < size; v++) {
        char ch = *v;
        if (ch == '\\' && v[1]) {
            v++;
            ch = (*v == 'n' || *v == 'N') ? ' ' : *v;
        }
        dst[n++] = ch;
    }
    if (*v) { /* cut short: do not end inside a UTF-8 sequence */
        while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0 && ((unsigned char)dst[n - 1] & 0x80))
            n--;
    }
    dst[n] = '\0';
}

/* ics_end_event - the event is complete: report each of its days */
static int ics_end_event(struct ics_state *st, size_t line)
{
    if (!st->has_start)
        return ics_error(st, line, "event begun at line %zu has no DTSTART",
                         st->event_line);
    int32_t end = st->has_end        ? st->end
                  : st->dur_days > 0 ? st->start + st->dur_days
                                     : st->start + 1;
    if (end <= st->start)
        return ics_error(st, line, "event ends before it starts");
    if (end - st->start > 366)
        return ics_error(st, line, "event longer than a year");
    for (int32_t d = st->start; d < end; d++) {
        int rc = st->fn(st->arg, d, st->name);
        if (rc != 0)
            return rc;
    }
    return TW_OK;
}

/* ics_line - one unfolded content line "NAME;PARAMS:VALUE" */
static int ics_line(struct ics_state *st, char *text, size_t line)
{
    if (!*text)
        return TW_OK;
    size_t nlen = strcspn(text, ";:");
    char *p = text + nlen;
    int quoted = 0;
    for (; *p && (quoted || *p != ':'); p++)
        if (*p == '"')
            quoted = !quoted;
    if (*p != ':' || nlen == 0)
        return ics_error(st, line, "not a content line (NAME:VALUE)");
    const char *value = p + 1;
    text[nlen] = '\0';
    for (char *q = text; *q; q++)
        *q = (char)toupper((unsigned char)*q);

    if (!st->seen_calendar) {
        if (strcmp(text, "BEGIN") != 0 || strcasecmp(value, "VCALENDAR") != 0)
            return ics_error(st, line,
                             "not an iCalendar file (no BEGIN:VCALENDAR)");
        st->seen_calendar = 1;
        return TW_OK;
    }
    if (st->ended_calendar)
        return ics_error(st, line, "text after END:VCALENDAR");
    if (strcmp(text, "BEGIN") == 0) {
        if (st->in_event) {
            if (strcasecmp(value, "VEVENT") == 0)
                return ics_error(st, line, "VEVENT inside a VEVENT");
            st->sub++;
        } else if (strcasecmp(value, "VEVENT") == 0) {
            st->in_event = 1;
            st->sub = 0;
            st->event_line = line;
            st->has_start = st->has_end = 0;
            st->dur_days = 0;
            st->name[0] = '\0';
        }
        return TW_OK;
    }
    if (strcmp(text, "END") == 0) {
        if (st->in_event && st->sub > 0) {
            st->sub--;
        } else if (strcasecmp(value, "VEVENT") == 0) {
            if (!st->in_event)
                return ics_error(st, line, "END:VEVENT without BEGIN:VEVENT");
            st->in_event = 0;
            return ics_end_event(st, line);
        } else if (strcasecmp(value, "VCALENDAR") == 0) {
            if (st->in_event)
                return ics_error(st, line,
                                 "END:VCALENDAR inside the VEVENT begun at "
                                 "line %zu",
                                 st->event_line);
            st->ended_calendar = 1;
        }
        return TW_OK;
    }
    if (!st->in_event || st->sub > 0)
        return TW_OK;
    if (strcmp(text, "DTSTART") == 0 || strcmp(text, "DTEND") == 0) {
        int32_t day;
        if (ics_date(value, &day) != TW_OK)
            return ics_error(st, line, "bad date \"%.40s\" in %s", value, text);
        if (text[2] == 'S') {
            st->start = day;
            st->has_start = 1;
        } else {
            st->end = day;
            st->has_end = 1;
        }
    } else if (strcmp(text, "DURATION") == 0) {
        if (ics_duration_days(value, &st->dur_days) != TW_OK)
            return ics_error(st, line, "bad DURATION \"%.40s\"", value);
    } else if (strcmp(text, "SUMMARY") == 0) {
        ics_unescape(value, st->name, sizeof st->name);
    }
    return TW_OK;
}

/* tw_ics_holidays - unfold TEXT's lines and read its VEVENTs */
int tw_ics_holidays(const char *text, size_t len,
                    int (*fn)(void *arg, int32_t day, const char *name),
                    void *arg, char *err, size_t errsz)
{
    struct ics_state st = {.fn = fn, .arg = arg, .err = err, .errsz = errsz};
    char *buf = tw_malloc(ICS_LINE_MAX);
    size_t n = 0, line = 0, start_line = 0;
    int rc = TW_OK, have = 0;
    const char *p = text, *end = text + len;

    if (errsz > 0)
        err[0] = '\0';

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        size_t l = (size_t)(e - p);
        line++;
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (memchr(p, '\0', l)) {
            rc = ics_error(&st, line, "NUL byte in text");
            goto out;
        }
        if (l > 0 && (p[0] == ' ' || p[0] == '\t')) {
            if (!have) {
                rc = ics_error(&st, line,
                               "continuation line with nothing "
                               "to continue");
                goto out;
            }
            p++;
            l--;
        } else {
            if (have) {
                buf[n] = '\0';
                if ((rc = ics_line(&st, buf, start_line)) != TW_OK)
                    goto out;
            }
            n = 0;
            have = 1;
            start_line = line;
        }
        if (n + l >= ICS_LINE_MAX) {
            rc = ics_error(&st, start_line, "line longer than %d bytes",
                           ICS_LINE_MAX - 1);
            goto out;
        }
        memcpy(buf + n, p, l);
        n += l;
        p = nl ? nl + 1 : end;
    }
    if (have) {
        buf[n] = '\0';
        if ((rc = ics_line(&st, buf, start_line)) != TW_OK)
            goto out;
    }
    if (!st.seen_calendar)
        rc = ics_error(&st, line ? line : 1,
                       "not an iCalendar file (no BEGIN:VCALENDAR)");
    else if (st.in_event)
        rc = ics_error(&st, st.event_line, "VEVENT never ends");
    else if (!st.ended_calendar)
        rc = ics_error(&st, line, "no END:VCALENDAR (file cut short?)");
out:
    free(buf);
    return rc;
}
