/*
 * engine_note.c - op "note": a staff member's internal note on a case.
 *
 *   {"v":1,"op":"note","key":…,"actor":"username","case":"AW-2026-000001",
 *    "text":"Called the member back; documents promised for Sunday."}
 *
 * The note is an internal message (never shown to the member) and a "note"
 * event in the audit trail; the case's status does not change.
 */
#include "engine_ops.h"

#include <stdio.h>
#include <string.h>

#include "engine.h"

#define NOTE_MAX (64 * 1024) /* bytes of one note */

static const char sql_note[] =
    "WITH m AS ("
    "  INSERT INTO tawasul.messages (case_id, at, direction, channel, author,"
    "    body) VALUES ($1::bigint, $2, 'internal', 'note', $3, $4)"
    "  RETURNING id)"
    "INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    " SELECT $1::bigint, $2, $3, 'note', jsonb_build_object('message', m.id)"
    " FROM m";
static const char sql_touch[] =
    "UPDATE tawasul.cases SET updated_at = $2 WHERE id = $1::bigint";

/* engine_op_note - see engine_ops.h */
int engine_op_note(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"case", "text", NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *ref = engine_op_str(c, "case", 1);
    const char *text = engine_op_str(c, "text", 1);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    if (strlen(text) > NOTE_MAX)
        return engine_op_fail(c, TW_E_TOO_LARGE, "text: longer than %d bytes",
                              NOTE_MAX);

    struct engine_case k;
    int st = engine_op_lock_case(c, ref, &k);
    if (st != TW_OK)
        return st;
    char id[24], at[TW_TIME_ISO_MAX];
    snprintf(id, sizeof id, "%lld", k.id);
    tw_db_time_param(c->now, at);
    const char *p[] = {id, at, c->actor, text};
    st = tw_db_exec(c->db, sql_note, 4, p);
    if (st == TW_OK)
        st = tw_db_exec(c->db, sql_touch, 2, p);
    if (st != TW_OK)
        return st;
    json_object_set_new(c->reply, "case", json_string(k.ref));
    json_object_set_new(c->reply, "status", json_string(k.status));
    return TW_OK;
}
