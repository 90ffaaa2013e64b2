/*
 * bench_sla_deadline - how many deadlines per second tw_sla_deadline
 * computes: a fourteen-day target from 4096 different starts over two
 * years, each case with two pauses, in business mode (Riyadh, Friday and
 * Saturday off, 08:00-16:00, 30 holiday days a year) and in calendar mode;
 * then business mode in a zone with daylight saving (Berlin) and with no
 * pauses, and tw_sla_warn_at and tw_sla_elapsed for the report's columns.
 *
 * Usage: bench_sla_deadline [SECONDS per figure, default 1]
 * Every figure is printed as "name: value" on its own line. Single thread.
 */
#include <stdio.h>
#include <stdlib.h>

#include "calendar.h"
#include "clock.h"
#include "error.h"
#include "sla.h"

#define NCASES 4096

struct bcase {
    tw_time start;
    struct tw_interval pauses[2];
};

static struct bcase cases[NCASES];

static unsigned long long rng_state = 20261125ULL;

static int64_t pick(int64_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int64_t)((rng_state >> 33) % (unsigned long long)n);
}

/* setup - random starts in 2026-2027; a pause of 1-5 days within the first
 * week and another of up to 3 days in the second */
static void setup(tw_time from)
{
    for (int i = 0; i < NCASES; i++) {
        struct bcase *c = &cases[i];
        c->start = from + pick(730 * 24 * 60) * TW_MIN;
        c->pauses[0].from = c->start + pick(7 * 24 * 60) * TW_MIN;
        c->pauses[0].to = c->pauses[0].from + (1 + pick(5 * 24 * 60)) * TW_MIN;
        c->pauses[1].from = c->pauses[0].to + pick(7 * 24 * 60) * TW_MIN;
        c->pauses[1].to = c->pauses[1].from + (1 + pick(3 * 24 * 60)) * TW_MIN;
    }
}

/* holidays - about 30 days a year: two Eids and a few single days */
static void holidays(struct tw_calendar *cal)
{
    static const char *const blocks[][2] = {
        {"2026-02-22", "1"}, {"2026-03-18", "6"}, {"2026-05-25", "7"},
        {"2026-09-23", "1"}, {"2027-02-22", "1"}, {"2027-03-08", "6"},
        {"2027-05-14", "7"}, {"2027-09-23", "1"}, {"2028-02-22", "1"},
        {"2028-02-25", "6"}, {"2028-05-03", "7"}, {"2028-09-23", "1"},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        int32_t d;
        if (tw_date_parse(blocks[i][0], &d) != TW_OK)
            abort();
        for (int j = 0; j < atoi(blocks[i][1]); j++)
            tw_calendar_add_holiday(cal, d + j);
    }
}

enum what { DEADLINE, DEADLINE_NO_PAUSES, WARN, ELAPSED };

/* run - computations per second of WHAT for about SECONDS */
static double run(const struct tw_sla_policy *p, const struct tw_calendar *cal,
                  enum what what, double seconds, tw_time *sink)
{
    long long n = 0;
    tw_time t0 = tw_clock_mono(), t1;
    do {
        for (int i = 0; i < NCASES; i++) {
            const struct bcase *c = &cases[i];
            switch (what) {
            case DEADLINE:
                *sink ^= tw_sla_deadline(p, cal, c->start, p->decision_within,
                                         c->pauses, 2);
                break;
            case DEADLINE_NO_PAUSES:
                *sink ^= tw_sla_deadline(p, cal, c->start, p->decision_within,
                                         NULL, 0);
                break;
            case WARN:
                *sink ^= tw_sla_warn_at(p, cal, c->start, c->pauses, 2);
                break;
            case ELAPSED:
                *sink ^= tw_sla_elapsed(p, cal, c->start,
                                        c->start + 20 * TW_DAY, c->pauses, 2);
                break;
            }
        }
        n += NCASES;
        t1 = tw_clock_mono();
    } while ((double)(t1 - t0) < seconds * 1e6);
    return (double)n / ((double)(t1 - t0) / 1e6);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    struct tw_calendar riyadh, berlin;
    struct tw_sla_policy p;
    tw_time from, sink = 0;

    if (seconds <= 0 || tw_time_parse("2026-01-01T00:00:00Z", &from) != TW_OK ||
        tw_calendar_init(&riyadh, "Asia/Riyadh") != TW_OK ||
        tw_calendar_init(&berlin, "Europe/Berlin") != TW_OK) {
        fprintf(stderr, "usage: bench_sla_deadline [SECONDS]\n");
        return 64;
    }
    holidays(&riyadh);
    holidays(&berlin);
    berlin.weekend = TW_WEEKDAY_BIT(6) | TW_WEEKDAY_BIT(0);
    setup(from);
    tw_sla_policy_default(&p);

    p.mode = TW_SLA_BUSINESS;
    printf("business 14d, 2 pauses, Riyadh (deadlines/s): %.0f\n",
           run(&p, &riyadh, DEADLINE, seconds, &sink));
    printf("business 14d, no pauses, Riyadh (deadlines/s): %.0f\n",
           run(&p, &riyadh, DEADLINE_NO_PAUSES, seconds, &sink));
    printf("business 14d, 2 pauses, Berlin DST (deadlines/s): %.0f\n",
           run(&p, &berlin, DEADLINE, seconds, &sink));
    printf("business warn_at 3d, 2 pauses, Riyadh (per s): %.0f\n",
           run(&p, &riyadh, WARN, seconds, &sink));
    printf("business elapsed over 20d, 2 pauses, Riyadh (per s): %.0f\n",
           run(&p, &riyadh, ELAPSED, seconds, &sink));
    p.mode = TW_SLA_CALENDAR;
    printf("calendar 14d, 2 pauses, Riyadh (deadlines/s): %.0f\n",
           run(&p, &riyadh, DEADLINE, seconds, &sink));
    printf("calendar 14d, 2 pauses, Berlin DST (deadlines/s): %.0f\n",
           run(&p, &berlin, DEADLINE, seconds, &sink));
    printf("checksum: %llx\n", (unsigned long long)sink);
    tw_calendar_free(&riyadh);
    tw_calendar_free(&berlin);
    return 0;
}
