/*
 * engine_intake.c - writing a batch of intakes: one transaction, few round
 * trips, replies only after COMMIT.
 *
 * DESIGN
 * ------
 * A batch is written in one transaction with a fixed number of statements,
 * whatever its size:
 *   1. look up keys already stored (a resend after a lost reply) - those
 *      are answered with the stored case and "created": false;
 *   2. reserve a block of reference numbers per year from ref_counters (the
 *      row lock keeps numbers gap-free and unique across engines);
 *   3. one INSERT ... SELECT FROM jsonb_to_recordset() that matches each
 *      requester to a member (by number, else email, else phone) and writes
 *      the cases, their "created" audit events, the inbound messages and the
 *      acknowledgement outbox rows together;
 *   4. the attachments, if any (bytes content-addressed in blobs);
 *   5. COMMIT.
 * If a statement fails permanently, the batch is rolled back and each
 * intake is written again on its own, so one bad request cannot sink the
 * others and gets its own error. A temporary failure (connection lost)
 * answers the whole batch "unavailable": the clients resend with the same
 * keys, and whatever did commit is found by step 1.
 *
 * The two statements whose cost depends on the batch (steps 1 and 3) are
 * planned afresh each time: as prepared statements PostgreSQL soon switches
 * to a generic plan that does not know the batch's size, and intake ran at
 * half the speed (tests/bench/intake). The small fixed ones are prepared.
 *
 * Each item arrives with its due and warning times already computed by the
 * deadline function (tw_policy_deadlines),
 * the one place SLA rules live (engine_loop.c, when the request is taken).
 */
#include "engine.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "ref.h"

static const char sql_existing[] =
    "SELECT intake_key, ref, tawasul.us(received_at), tawasul.us(sla_due_at),"
    " verified FROM tawasul.cases WHERE intake_key = ANY($1::text[])";

static const char sql_reserve[] =
    "INSERT INTO tawasul.ref_counters (prefix, year, last)"
    " VALUES ($1, $2::int, $3::int)"
    " ON CONFLICT (prefix, year)"
    " DO UPDATE SET last = tawasul.ref_counters.last + EXCLUDED.last"
    " RETURNING last";

