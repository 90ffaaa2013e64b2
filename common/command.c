/*
 * command.c - parse and validate bus commands at the edge.
 *
 * DESIGN
 * ------
 * jansson does the JSON (and guarantees valid UTF-8 without NULs); this
 * file checks the contract in command.h field by field. Each check fails
 * with one message that names the field ("member.email: ..."), because
 * the message travels back to a person: the CLI prints it, the web form
 * shows it, the ingest services put it in a quarantine reason. Parsing
 * never writes anything; strings in the result borrow from the JSON, which
 * the result holds a reference to. Values quoted in messages are cut short
 * on a UTF-8 boundary with control characters masked, so a message is
 * always one line of valid text whatever the input was.
 */
#include "command.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "config.h"
#include "mem.h"

const char *const tw_channels[] = {"email",   "web",    "phone", "letter",
                                   "walk_in", "social", NULL};
const char *const tw_kinds[] = {"inquiry", "request", "complaint", "suggestion",
                                NULL};
const char *const tw_langs[] = {"ar", "en", NULL};
const char *const tw_attestations[] = {"signed_letter", "web_checkbox",
                                       "verbal_phone", "in_person", NULL};

static const char *const ops[] = {"intake", "append", "transition", "assign",
                                  "note", "decide", "attest", "survey",
                                  "bounce", "ping",
                                  /* issue 3: the SLA sweeper by hand */
                                  "sla_sweep", "sla_recompute", NULL};

static const char *const intake_fields[] = {
    "v",        "op",      "key",         "channel",     "kind",
    "category", "subject", "body",        "received_at", "actor",
    "member",   "message", "attachments", "attestation", NULL};
static const char *const member_fields[] = {"number", "email", "phone",
                                            "name",   "lang",  NULL};
static const char *const message_fields[] = {"from", "message_id",
                                             "in_reply_to", "references", NULL};
static const char *const attachment_fields[] = {"name", "type", NULL};

#define SHOW_MAX     48 /* bytes of a value quoted in a message */
#define HEADER_MAX   998
#define NAME_MAX_B   200
#define FILE_MAX_B   255
#define TYPE_MAX_B   127
#define CATEGORY_MAX 100

/* tw_name_in - whether NAME is one of LIST's entries */
int tw_name_in(const char *const *list, const char *name)
{
    if (!list || !name)
        return 0;
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

/* utf8_cut - the largest length <= MAX that does not split a UTF-8
 * sequence of S (LEN bytes) */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* show - S quoted for a message into BUF: at most SHOW_MAX bytes (then
 * "..."), control characters as '?'; returns BUF */
static const char *show(const char *s, char *buf, size_t size)
{
    size_t len = strlen(s);
    size_t n = utf8_cut(s, len, SHOW_MAX);
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (n < len && o + 5 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* fail - set *CODE to VALUE and MSG (TW_MSG_MAX bytes, cut on a UTF-8
 * boundary); returns TW_PERMFAIL */
__attribute__((format(printf, 4, 5))) static int fail(enum tw_errcode *code,
                                                      enum tw_errcode value,
                                                      char *msg,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, TW_MSG_MAX, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    else if ((size_t)n >= TW_MSG_MAX)
        msg[utf8_cut(msg, TW_MSG_MAX - 1, TW_MSG_MAX - 2)] = '\0';
    *code = value;
    return TW_PERMFAIL;
}

/* has_ctl - whether S has a control character; ALLOW_WS lets \n \r \t by */
static int has_ctl(const char *s, int allow_ws)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (allow_ws && (*p == '\n' || *p == '\r' || *p == '\t'))
            continue;
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    }
    return 0;
}

/* key_ok - 1..TW_KEY_MAX bytes of printable ASCII without spaces */
static int key_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > TW_KEY_MAX)
        return 0;
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return 0;
    return 1;
}

