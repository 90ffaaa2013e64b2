/*
 * notifier_digest.c - the managers' daily digest: cases past their decision
 * date, cases whose date is near, and both by officer.
 *
 * Once a day at notifier.digest_at (local time), one daily_digest outbox
 * row per active manager or admin with an email; the rows then go out like
 * any other. "Once" is a row in notifier_digests keyed by the local date,
 * inserted in the same transaction as the outbox rows: a restart, a second
 * notifier or a clock that passes the hour twice queues nothing more. A
 * notifier started after the hour sends that day's digest late rather than
 * not at all.
 */
#include "notifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"
#include "mem.h"

#define DIGEST_CASES_MAX    200 /* lines listed; the counts cover all */
#define DIGEST_OFFICERS_MAX 100

static const char sql_mark[] =
    "INSERT INTO tawasul.notifier_digests (day, queued_at, rows)"
    " VALUES ($1::date, $2, 0) ON CONFLICT (day) DO NOTHING RETURNING day";

/* $1 now: open, undecided, running cases past or near their date */
static const char sql_cases[] =
    "SELECT c.ref, c.subject, tawasul.us(c.sla_due_at),"
    "  coalesce(s.display_name, ''),"
    "  c.sla_breached_at IS NOT NULL OR c.sla_due_at < $1"
    " FROM tawasul.cases c LEFT JOIN tawasul.staff s ON s.id = c.assignee"
    " WHERE c.decided_at IS NULL AND c.sla_paused_since IS NULL"
    "  AND c.status IN ('new', 'with_researcher', 'in_committee')"
    "  AND (c.sla_breached_at IS NOT NULL OR c.sla_due_at < $1"
    "       OR coalesce(c.sla_warn_at, c.sla_due_at - interval '3 days')"
    "          <= $1)"
    " ORDER BY c.sla_due_at, c.id";

static const char sql_open[] =
    "SELECT count(*) FROM tawasul.cases"
    " WHERE status NOT IN ('resolved', 'closed', 'withdrawn', 'rejected')";

/* $1 now, $2 lang, $3 params */
static const char sql_rows[] =
    "INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    "  params, created_at, next_attempt_at)"
    " SELECT NULL, 'digest', s.email, $2, 'daily_digest',"
    "  $3::jsonb || jsonb_build_object('name', s.display_name), $1, $1"
    " FROM tawasul.staff s WHERE s.active AND s.role IN ('manager', 'admin')"
    "  AND s.email IS NOT NULL ORDER BY s.id";

static const char sql_count[] =
    "UPDATE tawasul.notifier_digests SET rows = $2::int WHERE day = $1::date";

/* local_at - NOW's local day (plus DAYS) at MINUTE minutes past midnight */
static tw_time local_at(tw_time now, int days, int minute)
{
    time_t sec = (time_t)(now / TW_SEC);
    struct tm tm;
    if (!localtime_r(&sec, &tm))
        return 0;
    tm.tm_mday += days;
    tm.tm_hour = minute / 60;
    tm.tm_min = minute % 60;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t == (time_t)-1 ? 0 : (tw_time)t * TW_SEC;
}

/* digest_today - NOW's day's digest time, passed or not; 0 when none */
tw_time digest_today(const struct notifier_settings *set, tw_time now)
{
    return set->digest_minute < 0 ? 0 : local_at(now, 0, set->digest_minute);
}

/* digest_next - today's digest time if NOW is before it, else tomorrow's */
tw_time digest_next(const struct notifier_settings *set, tw_time now)
{
    if (set->digest_minute < 0)
        return 0;
    tw_time t = local_at(now, 0, set->digest_minute);
    return t > now ? t : local_at(now, 1, set->digest_minute);
}

/* One officer's line. */
struct officer {
    const char *name;
    int breached, at_risk;
};

/* officer_of - NAME's entry in O (added when new; NULL when full) */
static struct officer *officer_of(struct officer *o, size_t *n,
                                  const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(o[i].name, name) == 0)
            return &o[i];
    if (*n == DIGEST_OFFICERS_MAX)
        return NULL;
    o[*n] = (struct officer){name, 0, 0};
    return &o[(*n)++];
}

