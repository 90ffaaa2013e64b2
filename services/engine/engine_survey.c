/*
 * engine_survey.c - op "survey": a member rates the service, once per case.
 *
 *   {"v":1,"op":"survey","key":…,"case":"AW-2026-000001",
 *    "token":"<the survey link's token>","rating":1..5,"comment":"…"}
 *
 * The member is not staff, so no actor: the signed link is the credential
 * (common/link.h, purpose "survey"), checked here again whatever the portal
 * did. A survey opens when the case is resolved or closed. The answer is a
 * row in surveys (token_hash: hex SHA-256 of the token; the notifier may
 * have made the row when it sent the link) and a survey.answered event; a
 * second answer is refused with "conflict", so a case keeps its first
 * rating. The rating is no status change: the member's timeline ignores it.
 */
#include "engine_ops.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "link.h"

#define COMMENT_MAX 2000 /* bytes */

static const char sql_answer[] =
    "INSERT INTO tawasul.surveys (case_id, token_hash, created_at,"
    "  answered_at, rating, comment)"
    " VALUES ($1::bigint, $2, $3, $3, $4::smallint, nullif($5, ''))"
    " ON CONFLICT (case_id) DO UPDATE"
    "  SET answered_at = EXCLUDED.answered_at, rating = EXCLUDED.rating,"
    "      comment = EXCLUDED.comment"
    "  WHERE tawasul.surveys.answered_at IS NULL"
    " RETURNING id";
static const char sql_event[] =
    "INSERT INTO tawasul.case_events (case_id, at, actor, kind, detail)"
    " VALUES ($1::bigint, $2, 'member', 'survey.answered',"
    "  jsonb_build_object('rating', $3::int, 'commented', $4 <> ''))";

/* engine_op_survey - see engine_ops.h */
int engine_op_survey(struct engine_op_ctx *c)
{
    static const char *const fields[] = {"case", "token", "rating", "comment",
                                         NULL};
    if (engine_op_fields(c, fields) != TW_OK)
        return TW_PERMFAIL;
    const char *ref = engine_op_str(c, "case", 1);
    const char *token = engine_op_str(c, "token", 1);
    const char *comment = engine_op_str(c, "comment", 0);
    if (c->code != TW_E_NONE)
        return TW_PERMFAIL;
    json_t *r = json_object_get(c->cmd, "rating");
    if (!json_is_integer(r) || json_integer_value(r) < 1 ||
        json_integer_value(r) > 5)
        return engine_op_fail(c, TW_E_INVALID,
                              "rating: must be a whole number from 1 to 5");
    if (comment && strlen(comment) > COMMENT_MAX)
        return engine_op_fail(c, TW_E_TOO_LARGE,
                              "comment: longer than %d bytes", COMMENT_MAX);
    if (!tw_link_check(c->base->site_secret, "survey", ref, token))
        return engine_op_fail(c, TW_E_FORBIDDEN,
                              "token: not a survey link for %s", ref);

    struct engine_case k;
    int st = engine_op_lock_case(c, ref, &k);
    if (st != TW_OK)
        return st;
    if (strcmp(k.status, "resolved") != 0 && strcmp(k.status, "closed") != 0)
        return engine_op_fail(c, TW_E_CONFLICT,
                              "%s is %s: the survey opens once it is resolved",
                              k.ref, k.status);

    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256(hash, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    char id[24], at[TW_TIME_ISO_MAX], rating[4];
    snprintf(id, sizeof id, "%lld", k.id);
    snprintf(rating, sizeof rating, "%d", (int)json_integer_value(r));
    tw_db_time_param(c->now, at);
    const char *p[] = {id, hex, at, rating, comment ? comment : ""};
    PGresult *res = tw_db_query(c->db, &st, sql_answer, 5, p);
    if (!res)
        return st;
    int answered = PQntuples(res) == 1;
    PQclear(res);
    if (!answered)
        return engine_op_fail(c, TW_E_CONFLICT,
                              "%s: the survey was answered already", k.ref);
    const char *e[] = {id, at, rating, comment ? comment : ""};
    st = tw_db_exec(c->db, sql_event, 4, e);
    if (st != TW_OK)
        return st;
    json_object_set_new(c->reply, "case", json_string(k.ref));
    json_object_set_new(c->reply, "rating",
                        json_integer(json_integer_value(r)));
    engine_op_event(c, "case.survey",
                    json_pack("{s:s, s:I}", "case", k.ref, "rating",
                              json_integer_value(r)));
    return TW_OK;
}
