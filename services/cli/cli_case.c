/*
 * cli_case.c - `case log-call|log-visit|log-letter|show|list`: staff log
 * what came in by phone, at the desk or by post, and look cases up.
 *
 * DESIGN
 * ------
 * Logging is a write, so it goes to the engine as an intake command over
 * the bus, exactly as the ingest services send theirs (command.h); the
 * attachments travel as extra frames. The command is first checked here
 * with the same tw_command_parse/tw_intake_parse the engine runs, with
 * generous limits (the engine holds the real ones), so a missing subject
 * or a malformed phone number is reported at once instead of after a
 * network round trip. The key is fresh per run: running the command twice
 * logs two calls, but the bus client's resends of one run never do.
 *
 * Showing and listing are reads, so they query PostgreSQL directly inside
 * one read-only REPEATABLE READ transaction (the case, its events and its
 * messages are one consistent picture). Times come out of SQL as epoch
 * microseconds (tawasul.us) and are rendered here in the site's zone: ISO
 * 8601 with microseconds for JSON, "2026-12-09 18:20 +03:00" for people.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "bus.h"
#include "command.h"
#include "error.h"
#include "lifecycle.h"
#include "mem.h"

#define READ_WAIT     (3 * TW_SEC) /* for the database to come up */
#define ATTACH_MAX    256          /* --attach options at most */
#define LIST_DEFAULT  50
#define LIST_MAX      10000
#define SUBJECT_CHARS 40 /* SUBJECT column of `case list` */

/* The statuses of DESIGN.md "Case lifecycle", for --status. */
static const char *const statuses[] = {"new",
                                       "awaiting_member",
                                       "with_researcher",
                                       "in_committee",
                                       "accepted",
                                       "rejected",
                                       "in_service",
                                       "resolved",
                                       "closed",
                                       "withdrawn",
                                       NULL};

/* --- log-call, log-visit, log-letter ------------------------------------ */

/* One attachment read from disk. */
struct attach {
    const char *path;
    char *data;
    size_t len;
};

/* What the staff member typed. */
struct log_opts {
    const char *member, *email, *phone, *name, *lang;
    const char *subject, *body, *kind, *category, *received_at;
    int json, quiet;
    struct attach att[ATTACH_MAX];
    size_t natt;
};

/* read_all - read FP to the end into *DATA (NUL-terminated, caller frees),
 * at most CAP bytes; 0, EFBIG past the cap, or errno */
static int read_all(FILE *fp, size_t cap, char **data, size_t *len)
{
    struct tw_buf b;
    tw_buf_init(&b, cap);
    char chunk[65536];
    size_t n;
    int err = 0;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (tw_buf_add(&b, chunk, n) != TW_OK) {
            err = EFBIG;
            break;
        }
    }
    if (!err && ferror(fp))
        err = errno ? errno : EIO;
    if (err) {
        tw_buf_free(&b);
        return err;
    }
    *data = tw_buf_take(&b, len);
    return 0;
}