/* compose - the digest's params from the cases in R; new reference */
static json_t *compose(const PGresult *r, long open, int ar, tw_time now)
{
    json_t *at_risk = json_array(), *breached = json_array();
    json_t *by = json_array();
    struct officer officers[DIGEST_OFFICERS_MAX];
    size_t nofficers = 0;
    long nb = 0, nr = 0;
    char date[96];

    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 3);
        int is_b = PQgetvalue(r, i, 4)[0] == 't';
        tw_date_human(strtoll(PQgetvalue(r, i, 2), NULL, 10), ar ? "ar" : "en",
                      date, sizeof date);
        const char *who = *name ? name : ar ? "غير مسندة" : "unassigned";
        if ((is_b ? nb : nr) < DIGEST_CASES_MAX) {
            char *line = tw_asprintf(
                ar ? "%s — %s — الموعد: %s — %s" : "%s — %s — due %s — %s",
                PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), date, who);
            json_array_append_new(is_b ? breached : at_risk, json_string(line));
            free(line);
        }
        if (is_b)
            nb++;
        else
            nr++;
        struct officer *o = officer_of(officers, &nofficers, who);
        if (o) {
            o->breached += is_b;
            o->at_risk += !is_b;
        }
    }
    for (size_t i = 0; i < nofficers; i++) {
        char *line = tw_asprintf(ar ? "%s: %d متجاوزة، %d يقترب موعدها"
                                    : "%s: %d overdue, %d due soon",
                                 officers[i].name, officers[i].breached,
                                 officers[i].at_risk);
        char *shown = ar ? tw_digits_ar(line) : tw_strdup(line);
        json_array_append_new(by, json_string(shown));
        free(shown);
        free(line);
    }
    tw_date_human(now, ar ? "ar" : "en", date, sizeof date);
    return json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "date", date,
                     "count_open", (json_int_t)open, "count_at_risk",
                     (json_int_t)nr, "count_breached", (json_int_t)nb,
                     "at_risk", at_risk, "breached", breached, "by_officer",
                     by);
}

/* digest_queue - queue today's digest unless it has been already */
int digest_queue(struct tw_db *db, const struct notifier_config *cfg,
                 const struct notifier_settings *set, tw_time now)
{
    char tnow[TW_TIME_ISO_MAX], day[16], rows[16];
    int st;
    PGresult *r = NULL;
    (void)set;
    tw_db_time_param(now, tnow);
    time_t sec = (time_t)(now / TW_SEC);
    struct tm tm;
    if (!localtime_r(&sec, &tm))
        return TW_PERMFAIL;
    strftime(day, sizeof day, "%Y-%m-%d", &tm);

    if ((st = tw_db_begin(db)) != TW_OK)
        return st;
    const char *pm[] = {day, tnow};
    if (!(r = tw_db_query(db, &st, sql_mark, 2, pm)))
        goto fail;
    int fresh = PQntuples(r) == 1;
    PQclear(r);
    if (!fresh) {
        tw_db_rollback(db);
        return TW_OK;
    }
    if (!(r = tw_db_query(db, &st, sql_open, 0, NULL)))
        goto fail;
    long open = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    const char *pc[] = {tnow};
    if (!(r = tw_db_query(db, &st, sql_cases, 1, pc)))
        goto fail;
    json_t *params = compose(r, open, strcmp(cfg->staff_lang, "ar") == 0, now);
    PQclear(r);
    char *ptext = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    const char *pr[] = {tnow, cfg->staff_lang, ptext};
    r = tw_db_query(db, &st, sql_rows, 3, pr);
    free(ptext);
    if (!r)
        goto fail;
    snprintf(rows, sizeof rows, "%s", PQcmdTuples(r));
    PQclear(r);
    const char *pn[] = {day, rows};
    if ((st = tw_db_exec(db, sql_count, 2, pn)) != TW_OK ||
        (st = tw_db_commit(db)) != TW_OK)
        goto fail;
    tw_info("digest %s: queued for %s managers", day, rows);
    return TW_OK;
fail:
    tw_db_rollback(db);
    return st;
}