/* The whole batch in one statement. $1 the batch as JSON, $2 now. */
static const char sql_insert[] =
    "WITH input AS ("
    "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x("
    "    ord int, key text, ref text, channel text, kind text,"
    "    category text, subject text, body text, received_at timestamptz,"
    "    due_at timestamptz, warn_at timestamptz, actor text, number text, "
    "email text,"
    "    phone text, lang text, contact jsonb, msg_from text, msg_id text,"
    "    in_reply_to text, refs text, attestation text)"
    "), matched AS ("
    "  SELECT i.*, m.id AS member_id, m.email AS m_email, m.lang AS m_lang,"
    "    m.name AS m_name"
    "  FROM input i LEFT JOIN LATERAL ("
    "    SELECT * FROM ("
    "      SELECT 1 AS prio, mm.* FROM tawasul.members mm"
    "        WHERE i.number IS NOT NULL AND mm.member_no = i.number"
    "      UNION ALL SELECT 2, mm.* FROM tawasul.members mm"
    "        WHERE i.email IS NOT NULL AND lower(mm.email) = lower(i.email)"
    "      UNION ALL SELECT 3, mm.* FROM tawasul.members mm"
    "        WHERE i.phone IS NOT NULL AND mm.phone = i.phone"
    "    ) cand WHERE cand.active ORDER BY prio, id LIMIT 1"
    "  ) m ON true"
    "), c AS ("
    "  INSERT INTO tawasul.cases (ref, intake_key, member_id, verified,"
    "    contact, channel, kind, category, subject, status, created_by,"
    "    received_at, sla_due_at, sla_warn_at, first_response_at,"
    "    first_response_minutes, attested_at, attestation, updated_at)"
    "  SELECT ref, key, member_id, member_id IS NOT NULL, contact, channel,"
    "    kind, category, subject, 'new', actor, received_at, due_at, warn_at,"
    /* a call or visit logged by staff is itself the first response */
    "    CASE WHEN actor IS NOT NULL AND channel IN ('phone', 'walk_in')"
    "      THEN received_at END,"
    "    CASE WHEN actor IS NOT NULL AND channel IN ('phone', 'walk_in')"
    "      THEN 0 END,"
    /* the applicant attested with the request (the web form's checkbox) */
    "    CASE WHEN attestation IS NOT NULL THEN received_at END,"
    "    CASE WHEN attestation IS NOT NULL THEN jsonb_build_object('by',"
    "      coalesce(actor, 'intake:' || channel), 'how', attestation) END, $2"
    "  FROM matched ORDER BY ord"
    "  ON CONFLICT (intake_key) DO NOTHING"
    "  RETURNING id, intake_key, ref, member_id"
    "), ev AS ("
    "  INSERT INTO tawasul.case_events (case_id, at, actor, kind, to_status,"
    "    detail)"
    "  SELECT c.id, $2, coalesce(m.actor, 'intake:' || m.channel), 'created',"
    "    'new', jsonb_build_object('channel', m.channel, 'key', m.key,"
    "      'verified', c.member_id IS NOT NULL, 'received_at', m.received_at,"
    "      'sla_due_at', m.due_at, 'attestation', m.attestation)"
    "  FROM c JOIN matched m ON m.key = c.intake_key"
    "), msg AS ("
    "  INSERT INTO tawasul.messages (case_id, at, direction, channel, author,"
    "    from_addr, subject, body, message_id, in_reply_to, refs)"
    "  SELECT c.id, m.received_at, 'in', m.channel, m.actor, m.msg_from,"
    "    m.subject, m.body, m.msg_id, m.in_reply_to, m.refs"
    "  FROM c JOIN matched m ON m.key = c.intake_key"
    "  RETURNING id, case_id"
    "), ob AS ("
    "  INSERT INTO tawasul.outbox (case_id, event, recipient, lang, template,"
    "    params, created_at, next_attempt_at)"
    "  SELECT c.id, 'case.created', coalesce(m.m_email, m.email),"
    "    coalesce(m.m_lang, m.lang, 'ar'), 'acknowledgement',"
    "    jsonb_build_object('ref', c.ref, 'channel', m.channel,"
    "      'kind', m.kind, 'subject', m.subject,"
    "      'name', coalesce(m.m_name, m.contact->>'name'),"
    "      'received_at', m.received_at, 'sla_due_at', m.due_at),"
    "    $2, $2"
    "  FROM c JOIN matched m ON m.key = c.intake_key"
    ")"
    "SELECT c.intake_key, c.ref, c.member_id IS NOT NULL, msg.id"
    " FROM c JOIN msg ON msg.case_id = c.id";

static const char sql_attachment[] =
    "WITH b AS ("
    "  INSERT INTO tawasul.blobs (sha256, size, data) VALUES ($2, $4, $6)"
    "  ON CONFLICT (sha256) DO NOTHING)"
    "INSERT INTO tawasul.attachments (message_id, filename, mime_type, size,"
    "  sha256) VALUES ($1, $3, $5, $4, $2)";

/* fail_item - record a permanent or temporary failure on IT */
__attribute__((format(printf, 3, 4))) static void
fail_item(struct engine_item *it, enum tw_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof it->msg, fmt, ap);
    va_end(ap);
    it->err = code;
    it->done = 1;
}

/*
 * The keys of a batch, hashed, so that matching rows to items is O(1) and a
 * batch of thousands costs no more per item than a batch of ten. The first
 * item with a key owns the slot; later ones are marked duplicates of it.
 */
struct key_index {
    size_t mask;
    struct engine_item **slots;
};

/* key_hash - FNV-1a of KEY */
static uint64_t key_hash(const char *key)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return h;
}

/* key_index_build - index ITEMS by key, marking repeats as duplicates */
static void key_index_build(struct key_index *x, struct engine_item *items,
                            size_t n)
{
    size_t size = 16;
    while (size < 2 * n)
        size *= 2;
    x->mask = size - 1;
    x->slots = tw_calloc(size, sizeof *x->slots);
    for (size_t i = 0; i < n; i++) {
        size_t slot = (size_t)key_hash(items[i].in.key) & x->mask;
        while (x->slots[slot] &&
               strcmp(x->slots[slot]->in.key, items[i].in.key) != 0)
            slot = (slot + 1) & x->mask;
        if (x->slots[slot])
            items[i].dup_of = x->slots[slot];
        else
            x->slots[slot] = &items[i];
    }
}