/* mime_type - the MIME type for PATH's extension */
static const char *mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {"pdf", "application/pdf"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"png", "image/png"},
        {"tif", "image/tiff"},
        {"tiff", "image/tiff"},
        {"gif", "image/gif"},
        {"txt", "text/plain"},
        {"doc", "application/msword"},
        {"docx", "application/"
                 "vnd.openxmlformats-officedocument.wordprocessingml.document"},
    };
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base : path, '.');
    if (!dot || !dot[1])
        return "application/octet-stream";
    char ext[8];
    size_t n = strlen(dot + 1);
    if (n >= sizeof ext)
        return "application/octet-stream";
    for (size_t i = 0; i < n; i++)
        ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    ext[n] = '\0';
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(ext, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* base_name - the last component of PATH (borrowed) */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* read_inputs - the body (from stdin when asked) and the attachments;
 * 0 or the exit status (printed). *BODY is the caller's to free. */
static int read_inputs(struct cli *c, struct log_opts *o, char **body)
{
    size_t cap = (size_t)c->base.bus_max_request;
    char size[32];
    snprintf(size, sizeof size, "%lld bytes", (long long)cap);
    *body = NULL;
    int from_stdin = o->body ? strcmp(o->body, "-") == 0 : !isatty(0);
    if (from_stdin) {
        size_t len = 0;
        int err = read_all(stdin, cap, body, &len);
        if (err == EFBIG)
            return cli_fail(EX_DATAERR,
                            "the body on standard input is larger than "
                            "bus.max_request (%s)",
                            size);
        if (err)
            return cli_fail(EX_IOERR, "cannot read standard input: %s",
                            strerror(err));
        if (strlen(*body) != len)
            return cli_fail(EX_DATAERR,
                            "the body on standard input holds NUL bytes: is "
                            "it a text file?");
    } else {
        *body = tw_strdup(o->body ? o->body : "");
    }
    if (!cli_utf8_valid(*body, strlen(*body)))
        return cli_fail(EX_DATAERR,
                        "the body is not valid UTF-8 (save it as UTF-8)");

    size_t total = strlen(*body);
    for (size_t i = 0; i < o->natt; i++) {
        struct attach *a = &o->att[i];
        FILE *fp = fopen(a->path, "rb");
        if (!fp)
            return cli_fail(EX_NOINPUT, "%s: %s", a->path, strerror(errno));
        int err = read_all(fp, cap, &a->data, &a->len);
        fclose(fp);
        if (err == EFBIG)
            return cli_fail(EX_DATAERR, "%s: larger than bus.max_request (%s)",
                            a->path, size);
        if (err)
            return cli_fail(EX_IOERR, "%s: cannot read: %s", a->path,
                            strerror(err));
        total += a->len;
        if (total > cap)
            return cli_fail(EX_DATAERR,
                            "the attachments together are larger than "
                            "bus.max_request (%s): attach fewer or smaller "
                            "files",
                            size);
    }
    return 0;
}

/* set_str - OBJ[KEY] = VALUE when VALUE is given; 0, or -1 when VALUE is
 * not valid UTF-8 */
static int set_str(json_t *obj, const char *key, const char *value)
{
    if (!value)
        return 0;
    json_t *s = json_string(value);
    if (!s)
        return -1;
    json_object_set_new(obj, key, s);
    return 0;
}

/* build_intake - the intake command for O; NULL after printing why */
static json_t *build_intake(struct cli *c, const struct cli_verb *v,
                            const struct log_opts *o, const char *body,
                            tw_time received)
{
    json_t *cmd = json_object();
    json_t *member = json_object();
    json_t *atts = json_array();
    char *key = tw_key_new("cli");
    const char *bad = NULL;
    json_object_set_new(cmd, "v", json_integer(1));
    json_object_set_new(cmd, "op", json_string("intake"));
    json_object_set_new(cmd, "key", json_string(key));
    json_object_set_new(cmd, "channel", json_string(v->arg));
    if (set_str(cmd, "kind", o->kind ? o->kind : "request"))
        bad = "--kind";
    if (set_str(cmd, "subject", o->subject))
        bad = "--subject";
    json_object_set_new(cmd, "body", json_string(body));
    if (set_str(cmd, "category", o->category))
        bad = "--category";
    if (set_str(member, "number", o->member))
        bad = "--member";
    if (set_str(member, "email", o->email))
        bad = "--email";
    if (set_str(member, "phone", o->phone))
        bad = "--phone";
    if (set_str(member, "name", o->name))
        bad = "--name";
    if (set_str(member, "lang", o->lang))
        bad = "--lang";
    if (json_object_size(member))
        json_object_set(cmd, "member", member);
    if (set_str(cmd, "actor", c->actor))
        bad = "--as";
    if (received) {
        char iso[TW_TIME_ISO_MAX];
        json_object_set_new(
            cmd, "received_at",
            json_string(tw_time_iso(received, received % TW_SEC != 0, iso)));
    }
    for (size_t i = 0; i < o->natt; i++) {
        const char *name = base_name(o->att[i].path);
        json_t *s = json_string(name);
        if (!s) {
            bad = "--attach";
            continue;
        }
        json_array_append_new(atts, json_pack("{s:o, s:s}", "name", s, "type",
                                              mime_type(o->att[i].path)));
    }
    if (o->natt)
        json_object_set(cmd, "attachments", atts);
    json_decref(member);
    json_decref(atts);
    free(key);
    if (bad) {
        cli_fail(EX_DATAERR, "%s: not valid UTF-8", bad);
        json_decref(cmd);
        return NULL;
    }
    return cmd;
}

/* refuse - print the contract's message MSG for a refused intake, naming
 * the CLI's option where the message names a member field; returns CODE */
static int refuse(int code, const char *msg, const char *suffix)
{
    static const struct {
        const char *field, *option;
    } names[] = {
        {"member.number:", "--member:"}, {"member.email:", "--email:"},
        {"member.phone:", "--phone:"},   {"member.name:", "--name:"},
        {"member.lang:", "--lang:"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].field);
        if (strncmp(msg, names[i].field, n) == 0)
            return cli_fail(code, "%s%s%s", names[i].option, msg + n, suffix);
    }
    return cli_fail(code, "%s%s", msg, suffix);
}

/* check_intake - validate CMD as the engine will; 0 or EX_DATAERR */
static int check_intake(struct cli *c, const json_t *cmd,
                        const struct tw_bus_part *parts, size_t n)
{
    size_t big = (size_t)c->base.bus_max_request;
    struct tw_intake_limits lim = {
        .max_subject = big,
        .max_body = big,
        .max_attachments = ATTACH_MAX,
        .max_attachment = big,
        .categories = NULL,
    };
    char msg[TW_MSG_MAX];
    enum tw_errcode code;
    json_t *parsed = NULL;
    const char *op, *key;
    struct tw_intake in;
    int rc = 0;
    char *text = json_dumps(cmd, JSON_COMPACT);
    if (!text)
        return cli_fail(EX_SOFTWARE, "cannot encode the command");
    if (tw_command_parse(text, strlen(text), &parsed, &op, &key, &code, msg) !=
            TW_OK ||
        tw_intake_parse(parsed, parts, n, &lim, &in, &code, msg) != TW_OK)
        rc = refuse(EX_DATAERR, msg, "");
    else
        tw_intake_clear(&in);
    json_decref(parsed);
    free(text);
    return rc;
}

