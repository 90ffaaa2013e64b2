/*
 * notifier_store.c - the outbox in SQL: claim, record, alert.
 *
 * DESIGN
 * ------
 * A row's delivery goes pending -> sending -> sent | failed (or back to
 * pending with a later next_attempt_at). Claiming is one short committed
 * transaction (FOR UPDATE SKIP LOCKED: notifiers never wait on each other)
 * that marks the rows 'sending' with a lease (claimed_until) and gives each
 * its Message-ID once, so a row tried again keeps the same Message-ID. SMTP
 * happens outside any transaction; then one transaction records every
 * outcome of the batch. A notifier killed in between leaves its rows
 * 'sending': when the lease runs out they are pending again, so at most the
 * rows of the batch in flight at the kill can reach a member twice.
 *
 * This is delivery bookkeeping, not case state: the engine remains the only
 * writer of a case's status and dates (DESIGN.md "Shape"). The notifier
 * writes only the outbox, the outgoing mail into `messages` (so a member's
 * reply threads back to the case) and audit rows in `case_events` saying a
 * mail could not be delivered - facts only the notifier learns.
 */
#include "notifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "mem.h"

static const char sql_reclaim[] =
    "UPDATE tawasul.outbox SET status = 'pending', claimed_until = NULL,"
    " last_error = coalesce(last_error, 'notifier stopped while sending')"
    " WHERE status = 'sending' AND claimed_until < $1";

/* $1 now, $2 lease end, $3 limit, $4 mail domain */
static const char sql_claim[] =
    "WITH c AS ("
    "  UPDATE tawasul.outbox o SET status = 'sending',"
    "    attempts = o.attempts + 1, claimed_until = $2,"
    "    sent_message_id = coalesce(o.sent_message_id, 'tw.' || o.id || '.'"
    "      || substr(md5(random()::text || o.id::text), 1, 16) || '@' || $4)"
    "  WHERE o.id IN (SELECT id FROM tawasul.outbox"
    "    WHERE status = 'pending' AND next_attempt_at <= $1"
    "    ORDER BY next_attempt_at, id LIMIT $3::int"
    "    FOR UPDATE SKIP LOCKED)"
    "  RETURNING o.id, o.case_id, o.recipient, o.lang, o.template,"
    "    o.params::text AS params, o.attempts,"
    "    tawasul.us(coalesce(o.retried_at, o.created_at)) AS created,"
    "    o.sent_message_id"
    ")"
    "SELECT c.id, c.case_id, c.recipient, c.lang, c.template, c.params,"
    "  c.attempts, c.created, c.sent_message_id, k.ref, p.message_id, p.refs"
    " FROM c LEFT JOIN tawasul.cases k ON k.id = c.case_id"
    " LEFT JOIN LATERAL (SELECT m.message_id, m.refs FROM tawasul.messages m"
    "   WHERE m.case_id = c.case_id AND m.message_id IS NOT NULL"
    "   ORDER BY m.at DESC, m.id DESC LIMIT 1) p ON true"
    " ORDER BY c.id";

/* The sent rows of a batch and their outgoing messages in one statement.
 * $1 JSON array of {id, subject, body, to_member, from, refs}, $2 now */
static const char sql_sent[] =
    "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id bigint,"
    "  subject text, body text, to_member boolean, from_addr text,"
    "  in_reply_to text, refs text)"
    "), u AS ("
    "  UPDATE tawasul.outbox o SET status = 'sent', sent_at = $2,"
    "    claimed_until = NULL, last_error = NULL, subject = r.subject,"
    "    body = r.body FROM r WHERE o.id = r.id"
    "  RETURNING o.id, o.case_id, o.recipient, o.sent_message_id"
    ")"
    "INSERT INTO tawasul.messages (case_id, at, direction, channel, author,"
    "  from_addr, to_addr, subject, body, message_id, in_reply_to, refs)"
    " SELECT u.case_id, $2, 'out', 'email', 'notifier', r.from_addr,"
    "  u.recipient, r.subject, r.body, u.sent_message_id, r.in_reply_to,"
    "  r.refs"
    " FROM u JOIN r ON r.id = u.id"
    " WHERE r.to_member AND u.case_id IS NOT NULL"
    " ON CONFLICT (message_id) WHERE message_id IS NOT NULL DO NOTHING";

/* $1 id, $2 next attempt, $3 error */
static const char sql_retry[] =
    "UPDATE tawasul.outbox SET status = 'pending', claimed_until = NULL,"
    " next_attempt_at = $2, last_error = $3 WHERE id = $1";

/* $1 id, $2 error, $3 subject, $4 body */
static const char sql_failed[] =
    "UPDATE tawasul.outbox SET status = 'failed', claimed_until = NULL,"
    " last_error = $2, subject = coalesce($3, subject),"
    " body = coalesce($4, body) WHERE id = $1";

