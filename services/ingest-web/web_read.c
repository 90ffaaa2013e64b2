/*
 * web_read.c - what a member may see, read straight from PostgreSQL.
 *
 * Reads never go through the engine (DESIGN.md "Shape"): they query the
 * views of migration 0006, member_cases and member_case_events, which hold
 * only what a member may see (status changes, never staff notes or
 * assignments). A small pool keeps one connection per request thread at
 * most; a connection that fails is dropped and reopened on the next use.
 */
#include "web.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "error.h"
#include "log.h"
#include "mem.h"

struct web_reader {
    pthread_mutex_t mu;
    struct tw_db **free_dbs; /* idle handles */
    size_t nfree, cap;
    char *conninfo;
    int64_t connect_timeout;
};

/* The case and its timeline in one round trip: the events as
 * "usec status,usec status,..." (statuses are plain words, no commas). */
static const char sql_case[] =
    "SELECT ref, status, kind, coalesce(category, ''), subject,"
    " tawasul.us(received_at), tawasul.us(sla_due_at),"
    " coalesce(tawasul.us(decided_at), 0), coalesce(decision, ''),"
    " survey_answered,"
    " (SELECT string_agg(tawasul.us(e.at) || ' ' || e.status, ','"
    "    ORDER BY e.at, e.id) FROM (SELECT * FROM tawasul.member_case_events"
    "    WHERE case_id = mc.id ORDER BY at, id LIMIT 64) e)"
    " FROM tawasul.member_cases mc WHERE ref = $1 AND ($2::text IS NULL"
    " OR lower($2) = lower(member_email) OR lower($2) = lower(contact_email))";

static const char sql_intake[] =
    "SELECT ref, tawasul.us(received_at), tawasul.us(sla_due_at),"
    " member_email IS NOT NULL OR contact_email IS NOT NULL,"
    " verified OR contact_number IS NULL"
    " FROM tawasul.member_cases WHERE intake_key = $1";

struct web_reader *web_reader_new(const struct tw_base_config *base, int n)
{
    struct web_reader *r = tw_calloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->cap = (size_t)n;
    r->free_dbs = tw_calloc(r->cap, sizeof *r->free_dbs);
    r->conninfo = tw_strdup(base->database_url);
    r->connect_timeout = base->database_connect_timeout;
    for (size_t i = 0; i < r->cap; i++) {
        r->free_dbs[i] = tw_db_new(r->conninfo, "tawasul-ingest-web");
        tw_db_set_connect_timeout(r->free_dbs[i], r->connect_timeout);
    }
    r->nfree = r->cap;
    return r;
}

void web_reader_destroy(struct web_reader **rp)
{
    struct web_reader *r = *rp;
    if (!r)
        return;
    for (size_t i = 0; i < r->nfree; i++)
        tw_db_destroy(&r->free_dbs[i]);
    free(r->free_dbs);
    free(r->conninfo);
    pthread_mutex_destroy(&r->mu);
    free(r);
    *rp = NULL;
}

/* take - an idle handle, connected; NULL when the database is down */
static struct tw_db *take(struct web_reader *r)
{
    struct tw_db *db = NULL;
    pthread_mutex_lock(&r->mu);
    if (r->nfree > 0)
        db = r->free_dbs[--r->nfree];
    pthread_mutex_unlock(&r->mu);
    if (!db) { /* more threads than handles: a short-lived one */
        db = tw_db_new(r->conninfo, "tawasul-ingest-web");
        tw_db_set_connect_timeout(db, r->connect_timeout);
    }
    if (!tw_db_is_up(db) && tw_db_connect(db) != TW_OK) {
        pthread_mutex_lock(&r->mu);
        if (r->nfree < r->cap)
            r->free_dbs[r->nfree++] = db;
        else
            tw_db_destroy(&db);
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    return db;
}

/* give - return DB to the pool */
static void give(struct web_reader *r, struct tw_db *db)
{
    pthread_mutex_lock(&r->mu);
    if (r->nfree < r->cap)
        r->free_dbs[r->nfree++] = db;
    else
        tw_db_destroy(&db);
    pthread_mutex_unlock(&r->mu);
}

/* copy - a column into a fixed buffer */
static void copy(char *dst, size_t size, const PGresult *res, int row, int col)
{
    snprintf(dst, size, "%s", PQgetvalue(res, row, col));
}

int web_read_case(struct web_reader *r, const char *ref, const char *email,
                  struct web_case *out)
{
    struct tw_db *db = take(r);
    if (!db)
        return TW_TEMPFAIL;
    int st = TW_OK;
    const char *params[2] = {ref, email};
    PGresult *res =
        tw_db_query_prepared(db, &st, sql_case, 2, params, NULL, NULL);
    if (!res)
        goto out;
    if (PQntuples(res) != 1) {
        st = TW_PERMFAIL;
        goto out;
    }
    memset(out, 0, sizeof *out);
    copy(out->ref, sizeof out->ref, res, 0, 0);
    copy(out->status, sizeof out->status, res, 0, 1);
    copy(out->kind, sizeof out->kind, res, 0, 2);
    copy(out->category, sizeof out->category, res, 0, 3);
    copy(out->subject, sizeof out->subject, res, 0, 4);
    out->received_at = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    out->due_at = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    out->decided_at = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
    copy(out->decision, sizeof out->decision, res, 0, 8);
    out->survey_answered = PQgetvalue(res, 0, 9)[0] == 't';
    const char *ev = PQgetvalue(res, 0, 10);
    while (*ev && out->nevents < 64) {
        struct web_event *e = &out->events[out->nevents];
        char *end = NULL;
        e->at = strtoll(ev, &end, 10);
        if (!end || *end != ' ')
            break;
        size_t n = strcspn(end + 1, ",");
        snprintf(e->status, sizeof e->status, "%.*s", (int)n, end + 1);
        out->nevents++;
        ev = end + 1 + n;
        if (*ev == ',')
            ev++;
    }
    st = TW_OK;
out:
    PQclear(res);
    if (st == TW_TEMPFAIL)
        tw_warn("status look-up: database: %s", tw_db_error(db));
    give(r, db);
    return st;
}

int web_read_intake(struct web_reader *r, const char *key,
                    struct web_result *out)
{
    struct tw_db *db = take(r);
    if (!db)
        return TW_TEMPFAIL;
    int st = TW_OK;
    const char *params[1] = {key};
    PGresult *res =
        tw_db_query_prepared(db, &st, sql_intake, 1, params, NULL, NULL);
    if (res && PQntuples(res) == 1) {
        copy(out->ref, sizeof out->ref, res, 0, 0);
        out->received_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        out->due_at = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->has_email = PQgetvalue(res, 0, 3)[0] == 't';
        /* "verified" here: nothing to tell about the member number */
        out->verified = PQgetvalue(res, 0, 4)[0] == 't';
        st = TW_OK;
    } else if (res) {
        st = TW_PERMFAIL;
    }
    PQclear(res);
    give(r, db);
    return st;
}

int web_reader_up(struct web_reader *r)
{
    struct tw_db *db = take(r);
    if (!db)
        return 0;
    int st = TW_OK;
    PGresult *res = tw_db_query(db, &st, "SELECT 1", 0, NULL);
    PQclear(res);
    give(r, db);
    return res != NULL;
}