/* channel_words - how a person says what was logged */
static const char *channel_words(const char *channel)
{
    if (strcmp(channel, "phone") == 0)
        return "phone call";
    if (strcmp(channel, "walk_in") == 0)
        return "walk-in visit";
    if (strcmp(channel, "letter") == 0)
        return "letter";
    return channel;
}

/* print_logged - the engine's success REPLY the way O asked */
static int print_logged(const struct cli_verb *v, const struct log_opts *o,
                        const json_t *reply)
{
    const char *ref = json_string_value(json_object_get(reply, "case"));
    if (!ref)
        return cli_fail(EX_SOFTWARE,
                        "the engine's answer has no case reference");
    if (o->quiet) {
        printf("%s\n", ref);
        return 0;
    }
    if (o->json) {
        json_t *out = json_object();
        json_object_set_new(out, "ref", json_string(ref));
        static const char *const keys[] = {"created", "received_at",
                                           "sla_due_at", "verified"};
        for (size_t i = 0; i < 4; i++) {
            json_t *val = json_object_get(reply, keys[i]);
            json_object_set(out, keys[i], val ? val : json_null());
        }
        int rc = cli_print_json(out);
        json_decref(out);
        return rc;
    }
    const char *due_text =
        json_string_value(json_object_get(reply, "sla_due_at"));
    tw_time due;
    char human[CLI_TIME_HUMAN_MAX];
    if (due_text && tw_time_parse(due_text, &due) == TW_OK)
        printf("%s: %s logged; decision due by %s\n", ref,
               channel_words(v->arg), cli_time_human(due, human));
    else
        printf("%s: %s logged\n", ref, channel_words(v->arg));
    if (json_is_false(json_object_get(reply, "verified")))
        printf("%s: no member matched: the case is marked unverified; check "
               "the caller's details\n",
               ref);
    return 0;
}

/* send_intake - CMD (stolen) and PARTS to the engine; prints the result */
static int send_intake(struct cli *c, const struct cli_verb *v,
                       const struct log_opts *o, json_t *cmd,
                       const struct tw_bus_part *parts, size_t n)
{
    int rc;
    struct tw_bus_client_opts bo;
    tw_bus_client_opts_default(&bo);
    bo.timeout = c->base.bus_request_timeout;
    bo.backoff_max = c->base.bus_backoff_max;
    bo.give_up = c->cfg.timeout;
    void *zctx = zmq_ctx_new();
    if (!zctx)
        return cli_fail(EX_SOFTWARE, "cannot start ZeroMQ: %s",
                        zmq_strerror(zmq_errno()));
    cli_log_mute(c);
    json_t *reply = tw_bus_call(zctx, c->base.bus_intake, &bo, cmd, parts, n);
    cli_log_unmute(c);
    if (!reply) {
        rc = cli_fail(EX_UNAVAILABLE,
                      "cannot send to the engine at %s: check bus.intake in "
                      "the config",
                      c->base.bus_intake);
        goto out;
    }
    if (json_is_true(json_object_get(reply, "ok"))) {
        rc = print_logged(v, o, reply);
        goto out;
    }
    const char *error = json_string_value(json_object_get(reply, "error"));
    const char *message = json_string_value(json_object_get(reply, "message"));
    if (!message || !*message)
        message = error ? error : "the engine refused the case";
    if (error && strcmp(error, "timeout") == 0)
        rc = cli_engine_silent(c, c->cfg.timeout);
    else if (json_is_true(json_object_get(reply, "retry")))
        rc = refuse(EX_TEMPFAIL, message, " (try again)");
    else
        rc = refuse(EX_DATAERR, message, "");
out:
    json_decref(reply);
    zmq_ctx_term(zctx);
    return rc;
}

