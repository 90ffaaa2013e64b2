/*
 * engine_thread.c - an email that answers a case lands on that case.
 *
 * DESIGN
 * ------
 * Inside the intake batch's transaction (engine_intake.c), before new cases
 * are written, the email intakes that could be replies - they carry
 * In-Reply-To or References, or a [PREFIX-YYYY-NNNNNN] tag in the subject -
 * are looked up in two statements for the whole batch:
 *   1. a resend: a message already stored under the intake's key is
 *      answered with its case again ("threaded", not "created");
 *   2. a match: a stored Message-ID, ours or theirs (messages.message_id,
 *      and outbox.sent_message_id for what the notifier sent), else the
 *      subject tag - trusted only when the sender's address is the case's
 *      member's, so a stranger cannot write into someone's case.
 * A match becomes an inbound message with its attachments and a
 * message.received event. A reply to a resolved or closed case reopens it
 * (status new, a "reopened" event, a "reopened" email) when it comes within
 * cases.reopen_within of the case's end; later, it opens a new case whose
 * contact names the old one (contact.linked_case).
 *
 * Everything else - every intake that is not email, and email that matches
 * nothing - is left to the batched new-case statement untouched, so the fast
 * path costs one loop over the batch here and no statement at all.
 *
 * A reply to a mail that arrived in the same batch cannot find it yet: pass
 * 0 defers it, the new cases are written, and pass 1 looks again.
 */
#include "engine.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

static const char sql_resent[] =
    "SELECT m.intake_key, c.ref, tawasul.us(c.received_at),"
    " tawasul.us(c.sla_due_at), c.verified"
    " FROM tawasul.messages m JOIN tawasul.cases c ON c.id = m.case_id"
    " WHERE m.intake_key = ANY($1::text[])";

/* $1: [{ord, ids, tag, email}] */
static const char sql_match[] =
    "WITH input AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, ids text[],"
    "    tag text, email text))"
    "SELECT i.ord, c.id, c.ref, c.status, tawasul.us(c.received_at),"
    "  tawasul.us(c.sla_due_at), c.verified, tawasul.us(coalesce("
    "    (SELECT max(e.at) FROM tawasul.case_events e WHERE e.case_id = c.id"
    "      AND e.to_status IN ('resolved', 'closed')),"
    "    c.closed_at, c.updated_at)),"
    "  m.email, m.name, m.lang, c.subject, c.contact->>'name',"
    "  c.contact->>'email'"
    " FROM input i"
    " JOIN LATERAL ("
    "  SELECT hit.id FROM ("
    "    SELECT ms.case_id AS id, 1 AS prio FROM tawasul.messages ms"
    "      WHERE ms.message_id = ANY(i.ids)"
    "    UNION ALL SELECT o.case_id, 2 FROM tawasul.outbox o"
    "      WHERE o.sent_message_id = ANY(i.ids) AND o.case_id IS NOT NULL"
    "    UNION ALL SELECT cc.id, 3 FROM tawasul.cases cc"
    "      JOIN tawasul.members mm ON mm.id = cc.member_id"
    "      WHERE cc.ref = i.tag AND i.email IS NOT NULL"
    "        AND lower(mm.email) = lower(i.email)"
    "  ) hit ORDER BY hit.prio LIMIT 1"
    " ) h ON true"
    " JOIN tawasul.cases c ON c.id = h.id"
    " LEFT JOIN tawasul.members m ON m.id = c.member_id"
    " FOR UPDATE OF c";

/* The member hears that their reply reached the case (not when it also
 * reopened the case: the "reopened" email says so). To the sender; in the
 * member's language and name when the sender is the case's member.
 * $1 case, $2 now, $3 sender, $4 received */
static const char sql_reply_received[] =
    "INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    "  params, created_at, next_attempt_at)"
    " SELECT c.id, 'case.message', $3::text, coalesce(m.lang, 'ar'),"
    "  'reply_received', jsonb_build_object('ref', c.ref, 'subject',"
    "    c.subject, 'name', m.name, 'received_at', $4::timestamptz), $2, $2"
    " FROM tawasul.cases c LEFT JOIN tawasul.members m ON m.id = c.member_id"
    "  AND lower(m.email) = lower($3::text)"
    " WHERE c.id = $1::bigint AND $3::text IS NOT NULL";

static const char sql_message[] =
    "INSERT INTO tawasul.messages (case_id, at, direction, channel, author,"
    "  from_addr, subject, body, message_id, in_reply_to, refs, intake_key)"
    " VALUES ($1::bigint, $2, 'in', 'email', NULL, $3, $4, $5, $6, $7, $8,"
    "  $9)"
    " ON CONFLICT DO NOTHING RETURNING id";