/* $1 case, $2 now, $3 kind, $4 detail JSON */
static const char sql_event[] =
    "INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    " VALUES ($1, $2, 'notifier', $3, $4::jsonb)";

/* The managers' alert. $1 case, $2 now, $3 lang, $4 params of the failed
 * row, $5 recipient, $6 error, $7 failed template */
static const char sql_alert[] =
    "INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    "  params, created_at, next_attempt_at)"
    " SELECT $1::bigint, 'mail.failed', s.email, $3::text,"
    "  'delivery_failed', jsonb_build_object('ref', $4::jsonb->>'ref',"
    "    'subject', $4::jsonb->>'subject', 'name', s.display_name,"
    "    'recipient', $5::text, 'error', $6::text, 'failed_template',"
    "    $7::text), $2::timestamptz, $2::timestamptz"
    " FROM tawasul.staff s WHERE s.active AND s.role IN ('manager', 'admin')"
    "  AND s.email IS NOT NULL ORDER BY s.id";

static const char sql_next_due[] =
    "SELECT tawasul.us(least("
    " (SELECT min(next_attempt_at) FROM tawasul.outbox"
    "   WHERE status = 'pending'),"
    " (SELECT min(claimed_until) FROM tawasul.outbox"
    "   WHERE status = 'sending')))";

/* mail_free - the row's strings and JSON */
void mail_free(struct mail *m)
{
    free(m->recipient);
    free(m->lang);
    free(m->tmpl);
    json_decref(m->params);
    free(m->message_id);
    free(m->ref);
    free(m->parent_id);
    free(m->parent_refs);
    tw_rendered_free(&m->r);
    free(m->references);
    free(m->wire);
    memset(m, 0, sizeof *m);
}

/* opt_dup - a copy of column C of row I, NULL for SQL NULL */
static char *opt_dup(const PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? NULL : tw_strdup(PQgetvalue(r, i, c));
}

/* store_claim - take back expired leases, then claim due rows */
int store_claim(struct tw_db *db, const struct notifier_config *cfg,
                const char *mail_domain, tw_time now, struct mail **mails)
{
    char tnow[TW_TIME_ISO_MAX], tlease[TW_TIME_ISO_MAX], lim[24];
    int st;
    *mails = NULL;
    tw_db_time_param(now, tnow);
    tw_db_time_param(now + cfg->lease, tlease);
    snprintf(lim, sizeof lim, "%lld", (long long)cfg->batch_max);

    const char *p1[] = {tnow};
    PGresult *r = tw_db_query_prepared(db, &st, sql_reclaim, 1, p1, NULL, NULL);
    if (!r)
        return st;
    long back = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (back > 0)
        tw_warn("outbox: %ld rows left 'sending' past their lease (a "
                "notifier stopped mid-batch): trying them again",
                back);

    const char *p2[] = {tnow, tlease, lim, mail_domain};
    r = tw_db_query_prepared(db, &st, sql_claim, 4, p2, NULL, NULL);
    if (!r)
        return st;
    int n = PQntuples(r);
    struct mail *m = n ? tw_calloc((size_t)n, sizeof *m) : NULL;
    for (int i = 0; i < n; i++) {
        m[i].id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        m[i].case_id =
            PQgetisnull(r, i, 1) ? 0 : strtoll(PQgetvalue(r, i, 1), NULL, 10);
        m[i].recipient = opt_dup(r, i, 2);
        m[i].lang = tw_strdup(PQgetvalue(r, i, 3));
        m[i].tmpl = tw_strdup(PQgetvalue(r, i, 4));
        m[i].params = json_loads(PQgetvalue(r, i, 5), 0, NULL);
        if (!m[i].params)
            m[i].params = json_object();
        m[i].attempts = (int)strtol(PQgetvalue(r, i, 6), NULL, 10);
        m[i].created_at = strtoll(PQgetvalue(r, i, 7), NULL, 10);
        m[i].message_id = tw_strdup(PQgetvalue(r, i, 8));
        m[i].ref = opt_dup(r, i, 9);
        m[i].parent_id = opt_dup(r, i, 10);
        m[i].parent_refs = opt_dup(r, i, 11);
    }
    PQclear(r);
    *mails = m;
    return n;
}

/* retry_delay - the pause after attempt ATTEMPTS (1-based) */
static int64_t retry_delay(const struct notifier_settings *set, int attempts)
{
    size_t i = attempts > 0 ? (size_t)attempts - 1 : 0;
    if (i >= set->nretry)
        i = set->nretry - 1;
    return set->retry[i];
}

/* event_detail - the JSON of a mail.* case event for M; caller frees */
static char *event_detail(const struct mail *m, const char *note)
{
    json_t *d =
        json_pack("{s:I, s:s, s:s?, s:s, s:i}", "outbox_id", (json_int_t)m->id,
                  "template", m->tmpl, "recipient", m->recipient, "error",
                  m->error, "attempts", m->attempts);
    if (note)
        json_object_set_new(d, "note", json_string(note));
    char *s = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return s;
}