/* cli_case_log - log a call, visit or letter as a new case */
int cli_case_log(struct cli *c, const struct cli_verb *v, int argc, char **argv)
{
    static const struct option opts[] = {
        {"member", required_argument, NULL, 'm'},
        {"email", required_argument, NULL, 'e'},
        {"phone", required_argument, NULL, 'p'},
        {"name", required_argument, NULL, 'n'},
        {"lang", required_argument, NULL, 'l'},
        {"subject", required_argument, NULL, 's'},
        {"body", required_argument, NULL, 'b'},
        {"kind", required_argument, NULL, 'k'},
        {"category", required_argument, NULL, 'C'},
        {"attach", required_argument, NULL, 'a'},
        {"received-at", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct log_opts *o = tw_calloc(1, sizeof *o);
    struct tw_bus_part parts[ATTACH_MAX];
    char *body = NULL;
    json_t *cmd = NULL;
    tw_time received = 0;
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 'm':
            o->member = optarg;
            break;
        case 'e':
            o->email = optarg;
            break;
        case 'p':
            o->phone = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'l':
            o->lang = optarg;
            break;
        case 's':
            o->subject = optarg;
            break;
        case 'b':
            o->body = optarg;
            break;
        case 'k':
            o->kind = optarg;
            break;
        case 'C':
            o->category = optarg;
            break;
        case 'r':
            o->received_at = optarg;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'a':
            if (o->natt == ATTACH_MAX) {
                rc = cli_usage_error(v, "at most %d --attach", ATTACH_MAX);
                goto out;
            }
            o->att[o->natt++].path = optarg;
            break;
        case 'h':
            rc = cli_help(v);
            goto out;
        default:
            goto out;
        }
    }
    if (optind < argc) {
        rc = cli_usage_error(v,
                             "unexpected argument \"%s\" (quote the "
                             "subject: --subject \"...\")",
                             argv[optind]);
        goto out;
    }
    if (o->json && o->quiet) {
        rc = cli_usage_error(v, "--json or --quiet, not both");
        goto out;
    }
    /* Staff check who is asking at intake (the policy's step 2): a case
     * nobody can be reached about helps no one. */
    if (!o->member && !o->email && !o->phone && !o->name) {
        rc = cli_usage_error(v, "say who is asking: --member NUMBER, "
                                "--email, --phone or --name");
        goto out;
    }
    if ((rc = cli_ready(c)) != 0)
        goto out;
    if (o->received_at && tw_time_parse(o->received_at, &received) != TW_OK) {
        rc = cli_usage_error(v,
                             "--received-at: \"%s\" is not a time (like "
                             "2026-03-01T09:30 or 2026-03-01T09:30:00+03:00)",
                             o->received_at);
        goto out;
    }
    if ((rc = read_inputs(c, o, &body)) != 0)
        goto out;
    cmd = build_intake(c, v, o, body, received);
    if (!cmd) {
        rc = EX_DATAERR;
        goto out;
    }
    for (size_t i = 0; i < o->natt; i++)
        parts[i] = (struct tw_bus_part){o->att[i].data, o->att[i].len};
    if ((rc = check_intake(c, cmd, parts, o->natt)) != 0)
        goto out;
    rc = send_intake(c, v, o, cmd, parts, o->natt);
    cmd = NULL; /* stolen */
out:
    json_decref(cmd);
    free(body);
    for (size_t i = 0; i < o->natt; i++)
        free(o->att[i].data);
    free(o);
    return rc;
}

/* --- show ---------------------------------------------------------------- */

/* col_time - column K of row I (epoch microseconds) as JSON, or null */
static json_t *col_time(PGresult *r, int i, int k)
{
    if (PQgetisnull(r, i, k))
        return json_null();
    return cli_json_time(strtoll(PQgetvalue(r, i, k), NULL, 10));
}

/* col_str - column K of row I as a JSON string, or null */
static json_t *col_str(PGresult *r, int i, int k)
{
    if (PQgetisnull(r, i, k))
        return json_null();
    json_t *s = json_string(PQgetvalue(r, i, k));
    return s ? s : json_null();
}