/* key_index_free - release the slots */
static void key_index_free(struct key_index *x)
{
    free(x->slots);
    x->slots = NULL;
}

/* find_item - the (first) item with KEY among ITEMS: through the index when
 * there is one, else by looking (a batch of one) */
static struct engine_item *find_item(const struct key_index *x,
                                     struct engine_item *items, size_t n,
                                     const char *key)
{
    if (!x) {
        for (size_t i = 0; i < n; i++)
            if (!items[i].dup_of && strcmp(items[i].in.key, key) == 0)
                return &items[i];
        return NULL;
    }
    size_t slot = (size_t)key_hash(key) & x->mask;
    while (x->slots[slot]) {
        if (strcmp(x->slots[slot]->in.key, key) == 0)
            return x->slots[slot];
        slot = (slot + 1) & x->mask;
    }
    return NULL;
}

/* text_array - KEYS of the undone items as a PostgreSQL array literal */
static char *text_array(struct engine_item *items, size_t n)
{
    struct tw_buf b;
    tw_buf_init(&b, 0);
    int first = 1, rc = tw_buf_add(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (items[i].done || items[i].dup_of)
            continue;
        rc |= tw_buf_add(&b, first ? "\"" : ",\"", first ? 1 : 2);
        for (const char *p = items[i].in.key; *p; p++) {
            if (*p == '"' || *p == '\\')
                rc |= tw_buf_add(&b, "\\", 1);
            rc |= tw_buf_add(&b, p, 1);
        }
        rc |= tw_buf_add(&b, "\"", 1);
        first = 0;
    }
    rc |= tw_buf_add(&b, "}", 1);
    (void)rc; /* no cap: cannot fail */
    return tw_buf_take(&b, NULL);
}

/* find_existing - step 1: answer keys that are already stored */
static int find_existing(struct engine_writer *w, const struct key_index *x,
                         struct engine_item *items, size_t n)
{
    char *keys = text_array(items, n);
    const char *params[] = {keys};
    int st;
    PGresult *r = tw_db_query(w->db, &st, sql_existing, 1, params);
    free(keys);
    if (!r)
        return st;
    for (int row = 0; row < PQntuples(r); row++) {
        struct engine_item *it = find_item(x, items, n, PQgetvalue(r, row, 0));
        if (!it)
            continue;
        snprintf(it->ref, sizeof it->ref, "%s", PQgetvalue(r, row, 1));
        it->received_at = strtoll(PQgetvalue(r, row, 2), NULL, 10);
        it->due_at = strtoll(PQgetvalue(r, row, 3), NULL, 10);
        it->verified = PQgetvalue(r, row, 4)[0] == 't';
        it->created = 0;
        it->done = 1;
    }
    PQclear(r);
    return TW_OK;
}

