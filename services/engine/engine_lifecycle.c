/*
 * engine_lifecycle.c - ops "transition", "assign", "attest" and "decide":
 * staff move a case through the status machine.
 *
 *   {"op":"transition","actor":…,"case":REF,"to":"awaiting_member",
 *    "missing":["…"],"message":"…"}            (request-info)
 *   {"op":"transition",…,"to":"in_committee","fields":{"income":"…"}}
 *   {"op":"transition",…,"to":"new","reason":"…"}          (resume, reopen)
 *   {"op":"decide",…,"decision":"accepted"|"rejected","reason":"…"}
 *   {"op":"assign",…,"to":"username"}   {"op":"attest",…,"how":"…"}
 *
 * DESIGN
 * ------
 * Which moves exist and who may make them is data in common/lifecycle.c;
 * this file only looks the move up, checks the actor's role from the staff
 * table, and applies what the move means for the case:
 * - into awaiting_member the SLA clock pauses (a row in sla_pauses, and
 *   sla_paused_since); out of it the pause closes, sla_paused_total grows
 *   and the due and warning times are recomputed from received_at and all
 *   the pauses by the one deadline function;
 * - into in_committee only through the committee gate: the category's
 *   required items (sla.categories.NAME.committee_requires) on file and the
 *   applicant's attestation recorded;
 * - a decision (or an inquiry resolved) stops the clock and keeps the
 *   figures reports need (policy minutes to decision, margin to target);
 * - a reopen turns the time the clock stood still into a pause, so the
 *   clock goes on where it stopped.
 * Every op writes one case_events row, and an outbox row when the member
 * must hear of it (the notifier renders it). The first such email is the
 * first response.
 */
#include "engine_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "lifecycle.h"
#include "mem.h"

#define REASON_MAX  4000 /* bytes of a reason or message */
#define MISSING_MAX 50   /* items of request-info */
#define PAUSES_MAX  256  /* pauses of one case we count */

/* What the ops need to know about a case beyond struct engine_case. */
struct case_info {
    char *category; /* NULL when none */
    char *subject;
    tw_time received, paused_since, stopped, due;
    int attested;
    json_t *details;
    char *email, *lang, *name, *phone;
    int first_response_pending;
    long attachments;
};

static const char sql_staff[] = "SELECT id, username, role FROM tawasul.staff"
                                " WHERE username = $1 AND active";

/* engine_op_staff - see engine_ops.h */
int engine_op_staff(struct engine_op_ctx *c, unsigned roles,
                    struct engine_staff *out)
{
    int st;
    const char *p[] = {c->actor ? c->actor : ""};
    memset(out, 0, sizeof *out);
    PGresult *r = tw_db_query_prepared(c->db, &st, sql_staff, 1, p, NULL, NULL);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return engine_op_fail(c, TW_E_FORBIDDEN,
                              "actor \"%.40s\": no active staff member by "
                              "that name (tawasul staff add)",
                              c->actor ? c->actor : "");
    }
    out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    snprintf(out->username, sizeof out->username, "%s", PQgetvalue(r, 0, 1));
    out->role = tw_role_parse(PQgetvalue(r, 0, 2));
    char role[16];
    snprintf(role, sizeof role, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    if (!(out->role & (roles | TW_ROLE_MANAGER | TW_ROLE_ADMIN)))
        return engine_op_fail(c, TW_E_FORBIDDEN, "%s (%s) may not %s",
                              out->username, role, c->op);
    return TW_OK;
}

static const char sql_info[] =
    "SELECT c.category, c.subject, tawasul.us(c.received_at),"
    " tawasul.us(c.sla_paused_since), tawasul.us(c.sla_stopped_at),"
    " c.attested_at IS NOT NULL, c.details::text,"
    " coalesce(m.email, c.contact->>'email'),"
    " coalesce(m.lang, c.contact->>'lang', 'ar'),"
    " coalesce(m.name, c.contact->>'name'),"
    " coalesce(m.phone, c.contact->>'phone'),"
    " c.first_response_at IS NULL,"
    " (SELECT count(*) FROM tawasul.attachments a"
    "   JOIN tawasul.messages mm ON mm.id = a.message_id"
    "   WHERE mm.case_id = c.id),"
    " tawasul.us(c.sla_due_at)"
    " FROM tawasul.cases c LEFT JOIN tawasul.members m ON m.id = c.member_id"
    " WHERE c.id = $1::bigint";