/* col_json - column K of row I (jsonb text) as JSON, or null */
static json_t *col_json(PGresult *r, int i, int k)
{
    if (PQgetisnull(r, i, k))
        return json_null();
    json_t *j = json_loads(PQgetvalue(r, i, k), JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

static const char case_sql[] =
    "SELECT c.id, c.ref, c.status, c.channel, c.kind, c.category, c.subject,"
    " c.priority, c.verified, m.member_no, m.name, m.email, m.phone, m.lang,"
    " c.contact::text, s.username, c.created_by,"
    " tawasul.us(c.received_at), tawasul.us(c.sla_due_at),"
    " tawasul.us(c.sla_breached_at), tawasul.us(c.decided_at), c.decision,"
    " tawasul.us(c.closed_at), m.id IS NOT NULL, "
    "tawasul.us(c.sla_paused_since),"
    /* issue 3: the clock as of $2 (this process's clock) */
    " extract(epoch FROM c.sla_paused_total)::bigint,"
    " tawasul.sla_state(c, $2::timestamptz), tawasul.us(c.sla_warn_at),"
    " tawasul.us(c.attested_at), c.attestation::text, c.details::text,"
    " tawasul.us(c.first_response_at), c.decision_minutes"
    " FROM tawasul.cases c"
    " LEFT JOIN tawasul.members m ON m.id = c.member_id"
    " LEFT JOIN tawasul.staff s ON s.id = c.assignee"
    " WHERE c.ref = $1";
enum {
    C_ID,
    C_REF,
    C_STATUS,
    C_CHANNEL,
    C_KIND,
    C_CATEGORY,
    C_SUBJECT,
    C_PRIORITY,
    C_VERIFIED,
    C_M_NO,
    C_M_NAME,
    C_M_EMAIL,
    C_M_PHONE,
    C_M_LANG,
    C_CONTACT,
    C_ASSIGNEE,
    C_CREATED_BY,
    C_RECEIVED,
    C_DUE,
    C_BREACHED,
    C_DECIDED,
    C_DECISION,
    C_CLOSED,
    C_HAS_MEMBER,
    C_PAUSED,
    C_PAUSED_TOTAL,
    C_SLA_STATE,
    C_WARN,
    C_ATTESTED,
    C_ATTESTATION,
    C_DETAILS,
    C_FIRST_RESPONSE,
    C_DECISION_MINUTES,
};

static const char events_sql[] =
    "SELECT tawasul.us(at), actor, kind, from_status, to_status, detail::text"
    " FROM tawasul.case_events WHERE case_id = $1 ORDER BY at, id";

static const char messages_sql[] =
    "SELECT id, tawasul.us(at), direction, channel, author, from_addr,"
    " subject, body, message_id"
    " FROM tawasul.messages WHERE case_id = $1 ORDER BY at, id";

static const char attachments_sql[] =
    "SELECT a.message_id, a.filename, a.mime_type, a.size, a.sha256"
    " FROM tawasul.attachments a"
    " JOIN tawasul.messages m ON m.id = a.message_id"
    " WHERE m.case_id = $1 ORDER BY a.id";

/* case_json - the case row, events, messages and attachments as one JSON
 * object (new reference) */
static json_t *case_json(PGresult *cr, PGresult *er, PGresult *mr, PGresult *ar)
{
    json_t *j = json_object();
    json_object_set_new(j, "ref", col_str(cr, 0, C_REF));
    json_object_set_new(j, "status", col_str(cr, 0, C_STATUS));
    json_object_set_new(j, "channel", col_str(cr, 0, C_CHANNEL));
    json_object_set_new(j, "kind", col_str(cr, 0, C_KIND));
    json_object_set_new(j, "category", col_str(cr, 0, C_CATEGORY));
    json_object_set_new(j, "subject", col_str(cr, 0, C_SUBJECT));
    json_object_set_new(
        j, "priority",
        json_integer(strtol(PQgetvalue(cr, 0, C_PRIORITY), NULL, 10)));
    json_object_set_new(
        j, "verified",
        json_boolean(strcmp(PQgetvalue(cr, 0, C_VERIFIED), "t") == 0));
    if (strcmp(PQgetvalue(cr, 0, C_HAS_MEMBER), "t") == 0)
        json_object_set_new(j, "member",
                            json_pack("{s:o, s:o, s:o, s:o, s:o}", "number",
                                      col_str(cr, 0, C_M_NO), "name",
                                      col_str(cr, 0, C_M_NAME), "email",
                                      col_str(cr, 0, C_M_EMAIL), "phone",
                                      col_str(cr, 0, C_M_PHONE), "lang",
                                      col_str(cr, 0, C_M_LANG)));
    else
        json_object_set_new(j, "member", json_null());
    json_object_set_new(j, "contact", col_json(cr, 0, C_CONTACT));
    json_object_set_new(j, "assignee", col_str(cr, 0, C_ASSIGNEE));
    json_object_set_new(j, "created_by", col_str(cr, 0, C_CREATED_BY));
    json_object_set_new(j, "received_at", col_time(cr, 0, C_RECEIVED));
    json_object_set_new(j, "sla_due_at", col_time(cr, 0, C_DUE));
    json_object_set_new(j, "sla_breached_at", col_time(cr, 0, C_BREACHED));
    json_object_set_new(j, "decided_at", col_time(cr, 0, C_DECIDED));
    json_object_set_new(j, "decision", col_str(cr, 0, C_DECISION));
    json_object_set_new(j, "closed_at", col_time(cr, 0, C_CLOSED));
    json_object_set_new(j, "sla_warn_at", col_time(cr, 0, C_WARN));
    json_object_set_new(j, "sla_paused_since", col_time(cr, 0, C_PAUSED));
    char paused[32];
    json_object_set_new(
        j, "sla_paused_total",
        json_string(tw_duration_format(
            strtoll(PQgetvalue(cr, 0, C_PAUSED_TOTAL), NULL, 10) * TW_SEC,
            paused, sizeof paused)));
    json_object_set_new(j, "sla_state", col_str(cr, 0, C_SLA_STATE));
    json_object_set_new(j, "first_response_at",
                        col_time(cr, 0, C_FIRST_RESPONSE));
    json_object_set_new(j, "attested_at", col_time(cr, 0, C_ATTESTED));
    json_object_set_new(j, "attestation", col_json(cr, 0, C_ATTESTATION));
    json_object_set_new(j, "details", col_json(cr, 0, C_DETAILS));
    const struct tw_transition *next[16];
    size_t nnext = tw_transitions_from(PQgetvalue(cr, 0, C_STATUS), next, 16);
    json_t *steps = json_array();
    for (size_t i = 0; i < nnext && i < 16; i++)
        json_array_append_new(
            steps,
            json_pack("{s:s, s:s}", "verb", next[i]->verb, "to", next[i]->to));
    json_object_set_new(j, "next", steps);

    json_t *events = json_array();
    for (int i = 0; i < PQntuples(er); i++)
        json_array_append_new(
            events,
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "at",
                      col_time(er, i, 0), "actor", col_str(er, i, 1), "kind",
                      col_str(er, i, 2), "from", col_str(er, i, 3), "to",
                      col_str(er, i, 4), "detail", col_json(er, i, 5)));
    json_object_set_new(j, "events", events);

    json_t *messages = json_array();
    for (int i = 0; i < PQntuples(mr); i++) {
        json_t *atts = json_array();
        const char *id = PQgetvalue(mr, i, 0);
        for (int k = 0; k < PQntuples(ar); k++) {
            if (strcmp(PQgetvalue(ar, k, 0), id) != 0)
                continue;
            json_array_append_new(
                atts,
                json_pack("{s:o, s:o, s:I, s:o}", "name", col_str(ar, k, 1),
                          "type", col_str(ar, k, 2), "size",
                          (json_int_t)strtoll(PQgetvalue(ar, k, 3), NULL, 10),
                          "sha256", col_str(ar, k, 4)));
        }
        json_array_append_new(
            messages,
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "at",
                      col_time(mr, i, 1), "direction", col_str(mr, i, 2),
                      "channel", col_str(mr, i, 3), "author", col_str(mr, i, 4),
                      "from", col_str(mr, i, 5), "subject", col_str(mr, i, 6),
                      "body", col_str(mr, i, 7), "message_id",
                      col_str(mr, i, 8), "attachments", atts));
    }
    json_object_set_new(j, "messages", messages);
    return j;
}