/* record_failed - M failed for good: the row, a case event and (for a
 * member's mail) the managers' alert */
static int record_failed(struct tw_db *db, const struct notifier_config *cfg,
                         struct mail *m, const char *tnow)
{
    char id[24], cid[24];
    snprintf(id, sizeof id, "%lld", m->id);
    snprintf(cid, sizeof cid, "%lld", m->case_id);
    const char *p[] = {id, m->error, m->r.subject, m->r.text};
    int st = tw_db_exec(db, sql_failed, 4, p);
    if (st != TW_OK || !m->case_id)
        return st;

    int unreachable = m->outcome == MAIL_UNREACHABLE;
    char *detail = event_detail(
        m, unreachable ? "member not reachable by email, phone them" : NULL);
    const char *pe[] = {
        cid, tnow, unreachable ? "mail.unreachable" : "mail.failed", detail};
    st = tw_db_exec(db, sql_event, 4, pe);
    free(detail);
    if (st != TW_OK || unreachable || !tw_template_to_member(m->tmpl))
        return st;
    char *params = json_dumps(m->params, JSON_COMPACT);
    const char *pa[] = {cid,          tnow,     cfg->staff_lang, params,
                        m->recipient, m->error, m->tmpl};
    PGresult *r = tw_db_query(db, &st, sql_alert, 7, pa);
    free(params);
    if (!r)
        return st;
    tw_info("%s: managers alerted (%s rows)", m->ref ? m->ref : "-",
            PQcmdTuples(r));
    PQclear(r);
    return TW_OK;
}

/* sent_json - the sent rows as the JSON sql_sent reads; caller frees */
static char *sent_json(const struct notifier_config *cfg, struct mail *mails,
                       size_t n, size_t *count)
{
    json_t *a = json_array();
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        struct mail *m = &mails[i];
        if (m->outcome != MAIL_SENT)
            continue;
        json_array_append_new(
            a, json_pack("{s:I, s:s, s:s, s:b, s:s, s:s?, s:s?}", "id",
                         (json_int_t)m->id, "subject", m->r.subject, "body",
                         m->r.text, "to_member", tw_template_to_member(m->tmpl),
                         "from_addr", cfg->smtp_from, "in_reply_to",
                         m->parent_id, "refs", m->references));
        (*count)++;
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* store_record - every outcome of the batch in one transaction */
int store_record(struct tw_db *db, const struct notifier_config *cfg,
                 const struct notifier_settings *set, struct mail *mails,
                 size_t n, tw_time now)
{
    char tnow[TW_TIME_ISO_MAX];
    tw_db_time_param(now, tnow);
    int st = tw_db_begin(db);
    if (st != TW_OK)
        return st;

    size_t nsent;
    char *sent = sent_json(cfg, mails, n, &nsent);
    if (nsent) {
        const char *p[] = {sent, tnow};
        st = tw_db_exec(db, sql_sent, 2, p);
    }
    free(sent);

    for (size_t i = 0; i < n && st == TW_OK; i++) {
        struct mail *m = &mails[i];
        if (m->outcome == MAIL_TEMPFAIL) {
            tw_time next = now + retry_delay(set, m->attempts);
            if (next - m->created_at > cfg->give_up) {
                char give[32];
                char was[sizeof m->error];
                snprintf(was, sizeof was, "%s", m->error);
                snprintf(
                    m->error, sizeof m->error,
                    "gave up after %d attempt%s in %s: %.400s", m->attempts,
                    m->attempts == 1 ? "" : "s",
                    tw_duration_format(now - m->created_at, give, sizeof give),
                    was);
                m->outcome = MAIL_PERMFAIL;
            } else {
                char id[24], tnext[TW_TIME_ISO_MAX];
                snprintf(id, sizeof id, "%lld", m->id);
                tw_db_time_param(next, tnext);
                const char *p[] = {id, tnext, m->error};
                st = tw_db_exec(db, sql_retry, 3, p);
                continue;
            }
        }
        if (m->outcome == MAIL_PERMFAIL || m->outcome == MAIL_UNREACHABLE)
            st = record_failed(db, cfg, m, tnow);
    }
    if (st == TW_OK)
        st = tw_db_commit(db);
    if (st != TW_OK)
        tw_db_rollback(db);
    return st;
}

/* store_next_due - the earliest pending or lease-end time */
tw_time store_next_due(struct tw_db *db)
{
    int st;
    PGresult *r =
        tw_db_query_prepared(db, &st, sql_next_due, 0, NULL, NULL, NULL);
    if (!r)
        return -1;
    tw_time t =
        PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return t;
}
