/*
 * engine_sla.c - the SLA sweeper, and recomputing deadlines when the
 * settings change.
 *
 * DESIGN
 * ------
 * Deadlines are stored precomputed (cases.sla_due_at, sla_warn_at) by the
 * one deadline function, so finding the cases that crossed one is an index
 * range scan (cases_sla_warn_idx, cases_sla_due_idx: partial indexes that
 * hold only cases still to warn or breach). A round, in one transaction:
 *
 *   pg_try_advisory_xact_lock     another engine sweeping? skip this round
 *   holidays table changed?       hand the new list to the bus side, which
 *                                 rebuilds the settings and sweeps again
 *   settings fingerprint differs  recompute every open case's deadlines
 *   from sla_settings?            and record the new fingerprint
 *   warnings                      UPDATE ... SET sla_warned_at WHERE it is
 *                                 NULL (LIMIT, SKIP LOCKED): event + email
 *                                 to the assignee, else the managers
 *   breaches                      the same with sla_breached_at: event +
 *                                 one email per manager/admin
 *   COMMIT                        then the events are published
 *
 * "Once each" holds because the marks are set in the same statement that
 * picks the rows, under the rows' locks: a second engine sees them set. The
 * round runs in the writer thread after a batch (engine_loop.c asks for it
 * every sla.sweep_every), with at most sla.sweep_limit cases of each kind,
 * so intake waits for one bounded round at most and needs no second
 * connection; a backlog drains over the next rounds.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lifecycle.h"
#include "log.h"
#include "mem.h"

#define RECOMPUTE_CHUNK 5000
#define PAUSES_MAX      256

/* one sweeper at a time: an advisory lock held for the transaction */
static const char sql_lock[] = "SELECT pg_try_advisory_xact_lock(7301003)";

/* remaining time to the due time, e.g. "2d 4h" ($1 now) */
#define REMAINING                                                              \
    "concat(floor(extract(epoch FROM (u.sla_due_at - $1::timestamptz))"        \
    " / 86400)::int, 'd ', floor(mod(extract(epoch FROM"                       \
    " (u.sla_due_at - $1::timestamptz))::numeric, 86400) / 3600)::int, 'h')"

/* Warnings: $1 now, $2 limit. */
static const char sql_warn[] =
    "WITH due AS ("
    "  SELECT id FROM tawasul.cases"
    "  WHERE sla_warn_at <= $1 AND sla_warned_at IS NULL"
    "    AND sla_breached_at IS NULL AND sla_stopped_at IS NULL"
    "    AND sla_paused_since IS NULL AND sla_warn_at IS NOT NULL"
    "  ORDER BY sla_warn_at LIMIT $2::int FOR UPDATE SKIP LOCKED"
    "), u AS ("
    "  UPDATE tawasul.cases c SET sla_warned_at = $1 FROM due"
    "  WHERE c.id = due.id AND c.sla_warned_at IS NULL"
    "  RETURNING c.id, c.ref, c.subject, c.sla_due_at, c.assignee"
    "), ev AS ("
    "  INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    "  SELECT id, $1, 'engine:sla', 'sla.warning',"
    "    jsonb_build_object('sla_due_at', sla_due_at) FROM u"
    "), who AS ("
    "  SELECT u.id, s.email, s.display_name FROM u JOIN tawasul.staff s"
    "    ON s.id = u.assignee AND s.active AND s.email IS NOT NULL"
    "  UNION ALL"
    "  SELECT u.id, s.email, s.display_name FROM u JOIN tawasul.staff s"
    "    ON s.role IN ('manager', 'admin') AND s.active"
    "    AND s.email IS NOT NULL"
    "  WHERE NOT EXISTS (SELECT 1 FROM tawasul.staff a WHERE a.id = u.assignee"
    "    AND a.active AND a.email IS NOT NULL)"
    "), ob AS ("
    "  INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    "    params, created_at, next_attempt_at)"
    "  SELECT u.id, 'sla.warning', w.email, 'ar', 'sla_warning',"
    "    jsonb_build_object('ref', u.ref, 'subject', u.subject, 'name',"
    "      w.display_name, 'sla_due_at', u.sla_due_at, 'remaining', " REMAINING
    ", 'assignee', (SELECT username FROM tawasul.staff WHERE id = u.assignee)),"
    "    $1, $1"
    "  FROM u JOIN who w ON w.id = u.id RETURNING 1"
    ")"
    "SELECT u.ref, u.sla_due_at, (SELECT count(*) FROM ob) FROM u";