/* print_contact - what an unverified requester told us: "name, email,
 * phone" from the contact object, or the JSON as is */
static void print_contact(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    int shown = 0;
    if (json_is_object(j)) {
        static const char *const keys[] = {"name", "number", "email", "phone",
                                           "from"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const char *s = json_string_value(json_object_get(j, keys[i]));
            if (s && *s)
                printf("%s%s", shown++ ? ", " : "", s);
        }
    }
    if (!shown)
        printf("%s", json_object_size(j) ? text : "no details given");
    json_decref(j);
}

/* col_us - column K of row I as tw_time (0 when NULL) */
static tw_time col_us(PGresult *r, int i, int k)
{
    return PQgetisnull(r, i, k) ? 0 : strtoll(PQgetvalue(r, i, k), NULL, 10);
}

/* print_indented - TEXT with each line indented by PREFIX */
static void print_indented(const char *prefix, const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        printf("%s%.*s\n", prefix, (int)n, text);
        text += n;
        if (*text == '\n')
            text++;
    }
}

/* print_case - the human form of `case show` */
static void print_case(PGresult *cr, PGresult *er, PGresult *mr, PGresult *ar)
{
    char t1[CLI_TIME_HUMAN_MAX], d[64];
    printf("%s  %s\n", PQgetvalue(cr, 0, C_REF), PQgetvalue(cr, 0, C_STATUS));
    printf("  channel:       %s · %s",
           channel_words(PQgetvalue(cr, 0, C_CHANNEL)),
           PQgetvalue(cr, 0, C_KIND));
    if (!PQgetisnull(cr, 0, C_CATEGORY))
        printf(" · %s", PQgetvalue(cr, 0, C_CATEGORY));
    printf("\n  subject:       %s\n", PQgetvalue(cr, 0, C_SUBJECT));
    if (strcmp(PQgetvalue(cr, 0, C_HAS_MEMBER), "t") == 0) {
        printf("  member:        %s %s", PQgetvalue(cr, 0, C_M_NO),
               PQgetvalue(cr, 0, C_M_NAME));
        for (int k = C_M_EMAIL; k <= C_M_PHONE; k++)
            if (!PQgetisnull(cr, 0, k))
                printf(" · %s", PQgetvalue(cr, 0, k));
        printf("\n");
    } else {
        printf("  member:        unverified: ");
        print_contact(PQgetvalue(cr, 0, C_CONTACT));
        printf("\n");
    }
    printf("  received:      %s",
           cli_time_human(col_us(cr, 0, C_RECEIVED), t1));
    if (!PQgetisnull(cr, 0, C_CREATED_BY))
        printf(" (logged by %s)", PQgetvalue(cr, 0, C_CREATED_BY));
    printf("\n");

    tw_time due = col_us(cr, 0, C_DUE);
    printf("  decision due:  %s", cli_time_human(due, t1));
    if (!PQgetisnull(cr, 0, C_DECIDED)) {
        printf(" (decided %s: %s)\n",
               cli_time_human(col_us(cr, 0, C_DECIDED), t1),
               PQgetisnull(cr, 0, C_DECISION) ? "-"
                                              : PQgetvalue(cr, 0, C_DECISION));
    } else if (!PQgetisnull(cr, 0, C_CLOSED)) {
        printf(" (closed %s)\n", cli_time_human(col_us(cr, 0, C_CLOSED), t1));
    } else if (!PQgetisnull(cr, 0, C_PAUSED)) {
        printf(" (clock paused while we wait for the member)\n");
    } else {
        int64_t left = due - tw_clock_now();
        printf(" (%s %s)\n", cli_duration_human(left, d, sizeof d),
               left >= 0 ? "left" : "overdue");
    }
    printf("  assignee:      %s\n", PQgetisnull(cr, 0, C_ASSIGNEE)
                                        ? "nobody yet"
                                        : PQgetvalue(cr, 0, C_ASSIGNEE));
    printf("  sla:           %s", PQgetvalue(cr, 0, C_SLA_STATE));
    long long paused_s = strtoll(PQgetvalue(cr, 0, C_PAUSED_TOTAL), NULL, 10);
    if (paused_s > 0)
        printf(" (clock paused %s in all)",
               cli_duration_human(paused_s * TW_SEC, d, sizeof d));
    printf("\n  attested:      %s\n",
           PQgetisnull(cr, 0, C_ATTESTED)
               ? "no"
               : cli_time_human(col_us(cr, 0, C_ATTESTED), t1));
    char steps[512];
    printf("  next steps:    %s\n",
           tw_next_steps(PQgetvalue(cr, 0, C_STATUS), steps, sizeof steps));

    printf("\nEvents\n");
    for (int i = 0; i < PQntuples(er); i++) {
        printf("  %s  %s  %s", cli_time_human(col_us(er, i, 0), t1),
               PQgetvalue(er, i, 1), PQgetvalue(er, i, 2));
        if (!PQgetisnull(er, i, 4))
            printf("  %s → %s",
                   PQgetisnull(er, i, 3) ? "-" : PQgetvalue(er, i, 3),
                   PQgetvalue(er, i, 4));
        printf("\n");
    }
    printf("\nMessages\n");
    for (int i = 0; i < PQntuples(mr); i++) {
        printf("  %s  %s %s", cli_time_human(col_us(mr, i, 1), t1),
               PQgetvalue(mr, i, 2), PQgetvalue(mr, i, 3));
        if (!PQgetisnull(mr, i, 4))
            printf("  by %s", PQgetvalue(mr, i, 4));
        if (!PQgetisnull(mr, i, 5))
            printf("  from %s", PQgetvalue(mr, i, 5));
        printf("\n");
        if (!PQgetisnull(mr, i, 6))
            printf("    subject: %s\n", PQgetvalue(mr, i, 6));
        print_indented("    | ", PQgetvalue(mr, i, 7));
        for (int k = 0; k < PQntuples(ar); k++)
            if (strcmp(PQgetvalue(ar, k, 0), PQgetvalue(mr, i, 0)) == 0)
                printf("    attachment: %s (%s, %s bytes)\n",
                       PQgetvalue(ar, k, 1), PQgetvalue(ar, k, 2),
                       PQgetvalue(ar, k, 3));
    }
}