static const char sql_received[] =
    "WITH u AS (UPDATE tawasul.cases SET updated_at = $2 WHERE id = $1::bigint)"
    "INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    " VALUES ($1::bigint, $2, 'intake:email', 'message.received',"
    "  jsonb_build_object('message', $3::bigint, 'message_id', $4::text,"
    "    'from', $5::text, 'key', $6::text))";

#define REOPEN_REASON "the member replied by email"

/* candidate - whether IT may be a reply worth looking up */
static int candidate(const struct engine_item *it)
{
    const struct tw_intake *in = &it->in;
    return !it->done && !it->dup_of && strcmp(in->channel, "email") == 0 &&
           (in->msg_in_reply_to || in->msg_references ||
            strchr(in->subject, '['));
}

/* subject_tag - the first "[PREFIX-YYYY-NNNNNN]" in SUBJECT into TAG
 * (TW_REF_MAX); 1 if found */
static int subject_tag(const char *subject, const char *prefix, char *tag)
{
    size_t pl = strlen(prefix);
    for (const char *p = strchr(subject, '['); p; p = strchr(p + 1, '[')) {
        const char *r = p + 1;
        if (strncmp(r, prefix, pl) != 0 || r[pl] != '-')
            continue;
        const char *d = r + pl + 1;
        int ok = 1;
        for (int i = 0; i < 11 && ok; i++) /* YYYY-NNNNNN */
            ok = i == 4 ? d[i] == '-' : isdigit((unsigned char)d[i]) != 0;
        if (!ok || d[11] != ']')
            continue;
        snprintf(tag, TW_REF_MAX, "%.*s", (int)(pl + 12), r);
        return 1;
    }
    return 0;
}

/* ids_json - In-Reply-To and References of IN as a JSON array */
static json_t *ids_json(const struct tw_intake *in)
{
    json_t *a = json_array();
    if (in->msg_in_reply_to)
        json_array_append_new(a, json_string(in->msg_in_reply_to));
    if (in->msg_references) {
        char *copy = tw_strdup(in->msg_references), *save = NULL;
        for (char *t = strtok_r(copy, " \t", &save); t;
             t = strtok_r(NULL, " \t", &save))
            json_array_append_new(a, json_string(t));
        free(copy);
    }
    return a;
}

/* mentions - whether IT's In-Reply-To/References name the Message-ID of
 * another item of the batch still to be written */
static int mentions(const struct engine_item *it, struct engine_item *items,
                    size_t n)
{
    const struct tw_intake *in = &it->in;
    for (size_t j = 0; j < n; j++) {
        const char *id = items[j].in.msg_id;
        if (&items[j] == it || items[j].done || !id)
            continue;
        if ((in->msg_in_reply_to && strcmp(in->msg_in_reply_to, id) == 0) ||
            (in->msg_references && strstr(in->msg_references, id)))
            return 1;
    }
    return 0;
}

/* take_resent - answer items already stored as messages */
static int take_resent(struct engine_writer *w, struct engine_item *items,
                       size_t n, const char *keys)
{
    int st;
    const char *p[] = {keys};
    PGresult *r = tw_db_query(w->db, &st, sql_resent, 1, p);
    if (!r)
        return st;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *key = PQgetvalue(r, row, 0);
        for (size_t i = 0; i < n; i++) {
            struct engine_item *it = &items[i];
            if (it->done || it->dup_of || strcmp(it->in.key, key) != 0)
                continue;
            snprintf(it->ref, sizeof it->ref, "%s", PQgetvalue(r, row, 1));
            it->received_at = strtoll(PQgetvalue(r, row, 2), NULL, 10);
            it->due_at = strtoll(PQgetvalue(r, row, 3), NULL, 10);
            it->verified = PQgetvalue(r, row, 4)[0] == 't';
            it->thread.threaded = 1;
            it->done = 1;
        }
    }
    PQclear(r);
    return TW_OK;
}