/* Breaches: $1 now, $2 limit. */
static const char sql_breach[] =
    "WITH due AS ("
    "  SELECT id FROM tawasul.cases"
    "  WHERE sla_due_at <= $1 AND sla_breached_at IS NULL"
    "    AND sla_stopped_at IS NULL AND sla_paused_since IS NULL"
    "  ORDER BY sla_due_at LIMIT $2::int FOR UPDATE SKIP LOCKED"
    "), u AS ("
    "  UPDATE tawasul.cases c SET sla_breached_at = $1 FROM due"
    "  WHERE c.id = due.id AND c.sla_breached_at IS NULL"
    "  RETURNING c.id, c.ref, c.subject, c.sla_due_at, c.assignee"
    "), ev AS ("
    "  INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    "  SELECT id, $1, 'engine:sla', 'sla.breached',"
    "    jsonb_build_object('sla_due_at', sla_due_at) FROM u"
    "), ob AS ("
    "  INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    "    params, created_at, next_attempt_at)"
    "  SELECT u.id, 'sla.breached', s.email, 'ar', 'sla_breach',"
    "    jsonb_build_object('ref', u.ref, 'subject', u.subject, 'name',"
    "      s.display_name, 'sla_due_at', u.sla_due_at, 'breached_at',"
    "      $1::timestamptz, 'assignee',"
    "      (SELECT username FROM tawasul.staff WHERE id = u.assignee)),"
    "    $1, $1"
    "  FROM u JOIN tawasul.staff s ON s.role IN ('manager', 'admin')"
    "    AND s.active AND s.email IS NOT NULL RETURNING 1"
    ")"
    "SELECT u.ref, u.sla_due_at, (SELECT count(*) FROM ob) FROM u";

/* one_kind - run SQL (warnings or breaches) and queue TOPIC per case;
 * returns how many cases, or a failure */
static long one_kind(struct tw_db *db, const char *sql, const char *topic,
                     tw_time now, long limit, json_t *events, int *outbox)
{
    char at[TW_TIME_ISO_MAX], lim[24];
    int st;
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *p[] = {tw_db_time_param(now, at), lim};
    PGresult *r = tw_db_query_prepared(db, &st, sql, 2, p, NULL, NULL);
    if (!r)
        return st;
    long n = PQntuples(r);
    for (long i = 0; i < n; i++) {
        json_array_append_new(
            events, json_pack("{s:s, s:{s:s, s:s}}", "topic", topic, "data",
                              "case", PQgetvalue(r, (int)i, 0), "sla_due_at",
                              PQgetvalue(r, (int)i, 1)));
        tw_info("%s: %s", PQgetvalue(r, (int)i, 0), topic);
    }
    if (n > 0)
        *outbox += (int)strtol(PQgetvalue(r, 0, 2), NULL, 10);
    PQclear(r);
    return n;
}

/* lock - the sweep's advisory lock for this transaction: 1 if taken, 0 if
 * another engine holds it, or a failure */
static int lock(struct tw_db *db)
{
    int st;
    PGresult *r = tw_db_query_prepared(db, &st, sql_lock, 0, NULL, NULL, NULL);
    if (!r)
        return st;
    int locked = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return locked;
}

/* sweep - one round in the open transaction, under the lock: warnings,
 * then breaches */