/* dup_col - column K of row 0 as a new string, NULL when SQL NULL */
static char *dup_col(PGresult *r, int k)
{
    return PQgetisnull(r, 0, k) ? NULL : tw_strdup(PQgetvalue(r, 0, k));
}

/* us_col - column K of row 0 as tw_time, 0 when NULL */
static tw_time us_col(PGresult *r, int k)
{
    return PQgetisnull(r, 0, k) ? 0 : strtoll(PQgetvalue(r, 0, k), NULL, 10);
}

/* info_load - what K's case holds into I (free with info_free) */
static int info_load(struct engine_op_ctx *c, const struct engine_case *k,
                     struct case_info *i)
{
    char id[24];
    int st;
    snprintf(id, sizeof id, "%lld", k->id);
    const char *p[] = {id};
    memset(i, 0, sizeof *i);
    PGresult *r = tw_db_query_prepared(c->db, &st, sql_info, 1, p, NULL, NULL);
    if (!r)
        return st;
    i->category = dup_col(r, 0);
    i->subject = dup_col(r, 1);
    i->received = us_col(r, 2);
    i->paused_since = us_col(r, 3);
    i->stopped = us_col(r, 4);
    i->attested = PQgetvalue(r, 0, 5)[0] == 't';
    i->details = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
    if (!i->details)
        i->details = json_object();
    i->email = dup_col(r, 7);
    i->lang = dup_col(r, 8);
    i->name = dup_col(r, 9);
    i->phone = dup_col(r, 10);
    i->first_response_pending = PQgetvalue(r, 0, 11)[0] == 't';
    i->attachments = strtol(PQgetvalue(r, 0, 12), NULL, 10);
    i->due = us_col(r, 13);
    PQclear(r);
    return TW_OK;
}

/* info_free - release what info_load took */
static void info_free(struct case_info *i)
{
    free(i->category);
    free(i->subject);
    json_decref(i->details);
    free(i->email);
    free(i->lang);
    free(i->name);
    free(i->phone);
    memset(i, 0, sizeof *i);
}

static const char sql_event[] =
    "INSERT INTO tawasul.case_events (case_id, at, actor, kind, from_status,"
    " to_status, detail) VALUES ($1::bigint, $2, $3, $4, $5, $6, $7::jsonb)";

/* add_event - one audit row; DETAIL (stolen) may be NULL */
static int add_event(struct engine_op_ctx *c, const struct engine_case *k,
                     const char *kind, const char *from, const char *to,
                     json_t *detail)
{
    char id[24], at[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k->id);
    char *d = json_dumps(detail ? detail : json_object(), JSON_COMPACT);
    json_decref(detail);
    const char *p[] = {
        id, tw_db_time_param(c->now, at), c->actor, kind, from, to, d};
    int st = tw_db_exec(c->db, sql_event, 7, p);
    free(d);
    return st;
}

static const char sql_outbox[] =
    "INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    " params, created_at, next_attempt_at)"
    " VALUES ($1::bigint, $2, $3, $4, $5, $6::jsonb, $7, $7)";

static const char sql_first_response[] =
    "UPDATE tawasul.cases SET first_response_at = $2,"
    " first_response_minutes = $3::integer"
    " WHERE id = $1::bigint AND first_response_at IS NULL";

/* pauses_load - K's pauses into OUT (at most PAUSES_MAX); returns how
 * many, or a failure */