/* value - column COL of ROW, NULL when SQL NULL */
static const char *value(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* add_message - IT as an inbound message on case ID; fills IT's outcome */
static int add_message(struct engine_writer *w, struct engine_item *it,
                       const char *id, tw_time now)
{
    const struct tw_intake *in = &it->in;
    char at[TW_TIME_ISO_MAX], nowp[TW_TIME_ISO_MAX];
    tw_db_time_param(it->received_at ? it->received_at : now, at);
    tw_db_time_param(now, nowp);
    const char *from = in->msg_from ? in->msg_from : in->member_email;
    const char *p[] = {id,
                       at,
                       from,
                       in->subject,
                       in->body,
                       in->msg_id,
                       in->msg_in_reply_to,
                       in->msg_references,
                       in->key};
    int st;
    PGresult *r =
        tw_db_query_prepared(w->db, &st, sql_message, 9, p, NULL, NULL);
    if (!r)
        return st;
    if (PQntuples(r) == 0) {
        /* The same Message-ID is stored already: nothing to add. */
        PQclear(r);
        return TW_OK;
    }
    char msg_id[32];
    snprintf(msg_id, sizeof msg_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    st = engine_store_attachments(w, it, msg_id);
    if (st != TW_OK)
        return st;
    const char *e[] = {id, nowp, msg_id, in->msg_id, from, in->key};
    r = tw_db_query_prepared(w->db, &st, sql_received, 6, e, NULL, NULL);
    if (!r)
        return st;
    PQclear(r);
    if (!it->thread.reopened) {
        const char *q[] = {id, nowp, from, at};
        st = tw_db_exec(w->db, sql_reply_received, 4, q);
        if (st != TW_OK)
            return st;
    }
    it->thread.added = 1;
    return TW_OK;
}

/* reopen - the case at ROW of R goes back to new through the status
 * machine's own reopen (engine_lifecycle.c), so its SLA clock, audit event
 * and email are the same as when staff reopen it */
static int reopen(struct engine_writer *w, const struct engine_batch *b,
                  PGresult *r, int row, const struct engine_item *it,
                  tw_time now)
{
    struct engine_op_ctx c = {
        .db = w->db,
        .base = b->base,
        .cfg = b->cfg,
        .policy = b->policy,
        .op = "intake",
        .key = it->in.key,
        .actor = "intake:email",
        .now = now,
        .reply = json_object(),
        .events = json_array(),
    };
    int st = engine_lifecycle_reopen(&c, value(r, row, 2), REOPEN_REASON,
                                     it->in.msg_id);
    if (st == TW_PERMFAIL)
        tw_warn("%s: not reopened: %s", value(r, row, 2), c.msg);
    json_decref(c.reply);
    json_decref(c.events); /* engine_loop.c publishes case.status itself */
    return st;
}

/* take_matches - look up CANDS (JSON input) and thread what matched */
static int take_matches(struct engine_writer *w, const struct engine_batch *b,
                        struct engine_item *items, json_t *cands, tw_time now)
{
    char *text = json_dumps(cands, JSON_COMPACT);
    const char *p[] = {text};
    int st;
    PGresult *r = tw_db_query(w->db, &st, sql_match, 1, p);
    free(text);
    if (!r)
        return st;
    st = TW_OK;
    for (int row = 0; row < PQntuples(r) && st == TW_OK; row++) {
        struct engine_item *it =
            &items[strtol(PQgetvalue(r, row, 0), NULL, 10)];
        const char *status = PQgetvalue(r, row, 3);
        int ended = !strcmp(status, "resolved") || !strcmp(status, "closed");
        tw_time end = strtoll(PQgetvalue(r, row, 7), NULL, 10);
        if (ended && now - end > b->cfg->reopen_within) {
            /* Too late to reopen: a new case that names the old one. */
            snprintf(it->thread.linked, sizeof it->thread.linked, "%s",
                     PQgetvalue(r, row, 2));
            continue;
        }
        if (ended) {
            st = reopen(w, b, r, row, it, now);
            it->thread.reopened = st == TW_OK;
        }
        if (st == TW_OK)
            st = add_message(w, it, PQgetvalue(r, row, 1), now);
        if (st != TW_OK)
            break;
        snprintf(it->ref, sizeof it->ref, "%s", PQgetvalue(r, row, 2));
        it->received_at = strtoll(PQgetvalue(r, row, 4), NULL, 10);
        it->due_at = strtoll(PQgetvalue(r, row, 5), NULL, 10);
        it->verified = PQgetvalue(r, row, 6)[0] == 't';
        it->thread.threaded = 1;
        it->created = 0;
        it->done = 1;
    }
    PQclear(r);
    return st;
}

/* engine_thread_batch - see engine.h */
int engine_thread_batch(struct engine_writer *w, const struct engine_batch *b,
                        struct engine_item *items, size_t n, tw_time now,
                        int pass)
{
    json_t *cands = NULL, *keys = NULL;
    int st = TW_OK;
    for (size_t i = 0; i < n; i++) {
        struct engine_item *it = &items[i];
        if (pass == 1) {
            if (!it->thread.deferred)
                continue;
            it->thread.deferred = 0;
            it->done = 0;
        }
        if (!candidate(it))
            continue;
        if (pass == 0 && mentions(it, items, n)) {
            it->thread.deferred = 1;
            it->done = 1; /* out of this round's new cases */
            continue;
        }
        char tag[TW_REF_MAX];
        int has_tag = subject_tag(it->in.subject, b->ref_prefix, tag);
        if (!cands) {
            cands = json_array();
            keys = json_array();
        }
        json_array_append_new(keys, json_string(it->in.key));
        json_array_append_new(cands,
                              json_pack("{s:I, s:o, s:s?, s:s?}", "ord",
                                        (json_int_t)i, "ids", ids_json(&it->in),
                                        "tag", has_tag ? tag : NULL, "email",
                                        it->in.member_email));
    }
    if (!cands)
        return TW_OK;
    /* The keys as a text[] literal: JSON's string syntax is a superset. */
    char *k = json_dumps(keys, JSON_COMPACT);
    k[0] = '{';
    k[strlen(k) - 1] = '}';
    st = take_resent(w, items, n, k);
    free(k);
    if (st == TW_OK) {
        /* Drop the ones a resend answered. */
        json_t *left = json_array();
        size_t idx;
        json_t *c;
        json_array_foreach(cands, idx, c)
        {
            size_t ord = (size_t)json_integer_value(json_object_get(c, "ord"));
            if (!items[ord].done)
                json_array_append(left, c);
        }
        if (json_array_size(left))
            st = take_matches(w, b, items, left, now);
        json_decref(left);
    }
    json_decref(cands);
    json_decref(keys);
    return st;
}