static int sweep(struct tw_db *db, tw_time now, long limit, json_t *events,
                 int *outbox, long *warned, long *breached)
{
    *warned = *breached = 0;
    long n = one_kind(db, sql_warn, "sla.warning", now, limit, events, outbox);
    if (n < 0)
        return (int)n;
    *warned = n;
    n = one_kind(db, sql_breach, "sla.breached", now, limit, events, outbox);
    if (n < 0)
        return (int)n;
    *breached = n;
    return TW_OK;
}

/* parse_pauses - "from:to,from:to" (epoch usec; to 0 = open) into OUT */
static size_t parse_pauses(const char *s, struct tw_interval *out)
{
    size_t n = 0;
    while (s && *s && n < PAUSES_MAX) {
        char *end;
        out[n].from = strtoll(s, &end, 10);
        out[n].to = *end == ':' ? strtoll(end + 1, &end, 10) : 0;
        n++;
        s = *end == ',' ? end + 1 : NULL;
    }
    return n;
}

/* add_array_item - "TEXT" (or NULL) to a PostgreSQL array literal */
static void add_array_item(struct tw_buf *b, const char *text)
{
    int rc = tw_buf_add(b, b->len > 1 ? "," : "", b->len > 1 ? 1 : 0);
    rc |= text ? tw_buf_addf(b, "\"%s\"", text) : tw_buf_add(b, "NULL", 4);
    (void)rc; /* no cap */
}

static const char sql_open_cases[] =
    "SELECT c.id, c.category, tawasul.us(c.received_at),"
    " (SELECT string_agg(tawasul.us(p.from_at) || ':' ||"
    "   coalesce(tawasul.us(p.to_at), 0), ',' ORDER BY p.from_at)"
    "  FROM tawasul.sla_pauses p WHERE p.case_id = c.id)"
    " FROM tawasul.cases c"
    " WHERE c.sla_stopped_at IS NULL AND c.id > $1::bigint"
    "   AND c.status NOT IN ('rejected', 'resolved', 'closed', 'withdrawn')"
    " ORDER BY c.id LIMIT 5000";
static const char sql_update_deadlines[] =
    "UPDATE tawasul.cases c SET sla_due_at = u.due, sla_warn_at = u.warn"
    " FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[])"
    "   AS u(id, due, warn)"
    " WHERE c.id = u.id";
static const char sql_store_settings[] =
    "INSERT INTO tawasul.sla_settings (id, fingerprint, summary,"
    " recomputed_at) VALUES (1, $1, $2, $3)"
    " ON CONFLICT (id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
    " summary = EXCLUDED.summary, recomputed_at = EXCLUDED.recomputed_at";

/* recompute_all - every open case's deadlines from POLICY, in chunks, in
 * the open transaction; records the settings' fingerprint. Returns how many
 * cases, or a failure. */
