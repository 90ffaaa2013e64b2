/*
 * engine_mail.c - op "bounce": a delivery report about mail we sent.
 *
 *   {"v":1,"op":"bounce","key":"email:<sha256 of the report's Message-ID>",
 *    "message_id":"<the Message-ID we sent, without <>>",
 *    "recipient":"member@example.org","status":"5.1.1",
 *    "reason":"smtp; 550 5.1.1 User unknown"}
 *
 * tawasul-ingest-email sends it for a DSN that says delivery failed. The
 * outbox row that sent that Message-ID is marked failed with the reason, and
 * its case gets a "mail.bounced" event, so staff see that the member did
 * not get the email and phone them instead. A report about mail we never
 * sent is refused not_found (the ingest drops it).
 */
#include "engine_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define REASON_MAX 900 /* bytes of the reason kept */

static const char sql_find[] =
    "SELECT o.id, o.case_id, c.ref, o.template, o.recipient, o.status"
    " FROM tawasul.outbox o LEFT JOIN tawasul.cases c ON c.id = o.case_id"
    " WHERE o.sent_message_id = $1 ORDER BY o.id LIMIT 1 FOR UPDATE OF o";
static const char sql_fail[] =
    "UPDATE tawasul.outbox SET status = 'failed', last_error = $2"
    " WHERE id = $1::bigint";
static const char sql_event[] =
    "INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    " VALUES ($1::bigint, $2, 'intake:email', 'mail.bounced',"
    "  jsonb_build_object('outbox', $3::bigint, 'template', $4::text,"
    "    'recipient', $5::text, 'status', $6::text, 'reason', $7::text,"
    "    'message_id', $8::text))";

/* engine_op_bounce - see engine_ops.h */
int engine_op_bounce(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"message_id", "recipient", "status",
                                         "reason", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *mid = engine_op_str(c, "message_id", 1);
    const char *rcpt = engine_op_str(c, "recipient", 0);
    const char *status = engine_op_str(c, "status", 0);
    const char *reason = engine_op_str(c, "reason", 0);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    if (strlen(mid) > 998)
        return engine_op_fail(c, TW_E_INVALID, "message_id: too long");

    int st;
    const char *p[] = {mid};
    PGresult *r = tw_db_query(c->db, &st, sql_find, 1, p);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return engine_op_fail(c, TW_E_NOT_FOUND,
                              "message_id: we sent no mail with that "
                              "Message-ID");
    }
    char id[24], case_id[24], ref[32], tmpl[64], at[TW_TIME_ISO_MAX];
    char error[REASON_MAX + 1400], row_rcpt[256];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    snprintf(case_id, sizeof case_id, "%s", PQgetvalue(r, 0, 1));
    snprintf(ref, sizeof ref, "%s", PQgetvalue(r, 0, 2));
    snprintf(tmpl, sizeof tmpl, "%s", PQgetvalue(r, 0, 3));
    if (!rcpt && !PQgetisnull(r, 0, 4)) {
        snprintf(row_rcpt, sizeof row_rcpt, "%s", PQgetvalue(r, 0, 4));
        rcpt = row_rcpt; /* the report did not say: the row's own */
    }
    PQclear(r);
    snprintf(error, sizeof error, "bounced%s%s%s%s: %.*s", status ? " " : "",
             status ? status : "", rcpt ? " " : "", rcpt ? rcpt : "",
             REASON_MAX, reason ? reason : "delivery failed");
    const char *f[] = {id, error};
    st = tw_db_exec(c->db, sql_fail, 2, f);
    if (st != TW_OK)
        return st;
    if (case_id[0]) {
        tw_db_time_param(c->now, at);
        const char *e[] = {case_id, at, id, tmpl, rcpt, status, reason, mid};
        st = tw_db_exec(c->db, sql_event, 8, e);
        if (st != TW_OK)
            return st;
        c->case_id = strtoll(case_id, NULL, 10);
        json_object_set_new(c->reply, "case", json_string(ref));
        engine_op_event(c, "mail.bounced",
                        json_pack("{s:s, s:s?, s:s?}", "case", ref, "recipient",
                                  rcpt, "status", status));
    }
    json_object_set_new(c->reply, "outbox",
                        json_integer(strtoll(id, NULL, 10)));
    return TW_OK;
}