/* reserve_refs - step 2: hand out references to the items still to write */
static int reserve_refs(struct engine_writer *w, const struct engine_batch *b,
                        struct engine_item *items, size_t n)
{
    const char *prefix = b->ref_prefix;
    for (size_t i = 0; i < n; i++) {
        struct engine_item *it = &items[i];
        if (it->done || it->dup_of || it->ref[0])
            continue;
        int year = it->year;
        size_t count = 0;
        for (size_t j = i; j < n; j++)
            if (!items[j].done && !items[j].dup_of && !items[j].ref[0] &&
                items[j].year == year)
                count++;
        char ys[16], cs[16];
        snprintf(ys, sizeof ys, "%d", year);
        snprintf(cs, sizeof cs, "%zu", count);
        const char *params[] = {prefix, ys, cs};
        int st;
        PGresult *r = tw_db_query_prepared(w->db, &st, sql_reserve, 3, params,
                                           NULL, NULL);
        if (!r)
            return st;
        long last = strtol(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        long next = last - (long)count + 1;
        for (size_t j = i; j < n; j++)
            if (!items[j].done && !items[j].dup_of && !items[j].ref[0] &&
                items[j].year == year &&
                tw_case_ref_format(items[j].ref, prefix, year, next++) != TW_OK)
                return TW_PERMFAIL; /* numbers for the year ran out */
    }
    return TW_OK;
}

/* item_json - one row of the batch statement's input */
static json_t *item_json(size_t ord, const struct engine_item *it)
{
    const struct tw_intake *in = &it->in;
    char rec[TW_TIME_ISO_MAX], due[TW_TIME_ISO_MAX], warn[TW_TIME_ISO_MAX];
    json_t *contact = json_object();
    if (in->member_number)
        json_object_set_new(contact, "number", json_string(in->member_number));
    if (in->member_name)
        json_object_set_new(contact, "name", json_string(in->member_name));
    if (in->member_email)
        json_object_set_new(contact, "email", json_string(in->member_email));
    if (in->member_phone)
        json_object_set_new(contact, "phone", json_string(in->member_phone));
    if (in->member_lang)
        json_object_set_new(contact, "lang", json_string(in->member_lang));
    if (it->thread.linked[0]) /* a late reply to an old case */
        json_object_set_new(contact, "linked_case",
                            json_string(it->thread.linked));
    json_t *j = json_pack(
        "{s:I, s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:s?, s:s?,"
        " s:s?, s:s?, s:s?, s:o, s:s?, s:s?, s:s?, s:s?}",
        "ord", (json_int_t)ord, "key", in->key, "ref", it->ref, "channel",
        in->channel, "kind", in->kind, "category", in->category, "subject",
        in->subject, "body", in->body ? in->body : "", "received_at",
        tw_db_time_param(it->received_at, rec), "due_at",
        tw_db_time_param(it->due_at, due), "actor", in->actor, "number",
        in->member_number, "email", in->member_email, "phone", in->member_phone,
        "lang", in->member_lang, "contact", contact, "msg_from", in->msg_from,
        "msg_id", in->msg_id, "in_reply_to", in->msg_in_reply_to, "refs",
        in->msg_references);
    if (it->warn_at != TW_TIME_NEVER && it->warn_at > 0)
        json_object_set_new(j, "warn_at",
                            json_string(tw_db_time_param(it->warn_at, warn)));
    if (in->attestation)
        json_object_set_new(j, "attestation", json_string(in->attestation));
    return j;
}

/* engine_store_attachments - step 4: the attachments of IT's message */
int engine_store_attachments(struct engine_writer *w,
                             const struct engine_item *it, const char *msg_id)
{
    for (size_t i = 0; i < it->in.nattachments; i++) {
        const struct tw_intake_attachment *a = &it->in.attachments[i];
        unsigned char hash[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1], size[32];
        crypto_hash_sha256(hash, a->data, a->size);
        sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
        snprintf(size, sizeof size, "%zu", a->size);
        const char *values[] = {msg_id, hex,     a->name,
                                size,   a->type, a->data ? a->data : ""};
        int lengths[] = {0, 0, 0, 0, 0, (int)a->size};
        int formats[] = {0, 0, 0, 0, 0, 1};
        int st;
        PGresult *r = tw_db_query_prepared(w->db, &st, sql_attachment, 6,
                                           values, lengths, formats);
        if (!r)
            return st;
        PQclear(r);
    }
    return TW_OK;
}

/* insert_new - step 3 (and 4): write every item still to write */
static int insert_new(struct engine_writer *w, const struct key_index *x,
                      struct engine_item *items, size_t n, tw_time now)
{
    json_t *batch = json_array();
    size_t todo = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].done && !items[i].dup_of) {
            json_array_append_new(batch, item_json(i, &items[i]));
            todo++;
        }
    if (!todo) {
        json_decref(batch);
        return TW_OK;
    }
    char *text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    char nowp[TW_TIME_ISO_MAX];
    const char *params[] = {text, tw_db_time_param(now, nowp)};
    int st;
    PGresult *r = tw_db_query(w->db, &st, sql_insert, 2, params);
    free(text);
    if (!r)
        return st;
    st = TW_OK;
    for (int row = 0; row < PQntuples(r) && st == TW_OK; row++) {
        struct engine_item *it = find_item(x, items, n, PQgetvalue(r, row, 0));
        if (!it)
            continue;
        it->created = 1;
        it->verified = PQgetvalue(r, row, 2)[0] == 't';
        it->done = 1;
        if (it->in.nattachments)
            st = engine_store_attachments(w, it, PQgetvalue(r, row, 3));
    }
    PQclear(r);
    return st;
}

