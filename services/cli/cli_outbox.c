/*
 * cli_outbox.c - `outbox list|show|retry`: what was sent to whom, what is
 * waiting and why, and a second chance for a failed email.
 *
 * list and show are reads straight from PostgreSQL. show prints the message
 * as it was sent (the notifier stores the rendered subject and text of each
 * row it sends or fails); a row not sent yet is rendered here from the same
 * templates the notifier uses (common/template.c), so staff see what the
 * member will get. retry is a write to the outbox only: delivery
 * bookkeeping, not case state, so it needs no round trip through the
 * engine; the notifier picks the row up on its next scan.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "command.h"
#include "error.h"
#include "mem.h"
#include "template.h"

#define READ_WAIT    (3 * TW_SEC)
#define LIST_DEFAULT 50
#define LIST_MAX     10000

static const char *const outbox_statuses[] = {"pending", "sending", "sent",
                                              "failed", NULL};

/* col - column C of row I as a JSON string or null; new reference */
static json_t *col(const PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c) ? json_null()
                                : json_string(PQgetvalue(r, i, c));
}

/* col_t - column C (epoch usec) as an ISO time or null; new reference */
static json_t *col_t(const PGresult *r, int i, int c)
{
    return PQgetisnull(r, i, c)
               ? json_null()
               : cli_json_time(strtoll(PQgetvalue(r, i, c), NULL, 10));
}

/* parse_id - ID as a positive number into *OUT; 0 or a usage error */
static int parse_id(const struct cli_verb *v, const char *text, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(text, &end, 10);
    if (errno || end == text || *end || *out < 1)
        return cli_usage_error(v,
                               "\"%s\" is not an outbox id (a number from "
                               "`tawasul outbox list`)",
                               text);
    return 0;
}

static const char sql_list[] =
    "SELECT o.id, o.status, o.template, o.lang, c.ref, o.recipient,"
    " o.attempts, tawasul.us(o.created_at), tawasul.us(o.next_attempt_at),"
    " tawasul.us(o.sent_at), o.last_error, o.sent_message_id, o.event"
    " FROM tawasul.outbox o LEFT JOIN tawasul.cases c ON c.id = o.case_id"
    " WHERE ($1::text IS NULL OR o.status = $1)"
    "  AND ($2::text IS NULL OR c.ref = $2)"
    " ORDER BY o.id DESC LIMIT $3::integer";

/* print_table - the rows of sql_list for people */
static void print_table(const PGresult *r)
{
    static const char *const heads[] = {"ID",   "STATUS",    "TEMPLATE",
                                        "CASE", "TO",        "TRIES",
                                        "WHEN", "LAST ERROR"};
    enum { NCOL = 8 };
    size_t width[NCOL];
    char t[CLI_TIME_HUMAN_MAX];
    int rows = PQntuples(r);
    for (int k = 0; k < NCOL; k++)
        width[k] = strlen(heads[k]);
    width[6] = strlen(cli_time_human(tw_clock_now(), t));
    for (int i = 0; i < rows; i++) {
        int src[] = {0, 1, 2, 4, 5, 6};
        for (int k = 0; k < 6; k++) {
            const char *s =
                PQgetisnull(r, i, src[k]) ? "-" : PQgetvalue(r, i, src[k]);
            size_t w = cli_utf8_chars(s);
            if (w > width[k])
                width[k] = w > 40 ? 40 : w;
        }
    }
    for (int k = 0; k < NCOL; k++) {
        cli_print_cell(stdout, heads[k], k < NCOL - 1 ? width[k] : 0);
        fputs(k < NCOL - 1 ? "  " : "\n", stdout);
    }
    for (int i = 0; i < rows; i++) {
        const char *status = PQgetvalue(r, i, 1);
        /* WHEN: sent_at for sent rows, else the next attempt */
        int tc = strcmp(status, "sent") == 0 ? 9 : 8;
        const char *when =
            PQgetisnull(r, i, tc)
                ? "-"
                : cli_time_human(strtoll(PQgetvalue(r, i, tc), NULL, 10), t);
        const char *cells[NCOL] = {
            PQgetvalue(r, i, 0),
            status,
            PQgetvalue(r, i, 2),
            PQgetisnull(r, i, 4) ? "-" : PQgetvalue(r, i, 4),
            PQgetisnull(r, i, 5) ? "(no email)" : PQgetvalue(r, i, 5),
            PQgetvalue(r, i, 6),
            when,
            PQgetisnull(r, i, 10) ? "" : PQgetvalue(r, i, 10)};
        for (int k = 0; k < NCOL; k++) {
            size_t w = k < NCOL - 1                    ? width[k]
                       : cli_utf8_chars(cells[k]) > 60 ? 60
                                                       : 0;
            cli_print_cell(stdout, cells[k], w);
            fputs(k < NCOL - 1 ? "  " : "\n", stdout);
        }
    }
}