/* normalize_ref - REF in capitals, as references are written */
static char *normalize_ref(const char *ref)
{
    char *s = tw_strdup(ref);
    for (char *p = s; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return s;
}

/* cli_case_show - one case with its events and messages */
int cli_case_show(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int as_json = 0, opt, rc = 0, st = TW_OK;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        if (opt != 'j')
            return rc;
        as_json = 1;
    }
    if (optind >= argc)
        return cli_usage_error(v, "which case? (a reference like "
                                  "AW-2026-000123)");
    if (argc - optind > 1)
        return cli_usage_error(v, "one case at a time (\"%s\" is extra)",
                               argv[optind + 1]);
    if ((rc = cli_ready(c)) != 0)
        return rc;

    char *ref = normalize_ref(argv[optind]);
    struct tw_db *db = NULL;
    PGresult *cr = NULL, *er = NULL, *mr = NULL, *ar = NULL;
    json_t *j = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        goto out;
    cli_log_mute(c);
    st = tw_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
                    NULL);
    char nowp[TW_TIME_ISO_MAX];
    const char *p1[] = {ref, tw_db_time_param(tw_clock_now(), nowp)};
    if (st == TW_OK)
        cr = tw_db_query(db, &st, case_sql, 2, p1);
    if (cr && PQntuples(cr) == 1) {
        const char *p2[] = {PQgetvalue(cr, 0, C_ID)};
        er = tw_db_query(db, &st, events_sql, 1, p2);
        if (er)
            mr = tw_db_query(db, &st, messages_sql, 1, p2);
        if (mr)
            ar = tw_db_query(db, &st, attachments_sql, 1, p2);
    }
    tw_db_rollback(db);
    cli_log_unmute(c);
    if (st != TW_OK) {
        rc = cli_db_failed(db, st, "reading the case");
        goto out;
    }
    if (PQntuples(cr) == 0) {
        rc = cli_fail(EX_DATAERR, "no case %s", ref);
        goto out;
    }
    if (as_json) {
        j = case_json(cr, er, mr, ar);
        rc = cli_print_json(j);
    } else {
        print_case(cr, er, mr, ar);
    }
out:
    json_decref(j);
    PQclear(ar);
    PQclear(mr);
    PQclear(er);
    PQclear(cr);
    tw_db_destroy(&db);
    free(ref);
    return rc;
}

/* --- list ---------------------------------------------------------------- */

