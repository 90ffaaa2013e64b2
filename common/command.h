/*
 * command.h - the bus commands' contract, parsed and validated in one place.
 *
 * The engine validates every command through these functions before it
 * writes anything, and the clients (CLI, ingest services) use the same
 * functions to check what they are about to send, so a bad request is
 * caught at the edge with the same message the engine would give.
 *
 * Envelope: {"v":1,"op":"intake","key":"phone:…", …}. An intake carries:
 *   channel   email|web|phone|letter|walk_in|social           (required)
 *   kind      inquiry|request|complaint|suggestion            (default request)
 *   category  one of config cases.categories                  (optional)
 *   subject   one line of text                                (required)
 *   body      text                                            (may be "")
 *   received_at  ISO 8601 with offset; when the source got it (default now)
 *   actor     staff username who logged it                    (optional)
 *   member    {"number","email","phone","name","lang"}        (all optional)
 *   message   {"from","message_id","in_reply_to","references"} (optional)
 *   attachments [{"name","type"}], one per extra frame, in order
 *   attestation  how the applicant attested with the request, e.g.
 *                "web_checkbox" (optional; see tw_attestations)
 * Unknown fields are an error, so a typo never silently drops data.
 */
#ifndef TW_COMMAND_H
#define TW_COMMAND_H

#include <stddef.h>
#include <jansson.h>

#include "bus.h"
#include "clock.h"
#include "error.h"

#define TW_KEY_MAX 200
#define TW_MSG_MAX 256 /* error message buffer for the parse functions */

/* The enumerations the schema's CHECK constraints also list. */
extern const char *const tw_channels[]; /* NULL-terminated */
extern const char *const tw_kinds[];
extern const char *const tw_langs[];
/* How an applicant attests that what they gave is correct and that they are
 * responsible for it (DESIGN.md "Case lifecycle": the committee gate). */
extern const char *const tw_attestations[];
/* tw_name_in - whether NAME is one of LIST's entries */
int tw_name_in(const char *const *list, const char *name);

struct tw_intake_limits {
    size_t max_subject; /* bytes */
    size_t max_body;    /* bytes */
    size_t max_attachments;
    size_t max_attachment;               /* bytes, one attachment */
    const struct tw_strlist *categories; /* allowed; NULL or empty: any */
};

struct tw_intake_attachment {
    const char *name; /* file name as given (borrowed from the command) */
    const char *type; /* MIME type, default application/octet-stream */
    const void *data; /* the frame (borrowed) */
    size_t size;
};

/* A parsed intake. Strings borrow from JSON, which the struct holds a
 * reference to; tw_intake_clear drops it. */
struct tw_intake {
    json_t *json;
    const char *key;
    const char *channel;
    const char *kind;
    const char *category; /* NULL if none */
    const char *subject;
    const char *body;
    tw_time received_at; /* 0 when not given */
    const char *actor;   /* NULL if none */
    const char *member_number, *member_email, *member_phone, *member_name,
        *member_lang; /* each NULL if not given; phone normalized */
    const char *msg_from, *msg_id, *msg_in_reply_to, *msg_references;
    const char *attestation; /* one of tw_attestations, NULL if none */
    struct tw_intake_attachment *attachments; /* owned array */
    size_t nattachments;
    char *phone_buf; /* owned storage for the normalized phone */
};

/* tw_command_parse - parse TEXT (LEN bytes) as a command envelope: a JSON
 * object with "v":1, a known "op" and a valid "key". On success *JSON is a
 * new reference, *OP and *KEY borrow from it. On failure returns TW_PERMFAIL
 * with *CODE and MSG (TW_MSG_MAX bytes) saying what is wrong; *KEY is still
 * set when the key could be read, so the error reply can carry it. */
int tw_command_parse(const char *text, size_t len, json_t **json,
                     const char **op, const char **key, enum tw_errcode *code,
                     char *msg);

/* tw_intake_parse - validate an intake command (JSON from tw_command_parse,
 * borrowed; the intake takes its own reference) with N attachment PARTS
 * against LIM. TW_OK, or TW_PERMFAIL with *CODE and MSG. */
int tw_intake_parse(json_t *json, const struct tw_bus_part *parts, size_t n,
                    const struct tw_intake_limits *lim, struct tw_intake *out,
                    enum tw_errcode *code, char *msg);
/* tw_intake_clear - release what tw_intake_parse filled; safe to repeat */
void tw_intake_clear(struct tw_intake *in);

/* tw_phone_normalize - a phone number as digits with an optional leading
 * "+", spaces, dashes, dots and parentheses removed; NULL (caller frees
 * otherwise) if anything else is in it or it has fewer than 5 digits */
char *tw_phone_normalize(const char *s);
/* tw_email_valid - a plausible single address: local@domain, no spaces or
 * control characters, at most 254 bytes */
int tw_email_valid(const char *s);
/* tw_key_new - a fresh idempotency key "PREFIX:<uuid v4>" (caller frees) */
char *tw_key_new(const char *prefix);

#endif