/* cli_outbox_list - the outbox, newest first */
int cli_outbox_list(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, 's'},
        {"case", required_argument, NULL, 'c'},
        {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *status = NULL, *ref = NULL, *limit_text = NULL;
    int as_json = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        switch (opt) {
        case 's':
            status = optarg;
            break;
        case 'c':
            ref = optarg;
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
    if (status && !tw_name_in(outbox_statuses, status))
        return cli_usage_error(v,
                               "--status: \"%s\" is not one of pending, "
                               "sending, sent, failed",
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
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    char lim[24];
    snprintf(lim, sizeof lim, "%ld", limit);
    const char *params[] = {status, ref, lim};
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(db, &st, sql_list, 3, params);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "listing the outbox");
        goto out;
    }
    if (as_json) {
        json_t *list = json_array();
        for (int i = 0; i < PQntuples(r); i++)
            json_array_append_new(
                list,
                json_pack(
                    "{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, "
                    "s:o, s:o, s:o}",
                    "id", (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
                    "status", col(r, i, 1), "template", col(r, i, 2), "lang",
                    col(r, i, 3), "case", col(r, i, 4), "recipient",
                    col(r, i, 5), "event", col(r, i, 12), "attempts",
                    (int)strtol(PQgetvalue(r, i, 6), NULL, 10), "created_at",
                    col_t(r, i, 7), "next_attempt_at", col_t(r, i, 8),
                    "sent_at", col_t(r, i, 9), "last_error", col(r, i, 10),
                    "message_id", col(r, i, 11)));
        rc = cli_print_json(list);
        json_decref(list);
    } else if (PQntuples(r) == 0) {
        printf("no emails%s%s%s%s\n", status ? " with status " : "",
               status ? status : "", ref ? " for " : "", ref ? ref : "");
    } else {
        print_table(r);
    }
out:
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}

/* The key behind templates.dir, read here for `outbox show`. */
struct show_config {
    char *templates_dir;
};
static const struct tw_cfg_key show_keys[] = {
    {.key = "templates.dir",
     .type = TW_CFG_STRING,
     .offset = offsetof(struct show_config, templates_dir),
     .def = TW_TEMPLATES_DIR_DEFAULT,
     .env = "TAWASUL_TEMPLATES",
     .help = "folder holding ar/ and en/ templates"},
    {.key = NULL},
};

/* render_now - render a row not sent yet; prints the failure; 0 or an
 * exit status. *OUT gets the rendering. */
static int render_now(struct cli *c, const char *tmpl, const char *lang,
                      const char *params_text, struct tw_rendered *out)
{
    struct show_config sc = {0};
    struct tw_cfg_table table = {show_keys, &sc};
    struct tw_templates *t = NULL;
    char *errors = NULL;
    int rc = 0;
    if (tw_config_load(c->path, &table, 1, &errors) != TW_OK) {
        rc = cli_fail(EX_CONFIG, "%s", errors ? errors : "bad config");
        goto out;
    }
    char *dir = tw_templates_dir(c->path, sc.templates_dir);
    if (tw_templates_load(dir, &t, &errors) != TW_OK) {
        rc = cli_fail(EX_CONFIG, "templates in %s: %s", dir, errors);
        free(dir);
        goto out;
    }
    free(dir);
    json_t *params = json_loads(params_text, 0, NULL);
    json_t *values =
        tw_templates_values(&c->base, c->base.site_name_ar, lang, params);
    char err[TW_TEMPLATE_ERR_MAX];
    if (tw_templates_render(t, tmpl, lang, values, out, err) != TW_OK)
        rc = cli_fail(EX_DATAERR, "this email cannot be rendered: %s", err);
    json_decref(values);
    json_decref(params);
out:
    tw_templates_destroy(&t);
    tw_config_free(&table, 1);
    free(errors);
    return rc;
}

/* cli_outbox_show - one email: where it stands, then the message */
int cli_outbox_show(struct cli *c, const struct cli_verb *v, int argc,
                    char **argv)
{
    static const struct option opts[] = {
        {"html", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int html = 0, opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        if (opt == 'H') {
            html = 1;
            continue;
        }
        return rc;
    }
    if (argc - optind != 1)
        return cli_usage_error(v, "%s",
                               argc > optind ? "one ID only" : "which ID?");
    long long id;
    if ((rc = parse_id(v, argv[optind], &id)) != 0)
        return rc;
    if ((rc = cli_ready(c)) != 0)
        return rc;
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    char idt[24];
    snprintf(idt, sizeof idt, "%lld", id);
    const char *params[] = {idt};
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(
        db, &st,
        "SELECT o.status, o.template, o.lang, c.ref, o.recipient, o.attempts,"
        " o.sent_message_id, tawasul.us(o.sent_at),"
        " tawasul.us(o.next_attempt_at), o.last_error, o.subject, o.body,"
        " o.params::text, o.event"
        " FROM tawasul.outbox o LEFT JOIN tawasul.cases c ON c.id = o.case_id"
        " WHERE o.id = $1",
        1, params);
    cli_log_unmute(c);
    struct tw_rendered rd = {0};
    if (!r) {
        rc = cli_db_failed(db, st, "reading the outbox");
        goto out;
    }
    if (PQntuples(r) == 0) {
        rc = cli_fail(EX_DATAERR, "no outbox row %lld", id);
        goto out;
    }
    char t[CLI_TIME_HUMAN_MAX];
    const char *status = PQgetvalue(r, 0, 0);
    printf("Outbox:     %lld (%s, %s)\n", id, PQgetvalue(r, 0, 13),
           PQgetvalue(r, 0, 1));
    printf("Case:       %s\n",
           PQgetisnull(r, 0, 3) ? "-" : PQgetvalue(r, 0, 3));
    printf("To:         %s\n", PQgetisnull(r, 0, 4)
                                   ? "(no email address: phone the member)"
                                   : PQgetvalue(r, 0, 4));
    printf("Language:   %s\n", PQgetvalue(r, 0, 2));
    printf("Status:     %s after %s attempt(s)\n", status, PQgetvalue(r, 0, 5));
    if (!PQgetisnull(r, 0, 7))
        printf("Sent:       %s\n",
               cli_time_human(strtoll(PQgetvalue(r, 0, 7), NULL, 10), t));
    else if (strcmp(status, "pending") == 0)
        printf("Next try:   %s\n",
               cli_time_human(strtoll(PQgetvalue(r, 0, 8), NULL, 10), t));
    if (!PQgetisnull(r, 0, 6))
        printf("Message-ID: <%s>\n", PQgetvalue(r, 0, 6));
    if (!PQgetisnull(r, 0, 9))
        printf("Last error: %s\n", PQgetvalue(r, 0, 9));

    const char *subject = NULL, *body = NULL;
    if (!html && !PQgetisnull(r, 0, 10) && !PQgetisnull(r, 0, 11)) {
        subject = PQgetvalue(r, 0, 10);
        body = PQgetvalue(r, 0, 11);
    } else {
        rc = render_now(c, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                        PQgetvalue(r, 0, 12), &rd);
        if (rc)
            goto out;
        if (!html && strcmp(status, "sent") != 0)
            printf("(rendered now from the templates: not sent yet)\n");
        subject = rd.subject;
        body = html ? rd.html : rd.text;
    }
    printf("\nSubject: %s\n\n%s\n", subject, body);
out:
    tw_rendered_free(&rd);
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}

/* cli_outbox_retry - put a failed (or waiting) email back in the queue */
int cli_outbox_retry(struct cli *c, const struct cli_verb *v, int argc,
                     char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, rc = 0;
    while ((opt = cli_getopt(v, argc, argv, ":h", opts, &rc)) != -1) {
        if (opt == 'h')
            return cli_help(v);
        return rc;
    }
    if (argc - optind != 1)
        return cli_usage_error(v, "%s",
                               argc > optind ? "one ID only" : "which ID?");
    long long id;
    if ((rc = parse_id(v, argv[optind], &id)) != 0)
        return rc;
    if ((rc = cli_ready(c)) != 0)
        return rc;
    struct tw_db *db = NULL;
    if ((rc = cli_db_open(c, READ_WAIT, &db)) != 0)
        return rc;
    char idt[24], now[TW_TIME_ISO_MAX];
    snprintf(idt, sizeof idt, "%lld", id);
    tw_db_time_param(tw_clock_now(), now);
    const char *params[] = {idt, now};
    int st;
    cli_log_mute(c);
    PGresult *r = tw_db_query(
        db, &st,
        "WITH u AS (UPDATE tawasul.outbox SET status = 'pending',"
        "  next_attempt_at = $2, retried_at = $2, claimed_until = NULL"
        "  WHERE id = $1 AND status IN ('failed', 'pending') RETURNING id)"
        " SELECT (SELECT count(*) FROM u),"
        "  (SELECT status FROM tawasul.outbox WHERE id = $1)",
        2, params);
    cli_log_unmute(c);
    if (!r) {
        rc = cli_db_failed(db, st, "queueing the email again");
    } else if (PQgetisnull(r, 0, 1)) {
        rc = cli_fail(EX_DATAERR, "no outbox row %lld", id);
    } else if (strtol(PQgetvalue(r, 0, 0), NULL, 10) == 0) {
        rc = cli_fail(EX_DATAERR,
                      "outbox row %lld is %s: only a failed or waiting email "
                      "can be retried",
                      id, PQgetvalue(r, 0, 1));
    } else {
        printf("outbox %lld: queued again; the notifier sends it on its next "
               "scan\n",
               id);
    }
    PQclear(r);
    tw_db_destroy(&db);
    return rc;
}