/* list_names - LIST joined with ", " into BUF of SIZE bytes */
static const char *list_names(const char *const *list, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (; *list && o < size; list++) {
        int n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", *list);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    return buf;
}

/* tw_command_parse - the envelope: a JSON object, "v":1, a known "op", a
 * valid "key". *JSON is set whenever TEXT was a JSON object, also on
 * failure (then *KEY may borrow from it): the caller always decrefs it. */
int tw_command_parse(const char *text, size_t len, json_t **json,
                     const char **op, const char **key, enum tw_errcode *code,
                     char *msg)
{
    int rc = TW_PERMFAIL;
    json_error_t err;
    char q[SHOW_MAX + 8];
    *json = NULL;
    *op = NULL;
    *key = NULL;
    *code = TW_E_NONE;
    msg[0] = '\0';

    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        fail(code, TW_E_BAD_JSON, msg, "bad JSON: %s at line %d column %d",
             err.text, err.line, err.column);
        goto out;
    }
    if (!json_is_object(j)) {
        fail(code, TW_E_BAD_JSON, msg, "bad JSON: a command must be an object");
        json_decref(j);
        goto out;
    }
    *json = j;
    json_t *k = json_object_get(j, "key");
    if (json_is_string(k) && key_ok(json_string_value(k)))
        *key = json_string_value(k);

    json_t *v = json_object_get(j, "v");
    if (!v) {
        fail(code, TW_E_BAD_VERSION, msg,
             "v: required (this engine speaks version 1)");
        goto out;
    }
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        if (json_is_integer(v))
            fail(code, TW_E_BAD_VERSION, msg,
                 "v: version %lld is not supported (this engine speaks 1)",
                 (long long)json_integer_value(v));
        else
            fail(code, TW_E_BAD_VERSION, msg, "v: must be the integer 1");
        goto out;
    }
    json_t *o = json_object_get(j, "op");
    if (!json_is_string(o)) {
        fail(code, TW_E_UNKNOWN_OP, msg, "op: %s",
             o ? "must be a string" : "required");
        goto out;
    }
    if (!tw_name_in(ops, json_string_value(o))) {
        fail(code, TW_E_UNKNOWN_OP, msg, "op: unknown operation %s",
             show(json_string_value(o), q, sizeof q));
        goto out;
    }
    if (!*key) {
        if (!k)
            fail(code, TW_E_INVALID, msg, "key: required");
        else
            fail(code, TW_E_INVALID, msg,
                 "key: must be 1 to %d printable ASCII characters without "
                 "spaces",
                 TW_KEY_MAX);
        goto out;
    }
    *op = json_string_value(o);
    rc = TW_OK;
out:
    return rc;
}

/* field_str - FIELD of OBJ as a string: TW_OK with *OUT (NULL when absent
 * or null and not REQUIRED), TW_PERMFAIL with the message otherwise */
static int field_str(json_t *obj, const char *prefix, const char *field,
                     int required, const char **out, enum tw_errcode *code,
                     char *msg)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return TW_OK;
        return fail(code, TW_E_INVALID, msg, "%s%s: required", prefix, field);
    }
    if (!json_is_string(v)) {
        return fail(code, TW_E_INVALID, msg, "%s%s: must be a string", prefix,
                    field);
    }
    *out = json_string_value(v);
    return TW_OK;
}

/* only_fields - every member of OBJ is in ALLOWED, else an error naming
 * the first stranger */
static int only_fields(json_t *obj, const char *prefix,
                       const char *const *allowed, enum tw_errcode *code,
                       char *msg)
{
    const char *name;
    json_t *v;
    char q[SHOW_MAX + 8];
    json_object_foreach(obj, name, v)
    {
        if (!tw_name_in(allowed, name)) {
            show(name, q, sizeof q);
            /* Print the name bare when it is tame, quoted otherwise. */
            if (strlen(name) <= SHOW_MAX && !has_ctl(name, 0))
                return fail(code, TW_E_INVALID, msg, "%s%s: unknown field",
                            prefix, name);
            return fail(code, TW_E_INVALID, msg, "%s%s: unknown field", prefix,
                        q);
        }
    }
    return TW_OK;
}

/* matches_ident - S is [FIRST][REST]{MIN,MAX} where FIRST and REST are
 * predicates on a byte */