static int pauses_load(struct engine_op_ctx *c, long long case_id,
                       struct tw_interval *out)
{
    static const char sql[] =
        "SELECT tawasul.us(from_at), tawasul.us(to_at) FROM tawasul.sla_pauses"
        " WHERE case_id = $1::bigint ORDER BY from_at LIMIT 256";
    char id[24];
    int st;
    snprintf(id, sizeof id, "%lld", case_id);
    const char *p[] = {id};
    PGresult *r = tw_db_query_prepared(c->db, &st, sql, 1, p, NULL, NULL);
    if (!r)
        return st;
    int n = PQntuples(r);
    for (int i = 0; i < n && i < PAUSES_MAX; i++) {
        out[i].from = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        out[i].to =
            PQgetisnull(r, i, 1) ? 0 : strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    return n < PAUSES_MAX ? n : PAUSES_MAX;
}

/* minutes - elapsed policy time between A and B for I's case, minutes */
static long long minutes(struct engine_op_ctx *c, const struct case_info *i,
                         tw_time a, tw_time b, const struct tw_interval *ps,
                         int n)
{
    return (long long)(tw_sla_elapsed(tw_policy_sla(c->policy, i->category),
                                      tw_policy_calendar(c->policy), a, b, ps,
                                      (size_t)n) /
                       TW_MIN);
}

/* tell_member - an outbox row TEMPLATE for the member with PARAMS (stolen;
 * ref, subject and name are added); the first one is the first response */
static int tell_member(struct engine_op_ctx *c, const struct engine_case *k,
                       const struct case_info *i, const char *event,
                       const char *template, json_t *params)
{
    char id[24], at[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k->id);
    json_object_set_new(params, "ref", json_string(k->ref));
    json_object_set_new(params, "subject",
                        i->subject ? json_string(i->subject) : json_null());
    json_object_set_new(params, "name",
                        i->name ? json_string(i->name) : json_null());
    char *text = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    const char *lang = i->lang && (strcmp(i->lang, "en") == 0) ? "en" : "ar";
    const char *p[] = {id,
                       event,
                       i->email,
                       lang,
                       template,
                       text,
                       tw_db_time_param(c->now, at)};
    int st = tw_db_exec(c->db, sql_outbox, 7, p);
    free(text);
    if (st != TW_OK)
        return st;
    c->outbox_rows++;
    if (!i->first_response_pending)
        return TW_OK;
    struct tw_interval ps[PAUSES_MAX];
    int n = pauses_load(c, k->id, ps);
    if (n < 0)
        return n;
    char mins[24];
    snprintf(mins, sizeof mins, "%lld",
             minutes(c, i, i->received, c->now, ps, n));
    const char *q[] = {id, at, mins};
    return tw_db_exec(c->db, sql_first_response, 3, q);
}

/* recompute - K's due and warning times from received_at and its pauses
 * (left as they are while a pause is open: the clock stands still) */
static int recompute(struct engine_op_ctx *c, const struct engine_case *k,
                     const struct case_info *i)
{
    static const char sql[] =
        "UPDATE tawasul.cases SET sla_due_at = $2, sla_warn_at = $3"
        " WHERE id = $1::bigint";
    struct tw_interval ps[PAUSES_MAX];
    int n = pauses_load(c, k->id, ps);
    if (n < 0)
        return n;
    tw_time due, warn;
    tw_policy_deadlines(c->policy, i->category, i->received, ps, (size_t)n,
                        &due, &warn);
    if (due == TW_TIME_NEVER)
        return TW_OK;
    char id[24], d[TW_TIME_ISO_MAX], w[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k->id);
    const char *p[] = {id, tw_db_time_param(due, d),
                       warn == TW_TIME_NEVER ? NULL
                                             : tw_db_time_param(warn, w)};
    return tw_db_exec(c->db, sql, 3, p);
}

/* next_steps - the moves out of STATUS as a JSON array of verbs */
static json_t *next_steps(const char *status)
{
    const struct tw_transition *t[16];
    size_t n = tw_transitions_from(status, t, 16);
    json_t *a = json_array();
    for (size_t i = 0; i < n && i < 16; i++)
        json_array_append_new(
            a, json_pack("{s:s, s:s}", "verb", t[i]->verb, "to", t[i]->to));
    return a;
}

/* refuse_move - the permanent error for a move that does not exist */
static int refuse_move(struct engine_op_ctx *c, const struct engine_case *k,
                       const char *to)
{
    char steps[512];
    return engine_op_fail(c, TW_E_CONFLICT,
                          "case %s is %s: it cannot go to %s; allowed next "
                          "steps: %s",
                          k->ref, k->status, to,
                          tw_next_steps(k->status, steps, sizeof steps));
}

/* gate - the committee gate: every required item on file, and the
 * attestation; TW_OK or a refusal naming what is missing */
static int gate(struct engine_op_ctx *c, const struct engine_case *k,
                const struct case_info *i)
{
    size_t n;
    char *const *req = tw_policy_requires(c->policy, i->category, &n);
    char missing[512] = "";
    size_t len = 0;
    for (size_t j = 0; j < n; j++) {
        const char *f = req[j];
        int ok;
        if (strcmp(f, "member") == 0)
            ok = k->member_id != 0;
        else if (strcmp(f, "email") == 0)
            ok = i->email != NULL;
        else if (strcmp(f, "phone") == 0)
            ok = i->phone != NULL;
        else if (strcmp(f, "category") == 0)
            ok = i->category != NULL;
        else if (strcmp(f, "attachment") == 0)
            ok = i->attachments > 0;
        else {
            const char *v = json_string_value(json_object_get(i->details, f));
            ok = v && *v;
        }
        if (!ok) {
            int w = snprintf(missing + len, sizeof missing - len, "%s%s",
                             len ? ", " : "", f);
            if (w > 0 && (size_t)w < sizeof missing - len)
                len += (size_t)w;
        }
    }
    if (len)
        return engine_op_fail(c, TW_E_CONFLICT,
                              "case %s cannot go to the committee: missing "
                              "%s (category %s)",
                              k->ref, missing,
                              i->category ? i->category : "none");
    if (!i->attested)
        return engine_op_fail(c, TW_E_CONFLICT,
                              "case %s cannot go to the committee: the "
                              "applicant's attestation is not recorded "
                              "(tawasul case attest)",
                              k->ref);
    return TW_OK;
}

/* merge_fields - the command's "fields" object into I's details and the
 * case; TW_OK or a refusal */
static int merge_fields(struct engine_op_ctx *c, const struct engine_case *k,
                        struct case_info *i)
{
    json_t *f = json_object_get(c->cmd, "fields");
    if (!f || json_is_null(f))
        return TW_OK;
    if (!json_is_object(f))
        return engine_op_fail(c, TW_E_INVALID,
                              "fields: must be an object of strings");
    const char *name;
    json_t *v;
    json_object_foreach(f, name, v)
    {
        if (!json_is_string(v) || strlen(name) > 64 ||
            strlen(json_string_value(v)) > REASON_MAX)
            return engine_op_fail(c, TW_E_INVALID,
                                  "fields.%.64s: must be a string of at most "
                                  "%d bytes",
                                  name, REASON_MAX);
        json_object_set(i->details, name, v);
    }
    static const char sql[] = "UPDATE tawasul.cases SET details = $2::jsonb"
                              " WHERE id = $1::bigint";
    char id[24];
    snprintf(id, sizeof id, "%lld", k->id);
    char *d = json_dumps(i->details, JSON_COMPACT);
    const char *p[] = {id, d};
    int st = tw_db_exec(c->db, sql, 2, p);
    free(d);
    return st;
}

/* missing_list - the command's "missing" as a checked array (borrowed) */
static json_t *missing_list(struct engine_op_ctx *c)
{
    json_t *m = json_object_get(c->cmd, "missing");
    size_t idx;
    json_t *v;
    if (!json_is_array(m) || json_array_size(m) == 0 ||
        json_array_size(m) > MISSING_MAX) {
        engine_op_fail(c, TW_E_INVALID,
                       "missing: say what the member must send (1 to %d "
                       "items)",
                       MISSING_MAX);
        return NULL;
    }
    json_array_foreach(m, idx, v)
    {
        if (!json_is_string(v) || !*json_string_value(v) ||
            strlen(json_string_value(v)) > REASON_MAX) {
            engine_op_fail(c, TW_E_INVALID,
                           "missing: item %zu must be a non-empty string",
                           idx + 1);
            return NULL;
        }
    }
    return m;
}

/* The status change itself, with what it means for the clock. $1 id, $2
 * now, $3 new status. */
static const char sql_move[] =
    "UPDATE tawasul.cases SET status = $3, updated_at = $2,"
    " sla_paused_since = CASE WHEN $3 = 'awaiting_member' THEN $2::timestamptz"
    "   WHEN status = 'awaiting_member' THEN NULL ELSE sla_paused_since END,"
    " sla_paused_total = sla_paused_total + CASE"
    "   WHEN status = 'awaiting_member' AND sla_paused_since IS NOT NULL"
    "   THEN $2::timestamptz - sla_paused_since ELSE interval '0' END,"
    " resolved_at = CASE WHEN $3 = 'resolved' THEN $2::timestamptz"
    "   WHEN $3 = 'new' THEN NULL ELSE resolved_at END,"
    " closed_at = CASE WHEN $3 IN ('closed', 'withdrawn') THEN $2::timestamptz"
    "   WHEN $3 = 'new' THEN NULL ELSE closed_at END"
    " WHERE id = $1::bigint";
static const char sql_pause[] =
    "INSERT INTO tawasul.sla_pauses (case_id, from_at)"
    " VALUES ($1::bigint, $2)";
static const char sql_resume[] =
    "UPDATE tawasul.sla_pauses SET to_at = $2"
    " WHERE case_id = $1::bigint AND to_at IS NULL";
/* The clock stops: $3 minutes to decision, $4 margin. */
static const char sql_stop[] =
    "UPDATE tawasul.cases SET sla_stopped_at = $2,"
    " decision_minutes = $3::integer, decision_margin_minutes = $4::integer"
    " WHERE id = $1::bigint AND sla_stopped_at IS NULL";
/* A reopen: the stopped time becomes a pause, the clock runs again. */
static const char sql_reopen[] =
    "WITH p AS (INSERT INTO tawasul.sla_pauses (case_id, from_at, to_at)"
    "   SELECT id, sla_stopped_at, $2 FROM tawasul.cases"
    "   WHERE id = $1::bigint AND sla_stopped_at IS NOT NULL)"
    "UPDATE tawasul.cases SET sla_stopped_at = NULL, decided_at = NULL,"
    " decision = NULL, decision_minutes = NULL,"
    " decision_margin_minutes = NULL WHERE id = $1::bigint";

/* stop_clock - the clock stops now: keep the figures */
static int stop_clock(struct engine_op_ctx *c, const struct engine_case *k,
                      const struct case_info *i)
{
    struct tw_interval ps[PAUSES_MAX];
    int n = pauses_load(c, k->id, ps);
    if (n < 0)
        return n;
    char id[24], at[TW_TIME_ISO_MAX], mins[24], margin[24];
    snprintf(id, sizeof id, "%lld", k->id);
    snprintf(mins, sizeof mins, "%lld",
             minutes(c, i, i->received, c->now, ps, n));
    snprintf(margin, sizeof margin, "%lld",
             minutes(c, i, c->now, i->due, ps, n));
    const char *p[] = {id, tw_db_time_param(c->now, at), mins, margin};
    return tw_db_exec(c->db, sql_stop, 4, p);
}

/* apply_move - T on K: status, clock, event, email */
static int apply_move(struct engine_op_ctx *c, struct engine_case *k,
                      struct case_info *i, const struct tw_transition *t,
                      json_t *detail, json_t *params)
{
    char id[24], at[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k->id);
    tw_db_time_param(c->now, at);
    const char *p[] = {id, at, t->to};
    int st = TW_OK;
    int reopen =
        strcmp(t->to, "new") == 0 &&
        (strcmp(t->from, "resolved") == 0 || strcmp(t->from, "closed") == 0);
    if (reopen)
        st = tw_db_exec(c->db, sql_reopen, 2, p);
    if (st == TW_OK)
        st = tw_db_exec(c->db, sql_move, 3, p);
    if (st == TW_OK && strcmp(t->to, "awaiting_member") == 0)
        st = tw_db_exec(c->db, sql_pause, 2, p);
    if (st == TW_OK && (strcmp(t->from, "awaiting_member") == 0 ||
                        (strcmp(t->to, "withdrawn") == 0 && i->paused_since)))
        st = tw_db_exec(c->db, sql_resume, 2, p);
    if (st == TW_OK && (strcmp(t->from, "awaiting_member") == 0 || reopen))
        st = recompute(c, k, i);
    if (st == TW_OK && !i->stopped &&
        (strcmp(t->to, "resolved") == 0 || strcmp(t->to, "withdrawn") == 0 ||
         strcmp(t->to, "accepted") == 0 || strcmp(t->to, "rejected") == 0))
        st = stop_clock(c, k, i);
    if (st == TW_OK)
        st = add_event(c, k, "status", t->from, t->to, json_incref(detail));
    if (st == TW_OK && t->template)
        st = tell_member(c, k, i, "case.status", t->template,
                         json_incref(params));
    if (st != TW_OK)
        return st;
    engine_op_event(c, "case.status",
                    json_pack("{s:s, s:s, s:s, s:s}", "case", k->ref, "from",
                              t->from, "to", t->to, "actor", c->actor));
    json_object_set_new(c->reply, "case", json_string(k->ref));
    json_object_set_new(c->reply, "from", json_string(t->from));
    json_object_set_new(c->reply, "status", json_string(t->to));
    json_object_set_new(c->reply, "next", next_steps(t->to));
    snprintf(k->status, sizeof k->status, "%s", t->to);
    return TW_OK;
}

/* check_text - an optional bounded string field; TW_OK or a refusal */
static const char *text_field(struct engine_op_ctx *c, const char *name,
                              int required)
{
    const char *s = engine_op_str(c, name, required);
    if (s && strlen(s) > REASON_MAX && c->code == TW_E_NONE)
        engine_op_fail(c, TW_E_TOO_LARGE, "%s: longer than %d bytes", name,
                       REASON_MAX);
    return s;
}

/* start - parse CASE, lock it, check the actor is staff, load the info */
static int start(struct engine_op_ctx *c, unsigned roles,
                 struct engine_staff *who, struct engine_case *k,
                 struct case_info *i)
{
    const char *ref = engine_op_str(c, "case", 1);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    int st = engine_op_staff(c, roles, who);
    if (st == TW_OK)
        st = engine_op_lock_case(c, ref, k);
    if (st == TW_OK)
        st = info_load(c, k, i);
    return st;
}

/* engine_op_transition - see engine_ops.h */
int engine_op_transition(struct engine_op_ctx *c)
{
    static const char *const fields[] = {
        "case", "to", "reason", "missing", "message", "fields", "verb", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *to = engine_op_str(c, "to", 1);
    const char *reason = text_field(c, "reason", 0);
    const char *message = text_field(c, "message", 0);
    const char *verb = engine_op_str(c, "verb", 0); /* "resume" vs "reopen" */
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    if (!tw_status_valid(to))
        return engine_op_fail(c, TW_E_INVALID, "to: \"%.40s\" is not a status",
                              to);
    if (strcmp(to, "accepted") == 0 || strcmp(to, "rejected") == 0)
        return engine_op_fail(c, TW_E_INVALID,
                              "to: a decision is made with the decide op");

    struct engine_staff who;
    struct engine_case k;
    struct case_info i;
    memset(&i, 0, sizeof i);
    int st = start(c, TW_ROLE_ALL, &who, &k, &i);
    if (st != TW_OK)
        goto out;
    const struct tw_transition *t = tw_transition_find(k.status, to);
    if (!t || (verb && strcmp(verb, t->verb) != 0)) {
        st = refuse_move(c, &k, to);
        goto out;
    }
    if (!tw_transition_allowed(t, who.role)) {
        char steps[512];
        st = engine_op_fail(c, TW_E_FORBIDDEN,
                            "%s may not move case %s out of %s (%s); allowed "
                            "next steps for whoever may: %s",
                            who.username, k.ref, k.status, t->verb,
                            tw_next_steps(k.status, steps, sizeof steps));
        goto out;
    }
    json_t *detail = json_object(), *params = json_object();
    if (reason)
        json_object_set_new(detail, "reason", json_string(reason));
    if (strcmp(to, "awaiting_member") == 0) {
        json_t *missing = missing_list(c);
        if (!missing)
            st = TW_PERMFAIL;
        else {
            json_object_set(detail, "missing", missing);
            json_object_set(params, "missing", missing);
            if (message) {
                json_object_set_new(detail, "message", json_string(message));
                json_object_set_new(params, "message", json_string(message));
            }
        }
    } else if (strcmp(to, "in_committee") == 0) {
        st = merge_fields(c, &k, &i);
        if (st == TW_OK)
            st = gate(c, &k, &i);
    } else if (strcmp(t->verb, "reopen") == 0) {
        if (!reason)
            st = engine_op_fail(c, TW_E_INVALID,
                                "reason: say why the case is reopened");
        else
            json_object_set_new(params, "reason", json_string(reason));
    } else if (strcmp(to, "resolved") == 0) {
        char at[TW_TIME_ISO_MAX];
        json_object_set_new(params, "resolved_at",
                            json_string(tw_time_iso(c->now, 0, at)));
    }
    if (st == TW_OK)
        st = apply_move(c, &k, &i, t, detail, params);
    json_decref(detail);
    json_decref(params);
out:
    info_free(&i);
    return st;
}

/* engine_op_decide - see engine_ops.h */
int engine_op_decide(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"case", "decision", "reason", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *decision = engine_op_str(c, "decision", 1);
    const char *reason = text_field(c, "reason", 0);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    if (strcmp(decision, "accepted") != 0 && strcmp(decision, "rejected") != 0)
        return engine_op_fail(c, TW_E_INVALID,
                              "decision: accepted or rejected");
    if (strcmp(decision, "rejected") == 0 && (!reason || !*reason))
        return engine_op_fail(c, TW_E_INVALID,
                              "reason: a rejection must say why (the member "
                              "is told)");

    struct engine_staff who;
    struct engine_case k;
    struct case_info i;
    memset(&i, 0, sizeof i);
    int st = start(c, TW_ROLE_COMMITTEE, &who, &k, &i);
    if (st != TW_OK)
        goto out;
    const struct tw_transition *t = tw_transition_find(k.status, decision);
    if (!t) {
        st = refuse_move(c, &k, decision);
        goto out;
    }
    static const char sql[] =
        "UPDATE tawasul.cases SET decided_at = $2, decision = $3"
        " WHERE id = $1::bigint";
    char id[24], at[TW_TIME_ISO_MAX], iso[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k.id);
    const char *p[] = {id, tw_db_time_param(c->now, at), decision};
    st = tw_db_exec(c->db, sql, 3, p);
    json_t *detail = json_pack("{s:s}", "decision", decision);
    json_t *params =
        json_pack("{s:s}", "decided_at", tw_time_iso(c->now, 0, iso));
    if (reason) {
        json_object_set_new(detail, "reason", json_string(reason));
        json_object_set_new(params, "reason", json_string(reason));
    }
    if (st == TW_OK)
        st = apply_move(c, &k, &i, t, detail, params);
    json_decref(detail);
    json_decref(params);
    if (st == TW_OK)
        json_object_set_new(c->reply, "decided_at", json_string(iso));
out:
    info_free(&i);
    return st;
}

/* engine_op_assign - see engine_ops.h */
int engine_op_assign(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"case", "to", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *to = engine_op_str(c, "to", 1);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    struct engine_staff who;
    struct engine_case k;
    struct case_info i;
    memset(&i, 0, sizeof i);
    int st = start(c, TW_ROLE_AGENT | TW_ROLE_RESEARCHER, &who, &k, &i);
    if (st != TW_OK)
        goto out;
    static const char sql[] =
        "WITH s AS (SELECT id FROM tawasul.staff WHERE username = $2"
        "  AND active)"
        "UPDATE tawasul.cases c SET assignee = s.id, updated_at = $3"
        " FROM s WHERE c.id = $1::bigint RETURNING c.id";
    char id[24], at[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k.id);
    const char *p[] = {id, to, tw_db_time_param(c->now, at)};
    PGresult *r = tw_db_query(c->db, &st, sql, 3, p);
    if (!r)
        goto out;
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        st = engine_op_fail(c, TW_E_NOT_FOUND,
                            "to: \"%.40s\" is not an active staff member", to);
        goto out;
    }
    st = add_event(c, &k, "assigned", NULL, NULL,
                   json_pack("{s:s}", "assignee", to));
    if (st != TW_OK)
        goto out;
    engine_op_event(c, "case.assigned",
                    json_pack("{s:s, s:s}", "case", k.ref, "assignee", to));
    json_object_set_new(c->reply, "case", json_string(k.ref));
    json_object_set_new(c->reply, "status", json_string(k.status));
    json_object_set_new(c->reply, "assignee", json_string(to));
out:
    info_free(&i);
    return st;
}

/* engine_op_attest - see engine_ops.h */
int engine_op_attest(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"case", "how", "note", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *how = engine_op_str(c, "how", 1);
    const char *note = text_field(c, "note", 0);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    if (!tw_name_in(tw_attestations, how))
        return engine_op_fail(c, TW_E_INVALID,
                              "how: signed_letter, web_checkbox, verbal_phone "
                              "or in_person");
    struct engine_staff who;
    struct engine_case k;
    struct case_info i;
    memset(&i, 0, sizeof i);
    int st = start(c, TW_ROLE_AGENT | TW_ROLE_RESEARCHER, &who, &k, &i);
    if (st != TW_OK)
        goto out;
    if (!tw_status_open(k.status)) {
        st = engine_op_fail(c, TW_E_CONFLICT,
                            "case %s is %s: attestation is taken while the "
                            "case is open",
                            k.ref, k.status);
        goto out;
    }
    json_t *att = json_pack("{s:s, s:s}", "by", who.username, "how", how);
    if (note)
        json_object_set_new(att, "note", json_string(note));
    char *text = json_dumps(att, JSON_COMPACT);
    static const char sql[] =
        "UPDATE tawasul.cases SET attested_at = $2, attestation = $3::jsonb,"
        " updated_at = $2 WHERE id = $1::bigint";
    char id[24], at[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k.id);
    const char *p[] = {id, tw_db_time_param(c->now, at), text};
    st = tw_db_exec(c->db, sql, 3, p);
    free(text);
    if (st == TW_OK)
        st = add_event(c, &k, "attested", NULL, NULL, att);
    else
        json_decref(att);
    if (st != TW_OK)
        goto out;
    json_object_set_new(c->reply, "case", json_string(k.ref));
    json_object_set_new(c->reply, "status", json_string(k.status));
    json_object_set_new(c->reply, "attested", json_true());
out:
    info_free(&i);
    return st;
}

/* engine_lifecycle_reopen - see engine_ops.h */
int engine_lifecycle_reopen(struct engine_op_ctx *c, const char *ref,
                            const char *reason, const char *message_id)
{
    struct engine_case k;
    struct case_info i;
    memset(&i, 0, sizeof i);
    int st = engine_op_lock_case(c, ref, &k);
    if (st == TW_OK)
        st = info_load(c, &k, &i);
    if (st == TW_OK) {
        const struct tw_transition *t = tw_transition_find(k.status, "new");
        if (!t || strcmp(t->verb, "reopen") != 0) {
            st = engine_op_fail(c, TW_E_CONFLICT, "case %s is %s, not reopened",
                                k.ref, k.status);
        } else {
            json_t *detail = json_pack("{s:s, s:s?}", "reason", reason,
                                       "message_id", message_id);
            json_t *params = json_pack("{s:s}", "reason", reason);
            st = apply_move(c, &k, &i, t, detail, params);
            json_decref(detail);
            json_decref(params);
        }
    }
    info_free(&i);
    return st;
}