/* cli_case_list - recent cases, newest first */
int cli_case_list(struct cli *c, const struct cli_verb *v, int argc,
                  char **argv)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *status = NULL, *limit_text = NULL;
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 's':
            status = optarg;
            break;
        case 'l':
            limit_text = optarg;
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
            return cli_help(v);
        default:
            return rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(v, "unexpected argument \"%s\"", argv[optind]);
    if (status && !tw_name_in(statuses, status))
        return cli_usage_error(v,
                               "--status: \"%s\" is not a status (new, "
                               "awaiting_member, with_researcher, "
                               "in_committee, accepted, rejected, in_service, "
                               "resolved, closed, withdrawn)",
                               status);
    long limit = LIST_DEFAULT;
    if (limit_text) {
        char *end;
        errno = 0;
        limit = strtol(limit_text, &end, 10);
        if (errno || end == limit_text || *end || limit < 1 || limit > LIST_MAX)
            return cli_usage_error(v, "--limit: a number from 1 to %d",
                                   LIST_MAX);
    }
    if ((rc = cli_ready(c)) != 0)
        return rc;

    struct tw_db *db = NULL;
    PGresult *r = NULL;
    json_t *list = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    char limit_buf[24];
    snprintf(limit_buf, sizeof limit_buf, "%ld", limit);
    const char *params[] = {status, limit_buf};
    int st;
    cli_log_mute(c);
    r = tw_db_query(
        db, &st,
        "SELECT c.ref, c.status, c.channel, c.kind, c.subject, m.member_no,"
        " c.verified, tawasul.us(c.received_at), tawasul.us(c.sla_due_at)"
        " FROM tawasul.cases c LEFT JOIN tawasul.members m"
        " ON m.id = c.member_id"
        " WHERE $1::text IS NULL OR c.status = $1"
        " ORDER BY c.received_at DESC, c.id DESC LIMIT $2::integer",
        2, params);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "listing cases");
        goto out;
    }
    int rows = PQntuples(r);
    if (as_json) {
        list = json_array();
        for (int i = 0; i < rows; i++)
            json_array_append_new(
                list,
                json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}",
                          "ref", col_str(r, i, 0), "status", col_str(r, i, 1),
                          "channel", col_str(r, i, 2), "kind", col_str(r, i, 3),
                          "subject", col_str(r, i, 4), "member_number",
                          col_str(r, i, 5), "verified",
                          strcmp(PQgetvalue(r, i, 6), "t") == 0, "received_at",
                          col_time(r, i, 7), "sla_due_at", col_time(r, i, 8)));
        rc = cli_print_json(list);
        goto out;
    }
    if (rows == 0) {
        if (status)
            printf("no cases with status %s\n", status);
        else
            printf("no cases yet\n");
        goto out;
    }
    /* REF STATUS CHANNEL RECEIVED DUE MEMBER SUBJECT */
    static const char *const heads[] = {"REF", "STATUS", "CHANNEL", "RECEIVED",
                                        "DUE", "MEMBER", "SUBJECT"};
    size_t width[7] = {0};
    char t[CLI_TIME_HUMAN_MAX];
    for (int k = 0; k < 7; k++)
        width[k] = strlen(heads[k]);
    size_t time_w = strlen(cli_time_human(tw_clock_now(), t));
    width[3] = width[4] = time_w;
    for (int i = 0; i < rows; i++) {
        const char *member =
            PQgetisnull(r, i, 5) ? "unverified" : PQgetvalue(r, i, 5);
        size_t w[] = {strlen(PQgetvalue(r, i, 0)), strlen(PQgetvalue(r, i, 1)),
                      strlen(PQgetvalue(r, i, 2)), cli_utf8_chars(member)};
        int cols[] = {0, 1, 2, 5};
        for (int k = 0; k < 4; k++)
            if (w[k] > width[cols[k]])
                width[cols[k]] = w[k];
    }
    for (int k = 0; k < 7; k++) {
        cli_print_cell(stdout, heads[k], k < 6 ? width[k] : 0);
        fputs(k < 6 ? "  " : "\n", stdout);
    }
    for (int i = 0; i < rows; i++) {
        const char *member =
            PQgetisnull(r, i, 5) ? "unverified" : PQgetvalue(r, i, 5);
        cli_print_cell(stdout, PQgetvalue(r, i, 0), width[0]);
        fputs("  ", stdout);
        cli_print_cell(stdout, PQgetvalue(r, i, 1), width[1]);
        fputs("  ", stdout);
        cli_print_cell(stdout, PQgetvalue(r, i, 2), width[2]);
        fputs("  ", stdout);
        cli_print_cell(stdout, cli_time_human(col_us(r, i, 7), t), width[3]);
        fputs("  ", stdout);
        cli_print_cell(stdout, cli_time_human(col_us(r, i, 8), t), width[4]);
        fputs("  ", stdout);
        cli_print_cell(stdout, member, width[5]);
        fputs("  ", stdout);
        const char *subject = PQgetvalue(r, i, 4);
        cli_print_cell(stdout, subject,
                       cli_utf8_chars(subject) > SUBJECT_CHARS ? SUBJECT_CHARS
                                                               : 0);
        fputc('\n', stdout);
    }
out:
    json_decref(list);
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}