/* write_batch - steps 1-5 in one transaction; TW_OK once committed */
static int write_batch(struct engine_writer *w, const struct engine_batch *b,
                       const struct key_index *x, struct engine_item *items,
                       size_t n)
{
    tw_time now = tw_clock_now();
    int st = tw_db_begin(w->db);
    if (st == TW_OK)
        st = find_existing(w, x, items, n);
    if (st == TW_OK)
        st = engine_thread_batch(w, b, items, n, now, 0);
    if (st == TW_OK)
        st = reserve_refs(w, b, items, n);
    if (st == TW_OK)
        st = insert_new(w, x, items, n, now);
    if (st == TW_OK) /* replies to mail that came in this same batch */
        st = engine_thread_batch(w, b, items, n, now, 1);
    if (st == TW_OK)
        st = reserve_refs(w, b, items, n);
    if (st == TW_OK)
        st = insert_new(w, x, items, n, now);
    if (st == TW_OK)
        st = tw_db_commit(w->db);
    if (st != TW_OK)
        tw_db_rollback(w->db);
    return st;
}

/* reset_items - forget outcomes of a rolled-back attempt */
static void reset_items(struct engine_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i].err != TW_E_NONE)
            continue; /* refused before the database: stays refused */
        items[i].done = 0;
        items[i].created = 0;
        items[i].verified = 0;
        items[i].ref[0] = '\0';
        memset(&items[i].thread, 0, sizeof items[i].thread);
    }
}

/* lookup_lost - items a concurrent engine stored first (ON CONFLICT DO
 * NOTHING skipped them): read their case after the commit */
static void lookup_lost(struct engine_writer *w, const struct key_index *x,
                        struct engine_item *items, size_t n)
{
    size_t lost = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].done && !items[i].dup_of) {
            items[i].ref[0] = '\0';
            lost++;
        }
    if (!lost)
        return;
    int st = find_existing(w, x, items, n);
    (void)st; /* whatever is still not found is reported below */
    for (size_t i = 0; i < n; i++)
        if (!items[i].done && !items[i].dup_of)
            fail_item(&items[i], TW_E_INTERNAL, "%s",
                      "the case was not stored; try again");
}

/* engine_intake_batch - see engine.h */
void engine_intake_batch(struct engine_writer *w, struct engine_batch *b)
{
    struct engine_item *items = b->items;
    size_t n = b->n;
    struct key_index x;
    key_index_build(&x, items, n);

    int st = write_batch(w, b, &x, items, n);
    if (st == TW_PERMFAIL && n > 1) {
        /* One bad apple: write each on its own to find it. */
        tw_warn("batch of %zu failed; writing its intakes one by one", n);
        reset_items(items, n);
        for (size_t i = 0; i < n; i++) {
            if (items[i].dup_of || items[i].err != TW_E_NONE)
                continue;
            st = write_batch(w, b, NULL, &items[i], 1);
            if (st == TW_PERMFAIL)
                fail_item(&items[i], TW_E_INVALID,
                          "rejected by the database: %s", tw_db_error(w->db));
            else if (st == TW_TEMPFAIL)
                break;
        }
    } else if (st == TW_PERMFAIL) {
        fail_item(&items[0], TW_E_INVALID, "rejected by the database: %s",
                  tw_db_error(w->db));
    }
    if (st == TW_TEMPFAIL) {
        for (size_t i = 0; i < n; i++)
            if (!items[i].done && items[i].err == TW_E_NONE)
                fail_item(&items[i], TW_E_UNAVAILABLE, "%s",
                          "the database is unavailable; try again");
    } else {
        lookup_lost(w, &x, items, n);
    }
    key_index_free(&x);

    unsigned long created = 0;
    for (size_t i = 0; i < n; i++) {
        struct engine_item *it = &items[i];
        if (it->dup_of) {
            struct engine_item *first = it->dup_of;
            it->err = first->err;
            snprintf(it->msg, sizeof it->msg, "%s", first->msg);
            snprintf(it->ref, sizeof it->ref, "%s", first->ref);
            it->received_at = first->received_at;
            it->due_at = first->due_at;
            it->verified = first->verified;
            it->created = 0;
            it->done = 1;
        } else if (it->err == TW_E_NONE && it->created) {
            created++;
        }
    }
    atomic_fetch_add(&w->cases_created, created);
}