static int matches_ident(const char *s, int (*first)(int), int (*rest)(int),
                         size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 + min || n > 1 + max || !first((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!rest((unsigned char)s[i]))
            return 0;
    return 1;
}

static int is_lower(int c)
{
    return c >= 'a' && c <= 'z';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
    return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z');
}

/* is_actor_rest - [a-z0-9._-] */
static int is_actor_rest(int c)
{
    return is_lower(c) || is_digit(c) || c == '.' || c == '_' || c == '-';
}

/* is_number_rest - [A-Za-z0-9./-] */
static int is_number_rest(int c)
{
    return is_alnum(c) || c == '.' || c == '/' || c == '-';
}

/* is_token - an RFC 2045 token character */
static int is_token(int c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

/* mime_type_ok - "token/token", at most TYPE_MAX_B bytes */
static int mime_type_ok(const char *s)
{
    size_t n = strlen(s);
    const char *slash = strchr(s, '/');
    if (n > TYPE_MAX_B || !slash || slash == s || !slash[1])
        return 0;
    for (const char *p = s; *p; p++)
        if (p != slash && !is_token((unsigned char)*p))
            return 0;
    return 1;
}

/* zone_given - whether an ISO 8601 date-time ends in a zone ("Z", "+hh",
 * "+hhmm", "+hh:mm"); the date's own dashes come before position 11 */
static int zone_given(const char *s)
{
    return strlen(s) > 11 && strpbrk(s + 11, "Z+-") != NULL;
}

/* check_member - the "member" object */
static int check_member(json_t *m, struct tw_intake *out, enum tw_errcode *code,
                        char *msg)
{
    const char *p = "member.";
    char q[SHOW_MAX + 8];
    if (!json_is_object(m)) {
        return fail(code, TW_E_INVALID, msg, "member: must be an object");
    }
    if (only_fields(m, p, member_fields, code, msg) != TW_OK ||
        field_str(m, p, "number", 0, &out->member_number, code, msg) ||
        field_str(m, p, "email", 0, &out->member_email, code, msg) ||
        field_str(m, p, "phone", 0, &out->member_phone, code, msg) ||
        field_str(m, p, "name", 0, &out->member_name, code, msg) ||
        field_str(m, p, "lang", 0, &out->member_lang, code, msg))
        return TW_PERMFAIL;
    if (out->member_number &&
        !matches_ident(out->member_number, is_alnum, is_number_rest, 0, 31))
        return fail(code, TW_E_INVALID, msg,
                    "member.number: %s is not a member number (letters, "
                    "digits, '.', '/', '-'; at most 32)",
                    show(out->member_number, q, sizeof q));
    if (out->member_email && !tw_email_valid(out->member_email))
        return fail(code, TW_E_INVALID, msg,
                    "member.email: %s is not a valid address",
                    show(out->member_email, q, sizeof q));
    if (out->member_phone) {
        out->phone_buf = tw_phone_normalize(out->member_phone);
        if (!out->phone_buf)
            return fail(code, TW_E_INVALID, msg,
                        "member.phone: %s is not a phone number",
                        show(out->member_phone, q, sizeof q));
        out->member_phone = out->phone_buf;
    }
    if (out->member_name) {
        if (!out->member_name[0])
            return fail(code, TW_E_INVALID, msg,
                        "member.name: must not be empty");
        if (strlen(out->member_name) > NAME_MAX_B)
            return fail(code, TW_E_INVALID, msg,
                        "member.name: longer than %d bytes", NAME_MAX_B);
        if (has_ctl(out->member_name, 0))
            return fail(code, TW_E_INVALID, msg,
                        "member.name: must not contain control characters");
    }
    if (out->member_lang && !tw_name_in(tw_langs, out->member_lang))
        return fail(code, TW_E_INVALID, msg,
                    "member.lang: %s is not one of ar, en",
                    show(out->member_lang, q, sizeof q));
    return TW_OK;
}

/* check_message - the "message" object: mail header values */
static int check_message(json_t *m, struct tw_intake *out,
                         enum tw_errcode *code, char *msg)
{
    const char *p = "message.";
    if (!json_is_object(m)) {
        return fail(code, TW_E_INVALID, msg, "message: must be an object");
    }
    if (only_fields(m, p, message_fields, code, msg) != TW_OK ||
        field_str(m, p, "from", 0, &out->msg_from, code, msg) ||
        field_str(m, p, "message_id", 0, &out->msg_id, code, msg) ||
        field_str(m, p, "in_reply_to", 0, &out->msg_in_reply_to, code, msg) ||
        field_str(m, p, "references", 0, &out->msg_references, code, msg))
        return TW_PERMFAIL;
    const char *vals[] = {out->msg_from, out->msg_id, out->msg_in_reply_to,
                          out->msg_references};
    for (size_t i = 0; i < 4; i++) {
        if (!vals[i])
            continue;
        if (strlen(vals[i]) > HEADER_MAX)
            return fail(code, TW_E_INVALID, msg,
                        "message.%s: longer than %d bytes", message_fields[i],
                        HEADER_MAX);
        /* A header value is one line: no CR, LF or other controls. */
        for (const char *c = vals[i]; *c; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return fail(code, TW_E_INVALID, msg,
                            "message.%s: must be one line without control "
                            "characters",
                            message_fields[i]);
    }
    return TW_OK;
}

/* check_attachments - the descriptions against the N frames and limits */
static int check_attachments(json_t *a, const struct tw_bus_part *parts,
                             size_t n, const struct tw_intake_limits *lim,
                             struct tw_intake *out, enum tw_errcode *code,
                             char *msg)
{
    char p[48], q[SHOW_MAX + 8];
    size_t described = 0;
    if (a && !json_is_null(a)) {
        if (!json_is_array(a))
            return fail(code, TW_E_INVALID, msg,
                        "attachments: must be an array");
        described = json_array_size(a);
    }
    if (n > lim->max_attachments || described > lim->max_attachments)
        return fail(code, TW_E_TOO_LARGE, msg,
                    "attachments: %zu attachments, at most %zu allowed",
                    n > described ? n : described, lim->max_attachments);
    if (described != n)
        return fail(code, TW_E_INVALID, msg,
                    "attachments: %zu attachment%s described, %zu sent",
                    described, described == 1 ? "" : "s", n);
    if (n == 0)
        return TW_OK;
    out->attachments = tw_calloc(n, sizeof *out->attachments);
    out->nattachments = n;
    for (size_t i = 0; i < n; i++) {
        struct tw_intake_attachment *at = &out->attachments[i];
        json_t *o = json_array_get(a, i);
        snprintf(p, sizeof p, "attachments[%zu].", i);
        if (!json_is_object(o))
            return fail(code, TW_E_INVALID, msg,
                        "attachments[%zu]: must be an object", i);
        if (only_fields(o, p, attachment_fields, code, msg) ||
            field_str(o, p, "name", 1, &at->name, code, msg) ||
            field_str(o, p, "type", 0, &at->type, code, msg))
            return TW_PERMFAIL;
        size_t nl = at->name ? strlen(at->name) : 0;
        if (nl < 1 || nl > FILE_MAX_B)
            return fail(code, TW_E_INVALID, msg,
                        "%sname: must be 1 to %d bytes", p, FILE_MAX_B);
        if (strpbrk(at->name, "/\\") || has_ctl(at->name, 0))
            return fail(code, TW_E_INVALID, msg,
                        "%sname: %s must be a plain file name (no '/', '\\' "
                        "or control characters)",
                        p, show(at->name, q, sizeof q));
        if (!at->type)
            at->type = "application/octet-stream";
        else if (!mime_type_ok(at->type))
            return fail(code, TW_E_INVALID, msg,
                        "%stype: %s is not a MIME type", p,
                        show(at->type, q, sizeof q));
        at->data = parts[i].data;
        at->size = parts[i].len;
        if (at->size > lim->max_attachment)
            return fail(code, TW_E_TOO_LARGE, msg,
                        "attachments[%zu]: %s is %zu bytes, over the "
                        "%zu-byte limit",
                        i, show(at->name, q, sizeof q), at->size,
                        lim->max_attachment);
    }
    return TW_OK;
}

/* check_category - optional; one of the configured categories if any */
static int check_category(struct tw_intake *out,
                          const struct tw_intake_limits *lim,
                          enum tw_errcode *code, char *msg)
{
    char q[SHOW_MAX + 8], allowed[TW_MSG_MAX];
    const struct tw_strlist *l = lim->categories;
    const char *c = out->category;
    if (!c)
        return TW_OK;
    if (!c[0] || strlen(c) > CATEGORY_MAX || has_ctl(c, 0))
        return fail(code, TW_E_INVALID, msg,
                    "category: must be 1 to %d bytes without control "
                    "characters",
                    CATEGORY_MAX);
    if (l && l->n > 0) {
        size_t o = 0;
        if (tw_strlist_contains(l, c))
            return TW_OK;
        allowed[0] = '\0';
        for (size_t i = 0; i < l->n && o < sizeof allowed; i++) {
            int w = snprintf(allowed + o, sizeof allowed - o, "%s%s",
                             i ? ", " : "", l->v[i]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        return fail(code, TW_E_INVALID, msg, "category: %s is not one of %s",
                    show(c, q, sizeof q), allowed);
    }
    return TW_OK;
}

/* check_text - subject and body */
static int check_text(struct tw_intake *out, const struct tw_intake_limits *lim,
                      enum tw_errcode *code, char *msg)
{
    const char *s = out->subject;
    size_t n = strlen(s);
    if (strspn(s, " \t\r\n") == n)
        return fail(code, TW_E_INVALID, msg, "subject: required (it is empty)");
    if (has_ctl(s, 0))
        return fail(code, TW_E_INVALID, msg,
                    "subject: must be one line without control characters "
                    "(no line breaks or tabs)");
    if (n > lim->max_subject) {
        return fail(code, TW_E_TOO_LARGE, msg,
                    "subject: %zu bytes, over the %zu-byte limit", n,
                    lim->max_subject);
    }
    n = strlen(out->body);
    if (n > lim->max_body) {
        return fail(code, TW_E_TOO_LARGE, msg,
                    "body: %zu bytes, over the %zu-byte limit", n,
                    lim->max_body);
    }
    if (has_ctl(out->body, 1))
        return fail(code, TW_E_INVALID, msg,
                    "body: must not contain control characters other than "
                    "line breaks and tabs");
    return TW_OK;
}

/* check_intake - every field in turn; fills OUT as it goes */
static int check_intake(json_t *j, const struct tw_bus_part *parts, size_t n,
                        const struct tw_intake_limits *lim,
                        struct tw_intake *out, enum tw_errcode *code, char *msg)
{
    char q[SHOW_MAX + 8], names[128];
    const char *op = NULL, *at = NULL;
    if (only_fields(j, "", intake_fields, code, msg) ||
        field_str(j, "", "key", 1, &out->key, code, msg) ||
        field_str(j, "", "op", 1, &op, code, msg) ||
        field_str(j, "", "channel", 1, &out->channel, code, msg) ||
        field_str(j, "", "kind", 0, &out->kind, code, msg) ||
        field_str(j, "", "category", 0, &out->category, code, msg) ||
        field_str(j, "", "subject", 1, &out->subject, code, msg) ||
        field_str(j, "", "body", 0, &out->body, code, msg) ||
        field_str(j, "", "received_at", 0, &at, code, msg) ||
        field_str(j, "", "actor", 0, &out->actor, code, msg) ||
        field_str(j, "", "attestation", 0, &out->attestation, code, msg))
        return TW_PERMFAIL;
    if (!key_ok(out->key))
        return fail(code, TW_E_INVALID, msg,
                    "key: must be 1 to %d printable ASCII characters "
                    "without spaces",
                    TW_KEY_MAX);
    if (strcmp(op, "intake") != 0)
        return fail(code, TW_E_INVALID, msg, "op: %s is not an intake",
                    show(op, q, sizeof q));
    if (!tw_name_in(tw_channels, out->channel))
        return fail(code, TW_E_INVALID, msg, "channel: %s is not one of %s",
                    show(out->channel, q, sizeof q),
                    list_names(tw_channels, names, sizeof names));
    if (!out->kind)
        out->kind = "request";
    else if (!tw_name_in(tw_kinds, out->kind))
        return fail(code, TW_E_INVALID, msg, "kind: %s is not one of %s",
                    show(out->kind, q, sizeof q),
                    list_names(tw_kinds, names, sizeof names));
    if (out->attestation && !tw_name_in(tw_attestations, out->attestation))
        return fail(code, TW_E_INVALID, msg, "attestation: %s is not one of %s",
                    show(out->attestation, q, sizeof q),
                    list_names(tw_attestations, names, sizeof names));
    if (!out->body)
        out->body = "";
    if (check_category(out, lim, code, msg) || check_text(out, lim, code, msg))
        return TW_PERMFAIL;
    if (at && (!zone_given(at) || tw_time_parse(at, &out->received_at)))
        return fail(code, TW_E_INVALID, msg,
                    "received_at: %s is not an ISO 8601 time with a zone "
                    "(like 2026-03-01T09:30:00+03:00)",
                    show(at, q, sizeof q));
    if (out->actor &&
        !matches_ident(out->actor, is_lower, is_actor_rest, 1, 31))
        return fail(code, TW_E_INVALID, msg,
                    "actor: %s is not a staff username ([a-z][a-z0-9._-], "
                    "2 to 32 characters)",
                    show(out->actor, q, sizeof q));
    json_t *m = json_object_get(j, "member");
    if (m && !json_is_null(m) && check_member(m, out, code, msg))
        return TW_PERMFAIL;
    m = json_object_get(j, "message");
    if (m && !json_is_null(m) && check_message(m, out, code, msg))
        return TW_PERMFAIL;
    if (check_attachments(json_object_get(j, "attachments"), parts, n, lim, out,
                          code, msg))
        return TW_PERMFAIL;
    return TW_OK;
}

/* tw_intake_parse - validate an intake; OUT is cleared on failure */
int tw_intake_parse(json_t *json, const struct tw_bus_part *parts, size_t n,
                    const struct tw_intake_limits *lim, struct tw_intake *out,
                    enum tw_errcode *code, char *msg)
{
    memset(out, 0, sizeof *out);
    *code = TW_E_NONE;
    msg[0] = '\0';
    if (!json_is_object(json))
        return fail(code, TW_E_BAD_JSON, msg,
                    "bad JSON: a command must be an object");
    out->json = json_incref(json);
    if (check_intake(json, parts, n, lim, out, code, msg) != TW_OK) {
        tw_intake_clear(out);
        return TW_PERMFAIL;
    }
    return TW_OK;
}

/* tw_intake_clear - release what tw_intake_parse filled; safe to repeat */
void tw_intake_clear(struct tw_intake *in)
{
    json_decref(in->json);
    free(in->attachments);
    free(in->phone_buf);
    memset(in, 0, sizeof *in);
}

/* arabic_digit - the value of an Arabic-Indic or Extended Arabic-Indic
 * digit (U+0660..9, U+06F0..9) at P, else -1 */
static int arabic_digit(const unsigned char *p)
{
    if (p[0] == 0xd9 && p[1] >= 0xa0 && p[1] <= 0xa9)
        return p[1] - 0xa0;
    if (p[0] == 0xdb && p[1] >= 0xb0 && p[1] <= 0xb9)
        return p[1] - 0xb0;
    return -1;
}

/* tw_phone_normalize - digits with an optional leading "+"; separators
 * " -.()" dropped; Arabic-Indic digits read as digits; 5 to 20 digits */
char *tw_phone_normalize(const char *s)
{
    char buf[24];
    size_t o = 0, digits = 0;
    int plus_ok = 1;
    if (!s)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int d = -1;
        if (*p >= '0' && *p <= '9') {
            d = *p - '0';
        } else if (p[1] && (d = arabic_digit(p)) >= 0) {
            p++;
        } else if (*p == '+' && plus_ok && o == 0) {
            buf[o++] = '+';
            plus_ok = 0;
            continue;
        } else if (strchr(" -.()", *p)) {
            if (*p != ' ' && *p != '(')
                plus_ok = 0;
            continue;
        } else {
            return NULL;
        }
        plus_ok = 0;
        if (++digits > 20)
            return NULL;
        buf[o++] = (char)('0' + d);
    }
    if (digits < 5)
        return NULL;
    buf[o] = '\0';
    return tw_strdup(buf);
}

/* email_char_ok - a byte allowed in a plain addr-spec (UTF-8 welcome) */
static int email_char_ok(unsigned char c)
{
    return c > 0x20 && c != 0x7f && !strchr("<>()[],;:\\\"@", c);
}

/* tw_email_valid - local@domain, nothing that needs quoting, <= 254 bytes */
int tw_email_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n > 254 || !at || strchr(at + 1, '@'))
        return 0;
    size_t local = (size_t)(at - s);
    const char *dom = at + 1;
    if (local < 1 || local > 64 || !*dom)
        return 0;
    if (s[0] == '.' || at[-1] == '.' || dom[0] == '.' || dom[0] == '-' ||
        s[n - 1] == '.' || s[n - 1] == '-' || strstr(s, ".."))
        return 0;
    for (const char *p = s; *p; p++) {
        if (p == at)
            continue;
        if (!email_char_ok((unsigned char)*p))
            return 0;
    }
    /* The domain: labels of letters, digits, '-' and non-ASCII (IDN). */
    for (const char *p = dom; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(is_alnum(c) || c == '-' || c == '.' || c >= 0x80))
            return 0;
    }
    return 1;
}

/* tw_key_new - "PREFIX:<uuid v4>" from libsodium's CSPRNG (caller frees);
 * PREFIX NULL or "" gives the bare UUID */
char *tw_key_new(const char *prefix)
{
    unsigned char u[16];
    if (sodium_init() < 0)
        abort(); /* no usable random source: nothing sensible to do */
    randombytes_buf(u, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    char id[37];
    snprintf(id, sizeof id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
    if (!prefix || !*prefix)
        return tw_strdup(id);
    return tw_asprintf("%s:%s", prefix, id);
}