static long recompute_all(struct tw_db *db, const struct tw_policy *policy,
                          tw_time now)
{
    long total = 0;
    char last[24] = "0";
    for (;;) {
        int st;
        const char *p[] = {last};
        PGresult *r =
            tw_db_query_prepared(db, &st, sql_open_cases, 1, p, NULL, NULL);
        if (!r)
            return st;
        int n = PQntuples(r);
        struct tw_buf ids, dues, warns;
        tw_buf_init(&ids, 0);
        tw_buf_init(&dues, 0);
        tw_buf_init(&warns, 0);
        int rc = tw_buf_add(&ids, "{", 1) | tw_buf_add(&dues, "{", 1) |
                 tw_buf_add(&warns, "{", 1);
        long rows = 0;
        for (int i = 0; i < n; i++) {
            struct tw_interval ps[PAUSES_MAX];
            size_t np = PQgetisnull(r, i, 3)
                            ? 0
                            : parse_pauses(PQgetvalue(r, i, 3), ps);
            tw_time due, warn;
            tw_policy_deadlines(
                policy, PQgetisnull(r, i, 1) ? NULL : PQgetvalue(r, i, 1),
                strtoll(PQgetvalue(r, i, 2), NULL, 10), ps, np, &due, &warn);
            snprintf(last, sizeof last, "%s", PQgetvalue(r, i, 0));
            if (due == TW_TIME_NEVER)
                continue; /* paused: recomputed when it resumes */
            char d[TW_TIME_ISO_MAX], w[TW_TIME_ISO_MAX];
            add_array_item(&ids, PQgetvalue(r, i, 0));
            add_array_item(&dues, tw_db_time_param(due, d));
            add_array_item(&warns, warn == TW_TIME_NEVER
                                       ? NULL
                                       : tw_db_time_param(warn, w));
            rows++;
        }
        PQclear(r);
        rc |= tw_buf_add(&ids, "}", 1) | tw_buf_add(&dues, "}", 1) |
              tw_buf_add(&warns, "}", 1);
        (void)rc;
        st = TW_OK;
        if (rows) {
            const char *q[] = {ids.data, dues.data, warns.data};
            st = tw_db_exec(db, sql_update_deadlines, 3, q);
        }
        tw_buf_free(&ids);
        tw_buf_free(&dues);
        tw_buf_free(&warns);
        if (st != TW_OK)
            return st;
        total += rows;
        if (n < RECOMPUTE_CHUNK)
            break;
    }
    char at[TW_TIME_ISO_MAX];
    const char *p[] = {tw_policy_fingerprint(policy), tw_policy_summary(policy),
                       tw_db_time_param(now, at)};
    int st = tw_db_exec(db, sql_store_settings, 3, p);
    return st == TW_OK ? total : st;
}

/* settings_differ - whether the stored deadlines came from other settings
 * (or none are recorded): 1, 0, or a failure */
static int settings_differ(struct tw_db *db, const struct tw_policy *policy)
{
    static const char sql[] =
        "SELECT fingerprint FROM tawasul.sla_settings WHERE id = 1";
    int st;
    PGresult *r = tw_db_query_prepared(db, &st, sql, 0, NULL, NULL, NULL);
    if (!r)
        return st;
    int differ =
        PQntuples(r) != 1 ||
        strcmp(PQgetvalue(r, 0, 0), tw_policy_fingerprint(policy)) != 0;
    PQclear(r);
    return differ;
}

/* read_holidays - the holidays table; on a change since the last read,
 * the new list goes into B for the bus side. 1 changed, 0, or a failure. */
static int read_holidays(struct engine_writer *w, struct engine_batch *b)
{
    static const char sql[] =
        "SELECT (day - date '1970-01-01') FROM tawasul.holidays ORDER BY day";
    int st;
    PGresult *r = tw_db_query_prepared(w->db, &st, sql, 0, NULL, NULL, NULL);
    if (!r)
        return st;
    size_t n = (size_t)PQntuples(r);
    int32_t *days = tw_calloc(n + 1, sizeof *days);
    for (size_t i = 0; i < n; i++)
        days[i] = (int32_t)strtol(PQgetvalue(r, (int)i, 0), NULL, 10);
    PQclear(r);
    int changed = n != w->nholidays ||
                  (n && memcmp(days, w->holidays, n * sizeof *days) != 0);
    if (!changed) {
        free(days);
        return 0;
    }
    free(w->holidays);
    w->holidays = days;
    w->nholidays = n;
    b->holidays = tw_calloc(n + 1, sizeof *days);
    if (n)
        memcpy(b->holidays, days, n * sizeof *days);
    b->nholidays = n;
    b->holidays_changed = 1;
    return 1;
}

/* engine_sla_sweep_batch - see engine.h */
void engine_sla_sweep_batch(struct engine_writer *w, struct engine_batch *b)
{
    tw_time now = tw_clock_now(), t0 = tw_clock_mono();
    long warned = 0, breached = 0, recomputed = -1;
    int locked = 0, outbox = 0;
    json_t *events = json_array();
    int st = tw_db_begin(w->db);
    if (st == TW_OK) {
        int ch = read_holidays(w, b);
        st = ch < 0 ? ch : TW_OK;
    }
    if (st == TW_OK) {
        locked = lock(w->db);
        st = locked < 0 ? locked : TW_OK;
    }
    /* New settings first: then the round sweeps the new deadlines. */
    if (st == TW_OK && locked > 0 && !b->holidays_changed) {
        int differ = settings_differ(w->db, b->policy);
        if (differ < 0)
            st = differ;
        else if (differ) {
            recomputed = recompute_all(w->db, b->policy, now);
            if (recomputed < 0)
                st = (int)recomputed;
        }
    }
    if (st == TW_OK && locked > 0)
        st = sweep(w->db, now, (long)tw_policy_sweep_limit(b->policy), events,
                   &outbox, &warned, &breached);
    if (st == TW_OK)
        st = tw_db_commit(w->db);
    if (st != TW_OK) {
        tw_db_rollback(w->db);
        tw_warn("sla sweep: failed; next round retries");
        json_decref(events);
        if (b->holidays_changed) {
            /* not committed: read again next time */
            free(w->holidays);
            w->holidays = NULL;
            w->nholidays = 0;
        }
        return;
    }
    if (recomputed >= 0)
        tw_info("sla: settings changed (%s): recomputed %ld open cases",
                tw_policy_summary(b->policy), recomputed);
    if (warned || breached)
        tw_info("sla sweep: %ld warned, %ld breached in %lld ms", warned,
                breached, (long long)((tw_clock_mono() - t0) / TW_MSEC));
    b->sweep_events = events;
    b->sweep_outbox = outbox;
}

/* engine_op_sla_sweep - a sweep round now (managers; tests and benchmarks):
 * {"warned":n,"breached":n,"locked":bool,"elapsed_us":n} */
int engine_op_sla_sweep(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"limit", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    struct engine_staff who;
    int st = engine_op_staff(c, 0, &who);
    if (st != TW_OK)
        return st;
    json_t *lim = json_object_get(c->cmd, "limit");
    long limit = json_is_integer(lim) && json_integer_value(lim) > 0
                     ? (long)json_integer_value(lim)
                     : (long)tw_policy_sweep_limit(c->policy);
    long warned = 0, breached = 0;
    int outbox = 0;
    tw_time t0 = tw_clock_mono();
    int locked = lock(c->db);
    if (locked < 0)
        return locked;
    if (locked) {
        st =
            sweep(c->db, c->now, limit, c->events, &outbox, &warned, &breached);
        if (st != TW_OK)
            return st;
    }
    c->outbox_rows += outbox;
    json_object_set_new(c->reply, "warned", json_integer(warned));
    json_object_set_new(c->reply, "breached", json_integer(breached));
    json_object_set_new(c->reply, "locked", json_boolean(locked));
    json_object_set_new(c->reply, "elapsed_us",
                        json_integer((json_int_t)(tw_clock_mono() - t0)));
    return TW_OK;
}

/* engine_op_sla_recompute - every open case's deadlines from the engine's
 * settings now (managers): {"recomputed":n,"settings":"..."} */
int engine_op_sla_recompute(struct engine_op_ctx *c)
{
    static const char *const fields[] = {NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    struct engine_staff who;
    int st = engine_op_staff(c, 0, &who);
    if (st != TW_OK)
        return st;
    int locked = lock(c->db); /* taken or not: rows lock each other */
    if (locked < 0)
        return locked;
    long n = recompute_all(c->db, c->policy, c->now);
    if (n < 0)
        return (int)n;
    json_object_set_new(c->reply, "recomputed", json_integer(n));
    json_object_set_new(c->reply, "settings",
                        json_string(tw_policy_summary(c->policy)));
    json_object_set_new(c->reply, "fingerprint",
                        json_string(tw_policy_fingerprint(c->policy)));
    return TW_OK;
}
